//! Blocking-socket pieces that the server, the client and the Redis side share, each written once:
//!
//! - [`is_timeout`]: a socket's timeout expired, as opposed to a broken connection;
//! - [`dial`]: connecting to a host, whichever of its addresses answers, by a deadline (the
//!   client, Redis);
//! - [`Stop`]: a stop that reaches a thread that dials again after failures wherever it waits,
//!   between attempts or in a blocking read (the client's close, the Redis reader's stop);
//! - [`TimedSocket`]: a server connection's socket, which sets its timeouts only when they change;
//! - [`HeldFirst`]: bytes held back (a response head) to leave with the next write, in one call;
//! - [`DeadlineReader`]: reading by a deadline however the bytes trickle in (request heads and
//!   bodies, response heads, Redis replies);
//! - [`read_head_by`] and [`read_head_arrived`]: the socket side of reading an HTTP head, by a
//!   deadline (the server's connections, the client) or from what has arrived on a non-blocking
//!   socket (the overflow answerer). [`HeadReader`](crate::http::HeadReader) decides what the
//!   bytes mean; these own the waiting.

use std::cell::Cell;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::ops::Deref;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::http::{HeadParser, HeadRead, HeadReader};

/// Whether an I/O error only means that a socket's read or write timeout expired (the peer may
/// still be there, and the operation can be tried again), as opposed to a broken connection.
/// `std` reports an expired socket timeout as `WouldBlock` on Unix and `TimedOut` on Windows; a
/// non-blocking socket with nothing to give says `WouldBlock` too.
pub(crate) fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// Connects to `host:port`, trying each address the name resolves to in turn, all by `deadline`
/// (the lookup aside: the system resolver has no timeout). The socket sends small writes at once
/// (no Nagle: an event, a command, must not wait for more). Fails with the last address's error,
/// or `TimedOut` once the deadline has passed.
pub(crate) fn dial(host: &str, port: u16, deadline: Instant) -> io::Result<TcpStream> {
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "the host resolved to no address");
    for address in (host, port).to_socket_addrs()? {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        match TcpStream::connect_timeout(&address, left) {
            Ok(socket) => {
                socket.set_nodelay(true)?;
                return Ok(socket);
            }
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

/// A stop for a thread that keeps a connection to a peer, dialling again after failures (the
/// client's reconnection, the Redis backplane's reader): it reaches the thread wherever it waits,
/// in a sleep between attempts (woken at once) or in a blocking read (its socket shut down).
#[derive(Debug, Default)]
pub(crate) struct Stop {
    state: Mutex<StopState>,
    woken: Condvar,
}

#[derive(Debug, Default)]
struct StopState {
    stopped: bool,
    /// The socket the thread's blocking reads wait on, if any.
    socket: Option<TcpStream>,
}

impl Stop {
    /// Stops: a sleep ends, the socket is shut down (a blocking read on it returns), and every
    /// later [`watch`](Self::watch) shuts its socket down at once.
    pub fn stop(&self) {
        let mut state = self.lock();
        state.stopped = true;
        if let Some(socket) = &state.socket {
            let _ = socket.shutdown(Shutdown::Both);
        }
        self.woken.notify_all();
    }

    /// Whether [`stop`](Self::stop) has been called.
    pub fn is_stopped(&self) -> bool {
        self.lock().stopped
    }

    /// The socket the thread's blocking reads now wait on (`None`: none): shut down by a stop, at
    /// once if the stop came already, so that a stop between connecting and this call is not lost.
    pub fn watch(&self, socket: Option<&TcpStream>) {
        let mut state = self.lock();
        state.socket = socket.and_then(|socket| socket.try_clone().ok());
        if let (true, Some(socket)) = (state.stopped, &state.socket) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    /// Sleeps for `wait`, or until a stop; returns whether it stopped.
    pub fn sleep(&self, wait: Duration) -> bool {
        let state = self.lock();
        let wait_while_running = self.woken.wait_timeout_while(state, wait, |state| !state.stopped);
        wait_while_running.unwrap_or_else(PoisonError::into_inner).0.stopped
    }

    fn lock(&self) -> MutexGuard<'_, StopState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why no head was read.
#[derive(Debug)]
pub(crate) enum HeadError<E> {
    /// The head broke the protocol or a limit: the parser's error.
    Refused(E),
    /// The deadline passed first (`TimedOut`), the peer closed the connection first
    /// (`UnexpectedEof`), or the connection failed.
    Io(io::Error),
}

/// A head read by a deadline: the head and the bytes received after it, or why no head came.
pub(crate) type HeadAndRest<P> = Result<(<P as HeadParser>::Head, Vec<u8>), HeadError<<P as HeadParser>::Error>>;

/// A writer that sends bytes held back (a response head) before whatever is written next, in the
/// same vectored write: a head and the first chunk of a body, or a head and the body's end, leave
/// in one system call and, on loopback or a fast network, in one packet. What of `held` has gone
/// out is taken from it, so a write that stops part-way leaves the rest for the next one, and
/// `held` ends up empty (and without a buffer) once it has all gone.
pub(crate) struct HeldFirst<'a, W> {
    held: &'a mut Vec<u8>,
    out: W,
}

impl<'a, W: Write> HeldFirst<'a, W> {
    /// Writes to `out`, `held` first.
    pub fn new(held: &'a mut Vec<u8>, out: W) -> HeldFirst<'a, W> {
        HeldFirst { held, out }
    }

    /// Writes what is held, and nothing else.
    ///
    /// # Errors
    ///
    /// The writer's error, or `WriteZero` when a write takes no byte.
    pub fn write_held(&mut self) -> io::Result<()> {
        while !self.held.is_empty() {
            match self.out.write(self.held) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => self.take_held(written),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Takes `written` bytes from the front of `held`, dropping its buffer once it is empty.
    fn take_held(&mut self, written: usize) {
        if written >= self.held.len() {
            *self.held = Vec::new();
        } else {
            self.held.drain(..written);
        }
    }
}

impl<W: Write> Write for HeldFirst<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    /// Offers what is held and then `bufs` (the first three: a chunk's size line, payload and end)
    /// in one call, and again while some of what is held is left (each call makes progress, or
    /// fails, or the writer takes nothing and this returns 0); returns how much of `bufs` was
    /// taken. Only a write that took exactly what was held is followed by a call for `bufs` alone.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        while !self.held.is_empty() {
            let mut parts = [IoSlice::new(&[]); 4];
            parts[0] = IoSlice::new(self.held);
            let offered = bufs.len().min(parts.len() - 1);
            parts[1..=offered].copy_from_slice(&bufs[..offered]);
            let written = self.out.write_vectored(&parts[..=offered])?;
            if written == 0 {
                return Ok(0);
            }
            let held = self.held.len();
            self.take_held(written);
            if written > held {
                return Ok(written - held);
            }
        }
        self.out.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A socket whose read timeout a [`DeadlineReader`] limits before each read.
pub(crate) trait LimitRead {
    /// Makes the next read wait at most `left` (not zero). It may wait less: a read that its
    /// timeout ends is tried again while time is left.
    fn limit_read(&self, left: Duration) -> io::Result<()>;
}

impl LimitRead for TcpStream {
    fn limit_read(&self, left: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(left))
    }
}

/// A server connection's socket, with its read and send timeouts as last set through it, so that
/// each is set only when it changes: every change is a system call, and a persistent connection
/// that set them for each request would make two or three more per request than it reads and
/// writes. Owned by the connection's thread (the record is not shared); whatever else changes the
/// socket's timeouts meanwhile says so ([`forget_read_timeout`](Self::forget_read_timeout),
/// [`assume_send_timeout`](Self::assume_send_timeout)).
///
/// `None` in the record means none set, or not known: nothing asks for a socket without a timeout
/// through it, so a timeout asked for is never mistaken for the one in place.
pub(crate) struct TimedSocket {
    socket: Arc<TcpStream>,
    read_timeout: Cell<Option<Duration>>,
    send_timeout: Cell<Option<Duration>>,
}

impl TimedSocket {
    /// A socket whose timeouts are not known.
    pub fn new(socket: Arc<TcpStream>) -> TimedSocket {
        TimedSocket { socket, read_timeout: Cell::new(None), send_timeout: Cell::new(None) }
    }

    /// The shared socket, for those that take it over for a while (a stream).
    pub fn shared(&self) -> &Arc<TcpStream> {
        &self.socket
    }

    /// Gives reads this timeout (not zero), unless they have it already.
    pub fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        if self.read_timeout.get() != Some(timeout) {
            // Forgotten first: if the call fails, what the socket has is not known.
            self.read_timeout.set(None);
            self.socket.set_read_timeout(Some(timeout))?;
            self.read_timeout.set(Some(timeout));
        }
        Ok(())
    }

    /// Gives writes this timeout (not zero), unless they have it already.
    pub fn set_send_timeout(&self, timeout: Duration) -> io::Result<()> {
        if self.send_timeout.get() != Some(timeout) {
            self.send_timeout.set(None);
            self.socket.set_write_timeout(Some(timeout))?;
            self.send_timeout.set(Some(timeout));
        }
        Ok(())
    }

    /// The send timeout last set through this socket (`None`: none, or not known).
    pub fn send_timeout(&self) -> Option<Duration> {
        self.send_timeout.get()
    }

    /// Records the send timeout that someone else left on the socket (`None`: not known).
    pub fn assume_send_timeout(&self, timeout: Option<Duration>) {
        self.send_timeout.set(timeout);
    }

    /// Records that someone else changed the read timeout: the next one asked for is set.
    pub fn forget_read_timeout(&self) {
        self.read_timeout.set(None);
    }
}

impl Deref for TimedSocket {
    type Target = TcpStream;

    fn deref(&self) -> &TcpStream {
        &self.socket
    }
}

impl LimitRead for TimedSocket {
    /// Keeps the read timeout in place when it is at most `left` and at least half of it: a read
    /// it ends early is tried again, at most once more than with `left` exactly, and the socket is
    /// spared a system call. A connection's keep-alive timeout (5 s) sits in that range of its
    /// request timeout (10 s), so reading a request that did not come in one piece changes
    /// nothing.
    fn limit_read(&self, left: Duration) -> io::Result<()> {
        match self.read_timeout.get() {
            Some(timeout) if timeout <= left && timeout >= left / 2 => Ok(()),
            _ => self.set_read_timeout(left),
        }
    }
}

/// Reads from `source` waiting at most until `deadline` in all, however the bytes trickle in.
/// Before each read, `socket` (the one under `source`, when there is one) has its read timeout
/// limited to the time left, and a read that timeout ends is tried again while time is left; a
/// source without a socket is checked between reads only. Past the deadline, a read fails with
/// `TimedOut`.
pub(crate) struct DeadlineReader<'a, R, S: LimitRead + ?Sized = TcpStream> {
    source: R,
    socket: Option<&'a S>,
    deadline: Instant,
}

impl<'a> DeadlineReader<'a, &'a TcpStream> {
    /// Reads from `socket` by `deadline`.
    pub fn new(socket: &'a TcpStream, deadline: Instant) -> DeadlineReader<'a, &'a TcpStream> {
        DeadlineReader { source: socket, socket: Some(socket), deadline }
    }
}

impl<'a, R: Read, S: LimitRead + ?Sized> DeadlineReader<'a, R, S> {
    /// Reads from `source`, which `socket` (if any) is under, by `deadline`.
    pub fn over(source: R, socket: Option<&'a S>, deadline: Instant) -> DeadlineReader<'a, R, S> {
        DeadlineReader { source, socket, deadline }
    }
}

impl<R: Read, S: LimitRead + ?Sized> Read for DeadlineReader<'_, R, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            let Some(socket) = self.socket else { return self.source.read(buf) };
            socket.limit_read(left)?;
            match self.source.read(buf) {
                // The timeout set above ended the read: the deadline, checked again, decides.
                Err(e) if is_timeout(&e) => {}
                read => return read,
            }
        }
    }
}

/// Reads until the head is complete, waiting for bytes until `deadline` at the latest, as
/// [`DeadlineReader`] does. Returns the head and the bytes received after it.
pub(crate) fn read_head_by<P: HeadParser, S: LimitRead + ?Sized>(
    reader: &mut HeadReader<P>,
    source: &mut impl Read,
    socket: Option<&S>,
    deadline: Instant,
) -> HeadAndRest<P> {
    let mut source = DeadlineReader::over(source, socket, deadline);
    loop {
        if let HeadRead::Complete { head, rest } = reader.poll().map_err(HeadError::Refused)? {
            return Ok((head, rest));
        }
        // Past the deadline, the reader's error is a timeout.
        match reader.read_from(&mut source) {
            Ok(0) => return Err(HeadError::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(HeadError::Io(e)),
        }
    }
}

/// Reads what has arrived on a non-blocking `socket`: the head if it is complete, or `Partial`
/// when no more bytes are there yet. Reads go through `scratch`, which the caller keeps for all
/// its connections: a reader's own buffer would be zero-filled for every read, and the overflow
/// answerer reads each held connection every few milliseconds, mostly to find nothing.
pub(crate) fn read_head_arrived<P: HeadParser>(
    reader: &mut HeadReader<P>,
    socket: &TcpStream,
    scratch: &mut [u8],
) -> Result<HeadRead<P::Head>, HeadError<P::Error>> {
    let mut read = reader.poll().map_err(HeadError::Refused)?;
    while let HeadRead::Partial = read {
        read = match (&*socket).read(scratch) {
            Ok(0) => return Err(HeadError::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => reader.feed(&scratch[..n]).map_err(HeadError::Refused)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => HeadRead::Partial,
            Err(e) if is_timeout(&e) => return Ok(HeadRead::Partial),
            Err(e) => return Err(HeadError::Io(e)),
        };
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{HeadLimits, RequestError, RequestHeads, ResponseHeads};
    use std::io::Write;
    use std::net::TcpListener;
    use std::time::Duration;

    /// The client's and Redis's dial: the first address that answers, without Nagle; a refused one
    /// is its error; a deadline that has passed is `TimedOut`, whatever the addresses.
    #[test]
    fn dialling_connects_or_says_why_not() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let deadline = Instant::now() + Duration::from_secs(30);
        let socket = dial("127.0.0.1", port, deadline).unwrap();
        assert!(socket.nodelay().unwrap());
        assert_eq!(socket.peer_addr().unwrap(), listener.local_addr().unwrap());
        drop(listener);
        let refused = dial("127.0.0.1", port, deadline).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        let late = dial("127.0.0.1", port, Instant::now()).unwrap_err();
        assert_eq!(late.kind(), io::ErrorKind::TimedOut);
    }

    /// A stop wakes a sleep at once, cuts a blocking read, and shuts a socket watched after it.
    #[test]
    fn a_stop_reaches_a_sleep_a_read_and_a_later_socket() {
        let stop = std::sync::Arc::new(Stop::default());
        assert!(!stop.sleep(Duration::from_millis(1)), "a sleep with no stop runs its course");
        let (_peer, socket) = pair();
        stop.watch(Some(&socket));
        let sleeper = {
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || stop.sleep(Duration::from_secs(600)))
        };
        let reader = std::thread::spawn(move || (&socket).read(&mut [0u8; 16]));
        stop.stop();
        assert!(sleeper.join().unwrap(), "the sleep ends with the stop");
        assert!(matches!(reader.join().unwrap(), Ok(0)), "the read returns: its socket is shut down");
        assert!(stop.is_stopped() && stop.sleep(Duration::from_secs(600)), "and no sleep starts after it");
        let (_peer, later) = pair();
        stop.watch(Some(&later));
        assert!(matches!((&later).read(&mut [0u8; 16]), Ok(0)), "a socket watched after the stop");
    }

    /// A writer that records each call and takes at most `limits[i]` bytes on its i-th (then all).
    struct Recording {
        calls: Vec<Vec<u8>>,
        limits: Vec<usize>,
    }

    impl Write for Recording {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }

        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            let limit = self.limits.get(self.calls.len()).copied().unwrap_or(usize::MAX);
            let offered: Vec<u8> = bufs.iter().flat_map(|buf| buf.iter().copied()).collect();
            self.calls.push(offered[..offered.len().min(limit)].to_vec());
            Ok(offered.len().min(limit))
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// What is held leaves with the next write, in the same call; after it, writes go straight
    /// through, and the held buffer is gone.
    #[test]
    fn held_bytes_leave_with_the_next_write_in_one_call() {
        let mut held = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        let mut out = Recording { calls: Vec::new(), limits: Vec::new() };
        let mut writer = HeldFirst::new(&mut held, &mut out);
        assert_eq!(writer.write_vectored(&[IoSlice::new(b"5\r\n"), IoSlice::new(b"hello\r\n")]).unwrap(), 10);
        writer.write_all(b"0\r\n\r\n").unwrap();
        assert_eq!(out.calls, [&b"HTTP/1.1 200 OK\r\n\r\n5\r\nhello\r\n"[..], b"0\r\n\r\n"]);
        assert_eq!((held.len(), held.capacity()), (0, 0));
    }

    /// A writer that takes a few bytes at a time, anywhere in what is held or after it: every byte
    /// goes out once, in order, the held ones first, and a call reports only the bytes it took of
    /// what it was offered.
    #[test]
    fn held_bytes_survive_writes_that_stop_anywhere() {
        let mut rng = crate::test_support::SplitRng::new(7);
        for _ in 0..200 {
            let head = rng.bytes(b"ab", 40);
            let payload = rng.bytes(b"xyz", 40);
            let mut held = head.clone();
            let limits = (0..100).map(|_| 1 + rng.below(12)).collect();
            let mut out = Recording { calls: Vec::new(), limits };
            let mut writer = HeldFirst::new(&mut held, &mut out);
            writer.write_all(&payload).unwrap();
            writer.write_held().unwrap();
            assert_eq!(out.calls.concat(), [head, payload].concat());
        }
        // A writer that takes two bytes one at a time, then none.
        let mut held = b"head".to_vec();
        let mut out = Recording { calls: Vec::new(), limits: vec![1, 1, 0] };
        assert_eq!(HeldFirst::new(&mut held, &mut out).write(b"body").unwrap(), 0, "nothing of the body");
        assert_eq!(held, b"ad", "what went out is no longer held");
        out.limits.clear();
        HeldFirst::new(&mut held, &mut out).write_held().unwrap();
        assert_eq!(out.calls.concat(), b"head");
    }

    /// A connection's timeouts are set only when they change: a timeout set behind the record's
    /// back stays, until the record is told it no longer knows.
    #[test]
    fn a_timed_socket_sets_a_timeout_only_when_it_changes() {
        let (_peer, socket) = pair();
        let socket = TimedSocket::new(Arc::new(socket));
        let (five, one) = (Duration::from_secs(5), Duration::from_secs(1));
        socket.set_read_timeout(five).unwrap();
        socket.set_send_timeout(five).unwrap();
        assert_eq!((socket.read_timeout().unwrap(), socket.write_timeout().unwrap()), (Some(five), Some(five)));
        // Changed behind its back: asking for what it believes is set makes no system call.
        socket.shared().set_read_timeout(Some(one)).unwrap();
        socket.shared().set_write_timeout(Some(one)).unwrap();
        socket.set_read_timeout(five).unwrap();
        socket.set_send_timeout(five).unwrap();
        assert_eq!((socket.read_timeout().unwrap(), socket.write_timeout().unwrap()), (Some(one), Some(one)));
        // Told: the next request sets it.
        socket.forget_read_timeout();
        socket.assume_send_timeout(Some(one));
        socket.set_read_timeout(five).unwrap();
        assert_eq!(socket.read_timeout().unwrap(), Some(five));
        assert_eq!(socket.send_timeout(), Some(one));
        socket.set_send_timeout(five).unwrap();
        assert_eq!((socket.write_timeout().unwrap(), socket.send_timeout()), (Some(five), Some(five)));
    }

    /// Reading by a deadline keeps a read timeout that is at most the time left and at least half
    /// of it, and sets the time left otherwise.
    #[test]
    fn a_timed_socket_keeps_a_read_timeout_close_below_the_time_left() {
        let (_peer, socket) = pair();
        let socket = TimedSocket::new(Arc::new(socket));
        let secs = Duration::from_secs;
        socket.set_read_timeout(secs(5)).unwrap();
        for (left, expected) in [(secs(10), secs(5)), (secs(6), secs(5)), (secs(4), secs(4)), (secs(9), secs(9))] {
            socket.limit_read(left).unwrap();
            assert_eq!(socket.read_timeout().unwrap(), Some(expected), "{left:?} left");
        }
        socket.limit_read(secs(19)).unwrap();
        assert_eq!(socket.read_timeout().unwrap(), Some(secs(19)), "too short a timeout is not kept");
    }

    /// A connected pair: (the peer that writes, the socket the head is read from).
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        (peer, listener.accept().unwrap().0)
    }

    fn requests() -> HeadReader<RequestHeads> {
        HeadReader::new(RequestHeads(HeadLimits::default()))
    }

    /// The server's and the client's case: a head that trickles in a byte at a time, with the
    /// next message's start behind it, is read whole by the deadline.
    #[test]
    fn a_head_that_trickles_in_is_read_with_the_bytes_after_it() {
        let (mut peer, socket) = pair();
        let writer = std::thread::spawn(move || {
            for byte in b"HTTP/1.1 204 No Content\r\nX: 1\r\n\r\nnext" {
                peer.write_all(&[*byte]).unwrap();
            }
            peer
        });
        let mut reader = HeadReader::new(ResponseHeads);
        let deadline = Instant::now() + Duration::from_secs(30);
        let (head, mut rest) = read_head_by(&mut reader, &mut &socket, Some(&socket), deadline).unwrap();
        let _peer = writer.join().unwrap();
        while rest.len() < 4 {
            let mut more = [0u8; 4];
            let n = (&socket).read(&mut more).unwrap();
            rest.extend_from_slice(&more[..n]);
        }
        assert_eq!((head.status, head.header("x"), rest.as_slice()), (204, Some("1"), &b"next"[..]));
    }

    /// A source with no socket (a connector's TLS stream) is read the same way, and a flood of
    /// head bytes is refused at the limit, having read one byte past it.
    #[test]
    fn a_source_without_a_socket_and_a_flood_past_the_limit() {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut reader = requests();
        let (head, rest) =
            read_head_by(&mut reader, &mut &b"GET /x HTTP/1.0\r\n\r\nmore"[..], None::<&TcpStream>, deadline).unwrap();
        assert_eq!((head.path.as_str(), rest.as_slice()), ("/x", &b"more"[..]));
        let mut reader = HeadReader::new(RequestHeads(HeadLimits { max_head_bytes: 5000, ..HeadLimits::default() }));
        let refused = read_head_by(&mut reader, &mut io::repeat(b'a'), None::<&TcpStream>, deadline);
        assert!(matches!(refused, Err(HeadError::Refused(RequestError::UriTooLong))), "{refused:?}");
        assert_eq!(reader.received(), 5001);
    }

    /// A peer that stops halfway: the read ends at the deadline, not before and not long after.
    #[test]
    fn a_head_that_stops_coming_times_out_at_the_deadline() {
        let (mut peer, socket) = pair();
        peer.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
        let wait = Duration::from_millis(300);
        let started = Instant::now();
        let result = read_head_by(&mut requests(), &mut &socket, Some(&socket), started + wait);
        let waited = started.elapsed();
        assert!(matches!(&result, Err(HeadError::Io(e)) if e.kind() == io::ErrorKind::TimedOut), "{result:?}");
        assert!(waited >= wait && waited < wait + Duration::from_secs(5), "{waited:?}");
    }

    #[test]
    fn a_peer_that_leaves_mid_head_is_an_unexpected_end() {
        let (mut peer, socket) = pair();
        peer.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        drop(peer);
        let deadline = Instant::now() + Duration::from_secs(30);
        let result = read_head_by(&mut requests(), &mut &socket, Some(&socket), deadline);
        assert!(matches!(&result, Err(HeadError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof), "{result:?}");
    }

    /// The overflow answerer's case: a non-blocking socket gives what has arrived, `Partial` until
    /// the head is whole, and never waits.
    #[test]
    fn a_non_blocking_read_takes_what_has_arrived() {
        let (mut peer, socket) = pair();
        socket.set_nonblocking(true).unwrap();
        let mut reader = requests();
        assert!(matches!(read_head_arrived(&mut reader, &socket, &mut [0; 64]), Ok(HeadRead::Partial)));
        peer.write_all(b"GET /a HTTP/1.1\r\n").unwrap();
        // Waits for the bytes to arrive: each call reads what is there and returns at once.
        while reader.received() < 17 {
            assert!(matches!(read_head_arrived(&mut reader, &socket, &mut [0; 64]), Ok(HeadRead::Partial)));
            std::thread::yield_now();
        }
        peer.write_all(b"Host: a\r\n\r\n").unwrap();
        let head = loop {
            match read_head_arrived(&mut reader, &socket, &mut [0; 64]) {
                Ok(HeadRead::Complete { head, .. }) => break head,
                Ok(HeadRead::Partial) => std::thread::yield_now(),
                Err(error) => panic!("{error:?}"),
            }
        };
        assert_eq!(head.path, "/a");
        drop(peer);
        let mut reader = requests();
        let gone = loop {
            match read_head_arrived(&mut reader, &socket, &mut [0; 64]) {
                Ok(HeadRead::Partial) => std::thread::yield_now(),
                other => break other,
            }
        };
        assert!(matches!(&gone, Err(HeadError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof), "{gone:?}");
    }
}
