//! The server: a `TcpListener`, an accept loop, and one thread per connection.
//!
//! Each connection thread reads and checks the request head, answers errors and preflights, and for
//! a stream: sends the response head and the history the client missed, hands the client to the
//! hub's writer threads, and then watches the socket's read side so that a client that leaves is
//! noticed at once (a closed socket makes the blocked read return). See `connection.rs` for the
//! routing rules.
//!
//! Limits (all settable on [`ServerBuilder`]): request head size and field count, time to send the
//! head, and open connections. Past the connection limit the server still answers, briefly, with
//! `200`, a `retry:` and a close: browsers come back after that delay, whereas any error status
//! would make them give up for good.
//!
//! [`Server::stop`] ends every stream at once; [`Server::drain`] ends them over a period, each
//! told its own reconnection time, so that their clients do not all come back together (see
//! `drain.rs`).
//!
//! # Where things live
//!
//! | file | what lives there |
//! |---|---|
//! | this file | [`Server`]: a running server, its counters, `stop`; [`start_sse_tcp_port`] |
//! | `builder.rs` | [`ServerBuilder`], the defaults and bounds of every limit, `start`, and the routes the server answers itself |
//! | `shared.rs` | what the server's threads share: settings, routes, hub, and the registry of open connections |
//! | `accept.rs` | the accept loop: admitting a connection, making room past the limit, and how `stop` ends the loop |
//! | `connection.rs` | one connection's requests, start to end, persistent or not |
//! | `request.rs`, `response.rs`, `router.rs`, `cors.rs` | what a handler sees and answers, routing, cross-origin rules |
//! | `stream_socket.rs` | the one owner of a streaming client's socket: framing, write turn, mode, heartbeats, departure, end |
//! | `event_stream.rs` | a handler's per-connection [`EventStream`] on that socket |
//! | `hub_client.rs` | a hub's client on that socket, which the hub writes to through its `Sink` |
//! | `late_watch.rs` | departure watches that start once a per-connection stream lasts |
//! | `overflow.rs` | connections past the limit, answered without a thread each |
//! | `drain.rs` | ending every stream over a period ([`Server::drain`]) |
//! | `metrics.rs` | counters and their Prometheus exposition |
//! | `embed.rs` | [`serve_connection`] and [`serve_request`], for programs that own their listener |
//!
//! The server imports from the hub only its public API and the contract the hub states for a
//! client's connection (`crate::hub::Sink`): the hub never sees the server.

mod accept;
mod builder;
mod connection;
mod cors;
mod drain;
mod embed;
mod event_stream;
mod hub_client;
mod late_watch;
mod linger;
mod metrics;
mod overflow;
mod request;
mod response;
mod router;
mod shared;
mod stream_socket;

use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::{Error, Event, Hub};
use accept::stop_accept_loop;
pub use builder::{
    ServerBuilder, DEFAULT_KEEP_ALIVE_TIMEOUT, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_REQUESTS_PER_CONNECTION, DEFAULT_OVERLOAD_RETRY, DEFAULT_REQUEST_TIMEOUT, DEFAULT_STREAM_HEARTBEAT,
    DEFAULT_STREAM_WRITE_TIMEOUT, MAX_KEEP_ALIVE_TIMEOUT, MAX_REQUEST_TIMEOUT, MAX_STREAM_HEARTBEAT,
    MAX_STREAM_WRITE_TIMEOUT, MIN_STREAM_HEARTBEAT, MIN_STREAM_WRITE_TIMEOUT,
};
pub use cors::{AllowOrigin, DEFAULT_ALLOWED_HEADERS};
use drain::StreamBody;
pub use drain::{
    Drain, DrainAnswer, DEFAULT_DRAIN_RETRY_MAX, DEFAULT_DRAIN_RETRY_MIN, MAX_DRAIN_PERIOD, MAX_DRAIN_RETRY,
};
pub use embed::{serve_connection, serve_request};
pub use event_stream::EventStream;
pub use metrics::METRICS_CONTENT_TYPE;
pub use request::Request;
pub use response::Response;
pub use router::Handler;
use shared::{Shared, TrackedStream};
pub(crate) use stream_socket::StreamSocket;

/// Stack of the threads that run user code: connection threads (handlers, stream closures) and
/// stream watchers (`on_close` callbacks). User code needs room (a JSON document at the depth
/// limit, a template engine), and only the pages a thread touches are resident, so an idle stream
/// costs the same two pages as with a small stack. Under 2 MiB, so that no stack can be backed by
/// a transparent huge page.
pub(crate) const USER_CODE_STACK_BYTES: usize = 1024 * 1024;
/// How long `stop_with_event` waits for the last event to reach the clients.
const FINAL_EVENT_TIMEOUT: Duration = Duration::from_secs(2);

/// A running server. Dropping it stops it (see [`Server::stop`]), so keep it for as long as it
/// should serve.
#[must_use = "dropping a Server stops it at once; keep it in a variable"]
pub struct Server {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    accept_thread: Mutex<Option<JoinHandle<()>>>,
}

impl Server {
    /// Settings for a server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The address the server listens on, with the real port when port 0 was asked for.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The hub this server serves.
    pub fn hub(&self) -> &Hub {
        &self.shared.hub
    }

    /// Sends an event to every client of the hub; see [`Hub::send_new_event`].
    ///
    /// # Errors
    ///
    /// Those of [`Hub::send_new_event`].
    pub fn send_new_event(&self, event: impl std::borrow::Borrow<Event>) -> Result<(), Error> {
        self.shared.hub.send_new_event(event)
    }

    /// Clients streaming from the hub now (on every server that serves it).
    pub fn clients(&self) -> usize {
        self.shared.hub.clients()
    }

    /// Connections open on this server now, streaming or not.
    pub fn connections(&self) -> usize {
        self.shared.lock_connections().sockets.len()
    }

    /// Connections waiting for their next request now (persistent connections between requests):
    /// the first to be closed when the server is full. A gauge for operators, beside
    /// [`connections`](Self::connections): how much of
    /// [`max_connections`](ServerBuilder::max_connections) is held by keep-alive rather than by
    /// requests and streams, and so whether
    /// [`keep_alive_timeout`](ServerBuilder::keep_alive_timeout) suits the load.
    pub fn idle_connections(&self) -> usize {
        self.shared.lock_connections().idle.len()
    }

    /// The server's counters and those of the hubs it serves, in the Prometheus text format 0.0.4
    /// ([`METRICS_CONTENT_TYPE`]): what [`ServerBuilder::route_metrics`] serves.
    pub fn metrics(&self) -> String {
        self.shared.metrics.render()
    }

    /// Stops the server: closes the listener and every connection, and joins every connection
    /// thread. Every stream's body is ended properly first (the last chunk, after a write
    /// profile's end), between two events, so that clients see a complete response. The hub
    /// lives on with its history and id counter (and its flusher threads, until the last [`Hub`]
    /// is dropped), and can be served again. Safe to call twice.
    ///
    /// Bounded: a stream blocked writing to a client that does not read is cut after at most half a
    /// second, since closing a socket ends any write to it; and if the server cannot connect to
    /// itself to wake its accept loop (no file descriptor left), `stop` returns after at most two
    /// seconds, and the listener closes when the next connection arrives.
    pub fn stop(&self) {
        let accept_thread = self.accept_thread.lock().unwrap_or_else(PoisonError::into_inner).take();
        let Some(accept_thread) = accept_thread else { return };
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.wake_drain();
        stop_accept_loop(self.local_addr, accept_thread);
        self.shared.end_streams();
        let threads = {
            let mut connections = self.shared.lock_connections();
            for socket in connections.sockets.values() {
                let _ = socket.shutdown(Shutdown::Both);
            }
            std::mem::take(&mut connections.threads)
        };
        // Streams whose watch has not started yet are closed, so that no closure waits for one.
        self.shared.watch_starter.stop();
        for thread in threads {
            let _ = thread.join();
        }
        // The accept loop has ended and dropped its end of the channel, so the answerer returns.
        let overflow = self.shared.overflow_thread.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(overflow) = overflow {
            let _ = overflow.join();
        }
    }

    /// Sends a last event, waits briefly for it to reach the clients, then stops.
    ///
    /// # Errors
    ///
    /// Those of [`Hub::send_new_event`], for the last event; the server stops all the same.
    pub fn stop_with_event(&self, event: impl std::borrow::Borrow<Event>) -> Result<(), Error> {
        let sent = self.send_new_event(event);
        if sent.is_ok() {
            self.shared.hub.flush(FINAL_EVENT_TIMEOUT);
        }
        self.stop();
        sent
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("local_addr", &self.local_addr).finish_non_exhaustive()
    }
}

/// Starts a server for a new hub on `127.0.0.1:port`, streaming on every path: the one-call way to
/// serve events (Racket's `start-sse-tcp-port`). It takes no routes: for pages, handlers, hubs on
/// paths of their own or any other setting, build the server with [`Server::builder`] (its
/// [`route`](ServerBuilder::route) calls and [`start`](ServerBuilder::start)).
///
/// ```
/// use bare_sse::{start_sse_tcp_port, Event};
///
/// let server = start_sse_tcp_port(0)?; // 0: any free port
/// server.send_new_event(Event::new().data("Hello World!"))?;
/// server.stop();
/// # Ok::<(), bare_sse::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::Io`] when the port is taken or cannot be bound (see [`ServerBuilder::start`]).
pub fn start_sse_tcp_port(port: u16) -> Result<Server, Error> {
    Server::builder().port(port).start()
}
