//! URL patterns, URLs and Mercure selectors: compiling and matching arbitrary input never panics;
//! a parsed URL serializes to text that parses back to it; a pattern matches a parsed URL as it
//! matches that URL's text; and the normalized components of a pattern Mercure would accept (no
//! control characters: the URL parser drops tabs and line breaks from fixed text, and the
//! standard then writes groups back together that were apart) compile, when they do, to
//! themselves. (They need not compile: the standard writes an escaped `\[` hostname back as `[`,
//! which no longer reads as the start of an IPv6 address.)
#![no_main]

use bare_sse::topic::{
    check_topic_text, PatternLimits, SelectorLimits, TopicSelector, UrlComponent, UrlPattern, UrlPatternInit, UrlRecord,
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
        if check_topic_text(pattern).is_err() {
            return;
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
        let limits = PatternLimits { max_pattern_bytes: usize::MAX, max_parts: usize::MAX, max_states: usize::MAX / 2 };
        if let Ok(again) = UrlPattern::from_init(&init, &limits) {
            for which in UrlComponent::ALL {
                assert_eq!(again.component(which), compiled.component(which), "{which} of {pattern:?}");
            }
        }
    }

    if let Ok(selector) = TopicSelector::from_query(pattern, base.as_ref(), &SelectorLimits::default()) {
        let _ = selector.matches_any(&[input]);
    }
});
