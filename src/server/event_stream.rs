//! [`EventStream`]: one client's event stream on a connection this server owns, fed by a
//! handler's code (see the [`stream`](crate::stream) module for the whole story and an example).
//! It lives with the server because it is a view of the server's [`StreamSocket`], the single
//! owner of a streaming connection; `crate::stream` re-exports it.

use std::borrow::Borrow;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use super::StreamSocket;
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
    ///
    /// # Errors
    ///
    /// [`Error::EmptyEvent`], [`Error::InvalidField`] or [`Error::NoIdSource`] (only a hub can
    /// number an event) when the event cannot be encoded, and then nothing is sent;
    /// [`Error::ClientGone`] once the client has gone or the stream was closed.
    pub fn send(&self, event: &Event) -> Result<(), Error> {
        let bytes = event.to_bytes()?;
        self.write(&bytes)
    }

    /// Sends several events at once: all are encoded first (an invalid one sends none), then written
    /// together, so no other sender's event lands between them.
    ///
    /// # Errors
    ///
    /// Those of [`send`](Self::send), for the first event that cannot be encoded (and then none is
    /// sent), or [`Error::ClientGone`].
    pub fn send_batch(&self, events: &[Event]) -> Result<(), Error> {
        self.write(&crate::event::encode_all(events)?)
    }

    /// Sends a comment, which clients ignore.
    ///
    /// # Errors
    ///
    /// [`Error::ClientGone`] once the client has gone or the stream was closed.
    pub fn comment(&self, text: &str) -> Result<(), Error> {
        let mut bytes = Vec::new();
        crate::write_comment(&mut bytes, text)?;
        self.write(&bytes)
    }

    /// Sends each event of `events` as it comes. Returns `Ok` when the source ends, or
    /// `Err(ClientGone)` as soon as a send finds the client gone.
    ///
    /// # Errors
    ///
    /// Those of [`send`](Self::send), for the first event that fails; no event is taken from
    /// `events` after it.
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
    ///
    /// # Errors
    ///
    /// Those of [`send`](Self::send), for the first event that fails, and [`Error::ClientGone`]
    /// when the client leaves while the channel is quiet.
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
