//! The parser: strict RFC 8259, with limits on depth and size, linear in its input.

use std::collections::HashMap;
use std::fmt;

use super::{Number, Value, DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH};

/// Up to this many members, an object finds a repeated name by searching its members; past it,
/// by an index of their names. The search costs at most this many comparisons a member, and the
/// index an allocation per name, which most objects (a form's signals) need not pay.
const SEARCHED_MEMBERS: usize = 16;

/// Why a text is not the JSON this parser accepts, and where: its syntax is wrong, it is not
/// UTF-8, or it is over the limits on size and depth.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JsonError {
    /// Byte offset in the input where the problem was found.
    pub position: usize,
    /// What is wrong.
    pub reason: &'static str,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid JSON at byte {}: {}", self.position, self.reason)
    }
}

impl std::error::Error for JsonError {}

/// Parses a JSON text with the default limits.
///
/// # Errors
///
/// A [`JsonError`] with the byte position: a syntax error, nesting deeper than
/// [`DEFAULT_MAX_DEPTH`], or a text longer than [`DEFAULT_MAX_BYTES`].
pub fn parse(text: &str) -> Result<Value, JsonError> {
    parse_with_limits(text, DEFAULT_MAX_DEPTH, DEFAULT_MAX_BYTES)
}

/// Parses JSON bytes, which must be UTF-8.
///
/// # Errors
///
/// Those of [`parse`], and a [`JsonError`] at the first byte that is not UTF-8.
pub fn parse_bytes(bytes: &[u8]) -> Result<Value, JsonError> {
    let text =
        std::str::from_utf8(bytes).map_err(|e| JsonError { position: e.valid_up_to(), reason: "not valid UTF-8" })?;
    parse(text)
}

/// Parses a JSON text, refusing nesting deeper than `max_depth` and texts longer than `max_bytes`.
///
/// # Errors
///
/// A [`JsonError`] with the byte position: a syntax error, nesting deeper than `max_depth`, or a
/// text longer than `max_bytes`.
pub fn parse_with_limits(text: &str, max_depth: usize, max_bytes: usize) -> Result<Value, JsonError> {
    if text.len() > max_bytes {
        return Err(JsonError { position: max_bytes, reason: "text is longer than the size limit" });
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
    fn error(&self, reason: &'static str) -> JsonError {
        JsonError { position: self.at, reason }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect_literal(&mut self, literal: &'static str, value: Value) -> Result<Value, JsonError> {
        if self.bytes[self.at..].starts_with(literal.as_bytes()) {
            self.at += literal.len();
            Ok(value)
        } else {
            Err(self.error("unknown literal (expected true, false or null)"))
        }
    }

    fn value(&mut self) -> Result<Value, JsonError> {
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

    fn nested(&mut self, parse: fn(&mut Self) -> Result<Value, JsonError>) -> Result<Value, JsonError> {
        if self.depth == self.max_depth {
            return Err(self.error("nested deeper than the depth limit"));
        }
        self.depth += 1;
        let value = parse(self);
        self.depth -= 1;
        value
    }

    /// Parses a list between `open` and `close` separated by commas, calling `item` for each.
    fn list(&mut self, close: u8, mut item: impl FnMut(&mut Self) -> Result<(), JsonError>) -> Result<(), JsonError> {
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

    fn array(&mut self) -> Result<Value, JsonError> {
        let mut items = Vec::new();
        self.list(b']', |p| {
            items.push(p.value()?);
            Ok(())
        })?;
        Ok(Value::Array(items))
    }

    fn object(&mut self) -> Result<Value, JsonError> {
        let mut members: Vec<(String, Value)> = Vec::new();
        // Where each name sits in `members`, once there are more than a few: finding a repeated
        // name by a linear search would make a large object's parse quadratic in its member count.
        // A small object (the usual one: a form's signals) is searched, and costs no index.
        let mut positions: Option<HashMap<String, usize>> = None;
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
            let at = match &positions {
                Some(positions) => positions.get(&name).copied(),
                None => members.iter().position(|(member, _)| *member == name),
            };
            match at {
                Some(at) => members[at].1 = value,
                None => {
                    if let Some(positions) = &mut positions {
                        positions.insert(name.clone(), members.len());
                    }
                    members.push((name, value));
                    if positions.is_none() && members.len() > SEARCHED_MEMBERS {
                        let names = members.iter().enumerate().map(|(at, (name, _))| (name.clone(), at));
                        positions = Some(names.collect());
                    }
                }
            }
            Ok(())
        })?;
        Ok(Value::Object(members))
    }

    fn number(&mut self) -> Result<Value, JsonError> {
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

    fn required_digits(&mut self) -> Result<(), JsonError> {
        if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
            return Err(self.error("expected a digit"));
        }
        self.digits();
        Ok(())
    }

    fn string(&mut self) -> Result<String, JsonError> {
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

    fn escape(&mut self) -> Result<char, JsonError> {
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
    fn unicode_escape(&mut self) -> Result<char, JsonError> {
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

    fn hex4(&mut self) -> Result<u32, JsonError> {
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

    /// Whether an object's names are searched or indexed, and across the change from one to the
    /// other, a repeated name keeps its first position and its last value.
    #[test]
    fn repeated_members_of_small_and_large_objects() {
        for count in [1, SEARCHED_MEMBERS - 1, SEARCHED_MEMBERS, SEARCHED_MEMBERS + 1, 3 * SEARCHED_MEMBERS] {
            let names: Vec<String> = (0..count).map(|k| format!("n{k}")).collect();
            // Each name, then each again with a new value, then the first once more.
            let mut text: Vec<String> = names.iter().map(|name| format!("\"{name}\":0")).collect();
            text.extend(names.iter().map(|name| format!("\"{name}\":1")));
            text.push("\"n0\":2".to_string());
            let value = parse(&format!("{{{}}}", text.join(","))).unwrap();
            let members = value.as_object().unwrap();
            let names_parsed: Vec<&str> = members.iter().map(|(name, _)| name.as_str()).collect();
            assert_eq!(names_parsed, names.iter().map(String::as_str).collect::<Vec<_>>(), "{count} names");
            let values: Vec<i64> = members.iter().map(|(_, value)| value.as_i64().unwrap()).collect();
            let mut expected = vec![1; count];
            expected[0] = 2;
            assert_eq!(values, expected, "{count} names");
        }
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

    /// Parsing, writing, cloning, patching and dropping are recursive: at the depth limit they must
    /// fit the stack of the threads that run handlers, in this build (debug frames are the largest).
    #[test]
    fn the_depth_limit_fits_the_handler_stack() {
        let depth = DEFAULT_MAX_DEPTH;
        let text = "{\"a\":[".repeat(depth / 2) + "1" + &"]}".repeat(depth / 2);
        let worker = std::thread::Builder::new().stack_size(crate::server::USER_CODE_STACK_BYTES).spawn(move || {
            let value = parse(&text).unwrap();
            assert_eq!(value.to_string(), text);
            let mut patched = value.clone();
            super::super::merge_patch(&mut patched, &value);
            assert_eq!(patched, value);
            assert!(parse(&format!("[{text}]")).is_err(), "one level more is refused");
        });
        worker.unwrap().join().expect("no stack overflow at the depth limit");
    }

    #[test]
    fn an_object_at_the_size_limit_parses_in_linear_time() {
        // Half distinct names, then the last one repeated: the worst case for a member search by
        // scanning, which took many seconds on this megabyte. CPU per byte is the behaviour, so
        // this test measures time, with a bound far above a linear parse on a loaded machine.
        let distinct = 35_000;
        let mut text = String::from("{");
        for k in 0..distinct {
            text.push_str(&format!("\"k{k:06}\":0,"));
        }
        for k in 0..distinct {
            text.push_str(&format!("\"k{:06}\":{k},", distinct - 1));
        }
        text.push_str("\"end\":true}");
        assert!(text.len() <= DEFAULT_MAX_BYTES);
        let started = std::time::Instant::now();
        let value = parse(&text).unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "took {:?}", started.elapsed());
        let members = value.as_object().unwrap();
        assert_eq!(members.len(), distinct + 1);
        assert_eq!(members[distinct - 1].1.as_i64(), Some(distinct as i64 - 1), "the last value wins");
    }

    #[test]
    fn invalid_utf8_bytes() {
        assert_eq!(parse_bytes(b"\"a\xff\"").unwrap_err().position, 2);
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
