//! The DEFLATE encoder: any input, cut into units anywhere, at any level, decodes back to itself
//! with the tests' independent decoder, unit by unit, and independent units decode after any
//! other unit; the output never grows past the stored-block bound.
#![no_main]

use bare_sse::internals::Deflater;
use libfuzzer_sys::fuzz_target;

/// The tests' DEFLATE decoder, the one the library's own tests use.
#[path = "../../src/test_inflate.rs"]
#[allow(dead_code)] // this target decodes raw DEFLATE only, not the gzip reader beside it
mod test_inflate;

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else { return };
    let level = u32::from(control % 10);
    let independent = control & 0x80 != 0;
    let mut deflater = Deflater::new(level);
    let mut stream = Vec::new();
    let mut expected = Vec::new();
    for unit in input.split(|&b| b == 0xFF) {
        if independent {
            deflater.compress_independent(unit, &mut stream);
        } else {
            deflater.compress(unit, &mut stream);
        }
        expected.extend_from_slice(unit);
        assert_eq!(test_inflate::inflate(&stream).unwrap().data, expected);
    }
    // Per unit at most: a stored block header per 32 KiB piece (5 bytes) and the sync flush (5).
    let units = input.split(|&b| b == 0xFF).count();
    assert!(stream.len() <= input.len() + 10 * units + 5 * input.len().div_ceil(32 * 1024));
    Deflater::finish(&mut stream);
    let all = test_inflate::inflate(&stream).unwrap();
    assert!(all.finished);
    assert_eq!(all.data, expected);
});
