//! A small JSON writer that appends straight into a byte buffer.
//!
//! Pages of a 100,000-user tenant are written without building intermediate `serde_json::Value`
//! trees: keys are static names, and string escaping only falls back to serde_json when a string
//! holds a character that needs it.

use crate::model::Value;

/// Appends `s` as a JSON string literal.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let needs_escape = s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\');
    if needs_escape {
        // Writing into a Vec cannot fail, and a &str always serializes.
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Text(s) => write_str(out, s),
        Value::TextList(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, item);
            }
            out.push(b']');
        }
    }
}

/// Writes one JSON object, keeping track of the commas between members.
pub struct ObjectWriter<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> ObjectWriter<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, empty: true }
    }

    /// Starts a member and returns the buffer to write its value into.
    pub fn key(&mut self, name: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        write_str(self.out, name);
        self.out.push(b':');
        self.out
    }

    pub fn str(&mut self, name: &str, value: &str) -> &mut Self {
        write_str(self.key(name), value);
        self
    }

    pub fn value(&mut self, name: &str, value: &Value) -> &mut Self {
        write_value(self.key(name), value);
        self
    }

    /// Writes a member whose value is already encoded JSON.
    pub fn raw(&mut self, name: &str, json: &[u8]) -> &mut Self {
        self.key(name).extend_from_slice(json);
        self
    }

    pub fn finish(self) {
        self.out.push(b'}');
    }
}

/// Writes a JSON array whose elements the caller appends one by one.
pub struct ArrayWriter<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> ArrayWriter<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'[');
        Self { out, empty: true }
    }

    /// Starts an element and returns the buffer to write it into.
    pub fn element(&mut self) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out
    }

    pub fn finish(self) {
        self.out.push(b']');
    }
}
