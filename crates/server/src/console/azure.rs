//! Import & Sync › Azure Active Directory: the guide's Step 1 shown in the product, the settings
//! form of Step 2 (Save, Test connection, Search Now), and signing in with a certificate
//! instead of a key.
//!
//! Test connection and Search Now are forms of their own: they always use the saved settings,
//! whatever the settings form holds. `console.js` disables Search Now while the settings form
//! has unsaved changes; without JavaScript the page says so beside the button.

use std::collections::BTreeMap;
use std::num::NonZeroU16;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use roster_api::certificate_use;
use roster_domain::connection::iso_date;
use roster_domain::console_page;
use roster_domain::{
    Cloud, CredentialKind, DeletionLimit, DirectoryConnection, FieldProblem, Frequency,
    NewUserRole, SettingsChange, SyncActions, SyncScope,
};
use roster_sync::{Checklist, StepStatus, SyncError};
use secrecy::SecretString;
use serde::Deserialize;
use time::OffsetDateTime;

use super::layout::Layout;
use super::page::{Form, PageError, PageResult, Path, Query, is_htmx, render};
use super::session::AdminPage;
use crate::auth::Access;
use crate::{AppState, tasks};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(console_page::CONNECTION, get(show).post(save))
        .route("/accounts/{account}/import/azure/test", get(test))
        .route("/accounts/{account}/import/azure/search", post(search_now))
        .route(
            "/accounts/{account}/import/azure/certificates",
            post(generate_certificate),
        )
        .route(
            "/accounts/{account}/import/azure/certificates/{file}",
            get(download_certificate),
        )
        .route(
            "/accounts/{account}/import/azure/certificates/remove",
            post(remove_certificate),
        )
        .route(
            "/accounts/{account}/import/azure/credential",
            post(switch_credential),
        )
}

const TITLE: &str = "Azure Active Directory";
const NAV: &str = "import/azure";

/// The guide's "What to Sync", and Microsoft 365 groups (off by default): (value, label).
const WHAT_TO_SYNC: [(&str, &str); 4] = [
    ("users", "Active Users"),
    ("distribution-groups", "Distribution Groups"),
    ("security-groups", "Security Groups"),
    ("m365-groups", "Microsoft 365 Groups"),
];

/// The guide's "How to Sync": (value, label, the guide's explanation).
const HOW_TO_SYNC: [(&str, &str, &str); 6] = [
    (
        "add-users",
        "Add Users",
        "Creates new user accounts for newly synced active users.",
    ),
    (
        "update-users",
        "Update Users",
        "Updates existing user accounts for previously synced mailboxes.",
    ),
    (
        "add-groups",
        "Add Groups",
        "Creates new groups/functional accounts for newly synced groups.",
    ),
    (
        "update-groups",
        "Update Groups",
        "Updates existing groups for previously synced groups.",
    ),
    (
        "remove-users",
        "Remove Deleted Users",
        "Removes user accounts for mailboxes that no longer exist.",
    ),
    (
        "remove-groups",
        "Remove Deleted Groups",
        "Removes groups/functional accounts for groups that no longer exist.",
    ),
];

/// The guide's Sync Frequency choices: (value, label).
const FREQUENCIES: [(&str, &str); 6] = [
    ("never", "Never"),
    ("1h", "1 hour"),
    ("3h", "3 hours"),
    ("6h", "6 hours"),
    ("12h", "12 hours"),
    ("24h", "24 hours"),
];

/// The named Microsoft clouds: (value, label).
const CLOUDS: [(&str, &str); 4] = [
    ("global", "Global (login.microsoftonline.com)"),
    ("usgov", "US Government (GCC High)"),
    ("usgov-dod", "US Government DoD"),
    ("china", "China (21Vianet)"),
];

/// The settings form's fields as shown: the saved settings, or what was just submitted.
/// Never the key.
struct SettingsView {
    default_role: String,
    tenant: String,
    client_id: String,
    cloud: String,
    login_url: String,
    graph_url: String,
    sync: Vec<String>,
    actions: Vec<String>,
    frequency: String,
    deletion_limit_percent: String,
    deletion_limit_min: String,
    include_sign_in_blocked: bool,
    key_expires_on: String,
}

impl SettingsView {
    /// The saved settings, or a new connection's defaults (no automatic sync, Microsoft 365
    /// groups off).
    fn of(connection: Option<&DirectoryConnection>) -> Self {
        let Some(connection) = connection else {
            let limit = DeletionLimit::default();
            return Self {
                default_role: NewUserRole::default().to_string(),
                tenant: String::new(),
                client_id: String::new(),
                cloud: Cloud::Global.name().to_owned(),
                login_url: String::new(),
                graph_url: String::new(),
                sync: owned(SyncScope::default().names()),
                actions: owned(SyncActions::default().names()),
                frequency: Frequency::Never.to_string(),
                deletion_limit_percent: limit.percent.to_string(),
                deletion_limit_min: limit.min_objects.to_string(),
                include_sign_in_blocked: false,
                key_expires_on: String::new(),
            };
        };
        let settings = &connection.settings;
        let (login_url, graph_url) = match &settings.cloud {
            Cloud::Custom {
                login_url,
                graph_url,
            } => (login_url.to_string(), graph_url.to_string()),
            _ => (String::new(), String::new()),
        };
        Self {
            default_role: settings.default_role.to_string(),
            tenant: settings.tenant.to_string(),
            client_id: settings.client_id.to_string(),
            cloud: settings.cloud.name().to_owned(),
            login_url,
            graph_url,
            sync: owned(settings.scope.names()),
            actions: owned(settings.actions.names()),
            frequency: settings.frequency.to_string(),
            deletion_limit_percent: settings.deletion_limit.percent.to_string(),
            deletion_limit_min: settings.deletion_limit.min_objects.to_string(),
            include_sign_in_blocked: settings.include_sign_in_blocked,
            key_expires_on: settings
                .key_expires_on
                .map(iso_date::format)
                .unwrap_or_default(),
        }
    }

    fn submitted(form: &SettingsForm, saved: Option<&DirectoryConnection>) -> Self {
        let saved = Self::of(saved);
        let text = |value: &Option<String>, saved: String| value.clone().unwrap_or(saved);
        Self {
            default_role: text(&form.default_role, saved.default_role),
            tenant: text(&form.tenant, saved.tenant),
            client_id: text(&form.client_id, saved.client_id),
            cloud: text(&form.cloud, saved.cloud),
            login_url: text(&form.login_url, saved.login_url),
            graph_url: text(&form.graph_url, saved.graph_url),
            sync: form.sync.clone(),
            actions: form.actions.clone(),
            frequency: text(&form.frequency, saved.frequency),
            deletion_limit_percent: text(
                &form.deletion_limit_percent,
                saved.deletion_limit_percent,
            ),
            deletion_limit_min: text(&form.deletion_limit_min, saved.deletion_limit_min),
            include_sign_in_blocked: form.include_sign_in_blocked.is_some(),
            key_expires_on: text(&form.key_expires_on, saved.key_expires_on),
        }
    }

    fn syncs(&self, name: &&str) -> bool {
        self.sync.iter().any(|s| s == name)
    }

    fn does(&self, name: &&str) -> bool {
        self.actions.iter().any(|s| s == name)
    }
}

fn owned(names: Vec<&str>) -> Vec<String> {
    names.into_iter().map(str::to_owned).collect()
}

/// One row of the certificate list.
struct CertificateRow {
    thumbprint: String,
    valid_from: String,
    valid_until: String,
    /// What the certificate is to sign-in now: tried first, fallback, expired …
    role: &'static str,
    /// The file names under `…/certificates/`.
    cer_file: String,
    pem_file: String,
}

fn certificate_rows(connection: Option<&DirectoryConnection>) -> Vec<CertificateRow> {
    let Some(connection) = connection else {
        return Vec::new();
    };
    let now = OffsetDateTime::now_utc();
    connection
        .certificates
        .iter()
        .enumerate()
        .map(|(index, c)| CertificateRow {
            thumbprint: c.thumbprint.clone(),
            valid_from: iso_date::format(c.not_before.date()),
            valid_until: iso_date::format(c.not_after.date()),
            role: certificate_use(connection, index, now),
            cer_file: format!("{}.cer", c.thumbprint),
            pem_file: format!("{}.pem", c.thumbprint),
        })
        .collect()
}

/// Problems to show beside their fields, keyed by the field's name in the form.
#[derive(Default)]
struct FieldErrors(BTreeMap<&'static str, String>);

impl FieldErrors {
    fn add(&mut self, field: &'static str, text: impl Into<String>) {
        self.0.entry(field).or_insert_with(|| text.into());
    }

    fn of(problems: &[FieldProblem]) -> Self {
        let mut errors = Self::default();
        for problem in problems {
            errors.add(problem.field, problem.error.to_string());
        }
        errors
    }

    fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[derive(Template)]
#[template(path = "azure.html")]
struct AzurePage {
    layout: Layout,
    /// This deployment's own URL: the redirect URI of the guide's Step 1.
    redirect_uri: String,
    account_path: String,
    /// A connection is saved: Test connection and Search Now have settings to use.
    saved: bool,
    /// "set on <date>" of the stored key, when there is one.
    key_set_on: Option<String>,
    /// The key field is shown open (a new connection, or a replacement that needs fixing).
    key_open: bool,
    /// Platform operators may point a connection at custom endpoints.
    operator: bool,
    credential: CredentialKind,
    form: SettingsView,
    errors: FieldErrors,
    checklist: Option<ChecklistView>,
    /// Why Search Now or Test connection was refused.
    refusal: Option<String>,
    certificates: Vec<CertificateRow>,
    valid_days: String,
    what_to_sync: &'static [(&'static str, &'static str)],
    how_to_sync: &'static [(&'static str, &'static str, &'static str)],
    frequencies: &'static [(&'static str, &'static str)],
    clouds: &'static [(&'static str, &'static str)],
}

/// Test connection's checklist as shown.
struct ChecklistView {
    passed: bool,
    steps: Vec<StepView>,
}

struct StepView {
    /// `passed`, `failed` or `not-run`.
    class: &'static str,
    title: &'static str,
    status: &'static str,
    detail: String,
    fix: Option<String>,
}

impl From<Checklist> for ChecklistView {
    fn from(checklist: Checklist) -> Self {
        Self {
            passed: checklist.passed,
            steps: checklist
                .steps
                .into_iter()
                .map(|step| {
                    let (class, status) = match step.status {
                        StepStatus::Passed => ("passed", "passed"),
                        StepStatus::Failed => ("failed", "failed"),
                        StepStatus::NotRun => ("not-run", "not run"),
                    };
                    StepView {
                        class,
                        title: step.title,
                        status,
                        detail: step.detail,
                        fix: step.fix,
                    }
                })
                .collect(),
        }
    }
}

/// The checklist alone, which htmx swaps in after Test connection.
#[derive(Template)]
#[template(path = "azure_checklist.html")]
struct ChecklistFragment {
    checklist: ChecklistView,
}

/// What the last request did, shown once after its redirect.
#[derive(Deserialize, Default)]
struct Done {
    done: Option<String>,
}

impl Done {
    fn notice(&self) -> Option<String> {
        Some(
            match self.done.as_deref()? {
                "saved" => "The settings have been saved.",
                "certificate" => {
                    "A certificate was generated. Download its .cer file below and upload it to the app \
                     registration, then choose to sign in with the certificate."
                }
                "credential" => "The sign-in credential has been switched. Test connection to check it.",
                "certificate-removed" => {
                    "The certificate was removed from Roster. Delete it from the app registration too \
                     (Certificates & secrets › Certificates), or Entra ID keeps accepting it."
                }
                _ => return None,
            }
            .to_owned(),
        )
    }
}

/// What a page render needs besides the defaults.
struct Render {
    status: StatusCode,
    notice: Option<String>,
    form: Option<SettingsView>,
    errors: FieldErrors,
    key_open: bool,
    checklist: Option<ChecklistView>,
    refusal: Option<String>,
    valid_days: String,
}

impl Default for Render {
    fn default() -> Self {
        Self {
            status: StatusCode::OK,
            notice: None,
            form: None,
            errors: FieldErrors::default(),
            key_open: false,
            checklist: None,
            refusal: None,
            valid_days: "365".to_owned(),
        }
    }
}

async fn page(state: &AppState, admin: &AdminPage, render_as: Render) -> PageResult {
    let connection = state.store().connection(admin.account().id).await?;
    let layout = admin
        .layout(state, TITLE, NAV)
        .await?
        .with_notice(render_as.notice);
    let page = AzurePage {
        layout,
        redirect_uri: state.config().public_url.to_string(),
        account_path: admin.path(""),
        saved: connection.is_some(),
        key_set_on: connection
            .as_ref()
            .map(|c| iso_date::format(c.secret_set_at.date())),
        key_open: connection.is_none() || render_as.key_open,
        operator: admin.scope.access == Access::Operator,
        credential: connection
            .as_ref()
            .map_or(CredentialKind::Secret, |c| c.settings.credential),
        form: render_as
            .form
            .unwrap_or_else(|| SettingsView::of(connection.as_ref())),
        errors: render_as.errors,
        checklist: render_as.checklist,
        refusal: render_as.refusal,
        certificates: certificate_rows(connection.as_ref()),
        valid_days: render_as.valid_days,
        what_to_sync: &WHAT_TO_SYNC,
        how_to_sync: &HOW_TO_SYNC,
        frequencies: &FREQUENCIES,
        clouds: &CLOUDS,
    };
    Ok((render_as.status, render(&page)?).into_response())
}

/// `GET …/import/azure`.
async fn show(
    State(state): State<AppState>,
    admin: AdminPage,
    Query(done): Query<Done>,
) -> PageResult {
    page(
        &state,
        &admin,
        Render {
            notice: done.notice(),
            ..Render::default()
        },
    )
    .await
}

/// The settings form as posted. Unchecked boxes are absent from the body, so the lists and the
/// sign-in-blocked switch default to empty and off. Numbers arrive as text so that a wrong one
/// is shown beside its field.
#[derive(Deserialize)]
struct SettingsForm {
    default_role: Option<String>,
    tenant: Option<String>,
    client_id: Option<String>,
    key: Option<String>,
    cloud: Option<String>,
    login_url: Option<String>,
    graph_url: Option<String>,
    #[serde(default)]
    sync: Vec<String>,
    #[serde(default)]
    actions: Vec<String>,
    frequency: Option<String>,
    deletion_limit_percent: Option<String>,
    deletion_limit_min: Option<String>,
    include_sign_in_blocked: Option<String>,
    key_expires_on: Option<String>,
}

/// A whole number from a form field: empty keeps the saved value.
fn number<T: std::str::FromStr>(
    errors: &mut FieldErrors,
    field: &'static str,
    text: Option<&str>,
) -> Option<T> {
    let text = text.map(str::trim).filter(|t| !t.is_empty())?;
    let parsed = text.parse().ok();
    if parsed.is_none() {
        errors.add(
            field,
            format!("{text:?} is not a whole number; enter digits only, such as 10"),
        );
    }
    parsed
}

/// The change the form asks for, with the problems only the form can have (a number that is
/// not one). Custom endpoints are sent only by operators' forms, and replace the named cloud.
fn change_of(form: &SettingsForm, errors: &mut FieldErrors) -> SettingsChange {
    let filled = |value: &Option<String>| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let (login_url, graph_url) = (filled(&form.login_url), filled(&form.graph_url));
    let custom = login_url.is_some() || graph_url.is_some();
    SettingsChange {
        tenant: form.tenant.clone(),
        client_id: form.client_id.clone(),
        cloud: if custom { None } else { filled(&form.cloud) },
        login_url,
        graph_url,
        default_role: form.default_role.clone(),
        sync: Some(form.sync.join(",")),
        actions: Some(form.actions.join(",")),
        frequency: form.frequency.clone(),
        deletion_limit_percent: number(
            errors,
            "deletion_limit",
            form.deletion_limit_percent.as_deref(),
        ),
        deletion_limit_min: number(errors, "deletion_limit", form.deletion_limit_min.as_deref()),
        include_sign_in_blocked: Some(form.include_sign_in_blocked.is_some()),
        credential: None,
        key_expires_on: form.key_expires_on.clone(),
    }
}

/// `POST …/import/azure` (Save): saved, then back to the page with the confirmation; or the
/// form again with each problem beside its field, the values kept, the key never.
async fn save(
    State(state): State<AppState>,
    admin: AdminPage,
    Form(form): Form<SettingsForm>,
) -> PageResult {
    let mut errors = FieldErrors::default();
    let mut change = change_of(&form, &mut errors);
    if change.sets_custom_endpoints() && admin.scope.access != Access::Operator {
        errors.add(
            "cloud",
            "only platform operators may set custom login and Graph endpoints; choose a named cloud",
        );
    }
    // An empty key field keeps the stored key.
    let key = form
        .key
        .as_deref()
        .filter(|k| !k.trim().is_empty())
        .map(|k| SecretString::from(k.to_owned()));
    if key.is_some() {
        // The date field came filled in with the replaced key's date: left as it was, it is
        // not the new key's, and the new key is saved without one.
        let saved = state.store().connection(admin.account().id).await?;
        let saved_date = saved
            .and_then(|c| c.settings.key_expires_on)
            .map(iso_date::format);
        if saved_date.is_some()
            && change.key_expires_on.as_deref().map(str::trim) == saved_date.as_deref()
        {
            change.key_expires_on = None;
        }
    }
    let outcome = if errors.is_empty() {
        state
            .engine()
            .save_connection(admin.account().id, &change, key.as_ref())
            .await
            .map(drop)
    } else {
        // Nothing is saved, but every other field's problem is shown at once too.
        let saved = state.store().connection(admin.account().id).await?;
        if let Err(problems) =
            change.check_save(key.as_ref(), saved.as_ref(), OffsetDateTime::now_utc())
        {
            for problem in &problems {
                errors.add(problem.field, problem.error.to_string());
            }
        }
        Ok(())
    };
    match outcome {
        Ok(()) if errors.is_empty() => {
            Ok(Redirect::to(&admin.path("/import/azure?done=saved")).into_response())
        }
        Ok(()) => invalid(&state, &admin, &form, errors, key.is_some()).await,
        Err(SyncError::InvalidSettings { problems }) => {
            invalid(
                &state,
                &admin,
                &form,
                FieldErrors::of(&problems),
                key.is_some(),
            )
            .await
        }
        Err(error) => Err(error.into()),
    }
}

async fn invalid(
    state: &AppState,
    admin: &AdminPage,
    form: &SettingsForm,
    errors: FieldErrors,
    key_entered: bool,
) -> PageResult {
    let saved = state.store().connection(admin.account().id).await?;
    page(
        state,
        admin,
        Render {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            key_open: key_entered || errors.get("key").is_some(),
            form: Some(SettingsView::submitted(form, saved.as_ref())),
            errors,
            ..Render::default()
        },
    )
    .await
}

/// What Test connection and Search Now say when there are no saved settings to use.
const SAVE_FIRST: &str = "Ensure that all your settings are saved first: there are no saved settings yet. \
     Fill in the settings form and click Save.";

/// `GET …/import/azure/test` (Test connection): the checklist of the saved settings, each
/// failing step with its fix; htmx swaps in the checklist alone. A GET, since the test changes
/// nothing: without JavaScript the browser is left on a page that reloads and goes back
/// harmlessly, not on the answer to a POST.
async fn test(State(state): State<AppState>, admin: AdminPage, headers: HeaderMap) -> PageResult {
    match state.engine().test_connection(admin.account()).await {
        Ok(checklist) if is_htmx(&headers) => render(&ChecklistFragment {
            checklist: checklist.into(),
        }),
        Ok(checklist) => {
            page(
                &state,
                &admin,
                Render {
                    checklist: Some(checklist.into()),
                    ..Render::default()
                },
            )
            .await
        }
        Err(SyncError::NoConnection(_)) => refuse(&state, &admin, SAVE_FIRST).await,
        Err(error) => Err(error.into()),
    }
}

/// `POST …/import/azure/search` (Search Now): starts a preview run with the saved settings
/// and follows it on the run's page.
async fn search_now(State(state): State<AppState>, admin: AdminPage) -> PageResult {
    // Refused here rather than as a run that fails at once: there is nothing to search with.
    if state
        .store()
        .connection(admin.account().id)
        .await?
        .is_none()
    {
        return refuse(&state, &admin, SAVE_FIRST).await;
    }
    match tasks::start_preview(&state, &admin.scope, false).await {
        Ok(run_id) => Ok(Redirect::to(&admin.path(&format!("/runs/{run_id}"))).into_response()),
        Err(SyncError::NoConnection(_)) => refuse(&state, &admin, SAVE_FIRST).await,
        Err(error) => Err(error.into()),
    }
}

async fn refuse(state: &AppState, admin: &AdminPage, why: &str) -> PageResult {
    page(
        state,
        admin,
        Render {
            status: StatusCode::CONFLICT,
            refusal: Some(why.to_owned()),
            ..Render::default()
        },
    )
    .await
}

#[derive(Deserialize)]
struct GenerateForm {
    valid_days: Option<String>,
}

/// `POST …/import/azure/certificates`: a new certificate, its private key kept sealed.
async fn generate_certificate(
    State(state): State<AppState>,
    admin: AdminPage,
    Form(form): Form<GenerateForm>,
) -> PageResult {
    let text = form.valid_days.unwrap_or_default();
    let Some(valid_days) = text.trim().parse::<NonZeroU16>().ok() else {
        let mut errors = FieldErrors::default();
        errors.add(
            "valid_days",
            format!("{text:?} is not a number of days; enter a whole number from 1 to 65535, such as 365"),
        );
        return page(
            &state,
            &admin,
            Render {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                errors,
                valid_days: text,
                ..Render::default()
            },
        )
        .await;
    };
    match state
        .engine()
        .generate_certificate(admin.account().id, valid_days)
        .await
    {
        Ok(_) => Ok(
            Redirect::to(&admin.path("/import/azure?done=certificate#certificates"))
                .into_response(),
        ),
        Err(SyncError::NoConnection(_)) => refuse(&state, &admin, SAVE_FIRST).await,
        Err(error) => Err(error.into()),
    }
}

/// `GET …/import/azure/certificates/{thumbprint}.cer|.pem`: the public certificate to upload.
async fn download_certificate(
    State(state): State<AppState>,
    admin: AdminPage,
    Path((_, file)): Path<(String, String)>,
) -> PageResult {
    let missing = || PageError::not_found("The connection has no such certificate.");
    let (thumbprint, extension) = file.rsplit_once('.').ok_or_else(missing)?;
    let certificate = state
        .store()
        .certificate(admin.account().id, thumbprint)
        .await?;
    let (body, content_type) = match extension {
        "pem" => (certificate.pem().into_bytes(), "application/x-pem-file"),
        "cer" => (certificate.der, "application/pkix-cert"),
        _ => return Err(missing()),
    };
    let name = format!(
        "attachment; filename=\"roster-{}.{extension}\"",
        thumbprint
            .chars()
            .take(12)
            .collect::<String>()
            .to_ascii_lowercase()
    );
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&name).map_err(|_| missing())?,
    );
    Ok(response)
}

#[derive(Deserialize)]
struct RemoveCertificateForm {
    thumbprint: Option<String>,
}

/// `POST …/import/azure/certificates/remove`: forgets a certificate, unless the connection
/// signs in with it alone.
async fn remove_certificate(
    State(state): State<AppState>,
    admin: AdminPage,
    Form(form): Form<RemoveCertificateForm>,
) -> PageResult {
    let thumbprint = form.thumbprint.unwrap_or_default();
    match state
        .engine()
        .remove_certificate(admin.account().id, thumbprint.trim())
        .await
    {
        Ok(()) => Ok(Redirect::to(
            &admin.path("/import/azure?done=certificate-removed#certificates"),
        )
        .into_response()),
        Err(error @ SyncError::OnlySigningCertificate(_)) => {
            let mut errors = FieldErrors::default();
            errors.add("remove_certificate", error.to_string());
            page(
                &state,
                &admin,
                Render {
                    status: StatusCode::CONFLICT,
                    errors,
                    ..Render::default()
                },
            )
            .await
        }
        Err(error) => Err(error.into()),
    }
}

#[derive(Deserialize)]
struct CredentialForm {
    credential: Option<String>,
}

/// `POST …/import/azure/credential`: sign in with the key or with a certificate.
async fn switch_credential(
    State(state): State<AppState>,
    admin: AdminPage,
    Form(form): Form<CredentialForm>,
) -> PageResult {
    let change = SettingsChange {
        credential: Some(form.credential.unwrap_or_default()),
        ..SettingsChange::default()
    };
    match state
        .engine()
        .save_connection(admin.account().id, &change, None)
        .await
    {
        Ok(_) => Ok(
            Redirect::to(&admin.path("/import/azure?done=credential#certificates")).into_response(),
        ),
        Err(SyncError::InvalidSettings { problems }) => {
            page(
                &state,
                &admin,
                Render {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    errors: FieldErrors::of(&problems),
                    ..Render::default()
                },
            )
            .await
        }
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_choices_are_the_ones_the_domain_parses() {
        let sync: Vec<&str> = WHAT_TO_SYNC.iter().map(|(value, _)| *value).collect();
        assert_eq!(sync, roster_domain::SyncScope::NAMES);
        let mut actions: Vec<&str> = HOW_TO_SYNC.iter().map(|(value, ..)| *value).collect();
        actions.sort_unstable();
        let mut names = roster_domain::SyncActions::NAMES.to_vec();
        names.sort_unstable();
        assert_eq!(actions, names);
        for (value, _) in FREQUENCIES {
            value.parse::<roster_domain::Frequency>().unwrap();
        }
        for (value, _) in CLOUDS {
            assert_eq!(value.parse::<Cloud>().unwrap().name(), value);
        }
        for role in ["end_user", "silent_user"] {
            assert_eq!(role.parse::<NewUserRole>().unwrap().to_string(), role);
        }
    }
}
