//! Who may call what: every route of the router's own table, called by every kind of caller,
//! answers as its declared policy says. A route added to the table is checked here unasked.

use axum::http::{Method, StatusCode};
use roster_server::routes::{self, Policy};
use roster_store::NewUser;
use serde_json::json;
use uuid::Uuid;

use super::support::{As, PASSWORD, TestApp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Nobody,
    OtherAccountsToken,
    ReadOnlyToken,
    EndUser,
    Admin,
    Token,
    Operator,
}

/// What a caller of `kind` must get from a route with `policy`: `None` means "allowed" (any
/// answer but 401, 403, or the 404 of an account it may not see).
fn expected(policy: Policy, method: &Method, kind: Kind) -> Option<StatusCode> {
    let writes = *method != Method::GET;
    match (policy, kind) {
        (Policy::Public, _) => None,
        (_, Kind::Nobody) => Some(StatusCode::UNAUTHORIZED),
        (Policy::SignedIn, _) => None,
        (Policy::Operator, Kind::Operator) => None,
        (Policy::Operator, _) => Some(StatusCode::FORBIDDEN),
        (_, Kind::OtherAccountsToken) => Some(StatusCode::NOT_FOUND),
        (_, Kind::Operator) => None,
        (Policy::AccountOperator, _) => Some(StatusCode::FORBIDDEN),
        (_, Kind::ReadOnlyToken) if writes || policy == Policy::AccountWriter => {
            Some(StatusCode::FORBIDDEN)
        }
        (Policy::AccountMember, Kind::EndUser) => None,
        (_, Kind::EndUser) => Some(StatusCode::FORBIDDEN),
        (_, Kind::Admin | Kind::Token | Kind::ReadOnlyToken) => None,
    }
}

#[tokio::test]
async fn every_route_answers_every_kind_of_caller_as_its_policy_says() {
    let app = TestApp::start().await;
    // A silent user cannot sign in at all, so it calls as nobody does.
    app.store
        .add_user(
            app.account.id,
            NewUser {
                primary_address: "printer@contoso.com".parse().unwrap(),
                aliases: Vec::new(),
                first_name: None,
                last_name: None,
                display_name: None,
                role: roster_domain::Role::SilentUser,
                digests: None,
            },
        )
        .await
        .unwrap();
    let silent = app
        .call(
            &As::Nobody,
            Method::POST,
            "/api/v1/session",
            Some(json!({"email": "printer@contoso.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(silent.status, StatusCode::UNAUTHORIZED);

    let c = &app.callers;
    let callers = [
        (Kind::Nobody, As::Nobody),
        (Kind::OtherAccountsToken, c.other_token.clone()),
        (Kind::ReadOnlyToken, c.read_only_token.clone()),
        (Kind::EndUser, c.end_user.clone()),
        (Kind::Admin, c.admin.clone()),
        (Kind::Token, c.token.clone()),
        (Kind::Operator, c.operator.clone()),
    ];
    let mut table = routes::list();
    // Signing out ends the callers' sessions: it goes last.
    table.sort_by_key(|r| r.path == "/api/v1/session" && r.method == Method::DELETE);
    let mut failures = Vec::new();
    for route in &table {
        // DELETE of a user names nobody real, so the end user survives the walk.
        let user = if route.method == Method::DELETE {
            Uuid::new_v4().to_string()
        } else {
            c.end_user_id.to_string()
        };
        let path = route
            .path
            .replace("{account}", &app.account.name)
            .replace("{user}", &user)
            .replace("{domain}", "contoso.com")
            .replace("{external_id}", "u-1")
            .replace("{run}", &Uuid::new_v4().to_string())
            .replace("{plan}", &Uuid::new_v4().to_string())
            .replace("{group}", &Uuid::new_v4().to_string())
            .replace("{token}", &Uuid::new_v4().to_string())
            .replace("{certificate}", "AB01");
        assert!(
            !path.contains('{'),
            "a parameter of {} is not filled in",
            route.path
        );
        let body = (route.method != Method::GET).then(|| json!({}));
        for (kind, caller) in &callers {
            let reply = app
                .call(caller, route.method.clone(), &path, body.clone())
                .await;
            let hidden = reply.status == StatusCode::NOT_FOUND
                && reply.body["detail"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("no account is named"));
            let ok = match expected(route.policy, &route.method, *kind) {
                None => {
                    !matches!(
                        reply.status,
                        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                    ) && !hidden
                }
                Some(StatusCode::NOT_FOUND) => hidden,
                Some(status) => reply.status == status,
            };
            if !ok {
                failures.push(format!(
                    "{} {} as {kind:?}: {} {}",
                    route.method, route.path, reply.status, reply.body
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
