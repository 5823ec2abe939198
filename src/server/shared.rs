//! What a server's threads share ([`Shared`]): the settings, the routes, the hub, the counters, and
//! the registry of open connections (their sockets, threads and streams, and the ones waiting for
//! their next request), which `stop` and a drain walk to end every stream.
//!
//! Not here: the threads themselves (`accept.rs` starts a connection's, `connection.rs` runs it).

use std::collections::{BTreeMap, HashMap};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::drain::{self, StreamBody};
use super::late_watch;
use super::metrics::ServerMetrics;
use super::router::Router;
use super::stream_socket::StreamSocket;
use super::ServerBuilder;
use crate::Hub;

/// How long `stop` waits for streams to end their bodies before it cuts the connections left. A
/// stream whose write turn is free ends at once; one that a hub's flusher is writing to ends
/// within a clock tick; only a write blocked on a client that does not read takes longer, and
/// that client could not read the end anyway.
const STREAM_END_TIMEOUT: Duration = Duration::from_millis(500);

/// What every thread of a server shares: its settings and routes, the hub it serves, its counters,
/// and the registry of open connections.
pub(super) struct Shared {
    pub(super) config: ServerBuilder,
    pub(super) router: Router,
    pub(super) hub: Hub,
    /// Counters of connections and answers, and the hubs the metrics report.
    pub(super) metrics: Arc<ServerMetrics>,
    /// `stop` has begun: the accept loop returns at its next connection, and streams that start
    /// from now on end at once.
    pub(super) stopping: AtomicBool,
    connections: Mutex<Connections>,
    /// The overflow answerer's thread, once a connection past the limit has started it.
    pub(super) overflow_thread: Mutex<Option<JoinHandle<()>>>,
    /// Starts the departure watches of per-connection streams that last.
    pub(super) watch_starter: Arc<late_watch::WatchStarter>,
    /// Wakes a drain waiting for its next turn when the server stops; used with `connections`.
    pub(super) drain_wake: Condvar,
}

/// Every open connection's socket (so `stop` can close them) and thread (so `stop` can join them).
#[derive(Default)]
pub(super) struct Connections {
    pub(super) sockets: HashMap<u64, Arc<TcpStream>>,
    /// The stream each streaming connection runs, by connection id: `stop` ends their bodies
    /// properly before it closes the sockets.
    pub(super) streams: HashMap<u64, Weak<StreamSocket>>,
    pub(super) threads: Vec<JoinHandle<()>>,
    /// The same streams as the drain sees them, and the drain under way, if any.
    pub(super) drain: drain::Book,
    pub(super) next_id: u64,
    /// Connections waiting for their next request, by ticket (in the order they began to wait),
    /// to their id: the first to close when the server is full. A connection's thread takes its
    /// ticket back when it stops waiting; a ticket that is gone means the connection was closed
    /// to make room.
    pub(super) idle: BTreeMap<u64, u64>,
    pub(super) next_idle_ticket: u64,
}

impl Shared {
    /// What the threads of a server with these settings share; for a server with no hub set, a
    /// new hub with the default settings.
    pub(super) fn new(config: ServerBuilder) -> Shared {
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

    pub(super) fn lock_connections(&self) -> MutexGuard<'_, Connections> {
        self.connections.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks connection `id` as waiting for its next request; returns its ticket.
    pub(super) fn begin_idle(&self, id: u64) -> u64 {
        let mut connections = self.lock_connections();
        let ticket = connections.next_idle_ticket;
        connections.next_idle_ticket += 1;
        connections.idle.insert(ticket, id);
        ticket
    }

    /// Ends a wait begun with [`begin_idle`](Self::begin_idle); false if the connection was closed
    /// meanwhile to make room for another.
    pub(super) fn end_idle(&self, ticket: u64) -> bool {
        self.lock_connections().idle.remove(&ticket).is_some()
    }

    /// Records that connection `id` runs `stream`, made of `body`, until the returned guard is
    /// dropped, so that `stop` can end its body, and a drain too once the guard says it has
    /// started. A stream that starts once the server is stopping ends at once.
    pub(super) fn track_stream(&self, id: u64, stream: &Arc<StreamSocket>, body: StreamBody) -> TrackedStream<'_> {
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
    pub(super) fn end_streams(&self) {
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
pub(super) struct TrackedStream<'a> {
    pub(super) shared: &'a Shared,
    pub(super) id: u64,
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
