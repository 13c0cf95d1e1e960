//! Message composition: (notice, account, links, time) → subject, plain text and HTML. Pure: no
//! I/O and no clock of its own, so what a notice says can be tested for any moment.

use std::fmt::Write as _;

use roster_domain::notice::{self, ExpiryWarning, Notice};
use roster_domain::plan::Category;
use roster_domain::{Account, AccountId, CredentialKind, RunId, console_page};
use time::OffsetDateTime;
use time::macros::format_description;
use url::Url;

use crate::NotifyError;

/// A composed message, both alternatives saying the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The console's pages that messages link to, under this deployment's public URL
/// (`ROSTER_PUBLIC_URL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Links {
    base: String,
}

impl Links {
    /// Parses the public URL: absolute http or https, optionally with a path prefix.
    pub fn new(public_url: &str) -> Result<Self, NotifyError> {
        let invalid = |why: &str| NotifyError::InvalidPublicUrl {
            url: public_url.to_owned(),
            why: why.to_owned(),
        };
        let url = Url::parse(public_url.trim()).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(invalid("expected an http:// or https:// URL with a host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("expected no query or fragment"));
        }
        Ok(Self {
            base: url.as_str().trim_end_matches('/').to_owned(),
        })
    }

    /// Import & Sync › Azure Active Directory: the settings, Search Now and the plan.
    pub fn connection(&self, account: AccountId) -> String {
        format!("{}{}", self.base, console_page::connection(account))
    }

    /// A run's report.
    pub fn run(&self, account: AccountId, run: RunId) -> String {
        format!("{}{}", self.base, console_page::run(account, run))
    }

    /// Administration › Account Management › Profile: the tech contact.
    pub fn profile(&self, account: AccountId) -> String {
        format!("{}{}", self.base, console_page::profile(account))
    }
}

/// One paragraph of a message: text, or text with a link.
enum Part {
    Text(String),
    Link { label: String, url: String },
}

fn text(content: impl Into<String>) -> Part {
    Part::Text(content.into())
}

fn link(label: &str, url: String) -> Part {
    Part::Link {
        label: label.to_owned(),
        url,
    }
}

fn when(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_else(|_| at.to_string())
}

fn day(date: time::Date) -> String {
    date.format(format_description!(
        "[day padding:none] [month repr:long] [year]"
    ))
    .unwrap_or_else(|_| date.to_string())
}

fn held_list(held: &std::collections::BTreeMap<Category, usize>) -> String {
    let parts: Vec<String> = held
        .iter()
        .map(|(category, count)| match category {
            Category::UsersToRemove => format!("{count} user(s) to remove"),
            Category::GroupsToRemove => format!("{count} group(s) to remove"),
            other => format!("{count} {}", other.title().to_lowercase()),
        })
        .collect();
    parts.join(" and ")
}

/// Composes the message telling `notice` about `account`, as of `at` (the time it is sent:
/// an expiry warning counts the days left from then).
pub fn compose(notice: &Notice, account: &Account, links: &Links, at: OffsetDateTime) -> Composed {
    let name = &account.name;
    let id = account.id;
    let report =
        |run_id: Option<RunId>| run_id.map(|run| link("The run's report:", links.run(id, run)));
    let (subject, mut parts, why_you) = match notice {
        Notice::AutomaticRunFailed {
            run_id,
            message,
            failing_since,
        } => {
            let (subject, opening) = match failing_since {
                None => (
                    format!("Automatic sync failed for {name}"),
                    format!("The automatic sync of {name} with Microsoft Entra ID failed."),
                ),
                Some(since) => (
                    format!("Automatic sync still failing for {name}"),
                    format!(
                        "The automatic sync of {name} with Microsoft Entra ID has kept failing since {}. The latest run:",
                        when(*since)
                    ),
                ),
            };
            let mut parts = vec![text(opening), text(message.clone())];
            parts.extend(report(*run_id));
            parts.push(link(
                "Check the connection (Test connection) and the settings:",
                links.connection(id),
            ));
            (
                subject,
                parts,
                "While automatic sync keeps failing you get one reminder a day, not one message per run.",
            )
        }
        Notice::AutomaticRunHeld {
            run_id,
            message,
            held,
            held_since,
        } => {
            let what = if held.is_empty() {
                "removals".to_owned()
            } else {
                held_list(held)
            };
            let subject = match held_since {
                None => format!("Automatic sync held removals for {name}"),
                Some(_) => format!("Automatic sync still holding removals for {name}"),
            };
            let opening = match held_since {
                None => format!(
                    "The automatic sync of {name} held {what}: more than the deletion limit allows without review. \
                     The other changes were applied."
                ),
                Some(since) => format!(
                    "The automatic sync of {name} has held removals since {}; the latest run held {what}. \
                     The other changes were applied.",
                    when(*since)
                ),
            };
            let mut parts = vec![text(opening), text(message.clone())];
            parts.push(link(
                "Review the removals: run Search Now, check them, and confirm to apply them:",
                links.connection(id),
            ));
            parts.extend(report(*run_id));
            (
                subject,
                parts,
                "While removals stay held you get one reminder a day, not one message per run.",
            )
        }
        Notice::AutomaticSyncTurnedOff { message } => (
            format!("Automatic sync turned off for {name}: no tech contact"),
            vec![
                text(format!(
                    "Automatic sync of {name} with Microsoft Entra ID was set to Never."
                )),
                text(message.clone()),
                link("Set a tech contact:", links.profile(id)),
                link("Then choose a sync frequency again:", links.connection(id)),
            ],
            "You receive this as an organization admin of the account, because it has no tech contact.",
        ),
        Notice::KeyExpiry {
            expires_on,
            warning,
            credential,
        } => {
            let days = notice::days_until(*expires_on, at);
            let date = day(*expires_on);
            let (what, its) = match credential {
                CredentialKind::Secret => ("key", "client secret"),
                CredentialKind::Certificate => ("certificate", "certificate"),
            };
            let uses = format!(
                "The {its} that Roster uses to sign in to the Microsoft Entra ID tenant of {name}"
            );
            let (subject, opening) = match (warning, days) {
                (ExpiryWarning::Expired, _) | (_, ..0) => (
                    format!("The Entra ID {what} of {name} has expired"),
                    format!(
                        "{uses} expired on {date}. Syncs fail until it is replaced ({}).",
                        match credential {
                            CredentialKind::Secret => "Entra ID answers AADSTS7000222",
                            CredentialKind::Certificate =>
                                "Entra ID refuses assertions signed with it, AADSTS700027",
                        }
                    ),
                ),
                (_, 0) => (
                    format!("The Entra ID {what} of {name} expires today"),
                    format!("{uses} expires today, {date}. Syncs fail once it has expired."),
                ),
                (_, 1) => (
                    format!("The Entra ID {what} of {name} expires tomorrow"),
                    format!("{uses} expires tomorrow, {date}. Syncs fail once it has expired."),
                ),
                (_, days) => (
                    format!("The Entra ID {what} of {name} expires in {days} days"),
                    format!(
                        "{uses} expires on {date}, in {days} days. Syncs fail once it has expired."
                    ),
                ),
            };
            let replace = match credential {
                CredentialKind::Secret => {
                    "To replace it: in the Microsoft Entra admin center open App registrations, choose the app Roster \
                     uses, then Certificates & secrets › New client secret; copy the secret's Value (not its ID) and \
                     note its expiry date. Enter both in Roster's connection settings and save."
                }
                CredentialKind::Certificate => {
                    "To replace it: generate a new certificate in Roster (the connection settings, under Use a \
                     certificate instead of a key; or roster connection certificate generate) and download its .cer \
                     file; in the Microsoft Entra admin center open App registrations, choose the app Roster uses, \
                     then Certificates & secrets › Certificates › Upload certificate. Both certificates stay valid \
                     meanwhile, and Roster signs in with the newest."
                }
            };
            (
                subject,
                vec![
                    text(opening),
                    text(replace),
                    link("The connection settings:", links.connection(id)),
                ],
                match credential {
                    CredentialKind::Secret => {
                        "You are warned 30, 7 and 1 days before the key expires, and once after."
                    }
                    CredentialKind::Certificate => {
                        "You are warned 30, 7 and 1 days before the certificate expires, and once after."
                    }
                },
            )
        }
    };
    let greeting = match (&account.tech_contact, notice.audience()) {
        (Some(contact), roster_domain::Audience::TechContact) => format!("Hello {},", contact.name),
        _ => "Hello,".to_owned(),
    };
    let footer = match notice.audience() {
        roster_domain::Audience::TechContact => {
            format!("You receive this as the tech contact of {name}. {why_you}")
        }
        roster_domain::Audience::Admins => why_you.to_owned(),
    };
    parts.insert(0, text(greeting));
    parts.push(text(footer));
    Composed {
        subject: format!("[Roster] {subject}"),
        text: plain(&parts),
        html: html(&subject, &parts),
    }
}

fn plain(parts: &[Part]) -> String {
    let mut out = String::new();
    for part in parts {
        match part {
            Part::Text(content) => out.push_str(content),
            Part::Link { label, url } => {
                let _ = write!(out, "{label}\n{url}");
            }
        }
        out.push_str("\n\n");
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

fn html(title: &str, parts: &[Part]) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head><body>\n",
        escape(title)
    );
    for part in parts {
        match part {
            Part::Text(content) => {
                let _ = writeln!(out, "<p>{}</p>", escape(content));
            }
            Part::Link { label, url } => {
                let _ = writeln!(
                    out,
                    "<p>{} <a href=\"{}\">{}</a></p>",
                    escape(label),
                    escape(url),
                    escape(url)
                );
            }
        }
    }
    out.push_str("</body></html>\n");
    out
}

/// Escapes text for HTML content and attribute values: account names and error messages come
/// from admins and from Microsoft, never trusted as markup.
fn escape(content: &str) -> String {
    let mut out = String::with_capacity(content.len());
    for c in content.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use roster_domain::TechContact;
    use time::macros::{date, datetime};

    use super::*;

    fn account() -> Account {
        Account {
            id: AccountId::new(),
            name: "Contoso <Ltd>".to_owned(),
            domains: vec!["contoso.com".parse().unwrap()],
            tech_contact: Some(TechContact {
                name: "Ada".to_owned(),
                email: "ada@contoso.com".parse().unwrap(),
            }),
            created_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn links() -> Links {
        Links::new("https://roster.example.net/console/").unwrap()
    }

    const NOW: OffsetDateTime = datetime!(2026-12-01 20:00 UTC);

    #[test]
    fn a_failed_run_names_the_error_its_fix_and_links_its_report() {
        let account = account();
        let run = RunId::new();
        let notice = Notice::AutomaticRunFailed {
            run_id: Some(run),
            message:
                "Automatic sync failed: the key is wrong (AADSTS7000215): paste the secret's Value"
                    .into(),
            failing_since: None,
        };
        let mail = compose(&notice, &account, &links(), NOW);
        assert_eq!(
            mail.subject,
            "[Roster] Automatic sync failed for Contoso <Ltd>"
        );
        assert!(mail.text.starts_with("Hello Ada,\n\n"));
        assert!(
            mail.text
                .contains("AADSTS7000215): paste the secret's Value")
        );
        let report = format!(
            "https://roster.example.net/console/accounts/{}/runs/{run}",
            account.id
        );
        assert!(mail.text.contains(&report), "{}", mail.text);
        assert!(mail.html.contains(&format!("<a href=\"{report}\">")));
        assert!(mail.html.contains("Contoso &lt;Ltd&gt;"), "{}", mail.html);
        assert!(!mail.html.contains("<Ltd>"));
        assert!(mail.html.contains("secret&#39;s Value"));
    }

    #[test]
    fn a_reminder_says_since_when_it_has_been_failing() {
        let notice = Notice::AutomaticRunFailed {
            run_id: None,
            message: "Automatic sync failed: Graph is unavailable".into(),
            failing_since: Some(datetime!(2026-11-29 08:15 UTC)),
        };
        let mail = compose(&notice, &account(), &links(), NOW);
        assert_eq!(
            mail.subject,
            "[Roster] Automatic sync still failing for Contoso <Ltd>"
        );
        assert!(mail.text.contains("since 2026-11-29 08:15 UTC"));
        assert!(mail.text.contains("one reminder a day"));
    }

    #[test]
    fn a_held_run_says_what_was_held_and_where_to_review_it() {
        let account = account();
        let notice = Notice::AutomaticRunHeld {
            run_id: Some(RunId::new()),
            message: "Automatic sync held 15 removal(s)".into(),
            held: BTreeMap::from([(Category::UsersToRemove, 12), (Category::GroupsToRemove, 3)]),
            held_since: None,
        };
        let mail = compose(&notice, &account, &links(), NOW);
        assert_eq!(
            mail.subject,
            "[Roster] Automatic sync held removals for Contoso <Ltd>"
        );
        assert!(
            mail.text
                .contains("held 12 user(s) to remove and 3 group(s) to remove")
        );
        assert!(mail.text.contains(&format!(
            "Review the removals: run Search Now, check them, and confirm to apply them:\nhttps://roster.example.net/console/accounts/{}/import/azure",
            account.id
        )));
    }

    #[test]
    fn sync_turned_off_goes_to_the_admins_with_the_profile_link() {
        let mut account = account();
        account.tech_contact = None;
        let notice = Notice::AutomaticSyncTurnedOff {
            message: "no tech contact for more than 7 days".into(),
        };
        let mail = compose(&notice, &account, &links(), NOW);
        assert!(mail.subject.contains("turned off"));
        assert!(mail.text.starts_with("Hello,\n\n"));
        assert!(
            mail.text
                .contains(&format!("/accounts/{}/profile", account.id))
        );
        assert!(mail.text.contains("as an organization admin"));
    }

    #[test]
    fn expiry_warnings_count_the_days_left_when_sent() {
        let notice = |warning| Notice::KeyExpiry {
            expires_on: date!(2026 - 12 - 08),
            warning,
            credential: CredentialKind::Secret,
        };
        let subject = |warning, at| compose(&notice(warning), &account(), &links(), at).subject;
        assert_eq!(
            subject(ExpiryWarning::In7Days, NOW),
            "[Roster] The Entra ID key of Contoso <Ltd> expires in 7 days"
        );
        assert_eq!(
            subject(ExpiryWarning::In1Day, datetime!(2026-12-07 09:00 UTC)),
            "[Roster] The Entra ID key of Contoso <Ltd> expires tomorrow"
        );
        assert_eq!(
            subject(ExpiryWarning::In1Day, datetime!(2026-12-08 09:00 UTC)),
            "[Roster] The Entra ID key of Contoso <Ltd> expires today"
        );
        assert_eq!(
            subject(ExpiryWarning::Expired, datetime!(2026-12-09 00:00 UTC)),
            "[Roster] The Entra ID key of Contoso <Ltd> has expired"
        );
        let mail = compose(&notice(ExpiryWarning::In7Days), &account(), &links(), NOW);
        assert!(mail.text.contains("expires on 8 December 2026, in 7 days"));
        assert!(
            mail.text
                .contains("Certificates & secrets › New client secret")
        );
        assert!(mail.html.contains("Certificates &amp; secrets"));
        let expired = compose(
            &notice(ExpiryWarning::Expired),
            &account(),
            &links(),
            datetime!(2026-12-09 00:00 UTC),
        );
        assert!(expired.text.contains("AADSTS7000222"), "{}", expired.text);
    }

    #[test]
    fn a_certificates_expiry_says_to_upload_a_new_certificate_not_a_secret() {
        let notice = |warning| Notice::KeyExpiry {
            expires_on: date!(2026 - 12 - 08),
            warning,
            credential: CredentialKind::Certificate,
        };
        let soon = compose(&notice(ExpiryWarning::In7Days), &account(), &links(), NOW);
        assert_eq!(
            soon.subject,
            "[Roster] The Entra ID certificate of Contoso <Ltd> expires in 7 days"
        );
        assert!(
            soon.text.contains("The certificate that Roster uses"),
            "{}",
            soon.text
        );
        assert!(soon.text.contains("generate a new certificate"));
        assert!(soon.text.contains("Certificates › Upload certificate"));
        let expired = compose(
            &notice(ExpiryWarning::Expired),
            &account(),
            &links(),
            datetime!(2026-12-09 00:00 UTC),
        );
        assert!(expired.text.contains("AADSTS700027"), "{}", expired.text);
        for mail in [&soon, &expired] {
            assert!(!mail.text.contains("client secret"), "{}", mail.text);
            assert!(!mail.text.contains("AADSTS7000222"), "{}", mail.text);
        }
    }

    #[test]
    fn the_public_url_must_be_an_absolute_web_url() {
        assert!(Links::new("roster.example.net").is_err());
        assert!(Links::new("ftp://roster.example.net").is_err());
        assert!(Links::new("https://roster.example.net/?x=1").is_err());
        assert_eq!(
            Links::new("https://roster.example.net")
                .unwrap()
                .profile(AccountId::from_uuid(uuid::Uuid::nil())),
            "https://roster.example.net/accounts/00000000-0000-0000-0000-000000000000/profile"
        );
    }
}
