//! gzip framing (RFC 1952) around the DEFLATE encoder: a fixed 10-byte header, the compressed
//! units, and a trailer with the CRC-32 and length of the uncompressed data.

use super::crc32;
use super::deflate::Deflater;

/// The header every stream starts with: magic, DEFLATE, no flags, no time, unknown system.
pub const HEADER: [u8; 10] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF];

/// The trailer: the CRC-32 of the uncompressed data and its length modulo 2^32, little-endian.
pub fn trailer(crc: u32, length: u64) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&crc.to_le_bytes());
    out[4..].copy_from_slice(&(length as u32).to_le_bytes());
    out
}

/// What a gzip trailer checks of some uncompressed bytes: their CRC-32 and their length. Kept per
/// event and per stretch of a hub's stream, so that a client's trailer is found by combining a few
/// of them, never by reading the bytes again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Checksum {
    pub crc: u32,
    pub len: u64,
}

impl Checksum {
    /// The checksum of `bytes`.
    pub fn of(bytes: &[u8]) -> Checksum {
        Checksum { crc: crc32::crc32(bytes), len: bytes.len() as u64 }
    }

    /// The checksum of these bytes followed by `more`.
    pub fn then(self, more: Checksum) -> Checksum {
        Checksum { crc: crc32::combine(self.crc, more.crc, more.len), len: self.len + more.len }
    }

    /// The checksum of the bytes between two running checksums of one stream: `self` at the
    /// range's start, `end` at its end (which is at or after it).
    pub fn until(self, end: Checksum) -> Checksum {
        let len = end.len - self.len;
        Checksum { crc: crc32::suffix(self.crc, end.crc, len), len }
    }

    /// The trailer for these bytes.
    pub fn trailer(self) -> [u8; 8] {
        trailer(self.crc, self.len)
    }
}

/// A gzip stream written unit by unit (one event each), each decodable as soon as it is sent.
pub struct GzipEncoder {
    deflater: Deflater,
    crc: u32,
    length: u64,
    started: bool,
}

impl GzipEncoder {
    /// A stream compressed at `level` (see [`Deflater::new`]).
    pub fn new(level: u32) -> GzipEncoder {
        GzipEncoder { deflater: Deflater::new(level), crc: 0, length: 0, started: false }
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            out.extend_from_slice(&HEADER);
            self.started = true;
        }
    }

    /// Compresses one unit (the header first, the first time), ending on a flush point.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.start(out);
        self.deflater.compress(input, out);
        self.crc = crc32::update(self.crc, input);
        self.length += input.len() as u64;
    }

    /// Ends the stream: the final block and the trailer.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.start(out);
        Deflater::finish(out);
        out.extend_from_slice(&trailer(self.crc, self.length));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_inflate::gunzip;

    #[test]
    fn a_stream_decodes_unit_by_unit_and_ends_with_a_checked_trailer() {
        let mut encoder = GzipEncoder::new(6);
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for i in 0..20 {
            let event = format!("event: tick\ndata: {i} {}\n\n", "x".repeat(i * 10));
            encoder.encode(event.as_bytes(), &mut stream);
            expected.extend_from_slice(event.as_bytes());
            assert_eq!(gunzip(&stream).unwrap(), (expected.clone(), false));
        }
        encoder.finish(&mut stream);
        assert_eq!(gunzip(&stream).unwrap(), (expected, true));
        let mut empty = Vec::new();
        GzipEncoder::new(1).finish(&mut empty);
        assert_eq!(gunzip(&empty).unwrap(), (Vec::new(), true));
    }

    /// Running checksums of a stream give any range's, and a lead followed by a range gives the
    /// checksum of both, as a hub client's trailer is made.
    #[test]
    fn checksums_of_ranges_and_leads() {
        let stream = b"event: a\ndata: 1\n\nevent: b\ndata: 22\n\n: keep-alive\ndata: 333\n\n";
        for start in 0..=stream.len() {
            for end in start..=stream.len() {
                let (at_start, at_end) = (Checksum::of(&stream[..start]), Checksum::of(&stream[..end]));
                let range = at_start.until(at_end);
                assert_eq!(range, Checksum::of(&stream[start..end]), "{start}..{end}");
                let lead = b"retry: 100\n";
                let whole = [&lead[..], &stream[start..end]].concat();
                assert_eq!(Checksum::of(lead).then(range), Checksum::of(&whole));
                assert_eq!(Checksum::of(lead).then(range).trailer(), trailer(crc32::crc32(&whole), whole.len() as u64));
            }
        }
    }
}
