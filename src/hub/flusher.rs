//! The flusher threads: the fan-out. One per shard of the clients; each round, a flusher writes
//! every client of its shard that is behind everything past its cursor, in one write per client
//! that never waits on a socket. A client whose socket fills up goes to the catch-up queue
//! (`catch_up.rs`) at once, and the round goes on with the others. Shard 0's flusher also sends
//! the hub's heartbeats.
//!
//! This is the hot path, and nothing in it is per event: per round, the registry copies the bytes
//! past the lowest cursor once, under the hub's lock, and lists the clients to write; then each
//! client gets one write, with no allocation and without the hub's lock (a client whose socket
//! filled takes it once, to join the catch-up queue). What to write to whom is the registry's
//! decision (`Registry::start_round`, `finish_round`); this file only waits, writes, and reports.

use std::io;
use std::sync::{Arc, MutexGuard, PoisonError};
use std::thread;
use std::time::Instant;

use super::catch_up::call_catch_up_threads;
use super::registry::{Heartbeat, Round};
use super::shared::{Inner, State};
use super::sink::Written;

/// Stack size of flusher threads: they keep nothing big on the stack.
const FLUSHER_STACK_BYTES: usize = 64 * 1024;

impl Inner {
    /// Starts the flusher of every shard that has none, outside the lock. Concurrent callers wait
    /// for the one that is starting them. Fails only when no flusher runs at all.
    pub(super) fn start_flushers(self: &Arc<Inner>) -> io::Result<()> {
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
/// Shard 0's flusher also sends the heartbeats: before it sleeps, it asks the registry, with the
/// time, whether one is due (then appended for every client) and when the next will be.
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
        // Shard 0's flusher sends the heartbeats: the registry says whether one is due now, and
        // when the next is; without one due, it sleeps until something happens.
        let heartbeat = if shard == 0 { state.registry.heartbeat(Instant::now()) } else { Heartbeat::NotNeeded };
        let wake_at = match heartbeat {
            Heartbeat::Appended => {
                inner.wake_flushers(&state);
                continue;
            }
            Heartbeat::DueAt(due) => Some(due),
            Heartbeat::NotNeeded => None,
        };
        state.asleep[shard] = true;
        let work = &inner.work[shard];
        state = match wake_at {
            None => work.wait(state).unwrap_or_else(PoisonError::into_inner),
            Some(due) => {
                let timeout = due.saturating_duration_since(Instant::now());
                work.wait_timeout(state, timeout).unwrap_or_else(PoisonError::into_inner).0
            }
        };
        state.asleep[shard] = false;
    }
}
