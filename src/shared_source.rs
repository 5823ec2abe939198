//! One event stream for every tab of a site: a browser script that shares a stream between tabs.
//!
//! Browsers open at most six HTTP/1.1 connections to one origin, and an event stream keeps one
//! open for as long as its page is open. Six tabs of a page that reads a stream use them all: a
//! seventh tab of the same site never loads, and neither does anything else from that origin. This
//! server speaks HTTP/1.1 only; HTTP/2 puts every stream of an origin on one connection, so a
//! reverse proxy that speaks HTTP/2 to browsers is the other answer (see the README).
//!
//! [`SCRIPT`] defines `SharedEventSource` in the page: `new SharedEventSource(url)` behaves like
//! `new EventSource(url)`, but only one tab, the leader, holds the connection; it passes every
//! event to the other tabs of the origin. When the leader closes, another tab takes over at once
//! and resumes after the last event id it received (in the `lastEventId` query parameter, which
//! the server reads as it reads `Last-Event-ID`), and every tab drops events it has already
//! received, so across the change no tab misses or repeats an event with an id. A tab opened later
//! first gets the events with ids that the tabs already received (up to the `history` option,
//! 1000 by default), as a new `EventSource` gets the hub's history. Events without an id are
//! delivered live only, as a hub delivers them. A tab that takes over before it ever caught up (it
//! opened just as the leader closed) reads the stream from the start, and the other tabs drop
//! what they hold: keep `history` at least as long as the hub's.
//!
//! Extensions over `EventSource`: `source.onevent` is called with every event whatever its type,
//! each event's `id` is its own id (or `null` when it had none, where `lastEventId` would repeat
//! the previous one), and `source.leading` says whether this tab holds the connection. Where the
//! browser lacks Web Locks (they need a secure context: `https`, or `http` on `localhost`) or
//! `BroadcastChannel`, each tab reads the stream on its own.
//!
//! ```
//! use bare_sse::server::{Request, Response};
//! use bare_sse::{shared_source, Hub, Server};
//!
//! let page = r#"<script src="/bare-sse/shared-source.js"></script>
//! <script>
//!   const source = new SharedEventSource("/events");
//!   source.onmessage = (event) => console.log(event.lastEventId, event.data);
//! </script>"#;
//! let server = Server::builder()
//!     .route("/", move |_: &Request| Response::html(page))
//!     .route_handler(shared_source::SCRIPT_PATH, shared_source::Script)
//!     .route_hub("/events", Hub::new())
//!     .start()?;
//! # server.stop();
//! # Ok::<(), bare_sse::Error>(())
//! ```

use crate::server::{Handler, Request, Response};

/// The script, JavaScript for a classic `<script>` element: it defines `SharedEventSource`.
pub const SCRIPT: &str = include_str!("shared_source.js");

/// Where `bare-sse serve --page` serves [`SCRIPT`], and a good place for any server to.
pub const SCRIPT_PATH: &str = "/bare-sse/shared-source.js";

/// A [`Handler`] that answers `GET` and `HEAD` with [`SCRIPT`]:
/// `.route_handler(shared_source::SCRIPT_PATH, shared_source::Script)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Script;

impl Handler for Script {
    fn handle(&self, _request: &Request) -> Response {
        script_response()
    }

    fn methods(&self) -> Option<&'static [&'static str]> {
        Some(&["GET", "HEAD"])
    }
}

/// [`SCRIPT`] as a response (`text/javascript`), for a handler of your own.
pub fn script_response() -> Response {
    // Revalidated on each load: a page always runs the script of the server it talks to.
    Response::new(200)
        .header("Content-Type", "text/javascript; charset=utf-8")
        .header("Cache-Control", "no-cache")
        .body(SCRIPT)
}
