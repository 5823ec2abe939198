//! The hub's state and policy, with no sockets and no threads: the backlog, the history, the id
//! counter, and every subscriber's cursor and owner. Every method runs under the hub's lock and
//! returns at once; the threads in [`super`] do the waiting and the I/O.
//!
//! Because nothing here touches a socket, the subscriber type is a parameter: the hub stores its
//! clients' sinks here, and the tests store plain labels.
//!
//! # Invariants
//!
//! - **One writer per client.** A subscriber's `owner` says who may write to it: its own
//!   connection (sending history, or finishing a backlog its socket could not take at once), or
//!   the flusher of its shard. Only the owner moves the cursor or hands the client over, and hand
//!   over happens here, under the lock.
//! - **Every event exactly once.** A joining client's cursor is set to the end of the backlog in
//!   the same step that takes its history snapshot, so every event is either in the snapshot or
//!   after the cursor: never both, never neither. Cursors only move forward, by bytes written.
//! - **Nothing freed that a client needs.** Backlog bytes are dropped only below the lowest cursor
//!   of an open subscriber, and a subscriber more than `max_queued_bytes` behind is closed first.
//! - **Every shard with clients has a flusher.** Clients join only shards below `live_shards`, and
//!   a shard's flusher, once started, lives as long as the hub.
//! - **One backlog per coding.** A hub that compresses keeps two backlogs, the plain bytes and
//!   the same events compressed once each, and every client reads one of them, chosen when it
//!   joins. Cursors are offsets in the client's own backlog. Every event is appended to both in
//!   the same step, so the two carry the same events in the same order.

use std::collections::HashMap;

use super::backlog::Backlog;
use super::history::{History, Replay};
use crate::compress::deflate::Deflater;
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
}

/// Who may write to a client right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// Its connection: while it sends history, or after its socket filled up.
    Connection,
    /// The flusher of its shard.
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
    /// Clients whose sockets filled up: each is now owned by its connection, which the flusher
    /// tells to catch up.
    pub handed_back: Vec<(Key, S)>,
}

impl<S> Default for Round<S> {
    fn default() -> Round<S> {
        let (targets, to_close, handed_back) = (Vec::new(), Vec::new(), Vec::new());
        Round { end: [0; 2], from: [0; 2], bytes: [Vec::new(), Vec::new()], targets, to_close, handed_back }
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
    /// Per coding, the clients that read it.
    readers: [usize; 2],
    shards: Vec<HashMap<u64, Subscriber<S>>>,
    /// Per shard and coding, the backlog end its flusher has handled.
    seen_end: Vec<[u64; 2]>,
    /// Shards that have a running flusher; clients join only these.
    live_shards: usize,
    /// Clients a shard takes before the next live shard is given new ones.
    clients_per_flusher: usize,
    next_subscriber: u64,
    max_queued_bytes: u64,
    stats: Stats,
}

impl<S: Clone> Registry<S> {
    pub fn new(
        epoch: u64,
        shards: usize,
        clients_per_flusher: usize,
        history: History,
        max_queued_bytes: usize,
    ) -> Registry<S> {
        let shards = shards.max(1);
        Registry {
            id_prefix: format!("{epoch}-"),
            next_id: 1,
            history,
            backlogs: [Backlog::default(), Backlog::default()],
            compressor: None,
            readers: [0; 2],
            shards: (0..shards).map(|_| HashMap::new()).collect(),
            seen_end: vec![[0; 2]; shards],
            live_shards: 0,
            clients_per_flusher: clients_per_flusher.max(1),
            next_subscriber: 0,
            max_queued_bytes: max_queued_bytes as u64,
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
        self.append(&bytes, compressed.as_deref());
        if let Some(id) = kept {
            self.history.keep(id, bytes.into(), compressed.map(Into::into));
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
        let compressed = self.compressor.as_ref().map(|c| c.heartbeat.clone());
        self.append(HEARTBEAT_BYTES, compressed.as_deref());
    }

    /// Appends to each backlog its form of the same bytes; a backlog nobody reads only advances.
    fn append(&mut self, plain: &[u8], compressed: Option<&[u8]>) {
        for (coding, bytes) in [(Coding::Identity, Some(plain)), (Coding::Gzip, compressed)] {
            let backlog = &mut self.backlogs[coding as usize];
            match bytes {
                Some(bytes) if self.readers[coding as usize] > 0 => backlog.append(bytes),
                Some(bytes) => backlog.skip(bytes.len()),
                // Not compressed: nobody reads the compressed backlog.
                None => backlog.skip(0),
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
        let subscriber = Subscriber { sink, coding, cursor, owner: Owner::Connection, closed: false };
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

    /// What a connection-owned client writes next. At most `max_bytes` are copied per step.
    pub fn catch_up_step(&mut self, key: Key, max_bytes: usize) -> CatchUpStep {
        let Some(sub) = self.shards[key.shard].get_mut(&key.id).filter(|s| !s.closed) else {
            return CatchUpStep::Closed;
        };
        let backlog = &self.backlogs[sub.coding as usize];
        let end = backlog.end();
        debug_assert_eq!(sub.owner, Owner::Connection, "only the owner catches up");
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

    /// The connection wrote `count` more bytes. (The backlog is trimmed by flusher rounds, not
    /// here: a catch-up write would otherwise walk every client.)
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
        round.handed_back.clear();
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
                round.targets.push(Target { key, sink, coding, cursor, outcome: Written::All });
            }
        }
        round.from = from;
        for ((bytes, backlog), from) in round.bytes.iter_mut().zip(&self.backlogs).zip(from) {
            bytes.clear();
            bytes.extend_from_slice(backlog.since(from));
        }
    }

    /// Applies a round's outcomes, adding to its `to_close` and `handed_back` lists. The round's
    /// targets are taken out: a round that kept its clients' sinks until the next one (which may
    /// not come for as long as no client is connected) would keep their sockets open.
    pub fn finish_round(&mut self, round: &mut Round<S>) {
        for target in round.targets.drain(..) {
            let key = target.key;
            let Some(sub) = self.shards[key.shard].get_mut(&key.id).filter(|s| !s.closed) else { continue };
            match target.outcome {
                Written::All => sub.cursor = round.end[sub.coding as usize],
                Written::Partial(written) => {
                    sub.cursor = target.cursor + written as u64;
                    sub.owner = Owner::Connection;
                    round.handed_back.push((key, sub.sink.clone()));
                }
                Written::Failed => {
                    sub.closed = true;
                    round.to_close.push(sub.sink.clone());
                }
            }
        }
        self.trim_backlog();
    }

    /// Whether every open client has everything appended so far.
    pub fn all_flushed(&self) -> bool {
        let backlogs = &self.backlogs;
        let flushed = |sub: &Subscriber<S>| sub.closed || sub.cursor == backlogs[sub.coding as usize].end();
        self.shards.iter().flat_map(HashMap::values).all(flushed)
    }

    /// Drops the backlog bytes that every open client has passed, once there are enough of them.
    fn trim_backlog(&mut self) {
        for coding in [Coding::Identity, Coding::Gzip] {
            let backlog = &self.backlogs[coding as usize];
            if backlog.held() < TRIM_BACKLOG_AT_BYTES {
                continue;
            }
            let readers = self.shards.iter().flat_map(HashMap::values).filter(|s| !s.closed && s.coding == coding);
            let lowest = readers.map(|s| s.cursor).min().unwrap_or(backlog.end());
            self.backlogs[coding as usize].drop_before(lowest);
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
        self.shards.iter().map(HashMap::len).sum()
    }

    /// The counters kept here; those kept outside the lock (`counters.rs`) are left at zero for
    /// the hub to fill.
    pub fn stats(&self) -> Stats {
        Stats { clients: self.subscriber_count(), history_len: self.history.len(), ..self.stats }
    }

    /// Bytes the backlog holds (for tests of its bounds).
    #[cfg(test)]
    fn backlog_held(&self) -> usize {
        self.backlogs[0].held()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::SplitRng;

    const EPOCH: u64 = 5;

    /// A registry whose clients are spread evenly over `shards` shards.
    fn registry(shards: usize, max_queued_bytes: usize) -> Registry<u32> {
        let mut registry = Registry::new(EPOCH, shards, 1, History::new(10_000, 1 << 30), max_queued_bytes);
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

    #[test]
    fn no_flusher_no_join() {
        let mut registry: Registry<u32> = Registry::new(EPOCH, 2, 1, History::new(10, 1000), 1000);
        assert!(registry.join(1, None, Coding::Identity).is_none());
        registry.set_live_shards(1);
        assert!(registry.join(1, None, Coding::Identity).is_some());
    }

    #[test]
    fn clients_fill_one_flusher_before_the_next_and_then_spread_evenly() {
        let mut registry: Registry<u32> = Registry::new(EPOCH, 3, 2, History::new(10, 1000), 1000);
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
        assert_eq!(text(&catch_up(&mut registry, key)), "data: while catching up\n\n");

        registry.publish(&Event::new().data("live").with_id()).unwrap();
        assert!(registry.has_work(0));
        registry.start_round(0, &mut round);
        assert_eq!(round.targets.len(), 1);
        assert_eq!(text(round.bytes_for(0)), "id: 5-2\ndata: live\n\n");
        registry.finish_round(&mut round);
        assert!(round.handed_back.is_empty() && round.to_close.is_empty());
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
        assert_eq!(round.handed_back, [(key, 1)]);
        assert_eq!(text(&catch_up(&mut registry, key)), ": 0123456789\n\n", "the rest, from byte 4");
        assert!(registry.all_flushed());
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
            for (key, _) in &round.handed_back {
                assert_eq!(*key, slow);
            }
        }
        // The slow client went past the bound on the way, and a round closed it.
        assert_eq!(too_slow, [1]);
        assert_eq!(registry.stats().dropped_slow, 1);
        assert!(registry.catch_up_step(slow, 100) == CatchUpStep::Closed);
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
    /// with full sockets, and catch-up.
    ///
    /// Odd seeds use a compressing registry, whose clients read plain or compressed bytes at
    /// random: each coding has its own log in the model, and compressed clients' bytes must also
    /// decode to the plain events.
    #[test]
    fn every_client_gets_every_byte_once_in_order_under_random_interleavings() {
        for seed in 0..40 {
            let mut rng = SplitRng::new(seed);
            let shards = 1 + rng.below(3);
            let mut registry = registry(shards, 1 << 30);
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
            let mut next_auto = 1;
            let mut round = Round::default();
            for _ in 0..400 {
                match rng.below(10) {
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
                            catching_up: true,
                            left: false,
                        });
                    }
                    4 if !clients.is_empty() => {
                        let pick = rng.below(clients.len());
                        let client = &mut clients[pick];
                        if !client.left {
                            registry.leave(client.key);
                            client.left = true;
                        }
                    }
                    5 | 6 => {
                        let shard = rng.below(shards);
                        registry.start_round(shard, &mut round);
                        assert!(round.to_close.is_empty());
                        for index in 0..round.targets.len() {
                            let bytes = round.bytes_for(index).to_vec();
                            let taken = if rng.below(4) == 0 { rng.below(bytes.len() + 1) } else { bytes.len() };
                            let client = clients.iter_mut().find(|c| c.key == round.targets[index].key).unwrap();
                            client.received.extend_from_slice(&bytes[..taken]);
                            round.targets[index].outcome =
                                if taken == bytes.len() { Written::All } else { Written::Partial(taken) };
                        }
                        registry.finish_round(&mut round);
                        for (key, _) in &round.handed_back {
                            clients.iter_mut().find(|c| c.key == *key).unwrap().catching_up = true;
                        }
                    }
                    _ => {
                        let Some(client) = clients.iter_mut().find(|c| c.catching_up && !c.left) else {
                            continue;
                        };
                        match registry.catch_up_step(client.key, 1 + rng.below(20)) {
                            CatchUpStep::Write(bytes) => {
                                registry.advance(client.key, bytes.len());
                                client.received.extend_from_slice(&bytes);
                            }
                            CatchUpStep::CaughtUp => client.catching_up = !registry.hand_to_flusher(client.key),
                            CatchUpStep::Closed => panic!("seed {seed}: nobody is too slow here"),
                        }
                    }
                }
                for client in clients.iter().filter(|c| !c.left) {
                    let log = &logs[client.coding as usize];
                    let expected = &log[client.from..client.from + client.received.len()];
                    assert_eq!(client.received, expected, "seed {seed}: a client's bytes are the log's, in order");
                }
            }
            // Drain: every client still connected ends with the whole log after its join.
            for _ in 0..10_000 {
                if registry.all_flushed() {
                    break;
                }
                for client in clients.iter_mut().filter(|c| !c.left && c.catching_up) {
                    client.received.extend(catch_up(&mut registry, client.key));
                    client.catching_up = false;
                }
                for shard in 0..shards {
                    registry.start_round(shard, &mut round);
                    for index in 0..round.targets.len() {
                        let client = clients.iter_mut().find(|c| c.key == round.targets[index].key).unwrap();
                        client.received.extend_from_slice(round.bytes_for(index));
                    }
                    registry.finish_round(&mut round);
                }
            }
            for client in clients.iter().filter(|c| !c.left) {
                let log = &logs[client.coding as usize];
                assert_eq!(text(&client.received), text(&log[client.from..]), "seed {seed}");
                if client.coding == Coding::Gzip {
                    let decoded = crate::compress::inflate::inflate(&client.received).unwrap();
                    assert_eq!(decoded.data, plain_events[client.from_event..].concat(), "seed {seed}: it decodes");
                }
            }
        }
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
        catching_up: bool,
        left: bool,
    }
}
