//! Departure watches that start late: most per-connection streams (a Datastar action's answer)
//! end within a few milliseconds, and for those a watcher thread would be pure cost, a thread
//! spawned and joined per request. So a stream's watch starts only once the stream has run for
//! [`WATCH_DELAY`]; until then nothing reads the socket, and a client that leaves is noticed when
//! a write fails or when the watch starts.
//!
//! One starter thread per server sleeps until the oldest pending stream is due, starts the watches
//! of every stream due by then, and ends once none has been pending for [`STARTER_LINGER`]. It
//! wakes at most once per [`START_SLACK`] however many streams start: a server answering thousands
//! of actions a second must not wake a thread per action, nor spawn one.
//!
//! Invariants:
//! - a pending watch is started at most once, by the starter or not at all: its slot goes from
//!   `Waiting` to `Started` or `Done` under its lock, and never back;
//! - every stream in the queue is either started by the starter, or closed by [`WatchStarter::stop`]
//!   (whose `on_close` callbacks then wake a closure waiting for them), so no closure waits on a
//!   watch that never comes;
//! - the starter never spawns a thread while it holds the queue's lock.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::stream_socket::{StreamSocket, Watched};

/// How long a per-connection stream runs before its departure watch (and heartbeats) start.
pub const WATCH_DELAY: Duration = Duration::from_millis(50);
/// How much later than [`WATCH_DELAY`] a watch may start, so that one wake of the starter starts
/// every watch due within it.
pub const START_SLACK: Duration = Duration::from_millis(10);
/// How long the starter waits for another stream, once none is pending, before it ends: streams
/// that come one after another (a page's actions) share one starter instead of one each.
pub const STARTER_LINGER: Duration = Duration::from_secs(5);

/// One stream's watch, started late or never.
pub(super) struct LateWatch {
    heartbeat: Option<Duration>,
    slot: Mutex<Slot>,
}

enum Slot {
    /// Not started: the stream, and the bytes of a next request read with this one, for the
    /// watcher. The stream leaves the slot when the watch starts or ends, so that a watch still
    /// queued after its stream has ended holds nothing of it: the stream is freed by the thread
    /// that ran it, not later by the starter.
    Waiting {
        stream: Arc<StreamSocket>,
        ahead: Vec<u8>,
    },
    Started(JoinHandle<Watched>),
    /// The stream's closure returned (or the watch could not start).
    Done,
}

impl LateWatch {
    pub fn new(stream: Arc<StreamSocket>, heartbeat: Option<Duration>, ahead: Vec<u8>) -> Arc<LateWatch> {
        Arc::new(LateWatch { heartbeat, slot: Mutex::new(Slot::Waiting { stream, ahead }) })
    }

    fn lock(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the watcher thread, unless it has started or the stream is over. If no thread can
    /// be had, the stream is closed: a stream nobody watches could wait for a departure forever.
    /// The slot stays locked while the thread is spawned, so that [`end`](Self::end) sees either
    /// no watcher or one it can join; only this stream's own thread can wait for that lock.
    fn start(&self) {
        let mut slot = self.lock();
        let Slot::Waiting { stream, ahead } = std::mem::replace(&mut *slot, Slot::Done) else { return };
        let (watched, heartbeat) = (Arc::clone(&stream), self.heartbeat);
        let spawned = thread::Builder::new()
            .name("bare-sse-stream-watcher".to_string())
            .stack_size(super::USER_CODE_STACK_BYTES)
            .spawn(move || {
                // The stream has lasted: its client sees it begin, even before its first event.
                if watched.send_held_head().is_err() {
                    watched.close();
                }
                watched.watch(heartbeat, ahead, None)
            });
        match spawned {
            Ok(watcher) => *slot = Slot::Started(watcher),
            Err(_) => {
                drop(slot);
                stream.close();
            }
        }
    }

    /// Closes the stream if its watch has not started: the server is stopping, and a closure
    /// waiting for its client to leave must not wait for a watch that never comes.
    fn close_unwatched(&self) {
        let stream = match &*self.lock() {
            Slot::Waiting { stream, .. } => Arc::clone(stream),
            Slot::Started(_) | Slot::Done => return,
        };
        // Outside the lock: closing runs the stream's `on_close` callbacks.
        stream.close();
    }

    /// The stream's closure has returned and the stream is finished or closed: says how the watch
    /// ended, or hands over the watcher to wait for, if one started. Without one, nothing has read
    /// the socket: the bytes read with the request are the next request's start.
    pub fn end(&self) -> WatchEnding {
        let slot = std::mem::replace(&mut *self.lock(), Slot::Done);
        match slot {
            Slot::Started(watcher) => WatchEnding::Watcher(watcher),
            Slot::Waiting { stream, ahead } if stream.is_kept_open() => WatchEnding::Over(Watched::Finished(ahead)),
            Slot::Waiting { .. } | Slot::Done => WatchEnding::Over(Watched::Closed),
        }
    }
}

/// How a late watch ends, once its stream's closure has returned.
pub(super) enum WatchEnding {
    /// No watcher started: the watch is over.
    Over(Watched),
    /// A watcher started. It may be blocked reading the socket until the client speaks or its
    /// heartbeat time comes, which [`join`](Self::join) waits for.
    Watcher(JoinHandle<Watched>),
}

impl WatchEnding {
    /// How the watch ended, once the watcher, if any, has.
    pub fn join(self) -> Watched {
        match self {
            WatchEnding::Over(watched) => watched,
            WatchEnding::Watcher(watcher) => watcher.join().unwrap_or(Watched::Closed),
        }
    }
}

/// Starts the late watches of one server's streams.
///
/// A watch stays queued until its due time even when its stream ends sooner (the usual case): it
/// is then a no-op, and its stream's socket, already shut down or handed on, is released at most
/// [`WATCH_DELAY`] and [`START_SLACK`] late.
pub(super) struct WatchStarter {
    state: Mutex<StarterState>,
    wake: Condvar,
    /// How long the starter lingers with nothing pending ([`STARTER_LINGER`]; shorter in tests).
    linger: Duration,
}

impl Default for WatchStarter {
    fn default() -> WatchStarter {
        WatchStarter { state: Mutex::default(), wake: Condvar::new(), linger: STARTER_LINGER }
    }
}

#[derive(Default)]
struct StarterState {
    /// Watches to start, each with its due time; due times only grow, so the oldest is first.
    queue: VecDeque<(Instant, Arc<LateWatch>)>,
    /// The starter thread, while one runs (it ends when nothing has been pending for a while).
    thread: Option<JoinHandle<()>>,
    running: bool,
    stopped: bool,
}

impl WatchStarter {
    fn lock(&self) -> MutexGuard<'_, StarterState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts `watch` after [`WATCH_DELAY`] (up to [`START_SLACK`] later), unless its stream is
    /// over by then.
    pub fn schedule(self: &Arc<WatchStarter>, watch: Arc<LateWatch>) {
        let mut state = self.lock();
        if state.stopped {
            drop(state);
            watch.close_unwatched();
            return;
        }
        let was_empty = state.queue.is_empty();
        state.queue.push_back((Instant::now() + WATCH_DELAY, watch));
        if state.running {
            // A starter waiting for an earlier due time comes to this one; one lingering with
            // nothing pending must learn of it. Under load the queue is never empty, and nothing
            // is woken.
            if was_empty {
                self.wake.notify_one();
            }
            return;
        }
        state.running = true;
        let previous = state.thread.take();
        drop(state);
        // A starter that ended has set `running` to false as its last step under the lock.
        if let Some(previous) = previous {
            let _ = previous.join();
        }
        let starter = Arc::clone(self);
        let spawned = thread::Builder::new().name("bare-sse-watch-starter".to_string()).spawn(move || starter.run());
        let mut state = self.lock();
        match spawned {
            // `stop` may have run while the thread was being made, and found none to join: the
            // thread sees `stopped` and ends, and is joined here.
            Ok(thread) if state.stopped => {
                drop(state);
                let _ = thread.join();
            }
            Ok(thread) => state.thread = Some(thread),
            Err(_) => {
                // No starter: start every pending watch now instead.
                state.running = false;
                let due: Vec<_> = state.queue.drain(..).collect();
                drop(state);
                for (_, watch) in due {
                    watch.start();
                }
            }
        }
    }

    /// The starter: waits for the oldest pending watch's due time plus the slack, starts every
    /// watch due by then, and ends after lingering with nothing pending, or at a stop.
    fn run(&self) {
        let mut state = self.lock();
        let mut idle_since = Instant::now();
        while !state.stopped {
            let due_times = state.queue.iter().map(|(due, _)| *due);
            match next_step(due_times, idle_since, Instant::now(), self.linger) {
                Step::Start(count) => {
                    let due: Vec<_> = state.queue.drain(..count).collect();
                    drop(state);
                    for (_, watch) in due {
                        watch.start();
                    }
                    idle_since = Instant::now();
                    state = self.lock();
                }
                Step::Wait(wait) => {
                    state = self.wake.wait_timeout(state, wait).unwrap_or_else(PoisonError::into_inner).0;
                }
                Step::End => break,
            }
        }
        state.running = false;
    }

    /// Stops starting watches: every pending stream is closed (its client is being disconnected
    /// anyway), and the starter thread is joined.
    pub fn stop(&self) {
        let (pending, thread) = {
            let mut state = self.lock();
            state.stopped = true;
            (std::mem::take(&mut state.queue), state.thread.take())
        };
        self.wake.notify_all();
        for (_, watch) in pending {
            watch.close_unwatched();
        }
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

/// What the starter does next.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Start the watches of the first this many streams: they are due.
    Start(usize),
    /// Wait this long, or until a stream is scheduled.
    Wait(Duration),
    /// End: nothing has been pending for the linger time.
    End,
}

/// What the starter does next at `now`, given the due times of the pending watches (oldest first),
/// when it last had nothing to do, and how long it lingers. It waits for the oldest due time plus
/// [`START_SLACK`], so that one wake starts every watch due by then.
fn next_step(
    mut due_times: impl Iterator<Item = Instant>,
    idle_since: Instant,
    now: Instant,
    linger: Duration,
) -> Step {
    match due_times.next() {
        Some(oldest) if oldest <= now => Step::Start(1 + due_times.take_while(|due| *due <= now).count()),
        Some(oldest) => Step::Wait(oldest - now + START_SLACK),
        None => match linger.checked_sub(now.saturating_duration_since(idle_since)) {
            Some(left) if !left.is_zero() => Step::Wait(left),
            _ => Step::End,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::BodyFraming;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};

    /// A persistent stream on a loopback connection, and the client's end.
    fn stream() -> (Arc<StreamSocket>, TcpStream) {
        let (socket, client, _) = stream_and_server_socket();
        (socket, client)
    }

    fn stream_and_server_socket() -> (Arc<StreamSocket>, TcpStream, Arc<TcpStream>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let server = Arc::new(listener.accept().unwrap().0);
        let socket = StreamSocket::with_persistence(
            Arc::clone(&server),
            BodyFraming::Chunked,
            Duration::from_secs(5),
            true,
            None,
        );
        // A body can end only after its head.
        socket.write_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        (Arc::new(socket), client, server)
    }

    #[test]
    fn a_stream_that_ends_before_its_watch_starts_needs_no_thread() {
        let (socket, _client) = stream();
        let watch = LateWatch::new(Arc::clone(&socket), None, b"GET /next".to_vec());
        assert!(socket.finish());
        match watch.end().join() {
            Watched::Finished(ahead) => assert_eq!(ahead, b"GET /next"),
            Watched::Closed => panic!("the connection stays open"),
        }
        watch.start();
        assert!(matches!(*watch.lock(), Slot::Done), "an ended watch never starts");
    }

    /// A watch that ended before it started, though still queued, holds nothing of its stream:
    /// the stream is freed by the thread that ran it, not by the starter when the watch is due.
    #[test]
    fn a_watch_that_ended_unstarted_lets_its_stream_go() {
        let (socket, _client) = stream();
        let queued = LateWatch::new(Arc::clone(&socket), None, Vec::new());
        assert_eq!(Arc::strong_count(&socket), 2);
        assert!(socket.finish());
        assert!(matches!(queued.end().join(), Watched::Finished(_)));
        assert_eq!(Arc::strong_count(&socket), 1, "only this test holds the stream now");
    }

    #[test]
    fn a_started_watch_hands_back_the_next_request() {
        use std::io::Read;
        let (socket, mut client, server) = stream_and_server_socket();
        let watch = LateWatch::new(Arc::clone(&socket), None, Vec::new());
        watch.start();
        assert!(matches!(*watch.lock(), Slot::Started(_)));
        assert!(socket.finish());
        // If the watcher is blocked reading, the next request wakes it, and it hands back what it
        // read; if it saw the end first, the request is still in the socket. Nothing is lost.
        let request = b"GET / HTTP/1.1\r\n";
        client.write_all(request).unwrap();
        let Watched::Finished(mut received) = watch.end().join() else { panic!("the connection stays open") };
        server.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        while received.len() < request.len() {
            let mut rest = [0u8; 64];
            let n = (&*server).read(&mut rest).unwrap();
            received.extend_from_slice(&rest[..n]);
        }
        assert_eq!(received, request);
    }

    #[test]
    fn stopping_closes_streams_whose_watch_is_pending() {
        let starter = Arc::new(WatchStarter::default());
        let (socket, _client) = stream();
        let (closed, was_closed) = std::sync::mpsc::channel();
        socket.on_close(Box::new(move || closed.send(()).unwrap()));
        starter.schedule(LateWatch::new(Arc::clone(&socket), None, Vec::new()));
        starter.stop();
        was_closed.recv_timeout(Duration::from_secs(10)).unwrap();
        let (late, _client) = stream();
        starter.schedule(LateWatch::new(Arc::clone(&late), None, Vec::new()));
        assert!(late.is_closed(), "a stream scheduled after the stop is closed at once");
    }

    #[test]
    fn the_starter_starts_due_watches_and_then_ends() {
        let starter = Arc::new(WatchStarter { linger: Duration::from_millis(1), ..WatchStarter::default() });
        let (socket, client) = stream();
        let watch = LateWatch::new(Arc::clone(&socket), None, Vec::new());
        starter.schedule(Arc::clone(&watch));
        // Once started, the watch notices the client leave and closes the stream.
        drop(client);
        assert!(socket.wait_closed(Some(Duration::from_secs(10))));
        assert!(matches!(watch.end().join(), Watched::Closed));
        let starter_thread = starter.lock().thread.take();
        if let Some(thread) = starter_thread {
            thread.join().unwrap();
        }
        assert!(!starter.lock().running, "with nothing pending, the starter has ended");
    }

    /// Streams that come one after another (a page's actions) are watched by one starter thread,
    /// which lingers between them, rather than by a thread spawned for each.
    #[test]
    fn streams_one_after_another_share_one_starter() {
        let starter = Arc::new(WatchStarter { linger: Duration::from_secs(3600), ..WatchStarter::default() });
        let mut starter_threads = Vec::new();
        for _ in 0..3 {
            let (socket, client) = stream();
            let watch = LateWatch::new(Arc::clone(&socket), None, Vec::new());
            starter.schedule(Arc::clone(&watch));
            drop(client);
            assert!(socket.wait_closed(Some(Duration::from_secs(10))), "the watch started");
            assert!(matches!(watch.end().join(), Watched::Closed));
            let state = starter.lock();
            assert!(state.running, "the starter lingers");
            starter_threads.push(state.thread.as_ref().map(|thread| thread.thread().id()));
        }
        assert!(starter_threads[0].is_some() && starter_threads.iter().all(|id| *id == starter_threads[0]));
        starter.stop();
        assert!(!starter.lock().running, "a stop ends a lingering starter");
    }

    /// The starter waits for the oldest due time plus the slack, then starts every watch due by
    /// then in one go: at thousands of actions a second it wakes a hundred times a second at most,
    /// not once per action. With nothing pending it lingers, then ends.
    #[test]
    fn one_wake_starts_every_watch_due_within_the_slack() {
        let start = Instant::now();
        let ms = Duration::from_millis;
        let linger = ms(5000);
        let due_times = [start + ms(50), start + ms(51), start + ms(50) + START_SLACK, start + ms(90)];
        let step = |idle_since, now| next_step(due_times.iter().copied(), idle_since, now, linger);
        assert_eq!(step(start, start), Step::Wait(ms(50) + START_SLACK));
        assert_eq!(step(start, start + ms(50) + START_SLACK), Step::Start(3));
        assert_eq!(step(start, start + ms(90)), Step::Start(4));
        let idle = |idle_since, now| next_step(std::iter::empty(), idle_since, now, linger);
        assert_eq!(idle(start, start + ms(1)), Step::Wait(ms(4999)));
        assert_eq!(idle(start, start + linger), Step::End);
        assert_eq!(idle(start + ms(1), start), Step::Wait(linger), "a clock read before the idle time");
    }
}
