//! The console's pages that Roster links to from outside the console (the notices it mails):
//! each page's route pattern, which the console serves, and the path that fills it in. One
//! place for both, so a link cannot name a page the console does not have.

use crate::{AccountId, RunId};

/// Import & Sync › Azure Active Directory: the settings, Test connection, Search Now and the
/// certificates.
pub const CONNECTION: &str = "/accounts/{account}/import/azure";

/// One run's report.
pub const RUN: &str = "/accounts/{account}/runs/{run}";

/// Administration › Account Management › Profile: the tech contact.
pub const PROFILE: &str = "/accounts/{account}/profile";

pub fn connection(account: AccountId) -> String {
    fill(CONNECTION, account)
}

pub fn run(account: AccountId, run: RunId) -> String {
    fill(RUN, account).replace("{run}", &run.to_string())
}

pub fn profile(account: AccountId) -> String {
    fill(PROFILE, account)
}

fn fill(pattern: &str, account: AccountId) -> String {
    pattern.replace("{account}", &account.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fill_in_every_placeholder_of_their_route() {
        let account = AccountId::new();
        let run_id = RunId::new();
        for path in [connection(account), run(account, run_id), profile(account)] {
            assert!(!path.contains('{'), "{path}");
            assert!(path.starts_with(&format!("/accounts/{account}/")), "{path}");
        }
        assert_eq!(
            run(account, run_id),
            format!("/accounts/{account}/runs/{run_id}")
        );
    }
}
