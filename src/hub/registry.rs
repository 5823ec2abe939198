//! The hub's state and policy, with no sockets, no threads and no clock: the selections of its
//! clients (each with its feed, the bytes sent to them, in `feed.rs`), the routing of events to
//! them, the history, the id counter, and every subscriber's cursor and owner. Every method runs
//! under the hub's lock and returns at once; the threads in [`super`] do the waiting and the I/O,
//! and pass the time in where a rule depends on it.
//!
//! Because nothing here touches a socket, the subscriber type is a parameter: the hub stores its
//! clients' sinks here, and the tests store plain labels.
//!
//! Not here: the bytes themselves (the feed, `feed.rs`, with the backlog and history it is made
//! of), a selection's clients and feed as a unit (`selection_feed.rs`), which events a selection
//! admits (`topics.rs`) and the index that finds the selections an event may go to
//! (`routing.rs`), the rules of time (`timing.rs`, which the heartbeat rule here is told the time
//! through), and everything that waits (the runtime: `flusher.rs`, `catch_up.rs`,
//! `subscription.rs`).
//!
//! # Selections and their feeds
//!
//! Clients with equal [`Selection`]s share a feed: every event the selection admits is appended
//! to it once, and each of them reads it from its own cursor. An event published to topics is
//! appended to the feeds of the selections that admit it, found through the routing index, so its
//! cost follows the clients it reaches, not all of them; an event without topics (a hub-wide
//! notice) goes to every feed, and a heartbeat to every feed silent for a whole interval. A hub
//! whose clients all share one selection has one feed, and the paths below are those of a hub
//! without topics.
//!
//! Each shard keeps a list of the selections whose feeds got bytes since its flusher last looked
//! (each in it at most once), and a round walks only those selections' clients in the shard.
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
//! - **Every event exactly once, in order.** A client reads its selection's feed, for its whole
//!   life. A joining client's cursor is set to the end of that feed's backlog in the same step
//!   that takes its history snapshot (filtered by the rule, [`Selection::admits`], that routes
//!   events to its feed), so every event its selection admits is either in the snapshot or after
//!   the cursor: never both, never neither. An event is appended to a feed at most once, however
//!   many of its topics the selection selects, and feeds get events in the order they are
//!   published. Cursors only move forward, by bytes written:
//!   every write starts at the writer's cursor, and moves it by exactly what the socket took (a
//!   partial write's count), so when a client passes from its flusher to a catch-up thread and
//!   back, no byte is lost or sent twice, and bytes go out in the backlog's order. (The socket's
//!   framer likewise resumes a chunk where the last writer left it.)
//! - **No flusher misses bytes.** A feed that gets bytes puts its selection in the list of every
//!   shard where it has clients; a round takes the selection out of its shard's list before it
//!   reads the feed's end, and writes every client its flusher owns up to that end. A client its
//!   flusher does not own gets the bytes from its owner, and is handed back only once it has
//!   everything.
//! - **Nothing freed that a client needs.** A feed's bytes are dropped only below the lowest
//!   cursor of its open clients, and a subscriber more than `max_queued_bytes` behind is closed
//!   first. A selection goes with its last client; ids are never reused, so a key, a queued client
//!   or a shard's list that names a removed selection finds nothing.
//! - **Every shard with clients has a flusher.** Clients join only shards below `live_shards`, and
//!   a shard's flusher, once started, lives as long as the hub.
//! - **One backlog per coding, and every gzip client's trailer can be found**: the feed's
//!   invariants, stated in `feed.rs`. Cursors are offsets in the backlog of the client's coding.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::feed::{Coding, GzipRange};
use super::history::{History, Replay};
use super::routing::Routes;
use super::selection_feed::{FeedId, SelectionFeed, Subscriber};
use super::sink::Written;
use super::timing::HeartbeatClock;
use super::topics::{Selection, Topics};
use crate::compress::deflate::Deflater;
use crate::compress::gzip::Checksum;
use crate::event::HEARTBEAT_COMMENT;
use crate::{Error, Event};

/// The type of the event sent to a client that resumes from an id the hub no longer has.
pub const RESET_EVENT_TYPE: &str = "bare-sse-reset";

/// Counters readable from a hub at any time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Clients connected now.
    pub clients: usize,
    /// Events published (with `send_new_event`, or to topics) since the hub was made.
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
        deflater.compress_independent(HEARTBEAT_COMMENT, &mut heartbeat);
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

/// What the heartbeat rule says at a given time ([`Registry::heartbeat`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Heartbeat {
    /// A heartbeat was appended for the clients of every feed silent for a whole interval: the
    /// flushers have bytes to write.
    Appended,
    /// The next heartbeat is due at this time, unless something is appended before.
    DueAt(Instant),
    /// None is due: the hub sends no heartbeats, or has no client to send one to (a client that
    /// joins wakes shard 0's flusher to ask again).
    NotNeeded,
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

/// One flusher round: per feed with bytes to send and coding, the bytes between the lowest cursor
/// and the end, and the clients to write.
#[derive(Debug)]
pub(crate) struct Round<S> {
    /// The bytes of every segment, one after the other.
    bytes: Vec<u8>,
    segments: Vec<Segment>,
    /// The feeds the round looked at: trimmed when it ends.
    feeds: Vec<FeedId>,
    pub targets: Vec<Target<S>>,
    /// Clients the round gave up on (too far behind, or a failed write): the flusher closes them.
    pub to_close: Vec<S>,
    /// Clients whose sockets filled up: each now waits in the catch-up queue, and the flusher
    /// wakes or starts catch-up threads for them.
    pub handed_back: usize,
}

/// The bytes of one backlog (one feed's, in one coding) a round writes: from the lowest cursor of
/// its targets to the end the round saw.
#[derive(Debug)]
struct Segment {
    /// The backlog offset of the segment's first byte.
    from: u64,
    /// The backlog end the round writes up to.
    end: u64,
    /// Where the segment starts in the round's bytes.
    at: usize,
}

impl<S> Default for Round<S> {
    fn default() -> Round<S> {
        Round {
            bytes: Vec::new(),
            segments: Vec::new(),
            feeds: Vec::new(),
            targets: Vec::new(),
            to_close: Vec::new(),
            handed_back: 0,
        }
    }
}

/// One client to write to in a round, and how the write went.
#[derive(Debug)]
pub(crate) struct Target<S> {
    pub key: Key,
    pub sink: S,
    pub cursor: u64,
    pub outcome: Written,
    /// The round's segment this client's bytes are in.
    segment: usize,
    /// The outcome was applied before the round finished ([`Registry::finish_target`]).
    applied: bool,
}

impl<S> Round<S> {
    /// The bytes target `index` needs, out of the round's. Its cursor is at or past the start of
    /// its segment, the lowest cursor of the round in its backlog.
    pub fn bytes_for(&self, index: usize) -> &[u8] {
        let target = &self.targets[index];
        let segment = &self.segments[target.segment];
        let skip = usize::try_from(target.cursor - segment.from).unwrap_or(usize::MAX);
        let len = usize::try_from(segment.end - segment.from).unwrap_or(usize::MAX);
        self.bytes.get(segment.at + skip.min(len)..segment.at + len).unwrap_or(&[])
    }
}

/// A client's key in the registry: its number, the shard it was put in, and its feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    id: u64,
    shard: usize,
    feed: FeedId,
}

impl Key {
    /// The client's number: unique within the registry, counting from 0 in the order of joining.
    pub fn number(&self) -> u64 {
        self.id
    }
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
    /// Present when the hub compresses.
    compressor: Option<Compressor>,
    /// Every selection with clients, in the order they were made.
    feeds: BTreeMap<FeedId, Box<SelectionFeed<S>>>,
    /// Each selection's number.
    feed_ids: HashMap<Selection, FeedId>,
    next_feed: FeedId,
    /// Which selections an event published to topics may go to.
    routes: Routes,
    /// The selections the event being published goes to (kept to reuse its memory).
    routed: Vec<FeedId>,
    /// Events routed so far: each event's number, stamped on the selections it was routed to.
    routed_events: u64,
    /// Per shard, the selections whose feeds got bytes since its flusher last looked, each once:
    /// the flusher's work.
    dirty: Vec<Vec<FeedId>>,
    /// Per shard, its clients.
    shard_clients: Vec<usize>,
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
    /// The heartbeat rule's state; `None` when the hub sends none.
    heartbeats: Option<Heartbeats>,
    stats: Stats,
}

/// What the heartbeat rule keeps besides each selection's own clock.
#[derive(Debug, Clone, Copy)]
struct Heartbeats {
    /// Where a new selection's silence starts: when the last bytes were appended for any client.
    clock: HeartbeatClock,
    /// No selection's heartbeat is due before this: a lower bound of their clocks' due times
    /// (which only move later), made exact each time the rule looks at every selection.
    earliest_due: Instant,
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
            compressor: None,
            feeds: BTreeMap::new(),
            feed_ids: HashMap::new(),
            next_feed: 0,
            routes: Routes::default(),
            routed: Vec::new(),
            routed_events: 0,
            dirty: vec![Vec::new(); shards],
            shard_clients: vec![0; shards],
            live_shards: 0,
            clients_per_flusher: clients_per_flusher.max(1),
            next_subscriber: 0,
            max_queued_bytes: max_queued_bytes as u64,
            catch_up_queue: VecDeque::new(),
            catch_up_threads: CatchUpThreads { running: 0, starting: 0, busy: 0, max: max_catch_up_threads.max(1) },
            heartbeats: None,
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

    /// Sends a heartbeat after each `interval` of silence, counted from `now` (see
    /// [`heartbeat`](Self::heartbeat)). Set before the first client joins.
    pub fn send_heartbeats(&mut self, interval: Duration, now: Instant) {
        let clock = HeartbeatClock::new(interval, now);
        self.heartbeats = Some(Heartbeats { clock, earliest_due: clock.due_at() });
    }

    /// The heartbeat rule, at `now`: when the hub has clients, appends a heartbeat comment for the
    /// clients of every selection that has been sent nothing for a whole heartbeat interval (so a
    /// quiet topic's clients get one however busy other topics are). Asked by shard 0's flusher
    /// each time it would go to sleep; it sleeps until the time returned. Looks at every selection
    /// only when one may be due.
    pub fn heartbeat(&mut self, now: Instant) -> Heartbeat {
        let Some(heartbeats) = self.heartbeats.as_mut().filter(|_| self.shard_clients.iter().any(|&n| n > 0)) else {
            return Heartbeat::NotNeeded;
        };
        if now < heartbeats.earliest_due {
            return Heartbeat::DueAt(heartbeats.earliest_due);
        }
        let compressed = self.compressor.as_ref().map(|c| (&c.heartbeat[..], Checksum::of(HEARTBEAT_COMMENT)));
        let mut appended = false;
        // After this, every selection's next heartbeat is due after `now`.
        let mut earliest_due: Option<Instant> = None;
        for (&id, selection) in &mut self.feeds {
            let Some(mut clock) = selection.heartbeat else { continue };
            if clock.is_due(now) {
                clock.appended(now);
                selection.heartbeat = Some(clock);
                selection.feed.append(HEARTBEAT_COMMENT, compressed);
                mark_dirty(&mut self.dirty, id, selection);
                appended = true;
            }
            earliest_due = Some(earliest_due.map_or(clock.due_at(), |due| due.min(clock.due_at())));
        }
        if appended {
            heartbeats.clock.appended(now);
        }
        heartbeats.earliest_due = earliest_due.unwrap_or_else(|| heartbeats.clock.due_at());
        if appended {
            Heartbeat::Appended
        } else {
            Heartbeat::DueAt(heartbeats.earliest_due)
        }
    }

    /// Encodes an event published at `now` to `topics` (a notice: to every client) and appends it
    /// to the feeds of the selections that admit it (and, when the hub compresses, compresses it
    /// once); an event with an id is also kept in history. Returns its id, if it has one. Fails,
    /// changing nothing, when a field is invalid. The topics were checked ([`Topics::check`]) by
    /// the caller, outside the lock.
    pub fn publish(&mut self, event: &Event, topics: &Topics, now: Instant) -> Result<Option<String>, Error> {
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
        let id = id.filter(|id| !id.is_empty());
        self.append_event(bytes, id.clone(), topics, now);
        Ok(id)
    }

    /// Appends an event published at `now` to `topics` (checked by the caller) whose id was
    /// given elsewhere (a backplane's entry id), or that has none, without the checks that keep
    /// explicit ids apart from this hub's own: `id` is set only on an event that asked for one
    /// ([`Event::with_id`]), and then it is kept in history.
    pub fn publish_assigned(
        &mut self,
        event: &Event,
        id: Option<&str>,
        topics: &Topics,
        now: Instant,
    ) -> Result<(), Error> {
        let id = id.filter(|_| event.wants_next_id());
        let bytes = event.encode(id)?;
        self.append_event(bytes, id.map(str::to_string), topics, now);
        Ok(())
    }

    /// Appends an encoded event to the feeds of the selections that admit it (compressed once
    /// when the hub compresses and someone reads it now or may from history later), and keeps it
    /// in history under `kept` when given. The silence that a heartbeat ends starts again at
    /// `now` for those selections' clients.
    fn append_event(&mut self, bytes: Vec<u8>, kept: Option<String>, topics: &Topics, now: Instant) {
        debug_assert!(topics.is_notice() || topics.check().is_ok(), "the caller checks topics");
        self.stats.events_sent += 1;
        if let Some(heartbeats) = &mut self.heartbeats {
            heartbeats.clock.appended(now);
        }
        // A notice goes to every selection, walked in place: a hub without topics looks nothing up.
        let notice = topics.is_notice();
        if !notice {
            self.route(topics);
        }
        let feeds = &self.feeds;
        let gzip_read = || match notice {
            true => feeds.values().any(|selection| selection.feed.is_read(Coding::Gzip)),
            false => self.routed.iter().any(|id| feeds.get(id).is_some_and(|s| s.feed.is_read(Coding::Gzip))),
        };
        let compressed = match &mut self.compressor {
            Some(compressor) if kept.is_some() || gzip_read() => Some(compressor.compress(&bytes)),
            _ => None,
        };
        // Once per event, for every gzip client's trailer.
        let compressed = compressed.map(|compressed| (compressed, Checksum::of(&bytes)));
        let unit = compressed.as_ref().map(|(unit, checksum)| (&unit[..], *checksum));
        let mut append = |id: FeedId, selection: &mut SelectionFeed<S>| {
            selection.feed.append(&bytes, unit);
            if let Some(clock) = &mut selection.heartbeat {
                clock.appended(now);
            }
            mark_dirty(&mut self.dirty, id, selection);
        };
        if notice {
            self.feeds.iter_mut().for_each(|(&id, selection)| append(id, selection));
        } else {
            for &id in &self.routed {
                if let Some(selection) = self.feeds.get_mut(&id) {
                    append(id, selection);
                }
            }
        }
        if let Some(id) = kept {
            let compressed = compressed.map(|(unit, checksum)| (unit.into(), checksum.crc));
            self.history.keep(id, bytes.into(), compressed, topics.clone());
        }
    }

    /// Finds the selections an event published to `topics` (not a notice) goes to, each once, in
    /// `routed`: the candidates the routing index gives (each selects one of the topics) that its
    /// privacy admits.
    fn route(&mut self, topics: &Topics) {
        self.routed.clear();
        self.routed_events += 1;
        let event = self.routed_events;
        self.routes.candidates(topics, &mut self.routed);
        let feeds = &mut self.feeds;
        self.routed.retain(|id| {
            let Some(selection) = feeds.get_mut(id) else { return false };
            // Looked at already for this event: through another of its topics.
            if selection.stamp == event {
                return false;
            }
            selection.stamp = event;
            // A candidate selects one of the topics already: only the private gate is left.
            selection.selection.admits_privacy(topics)
        });
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

    /// Registers a client with `selection`, owned by its connection, and takes its history
    /// snapshot (what `selection` admits) in the same step. `None` when no shard has a flusher
    /// yet. A hub that does not compress gives every client the plain bytes.
    pub fn join(
        &mut self,
        sink: S,
        last_event_id: Option<&str>,
        coding: Coding,
        selection: &Selection,
    ) -> Option<Joined> {
        if self.live_shards == 0 {
            return None;
        }
        let coding = if self.compresses() { coding } else { Coding::Identity };
        let replay = self.history.after(last_event_id, coding == Coding::Gzip, selection);
        let id = self.next_subscriber;
        self.next_subscriber += 1;
        let feed_id = match self.feed_ids.get(selection) {
            Some(&feed_id) => feed_id,
            None => self.add_selection(selection),
        };
        let shard = self.shard_for_new_client(feed_id);
        let selection = self.feeds.get_mut(&feed_id)?;
        let place = selection.feed.join(coding);
        let subscriber = Subscriber {
            sink,
            coding,
            start: place.offset,
            start_checksum: place.checksum,
            cursor: place.offset,
            owner: Owner::CatchUp,
            closed: false,
        };
        selection.members[shard].insert(id, subscriber);
        selection.member_count += 1;
        self.shard_clients[shard] += 1;
        Some(Joined { key: Key { id, shard, feed: feed_id }, replay })
    }

    /// Makes a selection with no clients and an empty feed, silent since the hub's last bytes,
    /// and routes events to it from now on.
    ///
    /// Never inlined: it runs for a selection's first client only, and its frame would widen
    /// every join's (a connection thread keeps the stack pages it touched while its client is
    /// idle).
    #[inline(never)]
    fn add_selection(&mut self, selection: &Selection) -> FeedId {
        let feed_id = self.next_feed;
        self.next_feed += 1;
        // The new feed's clock is the hub's. Invariant relied on: the hub's clock is appended to
        // whenever any feed's is (`publish`, `heartbeat`), so no feed is due after it, and the
        // earliest due time the flusher sleeps until is never after the new feed's: a join needs
        // not wake it (`Hub::subscribe` wakes it only for a hub's first client).
        let clock = self.heartbeats.map(|heartbeats| heartbeats.clock);
        if let (Some(heartbeats), Some(clock)) = (&self.heartbeats, clock) {
            debug_assert!(heartbeats.earliest_due <= clock.due_at(), "a feed due before the flusher wakes");
        }
        self.insert_feed(feed_id, selection, clock);
        self.index_selection(feed_id, selection);
        feed_id
    }

    /// Adds the selection's feed. Never inlined, as `add_selection` is not; apart from
    /// `index_selection`, so that their frames are never on the stack at once.
    #[inline(never)]
    fn insert_feed(&mut self, feed_id: FeedId, selection: &Selection, clock: Option<HeartbeatClock>) {
        self.feeds.insert(feed_id, Box::new(SelectionFeed::new(selection.clone(), self.shard_clients.len(), clock)));
    }

    /// Finds the selection's feed by its selection, and routes events to it. Never inlined (see
    /// `insert_feed`).
    #[inline(never)]
    fn index_selection(&mut self, feed_id: FeedId, selection: &Selection) {
        self.feed_ids.insert(selection.clone(), feed_id);
        self.routes.add(feed_id, selection);
    }

    /// The shard a new client of feed `feed_id` joins. While the feed has fewer than
    /// `clients_per_flusher` clients, its *home*: the feed's number modulo the live shards. So
    /// the clients of a topic share one flusher, and an event on it wakes that one alone, while
    /// many topics are spread over every flusher. Past that, the first live shard with fewer than
    /// `clients_per_flusher` clients, or else the live one with the fewest. So a few clients of
    /// one selection (a hub without topics) share one flusher, which each event then wakes alone,
    /// and many are spread evenly.
    fn shard_for_new_client(&self, feed_id: FeedId) -> usize {
        let live = &self.shard_clients[..self.live_shards];
        let small = self.feeds.get(&feed_id).is_some_and(|feed| feed.member_count < self.clients_per_flusher);
        if small && !live.is_empty() {
            // The remainder is below the number of live shards, a `usize`.
            return (feed_id % live.len() as u64) as usize;
        }
        live.iter()
            .position(|&clients| clients < self.clients_per_flusher)
            .unwrap_or_else(|| (0..live.len()).min_by_key(|&shard| live[shard]).unwrap_or(0))
    }

    /// The subscriber a key names, if it is still registered.
    fn subscriber_mut(&mut self, key: Key) -> Option<&mut Subscriber<S>> {
        self.feeds.get_mut(&key.feed)?.members[key.shard].get_mut(&key.id)
    }

    /// Unregisters a client; its selection goes with its last client.
    pub fn leave(&mut self, key: Key) {
        let Some(selection) = self.feeds.get_mut(&key.feed) else { return };
        let Some(sub) = selection.members[key.shard].remove(&key.id) else { return };
        self.stats.disconnects += 1;
        self.shard_clients[key.shard] -= 1;
        selection.feed.leave(sub.coding);
        selection.member_count -= 1;
        if selection.member_count == 0 {
            if let Some(selection) = self.feeds.remove(&key.feed) {
                self.feed_ids.remove(&selection.selection);
                self.routes.remove(key.feed, &selection.selection);
            }
        }
    }

    /// How gzip client `key`'s stream ends once it has received `received` bytes of its feed's
    /// gzip backlog (counted from where it joined; its socket's count, which may be ahead of its
    /// cursor, never behind). `None` when it is not an open gzip client, or `received` is past
    /// the backlog's end.
    ///
    /// Invariant relied on: the cursor is at or before `start + received` (see the feed's).
    pub fn gzip_range(&self, key: Key, received: u64) -> Option<GzipRange> {
        let selection = self.feeds.get(&key.feed)?;
        let sub = selection.members[key.shard].get(&key.id).filter(|s| !s.closed && s.coding == Coding::Gzip)?;
        selection.feed.gzip_range(sub.start_checksum, sub.cursor, sub.start.checked_add(received)?)
    }

    /// What a connection-owned client writes next. At most `max_bytes` are copied per step.
    pub fn catch_up_step(&mut self, key: Key, max_bytes: usize) -> CatchUpStep {
        let Some(SelectionFeed { members, feed, .. }) = self.feeds.get_mut(&key.feed).map(|feed| &mut **feed) else {
            return CatchUpStep::Closed;
        };
        let Some(sub) = members[key.shard].get_mut(&key.id).filter(|s| !s.closed) else {
            return CatchUpStep::Closed;
        };
        let end = feed.end(sub.coding);
        debug_assert_eq!(sub.owner, Owner::CatchUp, "only the owner catches up");
        if end - sub.cursor > self.max_queued_bytes {
            sub.give_up_as_slow(&mut self.stats);
            return CatchUpStep::Closed;
        }
        if sub.cursor == end {
            return CatchUpStep::CaughtUp;
        }
        let pending = feed.since(sub.coding, sub.cursor);
        CatchUpStep::Write(pending[..pending.len().min(max_bytes)].to_vec())
    }

    /// Gives a caught-up client to its flusher. False when bytes arrived since `catch_up_step` said
    /// it was caught up, or when it was closed: the connection goes on (or stops) catching up.
    pub fn hand_to_flusher(&mut self, key: Key) -> bool {
        let Some(SelectionFeed { members, feed, .. }) = self.feeds.get_mut(&key.feed).map(|feed| &mut **feed) else {
            return false;
        };
        match members[key.shard].get_mut(&key.id) {
            Some(sub) if !sub.closed && sub.cursor == feed.end(sub.coding) => {
                sub.owner = Owner::Flusher;
                true
            }
            _ => false,
        }
    }

    /// The catching-up thread wrote `count` more bytes. (The backlog is trimmed by flusher rounds,
    /// not here: a catch-up write would otherwise walk every client of its selection.)
    pub fn advance(&mut self, key: Key, count: usize) {
        if let Some(sub) = self.subscriber_mut(key) {
            sub.cursor += count as u64;
        }
    }

    /// A write to this client made no progress for the write timeout: it is dropped.
    pub fn stalled(&mut self, key: Key) {
        let Some(selection) = self.feeds.get_mut(&key.feed) else { return };
        if let Some(sub) = selection.members[key.shard].get_mut(&key.id).filter(|s| !s.closed) {
            sub.give_up_as_slow(&mut self.stats);
        }
    }

    /// The next client waiting for a catch-up thread, for the calling catch-up thread, which owns
    /// it from now until it hands it to its flusher (or the client is closed); then it calls
    /// [`catch_up_done`](Self::catch_up_done). Clients that left or were closed while waiting are
    /// skipped.
    pub fn next_catch_up(&mut self) -> Option<(Key, S)> {
        while let Some(key) = self.catch_up_queue.pop_front() {
            if let Some(sub) = self.subscriber_mut(key).filter(|s| !s.closed) {
                debug_assert_eq!(sub.owner, Owner::CatchUp, "a queued client is nobody else's");
                let sink = sub.sink.clone();
                self.catch_up_threads.busy += 1;
                return Some((key, sink));
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
        let queue = std::mem::take(&mut self.catch_up_queue);
        for key in queue {
            if let Some(sub) = self.subscriber_mut(key).filter(|s| !s.closed) {
                sub.closed = true;
                stranded.push(sub.sink.clone());
            }
        }
        stranded
    }

    /// Whether some selection's feed has bytes this shard's flusher has not handled.
    pub fn has_work(&self, shard: usize) -> bool {
        !self.dirty[shard].is_empty()
    }

    /// Starts a round for `shard`: for each selection whose feed got bytes since the last round,
    /// picks its flusher-owned clients in the shard that are behind, closes those too far behind,
    /// and copies the feed's bytes from the lowest cursor to the end into `round`.
    pub fn start_round(&mut self, shard: usize, round: &mut Round<S>) {
        round.bytes.clear();
        round.segments.clear();
        round.feeds.clear();
        round.targets.clear();
        round.to_close.clear();
        round.handed_back = 0;
        let mut dirty = std::mem::take(&mut self.dirty[shard]);
        for &feed_id in &dirty {
            // A selection removed since it got bytes has nobody to write to.
            let Some(selection) = self.feeds.get_mut(&feed_id) else { continue };
            selection.dirty[shard] = false;
            round.feeds.push(feed_id);
            let end = selection.feed.ends();
            let mut from = end;
            let first_target = round.targets.len();
            for (&id, sub) in selection.members[shard].iter_mut().filter(|(_, s)| !s.closed) {
                let coding = sub.coding as usize;
                if end[coding] - sub.cursor > self.max_queued_bytes {
                    sub.give_up_as_slow(&mut self.stats);
                    round.to_close.push(sub.sink.clone());
                } else if sub.owner == Owner::Flusher && sub.cursor < end[coding] {
                    from[coding] = from[coding].min(sub.cursor);
                    round.targets.push(Target {
                        key: Key { id, shard, feed: feed_id },
                        sink: sub.sink.clone(),
                        cursor: sub.cursor,
                        outcome: Written::All,
                        // The coding, for now: its segment once the segments are made.
                        segment: coding,
                        applied: false,
                    });
                }
            }
            let mut segment_of = [0; 2];
            for coding in Coding::ALL {
                let at = coding as usize;
                if from[at] < end[at] {
                    segment_of[at] = round.segments.len();
                    round.segments.push(Segment { from: from[at], end: end[at], at: round.bytes.len() });
                    round.bytes.extend_from_slice(selection.feed.since(coding, from[at]));
                }
            }
            for target in &mut round.targets[first_target..] {
                target.segment = segment_of[target.segment];
            }
        }
        // The list's memory is kept for the shard's next bytes (none came meanwhile: nothing is
        // appended here).
        dirty.clear();
        self.dirty[shard] = dirty;
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
        let end = round.segments[target.segment].end;
        self.apply(target, end, &mut round.to_close)
    }

    /// Applies a round's outcomes (those [`finish_target`](Self::finish_target) has not): clients
    /// whose sockets filled up join the catch-up queue (counted in `handed_back`), and those whose
    /// writes failed go to `to_close`. The round's targets are taken out: a round that kept its
    /// clients' sinks until the next one (which may not come for as long as no client is
    /// connected) would keep their sockets open.
    pub fn finish_round(&mut self, round: &mut Round<S>) {
        for target in round.targets.drain(..).filter(|target| !target.applied) {
            let end = round.segments[target.segment].end;
            round.handed_back += usize::from(self.apply(&target, end, &mut round.to_close));
        }
        for feed_id in &round.feeds {
            if let Some(selection) = self.feeds.get_mut(feed_id) {
                selection.trim();
            }
        }
    }

    /// Applies one target's outcome (`end`: the end of its segment); returns whether the client
    /// joined the catch-up queue.
    fn apply(&mut self, target: &Target<S>, end: u64, to_close: &mut Vec<S>) -> bool {
        let key = target.key;
        let Some(sub) = self.subscriber_mut(key).filter(|s| !s.closed) else { return false };
        match target.outcome {
            Written::All => sub.cursor = end,
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
        self.feeds.values().all(|selection| {
            let flushed = |sub: &Subscriber<S>| sub.closed || sub.cursor == selection.feed.end(sub.coding);
            selection.all_members().all(flushed)
        })
    }

    /// Shards that have a running flusher.
    pub fn live_shards(&self) -> usize {
        self.live_shards
    }

    /// Records that flushers now run for the first `count` shards. Clients already joined keep the
    /// shard they were given (it is part of their [`Key`]).
    pub fn set_live_shards(&mut self, count: usize) {
        self.live_shards = count.min(self.shard_clients.len());
    }

    pub fn shard_count(&self) -> usize {
        self.shard_clients.len()
    }

    pub fn subscriber_count(&self) -> usize {
        self.shard_clients.iter().sum()
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

    /// Bytes the plain backlogs hold (for tests of their bounds).
    #[cfg(test)]
    fn backlog_held(&self) -> usize {
        self.feeds.values().map(|selection| selection.feed.held(Coding::Identity)).sum()
    }

    /// Who owns a client (for tests of the one-writer rule).
    #[cfg(test)]
    fn owner(&self, key: Key) -> Option<Owner> {
        self.feeds.get(&key.feed)?.members[key.shard].get(&key.id).map(|sub| sub.owner)
    }

    /// Appends a heartbeat for every client, whatever the rule says (for tests that place one
    /// among events).
    #[cfg(test)]
    fn append_heartbeat(&mut self) {
        let compressed = self.compressor.as_ref().map(|c| (&c.heartbeat[..], Checksum::of(HEARTBEAT_COMMENT)));
        for (&id, selection) in &mut self.feeds {
            selection.feed.append(HEARTBEAT_COMMENT, compressed);
            mark_dirty(&mut self.dirty, id, selection);
        }
    }

    /// Clients waiting in the catch-up queue, as keys (for tests).
    #[cfg(test)]
    fn queued(&self) -> Vec<Key> {
        self.catch_up_queue.iter().copied().collect()
    }
}

/// Puts a selection whose feed just got bytes in the list of every shard where it has clients,
/// once.
fn mark_dirty<S>(dirty: &mut [Vec<FeedId>], id: FeedId, selection: &mut SelectionFeed<S>) {
    for (shard, list) in dirty.iter_mut().enumerate() {
        if !selection.dirty[shard] && !selection.members[shard].is_empty() {
            selection.dirty[shard] = true;
            list.push(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::feed::TRIM_BACKLOG_AT_BYTES;
    use crate::hub::timing::WriteDeadline;
    use crate::test_support::SplitRng;
    use crate::topic::TopicSelector;

    const EPOCH: u64 = 5;

    /// An instant to start the tests' clocks from: time here only moves when a test adds to it.
    fn t0() -> Instant {
        static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *T0.get_or_init(Instant::now)
    }

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
        use crate::test_inflate::gunzip;
        let mut registry = registry(1, 1 << 24);
        registry.compress(6);
        let mut rng = SplitRng::new(3);
        registry.publish(&Event::new().data("before anyone"), Topics::notice(), t0()).unwrap();
        let early = registry.join(1, None, Coding::Gzip, &Selection::all()).unwrap().key;
        let mut plain = Vec::new();
        let mut late = None;
        for i in 0..60 {
            if i == 20 {
                late = Some((registry.join(2, None, Coding::Gzip, &Selection::all()).unwrap().key, plain.len()));
            }
            if i % 7 == 3 {
                registry.append_heartbeat();
                plain.extend_from_slice(HEARTBEAT_COMMENT);
            }
            // Noise, so that units are large and the backlog passes the trimming threshold.
            let data: String = (0..rng.below(3000)).map(|_| char::from(b'!' + rng.below(90) as u8)).collect();
            let event = Event::new().data(data);
            registry.publish(&event, Topics::notice(), t0()).unwrap();
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
        let late_cursor = registry.feeds[&late.feed].members[0][&late.id].cursor;
        fn feed(registry: &Registry<u32>, key: Key) -> &crate::hub::feed::Feed {
            &registry.feeds[&key.feed].feed
        }
        assert!(feed(&registry, late).unit_offsets().iter().all(|&offset| offset != late_cursor), "inside a unit");
        registry.append_heartbeat();
        plain.extend_from_slice(HEARTBEAT_COMMENT);
        let mut round = Round::default();
        registry.start_round(0, &mut round);
        let early_rest = round.bytes_for(0).to_vec();
        registry.finish_round(&mut round);
        let gzip_end = feed(&registry, late).end(Coding::Gzip);
        assert_eq!(
            feed(&registry, late).held(Coding::Gzip) as u64,
            gzip_end - late_cursor,
            "trimmed to the late cursor"
        );
        let early_stream = [early_stream, early_rest].concat();
        assert_eq!(ends_cleanly(&registry, early, &early_stream, 0, &plain), plain.len());
        // Its socket may be ahead of its cursor (a flusher's write not yet counted): every count
        // from the cursor on ends cleanly.
        let late_stream = [&first[..], feed(&registry, late).since(Coding::Gzip, late_cursor)].concat();
        let mut received = first.len();
        while received < late_stream.len() {
            ends_cleanly(&registry, late, &late_stream[..received], late_from, &plain);
            received += 1 + rng.below(500);
        }
        assert_eq!(ends_cleanly(&registry, late, &late_stream, late_from, &plain), plain.len() - late_from);
        assert!(registry.gzip_range(late, 100).is_none(), "bytes below its cursor are gone");
        assert!(registry.gzip_range(late, late_stream.len() as u64 + 1).is_none(), "past the end");
        let plain_client = registry.join(3, None, Coding::Identity, &Selection::all()).unwrap().key;
        assert!(registry.gzip_range(plain_client, 0).is_none(), "not a gzip client");
    }

    fn selector(topics: &[&str]) -> TopicSelector {
        crate::test_support::selector(topics)
    }

    /// Joins a client with `selection`, labelled `label`, and gives it to its flusher.
    fn join_selecting(registry: &mut Registry<u32>, label: u32, selection: &Selection) -> Key {
        let key = registry.join(label, None, Coding::Identity, selection).unwrap().key;
        assert!(catch_up(registry, key).is_empty());
        key
    }

    /// Runs one round on every shard, adding what each client is sent to `received`, by label.
    fn run_rounds(registry: &mut Registry<u32>, received: &mut BTreeMap<u32, String>) {
        let mut round = Round::default();
        for shard in 0..registry.shard_count() {
            registry.start_round(shard, &mut round);
            for index in 0..round.targets.len() {
                received.entry(round.targets[index].sink).or_default().push_str(&text(round.bytes_for(index)));
            }
            registry.finish_round(&mut round);
        }
    }

    /// The data lines of what a client was sent, one letter each, in order.
    fn data_of(stream: Option<&String>) -> String {
        stream.map_or("", String::as_str).lines().filter_map(|line| line.strip_prefix("data: ")).collect()
    }

    /// Exact topics, two topics on one feed, the wildcard, a topic nobody selects and a notice:
    /// each client gets the events its selection admits, each once (an event on two of a feed's
    /// topics too), in publishing order, and clients with equal selections share a feed.
    #[test]
    fn events_reach_the_clients_that_select_them_once_and_in_order() {
        let mut registry = registry(2, 1 << 20);
        let selections = [
            Selection::all(),
            Selection::topics(selector(&["a"])),
            Selection::topics(selector(&["b"])),
            Selection::topics(selector(&["a", "b"])),
            Selection::topics(selector(&["*"])),
            Selection::topics(selector(&["a"])),
            Selection::topics(selector(&["z"])),
        ];
        for (label, selection) in selections.iter().enumerate() {
            join_selecting(&mut registry, label as u32, selection);
        }
        assert_eq!(registry.feeds.len(), 6, "the two clients of topic a share a feed");
        for (data, topics) in
            [("1", &["a"][..]), ("2", &["b"]), ("3", &["a", "b"]), ("4", &["c"]), ("n", &[]), ("5", &["b", "a", "b"])]
        {
            registry.publish(&Event::new().data(data), &Topics::new(topics.iter().copied()), t0()).unwrap();
        }
        let mut received = BTreeMap::new();
        run_rounds(&mut registry, &mut received);
        let expected = ["1234n5", "13n5", "23n5", "123n5", "1234n5", "13n5", "n"];
        for (label, expected) in expected.iter().enumerate() {
            assert_eq!(data_of(received.get(&(label as u32))), *expected, "client {label}");
        }
        assert!(registry.all_flushed());
    }

    /// A URL pattern routes like the wildcard, through the pattern cache: its client gets the events
    /// of the topics the pattern matches, and no other.
    #[test]
    fn a_url_pattern_client_gets_the_topics_its_pattern_matches() {
        use crate::topic::{SelectorLimits, TopicSelector};
        let mut registry = registry(1, 1 << 20);
        let query = "match_urlpattern=https%3A%2F%2Fexample.com%2Fbooks%2F%3Aid&match=urn%3Ax";
        let books = TopicSelector::from_query(query, None, &SelectorLimits::default()).unwrap();
        join_selecting(&mut registry, 1, &Selection::topics(books));
        for (data, topic) in [
            ("1", "https://example.com/books/1"),
            ("2", "https://example.com/authors/1"),
            ("3", "urn:x"),
            ("4", "https://example.com/books/2"),
            ("5", "https://example.com/books/1"),
        ] {
            registry.publish(&Event::new().data(data), &Topics::new([topic]), t0()).unwrap();
        }
        let mut received = BTreeMap::new();
        run_rounds(&mut registry, &mut received);
        assert_eq!(data_of(received.get(&1)), "1345");
    }

    /// A private event reaches only the clients with a private selector that selects one of its
    /// topics, and (for a selection of topics) that subscribe to one of them.
    #[test]
    fn a_private_event_reaches_only_clients_with_a_matching_private_selector() {
        let mut registry = registry(1, 1 << 20);
        let selections = [
            Selection::all(),
            Selection::topics(selector(&["a"])),
            Selection::topics(selector(&["a"])).with_private(selector(&["b"])),
            Selection::topics(selector(&["a"])).with_private(selector(&["a"])),
            Selection::all().with_private(selector(&["*"])),
            Selection::topics(selector(&["b"])).with_private(selector(&["*"])),
        ];
        for (label, selection) in selections.iter().enumerate() {
            join_selecting(&mut registry, label as u32, selection);
        }
        registry.publish(&Event::new().data("p"), &Topics::new(["a"]).private(true), t0()).unwrap();
        registry.publish(&Event::new().data("q"), &Topics::new(["a"]), t0()).unwrap();
        let mut received = BTreeMap::new();
        run_rounds(&mut registry, &mut received);
        for (label, expected) in ["q", "q", "q", "pq", "pq", ""].iter().enumerate() {
            assert_eq!(data_of(received.get(&(label as u32))), *expected, "client {label}");
        }
    }

    /// A joining client is replayed the kept events its selection admits after its last id, a
    /// place in the hub's one sequence; an unknown id gets all that its selection admits, and is
    /// reported unknown (the reset event).
    #[test]
    fn a_resume_replays_what_the_selection_admits() {
        let mut registry = registry(1, 1 << 20);
        let a = Selection::topics(selector(&["a"]));
        for (data, topics) in [("1", Topics::new(["a"])), ("2", Topics::new(["b"])), ("3", Topics::new(["a"]))] {
            registry.publish(&Event::new().data(data).with_id(), &topics, t0()).unwrap();
        }
        registry.publish(&Event::new().data("n").with_id(), Topics::notice(), t0()).unwrap();
        let replayed = |joined: &Joined| data_of(Some(&joined.replay.events.iter().map(|e| text(e)).collect()));
        let resumed = registry.join(1, Some("5-2"), Coding::Identity, &a).unwrap();
        assert!(!resumed.replay.unknown_id, "the id of an event of topic b is a place all the same");
        assert_eq!(replayed(&resumed), "3n");
        let unknown = registry.join(2, Some("4-2"), Coding::Identity, &a).unwrap();
        assert!(unknown.replay.unknown_id);
        assert_eq!(replayed(&unknown), "13n");
        let everything = registry.join(3, Some("5-1"), Coding::Identity, &Selection::all()).unwrap();
        assert_eq!(replayed(&everything), "23n");
    }

    /// A feed is made with its first member and removed with its last, out of the routing index:
    /// an event for it then goes nowhere, and a later client of the same selection gets a new feed.
    #[test]
    fn feeds_come_and_go_with_their_members() {
        let mut registry = registry(1, 1 << 20);
        let a = Selection::topics(selector(&["a"]));
        let first = join_selecting(&mut registry, 1, &a);
        let second = join_selecting(&mut registry, 2, &a);
        join_selecting(&mut registry, 3, &Selection::topics(selector(&["b"])));
        assert_eq!(first.feed, second.feed);
        registry.leave(first);
        registry.publish(&Event::new().data("x"), &Topics::new(["a"]), t0()).unwrap();
        assert_eq!(registry.routed, [second.feed], "the feed stays with a member");
        let mut received = BTreeMap::new();
        run_rounds(&mut registry, &mut received);
        assert_eq!(data_of(received.get(&2)), "x");
        registry.leave(second);
        assert_eq!(registry.feeds.len(), 1);
        assert!(!registry.feed_ids.contains_key(&a));
        registry.publish(&Event::new().data("y"), &Topics::new(["a"]), t0()).unwrap();
        assert!(registry.routed.is_empty(), "nobody subscribes to topic a");
        assert!(!registry.has_work(0));
        let third = join_selecting(&mut registry, 4, &a);
        assert!(third.feed > second.feed, "feed ids are never reused");
    }

    /// A round walks only the feeds that got bytes, and only their members in its shard: an event
    /// of one topic wakes no flusher that has none of its clients.
    #[test]
    fn a_round_looks_only_at_the_feeds_that_got_bytes() {
        let mut registry = registry(2, 1 << 20);
        let a = join_selecting(&mut registry, 1, &Selection::topics(selector(&["a"])));
        let b = join_selecting(&mut registry, 2, &Selection::topics(selector(&["b"])));
        let other_a = join_selecting(&mut registry, 3, &Selection::topics(selector(&["a"])));
        assert_eq!((a.shard, b.shard, other_a.shard), (0, 1, 0));
        registry.publish(&Event::new().data("x"), &Topics::new(["a"]), t0()).unwrap();
        assert!(registry.has_work(0) && !registry.has_work(1));
        let mut round = Round::default();
        registry.start_round(0, &mut round);
        assert_eq!(round.targets.iter().map(|target| target.key).collect::<Vec<_>>(), [a, other_a]);
        registry.finish_round(&mut round);
        assert!(!registry.has_work(0) && registry.all_flushed());
    }

    /// The cache of topics to pattern feeds stays within its bound (it starts again when full),
    /// and is forgotten when a pattern feed comes or goes: a pattern client that joins after a
    /// topic was cached still gets that topic's events. A wildcard feed is routed every event,
    /// with no cache.
    #[test]
    fn the_pattern_cache_is_bounded_and_forgotten_when_pattern_feeds_change() {
        use super::super::routing::MAX_CACHED_TOPICS;
        use crate::topic::{SelectorLimits, TopicSelector};
        let pattern = || {
            let query = "match_urlpattern=https%3A%2F%2Fexample.com%2F%3Aname";
            TopicSelector::from_query(query, None, &SelectorLimits::default()).unwrap()
        };
        let topic = |name: &str| format!("https://example.com/{name}");
        let mut registry = registry(1, 1 << 20);
        let everything = join_selecting(&mut registry, 0, &Selection::topics(selector(&["*"])));
        registry.publish(&Event::new().data("w"), &Topics::new([topic("w")]), t0()).unwrap();
        assert_eq!(registry.routes.cached_topics(), 0, "the wildcard needs no cache");
        join_selecting(&mut registry, 1, &Selection::topics(pattern()));
        join_selecting(&mut registry, 2, &Selection::topics(selector(&["exact"])));
        for n in 0..MAX_CACHED_TOPICS {
            registry.publish(&Event::new().data("x"), &Topics::new([topic(&format!("t{n}"))]), t0()).unwrap();
        }
        assert_eq!(registry.routes.cached_topics(), MAX_CACHED_TOPICS, "at the limit");
        registry.publish(&Event::new().data("x"), &Topics::new([topic("one-more")]), t0()).unwrap();
        assert_eq!(registry.routes.cached_topics(), 1, "past it, the cache starts again");
        registry.publish(&Event::new().data("x"), &Topics::new([topic("t0")]), t0()).unwrap();
        assert_eq!(registry.routes.cached_topics(), 2);
        registry.publish(&Event::new().data("e"), &Topics::new(["exact"]), t0()).unwrap();
        assert_eq!(registry.routes.cached_topics(), 3, "exact topics are cached for pattern feeds too");
        let mut received = BTreeMap::new();
        run_rounds(&mut registry, &mut received);
        let late = join_selecting(&mut registry, 3, &Selection::topics(pattern()).with_private(pattern()));
        assert_eq!(registry.routes.cached_topics(), 0, "a new pattern feed");
        registry.publish(&Event::new().data("y"), &Topics::new([topic("t0")]), t0()).unwrap();
        run_rounds(&mut registry, &mut received);
        assert_eq!(data_of(received.get(&3)), "y", "the new pattern feed gets a topic cached before it came");
        assert_eq!(data_of(received.get(&2)), "e");
        assert_eq!(data_of(received.get(&0)).len(), MAX_CACHED_TOPICS + 5, "the wildcard client gets every event");
        registry.leave(late);
        assert_eq!(registry.routes.cached_topics(), 0, "a pattern feed gone");
        registry.leave(everything);
    }

    /// Each feed gets a heartbeat after its own silence: the clients of a quiet topic get one
    /// every interval while another topic is busy, and those of the busy topic get none. (A hub
    /// with one feed gets them after the hub's silence, as before topics.)
    #[test]
    fn each_feed_gets_a_heartbeat_after_its_own_silence() {
        let at = |second: u64| t0() + Duration::from_secs(second);
        let interval = Duration::from_secs(15);
        let mut registry = registry(1, 1 << 20);
        registry.send_heartbeats(interval, t0());
        join_selecting(&mut registry, 1, &Selection::topics(selector(&["busy"])));
        join_selecting(&mut registry, 2, &Selection::topics(selector(&["quiet"])));
        let mut received = BTreeMap::new();
        let mut heartbeats: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
        for second in 1..=60 {
            if second % 10 == 0 {
                registry.publish(&Event::new().data("x"), &Topics::new(["busy"]), at(second)).unwrap();
            }
            // What shard 0's flusher does when it would sleep.
            match registry.heartbeat(at(second)) {
                Heartbeat::Appended => assert!(registry.has_work(0)),
                Heartbeat::DueAt(due) => assert!(due > at(second), "the next one is in the future"),
                Heartbeat::NotNeeded => panic!("it has clients"),
            }
            let before = received.clone();
            run_rounds(&mut registry, &mut received);
            for (&label, text) in &received {
                let count = |text: &str| text.matches(": keep-alive").count();
                let new = count(text) - before.get(&label).map_or(0, |text: &String| count(text));
                heartbeats.entry(label).or_default().extend(std::iter::repeat_n(second, new));
            }
        }
        assert_eq!(heartbeats[&1], [], "the busy topic's client: never silent for 15 s");
        assert_eq!(heartbeats[&2], [15, 30, 45, 60], "the quiet topic's client");
    }

    /// Runs a round of shard 0 in which every client's socket takes everything; returns what each
    /// client was written, in the order they joined.
    fn round_taking_all(registry: &mut Registry<u32>) -> Vec<(u32, Vec<u8>)> {
        let mut round = Round::default();
        registry.start_round(0, &mut round);
        let written = (0..round.targets.len()).map(|i| (round.targets[i].sink, round.bytes_for(i).to_vec())).collect();
        registry.finish_round(&mut round);
        written
    }

    /// The heartbeat rule, with time driven by hand: a heartbeat is due a whole interval after the
    /// last bytes appended, only while there are clients, and every client gets it.
    #[test]
    fn a_heartbeat_goes_to_every_client_after_a_whole_interval_of_silence() {
        let interval = Duration::from_secs(15);
        let second = Duration::from_secs(1);
        let mut registry = registry(1, 1 << 20);
        registry.send_heartbeats(interval, t0());
        assert_eq!(registry.heartbeat(t0() + 99 * interval), Heartbeat::NotNeeded, "no client, no heartbeat");
        let clients = [1, 2].map(|sink| registry.join(sink, None, Coding::Identity, &Selection::all()).unwrap().key);
        clients.iter().for_each(|&key| assert!(catch_up(&mut registry, key).is_empty()));
        let just_before = t0() + interval - Duration::from_nanos(1);
        assert_eq!(registry.heartbeat(just_before), Heartbeat::DueAt(t0() + interval));
        registry.publish(&Event::new().data("news"), Topics::notice(), t0() + 10 * second).unwrap();
        assert_eq!(registry.heartbeat(t0() + interval), Heartbeat::DueAt(t0() + 25 * second), "an event puts it off");
        round_taking_all(&mut registry);
        assert_eq!(registry.heartbeat(t0() + 25 * second), Heartbeat::Appended, "a whole interval of silence");
        let written = round_taking_all(&mut registry);
        assert_eq!(written, [(1, HEARTBEAT_COMMENT.to_vec()), (2, HEARTBEAT_COMMENT.to_vec())]);
        assert_eq!(registry.heartbeat(t0() + 25 * second), Heartbeat::DueAt(t0() + 40 * second), "one per interval");
        assert_eq!(registry.heartbeat(t0() + 40 * second), Heartbeat::Appended);
        assert_eq!(registry.stats().events_sent, 1, "heartbeats are not events");

        let mut silent = Registry::<u32>::new(EPOCH, 1, 1, History::new(10, 1000), 1000, 1);
        silent.set_live_shards(1);
        silent.join(1, None, Coding::Identity, &Selection::all()).unwrap();
        assert_eq!(silent.heartbeat(t0() + 99 * interval), Heartbeat::NotNeeded, "heartbeats off");
    }

    /// A client that never reads, with time driven by hand: its catch-up thread waits on its full
    /// socket, and even heartbeats alone (one per interval, all the hub sends) put it further
    /// behind, until it is more than `max_queued_bytes` behind and the next round drops it, and
    /// counts it as slow.
    #[test]
    fn a_client_that_never_reads_is_dropped_once_heartbeats_alone_put_it_too_far_behind() {
        let interval = Duration::from_secs(15);
        let bound = 10 * HEARTBEAT_COMMENT.len();
        let mut registry = registry(1, bound);
        registry.send_heartbeats(interval, t0());
        let key = registry.join(1, None, Coding::Identity, &Selection::all()).unwrap().key;
        catch_up(&mut registry, key);
        let mut round = Round::default();
        let mut now = t0();
        for beat in 1.. {
            now += interval;
            assert_eq!(registry.heartbeat(now), Heartbeat::Appended, "heartbeat {beat}");
            registry.start_round(0, &mut round);
            if beat == 1 {
                // Its socket takes nothing: a catch-up thread takes it, and waits on the socket.
                round.targets[0].outcome = Written::Partial(0);
                registry.finish_round(&mut round);
                assert!(registry.start_catch_up_thread());
                registry.catch_up_thread_started();
                assert_eq!(registry.next_catch_up().map(|(key, _)| key), Some(key));
                continue;
            }
            assert!(round.targets.is_empty(), "its catch-up thread is its one writer");
            let dropped = round.to_close.clone();
            registry.finish_round(&mut round);
            if beat * HEARTBEAT_COMMENT.len() <= bound {
                assert!(
                    dropped.is_empty(),
                    "heartbeat {beat}: {} bytes behind, within the bound",
                    beat * HEARTBEAT_COMMENT.len()
                );
                continue;
            }
            assert_eq!((beat, dropped), (11, vec![1]), "dropped at the first heartbeat past the bound");
            break;
        }
        assert_eq!(registry.stats().dropped_slow, 1);
        assert_eq!(registry.catch_up_step(key, 100), CatchUpStep::Closed, "its catch-up thread lets it go");
        assert_eq!(registry.heartbeat(now + interval), Heartbeat::Appended, "still registered until it leaves");
        registry.leave(key);
        assert_eq!(registry.heartbeat(now + 2 * interval), Heartbeat::NotNeeded);
    }

    /// What the runtime does when a writer's deadline passes (`timing.rs` decides when): the
    /// client is dropped and counted as slow once, and its writer's next step finds it closed.
    #[test]
    fn a_stalled_client_is_dropped_and_counted_once() {
        let mut registry = registry(1, 1 << 20);
        let key = registry.join(1, None, Coding::Identity, &Selection::all()).unwrap().key;
        registry.publish(&Event::new().data("x"), Topics::notice(), t0()).unwrap();
        let write_timeout = Duration::from_secs(10);
        let mut deadline = WriteDeadline::new(write_timeout, t0());
        let CatchUpStep::Write(bytes) = registry.catch_up_step(key, 4) else { panic!("bytes to write") };
        // The socket takes the first write, then nothing.
        registry.advance(key, bytes.len());
        deadline.progressed(t0() + Duration::from_secs(3));
        assert!(deadline.wait(t0() + Duration::from_secs(12)).is_some(), "not yet: 9 s without progress");
        assert_eq!(deadline.wait(t0() + Duration::from_secs(13)), None, "10 s without progress");
        registry.stalled(key);
        registry.stalled(key);
        assert_eq!(registry.stats().dropped_slow, 1);
        assert_eq!(registry.catch_up_step(key, 4), CatchUpStep::Closed);
        assert!(!registry.hand_to_flusher(key), "a closed client never goes back to a flusher");
    }

    /// History eviction by count and by bytes, seen by a client that resumes: an evicted id is
    /// unknown (the reset, then the whole history), a kept one resumes after it.
    #[test]
    fn an_id_evicted_from_history_is_unknown_to_a_resuming_client() {
        let event_len = Event::new().data("x").id("1").to_bytes().unwrap().len();
        for (events, bytes) in [(2, 1 << 20), (100, 2 * event_len)] {
            let mut registry: Registry<u32> = Registry::new(EPOCH, 1, 1, History::new(events, bytes), 1 << 20, 1);
            registry.set_live_shards(1);
            for id in ["1", "2", "3"] {
                registry.publish(&Event::new().data("x").id(id), Topics::notice(), t0()).unwrap();
            }
            let evicted = registry.join(1, Some("1"), Coding::Identity, &Selection::all()).unwrap();
            let kept = registry.join(2, Some("2"), Coding::Identity, &Selection::all()).unwrap();
            assert!(evicted.replay.unknown_id, "limits ({events}, {bytes}): the oldest went");
            assert_eq!(evicted.replay.events.len(), 2, "the whole history instead");
            assert!(!kept.replay.unknown_id && kept.replay.events.len() == 1, "resumed after 2");
            assert_eq!(registry.stats().history_len, 2);
        }
    }

    #[test]
    fn no_flusher_no_join() {
        let mut registry: Registry<u32> = Registry::new(EPOCH, 2, 1, History::new(10, 1000), 1000, 1);
        assert!(registry.join(1, None, Coding::Identity, &Selection::all()).is_none());
        registry.set_live_shards(1);
        assert!(registry.join(1, None, Coding::Identity, &Selection::all()).is_some());
    }

    #[test]
    fn clients_fill_one_flusher_before_the_next_and_then_spread_evenly() {
        let mut registry: Registry<u32> = Registry::new(EPOCH, 3, 2, History::new(10, 1000), 1000, 1);
        registry.set_live_shards(2);
        let join =
            |registry: &mut Registry<u32>, n| registry.join(n, None, Coding::Identity, &Selection::all()).unwrap().key;
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
        assert_eq!(registry.shard_clients, [2, 0, 0], "the fifth client and this one");
    }

    /// A topic's clients share their feed's home flusher while they are fewer than
    /// `clients_per_flusher`, whatever order they join in, so that an event on the topic wakes one
    /// flusher; topics alternate between flushers; past that, the feed's clients are placed as any
    /// client is.
    #[test]
    fn a_topics_clients_share_one_flusher_until_there_are_many() {
        let mut registry: Registry<u32> = Registry::new(EPOCH, 2, 3, History::new(10, 1000), 1000, 1);
        registry.set_live_shards(2);
        let topics = [Selection::topics(selector(&["a"])), Selection::topics(selector(&["b"]))];
        // Joined in turn, as clients of many pages arrive: a, b, a, b, a, b.
        let shards: Vec<(usize, usize)> = (0..6)
            .map(|n| {
                let key = registry.join(n, None, Coding::Identity, &topics[n as usize % 2]).unwrap().key;
                (n as usize % 2, key.shard)
            })
            .collect();
        // Feed 0 (`a`) is at home on flusher 0, feed 1 (`b`) on flusher 1.
        assert_eq!(shards, [(0, 0), (1, 1), (0, 0), (1, 1), (0, 0), (1, 1)]);
        // Feed 2 (every event) is at home on flusher 0 too: now 4 clients there, 3 on flusher 1.
        assert_eq!(registry.join(9, None, Coding::Identity, &Selection::all()).unwrap().key.shard, 0);
        // A fourth client of `a`: its feed has three, as many as one flusher takes before the
        // next is used, so it goes where there are fewest clients.
        assert_eq!(registry.join(10, None, Coding::Identity, &topics[0]).unwrap().key.shard, 1);
        assert_eq!(registry.shard_clients, [4, 4]);
    }

    #[test]
    fn hub_ids_carry_the_epoch_and_ids_of_another_run_are_unknown() {
        let mut registry = registry(1, 1 << 20);
        registry.publish(&Event::new().data("a").with_id(), Topics::notice(), t0()).unwrap();
        registry.publish(&Event::new().data("b").with_id(), Topics::notice(), t0()).unwrap();
        let joined = registry.join(1, Some("5-1"), Coding::Identity, &Selection::all()).unwrap();
        assert!(!joined.replay.unknown_id);
        assert_eq!(joined.replay.events.iter().map(|e| text(e)).collect::<Vec<_>>(), ["id: 5-2\ndata: b\n\n"]);
        // The same number from an earlier run (another epoch) is not this run's event 1.
        let from_earlier_run = registry.join(2, Some("4-1"), Coding::Identity, &Selection::all()).unwrap();
        assert!(from_earlier_run.replay.unknown_id);
        assert_eq!(from_earlier_run.replay.events.len(), 2);
    }

    /// An explicit id of the hub's own form could equal a later auto id, and a resume from it would
    /// then land in the wrong place: such ids are refused; any other explicit id is kept.
    #[test]
    fn explicit_ids_never_take_the_form_of_the_hubs_own() {
        let mut registry = registry(1, 1 << 20);
        registry.publish(&Event::new().data("a").with_id(), Topics::notice(), t0()).unwrap();
        for own in ["5-1", "5-3", "5-0"] {
            let refused = registry.publish(&Event::new().data("x").id(own), Topics::notice(), t0());
            assert!(matches!(refused, Err(Error::InvalidField { field: "id", .. })), "{own}");
        }
        for other in ["3", "4-3", "5-", "5-x", "55-3", "5-3a", ""] {
            registry.publish(&Event::new().data("y").id(other), Topics::notice(), t0()).unwrap();
        }
        registry.publish(&Event::new().data("b").with_id(), Topics::notice(), t0()).unwrap();
        let joined = registry.join(1, Some("5-1"), Coding::Identity, &Selection::all()).unwrap();
        assert_eq!(joined.replay.events.len(), 7, "the six explicit ids kept (the empty one is not), then 5-2");
    }

    /// Join, catch up, hand over, and a round: the client gets the event published while it caught
    /// up from its connection, and the next one from its flusher, each once.
    #[test]
    fn a_joining_client_gets_each_event_once_from_history_catch_up_or_flusher() {
        let mut registry = registry(1, 1 << 20);
        registry.publish(&Event::new().data("kept").with_id(), Topics::notice(), t0()).unwrap();
        registry.publish(&Event::new().data("live only"), Topics::notice(), t0()).unwrap();
        let Joined { key, replay } = registry.join(1, None, Coding::Identity, &Selection::all()).unwrap();
        assert_eq!(replay.events.len(), 1, "only the event with an id is replayed");
        registry.publish(&Event::new().data("while catching up"), Topics::notice(), t0()).unwrap();

        let mut round = Round::default();
        registry.start_round(0, &mut round);
        assert!(round.targets.is_empty(), "the flusher leaves a client its connection owns alone");
        assert_eq!(registry.owner(key), Some(Owner::CatchUp));
        assert_eq!(text(&catch_up(&mut registry, key)), "data: while catching up\n\n");

        registry.publish(&Event::new().data("live").with_id(), Topics::notice(), t0()).unwrap();
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
        let key = registry.join(1, None, Coding::Identity, &Selection::all()).unwrap().key;
        catch_up(&mut registry, key);
        registry.publish(&Event::new().data("0123456789"), Topics::notice(), t0()).unwrap();
        let mut round = Round::default();
        registry.start_round(0, &mut round);
        round.targets[0].outcome = Written::Partial(4);
        registry.finish_round(&mut round);
        assert_eq!((round.handed_back, registry.queued()), (1, vec![key]));
        assert_eq!(registry.owner(key), Some(Owner::CatchUp), "nobody writes to it until a catch-up thread takes it");
        registry.publish(&Event::new().data("more"), Topics::notice(), t0()).unwrap();
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
            (0..6).map(|label| registry.join(label, None, Coding::Identity, &Selection::all()).unwrap().key).collect();
        registry.leave(keys.remove(2));
        keys.push(registry.join(6, None, Coding::Identity, &Selection::all()).unwrap().key);
        for &key in &keys {
            catch_up(&mut registry, key);
        }
        registry.publish(&Event::new().data("x"), Topics::notice(), t0()).unwrap();
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
        let keys: Vec<Key> =
            (0..3).map(|label| registry.join(label, None, Coding::Identity, &Selection::all()).unwrap().key).collect();
        for &key in &keys {
            catch_up(&mut registry, key);
        }
        registry.publish(&Event::new().data("0123456789"), Topics::notice(), t0()).unwrap();
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
        let keys: Vec<Key> =
            (0..5).map(|label| registry.join(label, None, Coding::Identity, &Selection::all()).unwrap().key).collect();
        for &key in &keys {
            catch_up(&mut registry, key);
        }
        registry.publish(&Event::new().data("x"), Topics::notice(), t0()).unwrap();
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
            registry.publish(&Event::new().data("x"), Topics::notice(), t0()).unwrap();
            let mut round = Round::default();
            registry.start_round(0, &mut round);
            for target in &mut round.targets {
                target.outcome = Written::Partial(0);
            }
            registry.finish_round(&mut round);
            round.handed_back
        };
        let keys: Vec<Key> =
            (0..3).map(|label| registry.join(label, None, Coding::Identity, &Selection::all()).unwrap().key).collect();
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
        let slow = registry.join(1, None, Coding::Identity, &Selection::all()).unwrap().key;
        let fast = registry.join(2, None, Coding::Identity, &Selection::all()).unwrap().key;
        catch_up(&mut registry, slow);
        catch_up(&mut registry, fast);
        let payload = "x".repeat(1000);
        let mut round = Round::default();
        let mut too_slow = Vec::new();
        for _ in 0..TRIM_BACKLOG_AT_BYTES / 1000 + 2 {
            registry.publish(&Event::new().data(payload.as_str()), Topics::notice(), t0()).unwrap();
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
        let key = registry.join(1, None, Coding::Identity, &Selection::all()).unwrap().key;
        registry.publish(&Event::new().data("x"), Topics::notice(), t0()).unwrap();
        assert_eq!(registry.catch_up_step(key, 100), CatchUpStep::Write(b"data: x\n\n".to_vec()));
        registry.publish(&Event::new().data("x"), Topics::notice(), t0()).unwrap();
        assert_eq!(registry.catch_up_step(key, 100), CatchUpStep::Closed, "one byte past the bound");
    }

    /// The hub's promise, checked against a model over thousands of seeded random steps: every
    /// client receives its history snapshot and then every event its selection admits that was
    /// published after it joined, exactly once and in order, whatever the selections (every
    /// event, some topics, patterns, private selectors), the topics of events (none, several,
    /// private or not), and the interleaving of publishing, joining, leaving, flusher rounds
    /// (each write of a round a step of its own, with full sockets handed over at once or when the
    /// round ends), and catch-up threads that start, take waiting clients, end when none waits,
    /// or cannot be started. After every step: each client has one writer at most (no catch-up
    /// thread holds a client another holds or that waits in the queue), catch-up threads never
    /// exceed their limit, at most one is starting, and a client waits in the queue only while
    /// some catch-up thread runs.
    ///
    /// Odd seeds use a compressing registry, whose clients read plain or compressed bytes at
    /// random: compressed clients' bytes must be the events compressed one by one, and also
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
            let mut published = 0;
            let mut ids: Vec<(String, Vec<u8>, Topics)> = Vec::new();
            let mut clients: Vec<Model> = Vec::new();
            let mut threads: Vec<ModelThread> = Vec::new();
            // Per shard, the round its flusher is in the middle of, and the next target to write.
            let mut rounds: Vec<Option<(Round<u32>, usize)>> = (0..shards).map(|_| None).collect();
            let mut next_auto = 1;
            for _ in 0..600 {
                match rng.below(12) {
                    0..=2 => {
                        let data = format!("e{published}");
                        let event = match rng.below(3) {
                            0 => Event::new().data(data.clone()),
                            1 => Event::new().data(data.clone()).with_id(),
                            _ => Event::new().data(data.clone()).id(format!("given{published}")),
                        };
                        published += 1;
                        let topics = random_topics(&mut rng);
                        registry.publish(&event, &topics, t0()).unwrap();
                        let id = if event.wants_next_id() {
                            next_auto += 1;
                            Some(format!("{EPOCH}-{}", next_auto - 1))
                        } else {
                            event.given_id().map(str::to_string)
                        };
                        let bytes = event.encode(id.as_deref()).unwrap();
                        for client in clients.iter_mut().filter(|c| !c.left && c.selection.admits(&topics)) {
                            let form = if client.coding == Coding::Gzip { compress(&bytes) } else { bytes.clone() };
                            client.expected.extend_from_slice(&form);
                            client.expected_plain.extend_from_slice(&bytes);
                        }
                        if let Some(id) = id {
                            ids.push((id, bytes, topics));
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
                        let selection = random_selection(&mut rng);
                        let joined = registry.join(label, resume.as_deref(), coding, &selection).unwrap();
                        let after = resume.as_ref().and_then(|r| ids.iter().rposition(|(id, ..)| id == r));
                        let kept = ids[after.map_or(0, |at| at + 1)..].iter().filter(|e| selection.admits(&e.2));
                        let expected: Vec<u8> = match coding {
                            Coding::Identity => kept.flat_map(|e| e.1.clone()).collect(),
                            Coding::Gzip => kept.flat_map(|e| compress(&e.1)).collect(),
                        };
                        let replayed: Vec<u8> = joined.replay.events.iter().flat_map(|e| e.to_vec()).collect();
                        assert_eq!(replayed, expected, "seed {seed}: history after {resume:?}");
                        assert_eq!(joined.replay.unknown_id, resume.is_some() && after.is_none());
                        clients.push(Model {
                            key: joined.key,
                            coding,
                            selection,
                            expected: Vec::new(),
                            expected_plain: Vec::new(),
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
                    let expected = &client.expected[..client.received.len()];
                    assert_eq!(client.received, expected, "seed {seed}: a client's bytes are its events', in order");
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
                assert_eq!(text(&client.received), text(&client.expected), "seed {seed}");
                if client.coding == Coding::Gzip {
                    let decoded = crate::test_inflate::inflate(&client.received).unwrap();
                    assert_eq!(decoded.data, client.expected_plain, "seed {seed}: it decodes");
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

    /// Topics for a random event: none (a notice to everyone) or some of three, private or not.
    fn random_topics(rng: &mut SplitRng) -> Topics {
        if rng.below(4) == 0 {
            return Topics::notice().clone();
        }
        let mut topics: Vec<&str> = ["a", "b", "c"].into_iter().filter(|_| rng.below(2) == 0).collect();
        if topics.is_empty() {
            topics.push(["a", "b", "c"][rng.below(3)]);
        }
        Topics::new(topics).private(rng.below(4) == 0)
    }

    /// A random selection: every event, exact topics, the wildcard, with private selectors or not.
    fn random_selection(rng: &mut SplitRng) -> Selection {
        match rng.below(8) {
            0 => Selection::all(),
            1 => Selection::topics(selector(&["a"])),
            2 => Selection::topics(selector(&["b", "a"])),
            3 => Selection::topics(selector(&["*"])),
            4 => Selection::topics(selector(&["a"])).with_private(selector(&["a"])),
            5 => Selection::all().with_private(selector(&["*"])),
            6 => Selection::topics(selector(&["c", "*"])).with_private(selector(&["b"])),
            _ => Selection::topics(selector(&["c"])),
        }
    }

    /// A client as the model sees it.
    struct Model {
        key: Key,
        coding: Coding,
        selection: Selection,
        /// The events its selection admits since it joined, in its coding.
        expected: Vec<u8>,
        /// The same events, plain (what a compressed client's bytes decode to).
        expected_plain: Vec<u8>,
        received: Vec<u8>,
        /// Its connection is still sending what it missed when it joined.
        joining: bool,
        left: bool,
        /// Closed by the hub (no catch-up thread could run for it): its bytes stop, in order.
        closed: bool,
    }
}
