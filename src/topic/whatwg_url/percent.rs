//! Percent-encoding as the WHATWG URL Standard does it: each part of a URL has its own set of
//! characters to encode, and every set holds all non-ASCII characters (written as the `%XX` of
//! their UTF-8 bytes), so a parsed URL is always ASCII.

/// The percent-encode sets the URL parser uses, each a superset of the one before it except where
/// noted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EncodeSet {
    /// C0 controls and everything above `~`: opaque paths and opaque hosts.
    C0Control,
    /// C0 control set and space `"` `<` `>` `` ` ``: fragments.
    Fragment,
    /// C0 control set and space `"` `#` `<` `>`: queries of URLs that are not special (not a
    /// superset of the fragment set: it leaves `` ` `` alone).
    Query,
    /// The query set and `'`: queries of special URLs.
    SpecialQuery,
    /// The query set and `?` `^` `` ` `` `{` `}`: path segments.
    Path,
    /// The path set and `/` `:` `;` `=` `@` `[` `\` `]` `|`: usernames and passwords.
    Userinfo,
}

impl EncodeSet {
    fn contains(self, c: char) -> bool {
        if !(' '..='~').contains(&c) {
            return true;
        }
        let query = matches!(c, ' ' | '"' | '#' | '<' | '>');
        let path = query || matches!(c, '?' | '^' | '`' | '{' | '}');
        match self {
            EncodeSet::C0Control => false,
            EncodeSet::Fragment => matches!(c, ' ' | '"' | '<' | '>' | '`'),
            EncodeSet::Query => query,
            EncodeSet::SpecialQuery => query || c == '\'',
            EncodeSet::Path => path,
            EncodeSet::Userinfo => path || matches!(c, '/' | ':' | ';' | '=' | '@' | '[' | '\\' | ']' | '|'),
        }
    }
}

/// Appends `c` to `out`, as `%XX` for each of its UTF-8 bytes when `set` holds it.
pub(crate) fn percent_encode_char(c: char, set: EncodeSet, out: &mut String) {
    if !set.contains(c) {
        out.push(c);
        return;
    }
    let mut utf8 = [0u8; 4];
    for byte in c.encode_utf8(&mut utf8).bytes() {
        out.push('%');
        out.push(char::from(b"0123456789ABCDEF"[usize::from(byte >> 4)]));
        out.push(char::from(b"0123456789ABCDEF"[usize::from(byte & 0xf)]));
    }
}

/// Appends all of `text` to `out`, encoding what `set` holds.
pub(crate) fn percent_encode_str(text: &str, set: EncodeSet, out: &mut String) {
    for c in text.chars() {
        percent_encode_char(c, set, out);
    }
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits stays as it is (the URL Standard's
/// lenient decoding, unlike the query-string decoding of [`crate::http::percent_decode`]).
pub(crate) fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let escaped =
            (bytes[at] == b'%').then(|| Some(hex(*bytes.get(at + 1)?)? << 4 | hex(*bytes.get(at + 2)?)?)).flatten();
        match escaped {
            Some(byte) => {
                out.push(byte);
                at += 3;
            }
            None => {
                out.push(bytes[at]);
                at += 1;
            }
        }
    }
    out
}

fn hex(byte: u8) -> Option<u8> {
    char::from(byte).to_digit(16).map(|digit| digit as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(text: &str, set: EncodeSet) -> String {
        let mut out = String::new();
        percent_encode_str(text, set, &mut out);
        out
    }

    #[test]
    fn each_set_encodes_its_own_characters() {
        let sample = " \"#<>'?^`{}/:;=@[\\]|%é\u{7f}\u{1}";
        assert_eq!(encode(sample, EncodeSet::C0Control), " \"#<>'?^`{}/:;=@[\\]|%%C3%A9%7F%01");
        assert_eq!(encode(sample, EncodeSet::Fragment), "%20%22#%3C%3E'?^%60{}/:;=@[\\]|%%C3%A9%7F%01");
        assert_eq!(encode(sample, EncodeSet::Query), "%20%22%23%3C%3E'?^`{}/:;=@[\\]|%%C3%A9%7F%01");
        assert_eq!(encode(sample, EncodeSet::SpecialQuery), "%20%22%23%3C%3E%27?^`{}/:;=@[\\]|%%C3%A9%7F%01");
        assert_eq!(encode(sample, EncodeSet::Path), "%20%22%23%3C%3E'%3F%5E%60%7B%7D/:;=@[\\]|%%C3%A9%7F%01");
        assert_eq!(
            encode(sample, EncodeSet::Userinfo),
            "%20%22%23%3C%3E'%3F%5E%60%7B%7D%2F%3A%3B%3D%40%5B%5C%5D%7C%%C3%A9%7F%01"
        );
    }

    #[test]
    fn decoding_leaves_stray_percent_signs() {
        assert_eq!(percent_decode(b"%25%s%1G%4a%"), b"%%s%1GJ%");
        assert_eq!(percent_decode("‽%25%2E".as_bytes()), "‽%.".as_bytes());
    }
}
