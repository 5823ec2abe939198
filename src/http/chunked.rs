//! Reading a `Transfer-Encoding: chunked` body (RFC 9112 §7.1): each chunk is a hex size line,
//! that many bytes, and a line end; a zero size ends the body, after optional trailer fields.
//!
//! Most SSE servers other than bare-sse (axum, Node, Go's net/http) send their streams chunked, so
//! the client must read both framings.

use std::io::{self, BufRead, Read};

/// Longest chunk-size or trailer line accepted.
const MAX_LINE_BYTES: u64 = 4096;
/// Most bytes of trailer fields accepted by default: as much as a request head (trailers are
/// header fields that come late, so they count like the head).
pub const DEFAULT_MAX_TRAILER_BYTES: usize = super::request::DEFAULT_MAX_HEAD_BYTES;

/// A reader of a chunked body: yields the chunks' bytes, without the framing.
///
/// ```
/// use std::io::Read;
/// let body = b"5\r\nhello\r\n1;ext=1\r\n!\r\n0\r\n\r\n";
/// let mut text = String::new();
/// bare_sse::http::ChunkedReader::new(&body[..]).read_to_string(&mut text).unwrap();
/// assert_eq!(text, "hello!");
/// ```
#[derive(Debug)]
pub struct ChunkedReader<R> {
    inner: R,
    state: State,
    /// Trailer bytes that may still be read.
    trailer_budget: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk, with this many bytes left.
    Data(u64),
    /// Expecting the line end after a chunk's data.
    DataEnd,
    /// The last chunk and trailers are read.
    Done,
}

impl<R: BufRead> ChunkedReader<R> {
    /// Reads the chunked body that `inner` is positioned at, with at most
    /// [`DEFAULT_MAX_TRAILER_BYTES`] of trailer fields.
    pub fn new(inner: R) -> ChunkedReader<R> {
        ChunkedReader::with_trailer_limit(inner, DEFAULT_MAX_TRAILER_BYTES)
    }

    /// Reads the chunked body that `inner` is positioned at; trailer fields (which are ignored)
    /// past `max_trailer_bytes` in all are an error.
    pub fn with_trailer_limit(inner: R, max_trailer_bytes: usize) -> ChunkedReader<R> {
        ChunkedReader { inner, state: State::Size, trailer_budget: max_trailer_bytes }
    }

    /// The reader the body came from. Once the body has been read to its end, it is positioned
    /// just after it: a persistent connection's next request starts there (including what a
    /// buffered reader holds in its buffer).
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn read_line(&mut self) -> io::Result<String> {
        let mut line = Vec::new();
        (&mut self.inner).take(MAX_LINE_BYTES).read_until(b'\n', &mut line)?;
        if !line.ends_with(b"\n") {
            return Err(invalid(if line.len() as u64 >= MAX_LINE_BYTES {
                "chunk line too long"
            } else {
                "body ended inside chunk framing"
            }));
        }
        line.pop();
        if line.ends_with(b"\r") {
            line.pop();
        }
        String::from_utf8(line).map_err(|_| invalid("chunk line is not UTF-8"))
    }

    /// Reads the trailer fields up to the blank line that ends the body, within the budget.
    fn skip_trailers(&mut self) -> io::Result<()> {
        loop {
            let line = self.read_line()?;
            if line.is_empty() {
                return Ok(());
            }
            self.trailer_budget = self
                .trailer_budget
                .checked_sub(line.len() + 2)
                .ok_or_else(|| invalid("trailers larger than the limit"))?;
        }
    }
}

/// The size of a chunk-size line: `1*HEXDIG`, then nothing, or extensions after a `;` (with
/// optional whitespace before it). Signs, leading whitespace and trailing whitespace without an
/// extension are refused, as RFC 9112 §7.1 gives the grammar.
fn chunk_size(line: &str) -> io::Result<u64> {
    let digits_end = line.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(line.len());
    let (digits, rest) = line.split_at(digits_end);
    if digits.is_empty() {
        return Err(invalid("bad chunk size"));
    }
    if !rest.is_empty() && !rest.trim_start_matches([' ', '\t']).starts_with(';') {
        return Err(invalid("bad chunk size"));
    }
    u64::from_str_radix(digits, 16).map_err(|_| invalid("chunk size too large"))
}

impl<R: BufRead> Read for ChunkedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.state {
                State::Done => return Ok(0),
                State::Size => {
                    let size = chunk_size(&self.read_line()?)?;
                    if size == 0 {
                        self.skip_trailers()?;
                        self.state = State::Done;
                    } else {
                        self.state = State::Data(size);
                    }
                }
                State::Data(left) => {
                    if buf.is_empty() {
                        return Ok(0);
                    }
                    let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let n = self.inner.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "body ended inside a chunk"));
                    }
                    let left = left - n as u64;
                    self.state = if left == 0 { State::DataEnd } else { State::Data(left) };
                    return Ok(n);
                }
                State::DataEnd => {
                    if !self.read_line()?.is_empty() {
                        return Err(invalid("chunk data longer than its size"));
                    }
                    self.state = State::Size;
                }
            }
        }
    }
}

fn invalid(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(body: &[u8]) -> io::Result<String> {
        let mut text = String::new();
        ChunkedReader::new(body).read_to_string(&mut text)?;
        Ok(text)
    }

    #[test]
    fn chunks_extensions_trailers_and_bare_lf() {
        assert_eq!(decode(b"3\r\nabc\r\n0\r\n\r\n").unwrap(), "abc");
        assert_eq!(decode(b"A;name=v\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n").unwrap(), "0123456789");
        assert_eq!(decode(b"2\nab\n0\n\n").unwrap(), "ab");
    }

    #[test]
    fn stops_at_the_last_chunk() {
        let mut reader = ChunkedReader::new(&b"1\r\na\r\n0\r\n\r\nnot body"[..]);
        let mut text = String::new();
        reader.read_to_string(&mut text).unwrap();
        assert_eq!(text, "a");
    }

    #[test]
    fn a_chunk_size_is_hex_digits_only() {
        for good in ["3", "03", "3;x=1", "3 ;x", "3\t; x"] {
            assert_eq!(decode(format!("{good}\r\nabc\r\n0\r\n\r\n").as_bytes()).unwrap(), "abc", "{good:?}");
        }
        for bad in ["+3", " 3", "3 ", "-3", "0x3", "3x", "", ";x", "11111111111111111"] {
            assert!(decode(format!("{bad}\r\nabc\r\n0\r\n\r\n").as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn trailers_are_limited_in_total() {
        let trailers = |count: usize| "T: 123456\r\n".repeat(count); // 11 bytes each, with CRLF
        let body = |count: usize| format!("1\r\na\r\n0\r\n{}\r\n", trailers(count));
        let read = |count: usize, limit: usize| {
            let mut text = String::new();
            ChunkedReader::with_trailer_limit(body(count).as_bytes(), limit).read_to_string(&mut text).map(|_| text)
        };
        assert_eq!(read(10, 110).unwrap(), "a", "exactly at the limit");
        assert!(read(11, 110).is_err(), "one field past it");
        assert!(decode(body(DEFAULT_MAX_TRAILER_BYTES / 11 + 1).as_bytes()).is_err(), "the default");
    }

    #[test]
    fn broken_framing_is_an_error() {
        assert!(decode(b"zz\r\nabc\r\n0\r\n\r\n").is_err(), "bad size");
        assert!(decode(b"3\r\nabcdef\r\n0\r\n\r\n").is_err(), "data longer than the size");
        assert!(decode(b"5\r\nab").is_err(), "ends inside a chunk");
        assert!(decode(b"3\r\nabc").is_err(), "ends before the last chunk");
    }
}
