//! Events and their encoding to `text/event-stream` bytes.
//!
//! This module is pure: it builds [`Event`] values, checks their fields and turns them into bytes.
//! It does no I/O of its own beyond writing to the `io::Write` it is handed, so the hub, the
//! per-connection streams and a user's own server all share one encoder.
//!
//! # The wire format in one example
//!
//! ```
//! use bare_sse::Event;
//!
//! let event = Event::new().event("greeting").id("7").data("hello\nworld");
//! assert_eq!(
//!     event.to_bytes().unwrap(),
//!     b"event: greeting\nid: 7\ndata: hello\ndata: world\n\n"
//! );
//! ```
//!
//! Each field is one `name: value` line; an empty line ends the event. Data that spans several
//! lines becomes one `data:` line per line (a browser joins them again with `\n`). `event` and `id`
//! values cannot hold line breaks, since a line break would start a new field: such values are
//! rejected with [`Error::InvalidField`] rather than rewritten.

use std::io::{self, Write};
use std::time::Duration;

use crate::Error;

/// One server-sent event, built field by field.
///
/// Fields are checked when the event is encoded (by [`Event::to_bytes`], [`write_event`] or a
/// hub's `send_new_event`), so building never fails and an invalid field is reported exactly once,
/// as an `Err`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use = "an event does nothing until it is sent"]
pub struct Event {
    comment: Option<String>,
    event: Option<String>,
    id: Option<EventId>,
    retry_ms: Option<u64>,
    data: Option<String>,
}

/// Where an event's id comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum EventId {
    /// The hub numbers the event with its next id.
    Next,
    /// The caller chose the id.
    Given(String),
}

impl Event {
    /// An empty event. Add at least `data` for a browser to fire it.
    pub fn new() -> Event {
        Event::default()
    }

    /// Adds to the payload. Line breaks (CRLF, CR or LF) split it into several `data:` lines,
    /// which the client joins with `\n`; calling `data` again adds more lines, as a second `data:`
    /// field does on the wire (`.data("a").data("b")` arrives as `"a\nb"`). An empty string still
    /// sends one `data:` line, so the event fires.
    pub fn data(mut self, data: impl Into<String>) -> Event {
        let data = data.into();
        self.data = Some(match self.data.take() {
            Some(earlier) => earlier + "\n" + &data,
            None => data,
        });
        self
    }

    /// Sets the event type (`event:` field). Browsers deliver typed events to
    /// `addEventListener(type, ...)` instead of `onmessage`. Must not contain CR or LF.
    pub fn event(mut self, event_type: impl Into<String>) -> Event {
        self.event = Some(event_type.into());
        self
    }

    /// Sets an explicit id. The client remembers it and sends it back as `Last-Event-ID` when it
    /// reconnects; a hub keeps events that have ids in its history. It must be one a browser can
    /// send back unchanged (see [`check_event_id`]), and, sent through a hub, must not have the
    /// form of that hub's own ids (`<epoch>-<n>`, from [`Event::with_id`]), so the two never
    /// collide. An empty id tells the client to forget its last id.
    pub fn id(mut self, id: impl Into<String>) -> Event {
        self.id = Some(EventId::Given(id.into()));
        self
    }

    /// Asks the hub to give this event its next id (1, 2, 3, ... per hub) and to keep it in its
    /// history, so late joiners and reconnecting clients receive it.
    pub fn with_id(mut self) -> Event {
        self.id = Some(EventId::Next);
        self
    }

    /// Sets the client's reconnection delay (`retry:` field, sent in whole milliseconds).
    pub fn retry(mut self, delay: Duration) -> Event {
        self.retry_ms = Some(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
        self
    }

    /// Adds a comment (`: text` lines). Clients ignore comments; they keep proxies from timing out
    /// an idle stream and help when reading a stream by hand.
    pub fn comment(mut self, text: impl Into<String>) -> Event {
        self.comment = Some(text.into());
        self
    }

    /// The explicit id, if one was given with [`Event::id`].
    pub fn given_id(&self) -> Option<&str> {
        match &self.id {
            Some(EventId::Given(id)) => Some(id),
            _ => None,
        }
    }

    /// The fields a backplane carries between servers: comment, type, retry (ms) and data.
    pub(crate) fn carried_fields(&self) -> (Option<&str>, Option<&str>, Option<u64>, Option<&str>) {
        (self.comment.as_deref(), self.event.as_deref(), self.retry_ms, self.data.as_deref())
    }

    /// An event from carried fields (see [`carried_fields`](Self::carried_fields)).
    pub(crate) fn from_carried_fields(
        comment: Option<String>,
        event: Option<String>,
        retry_ms: Option<u64>,
        data: Option<String>,
    ) -> Event {
        Event { comment, event, id: None, retry_ms, data }
    }

    /// Whether the event asked for the hub's next id with [`Event::with_id`].
    pub fn wants_next_id(&self) -> bool {
        self.id == Some(EventId::Next)
    }

    /// Checks every field without encoding. An event with no field at all is
    /// [`Error::EmptyEvent`]: it would put a lone blank line on the wire.
    ///
    /// # Errors
    ///
    /// [`Error::EmptyEvent`] for an event with no field; [`Error::InvalidField`] when the `event`
    /// type holds CR or LF (field `event`), or an explicit id breaks [`check_event_id`]'s rule
    /// (field `id`).
    pub fn validate(&self) -> Result<(), Error> {
        let Event { comment, event, id, retry_ms, data } = self;
        if comment.is_none() && event.is_none() && id.is_none() && retry_ms.is_none() && data.is_none() {
            return Err(Error::EmptyEvent);
        }
        if let Some(event) = &self.event {
            check_single_line("event", event)?;
        }
        if let Some(EventId::Given(id)) = &self.id {
            check_event_id(id)?;
        }
        Ok(())
    }

    /// Encodes the event to wire bytes. Fails on an invalid field, or if the event asked for the
    /// hub's next id (only a hub can number it).
    ///
    /// # Errors
    ///
    /// Those of [`validate`](Self::validate), and [`Error::NoIdSource`] when the event asked for
    /// the hub's next id ([`Event::with_id`]): only a hub can number it.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        if self.wants_next_id() {
            return Err(Error::NoIdSource);
        }
        self.encode(None)
    }

    /// Encodes the event; `next_id` is the number a hub assigned when the event asked for one.
    pub(crate) fn encode(&self, next_id: Option<&str>) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(self.encoded_len_hint());
        self.encode_into(&mut out, next_id)?;
        Ok(out)
    }

    /// Appends the encoded event to `out`; on an error, `out` may hold part of it.
    fn encode_into(&self, out: &mut Vec<u8>, next_id: Option<&str>) -> Result<(), Error> {
        self.validate()?;
        if let Some(comment) = &self.comment {
            push_comment(out, comment);
        }
        if let Some(event) = &self.event {
            push_field(out, "event", event);
        }
        match (&self.id, next_id) {
            (Some(EventId::Given(id)), _) => push_field(out, "id", id),
            (Some(EventId::Next), Some(id)) => push_field(out, "id", id),
            (Some(EventId::Next), None) => return Err(Error::NoIdSource),
            (None, _) => {}
        }
        if let Some(retry) = self.retry_ms {
            push_field(out, "retry", &retry.to_string());
        }
        if let Some(data) = &self.data {
            for line in split_lines(data) {
                push_field(out, "data", line);
            }
        }
        out.push(b'\n');
        Ok(())
    }

    fn encoded_len_hint(&self) -> usize {
        let text = |s: &Option<String>| s.as_ref().map_or(0, |s| s.len() + 8);
        text(&self.comment) + text(&self.event) + text(&self.data) + 40
    }
}

/// Several events encoded one after the other, all or none: the first that cannot be encoded is
/// the error (see [`Event::to_bytes`]).
pub(crate) fn encode_all<'a>(events: impl IntoIterator<Item = &'a Event>) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::new();
    for event in events {
        if event.wants_next_id() {
            return Err(Error::NoIdSource);
        }
        // Into the one buffer, which an error drops whole.
        event.encode_into(&mut bytes, None)?;
    }
    Ok(bytes)
}

/// Writes one event to any writer: the encoder the hub uses, for servers bare-sse does not run.
///
/// The event is encoded fully before the first byte is written, so an invalid field writes
/// nothing. The writer is flushed so the event leaves at once.
///
/// ```
/// let mut out = Vec::new();
/// bare_sse::write_event(&mut out, &bare_sse::Event::new().data("hi")).unwrap();
/// assert_eq!(out, b"data: hi\n\n");
/// ```
///
/// # Errors
///
/// Those of [`Event::to_bytes`], and then nothing is written; [`Error::Io`] when the writer fails,
/// and then part of the event may have been written.
pub fn write_event(writer: &mut impl Write, event: &Event) -> Result<(), Error> {
    let bytes = event.to_bytes()?;
    write_and_flush(writer, &bytes)
}

/// Writes a comment (`: text`, one line per line of `text`) followed by nothing else: the
/// heartbeat that keeps proxies from closing an idle stream. Clients ignore it.
///
/// ```
/// let mut out = Vec::new();
/// bare_sse::write_comment(&mut out, "keep-alive").unwrap();
/// assert_eq!(out, b": keep-alive\n");
/// ```
///
/// # Errors
///
/// [`Error::Io`] when the writer fails; part of the comment may have been written then.
pub fn write_comment(writer: &mut impl Write, text: &str) -> Result<(), Error> {
    let mut bytes = Vec::with_capacity(text.len() + 3);
    push_comment(&mut bytes, text);
    write_and_flush(writer, &bytes)
}

/// The heartbeat, as bytes: the comment `: keep-alive` (what `write_comment(w, "keep-alive")`
/// writes), sent by a hub and by a per-connection stream after a silence; every client ignores it.
/// No blank line follows it, so it never ends an event block on its own: a client that turns
/// every blank line into an event (as some libraries do when a `retry:` came first) sees no empty
/// event.
pub(crate) const HEARTBEAT_COMMENT: &[u8] = b": keep-alive\n";

fn write_and_flush(writer: &mut impl Write, bytes: &[u8]) -> Result<(), Error> {
    let wrote = writer.write_all(bytes).and_then(|()| writer.flush());
    wrote.map_err(|e: io::Error| Error::io("writing an event", e))
}

/// Longest event id accepted. A browser sends the id back in a `Last-Event-ID` header when it
/// reconnects, so an id must fit a request head with room to spare (the server's default head
/// limit is 8 KiB).
pub const MAX_EVENT_ID_BYTES: usize = 1024;

/// The one rule for event ids, on both sides of the wire: an id is accepted only if a browser can
/// send it back unchanged as `Last-Event-ID`. So: no control characters but tab (CR or LF would
/// also inject a field into the stream; NUL makes clients ignore the id), no space or tab at either
/// end (header parsing trims them), and at most [`MAX_EVENT_ID_BYTES`]. The empty id is valid: it
/// tells the client to forget its last id.
///
/// # Errors
///
/// [`Error::InvalidField`] (field `id`), whose `reason` says which rule the id breaks.
pub fn check_event_id(id: &str) -> Result<(), Error> {
    let refuse = |reason: &'static str| Err(Error::InvalidField { field: "id", reason });
    if id.len() > MAX_EVENT_ID_BYTES {
        return refuse("it is longer than MAX_EVENT_ID_BYTES (1024): a browser could not send it back");
    }
    if id.contains(['\r', '\n']) {
        return refuse("it contains a line break (CR or LF)");
    }
    if id.contains('\0') {
        return refuse("it contains NUL, which clients ignore");
    }
    if id.chars().any(|c| c.is_ascii_control() && c != '\t') {
        return refuse("it contains a control character, which a Last-Event-ID header cannot carry");
    }
    if id.starts_with([' ', '\t']) || id.ends_with([' ', '\t']) {
        return refuse("it starts or ends with a space or tab, which a Last-Event-ID header loses");
    }
    Ok(())
}

pub(crate) fn check_single_line(field: &'static str, value: &str) -> Result<(), Error> {
    if value.contains(['\r', '\n']) {
        return Err(Error::InvalidField { field, reason: "it contains a line break (CR or LF)" });
    }
    Ok(())
}

/// `name: value\n`, or `name:\n` for an empty value. The space matters: a client strips exactly one
/// space after the colon, so a value that itself starts with a space survives.
fn push_field(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.push(b':');
    if !value.is_empty() {
        out.push(b' ');
        out.extend_from_slice(value.as_bytes());
    }
    out.push(b'\n');
}

fn push_comment(out: &mut Vec<u8>, text: &str) {
    for line in split_lines(text) {
        push_field(out, "", line);
    }
}

/// Splits on CRLF, lone CR and lone LF, as an event-stream parser does. A trailing line break
/// yields a final empty line, so `"a\n"` round-trips as `"a\n"`.
pub(crate) fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.find(['\r', '\n']) {
            None => {
                rest = None;
                Some(current)
            }
            Some(at) => {
                let skip = if current[at..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&current[at + skip..]);
                Some(&current[..at])
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(event: &Event) -> String {
        String::from_utf8(event.to_bytes().unwrap()).unwrap()
    }

    #[test]
    fn the_heartbeat_is_a_comment_line_and_ends_no_event() {
        let mut written = Vec::new();
        write_comment(&mut written, "keep-alive").unwrap();
        assert_eq!(HEARTBEAT_COMMENT, written, "the bytes write_comment gives");
        assert!(!HEARTBEAT_COMMENT.ends_with(b"\n\n"), "no blank line after it");
    }

    #[test]
    fn data_only() {
        assert_eq!(wire(&Event::new().data("Hello World!")), "data: Hello World!\n\n");
    }

    #[test]
    fn every_field_in_order() {
        let event = Event::new().comment("note").event("tick").id("9").retry(Duration::from_millis(2500)).data("x");
        assert_eq!(wire(&event), ": note\nevent: tick\nid: 9\nretry: 2500\ndata: x\n\n");
    }

    #[test]
    fn data_split_on_crlf_cr_and_lf() {
        let event = Event::new().data("a\r\nb\rc\nd");
        assert_eq!(wire(&event), "data: a\ndata: b\ndata: c\ndata: d\n\n");
    }

    #[test]
    fn trailing_and_blank_lines_in_data_survive() {
        assert_eq!(wire(&Event::new().data("a\n")), "data: a\ndata:\n\n");
        assert_eq!(wire(&Event::new().data("\n\n")), "data:\ndata:\ndata:\n\n");
        assert_eq!(wire(&Event::new().data("a\r\n\r\nb")), "data: a\ndata:\ndata: b\n\n");
    }

    #[test]
    fn empty_data_still_dispatches() {
        assert_eq!(wire(&Event::new().data("")), "data:\n\n");
    }

    #[test]
    fn leading_space_in_value_is_kept() {
        assert_eq!(wire(&Event::new().data(" indented")), "data:  indented\n\n");
    }

    #[test]
    fn event_without_data_carries_fields_only() {
        assert_eq!(wire(&Event::new().retry(Duration::from_millis(10))), "retry: 10\n\n");
        assert_eq!(wire(&Event::new().id("")), "id:\n\n");
    }

    #[test]
    fn multi_line_comment_stays_a_comment() {
        assert_eq!(wire(&Event::new().comment("a\nb")), ": a\n: b\n\n");
    }

    #[test]
    fn line_breaks_in_event_type_are_rejected() {
        for bad in ["a\nb", "a\rb", "a\r\nb", "\n"] {
            let err = Event::new().event(bad).data("x").to_bytes().unwrap_err();
            assert!(matches!(err, Error::InvalidField { field: "event", .. }), "{bad:?}: {err}");
        }
    }

    #[test]
    fn line_breaks_and_nul_in_id_are_rejected() {
        for bad in ["1\n", "1\r", "x\r\ndata: injected", "a\0b"] {
            let err = Event::new().id(bad).data("x").to_bytes().unwrap_err();
            assert!(matches!(err, Error::InvalidField { field: "id", .. }), "{bad:?}: {err}");
        }
    }

    #[test]
    fn ids_a_browser_cannot_send_back_are_rejected() {
        let long = "i".repeat(MAX_EVENT_ID_BYTES + 1);
        for bad in [" 1", "1 ", "\t1", "1\t", "a\x01b", "a\x7fb", "a\x1bb", long.as_str()] {
            let err = Event::new().id(bad).data("x").to_bytes().unwrap_err();
            assert!(matches!(err, Error::InvalidField { field: "id", .. }), "{bad:?}: {err}");
        }
        let at_limit = "i".repeat(MAX_EVENT_ID_BYTES);
        for good in ["", "1", "a b", "a\tb", "é-✓", at_limit.as_str()] {
            assert!(check_event_id(good).is_ok(), "{good:?}");
        }
    }

    /// The id rule and the server's `Last-Event-ID` rule are one: every id the rule accepts comes
    /// back unchanged through a request head parsed with the default limits, and every id it
    /// refuses could not have (or would lose bytes).
    #[test]
    fn every_accepted_id_survives_a_last_event_id_header() {
        use crate::http::{parse_request_head, HeadLimits, Parsed};
        let mut rng = crate::test_support::SplitRng::new(11);
        let alphabet = "a1 -\t\x01\x7fé:\\\"";
        for _ in 0..5000 {
            let length = rng.below(12);
            let id: String =
                (0..length).map(|_| alphabet.chars().nth(rng.below(alphabet.chars().count())).unwrap()).collect();
            let head = format!("GET / HTTP/1.1\r\nHost: x\r\nLast-Event-ID: {id}\r\n\r\n");
            let returned = match parse_request_head(head.as_bytes(), &HeadLimits::default()) {
                Ok(Parsed::Complete { head, .. }) => head.header("last-event-id").map(str::to_string),
                _ => None,
            };
            let round_trips = returned.as_deref() == Some(id.as_str());
            assert_eq!(check_event_id(&id).is_ok(), round_trips, "{id:?} came back as {returned:?}");
        }
        let longest = "i".repeat(MAX_EVENT_ID_BYTES);
        let head = format!("GET / HTTP/1.1\r\nHost: x\r\nLast-Event-ID: {longest}\r\n\r\n");
        assert!(parse_request_head(head.as_bytes(), &HeadLimits::default()).is_ok(), "the longest id fits");
    }

    #[test]
    fn data_called_twice_adds_a_line_and_an_empty_event_is_an_error() {
        let twice = Event::new().data("a").data("b\nc").to_bytes().unwrap();
        assert_eq!(twice, b"data: a\ndata: b\ndata: c\n\n");
        assert!(matches!(Event::new().to_bytes(), Err(Error::EmptyEvent)));
        assert_eq!(Event::new().retry(Duration::from_secs(1)).to_bytes().unwrap(), b"retry: 1000\n\n");
        assert_eq!(Event::new().comment("hi").to_bytes().unwrap(), b": hi\n\n");
    }

    #[test]
    fn invalid_event_writes_nothing() {
        let mut out = Vec::new();
        assert!(write_event(&mut out, &Event::new().data("ok").id("a\nb")).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn next_id_needs_a_hub() {
        assert!(matches!(Event::new().with_id().to_bytes(), Err(Error::NoIdSource)));
        let numbered = Event::new().with_id().data("x").encode(Some("12")).unwrap();
        assert_eq!(numbered, b"id: 12\ndata: x\n\n");
    }

    #[test]
    fn comment_writer() {
        let mut out = Vec::new();
        write_comment(&mut out, "").unwrap();
        write_comment(&mut out, "ping").unwrap();
        assert_eq!(out, b":\n: ping\n");
    }

    #[test]
    fn split_lines_matches_parser_rules() {
        let lines: Vec<&str> = split_lines("a\r\n\rb\n").collect();
        assert_eq!(lines, ["a", "", "b", ""]);
        assert_eq!(split_lines("").collect::<Vec<_>>(), [""]);
    }
}
