//! The hub's reserved namespace: the hub's own path and everything under it
//! (`/.well-known/mercure` and `/.well-known/mercure/...` for the default hub URL). Only the hub
//! may publish there (subscription events live there), so a publisher's topic that addresses it is
//! refused, however it is spelled.
//!
//! A topic addresses the namespace when, resolved against the hub's URL as a URL reference, its
//! path is the hub's path or starts with it and `/`, whatever its scheme and authority. Before
//! comparing, the path is normalized the way a URL parser would see it, so that no spelling slips
//! through: percent-encoded unreserved characters are decoded (`%6Dercure` is `mercure`, `%2E` is
//! `.`), a backslash counts as a slash (as in `http` URLs), and dot segments are removed
//! (`/x/../.well-known/mercure`).

/// Whether `topic`, resolved against a hub whose URL has the path `hub_path`, names the hub's path
/// or something under it.
pub(crate) fn is_reserved(topic: &str, hub_path: &str) -> bool {
    let path = normalized(&resolved_path(topic, hub_path));
    let hub = normalized(hub_path);
    let hub = hub.trim_end_matches('/');
    path == hub || path.strip_prefix(hub).is_some_and(|rest| rest.starts_with('/'))
}

/// The path of `reference` resolved against a base whose path is `base_path` (RFC 3986 §5.2.2,
/// the path part only: the scheme and authority do not matter here).
fn resolved_path(reference: &str, base_path: &str) -> String {
    let without_fragment = reference.split('#').next().unwrap_or("");
    let (has_scheme, rest) = match split_scheme(without_fragment) {
        Some(rest) => (true, rest),
        None => (false, without_fragment),
    };
    let path_and_query = match rest.strip_prefix("//").or_else(|| rest.strip_prefix("\\\\")) {
        Some(authority_and_path) => {
            &authority_and_path[authority_and_path.find(['/', '\\', '?']).unwrap_or(authority_and_path.len())..]
        }
        None => rest,
    };
    let path = path_and_query.split('?').next().unwrap_or("");
    if has_scheme || path.starts_with(['/', '\\']) {
        return path.to_string();
    }
    if path.is_empty() {
        // `""`, `?x` and `#x` are the base itself.
        return base_path.to_string();
    }
    let directory = &base_path[..base_path.rfind('/').map_or(0, |at| at + 1)];
    format!("{directory}{path}")
}

/// The text after `scheme:` when `text` starts with a scheme (RFC 3986 §3.1).
fn split_scheme(text: &str) -> Option<&str> {
    crate::http::split_scheme(text).map(|(_, rest)| rest)
}

/// Decodes percent-encoded unreserved characters, turns backslashes into slashes and removes dot
/// segments.
fn normalized(path: &str) -> String {
    let decoded = decode_unreserved(&path.replace('\\', "/"));
    remove_dot_segments(&decoded)
}

/// Decodes `%XX` where it encodes an unreserved character (letters, digits, `-`, `.`, `_`, `~`);
/// every other escape stays as it is.
fn decode_unreserved(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut at = 0;
    while at < bytes.len() {
        let escaped = (bytes[at] == b'%')
            .then(|| path.get(at + 1..at + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .filter(|b| b.is_ascii_alphanumeric() || b"-._~".contains(b));
        match escaped {
            Some(byte) => {
                out.push(char::from(byte));
                at += 3;
            }
            None => {
                let c = path[at..].chars().next().unwrap_or('\u{fffd}');
                out.push(c);
                at += c.len_utf8();
            }
        }
    }
    out
}

/// RFC 3986 §5.2.4, on whole segments: `.` segments go, `..` removes the segment before it.
fn remove_dot_segments(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len() - 1;
    for (index, segment) in segments.iter().enumerate() {
        match *segment {
            "." | ".." if index == last => {
                if *segment == ".." && kept.len() > 1 {
                    kept.pop();
                }
                // A trailing dot segment leaves the path ending in `/`.
                kept.push("");
            }
            "." => {}
            ".." => {
                if kept.len() > 1 {
                    kept.pop();
                }
            }
            segment => kept.push(segment),
        }
    }
    kept.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HUB: &str = "/.well-known/mercure";

    #[test]
    fn the_hub_path_and_everything_under_it_are_reserved() {
        for topic in [
            "/.well-known/mercure",
            "/.well-known/mercure/",
            "/.well-known/mercure/subscriptions/exact/x/y",
            "https://hub.example.com/.well-known/mercure/subscriptions/x",
            "http://other.example/.well-known/mercure",
            "//evil.example/.well-known/mercure/x",
            "urn:/.well-known/mercure",
            "mercure/subscriptions",
            "./mercure",
            "",
            "?query",
            "#fragment",
        ] {
            assert!(is_reserved(topic, HUB), "{topic:?} should be reserved");
        }
    }

    #[test]
    fn spellings_that_normalize_to_the_hub_path_are_reserved() {
        for topic in [
            "/.well-known/%6Dercure",
            "/.well-known/%6dercure/x",
            "/%2Ewell-known/mercure",
            "/.well-known/mercure/../mercure/x",
            "/x/../.well-known/mercure",
            "/.well-known/./mercure",
            "https://example.com/a/b/../../.well-known/mercure",
            "/.well-known/x/%2E%2E/mercure",
            "https://example.com\\.well-known\\mercure",
            "/.well-known/mercure/.",
        ] {
            assert!(is_reserved(topic, HUB), "{topic:?} should be reserved");
        }
    }

    #[test]
    fn other_topics_are_not_reserved() {
        for topic in [
            "bar",
            "https://example.com/books/1",
            "https://example.com/.well-known/mercurey",
            "/.well-known/mercure-x",
            "/.well-known",
            "/.well-known/%2Fmercure",
            "urn:uuid:e1ee88e2-532a-4d6f-ba70-f0f8bd584022",
            "https://example.com/books?/.well-known/mercure",
            "https://example.com/#/.well-known/mercure",
            "*x",
        ] {
            assert!(!is_reserved(topic, HUB), "{topic:?} should not be reserved");
        }
    }

    #[test]
    fn a_hub_elsewhere_reserves_its_own_path() {
        assert!(is_reserved("/hub/x", "/hub"));
        assert!(is_reserved("x", "/hub/"));
        assert!(!is_reserved("/.well-known/mercure", "/hub"));
    }

    #[test]
    fn dot_segments_are_removed_as_rfc_3986_says() {
        // RFC 3986 §5.2.4's examples.
        assert_eq!(remove_dot_segments("/a/b/c/./../../g"), "/a/g");
        assert_eq!(remove_dot_segments("/../a"), "/a");
        assert_eq!(remove_dot_segments("/a/.."), "/");
        assert_eq!(remove_dot_segments("/a/."), "/a/");
    }
}
