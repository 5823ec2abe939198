//! One connection, start to end: read a request within the limits, route it, answer or stream,
//! and then either close or wait for the next request (a persistent connection, RFC 9112 §9.3).
//!
//! A connection stays open after a response that ends (a page, JSON, an error the handler chose,
//! a per-connection stream that returned) unless the client asked for `Connection: close` (or
//! spoke HTTP/1.0 without `keep-alive`), it reached the server's request limit, or the server is
//! stopping. Refused requests (a broken head or body, a body too large or too slow, a panicking
//! handler) always close: after them, the server cannot tell where the next request would begin.
//! Bytes that arrive after a request's body are the next request's start (pipelining): they are
//! kept, and the next request is answered after this one.
//!
//! Each request, in order:
//! 1. a head that is malformed, too large, or not complete in time: `400`/`414`/`431`/`505`/`408`;
//! 2. `OPTIONS` on a routed path: the CORS preflight answer, `204`;
//! 3. no route for the path: `404`; routes, but not for this method: `405` with `Allow`;
//! 4. a body longer than the limit: `413`; a broken one: `400`; not complete in time: `408`;
//! 5. the handler runs (a panic becomes `500`), and its response is sent: a plain body, or a
//!    stream.
//!
//! 6. the connection waits for the next request for the keep-alive timeout, as an idle connection
//!    the server may close first when it is full.
//!
//! Connections past the connection limit never get here: the overflow answerer answers them.

use std::io::{self, BufReader, Read, Write};
use std::net::TcpStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::event_stream::EventStream;
use super::hub_client::{self, Joining, NotStarted};
use super::late_watch::{LateWatch, WatchEnding};
use super::linger::linger;
use super::response::{Body, HubStream, Response};
use super::router::Routed;
use super::stream_socket::{StreamSocket, Watched};
use super::{Request, Shared, StreamBody};
use crate::compress::{BodyEncoder, Offers};
use crate::http::{
    complete_response, stream_response_head_for, text_response, with_event_stream_fields, BodyFraming, BodyRule,
    ChunkedReader, HeadReader, Persistence, RequestHead, RequestHeads, Version, READ_CHUNK_BYTES,
};
use crate::net::{is_timeout, read_head_by, DeadlineReader, HeadError, TimedSocket};
use crate::Hub;

/// How long writing a short, complete answer (an error, a page) may make no progress: such a
/// client is either reading or gone.
const ANSWER_WRITE_TIMEOUT: Duration = Duration::from_millis(500);

/// Why no request came.
enum NoRequest {
    /// Refused with this status and message; `method` is the request's, once its head was read.
    Refused { status: u16, message: String, method: Option<String> },
    /// The client left or the connection broke.
    Gone,
}

impl NoRequest {
    /// A refusal of a request whose head could not be read.
    fn refused(status: u16, message: impl Into<String>) -> NoRequest {
        NoRequest::Refused { status, message: message.into(), method: None }
    }

    /// The same refusal, of a request whose head said `method`.
    fn of_method(self, method: &str) -> NoRequest {
        match self {
            NoRequest::Refused { status, message, .. } => {
                NoRequest::Refused { status, message, method: Some(method.to_string()) }
            }
            NoRequest::Gone => NoRequest::Gone,
        }
    }
}

/// What an exchange left the connection ready for.
pub(super) enum Next {
    /// Another request: these bytes of it (perhaps none yet) were read with the last one.
    Request(Vec<u8>),
    /// Nothing: the connection is closed, or closes now.
    Close,
    /// A stream to run. It is run by [`serve`] itself, after the frames that read and answered
    /// the request have returned: a stream may last for days, and an idle one should hold as
    /// few resident stack pages as it can.
    Stream(Box<StreamStart>),
}

/// Serves connection `id` until it closes.
pub(super) fn serve(shared: &Shared, socket: &Arc<TcpStream>, id: u64) {
    // Events are small writes that must leave at once: Nagle's algorithm would hold them back.
    let _ = socket.set_nodelay(true);
    let socket = &TimedSocket::new(Arc::clone(socket));
    let config = &shared.config;
    let mut received = Vec::new();
    // What the keep-alive wait reads into, kept from one request to the next: a new one each time
    // would be an allocation too large for the allocator's per-thread cache, its costliest kind.
    let mut read_buffer = Vec::new();
    let mut deadline = Instant::now() + config.request_timeout;
    for count in 1.. {
        let last = count >= config.max_requests_per_connection || shared.stopping.load(Ordering::SeqCst);
        let next = match exchange(shared, socket, received, deadline, last) {
            Next::Stream(stream) => {
                // A hub stream lasts, and its connection closes after it: it keeps no buffer.
                if stream.is_hub() {
                    read_buffer = Vec::new();
                }
                stream.run_on(shared, socket, id)
            }
            next => next,
        };
        match next {
            Next::Request(ahead) => received = ahead,
            Next::Close | Next::Stream(_) => return,
        }
        if received.is_empty() {
            match wait_for_request(shared, socket, id, &mut read_buffer) {
                Some(first_bytes) => received = first_bytes,
                None => return,
            }
        }
        deadline = Instant::now() + config.request_timeout;
    }
}

/// Waits up to the keep-alive timeout for the first bytes of the next request, as an idle
/// connection that the server may close to make room. Returns them, read through `buffer`, if
/// they came.
fn wait_for_request(shared: &Shared, socket: &TimedSocket, id: u64, buffer: &mut Vec<u8>) -> Option<Vec<u8>> {
    let ticket = shared.begin_idle(id);
    buffer.resize(READ_CHUNK_BYTES, 0);
    let read = socket.set_read_timeout(shared.config.keep_alive_timeout).and_then(|()| (&**socket).read(buffer));
    // Taking the ticket back first: a connection closed to make room must not go on, even if a
    // request arrived at the same moment.
    let kept = shared.end_idle(ticket);
    match read {
        Ok(n) if n > 0 && kept => Some(buffer[..n].to_vec()),
        _ => None,
    }
}

/// Reads one request (whose first bytes may be in `received` already), answers it, and says what
/// comes next. `last` closes the connection after the answer.
///
/// Never inlined: its frame (the request, the response, the head being parsed) must be gone from
/// the stack before a stream that follows runs for days on this thread, so that an idle stream
/// keeps no more stack pages resident than it needs.
#[inline(never)]
fn exchange(shared: &Shared, socket: &TimedSocket, received: Vec<u8>, deadline: Instant, last: bool) -> Next {
    match read_request(shared, socket, received, deadline, last) {
        Ok(Routing::Handle { request, handler, persistence, ahead }) => {
            handle_on(shared, socket, &request, &*handler, Exchange { persistence, ahead })
        }
        Ok(Routing::Answered(next)) => next,
        Err(NoRequest::Gone) => Next::Close,
        Err(NoRequest::Refused { status, message, method }) => {
            refuse(shared, socket, method.as_deref(), status, &message);
            Next::Close
        }
    }
}

/// Answers a request that was refused, and closes the connection. Never inlined, as `answer` is
/// not.
#[inline(never)]
fn refuse(shared: &Shared, socket: &TimedSocket, method: Option<&str>, status: u16, message: &str) {
    shared.metrics.answered(status);
    answer(socket, &text_response(method, status, &[], &format!("{message}\n")));
}

/// How one request's answer treats its connection.
pub(super) struct Exchange {
    /// Whether the connection stays open after the answer.
    pub persistence: Persistence,
    /// Bytes of the next request read with this one.
    pub ahead: Vec<u8>,
}

impl Exchange {
    /// The answer to a request read by someone else: nothing can follow it.
    pub fn only() -> Exchange {
        Exchange { persistence: Persistence::Close, ahead: Vec::new() }
    }
}

/// Calls `handler` for a request that has been read by someone else, and sends its answer or
/// returns its stream (to [`run`](StreamStart::run) on the same socket).
pub(super) fn handle(
    shared: &Shared,
    socket: &Arc<TcpStream>,
    request: Request,
    handler: &dyn super::Handler,
    exchange: Exchange,
) -> Next {
    handle_on(shared, &TimedSocket::new(Arc::clone(socket)), &request, handler, exchange)
}

/// Calls `handler` for a request that has been read, and sends its answer or returns its stream.
fn handle_on(
    shared: &Shared,
    socket: &TimedSocket,
    request: &Request,
    handler: &dyn super::Handler,
    exchange: Exchange,
) -> Next {
    let Ok(response) = catch_unwind(AssertUnwindSafe(|| handler.handle(request))) else {
        shared.metrics.answered(500);
        answer(socket, &text_response(Some(request.method()), 500, &[], "the handler failed\n"));
        return Next::Close;
    };
    // The handler's response and the headers are dropped before a stream starts (the request, by
    // the caller, which owns it), so that an idle stream holds nothing of them for its whole life.
    match respond(shared, socket, request, response, exchange) {
        Responded::Complete(next) => next,
        Responded::Stream(stream) => Next::Stream(Box::new(stream)),
    }
}

/// A stream whose head is ready to go, with what it needs from its request.
pub(super) struct StreamStart {
    /// The answer's status, counted once the stream starts.
    status: u16,
    framing: BodyFraming,
    head: Vec<u8>,
    /// The first body bytes: a `retry:` line, or nothing.
    intro: Vec<u8>,
    source: StreamSource,
}

enum StreamSource {
    Hub { hub: Hub, joining: Joining },
    PerConnection(PerConnectionStream),
}

impl StreamStart {
    /// Whether the stream is a hub's: one that lasts until the client leaves or the server stops,
    /// after which the connection closes.
    fn is_hub(&self) -> bool {
        matches!(self.source, StreamSource::Hub { .. })
    }

    /// Runs the stream of a request read by someone else to its end, on the socket that
    /// [`handle`] answered it on.
    pub(super) fn run(self, shared: &Shared, socket: &Arc<TcpStream>, id: u64) -> Next {
        self.run_on(shared, &TimedSocket::new(Arc::clone(socket)), id)
    }

    /// Runs the stream to its end; then the connection closes, or serves the next request.
    fn run_on(self, shared: &Shared, socket: &TimedSocket, id: u64) -> Next {
        let StreamStart { status, framing, head, intro, source } = self;
        match source {
            // A hub stream lasts until the client leaves or the server stops: it always closes.
            StreamSource::Hub { hub, joining } => {
                run_hub_stream(shared, socket, id, status, framing, head, intro, hub, joining);
                Next::Close
            }
            StreamSource::PerConnection(stream) => {
                shared.metrics.answered(status);
                stream.run(shared, socket, id, framing, head, &intro)
            }
        }
    }
}

/// Joins `hub` and streams it to the client until it leaves or the server stops.
///
/// Never inlined, as `exchange` is not: the stack pages an idle stream keeps resident are those
/// of the deepest call its thread ever made, so the frames of paths that exclude each other (a hub
/// stream, a per-connection stream, a complete answer) are kept apart rather than merged into one
/// frame as wide as all of them.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn run_hub_stream(
    shared: &Shared,
    socket: &TimedSocket,
    id: u64,
    status: u16,
    framing: BodyFraming,
    head: Vec<u8>,
    intro: Vec<u8>,
    hub: Hub,
    joining: Joining,
) {
    let stream = on_the_heap(|| StreamSocket::new(Arc::clone(socket.shared()), framing, hub.write_timeout()));
    let tracked = shared.track_stream(id, &stream, StreamBody::Hub { hub: hub.clone() });
    let joined = || shared.metrics.answered(status);
    let on_started = || tracked.started();
    let started = hub_client::stream_from_hub(&hub, stream, head, intro, joining, joined, on_started);
    if let Err(NotStarted::HubUnavailable) = started {
        shared.metrics.answered(503);
        // Only a request whose answer has a body starts a stream: the body is sent.
        answer(socket, &text_response(None, 503, &[], "cannot start a stream now\n"));
    }
}

/// A stream's socket, made on the heap by a call of its own: made by the caller, its fields would
/// take a slot in the caller's frame, which stays on the stack for the stream's whole life.
#[inline(never)]
fn on_the_heap(make: impl FnOnce() -> StreamSocket) -> Arc<StreamSocket> {
    Arc::new(make())
}

/// What reading and routing a request came to.
enum Routing {
    /// A request for this handler.
    Handle { request: Request, handler: Arc<dyn super::Handler>, persistence: Persistence, ahead: Vec<u8> },
    /// A preflight, 404 or 405 was sent.
    Answered(Next),
}

/// Whether the connection may stay open after answering `head`.
fn persistence_for(head: &RequestHead, last: bool) -> Persistence {
    match head.version {
        _ if last || !head.wants_keep_alive() => Persistence::Close,
        Version::Http11 => Persistence::KeepOpen,
        Version::Http10 => Persistence::KeepAliveHttp10,
    }
}

/// Reads a request's head and body, and finds its handler, or answers it at once (a preflight, a
/// 404, a 405). Never inlined: its frame is gone before the handler runs (see `run_hub_stream`).
#[inline(never)]
fn read_request(
    shared: &Shared,
    socket: &TimedSocket,
    received: Vec<u8>,
    deadline: Instant,
    last: bool,
) -> Result<Routing, NoRequest> {
    let config = &shared.config;
    let (head, ahead) = read_head(socket, &config.head_limits, received, deadline)?;
    let preflight = head.method == "OPTIONS"
        && shared.router.options_route(&head.path).is_none()
        && (head.path == "*" || shared.router.has_path(&head.path));
    let routed = (!preflight).then(|| shared.router.find(&head.method, &head.path));
    let mut persistence = persistence_for(&head, last);
    // The server's own answers (preflight, 404, 405) do not read a request body: with one, the
    // connection closes after the answer, since the next request would begin after it.
    let has_body = head.content_length() > 0 || head.has_transfer_encoding();
    if has_body && !matches!(routed, Some(Routed::Found(_))) {
        persistence = Persistence::Close;
    }
    let unrouted = match routed {
        Some(Routed::Found(handler)) => {
            let handler = Arc::clone(handler);
            let (request, ahead) = read_handled(socket, head, ahead, config, deadline)?;
            return Ok(Routing::Handle { request, handler, persistence, ahead });
        }
        None => Unrouted::Preflight,
        Some(Routed::NotFound) => Unrouted::NotFound,
        Some(Routed::MethodNotAllowed(allowed)) => Unrouted::MethodNotAllowed(allowed),
    };
    Ok(Routing::Answered(answer_unrouted(shared, socket, &head, unrouted, persistence, ahead)))
}

/// A request for a handler, its body read; with the bytes read after it. Never inlined: its
/// frame is not on the stack while the head is parsed (see `run_hub_stream`).
#[inline(never)]
fn read_handled(
    socket: &TimedSocket,
    head: Box<RequestHead>,
    ahead: Vec<u8>,
    config: &super::ServerBuilder,
    deadline: Instant,
) -> Result<(Request, Vec<u8>), NoRequest> {
    let (body, ahead) = read_body(socket, &head, ahead, config, deadline).map_err(|e| e.of_method(&head.method))?;
    Ok((Request::with_boxed_head(head, body), ahead))
}

/// A request no handler takes.
enum Unrouted {
    /// A CORS preflight (`OPTIONS`) for a path whose routes do not take `OPTIONS` themselves.
    Preflight,
    NotFound,
    /// Routes match the path, but none takes the method; these are the ones they take.
    MethodNotAllowed(Vec<String>),
}

/// The server's own answer to a request no handler takes: a preflight, a 404 or a 405. Never
/// inlined: its frame is not part of a handled request's (see `run_hub_stream`).
#[inline(never)]
fn answer_unrouted(
    shared: &Shared,
    socket: &TimedSocket,
    head: &RequestHead,
    unrouted: Unrouted,
    persistence: Persistence,
    ahead: Vec<u8>,
) -> Next {
    let config = &shared.config;
    let answered = |status: u16, headers: &[(&str, &str)], body: &str| {
        shared.metrics.answered(status);
        let mut headers = headers.to_vec();
        if !body.is_empty() {
            headers.push(("Content-Type", "text/plain; charset=utf-8"));
        }
        let response = complete_response(Some(&head.method), status, persistence, &headers, body.as_bytes());
        send_complete(socket, &response, persistence, ahead)
    };
    // Only these refusals need the CORS headers now; a handled request's response adds its own.
    let cors = || config.cors.headers(head.header("origin"));
    match unrouted {
        Unrouted::Preflight => {
            let methods =
                shared.router.methods_for(&head.path, head.header("access-control-request-method")).join(", ");
            let requested_headers = head.header_list("access-control-request-headers");
            let headers = config.cors.preflight_headers(head.header("origin"), &methods, requested_headers.as_deref());
            answered(204, &borrowed(&headers), "")
        }
        Unrouted::MethodNotAllowed(mut allowed) => {
            allowed.push("OPTIONS".to_string());
            let allow = allowed.join(", ");
            let cors = cors();
            let mut headers = borrowed(&cors);
            headers.push(("Allow", &allow));
            answered(405, &headers, "method not allowed\n")
        }
        Unrouted::NotFound => answered(404, &borrowed(&cors()), "not found\n"),
    }
}

/// Reads until the request head is complete, refusing it as soon as it breaks a limit. `received`
/// holds the bytes already read (the start of a pipelined request, or none). Returns the head and
/// the bytes received after it.
fn read_head(
    socket: &TimedSocket,
    limits: &crate::http::HeadLimits,
    received: Vec<u8>,
    deadline: Instant,
) -> Result<(Box<RequestHead>, Vec<u8>), NoRequest> {
    // The head is read straight into the reader's heap buffer: a buffer on the stack would stay in
    // this thread's resident stack pages for as long as its stream lasts.
    let mut reader = HeadReader::starting_with(RequestHeads(*limits), received);
    read_head_by(&mut reader, &mut &**socket, Some(socket), deadline).map_err(|error| match error {
        HeadError::Refused(error) => NoRequest::refused(error.status(), error.to_string()),
        HeadError::Io(e) if e.kind() == io::ErrorKind::TimedOut => {
            NoRequest::refused(408, "request head not received in time")
        }
        HeadError::Io(_) => NoRequest::Gone,
    })
}

/// Reads the body declared by `Content-Length`, or sent chunked, up to the body limit; `received`
/// holds the bytes already read after the head. Returns the body and the bytes read after it.
///
/// Never inlined: its decoders' frame is needed only while a body is read (see `run_hub_stream`).
#[inline(never)]
fn read_body(
    socket: &TimedSocket,
    head: &RequestHead,
    received: Vec<u8>,
    config: &super::ServerBuilder,
    deadline: Instant,
) -> Result<(Vec<u8>, Vec<u8>), NoRequest> {
    let limit = config.max_body_bytes;
    let chunked = head.has_transfer_encoding();
    if !chunked && head.content_length() == 0 {
        return Ok((Vec::new(), received));
    }
    if head.content_length() > limit as u64 {
        return Err(NoRequest::refused(413, format!("request body larger than {limit} bytes")));
    }
    // A client that sent `Expect: 100-continue` waits for this before it sends the body (RFC 9110
    // §10.1.1); without it, it would wait a second or more and then send the body anyway.
    if head.expects_continue() && received.is_empty() {
        let _ = socket.set_send_timeout(ANSWER_WRITE_TIMEOUT);
        (&**socket).write_all(b"HTTP/1.1 100 Continue\r\n\r\n").map_err(|_| NoRequest::Gone)?;
    }
    let raw = io::Cursor::new(received).chain(DeadlineReader::over(&**socket, Some(socket), deadline));
    let mut body = Vec::new();
    let (read, ahead) = if chunked {
        let max_trailer_bytes = config.head_limits.max_head_bytes;
        let mut decoder = ChunkedReader::with_trailer_limit(BufReader::new(raw), max_trailer_bytes);
        let read = (&mut decoder).take(limit as u64 + 1).read_to_end(&mut body);
        // What the decoder's buffer and the bytes received before it hold past the body's end.
        let buffered = decoder.into_inner();
        let mut ahead = buffered.buffer().to_vec();
        let (received, _) = buffered.into_inner().into_inner();
        ahead.extend_from_slice(&received.get_ref()[received.position() as usize..]);
        (read, ahead)
    } else {
        let mut limited = raw.take(head.content_length());
        let read = limited.read_to_end(&mut body);
        let (received, _) = limited.into_inner().into_inner();
        (read, received.get_ref()[received.position() as usize..].to_vec())
    };
    match read {
        Ok(_) if body.len() > limit => Err(NoRequest::refused(413, format!("request body larger than {limit} bytes"))),
        Ok(_) if !chunked && (body.len() as u64) < head.content_length() => Err(NoRequest::Gone),
        Ok(_) => Ok((body, ahead)),
        Err(e) if is_timeout(&e) => Err(NoRequest::refused(408, "request body not received in time")),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            Err(NoRequest::refused(400, format!("malformed chunked body: {e}")))
        }
        Err(_) => Err(NoRequest::Gone),
    }
}

/// What answering a handler's response came to.
enum Responded {
    /// A complete response was sent.
    Complete(Next),
    /// A stream, ready to start.
    Stream(StreamStart),
}

/// Header fields that say how the message is framed and whether the connection persists: the
/// server writes them itself, so a handler's own are dropped (a handler's `Connection: close`
/// still closes the connection).
const FRAMING_HEADERS: [&str; 3] = ["connection", "content-length", "transfer-encoding"];

/// Sends a complete response, or returns the stream to start.
fn respond(
    shared: &Shared,
    socket: &TimedSocket,
    request: &Request,
    response: Response,
    mut exchange: Exchange,
) -> Responded {
    let config = &shared.config;
    let Response { status, headers: handler_headers, body, keep_alive, write_profiles } = response;
    let cors = config.cors.headers(request.header("origin"));
    let headers = response_headers(&cors, &handler_headers, &mut exchange.persistence);
    // What may follow the head is decided in one place, for every kind of answer.
    let rule = BodyRule::for_response(Some(request.method()), status);
    match body {
        Body::Bytes(bytes) => send_whole(shared, socket, request, status, &headers, &bytes, exchange),
        // A stream with a status that has no body (204, 304) is its head alone: the closure never
        // runs, and the hub gets no client.
        _ if rule == BodyRule::Bodiless => send_whole(shared, socket, request, status, &headers, &[], exchange),
        body => {
            let answer = StreamAnswer { status, headers, body, keep_alive, write_profiles, rule };
            start_stream(shared, socket, request, answer, exchange)
        }
    }
}

/// A handler's answer whose body is events: a stream, or events complete at once.
struct StreamAnswer<'a> {
    status: u16,
    headers: Vec<(&'a str, &'a str)>,
    body: Body,
    /// [`Response::keep_alive`].
    keep_alive: bool,
    write_profiles: Offers,
    rule: BodyRule,
}

/// Negotiates an answer of events (its coding, framing and persistence), and sends it if it is
/// complete, or returns the stream to start.
///
/// Never inlined: its frame is gone before a stream runs, and an idle stream keeps the stack
/// pages its thread touched (see `run_hub_stream`).
#[inline(never)]
fn start_stream(
    shared: &Shared,
    socket: &TimedSocket,
    request: &Request,
    answer: StreamAnswer,
    mut exchange: Exchange,
) -> Responded {
    let config = &shared.config;
    let StreamAnswer { status, mut headers, body, keep_alive, write_profiles, rule } = answer;
    // A draining server starts no stream: it tells the client to come back later, or to stop. An
    // answer complete at once is no stream.
    let streams = !matches!(body, Body::Events(_));
    if let Some(answer) = streams.then(|| shared.drain_answer(request)).flatten() {
        return Responded::Complete(send_complete(socket, &answer, Persistence::Close, exchange.ahead));
    }
    let framing = BodyFraming::for_version(request.version());
    let mut offers = write_profiles;
    offers.0.extend(config.write_profiles.0.iter().cloned());
    let coding = stream_coding(request, &body, &offers);
    if coding.varies {
        headers.push(("Vary", "Accept-Encoding"));
    }
    if let Some(content_coding) = &coding.content_coding {
        headers.push(("Content-Encoding", content_coding));
    }
    let body = match body {
        Body::Events(events) => {
            let events = CompleteEvents { events, keep_alive, encoder: coding.encoder };
            return events.send(shared, socket, request, status, headers, exchange);
        }
        streaming => streaming,
    };
    // The answer to HEAD: the head a GET gets, and no body, not even the last chunk.
    let streams_nothing = !rule.sends_body();
    let persists = stream_persists(framing, exchange.persistence, streams_nothing, &body);
    if !persists {
        exchange.persistence = Persistence::Close;
        if framing == BodyFraming::Chunked {
            headers.push(("Connection", "close"));
        }
    }
    // Datastar asks for `Connection: keep-alive` on its streams.
    let head = stream_response_head_for(status, framing, keep_alive && persists, &headers);
    if streams_nothing {
        shared.metrics.answered(status);
        return Responded::Complete(send_complete(socket, &head, exchange.persistence, exchange.ahead));
    }
    let mut intro = config.retry.map(retry_line).unwrap_or_default();
    if matches!(&body, Body::Hub(hub) if hub.opening_comment) {
        intro.extend_from_slice(OPENING_COMMENT);
    }
    let source = stream_source(socket, request, body, exchange, coding);
    Responded::Stream(StreamStart { status, framing, head, intro, source })
}

/// The comment a hub stream opens with when its handler asks ([`Response::opening_comment`]).
///
/// [`Response::opening_comment`]: super::Response::opening_comment
const OPENING_COMMENT: &[u8] = b":\n";

/// The response's header fields: the CORS ones, then the handler's, less those that frame the
/// message, which the server writes itself (a handler's `Connection: close` still closes the
/// connection, through `persistence`).
fn response_headers<'a>(
    cors: &'a [(&'static str, String)],
    handler_headers: &'a [(String, String)],
    persistence: &mut Persistence,
) -> Vec<(&'a str, &'a str)> {
    // Room for the negotiation's headers too: a vector outgrown step by step leaves each smaller
    // buffer in this thread's allocator cache, where it stays while a stream runs on the thread.
    let mut headers = Vec::with_capacity(cors.len() + handler_headers.len() + 3);
    headers.extend(pairs(cors));
    for (name, value) in handler_headers {
        if FRAMING_HEADERS.iter().any(|framing| name.eq_ignore_ascii_case(framing)) {
            if name.eq_ignore_ascii_case("connection")
                && value.split(',').any(|o| o.trim().eq_ignore_ascii_case("close"))
            {
                *persistence = Persistence::Close;
            }
            continue;
        }
        headers.push((name.as_str(), value.as_str()));
    }
    headers
}

/// Sends a response whose body is `body`, all of it at once.
///
/// Never inlined, so that its frame is not part of a stream's (see `run_hub_stream`).
#[inline(never)]
fn send_whole(
    shared: &Shared,
    socket: &TimedSocket,
    request: &Request,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
    exchange: Exchange,
) -> Responded {
    shared.metrics.answered(status);
    let persistence = exchange.persistence;
    let out = complete_response(Some(request.method()), status, persistence, headers, body);
    Responded::Complete(send_complete(socket, &out, persistence, exchange.ahead))
}

/// An [`events`](super::Response::events) answer: events complete when the handler returned.
struct CompleteEvents {
    events: Vec<u8>,
    /// The handler asked for `Connection: keep-alive`, as Datastar's specification does.
    keep_alive: bool,
    /// The write profile's encoder, if the client accepts one on offer.
    encoder: Option<Box<dyn BodyEncoder>>,
}

impl CompleteEvents {
    /// Sends the answer as one complete response in one write: an event stream's head with a
    /// `Content-Length`, then the server's `retry` line and the events, encoded with the write
    /// profile if one was chosen. So the connection can serve the next request at once, with no
    /// stream to run and no body end to write after the events. Never inlined, so that its frame
    /// is not part of a stream's (see `run_hub_stream`).
    #[inline(never)]
    fn send(
        self,
        shared: &Shared,
        socket: &TimedSocket,
        request: &Request,
        status: u16,
        mut headers: Vec<(&str, &str)>,
        exchange: Exchange,
    ) -> Responded {
        let CompleteEvents { events, keep_alive, encoder } = self;
        let mut body = match shared.config.retry {
            Some(retry) => [retry_line(retry), events].concat(),
            None => events,
        };
        if let Some(mut encoder) = encoder {
            let mut encoded = Vec::with_capacity(body.len() / 2 + 32);
            encoder.encode(&body, &mut encoded);
            encoder.finish(&mut encoded);
            body = encoded;
        }
        // HTTP/1.1 keeps the connection by default; the field is what Datastar asks to see.
        // `complete_response` writes the HTTP/1.0 one itself.
        if keep_alive && exchange.persistence == Persistence::KeepOpen {
            headers.push(("Connection", "keep-alive"));
        }
        let headers = with_event_stream_fields(&headers);
        send_whole(shared, socket, request, status, &headers, &body, exchange)
    }
}

/// The content coding of a stream's body.
struct StreamCoding {
    /// The answer depends on `Accept-Encoding`: a coding was on offer.
    varies: bool,
    /// The coding chosen, for `Content-Encoding`.
    content_coding: Option<String>,
    /// A per-connection stream's encoder for the chosen write profile.
    encoder: Option<Box<dyn BodyEncoder>>,
    /// A hub client gets the hub's gzip-compressed events.
    hub_gzip: bool,
}

/// Chooses the coding of a stream's body from what the client accepts (every `Accept-Encoding`
/// line counts: a later `gzip;q=0` refuses what an earlier line took): for a per-connection
/// stream, one of the write profiles on offer; for a hub that compresses (every event compressed
/// once already), gzip or nothing.
fn stream_coding(request: &Request, body: &Body, offers: &Offers) -> StreamCoding {
    let accept_encoding = request.head().header_list("accept-encoding");
    let mut coding = StreamCoding { varies: false, content_coding: None, encoder: None, hub_gzip: false };
    match body {
        Body::Stream(_) | Body::Events(_) if !offers.is_empty() => {
            coding.varies = true;
            if let Some(profile) = offers.negotiate(accept_encoding.as_deref()) {
                coding.content_coding = Some(profile.content_coding().to_string());
                coding.encoder = Some(profile.encoder());
            }
        }
        Body::Hub(stream) if stream.hub.compresses() => {
            coding.varies = true;
            coding.hub_gzip = crate::http::choose_coding(accept_encoding.as_deref(), &["gzip"]).is_some();
            coding.content_coding = coding.hub_gzip.then(|| "gzip".to_string());
        }
        _ => {}
    }
    coding
}

/// Whether a stream's connection stays open after it: only if the stream can end (a chunked body,
/// not a hub) and the exchange allows it. The head alone (the answer to HEAD) streams nothing, so
/// nothing stops its connection from staying open but the framing, whose head on HTTP/1.0 says
/// `Connection: close`.
fn stream_persists(framing: BodyFraming, persistence: Persistence, streams_nothing: bool, body: &Body) -> bool {
    framing == BodyFraming::Chunked
        && persistence != Persistence::Close
        && (streams_nothing || matches!(body, Body::Stream(_)))
}

/// Where a stream's events come from: a hub it joins (with what its lifecycle hooks are told), or
/// the handler's closure. Never inlined: its frame is not part of the caller's (see
/// `run_hub_stream`).
#[inline(never)]
fn stream_source(
    socket: &TimedSocket,
    request: &Request,
    body: Body,
    exchange: Exchange,
    coding: StreamCoding,
) -> StreamSource {
    match body {
        Body::Hub(stream) => {
            let HubStream { hub, selection, resume_header, resume_after, ends_at, history, .. } = *stream;
            let last_event_id = resume_after.or_else(|| last_event_id(request).map(str::to_string));
            // A wall-clock time, as a point on the clock the watch waits by.
            // One too far to represent (a token valid for centuries) is no end.
            let ends_at = ends_at.and_then(|time| {
                Instant::now().checked_add(time.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
            });
            // What the hub's lifecycle hooks are told: kept for the stream's life, so only for a
            // hub that has hooks.
            let peer_addr = || socket.peer_addr().ok();
            let client = hub.has_hooks().then(|| Box::new(request.client_info(peer_addr(), last_event_id.clone())));
            let selection = Box::new(selection);
            let joining =
                Joining { last_event_id, gzip: coding.hub_gzip, selection, resume_header, ends_at, history, client };
            StreamSource::Hub { hub, joining }
        }
        Body::Stream(run) => {
            StreamSource::PerConnection(PerConnectionStream { run, exchange, encoder: coding.encoder })
        }
        Body::Bytes(_) | Body::Events(_) => unreachable!("`respond` sends a complete body before any stream starts"),
    }
}

/// Sends a complete response, in one write, then closes the connection or keeps it for the next
/// request.
fn send_complete(socket: &TimedSocket, response: &[u8], persistence: Persistence, ahead: Vec<u8>) -> Next {
    if persistence == Persistence::Close {
        answer(socket, response);
        return Next::Close;
    }
    let sent = socket.set_send_timeout(ANSWER_WRITE_TIMEOUT).and_then(|()| (&**socket).write_all(response));
    match sent {
        Ok(()) => Next::Request(ahead),
        Err(_) => Next::Close,
    }
}

/// A `retry:` line with no blank line after it: browsers take it as it is read, and it joins the
/// block of the first event, so no client sees an event made of a `retry:` alone.
pub(super) fn retry_line(retry: Duration) -> Vec<u8> {
    // Written without `format!` (see `http::decimal`): a stream's start runs on the connection
    // thread, within the two stack pages it keeps.
    let millis = u64::try_from(retry.as_millis()).unwrap_or(u64::MAX);
    [&b"retry: "[..], crate::http::decimal(millis, &mut [0; 20]).as_bytes(), b"\n"].concat()
}

/// Header pairs as the response writers take them.
pub(super) fn borrowed<'a>(headers: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    pairs(headers).collect()
}

fn pairs<'a>(headers: &'a [(&'static str, String)]) -> impl Iterator<Item = (&'a str, &'a str)> {
    headers.iter().map(|(name, value)| (*name, value.as_str()))
}

/// A handler's stream closure, ready to run on the connection's thread, with how its connection
/// ends and the write profile's encoder for its body, if one was chosen.
struct PerConnectionStream {
    run: Box<dyn FnOnce(EventStream) + Send>,
    exchange: Exchange,
    encoder: Option<Box<dyn BodyEncoder>>,
}

impl PerConnectionStream {
    /// Runs the closure on this thread. The head leaves with the first event, so that a short
    /// answer (a Datastar action's) takes a write for its head and events and one for its end;
    /// each event still leaves as it is sent. If the closure runs longer than a moment, a watcher
    /// thread starts beside it to send the head if it is still held, notice the client leave and
    /// send heartbeats (see `late_watch`). The stream
    /// ends, and `on_close` runs, when the closure returns (or panics) or the client leaves,
    /// whichever comes first. Then the connection closes, or, if the closure returned and the
    /// connection persists, the body ends and the connection is handed back for the next request
    /// once the watcher, if any, lets it go.
    ///
    /// Never inlined, so that its frame is not part of a hub stream's (see `run_hub_stream`).
    #[inline(never)]
    fn run(
        self,
        shared: &Shared,
        socket: &TimedSocket,
        id: u64,
        framing: BodyFraming,
        head: Vec<u8>,
        intro: &[u8],
    ) -> Next {
        let config = &shared.config;
        let PerConnectionStream { run, exchange: Exchange { persistence, ahead }, encoder } = self;
        let persistent = persistence != Persistence::Close;
        let stream = on_the_heap(|| {
            StreamSocket::with_persistence(
                Arc::clone(socket.shared()),
                framing,
                config.stream_write_timeout,
                persistent,
                encoder,
            )
        });
        // The stream sets the socket's send timeout through a record of its own while it runs.
        stream.assume_send_timeout(socket.send_timeout());
        let tracked = shared.track_stream(id, &stream, StreamBody::PerConnection);
        // The head (with the `retry:` line, if any) waits for the first event, to leave with it
        // (or with the body's end) in one write; a stream that lasts without writing gets it
        // from its watch.
        if stream.hold_head(head, intro).is_err() {
            stream.close();
            return Next::Close;
        }
        tracked.started();
        let watch = LateWatch::new(Arc::clone(&stream), config.stream_heartbeat, ahead);
        shared.watch_starter.schedule(Arc::clone(&watch));
        let returned = catch_unwind(AssertUnwindSafe(|| run(EventStream::new(Arc::clone(&stream))))).is_ok();
        if !(returned && persistent && stream.finish()) {
            stream.end();
            let _ = watch.end().join();
            return Next::Close;
        }
        let watched = match watch.end() {
            WatchEnding::Over(watched) => watched,
            // A watcher that started is blocked reading the socket until the client speaks or its
            // heartbeat time comes: meanwhile this connection waits like any idle one, and may be
            // closed for room. It set the socket's read timeout as it went.
            watcher @ WatchEnding::Watcher(_) => {
                socket.forget_read_timeout();
                let ticket = shared.begin_idle(id);
                let watched = watcher.join();
                if shared.end_idle(ticket) {
                    watched
                } else {
                    Watched::Closed
                }
            }
        };
        socket.assume_send_timeout(stream.send_timeout());
        match watched {
            Watched::Finished(ahead) => Next::Request(ahead),
            Watched::Closed => Next::Close,
        }
    }
}

/// The client's last event id: the `Last-Event-ID` header a browser sends when it reconnects, or a
/// `lastEventId` / `last_event_id` query parameter (a first connection cannot set headers). Empty
/// means none.
fn last_event_id(request: &Request) -> Option<&str> {
    let header = request.header("last-event-id");
    let query = || request.query_param("lastEventId").or_else(|| request.query_param("last_event_id"));
    header.or_else(query).filter(|id| !id.is_empty())
}

/// Writes a complete response and closes the connection gracefully (see `linger`): closing with
/// unread input would reset the connection and could destroy the answer in flight. Never inlined:
/// the connection ends after it, and its frame must not widen those of callers that go on.
#[inline(never)]
fn answer(socket: &TimedSocket, response: &[u8]) {
    let _ = socket.set_send_timeout(ANSWER_WRITE_TIMEOUT);
    if (&**socket).write_all(response).is_ok() {
        linger(socket);
    }
}
