//! Mail to the people of an account (product.md §6 and §12): the tech contact when an automatic
//! run fails or is held and when the connection's key is about to expire, the account's admins
//! when automatic sync was turned off for lack of a tech contact.
//!
//! The store queues notices in its outbox where they arise (an account event's notice in the
//! event's own transaction), so sending never holds up a sync. This crate turns a notice into a
//! message ([`compose`], pure: subject, plain text and HTML, links under the deployment's public
//! URL) and drains the outbox over SMTP ([`Sender`], with [`Mailer`]): due messages are claimed
//! with a lease, failures are retried with backoff, and each message is marked sent once.

mod compose;
mod mailer;
mod sender;

pub use compose::{Composed, Links, compose};
pub use mailer::{MailSettings, Mailer, SMTP_TIMEOUT, SendError};
pub use sender::{Clock, LEASE, MAX_ATTEMPTS, PassReport, Sender, retry_delay};

/// Mail settings that cannot be used, each saying what is wrong and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("ROSTER_SMTP_URL is not usable: {why}")]
    InvalidSmtpUrl { why: String },

    #[error("ROSTER_SMTP_CA_FILE holds no usable PEM certificate: {why}")]
    InvalidSmtpCa { why: String },

    #[error("the mail server's credentials are incomplete: set {missing} as well")]
    IncompleteSmtpCredentials { missing: &'static str },

    #[error(
        "ROSTER_MAIL_FROM {from:?} is not a sender address ({why}); give e.g. \"Roster <roster@example.net>\""
    )]
    InvalidFrom { from: String, why: String },

    #[error(
        "ROSTER_PUBLIC_URL {url:?} is not usable ({why}); give the console's address as people reach it, e.g. https://roster.example.net"
    )]
    InvalidPublicUrl { url: String, why: String },
}
