//! Keeping the view current: changes show once applied, read from the change feed and applied
//! to the account's view (answering as a view read afresh would), the account read whole when
//! the feed cannot tell; on PostgreSQL at once, on its announcement; and lookups go on
//! answering from the last view while the store cannot be read.

use std::time::{Duration, Instant};

use std::sync::Arc;

use roster_domain::DomainName;
use roster_domain::Role;
use roster_domain::plan::{ChangeAction, GroupFields, MemberChanges, UserFields};
use roster_domain::{GroupKind, User};
use roster_lookup::refresh::Refreshed;
use roster_lookup::{Answer, LookupView, MapName, RecipientDelimiter, ReplyLimit, refresh};
use roster_store::{NewAccount, NewUser};

use super::support::{Fixture, addresses, group, user};

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
        PATCHED_ONE
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
        Answer::NotFound,
        "a group with no members left is no longer expanded: it keeps its own address"
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

const PATCHED_ONE: Refreshed = Refreshed {
    patched: 1,
    read_whole: 0,
    removed: 0,
};

const READ_ONE_WHOLE: Refreshed = Refreshed {
    patched: 0,
    read_whole: 1,
    removed: 0,
};

/// Every key a test asks about, those of removed objects included.
const KEYS: &[&str] = &[
    "ann@contoso.com",
    "ann.b@contoso.com",
    "a@contoso.org",
    "bob@contoso.com",
    "bob+tag@contoso.com",
    "carl@contoso.com",
    "dana@contoso.org",
    "all@contoso.com",
    "everyone@contoso.org",
    "sales@contoso.com",
    "contoso.com",
];

async fn contoso() -> Fixture {
    Fixture::new(&[
        user("u-ann", "ann@contoso.com", &["ann.b@contoso.com"]),
        user("u-bob", "bob@contoso.com", &[]),
        user("u-carl", "carl@contoso.com", &[]),
        group(
            "g-all",
            Some("all@contoso.com"),
            &["everyone@contoso.org"],
            &["u-ann"],
            &["g-team"],
        ),
        group("g-team", None, &[], &["u-bob"], &["g-all"]),
        group("g-sales", Some("sales@contoso.com"), &[], &["u-carl"], &[]),
    ])
    .await
}

/// Refreshes the view, and checks that it answers every key in every map as a view loaded
/// afresh from the store does.
async fn refresh_and_compare(f: &Fixture) -> Refreshed {
    let refreshed = refresh::refresh(&f.store, &f.view).await.unwrap();
    let fresh = Arc::new(LookupView::new(RecipientDelimiter::default()));
    refresh::load_all(&f.store, &fresh).await.unwrap();
    for map in MapName::ALL {
        for key in KEYS {
            assert_eq!(
                f.view.lookup(map, key, ALL),
                fresh.lookup(map, key, ALL),
                "{map} {key}"
            );
        }
    }
    refreshed
}

async fn users(f: &Fixture) -> Vec<User> {
    f.store.list_users(f.account.id).await.unwrap()
}

fn named<'u>(users: &'u [User], primary: &str) -> &'u User {
    users
        .iter()
        .find(|u| u.primary_address.as_str() == primary)
        .unwrap()
}

fn fields(primary: &str, aliases: &[&str]) -> UserFields {
    UserFields {
        primary_address: primary.parse().unwrap(),
        aliases: aliases.iter().map(|a| a.parse().unwrap()).collect(),
        first_name: None,
        last_name: None,
        display_name: None,
    }
}

#[tokio::test]
async fn an_added_user_moved_alias_group_membership_change_and_removal_each_show_from_the_change_feed()
 {
    let f = contoso().await;

    f.store
        .add_user(f.account.id, manual("dana@contoso.org"))
        .await
        .unwrap();
    assert_eq!(refresh_and_compare(&f).await, PATCHED_ONE);
    assert_eq!(
        f.view.lookup(MapName::Recipient, "dana@contoso.org", ALL),
        Answer::Account(f.account.id),
        "an added user"
    );

    let all = users(&f).await;
    let (ann, bob) = (
        named(&all, "ann@contoso.com"),
        named(&all, "bob@contoso.com"),
    );
    let moved = [
        ChangeAction::UpdateUser {
            user_id: ann.id,
            expected_version: ann.version,
            fields: fields("ann@contoso.com", &[]),
        },
        ChangeAction::UpdateUser {
            user_id: bob.id,
            expected_version: bob.version,
            fields: fields("bob@contoso.com", &["ann.b@contoso.com"]),
        },
    ];
    f.store.apply_changes(f.account.id, &moved).await.unwrap();
    assert_eq!(refresh_and_compare(&f).await, PATCHED_ONE);
    assert_eq!(
        f.view.lookup(MapName::Alias, "ann.b@contoso.com", ALL),
        addresses(&["bob@contoso.com"]),
        "an alias moved to another user"
    );

    let groups = f.store.list_groups(f.account.id).await.unwrap();
    let sales = groups.iter().find(|g| g.name == "Group g-sales").unwrap();
    let carl = named(&all, "carl@contoso.com");
    let membership = [ChangeAction::UpdateGroup {
        group_id: sales.id,
        expected_version: sales.version,
        fields: GroupFields {
            name: sales.name.clone(),
            kind: GroupKind::Distribution,
            address: sales.address.clone(),
            aliases: vec![],
        },
        members: MemberChanges {
            joining_users: vec!["u-ann".parse().unwrap()],
            leaving_users: vec![carl.id],
            ..MemberChanges::default()
        },
    }];
    f.store
        .apply_changes(f.account.id, &membership)
        .await
        .unwrap();
    assert_eq!(refresh_and_compare(&f).await, PATCHED_ONE);
    assert_eq!(
        f.view.lookup(MapName::Alias, "sales@contoso.com", ALL),
        addresses(&["ann@contoso.com"]),
        "a group's members changed"
    );

    f.store.remove_user(f.account.id, bob.id).await.unwrap();
    assert_eq!(refresh_and_compare(&f).await, PATCHED_ONE);
    assert_eq!(
        f.view.lookup(MapName::Recipient, "bob@contoso.com", ALL),
        Answer::NotFound,
        "a removed user"
    );
    assert_eq!(
        f.view.lookup(MapName::Alias, "all@contoso.com", ALL),
        addresses(&["ann@contoso.com"]),
        "a removed user leaves the groups it was in"
    );
}

#[tokio::test]
async fn an_account_the_change_feed_cannot_bring_up_to_date_is_read_whole() {
    let f = contoso().await;
    let mut raw = <sqlx::SqliteConnection as sqlx::Connection>::connect(&f.store_url())
        .await
        .unwrap();
    // As if the removals since the view's revision had been pruned.
    sqlx::Executor::execute(
        &mut raw,
        "UPDATE accounts SET mail_removals_from = revision + 1",
    )
    .await
    .unwrap();
    f.store
        .add_user(f.account.id, manual("dana@contoso.org"))
        .await
        .unwrap();

    assert_eq!(refresh_and_compare(&f).await, READ_ONE_WHOLE);
}

#[tokio::test]
async fn a_view_that_removals_left_mostly_empty_is_read_whole() {
    let f = contoso().await;
    let all = users(&f).await;
    for primary in ["bob@contoso.com", "carl@contoso.com"] {
        f.store
            .remove_user(f.account.id, named(&all, primary).id)
            .await
            .unwrap();
    }

    assert_eq!(refresh_and_compare(&f).await, READ_ONE_WHOLE);
}

#[tokio::test]
async fn on_postgresql_a_change_shows_on_its_announcement_without_waiting_for_the_poll() {
    let Some(f) = Fixture::on_postgres(&[user("u-ann", "ann@contoso.com", &[])]).await else {
        println!("ROSTER_TEST_POSTGRES_URL is not set: PostgreSQL's announcements are not tested");
        return;
    };
    let an_hour = Duration::from_secs(3600);
    let refresher = tokio::spawn(refresh::keep_current(
        f.store.clone(),
        f.view.clone(),
        an_hour,
    ));
    // The first tick of the poll loads nothing new; give the listener a moment to start.
    tokio::time::sleep(Duration::from_millis(500)).await;

    f.store
        .add_user(f.account.id, manual("bob@contoso.com"))
        .await
        .unwrap();
    let shown = within(Duration::from_secs(5), || {
        f.view.lookup(MapName::Recipient, "bob@contoso.com", ALL) == Answer::Account(f.account.id)
    })
    .await;
    refresher.abort();
    f.drop_database().await;

    let shown = shown.expect("the change shows long before the next poll, an hour away");
    println!("visible after {shown:?}");
}

#[tokio::test]
async fn a_domain_moved_between_two_accounts_belongs_to_its_new_account_after_one_refresh() {
    let f = Fixture::new(&[]).await;
    let fabrikam = f
        .store
        .create_account(NewAccount {
            name: "fabrikam".into(),
            domains: vec!["fabrikam.com".parse().unwrap()],
            tech_contact: None,
        })
        .await
        .unwrap();
    refresh::refresh(&f.store, &f.view).await.unwrap();
    let moved: DomainName = "contoso.org".parse().unwrap();
    // Moved there and back: one of the two refreshes puts in the account gaining the domain
    // before the one losing it, whichever order the store lists the accounts in.
    for (from, to) in [(f.account.id, fabrikam.id), (fabrikam.id, f.account.id)] {
        f.store.remove_domain(from, &moved).await.unwrap();
        f.store.add_domain(to, moved.clone()).await.unwrap();
        let refreshed = refresh::refresh(&f.store, &f.view).await.unwrap();
        assert_eq!(refreshed.patched, 2);
        assert_eq!(
            f.view.lookup(MapName::Domain, "contoso.org", ALL),
            Answer::Account(to)
        );
    }
}
