//! How a request presents its access token, and how the hub says no.
//!
//! A token comes in the `Authorization: Bearer <token>` header or, for browsers (whose
//! `EventSource` cannot set headers), in a cookie. When the header is there its token is used and
//! any cookie ignored: cookies are sent by the browser whatever the page chose. The token in the
//! query string (`access_token`) is not accepted.
//!
//! A refusal is an RFC 6750 answer: `401` with a `WWW-Authenticate: Bearer` challenge when no
//! token came (and no error code) or the token is not valid (`invalid_token`, whatever the
//! reason, so as not to tell an attacker which check failed), `403` with `insufficient_scope`
//! when a valid token does not allow the request, `400` with `invalid_request` when the token's
//! presentation is malformed. Each challenge points at the hub's protected resource metadata.

use crate::server::{Request, Response};

/// The cookie a browser's token comes in, unless the hub is told another name.
pub const DEFAULT_COOKIE_NAME: &str = "__Secure-mercure_access_token";

/// Why a request is refused for its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Denial {
    /// The request needs a token and came without one: 401, no error code.
    NoToken,
    /// The token failed validation (signature, algorithm, type, expiry, audience, issuer, claims):
    /// 401 `invalid_token`.
    InvalidToken,
    /// The token is valid but does not allow this: 403 `insufficient_scope`.
    InsufficientScope,
    /// The token's presentation is malformed (an `Authorization` header that is not `Bearer
    /// <token>`): 400 `invalid_request`.
    InvalidRequest,
}

impl Denial {
    /// The answer, with its challenge; `resource_metadata` is the URL of the hub's protected
    /// resource metadata, when known.
    pub fn response(self, resource_metadata: Option<&str>) -> Response {
        let (status, error, message) = match self {
            Denial::NoToken => (401, None, "an access token is required\n"),
            Denial::InvalidToken => (401, Some("invalid_token"), "the access token is not valid\n"),
            Denial::InsufficientScope => (403, Some("insufficient_scope"), "the access token does not allow this\n"),
            Denial::InvalidRequest => {
                (400, Some("invalid_request"), "the Authorization header must be `Bearer <token>`\n")
            }
        };
        let mut parameters = Vec::new();
        if let Some(error) = error {
            parameters.push(format!("error=\"{error}\""));
        }
        if let Some(url) = resource_metadata {
            parameters.push(format!("resource_metadata=\"{url}\""));
        }
        let challenge =
            if parameters.is_empty() { "Bearer".to_string() } else { format!("Bearer {}", parameters.join(", ")) };
        Response::new(status)
            .header("WWW-Authenticate", challenge)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(message)
    }
}

/// The token a request presents: from its `Authorization` header when it has one, else from the
/// cookie `cookie_name`. `Ok(None)` when it presents none.
pub(crate) fn presented_token<'a>(request: &'a Request, cookie_name: &str) -> Result<Option<&'a str>, Denial> {
    match request.header("authorization") {
        Some(value) => bearer_token(value).map(Some).ok_or(Denial::InvalidRequest),
        None => Ok(request.cookie(cookie_name).filter(|token| !token.is_empty())),
    }
}

/// The token of an `Authorization: Bearer <token>` value; the scheme is matched without regard
/// to case, and the token must be RFC 6750's `b64token` characters.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim_start();
    let b64token = |b: u8| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b);
    let valid = scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.bytes().all(b64token);
    valid.then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{parse_request_head, HeadLimits, Parsed};

    fn request(headers: &str) -> Request {
        let raw = format!("GET /.well-known/mercure HTTP/1.1\r\nHost: x\r\n{headers}\r\n");
        let Ok(Parsed::Complete { head, .. }) = parse_request_head(raw.as_bytes(), &HeadLimits::default()) else {
            panic!("not a request: {raw:?}")
        };
        Request::new(head, Vec::new())
    }

    #[test]
    fn the_header_wins_over_the_cookie() {
        let both = request("Authorization: Bearer a.b.c\r\nCookie: c=x.y.z\r\n");
        assert_eq!(presented_token(&both, "c"), Ok(Some("a.b.c")));
        let cookie_only = request("Cookie: other=1; c=x.y.z\r\n");
        assert_eq!(presented_token(&cookie_only, "c"), Ok(Some("x.y.z")));
        assert_eq!(presented_token(&request(""), "c"), Ok(None));
        assert_eq!(presented_token(&request("Cookie: c=\r\n"), "c"), Ok(None));
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_anything_else_is_malformed() {
        assert_eq!(presented_token(&request("Authorization: bEaReR t0k-en.x_y~\r\n"), "c"), Ok(Some("t0k-en.x_y~")));
        for value in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer a b", "Bearera.b.c", "Bearer a\"b"] {
            let raw = format!("Authorization: {value}\r\n");
            assert_eq!(presented_token(&request(&raw), "c"), Err(Denial::InvalidRequest), "{value:?}");
        }
    }

    #[test]
    fn refusals_carry_the_challenge_rfc_6750_asks_for() {
        let metadata = Some("https://hub.example/.well-known/oauth-protected-resource/.well-known/mercure");
        let cases = [
            (Denial::NoToken, 401, "Bearer resource_metadata=\"https://hub.example/.well-known/oauth-protected-resource/.well-known/mercure\""),
            (Denial::InvalidToken, 401, "Bearer error=\"invalid_token\", resource_metadata=\"https://hub.example/.well-known/oauth-protected-resource/.well-known/mercure\""),
            (Denial::InsufficientScope, 403, "Bearer error=\"insufficient_scope\", resource_metadata=\"https://hub.example/.well-known/oauth-protected-resource/.well-known/mercure\""),
            (Denial::InvalidRequest, 400, "Bearer error=\"invalid_request\", resource_metadata=\"https://hub.example/.well-known/oauth-protected-resource/.well-known/mercure\""),
        ];
        for (denial, status, challenge) in cases {
            let response = denial.response(metadata);
            assert_eq!(response.status(), status);
            assert_eq!(response.header_value("WWW-Authenticate"), Some(challenge));
        }
        assert_eq!(Denial::NoToken.response(None).header_value("WWW-Authenticate"), Some("Bearer"));
    }
}
