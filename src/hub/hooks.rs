//! Lifecycle hooks: a hub tells the program when a client joins and when it leaves, with what the
//! client's request carried, so that the program can keep presence or write a log.
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//! use bare_sse::hub::ClientInfo;
//! use bare_sse::Hub;
//!
//! let online = Arc::new(AtomicUsize::new(0));
//! let (joined, left) = (Arc::clone(&online), Arc::clone(&online));
//! let hub = Hub::builder()
//!     .on_join(move |client: &ClientInfo| {
//!         joined.fetch_add(1, Ordering::SeqCst);
//!         println!("client {} joined {} from {:?}", client.id(), client.path(), client.peer_addr());
//!     })
//!     .on_leave(move |client: &ClientInfo| {
//!         left.fetch_sub(1, Ordering::SeqCst);
//!         println!("client {} left", client.id());
//!     })
//!     .build();
//! # drop(hub);
//! ```
//!
//! # When each hook runs
//!
//! - **`on_join`** runs on the client's connection thread once the client is registered with the
//!   hub (counted by [`Hub::clients`](super::Hub::clients)) and before its response head and
//!   history are sent. Every event published from then on reaches the client after its history,
//!   an event the hook publishes itself included.
//! - **`on_leave`** runs on the same thread once the client has been unregistered, whatever ended
//!   the stream: the client went away, the hub dropped it as too slow, or the server stopped
//!   ([`Server::stop`](crate::Server::stop) joins every connection thread, so every leave has run
//!   when it returns).
//! - **No lock of the hub is held** while a hook runs: a hook may publish to the hub, read its
//!   stats or wait on it. It does hold up its own client (and, at a stop, the stop): keep it short,
//!   and hand slow work to another thread.
//! - **Every join gets exactly one leave**, with the same [`ClientInfo`] (the same
//!   [`id`](ClientInfo::id)). The leave is armed before `on_join` is called and fired when the
//!   client's place in the hub is dropped, so it runs even when `on_join` panicked or the
//!   connection's thread unwound. A hook that panics is caught: the panic is reported by the
//!   process's panic hook and the client carries on.
//! - Hooks run on many connection threads at once, one per client (hence `Send + Sync`): joins and
//!   leaves of different clients come in any order; a client's leave always follows its join.
//! - Only streaming clients join: a `HEAD` request, a request past the connection limit, or a
//!   hub that could not start does not call either hook.
//!
//! # What it costs
//!
//! Nothing when no hook is set (one test per client). With a hook, each client's path, query and
//! headers are copied once when it connects and kept until it leaves (at most the request head
//! limit, 8 KiB by default), and each join and leave is one call.
//!
//! A hook that holds a clone of its own hub keeps that hub alive (and its flusher threads running)
//! for as long as the hook exists, which is as long as the hub: for a hub that lives as long as the
//! program, as most do, that is no loss.

use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::{HubBuilder, Subscription};

/// A lifecycle hook, as the hub stores it.
type Hook = Arc<dyn Fn(&ClientInfo) + Send + Sync>;

/// What a hub's lifecycle hooks are told about a client: a number the hub gave it, and what its
/// request carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    id: u64,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    peer_addr: Option<SocketAddr>,
    last_event_id: Option<String>,
    resumed: bool,
}

impl ClientInfo {
    /// What a request carried; the hub sets the id when the client joins.
    pub(crate) fn new(
        path: String,
        query: Vec<(String, String)>,
        headers: Vec<(String, String)>,
        peer_addr: Option<SocketAddr>,
        last_event_id: Option<String>,
    ) -> ClientInfo {
        ClientInfo { id: 0, path, query, headers, peer_addr, last_event_id, resumed: false }
    }

    /// A number the hub gives each client it registers, unique within the hub (0, 1, 2, ... in the
    /// order they joined): it pairs a leave with its join.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The request's path, percent-decoded, without the query.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Every query parameter, decoded, in order.
    pub fn query(&self) -> &[(String, String)] {
        &self.query
    }

    /// The first value of a query parameter, decoded.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// Every request header, in order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first value of a request header, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    /// The address the client connected from (`None` if the system could not tell, which happens
    /// when the client is already gone).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer_addr
    }

    /// The id the client resumed after (its `Last-Event-ID` header, or the `lastEventId` /
    /// `last_event_id` query parameter), or `None` for a first connection.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// Whether the client was resumed after its [`last_event_id`](Self::last_event_id): the hub
    /// found it (in its history, or in its Redis stream) and sends what came after it. False for
    /// a first connection, and for a client sent the reset event instead.
    pub fn resumed(&self) -> bool {
        self.resumed
    }
}

/// A hub's lifecycle hooks, as set on its builder.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    on_join: Option<Hook>,
    on_leave: Option<Hook>,
}

impl Hooks {
    /// Whether any hook is set: only then is a client's [`ClientInfo`] made.
    pub fn any(&self) -> bool {
        self.on_join.is_some() || self.on_leave.is_some()
    }
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("on_join", &self.on_join.is_some())
            .field("on_leave", &self.on_leave.is_some())
            .finish()
    }
}

impl HubBuilder {
    /// Calls `hook` on the client's connection thread each time a client joins the hub, once it
    /// is registered and before its history is sent, with no lock of the hub held. Every join is
    /// followed by exactly one [`on_leave`](Self::on_leave). A second call replaces the hook.
    /// See [`hooks`](crate::hub::hooks) for exactly when it runs and what it costs.
    pub fn on_join(mut self, hook: impl Fn(&ClientInfo) + Send + Sync + 'static) -> HubBuilder {
        self.hooks.on_join = Some(Arc::new(hook));
        self
    }

    /// Calls `hook` on the client's connection thread once a client that joined has been
    /// unregistered, whatever ended its stream (it left, it was dropped as slow, the server
    /// stopped), with no lock of the hub held: exactly once per join. A second call replaces the
    /// hook. See [`hooks`](crate::hub::hooks).
    pub fn on_leave(mut self, hook: impl Fn(&ClientInfo) + Send + Sync + 'static) -> HubBuilder {
        self.hooks.on_leave = Some(Arc::new(hook));
        self
    }
}

/// A client that the hooks were told has joined. Dropping it tells `on_leave`: it is a field of
/// the client's [`Subscription`], dropped after the subscription has unregistered the client and
/// released the hub's lock.
pub(crate) struct Presence {
    on_leave: Option<Hook>,
    /// Boxed as the server made it: a subscription, held by its connection thread for the
    /// client's life, stays small.
    client: Box<ClientInfo>,
}

impl Drop for Presence {
    fn drop(&mut self) {
        if let Some(on_leave) = &self.on_leave {
            call(on_leave, &self.client);
        }
    }
}

impl Subscription {
    /// Tells the hub's `on_join` hook that this client has joined, and arms its `on_leave` for when
    /// the subscription is dropped. `client` is made only for a hub with hooks ([`Hub::has_hooks`]);
    /// without it, or without hooks, nothing happens.
    ///
    /// [`Hub::has_hooks`]: super::Hub::has_hooks
    pub(crate) fn announce(&mut self, client: Option<Box<ClientInfo>>) {
        let hooks = &self.inner.config.hooks;
        let Some(mut client) = client.filter(|_| hooks.any()) else { return };
        client.id = self.key.number();
        client.resumed = self.resumed;
        // Armed first, so that a panicking `on_join` still gets its leave.
        let presence = self.presence.insert(Presence { on_leave: hooks.on_leave.clone(), client });
        if let Some(on_join) = &hooks.on_join {
            call(on_join, &presence.client);
        }
    }
}

impl super::Hub {
    /// Whether the hub has a lifecycle hook: only then does the server keep what a client's
    /// request carried.
    pub(crate) fn has_hooks(&self) -> bool {
        self.inner().config.hooks.any()
    }
}

/// Calls a hook, catching a panic: user code must not end the client's stream, and `on_leave` runs
/// inside a drop, where a panic during unwinding would abort the process.
fn call(hook: &Hook, client: &ClientInfo) {
    let _ = catch_unwind(AssertUnwindSafe(|| hook(client)));
}
