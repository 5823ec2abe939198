//! RESP replies: any bytes, in any split, decode to the same values (or the same first error) as
//! the whole, and never panic, whether oversized items are errors or dropped.
#![no_main]

use bare_sse::redis::resp::{Decoder, Limits, Value};
use libfuzzer_sys::fuzz_target;

fn decode(pieces: &[&[u8]], discard_oversized: bool) -> (Vec<Value>, bool) {
    let limits = Limits {
        max_bulk_bytes: 1024,
        max_array_items: 64,
        max_depth: 4,
        max_line_bytes: 256,
        max_reply_bytes: 2048,
        max_reply_items: 128,
        discard_oversized,
    };
    let mut decoder = Decoder::new(limits);
    let mut values = Vec::new();
    for piece in pieces {
        decoder.feed(piece);
        loop {
            match decoder.next_value() {
                Ok(Some(value)) => values.push(value),
                Ok(None) => break,
                Err(_) => return (values, true),
            }
        }
    }
    (values, false)
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else { return };
    let cut = usize::from(cut).min(rest.len());
    for discard_oversized in [false, true] {
        let whole = decode(&[rest], discard_oversized);
        let split = decode(&[&rest[..cut], &rest[cut..]], discard_oversized);
        let bytes: Vec<&[u8]> = rest.chunks(1).collect();
        let byte_by_byte = decode(&bytes, discard_oversized);
        assert_eq!(whole, split);
        assert_eq!(whole, byte_by_byte);
    }
});
