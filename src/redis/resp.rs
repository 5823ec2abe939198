//! RESP2, the Redis protocol, with no I/O: commands encoded as arrays of bulk strings, and replies
//! decoded incrementally from bytes that arrive in any split.
//!
//! The decoder looks at every byte once: a framing pass follows the reply's structure (lines,
//! bulk lengths, array counts) as bytes arrive, remembering where it stopped, and only a reply
//! known to be complete is turned into a [`Value`]. Lengths, counts and nesting are bounded, so a
//! peer cannot make it allocate or recurse without limit.

use std::fmt;
use std::io::Write;

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
}

impl Default for Limits {
    /// 64 MiB bulks, a million items per array, 16 levels, 64 KiB lines.
    fn default() -> Limits {
        Limits { max_bulk_bytes: 64 << 20, max_array_items: 1 << 20, max_depth: 16, max_line_bytes: 64 << 10 }
    }
}

/// Why bytes are not RESP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RespError {
    /// A type byte that is not `+ - : $ *`.
    UnknownType(u8),
    /// A length or number that does not parse, or a line without its CR LF.
    Malformed(&'static str),
    /// A length, count, depth or line over the limits.
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

/// Decodes replies from bytes fed in any split.
#[derive(Debug)]
pub struct Decoder {
    buffer: Vec<u8>,
    /// How far the framing pass has come: `buffer[..framed]` belongs to the reply being framed.
    framed: usize,
    /// Items still to come in each array being framed, innermost last.
    open_arrays: Vec<usize>,
    limits: Limits,
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder::new(Limits::default())
    }
}

impl Decoder {
    /// A decoder with these limits.
    pub fn new(limits: Limits) -> Decoder {
        Decoder { buffer: Vec::new(), framed: 0, open_arrays: Vec::new(), limits }
    }

    /// Adds received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete reply, `None` until one is complete. After an error the stream cannot be
    /// trusted: the connection should be closed.
    pub fn next_value(&mut self) -> Result<Option<Value>, RespError> {
        while self.framed < self.buffer.len() {
            let kind = self.buffer[self.framed];
            if !b"+-:$*".contains(&kind) {
                return Err(RespError::UnknownType(kind));
            }
            let Some(line_end) = self.line_end(self.framed)? else { return Ok(None) };
            let line = &self.buffer[self.framed + 1..line_end];
            let mut next = line_end + 2;
            let complete_item = match self.buffer[self.framed] {
                b'+' | b'-' | b':' => true,
                b'$' => {
                    let length = parse_length(line)?;
                    match length {
                        None => true,
                        Some(length) if length > self.limits.max_bulk_bytes => {
                            return Err(RespError::TooLarge("bulk string"))
                        }
                        Some(length) => {
                            if self.buffer.len() < next + length + 2 {
                                return Ok(None);
                            }
                            if &self.buffer[next + length..next + length + 2] != b"\r\n" {
                                return Err(RespError::Malformed("a bulk string without its CR LF"));
                            }
                            next += length + 2;
                            true
                        }
                    }
                }
                b'*' => match parse_length(line)? {
                    None | Some(0) => true,
                    Some(count) if count > self.limits.max_array_items => {
                        return Err(RespError::TooLarge("array"));
                    }
                    Some(count) => {
                        if self.open_arrays.len() >= self.limits.max_depth {
                            return Err(RespError::TooLarge("nesting"));
                        }
                        self.open_arrays.push(count);
                        false
                    }
                },
                other => return Err(RespError::UnknownType(other)),
            };
            self.framed = next;
            if complete_item && self.close_item() {
                // A whole reply: parse it in one pass over bytes known to be well framed.
                let end = self.framed;
                let (value, used) = parse_framed(&self.buffer[..end]);
                debug_assert_eq!(used, end);
                self.buffer.drain(..end);
                self.framed = 0;
                return Ok(Some(value));
            }
        }
        Ok(None)
    }

    /// Counts one finished item against the open arrays; true when the top-level reply is done.
    fn close_item(&mut self) -> bool {
        while let Some(left) = self.open_arrays.last_mut() {
            *left -= 1;
            if *left > 0 {
                return false;
            }
            self.open_arrays.pop();
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

/// Parses one reply that the framing pass found complete; returns it and the bytes it used.
fn parse_framed(bytes: &[u8]) -> (Value, usize) {
    let line_end = bytes.windows(2).position(|pair| pair == b"\r\n").unwrap_or(bytes.len());
    let line = &bytes[1..line_end];
    let after = line_end + 2;
    let text = || String::from_utf8_lossy(line).into_owned();
    match bytes[0] {
        b'+' => (Value::Simple(text()), after),
        b'-' => (Value::Error(text()), after),
        b':' => (Value::Integer(text().parse().unwrap_or(0)), after),
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

    fn decode_all(decoder: &mut Decoder) -> Vec<Value> {
        std::iter::from_fn(|| decoder.next_value().unwrap()).collect()
    }

    #[test]
    fn replies_decode_whole_byte_by_byte_and_in_random_splits() {
        let all: Vec<u8> = samples().iter().flat_map(|(bytes, _)| bytes.clone()).collect();
        let expected: Vec<Value> = samples().into_iter().map(|(_, value)| value).collect();

        let mut whole = Decoder::default();
        whole.feed(&all);
        assert_eq!(decode_all(&mut whole), expected);

        let mut byte_by_byte = Decoder::default();
        let mut got = Vec::new();
        for byte in &all {
            byte_by_byte.feed(std::slice::from_ref(byte));
            got.extend(decode_all(&mut byte_by_byte));
        }
        assert_eq!(got, expected);

        let mut rng = Rng::new(4);
        for _ in 0..200 {
            let mut decoder = Decoder::default();
            let mut got = Vec::new();
            for piece in rng.split(&all) {
                decoder.feed(piece);
                got.extend(decode_all(&mut decoder));
            }
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn bad_and_oversized_replies_are_errors() {
        let error = |bytes: &[u8], limits: Limits| {
            let mut decoder = Decoder::new(limits);
            decoder.feed(bytes);
            decoder.next_value().unwrap_err()
        };
        let limits = Limits::default();
        assert_eq!(error(b"?x\r\n", limits), RespError::UnknownType(b'?'));
        assert!(matches!(error(b"$x\r\n", limits), RespError::Malformed(_)));
        assert!(matches!(error(b"$+3\r\nabc\r\n", limits), RespError::Malformed(_)));
        assert!(matches!(error(b"$3\r\nabcd\r\n", limits), RespError::Malformed(_)));
        assert!(matches!(error(b"*-2\r\n", limits), RespError::Malformed(_)));
        assert_eq!(error(b"\r\n", limits), RespError::UnknownType(b'\r'), "a line needs its type byte");
        let small = Limits { max_bulk_bytes: 3, max_array_items: 2, max_depth: 2, max_line_bytes: 8 };
        assert_eq!(error(b"$4\r\n", small), RespError::TooLarge("bulk string"));
        assert_eq!(error(b"*3\r\n", small), RespError::TooLarge("array"));
        assert_eq!(error(b"*1\r\n*1\r\n*1\r\n", small), RespError::TooLarge("nesting"));
        assert_eq!(error(b"+0123456789", small), RespError::TooLarge("line"));
        // At the limits, all is well.
        let mut decoder = Decoder::new(small);
        decoder.feed(b"*2\r\n*1\r\n$3\r\nabc\r\n+01234567\r\n");
        assert!(decoder.next_value().unwrap().is_some());
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
