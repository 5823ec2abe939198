//! Datastar's `read_signals`, from a POST body and from a GET query: never panics.
#![no_main]

use bare_sse::datastar::read_signals;
use bare_sse::http::{parse_request_head, HeadLimits, Parsed};
use bare_sse::Request;
use libfuzzer_sys::fuzz_target;

fn request(head: &[u8], body: &[u8]) -> Option<Request> {
    match parse_request_head(head, &HeadLimits::default()) {
        Ok(Parsed::Complete { head, .. }) => Some(Request::new(head, body.to_vec())),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    if let Some(post) = request(b"POST /s HTTP/1.1\r\nHost: x\r\n\r\n", data) {
        let _ = read_signals(&post);
    }
    let query: String = data.iter().map(|b| format!("%{b:02X}")).collect();
    if let Some(get) = request(format!("GET /s?datastar={query} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(), b"") {
        let _ = read_signals(&get);
    }
});
