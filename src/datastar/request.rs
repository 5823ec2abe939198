//! What a Datastar request carries: its signals, and the header that marks it.

use crate::json::{self, Value};
use crate::server::Request;
use crate::Error;

/// Reads the signals a Datastar request carries, where Datastar's browser library puts them: for
/// `GET` and `DELETE`, the `datastar` query parameter (URL-encoded JSON); for every other method
/// (`POST`, `PUT`, `PATCH`, `QUERY`), the JSON body. `HEAD` is a `GET` without the answer's body,
/// so it is read as a `GET` is, and gets the same head. A request without signals (no parameter,
/// or an empty body) has an empty object, as in the Go SDK; only invalid JSON is an error.
///
/// # Errors
///
/// [`Error::InvalidJson`] when the signals are not JSON, or the body is not UTF-8; its
/// [`JsonError`](crate::json::JsonError) gives the byte position. No signals at all is no error.
pub fn read_signals(request: &Request) -> Result<Value, Error> {
    let empty = || Value::Object(Vec::new());
    if matches!(request.method(), "GET" | "HEAD" | "DELETE") {
        return match request.query_param("datastar") {
            Some(text) if !text.trim().is_empty() => json::parse(text).map_err(invalid),
            _ => Ok(empty()),
        };
    }
    let body = request.body();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(empty());
    }
    json::parse_bytes(body).map_err(invalid)
}

/// The error for signals that are not JSON.
fn invalid(source: json::JsonError) -> Error {
    Error::InvalidJson { context: "the request's Datastar signals", source }
}

/// Whether the request came from Datastar (it sends `datastar-request: true`).
pub fn is_datastar_request(request: &Request) -> bool {
    request.header("datastar-request").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}
