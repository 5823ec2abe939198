//! Response heads: the status line and header fields that go before a body or a stream.

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

/// A complete response with a short text body, `Content-Length` and `Connection: close`: how the
/// server answers errors and preflights.
pub fn text_response(status: u16, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let length = body.len().to_string();
    let mut all: Vec<(&str, &str)> = vec![("Connection", "close"), ("Content-Length", &length)];
    if !body.is_empty() {
        all.push(("Content-Type", "text/plain; charset=utf-8"));
    }
    all.extend_from_slice(headers);
    let mut out = response_head(status, &all);
    out.extend_from_slice(body.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
