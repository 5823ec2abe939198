//! The Mercure hub: a [`Hub`] with topics, behind the protocol's subscribe (`GET`) and publish
//! (`POST`) endpoints, with JWT authorization.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::auth::{presented_token, Denial, DEFAULT_COOKIE_NAME};
use super::claims::{self, Action, Grants};
use super::page::STATUS_PAGE;
use super::publish::{parse_update, Update};
use crate::hub::{Selection, Topics};
use crate::json::Value;
use crate::jwt::{self, Hs256Key, Verifier};
use crate::server::{AllowOrigin, Handler, Request, Response, ServerBuilder};
use crate::topic::{SelectorLimits, TopicSelector, UrlRecord};
use crate::{Error, Event, Hub, HubBuilder};

/// The hub's path, unless told another: the well-known URI the protocol registers.
pub const DEFAULT_PATH: &str = "/.well-known/mercure";

/// Settings for a [`Mercure`] hub.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct MercureBuilder {
    publisher_key: Option<Vec<u8>>,
    subscriber_key: Option<Vec<u8>>,
    audience: Option<String>,
    issuer: Option<String>,
    anonymous: bool,
    cors_origins: Vec<String>,
    cookie_name: String,
    path: String,
    hub: HubBuilder,
}

impl Default for MercureBuilder {
    fn default() -> MercureBuilder {
        MercureBuilder {
            publisher_key: None,
            subscriber_key: None,
            audience: None,
            issuer: None,
            anonymous: false,
            cors_origins: Vec::new(),
            cookie_name: DEFAULT_COOKIE_NAME.to_string(),
            path: DEFAULT_PATH.to_string(),
            hub: HubBuilder::default(),
        }
    }
}

impl MercureBuilder {
    /// The HS256 key for both publishers' and subscribers' tokens (at least
    /// [`jwt::MIN_HS256_KEY_BYTES`] bytes). Separate keys are safer: see
    /// [`publisher_jwt_key`](Self::publisher_jwt_key).
    pub fn jwt_key(self, key: impl Into<Vec<u8>>) -> MercureBuilder {
        let key = key.into();
        self.publisher_jwt_key(key.clone()).subscriber_jwt_key(key)
    }

    /// The HS256 key publishers' tokens are signed with. Without one, nobody may publish over
    /// HTTP (the program can still publish with [`Mercure::publish`]).
    pub fn publisher_jwt_key(mut self, key: impl Into<Vec<u8>>) -> MercureBuilder {
        self.publisher_key = Some(key.into());
        self
    }

    /// The HS256 key subscribers' tokens are signed with. Without one, no subscriber can present
    /// a token, so none receives private updates.
    pub fn subscriber_jwt_key(mut self, key: impl Into<Vec<u8>>) -> MercureBuilder {
        self.subscriber_key = Some(key.into());
        self
    }

    /// The hub's resource identifier, which every token's `aud` must hold (the protocol
    /// recommends the hub's canonical URL, e.g. `https://example.com/.well-known/mercure`).
    /// Without one, `aud` is not checked.
    pub fn audience(mut self, audience: impl Into<String>) -> MercureBuilder {
        self.audience = Some(audience.into());
        self
    }

    /// The issuer whose tokens the keys sign: every token's `iss` must be exactly this. Without
    /// one, `iss` is not checked.
    pub fn issuer(mut self, issuer: impl Into<String>) -> MercureBuilder {
        self.issuer = Some(issuer.into());
        self
    }

    /// Lets subscribers without a token receive public updates (off by default: then a
    /// subscriber must present a valid token).
    pub fn anonymous(mut self, allow: bool) -> MercureBuilder {
        self.anonymous = allow;
        self
    }

    /// Lets pages of `origin` (e.g. `https://app.example.com`) subscribe and publish from the
    /// browser, with cookies. Origins are listed exactly; `*` is refused, since credentialed
    /// requests cannot use it.
    pub fn cors_origin(mut self, origin: impl Into<String>) -> MercureBuilder {
        self.cors_origins.push(origin.into());
        self
    }

    /// The cookie a browser's token comes in (default [`DEFAULT_COOKIE_NAME`]).
    pub fn cookie_name(mut self, name: impl Into<String>) -> MercureBuilder {
        self.cookie_name = name.into();
        self
    }

    /// The hub's path (default [`DEFAULT_PATH`]).
    pub fn path(mut self, path: impl Into<String>) -> MercureBuilder {
        self.path = path.into();
        self
    }

    /// The settings of the hub behind it: history, heartbeat, Redis, limits.
    pub fn hub(mut self, hub: HubBuilder) -> MercureBuilder {
        self.hub = hub;
        self
    }

    /// Builds the hub.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] for a key shorter than [`jwt::MIN_HS256_KEY_BYTES`], a path that
    /// does not start with `/`, or a CORS origin of `*`.
    pub fn build(self) -> Result<Mercure, Error> {
        let verifier = |key: Option<Vec<u8>>| -> Result<Option<Verifier>, Error> {
            let Some(key) = key else { return Ok(None) };
            let key = Hs256Key::new(key).map_err(|error| Error::InvalidSetting(format!("Mercure JWT key: {error}")))?;
            let verifier = match &self.issuer {
                Some(issuer) => Verifier::for_issuer(issuer.clone(), key),
                None => Verifier::new(key),
            };
            let verifier = verifier.token_type(jwt::ACCESS_TOKEN_TYPE);
            Ok(Some(match &self.audience {
                Some(audience) => verifier.audience(audience.clone()),
                None => verifier.any_audience(),
            }))
        };
        if !self.path.starts_with('/') {
            return Err(Error::InvalidSetting(format!("the Mercure hub's path {:?} must start with `/`", self.path)));
        }
        if self.cors_origins.iter().any(|origin| origin == "*") {
            return Err(Error::InvalidSetting(
                "a Mercure CORS origin cannot be `*`: list the origins whose pages may use the hub".to_string(),
            ));
        }
        let shared = Shared {
            publishers: verifier(self.publisher_key.clone())?,
            subscribers: verifier(self.subscriber_key.clone())?,
            anonymous: self.anonymous,
            cors_origins: self.cors_origins.clone(),
            cookie_name: self.cookie_name.clone(),
            audience: self.audience.clone(),
            path: self.path.clone(),
            hub: self.hub.build(),
            epoch: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis()),
            next_id: AtomicU64::new(1),
        };
        Ok(Mercure { shared: Arc::new(shared) })
    }
}

/// A Mercure hub: add it to a server with [`Mercure::install`].
///
/// ```no_run
/// use bare_sse::mercure::Mercure;
/// use bare_sse::Server;
///
/// let mercure = Mercure::builder().jwt_key("!ChangeThisMercureHubJWTSecretKey!").anonymous(true).build()?;
/// let server = mercure.install(Server::builder().port(3000)).start()?;
/// # Ok::<(), bare_sse::Error>(())
/// ```
#[derive(Clone)]
pub struct Mercure {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Mercure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mercure").field("path", &self.shared.path).finish_non_exhaustive()
    }
}

struct Shared {
    /// Checks publishers' tokens; `None`: nobody may publish over HTTP.
    publishers: Option<Verifier>,
    /// Checks subscribers' tokens; `None`: a presented token is never valid.
    subscribers: Option<Verifier>,
    anonymous: bool,
    cors_origins: Vec<String>,
    cookie_name: String,
    audience: Option<String>,
    path: String,
    hub: Hub,
    /// When the hub was built, in Unix milliseconds: generated ids of another run differ.
    epoch: u128,
    /// The number of the next generated id.
    next_id: AtomicU64,
}

impl Mercure {
    /// A builder with the defaults: no keys, no anonymous subscribers, the path
    /// [`DEFAULT_PATH`].
    pub fn builder() -> MercureBuilder {
        MercureBuilder::default()
    }

    /// The hub the updates go through (for its stats, or to wait for its clients).
    pub fn hub(&self) -> &Hub {
        &self.shared.hub
    }

    /// Publishes an update from the program itself, with no token: as a `POST` would, after its
    /// authorization. Returns the update's id.
    ///
    /// # Errors
    ///
    /// What [`Hub::publish_to`] returns for an update the hub cannot take (an invalid
    /// field, or a Redis backplane that failed).
    pub fn publish(&self, update: &Update) -> Result<String, Error> {
        let mut event = Event::new();
        if let Some(data) = &update.data {
            event = event.data(data.clone());
        }
        if let Some(event_type) = &update.event_type {
            event = event.event(event_type.clone());
        }
        if let Some(retry) = update.retry {
            event = event.retry(std::time::Duration::from_millis(retry));
        }
        // A Redis-backed hub numbers every update itself, with the stream's entry ids (the
        // protocol lets a hub replace a publisher's id). Otherwise an update without an id gets a
        // fragment (`#<epoch>-<n>`), as the protocol asks of generated ids: no publisher's id
        // starts with `#`, so the two never meet.
        event = match &update.id {
            _ if self.shared.hub.is_backed_by_redis() => event.with_id(),
            Some(id) => event.id(id.clone()),
            None => {
                let n = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
                event.id(format!("#{}-{n}", self.shared.epoch))
            }
        };
        let topics = Topics::new(update.topics.iter().cloned()).private(update.private);
        let id = self.shared.hub.publish_to(&topics, &event)?;
        Ok(id.unwrap_or_default())
    }

    /// Adds the hub's routes to `server`: subscribe (`GET`) and publish (`POST`) on its path, its
    /// OAuth protected resource metadata, and a status page at `/`; and the CORS policy its
    /// origins ask for.
    pub fn install(&self, server: ServerBuilder) -> ServerBuilder {
        let shared = &self.shared;
        let server = if shared.cors_origins.is_empty() {
            server
        } else {
            server.allow_origin(AllowOrigin::List(shared.cors_origins.clone())).allow_credentials(true)
        };
        let metadata = metadata_path(&shared.path);
        let metadata_document = self.clone();
        server
            .allow_headers(["Authorization", "Last-Event-ID", "Cache-Control", "Content-Type"])
            .route_handler(shared.path.clone(), MercureRoute(self.clone()))
            .route_method("GET", metadata, move |request: &Request| metadata_document.metadata(request))
            .page("/", STATUS_PAGE)
    }

    /// Answers a request to the hub's path.
    fn handle(&self, request: &Request) -> Response {
        match request.method() {
            "POST" => self.publish_request(request),
            _ => self.subscribe_request(request),
        }
    }

    /// Never inlined, nor is `subscribe_request`: a subscriber's connection thread keeps the stack
    /// pages it touched for as long as it is subscribed, and a publisher's frame must not be
    /// among them.
    #[inline(never)]
    fn publish_request(&self, request: &Request) -> Response {
        let shared = &self.shared;
        let resource_metadata = self.resource_metadata_url(request);
        let denied = |denial: Denial| denial.response(resource_metadata.as_deref());
        let token = match presented_token(request, &shared.cookie_name) {
            Ok(Some(token)) => token,
            Ok(None) => return denied(Denial::NoToken),
            Err(denial) => return denied(denial),
        };
        let base = self.hub_url(request);
        let Some(granted) = shared.publishers.as_ref().and_then(|v| verified_grants(v, token, Action::Publish, &base))
        else {
            return denied(Denial::InvalidToken);
        };
        let update = match parse_update(request.body(), &shared.path) {
            Ok(update) => update,
            Err(error) => return plain(error.status(), &format!("{error}\n")),
        };
        // Every topic, canonical and alternate, must be granted: one that is not refuses the
        // whole update.
        let allowed = granted.is_some_and(|selector| update.topics.iter().all(|topic| selector.matches_any(&[topic])));
        if !allowed {
            return denied(Denial::InsufficientScope);
        }
        match self.publish(&update) {
            Ok(id) => Response::text(id),
            Err(error @ Error::InvalidField { .. }) => plain(400, &format!("{error}\n")),
            Err(error) => plain(503, &format!("the update could not be published: {error}\n")),
        }
    }

    #[inline(never)]
    fn subscribe_request(&self, request: &Request) -> Response {
        let shared = &self.shared;
        let base = self.hub_url(request);
        let params = request.query().iter().map(|(name, value)| (name.as_str(), value.as_str()));
        let selector = match TopicSelector::from_params(params, base.as_ref(), &SelectorLimits::default()) {
            Ok(selector) => selector,
            Err(error) => return plain(400, &format!("{error}\n")),
        };
        let (private, expires_at) = match self.subscriber_grants(request, &base) {
            Ok(grants) => grants,
            Err(denial) => return denial.response(self.resource_metadata_url(request).as_deref()),
        };
        let mut selection = Selection::topics(selector);
        if let Some(private) = private {
            selection = selection.with_private(private);
        }
        // The header wins over the query parameter (which browsers need, since `EventSource`
        // cannot set headers on its first request).
        let last_event_id = request.header("last-event-id").or_else(|| request.query_param("last_event_id"));
        // Without a cursor, a subscriber gets what is published from now on.
        let mut response = Response::hub(shared.hub.clone()).selection(selection).without_history().opening_comment();
        if let Some(id) = last_event_id {
            // The response says where the stream resumes whenever the request named a cursor.
            response = response.resume_after(id).report_resume("Mercure-Last-Event-ID");
        }
        if let Some(expires_at) = expires_at {
            response = response.end_at(expires_at);
        }
        response
    }

    /// What a subscriber's token grants: the private topics it may receive, and when the token
    /// expires; no token, where anonymous subscribers are allowed, grants neither. Never inlined
    /// (see `publish_request`).
    #[inline(never)]
    fn subscriber_grants(
        &self,
        request: &Request,
        base: &Option<UrlRecord>,
    ) -> Result<(Option<TopicSelector>, Option<SystemTime>), Denial> {
        let shared = &self.shared;
        let token = match presented_token(request, &shared.cookie_name)? {
            None if !shared.anonymous => return Err(Denial::NoToken),
            None => return Ok((None, None)),
            Some(token) => token,
        };
        let verifier = shared.subscribers.as_ref().ok_or(Denial::InvalidToken)?;
        let claims = verifier.verify(token, SystemTime::now()).map_err(|_| Denial::InvalidToken)?;
        let granted = grants_for(&claims, Action::Subscribe, base).ok_or(Denial::InvalidToken)?;
        Ok((granted, claims.expires_at()))
    }

    /// The hub's URL as the request reached it: the base that relative topics and patterns
    /// resolve against. Never inlined (see `publish_request`).
    #[inline(never)]
    fn hub_url(&self, request: &Request) -> Option<UrlRecord> {
        let host = request.header("host").filter(|host| is_authority(host)).unwrap_or("localhost");
        UrlRecord::parse(&format!("http://{host}{}", self.shared.path), None).ok()
    }

    /// The URL of the hub's protected resource metadata: on the origin of the resource
    /// identifier when that is a URL, else of the request.
    fn resource_metadata_url(&self, request: &Request) -> Option<String> {
        let origin = match self.shared.audience.as_deref().and_then(origin_of) {
            Some(origin) => origin.to_string(),
            None => format!("http://{}", request.header("host").filter(|host| is_authority(host))?),
        };
        Some(format!("{origin}{}", metadata_path(&self.shared.path)))
    }

    /// The protected resource metadata document (RFC 9728).
    fn metadata(&self, request: &Request) -> Response {
        let resource = match &self.shared.audience {
            Some(audience) => audience.clone(),
            None => self.hub_url(request).map(|url| url.to_string()).unwrap_or_default(),
        };
        let document = Value::Object(vec![
            ("resource".into(), resource.into()),
            (
                "authorization_details_types_supported".into(),
                Value::Array(vec![claims::AUTHORIZATION_DETAIL_TYPE.into()]),
            ),
            ("bearer_methods_supported".into(), Value::Array(vec!["header".into()])),
            ("mercure_cookie".into(), self.shared.cookie_name.clone().into()),
        ]);
        Response::json(&document)
    }
}

/// What a token grants for `action`, when it is valid: `Some(None)` when it grants nothing,
/// `None` for every failure alike (the answer does not say which check failed).
fn verified_grants(
    verifier: &Verifier,
    token: &str,
    action: Action,
    base: &Option<UrlRecord>,
) -> Option<Option<TopicSelector>> {
    let claims = verifier.verify(token, SystemTime::now()).ok()?;
    grants_for(&claims, action, base)
}

/// The topics a verified token's claims grant `action` on, as a selector (`Some(None)` when
/// they grant none), or `None` when its grants are invalid: a broken entry, an unknown matcher
/// type, a pattern that does not compile, more matchers or longer ones than a subscription may
/// have. Any of these refuses the whole token.
fn grants_for(claims: &jwt::Claims, action: Action, base: &Option<UrlRecord>) -> Option<Option<TopicSelector>> {
    let grants = Grants::from_claims(claims).ok()?;
    let params: Vec<(&str, &str)> = grants
        .matchers(action)
        .map(|matcher| match matcher {
            claims::TopicMatcher::UrlPattern(pattern) => ("match_urlpattern", pattern.as_str()),
            other => ("match", other.as_str()),
        })
        .collect();
    if params.is_empty() {
        return Some(None);
    }
    TopicSelector::from_params(params, base.as_ref(), &SelectorLimits::default()).ok().map(Some)
}

/// The path of the protected resource metadata of a hub at `path` (RFC 9728 §3.1: the
/// well-known prefix, then the resource's path).
fn metadata_path(path: &str) -> String {
    format!("/.well-known/oauth-protected-resource{path}")
}

/// `scheme://authority` of an `http` or `https` URL.
fn origin_of(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&url[..url.len() - rest.len() + end])
}

/// Whether a `Host` value is a plain authority (host and port characters only), safe to put in a
/// URL and a header.
fn is_authority(host: &str) -> bool {
    !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~:[]".contains(&b))
}

fn plain(status: u16, message: &str) -> Response {
    Response::new(status).header("Content-Type", "text/plain; charset=utf-8").body(message.to_string())
}

/// The hub's path as a route: `GET` and `HEAD` subscribe, `POST` publishes.
struct MercureRoute(Mercure);

impl Handler for MercureRoute {
    fn handle(&self, request: &Request) -> Response {
        self.0.handle(request)
    }

    fn methods(&self) -> Option<&'static [&'static str]> {
        Some(&["GET", "HEAD", "POST"])
    }
}
