//! A blocking client that behaves like a browser's `EventSource`: an iterator of events that
//! reconnects on its own and resumes with `Last-Event-ID`.
//!
//! ```no_run
//! use bare_sse::client::EventSource;
//!
//! for event in EventSource::new("http://127.0.0.1:8122/events")? {
//!     let event = event?; // only a failure that retrying cannot mend ends the loop
//!     println!("{}: {}", event.event, event.data);
//! }
//! # Ok::<(), bare_sse::ClientError>(())
//! ```
//!
//! What it does, as a browser does:
//! - sends `Accept: text/event-stream`, `Cache-Control: no-cache`, and `Last-Event-ID` when it
//!   has a last event id;
//! - when the stream ends or breaks, or a connection attempt fails, waits the reconnection time
//!   (the server's `retry:`, 3 s by default) and reconnects, inside the iterator; while attempts
//!   keep failing the wait doubles, up to [`EventSourceBuilder::max_backoff`], and every wait gets
//!   up to 25% random jitter so that many clients do not come back at the same instant;
//! - stops for good on `204 No Content` (the iterator ends), and on any other status than 200, or
//!   a content type other than `text/event-stream`: those end the iterator with an error (one
//!   that [`ClientError::is_fatal`] says will not go away by retrying);
//! - follows redirects (up to [`EventSourceBuilder::max_redirects`]), without the credentials
//!   once a redirect leads to another origin (see [`EventSourceBuilder::sensitive_header`]), and
//!   never from `https` to plain `http` ([`ClientError::InsecureRedirect`]);
//! - reads close-delimited, length-delimited and chunked bodies.
//!
//! Iterating the client itself yields events, and only fatal errors:
//! [`EventSourceBuilder::max_attempts`] turns a run of failed attempts into one
//! ([`ClientError::GaveUp`]). [`EventSource::items`] yields everything else too, as [`Item`]s: the
//! connection opening, each failed attempt before the client retries it, and, with
//! [`EventSourceBuilder::comments`], comment lines. [`EventSource::ready_state`] says whether it
//! is connecting, open or closed.
//!
//! **HTTPS**: the client speaks plain HTTP over `std::net::TcpStream`, since TLS needs a
//! dependency. Plug a TLS crate in with [`EventSourceBuilder::connector`]: a function that opens a
//! [`Connection`] for a URL.

mod connect;
mod error;

use std::io;
use std::sync::Arc;
use std::time::Duration;

pub use connect::{Connection, Connector, ReadWrite};
use connect::{Events, Opened};
pub use error::ClientError;

use crate::backoff::Backoff;
use crate::http::{is_valid_header, Url};
use crate::net::Stop;
use crate::parse::Received;
use crate::MessageEvent;

/// Wait before reconnecting, until the server sets one with `retry:`.
pub const DEFAULT_RETRY: Duration = Duration::from_secs(3);
/// Longest wait between reconnection attempts, by default.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Time allowed to connect and receive the response head, by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Redirects followed in a row, by default.
pub const DEFAULT_MAX_REDIRECTS: usize = 5;
/// Shortest wait before reconnecting, whatever the server's `retry:` says: a server that sends
/// `retry: 0` and closes would otherwise be reconnected to in a tight loop.
pub const MIN_RECONNECT_WAIT: Duration = Duration::from_millis(100);
/// Longest wait before reconnecting, whatever the server's `retry:` says: a day.
pub const MAX_RECONNECT_WAIT: Duration = Duration::from_secs(24 * 60 * 60);
/// Request headers that carry credentials, in lower case: like those marked with
/// [`EventSourceBuilder::sensitive_header`], they are not sent on after a redirect to another
/// origin.
pub const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

/// Settings for an [`EventSource`].
pub struct EventSourceBuilder {
    url: String,
    config: Config,
}

/// A header the client sends with every request.
struct RequestHeader {
    name: String,
    value: String,
    /// Sent only to the origin of the URL the client was given: dropped for the rest of a
    /// redirect chain once it reaches another origin.
    sensitive: bool,
}

/// Everything a connection attempt needs.
struct Config {
    url: Url,
    method: String,
    body: Option<Vec<u8>>,
    headers: Vec<RequestHeader>,
    last_event_id: String,
    connect_timeout: Duration,
    read_timeout: Option<Duration>,
    retry: Duration,
    max_backoff: Duration,
    max_redirects: usize,
    max_event_bytes: usize,
    max_attempts: Option<u32>,
    comments: bool,
    connector: Option<Connector>,
}

impl EventSourceBuilder {
    /// Adds a request header, sent on every connection. Credentials (`Authorization`, `Cookie`,
    /// `Proxy-Authorization`: [`CREDENTIAL_HEADERS`]) are sent only to the origin of the URL
    /// given, as [`sensitive_header`](Self::sensitive_header) says.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> EventSourceBuilder {
        let name = name.into();
        let sensitive = CREDENTIAL_HEADERS.iter().any(|credential| name.eq_ignore_ascii_case(credential));
        self.config.headers.push(RequestHeader { name, value: value.into(), sensitive });
        self
    }

    /// Adds a request header that holds a secret (an API key, a token of your own), sent only to
    /// the origin of the URL given (its scheme, host and port), as browsers treat
    /// `Authorization`: a redirect to another origin drops it for the rest of that redirect chain,
    /// even if a later redirect comes back. The next connection starts from the URL given again,
    /// and carries it.
    pub fn sensitive_header(mut self, name: impl Into<String>, value: impl Into<String>) -> EventSourceBuilder {
        self.config.headers.push(RequestHeader { name: name.into(), value: value.into(), sensitive: true });
        self
    }

    /// Starts as if an event with this id had been received: the first request already carries
    /// `Last-Event-ID`.
    pub fn last_event_id(mut self, id: impl Into<String>) -> EventSourceBuilder {
        self.config.last_event_id = id.into();
        self
    }

    /// Sends a `POST` with this body instead of a `GET` (Datastar clients do). Set its
    /// `Content-Type` with [`header`](Self::header).
    pub fn post(mut self, body: impl Into<Vec<u8>>) -> EventSourceBuilder {
        self.config.method = "POST".to_string();
        self.config.body = Some(body.into());
        self
    }

    /// Time allowed to connect (to whichever address of the host answers, in all), and then again
    /// to receive the whole response head (default [`DEFAULT_CONNECT_TIMEOUT`]; kept between 1 ms
    /// and [`MAX_RECONNECT_WAIT`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> EventSourceBuilder {
        self.config.connect_timeout = timeout.clamp(Duration::from_millis(1), MAX_RECONNECT_WAIT);
        self
    }

    /// Reconnects when the stream stays silent this long (default: never, as browsers). Set it a
    /// little above the server's heartbeat interval to notice dead connections.
    pub fn read_timeout(mut self, timeout: Option<Duration>) -> EventSourceBuilder {
        self.config.read_timeout = timeout.map(|t| t.max(Duration::from_millis(1)));
        self
    }

    /// The reconnection time until the server sends `retry:` (default [`DEFAULT_RETRY`]).
    pub fn retry(mut self, wait: Duration) -> EventSourceBuilder {
        self.config.retry = wait;
        self
    }

    /// Longest wait while reconnection keeps failing (default [`DEFAULT_MAX_BACKOFF`]).
    pub fn max_backoff(mut self, wait: Duration) -> EventSourceBuilder {
        self.config.max_backoff = wait;
        self
    }

    /// Largest event, and longest line, accepted from the server (default
    /// [`DEFAULT_MAX_EVENT_BYTES`](crate::parse::DEFAULT_MAX_EVENT_BYTES)); a bigger one drops the
    /// connection, which then reconnects.
    pub fn max_event_bytes(mut self, bytes: usize) -> EventSourceBuilder {
        self.config.max_event_bytes = bytes;
        self
    }

    /// Gives up after this many connection attempts in a row have failed (default: never, as a
    /// browser): the iterator then ends with [`ClientError::GaveUp`]. A connection that ends before
    /// any event counts as failed.
    pub fn max_attempts(mut self, attempts: u32) -> EventSourceBuilder {
        self.config.max_attempts = Some(attempts.max(1));
        self
    }

    /// Also yields comment lines (heartbeats, for example) from [`EventSource::items`], as
    /// [`Item::Comment`] (default: dropped, as a browser drops them).
    pub fn comments(mut self, keep: bool) -> EventSourceBuilder {
        self.config.comments = keep;
        self
    }

    /// Redirects followed in a row before giving up (default [`DEFAULT_MAX_REDIRECTS`]).
    pub fn max_redirects(mut self, count: usize) -> EventSourceBuilder {
        self.config.max_redirects = count;
        self
    }

    /// Opens connections with this function instead of plain TCP: the way to add TLS.
    pub fn connector(
        mut self,
        connector: impl Fn(&Url, Duration) -> std::io::Result<Connection> + Send + Sync + 'static,
    ) -> EventSourceBuilder {
        self.config.connector = Some(Arc::new(connector));
        self
    }

    /// Checks the settings. Nothing connects until the first event is asked for.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidUrl`] when the URL is not an absolute `http` or `https` URL, or
    /// carries user info; [`ClientError::InvalidHeader`] when a header's name is not a token, or a
    /// header's value or the last event id holds CR, LF or NUL. Failures to connect or read come
    /// later, from the iterator.
    pub fn build(mut self) -> Result<EventSource, ClientError> {
        self.config.url =
            Url::parse(&self.url).map_err(|reason| ClientError::InvalidUrl { url: self.url.clone(), reason })?;
        if let Some(header) = self.config.headers.iter().find(|h| !is_valid_header(&h.name, &h.value)) {
            return Err(ClientError::InvalidHeader { name: header.name.clone() });
        }
        if self.config.last_event_id.contains(['\r', '\n', '\0']) {
            return Err(ClientError::InvalidHeader { name: "Last-Event-ID".to_string() });
        }
        Ok(EventSource {
            last_event_id: self.config.last_event_id.clone(),
            retry: self.config.retry,
            config: self.config,
            events: None,
            attempts: 0,
            backoff: Backoff::new(),
            failed_attempts: 0,
            delivered: false,
            finished: false,
            closing: Arc::new(Stop::default()),
        })
    }
}

/// A reconnecting event-stream client: iterate it for events. See the module docs.
pub struct EventSource {
    config: Config,
    last_event_id: String,
    retry: Duration,
    events: Option<Box<Events>>,
    /// Connection attempts made so far.
    attempts: u64,
    /// Failures in a row (a stream's end counts), and the reconnection wait they call for.
    backoff: Backoff,
    /// Connection attempts in a row that failed or delivered no event: what `max_attempts` counts.
    failed_attempts: u32,
    /// The current connection has delivered an event: its end is then no failed attempt.
    delivered: bool,
    /// A 204 or a fatal error ended the stream for good.
    finished: bool,
    /// Reaches the current connection's socket and a reconnection wait, from a [`CloseHandle`].
    closing: Arc<Stop>,
}

/// Closes an [`EventSource`] from another thread.
#[derive(Clone)]
pub struct CloseHandle {
    closing: Arc<Stop>,
}

impl CloseHandle {
    /// Ends the stream: a blocked read returns, a reconnection wait ends, and the iterator yields
    /// `None` from then on.
    pub fn close(&self) {
        self.closing.stop();
    }
}

impl EventSource {
    /// A client for `url` with default settings.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidUrl`] when the URL is not an absolute `http` or `https` URL, or
    /// carries user info. Failures to connect or read come later, from the iterator.
    pub fn new(url: &str) -> Result<EventSource, ClientError> {
        EventSource::builder(url).build()
    }

    /// Settings for a client of `url`.
    pub fn builder(url: &str) -> EventSourceBuilder {
        EventSourceBuilder {
            url: url.to_string(),
            config: Config {
                url: Url { scheme: String::new(), host: String::new(), port: 0, target: String::new() },
                method: "GET".to_string(),
                body: None,
                headers: Vec::new(),
                last_event_id: String::new(),
                connect_timeout: DEFAULT_CONNECT_TIMEOUT,
                read_timeout: None,
                retry: DEFAULT_RETRY,
                max_backoff: DEFAULT_MAX_BACKOFF,
                max_redirects: DEFAULT_MAX_REDIRECTS,
                max_event_bytes: crate::parse::DEFAULT_MAX_EVENT_BYTES,
                max_attempts: None,
                comments: false,
                connector: None,
            },
        }
    }

    /// The last event id received: what the next reconnection sends as `Last-Event-ID`.
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// The current reconnection time (the server's last `retry:`, or the default).
    pub fn retry(&self) -> Duration {
        self.retry
    }

    /// A handle that closes this client from another thread.
    pub fn close_handle(&self) -> CloseHandle {
        CloseHandle { closing: Arc::clone(&self.closing) }
    }

    /// Closes the client.
    pub fn close(&self) {
        self.close_handle().close();
    }

    /// How long to wait before the next attempt: the reconnection time (kept between
    /// [`MIN_RECONNECT_WAIT`] and [`MAX_RECONNECT_WAIT`]), doubled per failure in a row up to the
    /// cap, plus up to 25% jitter (the crate's one backoff policy). A connection that ended before
    /// any event counts as a failure.
    fn reconnect_wait(&mut self) -> Duration {
        let retry = self.retry.clamp(MIN_RECONNECT_WAIT, MAX_RECONNECT_WAIT);
        self.backoff.wait(retry, self.config.max_backoff)
    }

    /// Takes the state a finished connection leaves behind: its last id and retry.
    fn end_connection(&mut self) {
        if let Some(events) = self.events.take() {
            self.absorb(&events);
        }
    }

    fn absorb(&mut self, events: &Events) {
        events.parser().last_event_id().clone_into(&mut self.last_event_id);
        if let Some(retry) = events.parser().retry() {
            self.retry = retry;
        }
    }

    fn connect(&mut self) -> Option<Result<(), ClientError>> {
        if self.attempts > 0 {
            let wait = self.reconnect_wait();
            if self.closing.sleep(wait) {
                return None;
            }
        }
        self.attempts += 1;
        match connect::open(&self.config, &self.closing, &self.last_event_id) {
            Ok(Opened::Stream(events)) => {
                self.events = Some(events);
                Some(Ok(()))
            }
            Ok(Opened::NoContent) => {
                self.finished = true;
                None
            }
            Err(error) => {
                self.finished = error.is_fatal();
                Some(Err(error))
            }
        }
    }
}

/// One thing that happened on an [`EventSource`], from [`EventSource::items`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Item {
    /// A connection opened: the server answered `200` with an event stream.
    Open,
    /// An event.
    Event(MessageEvent),
    /// A comment line, with [`EventSourceBuilder::comments`].
    Comment(String),
    /// A connection attempt failed, or a stream ended or broke; the client waits and tries again.
    /// `attempt` counts the failures in a row.
    Retrying {
        /// What went wrong.
        error: ClientError,
        /// Failures in a row, this one included.
        attempt: u32,
    },
}

/// Where an [`EventSource`] is, as a browser's `readyState` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadyState {
    /// Connecting, or waiting to reconnect.
    Connecting,
    /// A stream is open.
    Open,
    /// Closed for good: by [`EventSource::close`], a `204`, or a fatal error.
    Closed,
}

impl EventSource {
    /// Where the client is: connecting, open, or closed for good.
    pub fn ready_state(&self) -> ReadyState {
        if self.finished || self.closing.is_stopped() {
            ReadyState::Closed
        } else if self.events.is_some() {
            ReadyState::Open
        } else {
            ReadyState::Connecting
        }
    }

    /// Everything that happens, as [`Item`]s: each connection opening, each event, each failure
    /// the client is about to retry, and (when asked) comments. Ends like the client itself: with
    /// `None` when closed or on `204`, after an `Err` for a fatal failure.
    pub fn items(&mut self) -> Items<'_> {
        Items { source: self }
    }

    fn next_item(&mut self) -> Option<Result<Item, ClientError>> {
        if self.finished || self.closing.is_stopped() {
            self.end_connection();
            return None;
        }
        let Some(events) = self.events.as_mut() else {
            return match self.connect()? {
                Ok(()) => {
                    self.delivered = false;
                    Some(Ok(Item::Open))
                }
                Err(error) if error.is_fatal() => Some(Err(error)),
                // A close during the attempt cut it short: the end asked for, not a failure.
                Err(_) if self.closing.is_stopped() => None,
                Err(error) => Some(self.retrying(error, true)),
            };
        };
        let outcome = events.next_received();
        if let Some(retry) = events.parser().retry() {
            self.retry = retry;
        }
        if !matches!(outcome, Ok(Some(_))) && self.closing.is_stopped() {
            // The close cut the read short (the body seems to end, a chunked one inside its
            // framing): that is the end the program asked for, not a failure to report or retry.
            self.end_connection();
            return None;
        }
        let ended = match outcome {
            Ok(Some(Received::Event(event))) => {
                // Only a stream that delivers ends a run of failures: one that the server closes
                // at once, again and again, is backed off like a refused connection.
                self.backoff.succeeded();
                self.failed_attempts = 0;
                self.delivered = true;
                self.last_event_id.clone_from(&event.last_event_id);
                return Some(Ok(Item::Event(event)));
            }
            Ok(Some(Received::Comment(text))) => return Some(Ok(Item::Comment(text))),
            Ok(None) => io::Error::new(io::ErrorKind::UnexpectedEof, "the server ended the stream"),
            Err(error) => error,
        };
        // The stream ended or broke (a timeout counts): reconnect; the parser dropped any
        // half-received event. A connection that delivered an event is no failed attempt, though
        // the next one still waits the retry.
        self.end_connection();
        Some(self.retrying(ClientError::io("reading the stream", ended), !self.delivered))
    }

    /// A failure the client will retry, or, when it is a failed attempt past
    /// [`EventSourceBuilder::max_attempts`], the end.
    fn retrying(&mut self, error: ClientError, failed_attempt: bool) -> Result<Item, ClientError> {
        self.backoff.failed();
        self.failed_attempts += u32::from(failed_attempt);
        if self.config.max_attempts.is_some_and(|max| self.failed_attempts >= max) {
            self.finished = true;
            return Err(ClientError::GaveUp { attempts: self.failed_attempts, last: Box::new(error) });
        }
        Ok(Item::Retrying { error, attempt: self.backoff.failures() })
    }
}

/// The iterator of [`EventSource::items`].
pub struct Items<'a> {
    source: &'a mut EventSource,
}

impl Iterator for Items<'_> {
    type Item = Result<Item, ClientError>;

    fn next(&mut self) -> Option<Result<Item, ClientError>> {
        self.source.next_item()
    }
}

/// Events, and only fatal errors: failures that retrying can mend are retried inside.
impl Iterator for EventSource {
    type Item = Result<MessageEvent, ClientError>;

    fn next(&mut self) -> Option<Result<MessageEvent, ClientError>> {
        loop {
            match self.next_item()? {
                Ok(Item::Event(event)) => return Some(Ok(event)),
                Ok(_) => {}
                Err(error) => return Some(Err(error)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_while_failing_and_are_capped_with_jitter() {
        let mut source = EventSource::builder("http://127.0.0.1:1/")
            .retry(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(700))
            .build()
            .unwrap();
        let mut waits = vec![source.reconnect_wait()];
        for _ in 1..6 {
            source.backoff.failed();
            waits.push(source.reconnect_wait());
        }
        let base = [100, 100, 200, 400, 700, 700];
        for (wait, base) in waits.iter().zip(base) {
            let base = Duration::from_millis(base);
            assert!(*wait >= base && *wait <= base.mul_f64(1.25), "{wait:?} vs {base:?}");
        }
    }

    #[test]
    fn a_servers_retry_is_kept_between_the_floor_and_a_day() {
        let mut source = EventSource::builder("http://127.0.0.1:1/").build().unwrap();
        source.retry = Duration::ZERO;
        let floor = source.reconnect_wait();
        assert!(floor >= MIN_RECONNECT_WAIT && floor <= MIN_RECONNECT_WAIT.mul_f64(1.25), "{floor:?}");
        source.retry = Duration::from_millis(u64::MAX);
        for _ in 0..30 {
            source.backoff.failed();
        }
        let ceiling = source.reconnect_wait();
        assert!(
            ceiling >= MAX_RECONNECT_WAIT && ceiling <= MAX_RECONNECT_WAIT.mul_f64(1.25),
            "no overflow: {ceiling:?}"
        );
    }

    #[test]
    fn bad_settings_are_refused_at_build() {
        assert!(matches!(EventSource::new("ftp://x/"), Err(ClientError::InvalidUrl { .. })));
        let injected = EventSource::builder("http://x/").header("X", "a\r\nEvil: 1").build();
        assert!(matches!(injected, Err(ClientError::InvalidHeader { .. })));
        let bad_name = EventSource::builder("http://x/").header("Bad Name", "v").build();
        assert!(matches!(bad_name, Err(ClientError::InvalidHeader { .. })));
        assert!(EventSource::builder("http://x/").last_event_id("1\n").build().is_err());
    }
}
