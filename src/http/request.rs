//! Parsing an HTTP/1.1 request head (RFC 9112): request line, header fields, limits.
//!
//! [`parse_request_head`] is pure. Hand it the bytes received so far; it answers
//! [`Parsed::Partial`] until the blank line that ends the head has arrived, then
//! [`Parsed::Complete`] with the head and how many bytes it used. The caller owns the socket, the
//! buffer and the clock, so every rule here can be tested byte by byte.
//!
//! It accepts CRLF and bare LF line ends (RFC 9112 §2.2), skips empty lines before the request line,
//! and rejects what would be ambiguous: a bare CR, whitespace before a header's colon, folded header
//! lines, a missing or repeated `Host` on HTTP/1.1, conflicting `Content-Length`s, and
//! `Content-Length` together with `Transfer-Encoding` (the classic request-smuggling shapes).

use std::borrow::Cow;
use std::fmt;

use super::url::{parse_query, percent_decode};

/// Default cap on the size of a request head (request line plus headers), in bytes.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 8 * 1024;
/// Default cap on the number of header fields in a request.
pub const DEFAULT_MAX_HEADERS: usize = 64;

/// Limits applied while parsing a request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// Largest request head accepted, in bytes; past it the answer is 431 (or 414 when the request
    /// line alone is that long).
    pub max_head_bytes: usize,
    /// Most header fields accepted; past it the answer is 431.
    pub max_headers: usize,
}

impl Default for HeadLimits {
    fn default() -> HeadLimits {
        HeadLimits { max_head_bytes: DEFAULT_MAX_HEAD_BYTES, max_headers: DEFAULT_MAX_HEADERS }
    }
}

/// The HTTP version a request was sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: no `Host` required, no chunked responses.
    Http10,
    /// HTTP/1.1.
    Http11,
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The method, case-sensitive as RFC 9110 says (`GET`, not `get`).
    pub method: String,
    /// The request target as sent, e.g. `/events?lastEventId=3`.
    pub target: String,
    /// The target's path, percent-decoded (`*` for `OPTIONS *`).
    pub path: String,
    /// The query's name/value pairs, decoded, in order.
    pub query: Vec<(String, String)>,
    /// The protocol version.
    pub version: Version,
    /// Header fields in order, values with surrounding whitespace removed.
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    /// The first value of a header, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every value of a list field (`Accept-Encoding`, `Accept`, `Expect`, ...), matched
    /// case-insensitively: its field lines combined in order, separated by commas, as RFC 9110
    /// §5.3 says a repeated list field means. `None` when the field is absent.
    ///
    /// ```
    /// use bare_sse::http::{parse_request_head, HeadLimits, Parsed};
    /// let raw = b"GET / HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\naccept-encoding: gzip;q=0\r\n\r\n";
    /// let Ok(Parsed::Complete { head, .. }) = parse_request_head(raw, &HeadLimits::default()) else { panic!() };
    /// assert_eq!(head.header("accept-encoding"), Some("gzip"));
    /// assert_eq!(head.header_list("accept-encoding").as_deref(), Some("gzip, gzip;q=0"));
    /// ```
    pub fn header_list(&self, name: &str) -> Option<Cow<'_, str>> {
        let mut values = self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
        let first = values.next()?;
        let mut rest = values.peekable();
        if rest.peek().is_none() {
            return Some(Cow::Borrowed(first));
        }
        let mut combined = first.to_string();
        for value in rest {
            combined.push_str(", ");
            combined.push_str(value);
        }
        Some(Cow::Owned(combined))
    }

    /// The first value of a query parameter.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The declared body length (0 when there is no `Content-Length`). Checked by the parser, so
    /// it never disagrees with itself.
    pub fn content_length(&self) -> u64 {
        let first_value = self.header("content-length").and_then(|v| v.split(',').next());
        first_value.and_then(|v| v.trim().parse().ok()).unwrap_or(0)
    }

    /// Whether the body is sent with `Transfer-Encoding` (chunked) rather than a length.
    pub fn has_transfer_encoding(&self) -> bool {
        self.header("transfer-encoding").is_some()
    }

    /// Whether the client asks to keep the connection open after the response (RFC 9112 §9.3):
    /// HTTP/1.1 unless a `Connection` field has the `close` option, HTTP/1.0 only when one has
    /// `keep-alive`. Options are case-insensitive and may share a field with others
    /// (`Connection: keep-alive, Upgrade`).
    pub fn wants_keep_alive(&self) -> bool {
        let has_option = |wanted: &str| {
            self.headers
                .iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case("connection"))
                .flat_map(|(_, value)| value.split(','))
                .any(|option| option.trim().eq_ignore_ascii_case(wanted))
        };
        match self.version {
            Version::Http11 => !has_option("close"),
            Version::Http10 => has_option("keep-alive") && !has_option("close"),
        }
    }

    /// Whether the client waits for `100 Continue` before it sends the body (`Expect:
    /// 100-continue` on HTTP/1.1).
    pub fn expects_continue(&self) -> bool {
        let expectations = self.header_list("expect");
        let mut members = expectations.iter().flat_map(|list| list.split(',')).map(str::trim);
        self.version == Version::Http11 && members.any(|member| member.eq_ignore_ascii_case("100-continue"))
    }
}

/// A head parser's answer when nothing is wrong yet: the same for request heads (the default)
/// and response heads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<Head = RequestHead> {
    /// The head is complete; `consumed` bytes of the input belong to it (any rest is body).
    Complete {
        /// The head.
        head: Head,
        /// Bytes of input used by the head, including its final blank line.
        consumed: usize,
    },
    /// More bytes are needed.
    Partial,
}

/// Why a request head was refused. [`RequestError::status`] gives the response code.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// The syntax is wrong (400). The text says where.
    Malformed(&'static str),
    /// The request line is longer than the head limit (414).
    UriTooLong,
    /// The head is larger than the limit, or has too many fields (431).
    HeadTooLarge,
    /// An HTTP version other than 1.0 or 1.1 (505).
    VersionNotSupported,
    /// A transfer coding other than `chunked` (501).
    UnknownTransferCoding,
}

impl RequestError {
    /// The HTTP status code that answers this error.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::Malformed(_) => 400,
            RequestError::UriTooLong => 414,
            RequestError::HeadTooLarge => 431,
            RequestError::VersionNotSupported => 505,
            RequestError::UnknownTransferCoding => 501,
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Malformed(why) => write!(f, "malformed request: {why}"),
            RequestError::UriTooLong => f.write_str("request line is longer than the head limit"),
            RequestError::HeadTooLarge => f.write_str("request head is larger than the limit"),
            RequestError::VersionNotSupported => f.write_str("only HTTP/1.0 and HTTP/1.1 are supported"),
            RequestError::UnknownTransferCoding => f.write_str("only the chunked transfer coding is supported"),
        }
    }
}

impl std::error::Error for RequestError {}

/// Parses a request head from the bytes received so far. See the module docs.
///
/// ```
/// use bare_sse::http::{parse_request_head, HeadLimits, Parsed};
///
/// let limits = HeadLimits::default();
/// assert_eq!(parse_request_head(b"GET / HTTP/1.1\r\nHost: a\r\n", &limits), Ok(Parsed::Partial));
/// let Ok(Parsed::Complete { head, consumed }) =
///     parse_request_head(b"GET /x?id=3 HTTP/1.1\r\nHost: a\r\n\r\n", &limits) else { panic!() };
/// assert_eq!((head.path.as_str(), head.query_param("id"), consumed), ("/x", Some("3"), 33));
/// ```
///
/// # Errors
///
/// A [`RequestError`], whose [`status`](RequestError::status) is the answer: `Malformed` (400) for
/// bad syntax, `UriTooLong` (414) and `HeadTooLarge` (431) past the [`HeadLimits`],
/// `VersionNotSupported` (505), `UnknownTransferCoding` (501). A head not complete yet is
/// `Ok(Parsed::Partial)`, not an error.
pub fn parse_request_head(input: &[u8], limits: &HeadLimits) -> Result<Parsed, RequestError> {
    let mut lines = Lines { input, at: 0 };
    let request_line = loop {
        match lines.next_line() {
            None => return partial(input, limits),
            Some(Ok("")) => continue,
            Some(line) => break line,
        }
    };
    if lines.at > limits.max_head_bytes {
        return Err(RequestError::UriTooLong);
    }
    let (method, target, version) = parse_request_line(request_line?)?;
    let mut headers = Vec::new();
    loop {
        let Some(line) = lines.next_line() else { return partial(input, limits) };
        let line = line?;
        if line.is_empty() {
            break;
        }
        if headers.len() == limits.max_headers {
            return Err(RequestError::HeadTooLarge);
        }
        headers.push(parse_header_line(line)?);
    }
    if lines.at > limits.max_head_bytes {
        return Err(RequestError::HeadTooLarge);
    }
    let (path, query) = split_target(method, target)?;
    let head = RequestHead { method: method.to_string(), target: target.to_string(), path, query, version, headers };
    check_framing_headers(&head)?;
    Ok(Parsed::Complete { head, consumed: lines.at })
}

/// The answer while the head has not ended: every byte of `input` is head then (its end is the
/// first blank line), so the rules of a head apply to all of it; after the head, the body's bytes
/// are the body's, and no head rule looks at them.
fn partial(input: &[u8], limits: &HeadLimits) -> Result<Parsed, RequestError> {
    // A CR must end a line: refuse one followed by anything but LF at once, rather than wait for
    // a line end that a client using bare CRs never sends. (Complete lines were checked already.)
    if input.windows(2).any(|pair| pair[0] == b'\r' && pair[1] != b'\n') {
        return Err(RequestError::Malformed("bare CR in the request head"));
    }
    if input.len() > limits.max_head_bytes {
        let request_line_ended = input.contains(&b'\n');
        return Err(if request_line_ended { RequestError::HeadTooLarge } else { RequestError::UriTooLong });
    }
    Ok(Parsed::Partial)
}

/// Yields the head's lines, each without its line end, as text. A line is `Err` when it holds a
/// bare CR, a control character, or bytes that are not UTF-8.
pub(super) struct Lines<'a> {
    pub input: &'a [u8],
    /// Bytes of `input` consumed so far.
    pub at: usize,
}

impl<'a> Lines<'a> {
    pub fn next_line(&mut self) -> Option<Result<&'a str, RequestError>> {
        let rest = &self.input[self.at..];
        let end = rest.iter().position(|&b| b == b'\n')?;
        self.at += end + 1;
        let line = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]);
        Some(check_line(line))
    }
}

fn check_line(line: &[u8]) -> Result<&str, RequestError> {
    if line.contains(&b'\r') {
        return Err(RequestError::Malformed("bare CR in the request head"));
    }
    if line.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(RequestError::Malformed("control character in the request head"));
    }
    std::str::from_utf8(line).map_err(|_| RequestError::Malformed("request head is not UTF-8"))
}

fn parse_request_line(line: &str) -> Result<(&str, &str, Version), RequestError> {
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(RequestError::Malformed("request line is not `METHOD TARGET HTTP/x.y`"));
    };
    if method.is_empty() || !method.bytes().all(is_token_byte) {
        return Err(RequestError::Malformed("method is not a token"));
    }
    if target.is_empty() {
        return Err(RequestError::Malformed("empty request target"));
    }
    Ok((method, target, parse_version(version)?))
}

fn parse_version(text: &str) -> Result<Version, RequestError> {
    match text {
        "HTTP/1.1" => Ok(Version::Http11),
        "HTTP/1.0" => Ok(Version::Http10),
        _ => {
            let digits = text.strip_prefix("HTTP/").map(|v| v.as_bytes());
            match digits {
                Some([major, b'.', minor]) if major.is_ascii_digit() && minor.is_ascii_digit() => {
                    Err(RequestError::VersionNotSupported)
                }
                Some([major]) if major.is_ascii_digit() => Err(RequestError::VersionNotSupported),
                _ => Err(RequestError::Malformed("bad HTTP version")),
            }
        }
    }
}

pub(super) fn parse_header_line(line: &str) -> Result<(String, String), RequestError> {
    if line.starts_with([' ', '\t']) {
        return Err(RequestError::Malformed("folded header line (obs-fold)"));
    }
    let (name, value) = line.split_once(':').ok_or(RequestError::Malformed("header line without `:`"))?;
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Err(RequestError::Malformed("header name is not a token (whitespace before `:`?)"));
    }
    Ok((name.to_string(), value.trim_matches([' ', '\t']).to_string()))
}

/// Origin-form (`/path?query`), absolute-form (`http://host/path`) and `*` for OPTIONS.
fn split_target(method: &str, target: &str) -> Result<(String, Vec<(String, String)>), RequestError> {
    if target == "*" {
        return if method == "OPTIONS" {
            Ok(("*".to_string(), Vec::new()))
        } else {
            Err(RequestError::Malformed("`*` target is only for OPTIONS"))
        };
    }
    let origin_form = match target.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") => {
            // After the authority: the path, or straight the query (`http://host?x=1` is `/?x=1`).
            match rest.find(['/', '?', '#']) {
                Some(at) if rest[at..].starts_with('/') => rest[at..].to_string(),
                Some(at) => format!("/{}", &rest[at..]),
                None => "/".to_string(),
            }
        }
        _ => target.to_string(),
    };
    if !origin_form.starts_with('/') {
        return Err(RequestError::Malformed("request target must start with `/`"));
    }
    let without_fragment = origin_form.split('#').next().unwrap_or(&origin_form);
    let (raw_path, raw_query) = without_fragment.split_once('?').unwrap_or((without_fragment, ""));
    let path = percent_decode(raw_path, false).map_err(|_| RequestError::Malformed("bad percent-encoding in path"))?;
    let query = parse_query(raw_query).map_err(|_| RequestError::Malformed("bad percent-encoding in query"))?;
    Ok((path, query))
}

fn check_framing_headers(head: &RequestHead) -> Result<(), RequestError> {
    let values =
        |name: &'static str| head.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v);
    if head.version == Version::Http11 && values("host").count() != 1 {
        return Err(RequestError::Malformed("HTTP/1.1 needs exactly one Host header"));
    }
    let mut lengths = values("content-length").flat_map(|v| v.split(',')).map(str::trim);
    if let Some(first) = lengths.next() {
        if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) || first.parse::<u64>().is_err() {
            return Err(RequestError::Malformed("Content-Length is not a number"));
        }
        if lengths.any(|other| other != first) {
            return Err(RequestError::Malformed("conflicting Content-Length values"));
        }
        if head.has_transfer_encoding() {
            return Err(RequestError::Malformed("both Content-Length and Transfer-Encoding"));
        }
    }
    check_transfer_codings(head.version, values("transfer-encoding"))
}

/// A request body with `Transfer-Encoding` must be chunked, with `chunked` last and once (RFC 9112
/// §6.1), on HTTP/1.1; other codings are not implemented. A field that names no coding at all
/// (`Transfer-Encoding:` empty, or only commas) does not end with `chunked` either, so the body's
/// length cannot be known: `400`, and the connection closes (RFC 9112 §6.3, rule 4).
fn check_transfer_codings<'a>(version: Version, values: impl Iterator<Item = &'a String>) -> Result<(), RequestError> {
    let mut fields = values.peekable();
    if fields.peek().is_none() {
        return Ok(());
    }
    // Counted rather than collected: every request with a body comes through here, on a
    // connection thread whose deepest call sets the stack pages it keeps while idle.
    let (mut codings, mut unknown) = (0usize, false);
    for coding in fields.flat_map(|v| v.split(',')).map(str::trim).filter(|c| !c.is_empty()) {
        codings += 1;
        unknown |= !coding.eq_ignore_ascii_case("chunked");
    }
    if codings == 0 {
        return Err(RequestError::Malformed("Transfer-Encoding names no coding"));
    }
    if version == Version::Http10 {
        return Err(RequestError::Malformed("Transfer-Encoding in an HTTP/1.0 request"));
    }
    if unknown {
        return Err(RequestError::UnknownTransferCoding);
    }
    if codings > 1 {
        return Err(RequestError::Malformed("chunked applied more than once"));
    }
    Ok(())
}

/// Whether a response's `Transfer-Encoding` values end with `chunked`, the rule that decides
/// whether its body is chunked (RFC 9112 §6.3).
pub(crate) fn is_chunked(transfer_encoding: &str) -> bool {
    transfer_encoding.rsplit(',').next().is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
}

/// Whether a header can be sent as it is: a token for a name, and a value without CR, LF or NUL
/// (which would end the field early and inject another).
pub fn is_valid_header(name: &str, value: &str) -> bool {
    !name.is_empty() && name.bytes().all(is_token_byte) && !value.contains(['\r', '\n', '\0'])
}

/// `tchar` from RFC 9110 §5.6.2.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> HeadLimits {
        HeadLimits::default()
    }

    fn complete(input: &[u8]) -> (RequestHead, usize) {
        match parse_request_head(input, &limits()) {
            Ok(Parsed::Complete { head, consumed }) => (head, consumed),
            other => panic!("expected a complete head, got {other:?}"),
        }
    }

    fn error(input: &[u8]) -> RequestError {
        match parse_request_head(input, &limits()) {
            Err(e) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    /// Every prefix of a valid head is Partial, the whole is Complete: the property that lets a
    /// connection feed bytes as they arrive.
    fn assert_partial_until_complete(input: &[u8]) {
        let (_, consumed) = complete(input);
        for cut in 0..consumed {
            assert_eq!(parse_request_head(&input[..cut], &limits()), Ok(Parsed::Partial), "cut at {cut}");
        }
    }

    #[test]
    fn typical_eventsource_request() {
        let input = b"GET /events?lastEventId=5 HTTP/1.1\r\nHost: localhost:8122\r\nAccept: text/event-stream\r\n\
                      Cache-Control: no-cache\r\nLast-Event-ID: 4\r\n\r\nrest";
        let (head, consumed) = complete(input);
        assert_eq!(&input[consumed..], b"rest");
        assert_eq!(head.method, "GET");
        assert_eq!(head.path, "/events");
        assert_eq!(head.version, Version::Http11);
        assert_eq!(head.query_param("lastEventId"), Some("5"));
        assert_eq!(head.header("last-event-id"), Some("4"));
        assert_eq!(head.header("ACCEPT"), Some("text/event-stream"));
        assert_partial_until_complete(input);
    }

    #[test]
    fn bare_lf_line_ends_and_leading_blank_lines() {
        let input = b"\r\n\nGET / HTTP/1.1\nHost: a\n\n";
        let (head, consumed) = complete(input);
        assert_eq!((head.path.as_str(), consumed), ("/", input.len()));
        assert_partial_until_complete(input);
    }

    #[test]
    fn header_values_are_trimmed() {
        let (head, _) = complete(b"GET / HTTP/1.1\r\nHost:a\r\nX-Y: \t v w \t\r\n\r\n");
        assert_eq!(head.header("x-y"), Some("v w"));
        assert_eq!(head.header("host"), Some("a"));
    }

    #[test]
    fn http10_needs_no_host() {
        let (head, _) = complete(b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(head.version, Version::Http10);
    }

    #[test]
    fn absolute_form_and_asterisk() {
        let (head, _) = complete(b"GET http://example.com/a%20b?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n");
        assert_eq!((head.path.as_str(), head.query_param("x")), ("/a b", Some("1")));
        let (head, _) = complete(b"GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n");
        assert_eq!(head.path, "/");
        let (head, _) = complete(b"GET http://example.com?lastEventId=1 HTTP/1.1\r\nHost: example.com\r\n\r\n");
        assert_eq!((head.path.as_str(), head.query_param("lastEventId")), ("/", Some("1")), "the query is kept");
        let (head, _) = complete(b"GET HTTPS://h:1#frag HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(head.path, "/");
        let (head, _) = complete(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(head.path, "*");
        assert_eq!(error(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n").status(), 400);
    }

    #[test]
    fn malformed_heads_are_400() {
        let cases: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\n\r\n",                       // no Host
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", // two Hosts
            b"GET /  HTTP/1.1\r\nHost: a\r\n\r\n",           // double space
            b"GET / HTTP/1.1 x\r\nHost: a\r\n\r\n",          // extra part
            b"GET\r\n\r\n",                                  // no target
            b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n",            // method not a token
            b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",           // space before colon
            b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", // obs-fold
            b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", // no colon
            b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",      // bare CR
            b"GET / HTTP/1.1\r\nHost: a\x00\r\n\r\n",        // NUL
            b"GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n",         // bad escape in path
            b"GET /?a=%f HTTP/1.1\r\nHost: a\r\n\r\n",       // bad escape in query
            b"GET events HTTP/1.1\r\nHost: a\r\n\r\n",       // not origin-form
            b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET / HTTQ/1.1\r\nHost: a\r\n\r\n",    // bad version
            b"GET / HTTP/1.1\r\nHost: \xff\r\n\r\n", // not UTF-8
        ];
        for case in cases {
            let err = error(case);
            assert_eq!(err.status(), 400, "{:?}: {err}", String::from_utf8_lossy(case));
        }
    }

    #[test]
    fn a_bare_cr_is_refused_before_the_head_ends() {
        // A client that ends lines with CR alone never sends the LF a line end is waited for.
        for partial in [&b"GET / HTTP/1.1\rHost: a\r"[..], b"GET /\rx", b"\r\r"] {
            assert_eq!(
                parse_request_head(partial, &limits()),
                Err(RequestError::Malformed("bare CR in the request head"))
            );
        }
        assert_eq!(parse_request_head(b"GET / HTTP/1.1\r", &limits()), Ok(Parsed::Partial), "LF may follow");
    }

    /// The body is not the head: bytes after the blank line, a CR among them, never change the
    /// answer, however much of the body arrived with the head.
    #[test]
    fn head_rules_stop_at_the_end_of_the_head() {
        let head = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\n\r\n";
        let (parsed, consumed) = complete(head);
        for body in [&b"a\rb"[..], b"\r", b"\r\r\x00\x7f", b"\rGET / HTTP/1.1\r"] {
            let input = [&head[..], body].concat();
            for cut in 0..=input.len() {
                let expected = if cut < head.len() {
                    Parsed::Partial
                } else {
                    Parsed::Complete { head: parsed.clone(), consumed }
                };
                assert_eq!(parse_request_head(&input[..cut], &limits()), Ok(expected), "{body:?} cut at {cut}");
            }
        }
    }

    #[test]
    fn transfer_codings_other_than_one_final_chunked_are_refused() {
        let with = |te: &str| format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {te}\r\n\r\n");
        for te in ["chunked", "Chunked", " chunked "] {
            complete(with(te).as_bytes());
        }
        for te in ["gzip", "gzip, chunked", "identity", "x-custom"] {
            assert_eq!(error(with(te).as_bytes()), RequestError::UnknownTransferCoding, "{te}");
            assert_eq!(RequestError::UnknownTransferCoding.status(), 501);
        }
        assert_eq!(error(with("chunked, chunked").as_bytes()).status(), 400, "chunked twice");
        let two_fields = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n";
        assert_eq!(error(two_fields.as_bytes()), RequestError::UnknownTransferCoding, "chunked not last");
        let old = "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(error(old.as_bytes()).status(), 400, "HTTP/1.0 has no chunked requests");
        // A field that names no coding does not end with chunked: the length is unknown.
        for te in ["", ",", " , ,"] {
            assert_eq!(error(with(te).as_bytes()), RequestError::Malformed("Transfer-Encoding names no coding"));
            let old = format!("POST / HTTP/1.0\r\nTransfer-Encoding: {te}\r\n\r\n");
            assert_eq!(error(old.as_bytes()).status(), 400, "{te:?} on HTTP/1.0");
        }
        complete(with("chunked,").as_bytes());
        let empty_then_chunked =
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\nTransfer-Encoding: chunked\r\n\r\n";
        complete(empty_then_chunked.as_bytes());
    }

    #[test]
    fn the_final_coding_decides_chunked() {
        assert!(is_chunked("chunked") && is_chunked("gzip, Chunked") && is_chunked("gzip,chunked "));
        assert!(!is_chunked("chunked, gzip") && !is_chunked("notchunked") && !is_chunked("x-chunked-y"));
    }

    #[test]
    fn expect_continue_is_recognised_on_http11_only() {
        let (head, _) = complete(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n");
        assert!(head.expects_continue());
        let (head, _) = complete(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
        assert!(!head.expects_continue());
    }

    #[test]
    fn other_versions_are_505() {
        assert_eq!(error(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n").status(), 505);
        assert_eq!(error(b"GET / HTTP/3\r\nHost: a\r\n\r\n").status(), 505);
    }

    #[test]
    fn head_at_the_byte_limit_passes_and_one_more_is_431() {
        let base = b"GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n".len();
        let fits = |pad: usize| format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n", "v".repeat(pad));
        let at_limit = fits(DEFAULT_MAX_HEAD_BYTES - base);
        assert_eq!(at_limit.len(), DEFAULT_MAX_HEAD_BYTES);
        complete(at_limit.as_bytes());
        assert_eq!(error(fits(DEFAULT_MAX_HEAD_BYTES - base + 1).as_bytes()), RequestError::HeadTooLarge);
        // An endless head is refused as soon as it passes the limit, before it ends.
        let endless = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}", "v".repeat(DEFAULT_MAX_HEAD_BYTES));
        assert_eq!(error(endless.as_bytes()), RequestError::HeadTooLarge);
    }

    #[test]
    fn overlong_request_line_is_414() {
        let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(DEFAULT_MAX_HEAD_BYTES));
        assert_eq!(error(long.as_bytes()), RequestError::UriTooLong);
        assert_eq!(error(&long.as_bytes()[..DEFAULT_MAX_HEAD_BYTES + 1]), RequestError::UriTooLong);
    }

    #[test]
    fn header_count_at_the_limit_passes_and_one_more_is_431() {
        let head_with = |n: usize| {
            let mut text = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
            for i in 1..n {
                text.push_str(&format!("X-{i}: v\r\n"));
            }
            text + "\r\n"
        };
        complete(head_with(DEFAULT_MAX_HEADERS).as_bytes());
        assert_eq!(error(head_with(DEFAULT_MAX_HEADERS + 1).as_bytes()), RequestError::HeadTooLarge);
    }

    #[test]
    fn random_inputs_never_panic_and_prefixes_stay_consistent() {
        let mut rng = crate::test_support::SplitRng::new(3);
        for _ in 0..3000 {
            let input = rng.bytes(b"GET / HTTP/1.1\r\n:Host a%2f?=&\t\x00\xff", 80);
            let Ok(Parsed::Complete { consumed, .. }) = parse_request_head(&input, &limits()) else { continue };
            // A complete head is Partial at every shorter prefix that is not itself an error.
            for cut in 0..consumed {
                assert!(!matches!(parse_request_head(&input[..cut], &limits()), Ok(Parsed::Complete { .. })));
            }
        }
    }

    #[test]
    fn keep_alive_by_version_and_connection_options() {
        let wants = |raw: &str| {
            let Ok(Parsed::Complete { head, .. }) = parse_request_head(raw.as_bytes(), &HeadLimits::default()) else {
                panic!("complete: {raw:?}")
            };
            head.wants_keep_alive()
        };
        assert!(wants("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(!wants("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
        assert!(!wants("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n"));
        assert!(!wants("GET / HTTP/1.1\r\nHost: a\r\nConnection: x\r\nconnection: close\r\n\r\n"));
        assert!(wants("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n"), "a whole option only");
        assert!(!wants("GET / HTTP/1.0\r\n\r\n"));
        assert!(wants("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
        assert!(!wants("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"));
    }

    #[test]
    fn content_length_is_read() {
        let (head, _) = complete(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n");
        assert_eq!(head.content_length(), 12);
        let (head, _) = complete(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n");
        assert_eq!(head.content_length(), 3);
    }

    /// A list field sent on several lines is one list (RFC 9110 §5.3): what a later line says
    /// counts as much as the first.
    #[test]
    fn repeated_list_fields_are_combined() {
        let (head, _) =
            complete(b"GET / HTTP/1.1\r\nHost: a\r\nAccept: text/html\r\nX: 1\r\nACCEPT: text/event-stream\r\n\r\n");
        assert_eq!(head.header_list("accept").as_deref(), Some("text/html, text/event-stream"));
        assert_eq!(head.header_list("x").as_deref(), Some("1"));
        assert_eq!(head.header_list("absent"), None);
        let (head, _) = complete(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: x-other\r\nExpect: 100-continue\r\n\r\n");
        assert!(head.expects_continue(), "100-continue on the second line");
        let (head, _) = complete(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: x-other, 100-Continue\r\n\r\n");
        assert!(head.expects_continue(), "100-continue as a later member");
    }
}
