//! Persistent HTTP/1.1 connections, over raw sockets: several requests on one connection,
//! pipelining, bodies the handler leaves unread, the keep-alive timeout, `Connection: close`,
//! HTTP/1.0 with and without `keep-alive`, the request limit, streams that end, answers of events
//! complete at once, and idle connections closed to make room when the server is full.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use bare_sse::datastar::{self, DatastarStream, SignalOptions};
use bare_sse::server::{Request, Response};
use bare_sse::{Event, Hub, Server, ServerBuilder};
use common::{RawClient, READ_TIMEOUT};

/// A server with a few routes: `/echo` answers with the request's method, path and body;
/// `/ignore` answers without looking at the body; `/ds` is a Datastar action (a stream that
/// ends); `/ds-events` is the same action answered with its events complete
/// (`datastar::events_response`); `/events` is a hub.
fn server(builder: ServerBuilder) -> (Server, Hub) {
    let hub = Hub::new();
    let server = builder
        .route("/echo", |request: &Request| {
            let body = String::from_utf8_lossy(request.body()).into_owned();
            Response::text(format!("{} {} {body}", request.method(), request.path()))
        })
        .route("/ignore", |_: &Request| Response::text("ignored"))
        .route("/ds", |request: &Request| {
            let count = datastar::read_signals(request).ok().and_then(|s| s.get("n")?.as_i64()).unwrap_or(0);
            datastar::response(move |stream| {
                let _ = stream.patch_signals(format!("{{\"n\":{}}}", count + 1).as_str(), SignalOptions::new());
            })
        })
        .route("/ds-events", |request: &Request| {
            let count = datastar::read_signals(request).ok().and_then(|s| s.get("n")?.as_i64()).unwrap_or(0);
            let patch = datastar::patch_signals(format!("{{\"n\":{}}}", count + 1).as_str(), SignalOptions::new());
            datastar::events_response(&[patch.unwrap(), Event::new().event("done").data("ok")]).unwrap()
        })
        .route_hub("/events", hub.clone())
        .start()
        .unwrap();
    (server, hub)
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")
}

fn post(path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Reads one complete response: its status, `Connection` field and body.
fn response(client: &mut RawClient) -> (u16, Option<String>, String) {
    let head = client.head();
    let body = client.read_to_end();
    (head.status, head.header("connection").map(str::to_string), body)
}

/// Reads a Datastar response to its last chunk; returns its events' text.
fn datastar_response(client: &mut RawClient) -> String {
    let head = client.head();
    assert_eq!((head.status, head.header("connection")), (200, Some("keep-alive")));
    client.read_to_end()
}

/// Whether the server closed the connection: a read returns nothing (or a reset).
fn closed_by_server(client: &mut RawClient) -> bool {
    let mut byte = [0u8; 1];
    match client.socket.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
    }
}

#[test]
fn two_then_a_hundred_requests_on_one_connection() {
    let (server, _hub) = server(Server::builder());
    let mut client = RawClient::connect(server.local_addr());
    client.send(&get("/echo"));
    assert_eq!(response(&mut client), (200, None, "GET /echo ".to_string()));
    client.send(&post("/echo", "{\"a\":1}"));
    assert_eq!(response(&mut client), (200, None, "POST /echo {\"a\":1}".to_string()));
    for i in 0..100 {
        client.send(&post("/echo", &i.to_string()));
        assert_eq!(response(&mut client).2, format!("POST /echo {i}"));
    }
    assert_eq!(server.connections(), 1, "all on one connection");
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (server, _hub) = server(Server::builder());
    let mut client = RawClient::connect(server.local_addr());
    let chunked = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    let all = [get("/echo?1"), post("/echo", "second"), chunked.to_string(), post("/ds", "{\"n\":41}"), get("/echo")];
    client.send(&all.concat());
    assert_eq!(response(&mut client).2, "GET /echo ");
    assert_eq!(response(&mut client).2, "POST /echo second");
    assert_eq!(response(&mut client).2, "POST /echo abc");
    assert_eq!(datastar_response(&mut client), "event: datastar-patch-signals\ndata: signals {\"n\":42}\n\n");
    assert_eq!(response(&mut client).2, "GET /echo ");
}

#[test]
fn a_body_the_handler_leaves_unread_is_still_consumed() {
    let (server, _hub) = server(Server::builder());
    let mut client = RawClient::connect(server.local_addr());
    // Bodies that look like requests must never be taken for one.
    client.send(&post("/ignore", &get("/echo")));
    assert_eq!(response(&mut client).2, "ignored");
    client.send("POST /ignore HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nGET /\r\n0\r\n\r\n");
    assert_eq!(response(&mut client).2, "ignored");
    client.send(&get("/echo"));
    assert_eq!(response(&mut client).2, "GET /echo ");
}

/// A request body is not a request head: a CR in it, arriving in the same read as the head, is
/// the body's business. (The head's rules once looked at every byte read so far.)
#[test]
fn a_body_with_a_cr_in_the_same_read_as_its_head_is_accepted() {
    let (server, _hub) = server(Server::builder());
    let mut client = RawClient::connect(server.local_addr());
    for body in ["a\rb", "\r", "x\r\r\ny", "abc"] {
        client.send(&format!("{}{}", post("/echo", body), get("/echo")));
        assert_eq!(response(&mut client), (200, None, format!("POST /echo {body}")), "{body:?}");
        assert_eq!(response(&mut client).2, "GET /echo ");
    }
}

#[test]
fn an_idle_connection_closes_at_the_keep_alive_timeout() {
    let timeout = Duration::from_millis(300);
    let (server, _hub) = server(Server::builder().keep_alive_timeout(timeout));
    let mut client = RawClient::connect(server.local_addr());
    // The server's wait starts after it has the request, so after this instant.
    let sent = Instant::now();
    client.send(&get("/echo"));
    response(&mut client);
    assert!(closed_by_server(&mut client));
    let waited = sent.elapsed();
    assert!(waited >= timeout && waited < READ_TIMEOUT, "closed after {waited:?}");
    common::eventually("the connection to be gone", || server.connections() == 0);
}

#[test]
fn connection_close_is_honoured_and_answered_in_kind() {
    let (server, _hub) = server(Server::builder());
    let mut client = RawClient::connect(server.local_addr());
    client.send("GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(response(&mut client), (200, Some("close".to_string()), "GET /echo ".to_string()));
    assert!(closed_by_server(&mut client));
}

#[test]
fn http10_keeps_the_connection_only_when_asked() {
    let (server, _hub) = server(Server::builder());
    let mut plain = RawClient::connect(server.local_addr());
    plain.send("GET /echo HTTP/1.0\r\n\r\n");
    assert_eq!(response(&mut plain).1.as_deref(), Some("close"));
    assert!(closed_by_server(&mut plain));

    let mut asking = RawClient::connect(server.local_addr());
    asking.send("GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(response(&mut asking), (200, Some("keep-alive".to_string()), "GET /echo ".to_string()));
    asking.send("GET /ignore HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(response(&mut asking).2, "ignored");
    asking.send("GET /echo HTTP/1.0\r\n\r\n");
    assert_eq!(response(&mut asking).1.as_deref(), Some("close"));
    assert!(closed_by_server(&mut asking));
}

#[test]
fn the_last_request_allowed_is_answered_with_close() {
    let (server, _hub) = server(Server::builder().max_requests_per_connection(3));
    let mut client = RawClient::connect(server.local_addr());
    for _ in 0..2 {
        client.send(&get("/echo"));
        assert_eq!(response(&mut client).1, None);
    }
    client.send(&get("/echo"));
    assert_eq!(response(&mut client).1.as_deref(), Some("close"));
    assert!(closed_by_server(&mut client));
}

#[test]
fn datastar_streams_that_end_keep_the_connection() {
    let (server, _hub) = server(Server::builder().stream_heartbeat(None));
    let mut client = RawClient::connect(server.local_addr());
    for n in 0..20 {
        client.send(&post("/ds", &format!("{{\"n\":{n}}}")));
        let expected = format!("event: datastar-patch-signals\ndata: signals {{\"n\":{}}}\n\n", n + 1);
        assert_eq!(datastar_response(&mut client), expected);
    }
    client.send(&get("/echo"));
    assert_eq!(response(&mut client).2, "GET /echo ");
    assert_eq!(server.connections(), 1);
}

/// An answer whose events are complete when the handler returns is one complete response: an
/// event stream's head with a `Content-Length`, no chunks, and the connection serves the next
/// request; on HTTP/1.0 too when the client asks to keep it; `HEAD` gets the head alone.
#[test]
fn answers_of_events_complete_at_once_have_a_length_and_keep_the_connection() {
    let (server, _hub) = server(Server::builder().stream_heartbeat(None));
    let expected =
        |n: i64| format!("event: datastar-patch-signals\ndata: signals {{\"n\":{n}}}\n\nevent: done\ndata: ok\n\n");
    let mut client = RawClient::connect(server.local_addr());
    for n in 0..20 {
        client.send(&post("/ds-events", &format!("{{\"n\":{n}}}")));
        let head = client.head();
        let body = client.read_to_end();
        assert_eq!((head.status, head.header("connection")), (200, Some("keep-alive")));
        assert_eq!(head.header("content-type"), Some("text/event-stream; charset=utf-8"));
        assert_eq!((head.header("cache-control"), head.header("transfer-encoding")), (Some("no-cache"), None));
        assert_eq!(head.header("content-length"), Some(expected(n + 1).len().to_string().as_str()));
        assert_eq!(body, expected(n + 1));
    }
    client.send("HEAD /ds-events HTTP/1.1\r\nHost: x\r\n\r\n");
    let head = client.head_keeping_framing();
    assert_eq!((head.status, head.header("content-length")), (200, Some(expected(1).len().to_string().as_str())));
    client.send(&get("/echo"));
    assert_eq!(response(&mut client).2, "GET /echo ");
    assert_eq!(server.connections(), 1);

    let mut old = RawClient::connect(server.local_addr());
    old.send("GET /ds-events HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(response(&mut old), (200, Some("keep-alive".to_string()), expected(1)));
    old.send("GET /ds-events HTTP/1.0\r\n\r\n");
    assert_eq!(response(&mut old), (200, Some("close".to_string()), expected(1)));
    assert!(closed_by_server(&mut old));
}

/// The server's `retry` line opens an answer of events as it opens a stream, and a `204` is its
/// head alone.
#[test]
fn answers_of_events_carry_the_retry_line_and_a_bodiless_status_drops_them() {
    let server = Server::builder()
        .retry(Some(Duration::from_millis(1500)))
        .route("/events", |_: &Request| Response::events(&[Event::new().data("one")]).unwrap())
        .route("/none", |_: &Request| Response::events(&[Event::new().data("one")]).unwrap().with_status(204))
        .start()
        .unwrap();
    let mut client = RawClient::connect(server.local_addr());
    client.send(&get("/events"));
    assert_eq!(response(&mut client), (200, None, "retry: 1500\ndata: one\n\n".to_string()));
    client.send(&get("/none"));
    let head = client.head();
    assert_eq!((head.status, head.header("content-length"), client.read_to_end().as_str()), (204, None, ""));
    client.send(&get("/events"));
    assert_eq!(response(&mut client).2, "retry: 1500\ndata: one\n\n");
}

#[test]
fn a_request_then_an_event_stream_on_the_same_connection() {
    let (server, hub) = server(Server::builder());
    let mut client = RawClient::connect(server.local_addr());
    client.send(&get("/echo"));
    assert_eq!(response(&mut client).2, "GET /echo ");
    client.send(&get("/events"));
    let head = client.head();
    assert_eq!((head.status, head.header("connection")), (200, Some("close")), "a hub stream ends with its connection");
    assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT));
    hub.send_new_event(Event::new().data("live")).unwrap();
    assert_eq!(client.next_block().data(), "live");
}

#[test]
fn refused_requests_close_the_connection_and_nothing_after_them_is_answered() {
    let (server, _hub) = server(Server::builder().max_body_bytes(8));
    let cases = [
        // Both framings at once: a smuggling shape.
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        // A body over the limit.
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n123456789",
        // A broken chunked body.
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        // A Transfer-Encoding that names no coding: the body's length is unknown (RFC 9112 §6.3).
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \r\n\r\n0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ,\r\n\r\n0\r\n\r\n",
    ];
    for case in cases {
        let mut client = RawClient::connect(server.local_addr());
        client.send(&format!("{case}{}", get("/echo")));
        let (status, connection, _) = response(&mut client);
        assert!((400..500).contains(&status), "{case:?}: {status}");
        assert_eq!(connection.as_deref(), Some("close"), "{case:?}");
        assert!(closed_by_server(&mut client), "{case:?}: the pipelined GET must not be answered");
    }
}

#[test]
fn a_route_that_is_not_there_keeps_the_connection_unless_a_body_came_with_it() {
    let (server, _hub) = server(Server::builder());
    let mut client = RawClient::connect(server.local_addr());
    client.send(&get("/nowhere"));
    assert_eq!(response(&mut client).0, 404);
    client.send(&get("/echo"));
    assert_eq!(response(&mut client).2, "GET /echo ");
    client.send(&post("/nowhere", "x"));
    let (status, connection, _) = response(&mut client);
    assert_eq!((status, connection.as_deref()), (404, Some("close")));
    assert!(closed_by_server(&mut client));
}

#[test]
fn an_idle_connection_is_the_first_to_go_when_the_server_is_full() {
    let (server, _hub) = server(Server::builder().max_connections(2).keep_alive_timeout(Duration::from_secs(3600)));
    let mut oldest = RawClient::connect(server.local_addr());
    oldest.send(&get("/echo"));
    response(&mut oldest);
    common::eventually("the first connection to wait", || server.idle_connections() == 1);
    let mut newer = RawClient::connect(server.local_addr());
    newer.send(&get("/echo"));
    response(&mut newer);
    common::eventually("both connections to wait", || server.idle_connections() == 2);
    // Both wait for their next request; a third connection takes the oldest one's place.
    let mut third = RawClient::connect(server.local_addr());
    third.send(&get("/echo"));
    assert_eq!(response(&mut third).2, "GET /echo ");
    assert!(closed_by_server(&mut oldest));
    newer.send(&get("/ignore"));
    assert_eq!(response(&mut newer).2, "ignored");
}

#[test]
fn after_a_stream_that_ends_the_keep_alive_timeout_still_closes_an_idle_connection() {
    let builder = Server::builder().stream_heartbeat(Some(Duration::from_millis(100)));
    let (server, _hub) = server(builder.keep_alive_timeout(Duration::from_millis(200)));
    let mut client = RawClient::connect(server.local_addr());
    client.send(&post("/ds", "{}"));
    datastar_response(&mut client);
    // No heartbeat comes after the body's end: the next bytes are the close.
    assert!(closed_by_server(&mut client));
    common::eventually("the connection to be gone", || server.connections() == 0);
}

/// A stream that lasts until its departure watch starts (which reads the socket with timeouts of
/// its own, down to the heartbeat interval) leaves its connection waiting for the next request for
/// the keep-alive timeout, not for the last timeout the watch set.
#[test]
fn after_a_watched_stream_the_connection_waits_its_whole_keep_alive_timeout() {
    let (release, released) = std::sync::mpsc::channel::<()>();
    let released = std::sync::Arc::new(std::sync::Mutex::new(released));
    let builder = Server::builder().stream_heartbeat(Some(Duration::from_millis(20)));
    let server = builder
        .keep_alive_timeout(Duration::from_secs(3600))
        .route("/echo", |request: &Request| Response::text(request.path().to_string()))
        .route("/held", move |_: &Request| {
            let released = std::sync::Arc::clone(&released);
            Response::stream(move |_stream| {
                let _ = released.lock().unwrap().recv();
            })
        })
        .start()
        .unwrap();
    let mut client = RawClient::connect(server.local_addr());
    client.send(&get("/echo"));
    assert_eq!(response(&mut client).2, "/echo");
    client.send(&get("/held"));
    client.head();
    // Heartbeats come from the watch alone: it has started.
    client.read_through(": keep-alive\n");
    release.send(()).unwrap();
    client.read_to_end();
    // Time is the behaviour: far longer than any timeout the watch set, far shorter than the
    // keep-alive timeout.
    std::thread::sleep(Duration::from_millis(300));
    client.send(&get("/echo"));
    assert_eq!(response(&mut client).2, "/echo", "the connection is still open");
}

#[test]
fn stopping_the_server_ends_streams_whose_watch_has_not_started() {
    let (started, starts) = std::sync::mpsc::channel();
    let started = std::sync::Mutex::new(started);
    let server = Server::builder()
        .route("/wait", move |_: &Request| {
            let started = started.lock().unwrap().clone();
            Response::stream(move |stream| {
                let (hold, wait) = std::sync::mpsc::channel::<()>();
                stream.on_close(move || drop(hold));
                started.send(()).unwrap();
                let _ = wait.recv(); // until the stream closes
            })
        })
        .start()
        .unwrap();
    let _client = RawClient::stream(server.local_addr(), "/wait", "");
    starts.recv_timeout(READ_TIMEOUT).unwrap();
    // Whether or not the watch has started by now, stopping closes the stream and returns.
    server.stop();
    assert_eq!(server.connections(), 0);
}

/// A thread that holds a clone of a per-connection stream and waits for it to end is woken when
/// the stream's body ends on a persistent connection, as when it closes; and closing that clone
/// afterwards does not cut the connection, which serves the next request by then.
#[test]
fn a_stream_that_ends_on_a_kept_connection_is_over_for_every_clone() {
    let (over_tx, over) = std::sync::mpsc::channel::<()>();
    let (late_close_tx, late_close) = std::sync::mpsc::channel::<bare_sse::EventStream>();
    let over_tx = std::sync::Mutex::new(over_tx);
    let late_close_tx = std::sync::Mutex::new(late_close_tx);
    let server = Server::builder()
        .route("/brief", move |_: &Request| {
            let over_tx = over_tx.lock().unwrap().clone();
            let late_close_tx = late_close_tx.lock().unwrap().clone();
            Response::stream(move |stream| {
                let waiter = stream.clone();
                std::thread::spawn(move || {
                    if waiter.wait_closed(Some(READ_TIMEOUT)) {
                        let _ = over_tx.send(());
                    }
                });
                stream.send(&Event::new().data("once")).unwrap();
                late_close_tx.send(stream.clone()).unwrap();
            })
        })
        .route("/echo", |request: &Request| Response::text(request.path().to_string()))
        .start()
        .unwrap();
    let mut client = RawClient::connect(server.local_addr());
    client.send(&get("/brief"));
    client.head();
    assert_eq!(client.read_to_end(), "data: once\n\n");
    over.recv_timeout(READ_TIMEOUT).expect("the waiting clone saw the stream end");
    late_close.recv_timeout(READ_TIMEOUT).unwrap().close();
    client.send(&get("/echo"));
    assert_eq!(response(&mut client).2, "/echo", "the kept connection still serves");
}

/// A server whose `/status/<code>/<kind>` answers with that status and a body of that kind (each
/// one the handler means to send): `text`, `json`, `stream`, `hub` or `datastar`; with a page,
/// a Datastar one-shot, a POST-only route and a hub on their own paths, and `/echo`.
fn status_server() -> (Server, Hub) {
    let hub = Hub::new();
    let route_hub = hub.clone();
    let server = Server::builder()
        .stream_heartbeat(None)
        .page("/page", "<h1>the page</h1>")
        .route("/one-shot", |_: &Request| {
            datastar::html_response("<p id=\"p\">BODY</p>", datastar::ElementOptions::new()).unwrap()
        })
        .route_method("POST", "/post-only", |_: &Request| Response::text("BODY"))
        .route_hub("/hub", hub.clone())
        .route_prefix("/status/", move |request: &Request| {
            let mut parts = request.path().trim_start_matches("/status/").split('/');
            let code: u16 = parts.next().and_then(|code| code.parse().ok()).expect("a status");
            let response = match parts.next() {
                Some("text") => Response::text("BODY-OF-THE-HANDLER"),
                Some("json") => Response::json(&bare_sse::json::Value::from("BODY-OF-THE-HANDLER")),
                Some("stream") => Response::stream(|stream| {
                    let _ = stream.send(&Event::new().data("BODY-OF-THE-HANDLER"));
                }),
                Some("hub") => Response::hub(route_hub.clone()),
                Some("datastar") => datastar::response(|stream| {
                    let _ = stream.patch_signals("{\"body\":\"of the handler\"}", SignalOptions::new());
                }),
                other => panic!("no kind {other:?}"),
            };
            response.with_status(code)
        })
        .route("/echo", |request: &Request| Response::text(format!("{} {}", request.method(), request.path())))
        .start()
        .unwrap();
    (server, hub)
}

const KINDS: [&str; 5] = ["text", "json", "stream", "hub", "datastar"];

/// `204` and `304` never have a body (RFC 9110 §6.4.1): whatever body the handler gave is
/// dropped, the head has no framing field, and the next answer on the connection is read
/// cleanly. Written after the head, the body would be read as the start of the next response
/// (response splitting, when the body carries what a client sent).
#[test]
fn bodiless_statuses_never_carry_the_handlers_body() {
    let (server, hub) = status_server();
    for code in [204, 304] {
        for kind in KINDS {
            let mut client = RawClient::connect(server.local_addr());
            for _ in 0..2 {
                client.send(&get(&format!("/status/{code}/{kind}")));
                let head = client.head();
                assert_eq!(head.status, code, "{code} {kind}");
                for framing in ["content-length", "transfer-encoding"] {
                    assert_eq!(head.header(framing), None, "{code} {kind}: {framing}");
                }
                client.send(&get("/echo"));
                assert_eq!(response(&mut client), (200, None, "GET /echo".to_string()), "after {code} {kind}");
            }
        }
    }
    assert_eq!(hub.stats().disconnects, 0, "a bodiless answer makes no hub client");
}

/// An interim status (1xx) cannot be a handler's answer: a client would wait for the final one.
/// The handler is refused where it sets it, and the client gets `500` and a clean close.
#[test]
fn an_interim_status_from_a_handler_is_a_500() {
    let (server, _hub) = status_server();
    for code in [100, 101, 103, 199] {
        for kind in KINDS {
            let mut client = RawClient::connect(server.local_addr());
            client.send(&format!("{}{}", get(&format!("/status/{code}/{kind}")), get("/echo")));
            let (status, connection, _) = response(&mut client);
            assert_eq!((status, connection.as_deref()), (500, Some("close")), "{code} {kind}");
            assert!(closed_by_server(&mut client), "{code} {kind}: nothing follows");
        }
    }
}

/// The answer to `HEAD` is the head a `GET` gets and nothing after it, whatever the handler
/// answers (text, JSON, a page, a stream, a hub, a Datastar stream or one-shot, a status with
/// no body, the server's own 404 and 405); and the connection serves the next request cleanly.
#[test]
fn head_gets_the_head_alone_for_every_kind_of_answer() {
    let (server, hub) = status_server();
    // Each target: its path, the status, and the framing field a GET gets (none for a 204).
    let mut targets: Vec<(String, u16, &str)> = Vec::new();
    for kind in KINDS {
        let framing = if matches!(kind, "text" | "json") { "content-length" } else { "transfer-encoding" };
        targets.push((format!("/status/200/{kind}"), 200, framing));
        targets.push((format!("/status/404/{kind}"), 404, framing));
        targets.push((format!("/status/204/{kind}"), 204, ""));
    }
    for (path, status, framing) in [
        ("/page", 200, "content-length"),
        ("/one-shot", 200, "content-length"),
        ("/hub", 200, "transfer-encoding"),
        ("/nowhere", 404, "content-length"),
        ("/post-only", 405, "content-length"),
    ] {
        targets.push((path.to_string(), status, framing));
    }
    for (path, status, framing) in targets {
        let mut client = RawClient::connect(server.local_addr());
        for _ in 0..2 {
            client.send(&format!("HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n"));
            let head = client.head_keeping_framing();
            assert_eq!(head.status, status, "HEAD {path}");
            assert_ne!(head.header("connection"), Some("close"), "HEAD {path}: the connection stays open");
            if !framing.is_empty() {
                assert!(head.header(framing).is_some(), "HEAD {path}: {framing}, as for GET");
            }
            client.send(&get("/echo"));
            assert_eq!(response(&mut client), (200, None, "GET /echo".to_string()), "after HEAD {path}");
        }
    }
    assert_eq!(hub.stats().disconnects, 0, "HEAD makes no hub client");
}
