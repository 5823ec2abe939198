//! Reading an event stream: an incremental parser that follows the WHATWG rules exactly.
//!
//! [`Parser`] is pure: feed it byte slices as they arrive, in any split, and take the events it
//! dispatches. [`EventReader`] and [`read_event`] wrap it for blocking readers. Beneath it,
//! [`LineSplitter`] cuts lines, [`classify_line`] and [`Field`] read them, and [`EventFields`]
//! gathers one event's fields as the stream wrote them, before the browser's dispatch rules: what
//! a program needs that reads events to send them on rather than to show them (`bare-sse serve`).
//!
//! ```
//! use bare_sse::parse::Parser;
//!
//! let mut parser = Parser::new();
//! parser.feed(b"event: greeting\nid: 7\ndata: hel").unwrap();
//! assert!(parser.next_event().is_none()); // not finished yet
//! parser.feed(b"lo\r\n\r\n").unwrap();
//! let event = parser.next_event().unwrap();
//! assert_eq!((event.event.as_str(), event.data.as_str(), event.last_event_id.as_str()), ("greeting", "hello", "7"));
//! ```
//!
//! The rules, in the order the code applies them:
//! - one U+FEFF byte-order mark is skipped at the very start of the stream, nowhere else;
//! - lines end with CRLF, a lone CR or a lone LF, and a CR at the end of one slice followed by an
//!   LF at the start of the next is one line end;
//! - each line is decoded as UTF-8, invalid sequences replaced with U+FFFD;
//! - an empty line dispatches the event; a line starting with `:` is a comment;
//! - otherwise the field name runs to the first `:` and the value is the rest, minus one leading
//!   space; a line without `:` is a field with an empty value;
//! - `data` appends the value and a LF; `event` sets the type; `id` sets the last event id unless
//!   the value holds NUL (an empty value resets it); `retry` sets the reconnection time if the
//!   value is all ASCII digits; other fields are ignored;
//! - dispatch: the stream's last event id becomes the id buffer (it persists across events); with
//!   no data nothing fires; otherwise one trailing LF is removed and an event fires with type
//!   `message` unless set; data and type are then reset, the id is not;
//! - beyond the browser's event, which has only the last id, a [`MessageEvent`] also says whether
//!   its own block had an `id:` field (`id`), which the last id alone cannot say;
//! - at the end of the stream, an event without its blank line is discarded.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, BufRead};
use std::time::Duration;

/// Longest line accepted, by default. Browsers have no limit, and real streams carry whole page
/// regions in one line (Datastar); 8 MiB accepts them and still bounds what one peer can make a
/// reader hold.
pub const DEFAULT_MAX_LINE_BYTES: usize = 8 * 1024 * 1024;
/// Largest event (its data buffer) accepted, by default: twice the longest line.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

const BOM: &[u8] = "\u{feff}".as_bytes();

/// An event as a client receives it (the browser's `MessageEvent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageEvent {
    /// The event type: the `event:` field, or `message`.
    pub event: String,
    /// The data lines joined with `\n`.
    pub data: String,
    /// The stream's last event id when this event fired (it persists across events): the
    /// browser's `lastEventId`, and what a reconnection sends as `Last-Event-ID`.
    pub last_event_id: String,
    /// The id this event carried itself, in its own `id:` field (then also `last_event_id`), or
    /// `None` when it had none and `last_event_id` is only the last id so far. An empty `id:`
    /// field is `Some("")`: it resets the last id.
    pub id: Option<String>,
}

/// A limit the stream broke. The parser discards the offending line or event and goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// A line longer than the limit (bytes).
    LineTooLong(usize),
    /// An event whose data grew past the limit (bytes).
    EventTooLarge(usize),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::LineTooLong(limit) => write!(f, "event-stream line longer than {limit} bytes"),
            ParseError::EventTooLarge(limit) => write!(f, "event larger than {limit} bytes"),
        }
    }
}

impl std::error::Error for ParseError {}

/// One line of an event stream, classified by its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// An empty line: the end of an event.
    Blank,
    /// A line starting with `:`; the text after the colon.
    Comment(&'a str),
    /// `name: value` (one space after the colon removed), or a whole line as a name with an empty
    /// value when there is no colon.
    Field {
        /// The field name.
        name: &'a str,
        /// The field value.
        value: &'a str,
    },
}

/// Classifies one line (without its line end).
///
/// ```
/// use bare_sse::parse::{classify_line, Line};
/// assert_eq!(classify_line("data:  x"), Line::Field { name: "data", value: " x" });
/// assert_eq!(classify_line("data"), Line::Field { name: "data", value: "" });
/// assert_eq!(classify_line(": hi"), Line::Comment(" hi"));
/// ```
pub fn classify_line(line: &str) -> Line<'_> {
    if line.is_empty() {
        return Line::Blank;
    }
    if let Some(comment) = line.strip_prefix(':') {
        return Line::Comment(comment);
    }
    match line.split_once(':') {
        Some((name, value)) => Line::Field { name, value: value.strip_prefix(' ').unwrap_or(value) },
        None => Line::Field { name: line, value: "" },
    }
}

/// A field line, read by the event-stream rules: what it sets, or why the rules ignore it.
///
/// ```
/// use bare_sse::parse::Field;
/// use std::time::Duration;
/// assert_eq!(Field::read("retry", "3000"), Field::Retry(Duration::from_secs(3)));
/// assert_eq!(Field::read("retry", "+3000"), Field::BadRetry("+3000"));
/// assert_eq!(Field::read("id", "a\0b"), Field::IdWithNul("a\0b"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field<'a> {
    /// `data`: one line of the event's data.
    Data(&'a str),
    /// `event`: the event's type.
    Event(&'a str),
    /// `id`: the event's id, and the stream's last event id once the event ends (an empty one
    /// resets it).
    Id(&'a str),
    /// `retry`: the reconnection time.
    Retry(Duration),
    /// An `id` that holds NUL: ignored.
    IdWithNul(&'a str),
    /// A `retry` whose value is not all ASCII digits, or too large a number: ignored.
    BadRetry(&'a str),
    /// Any other field name: ignored.
    Unknown {
        /// The field name.
        name: &'a str,
        /// The field value.
        value: &'a str,
    },
}

impl<'a> Field<'a> {
    /// Reads the field `name: value` (as [`classify_line`] splits it).
    pub fn read(name: &'a str, value: &'a str) -> Field<'a> {
        match name {
            "data" => Field::Data(value),
            "event" => Field::Event(value),
            "id" if value.contains('\0') => Field::IdWithNul(value),
            "id" => Field::Id(value),
            "retry" if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) => Field::BadRetry(value),
            "retry" => value.parse().map_or(Field::BadRetry(value), |ms| Field::Retry(Duration::from_millis(ms))),
            _ => Field::Unknown { name, value },
        }
    }
}

/// The fields of the event being received, from one blank line to the next: its data lines
/// (within a size limit), type, own id and retry, as the stream gave them. The [`Parser`]
/// dispatches its events from them, by the browser's rules; a program that reads events written
/// as text to send them on (`bare-sse serve`) builds each event from them.
///
/// ```
/// use bare_sse::parse::{EventFields, Field};
///
/// let mut fields = EventFields::new(1024);
/// fields.take("data", "one").unwrap();
/// assert!(matches!(fields.take("colour", "red"), Ok(Field::Unknown { .. })));
/// fields.take("data", "two").unwrap();
/// let block = fields.end();
/// assert_eq!((block.data.as_deref(), block.id), (Some("one\ntwo"), None));
/// assert!(fields.is_empty());
/// // The default limit is the parser's.
/// assert!(EventFields::default().take("data", "one").is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct EventFields {
    max_event_bytes: usize,
    /// The data lines so far, each followed by LF.
    data: String,
    /// The data passed the size limit: dropped, with every data line until the event ends.
    too_large: bool,
    event_type: Option<String>,
    id: Option<String>,
    retry: Option<Duration>,
}

/// One event's fields, as [`EventFields::end`] hands them over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Block {
    /// The data lines joined with `\n`; `None` when the event had none (or they were dropped).
    pub data: Option<String>,
    /// The last `event` field's value.
    pub event_type: Option<String>,
    /// The last `id` field's value (one holding NUL is ignored).
    pub id: Option<String>,
    /// The last valid `retry` field's value.
    pub retry: Option<Duration>,
    /// The data passed the size limit, and was dropped.
    pub too_large: bool,
}

impl Default for EventFields {
    /// Fields of events within the parser's default limit ([`DEFAULT_MAX_EVENT_BYTES`]).
    fn default() -> EventFields {
        EventFields::new(DEFAULT_MAX_EVENT_BYTES)
    }
}

impl EventFields {
    /// Fields of events whose data may hold up to `max_event_bytes` (its line ends counted).
    pub fn new(max_event_bytes: usize) -> EventFields {
        EventFields { max_event_bytes, data: String::new(), too_large: false, event_type: None, id: None, retry: None }
    }

    /// Takes the field `name: value` and says what it was. A data line that takes the data past
    /// the limit is [`ParseError::EventTooLarge`]: the data is dropped, and so are the event's
    /// later data lines.
    ///
    /// # Errors
    ///
    /// [`ParseError::EventTooLarge`] for a data line past the event's limit.
    pub fn take<'a>(&mut self, name: &'a str, value: &'a str) -> Result<Field<'a>, ParseError> {
        let field = Field::read(name, value);
        match field {
            Field::Data(_) if self.too_large => {}
            Field::Data(line) => {
                if self.data.len() + line.len() + 1 > self.max_event_bytes {
                    self.data.clear();
                    self.too_large = true;
                    return Err(ParseError::EventTooLarge(self.max_event_bytes));
                }
                self.data.push_str(line);
                self.data.push('\n');
            }
            Field::Event(event_type) => self.event_type = Some(event_type.to_string()),
            Field::Id(id) => self.id = Some(id.to_string()),
            Field::Retry(retry) => self.retry = Some(retry),
            Field::IdWithNul(_) | Field::BadRetry(_) | Field::Unknown { .. } => {}
        }
        Ok(field)
    }

    /// Whether no field has counted since the last event ended (ignored ones do not).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
            && !self.too_large
            && self.event_type.is_none()
            && self.id.is_none()
            && self.retry.is_none()
    }

    /// Ends the event (a blank line came): its fields, handed over, and none kept for the next.
    pub fn end(&mut self) -> Block {
        let mut data = std::mem::take(&mut self.data);
        let data = (!data.is_empty()).then(|| {
            data.pop(); // the LF after the last data line
            data
        });
        Block {
            data,
            event_type: self.event_type.take(),
            id: self.id.take(),
            retry: self.retry.take(),
            too_large: std::mem::take(&mut self.too_large),
        }
    }
}

/// Splits a byte stream into lines by the event-stream rules: BOM at the start, CRLF / CR / LF
/// line ends (also across slices), UTF-8 with replacement, and a line-length limit.
#[derive(Debug, Clone)]
pub struct LineSplitter {
    max_line_bytes: usize,
    /// Bytes of the line being received (without its line end).
    line: Vec<u8>,
    /// The previous slice ended with CR, so a leading LF belongs to that line end.
    after_cr: bool,
    /// No line has completed yet, so a BOM may still start the stream.
    at_stream_start: bool,
    /// The current line broke the limit; drop bytes until it ends.
    skipping_line: bool,
}

impl LineSplitter {
    /// A splitter that refuses lines longer than `max_line_bytes`.
    pub fn new(max_line_bytes: usize) -> LineSplitter {
        LineSplitter { max_line_bytes, line: Vec::new(), after_cr: false, at_stream_start: true, skipping_line: false }
    }

    /// Feeds bytes; `on_line` gets each completed line. A line over the limit is dropped and
    /// reported after all the bytes have been processed.
    ///
    /// # Errors
    ///
    /// [`ParseError::LineTooLong`] when a line was longer than the limit: it is dropped, the rest
    /// of `bytes` is still split, and the splitter can go on being fed.
    pub fn feed(&mut self, mut bytes: &[u8], mut on_line: impl FnMut(&str)) -> Result<(), ParseError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let mut too_long = false;
        if self.after_cr && bytes.first() == Some(&b'\n') {
            bytes = &bytes[1..];
        }
        self.after_cr = false;
        while let Some(end) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            let line_end = bytes[end];
            too_long |= self.take_part(&bytes[..end]);
            self.end_line(&mut on_line);
            bytes = &bytes[end + 1..];
            if line_end == b'\r' {
                match bytes.first() {
                    Some(b'\n') => bytes = &bytes[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
        }
        too_long |= self.take_part(bytes);
        if too_long {
            Err(ParseError::LineTooLong(self.max_line_bytes))
        } else {
            Ok(())
        }
    }

    /// The stream ended: drops an unfinished line; the next bytes start a new stream.
    pub fn finish(&mut self) {
        self.line.clear();
        self.after_cr = false;
        self.at_stream_start = true;
        self.skipping_line = false;
    }

    /// Adds bytes to the current line; true if that broke the limit.
    fn take_part(&mut self, part: &[u8]) -> bool {
        if self.skipping_line {
            return false;
        }
        if self.line.len() + part.len() > self.max_line_bytes {
            self.line.clear();
            self.skipping_line = true;
            return true;
        }
        self.line.extend_from_slice(part);
        false
    }

    fn end_line(&mut self, on_line: &mut impl FnMut(&str)) {
        let bom_possible = std::mem::take(&mut self.at_stream_start);
        if std::mem::take(&mut self.skipping_line) {
            return;
        }
        let start = if bom_possible && self.line.starts_with(BOM) { BOM.len() } else { 0 };
        on_line(&String::from_utf8_lossy(&self.line[start..]));
        self.line.clear();
    }
}

/// The incremental event-stream parser. See the module docs for the rules.
#[derive(Debug, Clone)]
pub struct Parser {
    lines: LineSplitter,
    event: EventBuffers,
}

/// What the parser keeps between dispatches: the event being received, and the stream's state.
#[derive(Debug, Clone, Default)]
struct EventBuffers {
    fields: EventFields,
    last_event_id: String,
    retry: Option<Duration>,
    /// Keep comment lines for [`Parser::next_received`] (off: they are dropped, as a browser does).
    keep_comments: bool,
    ready: VecDeque<Received>,
}

/// What the parser hands out in stream order when comments are kept: an event, or a comment line
/// (its text after the colon, one leading space removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A dispatched event.
    Event(MessageEvent),
    /// A comment line (`: text`), such as a heartbeat.
    Comment(String),
}

impl Default for Parser {
    fn default() -> Parser {
        Parser::with_limits(DEFAULT_MAX_LINE_BYTES, DEFAULT_MAX_EVENT_BYTES)
    }
}

impl Parser {
    /// A parser with the default limits.
    pub fn new() -> Parser {
        Parser::default()
    }

    /// A parser with these limits on line length and event size, in bytes.
    pub fn with_limits(max_line_bytes: usize, max_event_bytes: usize) -> Parser {
        Parser {
            lines: LineSplitter::new(max_line_bytes),
            event: EventBuffers { fields: EventFields::new(max_event_bytes), ..EventBuffers::default() },
        }
    }

    /// A parser for a reconnection: it starts with the last event id of the previous connection
    /// (the id persists across connections, as in a browser).
    pub fn resuming(last_event_id: impl Into<String>) -> Parser {
        Parser::default().resume_from(last_event_id)
    }

    /// This parser, as if an event with this id had been received.
    pub fn resume_from(self, last_event_id: impl Into<String>) -> Parser {
        let mut parser = self;
        parser.event.last_event_id = last_event_id.into();
        parser
    }

    /// Feeds received bytes. Dispatched events wait in [`Parser::next_event`]. The first limit
    /// broken in these bytes is returned after all of them have been processed.
    ///
    /// # Errors
    ///
    /// The first limit these bytes broke, [`ParseError::LineTooLong`] or
    /// [`ParseError::EventTooLarge`]: the offending line or event is dropped, and the parser can go
    /// on being fed.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), ParseError> {
        let mut too_large = None;
        let event = &mut self.event;
        let lines = self.lines.feed(bytes, |line| {
            if let Err(e) = event.take_line(classify_line(line)) {
                too_large.get_or_insert(e);
            }
        });
        lines.and(too_large.map_or(Ok(()), Err))
    }

    /// This parser, keeping comment lines as well, for [`Parser::next_received`].
    pub fn with_comments(mut self) -> Parser {
        self.event.keep_comments = true;
        self
    }

    /// The next dispatched event, oldest first (comments kept before it are passed over).
    pub fn next_event(&mut self) -> Option<MessageEvent> {
        while let Some(received) = self.event.ready.pop_front() {
            if let Received::Event(event) = received {
                return Some(event);
            }
        }
        None
    }

    /// The next event or kept comment, in stream order.
    pub fn next_received(&mut self) -> Option<Received> {
        self.event.ready.pop_front()
    }

    /// The stream's last event id: what a reconnecting client sends as `Last-Event-ID`.
    pub fn last_event_id(&self) -> &str {
        &self.event.last_event_id
    }

    /// The reconnection time the stream asked for with `retry:`, if any.
    pub fn retry(&self) -> Option<Duration> {
        self.event.retry
    }

    /// The stream ended: an event still missing its blank line is discarded, and the parser is
    /// ready for a new connection (keeping the last event id and retry).
    pub fn finish(&mut self) {
        self.lines.finish();
        self.event.fields.end();
    }
}

impl EventBuffers {
    fn take_line(&mut self, line: Line<'_>) -> Result<(), ParseError> {
        match line {
            Line::Blank => self.dispatch(),
            Line::Comment(text) => {
                if self.keep_comments {
                    let text = text.strip_prefix(' ').unwrap_or(text);
                    self.ready.push_back(Received::Comment(text.to_string()));
                }
            }
            // The reconnection time is the stream's as soon as its line is read.
            Line::Field { name, value } => {
                if let Field::Retry(retry) = self.fields.take(name, value)? {
                    self.retry = Some(retry);
                }
            }
        }
        Ok(())
    }

    /// The blank line: the event's id becomes the stream's last id, and an event with data fires.
    fn dispatch(&mut self) {
        let Block { data, event_type, id, too_large, .. } = self.fields.end();
        if let Some(id) = &id {
            self.last_event_id.clone_from(id);
        }
        let Some(data) = data.filter(|_| !too_large) else { return };
        let event = event_type.filter(|event_type| !event_type.is_empty()).unwrap_or_else(|| "message".to_string());
        self.ready.push_back(Received::Event(MessageEvent {
            event,
            data,
            last_event_id: self.last_event_id.clone(),
            id,
        }));
    }
}

/// Reads events from any blocking reader, keeping the stream's state (last event id, retry)
/// between them. An iterator of `io::Result<MessageEvent>` that ends at the end of the stream.
///
/// ```
/// use bare_sse::parse::EventReader;
///
/// let stream = "data: one\n\n: comment\nid: 2\ndata: two\n\ndata: unfinished".as_bytes();
/// let data: Vec<String> = EventReader::new(stream).map(|e| e.unwrap().data).collect();
/// assert_eq!(data, ["one", "two"]);
/// ```
#[derive(Debug)]
pub struct EventReader<R> {
    reader: R,
    parser: Parser,
}

impl<R: BufRead> EventReader<R> {
    /// Reads from `reader` with a default [`Parser`].
    pub fn new(reader: R) -> EventReader<R> {
        EventReader::with_parser(reader, Parser::new())
    }

    /// Reads from `reader` with the given parser (limits, or a resumed last event id).
    pub fn with_parser(reader: R, parser: Parser) -> EventReader<R> {
        EventReader { reader, parser }
    }

    /// The parser's state: last event id and retry.
    pub fn parser(&self) -> &Parser {
        &self.parser
    }

    /// Gives back the reader.
    pub fn into_inner(self) -> R {
        self.reader
    }

    /// The next event, or `None` at the end of the stream.
    ///
    /// # Errors
    ///
    /// The reader's I/O error; and an `InvalidData` one, whose inner error
    /// ([`get_ref`](io::Error::get_ref)) is the [`ParseError`], when the stream breaks a limit: the
    /// offending line or event is dropped, and reading can go on.
    pub fn next_event(&mut self) -> io::Result<Option<MessageEvent>> {
        // The parser keeps events it has not handed out, so whole buffers can be fed at once.
        pull(&mut self.reader, &mut self.parser, Feed::Everything, Parser::next_event)
    }

    /// The next event or kept comment (see [`Parser::with_comments`]), or `None` at the end of
    /// the stream.
    ///
    /// # Errors
    ///
    /// Those of [`next_event`](Self::next_event).
    pub fn next_received(&mut self) -> io::Result<Option<Received>> {
        pull(&mut self.reader, &mut self.parser, Feed::Everything, Parser::next_received)
    }
}

/// How much of the reader's buffer to feed the parser at a time.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Feed {
    /// Whatever the reader has: the parser outlives this call and keeps later events.
    Everything,
    /// Up to the first line end only, so that no byte past the returned event leaves the reader:
    /// for a parser that is dropped after this call.
    OneLine,
}

/// Feeds `parser` from `reader` until `take` gets something from it, or the stream ends.
fn pull<T>(
    reader: &mut impl BufRead,
    parser: &mut Parser,
    feed: Feed,
    take: impl Fn(&mut Parser) -> Option<T>,
) -> io::Result<Option<T>> {
    loop {
        if let Some(item) = take(parser) {
            return Ok(Some(item));
        }
        let available = reader.fill_buf()?;
        if available.is_empty() {
            parser.finish();
            return Ok(None);
        }
        let take = match feed {
            Feed::Everything => available.len(),
            Feed::OneLine => {
                available.iter().position(|&b| b == b'\n' || b == b'\r').map_or(available.len(), |at| at + 1)
            }
        };
        let fed = parser.feed(&available[..take]);
        reader.consume(take);
        fed.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    }
}

impl<R: BufRead> Iterator for EventReader<R> {
    type Item = io::Result<MessageEvent>;

    fn next(&mut self) -> Option<io::Result<MessageEvent>> {
        self.next_event().transpose()
    }
}

/// Reads one event from a blocking reader: `Ok(None)` only at the end of the stream, never for an
/// event without data (those are skipped, as a browser skips them).
///
/// Each call starts a fresh parser, so the last event id does not carry over from one call to the
/// next; use [`EventReader`] to keep it.
///
/// # Errors
///
/// Those of [`EventReader::next_event`].
pub fn read_event(reader: &mut impl BufRead) -> io::Result<Option<MessageEvent>> {
    // A CRLF split by the previous call leaves a lone LF here; a fresh parser reads it as an empty
    // line, which dispatches nothing, so no state needs to carry over.
    pull(reader, &mut Parser::new(), Feed::OneLine, Parser::next_event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::SplitRng;

    /// An event that carried no id of its own; `last_event_id` is the stream's.
    fn event(event: &str, data: &str, last_event_id: &str) -> MessageEvent {
        MessageEvent { event: event.into(), data: data.into(), last_event_id: last_event_id.into(), id: None }
    }

    /// An event that carried its own `id:` field, which is then also the stream's last id.
    fn event_with_id(event: &str, data: &str, id: &str) -> MessageEvent {
        MessageEvent { event: event.into(), data: data.into(), last_event_id: id.into(), id: Some(id.into()) }
    }

    fn drain(parser: &mut Parser) -> Vec<MessageEvent> {
        std::iter::from_fn(|| parser.next_event()).collect()
    }

    /// Parses `input` whole, one byte at a time, and in 20 random splits; all must agree. Returns
    /// the events and the parser (for its last id and retry).
    fn parse(input: &[u8]) -> (Vec<MessageEvent>, Parser) {
        let mut whole = Parser::new();
        let _ = whole.feed(input);
        let expected = drain(&mut whole);
        let mut bytewise = Parser::new();
        for byte in input {
            let _ = bytewise.feed(std::slice::from_ref(byte));
        }
        assert_eq!(drain(&mut bytewise), expected, "byte by byte differs for {input:?}");
        let mut rng = SplitRng::new(input.len() as u64);
        for _ in 0..20 {
            let mut split = Parser::new();
            for piece in rng.split(input) {
                let _ = split.feed(piece);
            }
            assert_eq!(drain(&mut split), expected, "random split differs for {input:?}");
            assert_eq!(split.last_event_id(), whole.last_event_id());
            assert_eq!(split.retry(), whole.retry());
        }
        (expected, whole)
    }

    fn events(input: &str) -> Vec<MessageEvent> {
        parse(input.as_bytes()).0
    }

    #[test]
    fn comments_are_kept_in_stream_order_only_when_asked() {
        let input = b": hello\ndata: a\n\n:keep-alive\n:  two spaces\ndata: b\n\n";
        let mut parser = Parser::new().with_comments();
        parser.feed(input).unwrap();
        let received: Vec<Received> = std::iter::from_fn(|| parser.next_received()).collect();
        assert_eq!(
            received,
            [
                Received::Comment("hello".into()),
                Received::Event(event("message", "a", "")),
                Received::Comment("keep-alive".into()),
                Received::Comment(" two spaces".into()),
                Received::Event(event("message", "b", "")),
            ]
        );
        let mut plain = Parser::new();
        plain.feed(input).unwrap();
        assert_eq!(plain.next_received(), Some(Received::Event(event("message", "a", ""))), "no comments unless asked");
        let mut skipping = Parser::new().with_comments();
        skipping.feed(input).unwrap();
        assert_eq!(drain(&mut skipping).len(), 2, "next_event passes over kept comments");
    }

    #[test]
    fn simple_event_defaults_to_message() {
        assert_eq!(events("data: hi\n\n"), [event("message", "hi", "")]);
    }

    #[test]
    fn bom_is_skipped_only_at_the_start() {
        assert_eq!(events("\u{feff}data: a\n\n"), [event("message", "a", "")]);
        let (second, _) = parse("data: a\n\n\u{feff}data: b\n\n".as_bytes());
        assert_eq!(second.len(), 1, "a BOM later makes the field name `\u{feff}data`, ignored");
        assert_eq!(events("\u{feff}\u{feff}data: a\n\n"), [], "only one BOM is skipped");
    }

    #[test]
    fn crlf_cr_and_lf_line_ends() {
        let expected = [event("message", "a\nb", ""), event("message", "c", "")];
        assert_eq!(events("data: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n"), expected);
        assert_eq!(events("data: a\rdata: b\r\rdata: c\r\r"), expected);
        assert_eq!(events("data: a\ndata: b\n\ndata: c\n\n"), expected);
        assert_eq!(events("data: a\r\ndata: b\n\rdata: c\r\n\n"), expected);
    }

    #[test]
    fn cr_at_the_end_of_one_read_and_lf_at_the_start_of_the_next() {
        let mut parser = Parser::new();
        parser.feed(b"data: a\r").unwrap();
        parser.feed(b"").unwrap();
        parser.feed(b"\ndata: b\r").unwrap();
        parser.feed(b"\n\r").unwrap();
        parser.feed(b"\n").unwrap();
        assert_eq!(drain(&mut parser), [event("message", "a\nb", "")], "CRLF across reads is one line end");
    }

    #[test]
    fn utf8_split_across_reads_and_invalid_bytes_replaced() {
        let input = "data: caf\u{e9} \u{1f600}\n\n".as_bytes();
        assert_eq!(parse(input).0, [event("message", "caf\u{e9} \u{1f600}", "")]);
        assert_eq!(parse(b"data: a\xffb\n\n").0, [event("message", "a\u{fffd}b", "")]);
    }

    #[test]
    fn one_leading_space_is_removed() {
        assert_eq!(events("data:x\n\n")[0].data, "x");
        assert_eq!(events("data: x\n\n")[0].data, "x");
        assert_eq!(events("data:  x\n\n")[0].data, " x");
        assert_eq!(events("data:\tx\n\n")[0].data, "\tx");
    }

    #[test]
    fn field_without_colon_has_an_empty_value() {
        assert_eq!(events("data\ndata\n\n"), [event("message", "\n", "")]);
        assert_eq!(events("data\n\n"), [event("message", "", "")], "one empty data line still fires");
    }

    #[test]
    fn comments_and_unknown_fields_are_ignored() {
        assert_eq!(events(": hello\nfoo: bar\ndata: x\n:\n\n"), [event("message", "x", "")]);
    }

    #[test]
    fn event_type_is_used_then_reset() {
        let got = events("event: add\ndata: 1\n\ndata: 2\n\n");
        assert_eq!(got, [event("add", "1", ""), event("message", "2", "")]);
    }

    #[test]
    fn last_event_id_persists_across_events() {
        let (got, parser) = parse(b"id: 1\ndata: a\n\ndata: b\n\n");
        assert_eq!(got, [event_with_id("message", "a", "1"), event("message", "b", "1")]);
        assert_eq!(parser.last_event_id(), "1");
    }

    /// An event says whether it carried an id itself, apart from the stream's last id: the id of
    /// a block that fired nothing, an id with NUL, or an unfinished event's id is no later event's
    /// own id; an empty `id:` is one (it resets the last id); the last `id:` of a block wins.
    #[test]
    fn an_event_tells_its_own_id_from_the_last_one() {
        let input = "id: 1\ndata: a\n\ndata: b\n\nid: 2\n\ndata: c\n\nid: 3\0\ndata: d\n\n\
                     id\ndata: e\n\nid: x\nid: 4\ndata: f\n\n";
        let (got, parser) = parse(input.as_bytes());
        assert_eq!(
            got,
            [
                event_with_id("message", "a", "1"),
                event("message", "b", "1"),
                event("message", "c", "2"),
                event("message", "d", "2"),
                event_with_id("message", "e", ""),
                event_with_id("message", "f", "4"),
            ]
        );
        assert_eq!(parser.last_event_id(), "4");
        let mut parser = Parser::resuming("41");
        parser.feed(b"id: 5\ndata: cut").unwrap();
        parser.finish();
        parser.feed(b"data: next\n\n").unwrap();
        assert_eq!(parser.next_event(), Some(event("message", "next", "41")), "the unfinished event's id is gone");
    }

    #[test]
    fn id_with_nul_is_ignored() {
        let (got, parser) = parse(b"id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n");
        assert_eq!(got[1].last_event_id, "1");
        assert_eq!(parser.last_event_id(), "1");
    }

    #[test]
    fn empty_id_resets() {
        let (got, parser) = parse(b"id: 1\ndata: a\n\nid\ndata: b\n\n");
        assert_eq!(got[1].last_event_id, "");
        assert_eq!(parser.last_event_id(), "");
    }

    #[test]
    fn id_without_data_updates_the_last_id_but_fires_nothing() {
        let (got, parser) = parse(b"id: 5\n\n");
        assert!(got.is_empty());
        assert_eq!(parser.last_event_id(), "5");
    }

    #[test]
    fn retry_needs_digits_only() {
        assert_eq!(parse(b"retry: 2500\n\n").1.retry(), Some(Duration::from_millis(2500)));
        for ignored in ["retry: 25x\n\n", "retry: -1\n\n", "retry: 1.5\n\n", "retry:\n\n", "retry:  10\n\n"] {
            assert_eq!(parse(ignored.as_bytes()).1.retry(), None, "{ignored:?}");
        }
    }

    #[test]
    fn empty_data_is_not_dispatched_and_type_is_reset() {
        assert_eq!(events("event: x\n\ndata: y\n\n"), [event("message", "y", "")]);
    }

    #[test]
    fn trailing_newline_removed_once() {
        assert_eq!(events("data: a\ndata:\n\n")[0].data, "a\n");
    }

    #[test]
    fn unfinished_event_is_discarded_at_end_of_stream() {
        let mut parser = Parser::new();
        parser.feed(b"data: done\n\ndata: partial\n").unwrap();
        parser.finish();
        parser.feed(b"data: next\n\n").unwrap();
        let data: Vec<String> = drain(&mut parser).into_iter().map(|e| e.data).collect();
        assert_eq!(data, ["done", "next"]);
    }

    #[test]
    fn resuming_parser_keeps_the_previous_id() {
        let mut parser = Parser::resuming("41");
        parser.feed(b"data: x\n\n").unwrap();
        assert_eq!(parser.next_event().unwrap().last_event_id, "41");
    }

    #[test]
    fn line_limit_at_and_past_it() {
        let mut parser = Parser::with_limits(10, 1000);
        parser.feed(b"data: 1234\n\n").unwrap(); // exactly 10 bytes
        assert_eq!(parser.next_event().unwrap().data, "1234");
        assert_eq!(parser.feed(b"data: 12345\n\n"), Err(ParseError::LineTooLong(10)));
        assert!(parser.next_event().is_none(), "the long line was dropped");
        parser.feed(b"data: ok\n\n").unwrap();
        assert_eq!(parser.next_event().unwrap().data, "ok", "the parser goes on after the error");
    }

    #[test]
    fn event_limit_at_and_past_it() {
        let mut parser = Parser::with_limits(100, 6);
        parser.feed(b"data: ab\ndata: c\n\n").unwrap(); // "ab\nc\n" is 5 bytes
        assert_eq!(parser.next_event().unwrap().data, "ab\nc");
        assert_eq!(parser.feed(b"data: abc\ndata: def\n\n"), Err(ParseError::EventTooLarge(6)));
        assert!(parser.next_event().is_none(), "the large event was dropped whole");
        parser.feed(b"data: ok\n\n").unwrap();
        assert_eq!(parser.next_event().unwrap().data, "ok");
    }

    /// Each field as the rules read it: what the parser takes, and what it passes over and why.
    #[test]
    fn fields_are_read_by_the_rules() {
        assert_eq!(Field::read("data", ""), Field::Data(""));
        assert_eq!(Field::read("event", "x"), Field::Event("x"));
        assert_eq!(Field::read("id", ""), Field::Id(""));
        assert_eq!(Field::read("id", "\0"), Field::IdWithNul("\0"));
        assert_eq!(Field::read("retry", "0"), Field::Retry(Duration::ZERO));
        for bad in ["", "+1", "-1", " 1", "1.5", "99999999999999999999999"] {
            assert_eq!(Field::read("retry", bad), Field::BadRetry(bad), "{bad:?}");
        }
        assert_eq!(Field::read("Data", "x"), Field::Unknown { name: "Data", value: "x" }, "names are case-sensitive");
    }

    /// An event's fields: the last of each kind counts, ignored fields leave it empty, data past
    /// the limit (on one line or over several) is dropped with the rest of the event's data while
    /// its other fields stay, and an ended event leaves nothing behind.
    #[test]
    fn event_fields_keep_the_last_of_each_and_bound_the_data() {
        let mut fields = EventFields::new(6);
        fields.take("colour", "red").unwrap();
        fields.take("retry", "soon").unwrap();
        fields.take("id", "a\0").unwrap();
        assert!(fields.is_empty(), "ignored fields do not count");
        for (name, value) in [("id", "1"), ("id", "2"), ("event", "e"), ("retry", "5"), ("data", "ab"), ("data", "c")] {
            fields.take(name, value).unwrap();
        }
        let block = fields.end();
        let expected = Block {
            data: Some("ab\nc".to_string()),
            event_type: Some("e".to_string()),
            id: Some("2".to_string()),
            retry: Some(Duration::from_millis(5)),
            too_large: false,
        };
        assert_eq!(block, expected);
        assert!(fields.is_empty() && fields.end() == Block::default());

        fields.take("data", "abc").unwrap();
        assert_eq!(fields.take("data", "de"), Err(ParseError::EventTooLarge(6)), "7 bytes with the line ends");
        assert_eq!(fields.take("data", "f"), Ok(Field::Data("f")), "dropped without another error");
        fields.take("id", "3").unwrap();
        let block = fields.end();
        assert_eq!((block.data, block.id.as_deref(), block.too_large), (None, Some("3"), true));
        assert_eq!(fields.take("data", "abcdef"), Err(ParseError::EventTooLarge(6)), "one line past it");
        assert!(!fields.is_empty(), "an event dropped for its size still ends with its blank line");
        fields.end();
        fields.take("data", "abcde").unwrap();
        assert_eq!(fields.end().data.as_deref(), Some("abcde"), "at the limit");
    }

    #[test]
    fn round_trips_the_encoder() {
        use crate::Event;
        let sent = Event::new().event("t").id("9").data(" lead\r\nmid\r\n\nend\n");
        let (got, _) = parse(&sent.to_bytes().unwrap());
        assert_eq!(got, [event_with_id("t", " lead\nmid\n\nend\n", "9")]);
    }

    #[test]
    fn read_event_returns_none_only_at_the_end() {
        let mut stream = "id: 1\n\n: c\ndata: a\r\n\r\nevent: e\n\ndata: b\r\rdata: tail".as_bytes();
        assert_eq!(read_event(&mut stream).unwrap().unwrap().data, "a");
        assert_eq!(read_event(&mut stream).unwrap().unwrap().data, "b");
        assert!(read_event(&mut stream).unwrap().is_none());
        assert!(read_event(&mut stream).unwrap().is_none());
    }

    #[test]
    fn event_reader_keeps_state_between_events() {
        let stream = "id: 7\ndata: a\n\ndata: b\n\nretry: 10\n\n".as_bytes();
        let mut reader = EventReader::new(stream);
        assert_eq!(reader.next().unwrap().unwrap().last_event_id, "7");
        assert_eq!(reader.next().unwrap().unwrap().last_event_id, "7");
        assert!(reader.next().is_none());
        assert_eq!(reader.parser().retry(), Some(Duration::from_millis(10)));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = SplitRng::new(7);
        for _ in 0..500 {
            let input = rng.bytes(b"data:id event retry\r\n \xef\xbb\xbf\0x", 64);
            parse(&input);
        }
    }
}
