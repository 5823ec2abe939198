//! Routes: which handler answers a request, by path and method.
//!
//! A route matches a decoded path exactly, or by prefix (`/api` matches `/api` and `/api/x`, not
//! `/apix`), and allows either every method or a list. The first route that matches both wins. A
//! path no route matches gets `404`; a path that routes match, but not for this method, gets `405`
//! with an `Allow` header listing the methods they take.

use std::sync::Arc;

use super::request::Request;
use super::response::Response;
use crate::Hub;

/// Something that answers requests: a closure `Fn(&Request) -> Response`, or a hub ([`Hub`]),
/// which subscribes the client to its events with history and resume.
///
/// ```
/// use bare_sse::server::{Request, Response};
/// use bare_sse::{Server, Hub};
///
/// let chat = Hub::new();
/// let server = Server::builder()
///     .route("/", |_: &Request| Response::html("<h1>hello</h1>"))
///     .route_hub("/events", chat.clone())
///     .start()
///     .unwrap();
/// # server.stop();
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Answers one request.
    fn handle(&self, request: &Request) -> Response;

    /// The methods this handler takes, when it restricts them (a hub takes `GET` and `HEAD`).
    fn methods(&self) -> Option<&'static [&'static str]> {
        None
    }
}

impl<F> Handler for F
where
    F: Fn(&Request) -> Response + Send + Sync + 'static,
{
    fn handle(&self, request: &Request) -> Response {
        self(request)
    }
}

impl Handler for Hub {
    fn handle(&self, _request: &Request) -> Response {
        Response::hub(self.clone())
    }

    fn methods(&self) -> Option<&'static [&'static str]> {
        Some(&["GET", "HEAD"])
    }
}

/// How a route matches paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pattern {
    Exact(String),
    Prefix(String),
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match self {
            Pattern::Exact(exact) => path == exact,
            Pattern::Prefix(prefix) => {
                let prefix = prefix.trim_end_matches('/');
                path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
            }
        }
    }
}

#[derive(Clone)]
pub(crate) struct Route {
    pub pattern: Pattern,
    /// `None`: every method (or what the handler restricts itself to).
    pub method: Option<String>,
    pub handler: Arc<dyn Handler>,
}

impl Route {
    fn allows(&self, method: &str) -> bool {
        match (&self.method, self.handler.methods()) {
            (Some(only), _) => only == method,
            (None, Some(methods)) => methods.contains(&method),
            (None, None) => true,
        }
    }

    fn allowed_methods(&self) -> Vec<String> {
        match (&self.method, self.handler.methods()) {
            (Some(only), _) => vec![only.clone()],
            (None, Some(methods)) => methods.iter().map(|m| m.to_string()).collect(),
            (None, None) => Vec::new(),
        }
    }
}

/// What the router decided.
pub(crate) enum Routed<'a> {
    Found(&'a Arc<dyn Handler>),
    /// Routes match the path, but none takes the method; these are the ones they take.
    MethodNotAllowed(Vec<String>),
    NotFound,
}

#[derive(Clone, Default)]
pub(crate) struct Router {
    pub routes: Vec<Route>,
}

impl Router {
    pub fn find(&self, method: &str, path: &str) -> Routed<'_> {
        let mut on_path = self.routes.iter().filter(|route| route.pattern.matches(path)).peekable();
        if on_path.peek().is_none() {
            return Routed::NotFound;
        }
        let mut allowed = Vec::new();
        for route in on_path {
            if route.allows(method) {
                return Routed::Found(&route.handler);
            }
            for method in route.allowed_methods() {
                if !allowed.contains(&method) {
                    allowed.push(method);
                }
            }
        }
        Routed::MethodNotAllowed(allowed)
    }

    /// Whether any route serves this path (for answering a preflight).
    pub fn has_path(&self, path: &str) -> bool {
        self.routes.iter().any(|route| route.pattern.matches(path))
    }

    /// A route for this path that names `OPTIONS` itself: it answers preflights instead of the
    /// server. Routes for every method do not, so that a catch-all route keeps CORS working.
    pub fn options_route(&self, path: &str) -> Option<&Arc<dyn Handler>> {
        self.routes
            .iter()
            .find(|route| route.method.as_deref() == Some("OPTIONS") && route.pattern.matches(path))
            .map(|route| &route.handler)
    }

    /// The methods the routes for this path take, for a preflight's `Access-Control-Allow-Methods`:
    /// `requested` too when a route takes every method.
    pub fn methods_for(&self, path: &str, requested: Option<&str>) -> Vec<String> {
        let mut methods = Vec::new();
        for route in self.routes.iter().filter(|route| route.pattern.matches(path)) {
            let taken = match (&route.method, route.handler.methods()) {
                (None, None) => requested.map(|m| vec![m.to_string()]).unwrap_or_default(),
                _ => route.allowed_methods(),
            };
            for method in taken {
                if !methods.contains(&method) {
                    methods.push(method);
                }
            }
        }
        if !methods.iter().any(|m| m == "OPTIONS") {
            methods.push("OPTIONS".to_string());
        }
        methods
    }
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let patterns: Vec<_> = self.routes.iter().map(|r| (&r.method, &r.pattern)).collect();
        f.debug_struct("Router").field("routes", &patterns).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(pattern: Pattern, method: Option<&str>) -> Route {
        let handler: Arc<dyn Handler> = Arc::new(|_: &Request| Response::text("x"));
        Route { pattern, method: method.map(String::from), handler }
    }

    #[test]
    fn prefix_matches_whole_segments() {
        let prefix = Pattern::Prefix("/api".into());
        assert!(prefix.matches("/api") && prefix.matches("/api/") && prefix.matches("/api/x/y"));
        assert!(!prefix.matches("/apix") && !prefix.matches("/ap"));
        let slash = Pattern::Prefix("/".into());
        assert!(slash.matches("/") && slash.matches("/anything"));
    }

    #[test]
    fn not_found_method_not_allowed_and_first_match() {
        let router = Router {
            routes: vec![
                route(Pattern::Exact("/a".into()), Some("GET")),
                route(Pattern::Exact("/a".into()), Some("POST")),
                route(Pattern::Prefix("/b".into()), None),
            ],
        };
        assert!(matches!(router.find("GET", "/nope"), Routed::NotFound));
        assert!(matches!(router.find("POST", "/a"), Routed::Found(_)));
        match router.find("DELETE", "/a") {
            Routed::MethodNotAllowed(allowed) => assert_eq!(allowed, ["GET", "POST"]),
            _ => panic!("expected 405"),
        }
        assert!(matches!(router.find("PATCH", "/b/c"), Routed::Found(_)));
    }
}
