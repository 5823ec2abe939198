//! The hub: a registry of connected clients, the history of events with ids, and the fan-out that
//! sends each event to every client. (Racket's SSE library calls this `make-sse`.)
//!
//! # How an event travels
//!
//! 1. [`Hub::send_new_event`] encodes the event once, appends the bytes to the backlog (one shared
//!    log of everything sent; with topics, one per feed: see below) and, if it has an id, keeps it
//!    in the history. That is all the publishing thread does: it never touches a socket, so a slow
//!    client cannot slow it down.
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
//! # Topics
//!
//! Two rules say who receives an event:
//!
//! - An event sent with [`Hub::send_new_event`] has no topic: it is a hub-wide notice, and reaches
//!   **every** client, whatever it subscribed to. So do the hub's own events (the reset event, a
//!   server's drain). A hub used without topics works as it always has.
//! - An event published with [`Hub::publish_to`] has [`Topics`], and reaches the clients whose
//!   [`Selection`] admits it: [`Selection::all`] (what [`Response::hub`](crate::Response::hub)
//!   subscribes to) takes every public event, [`Selection::topics`] those with a topic its
//!   selector selects. A private event reaches only clients whose selection also has a private
//!   selector that selects one of its topics ([`Selection::with_private`]); nobody else, ever.
//!
//! Either way a client gets each event once (however many of its topics it selects), in the
//! order events were published. Ids are one sequence for the whole hub, so a `Last-Event-ID` is a
//! place in it: a resuming client is sent the kept events after it that its selection admits.
//! The server subscribes a client to a selection with
//! [`Response::selection`](crate::Response::selection).
//!
//! Clients with equal selections share one *feed* (one backlog of what that selection admits, per
//! coding); an event is encoded and compressed once, and appended to each feed that admits it,
//! found through an index of topics (see `routing.rs`), so publishing to one topic costs what its
//! clients cost, not what the whole hub's do.
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
//! # Where things live
//!
//! The hub is a core that makes every decision, with no sockets, no threads and no clock, and a
//! thin runtime around it that waits, does the I/O, reads the clock and reports back (time is
//! passed to the core as `now`, so the core's tests drive it by hand):
//!
//! | file | what lives there |
//! |---|---|
//! | `registry.rs` | **the core**: the state behind the lock and its policy — clients, their cursors and owners, the catch-up queue and the count of its threads, ids, rounds, the slow-client rule. No sockets, no threads; unit-tested there, against a model over seeded random interleavings |
//! | `feed.rs` | the bytes a feed's clients read, in each coding (plain, and gzip when the hub compresses), addressed by offset, with what a gzip client's end needs; each client's cursor points into its feed's |
//! | `selection_feed.rs` | the clients that share one [`Selection`], per shard, with their feed and its heartbeat clock |
//! | `topics.rs`, `routing.rs` | [`Topics`] and [`Selection`] and the rule that joins them; which feeds an event goes to (an index of exact topics, a bounded cache for patterns) |
//! | `backlog.rs`, `history.rs` | the core's two logs: one coding's bytes (an append-only log, addressed by offset), and the events kept for late joiners |
//! | `timing.rs` | the core's rules of time: when a heartbeat is due, when a waiting write has stalled, when an idle catch-up thread ends; each is told the time, none reads the clock |
//! | `sink.rs` | the contract with the server: what the hub needs of a client's connection |
//! | `builder.rs` | [`HubBuilder`], the defaults and bounds of every setting |
//! | `shared.rs` | the lock, and the condition variables the threads wait on |
//! | `flusher.rs` | the flusher threads: the fan-out, one write per client per round, never waiting |
//! | `catch_up.rs` | finishing a client's backlog with writes that wait: catch-up threads |
//! | `subscription.rs` | joining and leaving: the history snapshot, the first bytes, the hand-over to a flusher |
//! | `gzip_ending.rs` | how a gzip client's body ends as a whole gzip member |
//! | `counters.rs` | counters bumped outside the lock, and the hub's name |
//! | `hooks.rs` | lifecycle hooks: the program is told of each join and leave |
//! | `backplane.rs` | a hub on a Redis stream: publishing through it, its reader, resuming from it |
//! | this file | [`Hub`] and its public API: publishing, stats, waiting for clients and for delivery |
//!
//! # For the people changing this module
//!
//! The invariants (one writer per client, every event exactly once, every shard with clients has
//! a flusher, every client waiting for a catch-up thread has one coming) are stated in
//! `registry.rs`, and the contract with a client's connection in `sink.rs`. In the runtime, in
//! addition: **no lock is held across a write or a thread spawn**; the hub's lock guards only the
//! registry, and every socket operation happens after it is released. The same holds for the
//! lifecycle hooks (`hooks.rs`), which run user code; the counters in `counters.rs` are atomics
//! bumped outside the lock.

mod backlog;
mod backplane;
mod builder;
mod catch_up;
mod counters;
mod feed;
mod flusher;
mod gzip_ending;
mod history;
pub mod hooks;
mod registry;
mod routing;
mod selection_feed;
mod shared;
mod sink;
mod subscription;
mod timing;
mod topics;

use std::borrow::Borrow;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{Error, Event};
pub use backplane::{
    DEFAULT_REDIS_MAX_ENTRY_BYTES, DEFAULT_REDIS_MAX_LEN, DEFAULT_REDIS_TIMEOUT, MAX_REDIS_MAX_ENTRY_BYTES,
    MAX_REDIS_TIMEOUT, MIN_REDIS_MAX_ENTRY_BYTES, MIN_REDIS_TIMEOUT,
};
pub use builder::{
    HubBuilder, DEFAULT_CLIENTS_PER_FLUSHER, DEFAULT_HEARTBEAT, DEFAULT_HISTORY_BYTES, DEFAULT_HISTORY_EVENTS,
    DEFAULT_MAX_CATCH_UP_THREADS, DEFAULT_MAX_QUEUED_BYTES, DEFAULT_WRITE_TIMEOUT, MAX_HEARTBEAT, MAX_WRITE_TIMEOUT,
    MIN_HEARTBEAT, MIN_WRITE_TIMEOUT,
};
pub use hooks::ClientInfo;
pub use registry::{Stats, RESET_EVENT_TYPE};
pub use routing::MAX_CACHED_TOPICS;
use shared::Inner;
pub(crate) use sink::{Ending, Sink, Written};
pub(crate) use subscription::Subscription;
pub use timing::CATCH_UP_LINGER;
pub use topics::{Selection, Topics, MAX_TOPICS_PER_EVENT, MAX_TOPIC_BYTES};

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
            return backplane.publish(events, Topics::notice()).map(drop);
        }
        let mut state = inner.lock();
        let (now, notice) = (Instant::now(), Topics::notice());
        let mut result = Ok(());
        for event in events {
            result = state.registry.publish(event, notice, now).map(drop);
            if result.is_err() {
                break;
            }
        }
        inner.wake_flushers(&state);
        result
    }

    /// Whether the hub's events go through a Redis stream ([`HubBuilder::redis`]), which numbers
    /// every event itself.
    pub(crate) fn is_backed_by_redis(&self) -> bool {
        self.inner().backplane.is_some()
    }

    /// Publishes an event to `topics`: it reaches the clients whose [`Selection`] admits it (a
    /// private event, only those whose selection has a private selector for one of its topics),
    /// each once however many of its topics they select, in publishing order with every other
    /// event. Returns the id the event got: the hub's next id ([`Event::with_id`]; on a hub backed
    /// by Redis, the entry's id), its explicit id ([`Event::id`]), or `None`. An event with an id
    /// is kept in history with its topics, and replayed to the clients whose selection admits it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidField`] (field `topic`) when the topics are not ones a publisher may send
    /// ([`Topics::new`] says which), and then nothing is sent; otherwise those of
    /// [`send_new_event`](Self::send_new_event).
    ///
    /// ```
    /// use bare_sse::hub::Topics;
    /// use bare_sse::{Event, Hub};
    ///
    /// let hub = Hub::builder().id_epoch(7).build();
    /// let book = Topics::new(["/books/1"]);
    /// let id = hub.publish_to(&book, Event::new().data("new title").with_id()).unwrap();
    /// assert_eq!(id.as_deref(), Some("7-1"));
    /// let nowhere = Topics::new(Vec::<String>::new());
    /// assert!(hub.publish_to(&nowhere, Event::new().data("x")).is_err(), "at least one topic");
    /// ```
    pub fn publish_to(&self, topics: &Topics, event: impl Borrow<Event>) -> Result<Option<String>, Error> {
        topics.check()?;
        let event = event.borrow();
        let inner = self.inner();
        if let Some(backplane) = &inner.backplane {
            let ids = backplane.publish(std::slice::from_ref(event), topics)?;
            return Ok(ids.into_iter().next().filter(|_| event.wants_next_id()));
        }
        let mut state = inner.lock();
        let id = state.registry.publish(event, topics, Instant::now())?;
        inner.wake_flushers(&state);
        Ok(id)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_too_long_for_the_clock_do_not_overflow_it() {
        let hub = Hub::new();
        assert!(hub.flush(Duration::MAX), "a wait too long for the clock does not overflow it");
        assert!(hub.wait_until_clients(|n| n == 0, Duration::MAX));
    }
}
