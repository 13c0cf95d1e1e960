//! The SMTP side: the mail server settings, parsed once, and sending one composed message.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use roster_domain::{EmailAddress, MessageId};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::{Composed, NotifyError};

/// How long sending one message may take, the whole SMTP conversation (each reply is awaited as
/// long at most, too). The sender's lease on a message is longer, so a slow server never lets a
/// second sender take over a message still being sent.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(60);

/// How the connection to the mail server is secured, from the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    /// `smtp://`: plain SMTP (a local relay).
    Plain,
    /// `smtp://…?tls=required`: STARTTLS, refusing a server that does not offer it.
    StartTls,
    /// `smtp://…?tls=opportunistic`: STARTTLS when the server offers it.
    Opportunistic,
    /// `smtps://`: TLS from the first byte (port 465).
    Wrapper,
}

/// The mail settings: `ROSTER_SMTP_URL`, its credentials and `ROSTER_MAIL_FROM`.
pub struct MailSettings {
    /// `smtp://host[:port]`, `smtp://host:587?tls=required` (STARTTLS) or `smtps://host[:465]`.
    pub url: String,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// The From of every message, e.g. `Roster <roster@example.net>`.
    pub from: String,
    /// PEM certificates trusted for the mail server besides the system's (a private CA).
    pub extra_root_certificates_pem: Option<Vec<u8>>,
}

/// A connection to the configured mail server (opened per message).
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The host part of Message-IDs: the From address's domain.
    id_domain: String,
    server: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// Why one message could not be sent.
#[derive(Debug, thiserror::Error)]
#[error("the mail server {server} {verdict}: {reason}")]
pub struct SendError {
    server: String,
    verdict: &'static str,
    reason: String,
    /// The server refused the message for good (a 5xx reply): retrying will not help.
    pub permanent: bool,
}

impl Mailer {
    pub fn new(settings: MailSettings) -> Result<Self, NotifyError> {
        let invalid = |why: String| NotifyError::InvalidSmtpUrl { why };
        let url = Url::parse(settings.url.trim()).map_err(|e| {
            invalid(format!(
                "{e}; expected smtp://HOST[:PORT], smtp://HOST:587?tls=required or smtps://HOST[:465]"
            ))
        })?;
        if url.password().is_some() || !url.username().is_empty() {
            return Err(invalid(
                "it holds credentials, which would show wherever the URL is logged; give the user in \
                 ROSTER_SMTP_USERNAME and the password in the file named by ROSTER_SMTP_PASSWORD_FILE"
                    .to_owned(),
            ));
        }
        let tls = url
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let security = match (url.scheme(), tls.as_deref()) {
            ("smtp", None) => Security::Plain,
            ("smtp", Some("required")) => Security::StartTls,
            ("smtp", Some("opportunistic")) => Security::Opportunistic,
            ("smtps", None) => Security::Wrapper,
            (scheme, tls) => {
                return Err(invalid(format!(
                    "scheme {scheme:?} with tls={tls:?} is not supported; use smtp:// (plain), \
                     smtp://…?tls=required (STARTTLS), smtp://…?tls=opportunistic or smtps:// (TLS)"
                )));
            }
        };
        let host = url
            .host_str()
            .ok_or_else(|| invalid("it names no host".to_owned()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url.port().unwrap_or(match security {
            Security::Plain => 25,
            Security::StartTls | Security::Opportunistic => 587,
            Security::Wrapper => 465,
        });
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(port)
            .timeout(Some(SMTP_TIMEOUT));
        if security != Security::Plain {
            let mut parameters = TlsParameters::builder(host.clone());
            if let Some(pem) = &settings.extra_root_certificates_pem {
                let certificate = Certificate::from_pem(pem)
                    .map_err(|e| NotifyError::InvalidSmtpCa { why: e.to_string() })?;
                parameters = parameters.add_root_certificate(certificate);
            }
            let parameters = parameters
                .build()
                .map_err(|e| invalid(format!("its TLS settings cannot be used: {e}")))?;
            builder = builder.tls(match security {
                Security::StartTls => Tls::Required(parameters),
                Security::Opportunistic => Tls::Opportunistic(parameters),
                _ => Tls::Wrapper(parameters),
            });
        }
        match (settings.username, settings.password) {
            (Some(user), Some(password)) => {
                builder = builder
                    .credentials(Credentials::new(user, password.expose_secret().to_owned()));
            }
            (None, None) => {}
            (Some(_), None) => {
                return Err(NotifyError::IncompleteSmtpCredentials {
                    missing: "ROSTER_SMTP_PASSWORD_FILE",
                });
            }
            (None, Some(_)) => {
                return Err(NotifyError::IncompleteSmtpCredentials {
                    missing: "ROSTER_SMTP_USERNAME",
                });
            }
        }
        let from: Mailbox =
            settings
                .from
                .trim()
                .parse()
                .map_err(
                    |e: lettre::address::AddressError| NotifyError::InvalidFrom {
                        from: settings.from.clone(),
                        why: e.to_string(),
                    },
                )?;
        Ok(Self {
            transport: builder.build(),
            id_domain: from.email.domain().to_owned(),
            from,
            server: format!("{host}:{port}"),
        })
    }

    /// Sends `mail` to `to`. The Message-ID is derived from the outbox message, so a message
    /// sent again after a crash (the server accepted it, the outcome was not recorded) carries
    /// the same id and mail clients can tell it is the same message.
    pub async fn send(
        &self,
        id: MessageId,
        to: &[EmailAddress],
        mail: &Composed,
    ) -> Result<(), SendError> {
        let fail = |verdict, reason: String| SendError {
            server: self.server.clone(),
            verdict,
            reason,
            permanent: true,
        };
        let mut message = Message::builder()
            .from(self.from.clone())
            .subject(mail.subject.clone())
            .message_id(Some(format!("<{id}@{}>", self.id_domain)));
        for address in to {
            let mailbox = address
                .as_str()
                .parse::<Mailbox>()
                .map_err(|e| fail("cannot be given the recipient", e.to_string()))?;
            message = message.to(mailbox);
        }
        let message = message
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ))
            .map_err(|e| fail("cannot be given the message", e.to_string()))?;
        // lettre's timeout bounds each reply, not the conversation: a server that answers
        // slowly but in time could otherwise keep one send going past the lease.
        match tokio::time::timeout(SMTP_TIMEOUT, self.transport.send(message)).await {
            Ok(sent) => sent.map(drop).map_err(|e| self.failure(&e)),
            Err(_) => Err(SendError {
                server: self.server.clone(),
                verdict: "did not take the message in time",
                reason: format!(
                    "the conversation took longer than {} s; it is tried again later",
                    SMTP_TIMEOUT.as_secs()
                ),
                permanent: false,
            }),
        }
    }

    /// What went wrong, in terms of what to fix. Only a refusal of the message itself is
    /// permanent: wrong credentials or an untrusted certificate are the settings' fault, and
    /// the message waits in the outbox until they are mended.
    fn failure(&self, error: &lettre::transport::smtp::Error) -> SendError {
        let fail = |verdict, reason: String, permanent| SendError {
            server: self.server.clone(),
            verdict,
            reason,
            permanent,
        };
        if let Some(problem) = certificate_problem(error) {
            return fail(
                "presented a certificate that is not trusted",
                format!(
                    "{} ({problem}); if the server's certificate comes from a private CA, name that \
                     CA's PEM certificate in ROSTER_SMTP_CA_FILE (smtp_ca_file in the configuration file)",
                    certificate_verdict(problem)
                ),
                false,
            );
        }
        let code = error.status().map(u16::from);
        match code {
            Some(535) => {
                return fail(
                    "refused the sign-in",
                    format!(
                        "{error}; check the user in ROSTER_SMTP_USERNAME and the password in the file \
                         ROSTER_SMTP_PASSWORD_FILE names (smtp_username, smtp_password_file)"
                    ),
                    false,
                );
            }
            Some(530) => {
                return fail(
                    "requires signing in",
                    format!(
                        "{error}; set ROSTER_SMTP_USERNAME and ROSTER_SMTP_PASSWORD_FILE \
                         (smtp_username, smtp_password_file)"
                    ),
                    false,
                );
            }
            Some(534 | 538) => {
                return fail(
                    "requires TLS to sign in",
                    format!("{error}; {TLS_HINT}"),
                    false,
                );
            }
            _ => {}
        }
        if error.is_client() && error.to_string().contains("authentication mechanism") {
            return fail(
                "offers no sign-in on this connection",
                format!("{error}; {TLS_HINT}"),
                false,
            );
        }
        if error.is_permanent() {
            fail("refused the message", error.to_string(), true)
        } else if error.is_timeout() {
            fail("did not answer in time", error.to_string(), false)
        } else {
            fail("could not take the message", error_chain(error), false)
        }
    }
}

/// Servers offer AUTH only over TLS, as they should: the fix for a refusal to sign in over a
/// plain connection.
const TLS_HINT: &str = "mail servers let a client sign in only over TLS: use \
    smtp://HOST:587?tls=required (STARTTLS) or smtps://HOST (TLS from the start) in ROSTER_SMTP_URL";

/// What a refused certificate means for the one who set up the relay.
fn certificate_verdict(problem: &rustls::CertificateError) -> &'static str {
    use rustls::CertificateError as Problem;
    match problem {
        Problem::UnknownIssuer => "it was issued by a CA that neither the system nor Roster trusts",
        Problem::NotValidForName | Problem::NotValidForNameContext { .. } => {
            "it does not name the host in the URL"
        }
        Problem::Expired | Problem::ExpiredContext { .. } => "it has expired",
        _ => "it did not verify",
    }
}

/// Why the server's certificate was refused, if that is why the send failed. The rustls error
/// sits inside an `io::Error`, whose `source` skips it: it is reached only by unwrapping.
fn certificate_problem(
    error: &lettre::transport::smtp::Error,
) -> Option<&rustls::CertificateError> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let inner = cause
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .map_or(cause, |inner| inner as &(dyn std::error::Error + 'static));
        if let Some(rustls::Error::InvalidCertificate(problem)) = inner.downcast_ref() {
            return Some(problem);
        }
        source = cause.source();
    }
    None
}

/// The error with its causes: lettre's own message ("Connection error") hides the reason.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> MailSettings {
        MailSettings {
            url: url.to_owned(),
            username: None,
            password: None,
            from: "Roster <roster@example.net>".to_owned(),
            extra_root_certificates_pem: None,
        }
    }

    #[test]
    fn every_documented_url_form_is_accepted() {
        for url in [
            "smtp://127.0.0.1:2525",
            "smtp://mail.example.net",
            "smtp://mail.example.net:587?tls=required",
            "smtp://mail.example.net?tls=opportunistic",
            "smtps://mail.example.net",
            "smtps://[::1]:465",
        ] {
            Mailer::new(settings(url)).unwrap_or_else(|e| panic!("{url}: {e}"));
        }
    }

    #[test]
    fn a_url_with_credentials_or_an_unknown_form_is_refused_with_the_fix() {
        let error = Mailer::new(settings("smtp://user:secret@mail.example.net"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("ROSTER_SMTP_PASSWORD_FILE"), "{error}");
        assert!(!error.contains("secret@"), "{error}");
        let error = Mailer::new(settings("smtps://mail.example.net?tls=required"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("smtp://…?tls=required (STARTTLS)"),
            "{error}"
        );
        assert!(Mailer::new(settings("http://mail.example.net")).is_err());
    }

    #[test]
    fn credentials_come_as_a_pair_and_the_sender_must_be_an_address() {
        let mut half = settings("smtp://mail.example.net");
        half.username = Some("roster".into());
        assert!(
            Mailer::new(half)
                .unwrap_err()
                .to_string()
                .contains("ROSTER_SMTP_PASSWORD_FILE")
        );
        let mut bad_from = settings("smtp://mail.example.net");
        bad_from.from = "roster".into();
        assert!(
            Mailer::new(bad_from)
                .unwrap_err()
                .to_string()
                .contains("ROSTER_MAIL_FROM")
        );
    }
}
