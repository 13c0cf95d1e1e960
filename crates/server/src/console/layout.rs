//! What every page shares: the title, the navigation as the guide names it, the banners of the
//! account in view, a confirmation to show once, and the CSRF token its forms carry.

use roster_domain::Account;

use super::assets;

/// The frame around a page's content (`templates/base.html`).
pub struct Layout {
    pub title: String,
    pub nav: Option<Nav>,
    pub banners: Vec<Banner>,
    /// A confirmation of what the last request did ("The settings have been saved.").
    pub notice: Option<String>,
    /// The session's CSRF token, for the hidden `csrf_token` field of every form.
    pub csrf_token: String,
    pub htmx: &'static str,
}

impl Layout {
    /// A page outside any session: sign-in, errors.
    pub fn bare(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            nav: None,
            banners: Vec::new(),
            notice: None,
            csrf_token: String::new(),
            htmx: assets::HTMX,
        }
    }

    pub fn with_notice(mut self, notice: Option<String>) -> Self {
        self.notice = notice;
        self
    }
}

/// The navigation of a signed-in caller.
pub struct Nav {
    /// Who is signed in, as shown beside "Sign out".
    pub signed_in_as: String,
    pub operator: bool,
    /// The account in view and the caller's rights in it, when there is one.
    pub account: Option<NavAccount>,
    /// The page's place in the navigation, e.g. `import/azure` (marked `aria-current`).
    pub current: &'static str,
}

pub struct NavAccount {
    /// The account's id, as it appears in every path under it.
    pub id: String,
    pub name: String,
    /// Administration pages: organization admins and operators. An end user sees only `/me`.
    pub admin: bool,
}

impl NavAccount {
    pub fn new(account: &Account, admin: bool) -> Self {
        Self {
            id: account.id.to_string(),
            name: account.name.clone(),
            admin,
        }
    }

    /// The path of a page of this account, `tail` starting with `/`.
    pub fn path(&self, tail: &str) -> String {
        format!("/accounts/{}{tail}", self.id)
    }
}

/// How loud a banner is.
/// Ordered from the quietest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BannerLevel {
    Info,
    Warning,
    Error,
}

impl BannerLevel {
    pub fn css_class(self) -> &'static str {
        match self {
            Self::Info => "banner info",
            Self::Warning => "banner warning",
            Self::Error => "banner error",
        }
    }

    /// An error interrupts a screen reader; the rest wait their turn.
    pub fn aria_role(self) -> &'static str {
        match self {
            Self::Error => "alert",
            Self::Info | Self::Warning => "status",
        }
    }
}

/// Something about the account the admin should know on every page, with where to act on it.
#[derive(Debug, Clone)]
pub struct Banner {
    pub level: BannerLevel,
    pub text: String,
    pub link: Option<(String, String)>,
}
