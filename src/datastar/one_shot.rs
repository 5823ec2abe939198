//! One-shot responses: instead of an event stream, a plain response that Datastar's browser
//! library applies as it would one event. The body is the payload and the options travel in
//! `datastar-*` headers, left out at their defaults:
//!
//! | content type | applied as | headers |
//! |---|---|---|
//! | `text/html` | a `datastar-patch-elements` event | `datastar-selector`, `datastar-mode`, `datastar-namespace`, `datastar-use-view-transition` |
//! | `application/json` | a `datastar-patch-signals` event | `datastar-only-if-missing` |
//! | `text/javascript` | a script run in the page | `datastar-script-attributes` (a JSON object) |
//!
//! They suit an action that answers once: no stream to keep open, and the connection serves the
//! page's next request.

use super::events::{ElementOptions, Mode, Namespace, SignalOptions, Signals};
use super::script::is_attribute_name;
use crate::json::{self, Value};
use crate::server::Response;
use crate::Error;

/// A `text/html` response that patches `elements` into the DOM with `options`.
///
/// ```
/// use bare_sse::datastar::{html_response, ElementOptions, Mode};
/// let response = html_response("<li>new</li>", ElementOptions::new().selector("#list").mode(Mode::Append)).unwrap();
/// assert_eq!(response.status(), 200);
/// ```
///
/// # Errors
///
/// [`Error::InvalidField`] (field `selector`) when the selector holds CR, LF or NUL, which a header
/// cannot.
pub fn html_response(elements: &str, options: ElementOptions) -> Result<Response, Error> {
    let mut response = Response::html(elements).header("Cache-Control", "no-cache");
    if let Some(selector) = options.selector.as_deref().filter(|s| !s.is_empty()) {
        response = checked_header(response, "datastar-selector", selector, "selector")?;
    }
    if options.mode != Mode::Outer {
        response = response.header("datastar-mode", options.mode.as_str());
    }
    if options.namespace != Namespace::Html {
        response = response.header("datastar-namespace", options.namespace.as_str());
    }
    if options.use_view_transition {
        response = response.header("datastar-use-view-transition", "true");
    }
    Ok(response)
}

/// An `application/json` response that patches the signals (an RFC 7386 merge patch), as
/// [`patch_signals`](super::patch_signals) would. Raw text must be JSON.
///
/// ```
/// use bare_sse::datastar::{signals_response, SignalOptions};
/// let response = signals_response(r#"{"count": 2}"#, SignalOptions::new().only_if_missing(true)).unwrap();
/// assert_eq!(response.status(), 200);
/// assert!(signals_response("{nope}", SignalOptions::new()).is_err());
/// ```
///
/// # Errors
///
/// [`Error::InvalidJson`] when `signals` is text that is not JSON; a [`Value`] always passes.
pub fn signals_response<'a>(signals: impl Into<Signals<'a>>, options: SignalOptions) -> Result<Response, Error> {
    let body = match signals.into() {
        Signals::Raw(text) => {
            json::parse(text)
                .map_err(|source| Error::InvalidJson { context: "the signals given to signals_response", source })?;
            text.to_string()
        }
        Signals::Value(value) => value.to_string(),
    };
    let mut response =
        Response::new(200).header("Content-Type", "application/json").header("Cache-Control", "no-cache").body(body);
    if options.only_if_missing {
        response = response.header("datastar-only-if-missing", "true");
    }
    Ok(response)
}

/// A `text/javascript` response that the page runs as a script with these `attributes` (for
/// example `("type", "module")`).
///
/// ```
/// let response = bare_sse::datastar::script_response("alert('hi')", &[("type", "module")]).unwrap();
/// assert_eq!(response.status(), 200);
/// ```
///
/// # Errors
///
/// [`Error::InvalidField`] (field `attributes`) when an attribute's name is not a valid HTML
/// attribute name. Values are sent as JSON, which escapes what a header cannot carry.
pub fn script_response(script: &str, attributes: &[(&str, &str)]) -> Result<Response, Error> {
    let mut response = Response::new(200)
        .header("Content-Type", "text/javascript; charset=utf-8")
        .header("Cache-Control", "no-cache")
        .body(script);
    if !attributes.is_empty() {
        if attributes.iter().any(|(name, _)| !is_attribute_name(name)) {
            return Err(Error::InvalidField { field: "attributes", reason: "an attribute name is not valid HTML" });
        }
        let object = attributes.iter().map(|&(name, value)| (name.to_string(), Value::from(value))).collect();
        response =
            checked_header(response, "datastar-script-attributes", &Value::Object(object).to_string(), "attributes")?;
    }
    Ok(response)
}

/// Adds a header whose value came from the caller: one that would break the head is an error.
fn checked_header(response: Response, name: &str, value: &str, field: &'static str) -> Result<Response, Error> {
    response
        .try_header(name, value)
        .map_err(|_| Error::InvalidField { field, reason: "it holds CR, LF or NUL, which a header cannot" })
}
