//! The request-head parser: never panics; a complete head stays the same head whatever follows it,
//! and uses no more than the input.
#![no_main]

use bare_sse::http::{parse_request_head, HeadLimits, Parsed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = HeadLimits::default();
    if let Ok(Parsed::Complete { head, consumed }) = parse_request_head(data, &limits) {
        assert!(consumed <= data.len());
        let mut longer = data[..consumed].to_vec();
        longer.extend_from_slice(b"GET / HTTP/1.1\r\n");
        match parse_request_head(&longer, &limits) {
            Ok(Parsed::Complete { head: again, consumed: again_consumed }) => {
                assert_eq!(again, head);
                assert_eq!(again_consumed, consumed);
            }
            other => panic!("a complete head changed with what follows it: {other:?}"),
        }
    }
});
