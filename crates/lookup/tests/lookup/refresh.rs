//! Keeping the view current: changes show once applied, each account is replaced whole, and
//! lookups go on answering from the last view while the store cannot be read.

use std::time::{Duration, Instant};

use roster_domain::Role;
use roster_lookup::{Answer, MapName, ReplyLimit, refresh};
use roster_store::NewUser;

use super::support::{Fixture, group, user};

const ALL: ReplyLimit = ReplyLimit::Unlimited;

fn manual(address: &str) -> NewUser {
    NewUser {
        primary_address: address.parse().unwrap(),
        aliases: vec![],
        first_name: None,
        last_name: None,
        display_name: None,
        role: Role::EndUser,
        digests: None,
    }
}

/// Waits until `check` holds, for at most `limit`; how long it took.
async fn within(limit: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

#[tokio::test]
async fn a_change_written_to_the_store_reaches_lookups_through_polling() {
    let f = Fixture::new(&[user("u-ann", "ann@contoso.com", &[])]).await;
    let poller = tokio::spawn(refresh::keep_current(
        f.store.clone(),
        f.view.clone(),
        refresh::DEFAULT_POLL_INTERVAL,
    ));

    let bob = f
        .store
        .add_user(f.account.id, manual("bob@contoso.com"))
        .await
        .unwrap();
    let added = within(Duration::from_secs(5), || {
        f.view.lookup(MapName::Recipient, "bob@contoso.com", ALL) == Answer::Account(f.account.id)
    })
    .await;
    f.store.remove_user(f.account.id, bob.id).await.unwrap();
    let removed = within(Duration::from_secs(5), || {
        f.view.lookup(MapName::Recipient, "bob@contoso.com", ALL) == Answer::NotFound
    })
    .await;
    poller.abort();

    assert!(added.is_some(), "an added user becomes a recipient");
    assert!(removed.is_some(), "a removed user stops being one");
    println!("visible after {added:?} (added) and {removed:?} (removed)");
}

#[tokio::test]
async fn a_refresh_reads_again_only_the_accounts_whose_revision_moved() {
    let f = Fixture::new(&[user("u-ann", "ann@contoso.com", &[])]).await;
    assert_eq!(
        refresh::refresh(&f.store, &f.view).await.unwrap(),
        refresh::Refreshed::default()
    );
    f.store
        .add_user(f.account.id, manual("bob@contoso.org"))
        .await
        .unwrap();
    assert_eq!(
        refresh::refresh(&f.store, &f.view).await.unwrap(),
        refresh::Refreshed {
            changed: 1,
            removed: 0
        }
    );
    assert_eq!(
        f.view.revisions(),
        vec![(f.account.id, f.store.revision(f.account.id).await.unwrap())]
    );
}

#[tokio::test]
async fn group_membership_changes_show_in_the_expansion() {
    let f = Fixture::new(&[
        user("u-ann", "ann@contoso.com", &[]),
        group("g-all", Some("all@contoso.com"), &[], &["u-ann"], &[]),
    ])
    .await;
    let users = f.store.list_users(f.account.id).await.unwrap();
    f.store
        .remove_user(f.account.id, users[0].id)
        .await
        .unwrap();
    refresh::refresh(&f.store, &f.view).await.unwrap();
    assert_eq!(
        f.view.lookup(MapName::Alias, "all@contoso.com", ALL),
        Answer::Addresses(vec![]),
        "a group with no members left expands to nobody"
    );
}

#[tokio::test]
async fn while_the_store_cannot_be_read_lookups_answer_from_the_last_view() {
    let f = Fixture::new(&[user("u-ann", "ann@contoso.com", &[])]).await;
    let url = f.store_url();
    let mut raw = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::Executor::execute(&mut raw, "ALTER TABLE accounts RENAME TO accounts_away")
        .await
        .unwrap();

    let outcome = refresh::refresh(&f.store, &f.view).await;

    assert!(outcome.is_err(), "the refresh fails: {outcome:?}");
    assert_eq!(
        f.view.lookup(MapName::Recipient, "ann@contoso.com", ALL),
        Answer::Account(f.account.id)
    );
    sqlx::Executor::execute(&mut raw, "ALTER TABLE accounts_away RENAME TO accounts")
        .await
        .unwrap();
    assert!(refresh::refresh(&f.store, &f.view).await.is_ok());
}
