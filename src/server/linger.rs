//! Closing after a complete answer without destroying it: the lingering close.
//!
//! A connection closed while the client's bytes are still unread (the rest of a refused request,
//! a body the server never read) is reset by the kernel, and a reset can destroy the answer before
//! the client has read it. So after its last answer the server shuts its write side (the client
//! sees the end), and reads and drops what the client still sends, for at most [`CLOSE_LINGER`]
//! and [`CLOSE_LINGER_BYTES`], until the client closes its side too. Both the connection threads
//! (a blocking socket) and the overflow answerer (non-blocking sockets, many at once) linger this
//! way.

use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use crate::net::is_timeout;

/// After a complete answer, how long the server keeps reading (and discarding) what the client
/// still sends, so that closing does not reset the connection before the client reads the answer.
pub(super) const CLOSE_LINGER: Duration = Duration::from_millis(500);
/// Most bytes discarded while lingering: enough for the rest of a refused request head or body.
pub(super) const CLOSE_LINGER_BYTES: usize = 64 * 1024;

/// A connection being closed: its write side is shut, and what the client sends is dropped.
#[derive(Debug)]
pub(super) struct Linger {
    until: Instant,
    discarded: usize,
}

impl Linger {
    /// Shuts the write side of `socket`, whose last answer has been written, and starts lingering.
    pub fn start(socket: &TcpStream, now: Instant) -> Linger {
        let _ = socket.shutdown(Shutdown::Write);
        Linger { until: now + CLOSE_LINGER, discarded: 0 }
    }

    /// Reads and drops what the client sends until it closes its side, the connection fails, the
    /// time is up or the byte budget is spent: then returns false, and the socket can be closed.
    /// On a blocking socket it waits for each read until the time is up; on a non-blocking one it
    /// takes what has arrived and returns true when nothing more is there yet.
    pub fn discard(&mut self, mut socket: &TcpStream, buffer: &mut [u8], blocking: bool) -> bool {
        loop {
            let left = self.until.saturating_duration_since(Instant::now());
            if left.is_zero() || self.discarded >= CLOSE_LINGER_BYTES {
                return false;
            }
            if blocking && socket.set_read_timeout(Some(left)).is_err() {
                return false;
            }
            let room = buffer.len().min(CLOSE_LINGER_BYTES - self.discarded);
            match socket.read(&mut buffer[..room]) {
                Ok(0) => return false,
                Ok(n) => self.discarded += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A blocking read that timed out: the time check above ends it.
                Err(e) if is_timeout(&e) => {
                    if !blocking {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
    }

    /// The bytes dropped so far.
    #[cfg(test)]
    fn discarded(&self) -> usize {
        self.discarded
    }
}

/// Lingers on a blocking socket whose last answer has been written, until it can be closed.
///
/// Never inlined: its buffer must not widen the frame of a caller that goes on serving.
#[inline(never)]
pub(super) fn linger(socket: &TcpStream) {
    // Within the stack pages the thread holds anyway: the thread is about to end.
    let mut discarded = [0u8; 1024];
    let mut linger = Linger::start(socket, Instant::now());
    while linger.discard(socket, &mut discarded, true) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    /// A connected pair: (the client, the server's socket).
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        (client, listener.accept().unwrap().0)
    }

    /// Reads what the server sends until its end: the answer, whole.
    fn read_to_end(client: &mut TcpStream) -> Vec<u8> {
        let mut received = Vec::new();
        client.read_to_end(&mut received).unwrap();
        received
    }

    /// A client still sending when the answer is written gets the whole answer and the end, and
    /// the server drops up to the byte budget and no more, blocking or not.
    #[test]
    fn a_client_still_sending_gets_the_answer_and_at_most_the_budget_is_dropped() {
        for blocking in [true, false] {
            let (mut client, socket) = pair();
            socket.set_nonblocking(!blocking).unwrap();
            (&socket).write_all(b"the answer").unwrap();
            let sender = {
                let mut client = client.try_clone().unwrap();
                // More than the budget: the writes past what the server drops may fail once it
                // closes, which is why their results are ignored.
                std::thread::spawn(move || {
                    let _ = client.write_all(&vec![b'x'; CLOSE_LINGER_BYTES + 4096]);
                })
            };
            // Started as if a minute from now: only the byte budget, not the linger time (which a
            // loaded machine could let pass before the sender has sent), ends it.
            let mut linger = Linger::start(&socket, Instant::now() + Duration::from_secs(60));
            assert_eq!(read_to_end(&mut client), b"the answer", "blocking: {blocking}");
            let mut buffer = [0u8; 1000];
            while linger.discard(&socket, &mut buffer, blocking) {
                std::thread::yield_now();
            }
            assert_eq!(linger.discarded(), CLOSE_LINGER_BYTES, "blocking: {blocking}");
            drop(socket);
            sender.join().unwrap();
        }
    }

    /// A client that closes its side ends the linger at once; a silent one at the linger time.
    #[test]
    fn the_linger_ends_when_the_client_closes_or_at_the_linger_time() {
        let (client, socket) = pair();
        (&socket).write_all(b"answer").unwrap();
        let started = Instant::now();
        drop(client);
        linger(&socket);
        assert!(started.elapsed() < CLOSE_LINGER, "{:?}", started.elapsed());

        for blocking in [true, false] {
            let (_client, socket) = pair();
            socket.set_nonblocking(!blocking).unwrap();
            let started = Instant::now();
            let mut linger = Linger::start(&socket, started);
            let mut buffer = [0u8; 16];
            while linger.discard(&socket, &mut buffer, blocking) {
                std::thread::yield_now();
            }
            let waited = started.elapsed();
            assert!(waited >= CLOSE_LINGER && waited < CLOSE_LINGER * 10, "blocking: {blocking}: {waited:?}");
            assert_eq!(linger.discarded(), 0);
        }
    }
}
