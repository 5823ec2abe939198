//! A small JSON value, a strict RFC 8259 parser, and a compact writer.
//!
//! Datastar sends its signals as JSON and the `bare-sse listen --json` command prints JSON; this
//! module is all of JSON that bare-sse needs, std only.
//!
//! ```
//! use bare_sse::json::{self, Value};
//!
//! let value = json::parse(r#"{"count": 3, "tags": ["a", "b"], "note": null}"#).unwrap();
//! assert_eq!(value.get("count").and_then(Value::as_f64), Some(3.0));
//! assert_eq!(value.to_string(), r#"{"count":3,"tags":["a","b"],"note":null}"#);
//! assert!(json::parse("[1, 2,]").unwrap_err().to_string().contains("byte 6"));
//! ```
//!
//! Numbers keep their text, so `1.50e3` is written back as `1.50e3`: nothing is lost to floating
//! point on a round trip. Object members keep their order; a repeated name keeps its first
//! position and its last value (as JavaScript does).

use std::fmt::{self, Write};

mod parse;

pub use parse::{parse, parse_bytes, parse_with_limits, JsonError};

/// Deepest nesting of arrays and objects accepted, by default.
pub const DEFAULT_MAX_DEPTH: usize = 128;
/// Longest JSON text accepted, in bytes, by default.
pub const DEFAULT_MAX_BYTES: usize = 1024 * 1024;

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`
    Null,
    /// `true` or `false`
    Bool(bool),
    /// A number, kept as its JSON text.
    Number(Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object: members in order.
    Object(Vec<(String, Value)>),
}

/// A JSON number, kept as text that is valid JSON number syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number(pub(crate) String);

impl Number {
    /// The number's JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number as a float (may round).
    pub fn as_f64(&self) -> f64 {
        self.0.parse().unwrap_or(f64::NAN)
    }

    /// The number as an integer, if it is one that fits.
    pub fn as_i64(&self) -> Option<i64> {
        self.0.parse().ok()
    }
}

impl Value {
    /// A member of an object (the value of the last member with that name).
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => members.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number as a float, if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(n.as_f64()),
            _ => None,
        }
    }

    /// The number as an integer, if this is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The members, if this is an object.
    pub fn as_object(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Object(members) => Some(members),
            _ => None,
        }
    }

    /// Sets an object member, replacing an existing one with the same name. Does nothing if this
    /// is not an object.
    pub fn set(&mut self, name: impl Into<String>, value: Value) {
        if let Value::Object(members) = self {
            let name = name.into();
            match members.iter_mut().find(|(n, _)| *n == name) {
                Some(member) => member.1 = value,
                None => members.push((name, value)),
            }
        }
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Value {
        Value::String(text.to_string())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Value {
        Value::String(text)
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Value {
        Value::Bool(value)
    }
}

impl From<i64> for Value {
    fn from(value: i64) -> Value {
        Value::Number(Number(value.to_string()))
    }
}

impl From<f64> for Value {
    /// Non-finite floats have no JSON form and become `null`.
    fn from(value: f64) -> Value {
        if value.is_finite() {
            Value::Number(Number(format!("{value:?}")))
        } else {
            Value::Null
        }
    }
}

/// Writes the value as compact JSON on one line.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => f.write_str(&n.0),
            Value::String(s) => write_string(f, s),
            Value::Array(items) => {
                f.write_char('[')?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_char(']')
            }
            Value::Object(members) => {
                f.write_char('{')?;
                for (i, (name, value)) in members.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write_string(f, name)?;
                    write!(f, ":{value}")?;
                }
                f.write_char('}')
            }
        }
    }
}

/// Applies an RFC 7386 JSON Merge Patch to `target`: members of an object patch are set
/// recursively, a `null` member removes that member, and any other patch replaces the target.
///
/// ```
/// use bare_sse::json::{merge_patch, parse};
/// let mut signals = parse(r#"{"user":{"name":"Ann","email":"a@x"},"count":1}"#).unwrap();
/// merge_patch(&mut signals, &parse(r#"{"user":{"email":null},"count":2}"#).unwrap());
/// assert_eq!(signals.to_string(), r#"{"user":{"name":"Ann"},"count":2}"#);
/// ```
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(members) = patch else {
        *target = patch.clone();
        return;
    };
    if !matches!(target, Value::Object(_)) {
        *target = Value::Object(Vec::new());
    }
    let Value::Object(target_members) = target else { return };
    for (name, value) in members {
        if *value == Value::Null {
            target_members.retain(|(n, _)| n != name);
        } else if let Some((_, existing)) = target_members.iter_mut().find(|(n, _)| n == name) {
            merge_patch(existing, value);
        } else {
            let mut fresh = Value::Null;
            merge_patch(&mut fresh, value);
            target_members.push((name.clone(), fresh));
        }
    }
}

/// The merge patch that removes each dot-separated path: `["user.name", "count"]` gives
/// `{"user":{"name":null},"count":null}`. A path inside one already removed adds nothing.
///
/// ```
/// let patch = bare_sse::json::removal_patch(&["user.name", "user.email", "count"]).unwrap();
/// assert_eq!(patch.to_string(), r#"{"user":{"name":null,"email":null},"count":null}"#);
/// ```
///
/// # Errors
///
/// [`EmptyPathSegment`] for the first path with an empty segment (`""`, `a..b`, `.a`).
pub fn removal_patch(paths: &[&str]) -> Result<Value, EmptyPathSegment> {
    let mut patch = Value::Object(Vec::new());
    for path in paths {
        if path.is_empty() || path.split('.').any(str::is_empty) {
            return Err(EmptyPathSegment { path: path.to_string() });
        }
        let mut node = &mut patch;
        let mut segments = path.split('.').peekable();
        while let Some(segment) = segments.next() {
            let Value::Object(members) = node else { break }; // an enclosing path is already null
            let at = match members.iter().position(|(n, _)| n == segment) {
                Some(at) => at,
                None => {
                    let leaf = segments.peek().is_none();
                    members.push((segment.to_string(), if leaf { Value::Null } else { Value::Object(Vec::new()) }));
                    members.len() - 1
                }
            };
            if segments.peek().is_none() {
                members[at].1 = Value::Null;
            }
            node = &mut members[at].1;
        }
    }
    Ok(patch)
}

/// A dot-separated path with an empty segment (`""`, `a..b`, `.a`), given to [`removal_patch`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EmptyPathSegment {
    /// The path as given.
    pub path: String,
}

impl fmt::Display for EmptyPathSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the path {:?} has an empty segment", self.path)
    }
}

impl std::error::Error for EmptyPathSegment {}

/// Writes `text` as a JSON string: quotes, and escapes for `"`, `\` and control characters.
///
/// # Errors
///
/// The writer's `fmt::Error`; writing to a `String` never fails.
pub fn write_string(out: &mut impl Write, text: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in text.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            '\u{8}' => out.write_str("\\b")?,
            '\u{c}' => out.write_str("\\f")?,
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32)?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(Value::from(2.5).to_string(), "2.5");
        assert_eq!(Value::from(f64::NAN), Value::Null);
        assert_eq!(Value::from(-7i64).as_i64(), Some(-7));
        let mut object = Value::Object(Vec::new());
        object.set("a", Value::from(true));
        object.set("a", Value::from(false));
        assert_eq!(object.to_string(), r#"{"a":false}"#);
    }

    #[test]
    fn merge_patch_follows_rfc_7386_examples() {
        // The examples of RFC 7386 appendix A: target, patch, result.
        let cases = [
            (r#"{"a":"b"}"#, r#"{"a":"c"}"#, r#"{"a":"c"}"#),
            (r#"{"a":"b"}"#, r#"{"b":"c"}"#, r#"{"a":"b","b":"c"}"#),
            (r#"{"a":"b"}"#, r#"{"a":null}"#, r#"{}"#),
            (r#"{"a":"b","b":"c"}"#, r#"{"a":null}"#, r#"{"b":"c"}"#),
            (r#"{"a":["b"]}"#, r#"{"a":"c"}"#, r#"{"a":"c"}"#),
            (r#"{"a":"c"}"#, r#"{"a":["b"]}"#, r#"{"a":["b"]}"#),
            (r#"{"a":{"b":"c"}}"#, r#"{"a":{"b":"d","c":null}}"#, r#"{"a":{"b":"d"}}"#),
            (r#"{"a":[{"b":"c"}]}"#, r#"{"a":[1]}"#, r#"{"a":[1]}"#),
            (r#"["a","b"]"#, r#"["c","d"]"#, r#"["c","d"]"#),
            (r#"{"a":"b"}"#, r#"["c"]"#, r#"["c"]"#),
            (r#"{"a":"foo"}"#, r#"null"#, r#"null"#),
            (r#"{"a":"foo"}"#, r#""bar""#, r#""bar""#),
            (r#"{"e":null}"#, r#"{"a":1}"#, r#"{"e":null,"a":1}"#),
            (r#"[1,2]"#, r#"{"a":"b","c":null}"#, r#"{"a":"b"}"#),
            (r#"{}"#, r#"{"a":{"bb":{"ccc":null}}}"#, r#"{"a":{"bb":{}}}"#),
        ];
        for (target, patch, expected) in cases {
            let mut value = parse(target).unwrap();
            merge_patch(&mut value, &parse(patch).unwrap());
            assert_eq!(value.to_string(), expected, "{target} + {patch}");
        }
    }

    #[test]
    fn removal_patches() {
        assert_eq!(removal_patch(&["a"]).unwrap().to_string(), r#"{"a":null}"#);
        assert_eq!(removal_patch(&["a", "a.b"]).unwrap().to_string(), r#"{"a":null}"#);
        assert_eq!(removal_patch(&["a.b", "a"]).unwrap().to_string(), r#"{"a":null}"#);
        assert_eq!(removal_patch(&[]).unwrap().to_string(), "{}");
        assert!(removal_patch(&["a..b"]).is_err());
        assert!(removal_patch(&[""]).is_err());
    }
}
