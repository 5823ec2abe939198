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
//! An answer whose events are all known when the handler returns is [`events_response`]: one
//! write, and no stream to run. Answers of one patch can also be one-shot responses
//! ([`html_response`], [`signals_response`], [`script_response`]), which the browser library
//! applies as one event.
//!
//! # Reconnecting
//!
//! Datastar's browser library reads streams with `fetch`. It retries a stream only when the
//! request fails on the network: first after 1 s (or the stream's `retry:`), doubling up to 30 s,
//! 10 times, sending the last id received as `last-event-id`. A stream that ends cleanly (as
//! every stream does when its server stops) is reopened only with `retry: 'always'`
//! ([`action::Retry::Always`]). So a page that must survive a server restart keeps one
//! long-lived `@get` stream, with that option, on a hub route, and the server sends the whole region the page shows as one event with an id
//! (`event.with_id()`), with history of at least one event: a page that reconnects, or opens
//! later, gets the current region at once, and one resuming from before a restart gets the hub's
//! reset event and then the latest region. `examples/datastar_counter.rs` works this way.
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
pub use request::{is_datastar_request, read_signals};
pub use script::{
    console_error, console_log, dispatch_custom_event, execute_script, prefetch, redirect, replace_url,
    replace_url_query, CustomEventOptions, ScriptOptions,
};
pub use stream::{events_response, response, DatastarStream};

/// The event that patches HTML elements into the DOM.
pub const PATCH_ELEMENTS: &str = "datastar-patch-elements";
/// The event that patches signals.
pub const PATCH_SIGNALS: &str = "datastar-patch-signals";
/// The reconnection delay Datastar's browser library assumes: an event need not send it.
pub const DEFAULT_RETRY: Duration = Duration::from_secs(1);
/// The CDN address of the Datastar browser library version the examples are written for.
pub const CDN_URL: &str = "https://cdn.jsdelivr.net/gh/starfederation/datastar@v1.0.2/bundles/datastar.js";
