//! The hub's state and policy, with no sockets and no threads: the backlog, the history, the id
//! counter, and every subscriber's cursor and owner. Every method runs under the hub's lock and
//! returns at once; the threads in [`super`] do the waiting and the I/O.
//!
//! Because nothing here touches a socket, the subscriber type is a parameter: the hub stores its
//! clients' sinks here, and the tests store plain labels.
//!
//! # Invariants
//!
//! - **One writer per client.** A subscriber's `owner` says who may write to it: a thread that may
//!   wait on its socket (its connection while it sends history, then a catch-up thread each time
//!   its socket fills up), or the flusher of its shard. Only the owner moves the cursor or hands
//!   the client over, and hand over happens here, under the lock. A client whose socket filled up
//!   waits in the catch-up queue, written to by nobody, until a catch-up thread takes it.
//! - **Every queued client has a thread coming.** While the catch-up queue is not empty, at least
//!   one catch-up thread runs; when the last one ends (or none could be started), the clients
//!   still waiting are closed rather than left stranded. Catch-up threads never number more than
//!   `max_catch_up_threads`.
//! - **Every event exactly once.** A joining client's cursor is set to the end of the backlog in
//!   the same step that takes its history snapshot, so every event is either in the snapshot or
//!   after the cursor: never both, never neither. Cursors only move forward, by bytes written:
//!   every write starts at the writer's cursor, and moves it by exactly what the socket took (a
//!   partial write's count), so when a client passes from its flusher to a catch-up thread and
//!   back, no byte is lost or sent twice, and bytes go out in the backlog's order. (The socket's
//!   framer likewise resumes a chunk where the last writer left it.)
//! - **Nothing freed that a client needs.** Backlog bytes are dropped only below the lowest cursor
//!   of an open subscriber, and a subscriber more than `max_queued_bytes` behind is closed first.
//! - **Every shard with clients has a flusher.** Clients join only shards below `live_shards`, and
//!   a shard's flusher, once started, lives as long as the hub.
//! - **One backlog per coding.** A hub that compresses keeps two backlogs, the plain bytes and
//!   the same events compressed once each, and every client reads one of them, chosen when it
//!   joins. Cursors are offsets in the client's own backlog. Every event is appended to both in
//!   the same step, so the two carry the same events in the same order.
//! - **Every gzip client's trailer can be found.** Each compressed unit in the gzip backlog has a
//!   record of the checksum of the plain bytes before it (a running checksum over every unit
//!   appended while someone read them), kept as long as any byte of the unit is held; a gzip
//!   client records the running checksum where it joined. The checksum of what a client received
//!   from the backlog is then the difference of two running checksums: nothing is computed per
//!   client as events go out.

use std::collections::{BTreeMap, VecDeque};

use super::backlog::Backlog;
use super::history::{History, Replay};
use crate::compress::deflate::Deflater;
use crate::compress::gzip::Checksum;
use crate::{Error, Event};

/// The type of the event sent to a client that resumes from an id the hub no longer has.
pub const RESET_EVENT_TYPE: &str = "bare-sse-reset";
/// The heartbeat: a comment line, which every client ignores. No blank line follows it, so it never
/// ends an event block on its own: a client that turns every blank line into an event (as some
/// libraries do when a `retry:` came first) sees no empty event.
pub(crate) const HEARTBEAT_BYTES: &[u8] = b": keep-alive\n";
/// Backlog size past which dropping bytes every client has passed is worth a walk of the clients:
/// small enough to bound what sits idle, large enough that a burst of small events does not walk
/// every client for every event.
const TRIM_BACKLOG_AT_BYTES: usize = 64 * 1024;

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
    /// Bytes of event stream written to clients' sockets (the response body: history, events,
    /// heartbeats, compressed where the client reads gzip; not the HTTP framing around it),
    /// counted per completed write.
    pub bytes_written: u64,
    /// Clients that named a last event id the history held, and resumed after it.
    pub resumed_from_history: u64,
    /// Clients whose last event id the history did not hold, resumed from the Redis stream.
    pub resumed_from_redis: u64,
    /// Clients sent the reset event when they joined, since their last event id could not be
    /// resumed.
    pub resets_sent: u64,
    /// Catch-up threads running now: each finishes the backlog of one client whose socket filled
    /// up, then waits briefly for another. At most
    /// [`HubBuilder::max_catch_up_threads`](super::HubBuilder::max_catch_up_threads).
    pub catch_up_threads: usize,
}

/// Who may write to a client right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// A thread that may wait on the socket: the client's connection while it sends history; after
    /// its socket filled up, a catch-up thread (once one has taken it from the queue).
    CatchUp,
    /// The flusher of its shard, which never waits on a socket.
    Flusher,
}

/// How a client's bytes are encoded: which backlog it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    /// The events as they are.
    Identity = 0,
    /// Each event compressed once, as DEFLATE units that refer to nothing before them and end on a
    /// byte boundary, so that they can follow a gzip header (and each other) in any client's stream.
    Gzip = 1,
}

/// Compresses every event once, for the clients that read compressed bytes.
struct Compressor {
    deflater: Deflater,
    /// The heartbeat, compressed once.
    heartbeat: Vec<u8>,
}

impl Compressor {
    fn new(level: u32) -> Compressor {
        let mut deflater = Deflater::new(level);
        let mut heartbeat = Vec::new();
        deflater.compress_independent(HEARTBEAT_BYTES, &mut heartbeat);
        Compressor { deflater, heartbeat }
    }

    fn compress(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len() / 2 + 16);
        self.deflater.compress_independent(bytes, &mut out);
        out
    }
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Compressor")
    }
}

#[derive(Debug)]
struct Subscriber<S> {
    sink: S,
    /// The backlog this client reads.
    coding: Coding,
    /// Offset in that backlog where this client joined.
    start: u64,
    /// For a gzip client, the running checksum of the plain bytes at `start`.
    start_checksum: Checksum,
    /// Offset in that backlog of the next byte this client needs.
    cursor: u64,
    owner: Owner,
    /// The hub gave up on this client; it stays registered until its connection leaves.
    closed: bool,
}

impl<S> Subscriber<S> {
    /// Too far behind, or stalled: the client is dropped, and counted.
    fn give_up_as_slow(&mut self, stats: &mut Stats) {
        self.closed = true;
        stats.dropped_slow += 1;
    }
}

/// Where a compressed unit starts in the gzip backlog, and the running checksum of the plain bytes
/// of the units before it.
#[derive(Debug, Clone, Copy)]
struct UnitStart {
    offset: u64,
    before: Checksum,
}

/// How a gzip client's stream can end after the backlog bytes it received.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct GzipRange {
    /// The rest of the unit the client is inside, if its last write stopped in one: sent before
    /// the end, so that the end follows a whole unit.
    pub rest: Vec<u8>,
    /// The checksum of the plain bytes of the backlog from where the client joined to the end of
    /// that unit.
    pub checksum: Checksum,
}

/// A client that has just joined.
#[derive(Debug)]
pub(crate) struct Joined {
    pub key: Key,
    pub replay: Replay,
}

/// The next thing a client's connection does to catch up.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CatchUpStep {
    /// Write these bytes (a copy, so no lock is held while writing), then call `advance`.
    Write(Vec<u8>),
    /// Nothing left: finish the framing, then call `hand_to_flusher`.
    CaughtUp,
    /// The client is gone or was dropped.
    Closed,
}

/// The catch-up threads, as the registry counts them: the threads themselves live in [`super`].
#[derive(Debug)]
struct CatchUpThreads {
    /// Started (or being started) and not yet ended.
    running: usize,
    /// Of those, the ones being started: not yet looking for a client. At most one.
    starting: usize,
    /// Of those running, the ones catching a client up now; the others are on their way to the
    /// queue, or waiting for a client to join it.
    busy: usize,
    /// Most that may run at once.
    max: usize,
}

/// One flusher round: per backlog, the bytes between the lowest cursor and the end, and the
/// clients to write.
#[derive(Debug)]
pub(crate) struct Round<S> {
    /// Per coding, the backlog end this round writes up to.
    pub end: [u64; 2],
    /// Per coding, the backlog offset of `bytes[coding][0]`.
    pub from: [u64; 2],
    pub bytes: [Vec<u8>; 2],
    pub targets: Vec<Target<S>>,
    /// Clients the round gave up on (too far behind, or a failed write): the flusher closes them.
    pub to_close: Vec<S>,
    /// Clients whose sockets filled up: each now waits in the catch-up queue, and the flusher
    /// wakes or starts catch-up threads for them.
    pub handed_back: usize,
}

impl<S> Default for Round<S> {
    fn default() -> Round<S> {
        let (targets, to_close) = (Vec::new(), Vec::new());
        Round { end: [0; 2], from: [0; 2], bytes: [Vec::new(), Vec::new()], targets, to_close, handed_back: 0 }
    }
}

/// One client to write to in a round, and how the write went.
#[derive(Debug)]
pub(crate) struct Target<S> {
    pub key: Key,
    pub sink: S,
    pub coding: Coding,
    pub cursor: u64,
    pub outcome: Written,
    /// The outcome was applied before the round finished ([`Registry::finish_target`]).
    applied: bool,
}

impl<S> Round<S> {
    /// The bytes target `index` needs, out of the round's. Its cursor is at or past `from`, the
    /// lowest cursor of the round in its backlog.
    pub fn bytes_for(&self, index: usize) -> &[u8] {
        let target = &self.targets[index];
        let coding = target.coding as usize;
        let skip = usize::try_from(target.cursor - self.from[coding]).unwrap_or(usize::MAX);
        self.bytes[coding].get(skip..).unwrap_or(&[])
    }
}

/// A client's key in the registry: its number and the shard it was put in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    id: u64,
    shard: usize,
}

impl Key {
    /// The client's number: unique within the registry, counting from 0 in the order of joining.
    pub fn number(&self) -> u64 {
        self.id
    }
}

/// How a write that must not wait went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    /// Everything.
    All,
    /// The socket filled up after this many bytes.
    Partial(usize),
    /// The connection is broken.
    Failed,
}

/// The state behind a hub's lock.
#[derive(Debug)]
pub(crate) struct Registry<S> {
    /// `<epoch>-`, the start of every auto id (`<epoch>-<n>`). The epoch (the hub's start time in
    /// Unix milliseconds) tells ids of an earlier run apart from this run's, so a browser resuming
    /// across a restart is never resumed at a wrong place.
    id_prefix: String,
    next_id: u64,
    history: History,
    /// Per coding: the plain bytes, and (when the hub compresses) the compressed ones.
    backlogs: [Backlog; 2],
    /// Present when the hub compresses.
    compressor: Option<Compressor>,
    /// Where each unit held in the gzip backlog starts, oldest first: the unit holding the lowest
    /// cursor, and every one after it.
    gzip_units: VecDeque<UnitStart>,
    /// The running checksum of the plain bytes of every unit appended to the gzip backlog while
    /// someone read it: the checksum at its end.
    gzip_checksum: Checksum,
    /// Per coding, the clients that read it.
    readers: [usize; 2],
    /// Per shard, its clients by number: the order they joined in, which is the order a round
    /// writes to them (so a flood of new clients never delays the ones already there).
    shards: Vec<BTreeMap<u64, Subscriber<S>>>,
    /// Per shard and coding, the backlog end its flusher has handled.
    seen_end: Vec<[u64; 2]>,
    /// Shards that have a running flusher; clients join only these.
    live_shards: usize,
    /// Clients a shard takes before the next live shard is given new ones.
    clients_per_flusher: usize,
    next_subscriber: u64,
    max_queued_bytes: u64,
    /// Clients whose sockets filled up, oldest first, waiting for a catch-up thread. Each is owned
    /// by [`Owner::CatchUp`] and is here at most once; one that left or was closed meanwhile is
    /// skipped when its turn comes.
    catch_up_queue: VecDeque<Key>,
    catch_up_threads: CatchUpThreads,
    stats: Stats,
}

impl<S: Clone> Registry<S> {
    pub fn new(
        epoch: u64,
        shards: usize,
        clients_per_flusher: usize,
        history: History,
        max_queued_bytes: usize,
        max_catch_up_threads: usize,
    ) -> Registry<S> {
        let shards = shards.max(1);
        Registry {
            id_prefix: format!("{epoch}-"),
            next_id: 1,
            history,
            backlogs: [Backlog::default(), Backlog::default()],
            compressor: None,
            gzip_units: VecDeque::new(),
            gzip_checksum: Checksum::default(),
            readers: [0; 2],
            shards: (0..shards).map(|_| BTreeMap::new()).collect(),
            seen_end: vec![[0; 2]; shards],
            live_shards: 0,
            clients_per_flusher: clients_per_flusher.max(1),
            next_subscriber: 0,
            max_queued_bytes: max_queued_bytes as u64,
            catch_up_queue: VecDeque::new(),
            catch_up_threads: CatchUpThreads { running: 0, starting: 0, busy: 0, max: max_catch_up_threads.max(1) },
            stats: Stats::default(),
        }
    }

    /// Compresses every event from now on at `level`, for clients that join with [`Coding::Gzip`].
    /// Set before the first client joins.
    pub fn compress(&mut self, level: u32) {
        self.compressor = Some(Compressor::new(level));
    }

    /// Whether clients may read compressed bytes.
    pub fn compresses(&self) -> bool {
        self.compressor.is_some()
    }

    /// Encodes and appends an event (and, when the hub compresses, compresses it once); an event
    /// with an id is also kept in history. Fails, changing nothing, when a field is invalid.
    pub fn publish(&mut self, event: &Event) -> Result<(), Error> {
        let (bytes, id) = if event.wants_next_id() {
            let id = format!("{}{}", self.id_prefix, self.next_id);
            let bytes = event.encode(Some(&id))?;
            self.next_id += 1;
            (bytes, Some(id))
        } else {
            if event.given_id().is_some_and(|id| self.is_own_id_form(id)) {
                return Err(Error::InvalidField {
                    field: "id",
                    reason: "it has the form of this hub's own ids (`<epoch>-<n>`), which with_id hands out",
                });
            }
            (event.encode(None)?, event.given_id().map(str::to_string))
        };
        self.append_event(bytes, id.filter(|id| !id.is_empty()));
        Ok(())
    }

    /// Appends an event whose id was given elsewhere (a backplane's entry id), or that has none,
    /// without the checks that keep explicit ids apart from this hub's own: `id` is set only on
    /// an event that asked for one ([`Event::with_id`]), and then it is kept in history.
    pub fn publish_assigned(&mut self, event: &Event, id: Option<&str>) -> Result<(), Error> {
        let id = id.filter(|_| event.wants_next_id());
        let bytes = event.encode(id)?;
        self.append_event(bytes, id.map(str::to_string));
        Ok(())
    }

    /// Appends an encoded event to every client's backlog (compressed once when the hub
    /// compresses and someone reads it now or may from history later), and keeps it in history
    /// under `kept` when given.
    fn append_event(&mut self, bytes: Vec<u8>, kept: Option<String>) {
        self.stats.events_sent += 1;
        let compressed = match &mut self.compressor {
            Some(compressor) if self.readers[Coding::Gzip as usize] > 0 || kept.is_some() => {
                Some(compressor.compress(&bytes))
            }
            _ => None,
        };
        // Once per event, for every gzip client's trailer.
        let compressed = compressed.map(|compressed| (compressed, Checksum::of(&bytes)));
        self.append(&bytes, compressed.as_ref().map(|(unit, checksum)| (&unit[..], *checksum)));
        if let Some(id) = kept {
            self.history.keep(id, bytes.into(), compressed.map(|(unit, checksum)| (unit.into(), checksum.crc)));
        }
    }

    /// Forgets the history: after a backplane lost events, no kept id is a safe resume point.
    pub fn clear_history(&mut self) {
        self.history.clear();
    }

    /// Whether `id` looks like an id this hub hands out: its epoch, `-`, digits. Explicit ids of
    /// that form are refused, so that an explicit id can never equal a later auto id and move a
    /// resume point.
    fn is_own_id_form(&self, id: &str) -> bool {
        id.strip_prefix(self.id_prefix.as_str()).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    }

    /// Appends a heartbeat comment for every client.
    pub fn append_heartbeat(&mut self) {
        let compressed = self.compressor.as_ref().map(|c| (c.heartbeat.clone(), Checksum::of(HEARTBEAT_BYTES)));
        self.append(HEARTBEAT_BYTES, compressed.as_ref().map(|(unit, checksum)| (&unit[..], *checksum)));
    }

    /// Appends to each backlog its form of the same bytes (the compressed one with the checksum of
    /// its plain bytes); a backlog nobody reads only advances.
    fn append(&mut self, plain: &[u8], compressed: Option<(&[u8], Checksum)>) {
        let plain_backlog = &mut self.backlogs[Coding::Identity as usize];
        if self.readers[Coding::Identity as usize] > 0 {
            plain_backlog.append(plain);
        } else {
            plain_backlog.skip(plain.len());
        }
        let backlog = &mut self.backlogs[Coding::Gzip as usize];
        match compressed {
            Some((unit, checksum)) if self.readers[Coding::Gzip as usize] > 0 => {
                self.gzip_units.push_back(UnitStart { offset: backlog.end(), before: self.gzip_checksum });
                self.gzip_checksum = self.gzip_checksum.then(checksum);
                backlog.append(unit);
            }
            // Nobody reads the compressed backlog: the units skipped are in nobody's stream, so the
            // running checksum leaves them out.
            Some((unit, _)) => {
                backlog.skip(unit.len());
                self.gzip_units.clear();
            }
            None => {
                backlog.skip(0);
                self.gzip_units.clear();
            }
        }
    }

    /// Registers a client, owned by its connection, and takes its history snapshot in the same
    /// step. `None` when no shard has a flusher yet. A hub that does not compress gives every
    /// client the plain bytes.
    pub fn join(&mut self, sink: S, last_event_id: Option<&str>, coding: Coding) -> Option<Joined> {
        if self.live_shards == 0 {
            return None;
        }
        let coding = if self.compresses() { coding } else { Coding::Identity };
        let replay = self.history.after(last_event_id, coding == Coding::Gzip);
        let id = self.next_subscriber;
        self.next_subscriber += 1;
        let key = Key { id, shard: self.shard_for_new_client() };
        let cursor = self.backlogs[coding as usize].end();
        let subscriber = Subscriber {
            sink,
            coding,
            start: cursor,
            start_checksum: self.gzip_checksum,
            cursor,
            owner: Owner::CatchUp,
            closed: false,
        };
        self.shards[key.shard].insert(id, subscriber);
        self.readers[coding as usize] += 1;
        Some(Joined { key, replay })
    }

    /// The shard a new client joins: the first live one with fewer than `clients_per_flusher`
    /// clients, or else the live one with the fewest. So a few clients share one flusher, which
    /// each event then wakes alone, and many are spread evenly.
    fn shard_for_new_client(&self) -> usize {
        let live = &self.shards[..self.live_shards];
        live.iter()
            .position(|clients| clients.len() < self.clients_per_flusher)
            .unwrap_or_else(|| (0..live.len()).min_by_key(|&shard| live[shard].len()).unwrap_or(0))
    }

    /// Unregisters a client.
    pub fn leave(&mut self, key: Key) {
        if let Some(sub) = self.shards[key.shard].remove(&key.id) {
            self.stats.disconnects += 1;
            self.readers[sub.coding as usize] -= 1;
        }
    }

    /// How gzip client `key`'s stream ends once it has received `received` bytes of the gzip
    /// backlog (counted from where it joined; its socket's count, which may be ahead of its
    /// cursor, never behind). `None` when it is not an open gzip client, or `received` is past
    /// the backlog's end.
    ///
    /// Invariant relied on: the cursor is at or before `start + received`, and units are dropped
    /// only once wholly below the lowest cursor, so the unit holding that offset is still here.
    pub fn gzip_range(&self, key: Key, received: u64) -> Option<GzipRange> {
        let sub = self.shards[key.shard].get(&key.id).filter(|s| !s.closed && s.coding == Coding::Gzip)?;
        let backlog = &self.backlogs[Coding::Gzip as usize];
        let at = sub.start.checked_add(received).filter(|&at| at <= backlog.end() && at >= sub.cursor)?;
        // The first unit that starts at or after `at`: the client is inside the one before it (or
        // exactly at its start); past the last one, its end is the backlog's.
        let next = self.gzip_units.partition_point(|unit| unit.offset < at);
        let (end, before) = match self.gzip_units.get(next) {
            Some(unit) => (unit.offset, unit.before),
            None => (backlog.end(), self.gzip_checksum),
        };
        let rest = backlog.since(at);
        let rest = rest[..usize::try_from(end - at).ok()?.min(rest.len())].to_vec();
        Some(GzipRange { rest, checksum: sub.start_checksum.until(before) })
    }

    /// What a connection-owned client writes next. At most `max_bytes` are copied per step.
    pub fn catch_up_step(&mut self, key: Key, max_bytes: usize) -> CatchUpStep {
        let Some(sub) = self.shards[key.shard].get_mut(&key.id).filter(|s| !s.closed) else {
            return CatchUpStep::Closed;
        };
        let backlog = &self.backlogs[sub.coding as usize];
        let end = backlog.end();
        debug_assert_eq!(sub.owner, Owner::CatchUp, "only the owner catches up");
        if end - sub.cursor > self.max_queued_bytes {
            sub.give_up_as_slow(&mut self.stats);
            return CatchUpStep::Closed;
        }
        if sub.cursor == end {
            return CatchUpStep::CaughtUp;
        }
        let pending = backlog.since(sub.cursor);
        CatchUpStep::Write(pending[..pending.len().min(max_bytes)].to_vec())
    }

    /// Gives a caught-up client to its flusher. False when bytes arrived since `catch_up_step` said
    /// it was caught up, or when it was closed: the connection goes on (or stops) catching up.
    pub fn hand_to_flusher(&mut self, key: Key) -> bool {
        let backlogs = &self.backlogs;
        match self.shards[key.shard].get_mut(&key.id) {
            Some(sub) if !sub.closed && sub.cursor == backlogs[sub.coding as usize].end() => {
                sub.owner = Owner::Flusher;
                true
            }
            _ => false,
        }
    }

    /// The catching-up thread wrote `count` more bytes. (The backlog is trimmed by flusher rounds,
    /// not here: a catch-up write would otherwise walk every client.)
    pub fn advance(&mut self, key: Key, count: usize) {
        if let Some(sub) = self.shards[key.shard].get_mut(&key.id) {
            sub.cursor += count as u64;
        }
    }

    /// A write to this client made no progress for the write timeout: it is dropped.
    pub fn stalled(&mut self, key: Key) {
        if let Some(sub) = self.shards[key.shard].get_mut(&key.id).filter(|s| !s.closed) {
            sub.give_up_as_slow(&mut self.stats);
        }
    }

    /// The next client waiting for a catch-up thread, for the calling catch-up thread, which owns
    /// it from now until it hands it to its flusher (or the client is closed); then it calls
    /// [`catch_up_done`](Self::catch_up_done). Clients that left or were closed while waiting are
    /// skipped.
    pub fn next_catch_up(&mut self) -> Option<(Key, S)> {
        while let Some(key) = self.catch_up_queue.pop_front() {
            if let Some(sub) = self.shards[key.shard].get(&key.id).filter(|s| !s.closed) {
                debug_assert_eq!(sub.owner, Owner::CatchUp, "a queued client is nobody else's");
                self.catch_up_threads.busy += 1;
                return Some((key, sub.sink.clone()));
            }
        }
        None
    }

    /// A catch-up thread is done with the client [`next_catch_up`](Self::next_catch_up) gave it.
    pub fn catch_up_done(&mut self) {
        self.catch_up_threads.busy -= 1;
    }

    /// Whether one more catch-up thread should start: more clients wait than there are threads
    /// free to take them, the limit allows one more, and none is being started. If so, it is
    /// counted as running (and starting) from now: the new thread calls
    /// [`catch_up_thread_started`](Self::catch_up_thread_started), or, if it could not be started
    /// after all, its starter calls
    /// [`catch_up_thread_not_started`](Self::catch_up_thread_not_started).
    ///
    /// One at a time, so that no thread spends long starting threads, the flusher least: a new
    /// thread that takes a client starts the next one if clients still wait.
    pub fn start_catch_up_thread(&mut self) -> bool {
        let threads = &mut self.catch_up_threads;
        let free = threads.running - threads.busy;
        let wanted = self.catch_up_queue.len() > free && threads.running < threads.max && threads.starting == 0;
        threads.running += usize::from(wanted);
        threads.starting += usize::from(wanted);
        wanted
    }

    /// A catch-up thread counted by [`start_catch_up_thread`](Self::start_catch_up_thread) has
    /// started, and looks for a client.
    pub fn catch_up_thread_started(&mut self) {
        self.catch_up_threads.starting -= 1;
    }

    /// A catch-up thread counted by [`start_catch_up_thread`](Self::start_catch_up_thread) could
    /// not be started: as [`catch_up_thread_ended`](Self::catch_up_thread_ended).
    pub fn catch_up_thread_not_started(&mut self) -> Vec<S> {
        self.catch_up_threads.starting -= 1;
        self.catch_up_thread_ended()
    }

    /// Catch-up threads free to take a waiting client (running, and not catching a client up).
    pub fn idle_catch_up_threads(&self) -> usize {
        self.catch_up_threads.running - self.catch_up_threads.busy
    }

    /// A catch-up thread ended (it found no client waiting for a while). When none is left running,
    /// the clients still waiting would wait forever: they are closed (they resume by
    /// `Last-Event-ID`), and returned for their connections to be closed.
    pub fn catch_up_thread_ended(&mut self) -> Vec<S> {
        self.catch_up_threads.running -= 1;
        if self.catch_up_threads.running > 0 {
            return Vec::new();
        }
        let mut stranded = Vec::new();
        for key in self.catch_up_queue.drain(..) {
            if let Some(sub) = self.shards[key.shard].get_mut(&key.id).filter(|s| !s.closed) {
                sub.closed = true;
                stranded.push(sub.sink.clone());
            }
        }
        stranded
    }

    /// Whether the shard has clients: only then is its flusher woken for new bytes.
    pub fn has_clients(&self, shard: usize) -> bool {
        !self.shards[shard].is_empty()
    }

    /// Whether the backlog has bytes this shard's flusher has not handled.
    pub fn has_work(&self, shard: usize) -> bool {
        (0..2).any(|coding| self.backlogs[coding].end() > self.seen_end[shard][coding])
    }

    /// Starts a round for `shard`: picks the flusher-owned clients that are behind, closes those
    /// too far behind, and copies the bytes from the lowest cursor to the end into `round`.
    pub fn start_round(&mut self, shard: usize, round: &mut Round<S>) {
        let end = [self.backlogs[0].end(), self.backlogs[1].end()];
        self.seen_end[shard] = end;
        round.end = end;
        round.targets.clear();
        round.to_close.clear();
        round.handed_back = 0;
        let mut from = end;
        for (&id, sub) in self.shards[shard].iter_mut().filter(|(_, s)| !s.closed) {
            let coding = sub.coding as usize;
            if end[coding] - sub.cursor > self.max_queued_bytes {
                sub.give_up_as_slow(&mut self.stats);
                round.to_close.push(sub.sink.clone());
            } else if sub.owner == Owner::Flusher && sub.cursor < end[coding] {
                from[coding] = from[coding].min(sub.cursor);
                let key = Key { id, shard };
                let (sink, coding, cursor) = (sub.sink.clone(), sub.coding, sub.cursor);
                round.targets.push(Target { key, sink, coding, cursor, outcome: Written::All, applied: false });
            }
        }
        round.from = from;
        for ((bytes, backlog), from) in round.bytes.iter_mut().zip(&self.backlogs).zip(from) {
            bytes.clear();
            bytes.extend_from_slice(backlog.since(from));
        }
    }

    /// Applies the outcome of target `index` of a round in progress, if its socket filled up: the
    /// client joins the catch-up queue now, so that a catch-up thread can take it while the round
    /// goes on to the others. Returns whether it joined the queue (it may have left meanwhile).
    pub fn finish_target(&mut self, round: &mut Round<S>, index: usize) -> bool {
        let target = &mut round.targets[index];
        if target.applied || !matches!(target.outcome, Written::Partial(_)) {
            return false;
        }
        target.applied = true;
        self.apply(target, round.end, &mut round.to_close)
    }

    /// Applies a round's outcomes (those [`finish_target`](Self::finish_target) has not): clients
    /// whose sockets filled up join the catch-up queue (counted in `handed_back`), and those whose
    /// writes failed go to `to_close`. The round's targets are taken out: a round that kept its
    /// clients' sinks until the next one (which may not come for as long as no client is
    /// connected) would keep their sockets open.
    pub fn finish_round(&mut self, round: &mut Round<S>) {
        for target in round.targets.drain(..).filter(|target| !target.applied) {
            round.handed_back += usize::from(self.apply(&target, round.end, &mut round.to_close));
        }
        self.trim_backlog();
    }

    /// Applies one target's outcome; returns whether the client joined the catch-up queue.
    fn apply(&mut self, target: &Target<S>, end: [u64; 2], to_close: &mut Vec<S>) -> bool {
        let key = target.key;
        let Some(sub) = self.shards[key.shard].get_mut(&key.id).filter(|s| !s.closed) else { return false };
        match target.outcome {
            Written::All => sub.cursor = end[sub.coding as usize],
            Written::Partial(written) => {
                sub.cursor = target.cursor + written as u64;
                sub.owner = Owner::CatchUp;
                self.catch_up_queue.push_back(key);
                return true;
            }
            Written::Failed => {
                sub.closed = true;
                to_close.push(sub.sink.clone());
            }
        }
        false
    }

    /// Whether every open client has everything appended so far.
    pub fn all_flushed(&self) -> bool {
        let backlogs = &self.backlogs;
        let flushed = |sub: &Subscriber<S>| sub.closed || sub.cursor == backlogs[sub.coding as usize].end();
        self.shards.iter().flat_map(BTreeMap::values).all(flushed)
    }

    /// Drops the backlog bytes that every open client has passed, once there are enough of them.
    fn trim_backlog(&mut self) {
        for coding in [Coding::Identity, Coding::Gzip] {
            let backlog = &self.backlogs[coding as usize];
            if backlog.held() < TRIM_BACKLOG_AT_BYTES {
                continue;
            }
            let readers = self.shards.iter().flat_map(BTreeMap::values).filter(|s| !s.closed && s.coding == coding);
            let lowest = readers.map(|s| s.cursor).min().unwrap_or(backlog.end());
            self.backlogs[coding as usize].drop_before(lowest);
            if coding == Coding::Gzip {
                // The unit holding the lowest cursor stays: a client inside it may end there.
                while self.gzip_units.get(1).is_some_and(|unit| unit.offset <= lowest) {
                    self.gzip_units.pop_front();
                }
            }
        }
    }

    /// Shards that have a running flusher.
    pub fn live_shards(&self) -> usize {
        self.live_shards
    }

    /// Records that flushers now run for the first `count` shards. Clients already joined keep the
    /// shard they were given (it is part of their [`Key`]).
    pub fn set_live_shards(&mut self, count: usize) {
        self.live_shards = count.min(self.shards.len());
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    pub fn subscriber_count(&self) -> usize {
        self.shards.iter().map(BTreeMap::len).sum()
    }

    /// The counters kept here; those kept outside the lock (`counters.rs`) are left at zero for
    /// the hub to fill.
    pub fn stats(&self) -> Stats {
        Stats {
            clients: self.subscriber_count(),
            history_len: self.history.len(),
            catch_up_threads: self.catch_up_threads.running,
            ..self.stats
        }
    }

    /// Bytes the backlog holds (for tests of its bounds).
    #[cfg(test)]
    fn backlog_held(&self) -> usize {
        self.backlogs[0].held()
    }

    /// Who owns a client (for tests of the one-writer rule).
    #[cfg(test)]
    fn owner(&self, key: Key) -> Option<Owner> {
        self.shards[key.shard].get(&key.id).map(|sub| sub.owner)
    }

    /// Clients waiting in the catch-up queue, as keys (for tests).
    #[cfg(test)]
    fn queued(&self) -> Vec<Key> {
        self.catch_up_queue.iter().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::SplitRng;

    const EPOCH: u64 = 5;

    /// A registry whose clients are spread evenly over `shards` shards.
    fn registry(shards: usize, max_queued_bytes: usize) -> Registry<u32> {
        limited_registry(shards, max_queued_bytes, 1000)
    }

    /// The same, with at most `max_catch_up_threads` catch-up threads.
    fn limited_registry(shards: usize, max_queued_bytes: usize, max_catch_up_threads: usize) -> Registry<u32> {
        let history = History::new(10_000, 1 << 30);
        let mut registry = Registry::new(EPOCH, shards, 1, history, max_queued_bytes, max_catch_up_threads);
        registry.set_live_shards(shards);
        registry
    }

    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    /// Runs a client's catch-up to the end, as its connection does; returns what it wrote.
    fn catch_up(registry: &mut Registry<u32>, key: Key) -> Vec<u8> {
        let mut written = Vec::new();
        loop {
            match registry.catch_up_step(key, 7) {
                CatchUpStep::Write(bytes) => {
                    registry.advance(key, bytes.len());
                    written.extend_from_slice(&bytes);
                }
                CatchUpStep::CaughtUp => {
                    assert!(registry.hand_to_flusher(key));
                    return written;
                }
                CatchUpStep::Closed => panic!("closed while catching up"),
            }
        }
    }

    /// A gzip client's stream ends cleanly wherever its socket stopped in the backlog: at a unit's
    /// edge, or inside one (whose rest comes first), with heartbeats among the events, and after
    /// the backlog was trimmed up to a client stopped inside a unit. The trailer checks exactly
    /// the plain bytes of what it received, from where it joined; events before anyone read the
    /// compressed backlog are in no one's stream.
    #[test]
    fn a_gzip_clients_end_is_found_wherever_its_bytes_stopped() {
        use crate::compress::gzip::HEADER;
        use test_inflate::gunzip;
        let mut registry = registry(1, 1 << 24);
        registry.compress(6);
        let mut rng = SplitRng::new(3);
        registry.publish(&Event::new().data("before anyone")).unwrap();
        let early = registry.join(1, None, Coding::Gzip).unwrap().key;
        let mut plain = Vec::new();
        let mut late = None;
        for i in 0..60 {
            if i == 20 {
                late = Some((registry.join(2, None, Coding::Gzip).unwrap().key, plain.len()));
            }
            if i % 7 == 3 {
                registry.append_heartbeat();
                plain.extend_from_slice(HEARTBEAT_BYTES);
            }
            // Noise, so that units are large and the backlog passes the trimming threshold.
            let data: String = (0..rng.below(3000)).map(|_| char::from(b'!' + rng.below(90) as u8)).collect();
            let event = Event::new().data(data);
            registry.publish(&event).unwrap();
            plain.extend_from_slice(&event.encode(None).unwrap());
        }
        let (late, late_from) = late.unwrap();
        // Each received byte count ends a stream that decodes whole, with its trailer checked.
        let ends_cleanly = |registry: &Registry<u32>, key: Key, stream: &[u8], from: usize, plain: &[u8]| {
            let range = registry.gzip_range(key, stream.len() as u64).expect("a gzip client's end");
            let mut body = [&HEADER[..], stream, &range.rest].concat();
            Deflater::finish(&mut body);
            body.extend_from_slice(&range.checksum.trailer());
            let (decoded, ended) = gunzip(&body).unwrap_or_else(|error| panic!("after {}: {error}", stream.len()));
            assert!(ended && plain[from..].starts_with(&decoded), "after {} bytes", stream.len());
            decoded.len()
        };
        // The early client catches up in steps of every size, and could end after each.
        let mut early_stream = Vec::new();
        let mut last = 0;
        while let CatchUpStep::Write(bytes) = registry.catch_up_step(early, 1 + rng.below(3000)) {
            registry.advance(early, bytes.len());
            early_stream.extend_from_slice(&bytes);
            let decoded = ends_cleanly(&registry, early, &early_stream, 0, &plain);
            assert!(decoded >= last, "an end never takes back bytes");
            last = decoded;
        }
        assert!(registry.hand_to_flusher(early));
        assert_eq!(last, plain.len(), "the whole stream, at the end");
        // The late client stops inside a unit; the early one reads on, and the backlog is trimmed
        // up to the late one's cursor.
        let CatchUpStep::Write(first) = registry.catch_up_step(late, 7000) else { panic!("bytes to write") };
        registry.advance(late, first.len());
        let late_cursor = registry.shards[0][&late.id].cursor;
        assert!(registry.gzip_units.iter().all(|unit| unit.offset != late_cursor), "inside a unit");
        registry.append_heartbeat();
        plain.extend_from_slice(HEARTBEAT_BYTES);
        let mut round = Round::default();
        registry.start_round(0, &mut round);
        let early_rest = round.bytes_for(0).to_vec();
        registry.finish_round(&mut round);
        let gzip_backlog = &registry.backlogs[Coding::Gzip as usize];
        assert_eq!(gzip_backlog.held() as u64, gzip_backlog.end() - late_cursor, "trimmed to the late cursor");
        let early_stream = [early_stream, early_rest].concat();
        assert_eq!(ends_cleanly(&registry, early, &early_stream, 0, &plain), plain.len());
        // Its socket may be ahead of its cursor (a flusher's write not yet counted): every count
        // from the cursor on ends cleanly.
        let late_stream = [&first[..], gzip_backlog.since(late_cursor)].concat();
        let mut received = first.len();
        while received < late_stream.len() {
            ends_cleanly(&registry, late, &late_stream[..received], late_from, &plain);
            received += 1 + rng.below(500);
        }
        assert_eq!(ends_cleanly(&registry, late, &late_stream, late_from, &plain), plain.len() - late_from);
        assert!(registry.gzip_range(late, 100).is_none(), "bytes below its cursor are gone");
        assert!(registry.gzip_range(late, late_stream.len() as u64 + 1).is_none(), "past the end");
        let plain_client = registry.join(3, None, Coding::Identity).unwrap().key;
        assert!(registry.gzip_range(plain_client, 0).is_none(), "not a gzip client");
    }

    #[test]
    fn no_flusher_no_join() {
        let mut registry: Registry<u32> = Registry::new(EPOCH, 2, 1, History::new(10, 1000), 1000, 1);
        assert!(registry.join(1, None, Coding::Identity).is_none());
        registry.set_live_shards(1);
        assert!(registry.join(1, None, Coding::Identity).is_some());
    }

    #[test]
    fn clients_fill_one_flusher_before_the_next_and_then_spread_evenly() {
        let mut registry: Registry<u32> = Registry::new(EPOCH, 3, 2, History::new(10, 1000), 1000, 1);
        registry.set_live_shards(2);
        let join = |registry: &mut Registry<u32>, n| registry.join(n, None, Coding::Identity).unwrap().key;
        let keys: Vec<Key> = (0..4).map(|n| join(&mut registry, n)).collect();
        assert_eq!(keys.iter().map(|k| k.shard).collect::<Vec<_>>(), [0, 0, 1, 1], "two per flusher, live shards only");
        // Room again in the second: it takes the next client.
        registry.leave(keys[2]);
        let fourth = join(&mut registry, 4);
        assert_eq!(fourth.shard, 1);
        // Both full: the one with the fewest clients (the first, on a tie), then the second.
        assert_eq!(join(&mut registry, 5).shard, 0);
        let seventh = join(&mut registry, 7);
        assert_eq!(seventh.shard, 1);
        // Room in the first, and the second empty: the first still takes the next client.
        for key in [keys[0], keys[1], keys[3], fourth, seventh] {
            registry.leave(key);
        }
        assert_eq!(join(&mut registry, 6).shard, 0);
        assert!(registry.has_clients(0) && !registry.has_clients(1) && !registry.has_clients(2));
    }

    #[test]
    fn hub_ids_carry_the_epoch_and_ids_of_another_run_are_unknown() {
        let mut registry = registry(1, 1 << 20);
        registry.publish(&Event::new().data("a").with_id()).unwrap();
        registry.publish(&Event::new().data("b").with_id()).unwrap();
        let joined = registry.join(1, Some("5-1"), Coding::Identity).unwrap();
        assert!(!joined.replay.unknown_id);
        assert_eq!(joined.replay.events.iter().map(|e| text(e)).collect::<Vec<_>>(), ["id: 5-2\ndata: b\n\n"]);
        // The same number from an earlier run (another epoch) is not this run's event 1.
        let from_earlier_run = registry.join(2, Some("4-1"), Coding::Identity).unwrap();
        assert!(from_earlier_run.replay.unknown_id);
        assert_eq!(from_earlier_run.replay.events.len(), 2);
    }

    /// An explicit id of the hub's own form could equal a later auto id, and a resume from it would
    /// then land in the wrong place: such ids are refused; any other explicit id is kept.
    #[test]
    fn explicit_ids_never_take_the_form_of_the_hubs_own() {
        let mut registry = registry(1, 1 << 20);
        registry.publish(&Event::new().data("a").with_id()).unwrap();
        for own in ["5-1", "5-3", "5-0"] {
            let refused = registry.publish(&Event::new().data("x").id(own));
            assert!(matches!(refused, Err(Error::InvalidField { field: "id", .. })), "{own}");
        }
        for other in ["3", "4-3", "5-", "5-x", "55-3", "5-3a", ""] {
            registry.publish(&Event::new().data("y").id(other)).unwrap();
        }
        registry.publish(&Event::new().data("b").with_id()).unwrap();
        let joined = registry.join(1, Some("5-1"), Coding::Identity).unwrap();
        assert_eq!(joined.replay.events.len(), 7, "the six explicit ids kept (the empty one is not), then 5-2");
    }

    /// Join, catch up, hand over, and a round: the client gets the event published while it caught
    /// up from its connection, and the next one from its flusher, each once.
    #[test]
    fn a_joining_client_gets_each_event_once_from_history_catch_up_or_flusher() {
        let mut registry = registry(1, 1 << 20);
        registry.publish(&Event::new().data("kept").with_id()).unwrap();
        registry.publish(&Event::new().data("live only")).unwrap();
        let Joined { key, replay } = registry.join(1, None, Coding::Identity).unwrap();
        assert_eq!(replay.events.len(), 1, "only the event with an id is replayed");
        registry.publish(&Event::new().data("while catching up")).unwrap();

        let mut round = Round::default();
        registry.start_round(0, &mut round);
        assert!(round.targets.is_empty(), "the flusher leaves a client its connection owns alone");
        assert_eq!(registry.owner(key), Some(Owner::CatchUp));
        assert_eq!(text(&catch_up(&mut registry, key)), "data: while catching up\n\n");

        registry.publish(&Event::new().data("live").with_id()).unwrap();
        assert!(registry.has_work(0));
        registry.start_round(0, &mut round);
        assert_eq!(round.targets.len(), 1);
        assert_eq!(text(round.bytes_for(0)), "id: 5-2\ndata: live\n\n");
        registry.finish_round(&mut round);
        assert!(round.handed_back == 0 && round.to_close.is_empty());
        assert!(round.targets.is_empty(), "a finished round holds no client's sink");
        assert!(registry.all_flushed());
        assert!(!registry.has_work(0));
    }

    #[test]
    fn a_full_socket_hands_the_client_back_at_the_byte_it_stopped() {
        let mut registry = registry(1, 1 << 20);
        let key = registry.join(1, None, Coding::Identity).unwrap().key;
        catch_up(&mut registry, key);
        registry.publish(&Event::new().data("0123456789")).unwrap();
        let mut round = Round::default();
        registry.start_round(0, &mut round);
        round.targets[0].outcome = Written::Partial(4);
        registry.finish_round(&mut round);
        assert_eq!((round.handed_back, registry.queued()), (1, vec![key]));
        assert_eq!(registry.owner(key), Some(Owner::CatchUp), "nobody writes to it until a catch-up thread takes it");
        registry.publish(&Event::new().data("more")).unwrap();
        registry.start_round(0, &mut round);
        assert!(round.targets.is_empty(), "the flusher leaves a queued client alone");

        assert!(registry.start_catch_up_thread(), "one thread for the waiting client");
        assert!(!registry.start_catch_up_thread(), "and no more");
        registry.catch_up_thread_started();
        assert_eq!(registry.next_catch_up(), Some((key, 1)));
        assert_eq!(text(&catch_up(&mut registry, key)), ": 0123456789\n\ndata: more\n\n", "the rest, from byte 4");
        registry.catch_up_done();
        assert!(registry.all_flushed());
        assert_eq!(registry.idle_catch_up_threads(), 1);
        assert!(registry.next_catch_up().is_none());
        assert!(registry.catch_up_thread_ended().is_empty());
        assert_eq!(registry.stats().catch_up_threads, 0);
    }

    /// A round writes to its clients in the order they joined, so that a flood of new clients
    /// cannot delay those already there; clients whose sockets filled up wait in that order too.
    #[test]
    fn a_round_writes_clients_in_the_order_they_joined() {
        let mut registry = registry(1, 1 << 20);
        let mut keys: Vec<Key> =
            (0..6).map(|label| registry.join(label, None, Coding::Identity).unwrap().key).collect();
        registry.leave(keys.remove(2));
        keys.push(registry.join(6, None, Coding::Identity).unwrap().key);
        for &key in &keys {
            catch_up(&mut registry, key);
        }
        registry.publish(&Event::new().data("x")).unwrap();
        let mut round = Round::default();
        registry.start_round(0, &mut round);
        assert_eq!(round.targets.iter().map(|target| target.key).collect::<Vec<_>>(), keys);
        for target in &mut round.targets {
            target.outcome = Written::Partial(0);
        }
        registry.finish_round(&mut round);
        assert_eq!(registry.queued(), keys);
    }

    /// A client whose socket filled up can be handed to a catch-up thread before its round ends;
    /// the end of the round then leaves it alone, and applies the others' outcomes.
    #[test]
    fn a_full_socket_goes_to_the_catch_up_queue_before_the_round_ends() {
        let mut registry = registry(1, 1 << 20);
        let keys: Vec<Key> = (0..3).map(|label| registry.join(label, None, Coding::Identity).unwrap().key).collect();
        for &key in &keys {
            catch_up(&mut registry, key);
        }
        registry.publish(&Event::new().data("0123456789")).unwrap();
        let mut round = Round::default();
        registry.start_round(0, &mut round);
        round.targets[0].outcome = Written::Partial(3);
        assert!(!registry.finish_target(&mut round, 1), "not written yet: nothing to hand over");
        assert!(registry.finish_target(&mut round, 0));
        assert!(!registry.finish_target(&mut round, 0), "once");
        assert_eq!(registry.queued(), [keys[0]]);
        // A catch-up thread takes it and finishes it while the round writes to the others.
        assert!(registry.start_catch_up_thread());
        registry.catch_up_thread_started();
        assert_eq!(registry.next_catch_up().map(|(key, _)| key), Some(keys[0]));
        assert_eq!(text(&catch_up(&mut registry, keys[0])), "a: 0123456789\n\n", "from byte 3");
        registry.catch_up_done();
        round.targets[2].outcome = Written::Partial(0);
        registry.finish_round(&mut round);
        assert_eq!(round.handed_back, 1, "only the third is handed over at the end");
        assert_eq!(registry.queued(), [keys[2]]);
        assert_eq!(registry.owner(keys[0]), Some(Owner::Flusher), "the first is its flusher's again");
        assert_eq!(registry.owner(keys[1]), Some(Owner::Flusher));
    }

    /// Clients whose sockets fill up at once get one catch-up thread each up to the limit; the
    /// others wait their turn, oldest first, and a thread that finishes one client takes the next.
    #[test]
    fn catch_up_threads_never_exceed_the_limit_and_waiting_clients_are_taken_in_order() {
        let mut registry = limited_registry(1, 1 << 20, 2);
        let keys: Vec<Key> = (0..5).map(|label| registry.join(label, None, Coding::Identity).unwrap().key).collect();
        for &key in &keys {
            catch_up(&mut registry, key);
        }
        registry.publish(&Event::new().data("x")).unwrap();
        let mut round = Round::default();
        registry.start_round(0, &mut round);
        for target in &mut round.targets {
            target.outcome = Written::Partial(0);
        }
        registry.finish_round(&mut round);
        assert_eq!(round.handed_back, 5);
        let order = registry.queued();

        // The flusher starts one thread, and none more while it is starting; each thread that
        // takes a client starts the next.
        assert!(registry.start_catch_up_thread());
        assert!(!registry.start_catch_up_thread(), "one is starting");
        registry.catch_up_thread_started();
        assert_eq!(registry.next_catch_up().map(|(key, _)| key), Some(order[0]));
        assert!(registry.start_catch_up_thread());
        registry.catch_up_thread_started();
        assert_eq!(registry.next_catch_up().map(|(key, _)| key), Some(order[1]));
        assert!(!registry.start_catch_up_thread(), "two is the limit");
        assert_eq!(registry.stats().catch_up_threads, 2);

        // A client that left while waiting is skipped; the first thread takes the next one.
        registry.leave(order[2]);
        catch_up(&mut registry, order[0]);
        registry.catch_up_done();
        assert_eq!(registry.next_catch_up().map(|(key, _)| key), Some(order[3]));
        assert_eq!(registry.queued(), [order[4]]);
        assert_eq!(registry.idle_catch_up_threads(), 0);
    }

    /// A catch-up thread that cannot be started leaves the waiting clients to the threads that run;
    /// when none runs, they are closed (they resume by `Last-Event-ID`) rather than left waiting
    /// forever.
    #[test]
    fn waiting_clients_are_closed_only_when_no_catch_up_thread_runs() {
        let mut registry = limited_registry(1, 1 << 20, 4);
        let fill_up = |registry: &mut Registry<u32>| {
            registry.publish(&Event::new().data("x")).unwrap();
            let mut round = Round::default();
            registry.start_round(0, &mut round);
            for target in &mut round.targets {
                target.outcome = Written::Partial(0);
            }
            registry.finish_round(&mut round);
            round.handed_back
        };
        let keys: Vec<Key> = (0..3).map(|label| registry.join(label, None, Coding::Identity).unwrap().key).collect();
        for &key in &keys {
            catch_up(&mut registry, key);
        }
        assert_eq!(fill_up(&mut registry), 3);
        assert!(registry.start_catch_up_thread());
        registry.catch_up_thread_started();
        let (first, _) = registry.next_catch_up().unwrap();
        // The next thread cannot be started: one still runs, and the others wait for it.
        assert!(registry.start_catch_up_thread());
        assert!(registry.catch_up_thread_not_started().is_empty());
        assert_eq!(registry.queued().len(), 2);
        catch_up(&mut registry, first);
        registry.catch_up_done();
        while let Some((key, _)) = registry.next_catch_up() {
            catch_up(&mut registry, key);
            registry.catch_up_done();
        }
        assert!(registry.all_flushed() && registry.queued().is_empty());
        assert!(registry.catch_up_thread_ended().is_empty(), "it ends with nobody waiting");

        // Now no thread runs, and the one the flusher wants for the full sockets cannot start.
        assert_eq!(fill_up(&mut registry), 3);
        assert!(registry.start_catch_up_thread());
        let mut stranded = registry.catch_up_thread_not_started();
        stranded.sort_unstable();
        assert_eq!(stranded, [0, 1, 2]);
        assert!(registry.queued().is_empty());
        for key in keys {
            assert_eq!(registry.catch_up_step(key, 100), CatchUpStep::Closed);
        }
        assert_eq!(registry.stats().dropped_slow, 0, "not slow: closed for want of a thread");
    }

    #[test]
    fn a_client_too_far_behind_is_closed_and_the_backlog_freed() {
        let mut registry = registry(1, TRIM_BACKLOG_AT_BYTES);
        let slow = registry.join(1, None, Coding::Identity).unwrap().key;
        let fast = registry.join(2, None, Coding::Identity).unwrap().key;
        catch_up(&mut registry, slow);
        catch_up(&mut registry, fast);
        let payload = "x".repeat(1000);
        let mut round = Round::default();
        let mut too_slow = Vec::new();
        for _ in 0..TRIM_BACKLOG_AT_BYTES / 1000 + 2 {
            registry.publish(&Event::new().data(payload.as_str())).unwrap();
            registry.start_round(0, &mut round);
            for target in &mut round.targets {
                // The slow client's socket never takes a byte.
                target.outcome = if target.key == slow { Written::Partial(0) } else { Written::All };
            }
            registry.finish_round(&mut round);
            too_slow.append(&mut round.to_close);
            if round.handed_back > 0 {
                // A catch-up thread takes it, and stays blocked on the full socket.
                assert!(registry.start_catch_up_thread());
                registry.catch_up_thread_started();
                assert_eq!(registry.next_catch_up().map(|(key, _)| key), Some(slow));
            }
        }
        // The slow client went past the bound on the way, and a round closed it, which ends the
        // blocked write of its catch-up thread.
        assert_eq!(too_slow, [1]);
        assert_eq!(registry.stats().dropped_slow, 1);
        assert!(registry.catch_up_step(slow, 100) == CatchUpStep::Closed);
        registry.catch_up_done();
        assert!(registry.backlog_held() < TRIM_BACKLOG_AT_BYTES, "what only the closed client needed is freed");
        registry.leave(slow);
        assert_eq!(registry.stats().clients, 1);
    }

    #[test]
    fn exactly_at_the_queue_bound_a_client_stays() {
        let event_len = "data: x\n\n".len();
        let mut registry = registry(1, event_len);
        let key = registry.join(1, None, Coding::Identity).unwrap().key;
        registry.publish(&Event::new().data("x")).unwrap();
        assert_eq!(registry.catch_up_step(key, 100), CatchUpStep::Write(b"data: x\n\n".to_vec()));
        registry.publish(&Event::new().data("x")).unwrap();
        assert_eq!(registry.catch_up_step(key, 100), CatchUpStep::Closed, "one byte past the bound");
    }

    /// The hub's promise, checked against a model over thousands of seeded random steps: every
    /// client receives its history snapshot and then every byte appended after it joined, exactly
    /// once and in order, whatever the interleaving of publishing, joining, leaving, flusher rounds
    /// (each write of a round a step of its own, with full sockets handed over at once or when the
    /// round ends), and catch-up threads that start, take waiting clients, end when none waits,
    /// or cannot be started. After every step: each client has one writer at most (no catch-up
    /// thread holds a client another holds or that waits in the queue), catch-up threads never
    /// exceed their limit, at most one is starting, and a client waits in the queue only while
    /// some catch-up thread runs.
    ///
    /// Odd seeds use a compressing registry, whose clients read plain or compressed bytes at
    /// random: each coding has its own log in the model, and compressed clients' bytes must also
    /// decode to the plain events.
    #[test]
    fn every_client_gets_every_byte_once_in_order_under_random_interleavings() {
        for seed in 0..60 {
            let mut rng = SplitRng::new(seed);
            let shards = 1 + rng.below(3);
            let max_threads = 1 + rng.below(3);
            let mut registry = limited_registry(shards, 1 << 30, max_threads);
            let compressing = seed % 2 == 1;
            if compressing {
                registry.compress(6);
            }
            // Each event compressed on its own: what the registry must append for compressed clients.
            let compress = |bytes: &[u8]| {
                let mut out = Vec::new();
                Deflater::new(6).compress_independent(bytes, &mut out);
                out
            };
            let mut logs: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
            // What each compressed client should decode to: the plain events after its join.
            let mut plain_events: Vec<Vec<u8>> = Vec::new();
            let mut ids: Vec<(String, Vec<u8>)> = Vec::new();
            let mut clients: Vec<Model> = Vec::new();
            let mut threads: Vec<ModelThread> = Vec::new();
            // Per shard, the round its flusher is in the middle of, and the next target to write.
            let mut rounds: Vec<Option<(Round<u32>, usize)>> = (0..shards).map(|_| None).collect();
            let mut next_auto = 1;
            for _ in 0..600 {
                match rng.below(12) {
                    0..=2 => {
                        let data = format!("e{}", plain_events.len());
                        let event = match rng.below(3) {
                            0 => Event::new().data(data.clone()),
                            1 => Event::new().data(data.clone()).with_id(),
                            _ => Event::new().data(data.clone()).id(format!("given{}", plain_events.len())),
                        };
                        registry.publish(&event).unwrap();
                        let id = if event.wants_next_id() {
                            next_auto += 1;
                            Some(format!("{EPOCH}-{}", next_auto - 1))
                        } else {
                            event.given_id().map(str::to_string)
                        };
                        let bytes = event.encode(id.as_deref()).unwrap();
                        for coding in [Coding::Identity, Coding::Gzip] {
                            if clients.iter().any(|c| !c.left && c.coding == coding) {
                                let form = if coding == Coding::Gzip { compress(&bytes) } else { bytes.clone() };
                                logs[coding as usize].extend_from_slice(&form);
                            }
                        }
                        plain_events.push(bytes.clone());
                        if let Some(id) = id {
                            ids.push((id, bytes));
                        }
                    }
                    3 => {
                        let resume = match rng.below(3) {
                            0 if !ids.is_empty() => Some(ids[rng.below(ids.len())].0.clone()),
                            1 => Some("unknown".to_string()),
                            _ => None,
                        };
                        let label = clients.len() as u32;
                        let coding = if compressing && rng.below(2) == 0 { Coding::Gzip } else { Coding::Identity };
                        let joined = registry.join(label, resume.as_deref(), coding).unwrap();
                        let after = resume.as_ref().and_then(|r| ids.iter().rposition(|(id, _)| id == r));
                        let kept = &ids[after.map_or(0, |at| at + 1)..];
                        let expected: Vec<u8> = match coding {
                            Coding::Identity => kept.iter().flat_map(|e| e.1.clone()).collect(),
                            Coding::Gzip => kept.iter().flat_map(|e| compress(&e.1)).collect(),
                        };
                        let replayed: Vec<u8> = joined.replay.events.iter().flat_map(|e| e.to_vec()).collect();
                        assert_eq!(replayed, expected, "seed {seed}: history after {resume:?}");
                        assert_eq!(joined.replay.unknown_id, resume.is_some() && after.is_none());
                        // While the client was alone the log was not kept: its view starts here.
                        clients.push(Model {
                            key: joined.key,
                            coding,
                            from: logs[coding as usize].len(),
                            from_event: plain_events.len(),
                            received: Vec::new(),
                            joining: true,
                            left: false,
                            closed: false,
                        });
                    }
                    4 if !clients.is_empty() && rng.below(2) == 0 => {
                        let pick = rng.below(clients.len());
                        let client = &mut clients[pick];
                        if !client.left {
                            registry.leave(client.key);
                            client.left = true;
                        }
                    }
                    5..=7 => {
                        // One step of a flusher: start a round, write to one client, or finish.
                        let shard = rng.below(shards);
                        match rounds[shard].take() {
                            None => {
                                let mut round = Round::default();
                                registry.start_round(shard, &mut round);
                                assert!(round.to_close.is_empty());
                                rounds[shard] = Some((round, 0));
                            }
                            Some((mut round, index)) if index < round.targets.len() => {
                                let bytes = round.bytes_for(index).to_vec();
                                let taken = if rng.below(2) == 0 { rng.below(bytes.len() + 1) } else { bytes.len() };
                                let client = clients.iter_mut().find(|c| c.key == round.targets[index].key).unwrap();
                                client.received.extend_from_slice(&bytes[..taken]);
                                round.targets[index].outcome =
                                    if taken == bytes.len() { Written::All } else { Written::Partial(taken) };
                                // The hub hands a full socket over at once; the model, at once or
                                // when the round ends.
                                if rng.below(2) == 0 && registry.finish_target(&mut round, index) {
                                    start_thread(&mut registry, &mut threads, &mut clients, &mut rng);
                                }
                                rounds[shard] = Some((round, index + 1));
                            }
                            Some((mut round, _)) => {
                                registry.finish_round(&mut round);
                                assert!(round.to_close.is_empty());
                                if round.handed_back > 0 {
                                    start_thread(&mut registry, &mut threads, &mut clients, &mut rng);
                                }
                            }
                        }
                    }
                    8 => {
                        // A joining client's connection sends what it missed.
                        let joining: Vec<usize> =
                            (0..clients.len()).filter(|&at| clients[at].joining && !clients[at].left).collect();
                        if joining.is_empty() {
                            continue;
                        }
                        let client = &mut clients[joining[rng.below(joining.len())]];
                        match registry.catch_up_step(client.key, 1 + rng.below(100)) {
                            CatchUpStep::Write(bytes) => {
                                registry.advance(client.key, bytes.len());
                                client.received.extend_from_slice(&bytes);
                            }
                            CatchUpStep::CaughtUp => client.joining = !registry.hand_to_flusher(client.key),
                            CatchUpStep::Closed => panic!("seed {seed}: nobody is too slow here"),
                        }
                    }
                    _ if !threads.is_empty() => {
                        let at = rng.below(threads.len());
                        if threads[at] == ModelThread::Starting {
                            registry.catch_up_thread_started();
                            threads[at] = ModelThread::Idle;
                        }
                        match threads[at] {
                            ModelThread::Starting => unreachable!("it has just started"),
                            ModelThread::Idle => match registry.next_catch_up() {
                                Some((key, label)) => {
                                    assert_eq!(clients[label as usize].key, key, "seed {seed}");
                                    threads[at] = ModelThread::Holding(key);
                                    start_thread(&mut registry, &mut threads, &mut clients, &mut rng);
                                }
                                // Nobody waits: the thread lingers, or ends.
                                None if rng.below(2) == 0 => {
                                    threads.swap_remove(at);
                                    assert!(registry.catch_up_thread_ended().is_empty(), "seed {seed}");
                                }
                                None => {}
                            },
                            ModelThread::Holding(key) => {
                                let client = clients.iter_mut().find(|c| c.key == key).unwrap();
                                match registry.catch_up_step(key, 1 + rng.below(40)) {
                                    CatchUpStep::Write(bytes) => {
                                        registry.advance(key, bytes.len());
                                        client.received.extend_from_slice(&bytes);
                                    }
                                    CatchUpStep::CaughtUp if registry.hand_to_flusher(key) => {
                                        registry.catch_up_done();
                                        threads[at] = ModelThread::Idle;
                                    }
                                    CatchUpStep::CaughtUp => {}
                                    CatchUpStep::Closed => {
                                        assert!(client.left, "seed {seed}: only leaving ends a catch-up here");
                                        registry.catch_up_done();
                                        threads[at] = ModelThread::Idle;
                                    }
                                }
                            }
                        }
                    }
                    _ => {}
                }
                check_writers(&registry, &threads, max_threads, seed);
                for client in clients.iter().filter(|c| !c.left) {
                    let log = &logs[client.coding as usize];
                    let expected = &log[client.from..client.from + client.received.len()];
                    assert_eq!(client.received, expected, "seed {seed}: a client's bytes are the log's, in order");
                }
            }
            // Drain: the rounds in progress finish, then every client still connected ends with the
            // whole log after its join.
            for (shard, in_progress) in rounds.iter_mut().enumerate() {
                let Some((mut round, next)) = in_progress.take() else { continue };
                for index in next..round.targets.len() {
                    let client = clients.iter_mut().find(|c| c.key == round.targets[index].key).unwrap();
                    client.received.extend_from_slice(round.bytes_for(index));
                }
                registry.finish_round(&mut round);
                assert!(round.to_close.is_empty(), "seed {seed}, shard {shard}");
                if round.handed_back > 0 && registry.start_catch_up_thread() {
                    threads.push(ModelThread::Starting);
                }
            }
            let mut round = Round::default();
            for _ in 0..10_000 {
                if registry.all_flushed() && registry.queued().is_empty() {
                    break;
                }
                for client in clients.iter_mut().filter(|c| !c.left && c.joining) {
                    client.received.extend(catch_up(&mut registry, client.key));
                    client.joining = false;
                }
                for thread in &mut threads {
                    if *thread == ModelThread::Starting {
                        registry.catch_up_thread_started();
                    }
                    let key = match *thread {
                        ModelThread::Holding(key) => key,
                        _ => match registry.next_catch_up() {
                            Some((key, _)) => key,
                            None => {
                                *thread = ModelThread::Idle;
                                continue;
                            }
                        },
                    };
                    let client = clients.iter_mut().find(|c| c.key == key).unwrap();
                    if !client.left {
                        client.received.extend(catch_up(&mut registry, key));
                    }
                    registry.catch_up_done();
                    *thread = ModelThread::Idle;
                }
                if registry.start_catch_up_thread() {
                    threads.push(ModelThread::Starting);
                }
                for shard in 0..shards {
                    registry.start_round(shard, &mut round);
                    for index in 0..round.targets.len() {
                        let client = clients.iter_mut().find(|c| c.key == round.targets[index].key).unwrap();
                        client.received.extend_from_slice(round.bytes_for(index));
                    }
                    registry.finish_round(&mut round);
                }
                check_writers(&registry, &threads, max_threads, seed);
            }
            for client in clients.iter().filter(|c| !c.left && !c.closed) {
                let log = &logs[client.coding as usize];
                assert_eq!(text(&client.received), text(&log[client.from..]), "seed {seed}");
                if client.coding == Coding::Gzip {
                    let decoded = test_inflate::inflate(&client.received).unwrap();
                    assert_eq!(decoded.data, plain_events[client.from_event..].concat(), "seed {seed}: it decodes");
                }
            }
        }
    }

    /// A catch-up thread as the model sees it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum ModelThread {
        /// Counted by the registry, not yet looking for a client.
        Starting,
        /// Looking for a client, or waiting for one.
        Idle,
        /// Catching this client up.
        Holding(Key),
    }

    /// Starts a catch-up thread if the registry wants one, as the hub does after handing over
    /// full sockets and when a thread takes a client; one start in eight fails (no thread could be
    /// spawned), and a failure with no thread running closes the waiting clients.
    fn start_thread(
        registry: &mut Registry<u32>,
        threads: &mut Vec<ModelThread>,
        clients: &mut [Model],
        rng: &mut SplitRng,
    ) {
        if !registry.start_catch_up_thread() {
            return;
        }
        if rng.below(8) != 0 {
            threads.push(ModelThread::Starting);
            return;
        }
        let stranded = registry.catch_up_thread_not_started();
        assert!(stranded.is_empty() || threads.is_empty(), "clients are stranded only when no thread runs");
        for label in stranded {
            clients[label as usize].closed = true;
        }
    }

    /// One writer per client: no two catch-up threads hold the same client, a held or waiting
    /// client is owned by catch-up (not its flusher), and a held one is not also waiting; threads
    /// stay within their limit, at most one is starting, and while clients wait, a thread runs.
    fn check_writers(registry: &Registry<u32>, threads: &[ModelThread], max_threads: usize, seed: u64) {
        let held: Vec<Key> =
            threads.iter().filter_map(|t| if let ModelThread::Holding(key) = t { Some(*key) } else { None }).collect();
        let queued = registry.queued();
        for (at, key) in held.iter().enumerate() {
            assert!(!held[at + 1..].contains(key), "seed {seed}: two threads write to one client");
            assert!(!queued.contains(key), "seed {seed}: a held client waits in the queue too");
            assert!(matches!(registry.owner(*key), None | Some(Owner::CatchUp)), "seed {seed}");
        }
        for key in &queued {
            assert!(matches!(registry.owner(*key), None | Some(Owner::CatchUp)), "seed {seed}: queued for the flusher");
        }
        assert_eq!(registry.stats().catch_up_threads, threads.len(), "seed {seed}");
        assert!(threads.len() <= max_threads, "seed {seed}: {} threads, limit {max_threads}", threads.len());
        assert!(threads.iter().filter(|t| **t == ModelThread::Starting).count() <= 1, "seed {seed}");
        assert_eq!(registry.idle_catch_up_threads(), threads.len() - held.len(), "seed {seed}");
        assert!(queued.is_empty() || !threads.is_empty(), "seed {seed}: clients wait with no thread coming");
    }

    /// A client as the model sees it.
    struct Model {
        key: Key,
        coding: Coding,
        /// Offset in the model's log of its coding where the client joined.
        from: usize,
        /// How many events had been published when it joined.
        from_event: usize,
        received: Vec<u8>,
        /// Its connection is still sending what it missed when it joined.
        joining: bool,
        left: bool,
        /// Closed by the hub (no catch-up thread could run for it): its bytes stop, in order.
        closed: bool,
    }
}
