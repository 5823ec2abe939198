//! Mercure's subscription rules: the matcher parameters, the reserved namespace, the value
//! constraints and limits (each a 400 for a hub), and matching whole updates.

use super::*;

fn hub() -> UrlRecord {
    UrlRecord::parse("https://example.com/.well-known/mercure", None).expect("the hub's URL parses")
}

fn selector(query: &str) -> Result<TopicSelector, SelectorError> {
    TopicSelector::from_query(query, Some(&hub()), &SelectorLimits::default())
}

fn values(selector: &TopicSelector) -> Vec<(MatcherType, &str)> {
    selector.matchers().iter().map(|m| (m.matcher_type(), m.value())).collect()
}

#[test]
fn matcher_parameters_and_their_types() {
    let parsed = selector("match=a&match_exact=b&match_urlpattern=%2Fbooks%2F%3Aid&match=a&lastEventID=3&x=y").unwrap();
    assert_eq!(
        values(&parsed),
        [(MatcherType::Exact, "a"), (MatcherType::Exact, "b"), (MatcherType::UrlPattern, "/books/:id")]
    );
    let both = selector("match=%2Fbooks&match_urlpattern=%2Fbooks").unwrap();
    assert_eq!(both.matchers().len(), 2, "same value, different types: two matchers");
    assert_eq!(
        values(&selector("match").unwrap()),
        [(MatcherType::Exact, "")],
        "a name without a value has an empty value"
    );
    assert_eq!(values(&selector("match=a+b%2Bc").unwrap()), [(MatcherType::Exact, "a b+c")], "form decoding");
    assert_eq!(MatcherType::from_parameter("match_urlpattern"), Some(MatcherType::UrlPattern));
    assert_eq!((MatcherType::Exact.name(), MatcherType::UrlPattern.to_string()), ("exact", "urlpattern".to_string()));
}

#[test]
fn the_reserved_namespace_is_refused_unless_supported() {
    for name in [
        "Match",
        "MATCH",
        "matché",
        "match_Exact",
        "match_URLPattern",
        "matches",
        "match_regex",
        "match_",
        "matchx",
        "MaTcH_exact",
    ] {
        let error = selector(&format!("match=a&{name}=b")).unwrap_err();
        assert_eq!(error, SelectorError::UnknownMatcherParameter(name.to_string()), "{name}");
        assert!(error.to_string().contains(name), "{error}");
    }
    for name in ["mat", "xmatch", "tch", "matc", "matcé", "m\u{430}tch"] {
        assert!(
            selector(&format!("match=a&{}=b", crate::http::encode_query_component(name))).is_ok(),
            "{name} is not reserved"
        );
    }
    assert!(is_reserved_parameter("match") && is_reserved_parameter("MATCHED") && !is_reserved_parameter("matc"));
}

#[test]
fn the_pre_standard_topic_parameter_is_refused_with_a_hint() {
    let error = selector("topic=https%3A%2F%2Fexample.com%2Fbooks%2F%7Bid%7D").unwrap_err();
    assert_eq!(error, SelectorError::LegacyTopicParameter);
    assert!(error.to_string().contains("match_urlpattern"));
    assert_eq!(selector("match=a&topic=b").unwrap_err(), SelectorError::LegacyTopicParameter);
}

#[test]
fn values_must_decode_to_utf8() {
    assert_eq!(selector("match=%FF").unwrap_err(), SelectorError::Query(PercentDecodeError::NotUtf8));
    assert_eq!(selector("match=%zz").unwrap_err(), SelectorError::Query(PercentDecodeError::BadEscape(0)));
    assert!(matches!(selector("ma%tch=a"), Err(SelectorError::Query(_))));
}

/// Every C0 and C1 control, DEL, and both ends of every `Cf` range, in both matcher types; the
/// characters just outside each range are fine.
#[test]
fn control_and_format_characters_are_refused() {
    let mut forbidden: Vec<char> = (0u32..0x20).chain([0x7f]).chain(0x80..0xa0).filter_map(char::from_u32).collect();
    forbidden.extend(FORMAT_CHARS.iter().flat_map(|&(low, high)| [low, high]));
    for c in forbidden {
        for parameter in ["match", "match_exact", "match_urlpattern"] {
            let value = format!("https://example.com/a{c}b");
            let query = format!("{parameter}={}", crate::http::encode_query_component(&value));
            let error = selector(&query).unwrap_err();
            let expected = ForbiddenChar { character: c, at: "https://example.com/a".len() };
            assert_eq!(
                error,
                SelectorError::ForbiddenChar { parameter: parameter.to_string(), forbidden: expected },
                "U+{:04X}",
                c as u32
            );
            assert!(error.to_string().contains(&format!("U+{:04X}", c as u32)), "{error}");
        }
    }
    let neighbours = FORMAT_CHARS.iter().flat_map(|&(low, high)| [u32::from(low) - 1, u32::from(high) + 1]);
    for c in neighbours.filter_map(char::from_u32).filter(|c| !is_format_char(*c) && !c.is_control()) {
        assert_eq!(check_topic_text(&format!("a{c}b")), Ok(()), "U+{:04X}", c as u32);
    }
    for allowed in ['\u{a0}', '\u{2028}', '\u{3000}', 'é', '🚲', '~', ' '] {
        assert_eq!(check_topic_text(&format!("a{allowed}b")), Ok(()), "U+{:04X}", allowed as u32);
    }
}

#[test]
fn the_matcher_count_is_bounded_at_its_limit() {
    let limits = SelectorLimits { max_matchers: 3, ..SelectorLimits::default() };
    let query = |n: usize| (0..n).map(|i| format!("match=t{i}")).collect::<Vec<_>>().join("&");
    assert_eq!(TopicSelector::from_query(&query(3), None, &limits).unwrap().matchers().len(), 3);
    assert_eq!(
        TopicSelector::from_query(&query(4), None, &limits).unwrap_err(),
        SelectorError::TooManyMatchers { max: 3 }
    );
    let repeated = "match=t&match=t&match=t&match=t";
    assert_eq!(
        TopicSelector::from_query(repeated, None, &limits).unwrap_err(),
        SelectorError::TooManyMatchers { max: 3 },
        "counted before duplicates are dropped"
    );
    let default = (0..DEFAULT_MAX_MATCHERS + 1).map(|i| format!("match=t{i}")).collect::<Vec<_>>().join("&");
    assert_eq!(selector(&default).unwrap_err(), SelectorError::TooManyMatchers { max: DEFAULT_MAX_MATCHERS });
}

#[test]
fn the_value_length_is_bounded_at_its_limit() {
    let limits = SelectorLimits { max_matcher_bytes: 30, ..SelectorLimits::default() };
    let exact = "x".repeat(30);
    assert!(TopicSelector::from_query(&format!("match_exact={exact}"), None, &limits).is_ok());
    let error = TopicSelector::from_query(&format!("match_exact={exact}x"), None, &limits).unwrap_err();
    assert_eq!(error, SelectorError::ValueTooLong { parameter: "match_exact".to_string(), bytes: 31, max: 30 });
    let pattern = format!("https://h/{}", "p".repeat(20));
    assert_eq!(pattern.len(), 30);
    assert!(TopicSelector::from_query(&format!("match_urlpattern={pattern}"), None, &limits).is_ok());
    let error = TopicSelector::from_query(&format!("match_urlpattern={pattern}p"), None, &limits).unwrap_err();
    assert_eq!(error, SelectorError::ValueTooLong { parameter: "match_urlpattern".to_string(), bytes: 31, max: 30 });
    let long = format!("match={}", "y".repeat(DEFAULT_MAX_MATCHER_BYTES + 1));
    assert!(matches!(selector(&long), Err(SelectorError::ValueTooLong { .. })));
}

#[test]
fn pattern_limits_apply_to_url_patterns() {
    let limits = SelectorLimits { max_pattern_parts: 2, max_pattern_states: 20, ..SelectorLimits::default() };
    let parse = |pattern: &str| TopicSelector::from_params([("match_urlpattern", pattern)], None, &limits);
    assert!(parse("https://h/:a/:b").is_ok());
    assert!(matches!(
        parse("https://h/:a/:b/:c"),
        Err(SelectorError::InvalidPattern { error: UrlPatternError::TooManyParts { .. }, .. })
    ));
    assert!(matches!(
        parse("https://h/:a(x{30})"),
        Err(SelectorError::InvalidPattern { error: UrlPatternError::TooComplex { .. }, .. })
    ));
}

#[test]
fn malformed_patterns_are_refused() {
    for (pattern, expected) in [
        ("%2F%7Bx", "malformed"),
        ("%2F(a(%3F%3Db))", "not supported"),
        ("https%3A%2F%2Fex%20ample.com%2F", "hostname"),
        ("%2F%3Aid%2F%3Aid", "twice"),
    ] {
        let error = selector(&format!("match_urlpattern={pattern}")).unwrap_err();
        assert!(matches!(error, SelectorError::InvalidPattern { .. }), "{pattern}: {error:?}");
        assert!(error.to_string().contains(expected), "{error}");
        assert!(std::error::Error::source(&error).is_some());
    }
    let no_base = TopicSelector::from_params([("match_urlpattern", "/books/:id")], None, &SelectorLimits::default());
    assert!(matches!(no_base, Err(SelectorError::InvalidPattern { error: UrlPatternError::RelativeWithoutBase, .. })));
    assert!(
        TopicSelector::from_params([("match", "/books/1")], None, &SelectorLimits::default()).is_ok(),
        "an exact topic needs no base"
    );
}

#[test]
fn a_subscription_needs_a_matcher() {
    assert_eq!(selector("").unwrap_err(), SelectorError::NoMatcher);
    assert_eq!(selector("lastEventID=1&x").unwrap_err(), SelectorError::NoMatcher);
}

#[test]
fn the_wildcard_matches_every_topic_whatever_its_type() {
    for query in ["match=*", "match_exact=*", "match_urlpattern=*"] {
        let parsed = selector(query).unwrap();
        assert!(matches!(parsed.matchers(), [TopicMatcher::Wildcard(_)]), "{query}");
        assert!(parsed.matches_any(&["anything at all"]) && parsed.matches_any(&["", "x"]), "{query}");
        assert!(!parsed.matches_any(&[] as &[&str]), "no topic, nothing to match");
    }
    assert_eq!(selector("match_urlpattern=*").unwrap().matchers()[0].matcher_type(), MatcherType::UrlPattern);
}

#[test]
fn exact_matching_is_byte_for_byte() {
    let parsed = selector("match=https%3A%2F%2Fexample.com%2Ffoo&match=%2Fbar").unwrap();
    assert!(parsed.matches_any(&["https://example.com/foo"]));
    for other in [
        "https://EXAMPLE.com/foo",
        "https://example.com/foo/",
        "https://example.com:443/foo",
        "https://example.com/bar",
    ] {
        assert!(!parsed.matches_any(&[other]), "{other}: no normalization, no base URL");
    }
    assert!(parsed.matches_any(&["/bar"]));
}

#[test]
fn url_patterns_resolve_relative_topics_against_the_hub() {
    let parsed =
        selector("match_urlpattern=%2F.well-known%2Fmercure%2Fsubscriptions%2Fexact%2F%3Atopic%2F%3Asubscriber")
            .unwrap();
    assert!(parsed
        .matches_any(&["/.well-known/mercure/subscriptions/exact/https%3A%2F%2Fexample.com%2Ffoo/urn%3Auuid%3A1"]));
    assert!(parsed.matches_any(&["https://example.com/.well-known/mercure/subscriptions/exact/a/b"]));
    assert!(!parsed.matches_any(&["https://other.example/.well-known/mercure/subscriptions/exact/a/b"]));
    assert!(!parsed.matches_any(&["not a url: no match", "urn:a"]));
}

#[test]
fn any_matcher_against_any_topic() {
    let parsed = selector("match=urn%3Aa&match_urlpattern=https%3A%2F%2Fexample.com%2Fbooks%2F%3Aid").unwrap();
    assert!(parsed.matches_any(&["urn:b", "urn:a"]), "an alternate topic");
    assert!(parsed.matches_any(&[String::from("urn:b"), String::from("https://example.com/books/7")]));
    assert!(!parsed.matches_any(&["urn:b", "https://example.com/books/7/x"]));
    let matcher = &parsed.matchers()[1];
    assert!(matcher.matches("/books/1", Some(&hub())) && !matcher.matches("/books/1", None));
}

#[test]
fn the_cache_gives_the_same_answers() {
    let parsed =
        selector("match_urlpattern=%2Fbooks%2F%3Aid&match_urlpattern=https%3A%2F%2F*.example.com%2F*&match=urn%3Ax")
            .unwrap();
    let topics: [&[&str]; 6] =
        [&["/books/1"], &["https://a.example.com/x"], &["urn:x"], &["/books/1/2", "urn:y"], &["nope"], &["/books/1"]];
    let mut cache = MatchCache::new(Some(&hub()), DEFAULT_MATCH_CACHE_BYTES);
    for _ in 0..2 {
        for update in topics {
            assert_eq!(parsed.matches_any_cached(update, &mut cache), parsed.matches_any(update), "{update:?}");
        }
    }
    let (hits, misses) = cache.hits_and_misses();
    assert!(hits >= misses && misses > 0, "{hits} hits, {misses} misses");

    let mut other_base = MatchCache::new(None, DEFAULT_MATCH_CACHE_BYTES);
    assert!(parsed.matches_any_cached(&["/books/1"], &mut other_base));
    assert_eq!(other_base.hits_and_misses(), (0, 0), "a cache for another base URL is not used");
}
