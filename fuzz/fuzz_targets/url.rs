//! URLs: a parsed host never holds a control byte, a space or anything that could end a request
//! line or header, and a parsed URL parses back to itself. Joining a redirect never panics and
//! obeys the same rules.
#![no_main]

use bare_sse::http::Url;
use libfuzzer_sys::fuzz_target;

fn check(url: &Url) {
    assert!(!url.host.is_empty());
    assert!(url.host.bytes().all(|b| b.is_ascii_graphic() && !b"/?#@[] ".contains(&b)), "{url:?}");
    assert!(url.target.starts_with('/') && url.target.bytes().all(|b| b > b' ' && b != 0x7f), "{url:?}");
    assert_eq!(Url::parse(&url.to_string()).as_ref(), Ok(url), "round trip of {url}");
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (base, location) = text.split_once('\u{1}').unwrap_or((text, "/"));
    if let Ok(url) = Url::parse(base) {
        check(&url);
        if let Ok(joined) = url.join(location) {
            check(&joined);
        }
    }
});
