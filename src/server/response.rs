//! What a handler answers: a plain response (status, headers, body), a stream run on the
//! connection's thread, or a subscription to a hub.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use super::event_stream::EventStream;
use crate::compress::{Offers, WriteProfile};
use crate::hub::Selection;
use crate::json::Value;
use crate::{Event, Hub};

/// A hub stream's settings, as a handler's [`Response::hub`] and its setters made them.
pub(crate) struct HubStream {
    pub hub: Hub,
    /// What the client receives.
    pub selection: Selection,
    /// The name of a header that says where the stream resumes ([`Response::report_resume`]).
    pub resume_header: Option<String>,
    /// The id the client resumes after, when the handler chose it ([`Response::resume_after`]);
    /// else the request's `Last-Event-ID`.
    pub resume_after: Option<String>,
    /// When the stream must end ([`Response::end_at`]).
    pub ends_at: Option<SystemTime>,
    /// Whether a client that names no last event id gets the history ([`Response::without_history`]).
    pub history: bool,
    /// Whether the body starts with a comment line ([`Response::opening_comment`]).
    pub opening_comment: bool,
}

/// A handler's answer.
///
/// ```
/// use bare_sse::server::Response;
/// use bare_sse::Event;
///
/// let page = Response::html("<h1>hi</h1>");
/// let moved = Response::redirect("/new");
/// let ticks = Response::stream(|stream| {
///     for i in 0..3 {
///         if stream.send(&Event::new().data(i.to_string())).is_err() {
///             return; // the client left
///         }
///     }
/// });
/// # let _ = (page, moved, ticks);
/// ```
pub struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Body,
    /// For a stream on HTTP/1.1: `Connection: keep-alive` with a chunked body, as Datastar's
    /// specification asks, instead of a body that ends with the connection.
    pub(crate) keep_alive: bool,
    /// Write profiles offered for a stream's body, before the server's own.
    pub(crate) write_profiles: Offers,
}

pub(crate) enum Body {
    Bytes(Vec<u8>),
    /// Run on the connection's thread with the client's stream.
    Stream(Box<dyn FnOnce(EventStream) + Send>),
    /// Subscribe the client to a hub, with history and resume. Boxed: its settings are many times
    /// the size of the other bodies.
    Hub(Box<HubStream>),
    /// An event stream complete when the handler returns: these events, already encoded.
    Events(Vec<u8>),
}

impl Response {
    /// A response with this status and an empty body.
    ///
    /// # Panics
    ///
    /// As [`with_status`](Self::with_status), for a status that cannot answer a request.
    pub fn new(status: u16) -> Response {
        Response {
            status: final_status(status),
            headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
            keep_alive: false,
            write_profiles: Offers::default(),
        }
    }

    /// `200` with a plain-text body.
    pub fn text(body: impl Into<String>) -> Response {
        Response::new(200).header("Content-Type", "text/plain; charset=utf-8").body(body.into())
    }

    /// `200` with an HTML page.
    pub fn html(body: impl Into<String>) -> Response {
        Response::new(200).header("Content-Type", "text/html; charset=utf-8").body(body.into())
    }

    /// `200` with a JSON body.
    pub fn json(value: &Value) -> Response {
        Response::new(200).header("Content-Type", "application/json").body(value.to_string())
    }

    /// `303 See Other` to `location`: after a POST, the browser fetches `location` with a GET.
    ///
    /// # Panics
    ///
    /// If `location` holds CR, LF or NUL, which would inject a header ([`header`](Self::header)'s
    /// rule). For a location that comes from outside the program, use
    /// `Response::new(303).try_header("Location", location)`.
    pub fn redirect(location: impl Into<String>) -> Response {
        Response::new(303).header("Location", location)
    }

    /// `204 No Content`. To an `EventSource`, it means "stop reconnecting".
    pub fn no_content() -> Response {
        Response::new(204)
    }

    /// `404 Not Found`.
    pub fn not_found() -> Response {
        Response::new(404).header("Content-Type", "text/plain; charset=utf-8").body("not found\n")
    }

    /// An event stream: `run` gets the client's [`EventStream`] on the connection's own thread, and the
    /// body ends when `run` returns (on a persistent HTTP/1.1 connection, the next request follows;
    /// otherwise the connection closes). See [`EventStream`] for sending, batches, and noticing the
    /// client leave.
    pub fn stream(run: impl FnOnce(EventStream) + Send + 'static) -> Response {
        Response {
            status: 200,
            headers: Vec::new(),
            body: Body::Stream(Box::new(run)),
            keep_alive: false,
            write_profiles: Offers::default(),
        }
    }

    /// An event stream whose events are all known when the handler returns: the head, the events
    /// and the body's end leave in one write, and the connection serves the next request (an
    /// answer such as a Datastar action's, complete at once). The body is `text/event-stream`
    /// with a `Content-Length`, so HTTP/1.0 clients that keep their connection open can too. The
    /// server's `retry` line and a [`write_profile`](Self::write_profile) apply as to a stream.
    ///
    /// An answer whose events come one by one while the handler works is a
    /// [`stream`](Self::stream): each of its events leaves as it is sent.
    ///
    /// ```
    /// use bare_sse::server::Response;
    /// use bare_sse::Event;
    ///
    /// let events = [Event::new().event("saved").data("ok"), Event::new().data("done")];
    /// let response = Response::events(&events).unwrap();
    /// assert_eq!(response.status(), 200);
    /// assert!(Response::events(&[Event::new().event("two\nlines")]).is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// That of [`Event::to_bytes`](crate::Event::to_bytes), for the first event that cannot be
    /// encoded.
    pub fn events<'a>(events: impl IntoIterator<Item = &'a Event>) -> Result<Response, crate::Error> {
        Ok(Response {
            status: 200,
            headers: Vec::new(),
            body: Body::Events(crate::event::encode_all(events)?),
            keep_alive: false,
            write_profiles: Offers::default(),
        })
    }

    /// Subscribes the client to `hub`, with its history and `Last-Event-ID` resume: to every
    /// event, or to those of a [`selection`](Self::selection).
    pub fn hub(hub: Hub) -> Response {
        let hub = Box::new(HubStream {
            hub,
            selection: Selection::all(),
            resume_header: None,
            resume_after: None,
            ends_at: None,
            history: true,
            opening_comment: false,
        });
        Response {
            status: 200,
            headers: Vec::new(),
            body: Body::Hub(hub),
            keep_alive: false,
            write_profiles: Offers::default(),
        }
    }

    /// For a hub stream: the client receives the events `selection` admits (those of some topics,
    /// the private ones the client may read, and every hub-wide notice), with the history and
    /// `Last-Event-ID` resume of those events. By default, [`Selection::all`]. A handler builds
    /// the selection from the request. Ignored for other responses.
    ///
    /// ```
    /// use bare_sse::hub::Selection;
    /// use bare_sse::server::{Request, Response};
    /// use bare_sse::topic::{SelectorLimits, TopicSelector};
    /// use bare_sse::Hub;
    ///
    /// let hub = Hub::new();
    /// // `/books?match=urn:book:1&match_urlpattern=https://example.com/books/:id`: those topics.
    /// let handler = move |request: &Request| {
    ///     let params = request.query().iter().map(|(name, value)| (name.as_str(), value.as_str()));
    ///     match TopicSelector::from_params(params, None, &SelectorLimits::default()) {
    ///         Ok(selector) => Response::hub(hub.clone()).selection(Selection::topics(selector)),
    ///         Err(error) => Response::text(format!("{error}\n")).with_status(400),
    ///     }
    /// };
    /// # let _ = handler;
    /// ```
    pub fn selection(mut self, selection: Selection) -> Response {
        if let Body::Hub(hub) = &mut self.body {
            hub.selection = selection;
        }
        self
    }

    /// For a hub stream: the response head gets a header `name` that says where the stream
    /// resumes, known once the client has joined: the client's last event id when the hub found
    /// it (in its history, or its Redis stream) and sends what came after it, or `earliest` when
    /// the stream starts with the earliest events kept (a first connection, or an id the hub does
    /// not hold, which also gets the reset event). Ignored for other responses.
    ///
    /// # Panics
    /// If `name` is not a header name (a token), as [`header`](Self::header) does.
    pub fn report_resume(mut self, name: impl Into<String>) -> Response {
        let name = name.into();
        assert!(crate::http::is_valid_header(&name, RESUMED_FROM_THE_EARLIEST), "{name:?} is not a header name");
        if let Body::Hub(hub) = &mut self.body {
            hub.resume_header = Some(name);
        }
        self
    }

    /// For a hub stream: resumes after `id` instead of the request's `Last-Event-ID` (a handler
    /// that takes the last id from elsewhere too, such as a query parameter for a browser's first
    /// connection, which cannot carry the header). Ignored for other responses.
    pub fn resume_after(mut self, id: impl Into<String>) -> Response {
        if let Body::Hub(hub) = &mut self.body {
            hub.resume_after = Some(id.into());
        }
        self
    }

    /// For a hub stream: a client that names no last event id gets only the events published
    /// from now on, none of the history (a client that names one still resumes after it). Mercure
    /// subscribers expect this: only a cursor asks for what was published before. Ignored for
    /// other responses.
    pub fn without_history(mut self) -> Response {
        if let Body::Hub(hub) = &mut self.body {
            hub.history = false;
        }
        self
    }

    /// For a hub stream: the body starts with an empty comment line (`:`), sent with the head once
    /// the client has joined, so that a client (and any proxy between) sees the stream open at
    /// once rather than at the first event or heartbeat, and knows it will miss nothing published
    /// from then on. Ignored for other responses.
    pub fn opening_comment(mut self) -> Response {
        if let Body::Hub(hub) = &mut self.body {
            hub.opening_comment = true;
        }
        self
    }

    /// For a hub stream: the connection is closed at `time` if the client is still there (for a
    /// client whose right to the stream ends then, as when its access token expires). A time
    /// already past closes it as soon as it has joined. Ignored for other responses.
    pub fn end_at(mut self, time: SystemTime) -> Response {
        if let Body::Hub(hub) = &mut self.body {
            hub.ends_at = Some(time);
        }
        self
    }

    /// Frames a stream as a chunked body with `Connection: keep-alive` when the client speaks
    /// HTTP/1.1 (HTTP/1.0 clients still get a body that ends with the connection); an
    /// [`events`](Self::events) answer says `Connection: keep-alive` too.
    pub(crate) fn keep_alive(mut self) -> Response {
        self.keep_alive = true;
        self
    }

    /// Offers a write profile (for example [`Gzip`](crate::compress::Gzip)) for this stream's body
    /// (or an [`events`](Self::events) answer's), before any the server offers: used if the
    /// request's `Accept-Encoding` accepts its coding. Plain bodies and hub streams are not encoded. Mind the BREACH rule in
    /// [`compress`](crate::compress).
    pub fn write_profile(mut self, profile: Arc<dyn WriteProfile>) -> Response {
        self.write_profiles.0.push(profile);
        self
    }

    /// Sets the status. A `204` or `304` has no body (RFC 9110 §15.3.5, §15.4.5): a plain body
    /// is dropped, a stream's closure never runs and a hub gets no client; the client gets the head
    /// alone. The answer to `HEAD` is the head alone too, whatever the status.
    ///
    /// # Panics
    ///
    /// If `status` cannot answer a request: not a three-digit HTTP status (100 to 599), or an
    /// interim one (1xx), which a client takes as the promise of another answer that would never
    /// come. A status is written by the program, so a wrong one is a bug, refused where it is set
    /// (a panicking handler's client gets `500`).
    pub fn with_status(mut self, status: u16) -> Response {
        self.status = final_status(status);
        self
    }

    /// Adds a header.
    ///
    /// # Panics
    ///
    /// If the name is not a token or the value holds CR, LF or NUL, which would inject a header.
    /// For a value that comes from outside the program, use [`Response::try_header`].
    pub fn header(self, name: impl Into<String>, value: impl Into<String>) -> Response {
        match self.try_header(name, value) {
            Ok(response) => response,
            Err(error) => panic!("{error}"),
        }
    }

    /// Adds a header, or refuses one whose name is not a token or whose value holds CR, LF or
    /// NUL ([`Error::InvalidField`](crate::Error::InvalidField), field `header`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidField`](crate::Error::InvalidField) (field `header`) when the name is not a
    /// token or the value holds CR, LF or NUL.
    pub fn try_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Result<Response, crate::Error> {
        let (name, value) = (name.into(), value.into());
        if !crate::http::is_valid_header(&name, &value) {
            let reason = "its name is not a token, or its value holds CR, LF or NUL";
            return Err(crate::Error::InvalidField { field: "header", reason });
        }
        self.headers.push((name, value));
        Ok(self)
    }

    /// Sets the body of a plain response (ignored for streams).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Response {
        if let Body::Bytes(bytes) = &mut self.body {
            *bytes = body.into();
        }
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The value of the first header named `name` (matched without regard to case), if any:
    /// for tests of handlers, and for code that adjusts a response made elsewhere.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body of a plain response; `None` for a stream or a hub subscription. For an
    /// [`events`](Self::events) answer, the events as they are encoded (before the server's
    /// `retry` line and any write profile).
    pub fn body_bytes(&self) -> Option<&[u8]> {
        match &self.body {
            Body::Bytes(bytes) | Body::Events(bytes) => Some(bytes),
            _ => None,
        }
    }
}

/// What [`Response::report_resume`]'s header says when the stream resumes from no id.
pub(crate) const RESUMED_FROM_THE_EARLIEST: &str = "earliest";

/// `status`, if it can be a request's final answer (200 to 599); panics otherwise.
fn final_status(status: u16) -> u16 {
    assert!((100..=599).contains(&status), "HTTP status {status}: an HTTP status is 100 to 599");
    assert!(status >= 200, "HTTP status {status}: an interim (1xx) status cannot answer a request");
    status
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = match &self.body {
            Body::Bytes(bytes) => format!("{} bytes", bytes.len()),
            Body::Stream(_) => "stream".to_string(),
            Body::Hub(_) => "hub".to_string(),
            Body::Events(bytes) => format!("{} bytes of events", bytes.len()),
        };
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &body)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_headers_are_checked_where_they_are_set() {
        assert_eq!(Response::text("x").with_status(404).status(), 404);
        assert!(Response::text("x").try_header("X-Ok", "fine").is_ok());
        for (name, value) in [("X-Bad", "a\r\nInjected: yes"), ("X-Bad", "nul\0"), ("Bad Name", "v"), ("", "v")] {
            assert!(Response::text("x").try_header(name, value).is_err(), "{name:?}: {value:?}");
        }
        for status in [0, 99, 100, 101, 103, 199, 600, 999] {
            let refused = std::panic::catch_unwind(|| Response::text("x").with_status(status));
            assert!(refused.is_err(), "with_status({status}) must be refused");
            assert!(std::panic::catch_unwind(|| Response::new(status)).is_err(), "Response::new({status})");
        }
        assert_eq!((Response::new(200).status(), Response::new(599).status()), (200, 599));
        assert!(std::panic::catch_unwind(|| Response::text("x").header("X", "a\nb")).is_err());
        let hub = || Response::hub(crate::Hub::new());
        assert!(std::panic::catch_unwind(|| hub().report_resume("Bad Name")).is_err());
        assert!(std::panic::catch_unwind(|| hub().report_resume("Mercure-Last-Event-ID")).is_ok());
    }
}
