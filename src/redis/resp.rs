//! RESP2, the Redis protocol, with no I/O: commands encoded as arrays of bulk strings, and replies
//! decoded incrementally from bytes that arrive in any split.
//!
//! The decoder looks at every byte once: a framing pass follows the reply's structure (lines,
//! bulk lengths, array counts) as bytes arrive, remembering where it stopped, and only a reply
//! known to be complete is turned into a [`Value`]. Every bulk, every array, and each whole
//! reply (its bytes and its items, at every level) is bounded, and so is nesting, so a peer cannot
//! make it allocate or recurse without limit.
//!
//! Over a limit, a reply is an error, or, with [`Limits::discard_oversized`], the bulk string or
//! array that does not fit is read and dropped as it arrives (never buffered) and stands in the
//! reply as [`Value::Discarded`]: the rest of the reply still decodes, so a reader learns, for
//! example, the id of a stream entry too large to take, and can skip exactly that entry.

use std::fmt;
use std::io::Write;
use std::ops::Range;

/// A reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `+OK`
    Simple(String),
    /// `-ERR ...`: an error reply (the command failed; the connection is fine).
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$3\r\nabc`, or `$-1` (`None`).
    Bulk(Option<Vec<u8>>),
    /// `*2\r\n...`, or `*-1` (`None`).
    Array(Option<Vec<Value>>),
    /// A bulk string or array over the decoder's limits, read and dropped (only with
    /// [`Limits::discard_oversized`]).
    Discarded,
}

impl Value {
    /// The bytes of a bulk or simple string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bulk(Some(bytes)) => Some(bytes),
            Value::Simple(text) => Some(text.as_bytes()),
            _ => None,
        }
    }

    /// The text of a bulk or simple string, if it is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(self.as_bytes()?).ok()
    }

    /// The items of an array (an absent array has none).
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(Some(items)) => Some(items),
            Value::Array(None) => Some(&[]),
            _ => None,
        }
    }

    /// The number of an integer reply.
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Value::Integer(n) => Some(*n),
            _ => None,
        }
    }
}

/// Bounds on what the decoder accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest bulk string.
    pub max_bulk_bytes: usize,
    /// Most items in one array.
    pub max_array_items: usize,
    /// Deepest nesting of arrays.
    pub max_depth: usize,
    /// Longest line after its type byte (a simple string, an error, a number).
    pub max_line_bytes: usize,
    /// Most bytes one whole reply keeps, framing included. A dropped bulk string or array
    /// ([`discard_oversized`](Self::discard_oversized)) counts only its marker, a few bytes.
    pub max_reply_bytes: usize,
    /// Most items (strings, numbers, arrays) in one whole reply, at every level, counted as the
    /// arrays announce them.
    pub max_reply_items: usize,
    /// A bulk string or array over the limits above (but nesting and lines, which are errors
    /// always): `false` makes the reply an error, `true` reads and drops it as it arrives and puts
    /// [`Value::Discarded`] in its place.
    pub discard_oversized: bool,
}

impl Default for Limits {
    /// 64 MiB bulks and replies, a million items per array and per reply, 16 levels, 64 KiB lines;
    /// errors past them.
    fn default() -> Limits {
        Limits {
            max_bulk_bytes: 64 << 20,
            max_array_items: 1 << 20,
            max_depth: 16,
            max_line_bytes: 64 << 10,
            max_reply_bytes: 64 << 20,
            max_reply_items: 1 << 20,
            discard_oversized: false,
        }
    }
}

/// Why bytes are not RESP.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RespError {
    /// A type byte that is not `+ - : $ *`.
    UnknownType(u8),
    /// A length or number that does not parse, or a line without its CR LF.
    Malformed(&'static str),
    /// A length, count, depth, line or whole reply over the limits.
    TooLarge(&'static str),
}

impl fmt::Display for RespError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RespError::UnknownType(byte) => write!(f, "not RESP: a reply starting with byte {byte:#04x}"),
            RespError::Malformed(what) => write!(f, "malformed RESP: {what}"),
            RespError::TooLarge(what) => write!(f, "RESP reply too large: {what}"),
        }
    }
}

impl std::error::Error for RespError {}

/// A command as RESP: an array of bulk strings.
///
/// ```
/// use bare_sse::redis::resp::encode_command;
/// assert_eq!(encode_command(&[b"GET", b"k"]), b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
/// ```
pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    encode_command_into(args, &mut out);
    out
}

/// Appends a command to `out` (to pipeline several in one write).
pub fn encode_command_into(args: &[&[u8]], out: &mut Vec<u8>) {
    // Writing to a vector cannot fail.
    let _ = write!(out, "*{}\r\n", args.len());
    for arg in args {
        let _ = write!(out, "${}\r\n", arg.len());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// What stands in the buffer for a dropped bulk string or array: a line with a type byte RESP2
/// does not have, so it can only have been written by the decoder itself.
const DISCARDED_MARK: &[u8] = b"!\r\n";

/// Decodes replies from bytes fed in any split.
#[derive(Debug)]
pub struct Decoder {
    // Invariant: `buffer[..framed]` is the reply being framed, well formed so far, with every
    // dropped item replaced by `DISCARDED_MARK`; `buffer[framed..]` is received bytes not looked
    // at yet.
    buffer: Vec<u8>,
    framed: usize,
    /// Items still to come in each array being framed, innermost last.
    open_arrays: Vec<usize>,
    /// Items of the reply being framed: its top-level item and every count its kept arrays
    /// announced.
    reply_items: usize,
    /// The payload bytes still to drop of a bulk string being dropped (its CR LF follows them).
    dropping_bulk: Option<usize>,
    /// When framing inside a dropped array: its index in `open_arrays`. Everything in it is framed
    /// (to find its end) and removed from the buffer at once.
    dropping_array: Option<usize>,
    limits: Limits,
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder::new(Limits::default())
    }
}

/// What became of an item's header line.
enum Placed {
    /// Removed, with the dropped array the item is in.
    Dropped,
    /// Replaced by the discarded mark: the item is too large to keep.
    Discarded,
    /// Kept: the item is framed.
    Kept,
}

/// An item framed by one step of the framing pass.
enum Step {
    /// More bytes are needed.
    Incomplete,
    /// An item ended (a line, a bulk string, an empty or absent array).
    Item,
    /// An array opened, or a bulk string started being dropped: its end is still to come.
    Opened,
}

impl Decoder {
    /// A decoder with these limits.
    pub fn new(limits: Limits) -> Decoder {
        Decoder {
            buffer: Vec::new(),
            framed: 0,
            open_arrays: Vec::new(),
            reply_items: 1,
            dropping_bulk: None,
            dropping_array: None,
            limits,
        }
    }

    /// Changes the limits. Call it between replies: they apply to whatever is framed next.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Bytes held of replies not yet complete (the dropped parts of a reply are not held).
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Adds received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete reply, `None` until one is complete. After an error the stream cannot be
    /// trusted: the connection should be closed.
    ///
    /// # Errors
    ///
    /// [`RespError::UnknownType`] or [`RespError::Malformed`] when the bytes are not RESP, and
    /// [`RespError::TooLarge`] when a reply is over the [`Limits`] (a bulk string or array too
    /// large is dropped instead with [`Limits::discard_oversized`]).
    pub fn next_value(&mut self) -> Result<Option<Value>, RespError> {
        loop {
            let step = match self.dropping_bulk {
                Some(left) => self.drop_bulk(left)?,
                None if self.framed == self.buffer.len() => Step::Incomplete,
                None => self.frame_one()?,
            };
            match step {
                Step::Incomplete => return Ok(None),
                Step::Opened => continue,
                Step::Item if !self.close_item() => continue,
                Step::Item => {
                    // A whole reply: parse it in one pass over bytes known to be well framed.
                    let end = self.framed;
                    let (value, used) = parse_framed(&self.buffer[..end]);
                    debug_assert_eq!(used, end);
                    self.buffer.drain(..end);
                    self.framed = 0;
                    self.reply_items = 1;
                    return Ok(Some(value));
                }
            }
        }
    }

    /// Frames the item that starts at `framed`.
    fn frame_one(&mut self) -> Result<Step, RespError> {
        let start = self.framed;
        let kind = self.buffer[start];
        if !b"+-:$*".contains(&kind) {
            return Err(RespError::UnknownType(kind));
        }
        let Some(line_end) = self.line_end(start)? else { return Ok(Step::Incomplete) };
        let header = start..line_end + 2;
        let line = &self.buffer[start + 1..line_end];
        match kind {
            b'$' => match parse_length(line)? {
                Some(length) => self.frame_bulk(header, length),
                None => Ok(self.keep_or_drop(header.start, header.end)),
            },
            b'*' => match parse_length(line)? {
                None | Some(0) => Ok(self.keep_or_drop(header.start, header.end)),
                Some(count) => self.frame_array(header, count),
            },
            _ => {
                if kind == b':' {
                    parse_integer(line)?;
                }
                self.frame_line(header)
            }
        }
    }

    /// A simple string, error or integer: its line is the whole item.
    fn frame_line(&mut self, line: Range<usize>) -> Result<Step, RespError> {
        let too_large = (line.end > self.limits.max_reply_bytes).then_some("reply");
        if let Placed::Kept = self.place_header(line.clone(), too_large)? {
            self.framed = line.end;
        }
        Ok(Step::Item)
    }

    /// A bulk string of `length` bytes, whose header line is `header`: kept once its payload has
    /// arrived, or dropped as its payload arrives.
    fn frame_bulk(&mut self, header: Range<usize>, length: usize) -> Result<Step, RespError> {
        let too_large = if length > self.limits.max_bulk_bytes {
            Some("bulk string")
        } else if header.end.saturating_add(length).saturating_add(2) > self.limits.max_reply_bytes {
            Some("reply")
        } else {
            None
        };
        if let Placed::Kept = self.place_header(header.clone(), too_large)? {
            let payload_end = header.end + length;
            if self.buffer.len() < payload_end + 2 {
                return Ok(Step::Incomplete);
            }
            if &self.buffer[payload_end..payload_end + 2] != b"\r\n" {
                return Err(RespError::Malformed("a bulk string without its CR LF"));
            }
            self.framed = payload_end + 2;
            return Ok(Step::Item);
        }
        // Dropped: its payload goes as it arrives, never all in memory.
        self.dropping_bulk = Some(length);
        Ok(Step::Opened)
    }

    /// An array of `count` items, whose header line is `header`: its items are framed next, kept
    /// or dropped with it.
    fn frame_array(&mut self, header: Range<usize>, count: usize) -> Result<Step, RespError> {
        if self.open_arrays.len() >= self.limits.max_depth {
            return Err(RespError::TooLarge("nesting"));
        }
        let too_large = if count > self.limits.max_array_items {
            Some("array")
        } else if self.reply_items.saturating_add(count) > self.limits.max_reply_items {
            Some("reply items")
        } else if header.end > self.limits.max_reply_bytes {
            Some("reply")
        } else {
            None
        };
        match self.place_header(header.clone(), too_large)? {
            Placed::Kept => {
                self.reply_items += count;
                self.framed = header.end;
            }
            Placed::Discarded => self.dropping_array = Some(self.open_arrays.len()),
            Placed::Dropped => {}
        }
        self.open_arrays.push(count);
        Ok(Step::Opened)
    }

    /// What becomes of an item's header line: removed inside a dropped array, replaced by the
    /// discarded mark when the item is too large (`too_large` says for which limit; an error
    /// unless the limits discard), or kept, for the caller to frame.
    fn place_header(&mut self, header: Range<usize>, too_large: Option<&'static str>) -> Result<Placed, RespError> {
        if self.dropping_array.is_some() {
            self.buffer.drain(header);
            return Ok(Placed::Dropped);
        }
        match too_large {
            Some(what) => {
                self.discard(header.start, header.end, what)?;
                Ok(Placed::Discarded)
            }
            None => Ok(Placed::Kept),
        }
    }

    /// A complete small item (`$-1`, `*-1`, `*0`): kept, or removed inside a dropped array.
    fn keep_or_drop(&mut self, start: usize, end: usize) -> Step {
        if self.dropping_array.is_some() {
            self.buffer.drain(start..end);
        } else {
            self.framed = end;
        }
        Step::Item
    }

    /// Replaces the item header at `start..end` with the discarded mark, or fails when the limits
    /// say so.
    fn discard(&mut self, start: usize, end: usize, what: &'static str) -> Result<(), RespError> {
        if !self.limits.discard_oversized {
            return Err(RespError::TooLarge(what));
        }
        self.buffer.splice(start..end, DISCARDED_MARK.iter().copied());
        self.framed = start + DISCARDED_MARK.len();
        Ok(())
    }

    /// Drops what has arrived of a dropped bulk string's `left` payload bytes, then its CR LF.
    fn drop_bulk(&mut self, left: usize) -> Result<Step, RespError> {
        let take = left.min(self.buffer.len() - self.framed);
        self.buffer.drain(self.framed..self.framed + take);
        let left = left - take;
        self.dropping_bulk = Some(left);
        if left > 0 || self.buffer.len() < self.framed + 2 {
            return Ok(Step::Incomplete);
        }
        if &self.buffer[self.framed..self.framed + 2] != b"\r\n" {
            return Err(RespError::Malformed("a bulk string without its CR LF"));
        }
        self.buffer.drain(self.framed..self.framed + 2);
        self.dropping_bulk = None;
        Ok(Step::Item)
    }

    /// Counts one finished item against the open arrays; true when the top-level reply is done.
    fn close_item(&mut self) -> bool {
        while let Some(left) = self.open_arrays.last_mut() {
            *left -= 1;
            if *left > 0 {
                return false;
            }
            self.open_arrays.pop();
            if self.dropping_array == Some(self.open_arrays.len()) {
                self.dropping_array = None;
            }
        }
        true
    }

    /// The position of the CR LF that ends the line starting at `start` (its type byte), if it
    /// has arrived.
    fn line_end(&self, start: usize) -> Result<Option<usize>, RespError> {
        // The type byte, the line, its CR LF: the search starts after the type byte.
        let longest = 1 + self.limits.max_line_bytes + 2;
        let limit = self.buffer.len().min(start + longest);
        let after_type = (start + 1).min(limit);
        match self.buffer[after_type..limit].windows(2).position(|pair| pair == b"\r\n") {
            Some(at) => Ok(Some(after_type + at)),
            None if limit - start >= longest => Err(RespError::TooLarge("line")),
            None => Ok(None),
        }
    }
}

/// `-1` (absent) or a length.
fn parse_length(line: &[u8]) -> Result<Option<usize>, RespError> {
    if line == b"-1" {
        return Ok(None);
    }
    if line.is_empty() || line.len() > 19 || !line.iter().all(u8::is_ascii_digit) {
        return Err(RespError::Malformed("a length that is not a number"));
    }
    let text = std::str::from_utf8(line).map_err(|_| RespError::Malformed("a length that is not a number"))?;
    text.parse().map(Some).map_err(|_| RespError::Malformed("a length that is not a number"))
}

/// An integer reply's number: an optional `-`, then digits, within `i64`.
fn parse_integer(line: &[u8]) -> Result<i64, RespError> {
    let digits = line.strip_prefix(b"-").unwrap_or(line);
    let malformed = RespError::Malformed("an integer that is not a number");
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(malformed);
    }
    std::str::from_utf8(line).ok().and_then(|text| text.parse().ok()).ok_or(malformed)
}

/// Parses one reply that the framing pass found complete; returns it and the bytes it used.
fn parse_framed(bytes: &[u8]) -> (Value, usize) {
    let line_end = bytes.windows(2).position(|pair| pair == b"\r\n").unwrap_or(bytes.len());
    let line = &bytes[1..line_end];
    let after = line_end + 2;
    let text = || String::from_utf8_lossy(line).into_owned();
    match bytes[0] {
        b'+' => (Value::Simple(text()), after),
        b'-' => (Value::Error(text()), after),
        // The framing pass checked the number.
        b':' => (Value::Integer(parse_integer(line).unwrap_or_default()), after),
        b'!' => (Value::Discarded, after),
        b'$' => match parse_length(line).ok().flatten() {
            None => (Value::Bulk(None), after),
            Some(length) => (Value::Bulk(Some(bytes[after..after + length].to_vec())), after + length + 2),
        },
        _ => match parse_length(line).ok().flatten() {
            None => (Value::Array(None), after),
            Some(count) => {
                let mut items = Vec::with_capacity(count);
                let mut at = after;
                for _ in 0..count {
                    let (item, used) = parse_framed(&bytes[at..]);
                    items.push(item);
                    at += used;
                }
                (Value::Array(Some(items)), at)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::SplitRng as Rng;

    fn bulk(text: &str) -> Value {
        Value::Bulk(Some(text.as_bytes().to_vec()))
    }

    /// An XREAD-shaped reply and a few others, with what they decode to.
    fn samples() -> Vec<(Vec<u8>, Value)> {
        let xread = b"*1\r\n*2\r\n$6\r\nevents\r\n*2\r\n*2\r\n$3\r\n1-0\r\n*4\r\n$1\r\nd\r\n$5\r\nhello\r\n$1\r\nk\r\n$1\r\n1\r\n\
                      *2\r\n$3\r\n2-0\r\n*2\r\n$1\r\nd\r\n$0\r\n\r\n"
            .to_vec();
        let entry = |id: &str, fields: Vec<Value>| Value::Array(Some(vec![bulk(id), Value::Array(Some(fields))]));
        let xread_value = Value::Array(Some(vec![Value::Array(Some(vec![
            bulk("events"),
            Value::Array(Some(vec![
                entry("1-0", vec![bulk("d"), bulk("hello"), bulk("k"), bulk("1")]),
                entry("2-0", vec![bulk("d"), bulk("")]),
            ])),
        ]))]));
        vec![
            (b"+OK\r\n".to_vec(), Value::Simple("OK".into())),
            (b"-ERR wrong\r\n".to_vec(), Value::Error("ERR wrong".into())),
            (b":-42\r\n".to_vec(), Value::Integer(-42)),
            (b"$-1\r\n".to_vec(), Value::Bulk(None)),
            (b"*-1\r\n".to_vec(), Value::Array(None)),
            (b"*0\r\n".to_vec(), Value::Array(Some(vec![]))),
            (b"$4\r\na\r\nb\r\n".to_vec(), bulk("a\r\nb")),
            (xread, xread_value),
        ]
    }

    /// Decodes `bytes` fed whole, byte by byte and in random splits, checks that every way gives
    /// the same replies (or the same first error), and returns them. With `most_buffered`, also
    /// checks that the decoder never holds more than that many bytes.
    fn decode_every_way(bytes: &[u8], limits: Limits, most_buffered: usize) -> Result<Vec<Value>, RespError> {
        let decode = |pieces: Vec<&[u8]>| {
            let mut decoder = Decoder::new(limits);
            let mut values = Vec::new();
            for piece in pieces {
                decoder.feed(piece);
                loop {
                    match decoder.next_value() {
                        Ok(Some(value)) => values.push(value),
                        Ok(None) => break,
                        Err(error) => return Err(error),
                    }
                }
                assert!(decoder.buffer.len() <= most_buffered, "{} bytes held", decoder.buffer.len());
            }
            Ok(values)
        };
        let whole = decode(vec![bytes]);
        assert_eq!(decode(bytes.chunks(1).collect()), whole, "byte by byte");
        let mut rng = Rng::new(4);
        for _ in 0..50 {
            assert_eq!(decode(rng.split(bytes)), whole, "in random splits");
        }
        whole
    }

    #[test]
    fn replies_decode_whole_byte_by_byte_and_in_random_splits() {
        let all: Vec<u8> = samples().iter().flat_map(|(bytes, _)| bytes.clone()).collect();
        let expected: Vec<Value> = samples().into_iter().map(|(_, value)| value).collect();
        assert_eq!(decode_every_way(&all, Limits::default(), usize::MAX), Ok(expected.clone()));
        let discarding = Limits { discard_oversized: true, ..Limits::default() };
        assert_eq!(decode_every_way(&all, discarding, usize::MAX), Ok(expected), "nothing to discard");
    }

    /// Limits small enough to reach in a test: 3-byte bulks, 2-item arrays, 2 levels, 8-byte lines,
    /// 40-byte replies of at most 6 items.
    fn small() -> Limits {
        Limits {
            max_bulk_bytes: 3,
            max_array_items: 2,
            max_depth: 2,
            max_line_bytes: 8,
            max_reply_bytes: 40,
            max_reply_items: 6,
            discard_oversized: false,
        }
    }

    #[test]
    fn bad_and_oversized_replies_are_errors() {
        let error = |bytes: &[u8], limits: Limits| decode_every_way(bytes, limits, usize::MAX).unwrap_err();
        let limits = Limits::default();
        assert_eq!(error(b"?x\r\n", limits), RespError::UnknownType(b'?'));
        assert!(matches!(error(b"$x\r\n", limits), RespError::Malformed(_)));
        assert!(matches!(error(b"$+3\r\nabc\r\n", limits), RespError::Malformed(_)));
        assert!(matches!(error(b"$3\r\nabcd\r\n", limits), RespError::Malformed(_)));
        assert!(matches!(error(b"*-2\r\n", limits), RespError::Malformed(_)));
        assert_eq!(error(b"\r\n", limits), RespError::UnknownType(b'\r'), "a line needs its type byte");
        assert_eq!(error(b"!\r\n", limits), RespError::UnknownType(b'!'), "the discarded mark is the decoder's own");
        assert_eq!(error(b"$4\r\n", small()), RespError::TooLarge("bulk string"));
        assert_eq!(error(b"*3\r\n", small()), RespError::TooLarge("array"));
        assert_eq!(error(b"*1\r\n*1\r\n*1\r\n", small()), RespError::TooLarge("nesting"));
        assert_eq!(error(b"+0123456789", small()), RespError::TooLarge("line"));
        // At the limits, all is well.
        assert!(decode_every_way(b"*2\r\n*1\r\n$3\r\nabc\r\n+01234567\r\n", small(), usize::MAX).is_ok());
    }

    #[test]
    fn malformed_integers_are_errors_not_zero() {
        for bad in
            [&b":\r\n"[..], b":-\r\n", b":+1\r\n", b":1.5\r\n", b": 1\r\n", b":9223372036854775808\r\n", b":x\r\n"]
        {
            let error = decode_every_way(bad, Limits::default(), usize::MAX).unwrap_err();
            assert_eq!(error, RespError::Malformed("an integer that is not a number"), "{bad:?}");
        }
        let extremes = b":9223372036854775807\r\n:-9223372036854775808\r\n:0\r\n";
        let values = decode_every_way(extremes, Limits::default(), usize::MAX).unwrap();
        assert_eq!(values, [Value::Integer(i64::MAX), Value::Integer(i64::MIN), Value::Integer(0)]);
    }

    /// The bulks and arrays each fit, but not their sum: the reply is an error as soon as the sum
    /// passes the limit, without waiting for (or buffering) the rest.
    #[test]
    fn a_whole_reply_is_bounded_in_bytes_and_items() {
        let limits = Limits { max_bulk_bytes: 3, max_array_items: 100, ..small() };
        // Five 3-byte bulks: 4 + 5 * 9 = 49 bytes, past 40.
        let five = b"*5\r\n$3\r\nabc\r\n$3\r\nabc\r\n$3\r\nabc\r\n$3\r\nabc\r\n$3\r\nabc\r\n";
        assert_eq!(decode_every_way(five, limits, 48).unwrap_err(), RespError::TooLarge("reply"));
        // Exactly 40 bytes: 4 + 4 * 9.
        let four = b"*4\r\n$3\r\nabc\r\n$3\r\nabc\r\n$3\r\nabc\r\n$3\r\nabc\r\n";
        assert_eq!(four.len(), 40);
        assert_eq!(decode_every_way(four, limits, 40).unwrap().len(), 1, "at the limit");
        // Items are counted at every level, as the arrays announce them: 1 + 2 + 2 + 2 = 7 > 6.
        let nested = b"*2\r\n*2\r\n:1\r\n:2\r\n*2\r\n:3\r\n:4\r\n";
        let items = Limits { max_depth: 3, ..limits };
        assert_eq!(decode_every_way(nested, items, usize::MAX).unwrap_err(), RespError::TooLarge("reply items"));
        let six = b"*2\r\n*2\r\n:1\r\n:2\r\n*1\r\n:3\r\n";
        assert!(decode_every_way(six, items, usize::MAX).is_ok(), "at the limit");
        // A huge count is refused on its header, before anything it announces arrives.
        let mut huge = b"*1048576\r\n".to_vec();
        huge.extend(std::iter::repeat_n(&b"$3\r\nabc\r\n"[..], 10).flatten());
        let defaults = Limits { max_reply_items: 1000, ..Limits::default() };
        assert_eq!(decode_every_way(&huge, defaults, huge.len()).unwrap_err(), RespError::TooLarge("reply items"));
    }

    /// With `discard_oversized`, what does not fit is dropped as it arrives (the decoder never
    /// holds it) and stands as `Discarded`; the rest of the reply, and the next one, decode.
    #[test]
    fn oversized_items_are_dropped_without_being_held() {
        let limits = Limits {
            max_depth: 4,
            max_line_bytes: 20,
            max_reply_bytes: 60,
            max_reply_items: 20,
            discard_oversized: true,
            ..small()
        };
        let entry = |id: &str, fields: Value| Value::Array(Some(vec![bulk(id), fields]));
        let big = "x".repeat(5000);
        // An entry with one field too long: its id survives, its field does not.
        let mut reply = format!("*2\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nd\r\n${}\r\n{big}\r\n", big.len()).into_bytes();
        // Then one whose fields are too many (a nested array and bulks inside are dropped too).
        reply.extend_from_slice(b"*2\r\n$3\r\n2-0\r\n*3\r\n$1\r\nd\r\n*2\r\n$2\r\nab\r\n:5\r\n$5000\r\n");
        reply.extend_from_slice(big.as_bytes());
        reply.extend_from_slice(b"\r\n");
        // The next reply: fine.
        reply.extend_from_slice(b"+OK\r\n");
        let values = decode_every_way(&reply, limits, 100).unwrap();
        let first = entry("1-0", Value::Array(Some(vec![bulk("d"), Value::Discarded])));
        assert_eq!(
            values,
            [Value::Array(Some(vec![first, entry("2-0", Value::Discarded)])), Value::Simple("OK".into())]
        );

        // Past the reply's byte limit, later bulks are dropped even though each fits alone.
        let twelve: Vec<u8> = std::iter::once(&b"*12\r\n"[..])
            .chain(std::iter::repeat_n(&b"$3\r\nabc\r\n"[..], 12))
            .flatten()
            .copied()
            .collect();
        let limits = Limits { max_array_items: 12, max_reply_items: 13, ..limits };
        let values = decode_every_way(&twelve, limits, usize::MAX).unwrap();
        let items = values[0].as_array().unwrap();
        let kept = items.iter().filter(|item| **item == bulk("abc")).count();
        assert_eq!((kept, items.len()), (6, 12), "5 + 6 * 9 = 59 bytes kept; the other six dropped");
        assert!(items[6..].iter().all(|item| *item == Value::Discarded));

        // A top-level bulk, a dropped bulk without its CR LF, and nesting (an error even here).
        assert_eq!(decode_every_way(b"$4\r\nabcd\r\n", limits, 10), Ok(vec![Value::Discarded]));
        assert!(matches!(decode_every_way(b"$4\r\nabcdef", limits, 10), Err(RespError::Malformed(_))));
        let deep = b"*3\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n";
        assert_eq!(decode_every_way(deep, limits, 100).unwrap_err(), RespError::TooLarge("nesting"));
    }

    #[test]
    fn a_partial_reply_is_not_a_reply() {
        let mut decoder = Decoder::default();
        decoder.feed(b"*2\r\n$3\r\nabc\r\n$5\r\nhel");
        assert_eq!(decoder.next_value(), Ok(None));
        decoder.feed(b"lo\r\n");
        assert_eq!(decoder.next_value(), Ok(Some(Value::Array(Some(vec![bulk("abc"), bulk("hello")])))));
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        encode_command_into(&[b"XADD", b"s", b"*", b"d", b""], &mut out);
        let mut decoder = Decoder::default();
        decoder.feed(&out);
        assert_eq!(
            decoder.next_value().unwrap(),
            Some(Value::Array(Some(vec![bulk("XADD"), bulk("s"), bulk("*"), bulk("d"), bulk("")])))
        );
    }
}
