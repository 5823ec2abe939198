//! The server's end of one event-stream response: the single owner of everything about a streaming
//! client's socket. Hub clients and per-connection streams both go through it, so each of these
//! exists once:
//!
//! - **framing**: the body is chunked (HTTP/1.1) or ends with the connection (HTTP/1.0); a
//!   [`BodyFramer`] remembers where a partial write stopped, so whoever writes next resumes there;
//! - **one writer at a time**: a write turn, taken and given back under a short lock that is never
//!   held across I/O, so that closing, heartbeats and departure checks never wait on a stalled write;
//! - **the socket's mode**: blocking writes give up after the write timeout of no progress (a hub's
//!   catch-up writes, after the wait the hub gives them: the hub decides when its client has
//!   stalled); writes that must not wait (a hub's flusher) switch the socket to non-blocking mode,
//!   so a full socket returns at once. The mode belongs to the whole socket, reads included, so only the holder of
//!   the write turn changes it, and the departure watch switches it back (taking the turn) before
//!   it reads;
//! - **ending the body**, once, between writes: the last chunk (after the encoder's end, or the
//!   ending a hub set for its client: a hub gzip client's final block and trailer) is
//!   written by whoever holds the write turn, so it never lands inside an event, even when the
//!   server's stop asks for it while a hub's flusher is writing ([`StreamSocket::end_soon`]); a
//!   drain has a last line (its `retry:`) written just before that end
//!   ([`StreamSocket::end_soon_with`]);
//! - **heartbeats** for per-connection streams (a hub sends its own through its backlog);
//! - **noticing departure**: a read that returns means the client left (clients send nothing on an
//!   event stream), noticed at once, with no periodic wake-up;
//! - **the closed state and `on_close` callbacks**, which run exactly once;
//! - **handing the connection back**: a per-connection stream on a persistent connection ends its
//!   body with [`StreamSocket::finish`] instead of closing, and its departure watch then returns
//!   the connection, with any bytes of the next request it read, to serve the next request.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::compress::BodyEncoder;
use crate::event::HEARTBEAT_COMMENT;
use crate::http::{BodyFramer, BodyFraming};
use crate::hub::{Ending, Written};
use crate::net::{is_timeout, HeldFirst};

/// The shortest send timeout set on a socket: a zero one would mean "none" to the operating system.
const MIN_SEND_TIMEOUT: Duration = Duration::from_millis(1);
/// How much one read of the departure watch asks for. On a persistent stream, once a read has
/// returned the start of a next request, the watch reads no more until the body ends; the rest
/// waits in the socket.
const WATCH_READ_BYTES: usize = 1024;

/// What the departure watch does next.
enum Look {
    /// The body of a persistent stream has ended: hand the connection back.
    Finished,
    /// The stream is closed.
    Closed,
    /// Silence has lasted a heartbeat interval, and no write is in progress.
    HeartbeatDue,
    /// Wait this long (`None`: with no timeout) for the client.
    Wait(Option<Duration>),
}

/// How a departure watch ended.
pub(crate) enum Watched {
    /// The stream is closed, and so is the connection.
    Closed,
    /// The stream ended its body and the connection stays open: these bytes of the next request
    /// (perhaps none yet) were read while watching.
    Finished(Vec<u8>),
}

/// Callbacks run when the stream closes.
type OnClose = Box<dyn FnOnce() + Send>;

/// One streaming client's socket. Shared (`Arc`) by the threads that write to it and watch it.
pub(crate) struct StreamSocket {
    /// Shared with the server's registry of connections, which shuts it down on `stop`.
    socket: Arc<TcpStream>,
    write_timeout: Duration,
    /// Whether the connection may serve another request after this stream's body ends: bytes the
    /// client sends meanwhile are kept for it, not dropped.
    persistent: bool,
    state: Mutex<SocketState>,
    /// Signalled when the write turn is given back or the stream closes.
    changed: Condvar,
}

struct SocketState {
    /// A thread holds the write turn (and the body writer, which it puts back with the turn).
    writing: bool,
    body: BodyWriter,
    /// The send timeout the socket has now, to change it only when needed (a system call).
    send_timeout: Option<Duration>,
    /// The socket is in non-blocking mode, or the thread holding the write turn may be switching
    /// it there: a read started now might return at once. Set when a non-blocking turn is taken;
    /// cleared only when a turn ends with the socket blocking.
    nonblocking: bool,
    last_write: Instant,
    closed: bool,
    /// The body has ended and the connection stays open ([`StreamSocket::finish`]): nothing more
    /// is written, and the departure watch hands the connection back.
    finished: bool,
    /// [`StreamSocket::end_soon`] asked for the body's end: no write starts any more, and the
    /// holder of the write turn, if any, ends the body before it gives the turn back.
    end_requested: bool,
    /// Body bytes to write just before that end ([`StreamSocket::end_soon_with`]), as plain text
    /// (coded on the way, as the body is); taken by whoever writes the end.
    last_bytes: Vec<u8>,
    /// The holder of the write turn is writing that end, and closes the stream right after it:
    /// a close asked for meanwhile is left to it, since shutting the socket down would cut the end
    /// (a hub's flusher that finds the turn taken gives the client up and closes it).
    writing_end: bool,
    on_close: Vec<OnClose>,
    /// Threads waiting on `changed`: for the write turn, or for the stream to be over.
    waiting: usize,
}

/// The write turn: its holder alone writes to the socket, with the body writer it took out, and
/// alone changes the socket's mode, which it records here.
struct Turn {
    body: BodyWriter,
    send_timeout: Option<Duration>,
    nonblocking: bool,
}

impl Turn {
    /// Puts the socket in `mode`, with a system call only for what changes.
    fn switch(&mut self, socket: &TcpStream, mode: Mode) -> io::Result<()> {
        let nonblocking = mode == Mode::NonBlocking;
        if self.nonblocking != nonblocking {
            socket.set_nonblocking(nonblocking)?;
            self.nonblocking = nonblocking;
        }
        if let Mode::Blocking(send_timeout) = mode {
            if self.send_timeout != send_timeout {
                socket.set_write_timeout(send_timeout)?;
                self.send_timeout = send_timeout;
            }
        }
        Ok(())
    }
}

/// How a turn's writes use the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Blocking writes, giving up after this long without progress (`None`: never).
    Blocking(Option<Duration>),
    /// Writes that take what the socket has room for and return at once: a hub's flusher.
    NonBlocking,
}

/// Why a thread did not get the write turn.
enum Refused {
    /// The stream is over (closed, or its body finished).
    Over,
    /// Another thread holds the turn (only when not waiting for it).
    Busy,
}

/// How body bytes go on the wire: through the encoder of the response's write profile, if it has
/// one (each write is one flush unit), then framed.
struct BodyWriter {
    /// The response head has gone out, or is held to go out with the first write: a body exists
    /// to be ended.
    head_written: bool,
    /// The response head, held back to leave with the body's first write, whatever that is (see
    /// [`StreamSocket::hold_head`]); empty once it has gone.
    held_head: Vec<u8>,
    framer: BodyFramer,
    encoder: Option<Box<dyn BodyEncoder>>,
    /// What a hub set to end its client's body (see [`Sink::set_ending`](crate::hub::Sink)):
    /// given the payload bytes written, the bytes that end the body before the framing's end.
    ending: Option<Ending>,
    /// The encoder's output for the write in progress.
    encoded: Vec<u8>,
}

impl BodyWriter {
    /// Writes one flush unit with blocking writes.
    fn write_all(&mut self, socket: &mut &TcpStream, payload: &[u8]) -> io::Result<()> {
        let BodyWriter { held_head, framer, encoder, encoded, .. } = self;
        write_coded(framer, encoder, encoded, &mut HeldFirst::new(held_head, *socket), payload)
    }

    /// Ends the body: `last` (plain body bytes, coded as the body is), the encoder's end, or the
    /// hub's, then the framing's (the last chunk). Only between chunks, and only once the head has
    /// gone out: before it, there is no body to end. A hub's ending that finds no clean end fails,
    /// and the caller cuts the connection.
    fn end(&mut self, socket: &mut &TcpStream, last: &[u8]) -> io::Result<()> {
        if !self.head_written {
            return Err(io::ErrorKind::NotConnected.into());
        }
        if let Some(ending) = self.ending.take() {
            let end = ending(self.framer.payload_written(), last).ok_or(io::ErrorKind::InvalidData)?;
            self.framer.write_all(&mut HeldFirst::new(&mut self.held_head, *socket), &end)?;
        } else if !last.is_empty() {
            self.write_all(socket, last)?;
        }
        let mut out = HeldFirst::new(&mut self.held_head, *socket);
        if let Some(mut encoder) = self.encoder.take() {
            let mut end = Vec::new();
            encoder.finish(&mut end);
            self.framer.write_all(&mut out, &end)?;
        }
        out.write_all(self.framer.end_of_body())?;
        // An unframed body's end is nothing: the head alone, if still held.
        out.write_held()
    }
}

/// Writes one flush unit to `out`, through the body's encoder, if it has one, and its framing.
fn write_coded(
    framer: &mut BodyFramer,
    encoder: &mut Option<Box<dyn BodyEncoder>>,
    encoded: &mut Vec<u8>,
    out: &mut impl Write,
    payload: &[u8],
) -> io::Result<()> {
    let Some(encoder) = encoder else { return framer.write_all(out, payload) };
    encoded.clear();
    encoder.encode(payload, encoded);
    let result = framer.write_all(out, encoded);
    *encoded = Vec::new(); // an idle stream keeps no buffer
    result
}

impl StreamSocket {
    /// Takes over a connection whose response head is still to be sent.
    pub fn new(socket: Arc<TcpStream>, framing: BodyFraming, write_timeout: Duration) -> StreamSocket {
        StreamSocket::with_persistence(socket, framing, write_timeout, false, None)
    }

    /// Like [`new`](Self::new), for a connection that may serve another request once the body
    /// has ended (a chunked body on a persistent connection), and whose body bytes may pass
    /// through `encoder` (a write profile's).
    pub fn with_persistence(
        socket: Arc<TcpStream>,
        framing: BodyFraming,
        write_timeout: Duration,
        persistent: bool,
        encoder: Option<Box<dyn BodyEncoder>>,
    ) -> StreamSocket {
        StreamSocket {
            socket,
            write_timeout,
            persistent: persistent && framing == BodyFraming::Chunked,
            state: Mutex::new(SocketState {
                writing: false,
                body: BodyWriter {
                    head_written: false,
                    held_head: Vec::new(),
                    framer: BodyFramer::new(framing),
                    encoder,
                    ending: None,
                    encoded: Vec::new(),
                },
                send_timeout: None,
                nonblocking: false,
                last_write: Instant::now(),
                closed: false,
                finished: false,
                end_requested: false,
                last_bytes: Vec::new(),
                writing_end: false,
                on_close: Vec::new(),
                waiting: 0,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SocketState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the send timeout the socket has already (`None`: none, or not known), set by
    /// whoever used it before this stream, so that the first write does not set it again.
    pub fn assume_send_timeout(&self, send_timeout: Option<Duration>) {
        self.lock().send_timeout = send_timeout;
    }

    /// The send timeout this stream's writes left on the socket, for whoever uses it next.
    pub fn send_timeout(&self) -> Option<Duration> {
        self.lock().send_timeout
    }

    /// Writes the response head: raw bytes, before the framed body. Never inlined: its frame is
    /// gone before the stream's thread waits, idle, keeping the stack pages it touched.
    #[inline(never)]
    pub fn write_head(&self, head: &[u8]) -> io::Result<()> {
        let write = |body: &mut BodyWriter, mut socket: &TcpStream| {
            socket.write_all(head)?;
            body.head_written = true;
            Ok(())
        };
        self.with_turn(true, Some(self.write_timeout), write).unwrap_or_else(|| Err(gone()))
    }

    /// Holds the response head back, with the body's first bytes `intro` (a `retry:` line, or
    /// nothing), framed and coded as any write, to leave with the body's first write (an event, a
    /// heartbeat, the body's end) in one system call: a short stream's whole answer (a Datastar
    /// action's) is then one write for its head and first event and one for its end, instead of
    /// three or four. Not for a hub client, whose writes may not wait (a per-connection stream's
    /// watch sends a head still held once the stream has lasted:
    /// [`send_held_head`](Self::send_held_head)).
    pub fn hold_head(&self, head: Vec<u8>, intro: &[u8]) -> io::Result<()> {
        let mut state = self.lock();
        // Nothing has written yet; only a stop's end can have come first.
        if state.closed || state.finished || state.end_requested || state.writing {
            return Err(gone());
        }
        let BodyWriter { held_head, framer, encoder, encoded, head_written, .. } = &mut state.body;
        *held_head = head;
        *head_written = true;
        if !intro.is_empty() {
            // Into the held bytes: a write to a vector cannot fail.
            write_coded(framer, encoder, encoded, held_head, intro)?;
        }
        Ok(())
    }

    /// Sends the response head if it is still held: the stream has lasted without writing, and
    /// its client should see it begin.
    pub fn send_held_head(&self) -> io::Result<()> {
        let write =
            |body: &mut BodyWriter, socket: &TcpStream| HeldFirst::new(&mut body.held_head, socket).write_held();
        self.with_turn(true, Some(self.write_timeout), write).unwrap_or(Ok(()))
    }

    /// Writes body bytes, waiting for the write turn and for the socket. An error means the client
    /// is gone or made no progress for the write timeout (kind `TimedOut`/`WouldBlock`); the
    /// caller then closes the stream.
    pub fn write_blocking(&self, payload: &[u8]) -> io::Result<()> {
        self.with_turn(true, Some(self.write_timeout), |body, mut socket| body.write_all(&mut socket, payload))
            .unwrap_or_else(|| Err(gone()))
    }

    /// Writes as much of `payload` as the socket takes without waiting: a hub's flusher. The socket
    /// is in non-blocking mode for it (and stays so until a writer or reader that may wait switches
    /// it back), so a full socket returns at once. When the socket fills up part-way, the framer
    /// keeps its place for the next writer.
    ///
    /// The write turn held by another thread counts as a full socket: only the hub writes to a hub
    /// client, one writer at a time, so that thread is the departure watch switching the socket
    /// back to blocking reads, and the client's next writer is one that may wait for the turn.
    pub fn write_now(&self, payload: &[u8]) -> Written {
        match self.with_turn_in(false, Mode::NonBlocking, |body, socket| write_until_full(body, socket, payload)) {
            Ok(Ok(written)) => written,
            Err(Refused::Busy) => Written::Partial(0),
            Err(Refused::Over) | Ok(Err(_)) => Written::Failed,
        }
    }

    /// Writes as much of `payload` as the socket takes, waiting for the write turn, and for room in
    /// the socket at most `wait` at a time: a hub's catch-up, which decides from the outcome
    /// whether its client has stalled. The socket is blocking, with about `wait` as its send
    /// timeout (see [`send_timeout_for`]).
    pub fn write_waiting(&self, payload: &[u8], wait: Duration) -> Written {
        let send_timeout = send_timeout_for(wait);
        match self.with_turn_in(true, Mode::Blocking(Some(send_timeout)), |body, socket| {
            write_until_full(body, socket, payload)
        }) {
            Ok(Ok(written)) => written,
            Err(_) | Ok(Err(_)) => Written::Failed,
        }
    }

    /// Runs `write` with the write turn, the socket blocking with its send timeout set to
    /// `send_timeout`. Returns `None` when the stream is closed or its end was asked for, or (with
    /// `wait` false) when another thread is writing. A failed write leaves the stream open: the caller decides, and
    /// records why, before it closes.
    fn with_turn<T>(
        &self,
        wait: bool,
        send_timeout: Option<Duration>,
        write: impl FnOnce(&mut BodyWriter, &TcpStream) -> io::Result<T>,
    ) -> Option<io::Result<T>> {
        self.with_turn_in(wait, Mode::Blocking(send_timeout), write).ok()
    }

    /// Runs `write` with the write turn, the socket in `mode`.
    fn with_turn_in<T>(
        &self,
        wait: bool,
        mode: Mode,
        write: impl FnOnce(&mut BodyWriter, &TcpStream) -> io::Result<T>,
    ) -> Result<io::Result<T>, Refused> {
        let mut turn = self.take_turn(wait, mode)?;
        let result = turn.switch(&self.socket, mode).and_then(|()| write(&mut turn.body, &self.socket));
        self.give_back(turn, true);
        Ok(result)
    }

    /// Takes the write turn, waiting for it with `wait`, for writes in `mode`.
    fn take_turn(&self, wait: bool, mode: Mode) -> Result<Turn, Refused> {
        let mut state = self.lock();
        while state.writing && !state.closed && wait {
            state.waiting += 1;
            state = self.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
            state.waiting -= 1;
        }
        if state.closed || state.finished || state.end_requested {
            return Err(Refused::Over);
        }
        if state.writing {
            return Err(Refused::Busy);
        }
        Ok(take_turn(&mut state, mode))
    }

    /// Gives the write turn back, with the socket's mode as the turn left it; `wrote` says whether
    /// bytes went out (which puts off a per-connection stream's next heartbeat).
    ///
    /// If [`end_soon`](Self::end_soon) asked for the body's end while this turn was held, the body
    /// is ended with the turn still held, and the stream closes. The check and the hand-back are
    /// one step under the lock: `end_soon` either sees the turn held, and leaves the end to its
    /// holder, or takes the free turn itself.
    fn give_back(&self, turn: Turn, wrote: bool) {
        {
            let mut state = self.lock();
            if wrote {
                state.last_write = Instant::now();
            }
            if !state.end_requested || state.closed || state.finished {
                self.put_back(&mut state, turn);
                return;
            }
        }
        self.end_with(turn);
    }

    fn put_back(&self, state: &mut SocketState, turn: Turn) {
        state.writing = false;
        state.body = turn.body;
        state.send_timeout = turn.send_timeout;
        state.nonblocking = turn.nonblocking;
        if state.waiting > 0 {
            self.changed.notify_all();
        }
    }

    /// Sets what ends the body before the framing's end (a hub's, for its client: see
    /// [`Sink::set_ending`](crate::hub::Sink)). Waits for the write turn, since the body writer
    /// travels with it; a stream already over keeps none.
    pub fn set_ending(&self, ending: Ending) {
        if let Ok(mut turn) = self.take_turn(true, Mode::Blocking(Some(self.write_timeout))) {
            turn.body.ending = Some(ending);
            self.give_back(turn, false);
        }
    }

    /// Ends the body, if it is between chunks, without waiting for the socket (a client that does
    /// not read gets the connection cut instead), then closes and gives the turn back. Closed
    /// first, so that no one finds the turn free and the stream open in between.
    ///
    /// The last bytes asked for go out first, as one more write of the body.
    fn end_with(&self, mut turn: Turn) {
        let last_bytes = {
            let mut state = self.lock();
            state.writing_end = true;
            std::mem::take(&mut state.last_bytes)
        };
        let _ = turn
            .switch(&self.socket, Mode::NonBlocking)
            .and_then(|()| end_after(&last_bytes, &mut turn.body, &self.socket));
        self.conclude(true);
        self.put_back(&mut self.lock(), turn);
    }

    /// Ends the body properly and closes the connection, as soon as no write is in progress: at
    /// once if the write turn is free, or else by the thread that holds it, when its write is
    /// done, so that the end never lands inside an event. No write starts after this call. The
    /// end is written without waiting for the socket: if it does not fit (a client that does not
    /// read), or a write stopped inside a chunk, the connection is cut instead. Returns at once;
    /// [`wait_closed`](Self::wait_closed) tells when the stream is over. For the server's stop.
    pub fn end_soon(&self) {
        self.end_soon_with(Vec::new());
    }

    /// Like [`end_soon`](Self::end_soon), with `last_bytes` written as the body's last write just
    /// before its end (a drain's `retry:` line, as plain text: a coded body codes it), by the same
    /// thread, in the same turn. Returns whether this call asked for the end: false if the stream
    /// was over, or its end had been asked for already (whose last bytes then stand).
    pub fn end_soon_with(&self, last_bytes: Vec<u8>) -> bool {
        let turn = {
            let mut state = self.lock();
            if state.closed || state.finished || state.end_requested {
                return false;
            }
            state.end_requested = true;
            state.last_bytes = last_bytes;
            if state.writing {
                return true;
            }
            take_turn(&mut state, Mode::NonBlocking)
        };
        self.end_with(turn);
        true
    }

    /// Puts the socket back in blocking mode, if a hub's flusher left it non-blocking, so that the
    /// departure watch's next read blocks. Waits for the write turn to do it (a flusher holds it
    /// only for one write that does not wait). An error means the socket cannot be used.
    fn make_reads_block(&self) -> io::Result<()> {
        let Ok(mut turn) = self.take_turn(true, Mode::Blocking(Some(self.write_timeout))) else {
            // Over: the watch sees it when it looks at the state again.
            return Ok(());
        };
        let switched = turn.switch(&self.socket, Mode::Blocking(Some(self.write_timeout)));
        self.give_back(turn, false);
        switched
    }

    /// Ends the body properly (the last chunk of a chunked body), then closes the connection.
    pub fn end(&self) {
        self.end_body();
        self.close();
    }

    /// Writes the end of the body (the encoder's, then the last chunk) if the body is between
    /// chunks, waiting for the turn and the socket.
    fn end_body(&self) -> bool {
        let ended = self.with_turn(true, Some(self.write_timeout), end_between_chunks);
        ended.is_some_and(|written| written.is_ok())
    }

    /// Ends the body and keeps the connection open for the next request, if the stream was made
    /// persistent and its body can end cleanly; closes it otherwise. Returns whether it stays open.
    /// The `on_close` callbacks run either way: the stream is over.
    pub fn finish(&self) -> bool {
        if !(self.persistent && self.end_body()) {
            self.close();
            return false;
        }
        self.conclude(false)
    }

    /// Ends the body if that can be done at once, and closes the connection either way: for a
    /// close requested while another thread may be blocked writing to a client that does not read.
    /// If a write is in progress, or the last chunk does not fit in the socket, the connection is
    /// cut instead (the blocked write fails at once); waiting could take the whole write timeout.
    pub fn end_now(&self) {
        let _ = self.with_turn_in(false, Mode::NonBlocking, end_between_chunks);
        self.close();
    }

    /// Closes the connection without ending the body (the client is gone, too slow, or the server
    /// is stopping), and runs the `on_close` callbacks. Safe to call from any thread, any number of
    /// times; a thread blocked writing or reading on the socket returns. While the body's end is
    /// being written (see [`end_soon`](Self::end_soon)), the close is left to its writer, which
    /// closes right after it without waiting for the socket.
    pub fn close(&self) {
        if self.lock().writing_end {
            return;
        }
        self.conclude(true);
    }

    /// Ends the stream once: closed (the connection shut down), or finished (its body ended and
    /// the connection kept for the next request). Wakes whoever waits on it and runs the
    /// `on_close` callbacks, outside the lock. False if it had ended already: a stream finished
    /// is over, and closing it later must not cut the connection, which may be serving the next
    /// request by then.
    fn conclude(&self, close: bool) -> bool {
        let (callbacks, waiting) = {
            let mut state = self.lock();
            if state.closed || state.finished {
                return false;
            }
            if close {
                state.closed = true;
            } else {
                state.finished = true;
            }
            (std::mem::take(&mut state.on_close), state.waiting > 0)
        };
        if close {
            let _ = self.socket.shutdown(Shutdown::Both);
        }
        // A wake is a system call even with no one to wake: the usual short stream has no waiter.
        if waiting {
            self.changed.notify_all();
        }
        for callback in callbacks {
            callback();
        }
        true
    }

    /// Whether the stream is over: closed, or finished with its connection kept.
    pub fn is_closed(&self) -> bool {
        let state = self.lock();
        state.closed || state.finished
    }

    /// Whether the stream finished and its connection stays open for the next request.
    pub fn is_kept_open(&self) -> bool {
        let state = self.lock();
        state.finished && !state.closed
    }

    /// Blocks until the stream is over (closed, or finished), or until `timeout`; returns whether
    /// it is.
    pub fn wait_closed(&self, timeout: Option<Duration>) -> bool {
        // A timeout too long for the clock to represent waits without a deadline.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut state = self.lock();
        while !(state.closed || state.finished) {
            state.waiting += 1;
            state = match deadline {
                None => self.changed.wait(state).unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        state.waiting -= 1;
                        return false;
                    }
                    self.changed.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0
                }
            };
            state.waiting -= 1;
        }
        true
    }

    /// Runs `callback` once, when the stream closes; at once if it is closed already.
    pub fn on_close(&self, callback: OnClose) {
        let mut state = self.lock();
        if state.closed || state.finished {
            drop(state);
            callback();
        } else {
            state.on_close.push(callback);
        }
    }

    /// Blocks until the client leaves or the stream is closed, then closes it; or, once
    /// [`finish`](Self::finish) has ended the body of a persistent stream, hands the connection
    /// back. A read that returns data on a stream that is not persistent means nothing (clients
    /// send nothing on an event stream) and is dropped; one that returns nothing means the client
    /// left. With `heartbeat`, a comment is sent after that much silence; without, the read blocks
    /// with no timeout and costs nothing until the client leaves.
    ///
    /// A read cannot be woken but by the client, a timeout or a close, so a finished body is
    /// noticed when the read in progress returns: at once if the client sends its next request,
    /// at the next heartbeat time otherwise. `ahead` holds bytes of the next request read before
    /// the stream began (pipelined); with them, the watch does not read, and notices the end at once.
    ///
    /// With `until`, the stream is closed then if the client has not left by then: for a stream
    /// whose right to go on ends at a known time (its access token expires).
    pub fn watch(&self, heartbeat: Option<Duration>, mut ahead: Vec<u8>, until: Option<Instant>) -> Watched {
        loop {
            let left = match until.map(|until| until.saturating_duration_since(Instant::now())) {
                Some(Duration::ZERO) => break,
                left => left,
            };
            let wait = match self.look(heartbeat) {
                Look::Finished => return Watched::Finished(ahead),
                Look::Closed => break,
                Look::HeartbeatDue => {
                    if !self.send_heartbeat() {
                        break;
                    }
                    continue;
                }
                Look::Wait(wait) => wait,
            };
            // The sooner of the heartbeat's wait and the time left; `None` waits for ever.
            let wait = match (wait, left) {
                (Some(wait), Some(left)) => Some(wait.min(left)),
                (wait, left) => wait.or(left),
            };
            if !ahead.is_empty() {
                // The next request has begun: read no more of it until this body has ended, but
                // keep the heartbeats going.
                self.wait_finished_or_closed(wait);
                continue;
            }
            if !self.read_for_departure(wait, &mut ahead) {
                break;
            }
        }
        self.close();
        Watched::Closed
    }

    /// What the departure watch does next, as the stream's state says.
    fn look(&self, heartbeat: Option<Duration>) -> Look {
        let state = self.lock();
        if state.finished {
            return Look::Finished;
        }
        if state.closed {
            return Look::Closed;
        }
        let Some(interval) = heartbeat else { return Look::Wait(None) };
        match heartbeat_wait(interval, state.last_write, state.writing, Instant::now()) {
            None => Look::HeartbeatDue,
            wait => Look::Wait(wait),
        }
    }

    /// Sends a heartbeat comment; false when the write failed. Not waiting for the turn: if another
    /// thread took it meanwhile, the next look sees it writing.
    fn send_heartbeat(&self) -> bool {
        let sent = self.with_turn(false, Some(self.write_timeout), |body, mut socket| {
            body.write_all(&mut socket, HEARTBEAT_COMMENT)
        });
        !matches!(sent, Some(Err(_)))
    }

    /// Reads the socket for up to `wait` (`None`: for as long as it takes), to notice the client
    /// leave; false once it has, or the socket failed. What a persistent stream's client sends is
    /// the next request's start, kept in `ahead`; what any other client sends means nothing
    /// (clients send nothing on an event stream), and is dropped.
    fn read_for_departure(&self, wait: Option<Duration>, ahead: &mut Vec<u8>) -> bool {
        // A read that starts while a hub's flusher has the socket non-blocking would return at
        // once, and the watch would spin: switch it back first, then look at the state again.
        // (On Linux a read that has started blocking stays blocked whatever the mode becomes;
        // if a flusher switches it between this look and the read, or a woken read sees the
        // new mode, the read returns `WouldBlock`, and the next look sees the flag.)
        if self.lock().nonblocking {
            return self.make_reads_block().is_ok();
        }
        if self.socket.set_read_timeout(wait).is_err() {
            return false;
        }
        let read = if self.persistent {
            // Kept, in the heap.
            ahead.resize(WATCH_READ_BYTES, 0);
            let read = (&*self.socket).read(ahead);
            ahead.truncate(*read.as_ref().unwrap_or(&0));
            read
        } else {
            // Dropped: a small buffer, within the stack pages the thread holds anyway (an idle
            // hub client waits here for as long as it is connected).
            let mut discarded = [0u8; 256];
            (&*self.socket).read(&mut discarded)
        };
        match read {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) => is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted,
        }
    }

    /// Blocks until the stream is finished or closed, or until `timeout`.
    fn wait_finished_or_closed(&self, timeout: Option<Duration>) {
        let mut state = self.lock();
        if state.finished || state.closed {
            return;
        }
        state.waiting += 1;
        let mut state = match timeout {
            None => self.changed.wait(state).unwrap_or_else(PoisonError::into_inner),
            Some(timeout) => self.changed.wait_timeout(state, timeout).unwrap_or_else(PoisonError::into_inner).0,
        };
        state.waiting -= 1;
    }
}

/// Writes `payload` until it is all written and its chunk closed, or until the socket takes less
/// than it is offered: full, in non-blocking mode, or after its send timeout in blocking mode. When
/// a chunk a write left open is longer than `payload` (a catch-up writes the rest of a flusher's
/// chunk in slices), the whole of `payload` continues it, and the chunk stays open for the next
/// slice. A hub's bytes are encoded once for every client: they never pass through a response's
/// encoder.
fn write_until_full(body: &mut BodyWriter, mut socket: &TcpStream, payload: &[u8]) -> io::Result<Written> {
    // Invariant relied on: only a per-connection stream holds its head (`hold_head`), and only
    // a hub client's writers come here; a hub client's head went out before its first write.
    debug_assert!(body.held_head.is_empty(), "a held head would be skipped");
    let framer = &mut body.framer;
    let mut written = 0;
    while written < payload.len() || !framer.between_chunks() {
        match framer.write_some(&mut socket, &payload[written..]) {
            Ok(progress) => {
                written += progress.taken;
                // A write that stopped short of what it was offered met a full socket.
                if progress.short {
                    return Ok(Written::Partial(written));
                }
                // All of it went, with its chunk's end if the chunk ends with it: a chunk still open
                // goes on past this payload, and the next write brings the rest.
                if written == payload.len() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => return Ok(Written::Partial(written)),
            Err(e) => return Err(e),
        }
    }
    Ok(Written::All)
}

/// The send timeout for a write that may wait `wait`: `wait` rounded up to whole milliseconds (at
/// least [`MIN_SEND_TIMEOUT`]: a zero one would mean "no timeout" to the operating system). A
/// hub's waits differ by microseconds from one write to the next (the rest of its deadline, read
/// at each write), and rounded up they are the stream's write timeout itself while the client
/// keeps taking bytes: the socket keeps the timeout it has, and no write pays a system call to
/// change it. The verdict it gives is at most a millisecond late, within the kernel's own timer
/// tick.
fn send_timeout_for(wait: Duration) -> Duration {
    let millis = wait.as_nanos().div_ceil(1_000_000);
    Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX)).max(MIN_SEND_TIMEOUT)
}

/// The heartbeat rule of a per-connection stream, at `now`: `None` when a heartbeat is due (no
/// write for a whole `interval` since `last_write`, and none in progress), or else how long the
/// departure watch waits before it looks again. A write in progress (perhaps blocked on a full
/// socket) is not silence: the watch looks again a whole interval later rather than retry at once.
fn heartbeat_wait(interval: Duration, last_write: Instant, writing: bool, now: Instant) -> Option<Duration> {
    if writing {
        return Some(interval);
    }
    Some(interval.saturating_sub(now.saturating_duration_since(last_write))).filter(|left| !left.is_zero())
}

/// Ends the body (see [`BodyWriter::end`]) if a write has not stopped inside a chunk: the end
/// there would be read as the chunk's bytes.
fn end_between_chunks(body: &mut BodyWriter, socket: &TcpStream) -> io::Result<()> {
    end_after(&[], body, socket)
}

/// Like [`end_between_chunks`], with `last` (plain body bytes) written just before the end.
fn end_after(last: &[u8], body: &mut BodyWriter, mut socket: &TcpStream) -> io::Result<()> {
    if !body.framer.between_chunks() {
        return Err(io::ErrorKind::InvalidData.into());
    }
    body.end(&mut socket, last)
}

/// Takes the write turn for writes in `mode`, with the body writer (a placeholder with the same
/// framer stays behind); the caller has checked that no one holds it.
fn take_turn(state: &mut SocketState, mode: Mode) -> Turn {
    state.writing = true;
    let placeholder =
        BodyWriter { held_head: Vec::new(), encoder: None, ending: None, encoded: Vec::new(), ..state.body };
    let body = std::mem::replace(&mut state.body, placeholder);
    let turn = Turn { body, send_timeout: state.send_timeout, nonblocking: state.nonblocking };
    // Said before the switch, under the lock, so that the departure watch never starts a read it
    // believes will block while the socket may be non-blocking.
    state.nonblocking |= mode == Mode::NonBlocking;
    turn
}

fn gone() -> io::Error {
    io::ErrorKind::NotConnected.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

    /// A chunked stream whose head has gone out, and the client's end of its connection.
    fn stream() -> (Arc<StreamSocket>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let server = Arc::new(listener.accept().unwrap().0);
        let stream = StreamSocket::new(server, BodyFraming::Chunked, Duration::from_secs(10));
        stream.write_head(HEAD).unwrap();
        (Arc::new(stream), client)
    }

    /// Starts a write of more than the loopback socket buffers hold on another thread, and returns
    /// once its first bytes have reached `client` (past the head): from then on the writer holds
    /// the write turn, and keeps it until the client has read nearly all of the payload.
    fn blocked_write(
        stream: &Arc<StreamSocket>,
        client: &mut TcpStream,
    ) -> (Vec<u8>, std::thread::JoinHandle<io::Result<()>>) {
        let payload = vec![b'x'; 32 << 20];
        let writer = {
            let (stream, payload) = (Arc::clone(stream), payload.clone());
            std::thread::spawn(move || stream.write_blocking(&payload))
        };
        let mut head = [0u8; HEAD.len()];
        client.read_exact(&mut head).unwrap();
        assert_eq!(client.peek(&mut [0u8; 1]).unwrap(), 1);
        (payload, writer)
    }

    fn chunk(payload: &[u8]) -> Vec<u8> {
        [format!("{:x}\r\n", payload.len()).as_bytes(), payload, b"\r\n"].concat()
    }

    /// Waits a few microseconds short of the write timeout (a hub's deadline read at each write)
    /// give the socket the write timeout itself, which it has already: no system call per write.
    /// None is ever zero.
    #[test]
    fn send_timeouts_are_whole_milliseconds_and_never_zero() {
        let ten_seconds = Duration::from_secs(10);
        let waits = [ten_seconds, ten_seconds - Duration::from_micros(3), ten_seconds - Duration::from_micros(999)];
        assert_eq!(waits.map(send_timeout_for), [ten_seconds; 3]);
        assert_eq!(send_timeout_for(ten_seconds - Duration::from_micros(1001)), Duration::from_millis(9999));
        assert_eq!(send_timeout_for(Duration::from_micros(10)), MIN_SEND_TIMEOUT);
        assert_eq!(send_timeout_for(Duration::ZERO), MIN_SEND_TIMEOUT);
        assert_eq!(send_timeout_for(Duration::MAX), Duration::from_millis(u64::MAX), "no overflow");
    }

    /// The per-connection heartbeat rule, with time driven by hand.
    #[test]
    fn a_stream_heartbeat_is_due_after_a_whole_interval_without_a_write() {
        let (interval, second) = (Duration::from_secs(15), Duration::from_secs(1));
        let last_write = Instant::now();
        assert_eq!(heartbeat_wait(interval, last_write, false, last_write), Some(interval));
        assert_eq!(heartbeat_wait(interval, last_write, false, last_write + 10 * second), Some(5 * second));
        assert_eq!(heartbeat_wait(interval, last_write, false, last_write + interval), None, "due");
        assert_eq!(heartbeat_wait(interval, last_write, false, last_write + 60 * second), None);
        let writing = heartbeat_wait(interval, last_write, true, last_write + 60 * second);
        assert_eq!(writing, Some(interval), "a write in progress is not silence: look again later");
    }

    /// Asked for while another thread's write is blocked on a client that does not read yet, the
    /// end waits for that write and follows it, whole and once: never inside it.
    #[test]
    fn an_end_asked_for_during_a_write_follows_that_write() {
        let (stream, mut client) = stream();
        let (payload, writer) = blocked_write(&stream, &mut client);
        stream.end_soon();
        assert!(!stream.is_closed(), "the write in progress goes on");
        let mut wire = Vec::new();
        client.read_to_end(&mut wire).unwrap();
        writer.join().unwrap().unwrap();
        assert!(wire == [chunk(&payload), b"0\r\n\r\n".to_vec()].concat(), "the event, then the end");
        assert!(stream.is_closed());
        assert!(stream.write_blocking(b"late").is_err(), "nothing is written after the end");
    }

    /// With no write in progress, the end is written at once; a second request changes nothing.
    #[test]
    fn an_end_asked_for_between_writes_is_written_at_once() {
        let (stream, mut client) = stream();
        stream.write_blocking(b"data: a\n\n").unwrap();
        stream.end_soon();
        assert!(stream.is_closed());
        stream.end_soon();
        let mut wire = Vec::new();
        client.read_to_end(&mut wire).unwrap();
        assert!(wire[HEAD.len()..] == [chunk(b"data: a\n\n"), b"0\r\n\r\n".to_vec()].concat());
    }

    /// A drain's last line goes out after the write in progress and before the last chunk, as a
    /// chunk of its own; a second request for the end changes nothing.
    #[test]
    fn last_bytes_asked_for_during_a_write_follow_it_and_precede_the_end() {
        let (stream, mut client) = stream();
        let (payload, writer) = blocked_write(&stream, &mut client);
        assert!(stream.end_soon_with(b"retry: 2500\n".to_vec()), "this call asked for the end");
        assert!(!stream.end_soon_with(b"retry: 1\n".to_vec()), "the first request stands");
        let mut wire = Vec::new();
        client.read_to_end(&mut wire).unwrap();
        writer.join().unwrap().unwrap();
        let expected = [chunk(&payload), chunk(b"retry: 2500\n"), b"0\r\n\r\n".to_vec()].concat();
        assert!(wire == expected, "the event, the last line, then the end");
        assert!(!stream.end_soon_with(b"retry: 1\n".to_vec()), "a closed stream is not ended again");
    }

    /// With no write in progress, the last line and the end go out at once.
    #[test]
    fn last_bytes_asked_for_between_writes_are_written_at_once() {
        let (stream, mut client) = stream();
        stream.write_blocking(b"data: a\n\n").unwrap();
        assert!(stream.end_soon_with(b"retry: 40\n".to_vec()));
        assert!(stream.is_closed());
        let mut wire = Vec::new();
        client.read_to_end(&mut wire).unwrap();
        let expected = [chunk(b"data: a\n\n"), chunk(b"retry: 40\n"), b"0\r\n\r\n".to_vec()].concat();
        assert!(wire[HEAD.len()..] == expected);
    }

    /// A head held back leaves with the first event, in one write: the client's first read holds
    /// both. A stream that writes nothing sends it with the body's end, in one write too, or, once
    /// it has lasted, alone.
    #[test]
    fn a_held_head_leaves_with_the_first_write() {
        let first_read = |client: &mut TcpStream| {
            let mut buffer = vec![0u8; 4096];
            let n = client.read(&mut buffer).unwrap();
            buffer.truncate(n);
            buffer
        };
        let (event, end) = (&b"data: a\n\n"[..], &b"0\r\n\r\n"[..]);
        for how in ["event", "end", "lasted"] {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let server = Arc::new(listener.accept().unwrap().0);
            let stream =
                StreamSocket::with_persistence(server, BodyFraming::Chunked, Duration::from_secs(10), true, None);
            stream.hold_head(HEAD.to_vec(), b"").unwrap();
            match how {
                "event" => {
                    stream.write_blocking(event).unwrap();
                    assert_eq!(first_read(&mut client), [HEAD, &chunk(event)].concat(), "{how}");
                    assert!(stream.finish());
                    assert_eq!(first_read(&mut client), end, "{how}");
                }
                "end" => {
                    assert!(stream.finish());
                    assert_eq!(first_read(&mut client), [HEAD, end].concat(), "{how}");
                }
                _ => {
                    stream.send_held_head().unwrap();
                    assert_eq!(first_read(&mut client), HEAD, "{how}");
                    stream.write_blocking(event).unwrap();
                    assert_eq!(first_read(&mut client), chunk(event), "{how}: the head goes once");
                }
            }
        }
    }

    /// The body's first bytes (a `retry:` line) wait with the held head, framed as a chunk of
    /// their own, and all leave with the first event in one write.
    #[test]
    fn first_body_bytes_wait_with_the_held_head() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let server = Arc::new(listener.accept().unwrap().0);
        let stream = StreamSocket::with_persistence(server, BodyFraming::Chunked, Duration::from_secs(10), true, None);
        let (intro, event) = (&b"retry: 1500\n"[..], &b"data: a\n\n"[..]);
        stream.hold_head(HEAD.to_vec(), intro).unwrap();
        stream.write_blocking(event).unwrap();
        let mut buffer = vec![0u8; 4096];
        let n = client.read(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], [HEAD, &chunk(intro), &chunk(event)].concat());
    }

    /// Before its head, a response has no body to end: the connection just closes.
    #[test]
    fn an_end_before_the_head_writes_nothing() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let server = Arc::new(listener.accept().unwrap().0);
        let stream = StreamSocket::new(server, BodyFraming::Chunked, Duration::from_secs(10));
        stream.end_soon();
        assert!(stream.is_closed() && stream.write_head(HEAD).is_err());
        let mut wire = Vec::new();
        client.read_to_end(&mut wire).unwrap();
        assert!(wire.is_empty());
    }

    /// Nor are last bytes written before the head: they would be read as the response.
    #[test]
    fn last_bytes_before_the_head_are_not_written() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let server = Arc::new(listener.accept().unwrap().0);
        let stream = StreamSocket::new(server, BodyFraming::Chunked, Duration::from_secs(10));
        stream.end_soon_with(b"retry: 1\n".to_vec());
        let mut wire = Vec::new();
        client.read_to_end(&mut wire).unwrap();
        assert!(stream.is_closed() && wire.is_empty());
    }
}
