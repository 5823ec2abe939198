//! Reading the `Cookie` request header (RFC 6265 §4.2): `name=value` pairs separated by `;`.

/// The value of the cookie `name` in a `Cookie` header value, if it is there: the first one, as
/// user agents send the most specific first. A value in double quotes is returned without them;
/// names are compared exactly (cookie names are case-sensitive).
///
/// ```
/// use bare_sse::http::cookie_value;
/// let header = "theme=dark; session=\"abc\";lang=en";
/// assert_eq!(cookie_value(header, "session"), Some("abc"));
/// assert_eq!(cookie_value(header, "lang"), Some("en"));
/// assert_eq!(cookie_value(header, "Theme"), None);
/// ```
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (pair_name, value) = pair.split_once('=')?;
        (pair_name.trim() == name).then(|| {
            let value = value.trim();
            value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_cookie_of_a_name_is_found_among_others() {
        let header = "a=1; token=first; token=second";
        assert_eq!(cookie_value(header, "token"), Some("first"));
        assert_eq!(cookie_value(header, "a"), Some("1"));
        assert_eq!(cookie_value("a=", "a"), Some(""));
    }

    #[test]
    fn names_are_exact_and_pairs_without_equals_are_skipped() {
        assert_eq!(cookie_value("xtoken=1; token", "token"), None);
        assert_eq!(cookie_value("TOKEN=1", "token"), None);
        assert_eq!(cookie_value("", "token"), None);
    }

    #[test]
    fn values_keep_equals_signs_and_lose_quotes() {
        assert_eq!(cookie_value("jwt=a.b=c", "jwt"), Some("a.b=c"));
        assert_eq!(cookie_value("jwt=\"q\"", "jwt"), Some("q"));
        assert_eq!(cookie_value("jwt=\"", "jwt"), Some("\""));
    }
}
