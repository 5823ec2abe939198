//! Receiving a head: bytes in as they arrive, the head out once it is complete.
//!
//! [`HeadReader`] keeps the bytes of a request or response head as they come, in whatever pieces
//! the peer sends them, and asks the head's parser ([`parse_request_head`] or
//! [`parse_response_head`], through [`HeadParser`]) for an answer only when the answer can have
//! changed: a line ended, a CR came (or the byte after one), or the bytes passed the head's limit.
//! A peer that sends a byte at a time then costs a parse per line, not per byte, and the answer
//! after every piece is the one the parser gives for everything received so far.
//!
//! It owns no socket and no clock: [`HeadReader::read_from`] reads through any [`Read`], straight
//! into the head's buffer, and the caller decides how long to wait (the server and the client
//! share one loop that does, with a deadline).
//!
//! ```
//! use bare_sse::http::{HeadLimits, HeadRead, HeadReader, RequestHeads};
//!
//! let mut reader = HeadReader::new(RequestHeads(HeadLimits::default()));
//! assert!(matches!(reader.feed(b"GET /events HTTP/1.1\r\nHo"), Ok(HeadRead::Partial)));
//! let Ok(HeadRead::Complete { head, rest }) = reader.feed(b"st: a\r\n\r\nGET /next") else { panic!() };
//! assert_eq!((head.path.as_str(), rest.as_slice()), ("/events", &b"GET /next"[..]));
//! ```

use std::io::{self, Read};

use super::request::{parse_request_head, HeadLimits, Parsed, RequestError, RequestHead};
use super::response::{parse_response_head, ResponseHead, ResponseHeadError, MAX_RESPONSE_HEAD_BYTES};

/// How much one [`HeadReader::read_from`] asks for at most. More than 1 KiB on purpose: glibc
/// keeps freed blocks of up to about 1 KiB in a cache of the thread that freed them, and a
/// streaming connection's thread then holds that cache, resident, for as long as the stream
/// lasts. A larger buffer goes back to the shared heap when it is freed (measured: 1 KiB less per
/// idle client).
pub const READ_CHUNK_BYTES: usize = 2048;

/// A head parser that a [`HeadReader`] drives: the parse of the bytes received so far, and the
/// byte limit past which the parser refuses a head.
pub trait HeadParser {
    /// The parsed head.
    type Head;
    /// Why a head is refused.
    type Error;

    /// The most bytes a head may have: the parser refuses one that passes it without ending, so
    /// a reader never needs to hold more than one byte beyond it.
    fn max_head_bytes(&self) -> usize;

    /// Parses the bytes received so far: [`Parsed::Partial`] until the head's blank line.
    ///
    /// # Errors
    ///
    /// The parser's error for bytes that cannot begin a valid head.
    fn parse(&self, input: &[u8]) -> Result<Parsed<Self::Head>, Self::Error>;
}

/// Request heads, within these limits ([`parse_request_head`]). Each is boxed: a server reads
/// them on a connection thread, through several calls, whose deepest sets the stack pages an
/// idle connection keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestHeads(pub HeadLimits);

impl HeadParser for RequestHeads {
    type Head = Box<RequestHead>;
    type Error = RequestError;

    fn max_head_bytes(&self) -> usize {
        self.0.max_head_bytes
    }

    fn parse(&self, input: &[u8]) -> Result<Parsed<Box<RequestHead>>, RequestError> {
        Ok(match parse_request_head(input, &self.0)? {
            Parsed::Complete { head, consumed } => Parsed::Complete { head: Box::new(head), consumed },
            Parsed::Partial => Parsed::Partial,
        })
    }
}

/// Response heads, up to [`MAX_RESPONSE_HEAD_BYTES`] ([`parse_response_head`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResponseHeads;

impl HeadParser for ResponseHeads {
    type Head = ResponseHead;
    type Error = ResponseHeadError;

    fn max_head_bytes(&self) -> usize {
        MAX_RESPONSE_HEAD_BYTES
    }

    fn parse(&self, input: &[u8]) -> Result<Parsed<ResponseHead>, ResponseHeadError> {
        parse_response_head(input)
    }
}

/// What a [`HeadReader`] has after the bytes so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadRead<Head> {
    /// The head is complete.
    Complete {
        /// The head.
        head: Head,
        /// The bytes received after the head: the start of a body, or of the next request.
        rest: Vec<u8>,
    },
    /// More bytes are needed.
    Partial,
}

/// A head being received. See the module docs.
#[derive(Debug, Clone)]
pub struct HeadReader<P> {
    parser: P,
    received: Vec<u8>,
    /// Bytes of `received` that the last parse saw, or that could not change its answer.
    looked_at: usize,
}

impl<P: HeadParser> HeadReader<P> {
    /// A reader with nothing received yet.
    pub fn new(parser: P) -> HeadReader<P> {
        HeadReader::starting_with(parser, Vec::new())
    }

    /// A reader whose first bytes have been received already (read with an earlier message, as a
    /// pipelined request's start is).
    pub fn starting_with(parser: P, received: Vec<u8>) -> HeadReader<P> {
        HeadReader { parser, received, looked_at: 0 }
    }

    /// The bytes held: those of the head so far.
    pub fn received(&self) -> usize {
        self.received.len()
    }

    /// Adds `bytes` and says where the head stands ([`poll`](Self::poll)).
    ///
    /// # Errors
    ///
    /// As [`poll`](Self::poll).
    pub fn feed(&mut self, bytes: &[u8]) -> Result<HeadRead<P::Head>, P::Error> {
        self.received.extend_from_slice(bytes);
        self.poll()
    }

    /// Makes one `read` from `source` straight into the head's buffer, asking for no more than
    /// one byte past the head's limit, and returns what `read` returned. Call
    /// [`poll`](Self::poll) after it.
    ///
    /// # Errors
    ///
    /// What `read` returned as an error.
    pub fn read_from(&mut self, source: &mut impl Read) -> io::Result<usize> {
        let room = (self.parser.max_head_bytes() + 1).saturating_sub(self.received.len());
        let start = self.received.len();
        self.received.resize(start + room.clamp(1, READ_CHUNK_BYTES), 0);
        let read = source.read(&mut self.received[start..]);
        self.received.truncate(start + *read.as_ref().unwrap_or(&0));
        read
    }

    /// Where the head stands with the bytes received so far: the parser's answer for all of them,
    /// asked for only when the bytes that came since it last answered can have changed it.
    ///
    /// After [`HeadRead::Complete`] the reader is empty again: the bytes after the head are handed
    /// out as `rest`, not kept.
    ///
    /// # Errors
    ///
    /// The parser's error when the bytes so far cannot begin a valid head, or hold more than its
    /// limit without one.
    pub fn poll(&mut self) -> Result<HeadRead<P::Head>, P::Error> {
        if !self.may_have_changed() {
            return Ok(HeadRead::Partial);
        }
        self.looked_at = self.received.len();
        match self.parser.parse(&self.received)? {
            Parsed::Partial => Ok(HeadRead::Partial),
            Parsed::Complete { head, consumed } => {
                let rest = self.received.split_off(consumed);
                self.received.clear();
                self.looked_at = 0;
                Ok(HeadRead::Complete { head, rest })
            }
        }
    }

    /// Whether a parse could answer otherwise than the last one. A head parser's answer moves from
    /// `Partial` only when a line ends (LF), when a CR turns out not to end a line (it is
    /// followed by another byte), or when the head passes its limit: so a parse is needed only
    /// when a new byte is LF or CR, the byte before the new ones is a CR, or the limit is passed.
    fn may_have_changed(&self) -> bool {
        let new = &self.received[self.looked_at..];
        let after_cr = self.looked_at > 0 && self.received[self.looked_at - 1] == b'\r';
        !new.is_empty()
            && (after_cr
                || new.iter().any(|&b| b == b'\n' || b == b'\r')
                || self.received.len() > self.parser.max_head_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::SplitRng;

    /// Feeds `pieces` one after another and checks, after each, that the reader answers what the
    /// parser answers for everything fed so far; returns the first answer that is not `Partial`,
    /// with the rest fed after it appended to `rest`.
    fn feed_all<P>(parser: P, pieces: &[&[u8]]) -> Result<HeadRead<P::Head>, P::Error>
    where
        P: HeadParser + Clone,
        P::Head: PartialEq + std::fmt::Debug,
        P::Error: PartialEq + std::fmt::Debug,
    {
        let mut reader = HeadReader::new(parser.clone());
        let mut so_far = Vec::new();
        for (at, piece) in pieces.iter().enumerate() {
            so_far.extend_from_slice(piece);
            let read = reader.feed(piece);
            let expected = parser.parse(&so_far).map(|parsed| match parsed {
                Parsed::Partial => HeadRead::Partial,
                Parsed::Complete { head, consumed } => HeadRead::Complete { head, rest: so_far[consumed..].to_vec() },
            });
            assert_eq!(read, expected, "after {} bytes", so_far.len());
            match read {
                Ok(HeadRead::Partial) => {}
                Ok(HeadRead::Complete { head, mut rest }) => {
                    rest.extend(pieces[at + 1..].concat());
                    return Ok(HeadRead::Complete { head, rest });
                }
                Err(error) => return Err(error),
            }
        }
        Ok(HeadRead::Partial)
    }

    /// The answer for `input` fed whole, checked against the answers fed byte by byte and in random
    /// splits (and, after each piece, against the parser's for the bytes so far). A head, or the
    /// need for more, is the same every way; a refusal too, but which rule refuses first may
    /// depend on where the pieces end (a prefix can break one rule before the whole breaks
    /// another).
    fn every_way<P>(parser: P, input: &[u8]) -> Result<HeadRead<P::Head>, P::Error>
    where
        P: HeadParser + Clone,
        P::Head: PartialEq + std::fmt::Debug,
        P::Error: PartialEq + std::fmt::Debug,
    {
        let whole = feed_all(parser.clone(), &[input]);
        let same = |split: Result<HeadRead<P::Head>, P::Error>, how: &str| match &whole {
            Ok(_) => assert_eq!(split, whole, "{how}"),
            Err(_) => assert!(split.is_err(), "{how}: {split:?}"),
        };
        same(feed_all(parser.clone(), &input.chunks(1).collect::<Vec<_>>()), "byte by byte");
        let mut rng = SplitRng::new(input.len() as u64);
        for _ in 0..20 {
            same(feed_all(parser.clone(), &rng.split(input)), "random split");
        }
        whole
    }

    fn requests() -> RequestHeads {
        RequestHeads(HeadLimits::default())
    }

    #[test]
    fn a_request_head_and_the_bytes_after_it() {
        let input = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\n";
        let Ok(HeadRead::Complete { head, rest }) = every_way(requests(), input) else { panic!() };
        assert_eq!((head.path.as_str(), rest.as_slice()), ("/a", &b"POST /b HTTP/1.1\r\n"[..]));
        let lf_only = b"\n\nGET / HTTP/1.0\n\n";
        assert!(matches!(every_way(requests(), lf_only), Ok(HeadRead::Complete { rest, .. }) if rest.is_empty()));
    }

    #[test]
    fn a_response_head_and_the_body_after_it() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\n";
        let Ok(HeadRead::Complete { head, rest }) = every_way(ResponseHeads, input) else { panic!() };
        assert_eq!((head.status, rest.as_slice()), (200, &b"data: 1\n\n"[..]));
        assert_eq!(every_way(ResponseHeads, b"HTTP/1.1 200 OK\r\nX: 1\r\n"), Ok(HeadRead::Partial));
    }

    /// The server's edge: a client that ends lines with a bare CR is refused as soon as the byte
    /// after the CR comes, in whatever piece it comes, not at the limit or the deadline.
    #[test]
    fn a_bare_cr_is_refused_when_the_byte_after_it_comes() {
        let refused = Err(RequestError::Malformed("bare CR in the request head"));
        assert_eq!(every_way(requests(), b"GET / HTTP/1.1\rH"), refused);
        assert_eq!(every_way(requests(), b"GET /\rx"), refused);
        assert_eq!(every_way(requests(), b"GET / HTTP/1.1\r"), Ok(HeadRead::Partial), "an LF may follow");
        let mut reader = HeadReader::new(requests());
        assert_eq!(reader.feed(b"GET / HTTP/1.1\r"), Ok(HeadRead::Partial));
        assert_eq!(reader.feed(b"X"), refused, "a piece with no line end after a CR");
    }

    /// The server's limit: a request head at it passes and one byte more is refused, however it
    /// arrives; a head that never ends is refused once it passes the limit, with no line end in
    /// sight. (A small limit, so that the parse after every byte stays quick.)
    #[test]
    fn request_heads_at_and_past_the_limit() {
        let limits = RequestHeads(HeadLimits { max_head_bytes: 300, ..HeadLimits::default() });
        let base = b"GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n".len();
        let request = |pad: usize| format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n", "v".repeat(pad));
        assert!(matches!(every_way(limits, request(300 - base).as_bytes()), Ok(HeadRead::Complete { .. })));
        assert_eq!(every_way(limits, request(300 - base + 1).as_bytes()), Err(RequestError::HeadTooLarge));
        assert_eq!(every_way(limits, "v".repeat(301).as_bytes()), Err(RequestError::UriTooLong));
        let endless = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}", "v".repeat(300));
        assert_eq!(every_way(limits, endless.as_bytes()), Err(RequestError::HeadTooLarge));
    }

    /// The client's fixed limit, likewise: fed whole and in random splits (a parse after each of
    /// 16 KiB bytes would take long; the byte-by-byte rules are the request's, above).
    #[test]
    fn response_heads_at_and_past_the_limit() {
        let base = b"HTTP/1.1 200 OK\r\nX: \r\n\r\n".len();
        let at_limit = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "v".repeat(MAX_RESPONSE_HEAD_BYTES - base));
        let endless = format!("HTTP/1.1 200 OK\r\nX: {}", "v".repeat(MAX_RESPONSE_HEAD_BYTES));
        let mut rng = SplitRng::new(5);
        for _ in 0..10 {
            let pieces = rng.split(at_limit.as_bytes());
            assert!(matches!(feed_all(ResponseHeads, &pieces), Ok(HeadRead::Complete { rest, .. }) if rest.is_empty()));
            let pieces = rng.split(endless.as_bytes());
            assert_eq!(feed_all(ResponseHeads, &pieces), Err(ResponseHeadError::TooLarge));
        }
    }

    /// Reads never take more than one byte past the limit, so a flood of head bytes costs at most
    /// the limit and a byte, whatever the source offers.
    #[test]
    fn reads_stop_one_byte_past_the_limit() {
        let limits = HeadLimits { max_head_bytes: 5000, ..HeadLimits::default() };
        let mut reader = HeadReader::new(RequestHeads(limits));
        let mut flood = io::repeat(b'a');
        let mut read = 0;
        while read <= 5000 {
            let n = reader.read_from(&mut flood).unwrap();
            assert!(n <= READ_CHUNK_BYTES);
            read += n;
            if read <= 5000 {
                assert_eq!(reader.poll(), Ok(HeadRead::Partial));
            }
        }
        assert_eq!((read, reader.received()), (5001, 5001));
        assert_eq!(reader.poll(), Err(RequestError::UriTooLong));
    }

    /// Bytes received with an earlier message are parsed with the first poll, and a head they
    /// hold whole needs no read.
    #[test]
    fn a_reader_can_start_with_bytes_already_received() {
        let mut reader = HeadReader::starting_with(requests(), b"GET /p HTTP/1.1\r\nHost: a\r\n\r\nrest".to_vec());
        let Ok(HeadRead::Complete { head, rest }) = reader.poll() else { panic!() };
        assert_eq!((head.path.as_str(), rest.as_slice()), ("/p", &b"rest"[..]));
        let mut reader = HeadReader::starting_with(requests(), b"GET /p HT".to_vec());
        assert_eq!(reader.poll(), Ok(HeadRead::Partial));
        assert!(matches!(reader.feed(b"TP/1.1\r\nHost: a\r\n\r\n"), Ok(HeadRead::Complete { .. })));
    }

    #[test]
    fn random_inputs_answer_as_the_parser_does_in_any_split() {
        let mut rng = SplitRng::new(11);
        let limits = HeadLimits { max_head_bytes: 40, max_headers: 3 };
        for _ in 0..2000 {
            let input = rng.bytes(b"GET / HTTP/1.1\r\n:Host a\r\n\x00", 70);
            let _ = every_way(RequestHeads(limits), &input);
            let input = rng.bytes(b"HTTP/1.1 200 OK\r\n:X a\r\n", 70);
            let _ = every_way(ResponseHeads, &input);
        }
    }
}
