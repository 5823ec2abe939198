//! One connection, start to end: read the request within the limits, route it, answer or stream,
//! and close. Every response closes its connection (no keep-alive), which keeps each connection's
//! story short: one request, one response.
//!
//! In order:
//! 1. a head that is malformed, too large, or not complete in time: `400`/`414`/`431`/`505`/`408`;
//! 2. `OPTIONS` on a routed path: the CORS preflight answer, `204`;
//! 3. no route for the path: `404`; routes, but not for this method: `405` with `Allow`;
//! 4. a body longer than the limit: `413`; a broken one: `400`; not complete in time: `408`;
//! 5. the handler runs (a panic becomes `500`), and its response is sent: a plain body, or a
//!    stream.
//!
//! Connections past the connection limit never get here: the overflow answerer answers them.

use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::hub_client::{self, NotStarted};
use super::response::{Body, Response};
use super::router::Routed;
use super::stream_socket::StreamSocket;
use super::{Request, Shared};
use crate::error::is_timeout;
use crate::http::{
    closing_response_head, parse_request_head, stream_response_head_for, text_response, BodyFraming, ChunkedReader,
    Parsed, RequestHead,
};
use crate::stream::EventStream;
use crate::Hub;

/// How long writing a short, complete answer (an error, a page) may make no progress: such a
/// client is either reading or gone.
const ANSWER_WRITE_TIMEOUT: Duration = Duration::from_millis(500);
/// After a complete answer, how long the server keeps reading (and discarding) what the client
/// still sends, so that closing does not reset the connection before the client reads the answer.
pub(super) const CLOSE_LINGER: Duration = Duration::from_millis(500);
/// Most bytes discarded while lingering: enough for the rest of a refused request head or body.
pub(super) const CLOSE_LINGER_BYTES: usize = 64 * 1024;
/// How much of the request head one `read` asks for.
const READ_CHUNK_BYTES: usize = 1024;

/// Why no request came.
enum NoRequest {
    /// Refused with this status and message.
    Refused(u16, String),
    /// The client left or the connection broke.
    Gone,
}

pub(super) fn serve(shared: &Shared, socket: &Arc<TcpStream>) {
    // Events are small writes that must leave at once: Nagle's algorithm would hold them back.
    let _ = socket.set_nodelay(true);
    let deadline = Instant::now() + shared.config.request_timeout;
    let (request, handler) = match read_request(shared, socket, deadline) {
        Ok(Routing::Handle(request, handler)) => (request, handler),
        Ok(Routing::Answered) | Err(NoRequest::Gone) => return,
        Err(NoRequest::Refused(status, message)) => {
            return answer(socket, &text_response(status, &[], &format!("{message}\n")));
        }
    };
    handle(shared, socket, request, &*handler);
}

/// Calls `handler` for a request that has been read, and sends its answer or runs its stream.
pub(super) fn handle(shared: &Shared, socket: &Arc<TcpStream>, request: Request, handler: &dyn super::Handler) {
    let Ok(response) = catch_unwind(AssertUnwindSafe(|| handler.handle(&request))) else {
        return answer(socket, &text_response(500, &[], "the handler failed\n"));
    };
    // The request, the handler's response and the headers are dropped before a stream starts, so
    // that an idle stream holds nothing of them for its whole life.
    let Some(stream) = respond(shared, socket, &request, response) else { return };
    drop(request);
    stream.run(shared, socket);
}

/// A stream whose head is ready to go, with what it needs from its request.
struct StreamStart {
    framing: BodyFraming,
    head: Vec<u8>,
    /// The first body bytes: a `retry:` line, or nothing.
    intro: Vec<u8>,
    source: StreamSource,
}

enum StreamSource {
    Hub { hub: Hub, last_event_id: Option<String> },
    PerConnection(Box<dyn FnOnce(EventStream) + Send>),
}

impl StreamStart {
    fn run(self, shared: &Shared, socket: &Arc<TcpStream>) {
        let StreamStart { framing, head, intro, source } = self;
        match source {
            StreamSource::Hub { hub, last_event_id } => {
                let last_event_id = last_event_id.as_deref();
                let started =
                    hub_client::stream_from_hub(&hub, Arc::clone(socket), framing, head, intro, last_event_id);
                if let Err(NotStarted::HubUnavailable) = started {
                    answer(socket, &text_response(503, &[], "cannot start a stream now\n"));
                }
            }
            StreamSource::PerConnection(run) => stream_per_connection(shared, socket, framing, &head, &intro, run),
        }
    }
}

/// What reading and routing a request came to.
enum Routing {
    /// A request for this handler.
    Handle(Request, Arc<dyn super::Handler>),
    /// A preflight, 404 or 405 was sent.
    Answered,
}

fn read_request(shared: &Shared, socket: &Arc<TcpStream>, deadline: Instant) -> Result<Routing, NoRequest> {
    let config = &shared.config;
    let (head, leftover) = read_head(socket, &config.head_limits, deadline)?;
    let cors = config.cors.headers(head.header("origin"));
    let preflight = head.method == "OPTIONS" && shared.router.options_route(&head.path).is_none();
    if preflight && (head.path == "*" || shared.router.has_path(&head.path)) {
        let methods = shared.router.methods_for(&head.path, head.header("access-control-request-method")).join(", ");
        let requested_headers = head.header("access-control-request-headers");
        let headers = config.cors.preflight_headers(head.header("origin"), &methods, requested_headers);
        answer(socket, &text_response(204, &borrowed(&headers), ""));
        return Ok(Routing::Answered);
    }
    let handler = match shared.router.find(&head.method, &head.path) {
        Routed::Found(handler) => Arc::clone(handler),
        Routed::NotFound => {
            answer(socket, &text_response(404, &borrowed(&cors), "not found\n"));
            return Ok(Routing::Answered);
        }
        Routed::MethodNotAllowed(mut allowed) => {
            allowed.push("OPTIONS".to_string());
            let allow = allowed.join(", ");
            let mut headers = borrowed(&cors);
            headers.push(("Allow", &allow));
            answer(socket, &text_response(405, &headers, "method not allowed\n"));
            return Ok(Routing::Answered);
        }
    };
    let body = read_body(socket, &head, leftover, config, deadline)?;
    Ok(Routing::Handle(Request::new(head, body), handler))
}

/// Reads until the request head is complete, refusing it as soon as it breaks a limit. Returns the
/// head and the bytes received after it.
fn read_head(
    mut socket: &TcpStream,
    limits: &crate::http::HeadLimits,
    deadline: Instant,
) -> Result<(RequestHead, Vec<u8>), NoRequest> {
    let mut received = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(NoRequest::Refused(408, "request head not received in time".to_string()));
        }
        socket.set_read_timeout(Some(left)).map_err(|_| NoRequest::Gone)?;
        // Read straight into the heap buffer: a buffer on the stack would stay in this thread's
        // resident stack pages for as long as its stream lasts.
        let start = received.len();
        received.resize(start + READ_CHUNK_BYTES, 0);
        let read = socket.read(&mut received[start..]);
        received.truncate(start + *read.as_ref().unwrap_or(&0));
        match read {
            Ok(0) => return Err(NoRequest::Gone),
            Ok(_) => {}
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(NoRequest::Gone),
        }
        // The head is parsed again from its start, so parse only when it can have changed its
        // answer: a line ended (or a CR came), or the limit is passed. A client that sends a
        // byte at a time then costs a parse per line, not per byte.
        let new_bytes = &received[start..];
        let line_ended = new_bytes.iter().any(|&b| b == b'\n' || b == b'\r');
        if !line_ended && received.len() <= limits.max_head_bytes {
            continue;
        }
        match parse_request_head(&received, limits) {
            Ok(Parsed::Complete { head, consumed }) => return Ok((head, received.split_off(consumed))),
            Ok(Parsed::Partial) => {}
            Err(error) => return Err(NoRequest::Refused(error.status(), error.to_string())),
        }
    }
}

/// Reads the body declared by `Content-Length`, or sent chunked, up to `limit` bytes.
fn read_body(
    mut socket: &TcpStream,
    head: &RequestHead,
    leftover: Vec<u8>,
    config: &super::ServerBuilder,
    deadline: Instant,
) -> Result<Vec<u8>, NoRequest> {
    let limit = config.max_body_bytes;
    let chunked = head.has_transfer_encoding();
    if !chunked && head.content_length() == 0 {
        return Ok(Vec::new());
    }
    if head.content_length() > limit as u64 {
        return Err(NoRequest::Refused(413, format!("request body larger than {limit} bytes")));
    }
    // A client that sent `Expect: 100-continue` waits for this before it sends the body (RFC 9110
    // §10.1.1); without it, it would wait a second or more and then send the body anyway.
    if head.expects_continue() && leftover.is_empty() {
        let _ = socket.set_write_timeout(Some(ANSWER_WRITE_TIMEOUT));
        socket.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").map_err(|_| NoRequest::Gone)?;
    }
    let raw = io::Cursor::new(leftover).chain(DeadlineReader { socket, deadline });
    let mut body = Vec::new();
    let read = if chunked {
        let max_trailer_bytes = config.head_limits.max_head_bytes;
        ChunkedReader::with_trailer_limit(BufReader::new(raw), max_trailer_bytes)
            .take(limit as u64 + 1)
            .read_to_end(&mut body)
    } else {
        raw.take(head.content_length()).read_to_end(&mut body)
    };
    match read {
        Ok(_) if body.len() > limit => Err(NoRequest::Refused(413, format!("request body larger than {limit} bytes"))),
        Ok(_) if !chunked && (body.len() as u64) < head.content_length() => Err(NoRequest::Gone),
        Ok(_) => Ok(body),
        Err(e) if is_timeout(&e) => Err(NoRequest::Refused(408, "request body not received in time".to_string())),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            Err(NoRequest::Refused(400, format!("malformed chunked body: {e}")))
        }
        Err(_) => Err(NoRequest::Gone),
    }
}

/// Reads from the socket with the read timeout set to what is left of the request deadline.
struct DeadlineReader<'a> {
    socket: &'a TcpStream,
    deadline: Instant,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.socket.set_read_timeout(Some(left))?;
        let mut socket = self.socket;
        socket.read(buf)
    }
}

/// Sends a complete response, or returns the stream to start.
fn respond(shared: &Shared, socket: &Arc<TcpStream>, request: &Request, response: Response) -> Option<StreamStart> {
    let config = &shared.config;
    let cors = config.cors.headers(request.header("origin"));
    let mut headers = borrowed(&cors);
    headers.extend(response.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let is_head = request.method() == "HEAD";
    let body = match response.body {
        Body::Bytes(bytes) => {
            let mut out = closing_response_head(response.status, &headers, bytes.len());
            if !is_head {
                out.extend_from_slice(&bytes);
            }
            answer(socket, &out);
            return None;
        }
        streaming => streaming,
    };
    let framing = BodyFraming::for_version(request.version());
    let head = stream_response_head_for(framing, response.keep_alive, &headers);
    if is_head {
        // A response to HEAD has the head only: no body, not even the last chunk.
        answer(socket, &head);
        return None;
    }
    let intro = config.retry.map(retry_line).unwrap_or_default();
    let source = match body {
        Body::Hub(hub) => StreamSource::Hub { hub, last_event_id: last_event_id(request).map(str::to_string) },
        Body::Stream(run) => StreamSource::PerConnection(run),
        Body::Bytes(_) => unreachable!("plain bodies were answered above"),
    };
    Some(StreamStart { framing, head, intro, source })
}

/// A `retry:` line with no blank line after it: browsers take it as it is read, and it joins the
/// block of the first event, so no client sees an event made of a `retry:` alone.
pub(super) fn retry_line(retry: Duration) -> Vec<u8> {
    format!("retry: {}\n", retry.as_millis()).into_bytes()
}

/// Header pairs as the response writers take them.
pub(super) fn borrowed<'a>(headers: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    headers.iter().map(|(name, value)| (*name, value.as_str())).collect()
}

/// Runs a handler's stream closure on this thread, with a watcher thread beside it that notices
/// the client leave and sends heartbeats. The connection closes, and `on_close` runs, when the
/// closure returns (or panics) or the client leaves, whichever comes first.
fn stream_per_connection(
    shared: &Shared,
    socket: &Arc<TcpStream>,
    framing: BodyFraming,
    head: &[u8],
    intro: &[u8],
    run: Box<dyn FnOnce(EventStream) + Send>,
) {
    let config = &shared.config;
    let stream = Arc::new(StreamSocket::new(Arc::clone(socket), framing, config.stream_write_timeout));
    if stream.write_head(head).is_err() || stream.write_blocking(intro).is_err() {
        return stream.close();
    }
    let watched = Arc::clone(&stream);
    let heartbeat = config.stream_heartbeat;
    let watcher = thread::Builder::new()
        .name("bare-sse-stream-watcher".to_string())
        .stack_size(super::USER_CODE_STACK_BYTES)
        .spawn(move || watched.watch(heartbeat));
    let Ok(watcher) = watcher else { return stream.close() };
    let _ = catch_unwind(AssertUnwindSafe(|| run(EventStream::new(Arc::clone(&stream)))));
    stream.end();
    let _ = watcher.join();
}

/// The client's last event id: the `Last-Event-ID` header a browser sends when it reconnects, or a
/// `lastEventId` / `last_event_id` query parameter (a first connection cannot set headers). Empty
/// means none.
fn last_event_id(request: &Request) -> Option<&str> {
    let header = request.header("last-event-id");
    let query = || request.query_param("lastEventId").or_else(|| request.query_param("last_event_id"));
    header.or_else(query).filter(|id| !id.is_empty())
}

/// Writes a complete response and closes the connection gracefully: shut the write side (the
/// client sees the end), then read and drop what the client still sends for a moment, since
/// closing with unread input would reset the connection and could destroy the answer in flight.
fn answer(mut socket: &TcpStream, response: &[u8]) {
    let _ = socket.set_write_timeout(Some(ANSWER_WRITE_TIMEOUT));
    if socket.write_all(response).is_err() {
        return;
    }
    let _ = socket.shutdown(Shutdown::Write);
    let deadline = Instant::now() + CLOSE_LINGER;
    let mut discarded = [0u8; 1024];
    let mut total = 0;
    while total < CLOSE_LINGER_BYTES {
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
