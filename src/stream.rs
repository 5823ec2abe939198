//! Per-connection event streams: one client, fed by code of your own.
//!
//! A hub broadcasts; an [`EventStream`] talks to a single client, as the Raku event source (a stream fed
//! by a `Supply`) and every Datastar response (read the request, send a few events, close) do. A
//! handler returns [`Response::stream`](crate::server::Response::stream) and gets the client's
//! `EventStream` on the connection's thread.
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
use std::io::Write;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use crate::http::stream_response_head;
use crate::server::StreamSocket;
use crate::{Error, Event};

/// How often [`EventStream::send_receiver`] checks whether its client has left while the channel
/// is quiet: a std channel cannot wait for a message and for the client at once, and a tenth of a
/// second is quick next to a person closing a tab, and cheap next to anything else the thread does.
const RECEIVER_POLL: Duration = Duration::from_millis(100);

/// One client's event stream. Cheap to clone; every clone is the same stream, and any thread may
/// send on it. Each event (or batch) is written whole, so concurrent senders never interleave.
///
/// Once the client has gone (or the stream was closed), every send returns
/// [`Error::ClientGone`]. The client leaving is noticed at once, even while a send is blocked on
/// it or no one sends, and [`EventStream::on_close`] callbacks run then.
#[derive(Clone)]
pub struct EventStream {
    socket: Arc<StreamSocket>,
}

impl EventStream {
    /// A stream on a socket whose response head has been sent.
    pub(crate) fn new(socket: Arc<StreamSocket>) -> EventStream {
        EventStream { socket }
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

    /// Whether the stream is over: the client is gone, it was closed, or its body ended (the
    /// handler's closure returned on a connection kept for the next request).
    pub fn is_closed(&self) -> bool {
        self.socket.is_closed()
    }

    /// Blocks until the stream is over (see [`is_closed`](Self::is_closed)), or until `timeout`;
    /// returns whether it is.
    pub fn wait_closed(&self, timeout: Option<Duration>) -> bool {
        self.socket.wait_closed(timeout)
    }

    /// Runs `callback` once, when the stream closes: when the handler's closure returns or the
    /// client leaves, whichever comes first. If it is already closed, runs it now.
    pub fn on_close(&self, callback: impl FnOnce() + Send + 'static) {
        self.socket.on_close(Box::new(callback));
    }

    /// Ends the stream from the server's side, at once: the connection closes and `on_close`
    /// callbacks run. The body is ended properly (the last chunk of a chunked body) when that can
    /// be done without waiting; if another thread is sending at that moment (perhaps blocked on a
    /// client that does not read), its event is cut off and its send fails with
    /// [`Error::ClientGone`], and the client sees the connection drop, as after a network failure.
    /// To end a stream after its last event, return from the stream's closure instead: the server
    /// then ends the body properly.
    pub fn close(&self) {
        self.socket.end_now();
    }

    /// Writes bytes of the event stream, whole.
    pub(crate) fn write(&self, bytes: &[u8]) -> Result<(), Error> {
        self.socket.write_blocking(bytes).map_err(|_| {
            self.socket.close();
            Error::ClientGone
        })
    }
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").field("closed", &self.is_closed()).finish()
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
