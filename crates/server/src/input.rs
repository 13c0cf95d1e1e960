//! What a request's query string, form or path could not be read as, in the product's words:
//! the field it concerns and what is wrong with it, never serde's or axum's own text. The
//! console shows it on its error page, the API in problem details.

use axum::extract::rejection::PathRejection;

/// One input that does not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputProblem {
    /// The field as the request spells it, when the input names one.
    pub field: Option<String>,
    /// What is wrong with it, as the end of a sentence: "must be a whole number".
    pub problem: String,
}

impl InputProblem {
    /// Reads the message axum gives for a query string or form serde could not read. Its last
    /// part is serde's, behind the field's path when there is one: "page: invalid digit found
    /// in string", "missing field `q`".
    pub fn from_rejection(text: &str) -> Self {
        // axum puts its own words first: "Failed to deserialize query string: …".
        let serde = text.split_once(": ").map_or(text, |(_, rest)| rest);
        if let Some(field) = quoted(serde, "missing field `") {
            return Self::new(Some(field), "is missing");
        }
        if let Some(field) = quoted(serde, "duplicate field `") {
            return Self::new(Some(field), "is given more than once; give it once");
        }
        let (field, message) = match serde.split_once(": ") {
            Some((path, message)) if !path.contains(' ') => {
                // A list's item is named by its list: "checked[2]" is the field "checked".
                let field = path.split('[').next().unwrap_or(path);
                (Some(field.to_owned()), message)
            }
            _ => (None, serde),
        };
        Self::new(field, meaning(message))
    }

    /// A path that does not read: only a segment that is not text (a `%` escape of no
    /// character) can be wrong, as every path parameter is read as text; a missing parameter
    /// is a mistake in Roster's routes (`None`).
    pub fn from_path(rejection: &PathRejection) -> Option<Self> {
        match rejection {
            PathRejection::FailedToDeserializePathParams(_) => Some(Self::new(
                Some("path".to_owned()),
                "holds a %-escape that stands for no character; check the address",
            )),
            _ => None,
        }
    }

    fn new(field: Option<String>, problem: impl Into<String>) -> Self {
        Self {
            field,
            problem: problem.into(),
        }
    }

    /// The problem as a sentence's clause: "“page” must be a whole number".
    pub fn clause(&self) -> String {
        match &self.field {
            Some(field) => format!("“{field}” {}", self.problem),
            None => format!("a value {}", self.problem),
        }
    }
}

/// The text between `prefix` and the next backtick.
fn quoted(text: &str, prefix: &str) -> Option<String> {
    let rest = text.strip_prefix(prefix)?;
    rest.split('`').next().map(ToOwned::to_owned)
}

/// serde's description of a wrong value, as what the value must be.
fn meaning(message: &str) -> String {
    let number = [
        "invalid digit",
        "number too large",
        "number too small",
        "cannot parse integer",
    ]
    .iter()
    .any(|m| message.contains(m))
        || message.contains("expected u")
        || message.contains("expected i");
    if number {
        return "must be a whole number, such as 2".to_owned();
    }
    if let Some(value) = quoted(message, "unknown variant `") {
        return format!("cannot be “{value}”; choose one of the offered values");
    }
    if message.contains("expected a boolean")
        || message.contains("provided string was not `true` or `false`")
    {
        return "must be true or false".to_owned();
    }
    "is not valid; check it and send it again".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_field_and_a_wrong_number_are_named_by_their_field() {
        assert_eq!(
            InputProblem::from_rejection("Failed to deserialize form: missing field `external_id`")
                .clause(),
            "“external_id” is missing"
        );
        assert_eq!(
            InputProblem::from_rejection(
                "Failed to deserialize query string: page: invalid digit found in string"
            )
            .clause(),
            "“page” must be a whole number, such as 2"
        );
        assert_eq!(
            InputProblem::from_rejection("Failed to deserialize form: checked[1]: invalid type")
                .field
                .as_deref(),
            Some("checked")
        );
    }

    #[test]
    fn an_input_serde_names_no_field_for_is_still_said_in_words() {
        let problem = InputProblem::from_rejection("Failed to deserialize form: premature end");
        assert_eq!(problem.field, None);
        assert_eq!(
            problem.clause(),
            "a value is not valid; check it and send it again"
        );
    }
}
