//! Every verbatim response from Microsoft's documentation parses with the client's types.

use std::time::{Duration, SystemTime};

use roster_domain::{DirectoryMember, MemberType};
use roster_graph::parse;
use roster_graph::{DirectoryEvent, GroupPatch, Patch, RemovalReason, UserPatch};
use secrecy::ExposeSecret;

use crate::support::{id, sample};

fn user(event: &DirectoryEvent) -> &UserPatch {
    match event {
        DirectoryEvent::User(patch) => patch,
        other => panic!("expected a user patch, got {other:?}"),
    }
}

fn group(event: &DirectoryEvent) -> &GroupPatch {
    match event {
        DirectoryEvent::Group(patch) => patch,
        other => panic!("expected a group patch, got {other:?}"),
    }
}

fn user_member(text: &str) -> DirectoryMember {
    DirectoryMember {
        id: id(text),
        kind: MemberType::User,
    }
}

#[test]
fn users_list_without_ids_is_refused_at_the_missing_id() {
    // The docs trimmed this example to a few properties and dropped `id`; an object without its
    // stable key cannot be mirrored, so the page is refused and the location named.
    let error = parse::user_page(sample("users-list-example1-guest-proxyaddresses").as_bytes())
        .unwrap_err();
    assert_eq!(error.location, "value[0].id");
}

#[test]
fn users_list_with_count_is_refused_at_the_missing_id() {
    let error =
        parse::user_page(sample("users-list-filter-startswith-count").as_bytes()).unwrap_err();
    assert_eq!(error.location, "value[0].id");
}

#[test]
fn users_list_with_select_keeps_unselected_properties_unchanged() {
    let page = parse::user_page(sample("users-list-select-assignedlicenses").as_bytes()).unwrap();
    assert_eq!(page.items.len(), 2);
    let admin = user(&page.items[0]);
    assert_eq!(admin.id, id("cb4954e8-467f-4a6d-a8c8-28b9034fadbc"));
    assert_eq!(admin.mail, Patch::Set("admin@contoso.com".into()));
    assert_eq!(admin.display_name, Patch::Unchanged);
    assert_eq!(page.next_link, None);
}

#[test]
fn users_delta_initial_page_carries_a_next_link() {
    let page = parse::user_page(sample("users-delta-initial-page-nextlink").as_bytes()).unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(user(&page.items[0]).given_name, Patch::Set("John".into()));
    assert!(page.next_link.unwrap().contains("$skiptoken="));
    assert_eq!(page.delta_link, None);
}

#[test]
fn users_delta_middle_page_carries_a_next_link() {
    let page = parse::user_page(sample("users-delta-middle-page-nextlink").as_bytes()).unwrap();
    assert_eq!(
        user(&page.items[1]).id,
        id("8b1ee412-cd8f-4d59-ffff-24010edb9f1f")
    );
    assert!(page.next_link.is_some());
}

#[test]
fn users_delta_final_page_carries_the_delta_link() {
    let page = parse::user_page(sample("users-delta-final-page-deltalink").as_bytes()).unwrap();
    assert_eq!(page.next_link, None);
    assert!(page.delta_link.unwrap().contains("$deltatoken="));
    assert_eq!(user(&page.items[0]).surname, Patch::Set("Doe".into()));
}

#[test]
fn users_delta_without_changes_is_an_empty_page_with_a_new_delta_link() {
    let page = parse::user_page(sample("users-delta-deltalink-no-changes").as_bytes()).unwrap();
    assert!(page.items.is_empty());
    assert!(page.delta_link.is_some());
}

#[test]
fn users_delta_removed_annotation_becomes_a_removal() {
    let page =
        parse::user_page(sample("users-delta-deltalink-changes-with-removed").as_bytes()).unwrap();
    assert_eq!(
        user(&page.items[0]).display_name,
        Patch::Set("Testuser7".into())
    );
    match &page.items[1] {
        DirectoryEvent::UserRemoved(removal) => {
            assert_eq!(removal.id, id("8ffff70c-1c63-4860-b963-e34ec660931d"));
            assert_eq!(removal.reason, RemovalReason::Changed);
        }
        other => panic!("expected a removal, got {other:?}"),
    }
}

#[test]
fn groups_list_reads_mail_flags_types_and_proxy_addresses() {
    let page =
        parse::group_page(sample("groups-list-unified-and-distribution").as_bytes()).unwrap();
    let unified = group(&page.items[0]);
    assert_eq!(unified.group_types, Patch::Set(vec!["Unified".into()]));
    assert_eq!(unified.mail_enabled, Patch::Set(true));
    assert_eq!(unified.security_enabled, Patch::Set(false));
    assert_eq!(
        unified.proxy_addresses,
        Patch::Set(vec![
            "smtp:golfassist@contoso.onmicrosoft.com".into(),
            "SMTP:golfassist@contoso.com".into()
        ])
    );
    let distribution = group(&page.items[1]);
    assert_eq!(distribution.group_types, Patch::Set(vec![]));
    assert_eq!(distribution.mail, Patch::Set("golftalk@contoso.com".into()));
}

#[test]
fn groups_delta_initial_page_lists_members_and_omits_them_for_memberless_groups() {
    let page =
        parse::group_page(sample("groups-delta-initial-with-members-delta").as_bytes()).unwrap();
    let first = group(&page.items[0]);
    assert_eq!(
        first.members_added,
        [
            user_member("693acd06-2877-4339-8ade-b704261fe7a0"),
            user_member("49320844-be99-4164-8167-87ff5d047ace")
        ]
    );
    assert!(group(&page.items[1]).members_added.is_empty());
    assert!(page.next_link.is_some());
}

#[test]
fn groups_delta_middle_page_lists_members() {
    let page = parse::group_page(sample("groups-delta-middle-page-nextlink").as_bytes()).unwrap();
    assert_eq!(group(&page.items[1]).members_added.len(), 2);
    assert!(page.next_link.is_some());
}

#[test]
fn groups_delta_final_page_carries_the_delta_link() {
    let page = parse::group_page(sample("groups-delta-final-page-deltalink").as_bytes()).unwrap();
    assert_eq!(
        group(&page.items[0]).display_name,
        Patch::Set("TestGroup5".into())
    );
    assert!(page.delta_link.is_some());
}

#[test]
fn groups_delta_without_changes_is_an_empty_page() {
    let page = parse::group_page(sample("groups-delta-deltalink-no-changes").as_bytes()).unwrap();
    assert!(page.items.is_empty());
    assert!(page.delta_link.is_some());
}

#[test]
fn groups_delta_member_removals_and_additions_are_told_apart() {
    let page =
        parse::group_page(sample("groups-delta-deltalink-member-removed-and-added").as_bytes())
            .unwrap();
    let changed = group(&page.items[0]);
    assert_eq!(
        changed.members_removed,
        [user_member("632f6bb2-3ec8-4c1f-9073-0027a8c6859")]
    );
    assert_eq!(
        changed.members_added,
        [user_member("37de1ae3-408f-4702-8636-20824abda004")]
    );
}

#[test]
fn groups_delta_with_default_properties_without_an_id_is_refused_at_the_missing_id() {
    // The docs' response omits the group's id; with no key the page is refused where it lacks it.
    let error =
        parse::group_page(sample("groups-delta-default-properties-members-delta").as_bytes())
            .unwrap_err();
    assert_eq!(error.location, "value[0].id");
}

#[test]
fn direct_members_without_a_type_are_kept_as_other_members() {
    let page = parse::member_page(sample("group-members-direct").as_bytes()).unwrap();
    assert_eq!(
        page.items,
        [DirectoryMember {
            id: id("11111111-2222-3333-4444-555555555555"),
            kind: MemberType::Other
        }]
    );
}

#[test]
fn transitive_members_read_their_odata_type() {
    let page = parse::member_page(sample("group-transitivemembers").as_bytes()).unwrap();
    assert_eq!(
        page.items,
        [user_member("11111111-2222-3333-4444-555555555555")]
    );
}

#[test]
fn batch_response_items_keep_their_status_headers_and_bodies() {
    let items = parse::batch_response(sample("batch-response-mixed-statuses").as_bytes()).unwrap();
    let statuses: Vec<_> = items
        .iter()
        .map(|item| (item.id.as_str(), item.status))
        .collect();
    assert_eq!(
        statuses,
        [("1", 200), ("2", 403), ("3", 403), ("4", 405), ("5", 200)]
    );
    let members = parse::batch_member_page(0, &items[0].body).unwrap();
    assert_eq!(
        members.items[0].kind,
        MemberType::Other,
        "a directoryRole is not a user or group"
    );
    assert!(members.next_link.is_some());
    let denied = parse::error_body(items[2].body.to_string().as_bytes()).unwrap();
    assert_eq!(denied.code, "Authorization_RequestDenied");
    assert_eq!(
        parse::error_body(items[1].body.to_string().as_bytes())
            .unwrap()
            .code,
        ""
    );
}

#[test]
fn throttling_error_body_names_its_code() {
    let body = parse::error_body(sample("error-429-throttled").as_bytes()).unwrap();
    assert_eq!(body.code, "TooManyRequests");
    assert_eq!(
        body.request_id.as_deref(),
        Some("94fb3b52-452a-4535-a601-69e0a90e3aa2")
    );
}

#[test]
fn bad_request_error_body_names_its_code_and_request_id() {
    let body =
        parse::error_body(sample("error-400-request-badrequest-count-unsupported").as_bytes())
            .unwrap();
    assert_eq!(body.code, "Request_BadRequest");
    assert_eq!(
        body.request_id.as_deref(),
        Some("d9bbd4d8-bb2d-44e6-99a1-71a9516da744")
    );
}

#[test]
fn unsupported_query_error_bodies_name_their_code() {
    for name in [
        "error-400-request-unsupportedquery-endswith",
        "error-400-request-unsupportedquery-search",
    ] {
        assert_eq!(
            parse::error_body(sample(name).as_bytes()).unwrap().code,
            "Request_UnsupportedQuery",
            "{name}"
        );
    }
}

#[test]
fn request_denied_error_body_names_its_code() {
    let body =
        parse::error_body(sample("error-403-authorization-requestdenied").as_bytes()).unwrap();
    assert_eq!(body.code, "Authorization_RequestDenied");
    assert_eq!(
        body.message,
        "Insufficient privileges to complete the operation."
    );
}

#[test]
fn not_implemented_error_body_names_its_code() {
    let body =
        parse::error_body(sample("error-501-notimplemented-select-skills").as_bytes()).unwrap();
    assert_eq!(body.code, "NotImplemented");
}

#[test]
fn token_success_gives_the_token_and_its_lifetime() {
    let grant =
        parse::token_response(sample("token-success-client-credentials").as_bytes()).unwrap();
    assert_eq!(grant.expires_in, Duration::from_secs(3599));
    assert!(grant.access_token.expose_secret().starts_with("eyJ0eXAi"));
    assert!(
        !format!("{grant:?}").contains("eyJ0eXAi"),
        "Debug must not show the token"
    );
}

#[test]
fn token_error_gives_the_aadsts_code_and_the_first_line_of_the_description() {
    let failure = parse::token_error(sample("token-error-invalid-scope").as_bytes()).unwrap();
    assert_eq!(failure.error, "invalid_scope");
    assert_eq!(failure.code, Some(70011));
    assert!(
        failure.description.starts_with("AADSTS70011:")
            && !failure.description.contains("Trace ID")
    );
}

#[test]
fn token_error_with_error_uri_parses_the_same_way() {
    let failure =
        parse::token_error(sample("token-error-sample-with-error-uri").as_bytes()).unwrap();
    assert_eq!(failure.code, Some(70011));
}

#[test]
fn retry_after_reads_fractional_seconds_and_http_dates() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
    assert_eq!(
        parse::retry_after("2.128", now),
        Some(Duration::from_millis(2128))
    );
    assert_eq!(
        parse::retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
        Some(Duration::from_secs(30))
    );
    assert_eq!(parse::retry_after("-1", now), None);
    assert_eq!(parse::retry_after("NaN", now), None);
}
