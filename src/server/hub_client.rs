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
use std::net::TcpStream;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::{self, JoinHandle};

use super::stream_socket::StreamSocket;
use crate::http::BodyFraming;
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

/// Streams `hub` to the client on `socket` until it leaves, is dropped or the server stops.
/// `head` is the response head; `intro` the first body bytes (a `retry:` line, or nothing); with
/// `gzip`, the client reads the hub's compressed events.
pub(super) fn stream_from_hub(
    hub: &Hub,
    socket: Arc<TcpStream>,
    framing: BodyFraming,
    head: Vec<u8>,
    intro: Vec<u8>,
    last_event_id: Option<&str>,
    gzip: bool,
) -> Result<(), NotStarted> {
    let stream = Arc::new(StreamSocket::new(socket, framing, hub.write_timeout()));
    let client = HubClient::new(Arc::clone(&stream));
    let sink: Arc<dyn Sink> = client.clone();
    let mut subscription = hub.subscribe(sink, last_event_id, gzip).map_err(|_| NotStarted::HubUnavailable)?;
    // The client is owned by this thread until `start` hands it to its flusher, so the head goes out
    // before any event.
    let started = stream.write_head(&head).is_ok() && subscription.start(&*client, &intro).is_ok();
    // An idle client keeps nothing it no longer needs.
    drop((head, intro));
    if started {
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

#[cfg(test)]
mod tests {
    //! A hub client's socket as the hub uses it: a flusher's writes that must not wait, the blocking
    //! writes of a catch-up thread, and the departure watch's read, on the one socket whose mode
    //! they share.

    use super::*;
    use crate::server::stream_socket::Watched;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;
    use std::time::Duration;

    /// A hub client's stream on a loopback connection (chunked, like an HTTP/1.1 client's), and
    /// the client's end.
    fn hub_client() -> (Arc<StreamSocket>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let server = Arc::new(listener.accept().unwrap().0);
        (Arc::new(StreamSocket::new(server, BodyFraming::Chunked, Duration::from_secs(10))), client)
    }

    /// Writes without waiting until the socket is full; returns the payload bytes it took.
    fn fill(stream: &StreamSocket, payload: &[u8]) -> usize {
        let mut taken = 0;
        loop {
            match stream.write_now(&payload[taken % payload.len()..]) {
                Written::All => taken += payload.len() - taken % payload.len(),
                Written::Partial(n) => return taken + n,
                Written::Failed => panic!("the write failed"),
            }
        }
    }

    /// This thread's voluntary context switches so far (Linux): each time it slept, in a write
    /// waiting for room in a socket among others.
    fn voluntary_switches() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/thread-self/status").ok()?;
        let line = status.lines().find(|line| line.starts_with("voluntary_ctxt_switches"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// The scheduler state of the named thread of this process (`S`: asleep), if there is one.
    fn thread_state(name: &str) -> Option<char> {
        std::fs::read_dir("/proc/self/task").ok()?.flatten().find_map(|task| {
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            if comm.trim() != name {
                return None;
            }
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            stat.rsplit_once(')')?.1.trim_start().chars().next()
        })
    }

    /// A flusher never sleeps on a full socket: a write that must not wait returns at once, with
    /// no context switch. (A send timeout, however short, is rounded up to a clock tick, and each
    /// such write slept that long.)
    #[test]
    fn a_write_that_must_not_wait_never_sleeps_on_a_full_socket() {
        if voluntary_switches().is_none() {
            println!("skipped: needs Linux's /proc to count context switches");
            return;
        }
        let (stream, _client) = hub_client();
        let payload = vec![b'x'; 256 * 1024];
        fill(&stream, &payload);
        let before = voluntary_switches().unwrap();
        for _ in 0..40 {
            assert_eq!(stream.write_now(&payload), Written::Partial(0), "the socket is full");
        }
        let slept = voluntary_switches().unwrap() - before;
        assert!(slept < 10, "40 writes to a full socket slept {slept} times");
    }

    /// After the flusher's writes left the socket non-blocking, a catch-up thread's blocking write
    /// waits for room as it should (it does not fail as if the client had stalled), finishes the
    /// chunk the flusher left open, and the client gets every byte once, in order, framed.
    #[test]
    fn a_blocking_write_after_non_blocking_ones_waits_and_finishes_their_chunk() {
        let (stream, mut client) = hub_client();
        let payload: Vec<u8> = (0..256 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
        let taken = fill(&stream, &payload);
        // Much more than the socket holds, so that this write must wait for the client.
        let rest: Vec<u8> = (0..16 * 1024 * 1024).map(|i| b'A' + (i % 26) as u8).collect();
        let reader = std::thread::spawn(move || {
            let mut wire = Vec::new();
            let mut buffer = vec![0u8; 1 << 16];
            loop {
                let n = client.read(&mut buffer).unwrap();
                if n == 0 {
                    return wire;
                }
                wire.extend_from_slice(&buffer[..n]);
            }
        });
        let open = taken % payload.len();
        stream.write_blocking(&payload[open..]).expect("the rest of the open chunk, waiting for room");
        stream.write_blocking(&rest).expect("a write larger than the socket, waiting for room");
        stream.close();
        let wire = reader.join().unwrap();
        let mut expected = Vec::new();
        let mut framer = crate::http::BodyFramer::new(BodyFraming::Chunked);
        for _ in 0..taken / payload.len() {
            framer.write_all(&mut expected, &payload).unwrap();
        }
        framer.write_all(&mut expected, &payload).unwrap();
        framer.write_all(&mut expected, &rest).unwrap();
        assert!(wire == expected, "{} bytes on the wire, {} expected", wire.len(), expected.len());
    }

    /// The departure watch reads with the socket blocking, whatever the flusher's writes left: a
    /// client that sends something (which wakes the read) does not make it spin, and a client that
    /// leaves is noticed.
    #[test]
    fn the_departure_watch_still_blocks_and_notices_a_departure_after_non_blocking_writes() {
        // At most 15 bytes: what Linux keeps of a thread name.
        const WATCH: &str = "hub-watch-test";
        if !std::path::Path::new("/proc/self/task").exists() {
            println!("skipped: needs Linux's /proc to see a thread's state");
            return;
        }
        let (stream, mut client) = hub_client();
        let (done, watched) = mpsc::channel();
        let watcher = {
            let stream = Arc::clone(&stream);
            std::thread::Builder::new()
                .name(WATCH.to_string())
                .spawn(move || done.send(matches!(stream.watch(None, Vec::new()), Watched::Closed)).unwrap())
                .unwrap()
        };
        let asleep_for_a_while = || {
            // Asleep (blocked in `read`) at 20 looks in a row, 5 ms apart; a spinning watch is
            // running or runnable nearly all the time. Up to 10 s, for a loaded machine.
            let mut in_a_row = 0;
            for _ in 0..2000 {
                in_a_row = if thread_state(WATCH) == Some('S') { in_a_row + 1 } else { 0 };
                if in_a_row == 20 {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            false
        };
        assert!(asleep_for_a_while(), "the watch blocks in its read");
        for round in 0..3 {
            // The flusher's writes leave the socket non-blocking; the client reads them.
            assert_eq!(stream.write_now(format!("event {round}\n").as_bytes()), Written::All);
            // The client sends something: the watch's read returns, and it reads again.
            client.write_all(b"x").unwrap();
            assert!(asleep_for_a_while(), "round {round}: the watch blocks again instead of spinning");
        }
        drop(client);
        assert_eq!(watched.recv_timeout(Duration::from_secs(10)), Ok(true), "the departure is noticed");
        watcher.join().unwrap();
        assert!(stream.is_closed());
    }
}
