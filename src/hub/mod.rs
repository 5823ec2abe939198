//! The hub: a registry of connected clients, the history of events with ids, and the fan-out that
//! sends each event to every client.
//!
//! # How an event travels
//!
//! 1. [`Sse::send_new_event`] encodes the event once, appends the bytes to the [backlog] (one
//!    shared log of everything sent) and, if it has an id, keeps it in the [history]. That is all
//!    the publishing thread does: it never touches a socket, so a slow client cannot slow it down.
//! 2. Writer threads (one per core by default) wake up, and each walks its share of the clients,
//!    writing to each one everything between that client's cursor and the end of the backlog in a
//!    single `write`. A burst of events published while a writer was busy goes out as one write.
//! 3. A writer never waits for a socket: sockets it writes to have a very short send timeout. When
//!    one is full, the writer hands that client back to its connection thread, which finishes the
//!    backlog with ordinary blocking writes and then hands it back. A client whose backlog grows
//!    past [`SseBuilder::max_queued_bytes`] is disconnected; it can resume with `Last-Event-ID`.
//!
//! # Joining and resuming
//!
//! A connecting client is registered, and its history snapshot taken, under the same lock that
//! publishing takes. Its cursor starts at the end of the backlog at that instant, so every event is
//! either in the snapshot or after the cursor: never both, never neither.
//!
//! A client that names a last event id gets the kept events after it. When the id is not in history
//! (never sent, or evicted by the limits) the client gets an event of type [`RESET_EVENT_TYPE`]
//! whose data is the id it sent, then the whole retained history: it learns that it may have missed
//! events and can reload its state.
//!
//! [backlog]: backlog::Backlog
//! [history]: history::History

mod backlog;
mod history;
mod writer;

use std::borrow::Borrow;
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::error::is_timeout;
use crate::{Error, Event};
use backlog::Backlog;
use history::History;

/// Events with ids kept for late joiners, by default.
pub const DEFAULT_HISTORY_EVENTS: usize = 1000;
/// Bytes of encoded events with ids kept for late joiners, by default.
pub const DEFAULT_HISTORY_BYTES: usize = 4 * 1024 * 1024;
/// Bytes a client may fall behind before it is disconnected, by default.
pub const DEFAULT_MAX_QUEUED_BYTES: usize = 1024 * 1024;
/// How long a stream may stay silent before a heartbeat comment is sent, by default.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);
/// How long a write to a client may make no progress before the client is dropped, by default.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The type of the event sent to a client that resumes from an id the hub no longer has.
pub const RESET_EVENT_TYPE: &str = "bare-sse-reset";

/// The heartbeat: a comment, which every client ignores.
const HEARTBEAT_BYTES: &[u8] = b": keep-alive\n";
/// Stack size of writer threads: they keep nothing big on the stack.
const WRITER_STACK_BYTES: usize = 64 * 1024;
/// Most bytes a connection thread copies out of the backlog per blocking write while catching up.
const CATCH_UP_CHUNK_BYTES: usize = 256 * 1024;
/// Backlog size past which dropping bytes every client has passed is worth a walk of the clients.
const TRIM_BACKLOG_AT_BYTES: usize = 64 * 1024;

/// Settings for a hub. Every limit has a default; see the constants in this module.
#[derive(Debug, Clone)]
pub struct SseBuilder {
    history_events: usize,
    history_bytes: usize,
    max_queued_bytes: usize,
    heartbeat: Option<Duration>,
    write_timeout: Duration,
    writer_threads: usize,
}

impl Default for SseBuilder {
    fn default() -> SseBuilder {
        let cores = thread::available_parallelism().map_or(1, usize::from);
        SseBuilder {
            history_events: DEFAULT_HISTORY_EVENTS,
            history_bytes: DEFAULT_HISTORY_BYTES,
            max_queued_bytes: DEFAULT_MAX_QUEUED_BYTES,
            heartbeat: Some(DEFAULT_HEARTBEAT),
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            writer_threads: cores.clamp(1, 4),
        }
    }
}

impl SseBuilder {
    /// Most events with ids kept in history (default [`DEFAULT_HISTORY_EVENTS`]; 0 keeps none).
    pub fn history_events(mut self, count: usize) -> SseBuilder {
        self.history_events = count;
        self
    }

    /// Most bytes of events kept in history (default [`DEFAULT_HISTORY_BYTES`]).
    pub fn history_bytes(mut self, bytes: usize) -> SseBuilder {
        self.history_bytes = bytes;
        self
    }

    /// How far, in bytes, a client may fall behind the newest event before it is disconnected
    /// (default [`DEFAULT_MAX_QUEUED_BYTES`]). A disconnected browser reconnects and resumes from
    /// its last id, so a slow client costs itself a reconnect, never the others their events.
    pub fn max_queued_bytes(mut self, bytes: usize) -> SseBuilder {
        self.max_queued_bytes = bytes;
        self
    }

    /// Sends a comment after this much silence (default [`DEFAULT_HEARTBEAT`]); `None` turns
    /// heartbeats off. Heartbeats keep proxies from closing idle streams and reveal dead peers.
    pub fn heartbeat(mut self, interval: Option<Duration>) -> SseBuilder {
        self.heartbeat = interval;
        self
    }

    /// How long a blocking write to one client may make no progress before that client is dropped
    /// (default [`DEFAULT_WRITE_TIMEOUT`]).
    pub fn write_timeout(mut self, timeout: Duration) -> SseBuilder {
        self.write_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Number of writer threads that share the clients between them (default: one per core, at
    /// most 4).
    pub fn writer_threads(mut self, count: usize) -> SseBuilder {
        self.writer_threads = count.max(1);
        self
    }

    /// Creates the hub.
    pub fn build(self) -> Sse {
        let shards = self.writer_threads;
        let state = State {
            next_id: 1,
            history: History::new(self.history_events, self.history_bytes),
            backlog: Backlog::default(),
            shards: (0..shards).map(|_| HashMap::new()).collect(),
            seen_end: vec![0; shards],
            subscriber_count: 0,
            next_subscriber_id: 0,
            writers_running: 0,
            idle_writers: 0,
            writer_handles: Vec::new(),
            last_append: Instant::now(),
            stats: Stats::default(),
        };
        Sse {
            inner: Arc::new(Inner {
                config: self,
                state: Mutex::new(state),
                work: Condvar::new(),
                progress: Condvar::new(),
            }),
        }
    }
}

/// A hub: the registry of clients, the history, the id counter. Cheap to clone (all clones are the
/// same hub); it can be served on several ports at once and outlives any server that serves it.
///
/// ```
/// use bare_sse::{Event, Sse};
///
/// let hub = Sse::new();
/// hub.send_new_event(Event::new().data("kept").with_id()).unwrap();
/// hub.send_new_event(Event::new().data("live only")).unwrap();
/// assert_eq!(hub.stats().history_len, 1);
/// ```
#[derive(Clone)]
pub struct Sse {
    inner: Arc<Inner>,
}

/// Counters readable from a hub at any time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Clients connected now.
    pub clients: usize,
    /// Events published with `send_new_event` since the hub was made.
    pub events_sent: u64,
    /// Clients disconnected for slowness: more than `max_queued_bytes` behind, or a write that made
    /// no progress for `write_timeout`.
    pub dropped_slow: u64,
    /// Clients that have gone, for any reason (they left, were dropped, or the server stopped).
    pub disconnects: u64,
    /// Events kept in history now.
    pub history_len: usize,
}

struct Inner {
    config: SseBuilder,
    state: Mutex<State>,
    /// Writers wait here for bytes to send.
    work: Condvar,
    /// Signalled whenever clients make progress or leave: `flush` waits here.
    progress: Condvar,
}

struct State {
    next_id: u64,
    history: History,
    backlog: Backlog,
    /// Clients, split between the writer threads: shard `k` belongs to writer `k`.
    shards: Vec<HashMap<u64, Subscriber>>,
    /// Per shard, the backlog end its writer has already handled.
    seen_end: Vec<u64>,
    subscriber_count: usize,
    next_subscriber_id: u64,
    writers_running: usize,
    /// Writers asleep on `work`, waiting for bytes.
    idle_writers: usize,
    writer_handles: Vec<JoinHandle<()>>,
    last_append: Instant,
    stats: Stats,
}

struct Subscriber {
    socket: Arc<TcpStream>,
    /// Offset in the backlog of the next byte this client needs.
    cursor: u64,
    owner: Owner,
    /// Set when the writers hand the client back to its connection thread, which checks it every
    /// second without taking the hub's lock.
    handed_back: Arc<AtomicBool>,
    /// The hub gave up on this client (too slow, or a write failed) and shut its socket; the
    /// connection thread removes it.
    closed: bool,
}

/// Who writes to a client's socket right now. Exactly one thread does, so bytes never interleave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// Its connection thread: while sending history, or after the socket filled up.
    Connection,
    /// The writer thread of its shard.
    Writers,
}

impl Default for Sse {
    fn default() -> Sse {
        Sse::new()
    }
}

impl std::fmt::Debug for Sse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sse").field("stats", &self.stats()).finish()
    }
}

impl Sse {
    /// A hub with the default settings (Racket's `make-sse`).
    pub fn new() -> Sse {
        SseBuilder::default().build()
    }

    /// Settings for a hub.
    pub fn builder() -> SseBuilder {
        SseBuilder::default()
    }

    /// Sends an event to every connected client. An event with an id ([`Event::id`] or
    /// [`Event::with_id`], which numbers it 1, 2, 3, ...) is also kept in history.
    ///
    /// Returns at once: the bytes are queued for the writer threads. Fails only when a field is
    /// invalid, and then nothing is sent.
    pub fn send_new_event(&self, event: impl Borrow<Event>) -> Result<(), Error> {
        let event = event.borrow();
        // A hub-numbered event is encoded under the lock, so ids reach the backlog in order.
        let (mut state, bytes, id) = if event.wants_next_id() {
            let mut state = self.lock();
            let id = state.next_id.to_string();
            let bytes = event.encode(Some(&id))?;
            state.next_id += 1;
            (state, bytes, Some(id))
        } else {
            let bytes = event.encode(None)?;
            (self.lock(), bytes, event.given_id().map(str::to_string))
        };
        state.stats.events_sent += 1;
        self.append(&mut state, &bytes);
        if let Some(id) = id.filter(|id| !id.is_empty()) {
            state.history.keep(id, bytes.into());
        }
        Ok(())
    }

    /// Counters: clients, events sent, clients dropped, history size.
    pub fn stats(&self) -> Stats {
        let state = self.lock();
        Stats { clients: state.subscriber_count, history_len: state.history.len(), ..state.stats }
    }

    /// Number of clients connected now.
    pub fn clients(&self) -> usize {
        self.lock().subscriber_count
    }

    /// Waits until the number of connected clients satisfies `condition`, or until `timeout`.
    /// Returns whether it did. Useful to wait for a first client before sending, or for clients to
    /// be gone.
    ///
    /// ```
    /// let hub = bare_sse::Sse::new();
    /// assert!(hub.wait_until_clients(|n| n == 0, std::time::Duration::from_millis(10)));
    /// ```
    pub fn wait_until_clients(&self, condition: impl Fn(usize) -> bool, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if condition(state.subscriber_count) || left.is_zero() {
                return condition(state.subscriber_count);
            }
            state = self.inner.progress.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// Waits until every connected client has been handed everything sent so far (written to its
    /// socket), or until `timeout`. Returns whether that happened in time.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            let end = state.backlog.end();
            let done = state.shards.iter().flat_map(HashMap::values).all(|sub| sub.closed || sub.cursor == end);
            let left = deadline.saturating_duration_since(Instant::now());
            if done || left.is_zero() {
                return done;
            }
            state = self.inner.progress.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// The heartbeat interval, also used by per-connection streams.
    pub(crate) fn heartbeat(&self) -> Option<Duration> {
        self.inner.config.heartbeat
    }

    /// The write timeout, also used by per-connection streams.
    pub(crate) fn write_timeout(&self) -> Duration {
        self.inner.config.write_timeout
    }

    /// Registers a client and takes its history snapshot in one step, appending what it missed to
    /// `first_bytes` (the connection's response head). Its connection thread then sends those bytes
    /// with [`Subscription::start`].
    pub(crate) fn subscribe(
        &self,
        socket: Arc<TcpStream>,
        last_event_id: Option<&str>,
        first_bytes: &mut Vec<u8>,
    ) -> io::Result<Subscription> {
        let mut joinable = Vec::new();
        let mut state = self.lock();
        if state.writers_running == 0 {
            joinable = std::mem::take(&mut state.writer_handles);
            self.start_writers(&mut state)?;
        }
        let replay = state.history.after(last_event_id);
        let id = state.next_subscriber_id;
        state.next_subscriber_id += 1;
        let shard = (id % state.shards.len() as u64) as usize;
        let cursor = state.backlog.end();
        let handed_back = Arc::new(AtomicBool::new(false));
        let subscriber = Subscriber {
            socket: Arc::clone(&socket),
            cursor,
            owner: Owner::Connection,
            handed_back: Arc::clone(&handed_back),
            closed: false,
        };
        state.shards[shard].insert(id, subscriber);
        state.subscriber_count += 1;
        self.inner.progress.notify_all();
        drop(state);
        for handle in joinable {
            let _ = handle.join();
        }
        if replay.unknown_id {
            let reset = Event::new().event(RESET_EVENT_TYPE).data(last_event_id.unwrap_or_default());
            first_bytes.extend_from_slice(&reset.encode(None).map_err(io::Error::from)?);
        }
        for event in &replay.events {
            first_bytes.extend_from_slice(event);
        }
        Ok(Subscription { hub: self.clone(), id, shard, socket, handed_back })
    }

    /// Waits for the writer threads to end once no client is left, and joins them.
    pub(crate) fn join_idle_writers(&self) {
        let mut state = self.lock();
        while state.subscriber_count == 0 && state.writers_running > 0 {
            state = self.inner.progress.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        if state.subscriber_count == 0 {
            let handles = std::mem::take(&mut state.writer_handles);
            drop(state);
            for handle in handles {
                let _ = handle.join();
            }
        }
    }

    fn start_writers(&self, state: &mut State) -> io::Result<()> {
        for shard in 0..state.shards.len() {
            let inner = Arc::clone(&self.inner);
            let handle = thread::Builder::new()
                .name(format!("bare-sse-writer-{shard}"))
                .stack_size(WRITER_STACK_BYTES)
                .spawn(move || writer::run(&inner, shard))?;
            state.writer_handles.push(handle);
            state.writers_running += 1;
            state.seen_end[shard] = state.backlog.end();
        }
        Ok(())
    }

    fn append(&self, state: &mut State, bytes: &[u8]) {
        if state.subscriber_count == 0 {
            state.backlog.skip(bytes.len());
        } else {
            state.backlog.append(bytes);
            // Waking a condvar is a system call; during a burst the writers are busy anyway.
            if state.idle_writers > 0 {
                self.inner.work.notify_all();
            }
        }
        state.last_append = Instant::now();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.lock()
    }
}

impl Inner {
    /// A panic while holding the lock leaves the state consistent (every update is a single
    /// assignment or push), so a poisoned lock is used as it is rather than wedging every client.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn subscriber(&mut self, shard: usize, id: u64) -> Option<&mut Subscriber> {
        self.shards[shard].get_mut(&id)
    }

    /// Drops the backlog bytes that every open client has passed, when there are enough of them to
    /// be worth a walk over all clients.
    fn trim_backlog(&mut self) {
        if self.backlog.held() < TRIM_BACKLOG_AT_BYTES {
            return;
        }
        let end = self.backlog.end();
        let lowest = self.shards.iter().flat_map(HashMap::values).filter(|s| !s.closed).map(|s| s.cursor).min();
        self.backlog.drop_before(lowest.unwrap_or(end));
    }
}

impl Subscriber {
    /// Gives up on the client: shutting the socket wakes its connection thread, which then leaves.
    fn close(&mut self) {
        self.closed = true;
        let _ = self.socket.shutdown(Shutdown::Both);
    }
}

/// A client's place in the hub, held by its connection thread. Dropping it unregisters the client.
pub(crate) struct Subscription {
    hub: Sse,
    id: u64,
    shard: usize,
    socket: Arc<TcpStream>,
    handed_back: Arc<AtomicBool>,
}

impl Subscription {
    /// Sends the first bytes (response head, history) and then the backlog, with blocking writes.
    pub fn start(&self, first_bytes: &[u8]) -> io::Result<()> {
        self.socket.set_write_timeout(Some(self.hub.inner.config.write_timeout))?;
        (&*self.socket).write_all(first_bytes)?;
        self.catch_up()
    }

    /// Writes the client's backlog with blocking writes until it has everything, then hands the
    /// client to the writer threads. Fails when the client is gone or was dropped.
    pub fn catch_up(&self) -> io::Result<()> {
        let config = &self.hub.inner.config;
        self.socket.set_write_timeout(Some(config.write_timeout))?;
        let mut chunk = Vec::new();
        loop {
            {
                let mut state = self.hub.lock();
                let end = state.backlog.end();
                let State { shards, backlog, .. } = &mut *state;
                let Some(sub) = shards[self.shard].get_mut(&self.id).filter(|s| !s.closed) else {
                    return Err(io::ErrorKind::ConnectionAborted.into());
                };
                if sub.cursor == end {
                    self.socket.set_write_timeout(Some(writer::WRITE_TIMEOUT))?;
                    sub.owner = Owner::Writers;
                    sub.handed_back.store(false, Ordering::Release);
                    return Ok(());
                }
                let pending = backlog.since(sub.cursor);
                chunk.clear();
                chunk.extend_from_slice(&pending[..pending.len().min(CATCH_UP_CHUNK_BYTES)]);
            }
            if let Err(error) = (&*self.socket).write_all(&chunk) {
                if is_timeout(&error) {
                    self.hub.lock().stats.dropped_slow += 1; // no progress for write_timeout
                }
                return Err(error);
            }
            let mut state = self.hub.lock();
            if let Some(sub) = state.subscriber(self.shard, self.id) {
                sub.cursor += chunk.len() as u64;
            }
            self.hub.inner.progress.notify_all();
        }
    }

    /// Whether the writer threads handed this client back because its socket was full.
    pub fn handed_back(&self) -> bool {
        self.handed_back.load(Ordering::Acquire)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut state = self.hub.lock();
        if state.shards[self.shard].remove(&self.id).is_some() {
            state.subscriber_count -= 1;
            state.stats.disconnects += 1;
        }
        self.hub.inner.work.notify_all();
        self.hub.inner.progress.notify_all();
    }
}
