//! Administration › Notifications: the mail Roster sent, is waiting to send, or gave up on
//! for the account (the outbox), newest first, each message as its recipients read it.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use roster_domain::Account;
use roster_notify::{Links, compose};
use roster_store::{OutboxMessage, OutboxStatus};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::layout::Layout;
use super::page::{PageError, PageResult, render};
use super::session::AdminPage;
use crate::AppState;

/// How many messages the page lists.
const SHOWN: u32 = 200;

pub fn routes() -> Router<AppState> {
    Router::new().route("/accounts/{account}/notifications", get(list))
}

/// One message as listed.
struct Row {
    created_at: String,
    what: &'static str,
    subject: String,
    /// The plain text alternative, as mailed (or as it will be).
    text: String,
    recipients: String,
    status: &'static str,
    /// When it was sent, when it is tried next, or why it was given up on.
    detail: String,
    run_path: Option<String>,
}

fn when(at: OffsetDateTime) -> String {
    at.replace_nanosecond(0)
        .unwrap_or(at)
        .format(&Rfc3339)
        .unwrap_or_default()
}

impl Row {
    fn of(message: &OutboxMessage, account: &Account, links: &Links, account_path: &str) -> Self {
        let detail = match message.status {
            OutboxStatus::Sent => message
                .sent_at
                .map(|at| format!("sent {}", when(at)))
                .unwrap_or_default(),
            OutboxStatus::Pending => {
                let next = format!("next try {}", when(message.due_at));
                match &message.last_error {
                    Some(error) => format!("{next}; the last try failed: {error}"),
                    None => next,
                }
            }
            OutboxStatus::Failed => format!(
                "given up after {} tries: {}",
                message.attempts,
                message
                    .last_error
                    .as_deref()
                    .unwrap_or("no reason recorded")
            ),
        };
        // As sent, or as it would be sent now: an expiry warning counts the days left.
        let mail = compose(
            &message.notice,
            account,
            links,
            message.sent_at.unwrap_or_else(OffsetDateTime::now_utc),
        );
        Self {
            created_at: when(message.created_at),
            what: message.notice.kind(),
            subject: mail.subject,
            text: mail.text,
            recipients: message
                .recipients
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            status: match message.status {
                OutboxStatus::Pending => "waiting",
                OutboxStatus::Sent => "sent",
                OutboxStatus::Failed => "failed",
            },
            detail,
            run_path: message
                .notice
                .run_id()
                .map(|run| format!("{account_path}/runs/{run}")),
        }
    }
}

#[derive(Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    layout: Layout,
    rows: Vec<Row>,
}

/// `GET /accounts/{account}/notifications`.
async fn list(State(state): State<AppState>, admin: AdminPage) -> PageResult {
    let messages = state.store().list_outbox(admin.account().id, SHOWN).await?;
    let links = Links::new(state.config().public_url.as_str()).map_err(|e| {
        PageError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "The messages cannot be shown",
            e.to_string(),
        )
    })?;
    let account_path = admin.path("");
    render(&NotificationsPage {
        layout: admin
            .layout(&state, "Notifications", "notifications")
            .await?,
        rows: messages
            .iter()
            .map(|m| Row::of(m, admin.account(), &links, &account_path))
            .collect(),
    })
}
