//! The Datastar SDK: patch the browser's DOM and signals over SSE, byte-compatible with every other
//! Datastar SDK.
//!
//! Datastar's browser library sends its state ("signals") as JSON with each request and applies
//! the events the server answers with. Two event types carry everything:
//! `datastar-patch-elements` (HTML into the DOM) and `datastar-patch-signals` (an RFC 7386 merge
//! patch into the signals).
//!
//! ```
//! use bare_sse::datastar::{self, DatastarStream, ElementOptions, Mode};
//! use bare_sse::json::Value;
//! use bare_sse::server::{Request, Response};
//!
//! fn increment(request: &Request) -> Response {
//!     let count = datastar::read_signals(request).ok().and_then(|s| s.get("count")?.as_i64()).unwrap_or(0);
//!     datastar::response(move |stream| {
//!         let patch = Value::Object(vec![("count".into(), Value::from(count + 1))]);
//!         let _ = stream.patch_signals(&patch, Default::default());
//!         let html = format!("<li>now {}</li>", count + 1);
//!         let _ = stream.patch_elements(&html, ElementOptions::new().selector("#log").mode(Mode::Append));
//!     })
//! }
//! # let _ = increment;
//! ```
//!
//! The functions that build events ([`patch_elements`], [`patch_signals`], ...) return plain
//! [`Event`](crate::Event)s, so a hub can broadcast them to every page too; [`DatastarStream`] offers the same
//! operations as methods of a per-connection [`EventStream`](crate::EventStream).
//!
//! On the wire, defaults are left out (mode `outer`, namespace `html`, `useViewTransition false`,
//! `onlyIfMissing false`), and fields come in the order the specification gives: `event`, `id`,
//! `retry`, then the data lines. An event's id and retry are set on the [`Event`](crate::Event) a builder
//! returns, as for any other event.

use std::time::Duration;

pub mod action;
mod events;
mod one_shot;
mod request;
mod script;
mod stream;

pub use events::{
    patch_elements, patch_signals, remove_elements, remove_signals, ElementOptions, Mode, Namespace, SignalOptions,
    Signals,
};
pub use one_shot::{html_response, script_response, signals_response};
pub use request::{is_datastar_request, read_signals, SignalsError};
pub use script::{
    console_error, console_log, dispatch_custom_event, execute_script, prefetch, redirect, replace_url,
    replace_url_query, CustomEventOptions, ScriptOptions,
};
pub use stream::{response, DatastarStream};

/// The event that patches HTML elements into the DOM.
pub const PATCH_ELEMENTS: &str = "datastar-patch-elements";
/// The event that patches signals.
pub const PATCH_SIGNALS: &str = "datastar-patch-signals";
/// The reconnection delay Datastar's browser library assumes: an event need not send it.
pub const DEFAULT_RETRY: Duration = Duration::from_secs(1);
/// The CDN address of the Datastar browser library version the examples are written for.
pub const CDN_URL: &str = "https://cdn.jsdelivr.net/gh/starfederation/datastar@v1.0.2/bundles/datastar.js";
