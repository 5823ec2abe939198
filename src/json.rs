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
pub struct Number(String);

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
pub fn removal_patch(paths: &[&str]) -> Result<Value, &'static str> {
    let mut patch = Value::Object(Vec::new());
    for path in paths {
        if path.is_empty() || path.split('.').any(str::is_empty) {
            return Err("a signal path has an empty segment");
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

/// Writes `text` as a JSON string: quotes, and escapes for `"`, `\` and control characters.
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

/// Why a text is not the JSON this parser accepts, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset in the input where the problem was found.
    pub position: usize,
    /// What is wrong.
    pub reason: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid JSON at byte {}: {}", self.position, self.reason)
    }
}

impl std::error::Error for ParseError {}

/// Parses a JSON text with the default limits.
pub fn parse(text: &str) -> Result<Value, ParseError> {
    parse_with_limits(text, DEFAULT_MAX_DEPTH, DEFAULT_MAX_BYTES)
}

/// Parses JSON bytes, which must be UTF-8.
pub fn parse_bytes(bytes: &[u8]) -> Result<Value, ParseError> {
    let text =
        std::str::from_utf8(bytes).map_err(|e| ParseError { position: e.valid_up_to(), reason: "not valid UTF-8" })?;
    parse(text)
}

/// Parses a JSON text, refusing nesting deeper than `max_depth` and texts longer than `max_bytes`.
pub fn parse_with_limits(text: &str, max_depth: usize, max_bytes: usize) -> Result<Value, ParseError> {
    if text.len() > max_bytes {
        return Err(ParseError { position: max_bytes, reason: "text is longer than the size limit" });
    }
    let mut parser = JsonParser { bytes: text.as_bytes(), at: 0, depth: 0, max_depth };
    parser.skip_whitespace();
    let value = parser.value()?;
    parser.skip_whitespace();
    if parser.at < parser.bytes.len() {
        return Err(parser.error("unexpected text after the value"));
    }
    Ok(value)
}

struct JsonParser<'a> {
    bytes: &'a [u8],
    at: usize,
    depth: usize,
    max_depth: usize,
}

impl JsonParser<'_> {
    fn error(&self, reason: &'static str) -> ParseError {
        ParseError { position: self.at, reason }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect_literal(&mut self, literal: &'static str, value: Value) -> Result<Value, ParseError> {
        if self.bytes[self.at..].starts_with(literal.as_bytes()) {
            self.at += literal.len();
            Ok(value)
        } else {
            Err(self.error("unknown literal (expected true, false or null)"))
        }
    }

    fn value(&mut self) -> Result<Value, ParseError> {
        match self.peek() {
            None => Err(self.error("unexpected end of text")),
            Some(b'n') => self.expect_literal("null", Value::Null),
            Some(b't') => self.expect_literal("true", Value::Bool(true)),
            Some(b'f') => self.expect_literal("false", Value::Bool(false)),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b'[') => self.nested(Self::array),
            Some(b'{') => self.nested(Self::object),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("unexpected character")),
        }
    }

    fn nested(&mut self, parse: fn(&mut Self) -> Result<Value, ParseError>) -> Result<Value, ParseError> {
        if self.depth == self.max_depth {
            return Err(self.error("nested deeper than the depth limit"));
        }
        self.depth += 1;
        let value = parse(self);
        self.depth -= 1;
        value
    }

    /// Parses a list between `open` and `close` separated by commas, calling `item` for each.
    fn list(&mut self, close: u8, mut item: impl FnMut(&mut Self) -> Result<(), ParseError>) -> Result<(), ParseError> {
        self.at += 1; // the opening bracket
        self.skip_whitespace();
        if self.peek() == Some(close) {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.skip_whitespace();
            item(self)?;
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(c) if c == close => {
                    self.at += 1;
                    return Ok(());
                }
                None => return Err(self.error("unexpected end of text")),
                Some(_) => return Err(self.error("expected `,` or a closing bracket")),
            }
        }
    }

    fn array(&mut self) -> Result<Value, ParseError> {
        let mut items = Vec::new();
        self.list(b']', |p| {
            items.push(p.value()?);
            Ok(())
        })?;
        Ok(Value::Array(items))
    }

    fn object(&mut self) -> Result<Value, ParseError> {
        let mut object = Value::Object(Vec::new());
        self.list(b'}', |p| {
            if p.peek() != Some(b'"') {
                return Err(p.error("expected a member name in double quotes"));
            }
            let name = p.string()?;
            p.skip_whitespace();
            if p.peek() != Some(b':') {
                return Err(p.error("expected `:` after a member name"));
            }
            p.at += 1;
            p.skip_whitespace();
            let value = p.value()?;
            object.set(name, value);
            Ok(())
        })?;
        Ok(object)
    }

    fn number(&mut self) -> Result<Value, ParseError> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.at += 1;
                if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    return Err(self.error("leading zero in a number"));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("expected a digit")),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.required_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.required_digits()?;
        }
        let text = String::from_utf8_lossy(&self.bytes[start..self.at]).into_owned();
        Ok(Value::Number(Number(text)))
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
    }

    fn required_digits(&mut self) -> Result<(), ParseError> {
        if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
            return Err(self.error("expected a digit"));
        }
        self.digits();
        Ok(())
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.at += 1; // the opening quote
        let mut out = String::new();
        loop {
            let run_start = self.at;
            while self.peek().is_some_and(|c| c != b'"' && c != b'\\' && c >= 0x20) {
                self.at += 1;
            }
            // The input is a &str and the run stops only at ASCII bytes, so it is whole UTF-8.
            out.push_str(std::str::from_utf8(&self.bytes[run_start..self.at]).unwrap_or_default());
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    out.push(self.escape()?);
                }
                None => return Err(self.error("unterminated string")),
                Some(_) => return Err(self.error("control character in a string")),
            }
        }
    }

    fn escape(&mut self) -> Result<char, ParseError> {
        let c = self.peek().ok_or_else(|| self.error("unterminated escape"))?;
        self.at += 1;
        Ok(match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(),
            _ => return Err(self.error("unknown escape")),
        })
    }

    /// `\uXXXX`, with UTF-16 surrogate pairs joined; a lone surrogate is an error.
    fn unicode_escape(&mut self) -> Result<char, ParseError> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if !self.bytes[self.at..].starts_with(b"\\u") {
                    return Err(self.error("high surrogate without its low surrogate"));
                }
                self.at += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.error("high surrogate without its low surrogate"));
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.error("low surrogate without a high surrogate")),
            other => other,
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid code point"))
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let digits = self.bytes.get(self.at..self.at + 4).ok_or_else(|| self.error("short \\u escape"))?;
        let text = std::str::from_utf8(digits).map_err(|_| self.error("bad \\u escape"))?;
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.error("bad \\u escape"));
        }
        let value = u32::from_str_radix(text, 16).map_err(|_| self.error("bad \\u escape"))?;
        self.at += 4;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        parse(text).unwrap_or_else(|e| panic!("{text}: {e}")).to_string()
    }

    #[test]
    fn scalars_and_whitespace() {
        assert_eq!(round_trip(" \t\r\n null "), "null");
        assert_eq!(round_trip("true"), "true");
        assert_eq!(round_trip("\"\""), "\"\"");
        for number in ["0", "-0", "12", "-1.5", "1e3", "1E+3", "2.50e-7", "123456789012345678901234567890"] {
            assert_eq!(round_trip(number), number, "numbers keep their text");
        }
    }

    #[test]
    fn nested_values_and_member_order() {
        let text = r#"{"b":[1,{"c":null}],"a":"x","e":{}, "f":[]}"#;
        assert_eq!(round_trip(text), r#"{"b":[1,{"c":null}],"a":"x","e":{},"f":[]}"#);
    }

    #[test]
    fn repeated_member_keeps_first_position_and_last_value() {
        assert_eq!(round_trip(r#"{"a":1,"b":2,"a":3}"#), r#"{"a":3,"b":2}"#);
    }

    #[test]
    fn string_escapes_and_surrogate_pairs() {
        let value = parse(r#""q\" b\\ s\/ \b\f\n\r\t \u00e9 \ud83d\ude00""#).unwrap();
        assert_eq!(value.as_str(), Some("q\" b\\ s/ \u{8}\u{c}\n\r\t é 😀"));
        assert_eq!(value.to_string(), "\"q\\\" b\\\\ s/ \\b\\f\\n\\r\\t é 😀\"");
        assert_eq!(Value::from("\u{1}").to_string(), "\"\\u0001\"");
    }

    #[test]
    fn invalid_texts_report_a_position() {
        let cases = [
            ("", 0),
            ("[1,]", 3),
            ("{\"a\":1,}", 7),
            ("01", 1),
            ("1.", 2),
            ("-", 1),
            ("1e", 2),
            (".5", 0),
            ("+1", 0),
            ("nul", 0),
            ("[1 2]", 3),
            ("{a:1}", 1),
            ("{\"a\" 1}", 5),
            ("\"abc", 4),
            ("\"a\u{1}b\"", 2),
            ("\"\\x\"", 3),
            ("\"\\u12\"", 3),
            ("\"\\ud800\"", 7),
            ("\"\\ud800\\u0041\"", 13),
            ("\"\\udc00\"", 7),
            ("1 2", 2),
            ("NaN", 0),
            ("[", 1),
        ];
        for (text, position) in cases {
            let error = parse(text).expect_err(text);
            assert_eq!(error.position, position, "{text:?}: {error}");
        }
    }

    #[test]
    fn depth_and_size_limits_at_the_boundary() {
        let nested = |depth: usize| "[".repeat(depth) + &"]".repeat(depth);
        assert!(parse_with_limits(&nested(3), 3, 100).is_ok());
        assert!(parse_with_limits(&nested(4), 3, 100).is_err());
        assert!(parse(&nested(DEFAULT_MAX_DEPTH)).is_ok());
        assert!(parse(&nested(DEFAULT_MAX_DEPTH + 1)).is_err(), "no stack overflow, an error");
        assert!(parse_with_limits("[1]", 10, 3).is_ok());
        assert!(parse_with_limits("[1] ", 10, 3).is_err());
    }

    #[test]
    fn invalid_utf8_bytes() {
        assert_eq!(parse_bytes(b"\"a\xff\"").unwrap_err().position, 2);
    }

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

    #[test]
    fn random_texts_never_panic() {
        let mut rng = crate::test_support::SplitRng::new(11);
        for _ in 0..5000 {
            let bytes = rng.bytes(b"[]{}\",:01-.eE+ tfnul\\u\xc3\xa9ad", 40);
            let _ = parse_bytes(&bytes);
        }
    }
}
