//! Connections past the connection limit, answered without a thread each.
//!
//! A flood must not make the server start a thread per connection, and it must not leave
//! connections unanswered either: a browser whose connection is reset retries at once, while one
//! that is told `retry:` comes back after that delay. So the accept loop hands every connection
//! past the limit to one thread, the overflow answerer, which holds them all with non-blocking
//! sockets: it reads each request head (briefly), sends the answer, and lingers a moment so that
//! closing does not reset the answer away. It waits on its channel while it holds nothing, so it
//! costs nothing outside a flood.
//!
//! The answer, from the request alone (no handler runs past the limit): to an event-stream
//! request (`Accept: text/event-stream`, as EventSource and Datastar send), `200` with
//! `retry: <overload_retry>` and the end of the body; to anything else, `503` with `Retry-After`.

use std::io::Write;
use std::net::TcpStream;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::connection::borrowed;
use super::drain::come_back_later;
use super::linger::Linger;
use super::{ServerBuilder, Shared};
use crate::http::{text_response, HeadRead, HeadReader, RequestHead, RequestHeads};
use crate::net::{read_head_arrived, HeadError};

/// Connections the answerer holds at once; past it, new ones are closed unread. Each costs a
/// socket and a request head's buffer for at most [`HEAD_DEADLINE`] plus
/// [`CLOSE_LINGER`](super::linger::CLOSE_LINGER).
pub(super) const MAX_HELD: usize = 4096;
/// Connections waiting in the channel between the accept loop and the answerer.
pub(super) const QUEUE: usize = 1024;
/// How long a connection past the limit has to send its request head: a browser sends it at
/// once, and a slow one should not hold a place in a flood.
const HEAD_DEADLINE: Duration = Duration::from_secs(2);
/// How often the answerer looks at the connections it holds (non-blocking sockets cannot be
/// waited on with std alone), only while it holds any.
const TICK: Duration = Duration::from_millis(5);

/// One connection the answerer holds.
struct Held {
    socket: TcpStream,
    phase: Phase,
}

enum Phase {
    /// Reading the request head until `deadline`.
    Reading { head: HeadReader<RequestHeads>, deadline: Instant },
    /// Answered; discarding what the client still sends until it can be closed.
    Lingering(Linger),
}

/// Runs the overflow answerer until the accept loop drops its end of the channel or the server
/// stops.
pub(super) fn run(shared: &Arc<Shared>, arrivals: &Receiver<TcpStream>) {
    let mut held: Vec<Held> = Vec::new();
    // What held connections read, one after another: the heads they send (kept by their
    // readers), then what they send after the answer (dropped).
    let mut scratch = vec![0u8; 4096];
    loop {
        if shared.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let first = if held.is_empty() {
            match arrivals.recv() {
                Ok(socket) => Some(socket),
                Err(_) => return,
            }
        } else {
            match arrivals.recv_timeout(TICK) {
                Ok(socket) => Some(socket),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
        let now = Instant::now();
        let more = std::iter::from_fn(|| arrivals.try_recv().ok());
        for socket in first.into_iter().chain(more) {
            if held.len() < MAX_HELD && socket.set_nonblocking(true).is_ok() {
                let head = HeadReader::new(RequestHeads(shared.config.head_limits));
                held.push(Held { socket, phase: Phase::Reading { head, deadline: now + HEAD_DEADLINE } });
            }
        }
        held.retain_mut(|connection| connection.step(shared, &mut scratch, Instant::now()));
    }
}

impl Held {
    /// Moves the connection on as far as it can go without waiting; false when it is done.
    fn step(&mut self, shared: &Shared, scratch: &mut [u8], now: Instant) -> bool {
        let config = &shared.config;
        match &mut self.phase {
            Phase::Reading { head, deadline } => {
                let (status, answer) = match read_head_arrived(head, &self.socket, scratch) {
                    Ok(HeadRead::Complete { head, .. }) => over_capacity_answer(config, &head),
                    Ok(HeadRead::Partial) if now < *deadline => return true,
                    Ok(HeadRead::Partial) => {
                        (408, text_response(None, 408, &[], "request head not received in time\n"))
                    }
                    Err(HeadError::Refused(error)) => {
                        (error.status(), text_response(None, error.status(), &[], &format!("{error}\n")))
                    }
                    Err(HeadError::Io(_)) => return false,
                };
                shared.metrics.answered(status);
                // A fresh connection's send buffer is empty, so a short answer goes out whole.
                if (&self.socket).write_all(&answer).is_err() {
                    return false;
                }
                self.phase = Phase::Lingering(Linger::start(&self.socket, now));
                true
            }
            Phase::Lingering(linger) => linger.discard(&self.socket, scratch, false),
        }
    }
}

/// The answer to a request past the connection limit, and its status. An event-stream request
/// gets `200`, the `retry:` line and the end of the body, which brings an EventSource back after
/// that delay (a `503` would make it give up for good); anything else gets `503` with
/// `Retry-After`.
pub(super) fn over_capacity_answer(config: &ServerBuilder, head: &RequestHead) -> (u16, Vec<u8>) {
    let cors = config.cors.headers(head.header("origin"));
    let mut headers = borrowed(&cors);
    let wants_stream = head.header_list("accept").is_some_and(|accept| accept.contains("text/event-stream"));
    if !wants_stream {
        let seconds = config.overload_retry.as_secs().max(1).to_string();
        headers.push(("Retry-After", &seconds));
        let body = "the server is at its connection limit; try again later\n";
        return (503, text_response(Some(&head.method), 503, &headers, body));
    }
    (200, come_back_later(&head.method, head.version, &headers, config.overload_retry))
}
