//! Per-connection event streams: one client, fed by code of your own.
//!
//! A hub broadcasts; a [`Stream`] talks to a single client, as the Raku event source (a stream fed
//! by a `Supply`) and every Datastar response (read the request, send a few events, close) do. A
//! handler returns [`Response::stream`](crate::server::Response::stream) and gets the client's
//! `Stream` on the connection's thread.
//!
//! ```
//! use bare_sse::server::{Request, Response};
//! use bare_sse::{Event, Server};
//!
//! let server = Server::builder()
//!     .route("/count", |_: &Request| {
//!         Response::stream(|stream| {
//!             stream.on_close(|| println!("client gone"));
//!             let events = (1..=3).map(|i| Event::new().data(i.to_string()));
//!             let _ = stream.send_iter(events); // ends early if the client leaves
//!         })
//!     })
//!     .start()?;
//! # server.stop();
//! # Ok::<(), bare_sse::Error>(())
//! ```
//!
//! [`EventWriter`] is the same for a response whose connection another HTTP server owns: it writes
//! the stream head and then events to any `io::Write`.

use std::borrow::Borrow;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::error::is_timeout;
use crate::http::stream_response_head;
use crate::{Error, Event};

/// How often a stream fed from a channel checks whether its client has left while the channel is
/// quiet.
const RECEIVER_POLL: Duration = Duration::from_millis(100);

/// One client's event stream. Cheap to clone; every clone is the same stream, and any thread may
/// send on it. Each event (or batch) is written whole, so concurrent senders never interleave.
///
/// Once the client has gone (or the stream was closed), every send returns
/// [`Error::ClientGone`]; the client leaving is noticed within about a second even while no one
/// sends, and [`Stream::on_close`] callbacks run then.
#[derive(Clone)]
pub struct Stream {
    inner: Arc<Inner>,
}

struct Inner {
    socket: Arc<TcpStream>,
    /// Each write is framed as a chunk of a `Transfer-Encoding: chunked` body (keep-alive
    /// responses); otherwise the body ends when the connection closes.
    chunked: bool,
    /// Held while writing, so events never interleave; holds the time of the last write.
    writing: Mutex<Instant>,
    close: Mutex<CloseState>,
    closed_signal: Condvar,
}

#[derive(Default)]
struct CloseState {
    closed: bool,
    callbacks: Vec<Box<dyn FnOnce() + Send>>,
}

impl Stream {
    /// A stream on a socket whose response head has been sent. The socket's write timeout bounds
    /// how long a send may wait on a client that does not read.
    pub(crate) fn open(socket: Arc<TcpStream>, chunked: bool) -> Stream {
        Stream {
            inner: Arc::new(Inner {
                socket,
                chunked,
                writing: Mutex::new(Instant::now()),
                close: Mutex::new(CloseState::default()),
                closed_signal: Condvar::new(),
            }),
        }
    }

    /// Sends one event. Fails on an invalid field (nothing is sent) or once the client is gone.
    pub fn send(&self, event: &Event) -> Result<(), Error> {
        let bytes = event.to_bytes()?;
        self.write(&bytes)
    }

    /// Sends several events at once: all are encoded first (an invalid one sends none), then written
    /// together, so no other sender's event lands between them.
    pub fn send_batch(&self, events: &[Event]) -> Result<(), Error> {
        let mut bytes = Vec::new();
        for event in events {
            bytes.extend_from_slice(&event.to_bytes()?);
        }
        self.write(&bytes)
    }

    /// Sends a comment, which clients ignore.
    pub fn comment(&self, text: &str) -> Result<(), Error> {
        let mut bytes = Vec::new();
        crate::write_comment(&mut bytes, text)?;
        self.write(&bytes)
    }

    /// Sends each event of `events` as it comes. Returns `Ok` when the source ends, or
    /// `Err(ClientGone)` as soon as a send finds the client gone.
    pub fn send_iter<I>(&self, events: I) -> Result<(), Error>
    where
        I: IntoIterator,
        I::Item: Borrow<Event>,
    {
        events.into_iter().try_for_each(|event| self.send(event.borrow()))
    }

    /// Sends each event received on `receiver` as it comes (the Raku `Supply`). Returns `Ok` when
    /// every sender has hung up, or `Err(ClientGone)` when the client leaves, noticed within about
    /// 100 ms even while the channel is quiet.
    pub fn send_receiver(&self, receiver: &Receiver<Event>) -> Result<(), Error> {
        loop {
            match receiver.recv_timeout(RECEIVER_POLL) {
                Ok(event) => self.send(&event)?,
                Err(RecvTimeoutError::Timeout) if self.is_closed() => return Err(Error::ClientGone),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
        }
    }

    /// Whether the client is gone or the stream was closed.
    pub fn is_closed(&self) -> bool {
        self.close_state().closed
    }

    /// Blocks until the stream closes, or until `timeout`; returns whether it closed.
    pub fn wait_closed(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut state = self.close_state();
        while !state.closed {
            state = match deadline {
                None => self.inner.closed_signal.wait(state).unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    self.inner.closed_signal.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0
                }
            };
        }
        true
    }

    /// Runs `callback` once, when the stream closes: when the handler's closure returns or the
    /// client leaves, whichever comes first. If it is already closed, runs it now.
    pub fn on_close(&self, callback: impl FnOnce() + Send + 'static) {
        let mut state = self.close_state();
        if state.closed {
            drop(state);
            callback();
        } else {
            state.callbacks.push(Box::new(callback));
        }
    }

    /// Ends the stream from the server's side: the body is ended properly (the last chunk of a
    /// chunked body), the connection closes, and `on_close` callbacks run.
    pub fn close(&self) {
        if self.inner.chunked {
            let _last_write = self.inner.writing.lock().unwrap_or_else(PoisonError::into_inner);
            if !self.is_closed() {
                let _ = (&*self.inner.socket).write_all(b"0\r\n\r\n");
            }
        }
        self.drop_client();
    }

    /// Closes the connection without ending the body: the client is gone or broken.
    fn drop_client(&self) {
        let _ = self.inner.socket.shutdown(Shutdown::Both);
        self.mark_closed();
    }

    /// Writes bytes of the event stream, whole, framed as a chunk when the body is chunked.
    pub(crate) fn write(&self, bytes: &[u8]) -> Result<(), Error> {
        let framed;
        let bytes = if self.inner.chunked {
            framed = [format!("{:x}\r\n", bytes.len()).as_bytes(), bytes, b"\r\n"].concat();
            &framed[..]
        } else {
            bytes
        };
        let mut last_write = self.inner.writing.lock().unwrap_or_else(PoisonError::into_inner);
        if self.is_closed() {
            return Err(Error::ClientGone);
        }
        if (&*self.inner.socket).write_all(bytes).is_err() {
            drop(last_write);
            self.drop_client();
            return Err(Error::ClientGone);
        }
        *last_write = Instant::now();
        Ok(())
    }

    fn close_state(&self) -> MutexGuard<'_, CloseState> {
        self.inner.close.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn mark_closed(&self) {
        let callbacks = {
            let mut state = self.close_state();
            if state.closed {
                return;
            }
            state.closed = true;
            std::mem::take(&mut state.callbacks)
        };
        self.inner.closed_signal.notify_all();
        for callback in callbacks {
            callback();
        }
    }

    /// Watches the client's side until the stream closes: a read that returns means the client
    /// left (clients send nothing on a stream). Sends a heartbeat after `heartbeat` of silence.
    /// Runs on a thread of its own beside the handler's closure.
    pub(crate) fn watch(&self, heartbeat: Option<Duration>) {
        let poll = heartbeat.unwrap_or(Duration::from_secs(3600));
        let mut discarded = [0u8; 256];
        while !self.is_closed() {
            let since_write = self.inner.writing.lock().unwrap_or_else(PoisonError::into_inner).elapsed();
            if heartbeat.is_some_and(|interval| since_write >= interval) {
                let _ = self.comment("keep-alive");
                continue;
            }
            let wait = poll.saturating_sub(since_write).max(Duration::from_millis(1));
            if self.inner.socket.set_read_timeout(Some(wait)).is_err() {
                break;
            }
            match (&*self.inner.socket).read(&mut discarded) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        self.drop_client();
    }
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream").field("closed", &self.is_closed()).finish()
    }
}

/// Writes an event stream to any `io::Write`, for a connection that another HTTP server owns.
///
/// ```
/// use bare_sse::stream::EventWriter;
/// use bare_sse::Event;
///
/// let mut out = Vec::new();
/// let mut writer = EventWriter::start(&mut out, &[("Access-Control-Allow-Origin", "*")]).unwrap();
/// writer.send(&Event::new().data("hi")).unwrap();
/// let text = String::from_utf8(out).unwrap();
/// assert!(text.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream"));
/// assert!(text.ends_with("\r\n\r\ndata: hi\n\n"));
/// ```
#[derive(Debug)]
pub struct EventWriter<W: Write> {
    writer: W,
}

impl<W: Write> EventWriter<W> {
    /// Writes the `200` stream head (with `extra_headers`) and returns a writer for the events.
    pub fn start(mut writer: W, extra_headers: &[(&str, &str)]) -> Result<EventWriter<W>, Error> {
        let head = stream_response_head(extra_headers);
        writer.write_all(&head).and_then(|()| writer.flush()).map_err(|e| Error::io("writing the stream head", e))?;
        Ok(EventWriter { writer })
    }

    /// Writes events to a response whose head the server framework sends itself.
    pub fn without_head(writer: W) -> EventWriter<W> {
        EventWriter { writer }
    }

    /// Writes and flushes one event.
    pub fn send(&mut self, event: &Event) -> Result<(), Error> {
        crate::write_event(&mut self.writer, event)
    }

    /// Writes and flushes a comment.
    pub fn comment(&mut self, text: &str) -> Result<(), Error> {
        crate::write_comment(&mut self.writer, text)
    }

    /// Gives back the writer.
    pub fn into_inner(self) -> W {
        self.writer
    }
}
