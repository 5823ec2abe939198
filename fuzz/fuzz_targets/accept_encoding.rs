//! Accept-Encoding: any header value chooses one of the offered codings or none, never panics,
//! and a coding the header weighs at 0 by name is never chosen.
#![no_main]

use bare_sse::http::choose_coding;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else { return };
    let offered = ["gzip", "br", "x-custom"];
    if let Some(chosen) = choose_coding(Some(header), &offered) {
        assert!(offered.contains(&chosen));
        let refused = header.split(',').any(|entry| {
            let mut parts = entry.split(';');
            let name = parts.next().unwrap_or("").trim();
            name.eq_ignore_ascii_case(chosen) && parts.any(|p| matches!(p.trim(), "q=0" | "q=0." | "q=0.0" | "q=0.00" | "q=0.000"))
        });
        assert!(!refused, "{chosen} was refused in {header:?}");
    }
});
