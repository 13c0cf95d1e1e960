//! A change to a directory connection's settings as someone entered it (CLI flags, an API
//! body, the console's form), and the rule that merges it into the saved settings: a field left
//! out keeps its saved value, and a new connection needs its tenant, client ID and key.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use crate::connection::iso_date;
use crate::{
    Cloud, ConnectionSettings, CredentialKind, DeletionLimit, DirectoryConnection, ParseError,
};

/// Each field as entered; `None` keeps the saved value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsChange {
    pub tenant: Option<String>,
    pub client_id: Option<String>,
    /// A named Microsoft cloud: global, usgov, usgov-dod or china.
    pub cloud: Option<String>,
    /// Custom endpoints (both or neither), e.g. a simulated tenant.
    pub login_url: Option<String>,
    pub graph_url: Option<String>,
    pub default_role: Option<String>,
    /// What to sync, as a comma-separated list.
    pub sync: Option<String>,
    /// How to sync, as a comma-separated list.
    pub actions: Option<String>,
    pub frequency: Option<String>,
    pub deletion_limit_percent: Option<u8>,
    pub deletion_limit_min: Option<u32>,
    pub include_sign_in_blocked: Option<bool>,
    /// `secret` or `certificate`.
    pub credential: Option<String>,
    /// The key's expiry date, `YYYY-MM-DD`; `none` or empty clears it.
    pub key_expires_on: Option<String>,
}

/// A field of a [`SettingsChange`] that cannot be used, named as the change names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: &'static str,
    pub error: ParseError,
}

/// What a save writes: the merged settings, and the new key when one was entered.
pub struct CheckedSave {
    pub settings: ConnectionSettings,
    /// The client secret's value, trimmed; `None` keeps the stored one.
    pub key: Option<SecretString>,
}

impl fmt::Debug for CheckedSave {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckedSave")
            .field("settings", &self.settings)
            .field("key", &self.key.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// The value, or `None` with the problem recorded under `field`.
fn checked<T>(
    problems: &mut Vec<FieldProblem>,
    field: &'static str,
    result: Result<T, ParseError>,
) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(error) => {
            problems.push(FieldProblem { field, error });
            None
        }
    }
}

impl SettingsChange {
    /// Whether the change points the connection at endpoints of its own choosing: only a
    /// platform operator may, or an admin could make Roster call an arbitrary host.
    pub fn sets_custom_endpoints(&self) -> bool {
        self.login_url.is_some() || self.graph_url.is_some()
    }

    /// A whole save of the guide's Step 2, against the connection as saved (if any): the
    /// settings [`merged`](Self::merge), the key entered (a new connection needs one, and an
    /// entered key may not be blank), and a switch to a certificate only while one is valid at
    /// `now`. Every problem is named by its field; the key's value never appears in one.
    pub fn check_save(
        &self,
        key: Option<&SecretString>,
        saved: Option<&DirectoryConnection>,
        now: OffsetDateTime,
    ) -> Result<CheckedSave, Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let key = match key.map(|k| k.expose_secret().trim()) {
            Some("") => checked(
                &mut problems,
                "key",
                Err(ParseError::new(
                    "key",
                    "",
                    "it is empty; paste the secret's Value (not its Secret ID) from Certificates & secrets",
                )),
            ),
            Some(key) => Some(SecretString::from(key.to_owned())),
            None if saved.is_none() => checked(
                &mut problems,
                "key",
                Err(ParseError::new(
                    "key",
                    "",
                    "a new connection needs its key: the client secret's Value from Certificates & secrets",
                )),
            ),
            None => None,
        };
        let settings = match self.merge(saved.map(|c| &c.settings)) {
            // The saved date was the replaced key's: a new key entered without its own date
            // has none, rather than warnings about a date it does not have.
            Ok(mut settings) if key.is_some() && self.key_expires_on.is_none() => {
                settings.key_expires_on = None;
                Some(settings)
            }
            Ok(settings) => Some(settings),
            Err(more) => {
                problems.extend(more);
                None
            }
        };
        // Checked only when switching, so that other settings stay changeable meanwhile.
        let switches_to_certificate = self.credential.is_some()
            && settings
                .as_ref()
                .is_some_and(|s| s.credential == CredentialKind::Certificate);
        if switches_to_certificate && saved.is_none_or(|c| c.signing_certificates(now).is_empty()) {
            problems.push(FieldProblem {
                field: "credential",
                error: ParseError::new(
                    "credential",
                    "certificate",
                    "the connection has no valid certificate to sign in with: generate one, upload its .cer file \
                     to the app registration, then switch to it",
                ),
            });
        }
        match settings {
            Some(settings) if problems.is_empty() => Ok(CheckedSave { settings, key }),
            _ => Err(problems),
        }
    }

    /// The saved settings (if any) with this change applied, or every field's problem.
    pub fn merge(
        &self,
        saved: Option<&ConnectionSettings>,
    ) -> Result<ConnectionSettings, Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let tenant = match (&self.tenant, saved) {
            (Some(text), _) => checked(&mut problems, "tenant", text.parse()),
            (None, Some(s)) => Some(s.tenant.clone()),
            (None, None) => checked(
                &mut problems,
                "tenant",
                Err(ParseError::new(
                    "tenant",
                    "",
                    "a new connection needs the tenant: its GUID or a verified domain",
                )),
            ),
        };
        let client_id = match (&self.client_id, saved) {
            (Some(text), _) => checked(&mut problems, "client_id", text.parse()),
            (None, Some(s)) => Some(s.client_id),
            (None, None) => checked(
                &mut problems,
                "client_id",
                Err(ParseError::new(
                    "client ID",
                    "",
                    "a new connection needs the app registration's Application (client) ID",
                )),
            ),
        };
        let cloud = match (&self.cloud, &self.login_url, &self.graph_url) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => checked(
                &mut problems,
                "cloud",
                Err(ParseError::new(
                    "cloud",
                    self.cloud.as_deref().unwrap_or_default(),
                    "give a named cloud or custom login and Graph URLs, not both",
                )),
            ),
            (Some(name), None, None) => checked(&mut problems, "cloud", name.parse()),
            (None, Some(login), Some(graph)) => {
                checked(&mut problems, "login_url", Cloud::custom(login, graph))
            }
            (None, Some(_), None) | (None, None, Some(_)) => checked(
                &mut problems,
                "graph_url",
                Err(ParseError::new(
                    "custom endpoints",
                    "",
                    "give both the login URL and the Graph URL",
                )),
            ),
            (None, None, None) => Some(saved.map_or(Cloud::Global, |s| s.cloud.clone())),
        };
        let default_role = match &self.default_role {
            Some(text) => checked(&mut problems, "default_role", text.parse()),
            None => Some(saved.map(|s| s.default_role).unwrap_or_default()),
        };
        let scope = match &self.sync {
            Some(text) => checked(&mut problems, "sync", text.parse()),
            None => Some(saved.map(|s| s.scope).unwrap_or_default()),
        };
        let actions = match &self.actions {
            Some(text) => checked(&mut problems, "actions", text.parse()),
            None => Some(saved.map(|s| s.actions).unwrap_or_default()),
        };
        let frequency = match &self.frequency {
            Some(text) => checked(&mut problems, "frequency", text.parse()),
            None => Some(saved.map(|s| s.frequency).unwrap_or_default()),
        };
        let limit = saved.map(|s| s.deletion_limit).unwrap_or_default();
        let deletion_limit = checked(
            &mut problems,
            "deletion_limit",
            DeletionLimit::new(
                self.deletion_limit_percent.unwrap_or(limit.percent),
                self.deletion_limit_min.unwrap_or(limit.min_objects),
            ),
        );
        let include_sign_in_blocked = self
            .include_sign_in_blocked
            .unwrap_or(saved.is_some_and(|s| s.include_sign_in_blocked));
        let credential = match &self.credential {
            Some(text) => checked(&mut problems, "credential", text.parse()),
            None => Some(saved.map(|s| s.credential).unwrap_or_default()),
        };
        let key_expires_on = match self.key_expires_on.as_deref().map(str::trim) {
            Some("none" | "") => Some(None),
            Some(text) => checked(&mut problems, "key_expires_on", iso_date::parse(text)).map(Some),
            None => Some(saved.and_then(|s| s.key_expires_on)),
        };
        match (
            tenant,
            client_id,
            cloud,
            default_role,
            scope,
            actions,
            frequency,
            deletion_limit,
            credential,
            key_expires_on,
        ) {
            (
                Some(tenant),
                Some(client_id),
                Some(cloud),
                Some(default_role),
                Some(scope),
                Some(actions),
                Some(frequency),
                Some(deletion_limit),
                Some(credential),
                Some(key_expires_on),
            ) if problems.is_empty() => Ok(ConnectionSettings {
                tenant,
                client_id,
                cloud,
                default_role,
                scope,
                actions,
                frequency,
                deletion_limit,
                include_sign_in_blocked,
                credential,
                key_expires_on,
            }),
            _ => Err(problems),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";

    #[test]
    fn a_new_connection_needs_tenant_and_client_id_and_names_both() {
        let problems = SettingsChange::default().merge(None).unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field).collect();
        assert_eq!(fields, ["tenant", "client_id"]);
    }

    #[test]
    fn fields_left_out_keep_their_saved_values() {
        let saved = SettingsChange {
            tenant: Some("contoso.com".into()),
            client_id: Some(CLIENT.into()),
            frequency: Some("6h".into()),
            deletion_limit_percent: Some(20),
            ..SettingsChange::default()
        }
        .merge(None)
        .unwrap();
        let changed = SettingsChange {
            default_role: Some("silent-user".into()),
            ..SettingsChange::default()
        }
        .merge(Some(&saved))
        .unwrap();
        assert_eq!(changed.frequency, saved.frequency);
        assert_eq!(changed.deletion_limit, saved.deletion_limit);
        assert_eq!(changed.tenant, saved.tenant);
        assert_ne!(changed.default_role, saved.default_role);
    }

    fn guide_fields() -> SettingsChange {
        SettingsChange {
            tenant: Some("contoso.com".into()),
            client_id: Some(CLIENT.into()),
            ..SettingsChange::default()
        }
    }

    fn saved(settings: ConnectionSettings) -> DirectoryConnection {
        DirectoryConnection {
            account_id: crate::AccountId::new(),
            settings,
            secret_set_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            certificates: Vec::new(),
        }
    }

    #[test]
    fn a_new_connection_needs_its_key_and_a_saved_one_keeps_it() {
        let now = OffsetDateTime::now_utc();
        let problems = guide_fields().check_save(None, None, now).unwrap_err();
        assert_eq!(
            problems.iter().map(|p| p.field).collect::<Vec<_>>(),
            ["key"]
        );
        let key = SecretString::from("  s3cr~t-value \n");
        let save = guide_fields().check_save(Some(&key), None, now).unwrap();
        assert_eq!(save.key.unwrap().expose_secret(), "s3cr~t-value");
        let connection = saved(save.settings);
        let kept = SettingsChange::default()
            .check_save(None, Some(&connection), now)
            .unwrap();
        assert!(kept.key.is_none(), "no key entered keeps the stored one");
    }

    #[test]
    fn a_new_key_keeps_only_the_expiry_date_entered_with_it() {
        let now = OffsetDateTime::now_utc();
        let dated = SettingsChange {
            key_expires_on: Some("2027-06-30".into()),
            ..guide_fields()
        };
        let old_key = SecretString::from("old-value");
        let connection = saved(
            dated
                .check_save(Some(&old_key), None, now)
                .unwrap()
                .settings,
        );
        let date = |change: &SettingsChange, key: Option<&SecretString>| {
            change
                .check_save(key, Some(&connection), now)
                .unwrap()
                .settings
                .key_expires_on
                .map(|d| d.to_string())
        };
        let new_key = SecretString::from("new-value");
        assert_eq!(
            date(&SettingsChange::default(), Some(&new_key)),
            None,
            "the old key's date went with it"
        );
        let new_date = SettingsChange {
            key_expires_on: Some("2028-01-31".into()),
            ..SettingsChange::default()
        };
        assert_eq!(
            date(&new_date, Some(&new_key)).as_deref(),
            Some("2028-01-31")
        );
        assert_eq!(
            date(&SettingsChange::default(), None).as_deref(),
            Some("2027-06-30"),
            "the same key keeps its date"
        );
    }

    #[test]
    fn a_blank_key_is_refused_and_named_without_its_value_beside_other_problems() {
        let blank = SecretString::from("   ");
        let change = SettingsChange {
            frequency: Some("2h".into()),
            ..guide_fields()
        };
        let problems = change
            .check_save(Some(&blank), None, OffsetDateTime::now_utc())
            .unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field).collect();
        assert_eq!(fields, ["key", "frequency"]);
        assert!(
            problems[0]
                .error
                .to_string()
                .contains("Value (not its Secret ID)")
        );
    }

    #[test]
    fn switching_to_a_certificate_needs_a_valid_one() {
        let now = OffsetDateTime::now_utc();
        let key = SecretString::from("value");
        let mut connection = saved(
            guide_fields()
                .check_save(Some(&key), None, now)
                .unwrap()
                .settings,
        );
        let switch = SettingsChange {
            credential: Some("certificate".into()),
            ..SettingsChange::default()
        };
        let problems = switch.check_save(None, Some(&connection), now).unwrap_err();
        assert_eq!(problems[0].field, "credential");
        connection.certificates.push(crate::CertificateInfo {
            thumbprint: "AB".into(),
            sha256_thumbprint: "q80".into(),
            not_before: now - time::Duration::days(1),
            not_after: now + time::Duration::days(364),
            created_at: now,
        });
        let save = switch.check_save(None, Some(&connection), now).unwrap();
        assert_eq!(save.settings.credential, CredentialKind::Certificate);
        connection.settings = save.settings;
        connection.certificates.clear();
        assert!(
            SettingsChange::default()
                .check_save(None, Some(&connection), now)
                .is_ok(),
            "other settings stay changeable once switched"
        );
    }

    #[test]
    fn a_named_cloud_and_custom_endpoints_together_are_refused() {
        let change = SettingsChange {
            tenant: Some("contoso.com".into()),
            client_id: Some(CLIENT.into()),
            cloud: Some("global".into()),
            login_url: Some("http://127.0.0.1:1/".into()),
            graph_url: Some("http://127.0.0.1:2/".into()),
            ..SettingsChange::default()
        };
        assert!(change.sets_custom_endpoints());
        let problems = change.merge(None).unwrap_err();
        assert_eq!(problems[0].field, "cloud");
    }
}
