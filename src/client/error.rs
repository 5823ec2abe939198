//! Why the client could not connect or read a stream: [`ClientError`], apart from the crate's
//! [`Error`](crate::Error), which is about events and the server's streams, and into which it
//! converts.

use std::fmt;
use std::io;

use crate::http::{ResponseHeadError, UrlError};

/// A failure of the client: a URL or header it cannot use, an answer that is not an event stream,
/// or the network. [`ClientError::is_fatal`] says whether reconnecting can help.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
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
        last: Box<ClientError>,
    },
    /// An I/O operation failed; `context` says which one.
    Io {
        /// What the client was doing, e.g. "connecting to http://127.0.0.1:8122/events".
        context: String,
        /// The operating system's error.
        source: io::Error,
    },
}

impl ClientError {
    /// Whether retrying cannot help: the client gives up on these, as a browser does (a bad URL, a
    /// non-200 status, a wrong content type, a redirect loop). Network failures and garbled
    /// responses are not fatal.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, ClientError::Io { .. } | ClientError::BadResponse(_))
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> ClientError {
        ClientError::Io { context: context.into(), source }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::InvalidUrl { url, reason } => write!(f, "cannot use URL {url:?}: {reason}"),
            ClientError::TlsUnavailable { url } => {
                write!(f, "cannot open {url}: https needs a TLS connector (EventSourceBuilder::connector)")
            }
            ClientError::InvalidHeader { name } => {
                write!(f, "request header {name:?} contains a line break or is not a token")
            }
            ClientError::Status(status) => {
                write!(f, "server answered {status}; an event stream needs 200 (not retrying)")
            }
            ClientError::ContentType(found) => {
                write!(f, "server sent content type {found:?}, not text/event-stream (not retrying)")
            }
            ClientError::TooManyRedirects(count) => write!(f, "more than {count} redirects"),
            ClientError::RedirectWithoutLocation(status) => write!(f, "server answered {status} without a Location"),
            ClientError::InsecureRedirect { from, to } => {
                write!(f, "{from} redirected to {to}: refused, since it leaves https for plain http (not retrying)")
            }
            ClientError::BadResponse(error) => write!(f, "bad response from server: {error}"),
            ClientError::GaveUp { attempts: 1, last } => write!(f, "gave up after 1 failed attempt: {last}"),
            ClientError::GaveUp { attempts, last } => {
                write!(f, "gave up after {attempts} failed attempts in a row: {last}")
            }
            ClientError::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::InvalidUrl { reason, .. } => Some(reason),
            ClientError::BadResponse(error) => Some(error),
            ClientError::GaveUp { last, .. } => Some(&**last),
            ClientError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<io::Error> for ClientError {
    fn from(source: io::Error) -> ClientError {
        ClientError::io("I/O", source)
    }
}

impl From<ClientError> for io::Error {
    fn from(error: ClientError) -> io::Error {
        match error {
            ClientError::Io { source, .. } => source,
            other => io::Error::other(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn giving_up_counts_its_attempts_in_words_that_fit_the_number() {
        let last = || Box::new(ClientError::io("connecting", io::ErrorKind::ConnectionRefused.into()));
        let once = ClientError::GaveUp { attempts: 1, last: last() }.to_string();
        assert!(once.starts_with("gave up after 1 failed attempt: connecting"), "{once}");
        let thrice = ClientError::GaveUp { attempts: 3, last: last() }.to_string();
        assert!(thrice.starts_with("gave up after 3 failed attempts in a row: connecting"), "{thrice}");
    }

    /// A failure that is not an I/O one travels inside the `io::Error` whole, so that a caller can
    /// take it back out and ask it, for example, whether it is fatal.
    #[test]
    fn a_failure_converted_to_io_stays_itself_inside() {
        let io_error = io::Error::from(ClientError::Status(404));
        let inside = io_error.get_ref().and_then(|inner| inner.downcast_ref::<ClientError>());
        assert!(matches!(inside, Some(ClientError::Status(404))), "{io_error:?}");
        assert!(inside.is_some_and(ClientError::is_fatal));
    }
}
