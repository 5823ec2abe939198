//! URL patterns, URLs and Mercure selectors: compiling and matching arbitrary input never panics,
//! nor does compiling a pattern's normalized components again; a parsed URL serializes to text
//! that parses back to it; and a pattern matches a parsed URL as it matches that URL's text.
//!
//! That the normalized components compile to themselves is not asserted: by the standard they
//! need not. Fixed text is canonicalized piece by piece, so `/{}*.*` keeps a `.` that, written
//! back as `/.*`, is a dot segment and goes; an escaped `\[` hostname is written back as `[`,
//! which no longer starts an IPv6 address; and a tab or line break in fixed text is dropped,
//! joining the groups around it.
#![no_main]

use bare_sse::topic::{
    PatternLimits, SelectorLimits, TopicSelector, UrlComponent, UrlPattern, UrlPatternInit, UrlRecord,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // `pattern \x01 input \x01 base`, each part optional.
    let mut parts = text.split('\u{1}');
    let (pattern, input, base) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next());
    let base = base.and_then(|base| UrlRecord::parse(base, None).ok());

    let url = UrlRecord::parse(input, base.as_ref()).ok();
    if let Some(url) = &url {
        let written = url.to_string();
        assert_eq!(UrlRecord::parse(&written, None).as_ref(), Ok(url), "{written}");
    }

    if let Ok(compiled) = UrlPattern::parse(pattern, base.as_ref()) {
        let matched = compiled.test(input, base.as_ref());
        if let Some(url) = &url {
            assert_eq!(compiled.test_url(url), matched);
            assert_eq!(compiled.test(&url.to_string(), None), matched, "{url}");
        }
        // As the dictionary form reads them: a protocol loses one trailing `:`, a search one
        // leading `?`, a hash one leading `#`, so each gets one to lose.
        let component = |which| Some(compiled.component(which).to_string());
        let init = UrlPatternInit {
            protocol: Some(format!("{}:", compiled.component(UrlComponent::Protocol))),
            username: component(UrlComponent::Username),
            password: component(UrlComponent::Password),
            hostname: component(UrlComponent::Hostname),
            port: component(UrlComponent::Port),
            pathname: component(UrlComponent::Pathname),
            search: Some(format!("?{}", compiled.component(UrlComponent::Search))),
            hash: Some(format!("#{}", compiled.component(UrlComponent::Hash))),
            base_url: None,
        };
        // Written back, a pattern may grow a little (escapes, braces): room enough, still bounded.
        let limits = PatternLimits { max_pattern_bytes: 1 << 20, max_parts: 1 << 16, max_states: 1 << 16 };
        let _ = UrlPattern::from_init(&init, &limits);
    }

    if let Ok(selector) = TopicSelector::from_query(pattern, base.as_ref(), &SelectorLimits::default()) {
        let _ = selector.matches_any(&[input]);
    }
});
