//! Percent-decoding of request paths and query strings (RFC 3986, with the
//! `application/x-www-form-urlencoded` rule that `+` in a query means a space).

use std::fmt;

/// Why a percent-encoded text could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// A `%` not followed by two hex digits, at this byte offset.
    BadEscape(usize),
    /// The decoded bytes are not UTF-8.
    NotUtf8,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::BadEscape(at) => write!(f, "`%` at byte {at} is not followed by two hex digits"),
            DecodeError::NotUtf8 => f.write_str("percent-decoded bytes are not valid UTF-8"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes `%XX` escapes; with `plus_is_space`, also `+` as a space (query strings and forms).
///
/// ```
/// use bare_sse::http::percent_decode;
/// assert_eq!(percent_decode("caf%C3%A9+au+lait", true).unwrap(), "café au lait");
/// assert_eq!(percent_decode("/a+b%2Fc", false).unwrap(), "/a+b/c");
/// assert!(percent_decode("%zz", false).is_err());
/// ```
pub fn percent_decode(text: &str, plus_is_space: bool) -> Result<String, DecodeError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'%' => {
                let high = bytes.get(at + 1).and_then(|b| hex_value(*b));
                let low = bytes.get(at + 2).and_then(|b| hex_value(*b));
                let (Some(high), Some(low)) = (high, low) else {
                    return Err(DecodeError::BadEscape(at));
                };
                out.push(high << 4 | low);
                at += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                at += 1;
            }
            other => {
                out.push(other);
                at += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| DecodeError::NotUtf8)
}

/// Splits a query string (`a=1&b=two`) into decoded name/value pairs, in order. A name without `=`
/// has an empty value; empty pieces (`a=1&&b=2`) are skipped.
pub fn parse_query(query: &str) -> Result<Vec<(String, String)>, DecodeError> {
    query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            Ok((percent_decode(name, true)?, percent_decode(value, true)?))
        })
        .collect()
}

fn hex_value(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_plus() {
        assert_eq!(percent_decode("a%20b%2b", true).unwrap(), "a b+");
        assert_eq!(percent_decode("a+b", true).unwrap(), "a b");
        assert_eq!(percent_decode("a+b", false).unwrap(), "a+b");
        assert_eq!(percent_decode("%e2%9C%93", false).unwrap(), "✓");
    }

    #[test]
    fn rejects_truncated_or_non_hex_escapes() {
        assert_eq!(percent_decode("abc%", false), Err(DecodeError::BadEscape(3)));
        assert_eq!(percent_decode("%4", false), Err(DecodeError::BadEscape(0)));
        assert_eq!(percent_decode("%g1", false), Err(DecodeError::BadEscape(0)));
    }

    #[test]
    fn rejects_invalid_utf8() {
        assert_eq!(percent_decode("%ff", false), Err(DecodeError::NotUtf8));
    }

    #[test]
    fn query_pairs() {
        let pairs = parse_query("lastEventId=4%202&flag&&x=a=b").unwrap();
        let expected = [("lastEventId", "4 2"), ("flag", ""), ("x", "a=b")];
        let expected: Vec<(String, String)> = expected.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        assert_eq!(pairs, expected);
        assert!(parse_query("").unwrap().is_empty());
        assert!(parse_query("a=%").is_err());
    }
}
