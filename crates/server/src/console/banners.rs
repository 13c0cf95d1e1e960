//! The banners of an account: what its admins should know on every page, with where to act.

use roster_domain::Account;

use super::layout::{Banner, BannerLevel};
use crate::AppState;

/// The banners for `account`, most urgent first.
pub async fn for_account(
    _state: &AppState,
    account: &Account,
) -> Result<Vec<Banner>, super::PageError> {
    let mut banners = Vec::new();
    if account.tech_contact.is_none() {
        banners.push(Banner {
            level: BannerLevel::Warning,
            text: "No tech contact is set. Without one, Roster eventually switches the Azure \
                   Active Directory Sync Frequency back to Never."
                .to_owned(),
            link: Some((
                format!("/accounts/{}/profile", account.id),
                "Set the tech contact".to_owned(),
            )),
        });
    }
    banners.sort_by_key(|banner| std::cmp::Reverse(banner.level));
    Ok(banners)
}
