//! Email addresses and domain names.

use std::fmt;
use std::str::FromStr;

use crate::{ParseError, serde_via_str};

/// A DNS domain name as an account owns it: lowercased, without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(String);

impl DomainName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for DomainName {
    type Err = ParseError;

    fn from_str(input: &str) -> Result<Self, ParseError> {
        const WHAT: &str = "domain name";
        let trimmed = input.trim();
        let name = trimmed
            .strip_suffix('.')
            .unwrap_or(trimmed)
            .to_ascii_lowercase();
        if name.is_empty() {
            return Err(ParseError::new(
                WHAT,
                input,
                "it is empty; give a domain such as contoso.com",
            ));
        }
        if name.len() > 253 {
            return Err(ParseError::new(
                WHAT,
                input,
                "it is longer than 253 characters",
            ));
        }
        let labels: Vec<&str> = name.split('.').collect();
        if labels.len() < 2 {
            return Err(ParseError::new(
                WHAT,
                input,
                "it needs at least two labels separated by a dot, such as contoso.com",
            ));
        }
        for label in &labels {
            if label.is_empty() {
                return Err(ParseError::new(
                    WHAT,
                    input,
                    "it has an empty label (two dots in a row, or a leading dot)",
                ));
            }
            if label.len() > 63 {
                return Err(ParseError::new(
                    WHAT,
                    input,
                    format!("the label {label:?} is longer than 63 characters"),
                ));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(ParseError::new(
                    WHAT,
                    input,
                    format!(
                        "the label {label:?} may contain only letters, digits and hyphens (use the punycode form, xn--…, for international names)"
                    ),
                ));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(ParseError::new(
                    WHAT,
                    input,
                    format!("the label {label:?} starts or ends with a hyphen"),
                ));
            }
        }
        if labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(ParseError::new(
                WHAT,
                input,
                "the last label is numeric; an IP address is not a domain",
            ));
        }
        Ok(Self(name))
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
serde_via_str!(DomainName, "A DNS domain name, such as contoso.com.");

/// An email address, lowercased: the key by which mail routes to exactly one object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress {
    text: String,
    at: usize,
}

impl EmailAddress {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn local_part(&self) -> &str {
        &self.text[..self.at]
    }

    /// The domain part, as text (it is a valid [`DomainName`] by construction).
    pub fn domain(&self) -> &str {
        &self.text[self.at + 1..]
    }

    /// Whether this address is in `domain` exactly (subdomains are separate domains).
    pub fn is_in(&self, domain: &DomainName) -> bool {
        self.domain() == domain.as_str()
    }
}

impl FromStr for EmailAddress {
    type Err = ParseError;

    fn from_str(input: &str) -> Result<Self, ParseError> {
        const WHAT: &str = "email address";
        let text = input.trim().to_lowercase();
        if text.is_empty() {
            return Err(ParseError::new(
                WHAT,
                input,
                "it is empty; give an address such as jane@contoso.com",
            ));
        }
        if text.len() > 254 {
            return Err(ParseError::new(
                WHAT,
                input,
                "it is longer than 254 characters",
            ));
        }
        let Some(at) = text.rfind('@') else {
            return Err(ParseError::new(
                WHAT,
                input,
                "it has no @; give an address such as jane@contoso.com",
            ));
        };
        let local = &text[..at];
        if local.is_empty() {
            return Err(ParseError::new(WHAT, input, "nothing stands before the @"));
        }
        if local.len() > 64 {
            return Err(ParseError::new(
                WHAT,
                input,
                "the part before the @ is longer than 64 characters",
            ));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(ParseError::new(
                WHAT,
                input,
                "the part before the @ starts or ends with a dot, or has two dots in a row",
            ));
        }
        let allowed = |c: char| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c);
        if let Some(bad) = local.chars().find(|&c| !allowed(c)) {
            return Err(ParseError::new(
                WHAT,
                input,
                format!("the character {bad:?} is not allowed before the @"),
            ));
        }
        let domain = &text[at + 1..];
        if let Err(e) = domain.parse::<DomainName>() {
            return Err(ParseError::new(
                WHAT,
                input,
                format!("its domain is not valid: {}", e.why),
            ));
        }
        // The domain parser also strips a trailing dot; an address keeps no such dot.
        if domain.ends_with('.') {
            return Err(ParseError::new(WHAT, input, "its domain ends with a dot"));
        }
        Ok(Self { text, at })
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
serde_via_str!(EmailAddress, "An email address, such as ada@contoso.com.");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_lowercased_and_trimmed() {
        let a: EmailAddress = "  Jane.Doe@Contoso.COM ".parse().unwrap();
        assert_eq!(a.as_str(), "jane.doe@contoso.com");
        assert_eq!(a.local_part(), "jane.doe");
        assert_eq!(a.domain(), "contoso.com");
    }

    #[test]
    fn invalid_addresses_say_what_is_wrong() {
        for (input, fragment) in [
            ("", "empty"),
            ("jane", "no @"),
            ("@contoso.com", "before the @"),
            ("jane@", "domain"),
            ("jane@contoso", "two labels"),
            ("ja ne@contoso.com", "not allowed"),
            ("jane..doe@contoso.com", "two dots"),
            ("jane@-contoso.com", "hyphen"),
        ] {
            let err = input.parse::<EmailAddress>().unwrap_err();
            assert!(err.to_string().contains(fragment), "{input:?}: {err}");
        }
    }

    #[test]
    fn domains_are_lowercased_and_lose_a_trailing_dot() {
        let d: DomainName = "Contoso.COM.".parse().unwrap();
        assert_eq!(d.as_str(), "contoso.com");
        assert!("contoso".parse::<DomainName>().is_err());
        assert!("10.0.0.1".parse::<DomainName>().is_err());
        assert!("con_toso.com".parse::<DomainName>().is_err());
    }

    #[test]
    fn an_address_is_in_its_exact_domain_only() {
        let a: EmailAddress = "a@sales.contoso.com".parse().unwrap();
        assert!(a.is_in(&"sales.contoso.com".parse().unwrap()));
        assert!(!a.is_in(&"contoso.com".parse().unwrap()));
    }
}
