//! The banners of an account: what its admins should know on every page, with where to act.
//! Which banners are due is the engine's rule (`roster_domain::banners`); this module words them.

use roster_domain::connection::iso_date;
use roster_domain::{Account, Banner as Due, CredentialKind, Frequency};

use super::layout::{Banner, BannerLevel};
use super::page::PageError;
use crate::AppState;

/// The banners for `account`, most urgent first.
pub async fn for_account(state: &AppState, account: &Account) -> Result<Vec<Banner>, PageError> {
    let grace = time::Duration::days(i64::from(state.config().tech_contact_grace_days));
    let due = state.engine().banners(account, grace).await?;
    let path = |tail: &str| format!("/accounts/{}{tail}", account.id);
    let mut banners: Vec<Banner> = due
        .into_iter()
        .map(|banner| match banner {
            Due::ConnectionFailing { run_id, message } => Banner {
                level: BannerLevel::Error,
                text: format!("The connection to Azure Active Directory is failing: {message}"),
                link: Some((path(&format!("/runs/{run_id}")), "See the failed run".to_owned())),
            },
            Due::CredentialExpired {
                credential,
                expires_on,
            } => Banner {
                level: BannerLevel::Error,
                text: format!(
                    "{} expired on {}: sync cannot sign in. {}",
                    credential_name(credential),
                    iso_date::format(expires_on),
                    renewal(credential)
                ),
                link: Some((path("/import/azure"), "Renew it".to_owned())),
            },
            Due::CredentialExpiring {
                credential,
                expires_on,
                days_left,
            } => Banner {
                level: BannerLevel::Warning,
                text: format!(
                    "{} expires {} ({}). {}",
                    credential_name(credential),
                    match days_left {
                        0 => "today".to_owned(),
                        1 => "tomorrow".to_owned(),
                        n => format!("in {n} days"),
                    },
                    iso_date::format(expires_on),
                    renewal(credential)
                ),
                link: Some((path("/import/azure"), "Renew it".to_owned())),
            },
            Due::RemovalsHeld {
                run_id,
                users,
                groups,
            } => Banner {
                level: BannerLevel::Warning,
                text: format!(
                    "The last automatic sync held {users} user and {groups} group removal(s): they exceed the \
                     deletion limit. Review them with Search Now and confirm them to apply them."
                ),
                link: Some((
                    path(&format!("/runs/{run_id}")),
                    "Review the held removals".to_owned(),
                )),
            },
            Due::NoTechContact {
                frequency,
                reverts_on,
            } => Banner {
                level: BannerLevel::Warning,
                text: match (frequency, reverts_on) {
                    (Frequency::Never, _) => "No tech contact is set: nobody would hear of a failing or held \
                        sync. Set one before choosing a Sync Frequency other than Never, or it is set back to Never."
                        .to_owned(),
                    (_, None) => "No tech contact is set. Without one, nobody hears of a failing or held \
                        sync, and the Sync Frequency is set back to Never."
                        .to_owned(),
                    (_, Some(date)) => format!(
                        "No tech contact is set: nobody hears of a failing or held sync. Unless you set one, \
                         the Sync Frequency will revert to Never on {}.",
                        iso_date::format(date)
                    ),
                },
                link: Some((path("/profile"), "Set the tech contact".to_owned())),
            },
        })
        .collect();
    banners.sort_by_key(|banner| std::cmp::Reverse(banner.level));
    Ok(banners)
}

fn credential_name(credential: CredentialKind) -> &'static str {
    match credential {
        CredentialKind::Secret => {
            "The key (client secret) of the Azure Active Directory connection"
        }
        CredentialKind::Certificate => "The certificate of the Azure Active Directory connection",
    }
}

fn renewal(credential: CredentialKind) -> &'static str {
    match credential {
        CredentialKind::Secret => {
            "Create a new client secret in the Entra admin center (App registrations › your app › Certificates & \
             secrets), then paste its value under Key with its new expiry date and Save."
        }
        CredentialKind::Certificate => {
            "Generate a new certificate under Use a certificate instead of a key and upload it to the app \
             registration before the old one expires."
        }
    }
}
