//! The stream response on the wire: head, events, encoding, retry, heartbeats, HTTP/1.0, HEAD.

mod common;

use std::io::Read;
use std::time::Duration;

use bare_sse::{start_sse_tcp_port, Error, Event, Hub, Server};
use common::{agent, RawClient, READ_TIMEOUT};

fn wait_for_clients(server: &Server, count: usize) {
    assert!(server.hub().wait_until_clients(|n| n == count, READ_TIMEOUT), "expected {count} clients");
}

#[test]
fn response_head_and_first_event() {
    let server = start_sse_tcp_port(0).unwrap();
    let mut client = RawClient::get(server.local_addr(), "/", "Accept: text/event-stream\r\n");
    let head = client.head();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("text/event-stream; charset=utf-8"));
    assert_eq!(head.header("cache-control"), Some("no-cache"));
    assert_eq!(head.header("x-accel-buffering"), Some("no"));
    assert_eq!(head.header("access-control-allow-origin"), Some("*"));
    assert_eq!(head.header("content-length"), None);
    assert_eq!(head.header("transfer-encoding"), Some("chunked"), "HTTP/1.1 streams are chunked");

    wait_for_clients(&server, 1);
    server.send_new_event(Event::new().data("Hello World!")).unwrap();
    assert_eq!(client.read_through("\n\n"), "data: Hello World!\n\n");
}

/// Some HTTP stacks (Python's `requests`, under sseclient-py) hand a body with no framing to the
/// program only once their buffer fills: each event must arrive as its own chunk, at once.
#[test]
fn each_event_is_one_chunk_on_the_wire() {
    let server = start_sse_tcp_port(0).unwrap();
    let mut client = RawClient::get(server.local_addr(), "/", "");
    client.head_keeping_framing();
    wait_for_clients(&server, 1);
    server.send_new_event(Event::new().data("one")).unwrap();
    assert_eq!(client.read_through("\n\r\n"), "b\r\ndata: one\n\n\r\n");
    server.send_new_event(Event::new().data("two")).unwrap();
    assert_eq!(client.read_through("\n\r\n"), "b\r\ndata: two\n\n\r\n");
}

#[test]
fn every_client_gets_every_event_in_order() {
    let server = start_sse_tcp_port(0).unwrap();
    let mut clients: Vec<RawClient> = (0..5).map(|_| RawClient::stream(server.local_addr(), "/", "")).collect();
    wait_for_clients(&server, 5);
    for i in 0..100 {
        server.send_new_event(Event::new().event("n").data(i.to_string())).unwrap();
    }
    for client in &mut clients {
        for i in 0..100 {
            let block = client.next_block();
            assert_eq!((block.get("event"), block.data()), (Some("n"), i.to_string()));
        }
    }
}

#[test]
fn multi_line_data_with_crlf_cr_and_lf() {
    let server = start_sse_tcp_port(0).unwrap();
    let mut client = RawClient::stream(server.local_addr(), "/", "");
    wait_for_clients(&server, 1);
    server.send_new_event(Event::new().data("one\r\ntwo\rthree\nfour")).unwrap();
    assert_eq!(client.read_through("\n\n"), "data: one\ndata: two\ndata: three\ndata: four\n\n");
}

#[test]
fn injection_is_rejected_and_nothing_is_sent() {
    let server = start_sse_tcp_port(0).unwrap();
    let mut client = RawClient::stream(server.local_addr(), "/", "");
    wait_for_clients(&server, 1);
    let attacks = [
        Event::new().event("x\ndata: injected").data("a"),
        Event::new().event("x\rretry: 1").data("a"),
        Event::new().id("1\r\nevent: evil").data("a"),
        Event::new().id("1\0").data("a"),
    ];
    for attack in attacks {
        let err = server.send_new_event(attack).unwrap_err();
        assert!(matches!(err, Error::InvalidField { .. }), "{err}");
    }
    server.send_new_event(Event::new().data("clean")).unwrap();
    assert_eq!(client.read_through("\n\n"), "data: clean\n\n", "no bytes of a rejected event went out");
    assert_eq!(server.hub().stats().events_sent, 1);
    assert_eq!(server.hub().stats().history_len, 0);
}

#[test]
fn retry_is_sent_at_connect_when_set() {
    let server = Server::builder().retry(Some(Duration::from_millis(2500))).start().unwrap();
    let mut client = RawClient::stream(server.local_addr(), "/", "");
    assert_eq!(client.read_through("\n"), "retry: 2500\n", "sent at connect, before any event");
    wait_for_clients(&server, 1);
    server.send_new_event(Event::new().data("first")).unwrap();
    // No blank line after `retry:`: it joins the first event's block, so clients that turn a block
    // holding only `retry:` into an empty event (httpx-sse) see none.
    assert_eq!(client.read_through("\n\n"), "data: first\n\n");
}

#[test]
fn heartbeat_comments_flow_when_idle() {
    let hub = Hub::builder().heartbeat(Some(Duration::from_millis(50))).build();
    let server = Server::builder().hub(hub).start().unwrap();
    let mut client = RawClient::stream(server.local_addr(), "/", "");
    client.read_through(": keep-alive\n");
    client.read_through(": keep-alive\n");
}

#[test]
fn no_heartbeat_when_turned_off() {
    let hub = Hub::builder().heartbeat(None).build();
    let server = Server::builder().hub(hub).start().unwrap();
    let mut client = RawClient::stream(server.local_addr(), "/", "");
    wait_for_clients(&server, 1);
    client.socket.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut byte = [0u8; 1];
    let read = client.socket.read(&mut byte);
    assert!(read.is_err(), "nothing should arrive on an idle stream without heartbeats: {read:?}");
}

#[test]
fn http10_client_gets_a_close_delimited_stream() {
    let server = start_sse_tcp_port(0).unwrap();
    let mut client = RawClient::connect(server.local_addr());
    client.send("GET /events HTTP/1.0\r\n\r\n");
    let head = client.head();
    assert_eq!(head.status, 200);
    assert_eq!((head.header("connection"), head.header("transfer-encoding")), (Some("close"), None));
    wait_for_clients(&server, 1);
    server.send_new_event(Event::new().data("old client")).unwrap();
    assert_eq!(client.read_through("\n\n"), "data: old client\n\n");
    server.stop();
    assert_eq!(client.read_to_end(), "", "stream ends with the connection");
}

#[test]
fn head_request_gets_the_head_only() {
    let server = start_sse_tcp_port(0).unwrap();
    let mut client = RawClient::connect(server.local_addr());
    client.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    // Read the raw bytes after the head: a response to HEAD has no body, not even a last chunk.
    let head = client.head_keeping_framing();
    assert_eq!((head.status, head.header("content-type")), (200, Some("text/event-stream; charset=utf-8")));
    assert_eq!(client.read_to_end(), "");
    assert_eq!(server.clients(), 0);
}

#[test]
fn only_the_configured_path_streams() {
    let server = Server::builder().path("/events").start().unwrap();
    let mut other = RawClient::get(server.local_addr(), "/other", "");
    assert_eq!(other.head().status, 404);
    let mut encoded = RawClient::get(server.local_addr(), "/%65vents?x=1", "");
    assert_eq!(encoded.head().status, 200, "the path is matched after decoding, query ignored");
}

#[test]
fn ureq_reads_the_stream() {
    let server = start_sse_tcp_port(0).unwrap();
    server.send_new_event(Event::new().event("greeting").data("hi").with_id()).unwrap();
    let url = format!("http://{}/events", server.local_addr());
    let mut response = agent().get(&url).header("Accept", "text/event-stream").call().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream; charset=utf-8");
    let mut reader = response.body_mut().as_reader();
    let mut received = Vec::new();
    let mut chunk = [0u8; 256];
    while !received.ends_with(b"\n\n") {
        let n = reader.read(&mut chunk).unwrap();
        assert!(n > 0, "stream ended early");
        received.extend_from_slice(&chunk[..n]);
    }
    let received = String::from_utf8(received).unwrap();
    assert!(received.starts_with("event: greeting\nid: ") && received.ends_with("-1\ndata: hi\n\n"), "{received}");
}

#[test]
fn one_hub_on_two_ports() {
    let hub = Hub::new();
    let first = Server::builder().hub(hub.clone()).start().unwrap();
    let second = Server::builder().hub(hub.clone()).start().unwrap();
    let mut a = RawClient::stream(first.local_addr(), "/", "");
    let mut b = RawClient::stream(second.local_addr(), "/", "");
    assert!(hub.wait_until_clients(|n| n == 2, READ_TIMEOUT));
    hub.send_new_event(Event::new().data("both")).unwrap();
    assert_eq!(a.next_block().data(), "both");
    assert_eq!(b.next_block().data(), "both");
    first.stop();
    assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT));
    hub.send_new_event(Event::new().data("still")).unwrap();
    assert_eq!(b.next_block().data(), "still");
}

#[test]
fn a_page_is_served_next_to_the_stream() {
    let server = Server::builder().path("/events").page("/", "<h1>hi</h1>").start().unwrap();
    let url = format!("http://{}/", server.local_addr());
    let mut response = agent().get(&url).call().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(response.body_mut().read_to_string().unwrap(), "<h1>hi</h1>");
    let mut stream = RawClient::get(server.local_addr(), "/events", "");
    assert_eq!(stream.head().header("content-type"), Some("text/event-stream; charset=utf-8"));
}
