//! What a Datastar request carries: its signals, and the header that marks it.

use std::fmt;

use crate::json::{self, Value};
use crate::server::Request;

/// Why a request's signals could not be read: they are not valid JSON (with the byte position).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalsError {
    /// The signals are not valid JSON.
    Invalid(json::ParseError),
}

impl fmt::Display for SignalsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignalsError::Invalid(error) => write!(f, "the request's Datastar signals are not valid JSON: {error}"),
        }
    }
}

impl std::error::Error for SignalsError {}

/// Reads the signals a Datastar request carries, where Datastar's browser library puts them: for
/// `GET` and `DELETE`, the `datastar` query parameter (URL-encoded JSON); for every other method
/// (`POST`, `PUT`, `PATCH`, `QUERY`), the JSON body. `HEAD` is a `GET` without the answer's body,
/// so it is read as a `GET` is, and gets the same head. A request without signals (no parameter,
/// or an empty body) has an empty object, as in the Go SDK; only invalid JSON is an error.
pub fn read_signals(request: &Request) -> Result<Value, SignalsError> {
    let empty = || Value::Object(Vec::new());
    if matches!(request.method(), "GET" | "HEAD" | "DELETE") {
        return match request.query_param("datastar") {
            Some(text) if !text.trim().is_empty() => json::parse(text).map_err(SignalsError::Invalid),
            _ => Ok(empty()),
        };
    }
    let body = request.body();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(empty());
    }
    json::parse_bytes(body).map_err(SignalsError::Invalid)
}

/// Whether the request came from Datastar (it sends `datastar-request: true`).
pub fn is_datastar_request(request: &Request) -> bool {
    request.header("datastar-request").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}
