//! What a Datastar request carries: its signals, and the header that marks it.

use std::fmt;

use crate::json::{self, Value};
use crate::server::Request;

/// Why a request carried no usable signals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalsError {
    /// A GET without a `datastar` query parameter, or a request with an empty body.
    Missing,
    /// The signals are not valid JSON.
    Invalid(json::ParseError),
}

impl fmt::Display for SignalsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignalsError::Missing => f.write_str("the request carries no Datastar signals"),
            SignalsError::Invalid(error) => write!(f, "the request's Datastar signals are not valid JSON: {error}"),
        }
    }
}

impl std::error::Error for SignalsError {}

/// Reads the signals a Datastar request carries: for GET, the `datastar` query parameter (URL
/// encoded JSON); for every other method, the JSON body.
pub fn read_signals(request: &Request) -> Result<Value, SignalsError> {
    let text = if request.method() == "GET" {
        request.query_param("datastar").ok_or(SignalsError::Missing)?
    } else {
        let body = request.body();
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(SignalsError::Missing);
        }
        return json::parse_bytes(body).map_err(SignalsError::Invalid);
    };
    json::parse(text).map_err(SignalsError::Invalid)
}

/// Whether the request came from Datastar (it sends `datastar-request: true`).
pub fn is_datastar_request(request: &Request) -> bool {
    request.header("datastar-request").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}
