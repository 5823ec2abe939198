//! The hub: a registry of connected clients, the history of events with ids, and the fan-out that
//! sends each event to every client. (Racket's SSE library calls this `make-sse`.)
//!
//! # How an event travels
//!
//! 1. [`Hub::send_new_event`] encodes the event once, appends the bytes to the backlog (one shared
//!    log of everything sent) and, if it has an id, keeps it in the history. That is all the
//!    publishing thread does: it never touches a socket, so a slow client cannot slow it down.
//! 2. Flusher threads (one per core by default) wake up, and each walks its shard of the clients,
//!    writing to each one everything between that client's cursor and the end of the backlog in a
//!    single write. A burst published while a flusher was busy goes out as one write.
//! 3. A flusher never waits for a socket: its writes are non-blocking, and take what the socket has
//!    room for. When one is full, the flusher puts that client in the catch-up queue and goes on
//!    with the others. A catch-up thread takes it from there, finishes its backlog with blocking
//!    writes (the kernel wakes it as the socket drains: no polling), and hands it back to its
//!    flusher. A client that stops reading is dropped once a write makes no progress for
//!    [`HubBuilder::write_timeout`], or once it is [`HubBuilder::max_queued_bytes`] behind. It can
//!    resume with `Last-Event-ID`.
//!
//! # What a slow client costs
//!
//! Its connection's thread, always (blocked in `read`, to notice it leave), and, while its socket
//! is full, one catch-up thread; never more. Catch-up threads are shared: one that has finished a
//! client takes the next one waiting, waits [`CATCH_UP_LINGER`] for one if none does, then ends.
//! A client that reads nothing holds its catch-up thread until the write timeout drops it (one
//! to two `write_timeout`s: the first write may take a few bytes before it waits); one that
//! reads slowly, until it has caught up or is `max_queued_bytes` behind. At most
//! [`HubBuilder::max_catch_up_threads`] run at once: past that, clients whose sockets are full
//! wait their turn, in the order their sockets filled (and fall further behind meanwhile), so a
//! flood of clients that never read costs at most that many threads beyond their connections'.
//!
//! # Joining and resuming
//!
//! A connecting client is registered, and its history snapshot taken, under the same lock that
//! publishing takes. Its cursor starts at the end of the backlog at that instant, so every event is
//! either in the snapshot or after the cursor: never both, never neither.
//!
//! A client that names a last event id gets the kept events after it. When the id is not in history
//! (never sent, evicted by the limits, or from an earlier run of the program) the client gets an
//! event of type [`RESET_EVENT_TYPE`] whose data is the id it sent, then the whole retained
//! history: it learns that it may have missed events and can reload its state.
//!
//! # Ids
//!
//! [`Event::with_id`] asks the hub to number an event. Hub ids are `<epoch>-<n>`: `n` counts 1, 2,
//! 3, ... and the epoch is the time the hub was made, in Unix milliseconds. The epoch is what lets a
//! restarted program recognise a `Last-Event-ID` from its previous run, which would otherwise name
//! one of the new run's events and resume the browser at the wrong place.
//!
//! # For the people changing this module
//!
//! The state and its policy live in `registry.rs` (no sockets, unit-tested there); this file holds
//! the lock, the flusher threads and the catch-up threads. The invariants (one writer per client,
//! every event exactly once, every shard with clients has a flusher, every client waiting for a
//! catch-up thread has one coming) are stated in `registry.rs`.
//! Here, in addition: **no lock is held across a write or a thread spawn**; the hub's lock guards
//! only the registry, and every socket operation happens after it is released. The same holds for
//! the lifecycle hooks (`hooks.rs`), which run user code; the counters in `counters.rs` are
//! atomics bumped outside the lock.

mod backlog;
mod backplane;
mod counters;
mod history;
pub mod hooks;
pub(crate) mod registry;

use std::borrow::Borrow;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::compress::deflate::Deflater;
use crate::compress::gzip::{self, Checksum};
use crate::error::is_timeout;
use crate::redis::RedisUrl;
use crate::{Error, Event};
use backplane::{Backplane, RedisConfig, RedisSettings};
pub use backplane::{
    DEFAULT_REDIS_MAX_ENTRY_BYTES, DEFAULT_REDIS_MAX_LEN, DEFAULT_REDIS_TIMEOUT, MAX_REDIS_MAX_ENTRY_BYTES,
    MAX_REDIS_TIMEOUT, MIN_REDIS_MAX_ENTRY_BYTES, MIN_REDIS_TIMEOUT,
};
use counters::Counters;
use history::{History, Replay};
pub use hooks::ClientInfo;
use hooks::{Hooks, Presence};
use registry::{CatchUpStep, Coding, Key, Registry, Round, Written};
pub use registry::{Stats, RESET_EVENT_TYPE};

/// Events with ids kept for late joiners, by default.
pub const DEFAULT_HISTORY_EVENTS: usize = 1000;
/// Bytes of encoded events with ids kept for late joiners, by default.
pub const DEFAULT_HISTORY_BYTES: usize = 4 * 1024 * 1024;
/// Bytes a client may fall behind before it is disconnected, by default. The backlog is shared by
/// all clients, so this bounds the hub's memory, not each client's; it is large so that a client
/// that keeps reading stays connected through bursts of several megabytes.
pub const DEFAULT_MAX_QUEUED_BYTES: usize = 32 * 1024 * 1024;
/// How long a stream may stay silent before a heartbeat comment is sent, by default.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);
/// Shortest heartbeat interval accepted: shorter ones are raised to it.
pub const MIN_HEARTBEAT: Duration = Duration::from_millis(10);
/// Longest heartbeat interval accepted: longer ones are lowered to it.
pub const MAX_HEARTBEAT: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a write to a client may make no progress before the client is dropped, by default.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Shortest write timeout accepted (a zero timeout means "none" to the operating system).
pub const MIN_WRITE_TIMEOUT: Duration = Duration::from_millis(1);
/// Longest write timeout accepted: a client that takes nothing for an hour is not coming back.
pub const MAX_WRITE_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// Most flusher threads by default: past about four, the clients' own reading is the limit.
const DEFAULT_MAX_FLUSHERS: usize = 4;
/// Clients one flusher takes, by default, before the next flusher is given new ones. Measured
/// with `bench_fanout` on 2 cores: one flusher writes an event to 1,000 clients as fast as two
/// (about 12 ms until the last socket has it), and at 100 clients one flusher delivered a burst
/// 5–37% faster than two in seven paired runs (two only contend for the cores and the lock); at
/// 10,000 clients, two flushers bring the p99 latency down by a tenth.
pub const DEFAULT_CLIENTS_PER_FLUSHER: usize = 1000;

/// Catch-up threads that may run at once, by default: with the default connection limit (10,000),
/// a process stays well below the roughly 16,000 threads a Linux process gets by default
/// (`vm.max_map_count`), and 1,000 clients may be behind at the same time without waiting.
pub const DEFAULT_MAX_CATCH_UP_THREADS: usize = 1000;
/// How long a catch-up thread with no client to catch up waits for one before it ends: a burst
/// that fills many sockets reuses the threads the last one started, and an idle hub keeps none.
pub const CATCH_UP_LINGER: Duration = Duration::from_secs(1);

/// Stack size of flusher threads: they keep nothing big on the stack.
const FLUSHER_STACK_BYTES: usize = 64 * 1024;
/// Stack size of catch-up threads: they copy backlog bytes into a heap buffer and write them.
const CATCH_UP_STACK_BYTES: usize = 64 * 1024;
/// Most bytes a catch-up (a catch-up thread's, or a joining client's connection's) copies out of
/// the backlog per blocking write: about what a loopback socket buffer takes at once, so one copy
/// is one write.
const CATCH_UP_CHUNK_BYTES: usize = 64 * 1024;

/// What the hub needs of a client's connection. The server's connections implement it; the hub
/// never sees a socket.
pub(crate) trait Sink: Send + Sync {
    /// Writes as much of `bytes` as the socket takes without waiting: it never blocks, not even for
    /// a moment. `Partial` (perhaps of 0 bytes) when the socket is full, or when another thread is
    /// writing to it; then the client's next writer is a thread that may wait.
    fn write_now(&self, bytes: &[u8]) -> Written;
    /// Writes all of `bytes`, waiting for the socket, after finishing any frame an earlier
    /// `write_now` left open (empty `bytes` only finishes it). An error of kind `TimedOut` or
    /// `WouldBlock` means no progress for the write timeout: the client has stalled.
    fn write_blocking(&self, bytes: &[u8]) -> io::Result<()>;
    /// The hub gave up on this client: close its connection.
    fn close(&self);
    /// What ends this client's body when the body ends cleanly (the server's stop), before the
    /// framing's end: given the number of body bytes the socket has written (in whole writes,
    /// the frames' own bytes not counted), the bytes to write, or `None` when no clean end is
    /// possible there (the connection is then cut). Called at most once, by the socket's writer,
    /// with no write in progress. A gzip client's end is the rest of a unit its last write stopped
    /// inside, the final block and the trailer.
    fn set_ending(&self, ending: Ending);
}

/// The end of a client's body, computed when the body ends (see [`Sink::set_ending`]): given the
/// body bytes written so far and last plain bytes to send before the end (perhaps none), the
/// bytes that end it, or `None` where no clean end is possible.
pub(crate) type Ending = Box<dyn FnOnce(u64, &[u8]) -> Option<Vec<u8>> + Send>;

/// The sink type the hub stores.
type SharedSink = Arc<dyn Sink>;

/// Settings for a hub. Every limit has a default; see the constants in this module.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct HubBuilder {
    history_events: usize,
    history_bytes: usize,
    max_queued_bytes: usize,
    heartbeat: Option<Duration>,
    write_timeout: Duration,
    flusher_threads: usize,
    clients_per_flusher: usize,
    max_catch_up_threads: usize,
    id_epoch: Option<u64>,
    gzip: Option<u32>,
    /// The Redis server and stream behind the hub, if any.
    redis: Option<(RedisUrl, String)>,
    redis_settings: RedisSettings,
    name: Option<String>,
    hooks: Hooks,
}

impl Default for HubBuilder {
    fn default() -> HubBuilder {
        let cores = thread::available_parallelism().map_or(1, usize::from);
        HubBuilder {
            history_events: DEFAULT_HISTORY_EVENTS,
            history_bytes: DEFAULT_HISTORY_BYTES,
            max_queued_bytes: DEFAULT_MAX_QUEUED_BYTES,
            heartbeat: Some(DEFAULT_HEARTBEAT),
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            flusher_threads: cores.min(DEFAULT_MAX_FLUSHERS),
            clients_per_flusher: DEFAULT_CLIENTS_PER_FLUSHER,
            max_catch_up_threads: DEFAULT_MAX_CATCH_UP_THREADS,
            id_epoch: None,
            gzip: None,
            redis: None,
            redis_settings: RedisSettings::default(),
            name: None,
            hooks: Hooks::default(),
        }
    }
}

impl HubBuilder {
    /// Most events with ids kept in history (default [`DEFAULT_HISTORY_EVENTS`]; 0 keeps none).
    pub fn history_events(mut self, count: usize) -> HubBuilder {
        self.history_events = count;
        self
    }

    /// Most bytes of events kept in history (default [`DEFAULT_HISTORY_BYTES`]).
    pub fn history_bytes(mut self, bytes: usize) -> HubBuilder {
        self.history_bytes = bytes;
        self
    }

    /// How far, in bytes, a client may fall behind the newest event before it is disconnected
    /// (default [`DEFAULT_MAX_QUEUED_BYTES`]). The bytes are shared by every client, so this bounds
    /// the hub's memory. A disconnected browser reconnects and resumes from its last id, so a slow
    /// client costs itself a reconnect, never the others their events.
    pub fn max_queued_bytes(mut self, bytes: usize) -> HubBuilder {
        self.max_queued_bytes = bytes;
        self
    }

    /// Sends a comment after this much silence (default [`DEFAULT_HEARTBEAT`]); `None` turns
    /// heartbeats off. Heartbeats keep proxies from closing idle streams and reveal dead peers.
    /// The interval is kept between [`MIN_HEARTBEAT`] and [`MAX_HEARTBEAT`].
    pub fn heartbeat(mut self, interval: Option<Duration>) -> HubBuilder {
        self.heartbeat = interval.map(clamp_heartbeat);
        self
    }

    /// How long a write to one client may make no progress before that client is dropped (default
    /// [`DEFAULT_WRITE_TIMEOUT`], kept between [`MIN_WRITE_TIMEOUT`] and [`MAX_WRITE_TIMEOUT`]).
    pub fn write_timeout(mut self, timeout: Duration) -> HubBuilder {
        self.write_timeout = timeout.clamp(MIN_WRITE_TIMEOUT, MAX_WRITE_TIMEOUT);
        self
    }

    /// Number of flusher threads that share the clients between them (default: one per core, at
    /// most 4; at least 1).
    pub fn flusher_threads(mut self, count: usize) -> HubBuilder {
        self.flusher_threads = count.max(1);
        self
    }

    /// Clients one flusher takes before new clients go to the next (default
    /// [`DEFAULT_CLIENTS_PER_FLUSHER`]; at least 1). Once every flusher has this many, new clients
    /// go to the one with the fewest. 1 spreads clients evenly from the first.
    pub fn clients_per_flusher(mut self, count: usize) -> HubBuilder {
        self.clients_per_flusher = count.max(1);
        self
    }

    /// Most catch-up threads running at once (default [`DEFAULT_MAX_CATCH_UP_THREADS`]; at least
    /// 1). A catch-up thread finishes the backlog of a client whose socket filled up; past this
    /// many such clients, the others wait for a thread to come free, and meanwhile fall behind
    /// (up to [`max_queued_bytes`](Self::max_queued_bytes)). A client that does not read at all
    /// holds its thread until [`write_timeout`](Self::write_timeout) drops it.
    pub fn max_catch_up_threads(mut self, count: usize) -> HubBuilder {
        self.max_catch_up_threads = count.max(1);
        self
    }

    /// The epoch of the hub's ids (`<epoch>-<n>`; default: the time the hub is built, in Unix
    /// milliseconds, past every epoch this process handed out before). For tests that compare ids,
    /// or whole streams, with what they expect: with a fixed epoch the hub's first id is
    /// `<epoch>-1` on every run.
    ///
    /// Not for a server in production: two runs that share an epoch share ids, and since the count
    /// starts at 1 again, a browser's `Last-Event-ID` from the earlier run would be taken for an
    /// event of this one and the browser would resume at the wrong place. With the default epoch
    /// the hub knows an earlier run's id for what it is and sends the reset signal instead.
    ///
    /// ```
    /// use bare_sse::{Event, EventSource, Hub, Server};
    ///
    /// let hub = Hub::builder().id_epoch(7).build();
    /// hub.send_new_event(Event::new().data("first").with_id())?;
    /// let server = Server::builder().port(0).hub(hub).start()?;
    /// let mut events = EventSource::new(&format!("http://{}/", server.local_addr()))?;
    /// assert_eq!(events.next().expect("a stream never ends on its own")?.last_event_id, "7-1");
    /// server.stop();
    /// # Ok::<(), bare_sse::Error>(())
    /// ```
    pub fn id_epoch(mut self, epoch: u64) -> HubBuilder {
        self.id_epoch = Some(epoch);
        self
    }

    /// Compresses every event once, with gzip at `level` (0 to 9), for the clients whose
    /// `Accept-Encoding` takes gzip; the others get the plain bytes. Off by default.
    ///
    /// Each event is compressed on its own (it refers to nothing before it) and ends on a byte
    /// boundary, so the same bytes fit every client's stream after its own gzip header: late
    /// joiners, resuming clients, and history replay all use them. That keeps fan-out at one
    /// compression per event, not per client; the price is ratio, since an event cannot refer to
    /// the one before (a per-connection stream with [`Gzip`](crate::compress::Gzip) can). Compression
    /// runs in the publishing call, under the hub's lock. History keeps both forms.
    ///
    /// When the server's stop ends a hub stream's body, a gzip client's stream ends as a whole
    /// gzip member: the final block, and a trailer with the CRC-32 and length of what that client
    /// received, found from running checksums kept per event (nothing is counted per client as
    /// events go out). Mind the BREACH rule in [`compress`](crate::compress).
    pub fn gzip(mut self, level: u32) -> HubBuilder {
        self.gzip = Some(level);
        self
    }

    /// Backs the hub with the Redis stream `stream` at `url` (`redis://[[user]:password@]host[:port][/db]`),
    /// so that every server with a hub on the same stream delivers the same events in the same
    /// order, and a client can resume on any of them. Fails only on a URL that cannot be used;
    /// the connection is made (and remade, with backoff) in the background.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRedisUrl`] when `url` cannot be used, and [`Error::InvalidSetting`] when
    /// `stream` is empty.
    ///
    /// Publishing then appends to the stream and fails when Redis cannot be reached; ids come from
    /// Redis entries ([`Event::with_id`]; explicit ids are refused); events without ids are
    /// delivered live only. Servers on one stream should share the `redis_*` settings. See
    /// `src/hub/backplane.rs` for joining, resuming and faults.
    pub fn redis(mut self, url: &str, stream: &str) -> Result<HubBuilder, Error> {
        let url = RedisUrl::parse(url)?;
        if stream.is_empty() {
            return Err(Error::InvalidSetting("the Redis stream needs a name".into()));
        }
        self.redis = Some((url, stream.to_string()));
        Ok(self)
    }

    /// Entries the Redis stream keeps, about (`XADD ... MAXLEN ~`; default [`DEFAULT_REDIS_MAX_LEN`],
    /// at least 1): how far back a client can resume on a server whose history does not reach.
    pub fn redis_max_len(mut self, entries: usize) -> HubBuilder {
        self.redis_settings.max_len = entries.max(1);
        self
    }

    /// Largest Redis entry (an event's field names and values together) this hub's reader takes
    /// (default [`DEFAULT_REDIS_MAX_ENTRY_BYTES`], kept between [`MIN_REDIS_MAX_ENTRY_BYTES`] and
    /// [`MAX_REDIS_MAX_ENTRY_BYTES`]). Publishing a larger event is refused; a larger entry written
    /// by another program is skipped, and clients get the reset event. A reply from Redis holds
    /// at most about this much (twice that while it is decoded).
    pub fn redis_max_entry_bytes(mut self, bytes: usize) -> HubBuilder {
        self.redis_settings.max_entry_bytes = bytes.clamp(MIN_REDIS_MAX_ENTRY_BYTES, MAX_REDIS_MAX_ENTRY_BYTES);
        self
    }

    /// How long connecting to Redis, or one command with its whole reply, may take (default
    /// [`DEFAULT_REDIS_TIMEOUT`], kept between [`MIN_REDIS_TIMEOUT`] and [`MAX_REDIS_TIMEOUT`]).
    /// It bounds each publishing call (its wait for other publishers included), and each resuming
    /// client's read of what it missed from the stream: past it, the call fails, and the client
    /// gets the reset event. The reader's blocking reads wait 5 s more.
    pub fn redis_timeout(mut self, timeout: Duration) -> HubBuilder {
        self.redis_settings.timeout = timeout.clamp(MIN_REDIS_TIMEOUT, MAX_REDIS_TIMEOUT);
        self
    }

    /// Creates the hub. Its flusher threads start with its first client.
    pub fn build(self) -> Hub {
        let epoch = self.id_epoch.unwrap_or_else(new_epoch);
        let history = History::new(self.history_events, self.history_bytes);
        let mut registry = Registry::new(
            epoch,
            self.flusher_threads,
            self.clients_per_flusher,
            history,
            self.max_queued_bytes,
            self.max_catch_up_threads,
        );
        if let Some(level) = self.gzip {
            registry.compress(level);
        }
        let backplane = self
            .redis
            .clone()
            .map(|(url, stream)| Arc::new(Backplane::new(RedisConfig { url, stream, settings: self.redis_settings })));
        let shards = self.flusher_threads;
        let inner = Arc::new(Inner {
            config: self,
            state: Mutex::new(State {
                registry,
                last_append: Instant::now(),
                flushers: Vec::new(),
                catch_up_threads: Vec::new(),
                starting_flushers: false,
                shutting_down: false,
                asleep: vec![false; shards],
                progress_waiters: 0,
                redis_last: None,
                following: false,
            }),
            work: (0..shards).map(|_| Condvar::new()).collect(),
            catch_up_work: Condvar::new(),
            progress: Condvar::new(),
            backplane: backplane.clone(),
            counters: Counters::default(),
        });
        // The reader follows the stream from the start: events published before the first client
        // joins are in the history cache (and the stream) for it.
        let reader = backplane.and_then(|backplane| {
            let reader_inner = Arc::clone(&inner);
            thread::Builder::new()
                .name("bare-sse-redis-reader".to_string())
                .spawn(move || backplane::read_stream(&reader_inner, &backplane))
                .ok()
        });
        Hub { handle: Arc::new(Handle { inner, reader: Mutex::new(reader) }) }
    }
}

/// A fresh id epoch: the time in Unix milliseconds, and past every epoch this process handed out
/// before, so two hubs made within one millisecond (a quick restart inside one process) still
/// tell their ids apart. Separate processes are told apart by the clock: a restart takes longer
/// than a millisecond.
fn new_epoch() -> u64 {
    static LAST_EPOCH: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis() as u64);
    let previous = LAST_EPOCH.fetch_max(now, Ordering::Relaxed);
    if previous < now {
        return now;
    }
    LAST_EPOCH.fetch_add(1, Ordering::Relaxed) + 1
}

/// Keeps a heartbeat interval in the range the flushers can use: zero would spin, and a huge one
/// would overflow the clock.
pub(crate) fn clamp_heartbeat(interval: Duration) -> Duration {
    interval.clamp(MIN_HEARTBEAT, MAX_HEARTBEAT)
}

/// A hub: the registry of clients, the history, the id counter. Cheap to clone (all clones are the
/// same hub); it can be served on several ports at once and outlives any server that serves it.
/// Its flusher threads end when the last clone is dropped.
///
/// ```
/// use bare_sse::{Event, Hub};
///
/// let hub = Hub::new();
/// hub.send_new_event(Event::new().data("kept").with_id()).unwrap();
/// hub.send_new_event(Event::new().data("live only")).unwrap();
/// assert_eq!(hub.stats().history_len, 1);
/// ```
#[derive(Clone)]
pub struct Hub {
    handle: Arc<Handle>,
}

/// Shared by every clone of a [`Hub`]: dropping the last one stops the flushers. Connections hold
/// the [`Inner`] directly, so they do not keep the flushers alive on their own.
struct Handle {
    inner: Arc<Inner>,
    /// The Redis reader's thread, for a hub backed by Redis.
    reader: Mutex<Option<JoinHandle<()>>>,
}

struct Inner {
    config: HubBuilder,
    state: Mutex<State>,
    /// Per shard, where its flusher waits for bytes to send.
    work: Vec<Condvar>,
    /// Where idle catch-up threads wait for a client whose socket filled up.
    catch_up_work: Condvar,
    /// Signalled when clients make progress, join or leave, and when flushers start: `flush`,
    /// `wait_until_clients` and joining clients wait here.
    progress: Condvar,
    /// The Redis stream behind the hub, if any.
    backplane: Option<Arc<Backplane>>,
    /// Counters bumped outside the lock.
    counters: Counters,
}

struct State {
    registry: Registry<SharedSink>,
    last_append: Instant,
    flushers: Vec<JoinHandle<()>>,
    /// The catch-up threads started and not yet joined (the registry counts the running ones).
    catch_up_threads: Vec<JoinHandle<()>>,
    /// A thread is starting flushers, outside the lock.
    starting_flushers: bool,
    /// The last `Hub` was dropped: flushers return.
    shutting_down: bool,
    /// Per shard, whether its flusher is asleep on `work`: a publisher wakes only those, and only
    /// for shards with clients.
    asleep: Vec<bool>,
    /// Threads waiting on `progress`: progress is signalled only when someone waits.
    progress_waiters: usize,
    /// For a hub backed by Redis: the last entry the reader has published here (or the entry it
    /// started after). A joining client's place in the local fan-out is right after it.
    redis_last: Option<String>,
    /// For a hub backed by Redis: its reader is connected and following the stream.
    following: bool,
}

impl Default for Hub {
    fn default() -> Hub {
        Hub::new()
    }
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("stats", &self.stats()).finish()
    }
}

impl Hub {
    /// A hub with the default settings.
    pub fn new() -> Hub {
        HubBuilder::default().build()
    }

    /// Settings for a hub.
    pub fn builder() -> HubBuilder {
        HubBuilder::default()
    }

    fn inner(&self) -> &Arc<Inner> {
        &self.handle.inner
    }

    /// Sends an event to every connected client. An event with an id ([`Event::id`], or
    /// [`Event::with_id`] for the hub's next id) is also kept in history.
    ///
    /// Returns at once: the bytes are queued for the flusher threads. Fails only when a field is
    /// invalid, and then nothing is sent. On a hub backed by Redis ([`HubBuilder::redis`]), it
    /// returns once Redis has appended the event (a round trip), and every server's reader then
    /// delivers it; it also fails when Redis cannot be reached, refuses, or does not answer within
    /// [`HubBuilder::redis_timeout`], and then [`Error::RedisPublish`] says whether the event was appended
    /// all the same (`appended: 1`) or may have been (`unknown: 1`: Redis stopped answering after
    /// it was sent, so sending it again may deliver it twice).
    ///
    /// # Errors
    ///
    /// [`Error::EmptyEvent`] or [`Error::InvalidField`] when the event is invalid (see
    /// [`Event::validate`]) or its explicit id has the form of this hub's own ids. On a hub backed
    /// by Redis, also [`Error::InvalidField`] for any explicit id and for an event larger than
    /// [`HubBuilder::redis_max_entry_bytes`] (nothing is sent then), and [`Error::RedisPublish`] as
    /// above.
    pub fn send_new_event(&self, event: impl Borrow<Event>) -> Result<(), Error> {
        self.send_new_events(std::slice::from_ref(event.borrow()))
    }

    /// Sends several events, in order, under one lock. Fails at the first invalid event; the events
    /// before it are sent.
    ///
    /// On a hub backed by Redis, the events go in one round trip (pipelined `XADD`s) within
    /// [`HubBuilder::redis_timeout`]. An invalid event, or one larger than the readers take
    /// ([`HubBuilder::redis_max_entry_bytes`]), fails the call before anything is sent. Otherwise a
    /// failure is [`Error::RedisPublish`], which says how many of the events Redis appended (`appended`:
    /// they are delivered, and [`flush`](Self::flush) waits for them) and how many it may have
    /// (`unknown`: sent, but Redis stopped answering before it said; sending them again may deliver
    /// them twice). Redis runs every command of a batch even after refusing one; its usual
    /// refusals (out of memory, a key of the wrong type, no permission, a read-only replica) refuse
    /// the rest of the batch too, and then the appended events are the first `appended`.
    ///
    /// # Errors
    ///
    /// Those of [`send_new_event`](Self::send_new_event), for the first event that fails.
    pub fn send_new_events(&self, events: &[Event]) -> Result<(), Error> {
        let inner = self.inner();
        if let Some(backplane) = &inner.backplane {
            return backplane.publish(events);
        }
        let mut state = inner.lock();
        let mut result = Ok(());
        for event in events {
            result = state.registry.publish(event);
            if result.is_err() {
                break;
            }
        }
        state.last_append = Instant::now();
        inner.wake_flushers(&state);
        result
    }

    /// For a hub backed by Redis: waits until its reader is connected and following the stream, or
    /// until `timeout`; returns whether it is. From then on, every event published on any server
    /// of the stream reaches this hub's clients. Always false for a hub without Redis.
    pub fn wait_until_following(&self, timeout: Duration) -> bool {
        let inner = self.inner();
        inner.backplane.is_some() && inner.wait_for_progress(timeout, |state| state.following)
    }

    /// Counters: clients, events sent, bytes written, clients dropped, resumes and resets, history
    /// size.
    pub fn stats(&self) -> Stats {
        let stats = self.inner().lock().registry.stats();
        self.inner().counters.fill(stats)
    }

    /// Number of clients connected now.
    pub fn clients(&self) -> usize {
        self.inner().lock().registry.subscriber_count()
    }

    /// Waits until the number of connected clients satisfies `condition`, or until `timeout`.
    /// Returns whether it did. Useful to wait for a first client before sending, or for clients to
    /// be gone.
    ///
    /// ```
    /// let hub = bare_sse::Hub::new();
    /// assert!(hub.wait_until_clients(|n| n == 0, std::time::Duration::from_millis(10)));
    /// ```
    pub fn wait_until_clients(&self, condition: impl Fn(usize) -> bool, timeout: Duration) -> bool {
        self.inner().wait_for_progress(timeout, |state| condition(state.registry.subscriber_count()))
    }

    /// Waits until every connected client has been handed everything sent so far (written to its
    /// socket), or until `timeout`. Returns whether that happened in time. On a hub backed by
    /// Redis, "sent so far" includes what this hub published, once its reader has it back.
    pub fn flush(&self, timeout: Duration) -> bool {
        let inner = self.inner();
        let published = inner.backplane.as_ref().and_then(|backplane| backplane.last_published());
        inner.wait_for_progress(timeout, |state| {
            let arrived = published.as_deref().is_none_or(|id| backplane::reached(state.redis_last.as_deref(), id));
            arrived && state.registry.all_flushed()
        })
    }

    /// Whether `other` is a clone of this hub (the same clients, history and ids).
    pub(crate) fn is_same(&self, other: &Hub) -> bool {
        Arc::ptr_eq(&self.handle, &other.handle)
    }

    /// The write timeout of this hub's clients.
    pub(crate) fn write_timeout(&self) -> Duration {
        self.inner().config.write_timeout
    }

    /// Whether the hub compresses its events for clients that take gzip.
    pub(crate) fn compresses(&self) -> bool {
        self.inner().config.gzip.is_some()
    }

    /// Registers a client and takes its history snapshot in one step. The client is owned by its
    /// connection until [`Subscription::start`] has sent it what it missed. With `gzip` (on a hub
    /// that compresses), the client reads the compressed events.
    pub(crate) fn subscribe(
        &self,
        sink: SharedSink,
        last_event_id: Option<&str>,
        gzip: bool,
    ) -> io::Result<Subscription> {
        let inner = self.inner();
        inner.start_flushers()?;
        if let (Some(_), Some(after)) = (&inner.backplane, last_event_id) {
            backplane::wait_until_read(inner, after);
        }
        let coding = if gzip && self.compresses() { Coding::Gzip } else { Coding::Identity };
        let gzip = coding == Coding::Gzip;
        let joined = {
            let mut state = inner.lock();
            let joined =
                state.registry.join(sink, last_event_id, coding).map(|joined| (joined, state.redis_last.clone()));
            inner.signal_progress(&state);
            // Shard 0's flusher sends the heartbeats; asleep with no clients, it has no deadline:
            // let it compute one.
            if state.asleep[0] && inner.config.heartbeat.is_some() {
                inner.work[0].notify_one();
            }
            joined
        };
        let Some((mut joined, redis_last)) = joined else {
            return Err(io::Error::other("no flusher thread could be started"));
        };
        if last_event_id.is_some() && !joined.replay.unknown_id {
            inner.counters.resumed_from_history();
        }
        // Resuming from an entry this server's history does not hold: the stream may.
        if let (Some(backplane), Some(after), Some(through)) = (&inner.backplane, last_event_id, redis_last) {
            if joined.replay.unknown_id {
                if let Ok(Some(events)) = backplane.replay(after, &through, inner.config.max_queued_bytes) {
                    if gzip {
                        joined.replay.checksums = events.iter().map(|bytes| Checksum::of(bytes)).collect();
                    }
                    joined.replay.events = events.into_iter().map(|bytes| compressed_if(gzip, bytes).into()).collect();
                    joined.replay.unknown_id = false;
                    inner.counters.resumed_from_redis();
                }
            }
        }
        let reset = joined
            .replay
            .unknown_id
            .then(|| Event::new().event(RESET_EVENT_TYPE).data(last_event_id.unwrap_or_default()));
        if reset.is_some() {
            inner.counters.reset_sent();
        }
        let replay = Some(joined.replay);
        Ok(Subscription { inner: Arc::clone(inner), key: joined.key, replay, reset, gzip, presence: None })
    }
}

/// An event's bytes for a client that reads compressed bytes: a stored unit (for the few events
/// replayed from a backplane, which the hub's compressor never saw).
fn compressed_if(gzip: bool, bytes: Vec<u8>) -> Vec<u8> {
    if !gzip {
        return bytes;
    }
    let mut out = Vec::with_capacity(bytes.len() + 16);
    Deflater::stored_unit(&bytes, &mut out);
    out
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Some(backplane) = &self.inner.backplane {
            backplane.stop();
        }
        let reader = self.reader.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(reader) = reader {
            let _ = reader.join();
        }
        let flushers = {
            let mut state = self.inner.lock();
            state.shutting_down = true;
            std::mem::take(&mut state.flushers)
        };
        self.inner.work.iter().for_each(Condvar::notify_all);
        for flusher in flushers {
            let _ = flusher.join();
        }
        // No client is left (every server of this hub has stopped), so the catch-up threads are
        // idle or about to be: wake them to end now rather than after their linger.
        loop {
            let catch_up_threads = std::mem::take(&mut self.inner.lock().catch_up_threads);
            if catch_up_threads.is_empty() {
                break;
            }
            self.inner.catch_up_work.notify_all();
            for thread in catch_up_threads {
                let _ = thread.join();
            }
        }
    }
}

impl Inner {
    /// A panic while holding the lock leaves the registry consistent (no method of it can panic
    /// half-way through an update), so a poisoned lock is used as it is rather than wedging every
    /// client.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes the flushers asleep on shards with clients, after bytes were appended. A flusher
    /// whose shard has no clients has nothing to write, so few clients cost one wake-up per event,
    /// and a burst costs none: busy flushers look for more before they sleep.
    fn wake_flushers(&self, state: &State) {
        for (shard, work) in self.work.iter().enumerate() {
            if state.asleep[shard] && state.registry.has_clients(shard) {
                work.notify_one();
            }
        }
    }

    fn signal_progress(&self, state: &State) {
        if state.progress_waiters > 0 {
            self.progress.notify_all();
        }
    }

    /// Waits until `done` holds for the state, or until `timeout`; returns whether it holds. Whoever
    /// changes what `done` looks at signals `progress`.
    fn wait_for_progress(&self, timeout: Duration, done: impl Fn(&State) -> bool) -> bool {
        // A timeout too long for the clock to represent waits without a deadline.
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.lock();
        loop {
            let left = deadline.map_or(Duration::MAX, |deadline| deadline.saturating_duration_since(Instant::now()));
            if done(&state) || left.is_zero() {
                return done(&state);
            }
            state.progress_waiters += 1;
            state = self.progress.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
            state.progress_waiters -= 1;
        }
    }

    /// Starts the flusher of every shard that has none, outside the lock. Concurrent callers wait
    /// for the one that is starting them. Fails only when no flusher runs at all.
    fn start_flushers(self: &Arc<Inner>) -> io::Result<()> {
        let mut state = self.lock();
        loop {
            if state.registry.live_shards() == state.registry.shard_count() {
                return Ok(());
            }
            if !state.starting_flushers {
                break;
            }
            state.progress_waiters += 1;
            state = self.progress.wait(state).unwrap_or_else(PoisonError::into_inner);
            state.progress_waiters -= 1;
        }
        state.starting_flushers = true;
        let (first, total) = (state.registry.live_shards(), state.registry.shard_count());
        drop(state);
        let mut started = Vec::new();
        let mut failure = None;
        for shard in first..total {
            let inner = Arc::clone(self);
            let spawned = thread::Builder::new()
                .name(format!("bare-sse-flusher-{shard}"))
                .stack_size(FLUSHER_STACK_BYTES)
                .spawn(move || flush_shard(&inner, shard));
            match spawned {
                Ok(handle) => started.push(handle),
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        let mut state = self.lock();
        state.starting_flushers = false;
        let live = first + started.len();
        state.registry.set_live_shards(live);
        state.flushers.extend(started);
        self.progress.notify_all();
        match failure {
            Some(error) if live == 0 => Err(error),
            _ => Ok(()),
        }
    }
}

/// The flusher of one shard: each round, it writes every client of the shard that is behind
/// everything past its cursor, never waiting on a socket. Returns when the hub is dropped.
///
/// Shard 0's flusher also appends the heartbeat when the stream has been silent long enough.
fn flush_shard(inner: &Arc<Inner>, shard: usize) {
    let mut round = Round::default();
    let mut state = inner.lock();
    loop {
        state = match wait_for_work(inner, state, shard) {
            Some(state) => state,
            None => return,
        };
        state.registry.start_round(shard, &mut round);
        drop(state);
        for index in 0..round.targets.len() {
            let outcome = round.targets[index].sink.write_now(round.bytes_for(index));
            round.targets[index].outcome = outcome;
            if let Written::Partial(_) = outcome {
                // Its socket is full: it goes to a catch-up thread now, not when the round ends,
                // so that it catches up while this round writes to the others.
                let mut state = inner.lock();
                if state.registry.finish_target(&mut round, index) {
                    call_catch_up_threads(inner, state, 1);
                }
            }
        }
        inner.counters.wrote_round(&round);

        state = inner.lock();
        state.registry.finish_round(&mut round);
        inner.signal_progress(&state);
        if round.to_close.is_empty() && round.handed_back == 0 {
            continue;
        }
        call_catch_up_threads(inner, state, round.handed_back);
        for sink in round.to_close.drain(..) {
            sink.close();
        }
        state = inner.lock();
    }
}

/// After `queued` clients joined the catch-up queue: wakes as many idle catch-up threads, and
/// starts one more if they are not enough (it starts the next). Releases the lock first.
fn call_catch_up_threads(inner: &Arc<Inner>, mut state: MutexGuard<'_, State>, queued: usize) {
    let wake = queued.min(state.registry.idle_catch_up_threads());
    let start = queued > 0 && state.registry.start_catch_up_thread();
    drop(state);
    for _ in 0..wake {
        inner.catch_up_work.notify_one();
    }
    if start {
        inner.start_catch_up_thread();
    }
}

impl Inner {
    /// Starts a catch-up thread the registry has counted in. If it cannot be started, and no
    /// other runs, the clients waiting for one are closed: they resume by `Last-Event-ID`.
    fn start_catch_up_thread(self: &Arc<Inner>) {
        let inner = Arc::clone(self);
        let spawned = thread::Builder::new()
            .name("bare-sse-catch-up".to_string())
            .stack_size(CATCH_UP_STACK_BYTES)
            .spawn(move || run_catch_up_thread(&inner));
        let mut state = self.lock();
        match spawned {
            Ok(thread) => {
                // Join the threads that have ended since, so that their handles do not pile up.
                let (ended, running) = std::mem::take(&mut state.catch_up_threads)
                    .into_iter()
                    .partition::<Vec<_>, _>(JoinHandle::is_finished);
                state.catch_up_threads = running;
                state.catch_up_threads.push(thread);
                drop(state);
                for thread in ended {
                    let _ = thread.join();
                }
            }
            Err(_) => {
                let stranded = state.registry.catch_up_thread_not_started();
                self.signal_progress(&state);
                drop(state);
                for sink in stranded {
                    sink.close();
                }
            }
        }
    }
}

/// A catch-up thread: takes the clients waiting in the catch-up queue one at a time, oldest first,
/// and finishes each one's backlog with blocking writes (the kernel wakes it as the socket drains);
/// ends once no client has come for [`CATCH_UP_LINGER`], or when the hub is dropped. Each time it
/// takes a client, it starts another thread if more clients wait than threads are free to take
/// them: threads start one at a time, each started by the one before, not by the flusher.
fn run_catch_up_thread(inner: &Arc<Inner>) {
    let mut state = inner.lock();
    state.registry.catch_up_thread_started();
    let mut idle_since = Instant::now();
    loop {
        if let Some((key, sink)) = state.registry.next_catch_up() {
            let start_another = state.registry.start_catch_up_thread();
            drop(state);
            if start_another {
                inner.start_catch_up_thread();
            }
            let job = CatchUp { inner: Arc::clone(inner), key };
            if job.run(&*sink).is_err() {
                sink.close();
            }
            drop(sink);
            state = inner.lock();
            state.registry.catch_up_done();
            idle_since = Instant::now();
            continue;
        }
        let left = CATCH_UP_LINGER.saturating_sub(idle_since.elapsed());
        if state.shutting_down || left.is_zero() {
            // Nobody waits (the queue was just found empty, under this lock): nobody is stranded.
            let stranded = state.registry.catch_up_thread_ended();
            debug_assert!(stranded.is_empty());
            return;
        }
        state = inner.catch_up_work.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
    }
}

/// Sleeps until the backlog has grown past what this shard has handled. `None`: the hub is gone.
fn wait_for_work<'a>(
    inner: &'a Inner,
    mut state: MutexGuard<'a, State>,
    shard: usize,
) -> Option<MutexGuard<'a, State>> {
    loop {
        if state.shutting_down {
            return None;
        }
        if state.registry.has_work(shard) {
            return Some(state);
        }
        // Heartbeats matter only with clients; without any, sleep until something happens.
        let heartbeat = inner.config.heartbeat.filter(|_| shard == 0 && state.registry.subscriber_count() > 0);
        let sleep_for = match heartbeat {
            None => None,
            Some(interval) => {
                let now = Instant::now();
                let due = state.last_append + interval;
                if now >= due {
                    state.registry.append_heartbeat();
                    state.last_append = now;
                    inner.wake_flushers(&state);
                    continue;
                }
                Some(due - now)
            }
        };
        state.asleep[shard] = true;
        let work = &inner.work[shard];
        state = match sleep_for {
            None => work.wait(state).unwrap_or_else(PoisonError::into_inner),
            Some(timeout) => work.wait_timeout(state, timeout).unwrap_or_else(PoisonError::into_inner).0,
        };
        state.asleep[shard] = false;
    }
}

/// A client's place in the hub, held by its connection. [`Subscription::leave`] (or dropping it)
/// unregisters the client.
pub(crate) struct Subscription {
    inner: Arc<Inner>,
    key: Key,
    replay: Option<Replay>,
    reset: Option<Event>,
    /// The client reads compressed bytes: its stream starts with a gzip header.
    gzip: bool,
    /// Set when the hub's hooks were told the client joined: dropped after the client is
    /// unregistered, it tells them it left (see `hooks.rs`).
    presence: Option<Presence>,
}

impl Subscription {
    /// Sends `intro` (the stream's first bytes), the reset event if the client's last id was
    /// unknown, its history, and then the backlog, with blocking writes; then hands the client to
    /// its flusher. Fails when the client is gone, stalled or was dropped.
    ///
    /// Each history event is written straight from the history's shared bytes, so a joining client
    /// that does not read holds no copy of the history: what it costs is bounded by the socket's
    /// buffers, which the kernel holds, and its place in the shared backlog.
    pub fn start(&mut self, sink: &dyn Sink, intro: &[u8]) -> io::Result<()> {
        let catch_up = CatchUp { inner: Arc::clone(&self.inner), key: self.key };
        let mut first = intro.to_vec();
        if let Some(reset) = self.reset.take() {
            first.extend_from_slice(&reset.encode(None).map_err(io::Error::from)?);
        }
        // What this client is sent before the backlog, as its gzip end needs to know it.
        let lead = Arc::new(Mutex::new(Lead::default()));
        if self.gzip {
            sink.set_ending(gzip_ending(Arc::downgrade(&self.inner), self.key, Arc::clone(&lead)));
            // The header, then this client's own first bytes as stored blocks: too few to be
            // worth an encoder, and they end on a byte boundary like every compressed event.
            let mut compressed = gzip::HEADER.to_vec();
            if !first.is_empty() {
                Deflater::stored_unit(&first, &mut compressed);
            }
            lead_writes(&lead, compressed.len(), Checksum::of(&first));
            first = compressed;
        }
        if !first.is_empty() {
            catch_up.write_blocking(sink, &first)?;
            lead_written(&lead);
        }
        let replay = self.replay.take().unwrap_or_default();
        for (at, event) in replay.events.iter().enumerate() {
            if let Some(checksum) = replay.checksums.get(at) {
                lead_writes(&lead, event.len(), *checksum);
            }
            catch_up.write_blocking(sink, event)?;
            lead_written(&lead);
        }
        drop(replay);
        catch_up.run(sink)
    }

    /// Unregisters the client.
    pub fn leave(self) {}
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut state = self.inner.lock();
        state.registry.leave(self.key);
        self.inner.signal_progress(&state);
    }
}

/// What a gzip client was sent before its first backlog byte (its header, first bytes and history),
/// as it was being sent: its end needs to know where the backlog's bytes start, and what the plain
/// bytes before them were. Updated before each write, because the body may end as that write ends
/// (the server's stop), before the writing thread sees it return.
#[derive(Debug, Clone, Copy, Default)]
struct Lead {
    /// Written in full.
    done: LeadPart,
    /// Written in full once the write in progress (if any) is: `done` and that write's bytes.
    writing: LeadPart,
}

/// The first bytes of a gzip client's body: how many, and the checksum of their plain bytes.
#[derive(Debug, Clone, Copy, Default)]
struct LeadPart {
    bytes: u64,
    plain: Checksum,
}

impl Lead {
    /// For a body that has `written` bytes: the checksum of the plain bytes of its lead, and how
    /// many bytes of the backlog followed it. `None` inside the lead (before the header is whole,
    /// or inside a piece, which only a body ended mid-write can be).
    fn split(&self, written: u64) -> Option<(Checksum, u64)> {
        if written < gzip::HEADER.len() as u64 {
            return None;
        }
        if written == self.done.bytes {
            return Some((self.done.plain, 0));
        }
        let past = written.checked_sub(self.writing.bytes)?;
        Some((self.writing.plain, past))
    }
}

/// The lead is about to grow by `bytes`, whose plain bytes have `plain` as their checksum.
fn lead_writes(lead: &Mutex<Lead>, bytes: usize, plain: Checksum) {
    let mut lead = lead.lock().unwrap_or_else(PoisonError::into_inner);
    let done = lead.done;
    lead.writing = LeadPart { bytes: done.bytes + bytes as u64, plain: done.plain.then(plain) };
}

/// The write that [`lead_writes`] announced is done.
fn lead_written(lead: &Mutex<Lead>) {
    let mut lead = lead.lock().unwrap_or_else(PoisonError::into_inner);
    lead.done = lead.writing;
}

/// The end of gzip client `key`'s body: the rest of any unit its last write stopped inside, the
/// final block, and the trailer, whose checksum is the lead's followed by the backlog range the
/// client received (two running checksums' difference: see the registry). The hub is held weakly:
/// a socket that outlives it has nothing to end with, and is cut.
fn gzip_ending(inner: std::sync::Weak<Inner>, key: Key, lead: Arc<Mutex<Lead>>) -> Ending {
    Box::new(move |written, last| {
        let (lead, received) = lead.lock().unwrap_or_else(PoisonError::into_inner).split(written)?;
        let inner = inner.upgrade()?;
        let range = inner.lock().registry.gzip_range(key, received)?;
        let mut end = range.rest;
        let mut checksum = lead.then(range.checksum);
        if !last.is_empty() {
            // Last plain bytes (a drain's `retry:` line): one more stored unit, in the checksum.
            Deflater::stored_unit(last, &mut end);
            checksum = checksum.then(Checksum::of(last));
        }
        Deflater::finish(&mut end);
        end.extend_from_slice(&checksum.trailer());
        Some(end)
    })
}

/// The job of finishing a client's backlog with blocking writes: on its connection's thread when it
/// joins ([`Subscription::start`]), on a catch-up thread after its socket filled up.
struct CatchUp {
    inner: Arc<Inner>,
    key: Key,
}

impl CatchUp {
    /// Writes the client's backlog until it has everything, then hands the client to its flusher.
    /// Fails when the client is gone, stalled, or too far behind; the caller then closes it.
    fn run(self, sink: &dyn Sink) -> io::Result<()> {
        loop {
            let step = self.inner.lock().registry.catch_up_step(self.key, CATCH_UP_CHUNK_BYTES);
            let bytes = match step {
                CatchUpStep::Write(bytes) => bytes,
                CatchUpStep::CaughtUp => {
                    // A flusher's write may have stopped inside a chunk's closing line end: finish it
                    // before the flusher, which never waits, owns the socket again.
                    self.write_blocking(sink, &[])?;
                    if self.inner.lock().registry.hand_to_flusher(self.key) {
                        return Ok(());
                    }
                    continue;
                }
                CatchUpStep::Closed => return Err(io::ErrorKind::ConnectionAborted.into()),
            };
            self.write_blocking(sink, &bytes)?;
            let mut state = self.inner.lock();
            state.registry.advance(self.key, bytes.len());
            self.inner.signal_progress(&state);
        }
    }

    /// Writes with the socket's write timeout; no progress for that long marks the client stalled.
    fn write_blocking(&self, sink: &dyn Sink, bytes: &[u8]) -> io::Result<()> {
        sink.write_blocking(bytes).inspect(|()| self.inner.counters.wrote(bytes.len())).inspect_err(|error| {
            if is_timeout(error) {
                self.inner.lock().registry.stalled(self.key);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_intervals_are_kept_in_range() {
        let zero = Hub::builder().heartbeat(Some(Duration::ZERO));
        assert_eq!(zero.heartbeat, Some(MIN_HEARTBEAT), "a zero interval would spin");
        let huge = Hub::builder().heartbeat(Some(Duration::MAX));
        assert_eq!(huge.heartbeat, Some(MAX_HEARTBEAT), "a huge one would overflow the clock");
        assert_eq!(Hub::builder().heartbeat(None).heartbeat, None);
    }

    #[test]
    fn write_timeouts_are_kept_in_range() {
        assert_eq!(Hub::builder().write_timeout(Duration::ZERO).write_timeout, MIN_WRITE_TIMEOUT);
        assert_eq!(Hub::builder().write_timeout(Duration::MAX).write_timeout, MAX_WRITE_TIMEOUT);
        let hub = Hub::new();
        assert!(hub.flush(Duration::MAX), "a wait too long for the clock does not overflow it");
        assert!(hub.wait_until_clients(|n| n == 0, Duration::MAX));
    }

    #[test]
    fn redis_settings_are_kept_in_range_and_taken_in_any_order() {
        let builder = Hub::builder()
            .redis_max_len(7)
            .redis_timeout(Duration::ZERO)
            .redis_max_entry_bytes(0)
            .redis("redis://127.0.0.1:1", "s")
            .unwrap();
        let settings = builder.redis_settings;
        assert_eq!(settings.max_len, 7, "set before the stream, still counts");
        assert_eq!((settings.timeout, settings.max_entry_bytes), (MIN_REDIS_TIMEOUT, MIN_REDIS_MAX_ENTRY_BYTES));
        let settings = Hub::builder().redis_timeout(Duration::MAX).redis_max_entry_bytes(usize::MAX).redis_settings;
        assert_eq!((settings.timeout, settings.max_entry_bytes), (MAX_REDIS_TIMEOUT, MAX_REDIS_MAX_ENTRY_BYTES));
        assert_eq!(Hub::builder().redis_max_len(0).redis_settings.max_len, 1);
    }

    #[test]
    fn catch_up_threads_are_at_least_one() {
        assert_eq!(Hub::builder().max_catch_up_threads, DEFAULT_MAX_CATCH_UP_THREADS);
        assert_eq!(Hub::builder().max_catch_up_threads(0).max_catch_up_threads, 1, "none would strand every client");
    }

    #[test]
    fn every_hub_of_a_process_gets_its_own_epoch() {
        let epochs: Vec<u64> = (0..100).map(|_| new_epoch()).collect();
        assert!(epochs.windows(2).all(|pair| pair[0] < pair[1]), "{epochs:?}");
    }
}
