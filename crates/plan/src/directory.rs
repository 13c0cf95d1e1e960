//! How the directory's raw values read as Roster's terms (product.md §2): which users are
//! active, which addresses an object carries, and what kind a group is.

use roster_domain::{
    DirectoryGroup, DirectoryUser, EmailAddress, ExternalId, GroupKind, ParseError, SyncScope,
};

/// The mail addresses of a directory object, read from `proxyAddresses` and `mail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DirectoryAddresses {
    /// `None` when the object has no mailbox address at all; an error when it has one that is
    /// not a valid address.
    pub primary: Option<Result<EmailAddress, ParseError>>,
    /// Sorted, without duplicates, never containing the primary.
    pub aliases: Vec<EmailAddress>,
    /// Aliases that are not valid addresses: dropped, and reported.
    pub invalid_aliases: Vec<ParseError>,
}

impl DirectoryAddresses {
    /// The `SMTP:` entry is the primary (only the upper-case prefix marks it), else `mail`; the
    /// other `smtp:` entries, in any case, are aliases. Other prefixes (`X500:`, `SIP:` …) are
    /// not mail addresses.
    pub fn read(proxy_addresses: &[String], mail: Option<&str>) -> Self {
        let mut primary_text = None;
        let mut alias_texts = Vec::new();
        for entry in proxy_addresses {
            let Some((prefix, address)) = entry.trim_start().split_once(':') else {
                continue;
            };
            if prefix == "SMTP" && primary_text.is_none() {
                primary_text = Some(address.trim());
            } else if prefix.eq_ignore_ascii_case("smtp") {
                alias_texts.push(address.trim());
            }
        }
        let primary_text = primary_text.or_else(|| mail.map(str::trim).filter(|m| !m.is_empty()));
        let primary = primary_text.map(str::parse::<EmailAddress>);
        let mut aliases = Vec::new();
        let mut invalid_aliases = Vec::new();
        for text in alias_texts {
            match text.parse::<EmailAddress>() {
                Ok(alias) => aliases.push(alias),
                Err(error) => invalid_aliases.push(error),
            }
        }
        if let Some(Ok(primary)) = &primary {
            aliases.retain(|alias| alias != primary);
        }
        aliases.sort();
        aliases.dedup();
        Self {
            primary,
            aliases,
            invalid_aliases,
        }
    }

    /// The primary address as the directory wrote it, valid or not: how the object is named.
    pub fn primary_text(&self) -> Option<&str> {
        match &self.primary {
            Some(Ok(address)) => Some(address.as_str()),
            Some(Err(invalid)) => Some(invalid.value.as_str()),
            None => None,
        }
    }

    pub fn of_user(user: &DirectoryUser) -> Self {
        Self::read(&user.proxy_addresses, user.mail.as_deref())
    }

    pub fn of_group(group: &DirectoryGroup) -> Self {
        Self::read(&group.proxy_addresses, group.mail.as_deref())
    }
}

/// Why a directory user is not active, in the order the reasons are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inactivity {
    Guest,
    SignInBlocked,
    NoMailbox,
}

/// Whether a user is active: enabled (or sign-in-blocked, when the connection counts those),
/// not a guest, with a mailbox address. A missing `accountEnabled` counts as blocked and a
/// missing or unknown `userType` as a member, so that an incomplete record neither grants sign-in
/// nor hides a mailbox.
pub(crate) fn inactivity(
    user: &DirectoryUser,
    has_mailbox: bool,
    include_sign_in_blocked: bool,
) -> Option<Inactivity> {
    if user
        .user_type
        .as_deref()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("guest"))
    {
        Some(Inactivity::Guest)
    } else if user.account_enabled != Some(true) && !include_sign_in_blocked {
        Some(Inactivity::SignInBlocked)
    } else if !has_mailbox {
        Some(Inactivity::NoMailbox)
    } else {
        None
    }
}

/// The group's kind by `groupTypes` and its (mailEnabled, securityEnabled) flags; `None` for a
/// group that is neither, which Roster does not know how to hold.
pub(crate) fn group_kind(group: &DirectoryGroup) -> Option<GroupKind> {
    if group
        .group_types
        .iter()
        .any(|t| t.eq_ignore_ascii_case("unified"))
    {
        return Some(GroupKind::Microsoft365);
    }
    match (
        group.mail_enabled == Some(true),
        group.security_enabled == Some(true),
    ) {
        (true, false) => Some(GroupKind::Distribution),
        (true, true) => Some(GroupKind::MailEnabledSecurity),
        (false, true) => Some(GroupKind::Security),
        (false, false) => None,
    }
}

/// Whether *What to Sync* selects groups of this kind; `None` when it does, else why not.
pub(crate) fn unselected_group_kind(scope: &SyncScope, kind: GroupKind) -> Option<&'static str> {
    match kind {
        GroupKind::Distribution if !scope.distribution_groups => {
            Some("distribution groups are not selected in What to Sync")
        }
        GroupKind::Security | GroupKind::MailEnabledSecurity if !scope.security_groups => {
            Some("security groups are not selected in What to Sync")
        }
        GroupKind::Microsoft365 if !scope.m365_groups => {
            Some("Microsoft 365 groups are not selected in What to Sync")
        }
        _ => None,
    }
}

/// A name that is empty or only white space is no name.
pub(crate) fn clean_name(name: Option<&str>) -> Option<&str> {
    name.map(str::trim).filter(|n| !n.is_empty())
}

/// How a directory object is named in *Skipped*: "Jane Doe <jane@contoso.com>".
pub(crate) fn object_label(
    display_name: Option<&str>,
    address: Option<&str>,
    id: &ExternalId,
) -> String {
    match (clean_name(display_name), address) {
        (Some(name), Some(address)) => format!("{name} <{address}>"),
        (Some(name), None) => name.to_owned(),
        (None, Some(address)) => address.to_owned(),
        (None, None) => format!("directory object {id}"),
    }
}
