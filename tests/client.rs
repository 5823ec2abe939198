//! The reconnecting client, against the bare-sse server and against a raw `TcpListener` peer that
//! sends chunked bodies, redirects, errors, and drops connections mid-event.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::thread;
use std::time::{Duration, Instant};

use bare_sse::client::{EventSource, Item, ReadyState};
use bare_sse::ClientError;
use bare_sse::{Event, Hub, Server};
use common::READ_TIMEOUT;

/// A hand-written HTTP peer: accepts connections and returns each request's text.
struct Peer {
    listener: TcpListener,
}

impl Peer {
    fn new() -> Peer {
        Peer { listener: TcpListener::bind("127.0.0.1:0").unwrap() }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.listener.local_addr().unwrap())
    }

    /// Accepts one connection and reads its request head and body.
    fn accept(&self) -> (TcpStream, String) {
        let (mut socket, _) = self.listener.accept().unwrap();
        socket.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") {
            assert_eq!(socket.read(&mut byte).unwrap(), 1, "request ended early");
            request.push(byte[0]);
        }
        let text = String::from_utf8(request).unwrap();
        let length = text
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
            .map_or(0, |v| v.parse().unwrap());
        let mut body = vec![0u8; length];
        socket.read_exact(&mut body).unwrap();
        (socket, text + &String::from_utf8(body).unwrap())
    }
}

const STREAM_HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n";

fn quick(url: &str) -> bare_sse::client::EventSourceBuilder {
    EventSource::builder(url).retry(Duration::from_millis(20)).connect_timeout(READ_TIMEOUT)
}

fn header<'a>(request: &'a str, name: &str) -> Option<&'a str> {
    request.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn receives_from_a_bare_sse_server_and_resumes_after_a_restart() {
    let hub = Hub::new();
    let server = Server::builder().hub(hub.clone()).start().unwrap();
    let addr = server.local_addr();
    hub.send_new_event(Event::new().event("note").data("one").with_id()).unwrap();
    let mut source = quick(&format!("http://{addr}/events")).build().unwrap();
    let first = source.next().unwrap().unwrap();
    assert_eq!((first.event.as_str(), first.data.as_str()), ("note", "one"));
    // Hub ids are `<epoch>-<n>`.
    let epoch = first.last_event_id.strip_suffix("-1").expect("the hub's first id").to_string();
    assert_eq!(source.last_event_id(), format!("{epoch}-1"));

    server.stop();
    hub.send_new_event(Event::new().data("two").with_id()).unwrap();
    let restarted = Server::builder().hub(hub.clone()).port(addr.port()).start().unwrap();
    let second = source.next().unwrap().unwrap();
    assert_eq!((second.data, second.last_event_id), ("two".to_string(), format!("{epoch}-2")), "resumed after id 1");
    restarted.stop();
}

#[test]
fn sends_browser_headers_custom_headers_and_last_event_id() {
    let peer = Peer::new();
    let url = peer.url("/s?x=1");
    let client = thread::spawn(move || {
        let mut source = quick(&url).header("Authorization", "Bearer t").last_event_id("41").build().unwrap();
        source.next().unwrap().unwrap()
    });
    let (mut socket, request) = peer.accept();
    assert!(request.starts_with("GET /s?x=1 HTTP/1.1\r\n"), "{request}");
    assert_eq!(header(&request, "accept"), Some("text/event-stream"));
    assert_eq!(header(&request, "cache-control"), Some("no-cache"));
    assert_eq!(header(&request, "last-event-id"), Some("41"));
    assert_eq!(header(&request, "authorization"), Some("Bearer t"));
    assert!(header(&request, "host").is_some());
    socket.write_all(format!("{STREAM_HEAD}data: hi\n\n").as_bytes()).unwrap();
    let event = client.join().unwrap();
    assert_eq!((event.data.as_str(), event.last_event_id.as_str()), ("hi", "41"));
}

#[test]
fn posts_a_body() {
    let peer = Peer::new();
    let url = peer.url("/feed");
    let client = thread::spawn(move || {
        let mut source = quick(&url).post(r#"{"a":1}"#).header("Content-Type", "application/json").build().unwrap();
        source.next().unwrap().unwrap().data
    });
    let (mut socket, request) = peer.accept();
    assert!(request.starts_with("POST /feed HTTP/1.1\r\n"));
    assert_eq!(header(&request, "content-length"), Some("7"));
    assert!(request.ends_with("\r\n\r\n{\"a\":1}"));
    socket.write_all(format!("{STREAM_HEAD}data: ok\n\n").as_bytes()).unwrap();
    assert_eq!(client.join().unwrap(), "ok");
}

#[test]
fn reads_chunked_bodies_with_chunks_split_anywhere() {
    let peer = Peer::new();
    let url = peer.url("/");
    let client = thread::spawn(move || {
        let source = quick(&url).build().unwrap();
        source.take(3).map(|e| e.unwrap().data).collect::<Vec<_>>()
    });
    let (mut socket, _) = peer.accept();
    socket
        .write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .unwrap();
    // Chunk boundaries inside a field name, inside a value, and between CR and LF.
    let pieces: [&[u8]; 6] = [b"da", b"ta: one\r", b"\n\r\ndata: t", b"wo\n\n", b"data: three\n", b"\n"];
    for piece in pieces {
        socket.write_all(format!("{:x}\r\n", piece.len()).as_bytes()).unwrap();
        socket.write_all(piece).unwrap();
        socket.write_all(b"\r\n").unwrap();
        socket.flush().unwrap();
    }
    assert_eq!(client.join().unwrap(), ["one", "two", "three"]);
}

#[test]
fn follows_redirects_and_gives_up_after_the_limit() {
    let peer = Peer::new();
    let url = peer.url("/old");
    let client = thread::spawn(move || quick(&url).build().unwrap().next().unwrap().unwrap().data);
    let (mut socket, request) = peer.accept();
    assert!(request.starts_with("GET /old "));
    socket.write_all(b"HTTP/1.1 302 Found\r\nLocation: /new\r\nContent-Length: 0\r\n\r\n").unwrap();
    let (mut socket, request) = peer.accept();
    assert!(request.starts_with("GET /new "), "{request}");
    socket.write_all(format!("{STREAM_HEAD}data: moved\n\n").as_bytes()).unwrap();
    assert_eq!(client.join().unwrap(), "moved");

    let url = peer.url("/loop");
    let client = thread::spawn(move || {
        let mut source = quick(&url).max_redirects(2).build().unwrap();
        (source.next(), source.next())
    });
    for _ in 0..3 {
        let (mut socket, _) = peer.accept();
        socket.write_all(b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /loop\r\n\r\n").unwrap();
    }
    let (first, second) = client.join().unwrap();
    assert!(matches!(first, Some(Err(ClientError::TooManyRedirects(2)))), "{first:?}");
    assert!(second.is_none());
}

/// After the answer under test the peer closes its listener: a client that tried to reconnect
/// would fail to connect rather than hang, and the iterator's result shows whether it did.
fn answer_once_then_close(response: &'static str) -> Vec<Result<String, String>> {
    let peer = Peer::new();
    let url = peer.url("/");
    let client = thread::spawn(move || {
        let source = quick(&url).build().unwrap();
        source.take(3).map(|e| e.map(|e| e.data).map_err(|e| e.to_string())).collect::<Vec<_>>()
    });
    let (mut socket, _) = peer.accept();
    socket.write_all(response.as_bytes()).unwrap();
    drop(socket);
    drop(peer);
    client.join().unwrap()
}

#[test]
fn no_content_stops_for_good() {
    let results = answer_once_then_close("HTTP/1.1 204 No Content\r\n\r\n");
    assert!(results.is_empty(), "{results:?}");
}

#[test]
fn error_status_is_reported_and_not_retried() {
    let results = answer_once_then_close("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(results.len(), 1, "{results:?}");
    assert!(results[0].as_ref().unwrap_err().contains("500"));
}

#[test]
fn wrong_content_type_is_reported_and_not_retried() {
    let results = answer_once_then_close("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>");
    assert_eq!(results.len(), 1, "{results:?}");
    assert!(results[0].as_ref().unwrap_err().contains("text/html"));
}

#[test]
fn a_drop_mid_event_discards_it_and_the_reconnect_carries_the_last_id() {
    let peer = Peer::new();
    let url = peer.url("/");
    let client = thread::spawn(move || {
        let source = quick(&url).build().unwrap();
        source.take(2).map(|e| e.unwrap()).collect::<Vec<_>>()
    });
    let (mut socket, first_request) = peer.accept();
    assert_eq!(header(&first_request, "last-event-id"), None);
    socket.write_all(format!("{STREAM_HEAD}retry: 30\nid: 1\ndata: whole\n\nid: 2\ndata: half").as_bytes()).unwrap();
    drop(socket);
    let (mut socket, second_request) = peer.accept();
    assert_eq!(header(&second_request, "last-event-id"), Some("1"), "the half event's id was not taken");
    socket.write_all(format!("{STREAM_HEAD}id: 3\ndata: after\n\n").as_bytes()).unwrap();
    let events = client.join().unwrap();
    let seen: Vec<(&str, &str)> = events.iter().map(|e| (e.data.as_str(), e.last_event_id.as_str())).collect();
    assert_eq!(seen, [("whole", "1"), ("after", "3")]);
}

#[test]
fn the_server_retry_sets_the_reconnection_wait() {
    let peer = Peer::new();
    let url = peer.url("/");
    let client = thread::spawn(move || {
        let mut source = quick(&url).build().unwrap();
        let first = source.next().unwrap().unwrap().data;
        (first, source.next().unwrap().unwrap().data, source.retry())
    });
    let (mut socket, _) = peer.accept();
    socket.write_all(format!("{STREAM_HEAD}retry: 300\ndata: a\n\n").as_bytes()).unwrap();
    drop(socket);
    let closed_at = Instant::now();
    let (mut socket, _) = peer.accept();
    let waited = closed_at.elapsed();
    socket.write_all(format!("{STREAM_HEAD}data: b\n\n").as_bytes()).unwrap();
    let (a, b, retry) = client.join().unwrap();
    assert_eq!((a.as_str(), b.as_str(), retry), ("a", "b", Duration::from_millis(300)));
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(3), "waited {waited:?}");
}

#[test]
fn length_delimited_stream_ends_and_reconnects() {
    let peer = Peer::new();
    let url = peer.url("/");
    let client =
        thread::spawn(move || quick(&url).build().unwrap().take(2).map(|e| e.unwrap().data).collect::<Vec<_>>());
    let body = "data: a\n\n";
    let (mut socket, _) = peer.accept();
    let response =
        format!("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    socket.write_all(response.as_bytes()).unwrap();
    let (mut socket, _) = peer.accept(); // the first socket stays open: the length ended the body
    socket.write_all(format!("{STREAM_HEAD}data: b\n\n").as_bytes()).unwrap();
    assert_eq!(client.join().unwrap(), ["a", "b"]);
}

#[test]
fn a_silent_stream_times_out_and_reconnects() {
    let peer = Peer::new();
    let url = peer.url("/");
    let client = thread::spawn(move || {
        let mut source = quick(&url).read_timeout(Some(Duration::from_millis(100))).build().unwrap();
        source.next().unwrap().unwrap().data
    });
    let (mut silent, _) = peer.accept();
    silent.write_all(STREAM_HEAD.as_bytes()).unwrap();
    let (mut socket, _) = peer.accept();
    socket.write_all(format!("{STREAM_HEAD}data: fresh\n\n").as_bytes()).unwrap();
    assert_eq!(client.join().unwrap(), "fresh");
}

#[test]
fn close_from_another_thread_ends_a_blocked_read() {
    let peer = Peer::new();
    let mut source = quick(&peer.url("/")).build().unwrap();
    let handle = source.close_handle();
    let (first_tx, first_rx) = std::sync::mpsc::channel();
    let reader = thread::spawn(move || {
        first_tx.send(source.next().unwrap().unwrap().data).unwrap();
        source.next().map(|e| e.map(|e| e.data)) // blocks: the peer sends nothing more
    });
    let (mut socket, _) = peer.accept();
    socket.write_all(format!("{STREAM_HEAD}data: first\n\n").as_bytes()).unwrap();
    assert_eq!(first_rx.recv_timeout(READ_TIMEOUT).unwrap(), "first");
    // Whether the second read has started or not, close ends it: the flag is checked before each
    // read, and shutting the socket wakes a read in progress.
    handle.close();
    let result = reader.join().unwrap();
    assert!(result.is_none(), "{result:?}");
}

#[test]
fn close_interrupts_a_reconnection_wait() {
    let mut source =
        EventSource::builder(&format!("http://{}/", unused_address())).retry(Duration::from_secs(60)).build().unwrap();
    let first = source.items().next().unwrap();
    assert!(matches!(first, Ok(Item::Retrying { attempt: 1, .. })), "nothing listens there: {first:?}");
    let handle = source.close_handle();
    let waiter = thread::spawn(move || source.next().is_none());
    let started = Instant::now();
    handle.close();
    assert!(waiter.join().unwrap());
    assert!(started.elapsed() < Duration::from_secs(5));
}

fn unused_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// A server that sends `retry: 0` and closes at once, again and again, is not reconnected to in
/// a tight loop: the wait has a floor, and a connection that delivered no event counts as a
/// failure, so the waits double.
#[test]
fn immediate_closes_are_backed_off() {
    let peer = Peer::new();
    let source = EventSource::builder(&peer.url("/")).retry(Duration::ZERO).build().unwrap();
    let closer = source.close_handle();
    let client = thread::spawn(move || source.count());
    let started = Instant::now();
    let mut connections = 0;
    // Time is the behaviour: how many connections fit in a second and a half. With a 100 ms floor
    // doubling per empty connection that is four or five; without, thousands.
    while started.elapsed() < Duration::from_millis(1500) {
        peer.listener.set_nonblocking(true).unwrap();
        match peer.listener.accept() {
            Ok((mut socket, _)) => {
                connections += 1;
                socket.write_all(format!("{STREAM_HEAD}retry: 0\n\n").as_bytes()).unwrap();
            }
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
    closer.close();
    client.join().unwrap();
    assert!((2..=10).contains(&connections), "{connections} connections in 1.5 s");
}

/// A response head that trickles in is given up on when the connect timeout has passed in all,
/// not waited on for as long as each byte comes in time.
#[test]
fn a_trickling_response_head_has_a_deadline() {
    let peer = Peer::new();
    let url = peer.url("/");
    let server = thread::spawn(move || {
        let (mut socket, _) = peer.accept();
        for byte in STREAM_HEAD.bytes().chain(*b"data: late\n\n") {
            if socket.write_all(&[byte]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
    });
    let mut source = EventSource::builder(&url).connect_timeout(Duration::from_millis(500)).build().unwrap();
    let started = Instant::now();
    let first = source.items().next().unwrap();
    let Ok(Item::Retrying { error, .. }) = first else {
        panic!("the head took longer than the connect timeout: {first:?}")
    };
    assert!(!error.is_fatal(), "{error}");
    assert!(started.elapsed() < Duration::from_secs(3), "gave up after {:?}", started.elapsed());
    source.close();
    server.join().unwrap();
}

/// The obvious loop does what a browser does: a failure that retrying can mend (here a garbled
/// answer) is retried inside the iterator, and the loop goes on to the next connection's events.
#[test]
fn the_obvious_loop_survives_a_failed_attempt() {
    let peer = Peer::new();
    let url = peer.url("/");
    let client = thread::spawn(move || -> Result<Vec<String>, ClientError> {
        let mut seen = Vec::new();
        for event in quick(&url).build()? {
            let event = event?;
            seen.push(event.data);
            if seen.len() == 2 {
                break;
            }
        }
        Ok(seen)
    });
    let (mut first, _) = peer.accept();
    first.write_all(format!("{STREAM_HEAD}data: one\n\n").as_bytes()).unwrap();
    drop(first);
    let (mut garbled, _) = peer.accept();
    garbled.write_all(b"NOT HTTP AT ALL\r\n\r\n").unwrap();
    drop(garbled);
    let (mut third, _) = peer.accept();
    third.write_all(format!("{STREAM_HEAD}data: two\n\n").as_bytes()).unwrap();
    assert_eq!(client.join().unwrap().unwrap(), ["one", "two"]);
}

/// `items` shows the rest: each opening, comments when asked, and each failure being retried,
/// while the ready state follows; `max_attempts` turns a run of failures into the end.
#[test]
fn items_show_openings_comments_and_retries_and_max_attempts_gives_up() {
    let peer = Peer::new();
    let mut source = quick(&peer.url("/")).comments(true).max_attempts(2).build().unwrap();
    assert_eq!(source.ready_state(), ReadyState::Connecting);
    let server = thread::spawn(move || {
        let (mut socket, _) = peer.accept();
        socket.write_all(format!("{STREAM_HEAD}: hello\ndata: one\n\n").as_bytes()).unwrap();
        drop(socket);
        for _ in 0..2 {
            let (mut socket, _) = peer.accept();
            socket.write_all(b"NOT HTTP\r\n\r\n").unwrap();
        }
    });
    let mut items = Vec::new();
    let mut states = Vec::new();
    loop {
        let item = source.items().next();
        states.push(source.ready_state());
        match item {
            Some(Ok(item)) => items.push(format!("{item:?}")),
            Some(Err(error)) => {
                items.push(format!("end: {error}"));
                break;
            }
            None => break,
        }
    }
    server.join().unwrap();
    assert!(items[0] == "Open" && items[1] == "Comment(\"hello\")", "{items:?}");
    assert!(items[2].starts_with("Event(") && items[2].contains("one"), "{items:?}");
    assert!(items[3].starts_with("Retrying") && items[3].contains("attempt: 1"), "the stream ended: {items:?}");
    assert!(items[4].starts_with("Retrying") && items[4].contains("attempt: 2"), "a garbled answer: {items:?}");
    assert!(items[5].starts_with("end: gave up after 2 failed attempts"), "{items:?}");
    assert_eq!(states[0], ReadyState::Open);
    assert_eq!(states[3], ReadyState::Connecting);
    assert_eq!(*states.last().unwrap(), ReadyState::Closed);
    assert!(source.next().is_none(), "it stays closed");
}

/// By default the client takes what real streams carry (a 200 KB page region in one line); with a
/// smaller `max_event_bytes`, an event past it drops the connection, which is then retried.
#[test]
fn event_size_default_takes_large_events_and_the_limit_is_settable() {
    let region = "x".repeat(200_000);
    let stream = format!("{STREAM_HEAD}data: {region}\n\n");
    let peer = Peer::new();
    let url = peer.url("/");
    let client = thread::spawn(move || {
        let mut default = quick(&url).build().unwrap();
        let event = default.next().unwrap().unwrap();
        let mut limited = quick(&url).max_event_bytes(1000).max_attempts(1).build().unwrap();
        (event.data.len(), limited.items().find(|item| !matches!(item, Ok(Item::Open))))
    });
    for _ in 0..2 {
        let (mut socket, _) = peer.accept();
        socket.write_all(stream.as_bytes()).unwrap();
    }
    let (received, limited) = client.join().unwrap();
    assert_eq!(received, 200_000);
    assert!(matches!(limited, Some(Err(ClientError::GaveUp { .. }))), "{limited:?}");
}

/// The credential headers, in the spelling the tests send them.
const CREDENTIALS: [&str; 4] = ["authorization", "cookie", "proxy-authorization", "x-api-key"];

/// Credentials go only where they were given: a redirect within the origin (scheme, host, port)
/// keeps them; a redirect to another origin drops `Authorization`, `Cookie`,
/// `Proxy-Authorization` and headers marked sensitive, keeps the others, and the rest of that
/// chain goes without them, even back on the first origin. The next connection, which starts
/// from the URL given, carries them again.
#[test]
fn credentials_stay_with_their_origin_across_redirects() {
    let (first, second) = (Peer::new(), Peer::new());
    let url = first.url("/start");
    let client = thread::spawn(move || {
        let source = quick(&url)
            .header("Authorization", "Bearer SECRET-TOKEN")
            .header("cookie", "session=SECRET")
            .header("Proxy-Authorization", "Basic SECRET")
            .sensitive_header("X-Api-Key", "SECRET-KEY")
            .header("X-Trace", "7")
            .build()
            .unwrap();
        source.take(2).map(|e| e.unwrap().data).collect::<Vec<_>>()
    });
    let has_all = |request: &str| CREDENTIALS.iter().all(|name| header(request, name).is_some());
    let has_none = |request: &str| CREDENTIALS.iter().all(|name| header(request, name).is_none());

    let (mut socket, request) = first.accept();
    assert!(has_all(&request), "{request}");
    socket.write_all(b"HTTP/1.1 302 Found\r\nLocation: /same-origin\r\nContent-Length: 0\r\n\r\n").unwrap();
    let (mut socket, request) = first.accept();
    assert!(request.starts_with("GET /same-origin ") && has_all(&request), "same origin keeps them: {request}");
    let elsewhere = format!("Location: {}\r\n", second.url("/elsewhere"));
    socket
        .write_all(format!("HTTP/1.1 307 Temporary Redirect\r\n{elsewhere}Content-Length: 0\r\n\r\n").as_bytes())
        .unwrap();

    let (mut socket, request) = second.accept();
    assert!(request.starts_with("GET /elsewhere ") && has_none(&request), "another port: {request}");
    assert!(!request.contains("SECRET"), "{request}");
    assert_eq!(header(&request, "x-trace"), Some("7"), "other headers go on");
    let back = format!("Location: {}\r\n", first.url("/back"));
    socket.write_all(format!("HTTP/1.1 302 Found\r\n{back}Content-Length: 0\r\n\r\n").as_bytes()).unwrap();

    let (mut socket, request) = first.accept();
    assert!(request.starts_with("GET /back ") && has_none(&request), "not back within the chain: {request}");
    socket.write_all(format!("{STREAM_HEAD}data: one\n\n").as_bytes()).unwrap();
    drop(socket);
    let (mut socket, request) = first.accept();
    assert!(request.starts_with("GET /start ") && has_all(&request), "a new connection: {request}");
    socket.write_all(format!("{STREAM_HEAD}data: two\n\n").as_bytes()).unwrap();
    assert_eq!(client.join().unwrap(), ["one", "two"]);
}

/// A redirect from https to plain http is refused, to any host, before anything is sent there:
/// it would send the request, and its credentials, in the clear.
#[test]
fn a_redirect_from_https_to_http_is_refused() {
    for target in ["/same-host", "/other-port"] {
        let (first, second) = (Peer::new(), Peer::new());
        let secure = first.url("/").replacen("http://", "https://", 1);
        let location = match target {
            "/same-host" => first.url(target),
            _ => second.url(target),
        };
        // A stand-in for a TLS connector: it dials plain TCP whatever the scheme.
        let client = thread::spawn(move || {
            let mut source = quick(&secure)
                .max_attempts(1)
                .header("Authorization", "Bearer SECRET-TOKEN")
                .connector(|url, timeout| {
                    let address = (url.host.as_str(), url.port).to_socket_addrs()?.next().unwrap();
                    bare_sse::client::Connection::tcp(TcpStream::connect_timeout(&address, timeout)?)
                })
                .build()
                .unwrap();
            (source.next(), source.next())
        });
        let (mut socket, _) = first.accept();
        socket.write_all(format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\n\r\n").as_bytes()).unwrap();
        let (refused, after) = client.join().unwrap();
        let Some(Err(error)) = refused else { panic!("{target}: {refused:?}") };
        assert!(matches!(error, ClientError::InsecureRedirect { .. }) && error.is_fatal(), "{target}: {error:?}");
        assert!(error.to_string().contains(&location), "{target}: {error}");
        assert!(after.is_none(), "{target}: not retried");
        for peer in [&first, &second] {
            peer.listener.set_nonblocking(true).unwrap();
            assert!(peer.listener.accept().is_err(), "{target}: nothing was sent to {location}");
        }
    }
}

/// Closing the client is no failure: a read that the close interrupts (here a chunked body, cut
/// inside its framing) ends the items with `None`, not with a `Retrying` about the cut body.
#[test]
fn closing_ends_the_items_without_a_retry() {
    let hub = Hub::new();
    let server = Server::builder().hub(hub.clone()).start().unwrap();
    hub.send_new_event(Event::new().data("one").with_id()).unwrap();
    let mut source = quick(&format!("http://{}/", server.local_addr())).build().unwrap();
    assert!(matches!(source.items().next(), Some(Ok(Item::Open))));
    assert!(matches!(source.items().next(), Some(Ok(Item::Event(_)))));
    let closer = source.close_handle();
    // Either order ends the items with `None`: a close before the read is seen before it, one
    // during it cuts it. The pause makes the second, the case under test, the likely one.
    let closing = thread::spawn(move || {
        thread::sleep(Duration::from_millis(200));
        closer.close();
    });
    let after = source.items().next();
    assert!(after.is_none(), "{after:?}");
    closing.join().unwrap();
    server.stop();
}

/// A close while a connection attempt waits for the response head ends the items too, without a
/// `Retrying` for the cut attempt.
#[test]
fn closing_during_a_connection_attempt_ends_the_items_without_a_retry() {
    let peer = Peer::new();
    let mut source = quick(&peer.url("/")).build().unwrap();
    let closer = source.close_handle();
    let client = thread::spawn(move || source.items().next().map(|item| item.map(|item| format!("{item:?}"))));
    // The request has arrived, so the client has its socket, which the close shuts down, whether
    // or not the client is reading the head yet.
    let (_silent, _) = peer.accept();
    closer.close();
    let item = client.join().unwrap();
    assert!(item.is_none(), "{item:?}");
}
