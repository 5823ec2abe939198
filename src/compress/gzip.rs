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
    use crate::compress::inflate::gunzip;

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
}
