//! A hub's client as the server runs it: a [`StreamSocket`] registered with the hub, the
//! connection thread that sends it what it missed and then watches for it to leave, and — only if
//! its socket ever fills up — a second thread that finishes its backlog.
//!
//! Why a second thread: the hub's flushers never wait on a socket, so a full one is handed back
//! to the client's own side, which must then block in `write` until the socket drains (std has no
//! readiness polling). The connection thread cannot do it: it is blocked in `read`, which is what
//! notices a departing client at once and costs nothing while it waits. So the catch-up thread is
//! started the first time a client falls behind, parks on a condition variable while the flusher
//! owns the client, and is woken by the hand-back itself: no polling, and idle clients that never
//! fell behind have one thread.

use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::{self, JoinHandle};

use super::stream_socket::StreamSocket;
use crate::hub::registry::Written;
use crate::hub::{CatchUp, Sink};
use crate::Hub;

/// Stack of catch-up threads: they copy backlog bytes into a heap buffer and write them.
const CATCH_UP_STACK_BYTES: usize = 64 * 1024;

/// Why a hub stream did not start.
pub(super) enum NotStarted {
    /// The hub could not start its flushers: answer `503`.
    HubUnavailable,
}

/// Streams `hub` to the client of `stream` until it leaves, is dropped or the server stops.
/// `head` is the response head; `intro` the first body bytes (a `retry:` line, or nothing); with
/// `gzip`, the client reads the hub's compressed events. `started` is called once the client has
/// had its first bytes and history, and belongs to its flusher: from then on a drain may end it.
pub(super) fn stream_from_hub(
    hub: &Hub,
    stream: Arc<StreamSocket>,
    head: Vec<u8>,
    intro: Vec<u8>,
    last_event_id: Option<&str>,
    gzip: bool,
    started: impl FnOnce(),
) -> Result<(), NotStarted> {
    let client = HubClient::new(Arc::clone(&stream));
    let sink: Arc<dyn Sink> = client.clone();
    let mut subscription = hub.subscribe(sink, last_event_id, gzip).map_err(|_| NotStarted::HubUnavailable)?;
    // The client is owned by this thread until `start` hands it to its flusher, so the head goes out
    // before any event.
    let running = stream.write_head(&head).is_ok() && subscription.start(&*client, &intro).is_ok();
    // An idle client keeps nothing it no longer needs.
    drop((head, intro));
    if running {
        started();
        let _ = stream.watch(None, Vec::new());
    }
    subscription.leave();
    stream.close();
    client.stop_catch_up();
    Ok(())
}

/// The hub's view of one client: its socket, and its catch-up thread once it needs one.
struct HubClient {
    stream: Arc<StreamSocket>,
    /// For handing the catch-up thread a strong reference to this client.
    me: Weak<HubClient>,
    catch_up: Mutex<CatchUpThread>,
    /// Wakes the catch-up thread (a job, or stop) and `stop_catch_up` (spawning finished).
    wake: Condvar,
}

#[derive(Default)]
struct CatchUpThread {
    job: Option<CatchUp>,
    thread: Option<JoinHandle<()>>,
    /// A flusher is spawning the thread, outside the lock.
    spawning: bool,
    stopping: bool,
}

impl HubClient {
    fn new(stream: Arc<StreamSocket>) -> Arc<HubClient> {
        Arc::new_cyclic(|me| HubClient {
            stream,
            me: me.clone(),
            catch_up: Mutex::new(CatchUpThread::default()),
            wake: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, CatchUpThread> {
        self.catch_up.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs catch-up jobs as they are handed over, until stopped.
    fn run_catch_up(&self) {
        loop {
            let job = {
                let mut slot = self.lock();
                loop {
                    if slot.stopping {
                        return;
                    }
                    if let Some(job) = slot.job.take() {
                        break job;
                    }
                    slot = self.wake.wait(slot).unwrap_or_else(PoisonError::into_inner);
                }
            };
            if job.run(self).is_err() {
                self.stream.close();
            }
        }
    }

    /// Stops the catch-up thread, if there is one, and joins it.
    fn stop_catch_up(&self) {
        let thread = {
            let mut slot = self.lock();
            slot.stopping = true;
            slot.job = None;
            while slot.spawning {
                slot = self.wake.wait(slot).unwrap_or_else(PoisonError::into_inner);
            }
            slot.thread.take()
        };
        self.wake.notify_all();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Sink for HubClient {
    fn write_now(&self, bytes: &[u8]) -> Written {
        self.stream.write_now(bytes)
    }

    fn write_blocking(&self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_blocking(bytes)
    }

    fn hand_back(&self, catch_up: CatchUp) {
        // The hub calls this through an `Arc` of this client, so the upgrade succeeds.
        let Some(me) = self.me.upgrade() else { return };
        let mut slot = self.lock();
        if slot.stopping {
            return;
        }
        slot.job = Some(catch_up);
        if slot.thread.is_some() || slot.spawning {
            drop(slot);
            self.wake.notify_all();
            return;
        }
        slot.spawning = true;
        drop(slot);
        let spawned = thread::Builder::new()
            .name("bare-sse-catch-up".to_string())
            .stack_size(CATCH_UP_STACK_BYTES)
            .spawn(move || me.run_catch_up());
        let mut slot = self.lock();
        slot.spawning = false;
        let failed = spawned.map(|thread| slot.thread = Some(thread)).is_err();
        if failed {
            slot.job = None;
        }
        drop(slot);
        self.wake.notify_all();
        if failed {
            // No thread to finish the backlog: drop the client, which resumes from its last id.
            self.stream.close();
        }
    }

    fn close(&self) {
        self.stream.close();
    }
}
