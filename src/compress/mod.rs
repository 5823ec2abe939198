//! Compressed streams: write profiles, the transforms a response body passes through (see
//! [`WriteProfile`]), with [`Gzip`] among them, and the compression levels they and
//! [`HubBuilder::gzip`](crate::HubBuilder::gzip) take.
//!
//! The compression itself is written here, std only, for event streams that are compressed with a
//! flush after every event: CRC-32 (`crc32`), Huffman codes (`huffman`), a DEFLATE encoder
//! (`deflate`) and gzip framing (`gzip`). Those are the crate's own workings, not part of its API:
//! a program compresses through a write profile or a hub. (The fuzz targets and benchmarks drive
//! the encoder through a hidden door, `bare_sse::internals`.)

pub(crate) mod crc32;
pub(crate) mod deflate;
pub(crate) mod gzip;
mod huffman;
mod profile;

pub use deflate::{DEFAULT_LEVEL, MAX_LEVEL};
pub(crate) use profile::Offers;
pub use profile::{BodyEncoder, Gzip, WriteProfile};

#[cfg(test)]
mod tests {
    use super::deflate::Deflater;
    use crate::test_inflate::inflate;
    use crate::test_support::SplitRng as Rng;

    fn round_trip(level: u32, units: &[&[u8]]) -> Vec<u8> {
        let mut deflater = Deflater::new(level);
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for unit in units {
            deflater.compress(unit, &mut stream);
            expected.extend_from_slice(unit);
            // Each unit decodes as soon as its bytes are there.
            let so_far = inflate(&stream).unwrap();
            assert_eq!(so_far.data, expected, "level {level}");
            assert!(!so_far.finished);
        }
        Deflater::finish(&mut stream);
        let all = inflate(&stream).unwrap();
        assert!(all.finished);
        assert_eq!(all.consumed, stream.len());
        assert_eq!(all.data, expected);
        stream
    }

    #[test]
    fn edge_cases_round_trip_at_every_level() {
        let every_byte: Vec<u8> = (0..=255).collect();
        let long_run = vec![b'a'; 100_000];
        let mut rng = Rng::new(11);
        let noise: Vec<u8> = (0..70_000).map(|_| rng.below(256) as u8).collect();
        let html = "<li id=\"item\" class=\"row\">Hello, world</li>\n".repeat(300);
        for level in [0, 1, 6, 9] {
            round_trip(level, &[b""]);
            round_trip(level, &[b"", b"x", b""]);
            round_trip(level, &[&every_byte, &every_byte]);
            round_trip(level, &[&long_run]);
            round_trip(level, &[&noise]);
            round_trip(level, &[html.as_bytes(), html.as_bytes()]);
        }
    }

    /// The block types chosen: stored for noise, fixed for a few tokens, dynamic for text with many.
    #[test]
    fn each_kind_of_block_is_chosen_where_it_is_smallest() {
        let block_type = |input: &[u8]| {
            let stream = round_trip(6, &[input]);
            (stream[0] >> 1) & 0b11
        };
        let mut rng = Rng::new(8);
        let noise: Vec<u8> = (0..5000).map(|_| rng.below(256) as u8).collect();
        assert_eq!(block_type(&noise), 0, "stored");
        assert_eq!(block_type(b"data: hello\n\n"), 1, "fixed");
        let words = ["event", "data", "elements", "<div>", "</div>", "id", "signals", "class"];
        let text: String = (0..3000).map(|_| words[rng.below(words.len())]).collect::<Vec<_>>().join(" ");
        assert_eq!(block_type(text.as_bytes()), 2, "dynamic");
    }

    #[test]
    fn a_megabyte_event_and_incompressible_bytes_stay_bounded() {
        let mut rng = Rng::new(5);
        let noise: Vec<u8> = (0..1024 * 1024).map(|_| rng.below(256) as u8).collect();
        let stream = round_trip(6, &[&noise]);
        // Stored blocks cost 5 bytes per 32 KiB step, plus the flush and the end.
        assert!(stream.len() <= noise.len() + 5 * noise.len().div_ceil(32 * 1024) + 16, "{}", stream.len());
        let text = "event: datastar-patch-elements\ndata: elements <div id=\"x\">".repeat(20_000);
        let compressed = round_trip(6, &[text.as_bytes()]);
        assert!(compressed.len() * 20 < text.len(), "{} of {}", compressed.len(), text.len());
    }

    #[test]
    fn random_data_in_random_units_round_trips() {
        let mut rng = Rng::new(99);
        for round in 0..20 {
            // Text-like data with repeats, so that matches and all block kinds occur.
            let alphabet = 1 + rng.below(40);
            let data: Vec<u8> = (0..rng.below(80_000))
                .map(|i| if rng.below(8) == 0 { rng.below(256) as u8 } else { b'a' + ((i / 7) % alphabet) as u8 })
                .collect();
            let units = rng.split(&data);
            round_trip(round % 10, &units);
        }
    }

    #[test]
    fn independent_units_decode_after_any_prefix() {
        let events: Vec<String> =
            (0..50).map(|i| format!("event: update\ndata: <p id=\"n\">{}</p>\n\n", i % 7).repeat(1 + i % 3)).collect();
        let mut deflater = Deflater::new(6);
        let pieces: Vec<Vec<u8>> = events
            .iter()
            .map(|event| {
                let mut out = Vec::new();
                deflater.compress_independent(event.as_bytes(), &mut out);
                out
            })
            .collect();
        // A late joiner starts at any unit: its stream is the pieces from there on.
        for start in [0, 1, 17, 49] {
            let mut stream: Vec<u8> = pieces[start..].concat();
            super::deflate::Deflater::finish(&mut stream);
            let decoded = inflate(&stream).unwrap();
            assert!(decoded.finished);
            assert_eq!(decoded.data, events[start..].concat().into_bytes(), "from unit {start}");
        }
    }
}
