//! A hub's client as the server runs it: a [`StreamSocket`] registered with the hub, and the
//! connection thread that sends it what it missed and then watches for it to leave.
//!
//! The hub writes to the socket through the [`Sink`] its [`StreamSocket`] implements: its flushers
//! with non-blocking writes, and, when the socket fills up, one of the hub's catch-up threads with
//! writes that wait until the client has everything (see `src/hub/catch_up.rs`; the contract is
//! `src/hub/sink.rs`). The connection thread
//! does neither: it is blocked in `read`, which is what notices a departing client at once and
//! costs nothing while it waits. So a client costs this one thread, and one catch-up thread only
//! while its socket is full.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::response::RESUMED_FROM_THE_EARLIEST;
use super::stream_socket::StreamSocket;
use crate::hub::{ClientInfo, Ending, Selection, Sink, Subscription, Written};
use crate::Hub;

/// Why a hub stream did not start.
pub(super) enum NotStarted {
    /// The hub could not start its flushers: answer `503`.
    HubUnavailable,
}

/// What a client's request asks of the hub it joins.
pub(super) struct Joining {
    /// The id the client resumes after.
    pub last_event_id: Option<String>,
    /// The client reads the hub's compressed events.
    pub gzip: bool,
    /// What the client receives. Boxed: a stream waiting to start carries it, and most
    /// selections are every event's.
    pub selection: Box<Selection>,
    /// The name of a header, added to the head once the client has joined, that says where the
    /// stream resumes.
    pub resume_header: Option<String>,
    /// When the stream is closed if the client is still there.
    pub ends_at: Option<Instant>,
    /// Whether a client with no last event id gets the history.
    pub history: bool,
    /// What the hub's lifecycle hooks are told; made only for a hub that has hooks. Boxed: a
    /// stream waiting to start carries it, and most streams have none.
    pub client: Option<Box<ClientInfo>>,
}

/// Streams `hub` to the client of `stream` until it leaves, is dropped or the server stops.
/// `head` is the response head; `intro` the first body bytes (a `retry:` line, or nothing).
/// `joined` is called once the client has joined, before its head goes out (the server counts
/// the answer then, so a hub that cannot take the client never counts as answered).
/// `started` is called once the client has had its first bytes and history, and belongs to its
/// flusher: from then on a drain may end it.
///
/// Never inlined: the caller's frame stays small (see `run_hub_stream` in `connection.rs`).
#[inline(never)]
pub(super) fn stream_from_hub(
    hub: &Hub,
    stream: Arc<StreamSocket>,
    head: Vec<u8>,
    intro: Vec<u8>,
    joining: Joining,
    joined: impl FnOnce(),
    started: impl FnOnce(),
) -> Result<(), NotStarted> {
    let ends_at = joining.ends_at;
    let (mut subscription, head) = join(hub, &stream, head, joining, joined)?;
    // The client is owned by this thread until `start` hands it to its flusher, so the head goes out
    // before any event.
    let running = stream.write_head(&head).is_ok() && subscription.start(&*stream, &intro).is_ok();
    // An idle client keeps nothing it no longer needs.
    drop((head, intro));
    if running {
        started();
        let _ = stream.watch(None, Vec::new(), ends_at);
    }
    // Once closed, the socket takes no more writes: a catch-up thread still holding the client
    // fails its write at once and lets it go.
    subscription.leave();
    stream.close();
    Ok(())
}

/// Joins the client to `hub`, and completes its head.
fn join(
    hub: &Hub,
    stream: &Arc<StreamSocket>,
    head: Vec<u8>,
    joining: Joining,
    joined: impl FnOnce(),
) -> Result<(Subscription, Vec<u8>), NotStarted> {
    let sink: Arc<dyn Sink> = stream.clone();
    let subscribed = hub.subscribe(sink, joining.last_event_id.as_deref(), joining.gzip, &joining.selection);
    // Its feed keeps the selection: an idle client keeps no copy.
    drop(joining.selection);
    let mut subscription = subscribed.map_err(|_| NotStarted::HubUnavailable)?;
    if !joining.history && joining.last_event_id.is_none() {
        subscription.skip_history();
    }
    joined();
    let head = match joining.resume_header {
        Some(name) => {
            let resumed_after = joining.last_event_id.as_deref().filter(|_| subscription.resumed());
            with_header(head, &name, resumed_after.unwrap_or(RESUMED_FROM_THE_EARLIEST))
        }
        None => head,
    };
    subscription.announce(joining.client);
    Ok((subscription, head))
}

/// `head` (a whole response head) with one more header line, before the blank line that ends it.
///
/// Invariant relied on: `name` is a token and `value` holds no CR, LF or NUL (a header name
/// checked where it was set, an event id the hub found, or a constant). Never inlined: few
/// streams use it, and an idle stream keeps the stack pages its thread touched (see
/// `run_hub_stream` in `connection.rs`).
#[inline(never)]
fn with_header(mut head: Vec<u8>, name: &str, value: &str) -> Vec<u8> {
    let end = head.len().saturating_sub(2);
    head.splice(end..end, format!("{name}: {value}\r\n").into_bytes());
    head
}

impl Sink for StreamSocket {
    fn write_now(&self, bytes: &[u8]) -> Written {
        StreamSocket::write_now(self, bytes)
    }

    fn write_waiting(&self, bytes: &[u8], wait: Duration) -> Written {
        StreamSocket::write_waiting(self, bytes, wait)
    }

    fn close(&self) {
        StreamSocket::close(self);
    }

    fn set_ending(&self, ending: Ending) {
        StreamSocket::set_ending(self, ending);
    }
}

#[cfg(test)]
mod tests {
    //! A hub client's socket as the hub uses it: a flusher's writes that must not wait, the
    //! blocking writes of a catch-up thread, and the departure watch's read, on the one socket
    //! whose mode they share.

    use super::*;
    use crate::http::BodyFraming;
    use crate::server::stream_socket::Watched;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
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
        let wait = Duration::from_secs(10);
        assert_eq!(stream.write_waiting(&payload[open..], wait), Written::All, "the rest of the open chunk, waiting");
        assert_eq!(stream.write_waiting(&rest, wait), Written::All, "a write larger than the socket, waiting for room");
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

    /// A catch-up writes the rest of a chunk a flusher's write left open in slices of any size
    /// (its copies of the backlog are at most 64 KiB, the flusher's chunk may be far longer), some
    /// empty: each slice continues the chunk and returns once written, the last one closes it, and
    /// the client gets every byte once, in one chunk.
    #[test]
    fn the_rest_of_an_open_chunk_goes_out_in_slices_of_any_size() {
        let (stream, mut client) = hub_client();
        // Far more than the socket holds, so that the flusher's write stops inside it.
        let payload: Vec<u8> = (0..16 * 1024 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
        let Written::Partial(taken) = stream.write_now(&payload) else { panic!("the socket filled up") };
        let reader = std::thread::spawn(move || {
            let mut wire = Vec::new();
            client.read_to_end(&mut wire).map(|_| wire)
        });
        let mut rng = crate::test_support::SplitRng::new(7);
        let mut rest = &payload[taken..];
        while !rest.is_empty() {
            let slice = rng.below(100_000).min(rest.len());
            let written = stream.write_waiting(&rest[..slice], Duration::from_secs(10));
            assert_eq!(written, Written::All, "{} bytes left", rest.len());
            rest = &rest[slice..];
        }
        stream.close();
        let wire = reader.join().unwrap().unwrap();
        let expected = [format!("{:x}\r\n", payload.len()).as_bytes(), &payload, b"\r\n"].concat();
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
                .spawn(move || done.send(matches!(stream.watch(None, Vec::new(), None), Watched::Closed)).unwrap())
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
