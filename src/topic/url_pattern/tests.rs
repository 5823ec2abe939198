//! The URL Pattern Standard's examples, the web-platform-tests cases (as facts: pattern, input,
//! expected), the limits, and the cost of adversarial patterns.

use super::*;

fn url(text: &str) -> UrlRecord {
    UrlRecord::parse(text, None).expect("a test URL parses")
}

#[test]
fn the_standards_introduction() {
    let category = UrlPattern::parse("https://example.com/:category/*", None).unwrap();
    let components: Vec<&str> = UrlComponent::ALL.iter().map(|c| category.component(*c)).collect();
    assert_eq!(components, ["https", "*", "*", "example.com", "", "/:category/*", "*", "*"]);
    for yes in ["https://example.com/products/", "https://example.com/blog/our-greatest-product-ever"] {
        assert!(category.test(yes, None), "{yes}");
    }
    for no in [
        "https://example.com/",
        "http://example.com/products/",
        "https://example.com:8443/blog/our-greatest-product-ever",
    ] {
        assert!(!category.test(no, None), "{no}");
    }

    let shop = UrlPattern::parse("http{s}?://{:subdomain.}?shop.example/products/:id([0-9]+)#reviews", None).unwrap();
    let components: Vec<&str> = UrlComponent::ALL.iter().map(|c| shop.component(*c)).collect();
    assert_eq!(
        components,
        ["http{s}?", "*", "*", "{:subdomain.}?shop.example", "", "/products/:id([0-9]+)", "", "reviews"]
    );
    for yes in [
        "https://shop.example/products/74205#reviews",
        "https://kathryn@voyager.shop.example/products/74656#reviews",
        "http://insecure.shop.example/products/1701#reviews",
    ] {
        assert!(shop.test(yes, None), "{yes}");
    }
    for no in [
        "https://shop.example/products/2000",
        "http://shop.example:8080/products/0#reviews",
        "https://nx.shop.example/products/01?speed=5#reviews",
        "https://shop.example/products/chair#reviews",
    ] {
        assert!(!shop.test(no, None), "{no}");
    }

    let base = url("https://discussion.example/forum/?page=2");
    let admin = UrlPattern::parse("../admin/*", Some(&base)).unwrap();
    let components: Vec<&str> = UrlComponent::ALL.iter().map(|c| admin.component(*c)).collect();
    assert_eq!(components, ["https", "*", "*", "discussion.example", "", "/admin/*", "*", "*"]);
    for yes in ["https://discussion.example/admin/", "https://edd:librarian@discussion.example/admin/update?id=1"] {
        assert!(admin.test(yes, None), "{yes}");
    }
    for no in ["https://discussion.example/forum/admin/", "http://discussion.example:8080/admin/update?id=1"] {
        assert!(!admin.test(no, None), "{no}");
    }
}

#[test]
fn the_pattern_strings_examples() {
    let pathname = |pattern: &str| {
        UrlPattern::from_init(
            &UrlPatternInit { pathname: Some(pattern.to_string()), ..Default::default() },
            &PatternLimits::default(),
        )
        .unwrap()
    };
    let path = |pathname: &str| UrlPatternInit { pathname: Some(pathname.to_string()), ..Default::default() };
    assert!(pathname("/blog/:title").test_init(&path("/blog/hello-world")));
    assert!(!pathname("/blog/:title").test_init(&path("/blog/2012/02")));
    assert!(pathname("/blog/:year(\\d+)/:month(\\d+)").test_init(&path("/blog/2012/02")));
    assert!(pathname("/products/:id?").test_init(&path("/products")));
    assert!(pathname("/products/:id?").test_init(&path("/products/2")));
    assert!(!pathname("/products/:id?").test_init(&path("/products/")));
    assert!(pathname("/products/{:id}?").test_init(&path("/products/")));
    assert!(pathname("/products/*").test_init(&path("/products/a/b")));
}

#[test]
fn mercure_examples() {
    let hub = url("https://example.com/.well-known/mercure");
    let bar = UrlPattern::parse("https://example.com/bar/:id", Some(&hub)).unwrap();
    assert!(
        bar.test("https://example.com/bar/1", None)
            && !bar.test("https://example.com/bar", None)
            && !bar.test("bar", Some(&hub))
    );
    let events = UrlPattern::parse("/.well-known/mercure/subscriptions/exact/:topic/:subscriber", Some(&hub)).unwrap();
    assert!(events
        .test("/.well-known/mercure/subscriptions/exact/https%3A%2F%2Fexample.com%2Ffoo/urn%3Auuid%3A1", Some(&hub)));
    assert!(!events.test("/.well-known/mercure/subscriptions/urlpattern/x/y", Some(&hub)));
    assert!(!events.test("https://other.example/.well-known/mercure/subscriptions/exact/x/y", Some(&hub)));
    let selector = UrlPattern::parse("https://example.com/:selector", None).unwrap();
    assert!(selector.test("https://example.com/a-topic", None));
    let orders = UrlPattern::parse("https://example.com/users/*/orders{/:order}?", None).unwrap();
    assert!(
        orders.test("https://example.com/users/1/orders", None)
            && orders.test("https://example.com/users/1/orders/2", None)
    );
    assert!(
        !orders.test("https://example.com/users/1/orders/", None)
            && !orders.test("https://example.com/users/1/order", None)
    );
    assert!(!UrlPattern::parse("https://example.com/*", None).unwrap().test("not a url", None));
    assert!(
        !UrlPattern::parse("https://*", None).unwrap().test("https://example.com:8443/", None),
        "no port means the default"
    );
    assert!(UrlPattern::parse("https://*:*", None).unwrap().test("https://example.com:8443/", None));
}

#[test]
fn relative_patterns_need_a_base() {
    assert_eq!(UrlPattern::parse("/books/:id", None).unwrap_err(), UrlPatternError::RelativeWithoutBase);
    assert_eq!(UrlPattern::parse("example.com/foo", None).unwrap_err(), UrlPatternError::RelativeWithoutBase);
    let base = url("https://hub.example/.well-known/mercure");
    assert_eq!(
        UrlPattern::parse("?q=*", Some(&base)).unwrap().component(UrlComponent::Pathname),
        "/.well-known/mercure"
    );
    assert_eq!(
        UrlPattern::parse("books", Some(&base)).unwrap().component(UrlComponent::Pathname),
        "/.well-known/books"
    );
}

#[test]
fn errors_say_what_and_where() {
    let error = UrlPattern::parse("https://example.com/{a", None).unwrap_err();
    assert!(matches!(error, UrlPatternError::Syntax { component: Some(UrlComponent::Pathname), .. }), "{error:?}");
    assert!(error.to_string().contains("pathname"), "{error}");
    let error = UrlPattern::parse("https://exa mple.com/", None).unwrap_err();
    assert_eq!(
        error,
        UrlPatternError::InvalidComponent { component: UrlComponent::Hostname, value: "exa mple.com".to_string() }
    );
    assert!(matches!(
        UrlPattern::parse("https://example.com/:id(\\1)", None),
        Err(UrlPatternError::Unsupported { .. })
    ));
    assert!(matches!(
        UrlPattern::parse("https://example.com/:id(\\m)", None),
        Err(UrlPatternError::InvalidRegexp { .. })
    ));
    assert!(matches!(
        UrlPattern::parse("https://example.com:99999/", None),
        Err(UrlPatternError::InvalidComponent { component: UrlComponent::Port, .. })
    ));
    assert!(matches!(
        UrlPattern::from_init(
            &UrlPatternInit { base_url: Some("nope".into()), ..Default::default() },
            &PatternLimits::default()
        ),
        Err(UrlPatternError::InvalidBaseUrl)
    ));
    for error in [UrlPatternError::TooLong { bytes: 5000, max: 2048 }, UrlPatternError::RelativeWithoutBase] {
        assert!(!error.to_string().is_empty());
    }
}

#[test]
fn limits_are_enforced_at_their_value() {
    let limits = PatternLimits { max_pattern_bytes: 40, max_parts: 3, max_states: 64 };
    let exactly = format!("https://example.com/{}", "a".repeat(40 - "https://example.com/".len()));
    assert_eq!(UrlPattern::parse_with_limits(&exactly, None, &limits).err(), None);
    let longer = format!("{exactly}a");
    assert_eq!(
        UrlPattern::parse_with_limits(&longer, None, &limits).unwrap_err(),
        UrlPatternError::TooLong { bytes: 41, max: 40 }
    );

    assert!(UrlPattern::parse_with_limits("https://h/:a/:b/:c", None, &limits).is_ok());
    assert_eq!(
        UrlPattern::parse_with_limits("https://h/:a/:b/:c/:d", None, &limits).unwrap_err(),
        UrlPatternError::TooManyParts { parts: 4, max: 3 }
    );
    assert_eq!(
        UrlPattern::parse_with_limits("https://h/:a/:b/:c#:d", None, &limits).unwrap_err(),
        UrlPatternError::TooManyParts { parts: 4, max: 3 },
        "parts are counted over all components"
    );

    // States: `/:a` with `n` more characters of text is n + 5 states (2 for `/`, the group's
    // loop and set, then the text, then the match state).
    let states = |text: &str| {
        UrlPattern::parse_with_limits(
            &format!("https://h/:a{text}"),
            None,
            &PatternLimits { max_states: 10_000, ..limits },
        )
        .unwrap()
    };
    let fits = states("").components[5].states();
    let spare = "-".repeat(64 - fits);
    assert!(UrlPattern::parse_with_limits(
        &format!("https://h/:a{spare}"),
        None,
        &PatternLimits { max_pattern_bytes: 1000, ..limits }
    )
    .is_ok());
    let error = UrlPattern::parse_with_limits(
        &format!("https://h/:a{spare}-"),
        None,
        &PatternLimits { max_pattern_bytes: 1000, ..limits },
    )
    .unwrap_err();
    assert_eq!(error, UrlPatternError::TooComplex { states: 65, max: 64 });
    let error =
        UrlPattern::parse_with_limits("https://h/:a((?:x{1000}){1000})", None, &PatternLimits::default()).unwrap_err();
    assert!(matches!(error, UrlPatternError::TooComplex { .. }), "{error:?}");
}

#[test]
fn defaults_take_ordinary_patterns() {
    let long_path = format!("https://example.com/{}/:id", "segment/".repeat(200));
    assert!(long_path.len() <= DEFAULT_MAX_PATTERN_BYTES);
    assert!(UrlPattern::parse(&long_path, None).is_ok());
    let many_groups =
        format!("https://example.com{}", (0..DEFAULT_MAX_PARTS).map(|i| format!("/:g{i}")).collect::<String>());
    assert_eq!(UrlPattern::parse(&many_groups, None).err(), None);
}

/// Patterns that make a backtracking engine take time exponential in the input, against long
/// inputs: the cost must stay within `(input length + 1) × states` per component.
#[test]
fn adversarial_patterns_cost_linear_steps() {
    let stars = format!("https://h/{}b", "*a".repeat(20));
    let optional_runs = format!("https://h/{}{}", "{a}?".repeat(30), "a".repeat(30));
    let nested = "https://h/:x((?:a|a)*b)".to_string();
    let segments = format!("https://h/x{{/:s}}*/*{}/end", "{/*}?".repeat(20));
    for pattern in [stars, optional_runs, nested, segments] {
        let compiled = UrlPattern::parse(&pattern, None).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        let states: usize = compiled.components.iter().map(Component::states).sum();
        for length in [100usize, 10_000, 100_000] {
            let input = url(&format!("https://h/{}", "a".repeat(length)));
            let mut steps = 0;
            let _ = compiled.test_values(&component_values(&input), &mut steps);
            let bound = (length as u64 + 20) * states as u64;
            assert!(steps <= bound, "{pattern} on {length} characters: {steps} steps > {bound}");
        }
    }
}

#[test]
fn hostnames_and_ports() {
    let pattern = UrlPattern::parse("https://{*.}?EXAMPLE.com/", None).unwrap();
    assert_eq!(pattern.component(UrlComponent::Hostname), "{*.}?example.com");
    assert!(pattern.test("https://a.b.example.com/", None) && pattern.test("https://Example.COM/", None));
    assert!(!pattern.test("https://badexample.com/", None));
    let ipv6 = UrlPattern::parse("http://[\\:\\:AB\\::num]/", None).unwrap();
    assert!(ipv6.test("http://[::ab:1]/", None));
    assert_eq!(UrlPattern::parse("https://h:443/", None).unwrap().component(UrlComponent::Port), "");
    assert_eq!(UrlPattern::parse("http://h:80/", None).unwrap().component(UrlComponent::Port), "");
    assert_eq!(UrlPattern::parse("http://h:8080/", None).unwrap().component(UrlComponent::Port), "8080");
    let http_443 = UrlPattern::parse("http://h:443/", None).unwrap();
    assert_eq!(http_443.component(UrlComponent::Port), "443", "the default port of https, not of http");
    assert!(http_443.test("http://h:443/", None) && !http_443.test("http://h/", None));
    assert_eq!(
        UrlPattern::parse("HTTPS://h:443/", None).unwrap().component(UrlComponent::Port),
        "443",
        "browsers agree"
    );
    let punycode = UrlPattern::parse("https://café.example/*", None).unwrap();
    assert_eq!(punycode.component(UrlComponent::Hostname), "xn--caf-dma.example");
    assert!(punycode.test("https://xn--caf-dma.example/x", None) && punycode.test("https://café.example/x", None));
    assert!(matches!(UrlPattern::parse("https://CAFÉ.example/", None), Err(UrlPatternError::InvalidComponent { .. })));
    assert!(
        !UrlPattern::parse("https://*/", None).unwrap().test("https://CAFÉ.example/", None),
        "a host not mapped here does not match"
    );
}

#[test]
fn non_special_schemes_have_opaque_paths() {
    let urn = UrlPattern::parse("urn\\:isbn\\::number", None).unwrap();
    assert!(urn.test("urn:isbn:9780307476463", None) && !urn.test("urn:issn:1", None));
    let any_scheme = UrlPattern::parse("*\\:*", None).unwrap();
    assert!(any_scheme.test("mailto:a@b", None) && any_scheme.test("data:,x", None));
}

// ---------------------------------------------------------------------------------------------
// The web-platform-tests cases (urlpattern/resources/urlpatterntestdata.json): each entry's
// pattern, one input, and whether it matches, is an error, or is refused here as unsupported
// (non-ASCII group names and the `v` flag's class set operations). Entries with the
// `ignoreCase` option, or that test how `test()` rejects its arguments, are left out.

enum Pattern {
    Str(&'static str, Option<&'static str>),
    Init(&'static [(&'static str, &'static str)]),
}

enum Input {
    Str(&'static str, Option<&'static str>),
    Init(&'static [(&'static str, &'static str)]),
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Match,
    NoMatch,
    /// The pattern compiles (the entry has no input).
    Compiles,
    Error,
    Unsupported,
}

struct Case {
    pattern: Pattern,
    input: Option<Input>,
    outcome: Outcome,
    /// Normalized component patterns the entry states.
    components: &'static [(&'static str, &'static str)],
}

fn init(pairs: &[(&str, &str)]) -> UrlPatternInit {
    let mut init = UrlPatternInit::default();
    for (name, value) in pairs {
        let slot = match *name {
            "baseURL" => &mut init.base_url,
            name => init.slot(UrlComponent::ALL.into_iter().find(|c| c.name() == name).expect("a component name")),
        };
        *slot = Some(value.to_string());
    }
    init
}

fn compile(pattern: &Pattern) -> Result<UrlPattern, UrlPatternError> {
    match pattern {
        Pattern::Str(text, base) => {
            let base = match base.map(|base| UrlRecord::parse(base, None)).transpose() {
                Ok(base) => base,
                Err(_) => return Err(UrlPatternError::InvalidBaseUrl),
            };
            UrlPattern::parse(text, base.as_ref())
        }
        Pattern::Init(pairs) => UrlPattern::from_init(&init(pairs), &PatternLimits::default()),
    }
}

#[test]
fn web_platform_tests() {
    let mut failures = Vec::new();
    for (index, case) in CASES.iter().enumerate() {
        let compiled = compile(&case.pattern);
        let outcome = match (&compiled, &case.input) {
            (Err(UrlPatternError::Unsupported { .. }), _) => Outcome::Unsupported,
            (Err(_), _) => Outcome::Error,
            (Ok(_), None) => Outcome::Compiles,
            (Ok(pattern), Some(Input::Str(text, base))) => {
                let base = base.map(|base| UrlRecord::parse(base, None));
                let matched = match base {
                    Some(Err(_)) => false,
                    Some(Ok(base)) => pattern.test(text, Some(&base)),
                    None => pattern.test(text, None),
                };
                if matched {
                    Outcome::Match
                } else {
                    Outcome::NoMatch
                }
            }
            (Ok(pattern), Some(Input::Init(pairs))) => {
                if pattern.test_init(&init(pairs)) {
                    Outcome::Match
                } else {
                    Outcome::NoMatch
                }
            }
        };
        // Refusing what the standard also refuses, as unsupported rather than invalid, is fine.
        let refused_either_way = case.outcome == Outcome::Error && outcome == Outcome::Unsupported;
        if outcome != case.outcome && !refused_either_way {
            failures.push(format!(
                "#{index}: expected {:?}, got {outcome:?} ({:?})",
                case.outcome,
                compiled.as_ref().err()
            ));
            continue;
        }
        if let Ok(pattern) = &compiled {
            for (name, expected) in case.components {
                let component = UrlComponent::ALL.into_iter().find(|c| c.name() == *name).expect("a component name");
                if pattern.component(component) != *expected {
                    failures
                        .push(format!("#{index}: {name} is {:?}, expected {expected:?}", pattern.component(component)));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), CASES.len(), failures.join("\n"));
}

use Input::{Init, Str};
use Outcome::{Error, Match, NoMatch, Unsupported};

#[rustfmt::skip]
const CASES: &[Case] = &[
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar")]), input: Some(Init(&[("pathname", "/foo/bar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar")]), input: Some(Init(&[("pathname", "/foo/ba")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar")]), input: Some(Init(&[("pathname", "/foo/bar/")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar")]), input: Some(Init(&[("pathname", "/foo/bar/baz")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar")]), input: Some(Str("https://example.com/foo/bar", None)), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar")]), input: Some(Str("https://example.com/foo/bar/baz", None)), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar")]), input: Some(Init(&[("hostname", "example.com"), ("pathname", "/foo/bar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar")]), input: Some(Init(&[("hostname", "example.com"), ("pathname", "/foo/bar/baz")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar")]), input: Some(Init(&[("pathname", "/foo/bar"), ("baseURL", "https://example.com")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar")]), input: Some(Init(&[("pathname", "/foo/bar/baz"), ("baseURL", "https://example.com")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar"), ("baseURL", "https://example.com?query#hash")]), input: Some(Init(&[("pathname", "/foo/bar")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar"), ("baseURL", "https://example.com?query#hash")]), input: Some(Init(&[("hostname", "example.com"), ("pathname", "/foo/bar")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar"), ("baseURL", "https://example.com?query#hash")]), input: Some(Init(&[("protocol", "https"), ("hostname", "example.com"), ("pathname", "/foo/bar")])), outcome: Match, components: &[("port", "")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar"), ("baseURL", "https://example.com")]), input: Some(Init(&[("protocol", "https"), ("hostname", "example.com"), ("pathname", "/foo/bar")])), outcome: Match, components: &[("port", "")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar"), ("baseURL", "https://example.com")]), input: Some(Init(&[("protocol", "https"), ("hostname", "example.com"), ("pathname", "/foo/bar/baz")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar"), ("baseURL", "https://example.com?query#hash")]), input: Some(Init(&[("protocol", "https"), ("hostname", "example.com"), ("pathname", "/foo/bar"), ("search", "otherquery"), ("hash", "otherhash")])), outcome: Match, components: &[("port", "")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar"), ("baseURL", "https://example.com")]), input: Some(Init(&[("protocol", "https"), ("hostname", "example.com"), ("pathname", "/foo/bar"), ("search", "otherquery"), ("hash", "otherhash")])), outcome: Match, components: &[("port", "")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar"), ("baseURL", "https://example.com?otherquery#otherhash")]), input: Some(Init(&[("protocol", "https"), ("hostname", "example.com"), ("pathname", "/foo/bar"), ("search", "otherquery"), ("hash", "otherhash")])), outcome: Match, components: &[("port", "")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar"), ("baseURL", "https://example.com?query#hash")]), input: Some(Str("https://example.com/foo/bar", None)), outcome: Match, components: &[("port", "")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar"), ("baseURL", "https://example.com?query#hash")]), input: Some(Str("https://example.com/foo/bar?otherquery#otherhash", None)), outcome: Match, components: &[("port", "")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar"), ("baseURL", "https://example.com?query#hash")]), input: Some(Str("https://example.com/foo/bar?query#hash", None)), outcome: Match, components: &[("port", "")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar"), ("baseURL", "https://example.com?query#hash")]), input: Some(Str("https://example.com/foo/bar/baz", None)), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar"), ("baseURL", "https://example.com?query#hash")]), input: Some(Str("https://other.com/foo/bar", None)), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar"), ("baseURL", "https://example.com?query#hash")]), input: Some(Str("http://other.com/foo/bar", None)), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar"), ("baseURL", "https://example.com?query#hash")]), input: Some(Init(&[("pathname", "/foo/bar"), ("baseURL", "https://example.com")])), outcome: Match, components: &[("port", "")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar"), ("baseURL", "https://example.com?query#hash")]), input: Some(Init(&[("pathname", "/foo/bar"), ("baseURL", "https://example.com?query#hash")])), outcome: Match, components: &[("port", "")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar"), ("baseURL", "https://example.com?query#hash")]), input: Some(Init(&[("pathname", "/foo/bar/baz"), ("baseURL", "https://example.com")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar"), ("baseURL", "https://example.com?query#hash")]), input: Some(Init(&[("pathname", "/foo/bar"), ("baseURL", "https://other.com")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar"), ("baseURL", "https://example.com?query#hash")]), input: Some(Init(&[("pathname", "/foo/bar"), ("baseURL", "http://example.com")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/:bar")]), input: Some(Init(&[("pathname", "/foo/bar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/([^\\/]+?)")]), input: Some(Init(&[("pathname", "/foo/bar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/:bar")]), input: Some(Init(&[("pathname", "/foo/index.html")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/:bar")]), input: Some(Init(&[("pathname", "/foo/bar/")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/:bar")]), input: Some(Init(&[("pathname", "/foo/")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/(.*)")]), input: Some(Init(&[("pathname", "/foo/bar")])), outcome: Match, components: &[("pathname", "/foo/*")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/*")]), input: Some(Init(&[("pathname", "/foo/bar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/(.*)")]), input: Some(Init(&[("pathname", "/foo/bar/baz")])), outcome: Match, components: &[("pathname", "/foo/*")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/*")]), input: Some(Init(&[("pathname", "/foo/bar/baz")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/(.*)")]), input: Some(Init(&[("pathname", "/foo/")])), outcome: Match, components: &[("pathname", "/foo/*")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/*")]), input: Some(Init(&[("pathname", "/foo/")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/(.*)")]), input: Some(Init(&[("pathname", "/foo")])), outcome: NoMatch, components: &[("pathname", "/foo/*")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/*")]), input: Some(Init(&[("pathname", "/foo")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/:bar(.*)")]), input: Some(Init(&[("pathname", "/foo/bar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/:bar(.*)")]), input: Some(Init(&[("pathname", "/foo/bar/baz")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/:bar(.*)")]), input: Some(Init(&[("pathname", "/foo/")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/:bar(.*)")]), input: Some(Init(&[("pathname", "/foo")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/:bar?")]), input: Some(Init(&[("pathname", "/foo/bar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/:bar?")]), input: Some(Init(&[("pathname", "/foo")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/:bar?")]), input: Some(Init(&[("pathname", "/foo/")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/:bar?")]), input: Some(Init(&[("pathname", "/foobar")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/:bar?")]), input: Some(Init(&[("pathname", "/foo/bar/baz")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/:bar+")]), input: Some(Init(&[("pathname", "/foo/bar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/:bar+")]), input: Some(Init(&[("pathname", "/foo/bar/baz")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/:bar+")]), input: Some(Init(&[("pathname", "/foo")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/:bar+")]), input: Some(Init(&[("pathname", "/foo/")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/:bar+")]), input: Some(Init(&[("pathname", "/foobar")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/:bar*")]), input: Some(Init(&[("pathname", "/foo/bar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/:bar*")]), input: Some(Init(&[("pathname", "/foo/bar/baz")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/:bar*")]), input: Some(Init(&[("pathname", "/foo")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/:bar*")]), input: Some(Init(&[("pathname", "/foo/")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/:bar*")]), input: Some(Init(&[("pathname", "/foobar")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/(.*)?")]), input: Some(Init(&[("pathname", "/foo/bar")])), outcome: Match, components: &[("pathname", "/foo/*?")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/*?")]), input: Some(Init(&[("pathname", "/foo/bar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/(.*)?")]), input: Some(Init(&[("pathname", "/foo/bar/baz")])), outcome: Match, components: &[("pathname", "/foo/*?")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/*?")]), input: Some(Init(&[("pathname", "/foo/bar/baz")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/(.*)?")]), input: Some(Init(&[("pathname", "/foo")])), outcome: Match, components: &[("pathname", "/foo/*?")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/*?")]), input: Some(Init(&[("pathname", "/foo")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/(.*)?")]), input: Some(Init(&[("pathname", "/foo/")])), outcome: Match, components: &[("pathname", "/foo/*?")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/*?")]), input: Some(Init(&[("pathname", "/foo/")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/(.*)?")]), input: Some(Init(&[("pathname", "/foobar")])), outcome: NoMatch, components: &[("pathname", "/foo/*?")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/*?")]), input: Some(Init(&[("pathname", "/foobar")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/(.*)?")]), input: Some(Init(&[("pathname", "/fo")])), outcome: NoMatch, components: &[("pathname", "/foo/*?")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/*?")]), input: Some(Init(&[("pathname", "/fo")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/(.*)+")]), input: Some(Init(&[("pathname", "/foo/bar")])), outcome: Match, components: &[("pathname", "/foo/*+")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/*+")]), input: Some(Init(&[("pathname", "/foo/bar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/(.*)+")]), input: Some(Init(&[("pathname", "/foo/bar/baz")])), outcome: Match, components: &[("pathname", "/foo/*+")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/*+")]), input: Some(Init(&[("pathname", "/foo/bar/baz")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/(.*)+")]), input: Some(Init(&[("pathname", "/foo")])), outcome: NoMatch, components: &[("pathname", "/foo/*+")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/*+")]), input: Some(Init(&[("pathname", "/foo")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/(.*)+")]), input: Some(Init(&[("pathname", "/foo/")])), outcome: Match, components: &[("pathname", "/foo/*+")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/*+")]), input: Some(Init(&[("pathname", "/foo/")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/(.*)+")]), input: Some(Init(&[("pathname", "/foobar")])), outcome: NoMatch, components: &[("pathname", "/foo/*+")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/*+")]), input: Some(Init(&[("pathname", "/foobar")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/(.*)+")]), input: Some(Init(&[("pathname", "/fo")])), outcome: NoMatch, components: &[("pathname", "/foo/*+")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/*+")]), input: Some(Init(&[("pathname", "/fo")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/(.*)*")]), input: Some(Init(&[("pathname", "/foo/bar")])), outcome: Match, components: &[("pathname", "/foo/**")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/**")]), input: Some(Init(&[("pathname", "/foo/bar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/(.*)*")]), input: Some(Init(&[("pathname", "/foo/bar/baz")])), outcome: Match, components: &[("pathname", "/foo/**")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/**")]), input: Some(Init(&[("pathname", "/foo/bar/baz")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/(.*)*")]), input: Some(Init(&[("pathname", "/foo")])), outcome: Match, components: &[("pathname", "/foo/**")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/**")]), input: Some(Init(&[("pathname", "/foo")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/(.*)*")]), input: Some(Init(&[("pathname", "/foo/")])), outcome: Match, components: &[("pathname", "/foo/**")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/**")]), input: Some(Init(&[("pathname", "/foo/")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/(.*)*")]), input: Some(Init(&[("pathname", "/foobar")])), outcome: NoMatch, components: &[("pathname", "/foo/**")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/**")]), input: Some(Init(&[("pathname", "/foobar")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/(.*)*")]), input: Some(Init(&[("pathname", "/fo")])), outcome: NoMatch, components: &[("pathname", "/foo/**")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/**")]), input: Some(Init(&[("pathname", "/fo")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo{/bar}")]), input: Some(Init(&[("pathname", "/foo/bar")])), outcome: Match, components: &[("pathname", "/foo/bar")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo{/bar}")]), input: Some(Init(&[("pathname", "/foo/bar/baz")])), outcome: NoMatch, components: &[("pathname", "/foo/bar")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo{/bar}")]), input: Some(Init(&[("pathname", "/foo")])), outcome: NoMatch, components: &[("pathname", "/foo/bar")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo{/bar}")]), input: Some(Init(&[("pathname", "/foo/")])), outcome: NoMatch, components: &[("pathname", "/foo/bar")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo{/bar}?")]), input: Some(Init(&[("pathname", "/foo/bar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo{/bar}?")]), input: Some(Init(&[("pathname", "/foo/bar/baz")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo{/bar}?")]), input: Some(Init(&[("pathname", "/foo")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo{/bar}?")]), input: Some(Init(&[("pathname", "/foo/")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo{/bar}+")]), input: Some(Init(&[("pathname", "/foo/bar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo{/bar}+")]), input: Some(Init(&[("pathname", "/foo/bar/bar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo{/bar}+")]), input: Some(Init(&[("pathname", "/foo/bar/baz")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo{/bar}+")]), input: Some(Init(&[("pathname", "/foo")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo{/bar}+")]), input: Some(Init(&[("pathname", "/foo/")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo{/bar}*")]), input: Some(Init(&[("pathname", "/foo/bar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo{/bar}*")]), input: Some(Init(&[("pathname", "/foo/bar/bar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo{/bar}*")]), input: Some(Init(&[("pathname", "/foo/bar/baz")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo{/bar}*")]), input: Some(Init(&[("pathname", "/foo")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo{/bar}*")]), input: Some(Init(&[("pathname", "/foo/")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("protocol", "(café)")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Init(&[("username", "(café)")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Init(&[("password", "(café)")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Init(&[("hostname", "(café)")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "(café)")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Init(&[("search", "(café)")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Init(&[("hash", "(café)")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Init(&[("protocol", ":café")]), input: Some(Init(&[("protocol", "foo")])), outcome: Unsupported, components: &[] },
    Case { pattern: Pattern::Init(&[("username", ":café")]), input: Some(Init(&[("username", "foo")])), outcome: Unsupported, components: &[] },
    Case { pattern: Pattern::Init(&[("password", ":café")]), input: Some(Init(&[("password", "foo")])), outcome: Unsupported, components: &[] },
    Case { pattern: Pattern::Init(&[("hostname", ":café")]), input: Some(Init(&[("hostname", "foo")])), outcome: Unsupported, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/:café")]), input: Some(Init(&[("pathname", "/foo")])), outcome: Unsupported, components: &[] },
    Case { pattern: Pattern::Init(&[("search", ":café")]), input: Some(Init(&[("search", "foo")])), outcome: Unsupported, components: &[] },
    Case { pattern: Pattern::Init(&[("hash", ":café")]), input: Some(Init(&[("hash", "foo")])), outcome: Unsupported, components: &[] },
    Case { pattern: Pattern::Init(&[("protocol", ":℘")]), input: Some(Init(&[("protocol", "foo")])), outcome: Unsupported, components: &[] },
    Case { pattern: Pattern::Init(&[("username", ":℘")]), input: Some(Init(&[("username", "foo")])), outcome: Unsupported, components: &[] },
    Case { pattern: Pattern::Init(&[("password", ":℘")]), input: Some(Init(&[("password", "foo")])), outcome: Unsupported, components: &[] },
    Case { pattern: Pattern::Init(&[("hostname", ":℘")]), input: Some(Init(&[("hostname", "foo")])), outcome: Unsupported, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/:℘")]), input: Some(Init(&[("pathname", "/foo")])), outcome: Unsupported, components: &[] },
    Case { pattern: Pattern::Init(&[("search", ":℘")]), input: Some(Init(&[("search", "foo")])), outcome: Unsupported, components: &[] },
    Case { pattern: Pattern::Init(&[("hash", ":℘")]), input: Some(Init(&[("hash", "foo")])), outcome: Unsupported, components: &[] },
    Case { pattern: Pattern::Init(&[("protocol", ":㐀")]), input: Some(Init(&[("protocol", "foo")])), outcome: Unsupported, components: &[] },
    Case { pattern: Pattern::Init(&[("username", ":㐀")]), input: Some(Init(&[("username", "foo")])), outcome: Unsupported, components: &[] },
    Case { pattern: Pattern::Init(&[("password", ":㐀")]), input: Some(Init(&[("password", "foo")])), outcome: Unsupported, components: &[] },
    Case { pattern: Pattern::Init(&[("hostname", ":㐀")]), input: Some(Init(&[("hostname", "foo")])), outcome: Unsupported, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/:㐀")]), input: Some(Init(&[("pathname", "/foo")])), outcome: Unsupported, components: &[] },
    Case { pattern: Pattern::Init(&[("search", ":㐀")]), input: Some(Init(&[("search", "foo")])), outcome: Unsupported, components: &[] },
    Case { pattern: Pattern::Init(&[("hash", ":㐀")]), input: Some(Init(&[("hash", "foo")])), outcome: Unsupported, components: &[] },
    Case { pattern: Pattern::Init(&[("protocol", "(.*)")]), input: Some(Init(&[("protocol", "café")])), outcome: NoMatch, components: &[("protocol", "*")] },
    Case { pattern: Pattern::Init(&[("protocol", "(.*)")]), input: Some(Init(&[("protocol", "cafe")])), outcome: Match, components: &[("protocol", "*")] },
    Case { pattern: Pattern::Init(&[("protocol", "foo-bar")]), input: Some(Init(&[("protocol", "foo-bar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("username", "caf%C3%A9")]), input: Some(Init(&[("username", "café")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("username", "café")]), input: Some(Init(&[("username", "café")])), outcome: Match, components: &[("username", "caf%C3%A9")] },
    Case { pattern: Pattern::Init(&[("username", "caf%c3%a9")]), input: Some(Init(&[("username", "café")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("password", "caf%C3%A9")]), input: Some(Init(&[("password", "café")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("password", "café")]), input: Some(Init(&[("password", "café")])), outcome: Match, components: &[("password", "caf%C3%A9")] },
    Case { pattern: Pattern::Init(&[("password", "caf%c3%a9")]), input: Some(Init(&[("password", "café")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("hostname", "xn--caf-dma.com")]), input: Some(Init(&[("hostname", "café.com")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("hostname", "café.com")]), input: Some(Init(&[("hostname", "café.com")])), outcome: Match, components: &[("hostname", "xn--caf-dma.com")] },
    Case { pattern: Pattern::Str("http://🚲.com/", None), input: Some(Str("http://🚲.com/", None)), outcome: Match, components: &[("protocol", "http"), ("hostname", "xn--h78h.com"), ("pathname", "/"), ("port", "")] },
    Case { pattern: Pattern::Init(&[("pathname", ":a\u{e0100}b")]), input: Some(Init(&[])), outcome: Unsupported, components: &[("pathname", ":a\u{e0100}b")] },
    Case { pattern: Pattern::Init(&[("pathname", "test/:a𐑐b")]), input: Some(Init(&[("pathname", "test/foo")])), outcome: Unsupported, components: &[("pathname", "test/:a𐑐b")] },
    Case { pattern: Pattern::Init(&[("pathname", ":🚲")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Init(&[("port", "")]), input: Some(Init(&[("protocol", "http"), ("port", "80")])), outcome: Match, components: &[("port", "")] },
    Case { pattern: Pattern::Init(&[("protocol", "http"), ("port", "80")]), input: Some(Init(&[("protocol", "http"), ("port", "80")])), outcome: Match, components: &[("port", "")] },
    Case { pattern: Pattern::Init(&[("protocol", "http"), ("port", "80{20}?")]), input: Some(Init(&[("protocol", "http"), ("port", "80")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("protocol", "http"), ("port", "80 ")]), input: Some(Init(&[("protocol", "http"), ("port", "80")])), outcome: NoMatch, components: &[("protocol", "http"), ("port", "80")] },
    Case { pattern: Pattern::Init(&[("protocol", "http"), ("port", "100000")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Init(&[("port", "80")]), input: Some(Init(&[("protocol", "http"), ("port", "80")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("protocol", "http{s}?"), ("port", "80")]), input: Some(Init(&[("protocol", "http"), ("port", "80")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("port", "80")]), input: Some(Init(&[("port", "80")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("port", "80")]), input: Some(Init(&[("port", "8\t0")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("port", "80")]), input: Some(Init(&[("port", "80x")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("port", "80")]), input: Some(Init(&[("port", "80?x")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("port", "80")]), input: Some(Init(&[("port", "80\\x")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("port", "(.*)")]), input: Some(Init(&[("port", "invalid80")])), outcome: NoMatch, components: &[("port", "*")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar")]), input: Some(Init(&[("pathname", "/foo/./bar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/baz")]), input: Some(Init(&[("pathname", "/foo/bar/../baz")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/caf%C3%A9")]), input: Some(Init(&[("pathname", "/café")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/café")]), input: Some(Init(&[("pathname", "/café")])), outcome: Match, components: &[("pathname", "/caf%C3%A9")] },
    Case { pattern: Pattern::Init(&[("pathname", "/caf%c3%a9")]), input: Some(Init(&[("pathname", "/café")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar")]), input: Some(Init(&[("pathname", "foo/bar")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar")]), input: Some(Init(&[("pathname", "foo/bar"), ("baseURL", "https://example.com")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/../bar")]), input: Some(Init(&[("pathname", "/bar")])), outcome: Match, components: &[("pathname", "/bar")] },
    Case { pattern: Pattern::Init(&[("pathname", "./foo/bar"), ("baseURL", "https://example.com")]), input: Some(Init(&[("pathname", "foo/bar"), ("baseURL", "https://example.com")])), outcome: Match, components: &[("pathname", "/foo/bar"), ("port", "")] },
    Case { pattern: Pattern::Init(&[("pathname", ""), ("baseURL", "https://example.com")]), input: Some(Init(&[("pathname", "/"), ("baseURL", "https://example.com")])), outcome: Match, components: &[("pathname", "/"), ("port", "")] },
    Case { pattern: Pattern::Init(&[("pathname", "{/bar}"), ("baseURL", "https://example.com/foo/")]), input: Some(Init(&[("pathname", "./bar"), ("baseURL", "https://example.com/foo/")])), outcome: NoMatch, components: &[("pathname", "/bar"), ("port", "")] },
    Case { pattern: Pattern::Init(&[("pathname", "\\/bar"), ("baseURL", "https://example.com/foo/")]), input: Some(Init(&[("pathname", "./bar"), ("baseURL", "https://example.com/foo/")])), outcome: NoMatch, components: &[("pathname", "/bar"), ("port", "")] },
    Case { pattern: Pattern::Init(&[("pathname", "b"), ("baseURL", "https://example.com/foo/")]), input: Some(Init(&[("pathname", "./b"), ("baseURL", "https://example.com/foo/")])), outcome: Match, components: &[("pathname", "/foo/b"), ("port", "")] },
    Case { pattern: Pattern::Init(&[("pathname", "foo/bar")]), input: Some(Str("https://example.com/foo/bar", None)), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "foo/bar"), ("baseURL", "https://example.com")]), input: Some(Str("https://example.com/foo/bar", None)), outcome: Match, components: &[("pathname", "/foo/bar"), ("port", "")] },
    Case { pattern: Pattern::Init(&[("pathname", ":name.html"), ("baseURL", "https://example.com")]), input: Some(Str("https://example.com/foo.html", None)), outcome: Match, components: &[("pathname", "/:name.html"), ("port", "")] },
    Case { pattern: Pattern::Init(&[("search", "q=caf%C3%A9")]), input: Some(Init(&[("search", "q=café")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("search", "q=café")]), input: Some(Init(&[("search", "q=café")])), outcome: Match, components: &[("search", "q=caf%C3%A9")] },
    Case { pattern: Pattern::Init(&[("search", "q=caf%c3%a9")]), input: Some(Init(&[("search", "q=café")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("hash", "caf%C3%A9")]), input: Some(Init(&[("hash", "café")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("hash", "café")]), input: Some(Init(&[("hash", "café")])), outcome: Match, components: &[("hash", "caf%C3%A9")] },
    Case { pattern: Pattern::Init(&[("hash", "caf%c3%a9")]), input: Some(Init(&[("hash", "café")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("protocol", "about"), ("pathname", "(blank|sourcedoc)")]), input: Some(Str("about:blank", None)), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("protocol", "data"), ("pathname", ":number([0-9]+)")]), input: Some(Str("data:8675309", None)), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/(\\m)")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo!")]), input: Some(Init(&[("pathname", "/foo!")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo\\:")]), input: Some(Init(&[("pathname", "/foo:")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo\\{")]), input: Some(Init(&[("pathname", "/foo{")])), outcome: Match, components: &[("pathname", "/foo%7B")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo\\(")]), input: Some(Init(&[("pathname", "/foo(")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("protocol", "javascript"), ("pathname", "var x = 1;")]), input: Some(Init(&[("protocol", "javascript"), ("pathname", "var x = 1;")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "var x = 1;")]), input: Some(Init(&[("protocol", "javascript"), ("pathname", "var x = 1;")])), outcome: NoMatch, components: &[("pathname", "var%20x%20=%201;")] },
    Case { pattern: Pattern::Init(&[("protocol", "javascript"), ("pathname", "var x = 1;")]), input: Some(Init(&[("baseURL", "javascript:var x = 1;")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("protocol", "(data|javascript)"), ("pathname", "var x = 1;")]), input: Some(Init(&[("protocol", "javascript"), ("pathname", "var x = 1;")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("protocol", "(https|javascript)"), ("pathname", "var x = 1;")]), input: Some(Init(&[("protocol", "javascript"), ("pathname", "var x = 1;")])), outcome: NoMatch, components: &[("pathname", "var%20x%20=%201;")] },
    Case { pattern: Pattern::Init(&[("pathname", "var x = 1;")]), input: Some(Init(&[("pathname", "var x = 1;")])), outcome: Match, components: &[("pathname", "var%20x%20=%201;")] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo/bar")]), input: Some(Str("./foo/bar", Some("https://example.com"))), outcome: Match, components: &[] },
    Case { pattern: Pattern::Str("https://example.com:8080/foo?bar#baz", None), input: Some(Init(&[("pathname", "/foo"), ("search", "bar"), ("hash", "baz"), ("baseURL", "https://example.com:8080")])), outcome: Match, components: &[("protocol", "https"), ("username", "*"), ("password", "*"), ("hostname", "example.com"), ("port", "8080"), ("pathname", "/foo"), ("search", "bar"), ("hash", "baz")] },
    Case { pattern: Pattern::Str("/foo?bar#baz", Some("https://example.com:8080")), input: Some(Init(&[("pathname", "/foo"), ("search", "bar"), ("hash", "baz"), ("baseURL", "https://example.com:8080")])), outcome: Match, components: &[("pathname", "/foo"), ("search", "bar"), ("hash", "baz")] },
    Case { pattern: Pattern::Str("/foo", None), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Str("example.com/foo", None), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Str("http{s}?://{*.}?example.com/:product/:endpoint", None), input: Some(Str("https://sub.example.com/foo/bar", None)), outcome: Match, components: &[("protocol", "http{s}?"), ("hostname", "{*.}?example.com"), ("pathname", "/:product/:endpoint"), ("port", "")] },
    Case { pattern: Pattern::Str("https://example.com?foo", None), input: Some(Str("https://example.com/?foo", None)), outcome: Match, components: &[("protocol", "https"), ("hostname", "example.com"), ("pathname", "/"), ("search", "foo"), ("port", "")] },
    Case { pattern: Pattern::Str("https://example.com#foo", None), input: Some(Str("https://example.com/#foo", None)), outcome: Match, components: &[("protocol", "https"), ("hostname", "example.com"), ("pathname", "/"), ("hash", "foo"), ("port", ""), ("search", "")] },
    Case { pattern: Pattern::Str("https://example.com:8080?foo", None), input: Some(Str("https://example.com:8080/?foo", None)), outcome: Match, components: &[("protocol", "https"), ("hostname", "example.com"), ("port", "8080"), ("pathname", "/"), ("search", "foo")] },
    Case { pattern: Pattern::Str("https://example.com:8080#foo", None), input: Some(Str("https://example.com:8080/#foo", None)), outcome: Match, components: &[("protocol", "https"), ("hostname", "example.com"), ("port", "8080"), ("pathname", "/"), ("hash", "foo"), ("search", "")] },
    Case { pattern: Pattern::Str("https://example.com/?foo", None), input: Some(Str("https://example.com/?foo", None)), outcome: Match, components: &[("protocol", "https"), ("hostname", "example.com"), ("pathname", "/"), ("search", "foo"), ("port", "")] },
    Case { pattern: Pattern::Str("https://example.com/#foo", None), input: Some(Str("https://example.com/#foo", None)), outcome: Match, components: &[("protocol", "https"), ("hostname", "example.com"), ("pathname", "/"), ("hash", "foo"), ("port", ""), ("search", "")] },
    Case { pattern: Pattern::Str("https://example.com/*?foo", None), input: Some(Str("https://example.com/?foo", None)), outcome: NoMatch, components: &[("protocol", "https"), ("hostname", "example.com"), ("pathname", "/*?foo"), ("port", "")] },
    Case { pattern: Pattern::Str("https://example.com/*\\?foo", None), input: Some(Str("https://example.com/?foo", None)), outcome: Match, components: &[("protocol", "https"), ("hostname", "example.com"), ("pathname", "/*"), ("search", "foo"), ("port", "")] },
    Case { pattern: Pattern::Str("https://example.com/:name?foo", None), input: Some(Str("https://example.com/bar?foo", None)), outcome: NoMatch, components: &[("protocol", "https"), ("hostname", "example.com"), ("pathname", "/:name?foo"), ("port", "")] },
    Case { pattern: Pattern::Str("https://example.com/:name\\?foo", None), input: Some(Str("https://example.com/bar?foo", None)), outcome: Match, components: &[("protocol", "https"), ("hostname", "example.com"), ("pathname", "/:name"), ("search", "foo"), ("port", "")] },
    Case { pattern: Pattern::Str("https://example.com/(bar)?foo", None), input: Some(Str("https://example.com/bar?foo", None)), outcome: NoMatch, components: &[("protocol", "https"), ("hostname", "example.com"), ("pathname", "/(bar)?foo"), ("port", "")] },
    Case { pattern: Pattern::Str("https://example.com/(bar)\\?foo", None), input: Some(Str("https://example.com/bar?foo", None)), outcome: Match, components: &[("protocol", "https"), ("hostname", "example.com"), ("pathname", "/(bar)"), ("search", "foo"), ("port", "")] },
    Case { pattern: Pattern::Str("https://example.com/{bar}?foo", None), input: Some(Str("https://example.com/bar?foo", None)), outcome: NoMatch, components: &[("protocol", "https"), ("hostname", "example.com"), ("pathname", "/{bar}?foo"), ("port", "")] },
    Case { pattern: Pattern::Str("https://example.com/{bar}\\?foo", None), input: Some(Str("https://example.com/bar?foo", None)), outcome: Match, components: &[("protocol", "https"), ("hostname", "example.com"), ("pathname", "/bar"), ("search", "foo"), ("port", "")] },
    Case { pattern: Pattern::Str("https://example.com/", None), input: Some(Str("https://example.com:8080/", None)), outcome: NoMatch, components: &[("protocol", "https"), ("hostname", "example.com"), ("port", ""), ("pathname", "/"), ("port", "")] },
    Case { pattern: Pattern::Str("data:foobar", None), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Str("data\\:foobar", None), input: Some(Str("data:foobar", None)), outcome: Match, components: &[("protocol", "data"), ("pathname", "foobar"), ("hostname", ""), ("port", "")] },
    Case { pattern: Pattern::Str("https://{sub.}?example.com/foo", None), input: Some(Str("https://example.com/foo", None)), outcome: Match, components: &[("protocol", "https"), ("hostname", "{sub.}?example.com"), ("pathname", "/foo"), ("port", "")] },
    Case { pattern: Pattern::Str("https://{sub.}?example{.com/}foo", None), input: Some(Str("https://example.com/foo", None)), outcome: Match, components: &[("protocol", "https"), ("hostname", "{sub.}?example.com"), ("pathname", "*"), ("port", "")] },
    Case { pattern: Pattern::Str("{https://}example.com/foo", None), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Str("https://(sub.)?example.com/foo", None), input: Some(Str("https://example.com/foo", None)), outcome: Match, components: &[("protocol", "https"), ("hostname", "(sub.)?example.com"), ("pathname", "/foo"), ("port", "")] },
    Case { pattern: Pattern::Str("https://(sub.)?example(.com/)foo", None), input: Some(Str("https://example.com/foo", None)), outcome: NoMatch, components: &[("protocol", "https"), ("hostname", "(sub.)?example(.com/)foo"), ("pathname", "*"), ("port", "")] },
    Case { pattern: Pattern::Str("(https://)example.com/foo", None), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Str("https://{sub{.}}example.com/foo", None), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Str("https://(sub(?:.))?example.com/foo", None), input: Some(Str("https://example.com/foo", None)), outcome: Match, components: &[("protocol", "https"), ("hostname", "(sub(?:.))?example.com"), ("pathname", "/foo"), ("port", "")] },
    Case { pattern: Pattern::Str("file:///foo/bar", None), input: Some(Str("file:///foo/bar", None)), outcome: Match, components: &[("protocol", "file"), ("pathname", "/foo/bar"), ("hostname", ""), ("port", "")] },
    Case { pattern: Pattern::Str("data:", None), input: Some(Str("data:", None)), outcome: Match, components: &[("protocol", "data"), ("hostname", ""), ("port", ""), ("pathname", "")] },
    Case { pattern: Pattern::Str("foo://bar", None), input: Some(Str("foo://bad_url_browser_interop", None)), outcome: NoMatch, components: &[("protocol", "foo"), ("hostname", "bar"), ("port", "")] },
    Case { pattern: Pattern::Str("(café)://foo", None), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Str("https://example.com/foo?bar#baz", None), input: Some(Init(&[("protocol", "https:"), ("search", "?bar"), ("hash", "#baz"), ("baseURL", "http://example.com/foo")])), outcome: NoMatch, components: &[("protocol", "https"), ("hostname", "example.com"), ("pathname", "/foo"), ("search", "bar"), ("hash", "baz"), ("port", "")] },
    Case { pattern: Pattern::Init(&[("protocol", "http{s}?:"), ("search", "?bar"), ("hash", "#baz")]), input: Some(Str("http://example.com/foo?bar#baz", None)), outcome: Match, components: &[("protocol", "http{s}?"), ("search", "bar"), ("hash", "baz")] },
    Case { pattern: Pattern::Str("?bar#baz", Some("https://example.com/foo")), input: Some(Str("?bar#baz", Some("https://example.com/foo"))), outcome: Match, components: &[("protocol", "https"), ("hostname", "example.com"), ("pathname", "/foo"), ("search", "bar"), ("hash", "baz"), ("port", "")] },
    Case { pattern: Pattern::Str("?bar", Some("https://example.com/foo#baz")), input: Some(Str("?bar", Some("https://example.com/foo#snafu"))), outcome: Match, components: &[("protocol", "https"), ("hostname", "example.com"), ("pathname", "/foo"), ("search", "bar"), ("hash", "*"), ("port", "")] },
    Case { pattern: Pattern::Str("#baz", Some("https://example.com/foo?bar")), input: Some(Str("#baz", Some("https://example.com/foo?bar"))), outcome: Match, components: &[("protocol", "https"), ("hostname", "example.com"), ("pathname", "/foo"), ("search", "bar"), ("hash", "baz"), ("port", "")] },
    Case { pattern: Pattern::Str("#baz", Some("https://example.com/foo")), input: Some(Str("#baz", Some("https://example.com/foo"))), outcome: Match, components: &[("protocol", "https"), ("hostname", "example.com"), ("pathname", "/foo"), ("hash", "baz"), ("port", ""), ("search", "")] },
    Case { pattern: Pattern::Init(&[("pathname", "*")]), input: Some(Str("foo", Some("data:data-urls-cannot-be-base-urls"))), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "*")]), input: Some(Str("foo", Some("not|a|valid|url"))), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Str("https://foo\\:bar@example.com", None), input: Some(Str("https://foo:bar@example.com", None)), outcome: Match, components: &[("protocol", "https"), ("username", "foo"), ("password", "bar"), ("hostname", "example.com"), ("pathname", "*"), ("port", "")] },
    Case { pattern: Pattern::Str("https://foo@example.com", None), input: Some(Str("https://foo@example.com", None)), outcome: Match, components: &[("protocol", "https"), ("username", "foo"), ("hostname", "example.com"), ("pathname", "*"), ("port", "")] },
    Case { pattern: Pattern::Str("https://\\:bar@example.com", None), input: Some(Str("https://:bar@example.com", None)), outcome: Match, components: &[("protocol", "https"), ("password", "bar"), ("hostname", "example.com"), ("pathname", "*"), ("username", ""), ("port", "")] },
    Case { pattern: Pattern::Str("https://:user::pass@example.com", None), input: Some(Str("https://foo:bar@example.com", None)), outcome: Match, components: &[("protocol", "https"), ("username", ":user"), ("password", ":pass"), ("hostname", "example.com"), ("pathname", "*"), ("port", "")] },
    Case { pattern: Pattern::Str("https\\:foo\\:bar@example.com", None), input: Some(Str("https:foo:bar@example.com", None)), outcome: Match, components: &[("protocol", "https"), ("username", "foo"), ("password", "bar"), ("hostname", "example.com"), ("pathname", "*"), ("port", "")] },
    Case { pattern: Pattern::Str("data\\:foo\\:bar@example.com", None), input: Some(Str("data:foo:bar@example.com", None)), outcome: Match, components: &[("protocol", "data"), ("pathname", "foo\\:bar@example.com"), ("hostname", ""), ("port", "")] },
    Case { pattern: Pattern::Str("https://foo{\\:}bar@example.com", None), input: Some(Str("https://foo:bar@example.com", None)), outcome: NoMatch, components: &[("protocol", "https"), ("username", "foo%3Abar"), ("hostname", "example.com"), ("port", "")] },
    Case { pattern: Pattern::Str("data{\\:}channel.html", Some("https://example.com")), input: Some(Str("https://example.com/data:channel.html", None)), outcome: Match, components: &[("protocol", "https"), ("hostname", "example.com"), ("pathname", "/data\\:channel.html"), ("search", "*"), ("hash", "*"), ("port", "")] },
    Case { pattern: Pattern::Str("http://[\\:\\:1]/", None), input: Some(Str("http://[::1]/", None)), outcome: Match, components: &[("protocol", "http"), ("hostname", "[\\:\\:1]"), ("pathname", "/"), ("port", "")] },
    Case { pattern: Pattern::Str("http://[\\:\\:1]:8080/", None), input: Some(Str("http://[::1]:8080/", None)), outcome: Match, components: &[("protocol", "http"), ("hostname", "[\\:\\:1]"), ("port", "8080"), ("pathname", "/")] },
    Case { pattern: Pattern::Str("http://[\\:\\:a]/", None), input: Some(Str("http://[::a]/", None)), outcome: Match, components: &[("protocol", "http"), ("hostname", "[\\:\\:a]"), ("pathname", "/"), ("port", "")] },
    Case { pattern: Pattern::Str("http://[:address]/", None), input: Some(Str("http://[::1]/", None)), outcome: Match, components: &[("protocol", "http"), ("hostname", "[:address]"), ("pathname", "/"), ("port", "")] },
    Case { pattern: Pattern::Str("http://[\\:\\:AB\\::num]/", None), input: Some(Str("http://[::ab:1]/", None)), outcome: Match, components: &[("protocol", "http"), ("hostname", "[\\:\\:ab\\::num]"), ("pathname", "/"), ("port", "")] },
    Case { pattern: Pattern::Init(&[("hostname", "[\\:\\:AB\\::num]")]), input: Some(Init(&[("hostname", "[::ab:1]")])), outcome: Match, components: &[("hostname", "[\\:\\:ab\\::num]")] },
    Case { pattern: Pattern::Init(&[("hostname", "[\\:\\:xY\\::num]")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Init(&[("hostname", "{[\\:\\:ab\\::num]}")]), input: Some(Init(&[("hostname", "[::ab:1]")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("hostname", "{[\\:\\:fé\\::num]}")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Init(&[("hostname", "{[\\:\\::num\\:1]}")]), input: Some(Init(&[("hostname", "[::ab:1]")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("hostname", "{[\\:\\::num\\:fé]}")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Init(&[("hostname", "[*\\:1]")]), input: Some(Init(&[("hostname", "[::ab:1]")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("hostname", "*\\:1]")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Str("https://foo{{@}}example.com", None), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Str("https://foo{@example.com", None), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Str("data\\:text/javascript,let x = 100/:tens?5;", None), input: Some(Str("data:text/javascript,let x = 100/5;", None)), outcome: Match, components: &[("protocol", "data"), ("pathname", "text/javascript,let x = 100/:tens?5;"), ("hostname", ""), ("port", "")] },
    Case { pattern: Pattern::Init(&[("pathname", "/:id/:id")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/foo"), ("baseURL", "")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Str("/foo", Some("")), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", ":name*")]), input: Some(Init(&[("pathname", "foobar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", ":name+")]), input: Some(Init(&[("pathname", "foobar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", ":name")]), input: Some(Init(&[("pathname", "foobar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("protocol", ":name*")]), input: Some(Init(&[("protocol", "foobar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("protocol", ":name+")]), input: Some(Init(&[("protocol", "foobar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("protocol", ":name")]), input: Some(Init(&[("protocol", "foobar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("hostname", "bad hostname")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Init(&[("hostname", "bad#hostname")]), input: Some(Init(&[("hostname", "bad")])), outcome: Match, components: &[("hostname", "bad")] },
    Case { pattern: Pattern::Init(&[("hostname", "bad%hostname")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Init(&[("hostname", "bad/hostname")]), input: Some(Init(&[("hostname", "bad")])), outcome: Match, components: &[("hostname", "bad")] },
    Case { pattern: Pattern::Init(&[("hostname", "bad\\:hostname")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Init(&[("hostname", "bad<hostname")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Init(&[("hostname", "bad>hostname")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Init(&[("hostname", "bad?hostname")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Init(&[("hostname", "bad@hostname")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Init(&[("hostname", "bad[hostname")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Init(&[("hostname", "bad]hostname")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Init(&[("hostname", "bad\\\\hostname")]), input: Some(Init(&[("hostname", "badhostname")])), outcome: NoMatch, components: &[("hostname", "bad")] },
    Case { pattern: Pattern::Init(&[("hostname", "bad^hostname")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Init(&[("hostname", "bad|hostname")]), input: None, outcome: Error, components: &[] },
    Case { pattern: Pattern::Init(&[("hostname", "bad\nhostname")]), input: Some(Init(&[("hostname", "badhostname")])), outcome: Match, components: &[("hostname", "badhostname")] },
    Case { pattern: Pattern::Init(&[("hostname", "bad\rhostname")]), input: Some(Init(&[("hostname", "badhostname")])), outcome: Match, components: &[("hostname", "badhostname")] },
    Case { pattern: Pattern::Init(&[("hostname", "bad\thostname")]), input: Some(Init(&[("hostname", "badhostname")])), outcome: Match, components: &[("hostname", "badhostname")] },
    Case { pattern: Pattern::Init(&[]), input: Some(Str("https://example.com/", None)), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[]), input: Some(Str("https://example.com/", None)), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[]), input: Some(Init(&[])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[]), input: Some(Init(&[])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "(foo)(.*)")]), input: Some(Init(&[("pathname", "foobarbaz")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "{(foo)bar}(.*)")]), input: Some(Init(&[("pathname", "foobarbaz")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "(foo)?(.*)")]), input: Some(Init(&[("pathname", "foobarbaz")])), outcome: Match, components: &[("pathname", "(foo)?*")] },
    Case { pattern: Pattern::Init(&[("pathname", "{:foo}(.*)")]), input: Some(Init(&[("pathname", "foobarbaz")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "{:foo}(barbaz)")]), input: Some(Init(&[("pathname", "foobarbaz")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "{:foo}{(.*)}")]), input: Some(Init(&[("pathname", "foobarbaz")])), outcome: Match, components: &[("pathname", "{:foo}(.*)")] },
    Case { pattern: Pattern::Init(&[("pathname", "{:foo}{(.*)bar}")]), input: Some(Init(&[("pathname", "foobarbaz")])), outcome: NoMatch, components: &[("pathname", ":foo{*bar}")] },
    Case { pattern: Pattern::Init(&[("pathname", "{:foo}{bar(.*)}")]), input: Some(Init(&[("pathname", "foobarbaz")])), outcome: Match, components: &[("pathname", ":foo{bar*}")] },
    Case { pattern: Pattern::Init(&[("pathname", "{:foo}:bar(.*)")]), input: Some(Init(&[("pathname", "foobarbaz")])), outcome: Match, components: &[("pathname", ":foo:bar(.*)")] },
    Case { pattern: Pattern::Init(&[("pathname", "{:foo}?(.*)")]), input: Some(Init(&[("pathname", "foobarbaz")])), outcome: Match, components: &[("pathname", ":foo?*")] },
    Case { pattern: Pattern::Init(&[("pathname", "{:foo\\bar}")]), input: Some(Init(&[("pathname", "foobar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "{:foo\\.bar}")]), input: Some(Init(&[("pathname", "foo.bar")])), outcome: Match, components: &[("pathname", "{:foo.bar}")] },
    Case { pattern: Pattern::Init(&[("pathname", "{:foo(foo)bar}")]), input: Some(Init(&[("pathname", "foobar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "{:foo}bar")]), input: Some(Init(&[("pathname", "foobar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", ":foo\\bar")]), input: Some(Init(&[("pathname", "foobar")])), outcome: Match, components: &[("pathname", "{:foo}bar")] },
    Case { pattern: Pattern::Init(&[("pathname", ":foo{}(.*)")]), input: Some(Init(&[("pathname", "foobar")])), outcome: Match, components: &[("pathname", "{:foo}(.*)")] },
    Case { pattern: Pattern::Init(&[("pathname", ":foo{}bar")]), input: Some(Init(&[("pathname", "foobar")])), outcome: Match, components: &[("pathname", "{:foo}bar")] },
    Case { pattern: Pattern::Init(&[("pathname", ":foo{}?bar")]), input: Some(Init(&[("pathname", "foobar")])), outcome: Match, components: &[("pathname", "{:foo}bar")] },
    Case { pattern: Pattern::Init(&[("pathname", "*{}**?")]), input: Some(Init(&[("pathname", "foobar")])), outcome: Match, components: &[("pathname", "*(.*)?")] },
    Case { pattern: Pattern::Init(&[("pathname", ":foo(baz)(.*)")]), input: Some(Init(&[("pathname", "bazbar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", ":foo(baz)bar")]), input: Some(Init(&[("pathname", "bazbar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "*/*")]), input: Some(Init(&[("pathname", "foo/bar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "*\\/*")]), input: Some(Init(&[("pathname", "foo/bar")])), outcome: Match, components: &[("pathname", "*/{*}")] },
    Case { pattern: Pattern::Init(&[("pathname", "*/{*}")]), input: Some(Init(&[("pathname", "foo/bar")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "*//*")]), input: Some(Init(&[("pathname", "foo/bar")])), outcome: NoMatch, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/:foo.")]), input: Some(Init(&[("pathname", "/bar.")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/:foo..")]), input: Some(Init(&[("pathname", "/bar..")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "./foo")]), input: Some(Init(&[("pathname", "./foo")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "../foo")]), input: Some(Init(&[("pathname", "../foo")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", ":foo./")]), input: Some(Init(&[("pathname", "bar./")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", ":foo../")]), input: Some(Init(&[("pathname", "bar../")])), outcome: Match, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/:foo\\bar")]), input: Some(Init(&[("pathname", "/bazbar")])), outcome: Match, components: &[("pathname", "{/:foo}bar")] },
    Case { pattern: Pattern::Init(&[("search", "foo"), ("baseURL", "https://example.com/a/+/b")]), input: Some(Init(&[("search", "foo"), ("baseURL", "https://example.com/a/+/b")])), outcome: Match, components: &[("pathname", "/a/\\+/b"), ("port", "")] },
    Case { pattern: Pattern::Init(&[("hash", "foo"), ("baseURL", "https://example.com/?q=*&v=?&hmm={}&umm=()")]), input: Some(Init(&[("hash", "foo"), ("baseURL", "https://example.com/?q=*&v=?&hmm={}&umm=()")])), outcome: Match, components: &[("search", "q=\\*&v=\\?&hmm=\\{\\}&umm=\\(\\)"), ("port", "")] },
    Case { pattern: Pattern::Str("#foo", Some("https://example.com/?q=*&v=?&hmm={}&umm=()")), input: Some(Str("https://example.com/?q=*&v=?&hmm={}&umm=()#foo", None)), outcome: Match, components: &[("search", "q=\\*&v=\\?&hmm=\\{\\}&umm=\\(\\)"), ("hash", "foo"), ("port", "")] },
    Case { pattern: Pattern::Init(&[("pathname", "/([[a-z]--a])")]), input: Some(Init(&[("pathname", "/a")])), outcome: Unsupported, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/([[a-z]--a])")]), input: Some(Init(&[("pathname", "/z")])), outcome: Unsupported, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/([\\d&&[0-1]])")]), input: Some(Init(&[("pathname", "/0")])), outcome: Unsupported, components: &[] },
    Case { pattern: Pattern::Init(&[("pathname", "/([\\d&&[0-1]])")]), input: Some(Init(&[("pathname", "/3")])), outcome: Unsupported, components: &[] },
    Case { pattern: Pattern::Init(&[("protocol", "http"), ("hostname", "example.com/ignoredpath")]), input: Some(Str("http://example.com/", None)), outcome: Match, components: &[("protocol", "http"), ("hostname", "example.com"), ("pathname", "*")] },
    Case { pattern: Pattern::Init(&[("protocol", "http"), ("hostname", "example.com\\?ignoredsearch")]), input: Some(Str("http://example.com/", None)), outcome: Match, components: &[("protocol", "http"), ("hostname", "example.com"), ("search", "*")] },
    Case { pattern: Pattern::Init(&[("protocol", "http"), ("hostname", "example.com#ignoredhash")]), input: Some(Str("http://example.com/", None)), outcome: Match, components: &[("protocol", "http"), ("hostname", "example.com"), ("hash", "*")] },
];
