//! The hub's lock and what waits on it: [`Inner`], shared by every thread of a hub, and [`State`],
//! the registry behind the lock with the threads' own bookkeeping. Every hub thread takes this
//! lock for a moment, to ask the registry what to do or to tell it what was done, and never holds
//! it across a write, a thread spawn or user code.
//!
//! Not here: the decisions (the registry's, in `registry.rs`), and the threads (`flusher.rs`,
//! `catch_up.rs`, the Redis reader in `backplane.rs`).

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::backplane::Backplane;
use super::counters::Counters;
use super::registry::Registry;
use super::sink::SharedSink;
use super::HubBuilder;

/// What every thread of a hub shares: its settings, the lock and the state behind it, and the
/// condition variables its threads wait on. Held by every [`Hub`](super::Hub) clone (through
/// its handle), by each client's subscription, by the flushers and catch-up threads.
pub(super) struct Inner {
    pub(super) config: HubBuilder,
    state: Mutex<State>,
    /// Per shard, where its flusher waits for bytes to send.
    pub(super) work: Vec<Condvar>,
    /// Where idle catch-up threads wait for a client whose socket filled up.
    pub(super) catch_up_work: Condvar,
    /// Signalled when clients make progress, join or leave, and when flushers start: `flush`,
    /// `wait_until_clients` and joining clients wait here.
    pub(super) progress: Condvar,
    /// The Redis stream behind the hub, if any.
    pub(super) backplane: Option<Arc<Backplane>>,
    /// Counters bumped outside the lock.
    pub(super) counters: Counters,
}

/// The state behind the hub's lock: the registry (the core, see `registry.rs`), and what the
/// threads keep of their own (their handles, who sleeps, who waits).
pub(super) struct State {
    pub(super) registry: Registry<SharedSink>,
    pub(super) flushers: Vec<JoinHandle<()>>,
    /// The catch-up threads started and not yet joined (the registry counts the running ones).
    pub(super) catch_up_threads: Vec<JoinHandle<()>>,
    /// A thread is starting flushers, outside the lock.
    pub(super) starting_flushers: bool,
    /// The last `Hub` was dropped: flushers return.
    pub(super) shutting_down: bool,
    /// Per shard, whether its flusher is asleep on `work`: a publisher wakes only those, and only
    /// for shards with clients.
    pub(super) asleep: Vec<bool>,
    /// Threads waiting on `progress`: progress is signalled only when someone waits.
    pub(super) progress_waiters: usize,
    /// For a hub backed by Redis: the last entry the reader has published here (or the entry it
    /// started after). A joining client's place in the local fan-out is right after it.
    pub(super) redis_last: Option<String>,
    /// For a hub backed by Redis: its reader is connected and following the stream.
    pub(super) following: bool,
}

impl Inner {
    /// The shared part of a new hub with these settings and this registry; no thread runs yet.
    pub(super) fn new(config: HubBuilder, registry: Registry<SharedSink>, backplane: Option<Arc<Backplane>>) -> Inner {
        let shards = config.flusher_threads;
        Inner {
            config,
            state: Mutex::new(State {
                registry,
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
            backplane,
            counters: Counters::default(),
        }
    }

    /// A panic while holding the lock leaves the registry consistent (no method of it can panic
    /// half-way through an update), so a poisoned lock is used as it is rather than wedging every
    /// client.
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes the flushers asleep on shards with work, after bytes were appended. A flusher whose
    /// shard has no client the bytes are for has nothing to write, so few clients (or an event for
    /// few) cost one wake-up per event, and a burst costs none: busy flushers look for more before
    /// they sleep.
    pub(super) fn wake_flushers(&self, state: &State) {
        for (shard, work) in self.work.iter().enumerate() {
            if state.asleep[shard] && state.registry.has_work(shard) {
                work.notify_one();
            }
        }
    }

    /// Wakes whoever waits for progress (`flush`, `wait_until_clients`, joining clients), if
    /// anyone does.
    pub(super) fn signal_progress(&self, state: &State) {
        if state.progress_waiters > 0 {
            self.progress.notify_all();
        }
    }

    /// Waits until `done` holds for the state, or until `timeout`; returns whether it holds. Whoever
    /// changes what `done` looks at signals `progress`.
    pub(super) fn wait_for_progress(&self, timeout: Duration, done: impl Fn(&State) -> bool) -> bool {
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
}
