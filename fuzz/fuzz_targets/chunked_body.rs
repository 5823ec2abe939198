//! The chunked-body reader: never panics, never yields more bytes than it was given, and reads
//! the same body whether its input arrives whole or one byte at a time.
#![no_main]

use std::io::{BufReader, Read};

use bare_sse::http::ChunkedReader;
use libfuzzer_sys::fuzz_target;

/// A reader that hands out one byte per read.
struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some((&first, rest)) = self.0.split_first() else { return Ok(0) };
        if buf.is_empty() {
            return Ok(0);
        }
        buf[0] = first;
        self.0 = rest;
        Ok(1)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut whole = Vec::new();
    let whole_result = ChunkedReader::new(data).read_to_end(&mut whole).map(|_| ());
    assert!(whole.len() <= data.len());
    let mut trickled = Vec::new();
    let trickled_result =
        ChunkedReader::new(BufReader::with_capacity(1, Trickle(data))).read_to_end(&mut trickled).map(|_| ());
    assert_eq!(whole_result.is_ok(), trickled_result.is_ok());
    if whole_result.is_ok() {
        assert_eq!(whole, trickled);
    }
});
