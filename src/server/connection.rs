//! One connection, start to end: read the request head within the limits, route it, answer or
//! stream, and close.
//!
//! Routing, in order:
//! 1. a head that is malformed or too large, or not complete in time: `400`/`414`/`431`/`505`/`408`;
//! 2. `GET`/`HEAD` on a configured page's path: the page;
//! 3. a path other than the configured one: `404`;
//! 4. `OPTIONS`: the CORS preflight answer, `204`;
//! 5. a method other than `GET`, `HEAD`, `OPTIONS`: `405` with `Allow`;
//! 6. past the connection limit: `200` with `retry:` and a close;
//! 7. `HEAD`: the stream's response head only;
//! 8. `GET`: the stream.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{is_timeout, Shared};
use crate::http::{parse_request_head, response_head, text_response, HeadLimits, Parsed, RequestHead};

/// How often a streaming connection's thread looks up from its blocked read to see whether the
/// writer threads handed its client back (because the client's socket was full).
const HANDBACK_POLL: Duration = Duration::from_secs(1);
/// After an error response, how long the server keeps reading (and discarding) what the client
/// still sends, so that closing does not reset the connection before the client reads the answer.
const LINGER: Duration = Duration::from_millis(500);
/// Most bytes discarded while lingering.
const LINGER_BYTES: usize = 64 * 1024;

/// Why no request head came.
enum NoHead {
    /// Refused with this status and message.
    Refused(u16, String),
    /// The client left or the connection broke.
    Gone,
}

pub(super) fn serve(shared: &Shared, socket: &Arc<TcpStream>, over_capacity: bool) {
    // Events are small writes that must leave at once: Nagle's algorithm would hold them back.
    let _ = socket.set_nodelay(true);
    let config = &shared.config;
    let head = match read_head(socket, &config.head_limits, config.request_timeout) {
        Ok(head) => head,
        Err(NoHead::Refused(status, message)) => {
            return answer(socket, &text_response(status, &[], &format!("{message}\n")));
        }
        Err(NoHead::Gone) => return,
    };
    let origin = head.header("origin");
    let page = config.pages.iter().find(|(path, _)| *path == head.path).map(|(_, html)| html);
    if let (Some(html), "GET" | "HEAD") = (page, head.method.as_str()) {
        let length = html.len().to_string();
        let headers =
            [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", &length), ("Connection", "close")];
        let mut response = response_head(200, &headers);
        if head.method == "GET" {
            response.extend_from_slice(html.as_bytes());
        }
        return answer(socket, &response);
    }
    let path_matches = config.path.as_ref().is_none_or(|path| *path == head.path || head.path == "*");
    if !path_matches {
        return answer(socket, &text_response(404, &[], "not found\n"));
    }
    match head.method.as_str() {
        "OPTIONS" => {
            let headers = config.cors.preflight_headers(origin);
            answer(socket, &text_response(204, &borrowed(&headers), ""));
        }
        "GET" | "HEAD" => {
            let mut stream_head = stream_response_head(shared, origin);
            if over_capacity {
                stream_head.extend_from_slice(format!("retry: {}\n\n", config.overload_retry_ms).as_bytes());
                answer(socket, &stream_head);
            } else if head.method == "HEAD" {
                answer(socket, &stream_head);
            } else {
                stream(shared, socket, &head, stream_head);
            }
        }
        _ => {
            let allow = [("Allow", "GET, HEAD, OPTIONS")];
            answer(socket, &text_response(405, &allow, "method not allowed\n"));
        }
    }
}

/// Reads until the request head is complete, refusing it as soon as it breaks a limit.
fn read_head(mut socket: &TcpStream, limits: &HeadLimits, timeout: Duration) -> Result<RequestHead, NoHead> {
    let deadline = Instant::now() + timeout;
    let mut received = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(NoHead::Refused(408, "request head not received in time".to_string()));
        }
        socket.set_read_timeout(Some(left)).map_err(|_| NoHead::Gone)?;
        match socket.read(&mut chunk) {
            Ok(0) => return Err(NoHead::Gone),
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(NoHead::Gone),
        }
        match parse_request_head(&received, limits) {
            Ok(Parsed::Complete { head, .. }) => return Ok(head),
            Ok(Parsed::Partial) => {}
            Err(error) => return Err(NoHead::Refused(error.status(), error.to_string())),
        }
    }
}

/// The `200` head of an event stream. The body is delimited by closing the connection (RFC 9112
/// §6.3), which every client, HTTP/1.0 ones included, understands, and which no proxy can
/// re-chunk into a delay.
fn stream_response_head(shared: &Shared, origin: Option<&str>) -> Vec<u8> {
    let mut headers = vec![
        ("Content-Type", "text/event-stream; charset=utf-8".to_string()),
        ("Cache-Control", "no-cache".to_string()),
        ("X-Accel-Buffering", "no".to_string()),
        ("Connection", "close".to_string()),
    ];
    headers.extend(shared.config.cors.headers(origin));
    response_head(200, &borrowed(&headers))
}

fn borrowed<'a>(headers: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    headers.iter().map(|(name, value)| (*name, value.as_str())).collect()
}

/// Subscribes the client, sends the head, the `retry:` and the history it missed, hands it to the
/// writer threads, and watches for it to leave.
fn stream(shared: &Shared, socket: &Arc<TcpStream>, head: &RequestHead, mut first_bytes: Vec<u8>) {
    if let Some(retry) = shared.config.retry_ms {
        first_bytes.extend_from_slice(format!("retry: {retry}\n\n").as_bytes());
    }
    let last_event_id = last_event_id(head);
    let Ok((subscription, replay)) = shared.hub.subscribe(Arc::clone(socket), last_event_id) else {
        return answer(socket, &text_response(503, &[], "cannot start a stream now\n"));
    };
    first_bytes.extend_from_slice(&replay);
    if subscription.start(&first_bytes).is_err() {
        return;
    }
    watch_until_gone(socket, || subscription.handed_back() && subscription.catch_up().is_err());
}

/// The client's last event id: the `Last-Event-ID` header a browser sends when it reconnects, or a
/// `lastEventId` / `last_event_id` query parameter (a first connection cannot set headers). Empty
/// means none.
fn last_event_id(head: &RequestHead) -> Option<&str> {
    let header = head.header("last-event-id");
    let query = || head.query_param("lastEventId").or_else(|| head.query_param("last_event_id"));
    header.or_else(query).filter(|id| !id.is_empty())
}

/// Blocks on the socket's read side until the client closes it (or `stop` shuts it). Every
/// [`HANDBACK_POLL`] the read times out and `on_idle` runs; it returns true to give up.
fn watch_until_gone(mut socket: &TcpStream, mut on_idle: impl FnMut() -> bool) {
    if socket.set_read_timeout(Some(HANDBACK_POLL)).is_err() {
        return;
    }
    let mut discarded = [0u8; 512];
    loop {
        match socket.read(&mut discarded) {
            Ok(0) => return,
            // A client has nothing to say on an event stream; whatever it sends is dropped.
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {
                if on_idle() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Writes a complete response and closes the connection gracefully: shut the write side (the
/// client sees the end), then read and drop what the client still sends for a moment, since
/// closing with unread input would reset the connection and could destroy the answer in flight.
fn answer(mut socket: &TcpStream, response: &[u8]) {
    let _ = socket.set_write_timeout(Some(LINGER));
    if socket.write_all(response).is_err() {
        return;
    }
    let _ = socket.shutdown(Shutdown::Write);
    let deadline = Instant::now() + LINGER;
    let mut discarded = [0u8; 1024];
    let mut total = 0;
    while total < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || socket.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match socket.read(&mut discarded) {
            Ok(0) | Err(_) => return,
            Ok(n) => total += n,
        }
    }
}
