//! Catch-up: finishing a client's backlog with writes that wait for its socket. A client's
//! connection thread does it when the client joins (after its history); a catch-up thread does it
//! each time the client's socket fills up, taking the client from the catch-up queue and handing
//! it back to its flusher once it has everything. Catch-up threads are shared by the hub's
//! clients, started one at a time as clients queue, at most `max_catch_up_threads`, and end once
//! idle for [`CATCH_UP_LINGER`](super::CATCH_UP_LINGER).
//!
//! Who may write to a client, the queue and the count of threads are the registry's
//! (`registry.rs`); this file waits, writes and starts threads.

use std::io;
use std::sync::{Arc, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use super::registry::{CatchUpStep, Key};
use super::shared::{Inner, State};
use super::sink::{Sink, Written};
use super::timing::{linger_left, WriteDeadline};

/// Stack size of catch-up threads: they copy backlog bytes into a heap buffer and write them.
const CATCH_UP_STACK_BYTES: usize = 64 * 1024;
/// Most bytes a catch-up (a catch-up thread's, or a joining client's connection's) copies out of
/// the backlog per blocking write: about what a loopback socket buffer takes at once, so one copy
/// is one write.
const CATCH_UP_CHUNK_BYTES: usize = 64 * 1024;

/// After `queued` clients joined the catch-up queue: wakes as many idle catch-up threads, and
/// starts one more if they are not enough (it starts the next). Releases the lock first.
pub(super) fn call_catch_up_threads(inner: &Arc<Inner>, mut state: MutexGuard<'_, State>, queued: usize) {
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
/// and finishes each one's backlog with writes that wait (the kernel wakes it as the socket
/// drains); ends once it has been idle for [`CATCH_UP_LINGER`](super::CATCH_UP_LINGER), or when
/// the hub is dropped. Each time it takes a client, it starts another thread if more clients wait
/// than threads are free to take them: threads start one at a time, each started by the one
/// before, not by the flusher.
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
            if CatchUp::new(inner, key).run(&*sink).is_err() {
                sink.close();
            }
            drop(sink);
            state = inner.lock();
            state.registry.catch_up_done();
            idle_since = Instant::now();
            continue;
        }
        let left = linger_left(idle_since, Instant::now()).filter(|_| !state.shutting_down);
        let Some(left) = left else {
            // Nobody waits (the queue was just found empty, under this lock): nobody is stranded.
            let stranded = state.registry.catch_up_thread_ended();
            debug_assert!(stranded.is_empty());
            return;
        };
        state = inner.catch_up_work.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
    }
}

/// The job of finishing a client's backlog with writes that wait: on its connection's thread when
/// it joins ([`Subscription::start`](super::Subscription::start)), on a catch-up thread after its
/// socket filled up. The job is the client's one writer (the registry's owner rule) and holds its
/// write deadline.
pub(super) struct CatchUp {
    inner: Arc<Inner>,
    key: Key,
    deadline: WriteDeadline,
}

impl CatchUp {
    /// The job for client `key`, whose writer starts now: its write deadline starts with it.
    pub(super) fn new(inner: &Arc<Inner>, key: Key) -> CatchUp {
        let deadline = WriteDeadline::new(inner.config.write_timeout, Instant::now());
        CatchUp { inner: Arc::clone(inner), key, deadline }
    }

    /// Writes the client's backlog until it has everything, then hands the client to its flusher.
    /// Fails when the client is gone, stalled, or too far behind; the caller then closes it.
    pub(super) fn run(mut self, sink: &dyn Sink) -> io::Result<()> {
        loop {
            let step = self.inner.lock().registry.catch_up_step(self.key, CATCH_UP_CHUNK_BYTES);
            let bytes = match step {
                CatchUpStep::Write(bytes) => bytes,
                CatchUpStep::CaughtUp => {
                    // A flusher's write may have stopped inside a chunk's closing line end: finish it
                    // before the flusher, which never waits, owns the socket again.
                    self.write_all(sink, &[])?;
                    if self.inner.lock().registry.hand_to_flusher(self.key) {
                        return Ok(());
                    }
                    continue;
                }
                CatchUpStep::Closed => return Err(io::ErrorKind::ConnectionAborted.into()),
            };
            self.write_all(sink, &bytes)?;
            let mut state = self.inner.lock();
            state.registry.advance(self.key, bytes.len());
            self.inner.signal_progress(&state);
        }
    }

    /// Writes all of `bytes` (empty: finishes the frame a write left open), waiting for the
    /// socket for as long as the write deadline allows: each wait is what is left of it, and each
    /// write that moves bytes starts it again. Once it has passed, the client has stalled: it is
    /// dropped, and the write fails.
    pub(super) fn write_all(&mut self, sink: &dyn Sink, bytes: &[u8]) -> io::Result<()> {
        let mut written = 0;
        loop {
            let Some(wait) = self.deadline.wait(Instant::now()) else {
                self.inner.lock().registry.stalled(self.key);
                return Err(io::ErrorKind::TimedOut.into());
            };
            let outcome = sink.write_waiting(&bytes[written..], wait);
            let taken = match outcome {
                Written::All => bytes.len() - written,
                Written::Partial(taken) => taken,
                Written::Failed => return Err(io::ErrorKind::BrokenPipe.into()),
            };
            self.inner.counters.wrote(taken);
            written += taken;
            if taken > 0 {
                self.deadline.progressed(Instant::now());
            }
            if outcome == Written::All {
                return Ok(());
            }
        }
    }
}
