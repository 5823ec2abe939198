//! Response heads: writing them (server side) and parsing them (client side).

use std::fmt;

use super::request::{parse_header_line, Lines, Parsed};

use super::framing::BodyFraming;

/// Largest response head the client accepts, in bytes.
pub const MAX_RESPONSE_HEAD_BYTES: usize = 16 * 1024;

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    /// Header fields in order.
    pub headers: Vec<(String, String)>,
}

impl ResponseHead {
    /// The first value of a header, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Why a response head was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseHeadError {
    /// The status line is not `HTTP/1.x <3 digits> [reason]`.
    BadStatusLine,
    /// A version other than HTTP/1.x.
    NotHttp1,
    /// A header line is not `name: value`, or holds a bare CR or a control character.
    BadHeaderLine,
    /// The head is longer than [`MAX_RESPONSE_HEAD_BYTES`].
    TooLarge,
}

impl fmt::Display for ResponseHeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResponseHeadError::BadStatusLine => "invalid status line",
            ResponseHeadError::NotHttp1 => "not an HTTP/1.x response",
            ResponseHeadError::BadHeaderLine => "invalid header line",
            ResponseHeadError::TooLarge => "response head too large",
        })
    }
}

impl std::error::Error for ResponseHeadError {}

/// Parses a response head from the bytes received so far: [`Parsed::Partial`] until it is
/// complete, then the head and the number of bytes it used, as for request heads.
///
/// ```
/// use bare_sse::http::{parse_response_head, Parsed};
/// let parsed = parse_response_head(b"HTTP/1.1 204 No Content\r\n\r\nrest").unwrap();
/// let Parsed::Complete { head, consumed } = parsed else { panic!("complete") };
/// assert_eq!((head.status, consumed), (204, 27));
/// assert_eq!(parse_response_head(b"HTTP/1.1 200 OK\r\n"), Ok(Parsed::Partial));
/// ```
///
/// # Errors
///
/// A [`ResponseHeadError`]: `BadStatusLine`, `NotHttp1`, `BadHeaderLine`, or `TooLarge` past
/// [`MAX_RESPONSE_HEAD_BYTES`]. A head not complete yet is `Ok(Parsed::Partial)`.
pub fn parse_response_head(input: &[u8]) -> Result<Parsed<ResponseHead>, ResponseHeadError> {
    let mut lines = Lines { input, at: 0 };
    let Some(status_line) = lines.next_line() else { return too_large_or_partial(input) };
    let status_line = status_line.map_err(|_| ResponseHeadError::BadStatusLine)?;
    let mut parts = status_line.splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(ResponseHeadError::BadStatusLine);
    };
    if !version.starts_with("HTTP/1.") {
        return Err(ResponseHeadError::NotHttp1);
    }
    let status = match code.as_bytes() {
        [a, b, c] if [a, b, c].iter().all(|d| d.is_ascii_digit()) => {
            code.parse().map_err(|_| ResponseHeadError::BadStatusLine)?
        }
        _ => return Err(ResponseHeadError::BadStatusLine),
    };
    let mut headers = Vec::new();
    loop {
        let Some(line) = lines.next_line() else { return too_large_or_partial(input) };
        let line = line.map_err(|_| ResponseHeadError::BadHeaderLine)?;
        if line.is_empty() {
            break;
        }
        headers.push(parse_header_line(line).map_err(|_| ResponseHeadError::BadHeaderLine)?);
    }
    Ok(Parsed::Complete { head: ResponseHead { status, headers }, consumed: lines.at })
}

fn too_large_or_partial(input: &[u8]) -> Result<Parsed<ResponseHead>, ResponseHeadError> {
    if input.len() > MAX_RESPONSE_HEAD_BYTES {
        Err(ResponseHeadError::TooLarge)
    } else {
        Ok(Parsed::Partial)
    }
}

/// The reason phrase for the status codes bare-sse sends.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// `HTTP/1.1 <status> <reason>` and each header, ending with the blank line.
///
/// ```
/// let head = bare_sse::http::response_head(204, &[("Allow", "GET")]);
/// assert_eq!(head, b"HTTP/1.1 204 No Content\r\nAllow: GET\r\n\r\n");
/// ```
pub fn response_head(status: u16, headers: &[(&str, &str)]) -> Vec<u8> {
    let reason = reason_phrase(status);
    // Sized once (status line, fields, blank line): a head grown step by step leaves each outgrown
    // buffer in the thread's allocator cache, and a stream may then run on that thread for days.
    let fields: usize = headers.iter().map(|(name, value)| name.len() + value.len() + 4).sum();
    let mut out = Vec::with_capacity("HTTP/1.1 000 \r\n".len() + reason.len() + fields + 2);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(decimal(u64::from(status), &mut [0; 20]).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// `n` in decimal, written into `buffer`. By hand rather than with `write!` or `to_string`: the
/// formatting machinery takes several hundred bytes of stack, and every answer's head is written
/// on a connection thread, whose deepest call sets how many stack pages it keeps while idle.
pub(crate) fn decimal(mut n: u64, buffer: &mut [u8; 20]) -> &str {
    let mut start = buffer.len();
    loop {
        start -= 1;
        buffer[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written: this is never the default.
    std::str::from_utf8(&buffer[start..]).unwrap_or_default()
}

/// What follows a response's head: decided here, and only here, for every response the server
/// writes, as hyper's HTTP/1 role does, so that no path can frame a body the client will not read.
///
/// A `1xx`, `204` or `304` response never has a body, nor a `Content-Length` or
/// `Transfer-Encoding` (RFC 9110 §6.4.1, §8.6; RFC 9112 §6.1, §6.3), and a response to `HEAD` has
/// none either, though its head is the one a `GET` would get, framing fields included (RFC 9110
/// §9.3.2). A client reads no body after such a head, so body bytes written there would be read
/// as the start of the next response: on a kept connection, that is response splitting.
///
/// ```
/// use bare_sse::http::BodyRule;
/// assert_eq!(BodyRule::for_response(Some("GET"), 200), BodyRule::Body);
/// assert_eq!(BodyRule::for_response(Some("HEAD"), 200), BodyRule::HeadOnly);
/// assert_eq!(BodyRule::for_response(Some("HEAD"), 304), BodyRule::Bodiless);
/// assert_eq!(BodyRule::for_response(None, 204), BodyRule::Bodiless);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRule {
    /// The head frames a body, and the body follows it.
    Body,
    /// The answer to `HEAD`: the head, with the framing fields a `GET` would get, and no body.
    HeadOnly,
    /// `1xx`, `204` and `304`: no body, and no framing fields.
    Bodiless,
}

impl BodyRule {
    /// The rule for a response with `status` to a request with `request_method` (`None` when no
    /// request head could be read, as for a refused one).
    pub fn for_response(request_method: Option<&str>, status: u16) -> BodyRule {
        if (100..200).contains(&status) || status == 204 || status == 304 {
            BodyRule::Bodiless
        } else if request_method == Some("HEAD") {
            BodyRule::HeadOnly
        } else {
            BodyRule::Body
        }
    }

    /// Whether body bytes follow the head.
    pub fn sends_body(self) -> bool {
        self == BodyRule::Body
    }

    /// Whether the head carries the framing fields (`Content-Length`, `Transfer-Encoding`).
    pub fn has_framing_fields(self) -> bool {
        self != BodyRule::Bodiless
    }
}

/// The head of an event stream with `status`, framed as `framing`, with `extra` headers after the
/// standard ones. A chunked body may say `Connection: keep-alive` (Datastar's specification asks
/// for it); an unframed one ends with the connection, so it says `Connection: close`. A standard
/// field that `extra` also names (`Content-Type`, `Cache-Control`, `X-Accel-Buffering`) is left
/// to `extra`, so that no field is sent twice.
///
/// ```
/// use bare_sse::http::{stream_response_head_for, BodyFraming};
///
/// let head = stream_response_head_for(200, BodyFraming::Chunked, false, &[]);
/// let head = String::from_utf8(head).unwrap();
/// assert!(head.contains("\r\nTransfer-Encoding: chunked\r\n"));
/// let head = stream_response_head_for(201, BodyFraming::Chunked, false, &[("content-type", "text/event-stream")]);
/// let head = String::from_utf8(head).unwrap();
/// assert!(head.starts_with("HTTP/1.1 201 ") && head.matches("ontent-").count() == 1);
/// ```
pub fn stream_response_head_for(
    status: u16,
    framing: BodyFraming,
    keep_alive: bool,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    match (framing, keep_alive) {
        (BodyFraming::Chunked, true) => {
            stream_head(status, &[("Connection", "keep-alive"), ("Transfer-Encoding", "chunked")], extra)
        }
        (BodyFraming::Chunked, false) => stream_head(status, &[("Transfer-Encoding", "chunked")], extra),
        (BodyFraming::UntilClose, _) => stream_head(status, &[("Connection", "close")], extra),
    }
}

/// The `200` head of an event stream, with `extra` headers after the standard ones. The body is
/// delimited by closing the connection (RFC 9112 §6.3), which every client, HTTP/1.0 ones
/// included, understands, and which no proxy can re-chunk into a delay.
pub fn stream_response_head(extra: &[(&str, &str)]) -> Vec<u8> {
    stream_response_head_for(200, BodyFraming::UntilClose, false, extra)
}

fn stream_head(status: u16, framing: &[(&str, &str)], extra: &[(&str, &str)]) -> Vec<u8> {
    let mut headers = standard_fields(extra);
    headers.extend_from_slice(framing);
    headers.extend_from_slice(extra);
    response_head(status, &headers)
}

/// The fields every event stream's head carries, less those `extra` names.
fn standard_fields<'a>(extra: &[(&str, &str)]) -> Vec<(&'a str, &'a str)> {
    const STANDARD: [(&str, &str); 3] = [
        ("Content-Type", "text/event-stream; charset=utf-8"),
        ("Cache-Control", "no-cache"),
        ("X-Accel-Buffering", "no"),
    ];
    let named_in_extra = |name: &str| extra.iter().any(|(other, _)| other.eq_ignore_ascii_case(name));
    let mut fields = Vec::with_capacity(STANDARD.len() + extra.len() + 2);
    fields.extend(STANDARD.into_iter().filter(|(name, _)| !named_in_extra(name)));
    fields
}

/// An event stream's standard fields (those `extra` does not name), then `extra`: the fields of a
/// complete response whose body is events.
pub(crate) fn with_event_stream_fields<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut fields = standard_fields(extra);
    fields.extend_from_slice(extra);
    fields
}

/// A complete response with a short text body and `Connection: close`: how the server answers
/// errors and refusals. `request_method` is the request's (`None` when its head could not be
/// read); the body is left out where [`BodyRule`] says so.
pub fn text_response(request_method: Option<&str>, status: u16, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut all: Vec<(&str, &str)> = Vec::new();
    if !body.is_empty() {
        all.push(("Content-Type", "text/plain; charset=utf-8"));
    }
    all.extend_from_slice(headers);
    complete_response(request_method, status, Persistence::Close, &all, body.as_bytes())
}

/// What a response says about its connection: the `Connection` field it sends, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// The connection closes after this response: `Connection: close`.
    Close,
    /// Open for the next request, as HTTP/1.1 assumes: no field.
    KeepOpen,
    /// Open for the next request of an HTTP/1.0 client that asked for it: `Connection:
    /// keep-alive`, without which it would assume a close.
    KeepAliveHttp10,
}

/// A complete response to a request with `request_method` (`None` when its head could not be
/// read): the head, with the `Connection` field `persistence` calls for, `Content-Length` and
/// `headers`, then `body`, each as [`BodyRule`] says. A body that the rule leaves out is dropped,
/// never written.
///
/// ```
/// use bare_sse::http::{complete_response, Persistence};
/// let ok = complete_response(Some("GET"), 200, Persistence::KeepOpen, &[("Content-Type", "text/plain")], b"hi");
/// assert_eq!(ok, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nhi");
/// let head = complete_response(Some("HEAD"), 200, Persistence::KeepOpen, &[], b"hi");
/// assert_eq!(head, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
/// let none = complete_response(Some("GET"), 204, Persistence::KeepAliveHttp10, &[], b"dropped");
/// assert_eq!(none, b"HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n");
/// ```
pub fn complete_response(
    request_method: Option<&str>,
    status: u16,
    persistence: Persistence,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let rule = BodyRule::for_response(request_method, status);
    let mut digits = [0; 20];
    let length = decimal(body.len() as u64, &mut digits);
    let mut all: Vec<(&str, &str)> = Vec::with_capacity(headers.len() + 2);
    match persistence {
        Persistence::Close => all.push(("Connection", "close")),
        Persistence::KeepOpen => {}
        Persistence::KeepAliveHttp10 => all.push(("Connection", "keep-alive")),
    }
    if rule.has_framing_fields() {
        all.push(("Content-Length", length));
    }
    all.extend_from_slice(headers);
    let mut out = response_head(status, &all);
    if rule.sends_body() {
        out.extend_from_slice(body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_heads_complete_partial_and_bad() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\nTransfer-Encoding: chunked\r\n\r\n5\r\n";
        let Ok(Parsed::Complete { head, consumed }) = parse_response_head(input) else { panic!("complete") };
        assert_eq!(head.status, 200);
        assert_eq!(head.header("content-type"), Some("text/event-stream"));
        assert_eq!(&input[consumed..], b"5\r\n");
        for cut in 0..consumed {
            assert_eq!(parse_response_head(&input[..cut]), Ok(Parsed::Partial), "cut at {cut}");
        }
        let no_reason = parse_response_head(b"HTTP/1.0 302\r\n\r\n");
        assert!(matches!(no_reason, Ok(Parsed::Complete { .. })), "reason phrase is optional");
        assert_eq!(parse_response_head(b"SPDY/3 200 OK\r\n\r\n"), Err(ResponseHeadError::NotHttp1));
        assert_eq!(parse_response_head(b"HTTP/1.1 20x OK\r\n\r\n"), Err(ResponseHeadError::BadStatusLine));
        let bad_header = parse_response_head(b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n");
        assert_eq!(bad_header, Err(ResponseHeadError::BadHeaderLine));
        assert_eq!(parse_response_head(&vec![b'a'; MAX_RESPONSE_HEAD_BYTES + 1]), Err(ResponseHeadError::TooLarge));
    }

    /// Every status, to every kind of request, with a body from the handler: the body follows the
    /// head only where the client will read one, and the framing fields say what follows.
    #[test]
    fn bodiless_responses_never_carry_the_body_they_are_given() {
        for status in 100..=599 {
            for method in [Some("GET"), Some("POST"), Some("HEAD"), None] {
                let wire = complete_response(method, status, Persistence::KeepOpen, &[], b"BODY");
                let Ok(Parsed::Complete { head, consumed }) = parse_response_head(&wire) else { panic!("a head") };
                let bodiless = (100..200).contains(&status) || status == 204 || status == 304;
                let after_head = &wire[consumed..];
                let length = head.header("content-length");
                match (bodiless, method) {
                    (true, _) => assert_eq!((after_head, length), (&b""[..], None), "{status} {method:?}"),
                    (false, Some("HEAD")) => assert_eq!((after_head, length), (&b""[..], Some("4")), "{status}"),
                    (false, _) => assert_eq!((after_head, length), (&b"BODY"[..], Some("4")), "{status} {method:?}"),
                }
                let text = text_response(method, status, &[], "text");
                let Ok(Parsed::Complete { consumed, .. }) = parse_response_head(&text) else { panic!("a head") };
                assert_eq!(text.len() - consumed, if bodiless || method == Some("HEAD") { 0 } else { 4 });
            }
        }
    }

    #[test]
    fn a_stream_head_has_its_status_and_each_field_once() {
        let extra = [("Content-Type", "text/event-stream"), ("cache-control", "no-store"), ("X-Own", "1")];
        let head = stream_response_head_for(503, BodyFraming::Chunked, false, &extra);
        let Ok(Parsed::Complete { head, .. }) = parse_response_head(&head) else { panic!("a head") };
        assert_eq!(head.status, 503);
        let count = |name: &str| head.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).count();
        assert_eq!((count("content-type"), count("cache-control"), count("x-accel-buffering")), (1, 1, 1));
        assert_eq!(
            (head.header("content-type"), head.header("cache-control")),
            (Some("text/event-stream"), Some("no-store"))
        );
    }

    #[test]
    fn text_response_is_framed_by_length() {
        let bytes = text_response(Some("POST"), 405, &[("Allow", "GET, HEAD, OPTIONS")], "method not allowed\n");
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        assert!(text.contains("\r\nContent-Length: 19\r\n"));
        assert!(text.contains("\r\nAllow: GET, HEAD, OPTIONS\r\n"));
        assert!(text.ends_with("\r\n\r\nmethod not allowed\n"));
    }
}
