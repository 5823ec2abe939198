//! Routes, request bodies, handler panics, hubs on several paths, and hand-off from a listener the
//! user owns.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;

use bare_sse::server::{serve_connection, Request, Response};
use bare_sse::{Event, Hub, Server};
use common::{agent, RawClient, READ_TIMEOUT};

fn echo(request: &Request) -> Response {
    let text = format!(
        "{} {} q={:?} body={}",
        request.method(),
        request.path(),
        request.query_param("q"),
        request.body().len()
    );
    Response::text(text)
}

fn body_of(server: &Server, raw_request: &str) -> (u16, String) {
    let mut client = RawClient::connect(server.local_addr());
    client.send(raw_request);
    let status = client.head().status;
    (status, client.read_to_end())
}

#[test]
fn exact_prefix_and_method_routes_with_404_and_405() {
    let server = Server::builder()
        .route("/echo", echo)
        .route_prefix("/api", echo)
        .route_method("POST", "/only-post", echo)
        .start()
        .unwrap();
    let base = format!("http://{}", server.local_addr());
    let get = |path: &str| agent().get(&format!("{base}{path}")).call().unwrap();
    assert_eq!(get("/echo?q=a%20b").body_mut().read_to_string().unwrap(), "GET /echo q=Some(\"a b\") body=0");
    assert_eq!(get("/api/users/7").body_mut().read_to_string().unwrap(), "GET /api/users/7 q=None body=0");
    assert_eq!(get("/apix").status(), 404, "a prefix matches whole segments");
    assert_eq!(get("/nothing").status(), 404);
    let refused = get("/only-post");
    assert_eq!(refused.status(), 405);
    assert_eq!(refused.headers()["allow"], "POST, OPTIONS");
    let posted = agent().post(&format!("{base}/only-post")).send("12345").unwrap();
    assert_eq!(posted.into_body().read_to_string().unwrap(), "POST /only-post q=None body=5");
}

#[test]
fn responses_carry_status_headers_and_cors() {
    let server = Server::builder()
        .route("/created", |_: &Request| Response::text("made").with_status(201).header("X-Id", "9"))
        .route("/moved", |_: &Request| Response::redirect("/created"))
        .route("/gone", |_: &Request| Response::no_content())
        .route("/bad", |_: &Request| Response::text("x").header("X-Evil", "a\r\nInjected: 1"))
        .route("/json", |_: &Request| Response::json(&bare_sse::json::parse(r#"{"a": [1, "b"]}"#).unwrap()))
        .start()
        .unwrap();
    let mut client = RawClient::get(server.local_addr(), "/created", "Origin: http://page.test\r\n");
    let head = client.head();
    assert_eq!((head.status, head.header("x-id"), head.header("content-length")), (201, Some("9"), Some("4")));
    assert_eq!(head.header("access-control-allow-origin"), Some("*"));
    assert_eq!(client.read_to_end(), "made");
    let mut moved = RawClient::get(server.local_addr(), "/moved", "");
    let head = moved.head();
    assert_eq!((head.status, head.header("location")), (303, Some("/created")));
    assert_eq!(RawClient::get(server.local_addr(), "/gone", "").head().status, 204);
    assert_eq!(RawClient::get(server.local_addr(), "/bad", "").head().status, 500, "no header injection");

    let mut json = RawClient::get(server.local_addr(), "/json", "");
    assert_eq!(json.head().header("content-type"), Some("application/json"));
    assert_eq!(json.read_to_end(), r#"{"a":[1,"b"]}"#);
    let mut head_only = RawClient::connect(server.local_addr());
    head_only.send("HEAD /created HTTP/1.1\r\nHost: x\r\n\r\n");
    let head = head_only.head();
    assert_eq!((head.status, head.header("content-length")), (201, Some("4")), "HEAD tells the length of GET's body");
    // No body follows: the next bytes on the connection are the answer to the next request.
    head_only.send("GET /created HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(head_only.head().status, 201, "HEAD sends no body");
    assert_eq!(head_only.read_to_end(), "made");
}

#[test]
fn request_bodies_at_and_past_the_limit() {
    let server = Server::builder().route("/", echo).max_body_bytes(10).start().unwrap();
    let post =
        |length: usize| format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n{}", "b".repeat(length));
    assert_eq!(body_of(&server, &post(10)), (200, "POST / q=None body=10".to_string()));
    assert_eq!(body_of(&server, &post(11)).0, 413);
}

#[test]
fn chunked_request_bodies_are_accepted_within_the_limit() {
    let server = Server::builder().route("/", echo).max_body_bytes(10).start().unwrap();
    let chunked =
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n6\r\nefghij\r\n0\r\n\r\n";
    assert_eq!(body_of(&server, chunked), (200, "POST / q=None body=10".to_string()));
    let too_long = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nb\r\nabcdefghijk\r\n0\r\n\r\n";
    assert_eq!(body_of(&server, too_long).0, 413);
    let broken = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    assert_eq!(body_of(&server, broken).0, 400);
}

#[test]
fn a_panicking_handler_gets_500_and_the_server_survives() {
    let server = Server::builder()
        .route("/boom", |_: &Request| -> Response { panic!("handler bug") })
        .route("/ok", |_: &Request| Response::text("fine"))
        .start()
        .unwrap();
    assert_eq!(RawClient::get(server.local_addr(), "/boom", "").head().status, 500);
    let mut ok = RawClient::get(server.local_addr(), "/ok", "");
    assert_eq!(ok.head().status, 200);
    assert_eq!(ok.read_to_end(), "fine");
}

#[test]
fn several_hubs_on_several_paths_with_history() {
    let chat = Hub::builder().id_epoch(1).build();
    let news = Hub::new();
    let server = Server::builder().route_hub("/chat", chat.clone()).route_hub("/news", news.clone()).start().unwrap();
    chat.send_new_event(Event::new().data("hello chat").with_id()).unwrap();
    news.send_new_event(Event::new().data("hello news").with_id()).unwrap();
    let mut on_chat = RawClient::stream(server.local_addr(), "/chat", "");
    let mut on_news = RawClient::stream(server.local_addr(), "/news", "");
    assert_eq!(on_chat.next_block().data(), "hello chat");
    assert_eq!(on_news.next_block().data(), "hello news");
    assert!(chat.wait_until_clients(|n| n == 1, READ_TIMEOUT));
    chat.send_new_event(Event::new().data("second").with_id()).unwrap();
    assert_eq!(on_chat.next_block().data(), "second");
    let mut resumed = RawClient::stream(server.local_addr(), "/chat", "Last-Event-ID: 1-1\r\n");
    assert_eq!(resumed.next_block().data(), "second");
    assert_eq!(RawClient::get(server.local_addr(), "/chat", "").head().status, 200);
    let mut post = RawClient::connect(server.local_addr());
    post.send("POST /chat HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    let head = post.head();
    assert_eq!((head.status, head.header("allow")), (405, Some("GET, HEAD, OPTIONS")));
}

#[test]
fn start_sse_tcp_port_still_streams_on_every_path() {
    let server = bare_sse::start_sse_tcp_port(0).unwrap();
    let mut client = RawClient::get(server.local_addr(), "/any/path/at/all", "");
    assert_eq!(client.head().header("content-type"), Some("text/event-stream; charset=utf-8"));
}

#[test]
fn hand_off_from_a_listener_the_user_owns() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hub = Hub::new();
    hub.send_new_event(Event::new().data("kept").with_id()).unwrap();
    let served_hub = hub.clone();
    let acceptor = thread::spawn(move || {
        for _ in 0..2 {
            let (mut socket, _) = listener.accept().unwrap();
            let mut peek = [0u8; 16];
            let n = socket.peek(&mut peek).unwrap();
            if peek[..n].starts_with(b"GET /own") {
                // Read the whole request before answering: closing with unread input resets.
                let mut request = Vec::new();
                let mut byte = [0u8; 1];
                while !request.ends_with(b"\r\n\r\n") {
                    socket.read_exact(&mut byte).unwrap();
                    request.push(byte[0]);
                }
                socket.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nmine").unwrap();
            } else {
                let hub = served_hub.clone();
                thread::spawn(move || serve_connection(socket, hub));
            }
        }
    });
    let mut own = RawClient::get(addr, "/own", "");
    assert_eq!(own.head().status, 200);
    assert_eq!(own.read_to_end(), "mine");
    let mut handed = RawClient::stream(addr, "/events", "");
    assert_eq!(handed.next_block().data(), "kept");
    acceptor.join().unwrap();
}

/// A program that reads and routes requests itself hands the stream to bare-sse with the request
/// it parsed, however the request arrived in pieces; paths that only start like the stream's are
/// its own.
#[test]
fn a_request_routed_by_the_program_is_served_by_serve_request() {
    use bare_sse::http::{parse_request_head, HeadLimits, Parsed};
    let hub = Hub::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let program_hub = hub.clone();
    thread::spawn(move || {
        for socket in listener.incoming().take(2) {
            let mut socket = socket.unwrap();
            let hub = program_hub.clone();
            thread::spawn(move || {
                let mut received = Vec::new();
                let head = loop {
                    let mut chunk = [0u8; 64];
                    let n = socket.read(&mut chunk).unwrap();
                    received.extend_from_slice(&chunk[..n]);
                    if let Ok(Parsed::Complete { head, .. }) = parse_request_head(&received, &HeadLimits::default()) {
                        break head;
                    }
                };
                if head.path == "/events" {
                    bare_sse::server::serve_request(socket, Request::new(head, Vec::new()), hub);
                } else {
                    let _ = socket.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nmine");
                }
            });
        }
    });
    let mut own = RawClient::connect(addr);
    own.send("GET /eventsfoo HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(own.head().status, 200);
    assert_eq!(own.read_to_end(), "mine");
    let mut stream = RawClient::connect(addr);
    stream.send("GET /ev");
    stream.send("ents HTTP/1.1\r\nHo");
    stream.send("st: x\r\n\r\n");
    assert_eq!(stream.head().header("content-type"), Some("text/event-stream; charset=utf-8"));
    assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT));
    hub.send_new_event(Event::new().data("handed over")).unwrap();
    assert_eq!(stream.next_block().data(), "handed over");
}

/// A route's closure needs no type on its argument (this test would not compile otherwise).
#[test]
fn route_closures_infer_their_request_type() {
    let server = Server::builder()
        .route("/path", |request| Response::text(request.path().to_string()))
        .route_method("POST", "/len", |request| Response::text(request.body().len().to_string()))
        .route_prefix("/p", |request| Response::text(request.method().to_string()))
        .start()
        .unwrap();
    let base = format!("http://{}", server.local_addr());
    assert_eq!(agent().get(&format!("{base}/path")).call().unwrap().into_body().read_to_string().unwrap(), "/path");
    assert_eq!(agent().post(&format!("{base}/len")).send("abc").unwrap().into_body().read_to_string().unwrap(), "3");
    assert_eq!(agent().get(&format!("{base}/p/x")).call().unwrap().into_body().read_to_string().unwrap(), "GET");
}
