//! The client's response-head parser: never panics, and a complete head uses no more than its
//! input and stays the same whatever follows it.
#![no_main]

use bare_sse::http::{parse_response_head, Parsed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Parsed::Complete { head, consumed }) = parse_response_head(data) {
        assert!(consumed <= data.len());
        let mut longer = data[..consumed].to_vec();
        longer.extend_from_slice(b"data: x\n\n");
        match parse_response_head(&longer) {
            Ok(Parsed::Complete { head: again, .. }) => assert_eq!(again, head),
            other => panic!("a complete head changed with what follows it: {other:?}"),
        }
    }
});
