//! The four maps over a real store: what each answers, case folding, address extensions,
//! nested and cyclic groups, and groups too large for one reply.

use roster_lookup::{Answer, LookupView, MapName, RecipientDelimiter, ReplyLimit};

use super::support::{Fixture, addresses, group, user};

const ALL: ReplyLimit = ReplyLimit::Unlimited;

async fn contoso() -> Fixture {
    Fixture::new(&[
        user(
            "u-ann",
            "ann@contoso.com",
            &["ann.b@contoso.com", "a@contoso.org"],
        ),
        user("u-bob", "bob@contoso.com", &[]),
        user("u-carl", "carl@contoso.com", &[]),
        group(
            "g-all",
            Some("all@contoso.com"),
            &["everyone@contoso.org"],
            &["u-ann"],
            &["g-team"],
        ),
        group("g-team", None, &[], &["u-bob", "u-ann"], &["g-all"]),
        group("g-empty", Some("nobody-yet@contoso.com"), &[], &[], &[]),
        group(
            "g-sales",
            Some("sales@contoso.com"),
            &[],
            &["u-carl"],
            &["g-all"],
        ),
    ])
    .await
}

#[tokio::test]
async fn recipient_is_any_address_of_a_user_or_a_mail_enabled_group_with_its_account() {
    let f = contoso().await;
    let found = Answer::Account(f.account.id);
    for key in [
        "ann@contoso.com",
        "ann.b@contoso.com",
        "a@contoso.org",
        "all@contoso.com",
        "everyone@contoso.org",
        "ANN@Contoso.COM",
        " bob@contoso.com ",
    ] {
        assert_eq!(f.view.lookup(MapName::Recipient, key, ALL), found, "{key}");
    }
    for key in [
        "nobody@contoso.com",
        "ann@fabrikam.com",
        "contoso.com",
        "@contoso.com",
        "",
    ] {
        assert_eq!(
            f.view.lookup(MapName::Recipient, key, ALL),
            Answer::NotFound,
            "{key:?}"
        );
    }
}

#[tokio::test]
async fn alias_sends_an_alias_to_its_primary_and_leaves_a_primary_alone() {
    let f = contoso().await;
    assert_eq!(
        f.view.lookup(MapName::Alias, "Ann.B@contoso.com", ALL),
        addresses(&["ann@contoso.com"])
    );
    assert_eq!(
        f.view.lookup(MapName::Alias, "a@contoso.org", ALL),
        addresses(&["ann@contoso.com"])
    );
    assert_eq!(
        f.view.lookup(MapName::Alias, "ann@contoso.com", ALL),
        Answer::NotFound,
        "Postfix keeps a primary address as it is"
    );
    assert_eq!(
        f.view.lookup(MapName::Expand, "ann@contoso.com", ALL),
        addresses(&["ann@contoso.com"]),
        "expand answers where mail goes, a primary included"
    );
}

#[tokio::test]
async fn a_group_expands_to_its_transitive_members_once_each_through_cycles() {
    let f = contoso().await;
    for map in [MapName::Alias, MapName::Expand] {
        assert_eq!(
            f.view.lookup(map, "all@contoso.com", ALL),
            addresses(&["ann@contoso.com", "bob@contoso.com"]),
            "{map}: all → ann and team; team → bob, ann and all again"
        );
        assert_eq!(
            f.view.lookup(map, "everyone@contoso.org", ALL),
            addresses(&["ann@contoso.com", "bob@contoso.com"])
        );
        assert_eq!(
            f.view.lookup(map, "sales@contoso.com", ALL),
            addresses(&["ann@contoso.com", "bob@contoso.com", "carl@contoso.com"])
        );
    }
}

#[tokio::test]
async fn a_group_without_members_is_a_recipient_that_keeps_its_own_address() {
    let f = contoso().await;
    assert_eq!(
        f.view
            .lookup(MapName::Recipient, "nobody-yet@contoso.com", ALL),
        Answer::Account(f.account.id)
    );
    for map in [MapName::Alias, MapName::Expand] {
        assert_eq!(
            f.view.lookup(map, "nobody-yet@contoso.com", ALL),
            Answer::NotFound,
            "{map}: an empty expansion would leave its mail no recipient"
        );
    }
}

#[tokio::test]
async fn an_address_extension_matches_as_in_a_postfix_hash_table() {
    let f = contoso().await;
    let found = Answer::Account(f.account.id);
    assert_eq!(
        f.view
            .lookup(MapName::Recipient, "ann+news@contoso.com", ALL),
        found
    );
    assert_eq!(
        f.view.lookup(MapName::Recipient, "all+x@contoso.com", ALL),
        found
    );
    assert_eq!(
        f.view
            .lookup(MapName::Recipient, "nobody+news@contoso.com", ALL),
        Answer::NotFound
    );
    assert_eq!(
        f.view.lookup(MapName::Recipient, "+ann@contoso.com", ALL),
        Answer::NotFound,
        "a local part is never split at its first character"
    );
    assert_eq!(
        f.view.lookup(MapName::Alias, "ann.b+news@contoso.com", ALL),
        addresses(&["ann+news@contoso.com"]),
        "the unmatched extension is copied to the result, as propagate_unmatched_extensions does"
    );
    assert_eq!(
        f.view.lookup(MapName::Alias, "ann+news@contoso.com", ALL),
        Answer::NotFound,
        "a primary with an extension is kept as it is"
    );
}

#[tokio::test]
async fn the_recipient_delimiter_is_postfixs_and_empty_turns_extensions_off() {
    let f = contoso().await;
    let directory = f.store.clone();
    let none = LookupView::new(RecipientDelimiter::new(""));
    roster_lookup::refresh::load_all(&directory, &none)
        .await
        .unwrap();
    assert_eq!(
        none.lookup(MapName::Recipient, "ann+news@contoso.com", ALL),
        Answer::NotFound
    );

    let dashes = LookupView::new(RecipientDelimiter::new("+-"));
    roster_lookup::refresh::load_all(&directory, &dashes)
        .await
        .unwrap();
    let found = Answer::Account(f.account.id);
    assert_eq!(
        dashes.lookup(MapName::Recipient, "ann-news@contoso.com", ALL),
        found
    );
    assert_eq!(
        dashes.lookup(MapName::Recipient, "ann+news@contoso.com", ALL),
        found
    );
    assert_eq!(
        dashes.lookup(MapName::Recipient, "ann-request@contoso.com", ALL),
        Answer::NotFound,
        "Postfix never splits …-request or owner-… at a dash"
    );
}

#[tokio::test]
async fn domain_answers_the_owning_account_whatever_the_case() {
    let f = contoso().await;
    let found = Answer::Account(f.account.id);
    assert_eq!(f.view.lookup(MapName::Domain, "contoso.org", ALL), found);
    assert_eq!(f.view.lookup(MapName::Domain, "CONTOSO.com.", ALL), found);
    assert_eq!(
        f.view.lookup(MapName::Domain, "fabrikam.com", ALL),
        Answer::NotFound
    );
    assert_eq!(
        f.view.lookup(MapName::Domain, "mail.contoso.com", ALL),
        Answer::NotFound,
        "a subdomain is another domain"
    );
}

#[tokio::test]
async fn a_group_too_long_for_one_reply_is_answered_with_parts_that_together_are_the_whole() {
    let ids: Vec<String> = (10..40).map(|i| format!("u-{i}")).collect();
    let mut changes: Vec<_> = ids
        .iter()
        .map(|id| user(id, &format!("m{id}@contoso.com"), &[]))
        .collect();
    let members: Vec<&str> = ids.iter().map(String::as_str).collect();
    changes.push(group("g-big", Some("big@contoso.com"), &[], &members, &[]));
    let f = Fixture::new(&changes).await;
    let limit = ReplyLimit::Characters(250);
    let Answer::Addresses(parts) = f.view.lookup(MapName::Alias, "big@contoso.com", limit) else {
        panic!("the group is answered with its parts");
    };
    assert!(parts.len() > 1, "{parts:?}");
    let mut received = Vec::new();
    for part in &parts {
        assert!(part.ends_with(".big@contoso.com"), "{part}");
        let Answer::Addresses(slice) = f.view.lookup(MapName::Alias, part, limit) else {
            panic!("{part} is answered");
        };
        assert!(slice.join(",").len() <= 250, "{slice:?}");
        received.extend(slice);
    }
    let expected: Vec<String> = ids.iter().map(|id| format!("m{id}@contoso.com")).collect();
    assert_eq!(received, expected, "every member once, none left out");
    assert_eq!(
        f.view.lookup(
            MapName::Alias,
            &parts[0].replace("part-1-", "part-9-"),
            limit
        ),
        Answer::NotFound
    );

    let users = f.store.list_users(f.account.id).await.unwrap();
    f.store
        .remove_user(f.account.id, users[0].id)
        .await
        .unwrap();
    roster_lookup::refresh::refresh(&f.store, &f.view)
        .await
        .unwrap();
    assert_eq!(
        f.view.lookup(MapName::Alias, &parts[0], limit),
        Answer::Changed,
        "a part sliced before a change is not answered from the new membership"
    );
}

#[tokio::test]
async fn a_view_that_was_never_loaded_cannot_tell() {
    let view = LookupView::new(RecipientDelimiter::default());
    for map in MapName::ALL {
        assert_eq!(view.lookup(map, "ann@contoso.com", ALL), Answer::NotReady);
    }
    assert!(!view.is_ready());
}
