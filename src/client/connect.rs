//! One connection attempt: connect, send the request, read the response head, follow redirects
//! (keeping credentials to their origin, and refusing a way from https to http), and set up the
//! body reader for whichever framing the server chose.

use std::io::{self, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ClientError;
use super::Config;
use crate::http::{is_chunked, ChunkedReader, HeadReader, ResponseHead, ResponseHeads, Url, MAX_RESPONSE_HEAD_BYTES};
use crate::net::{dial, read_head_by, HeadError, Stop};
use crate::parse::{EventReader, Parser};

/// Anything a connection can be: a `TcpStream`, or a TLS stream over one.
pub trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

/// An open connection to a server, as a connector returns it.
pub struct Connection {
    /// What the request is written to and the response read from.
    pub stream: Box<dyn ReadWrite>,
    /// The TCP socket underneath, if there is one: the client sets its read timeout on it and
    /// shuts it down to close the stream from another thread.
    pub socket: Option<TcpStream>,
}

impl Connection {
    /// A plain TCP connection.
    ///
    /// # Errors
    ///
    /// The `io::Error` of cloning the socket's handle (for example when the process has no file
    /// descriptor left).
    pub fn tcp(socket: TcpStream) -> io::Result<Connection> {
        let socket_handle = socket.try_clone()?;
        Ok(Connection { stream: Box::new(socket), socket: Some(socket_handle) })
    }
}

/// Opens connections for the client; the default dials TCP. Supply one to add TLS.
pub type Connector = Arc<dyn Fn(&Url, Duration) -> io::Result<Connection> + Send + Sync>;

/// The body reader of an open stream.
pub(super) type Events = EventReader<BufReader<Box<dyn Read + Send>>>;

pub(super) enum Opened {
    Stream(Box<Events>),
    /// `204 No Content`: the server says stop for good.
    NoContent,
}

/// Dials TCP to the URL's host, trying each address it resolves to, all within `timeout`.
pub(super) fn dial_tcp(url: &Url, timeout: Duration) -> io::Result<Connection> {
    if url.scheme != "http" {
        return Err(io::Error::new(io::ErrorKind::Unsupported, "https needs a TLS connector"));
    }
    Connection::tcp(dial(&url.host, url.port, Instant::now() + timeout)?)
}

/// Opens the stream: requests it, following redirects, until a server answers with the stream,
/// `204`, or an error.
pub(super) fn open(config: &Config, closing: &Stop, last_event_id: &str) -> Result<Opened, ClientError> {
    let mut url = config.url.clone();
    let mut method = config.method.as_str();
    let mut body = config.body.as_deref();
    // Whether the chain has reached another origin than the URL given: from then on, sensitive
    // headers stay behind, even on a way back, since the server that sent the client away chose
    // where it goes.
    let mut left_origin = false;
    for _ in 0..=config.max_redirects {
        let request = request_bytes(config, &url, method, body, last_event_id, !left_origin);
        let Answer { head, body: reader, socket } = request_head(config, closing, &url, &request)?;
        match head.status {
            200 => return event_reader(config, &head, reader, socket.as_ref(), last_event_id).map(Opened::Stream),
            204 => return Ok(Opened::NoContent),
            301 | 302 | 303 | 307 | 308 => {
                let next = redirect_target(&url, &head)?;
                left_origin |= !same_origin(&url, &next);
                url = next;
                // As browsers do: 303 always, and 301/302 after a POST, continue with a GET.
                if head.status == 303 || (head.status != 307 && head.status != 308 && method == "POST") {
                    method = "GET";
                    body = None;
                }
            }
            status => return Err(ClientError::Status(status)),
        }
    }
    Err(ClientError::TooManyRedirects(config.max_redirects))
}

/// A server's answer, its head read.
struct Answer {
    head: ResponseHead,
    /// The body, unframed: the bytes read after the head first.
    body: Box<dyn Read + Send>,
    /// The TCP socket underneath, if there is one.
    socket: Option<TcpStream>,
}

/// Connects to `url`, sends `request` and reads the response head: the connection within the
/// connect timeout, then the head within the connect timeout again, however it trickles in.
fn request_head(config: &Config, closing: &Stop, url: &Url, request: &[u8]) -> Result<Answer, ClientError> {
    if url.scheme == "https" && config.connector.is_none() {
        return Err(ClientError::TlsUnavailable { url: url.to_string() });
    }
    let connection = match &config.connector {
        Some(connector) => connector(url, config.connect_timeout),
        None => dial_tcp(url, config.connect_timeout),
    }
    .map_err(|e| ClientError::io(format!("connecting to {url}"), e))?;
    let Connection { mut stream, socket } = connection;
    let deadline = Instant::now() + config.connect_timeout;
    // Reads during the request's write (a connector's TLS handshake) wait no longer than this;
    // the head's own reads are bounded by the deadline.
    if let Some(socket) = &socket {
        socket.set_read_timeout(Some(config.connect_timeout)).map_err(|e| ClientError::io("setting a timeout", e))?;
    }
    closing.watch(socket.as_ref());
    stream.write_all(request).and_then(|()| stream.flush()).map_err(|e| ClientError::io("sending the request", e))?;
    let mut head_reader = HeadReader::new(ResponseHeads);
    let (head, rest) = read_head_by(&mut head_reader, &mut stream, socket.as_ref(), deadline).map_err(|e| match e {
        HeadError::Refused(error) => ClientError::BadResponse(error),
        HeadError::Io(e) => ClientError::io("reading the response head", e),
    })?;
    Ok(Answer { head, body: Box::new(io::Cursor::new(rest).chain(stream)), socket })
}

/// The events of a `200` answer with an event stream: the body, unframed, through a parser that
/// goes on from the last event id. Reads from then on wait at most the read timeout.
fn event_reader(
    config: &Config,
    head: &ResponseHead,
    reader: Box<dyn Read + Send>,
    socket: Option<&TcpStream>,
    last_event_id: &str,
) -> Result<Box<Events>, ClientError> {
    check_content_type(head)?;
    if let Some(socket) = socket {
        socket.set_read_timeout(config.read_timeout).map_err(|e| ClientError::io("setting a timeout", e))?;
    }
    let limit = config.max_event_bytes;
    let mut parser = Parser::with_limits(limit, limit).resume_from(last_event_id);
    if config.comments {
        parser = parser.with_comments();
    }
    Ok(Box::new(EventReader::with_parser(BufReader::new(body_reader(head, reader)), parser)))
}

/// Where a redirect leads, refusing a way from https to plain http: the request, credentials and
/// all, would go in the clear.
fn redirect_target(url: &Url, head: &ResponseHead) -> Result<Url, ClientError> {
    let location = head.header("location").ok_or(ClientError::RedirectWithoutLocation(head.status))?;
    let next = url.join(location).map_err(|reason| ClientError::InvalidUrl { url: location.to_string(), reason })?;
    if url.scheme == "https" && next.scheme == "http" {
        return Err(ClientError::InsecureRedirect { from: url.to_string(), to: next.to_string() });
    }
    Ok(next)
}

/// Whether two URLs have the same origin (scheme, host and port), which is where credentials
/// may go. Schemes are already lower case; host names are compared ignoring ASCII case.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme == b.scheme && a.host.eq_ignore_ascii_case(&b.host) && a.port == b.port
}

/// The request: method, target, the client's own headers, the configured ones (the sensitive
/// ones only with `send_sensitive`), and the body.
fn request_bytes(
    config: &Config,
    url: &Url,
    method: &str,
    body: Option<&[u8]>,
    last_event_id: &str,
    send_sensitive: bool,
) -> Vec<u8> {
    let mut head = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n",
        url.target,
        url.authority()
    );
    if !last_event_id.is_empty() {
        head.push_str(&format!("Last-Event-ID: {last_event_id}\r\n"));
    }
    for header in config.headers.iter().filter(|header| send_sensitive || !header.sensitive) {
        head.push_str(&format!("{}: {}\r\n", header.name, header.value));
    }
    if let Some(body) = body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default());
    bytes
}

fn check_content_type(head: &ResponseHead) -> Result<(), ClientError> {
    let content_type = head.header("content-type").unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if media_type.eq_ignore_ascii_case("text/event-stream") {
        Ok(())
    } else {
        Err(ClientError::ContentType(content_type.to_string()))
    }
}

/// Chunked, length-delimited, or (neither) delimited by the connection closing.
fn body_reader(head: &ResponseHead, reader: Box<dyn Read + Send>) -> Box<dyn Read + Send> {
    if head.header("transfer-encoding").is_some_and(is_chunked) {
        return Box::new(ChunkedReader::with_trailer_limit(BufReader::new(reader), MAX_RESPONSE_HEAD_BYTES));
    }
    match head.header("content-length").and_then(|v| v.trim().parse::<u64>().ok()) {
        Some(length) => Box::new(reader.take(length)),
        None => Box::new(reader),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_scheme_host_and_port() {
        let url = |text: &str| Url::parse(text).unwrap();
        let base = url("http://Example.com:8080/a?x=1");
        assert!(same_origin(&base, &url("http://example.COM:8080/other")), "host case and path do not count");
        assert!(same_origin(&url("http://h/"), &url("http://h:80/")), "the default port is the port");
        for other in [
            "https://example.com:8080/",
            "http://example.com:8081/",
            "http://example.org:8080/",
            "http://sub.example.com:8080/",
        ] {
            assert!(!same_origin(&base, &url(other)), "{other}");
        }
        assert!(!same_origin(&url("http://127.0.0.1/"), &url("http://localhost/")), "names are not resolved");
        assert!(same_origin(&url("http://[::1]:1/"), &url("http://[::1]:1/x")));
    }
}
