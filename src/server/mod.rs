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

mod connection;
mod cors;
mod drain;
mod event_stream;
mod hub_client;
mod late_watch;
mod linger;
mod metrics;
mod overflow;
mod request;
mod response;
mod router;
mod stream_socket;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::http::HeadLimits;
use crate::hub::{clamp_heartbeat, DEFAULT_HEARTBEAT, DEFAULT_WRITE_TIMEOUT, MAX_WRITE_TIMEOUT, MIN_WRITE_TIMEOUT};
use crate::{Error, Event, Hub};
use cors::Cors;
pub use cors::{AllowOrigin, DEFAULT_ALLOWED_HEADERS};
use drain::StreamBody;
pub use drain::{
    Drain, DrainAnswer, DEFAULT_DRAIN_RETRY_MAX, DEFAULT_DRAIN_RETRY_MIN, MAX_DRAIN_PERIOD, MAX_DRAIN_RETRY,
};
pub use event_stream::EventStream;
use metrics::ServerMetrics;
pub use metrics::METRICS_CONTENT_TYPE;
pub use request::Request;
pub use response::Response;
pub use router::Handler;
use router::{Pattern, Route, Router};
pub(crate) use stream_socket::StreamSocket;

/// Open connections allowed at once, by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Time a client has to send its whole request head, by default; then it gets `408`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest request timeout accepted: longer ones are lowered to it. A request that takes an hour
/// to arrive is an attack or a broken client, and a bound keeps the deadline representable.
pub const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// The `retry:` sent to clients turned away past the connection limit, by default.
pub const DEFAULT_OVERLOAD_RETRY: Duration = Duration::from_secs(5);
/// How long a connection may wait for its next request after a complete response, by default;
/// then it is closed.
pub const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest keep-alive timeout accepted: longer ones are lowered to it.
pub const MAX_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// Requests answered on one connection, by default; the last answer says `Connection: close`.
pub const DEFAULT_MAX_REQUESTS_PER_CONNECTION: usize = 1000;
/// Largest request body read for a handler, by default; past it, `413`.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Stack of the threads that run user code: connection threads (handlers, stream closures) and
/// stream watchers (`on_close` callbacks). User code needs room (a JSON document at the depth
/// limit, a template engine), and only the pages a thread touches are resident, so an idle stream
/// costs the same two pages as with a small stack. Under 2 MiB, so that no stack can be backed by
/// a transparent huge page.
pub(crate) const USER_CODE_STACK_BYTES: usize = 1024 * 1024;
/// How long `stop_with_event` waits for the last event to reach the clients.
const FINAL_EVENT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long `stop` waits for streams to end their bodies before it cuts the connections left. A
/// stream whose write turn is free ends at once; one that a hub's flusher is writing to ends
/// within a clock tick; only a write blocked on a client that does not read takes longer, and
/// that client could not read the end anyway.
const STREAM_END_TIMEOUT: Duration = Duration::from_millis(500);
/// How long `stop` keeps trying to wake its accept loop with a connection of its own. When that
/// cannot be made (no file descriptor left, a firewall on the loopback), `stop` returns anyway and
/// the accept loop ends, closing the listener, when the next connection arrives.
const ACCEPT_WAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// The pause between attempts to wake the accept loop.
const ACCEPT_WAKE_RETRY: Duration = Duration::from_millis(50);

/// Settings for a server. Start from [`Server::builder`].
///
/// ```
/// use bare_sse::{Server, Hub};
///
/// let hub = Hub::builder().history_events(100).build();
/// let server = Server::builder().port(0).path("/events").hub(hub).max_connections(500).start().unwrap();
/// assert_ne!(server.local_addr().port(), 0);
/// server.stop();
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `start` is called"]
pub struct ServerBuilder {
    hub: Option<Hub>,
    bind: IpAddr,
    port: u16,
    path: Option<String>,
    pages: Vec<(String, Arc<str>)>,
    /// Paths that answer with the server's metrics.
    metrics_paths: Vec<String>,
    routes: Router,
    /// The hubs among the routes, each with its route's path: the hubs the metrics report.
    hub_routes: Vec<(String, Hub)>,
    max_body_bytes: usize,
    cors: Cors,
    retry: Option<Duration>,
    max_connections: usize,
    head_limits: HeadLimits,
    request_timeout: Duration,
    keep_alive_timeout: Duration,
    max_requests_per_connection: usize,
    overload_retry: Duration,
    stream_heartbeat: Option<Duration>,
    stream_write_timeout: Duration,
    write_profiles: crate::compress::Offers,
}

impl Default for ServerBuilder {
    fn default() -> ServerBuilder {
        ServerBuilder {
            hub: None,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            path: None,
            pages: Vec::new(),
            metrics_paths: Vec::new(),
            routes: Router::default(),
            hub_routes: Vec::new(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            cors: Cors {
                allow_origin: AllowOrigin::Any,
                allow_credentials: false,
                allowed_headers: DEFAULT_ALLOWED_HEADERS.iter().map(|h| h.to_string()).collect(),
            },
            retry: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            head_limits: HeadLimits::default(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            keep_alive_timeout: DEFAULT_KEEP_ALIVE_TIMEOUT,
            max_requests_per_connection: DEFAULT_MAX_REQUESTS_PER_CONNECTION,
            overload_retry: DEFAULT_OVERLOAD_RETRY,
            stream_heartbeat: Some(DEFAULT_HEARTBEAT),
            stream_write_timeout: DEFAULT_WRITE_TIMEOUT,
            write_profiles: crate::compress::Offers::default(),
        }
    }
}

impl ServerBuilder {
    /// The hub to serve (default: a new hub with default settings).
    pub fn hub(mut self, hub: Hub) -> ServerBuilder {
        self.hub = Some(hub);
        self
    }

    /// The address to listen on (default `127.0.0.1`: this machine only). Use `0.0.0.0` to accept
    /// connections from other machines.
    pub fn bind(mut self, address: IpAddr) -> ServerBuilder {
        self.bind = address;
        self
    }

    /// The port (default 0: the system picks a free one; see [`Server::local_addr`]).
    pub fn port(mut self, port: u16) -> ServerBuilder {
        self.port = port;
        self
    }

    /// Serves the server's hub only on this path (matched after percent-decoding, query ignored).
    /// Without it, the hub streams on every path, unless routes are added: then unrouted paths get
    /// `404`.
    pub fn path(mut self, path: impl Into<String>) -> ServerBuilder {
        self.path = Some(path.into());
        self
    }

    /// Also answers `GET` and `HEAD` on `path` with this HTML page (for a dashboard or a demo next to
    /// the stream). Pages take precedence over the stream path.
    pub fn page(mut self, path: impl Into<String>, html: impl Into<Arc<str>>) -> ServerBuilder {
        self.pages.push((path.into(), html.into()));
        self
    }

    /// Routes requests for exactly `path` (decoded), any method, to a closure. Earlier routes
    /// win. The closure's argument needs no type: `.route("/", |request| …)`.
    pub fn route<F>(self, path: impl Into<String>, handler: F) -> ServerBuilder
    where
        F: Fn(&Request) -> Response + Send + Sync + 'static,
    {
        self.add_route(Pattern::Exact(path.into()), None, handler)
    }

    /// Routes requests for `prefix` and every path below it (`/api` takes `/api` and `/api/x`) to
    /// a closure.
    pub fn route_prefix<F>(self, prefix: impl Into<String>, handler: F) -> ServerBuilder
    where
        F: Fn(&Request) -> Response + Send + Sync + 'static,
    {
        self.add_route(Pattern::Prefix(prefix.into()), None, handler)
    }

    /// Routes requests for exactly `path` with this method only to a closure; other methods on the
    /// path get `405` (unless another route takes them).
    pub fn route_method<F>(self, method: &str, path: impl Into<String>, handler: F) -> ServerBuilder
    where
        F: Fn(&Request) -> Response + Send + Sync + 'static,
    {
        self.add_route(Pattern::Exact(path.into()), Some(method.to_string()), handler)
    }

    /// Streams `hub` on exactly `path` (`GET` and `HEAD`): each client gets its history and every
    /// event after it.
    pub fn route_hub(self, path: impl Into<String>, hub: Hub) -> ServerBuilder {
        self.add_route(Pattern::Exact(path.into()), None, hub)
    }

    /// Routes requests for exactly `path` to any [`Handler`]: a type of your own, a closure, or a
    /// hub. [`route`](Self::route) and [`route_hub`](Self::route_hub) are the same for closures and
    /// hubs, with the closure's argument type inferred.
    pub fn route_handler(self, path: impl Into<String>, handler: impl Handler) -> ServerBuilder {
        self.add_route(Pattern::Exact(path.into()), None, handler)
    }

    /// Answers `GET` and `HEAD` on exactly `path` with the server's metrics, and those of the hubs
    /// it serves, in the Prometheus text format ([`Server::metrics`]; see `src/server/metrics.rs`
    /// for every series). Like a [`page`](Self::page), it takes precedence over the hub and the
    /// other routes, and leaves a hub that streams on every path streaming on every other one.
    /// It answers whoever can reach the server, with the server's CORS settings, like every route.
    pub fn route_metrics(mut self, path: impl Into<String>) -> ServerBuilder {
        self.metrics_paths.push(path.into());
        self
    }

    fn add_route(mut self, pattern: Pattern, method: Option<String>, handler: impl Handler) -> ServerBuilder {
        // A hub among the routes is reported by the metrics, under its route's path.
        if let Some(hub) = (&handler as &dyn std::any::Any).downcast_ref::<Hub>() {
            let (Pattern::Exact(path) | Pattern::Prefix(path)) = &pattern;
            self.hub_routes.push((path.clone(), hub.clone()));
        }
        self.routes.routes.push(Route { pattern, method, handler: Arc::new(handler) });
        self
    }

    /// Largest request body read for a handler, `Content-Length` or chunked (default
    /// [`DEFAULT_MAX_BODY_BYTES`]); past it, `413`.
    pub fn max_body_bytes(mut self, bytes: usize) -> ServerBuilder {
        self.max_body_bytes = bytes;
        self
    }

    /// Which origins may read the stream (default [`AllowOrigin::Any`]).
    pub fn allow_origin(mut self, allow: AllowOrigin) -> ServerBuilder {
        self.cors.allow_origin = allow;
        self
    }

    /// Answers `withCredentials` requests: echo a listed origin and send
    /// `Access-Control-Allow-Credentials: true` (default off). Needs [`AllowOrigin::List`]:
    /// [`start`](Self::start) refuses it with [`AllowOrigin::Any`], which would let any site read
    /// a credentialed stream.
    pub fn allow_credentials(mut self, allow: bool) -> ServerBuilder {
        self.cors.allow_credentials = allow;
        self
    }

    /// The request headers a CORS preflight may ask for (default [`DEFAULT_ALLOWED_HEADERS`]).
    pub fn allow_headers<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> ServerBuilder {
        self.cors.allowed_headers = names.into_iter().map(Into::into).collect();
        self
    }

    /// Sends `retry:` first on every stream, setting the client's reconnection delay (default:
    /// none, so browsers use their own, about 3 s). Sent in milliseconds.
    pub fn retry(mut self, delay: Option<Duration>) -> ServerBuilder {
        self.retry = delay;
        self
    }

    /// Sends a comment on a per-connection stream after this much silence (default
    /// [`DEFAULT_HEARTBEAT`]; `None` turns it off; kept between
    /// [`MIN_HEARTBEAT`](crate::hub::MIN_HEARTBEAT) and [`MAX_HEARTBEAT`](crate::hub::MAX_HEARTBEAT)).
    /// A hub sends its own heartbeats; see [`HubBuilder::heartbeat`](crate::HubBuilder::heartbeat).
    pub fn stream_heartbeat(mut self, interval: Option<Duration>) -> ServerBuilder {
        self.stream_heartbeat = interval.map(clamp_heartbeat);
        self
    }

    /// How long a write to a per-connection stream's client may make no progress before the stream
    /// is closed (default [`DEFAULT_WRITE_TIMEOUT`], kept between [`MIN_WRITE_TIMEOUT`] and
    /// [`MAX_WRITE_TIMEOUT`]). A hub has its own; see
    /// [`HubBuilder::write_timeout`](crate::HubBuilder::write_timeout).
    pub fn stream_write_timeout(mut self, timeout: Duration) -> ServerBuilder {
        self.stream_write_timeout = timeout.clamp(MIN_WRITE_TIMEOUT, MAX_WRITE_TIMEOUT);
        self
    }

    /// Offers a write profile (for example [`Gzip`](crate::compress::Gzip)) for the body of every
    /// per-connection stream (Datastar responses included), after any a response offers itself;
    /// used when the request's `Accept-Encoding` accepts its coding. Off by default. Hub streams
    /// are not compressed. Mind the BREACH rule in [`compress`](crate::compress).
    pub fn write_profile(mut self, profile: std::sync::Arc<dyn crate::compress::WriteProfile>) -> ServerBuilder {
        self.write_profiles.0.push(profile);
        self
    }

    /// Most connections open at once (default [`DEFAULT_MAX_CONNECTIONS`]). Past it, a client gets
    /// `200`, `retry:` [`overload_retry`](Self::overload_retry) and a close, so a browser tries again
    /// later instead of giving up.
    pub fn max_connections(mut self, count: usize) -> ServerBuilder {
        self.max_connections = count;
        self
    }

    /// The `retry:` sent to clients turned away by the connection limit (default
    /// [`DEFAULT_OVERLOAD_RETRY`]).
    pub fn overload_retry(mut self, delay: Duration) -> ServerBuilder {
        self.overload_retry = delay;
        self
    }

    /// Largest request head in bytes (default 8 KiB); past it, `431` (or `414` for a request line
    /// that long).
    pub fn max_head_bytes(mut self, bytes: usize) -> ServerBuilder {
        self.head_limits.max_head_bytes = bytes;
        self
    }

    /// Most header fields in a request (default 64); past it, `431`.
    pub fn max_headers(mut self, count: usize) -> ServerBuilder {
        self.head_limits.max_headers = count;
        self
    }

    /// Time a client has to send its request head and body (default [`DEFAULT_REQUEST_TIMEOUT`],
    /// kept between 1 ms and [`MAX_REQUEST_TIMEOUT`]); past it, `408`. A client that sends a byte
    /// at a time cannot hold a thread for longer.
    pub fn request_timeout(mut self, timeout: Duration) -> ServerBuilder {
        self.request_timeout = timeout.clamp(Duration::from_millis(1), MAX_REQUEST_TIMEOUT);
        self
    }

    /// How long a connection may sit between requests before it is closed (default
    /// [`DEFAULT_KEEP_ALIVE_TIMEOUT`], kept between 1 ms and [`MAX_KEEP_ALIVE_TIMEOUT`]). Once a
    /// request's first byte arrives, [`request_timeout`](Self::request_timeout) applies. A waiting
    /// connection counts against [`max_connections`](Self::max_connections), and is the first
    /// to be closed when a new connection needs its place.
    ///
    /// After a per-connection stream that ends, the wait is noticed when the stream's departure
    /// watch wakes: at its next heartbeat time, so such a connection may wait up to
    /// [`stream_heartbeat`](Self::stream_heartbeat) longer (with heartbeats off, until the client
    /// speaks or its place is needed).
    pub fn keep_alive_timeout(mut self, timeout: Duration) -> ServerBuilder {
        self.keep_alive_timeout = timeout.clamp(Duration::from_millis(1), MAX_KEEP_ALIVE_TIMEOUT);
        self
    }

    /// Most requests answered on one connection (default
    /// [`DEFAULT_MAX_REQUESTS_PER_CONNECTION`], at least 1); the last answer says `Connection:
    /// close`. 1 turns persistent connections off.
    pub fn max_requests_per_connection(mut self, count: usize) -> ServerBuilder {
        self.max_requests_per_connection = count.max(1);
        self
    }

    /// Binds the listener and starts accepting connections.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] for CORS settings that cannot work together (credentials with any
    /// origin); [`Error::Io`] when the address cannot be bound (in use, or not allowed) or the
    /// accept thread cannot start.
    pub fn start(self) -> Result<Server, Error> {
        if let Some(problem) = self.cors.problem() {
            return Err(Error::InvalidSetting(problem.to_string()));
        }
        let address = SocketAddr::new(self.bind, self.port);
        let listener = TcpListener::bind(address).map_err(|e| Error::io(format!("binding {address}"), e))?;
        let local_addr = listener.local_addr().map_err(|e| Error::io("reading the bound address", e))?;
        let shared = Arc::new(Shared::new(self));
        let accept_shared = Arc::clone(&shared);
        let accept_thread = thread::Builder::new()
            .name(format!("bare-sse-accept-{}", local_addr.port()))
            .spawn(move || accept_loop(&accept_shared, &listener))
            .map_err(|e| Error::io("starting the accept thread", e))?;
        Ok(Server { shared, local_addr, accept_thread: Mutex::new(Some(accept_thread)) })
    }

    /// The routes in the order they are tried: pages, metrics, the hub on its path, the user's
    /// routes, and, with no path and no routes, the hub on every path.
    fn router(&self, hub: &Hub, metrics: &Arc<ServerMetrics>) -> Router {
        let mut routes = Vec::new();
        for (path, html) in &self.pages {
            let handler: Arc<dyn Handler> = Arc::new(Page(Arc::clone(html)));
            routes.push(Route { pattern: Pattern::Exact(path.clone()), method: None, handler });
        }
        for path in &self.metrics_paths {
            let handler: Arc<dyn Handler> = Arc::new(MetricsRoute { metrics: Arc::clone(metrics) });
            routes.push(Route { pattern: Pattern::Exact(path.clone()), method: None, handler });
        }
        let hub_handler: Arc<dyn Handler> = Arc::new(hub.clone());
        match &self.path {
            Some(path) => {
                routes.push(Route { pattern: Pattern::Exact(path.clone()), method: None, handler: hub_handler })
            }
            None if self.routes.routes.is_empty() => {
                routes.push(Route { pattern: Pattern::Prefix("/".to_string()), method: None, handler: hub_handler })
            }
            None => {}
        }
        routes.extend(self.routes.routes.iter().cloned());
        Router { routes }
    }

    /// The hubs the routes serve, each with the path of a route that serves it, in the order the
    /// routes are tried (the server's hub first, when a route serves it).
    fn served_hubs(&self, hub: &Hub) -> Vec<(String, Hub)> {
        let own_path = match &self.path {
            Some(path) => Some(path.clone()),
            None if self.routes.routes.is_empty() => Some("/".to_string()),
            None => None,
        };
        own_path.map(|path| (path, hub.clone())).into_iter().chain(self.hub_routes.iter().cloned()).collect()
    }
}

/// A fixed HTML page.
struct Page(Arc<str>);

impl Handler for Page {
    fn handle(&self, _request: &Request) -> Response {
        Response::html(&*self.0)
    }

    fn methods(&self) -> Option<&'static [&'static str]> {
        Some(&["GET", "HEAD"])
    }
}

/// The metrics route's handler: the exposition of the server's counters.
struct MetricsRoute {
    metrics: Arc<ServerMetrics>,
}

impl Handler for MetricsRoute {
    fn handle(&self, _request: &Request) -> Response {
        Response::new(200)
            .header("Content-Type", METRICS_CONTENT_TYPE)
            .header("Cache-Control", "no-store")
            .body(self.metrics.render())
    }

    fn methods(&self) -> Option<&'static [&'static str]> {
        Some(&["GET", "HEAD"])
    }
}

/// A running server. Dropping it stops it (see [`Server::stop`]), so keep it for as long as it
/// should serve.
#[must_use = "dropping a Server stops it at once; keep it in a variable"]
pub struct Server {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    accept_thread: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    config: ServerBuilder,
    router: Router,
    hub: Hub,
    /// Counters of connections and answers, and the hubs the metrics report.
    metrics: Arc<ServerMetrics>,
    stopping: AtomicBool,
    connections: Mutex<Connections>,
    /// The overflow answerer's thread, once a connection past the limit has started it.
    overflow_thread: Mutex<Option<JoinHandle<()>>>,
    /// Starts the departure watches of per-connection streams that last.
    watch_starter: Arc<late_watch::WatchStarter>,
    /// Wakes a drain waiting for its next turn when the server stops; used with `connections`.
    drain_wake: Condvar,
}

/// Every open connection's socket (so `stop` can close them) and thread (so `stop` can join them).
#[derive(Default)]
struct Connections {
    sockets: HashMap<u64, Arc<TcpStream>>,
    /// The stream each streaming connection runs, by connection id: `stop` ends their bodies
    /// properly before it closes the sockets.
    streams: HashMap<u64, Weak<StreamSocket>>,
    threads: Vec<JoinHandle<()>>,
    /// The same streams as the drain sees them, and the drain under way, if any.
    drain: drain::Book,
    next_id: u64,
    /// Connections waiting for their next request, by ticket (in the order they began to wait),
    /// to their id: the first to close when the server is full. A connection's thread takes its
    /// ticket back when it stops waiting; a ticket that is gone means the connection was closed
    /// to make room.
    idle: BTreeMap<u64, u64>,
    next_idle_ticket: u64,
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

impl Shared {
    fn new(config: ServerBuilder) -> Shared {
        let hub = config.hub.clone().unwrap_or_default();
        let metrics = Arc::new(ServerMetrics::new(&config.served_hubs(&hub)));
        Shared {
            router: config.router(&hub, &metrics),
            config,
            hub,
            metrics,
            stopping: AtomicBool::new(false),
            connections: Mutex::new(Connections::default()),
            overflow_thread: Mutex::new(None),
            watch_starter: Arc::default(),
            drain_wake: Condvar::new(),
        }
    }

    fn lock_connections(&self) -> MutexGuard<'_, Connections> {
        self.connections.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks connection `id` as waiting for its next request; returns its ticket.
    fn begin_idle(&self, id: u64) -> u64 {
        let mut connections = self.lock_connections();
        let ticket = connections.next_idle_ticket;
        connections.next_idle_ticket += 1;
        connections.idle.insert(ticket, id);
        ticket
    }

    /// Ends a wait begun with [`begin_idle`](Self::begin_idle); false if the connection was closed
    /// meanwhile to make room for another.
    fn end_idle(&self, ticket: u64) -> bool {
        self.lock_connections().idle.remove(&ticket).is_some()
    }

    /// Records that connection `id` runs `stream`, made of `body`, until the returned guard is
    /// dropped, so that `stop` can end its body, and a drain too once the guard says it has
    /// started. A stream that starts once the server is stopping ends at once.
    fn track_stream(&self, id: u64, stream: &Arc<StreamSocket>, body: StreamBody) -> TrackedStream<'_> {
        let mut connections = self.lock_connections();
        // Only a connection of this server's registry (not one of `serve_connection`'s).
        if connections.sockets.contains_key(&id) {
            connections.streams.insert(id, Arc::downgrade(stream));
            connections.drain.track(id, stream, body);
        }
        drop(connections);
        // Read after the insertion, under the lock `stop` takes to look at the streams after it set
        // the flag: each stream is either seen by `stop`, or sees the flag here.
        if self.stopping.load(Ordering::SeqCst) {
            stream.end_soon();
        }
        TrackedStream { shared: self, id }
    }

    /// Ends every stream's body, each between two of its writes, and waits (at most
    /// [`STREAM_END_TIMEOUT`]) until they are over. Streams not over by then are cut with their
    /// connections.
    fn end_streams(&self) {
        let streams: Vec<Arc<StreamSocket>> =
            self.lock_connections().streams.values().filter_map(Weak::upgrade).collect();
        // Outside the lock: ending a stream runs its `on_close` callbacks.
        for stream in &streams {
            stream.end_soon();
        }
        let deadline = Instant::now() + STREAM_END_TIMEOUT;
        for stream in &streams {
            stream.wait_closed(Some(deadline.saturating_duration_since(Instant::now())));
        }
    }
}

/// A connection's stream, known to the server until this is dropped (see
/// [`Shared::track_stream`]).
struct TrackedStream<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for TrackedStream<'_> {
    fn drop(&mut self) {
        let forgotten = {
            let mut connections = self.shared.lock_connections();
            connections.streams.remove(&self.id);
            connections.drain.forget(self.id, &self.shared.drain_wake)
        };
        drop(forgotten);
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener) {
    // The channel to the overflow answerer, once started. Owned here, so the answerer ends when
    // this loop does.
    let mut overflow: Option<SyncSender<TcpStream>> = None;
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        match stream {
            Ok(socket) => {
                shared.metrics.accepted();
                if let Some(socket) = admit(shared, socket) {
                    shared.metrics.turned_away();
                    hand_to_overflow(shared, &mut overflow, socket);
                }
            }
            // Out of file descriptors or memory: let the running connections finish some work
            // rather than spinning on accept.
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Registers a connection and starts its thread; returns it when the server is at its connection
/// limit, for the overflow answerer.
fn admit(shared: &Arc<Shared>, socket: TcpStream) -> Option<TcpStream> {
    let mut connections = shared.lock_connections();
    // Joining finished threads is a walk over all handles: do it only once they have doubled, so
    // accepting stays O(1) on average (a burst of reconnects must not overflow the listen queue).
    if connections.threads.len() >= 2 * connections.sockets.len() + 64 {
        reap_finished_threads(&mut connections);
    }
    if connections.sockets.len() >= shared.config.max_connections {
        // Full: close the connection that has waited longest for its next request, if any, and
        // take its place. Its thread is leaving, so the count is over the limit only until it has.
        let Some((_, idle_id)) = connections.idle.pop_first() else { return Some(socket) };
        if let Some(idle_socket) = connections.sockets.get(&idle_id) {
            let _ = idle_socket.shutdown(Shutdown::Both);
        }
    }
    let socket = Arc::new(socket);
    let id = connections.next_id;
    connections.next_id += 1;
    // Registered before its thread starts, so that the thread's `Registered` guard always has an
    // entry to remove; the thread is spawned with the lock released.
    connections.sockets.insert(id, Arc::clone(&socket));
    drop(connections);
    let thread_shared = Arc::clone(shared);
    let spawned = thread::Builder::new()
        .name("bare-sse-connection".to_string())
        .stack_size(USER_CODE_STACK_BYTES)
        .spawn(move || {
            let _registered = Registered { shared: &thread_shared, id };
            let _open = metrics::Open::new(&thread_shared.metrics);
            connection::serve(&thread_shared, &socket, id);
        });
    let mut connections = shared.lock_connections();
    match spawned {
        Ok(thread) => connections.threads.push(thread),
        // No thread for it: the connection is closed unanswered.
        Err(_) => drop(connections.sockets.remove(&id)),
    }
    None
}

/// Gives a connection past the limit to the overflow answerer, starting it the first time. When
/// its queue is full, or it cannot start, the connection is closed unread.
fn hand_to_overflow(shared: &Arc<Shared>, overflow: &mut Option<SyncSender<TcpStream>>, socket: TcpStream) {
    if overflow.is_none() {
        let (sender, arrivals) = mpsc::sync_channel(overflow::QUEUE);
        let answerer_shared = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .name("bare-sse-overflow".to_string())
            .spawn(move || overflow::run(&answerer_shared, &arrivals));
        let Ok(thread) = spawned else { return };
        *shared.overflow_thread.lock().unwrap_or_else(PoisonError::into_inner) = Some(thread);
        *overflow = Some(sender);
    }
    if let Some(sender) = overflow {
        match sender.try_send(socket) {
            Ok(()) | Err(TrySendError::Full(_)) => {}
            Err(TrySendError::Disconnected(_)) => *overflow = None,
        }
    }
}

/// Removes a connection from the registry when its thread ends, even by a panic.
struct Registered<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.shared.lock_connections().sockets.remove(&self.id);
    }
}

fn reap_finished_threads(connections: &mut Connections) {
    let (finished, running) = std::mem::take(&mut connections.threads).into_iter().partition(|t| t.is_finished());
    connections.threads = running;
    for thread in finished {
        let _ = thread.join();
    }
}

/// Ends the accept loop, which `stopping` tells to return, and joins it; gives up after
/// [`ACCEPT_WAKE_TIMEOUT`] if it cannot be woken. `accept` blocks, and std offers no way to
/// interrupt it but a connection: one of our own makes it return.
fn stop_accept_loop(local_addr: SocketAddr, accept_thread: JoinHandle<()>) {
    let deadline = Instant::now() + ACCEPT_WAKE_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // A connection made is one `accept` returns: the loop then sees `stopping` and ends.
        if accept_thread.is_finished() || wake_accept_loop(local_addr, left) {
            let _ = accept_thread.join();
            return;
        }
        if left.is_zero() {
            // Detached: the loop ends, and drops the listener, with the next connection it accepts.
            return;
        }
        thread::sleep(ACCEPT_WAKE_RETRY.min(left));
    }
}

/// Connects to the server's own listener, waiting at most `timeout`; returns whether it could.
fn wake_accept_loop(local_addr: SocketAddr, timeout: Duration) -> bool {
    let mut address = local_addr;
    if address.ip().is_unspecified() {
        address.set_ip(match address {
            SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            SocketAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        });
    }
    // A zero timeout is refused by `connect_timeout`: one millisecond is the last try.
    TcpStream::connect_timeout(&address, timeout.max(Duration::from_millis(1))).is_ok()
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

/// Serves one connection that the caller accepted: reads each request, calls `handler` (a closure
/// or a hub) and answers, on the calling thread, with the default limits, until the connection
/// closes (a persistent connection may carry several requests). For programs that own
/// their `TcpListener` and hand SSE requests to bare-sse.
///
/// ```no_run
/// use bare_sse::{server::serve_connection, Hub};
///
/// let hub = Hub::new();
/// let listener = std::net::TcpListener::bind("127.0.0.1:8122")?;
/// for socket in listener.incoming() {
///     let (socket, hub) = (socket?, hub.clone());
///     std::thread::spawn(move || serve_connection(socket, hub));
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn serve_connection(socket: TcpStream, handler: impl Handler) {
    let shared = Shared::new(ServerBuilder::default().add_route(Pattern::Prefix("/".into()), None, handler));
    // Not in a server's registry: no other connection can need its place.
    connection::serve(&shared, &Arc::new(socket), 0);
}

/// Answers a request that the caller has read and routed itself, on the calling thread: calls
/// `handler` (a closure or a hub) and sends its response, or runs its stream until the client
/// leaves, with the default settings. For programs that parse requests themselves (with
/// [`parse_request_head`](crate::http::parse_request_head)) and hand some of them to bare-sse;
/// `examples/embed.rs` shows one.
pub fn serve_request(socket: TcpStream, request: Request, handler: impl Handler) {
    let shared = Shared::new(ServerBuilder::default());
    let socket = Arc::new(socket);
    let _ = socket.set_nodelay(true);
    // The caller read the request: where a next one would begin is the caller's to know.
    if let connection::Next::Stream(stream) =
        connection::handle(&shared, &socket, request, &handler, connection::Exchange::only())
    {
        stream.run(&shared, &socket, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_kept_in_range() {
        let huge = Server::builder().stream_write_timeout(Duration::MAX).request_timeout(Duration::MAX);
        assert_eq!((huge.stream_write_timeout, huge.request_timeout), (MAX_WRITE_TIMEOUT, MAX_REQUEST_TIMEOUT));
        let zero = Server::builder().stream_write_timeout(Duration::ZERO).request_timeout(Duration::ZERO);
        assert_eq!((zero.stream_write_timeout, zero.request_timeout), (MIN_WRITE_TIMEOUT, Duration::from_millis(1)));
    }
}
