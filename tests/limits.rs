//! Malformed and oversized requests, slow senders, methods, preflight, the connection limit, and
//! clients too slow to keep up.

mod common;

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use bare_sse::http::{DEFAULT_MAX_HEADERS, DEFAULT_MAX_HEAD_BYTES};
use bare_sse::{start_sse_tcp_port, AllowOrigin, Event, Hub, Server};
use common::{agent, RawClient, READ_TIMEOUT};

fn status_for(server: &Server, request: &[u8]) -> (u16, String) {
    let mut client = RawClient::connect(server.local_addr());
    client.socket.write_all(request).unwrap();
    let head = client.head();
    (head.status, client.read_to_end())
}

#[test]
fn malformed_requests_get_400_and_a_closed_connection() {
    let server = start_sse_tcp_port(0).unwrap();
    let cases: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        b"GET\r\n\r\n",
        b"\x00\x01\x02\r\n\r\n",
        b"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n continued\r\n\r\n",
    ];
    for case in cases {
        let (status, body) = status_for(&server, case);
        assert_eq!(status, 400, "{:?}", String::from_utf8_lossy(case));
        assert!(body.starts_with("malformed request:"), "{body}");
    }
    assert_eq!(status_for(&server, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n").0, 505);
}

/// Requests that can never become valid are answered as soon as that is clear, not when the
/// request timeout (here longer than the client waits) expires.
#[test]
fn requests_that_cannot_be_completed_are_answered_at_once() {
    let server = Server::builder()
        .request_timeout(Duration::from_secs(600))
        .route_method("POST", "/echo", |request: &bare_sse::Request| {
            bare_sse::Response::text(request.body().len().to_string())
        })
        .start()
        .unwrap();
    let partial_cases: &[(&[u8], u16)] = &[
        (b"GET / HTTP/1.1\rHost: x\r\r", 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 501),
        // Names no coding, so the body's length is unknown: refused, not read as chunked.
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\n", 400),
    ];
    for (request, status) in partial_cases {
        assert_eq!(status_for(&server, request).0, *status, "{:?}", String::from_utf8_lossy(request));
    }
}

#[test]
fn chunk_trailers_count_against_the_head_limit() {
    let server = Server::builder()
        .max_head_bytes(300)
        .route_method("POST", "/echo", |request: &bare_sse::Request| {
            bare_sse::Response::text(request.body().len().to_string())
        })
        .start()
        .unwrap();
    let with_trailers = |count: usize| {
        let trailers = "T: 1234567\r\n".repeat(count); // 12 bytes each
        format!("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n{trailers}\r\n")
    };
    let (status, body) = status_for(&server, with_trailers(25).as_bytes());
    assert_eq!((status, body.as_str()), (200, "3"), "300 bytes of trailers: at the limit");
    let (status, body) = status_for(&server, with_trailers(26).as_bytes());
    assert_eq!(status, 400, "{body}");
}

#[test]
fn expect_100_continue_gets_its_interim_answer_before_the_body_is_sent() {
    let server = Server::builder()
        .route_method("POST", "/echo", |request: &bare_sse::Request| {
            bare_sse::Response::text(request.body().len().to_string())
        })
        .start()
        .unwrap();
    let mut client = RawClient::connect(server.local_addr());
    client.send("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(client.head_keeping_framing().status, 100, "sent before the client sends its body");
    client.send("hello");
    let head = client.head();
    assert_eq!((head.status, client.read_to_end().as_str()), (200, "5"));
    // `Expect` is a list: a field line before the one that asks for it does not hide it.
    client
        .send("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: x-other\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
    assert_eq!(client.head_keeping_framing().status, 100, "asked for on the second line");
    client.send("hi");
    let head = client.head();
    assert_eq!((head.status, client.read_to_end().as_str()), (200, "2"));
}

#[test]
fn head_byte_limit_at_and_past_it() {
    let server = Server::builder().max_head_bytes(200).start().unwrap();
    let request = |pad: usize| format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n", "a".repeat(pad));
    let fitting = 200 - request(0).len();
    let mut client = RawClient::connect(server.local_addr());
    client.send(&request(fitting));
    assert_eq!(client.head().status, 200, "a head of exactly the limit is accepted");
    assert_eq!(status_for(&server, request(fitting + 1).as_bytes()).0, 431);
    let long_line = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(300));
    assert_eq!(status_for(&server, long_line.as_bytes()).0, 414);
    assert_eq!(bare_sse::http::HeadLimits::default().max_head_bytes, DEFAULT_MAX_HEAD_BYTES);
}

#[test]
fn header_count_limit_at_and_past_it() {
    let server = Server::builder().max_headers(3).start().unwrap();
    let with = |n: usize| {
        let extra: String = (1..n).map(|i| format!("X-{i}: v\r\n")).collect();
        format!("GET / HTTP/1.1\r\nHost: x\r\n{extra}\r\n")
    };
    let mut client = RawClient::connect(server.local_addr());
    client.send(&with(3));
    assert_eq!(client.head().status, 200);
    assert_eq!(status_for(&server, with(4).as_bytes()).0, 431);
    assert_eq!(bare_sse::http::HeadLimits::default().max_headers, DEFAULT_MAX_HEADERS);
}

#[test]
fn endless_head_is_cut_off_at_the_limit() {
    let server = start_sse_tcp_port(0).unwrap();
    let mut client = RawClient::connect(server.local_addr());
    client.send("GET / HTTP/1.1\r\nHost: x\r\n");
    let line = format!("X-Filler: {}\r\n", "a".repeat(100));
    let mut sent = 0;
    // The server answers 431 as soon as the limit is passed; later writes may fail once it closed.
    while sent <= DEFAULT_MAX_HEAD_BYTES {
        if client.socket.write_all(line.as_bytes()).is_err() {
            break;
        }
        sent += line.len();
    }
    assert_eq!(client.head().status, 431);
}

#[test]
fn slowloris_gets_408_at_the_request_deadline() {
    let server = Server::builder().request_timeout(Duration::from_millis(300)).start().unwrap();
    let mut client = RawClient::connect(server.local_addr());
    let mut writer = client.socket.try_clone().unwrap();
    let started = Instant::now();
    // One byte every 50 ms: each read succeeds, but the whole head never arrives in time.
    let dribble = thread::spawn(move || {
        for byte in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if writer.write_all(&[*byte]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
    });
    assert_eq!(client.head().status, 408);
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(3), "{elapsed:?}");
    client.read_to_end();
    dribble.join().unwrap();
}

#[test]
fn silent_client_gets_408() {
    let server = Server::builder().request_timeout(Duration::from_millis(100)).start().unwrap();
    let mut client = RawClient::connect(server.local_addr());
    assert_eq!(client.head().status, 408);
}

#[test]
fn other_methods_get_405_with_allow() {
    let server = start_sse_tcp_port(0).unwrap();
    let url = format!("http://{}/", server.local_addr());
    let response = agent().post(&url).send("x").unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, HEAD, OPTIONS");
    let (status, _) = status_for(&server, b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 405);
}

#[test]
fn options_answers_the_cors_preflight() {
    let server = start_sse_tcp_port(0).unwrap();
    let url = format!("http://{}/events", server.local_addr());
    let response = agent()
        .options(&url)
        .header("Origin", "http://page.test")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "last-event-id")
        .call()
        .unwrap();
    assert_eq!(response.status(), 204);
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert_eq!(headers["access-control-allow-headers"], "last-event-id");
    assert_eq!(headers["access-control-allow-methods"], "GET, HEAD, OPTIONS");
}

/// A preflight names what the path's routes take: a Datastar `POST` with JSON gets `POST` and its
/// headers; a header the policy does not allow is left out, so the browser refuses that request.
/// A route that names `OPTIONS` itself answers instead of the server.
#[test]
fn preflights_follow_the_route_and_an_options_route_answers_itself() {
    let server = Server::builder()
        .route_method("POST", "/action", |_: &bare_sse::Request| bare_sse::Response::text("ok"))
        .route_method("OPTIONS", "/own", |_: &bare_sse::Request| bare_sse::Response::text("mine"))
        .route_method("GET", "/own", |_: &bare_sse::Request| bare_sse::Response::text("get"))
        .start()
        .unwrap();
    let preflight = |path: &str, headers: &str| {
        let request = format!(
            "OPTIONS {path} HTTP/1.1\r\nHost: x\r\nOrigin: http://page.test\r\n\
             Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: {headers}\r\n\r\n"
        );
        let mut client = RawClient::connect(server.local_addr());
        client.send(&request);
        let head = client.head();
        (head, client.read_to_end())
    };
    let (head, _) = preflight("/action", "content-type, datastar-request, x-secret");
    assert_eq!(head.status, 204);
    assert_eq!(head.header("access-control-allow-methods"), Some("POST, OPTIONS"));
    assert_eq!(head.header("access-control-allow-headers"), Some("content-type, datastar-request"));
    // Headers asked for on two lines are one list.
    let (head, _) = preflight("/action", "content-type\r\nAccess-Control-Request-Headers: datastar-request");
    assert_eq!(head.header("access-control-allow-headers"), Some("content-type, datastar-request"));
    let (head, body) = preflight("/own", "content-type");
    assert_eq!((head.status, body.as_str()), (200, "mine"));
}

#[test]
fn credentials_with_any_origin_are_refused_at_start() {
    let refused = Server::builder().allow_credentials(true).start();
    let Err(error) = refused else { panic!("any origin with credentials must not start") };
    assert!(error.to_string().contains("AllowOrigin::List"), "{error}");
}

#[test]
fn listed_origins_with_credentials_are_echoed() {
    let server = Server::builder()
        .allow_origin(AllowOrigin::List(vec!["http://good.test".into()]))
        .allow_credentials(true)
        .start()
        .unwrap();
    let mut good = RawClient::get(server.local_addr(), "/", "Origin: http://good.test\r\n");
    let head = good.head();
    assert_eq!(head.header("access-control-allow-origin"), Some("http://good.test"));
    assert_eq!(head.header("access-control-allow-credentials"), Some("true"));
    for origin in ["http://bad.test", "null"] {
        let mut bad = RawClient::get(server.local_addr(), "/", &format!("Origin: {origin}\r\n"));
        let head = bad.head();
        assert_eq!(head.header("access-control-allow-origin"), None, "{origin}");
        assert_eq!(head.header("access-control-allow-credentials"), None, "{origin}");
    }
}

#[test]
fn past_the_connection_limit_clients_are_told_to_retry_later() {
    let server = Server::builder().max_connections(2).overload_retry(Duration::from_millis(7000)).start().unwrap();
    let _first = RawClient::stream(server.local_addr(), "/", "");
    let _second = RawClient::stream(server.local_addr(), "/", "");
    assert!(server.hub().wait_until_clients(|n| n == 2, READ_TIMEOUT));
    let mut third = RawClient::get(server.local_addr(), "/", "Accept: text/event-stream\r\n");
    let head = third.head();
    assert_eq!(head.status, 200, "not 503: a browser would never come back");
    assert_eq!(head.header("content-type"), Some("text/event-stream; charset=utf-8"));
    // A `retry:` line, then the proper end of the chunked body: the framing holds even here. No
    // blank line follows the `retry:`, so no client sees an empty event.
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    assert_eq!(third.read_to_end(), "retry: 7000\n");
    assert!(third.ended_with_last_chunk());
    // `Accept` is a list: an EventSource's media type on a second line still counts.
    let mut split = RawClient::get(server.local_addr(), "/", "Accept: text/html\r\nAccept: text/event-stream\r\n");
    assert_eq!(split.head().status, 200, "an event-stream request, told to retry");
    assert_eq!(split.read_to_end(), "retry: 7000\n");
    // A request that is not for an event stream gets the usual answer.
    let mut page = RawClient::get(server.local_addr(), "/", "");
    let head = page.head();
    assert_eq!((head.status, head.header("retry-after")), (503, Some("7")));
    assert_eq!(server.clients(), 2);
}

/// A client that never reads is disconnected once a write to it makes no progress for the write
/// timeout, and a client that keeps reading misses nothing meanwhile, even though the whole burst
/// is queued at once (the default `max_queued_bytes` holds it).
#[test]
fn slow_reader_is_dropped_while_others_keep_receiving() {
    const EVENTS: usize = 400;
    let hub = Hub::builder().write_timeout(Duration::from_secs(2)).build();
    let server = Server::builder().hub(hub.clone()).start().unwrap();
    let mut stalled = RawClient::stream(server.local_addr(), "/", "");
    let addr = server.local_addr();
    let mut reader = RawClient::stream(addr, "/", "");
    assert!(hub.wait_until_clients(|n| n == 2, READ_TIMEOUT));

    // 400 events of 64 KiB: 25 MiB, more than loopback socket buffers can absorb.
    let payload = "x".repeat(64 * 1024);
    let publisher = {
        let hub = hub.clone();
        thread::spawn(move || {
            for i in 0..EVENTS {
                hub.send_new_event(Event::new().id(i.to_string()).data(payload.as_str())).unwrap();
            }
        })
    };
    for i in 0..EVENTS {
        assert_eq!(reader.next_block().get("id"), Some(i.to_string().as_str()));
    }
    publisher.join().unwrap();
    assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT), "the stalled client was not dropped");
    let stats = hub.stats();
    assert_eq!((stats.dropped_slow, stats.disconnects), (1, 1));
    stalled.read_to_end(); // what was buffered, then the end of the stream
}

/// A client that stops reading is dropped once a write makes no progress for `write_timeout`, even
/// while its backlog is under `max_queued_bytes`.
#[test]
fn a_client_that_stops_reading_is_dropped_at_the_write_timeout() {
    let hub = Hub::builder()
        .max_queued_bytes(256 * 1024 * 1024)
        .write_timeout(Duration::from_millis(200))
        .heartbeat(None)
        .build();
    let server = Server::builder().hub(hub.clone()).start().unwrap();
    let mut stalled = RawClient::stream(server.local_addr(), "/", "");
    assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT));
    common::flood(&hub);
    let started = Instant::now();
    assert!(hub.wait_until_clients(|n| n == 0, READ_TIMEOUT), "the stalled client was not dropped");
    // The blocked write gives up after 200 ms of no progress; the bound leaves room for a loaded
    // machine.
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(hub.stats().dropped_slow, 1);
    stalled.read_to_end();
}

/// Past the connection limit, a client that does not finish its request head in time still gets
/// an answer (`408`), from the overflow thread.
#[test]
fn past_the_limit_a_slow_request_head_gets_408() {
    let server = Server::builder().max_connections(0).start().unwrap();
    let mut slow = RawClient::connect(server.local_addr());
    slow.send("GET / HT");
    assert_eq!(slow.head().status, 408);
}

/// Past the connection limit, a client that sends its request and then shuts its side of the
/// connection (as `printf ... | nc -N` does) still gets its answer: the end of its bytes comes
/// after the head, which is answered first.
#[test]
fn past_the_limit_a_request_followed_by_its_senders_end_is_answered() {
    let server = Server::builder().max_connections(0).start().unwrap();
    for _ in 0..20 {
        let mut client = RawClient::connect(server.local_addr());
        client.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        client.socket.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(client.head().status, 503);
    }
}
