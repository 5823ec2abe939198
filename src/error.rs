//! The crate's error type for events, the hub, the server and the Datastar SDK: one enum, a
//! variant per failure class, with `Display` messages written for the person who has to act on
//! them, and each cause kept as its `source()`. The client's failures have their own type,
//! [`ClientError`], which converts into this one (as [`Error::Client`]), as do the crate's other
//! errors, so that a program that serves and reads has one error type.

use std::fmt;
use std::io;

use crate::client::ClientError;
use crate::json::{EmptyPathSegment, JsonError};
use crate::redis::resp::RespError;
use crate::redis::{RedisError, RedisUrlError};

/// What can go wrong building, sending or serving events, or, converted from a
/// [`ClientError`], reading them: `?` works on both in one function.
///
/// ```
/// use bare_sse::{start_sse_tcp_port, Event, EventSource};
///
/// fn main() -> Result<(), bare_sse::Error> {
///     let server = start_sse_tcp_port(0)?;                                // a bare_sse::Error
///     server.send_new_event(Event::new().data("hello").with_id())?;
///     let mut events = EventSource::new(&format!("http://{}/", server.local_addr()))?; // a ClientError
///     let event = events.next().expect("a stream never ends on its own")?;
///     assert_eq!(event.data, "hello");
///     server.stop();
///     Ok(())
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A value cannot be sent as it is, and nothing was sent: an event field holds a character
    /// that would break the event-stream format (a line break in `event` or `id` would inject a
    /// second field; clients ignore an `id` with NUL), an id breaks
    /// [`check_event_id`](crate::check_event_id)'s rule or has the form of a hub's own ids, an
    /// event is larger than a Redis backplane's readers take, or a header, selector, attribute or
    /// name given to the Datastar SDK or a [`Response`](crate::Response) holds what its place
    /// cannot.
    InvalidField {
        /// The field's or value's name: `event`, `id`, `data`, `header`, `selector`, ...
        field: &'static str,
        /// What is wrong with it, in words.
        reason: &'static str,
    },
    /// Text that must be JSON is not: Datastar signals given to
    /// [`patch_signals`](crate::datastar::patch_signals) or
    /// [`signals_response`](crate::datastar::signals_response) as text, or read from a request by
    /// [`read_signals`](crate::datastar::read_signals). The [`JsonError`] (also the
    /// [`source`](std::error::Error::source)) says where and why.
    InvalidJson {
        /// Whose text it is, e.g. "the request's Datastar signals".
        context: &'static str,
        /// What is wrong with the text, and at which byte.
        source: JsonError,
    },
    /// A signal path given to [`remove_signals`](crate::datastar::remove_signals) has an empty
    /// segment (`""`, `a..b`, `.a`); the [`EmptyPathSegment`] (also the
    /// [`source`](std::error::Error::source)) holds the path.
    InvalidSignalPath(EmptyPathSegment),
    /// The event asked for the hub's next id (`Event::with_id`) but was written somewhere that has
    /// no hub to number it, such as `write_event` on a plain writer.
    NoIdSource,
    /// The event has no field at all (`Event::new()` as it is): nothing to send.
    EmptyEvent,
    /// The client of a per-connection stream has gone (or the stream was closed): nothing more can
    /// be sent on it.
    ClientGone,
    /// Settings that cannot work: a server's CORS settings that contradict each other, or a Redis
    /// stream without a name; the text says which.
    InvalidSetting(String),
    /// The URL given to [`HubBuilder::redis`](crate::HubBuilder::redis) cannot be used; the
    /// [`RedisUrlError`] (also the [`source`](std::error::Error::source)) says why.
    InvalidRedisUrl(RedisUrlError),
    /// The client failed (see [`ClientError`], also the
    /// [`source`](std::error::Error::source) of this error).
    Client(ClientError),
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
    RedisPublish {
        /// How many of the call's events Redis appended all the same: they are delivered, and
        /// [`Hub::flush`](crate::Hub::flush) waits for them.
        appended: usize,
        /// How many of the call's events may or may not have been appended: they were sent, but
        /// the connection failed or timed out before Redis said. Sending them again may deliver
        /// them twice.
        unknown: usize,
        /// What went wrong ([`RedisError::is_timeout`] says whether Redis was too slow).
        source: RedisError,
    },
    /// A Redis command outside a hub's publishing failed: the crate itself never returns this, it
    /// is what a [`RedisError`] (or a [`RespError`](crate::redis::resp::RespError)) from a
    /// program's own [`redis::Connection`](crate::redis::Connection) becomes with `?`.
    Redis(RedisError),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io { context: context.into(), source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidField { field, reason } => {
                write!(f, "invalid `{field}` field: {reason}")
            }
            Error::InvalidJson { context, source } => write!(f, "{context}: {source}"),
            Error::InvalidSignalPath(error) => write!(f, "invalid signal path: {error}"),
            Error::NoIdSource => f.write_str(
                "the event asks for the hub's next id (with_id) but is not being sent through a hub; \
                 give it an explicit id instead",
            ),
            Error::EmptyEvent => f.write_str("the event has no field (no data, event, id, retry or comment)"),
            Error::ClientGone => f.write_str("the client has gone; the stream is closed"),
            Error::InvalidSetting(problem) => write!(f, "invalid settings: {problem}"),
            Error::InvalidRedisUrl(error) => write!(f, "{error}"),
            Error::Client(error) => write!(f, "event-stream client: {error}"),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::RedisPublish { appended, unknown, source } => {
                write!(f, "publishing to Redis: {source}; ")?;
                match (appended, unknown) {
                    (0, 0) => f.write_str("nothing was appended"),
                    (appended, 0) => write!(f, "{appended} event(s) were appended all the same"),
                    (appended, unknown) => {
                        write!(f, "{appended} event(s) were appended, and {unknown} may or may not have been")
                    }
                }
            }
            Error::Redis(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::InvalidJson { source, .. } => Some(source),
            Error::InvalidSignalPath(error) => Some(error),
            Error::InvalidRedisUrl(error) => Some(error),
            Error::Client(error) => Some(error),
            Error::Io { source, .. } => Some(source),
            Error::RedisPublish { source, .. } | Error::Redis(source) => Some(source),
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
impl From<ClientError> for Error {
    fn from(error: ClientError) -> Error {
        Error::Client(error)
    }
}

/// Text that is not JSON, kept whole as the [`source`](std::error::Error::source).
impl From<JsonError> for Error {
    fn from(source: JsonError) -> Error {
        Error::InvalidJson { context: "a JSON text", source }
    }
}

/// A signal path with an empty segment, kept whole as the [`source`](std::error::Error::source).
impl From<EmptyPathSegment> for Error {
    fn from(error: EmptyPathSegment) -> Error {
        Error::InvalidSignalPath(error)
    }
}

/// A failed Redis command, kept whole as the [`source`](std::error::Error::source).
impl From<RedisError> for Error {
    fn from(error: RedisError) -> Error {
        Error::Redis(error)
    }
}

/// A Redis reply that is not RESP, kept whole (inside the [`RedisError`] it is for a connection).
impl From<RespError> for Error {
    fn from(error: RespError) -> Error {
        Error::Redis(RedisError::Protocol(error))
    }
}

/// A Redis URL that cannot be used, kept whole as the [`source`](std::error::Error::source).
impl From<RedisUrlError> for Error {
    fn from(error: RedisUrlError) -> Error {
        Error::InvalidRedisUrl(error)
    }
}

impl From<Error> for io::Error {
    fn from(error: Error) -> io::Error {
        match error {
            Error::Io { source, .. } => source,
            Error::Client(error) => error.into(),
            Error::RedisPublish { ref source, .. } | Error::Redis(ref source) => {
                let kind = if source.is_timeout() { io::ErrorKind::TimedOut } else { io::ErrorKind::Other };
                io::Error::new(kind, error)
            }
            other => io::Error::new(io::ErrorKind::InvalidInput, other),
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
        let cause = error.source().and_then(|s| s.downcast_ref::<ClientError>());
        assert!(matches!(cause, Some(ClientError::InvalidUrl { .. })), "{error:?}");
        assert!(matches!(&error, Error::Client(client) if client.is_fatal()));
        assert!(error.to_string().contains("ftp"), "{error}");
        let io_error = io::Error::from(Error::from(ClientError::from(io::Error::from(io::ErrorKind::TimedOut))));
        assert_eq!(io_error.kind(), io::ErrorKind::TimedOut, "an I/O cause stays itself through both conversions");
    }

    /// A Redis URL the hub cannot use is an error of its own, with the URL's error as its cause,
    /// not a setting's text.
    #[test]
    fn a_bad_redis_url_keeps_its_cause() {
        let error = crate::Hub::builder().redis("redis://app:s3cret@host:port", "events").unwrap_err();
        assert!(matches!(error, Error::InvalidRedisUrl(RedisUrlError::InvalidPort)), "{error:?}");
        let cause = error.source().and_then(|cause| cause.downcast_ref::<RedisUrlError>());
        assert_eq!(cause, Some(&RedisUrlError::InvalidPort));
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }

    /// JSON that does not parse converts with `?`, its position kept in the cause.
    #[test]
    fn json_errors_convert_and_stay_the_source() {
        fn read() -> Result<crate::json::Value, Error> {
            Ok(crate::json::parse("[1,]")?)
        }
        let error = read().unwrap_err();
        let cause = error.source().and_then(|cause| cause.downcast_ref::<JsonError>());
        assert_eq!(cause.map(|cause| cause.position), Some(3), "{error:?}");
        assert!(error.to_string().starts_with("a JSON text: invalid JSON at byte 3"), "{error}");
    }

    /// The crate's Redis errors convert with `?`, each kept as the cause; a timeout stays a
    /// timeout as an `io::Error`.
    #[test]
    fn redis_errors_convert_and_stay_the_source() {
        fn command() -> Result<(), Error> {
            Err(RedisError::Io(io::ErrorKind::TimedOut.into()))?
        }
        let error = command().unwrap_err();
        let cause = error.source().and_then(|cause| cause.downcast_ref::<RedisError>());
        assert!(cause.is_some_and(RedisError::is_timeout), "{error:?}");
        assert_eq!(io::Error::from(error).kind(), io::ErrorKind::TimedOut);
        fn decode() -> Result<(), Error> {
            Err(RespError::UnknownType(b'?'))?
        }
        let error = decode().unwrap_err();
        assert!(matches!(&error, Error::Redis(RedisError::Protocol(RespError::UnknownType(b'?')))), "{error:?}");
        assert!(error.to_string().contains("0x3f"), "{error}");
    }

    /// An error that is not an I/O one travels inside the `io::Error` whole, so that a caller can
    /// take it back out (`get_ref`, `into_inner`) and match on it, not only read its text.
    #[test]
    fn an_error_converted_to_io_stays_itself_inside() {
        let io_error = io::Error::from(Error::EmptyEvent);
        assert_eq!(io_error.kind(), io::ErrorKind::InvalidInput);
        let inside = io_error.get_ref().and_then(|inner| inner.downcast_ref::<Error>());
        assert!(matches!(inside, Some(Error::EmptyEvent)), "{io_error:?}");
    }
}
