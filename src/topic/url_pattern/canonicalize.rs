//! The encoding callbacks: how the fixed text of each component is made canonical, by running it
//! through the URL parser as the standard prescribes (so that `/café` in a pattern matches the
//! `/caf%C3%A9` a URL holds, and `EXAMPLE.com` matches `example.com`). The same functions
//! canonicalize the components of an input given part by part ([`super::UrlPatternInit`]).

use super::super::whatwg_url::{encode_userinfo, parse_with_override, Host, Override, UrlPath, UrlRecord};
use super::{UrlComponent, UrlPatternError};

/// `https://dummy.invalid/`, the URL each piece of text is parsed into.
fn dummy_url() -> UrlRecord {
    UrlRecord {
        scheme: "https".to_string(),
        username: String::new(),
        password: String::new(),
        host: Some(Host::Domain("dummy.invalid".to_string())),
        port: None,
        path: UrlPath::Segments(vec![String::new()]),
        query: None,
        fragment: None,
    }
}

fn invalid(component: UrlComponent, value: &str) -> UrlPatternError {
    UrlPatternError::InvalidComponent { component, value: value.to_string() }
}

pub(super) fn protocol(value: &str) -> Result<String, UrlPatternError> {
    if value.is_empty() {
        return Ok(String::new());
    }
    let url = UrlRecord::parse(&format!("{value}://dummy.invalid/"), None)
        .map_err(|_| invalid(UrlComponent::Protocol, value))?;
    Ok(url.scheme)
}

pub(super) fn username(value: &str) -> Result<String, UrlPatternError> {
    Ok(userinfo(value))
}

pub(super) fn password(value: &str) -> Result<String, UrlPatternError> {
    Ok(userinfo(value))
}

/// What setting a URL's username or password does: percent-encode with the userinfo set.
fn userinfo(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    encode_userinfo(value, &mut encoded);
    encoded
}

pub(super) fn hostname(value: &str) -> Result<String, UrlPatternError> {
    if value.is_empty() {
        return Ok(String::new());
    }
    let mut dummy = dummy_url();
    parse_with_override(value, &mut dummy, Override::Hostname).map_err(|_| invalid(UrlComponent::Hostname, value))?;
    Ok(dummy.host())
}

/// A hostname pattern that starts with `[` (or `{[`, `\[`): only hex digits, `[`, `]` and `:`,
/// lowercased.
pub(super) fn ipv6_hostname(value: &str) -> Result<String, UrlPatternError> {
    if !value.chars().all(|c| c.is_ascii_hexdigit() || matches!(c, '[' | ']' | ':')) {
        return Err(invalid(UrlComponent::Hostname, value));
    }
    Ok(value.to_ascii_lowercase())
}

/// Whether a hostname pattern is an IPv6 address, which fixes how its text is canonicalized.
pub(super) fn is_ipv6_hostname_pattern(pattern: &str) -> bool {
    let mut chars = pattern.chars();
    matches!((chars.next(), chars.next()), (Some('['), Some(_)) | (Some('{' | '\\'), Some('[')))
}

/// A port: digits up to the first other character (`80x` is `80`), empty when it is the
/// default port of `protocol`.
///
/// Without a protocol (a pattern's port, compiled on its own) no port is a default. The
/// standard's text since March 2025 parses it into an `https` URL there, which would read
/// `http://h:443` as "no port", matching `http://h/` on port 80 and not `http://h:443/`; this
/// follows browsers and the text before, which keep `443`.
pub(super) fn port(value: &str, protocol: Option<&str>) -> Result<String, UrlPatternError> {
    if value.is_empty() {
        return Ok(String::new());
    }
    let mut dummy = dummy_url();
    // An empty scheme has no default port; the port state does not look at it otherwise.
    dummy.scheme = protocol.unwrap_or_default().to_string();
    parse_with_override(value, &mut dummy, Override::Port).map_err(|_| invalid(UrlComponent::Port, value))?;
    Ok(dummy.port.map(|port| port.to_string()).unwrap_or_default())
}

/// A path of a special URL: percent-encoded, dot segments resolved, `\` read as `/`. Text that
/// does not start with `/` is a piece of a path, so it is parsed behind a `/-` that is removed
/// afterwards (the `-` keeps a leading `.` from being read as a dot segment).
pub(super) fn pathname(value: &str) -> Result<String, UrlPatternError> {
    if value.is_empty() {
        return Ok(String::new());
    }
    let leading_slash = value.starts_with('/');
    let modified = if leading_slash { value.to_string() } else { format!("/-{value}") };
    let mut dummy = dummy_url();
    dummy.path = UrlPath::Segments(Vec::new());
    // The path states never fail on a special URL.
    let _ = parse_with_override(&modified, &mut dummy, Override::PathStart);
    let path = dummy.path();
    // The path is ASCII, so cutting at a byte offset is cutting at a character.
    Ok(if leading_slash { path } else { path.get(2..).unwrap_or_default().to_string() })
}

/// The opaque path of a URL that is not special (`data:`, `urn:`): only controls, non-ASCII and
/// a space before `?` or `#` are encoded.
pub(super) fn opaque_pathname(value: &str) -> Result<String, UrlPatternError> {
    if value.is_empty() {
        return Ok(String::new());
    }
    let mut dummy = dummy_url();
    dummy.path = UrlPath::Opaque(String::new());
    parse_with_override(value, &mut dummy, Override::OpaquePath).map_err(|_| invalid(UrlComponent::Pathname, value))?;
    Ok(dummy.path())
}

pub(super) fn search(value: &str) -> Result<String, UrlPatternError> {
    if value.is_empty() {
        return Ok(String::new());
    }
    let mut dummy = dummy_url();
    dummy.query = Some(String::new());
    let _ = parse_with_override(value, &mut dummy, Override::Query);
    Ok(dummy.query.unwrap_or_default())
}

pub(super) fn hash(value: &str) -> Result<String, UrlPatternError> {
    if value.is_empty() {
        return Ok(String::new());
    }
    let mut dummy = dummy_url();
    dummy.fragment = Some(String::new());
    let _ = parse_with_override(value, &mut dummy, Override::Fragment);
    Ok(dummy.fragment.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_component() {
        assert_eq!(protocol("HTTPS").unwrap(), "https");
        assert!(protocol("caf\u{e9}").is_err() && protocol("a b").is_err());
        assert_eq!(username("caf\u{e9}:@").unwrap(), "caf%C3%A9%3A%40");
        assert_eq!(hostname("EXAMPLE.com").unwrap(), "example.com");
        assert_eq!(hostname("caf\u{e9}.com").unwrap(), "xn--caf-dma.com");
        assert_eq!(hostname("bad#hostname").unwrap(), "bad", "the host ends where a URL's would");
        assert_eq!(hostname("bad\nhostname").unwrap(), "badhostname");
        for bad in ["bad hostname", "bad%hostname", "bad:hostname", "bad<hostname", "bad@hostname", "bad|hostname"] {
            assert!(hostname(bad).is_err(), "{bad}");
        }
        assert_eq!(ipv6_hostname("[::AB:1]").unwrap(), "[::ab:1]");
        assert!(ipv6_hostname("[::x]").is_err());
        assert!(is_ipv6_hostname_pattern("[::1]") && is_ipv6_hostname_pattern("{[") && !is_ipv6_hostname_pattern("["));
        assert_eq!(port("8080", None).unwrap(), "8080");
        assert_eq!(port("443", None).unwrap(), "443", "a pattern's port is no scheme's default");
        assert_eq!(port("443", Some("https")).unwrap(), "");
        assert_eq!(port("80", Some("http")).unwrap(), "");
        assert_eq!(port("80x", Some("http")).unwrap(), "", "digits up to the first other character");
        assert_eq!(port("8\t0", Some("http")).unwrap(), "");
        assert!(port("x", None).is_err() && port("100000", None).is_err());
        assert_eq!(pathname("/caf\u{e9}/./a/../b?c#d").unwrap(), "/caf%C3%A9/b%3Fc%23d");
        assert_eq!(pathname("foo bar").unwrap(), "foo%20bar");
        assert_eq!(pathname("../foo").unwrap(), "../foo");
        assert_eq!(pathname("a/../..").unwrap(), "", "never cut inside the path");
        assert_eq!(pathname("\\bar").unwrap(), "/bar");
        assert_eq!(opaque_pathname("var x = 1;").unwrap(), "var x = 1;");
        assert_eq!(opaque_pathname("a\u{e9}").unwrap(), "a%C3%A9");
        assert_eq!(search("q=caf\u{e9} '#").unwrap(), "q=caf%C3%A9%20%27%23");
        assert_eq!(hash("caf\u{e9} `#").unwrap(), "caf%C3%A9%20%60#");
    }
}
