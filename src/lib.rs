//! # bare-sse: Server-Sent Events with nothing but `std`
//!
//! Server-Sent Events (SSE) is the simplest way to push a live stream from a server to browsers:
//! the browser opens `new EventSource(url)`, the server answers with `Content-Type:
//! text/event-stream` and keeps the response open, writing one small text block per event. The
//! browser reconnects on its own when the connection drops, and tells the server the id of the last
//! event it saw, so nothing is lost.
//!
//! This crate is that whole story in plain Rust with no dependencies: an event encoder, a hand
//! written HTTP/1.1 server on `std::net`, and a hub that keeps events with ids and fans every event
//! out to every client.
//!
//! # Layers
//!
//! Each module imports only from the layers below it, and none from a higher one:
//!
//! 1. **protocol, pure:** `event`, `parse`, `http`, `json`, `jwt`, `topic`, `redis::resp`,
//!    `compress` (bytes in, values out; no I/O);
//! 2. **the hub's core:** `hub`'s registry, feeds, routing, history and timing (no sockets, no
//!    threads, no clock: the time is an argument);
//! 3. **the hub's runtime:** its lock, flusher and catch-up threads, and the Redis backplane; the
//!    contract with a client's connection (`hub::sink`) is the hub's, implemented by the server;
//! 4. **transport:** `server`, `client`, and the socket helpers they share;
//! 5. **faces:** `datastar`, `mercure`, `shared_source`, and the `bare-sse` command line.
//!
//! # Quick start
//!
//! ```
//! use bare_sse::{start_sse_tcp_port, Event, EventSource};
//!
//! // Serve on 127.0.0.1; port 0 picks a free port (use a fixed one, e.g. 8122, in a real program).
//! let server = start_sse_tcp_port(0)?;
//! server.send_new_event(Event::new().data("kept for late joiners").with_id())?;
//!
//! // A client: a browser's `new EventSource(url)`, curl, or this crate's own EventSource.
//! let mut events = EventSource::new(&format!("http://{}/events", server.local_addr()))?;
//! let event = events.next().expect("a stream never ends on its own")?;
//! assert_eq!(event.data, "kept for late joiners");
//! assert!(event.last_event_id.ends_with("-1")); // hub ids are `<epoch>-<n>`
//!
//! server.stop(); // closes the listener and every client, joins every connection thread
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! On the wire, that event is three lines of text after the response head:
//!
//! ```text
//! HTTP/1.1 200 OK
//! Content-Type: text/event-stream; charset=utf-8
//! Cache-Control: no-cache
//! Transfer-Encoding: chunked
//! ...
//!
//! id: 1764391308123-1
//! data: kept for late joiners
//!
//! ```
//!
//! (each event travels as one chunk of the chunked body, so every HTTP client hands it over the
//! moment it arrives).
//!
//! # Map of the crate
//!
//! - [`Event`], [`write_event`], [`write_comment`]: events and their wire format ([`event`] module).
//! - [`Hub`]: the hub: clients, history, ids, fan-out ([`hub`] module); its lifecycle hooks tell
//!   the program of each client that joins and leaves ([`hub::hooks`]).
//! - [`Server`], [`start_sse_tcp_port`]: the HTTP/1.1 server, routes, [`Request`] and
//!   [`Response`] ([`server`] module); [`ServerBuilder::route_metrics`] serves its counters and
//!   its hubs' in the Prometheus text format.
//! - [`EventStream`]: one client's stream, fed by a handler ([`stream`] module).
//! - [`parse::Parser`], [`parse::EventReader`], [`read_event`]: reading an event stream ([`parse`]).
//! - [`EventSource`]: a reconnecting client, like a browser's ([`client`] module).
//! - [`datastar`]: the Datastar SDK: patch the browser's DOM and signals over SSE.
//! - [`shared_source`]: a browser script that shares one stream between every tab of a site.
//! - [`json`]: a small JSON value, strict parser and compact writer.
//! - [`jwt`]: JSON Web Tokens signed with HS256: verify, check claims, sign (a building block of
//!   Mercure authorization; SHA-256, HMAC and base64url inside).
//! - [`mercure`]: the Mercure protocol, so far what an access token grants ([`mercure::claims`]).
//! - [`http`]: request-head parsing with limits, URL decoding, response heads (pure functions).
//! - [`compress`]: write profiles, [`compress::Gzip`] among them, for compressed streams.
//! - [`redis`]: the Redis client under the backplane (RESP2 and a blocking connection), usable on
//!   its own.
//! - [`topic`]: topics and the matchers that select them, as Mercure defines them (`match`,
//!   `match_urlpattern`): a WHATWG URL parser, URL patterns matched in linear time, subscription
//!   selectors and a cache of their results (pure).
//!
//! Every limit (request head size, request time, bytes queued per client, history, connections)
//! has a default constant and a setter on [`HubBuilder`] or [`ServerBuilder`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Every public function that can fail or panic says when, in `# Errors` and `# Panics` sections.
#![warn(clippy::missing_errors_doc, clippy::missing_panics_doc)]

mod backoff;
pub mod client;
pub mod compress;
pub mod datastar;
mod error;
pub mod event;
pub mod http;
pub mod hub;
#[doc(hidden)]
pub mod internals;
mod jitter;
pub mod json;
pub mod jwt;
pub mod mercure;
mod net;
pub mod parse;
pub mod redis;
pub mod server;
pub mod shared_source;
pub mod stream;
#[cfg(test)]
mod test_inflate;
#[cfg(test)]
mod test_support;
pub mod topic;

pub use client::{ClientError, EventSource};
pub use error::Error;
pub use event::{check_event_id, write_comment, write_event, Event, MAX_EVENT_ID_BYTES};
pub use hub::{Hub, HubBuilder, Stats};
pub use parse::{read_event, MessageEvent};
pub use server::{start_sse_tcp_port, AllowOrigin, Request, Response, Server, ServerBuilder};
pub use stream::EventStream;

/// The README's Rust examples, compiled (and run, where they do not serve forever) as doctests,
/// so that the README cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
