//! JSON: parsing never panics (nor overflows the stack within the depth limit), and what parses
//! writes out as JSON that parses back to the same value.
#![no_main]

use bare_sse::json;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = json::parse_bytes(data) {
        let written = value.to_string();
        assert_eq!(json::parse(&written).as_ref(), Ok(&value), "{written}");
    }
});
