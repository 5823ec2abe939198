//! Why the client could not connect or read a stream: apart from the crate's [`Error`](crate::Error),
//! which is about events and the server's streams.

use std::fmt;
use std::io;

use crate::http::{ResponseHeadError, UrlError};

/// A failure of the client: a URL or header it cannot use, an answer that is not an event stream,
/// or the network. [`Error::is_fatal`] says whether reconnecting can help.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A URL the client cannot use: the one given, or a redirect's `Location`.
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: UrlError,
    },
    /// An `https://` URL with no connector that speaks TLS (see
    /// [`EventSourceBuilder::connector`](super::EventSourceBuilder::connector)).
    TlsUnavailable {
        /// The URL.
        url: String,
    },
    /// A request header name or value the client refuses (a line break would inject a header).
    InvalidHeader {
        /// The header's name.
        name: String,
    },
    /// The server answered with a status other than 200 (or 204, or a redirect). As in a browser,
    /// the client does not retry.
    Status(u16),
    /// The server answered 200 with a content type other than `text/event-stream`; the client does
    /// not retry.
    ContentType(String),
    /// More redirects in a row than the client follows.
    TooManyRedirects(usize),
    /// A redirect without a `Location` header.
    RedirectWithoutLocation(u16),
    /// A redirect from `https` to plain `http`, refused: the request, and its credentials, would
    /// travel in the clear.
    InsecureRedirect {
        /// The `https` URL that answered with the redirect.
        from: String,
        /// The `http` URL it pointed to.
        to: String,
    },
    /// The response head could not be parsed.
    BadResponse(ResponseHeadError),
    /// [`EventSourceBuilder::max_attempts`](super::EventSourceBuilder::max_attempts) connection
    /// attempts in a row failed; `last` says how the last one did.
    GaveUp {
        /// Failed attempts in a row.
        attempts: u32,
        /// The last failure.
        last: Box<Error>,
    },
    /// An I/O operation failed; `context` says which one.
    Io {
        /// What the client was doing, e.g. "connecting to http://127.0.0.1:8122/events".
        context: String,
        /// The operating system's error.
        source: io::Error,
    },
}

impl Error {
    /// Whether retrying cannot help: the client gives up on these, as a browser does (a bad URL, a
    /// non-200 status, a wrong content type, a redirect loop). Network failures and garbled
    /// responses are not fatal.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, Error::Io { .. } | Error::BadResponse(_))
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io { context: context.into(), source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidUrl { url, reason } => write!(f, "cannot use URL {url:?}: {reason}"),
            Error::TlsUnavailable { url } => {
                write!(f, "cannot open {url}: https needs a TLS connector (EventSourceBuilder::connector)")
            }
            Error::InvalidHeader { name } => {
                write!(f, "request header {name:?} contains a line break or is not a token")
            }
            Error::Status(status) => {
                write!(f, "server answered {status}; an event stream needs 200 (not retrying)")
            }
            Error::ContentType(found) => {
                write!(f, "server sent content type {found:?}, not text/event-stream (not retrying)")
            }
            Error::TooManyRedirects(count) => write!(f, "more than {count} redirects"),
            Error::RedirectWithoutLocation(status) => write!(f, "server answered {status} without a Location"),
            Error::InsecureRedirect { from, to } => {
                write!(f, "{from} redirected to {to}: refused, since it leaves https for plain http (not retrying)")
            }
            Error::BadResponse(error) => write!(f, "bad response from server: {error}"),
            Error::GaveUp { attempts: 1, last } => write!(f, "gave up after 1 failed attempt: {last}"),
            Error::GaveUp { attempts, last } => write!(f, "gave up after {attempts} failed attempts in a row: {last}"),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::InvalidUrl { reason, .. } => Some(reason),
            Error::BadResponse(error) => Some(error),
            Error::GaveUp { last, .. } => Some(&**last),
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(source: io::Error) -> Error {
        Error::io("I/O", source)
    }
}

impl From<Error> for io::Error {
    fn from(error: Error) -> io::Error {
        match error {
            Error::Io { source, .. } => source,
            other => io::Error::other(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn giving_up_counts_its_attempts_in_words_that_fit_the_number() {
        let last = || Box::new(Error::io("connecting", io::ErrorKind::ConnectionRefused.into()));
        let once = Error::GaveUp { attempts: 1, last: last() }.to_string();
        assert!(once.starts_with("gave up after 1 failed attempt: connecting"), "{once}");
        let thrice = Error::GaveUp { attempts: 3, last: last() }.to_string();
        assert!(thrice.starts_with("gave up after 3 failed attempts in a row: connecting"), "{thrice}");
    }

    /// A failure that is not an I/O one travels inside the `io::Error` whole, so that a caller can
    /// take it back out and ask it, for example, whether it is fatal.
    #[test]
    fn a_failure_converted_to_io_stays_itself_inside() {
        let io_error = io::Error::from(Error::Status(404));
        let inside = io_error.get_ref().and_then(|inner| inner.downcast_ref::<Error>());
        assert!(matches!(inside, Some(Error::Status(404))), "{io_error:?}");
        assert!(inside.is_some_and(Error::is_fatal));
    }
}
