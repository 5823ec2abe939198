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

use std::io::Write;

use crate::http::stream_response_head;
use crate::{Error, Event};

pub use crate::server::EventStream;

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
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the writer fails.
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
    ///
    /// # Errors
    ///
    /// Those of [`write_event`](crate::write_event).
    pub fn send(&mut self, event: &Event) -> Result<(), Error> {
        crate::write_event(&mut self.writer, event)
    }

    /// Writes and flushes a comment.
    ///
    /// # Errors
    ///
    /// Those of [`write_comment`](crate::write_comment).
    pub fn comment(&mut self, text: &str) -> Result<(), Error> {
        crate::write_comment(&mut self.writer, text)
    }

    /// Gives back the writer.
    pub fn into_inner(self) -> W {
        self.writer
    }
}
