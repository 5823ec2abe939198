//! Cross-origin rules: which `Access-Control-*` headers a response carries.
//!
//! EventSource requests from another origin are CORS requests: without an
//! `Access-Control-Allow-Origin` that matches, the browser fails the connection. Clients that add
//! headers or send JSON (polyfills, fetch-based clients such as Datastar's) first send an
//! `OPTIONS` preflight, which is answered with the methods the path's routes take and the
//! requested headers that the policy allows.
//!
//! Credentials (cookies) need a list of origins: the Fetch standard forbids `*` with them, and
//! echoing any origin would let every site read a credentialed stream, so
//! [`AllowOrigin::Any`] with credentials is refused when the server starts. The origin `null`
//! (sandboxed frames, `file:` pages) is echoed only when listed.

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
    /// Allow `withCredentials` requests: a listed origin is echoed (never `*`) with
    /// `Access-Control-Allow-Credentials: true`.
    pub allow_credentials: bool,
    /// Request headers a preflight may ask for, matched without regard to case.
    pub allowed_headers: Vec<String>,
}

/// Request headers a preflight may ask for, by default: the ones EventSource-like clients send,
/// and the ones Datastar's requests carry.
pub const DEFAULT_ALLOWED_HEADERS: [&str; 4] = ["Last-Event-ID", "Cache-Control", "Content-Type", "Datastar-Request"];
/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE_SECONDS: &str = "86400";

impl Cors {
    /// Why this policy cannot be used, if it cannot.
    pub fn problem(&self) -> Option<&'static str> {
        (self.allow_credentials && self.allow_origin == AllowOrigin::Any)
            .then_some("allow_credentials needs a list of origins (AllowOrigin::List), not AllowOrigin::Any")
    }

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

    /// The headers of a `204` answer to an `OPTIONS` preflight: `methods` are those the path's
    /// routes take; of the headers the request asks for (`Access-Control-Request-Headers`), those
    /// the policy allows are named, so a request with any other header is refused by the browser.
    pub fn preflight_headers(
        &self,
        origin: Option<&str>,
        methods: &str,
        requested_headers: Option<&str>,
    ) -> Vec<(&'static str, String)> {
        let mut headers = self.headers(origin);
        if headers.iter().any(|(name, _)| *name == "Access-Control-Allow-Origin") {
            let allowed = |name: &&str| self.allowed_headers.iter().any(|a| a.eq_ignore_ascii_case(name));
            let named: Vec<&str> = match requested_headers {
                Some(requested) => {
                    requested.split(',').map(str::trim).filter(|n| !n.is_empty()).filter(allowed).collect()
                }
                None => self.allowed_headers.iter().map(String::as_str).collect(),
            };
            headers.push(("Access-Control-Allow-Methods", methods.to_string()));
            if !named.is_empty() {
                headers.push(("Access-Control-Allow-Headers", named.join(", ")));
            }
            headers.push(("Access-Control-Max-Age", PREFLIGHT_MAX_AGE_SECONDS.to_string()));
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(allow_origin: AllowOrigin, allow_credentials: bool) -> Cors {
        let allowed_headers = DEFAULT_ALLOWED_HEADERS.iter().map(|h| h.to_string()).collect();
        Cors { allow_origin, allow_credentials, allowed_headers }
    }

    fn value<'a>(headers: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
        headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn any_origin_is_a_star() {
        let cors = cors(AllowOrigin::Any, false);
        let headers = cors.headers(Some("http://a.test"));
        assert_eq!(value(&headers, "Access-Control-Allow-Origin"), Some("*"));
        assert_eq!(value(&headers, "Access-Control-Allow-Credentials"), None);
    }

    #[test]
    fn credentials_need_a_list_and_echo_only_listed_origins() {
        assert!(cors(AllowOrigin::Any, true).problem().is_some(), "any origin with credentials is refused");
        assert!(cors(AllowOrigin::Any, false).problem().is_none());
        let listed = cors(AllowOrigin::List(vec!["http://a.test".into()]), true);
        assert!(listed.problem().is_none());
        let headers = listed.headers(Some("http://a.test"));
        assert_eq!(value(&headers, "Access-Control-Allow-Origin"), Some("http://a.test"));
        assert_eq!(value(&headers, "Access-Control-Allow-Credentials"), Some("true"));
        assert_eq!(value(&headers, "Vary"), Some("Origin"));
        for other in ["http://b.test", "null"] {
            let headers = listed.headers(Some(other));
            assert_eq!(value(&headers, "Access-Control-Allow-Origin"), None, "{other}");
            assert_eq!(value(&headers, "Access-Control-Allow-Credentials"), None, "{other}");
        }
        let with_null = cors(AllowOrigin::List(vec!["null".into()]), true);
        assert_eq!(value(&with_null.headers(Some("null")), "Access-Control-Allow-Origin"), Some("null"), "when listed");
    }

    #[test]
    fn listed_origins_only() {
        let cors = cors(AllowOrigin::List(vec!["http://a.test".into()]), false);
        assert_eq!(value(&cors.headers(Some("http://a.test")), "Access-Control-Allow-Origin"), Some("http://a.test"));
        assert_eq!(value(&cors.headers(Some("http://b.test")), "Access-Control-Allow-Origin"), None);
        assert_eq!(value(&cors.headers(None), "Access-Control-Allow-Origin"), None);
    }

    #[test]
    fn preflight_names_the_routes_methods_and_the_allowed_requested_headers() {
        let policy = cors(AllowOrigin::Any, false);
        let headers = policy.preflight_headers(
            Some("http://a.test"),
            "POST, OPTIONS",
            Some("content-type, X-Secret,datastar-request"),
        );
        assert_eq!(value(&headers, "Access-Control-Allow-Methods"), Some("POST, OPTIONS"));
        assert_eq!(value(&headers, "Access-Control-Allow-Headers"), Some("content-type, datastar-request"));
        let headers = policy.preflight_headers(Some("http://a.test"), "GET, HEAD, OPTIONS", None);
        assert_eq!(
            value(&headers, "Access-Control-Allow-Headers"),
            Some("Last-Event-ID, Cache-Control, Content-Type, Datastar-Request")
        );
        let refused = cors(AllowOrigin::None, false);
        assert!(refused.preflight_headers(Some("http://a.test"), "GET", None).is_empty());
    }
}
