//! Framing a streamed response body on the way out: `Transfer-Encoding: chunked` for HTTP/1.1
//! (RFC 9112 §7.1), or bytes as they are for a body that ends when the connection closes.
//!
//! Why chunked: an event stream has no length, and a body delimited only by the connection closing
//! is one that some HTTP stacks buffer before handing anything to the program (Python's `requests`
//! does), so events would sit in a client's buffer. A chunked body says where each piece ends, and
//! every client hands each chunk over at once. HTTP/1.0 has no chunked encoding, so HTTP/1.0
//! clients get a body that ends with the connection.
//!
//! [`BodyFramer`] is a small state machine with no I/O of its own beyond the one `write` it is
//! handed: it frames each payload as one chunk and, when a write stops part-way (a full socket),
//! remembers exactly where, so the next call resumes inside the same chunk. That is what lets one
//! thread give up on a full socket and another finish the job without corrupting the framing.

use std::io::{self, IoSlice, Write};

use super::request::Version;

/// The line end after a chunk's data.
const CHUNK_END: &[u8] = b"\r\n";
/// The last chunk and an empty trailer section: the end of a chunked body.
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";
/// Room for a chunk-size line: 16 hex digits for a `usize` and CRLF.
const SIZE_LINE_CAPACITY: usize = 18;

/// What one [`BodyFramer::write_some`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Payload bytes taken.
    pub taken: usize,
    /// Bytes that went on the wire, framing included.
    pub on_wire: usize,
    /// The writer took less than it was offered: for a socket with a send timeout, it is full.
    pub short: bool,
}

/// How a streamed body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// Each write is a chunk; a zero-size chunk ends the body (HTTP/1.1).
    Chunked,
    /// Bytes as they are; the body ends when the connection closes (HTTP/1.0).
    UntilClose,
}

impl BodyFraming {
    /// The framing of a stream to a client of this version: HTTP/1.1 streams are chunked, so every
    /// client hands each event over as it arrives; HTTP/1.0 has no chunks, and its body ends with
    /// the connection.
    pub fn for_version(version: Version) -> BodyFraming {
        match version {
            Version::Http11 => BodyFraming::Chunked,
            Version::Http10 => BodyFraming::UntilClose,
        }
    }
}

/// Frames payloads for the wire and resumes exactly where a partial write stopped.
///
/// ```
/// use bare_sse::http::{BodyFramer, BodyFraming};
///
/// let mut framer = BodyFramer::new(BodyFraming::Chunked);
/// let mut wire = Vec::new();
/// framer.write_all(&mut wire, b"data: hi\n\n").unwrap();
/// wire.extend_from_slice(framer.end_of_body());
/// assert_eq!(wire, b"a\r\ndata: hi\n\n\r\n0\r\n\r\n");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct BodyFramer {
    framing: BodyFraming,
    /// The chunk being written, when a write stopped inside it.
    open: Option<OpenChunk>,
    /// Payload bytes written so far.
    payload_written: u64,
}

/// A chunk some of whose bytes are on the wire.
#[derive(Debug, Clone, Copy)]
struct OpenChunk {
    size_line: [u8; SIZE_LINE_CAPACITY],
    size_line_len: usize,
    size_line_sent: usize,
    /// Payload bytes of this chunk not yet written.
    payload_left: usize,
    /// Bytes of the closing CRLF written.
    end_sent: usize,
}

impl OpenChunk {
    fn new(payload_len: usize) -> OpenChunk {
        let mut size_line = [0u8; SIZE_LINE_CAPACITY];
        let mut cursor = &mut size_line[..];
        // 18 bytes always hold a usize in hex plus CRLF, so this write cannot fail.
        let _ = write!(cursor, "{payload_len:x}\r\n");
        let size_line_len = SIZE_LINE_CAPACITY - cursor.len();
        OpenChunk { size_line, size_line_len, size_line_sent: 0, payload_left: payload_len, end_sent: 0 }
    }
}

impl BodyFramer {
    /// A framer at the start of a body.
    pub fn new(framing: BodyFraming) -> BodyFramer {
        BodyFramer { framing, open: None, payload_written: 0 }
    }

    /// The payload bytes written so far, the framing's own bytes not counted.
    pub fn payload_written(&self) -> u64 {
        self.payload_written
    }

    /// Whether the body is between chunks, so that nothing is owed before the next payload (always
    /// true for an unframed body).
    pub fn between_chunks(&self) -> bool {
        self.open.is_none()
    }

    /// Makes one `write` call (vectored, for a chunk) towards sending `payload`.
    ///
    /// Contract: after a call that took fewer bytes than offered, or that left a chunk open, the
    /// next call must offer the rest of the same payload first (more may follow it). A chunk that
    /// is open is finished before anything new starts.
    ///
    /// # Errors
    ///
    /// The writer's I/O error as it is (a non-blocking socket's `WouldBlock` included). Nothing of
    /// `payload` was taken then, and the next call offers it again, as the contract above says.
    pub fn write_some(&mut self, out: &mut impl Write, payload: &[u8]) -> io::Result<Progress> {
        if self.framing == BodyFraming::UntilClose {
            let written = out.write(payload)?;
            self.payload_written += written as u64;
            return Ok(Progress { taken: written, on_wire: written, short: written < payload.len() });
        }
        if self.open.is_none() && payload.is_empty() {
            return Ok(Progress { taken: 0, on_wire: 0, short: false });
        }
        let chunk = self.open.get_or_insert_with(|| OpenChunk::new(payload.len()));
        let payload_part = &payload[..chunk.payload_left.min(payload.len())];
        let parts = [
            IoSlice::new(&chunk.size_line[chunk.size_line_sent..chunk.size_line_len]),
            IoSlice::new(payload_part),
            IoSlice::new(&CHUNK_END[chunk.end_sent..]),
        ];
        // Only the end of the chunk may follow its payload: offer it only once the payload is all
        // in this write.
        let offered = if payload_part.len() == chunk.payload_left { &parts[..] } else { &parts[..2] };
        let offered_len: usize = offered.iter().map(|part| part.len()).sum();
        let on_wire = out.write_vectored(offered)?;
        let mut written = on_wire;
        let from_size_line = written.min(chunk.size_line_len - chunk.size_line_sent);
        chunk.size_line_sent += from_size_line;
        written -= from_size_line;
        let from_payload = written.min(payload_part.len());
        chunk.payload_left -= from_payload;
        self.payload_written += from_payload as u64;
        written -= from_payload;
        chunk.end_sent += written;
        if chunk.end_sent == CHUNK_END.len() {
            self.open = None;
        }
        Ok(Progress { taken: from_payload, on_wire, short: on_wire < offered_len })
    }

    /// Writes all of `payload` with as many blocking writes as it takes, and closes its chunk. When
    /// `payload` only continues a chunk that a partial write left open, the chunk is closed once
    /// its last payload byte is written (an empty `payload` then just closes it).
    ///
    /// # Errors
    ///
    /// The writer's I/O error (an `Interrupted` one is retried), or `WriteZero` when a write takes
    /// no byte.
    pub fn write_all(&mut self, out: &mut impl Write, mut payload: &[u8]) -> io::Result<()> {
        while !payload.is_empty() || self.open.is_some_and(|chunk| chunk.payload_left == 0) {
            match self.write_some(out, payload) {
                Ok(Progress { on_wire: 0, .. }) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(progress) => payload = &payload[progress.taken..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The bytes that end the body properly (the last chunk), to be written when
    /// [`between_chunks`](Self::between_chunks); nothing for an unframed body, which ends when the
    /// connection closes.
    pub fn end_of_body(&self) -> &'static [u8] {
        match self.framing {
            BodyFraming::Chunked => LAST_CHUNK,
            BodyFraming::UntilClose => b"",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::SplitRng as Rng;

    /// A writer that accepts at most `limits[i]` bytes on its i-th call, then as many as offered.
    struct Trickle {
        wire: Vec<u8>,
        limits: Vec<usize>,
        calls: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let limit = self.limits.get(self.calls).copied().unwrap_or(usize::MAX);
            self.calls += 1;
            let n = buf.len().min(limit);
            self.wire.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn chunked(payloads: &[&[u8]]) -> Vec<u8> {
        let mut wire = Vec::new();
        for payload in payloads {
            wire.extend_from_slice(format!("{:x}\r\n", payload.len()).as_bytes());
            wire.extend_from_slice(payload);
            wire.extend_from_slice(b"\r\n");
        }
        wire
    }

    #[test]
    fn whole_writes_make_one_chunk_each() {
        let mut framer = BodyFramer::new(BodyFraming::Chunked);
        let mut wire = Vec::new();
        framer.write_all(&mut wire, b"data: a\n\n").unwrap();
        framer.write_all(&mut wire, &[b'x'; 300]).unwrap();
        assert!(framer.between_chunks());
        assert_eq!(wire, chunked(&[b"data: a\n\n", &[b'x'; 300]]));
    }

    #[test]
    fn unframed_bodies_pass_bytes_through() {
        let mut framer = BodyFramer::new(BodyFraming::UntilClose);
        let mut wire = Vec::new();
        framer.write_all(&mut wire, b"data: a\n\n").unwrap();
        assert_eq!((wire.as_slice(), framer.end_of_body()), (&b"data: a\n\n"[..], &b""[..]));
    }

    /// A write may stop anywhere (size line, payload, closing CRLF); resuming with the rest of the
    /// payload, possibly with more bytes after it, must give exactly the chunks of a whole write.
    #[test]
    fn partial_writes_resume_inside_the_chunk_at_every_cut() {
        let first = b"data: 0123456789\n\n";
        let second = b"data: next\n\n";
        let frame_len = chunked(&[first]).len();
        for cut in 0..=frame_len {
            let mut out = Trickle { wire: Vec::new(), limits: vec![cut], calls: 0 };
            let mut framer = BodyFramer::new(BodyFraming::Chunked);
            let taken = framer.write_some(&mut out, first).unwrap().taken;
            // The caller then offers what is left of the first payload followed by the second, as a
            // hub client's backlog does.
            let rest = [&first[taken..], &second[..]].concat();
            let mut rest = &rest[..];
            while !rest.is_empty() || !framer.between_chunks() {
                let taken = framer.write_some(&mut out, rest).unwrap().taken;
                rest = &rest[taken..];
            }
            // The rest of the first payload finishes its chunk; the second payload is a new one.
            let wire = String::from_utf8(out.wire).unwrap();
            assert_eq!(wire, String::from_utf8(chunked(&[first, second])).unwrap(), "cut at {cut}");
        }
    }

    #[test]
    fn random_write_limits_never_break_the_framing() {
        let mut rng = Rng::new(7);
        for _ in 0..200 {
            let payloads: Vec<Vec<u8>> =
                (0..rng.below(5) + 1).map(|i| vec![b'a' + i as u8; rng.below(40) + 1]).collect();
            let limits = (0..200).map(|_| rng.below(12)).collect();
            let mut out = Trickle { wire: Vec::new(), limits, calls: 0 };
            let mut framer = BodyFramer::new(BodyFraming::Chunked);
            let mut sent = 0;
            for payload in &payloads {
                let mut rest = &payload[..];
                while !rest.is_empty() || !framer.between_chunks() {
                    let taken = framer.write_some(&mut out, rest).unwrap().taken;
                    rest = &rest[taken..];
                    sent += taken as u64;
                    // The count a hub's gzip end relies on: payload bytes, framing not counted.
                    assert_eq!(framer.payload_written(), sent);
                }
            }
            assert_eq!(framer.payload_written(), payloads.iter().map(|p| p.len() as u64).sum::<u64>());
            let mut decoded = String::new();
            let body = [out.wire.as_slice(), framer.end_of_body()].concat();
            io::Read::read_to_string(&mut crate::http::ChunkedReader::new(&body[..]), &mut decoded).unwrap();
            assert_eq!(decoded.into_bytes(), payloads.concat());
        }
    }

    /// A hub client's catch-up continues a chunk that a partial write left open in pieces smaller
    /// than the chunk; each piece is written, and the chunk closes after its last byte.
    #[test]
    fn write_all_continues_a_big_open_chunk_piece_by_piece() {
        let payload = [b'p'; 100];
        let mut out = Trickle { wire: Vec::new(), limits: vec![10], calls: 0 };
        let mut framer = BodyFramer::new(BodyFraming::Chunked);
        let taken = framer.write_some(&mut out, &payload).unwrap().taken;
        let mut cursor = taken;
        while cursor < payload.len() {
            let piece = &payload[cursor..(cursor + 30).min(payload.len())];
            framer.write_all(&mut out, piece).unwrap();
            cursor += piece.len();
        }
        framer.write_all(&mut out, b"").unwrap();
        assert!(framer.between_chunks());
        assert_eq!(out.wire, chunked(&[&payload]));
    }

    #[test]
    fn a_writer_that_takes_nothing_is_an_error_for_write_all() {
        let mut out = Trickle { wire: Vec::new(), limits: vec![0; 10], calls: 0 };
        let error = BodyFramer::new(BodyFraming::Chunked).write_all(&mut out, b"x").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::WriteZero);
    }
}
