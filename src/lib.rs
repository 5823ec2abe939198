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
//! # Quick start
//!
//! ```
//! use bare_sse::{start_sse_tcp_port, Event};
//! use std::io::{BufRead, BufReader, Write};
//!
//! // Serve on 127.0.0.1; port 0 picks a free port (use a fixed one, e.g. 8122, in a real program).
//! let server = start_sse_tcp_port(0)?;
//! server.send_new_event(Event::new().data("kept for late joiners").with_id())?;
//!
//! // A client: any HTTP client or a browser's EventSource. Here, by hand.
//! let mut socket = std::net::TcpStream::connect(server.local_addr())?;
//! socket.write_all(b"GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
//! let mut reader = BufReader::new(socket);
//! let mut line = String::new();
//! reader.read_line(&mut line)?;
//! assert_eq!(line, "HTTP/1.1 200 OK\r\n");
//! while line != "\r\n" {                    // skip the response headers
//!     line.clear();
//!     reader.read_line(&mut line)?;
//! }
//! let mut event = String::new();
//! while !event.ends_with("\n\n") {
//!     reader.read_line(&mut event)?;
//! }
//! assert_eq!(event, "id: 1\ndata: kept for late joiners\n\n");
//!
//! server.stop(); // closes the listener and every client, joins every thread
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Map of the crate
//!
//! - [`Event`], [`write_event`], [`write_comment`]: events and their wire format ([`event`] module).
//! - [`Sse`]: the hub: clients, history, ids, fan-out ([`hub`] module).
//! - [`Server`], [`start_sse_tcp_port`]: the HTTP/1.1 server, routes, [`Request`] and
//!   [`Response`] ([`server`] module).
//! - [`Stream`]: one client's stream, fed by a handler ([`stream`] module).
//! - [`parse::Parser`], [`parse::EventReader`], [`read_event`]: reading an event stream ([`parse`]).
//! - [`EventSource`]: a reconnecting client, like a browser's ([`client`] module).
//! - [`datastar`]: the Datastar SDK: patch the browser's DOM and signals over SSE.
//! - [`json`]: a small JSON value, strict parser and compact writer.
//! - [`http`]: request-head parsing with limits, URL decoding, response heads (pure functions).
//!
//! Every limit (request head size, request time, bytes queued per client, history, connections)
//! has a default constant and a setter on [`SseBuilder`] or [`ServerBuilder`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod datastar;
mod error;
pub mod event;
pub mod http;
pub mod hub;
pub mod json;
pub mod parse;
pub mod server;
pub mod stream;
#[cfg(test)]
mod test_support;

pub use client::EventSource;
pub use error::Error;
pub use event::{write_comment, write_event, Event};
pub use hub::{Sse, SseBuilder, Stats};
pub use parse::{read_event, MessageEvent};
pub use server::{start_sse_tcp_port, AllowOrigin, Request, Response, Server, ServerBuilder};
pub use stream::Stream;
