//! Settings for a server: [`ServerBuilder`], the defaults and bounds of every limit, the routes
//! it is given, and [`ServerBuilder::start`], which binds the listener and starts the accept
//! loop. Also the handlers of the routes the server answers itself (pages and metrics).
//!
//! Not here: how a request finds its route (`router.rs`), and what a connection does with the
//! settings (`connection.rs`, `accept.rs`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::accept::accept_loop;
use super::cors::{AllowOrigin, Cors, DEFAULT_ALLOWED_HEADERS};
use super::metrics::{ServerMetrics, METRICS_CONTENT_TYPE};
use super::router::{Handler, Pattern, Route, Router};
use super::shared::Shared;
use super::{Request, Response, Server};
use crate::http::HeadLimits;
use crate::{Error, Hub};

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

/// How long a per-connection stream may stay silent before a heartbeat comment is sent, by
/// default. (A hub sends its own heartbeats, with its own setting.)
pub const DEFAULT_STREAM_HEARTBEAT: Duration = Duration::from_secs(15);
/// Shortest heartbeat interval of a per-connection stream: shorter ones are raised to it (zero
/// would spin its departure watch).
pub const MIN_STREAM_HEARTBEAT: Duration = Duration::from_millis(10);
/// Longest heartbeat interval of a per-connection stream: longer ones are lowered to it, so that
/// the next heartbeat's time stays representable.
pub const MAX_STREAM_HEARTBEAT: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a write to a per-connection stream's client may make no progress before the stream is
/// closed, by default. (A hub's clients have the hub's own setting.)
pub const DEFAULT_STREAM_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Shortest write timeout of a per-connection stream (a zero send timeout means "none" to the
/// operating system).
pub const MIN_STREAM_WRITE_TIMEOUT: Duration = Duration::from_millis(1);
/// Longest write timeout of a per-connection stream: a client that takes nothing for an hour is
/// not coming back.
pub const MAX_STREAM_WRITE_TIMEOUT: Duration = Duration::from_secs(60 * 60);

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
    pub(super) hub: Option<Hub>,
    pub(super) bind: IpAddr,
    pub(super) port: u16,
    pub(super) path: Option<String>,
    pub(super) pages: Vec<(String, Arc<str>)>,
    /// Paths that answer with the server's metrics.
    pub(super) metrics_paths: Vec<String>,
    pub(super) routes: Router,
    /// The hubs among the routes, each with its route's path: the hubs the metrics report.
    pub(super) hub_routes: Vec<(String, Hub)>,
    pub(super) max_body_bytes: usize,
    pub(super) cors: Cors,
    pub(super) retry: Option<Duration>,
    pub(super) max_connections: usize,
    pub(super) head_limits: HeadLimits,
    pub(super) request_timeout: Duration,
    pub(super) keep_alive_timeout: Duration,
    pub(super) max_requests_per_connection: usize,
    pub(super) overload_retry: Duration,
    pub(super) stream_heartbeat: Option<Duration>,
    pub(super) stream_write_timeout: Duration,
    pub(super) write_profiles: crate::compress::Offers,
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
            stream_heartbeat: Some(DEFAULT_STREAM_HEARTBEAT),
            stream_write_timeout: DEFAULT_STREAM_WRITE_TIMEOUT,
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

    pub(super) fn add_route(
        mut self,
        pattern: Pattern,
        method: Option<String>,
        handler: impl Handler,
    ) -> ServerBuilder {
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
    /// [`DEFAULT_STREAM_HEARTBEAT`]; `None` turns it off; kept between [`MIN_STREAM_HEARTBEAT`] and
    /// [`MAX_STREAM_HEARTBEAT`]). A hub sends its own heartbeats; see
    /// [`HubBuilder::heartbeat`](crate::HubBuilder::heartbeat).
    pub fn stream_heartbeat(mut self, interval: Option<Duration>) -> ServerBuilder {
        self.stream_heartbeat = interval.map(|interval| interval.clamp(MIN_STREAM_HEARTBEAT, MAX_STREAM_HEARTBEAT));
        self
    }

    /// How long a write to a per-connection stream's client may make no progress before the stream
    /// is closed (default [`DEFAULT_STREAM_WRITE_TIMEOUT`], kept between
    /// [`MIN_STREAM_WRITE_TIMEOUT`] and [`MAX_STREAM_WRITE_TIMEOUT`]). A hub has its own; see
    /// [`HubBuilder::write_timeout`](crate::HubBuilder::write_timeout).
    pub fn stream_write_timeout(mut self, timeout: Duration) -> ServerBuilder {
        self.stream_write_timeout = timeout.clamp(MIN_STREAM_WRITE_TIMEOUT, MAX_STREAM_WRITE_TIMEOUT);
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
    pub(super) fn router(&self, hub: &Hub, metrics: &Arc<ServerMetrics>) -> Router {
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
    pub(super) fn served_hubs(&self, hub: &Hub) -> Vec<(String, Hub)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_kept_in_range() {
        let huge = Server::builder().stream_write_timeout(Duration::MAX).request_timeout(Duration::MAX);
        assert_eq!((huge.stream_write_timeout, huge.request_timeout), (MAX_STREAM_WRITE_TIMEOUT, MAX_REQUEST_TIMEOUT));
        let zero = Server::builder().stream_write_timeout(Duration::ZERO).request_timeout(Duration::ZERO);
        assert_eq!(
            (zero.stream_write_timeout, zero.request_timeout),
            (MIN_STREAM_WRITE_TIMEOUT, Duration::from_millis(1))
        );
    }

    #[test]
    fn stream_heartbeats_are_kept_in_range() {
        let zero = Server::builder().stream_heartbeat(Some(Duration::ZERO));
        assert_eq!(zero.stream_heartbeat, Some(MIN_STREAM_HEARTBEAT), "a zero interval would spin");
        let huge = Server::builder().stream_heartbeat(Some(Duration::MAX));
        assert_eq!(huge.stream_heartbeat, Some(MAX_STREAM_HEARTBEAT), "a huge one would overflow the clock");
        assert_eq!(Server::builder().stream_heartbeat(None).stream_heartbeat, None);
        assert_eq!(Server::builder().stream_heartbeat, Some(DEFAULT_STREAM_HEARTBEAT));
    }
}
