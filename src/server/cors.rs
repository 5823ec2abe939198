//! Cross-origin rules: which `Access-Control-*` headers a response carries.
//!
//! EventSource requests from another origin are CORS requests: without an
//! `Access-Control-Allow-Origin` that matches, the browser fails the connection. Clients that add
//! headers (polyfills, fetch-based clients) first send an `OPTIONS` preflight.

/// Which origins may read the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowOrigin {
    /// Any origin (`Access-Control-Allow-Origin: *`). The default.
    Any,
    /// Only these origins (exact match, e.g. `https://example.com`); others get no CORS headers,
    /// so browsers refuse them.
    List(Vec<String>),
    /// No CORS headers at all: only same-origin pages can read the stream.
    None,
}

/// The CORS policy of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cors {
    pub allow_origin: AllowOrigin,
    /// Allow `withCredentials` requests: the origin is echoed (never `*`) with
    /// `Access-Control-Allow-Credentials: true`.
    pub allow_credentials: bool,
}

/// Request headers a preflight may ask for: the ones EventSource-like clients send.
pub(crate) const ALLOWED_REQUEST_HEADERS: &str = "Last-Event-ID, Cache-Control";
/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE_SECONDS: &str = "86400";

impl Cors {
    /// The headers for a response to a request that carried `origin`.
    pub fn headers(&self, origin: Option<&str>) -> Vec<(&'static str, String)> {
        let mut headers = Vec::new();
        let echo = |headers: &mut Vec<(&'static str, String)>, origin: &str| {
            headers.push(("Access-Control-Allow-Origin", origin.to_string()));
            headers.push(("Vary", "Origin".to_string()));
            if self.allow_credentials {
                headers.push(("Access-Control-Allow-Credentials", "true".to_string()));
            }
        };
        match (&self.allow_origin, origin) {
            (AllowOrigin::None, _) => {}
            (AllowOrigin::Any, Some(origin)) if self.allow_credentials => echo(&mut headers, origin),
            (AllowOrigin::Any, _) => headers.push(("Access-Control-Allow-Origin", "*".to_string())),
            (AllowOrigin::List(allowed), Some(origin)) if allowed.iter().any(|a| a == origin) => {
                echo(&mut headers, origin)
            }
            (AllowOrigin::List(_), _) => headers.push(("Vary", "Origin".to_string())),
        }
        headers
    }

    /// The headers of a `204` answer to an `OPTIONS` preflight.
    pub fn preflight_headers(&self, origin: Option<&str>) -> Vec<(&'static str, String)> {
        let mut headers = self.headers(origin);
        if headers.iter().any(|(name, _)| *name == "Access-Control-Allow-Origin") {
            headers.push(("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS".to_string()));
            headers.push(("Access-Control-Allow-Headers", ALLOWED_REQUEST_HEADERS.to_string()));
            headers.push(("Access-Control-Max-Age", PREFLIGHT_MAX_AGE_SECONDS.to_string()));
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value<'a>(headers: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
        headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn any_origin_is_a_star() {
        let cors = Cors { allow_origin: AllowOrigin::Any, allow_credentials: false };
        let headers = cors.headers(Some("http://a.test"));
        assert_eq!(value(&headers, "Access-Control-Allow-Origin"), Some("*"));
        assert_eq!(value(&headers, "Access-Control-Allow-Credentials"), None);
    }

    #[test]
    fn credentials_echo_the_origin_never_star() {
        let cors = Cors { allow_origin: AllowOrigin::Any, allow_credentials: true };
        let headers = cors.headers(Some("http://a.test"));
        assert_eq!(value(&headers, "Access-Control-Allow-Origin"), Some("http://a.test"));
        assert_eq!(value(&headers, "Access-Control-Allow-Credentials"), Some("true"));
        assert_eq!(value(&headers, "Vary"), Some("Origin"));
    }

    #[test]
    fn listed_origins_only() {
        let cors = Cors { allow_origin: AllowOrigin::List(vec!["http://a.test".into()]), allow_credentials: false };
        assert_eq!(value(&cors.headers(Some("http://a.test")), "Access-Control-Allow-Origin"), Some("http://a.test"));
        assert_eq!(value(&cors.headers(Some("http://b.test")), "Access-Control-Allow-Origin"), None);
        assert_eq!(value(&cors.headers(None), "Access-Control-Allow-Origin"), None);
    }

    #[test]
    fn preflight_allows_last_event_id() {
        let cors = Cors { allow_origin: AllowOrigin::Any, allow_credentials: false };
        let headers = cors.preflight_headers(Some("http://a.test"));
        assert_eq!(value(&headers, "Access-Control-Allow-Headers"), Some(ALLOWED_REQUEST_HEADERS));
        let refused = Cors { allow_origin: AllowOrigin::None, allow_credentials: false };
        assert!(refused.preflight_headers(Some("http://a.test")).is_empty());
    }
}
