//! Settings for a hub: [`HubBuilder`], the defaults and bounds of every limit, and
//! [`HubBuilder::build`], which makes the registry and the shared state. The settings a
//! hub's parts read after that (its heartbeat, write timeout, hooks, name) are read from the
//! builder the hub keeps.
//!
//! Not here: the setters of the lifecycle hooks (`hooks.rs`) and of the hub's name
//! (`counters.rs`), which sit beside what they configure.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::backplane::{
    self, Backplane, RedisConfig, RedisSettings, MAX_REDIS_MAX_ENTRY_BYTES, MAX_REDIS_TIMEOUT,
    MIN_REDIS_MAX_ENTRY_BYTES, MIN_REDIS_TIMEOUT,
};
use super::history::History;
use super::hooks::Hooks;
use super::registry::Registry;
use super::shared::Inner;
use super::{Handle, Hub};
use crate::redis::RedisUrl;
use crate::Error;

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

/// Settings for a hub. Every limit has a default; see the constants in this module.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct HubBuilder {
    pub(super) history_events: usize,
    pub(super) history_bytes: usize,
    pub(super) max_queued_bytes: usize,
    pub(super) heartbeat: Option<Duration>,
    pub(super) write_timeout: Duration,
    pub(super) flusher_threads: usize,
    pub(super) clients_per_flusher: usize,
    pub(super) max_catch_up_threads: usize,
    pub(super) id_epoch: Option<u64>,
    pub(super) gzip: Option<u32>,
    /// The Redis server and stream behind the hub, if any.
    pub(super) redis: Option<(RedisUrl, String)>,
    pub(super) redis_settings: RedisSettings,
    pub(super) name: Option<String>,
    pub(super) hooks: Hooks,
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

    /// Sends a comment after this much silence (default [`DEFAULT_HEARTBEAT`]): silence of what
    /// a client receives, so a client of a quiet topic gets heartbeats however busy other topics
    /// are. `None` turns heartbeats off. Heartbeats keep proxies from closing idle streams and
    /// reveal dead peers. The interval is kept between [`MIN_HEARTBEAT`] and [`MAX_HEARTBEAT`].
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
    /// go to the one with the fewest. 1 spreads clients evenly from the first. The clients of one
    /// selection (a topic's) go to that selection's own flusher while they are fewer than this,
    /// so that an event on a topic wakes one flusher.
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
    /// Redis entries ([`Event::with_id`](crate::Event::with_id); explicit ids are refused); events without ids are
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

    /// Entries the Redis stream keeps, about (`XADD ... MAXLEN ~`; default [`DEFAULT_REDIS_MAX_LEN`](super::DEFAULT_REDIS_MAX_LEN),
    /// at least 1): how far back a client can resume on a server whose history does not reach.
    pub fn redis_max_len(mut self, entries: usize) -> HubBuilder {
        self.redis_settings.max_len = entries.max(1);
        self
    }

    /// Largest Redis entry (an event's field names and values together) this hub's reader takes
    /// (default [`DEFAULT_REDIS_MAX_ENTRY_BYTES`](super::DEFAULT_REDIS_MAX_ENTRY_BYTES), kept between [`MIN_REDIS_MAX_ENTRY_BYTES`] and
    /// [`MAX_REDIS_MAX_ENTRY_BYTES`]). Publishing a larger event is refused; a larger entry written
    /// by another program is skipped, and clients get the reset event. A reply from Redis holds
    /// at most about this much (twice that while it is decoded).
    pub fn redis_max_entry_bytes(mut self, bytes: usize) -> HubBuilder {
        self.redis_settings.max_entry_bytes = bytes.clamp(MIN_REDIS_MAX_ENTRY_BYTES, MAX_REDIS_MAX_ENTRY_BYTES);
        self
    }

    /// How long connecting to Redis, or one command with its whole reply, may take (default
    /// [`DEFAULT_REDIS_TIMEOUT`](super::DEFAULT_REDIS_TIMEOUT), kept between [`MIN_REDIS_TIMEOUT`] and [`MAX_REDIS_TIMEOUT`]).
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
        if let Some(interval) = self.heartbeat {
            registry.send_heartbeats(interval, Instant::now());
        }
        let backplane = self
            .redis
            .clone()
            .map(|(url, stream)| Arc::new(Backplane::new(RedisConfig { url, stream, settings: self.redis_settings })));
        let inner = Arc::new(Inner::new(self, registry, backplane.clone()));
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
fn clamp_heartbeat(interval: Duration) -> Duration {
    interval.clamp(MIN_HEARTBEAT, MAX_HEARTBEAT)
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
