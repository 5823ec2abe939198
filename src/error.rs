//! The crate's error type for events and the server's streams: one enum, a variant per failure
//! class, with `Display` messages written for the person who has to act on them. The client's
//! failures have their own type, [`client::Error`](crate::client::Error), which converts into this
//! one (as [`Error::Client`]), so that a program that serves and reads has one error type.

use std::fmt;
use std::io;

use crate::redis::RedisError;

/// What can go wrong building, sending or serving events, or, converted from a
/// [`client::Error`](crate::client::Error), reading them: `?` works on both in one function.
///
/// ```
/// use bare_sse::{start_sse_tcp_port, Event, EventSource};
///
/// fn main() -> Result<(), bare_sse::Error> {
///     let server = start_sse_tcp_port(0)?;                                // a bare_sse::Error
///     server.send_new_event(Event::new().data("hello").with_id())?;
///     let mut events = EventSource::new(&format!("http://{}/", server.local_addr()))?; // a client::Error
///     let event = events.next().expect("a stream never ends on its own")?;
///     assert_eq!(event.data, "hello");
///     server.stop();
///     Ok(())
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An event field holds a character that would break the event-stream format, for example a
    /// line break in `event` or `id` (which would inject a second field) or a NUL in `id` (which
    /// clients ignore).
    InvalidField {
        /// The field's name on the wire: `event`, `id`, ...
        field: &'static str,
        /// What is wrong with it, in words.
        reason: &'static str,
    },
    /// The event asked for the hub's next id (`Event::with_id`) but was written somewhere that has
    /// no hub to number it, such as `write_event` on a plain writer.
    NoIdSource,
    /// The event has no field at all (`Event::new()` as it is): nothing to send.
    EmptyEvent,
    /// The client of a per-connection stream has gone (or the stream was closed): nothing more can
    /// be sent on it.
    ClientGone,
    /// Server settings that cannot work together; the text says which.
    InvalidSetting(String),
    /// The client failed (see [`client::Error`](crate::client::Error), also the
    /// [`source`](std::error::Error::source) of this error).
    Client(crate::client::Error),
    /// An I/O operation failed; `context` says which one.
    Io {
        /// What bare-sse was doing, e.g. "binding 127.0.0.1:8122".
        context: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// Publishing on a hub backed by Redis ([`HubBuilder::redis`](crate::HubBuilder::redis))
    /// failed: Redis could not be reached, refused, or did not answer in time. `appended` and
    /// `unknown` say what became of the call's events, so that a retry resends only what needs it.
    Redis {
        /// What bare-sse was doing, e.g. "publishing to Redis".
        context: String,
        /// How many of the call's events Redis appended all the same: they are delivered, and
        /// [`Hub::flush`](crate::Hub::flush) waits for them.
        appended: usize,
        /// How many of the call's events may or may not have been appended: they were sent, but
        /// the connection failed or timed out before Redis said. Sending them again may deliver
        /// them twice.
        unknown: usize,
        /// What went wrong.
        source: RedisError,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io { context: context.into(), source }
    }
}

/// Where the hub looks for it: it lives with the socket helpers.
pub(crate) use crate::net::is_timeout;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidField { field, reason } => {
                write!(f, "invalid `{field}` field: {reason}")
            }
            Error::NoIdSource => f.write_str(
                "the event asks for the hub's next id (with_id) but is not being sent through a hub; \
                 give it an explicit id instead",
            ),
            Error::EmptyEvent => f.write_str("the event has no field (no data, event, id, retry or comment)"),
            Error::ClientGone => f.write_str("the client has gone; the stream is closed"),
            Error::InvalidSetting(problem) => write!(f, "invalid server settings: {problem}"),
            Error::Client(error) => write!(f, "event-stream client: {error}"),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Redis { context, appended, unknown, source } => {
                write!(f, "{context}: {source}; ")?;
                match (appended, unknown) {
                    (0, 0) => f.write_str("nothing was appended"),
                    (appended, 0) => write!(f, "{appended} event(s) were appended all the same"),
                    (appended, unknown) => {
                        write!(f, "{appended} event(s) were appended, and {unknown} may or may not have been")
                    }
                }
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Client(error) => Some(error),
            Error::Io { source, .. } => Some(source),
            Error::Redis { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(source: io::Error) -> Error {
        Error::io("I/O", source)
    }
}

/// The client's error, kept whole as the [`source`](std::error::Error::source).
impl From<crate::client::Error> for Error {
    fn from(error: crate::client::Error) -> Error {
        Error::Client(error)
    }
}

impl From<Error> for io::Error {
    fn from(error: Error) -> io::Error {
        match error {
            Error::Io { source, .. } => source,
            Error::Client(error) => error.into(),
            Error::Redis { ref source, .. } => {
                let kind = if source.is_timeout() { io::ErrorKind::TimedOut } else { io::ErrorKind::Other };
                io::Error::new(kind, error)
            }
            other => io::Error::new(io::ErrorKind::InvalidInput, other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn a_client_error_converts_and_stays_the_source() {
        fn read() -> Result<(), Error> {
            crate::client::EventSource::new("ftp://example.com/")?;
            Ok(())
        }
        let error = read().unwrap_err();
        let cause = error.source().and_then(|s| s.downcast_ref::<crate::client::Error>());
        assert!(matches!(cause, Some(crate::client::Error::InvalidUrl { .. })), "{error:?}");
        assert!(matches!(&error, Error::Client(client) if client.is_fatal()));
        assert!(error.to_string().contains("ftp"), "{error}");
        let io_error =
            io::Error::from(Error::from(crate::client::Error::from(io::Error::from(io::ErrorKind::TimedOut))));
        assert_eq!(io_error.kind(), io::ErrorKind::TimedOut, "an I/O cause stays itself through both conversions");
    }
}
