//! Response heads: writing them (server side) and parsing them (client side).

use super::request::{parse_header_line, Lines};

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

/// Parses a response head from the bytes received so far: `Ok(None)` until it is complete, then
/// the head and the number of bytes it used. Errors say what is wrong.
///
/// ```
/// let (head, used) = bare_sse::http::parse_response_head(b"HTTP/1.1 204 No Content\r\n\r\nrest")
///     .unwrap().unwrap();
/// assert_eq!((head.status, used), (204, 27));
/// ```
pub fn parse_response_head(input: &[u8]) -> Result<Option<(ResponseHead, usize)>, &'static str> {
    let mut lines = Lines { input, at: 0 };
    let Some(status_line) = lines.next_line() else { return too_large_or_partial(input) };
    let status_line = status_line.map_err(|_| "invalid status line")?;
    let mut parts = status_line.splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else { return Err("invalid status line") };
    if !version.starts_with("HTTP/1.") {
        return Err("not an HTTP/1.x response");
    }
    let status = match code.as_bytes() {
        [a, b, c] if [a, b, c].iter().all(|d| d.is_ascii_digit()) => code.parse().map_err(|_| "invalid status code")?,
        _ => return Err("invalid status code"),
    };
    let mut headers = Vec::new();
    loop {
        let Some(line) = lines.next_line() else { return too_large_or_partial(input) };
        let line = line.map_err(|_| "invalid header line")?;
        if line.is_empty() {
            break;
        }
        headers.push(parse_header_line(line).map_err(|_| "invalid header line")?);
    }
    Ok(Some((ResponseHead { status, headers }, lines.at)))
}

fn too_large_or_partial<T>(input: &[u8]) -> Result<Option<T>, &'static str> {
    if input.len() > MAX_RESPONSE_HEAD_BYTES {
        Err("response head too large")
    } else {
        Ok(None)
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
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status)).into_bytes();
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The `200` head of an event stream, with `extra` headers after the standard ones. The body is
/// delimited by closing the connection (RFC 9112 §6.3), which every client, HTTP/1.0 ones
/// included, understands, and which no proxy can re-chunk into a delay.
pub fn stream_response_head(extra: &[(&str, &str)]) -> Vec<u8> {
    stream_head_with_framing(&[("Connection", "close")], extra)
}

/// The `200` head of an event stream whose body is framed as `framing`, with `extra` headers after
/// the standard ones. A chunked body may say `Connection: keep-alive` (Datastar's specification
/// asks for it); an unframed one ends with the connection, so it says `Connection: close`.
///
/// ```
/// use bare_sse::http::{stream_response_head_for, BodyFraming};
///
/// let head = String::from_utf8(stream_response_head_for(BodyFraming::Chunked, false, &[])).unwrap();
/// assert!(head.contains("\r\nTransfer-Encoding: chunked\r\n"));
/// ```
pub fn stream_response_head_for(framing: BodyFraming, keep_alive: bool, extra: &[(&str, &str)]) -> Vec<u8> {
    match (framing, keep_alive) {
        (BodyFraming::Chunked, true) => {
            stream_head_with_framing(&[("Connection", "keep-alive"), ("Transfer-Encoding", "chunked")], extra)
        }
        (BodyFraming::Chunked, false) => stream_head_with_framing(&[("Transfer-Encoding", "chunked")], extra),
        (BodyFraming::UntilClose, _) => stream_response_head(extra),
    }
}

fn stream_head_with_framing(framing: &[(&str, &str)], extra: &[(&str, &str)]) -> Vec<u8> {
    let mut headers = vec![
        ("Content-Type", "text/event-stream; charset=utf-8"),
        ("Cache-Control", "no-cache"),
        ("X-Accel-Buffering", "no"),
    ];
    headers.extend_from_slice(framing);
    headers.extend_from_slice(extra);
    response_head(200, &headers)
}

/// A complete response with a short text body, `Content-Length` and `Connection: close`: how the
/// server answers errors and preflights.
pub fn text_response(status: u16, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut all: Vec<(&str, &str)> = Vec::new();
    if !body.is_empty() {
        all.push(("Content-Type", "text/plain; charset=utf-8"));
    }
    all.extend_from_slice(headers);
    let mut out = closing_response_head(status, &all, body.len());
    out.extend_from_slice(body.as_bytes());
    out
}

/// The head of a response whose body is `body_len` bytes long and after which the connection
/// closes: `Connection: close` and `Content-Length`, then `headers`.
pub fn closing_response_head(status: u16, headers: &[(&str, &str)], body_len: usize) -> Vec<u8> {
    let length = body_len.to_string();
    let mut all: Vec<(&str, &str)> = vec![("Connection", "close"), ("Content-Length", &length)];
    all.extend_from_slice(headers);
    response_head(status, &all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_heads_complete_partial_and_bad() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\nTransfer-Encoding: chunked\r\n\r\n5\r\n";
        let (head, used) = parse_response_head(input).unwrap().unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.header("content-type"), Some("text/event-stream"));
        assert_eq!(&input[used..], b"5\r\n");
        for cut in 0..used {
            assert_eq!(parse_response_head(&input[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(parse_response_head(b"HTTP/1.0 302\r\n\r\n").unwrap().is_some(), "reason phrase is optional");
        assert!(parse_response_head(b"SPDY/3 200 OK\r\n\r\n").is_err());
        assert!(parse_response_head(b"HTTP/1.1 20x OK\r\n\r\n").is_err());
        assert!(parse_response_head(b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n").is_err());
        assert!(parse_response_head(&vec![b'a'; MAX_RESPONSE_HEAD_BYTES + 1]).is_err());
    }

    #[test]
    fn text_response_is_framed_by_length() {
        let bytes = text_response(405, &[("Allow", "GET, HEAD, OPTIONS")], "method not allowed\n");
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        assert!(text.contains("\r\nContent-Length: 19\r\n"));
        assert!(text.contains("\r\nAllow: GET, HEAD, OPTIONS\r\n"));
        assert!(text.ends_with("\r\n\r\nmethod not allowed\n"));
    }
}
