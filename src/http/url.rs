//! URLs: percent-decoding of request paths and query strings (RFC 3986, with the
//! `application/x-www-form-urlencoded` rule that `+` in a query means a space), and the small
//! [`Url`] the client connects to.

use std::fmt;

/// Why a percent-encoded text could not be decoded ([`percent_decode`], [`parse_query`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PercentDecodeError {
    /// A `%` not followed by two hex digits, at this byte offset.
    BadEscape(usize),
    /// The decoded bytes are not UTF-8.
    NotUtf8,
}

impl fmt::Display for PercentDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PercentDecodeError::BadEscape(at) => write!(f, "`%` at byte {at} is not followed by two hex digits"),
            PercentDecodeError::NotUtf8 => f.write_str("percent-decoded bytes are not valid UTF-8"),
        }
    }
}

impl std::error::Error for PercentDecodeError {}

/// Decodes `%XX` escapes; with `plus_is_space`, also `+` as a space (query strings and forms).
///
/// ```
/// use bare_sse::http::percent_decode;
/// assert_eq!(percent_decode("caf%C3%A9+au+lait", true).unwrap(), "café au lait");
/// assert_eq!(percent_decode("/a+b%2Fc", false).unwrap(), "/a+b/c");
/// assert!(percent_decode("%zz", false).is_err());
/// ```
///
/// # Errors
///
/// [`PercentDecodeError::BadEscape`] for a `%` not followed by two hex digits, and
/// [`PercentDecodeError::NotUtf8`] when the decoded bytes are not UTF-8.
pub fn percent_decode(text: &str, plus_is_space: bool) -> Result<String, PercentDecodeError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'%' => {
                let high = bytes.get(at + 1).and_then(|b| hex_value(*b));
                let low = bytes.get(at + 2).and_then(|b| hex_value(*b));
                let (Some(high), Some(low)) = (high, low) else {
                    return Err(PercentDecodeError::BadEscape(at));
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
    String::from_utf8(out).map_err(|_| PercentDecodeError::NotUtf8)
}

/// Percent-encodes text for a query name or value: every byte but the unreserved characters of
/// RFC 3986 (`A-Z a-z 0-9 - . _ ~`) becomes `%XX`, so `&`, `=`, `+`, `#` and spaces survive.
///
/// ```
/// assert_eq!(bare_sse::http::encode_query_component("a b&c=ü"), "a%20b%26c%3D%C3%BC");
/// ```
pub fn encode_query_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Splits a query string (`a=1&b=two`) into decoded name/value pairs, in order. A name without `=`
/// has an empty value; empty pieces (`a=1&&b=2`) are skipped.
///
/// # Errors
///
/// Those of [`percent_decode`], for the first name or value that does not decode.
pub fn parse_query(query: &str) -> Result<Vec<(String, String)>, PercentDecodeError> {
    // A plain loop: every request's target goes through here on a connection thread, where the
    // deepest call sets the stack pages an idle connection keeps, and collecting `Result`s
    // through iterator adapters takes several times the stack.
    let mut pairs = Vec::new();
    for piece in query.split('&').filter(|piece| !piece.is_empty()) {
        let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
        pairs.push((percent_decode(name, true)?, percent_decode(value, true)?));
    }
    Ok(pairs)
}

/// An absolute `http://` or `https://` URL, split into what a request needs.
///
/// ```
/// use bare_sse::http::Url;
/// let url = Url::parse("http://[::1]:8122/events?x=1#top").unwrap();
/// assert_eq!((url.host.as_str(), url.port, url.target.as_str()), ("::1", 8122, "/events?x=1"));
/// assert_eq!(url.join("/other").unwrap().to_string(), "http://[::1]:8122/other");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `http` or `https`, lower case.
    pub scheme: String,
    /// A registered name (letters, digits, `-`, `.`, `_`, `~`), an IPv4 address, or an IPv6
    /// address without its brackets. Never anything that could break a request line or header.
    pub host: String,
    /// The port, or the scheme's default.
    pub port: u16,
    /// Path and query, as sent in the request line (`/` at least); the fragment is dropped.
    pub target: String,
}

/// Why a text is not a URL the client can use.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// Not an absolute URL (no scheme).
    NotAbsolute,
    /// A scheme other than `http` and `https`; the scheme as given.
    UnsupportedScheme(String),
    /// `user:password@` in the URL: not supported, since it would be sent in the clear.
    UserInfo,
    /// The host is missing, or is neither a registered name, an IPv4 address nor a bracketed IPv6
    /// address.
    InvalidHost,
    /// The port is not a number from 0 to 65535.
    InvalidPort,
    /// The path or query holds a space or a control character.
    InvalidTarget,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::NotAbsolute => f.write_str("not an absolute URL (no `scheme://`)"),
            UrlError::UnsupportedScheme(scheme) => {
                write!(f, "the scheme {scheme:?} is not supported; only http:// and https:// are")
            }
            UrlError::UserInfo => f.write_str("user info (`user@`) in URLs is not supported"),
            UrlError::InvalidHost => f.write_str("the host is missing or not a valid host name or IP address"),
            UrlError::InvalidPort => f.write_str("the port is not a number from 0 to 65535"),
            UrlError::InvalidTarget => f.write_str("the path or query contains spaces or control characters"),
        }
    }
}

impl std::error::Error for UrlError {}

impl Url {
    /// Parses an absolute URL. Only `http` and `https` are accepted; user info is refused.
    ///
    /// # Errors
    ///
    /// A [`UrlError`]: `NotAbsolute` without `scheme://`, `UnsupportedScheme` for a scheme other
    /// than `http` and `https`, `UserInfo` for `user@`, `InvalidHost`, `InvalidPort`, or
    /// `InvalidTarget` for a path or query with spaces or control characters.
    pub fn parse(text: &str) -> Result<Url, UrlError> {
        let Some((scheme, rest)) = split_scheme(text) else { return Err(UrlError::NotAbsolute) };
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return Err(UrlError::UnsupportedScheme(scheme)),
        };
        let rest = rest.strip_prefix("//").ok_or(UrlError::NotAbsolute)?;
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(UrlError::UserInfo);
        }
        let (host, port) = split_host_port(authority)?;
        let port = match port {
            None => default_port,
            Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                digits.parse().map_err(|_| UrlError::InvalidPort)?
            }
            Some(_) => return Err(UrlError::InvalidPort),
        };
        let path = path.split('#').next().unwrap_or("");
        let target = if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
        if target.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(UrlError::InvalidTarget);
        }
        Ok(Url { scheme, host: host.to_string(), port, target })
    }

    /// Resolves a redirect's `Location` against this URL. A location with a scheme is absolute,
    /// and must be `http` or `https` (`javascript:` or `data:` is an error, not a relative path).
    ///
    /// # Errors
    ///
    /// Those of [`Url::parse`], for a location with a scheme (`javascript:` and `data:` are
    /// `UnsupportedScheme`) or for the URL it resolves to.
    pub fn join(&self, location: &str) -> Result<Url, UrlError> {
        if split_scheme(location).is_some() {
            return Url::parse(location);
        }
        if let Some(rest) = location.strip_prefix("//") {
            return Url::parse(&format!("{}://{rest}", self.scheme));
        }
        let target = if location.starts_with('/') {
            location.to_string()
        } else {
            let path = self.target.split('?').next().unwrap_or("/");
            let directory = &path[..path.rfind('/').map_or(0, |at| at + 1)];
            format!("{directory}{location}")
        };
        Url::parse(&format!("{}://{}{target}", self.scheme, self.authority()))
    }

    /// `host:port` as the `Host` header wants it (the port only when it is not the default).
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        let default_port = if self.scheme == "https" { 443 } else { 80 };
        if self.port == default_port {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority(), self.target)
    }
}

/// Splits `scheme:rest` when the text starts with a scheme: a letter, then letters, digits, `+`,
/// `-` or `.`, then `:` (RFC 3986 §3.1). A relative reference has none.
pub(crate) fn split_scheme(text: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = text.split_once(':')?;
    let mut bytes = scheme.bytes();
    let first_is_letter = bytes.next().is_some_and(|b| b.is_ascii_alphabetic());
    let valid = first_is_letter && bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    valid.then_some((scheme, rest))
}

/// Splits an authority into a validated host and the port text, if any.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), UrlError> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or(UrlError::InvalidHost)?;
        // An IPv6 literal; zone ids (`%eth0`) and IPvFuture are not supported.
        host.parse::<std::net::Ipv6Addr>().map_err(|_| UrlError::InvalidHost)?;
        return match after {
            "" => Ok((host, None)),
            _ => Ok((host, Some(after.strip_prefix(':').ok_or(UrlError::InvalidPort)?))),
        };
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    // A registered name as DNS uses it, or an IPv4 address (which is one too): nothing here may
    // be copied into a request that could end a line or a header.
    let valid = !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !valid {
        return Err(UrlError::InvalidHost);
    }
    Ok((host, port))
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
        assert_eq!(percent_decode("abc%", false), Err(PercentDecodeError::BadEscape(3)));
        assert_eq!(percent_decode("%4", false), Err(PercentDecodeError::BadEscape(0)));
        assert_eq!(percent_decode("%g1", false), Err(PercentDecodeError::BadEscape(0)));
    }

    #[test]
    fn rejects_invalid_utf8() {
        assert_eq!(percent_decode("%ff", false), Err(PercentDecodeError::NotUtf8));
    }

    #[test]
    fn urls_parse_and_join() {
        let url = Url::parse("HTTP://Example.com").unwrap();
        assert_eq!((url.scheme.as_str(), url.port, url.target.as_str()), ("http", 80, "/"));
        assert_eq!(url.to_string(), "http://Example.com/");
        let url = Url::parse("http://h:81/a/b?q=1").unwrap();
        assert_eq!(url.join("c").unwrap().to_string(), "http://h:81/a/c");
        assert_eq!(url.join("/d?x").unwrap().target, "/d?x");
        assert_eq!(url.join("//other:9/e").unwrap().to_string(), "http://other:9/e");
        assert_eq!(url.join("https://s/").unwrap().port, 443);
        assert_eq!(Url::parse("http://h?x=1").unwrap().target, "/?x=1");
        for bad in ["ftp://h/", "h/path", "http:///x", "http://u@h/", "http://h:x/", "http://[::1/", "http://h/a b"] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_say_which_part_is_wrong() {
        assert_eq!(Url::parse("h/path"), Err(UrlError::NotAbsolute));
        assert_eq!(Url::parse("http:h"), Err(UrlError::NotAbsolute));
        assert_eq!(Url::parse("FTP://h/"), Err(UrlError::UnsupportedScheme("ftp".to_string())));
        assert_eq!(Url::parse("http://u:p@h/"), Err(UrlError::UserInfo));
        assert_eq!(Url::parse("http:///x"), Err(UrlError::InvalidHost));
        for port in ["x", "", "+1", "65536", "-1"] {
            assert_eq!(Url::parse(&format!("http://h:{port}/")), Err(UrlError::InvalidPort), "{port:?}");
        }
        assert_eq!(Url::parse("http://h/\x7f"), Err(UrlError::InvalidTarget));
        assert_eq!(Url::parse("http://h:65535/").unwrap().port, 65535);
    }

    #[test]
    fn hosts_are_names_or_addresses_and_never_carry_control_bytes() {
        for good in ["http://a-b.c_d~e/", "http://127.0.0.1/", "http://[::1]/", "http://[2001:db8::7]:81/"] {
            assert!(Url::parse(good).is_ok(), "{good}");
        }
        let injected = "http://[x\r\nX-Injected: yes\r\nY]:80/";
        assert_eq!(Url::parse(injected), Err(UrlError::InvalidHost));
        for bad in
            ["http://[::1%25eth0]/", "http://[::1]x/", "http://h\r\nX: y/", "http://a b/", "http://h%41/", "http://[]/"]
        {
            assert!(Url::parse(bad).is_err(), "{bad:?}");
        }
        // Every byte that is not allowed in a host name, in the middle of one.
        for byte in (0u8..=127).filter(|b| !b.is_ascii_alphanumeric() && !b"-._~/?#@:[]".contains(b)) {
            let text = format!("http://a{}b/", byte as char);
            assert_eq!(Url::parse(&text), Err(UrlError::InvalidHost), "{text:?}");
        }
    }

    #[test]
    fn redirects_follow_only_http_and_https() {
        let url = Url::parse("http://h/a").unwrap();
        assert_eq!(url.join("javascript:alert(1)"), Err(UrlError::UnsupportedScheme("javascript".to_string())));
        assert_eq!(url.join("data:text/plain,x"), Err(UrlError::UnsupportedScheme("data".to_string())));
        assert_eq!(url.join("HTTPS://s/x").unwrap().to_string(), "https://s/x");
        assert_eq!(url.join("b:c/../d").map_err(|_| ()), Err(()), "a scheme-like prefix is a scheme");
        assert_eq!(url.join("./b:c").unwrap().target, "/./b:c", "a colon after a slash is part of the path");
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
