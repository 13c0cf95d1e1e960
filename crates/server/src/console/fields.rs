//! What a form sent that Roster refused, field by field, for showing each message next to its
//! field (`aria-describedby`) when the form is shown again.

use std::collections::BTreeMap;

use roster_domain::ParseError;

/// Messages by the `name` of the field they are about.
#[derive(Debug, Default)]
pub struct FieldErrors(BTreeMap<&'static str, String>);

impl FieldErrors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.entry(field).or_insert_with(|| message.into());
    }

    /// The value, or the field's message when it does not parse.
    pub fn parsed<T>(&mut self, field: &'static str, parsed: Result<T, ParseError>) -> Option<T> {
        parsed.map_err(|e| self.add(field, sentence(&e))).ok()
    }

    /// The message about `field`, if any (for the template).
    pub fn of(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A parse error as a sentence under its field: what is wrong, and what would be right.
pub fn sentence(error: &ParseError) -> String {
    let why = error.why.trim_end_matches('.');
    let mut text = format!("This {} is not valid: {why}.", error.what);
    if let Some(first) = text.get(..1) {
        text.replace_range(..1, &first.to_uppercase());
    }
    text
}
