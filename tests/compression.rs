//! Compressed event streams over real sockets: negotiation from `Accept-Encoding`, each event
//! decodable the moment it arrives, the gzip trailer at a clean end, Datastar responses, and a
//! check that Python's zlib decodes what the server sends.

mod common;

use std::sync::mpsc;
use std::sync::Mutex;

use bare_sse::compress::Gzip;
use bare_sse::datastar::{self, DatastarStream, ElementOptions};
use bare_sse::server::{Request, Response};
use bare_sse::{Event, Server};
use common::test_inflate::gunzip;
use common::{RawClient, READ_TIMEOUT};

/// A server whose `/stream` sends an event each time the test says so, then ends.
fn stepped_server() -> (Server, mpsc::Sender<Option<String>>) {
    let (steps, step) = mpsc::channel::<Option<String>>();
    let step = Mutex::new(Some(step));
    let server = Server::builder()
        .route("/stream", move |_: &Request| {
            let step = step.lock().unwrap().take().expect("one stream per test");
            Response::stream(move |stream| {
                while let Ok(Some(data)) = step.recv_timeout(READ_TIMEOUT) {
                    stream.send(&Event::new().event("update").data(data)).unwrap();
                }
            })
            .write_profile(Gzip::new(6).shared())
        })
        .start()
        .unwrap();
    (server, steps)
}

#[test]
fn each_event_decodes_as_it_arrives_and_the_end_has_a_checked_trailer() {
    let (server, steps) = stepped_server();
    let mut client = RawClient::get(server.local_addr(), "/stream", "Accept-Encoding: gzip, deflate, br\r\n");
    let head = client.head();
    assert_eq!(head.header("content-encoding"), Some("gzip"));
    assert_eq!(head.header("vary"), Some("Accept-Encoding"));
    assert_eq!(head.header("cache-control"), Some("no-cache"));
    let mut expected = String::new();
    for i in 0..30 {
        let data = format!("<div id=\"region\">{}</div>", format!("row {i} ").repeat(50));
        expected.push_str(&format!("event: update\ndata: {data}\n\n"));
        steps.send(Some(data)).unwrap();
        // Read until everything sent so far decodes: nothing waits for a later event.
        let expected_bytes = expected.as_bytes();
        client.read_body_until(|body| gunzip(body).is_ok_and(|(data, _)| data == expected_bytes));
    }
    steps.send(None).unwrap();
    let body = client.read_body_until(|body| gunzip(body).is_ok_and(|(_, ended)| ended));
    assert_eq!(gunzip(&body).unwrap(), (expected.clone().into_bytes(), true));
    assert!(body.len() * 4 < expected.len(), "{} compressed bytes for {}", body.len(), expected.len());
}

#[test]
fn no_gzip_in_accept_encoding_means_identity() {
    // A repeated list field is one list (RFC 9110 §5.3): the second line's `gzip;q=0` counts.
    let repeated = "Accept-Encoding: gzip\r\nAccept-Encoding: gzip;q=0\r\n";
    for accept in ["", "Accept-Encoding: gzip;q=0, br\r\n", "Accept-Encoding: identity\r\n", repeated] {
        let (server, steps) = stepped_server();
        let mut client = RawClient::get(server.local_addr(), "/stream", accept);
        let head = client.head();
        assert_eq!(head.header("content-encoding"), None, "{accept:?}");
        assert_eq!(head.header("vary"), Some("Accept-Encoding"), "{accept:?}");
        steps.send(Some("plain".into())).unwrap();
        assert_eq!(client.next_block().data(), "plain");
        steps.send(None).unwrap();
    }
}

#[test]
fn datastar_responses_are_compressed_when_the_server_offers_gzip() {
    let server = Server::builder()
        .write_profile(Gzip::default().shared())
        .route("/ds", |_: &Request| {
            datastar::response(|stream| {
                for i in 0..5 {
                    let html = format!("<ul id=\"list\">{}</ul>", "<li>item</li>".repeat(i * 20));
                    stream.patch_elements(&html, ElementOptions::new()).unwrap();
                }
            })
        })
        .start()
        .unwrap();
    let mut client = RawClient::get(server.local_addr(), "/ds", "Accept-Encoding: gzip\r\nConnection: close\r\n");
    let head = client.head();
    assert_eq!(
        (head.header("content-encoding"), head.header("content-type")),
        (Some("gzip"), Some("text/event-stream; charset=utf-8"))
    );
    let body = client.read_body_until(|body| gunzip(body).is_ok_and(|(_, ended)| ended));
    let (text, _) = gunzip(&body).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert_eq!(text.matches("event: datastar-patch-elements\n").count(), 5);
    assert!(text.ends_with(&format!("data: elements <ul id=\"list\">{}</ul>\n\n", "<li>item</li>".repeat(80))));
}

/// An answer of events complete at once is compressed whole: one gzip member, its length in
/// `Content-Length`, decoded to the events; a client that does not accept gzip gets them plain.
#[test]
fn answers_of_events_are_compressed_whole_when_the_client_accepts_the_profile() {
    let events: Vec<Event> = (0..5)
        .map(|i| datastar::patch_elements(&"<li>item</li>".repeat(i * 20), ElementOptions::new()).unwrap())
        .collect();
    let expected: Vec<u8> = events.iter().flat_map(|event| event.to_bytes().unwrap()).collect();
    let answer = events.clone();
    let server = Server::builder()
        .write_profile(Gzip::default().shared())
        .route("/ds", move |_: &Request| datastar::events_response(&answer).unwrap())
        .start()
        .unwrap();
    // Without gzip: the events as they are, and the connection serves the next request.
    let mut client = RawClient::connect(server.local_addr());
    client.send("GET /ds HTTP/1.1\r\nHost: x\r\n\r\n");
    let head = client.head();
    assert_eq!((head.header("content-encoding"), head.header("vary")), (None, Some("Accept-Encoding")));
    assert_eq!(client.read_to_end().into_bytes(), expected);
    client.send("GET /ds HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n");
    let head = client.head();
    assert_eq!((head.header("content-encoding"), head.header("vary")), (Some("gzip"), Some("Accept-Encoding")));
    let length: usize = head.header("content-length").unwrap().parse().unwrap();
    let body = client.read_body_to_end();
    assert_eq!(body.len(), length);
    assert_eq!(gunzip(&body).unwrap(), (expected.clone(), true));
    assert!(length * 4 < expected.len(), "{length} compressed bytes for {}", expected.len());
}

/// Decodes a gzip stream with Python's zlib (wbits 31: a gzip member, its header checked), and
/// with `must_end`, checks its trailer too; `None` (with the reason printed) without Python.
fn python_zlib_gunzip(body: &[u8], must_end: bool) -> Option<String> {
    let python = std::process::Command::new("python3").arg("--version").output();
    if !python.is_ok_and(|out| out.status.success()) {
        println!("skipped: python3 is not installed, so its zlib cannot check the stream");
        return None;
    }
    // A file of its own per call: the tests of this file run at once, in one process.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("bare-sse-gzip-{}-{call}.gz", std::process::id()));
    std::fs::write(&path, body).unwrap();
    let script = "import sys, zlib\n\
                  d = zlib.decompressobj(31)\n\
                  out = d.decompress(open(sys.argv[1], 'rb').read())\n\
                  assert d.eof or sys.argv[2] == 'open', 'the stream did not end'\n\
                  sys.stdout.buffer.write(out)";
    let must = if must_end { "end" } else { "open" };
    let decoded = std::process::Command::new("python3").arg("-c").arg(script).arg(&path).arg(must).output().unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(decoded.status.success(), "{}", String::from_utf8_lossy(&decoded.stderr));
    Some(String::from_utf8(decoded.stdout).unwrap())
}

#[test]
fn python_zlib_decodes_a_captured_stream() {
    let (server, steps) = stepped_server();
    let mut client = RawClient::get(server.local_addr(), "/stream", "Accept-Encoding: gzip\r\n");
    client.head();
    let mut expected = String::new();
    for i in 0..20 {
        let data = format!("{i}: {}", "ünïcode and repeats ".repeat(i));
        expected.push_str(&format!("event: update\ndata: {data}\n\n"));
        steps.send(Some(data)).unwrap();
    }
    steps.send(None).unwrap();
    let body = client.read_body_until(|body| gunzip(body).is_ok_and(|(_, ended)| ended));
    if let Some(decoded) = python_zlib_gunzip(&body, true) {
        assert_eq!(decoded, expected);
    }
}

/// A gzip stream whose member never ends (a hub stream): everything received so far decodes.
fn decoded_so_far(body: &[u8]) -> Option<String> {
    let (data, ended) = gunzip(body).ok()?;
    assert!(!ended, "an open hub stream has not ended its gzip member");
    String::from_utf8(data).ok()
}

#[test]
fn a_compressing_hub_serves_gzip_and_plain_clients_the_same_events() {
    use bare_sse::Hub;
    let hub = Hub::builder().gzip(6).heartbeat(None).build();
    let server =
        Server::builder().hub(hub.clone()).retry(Some(std::time::Duration::from_millis(2500))).start().unwrap();
    let event =
        |i: usize| Event::new().event("region").data(format!("<main id=\"m\">{}</main>", "cell ".repeat(i))).with_id();

    // Three kept events before anyone connects: a late joiner gets them from history.
    for i in 0..3 {
        hub.send_new_event(event(i)).unwrap();
    }
    let mut zipped = RawClient::get(server.local_addr(), "/", "Accept-Encoding: gzip\r\n");
    let head = zipped.head();
    assert_eq!((head.header("content-encoding"), head.header("vary")), (Some("gzip"), Some("Accept-Encoding")));
    let mut plain = RawClient::get(server.local_addr(), "/", "");
    assert_eq!(plain.head().header("content-encoding"), None);
    // A second `Accept-Encoding` line that refuses gzip is heard: plain bytes.
    let refusing = "Accept-Encoding: gzip\r\nAccept-Encoding: gzip;q=0\r\n";
    let mut refused = RawClient::get(server.local_addr(), "/", refusing);
    assert_eq!(refused.head().header("content-encoding"), None, "{refusing:?}");
    assert!(hub.wait_until_clients(|n| n == 3, READ_TIMEOUT));

    let mut expected = String::from("retry: 2500\n");
    let mut last_id = String::new();
    for i in 0..3 {
        let block = plain.next_block();
        last_id = block.get("id").unwrap().to_string();
        expected.push_str(&format!("event: region\nid: {last_id}\ndata: {}\n\n", block.data()));
        assert_eq!(block.data(), format!("<main id=\"m\">{}</main>", "cell ".repeat(i)));
    }
    let wanted = expected.clone();
    zipped.read_body_until(|body| decoded_so_far(body).is_some_and(|text| text == wanted));
    // Live events: each decodes as soon as it arrives.
    for i in 3..10 {
        hub.send_new_event(event(i)).unwrap();
        let block = plain.next_block();
        last_id = block.get("id").unwrap().to_string();
        expected.push_str(&format!("event: region\nid: {last_id}\ndata: {}\n\n", block.data()));
        let wanted = expected.clone();
        zipped.read_body_until(|body| decoded_so_far(body).is_some_and(|text| text == wanted));
    }

    // A client resuming from the fifth event decodes from its first byte: header, retry, then
    // the events after it.
    let resume_from = format!("{}-5", last_id.rsplit_once('-').unwrap().0);
    let mut resumed =
        RawClient::get(server.local_addr(), "/", &format!("Accept-Encoding: gzip\r\nLast-Event-ID: {resume_from}\r\n"));
    resumed.head();
    let from_sixth = expected.split_once(&format!("id: {resume_from}\n")).unwrap().1;
    // Past the fifth event's data line and blank line.
    let from_sixth = from_sixth.split_once("\n\n").unwrap().1;
    let wanted = format!("retry: 2500\n{from_sixth}");
    resumed.read_body_until(|body| decoded_so_far(body).is_some_and(|text| text == wanted));

    // One that resumes from an unknown id gets the reset event first, compressed like the rest.
    let mut reset = RawClient::get(server.local_addr(), "/", "Accept-Encoding: gzip\r\nLast-Event-ID: nope\r\n");
    reset.head();
    reset.read_body_until(|body| {
        decoded_so_far(body).is_some_and(|text| {
            text.starts_with("retry: 2500\nevent: bare-sse-reset\ndata: nope\n\n")
                && text.ends_with(&expected["retry: 2500\n".len()..])
        })
    });
}

/// A coding of the program's own: negotiated by its name, one encoder per response, `finish` at a
/// clean end.
#[test]
fn a_write_profile_of_the_programs_own_is_negotiated_by_name() {
    use bare_sse::compress::{BodyEncoder, WriteProfile};
    struct Reverse;
    struct ReverseEncoder;
    impl WriteProfile for Reverse {
        fn content_coding(&self) -> &str {
            "x-reverse"
        }
        fn encoder(&self) -> Box<dyn BodyEncoder> {
            Box::new(ReverseEncoder)
        }
    }
    impl BodyEncoder for ReverseEncoder {
        fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
            out.extend(input.iter().rev());
        }
        fn finish(&mut self, out: &mut Vec<u8>) {
            out.extend_from_slice(b"<end>");
        }
    }
    let server = Server::builder()
        .write_profile(std::sync::Arc::new(Reverse))
        .route("/", |_: &Request| Response::stream(|stream| stream.send(&Event::new().data("abc")).unwrap()))
        .start()
        .unwrap();
    let mut client =
        RawClient::get(server.local_addr(), "/", "Accept-Encoding: gzip, x-reverse\r\nConnection: close\r\n");
    assert_eq!(client.head().header("content-encoding"), Some("x-reverse"));
    assert_eq!(client.read_to_end(), "\n\ncba :atad<end>");

    // A response's own offer comes before the server's when the client weighs them alike.
    let server = Server::builder()
        .write_profile(std::sync::Arc::new(Reverse))
        .route("/", |_: &Request| {
            Response::stream(|stream| stream.send(&Event::new().data("abc")).unwrap())
                .write_profile(Gzip::new(1).shared())
        })
        .start()
        .unwrap();
    let mut client =
        RawClient::get(server.local_addr(), "/", "Accept-Encoding: x-reverse, gzip\r\nConnection: close\r\n");
    assert_eq!(client.head().header("content-encoding"), Some("gzip"));
}

#[test]
fn python_zlib_decodes_a_compressing_hubs_stream_from_its_first_byte() {
    let hub = bare_sse::Hub::builder().gzip(9).heartbeat(None).build();
    let server = Server::builder().hub(hub.clone()).start().unwrap();
    let mut expected = String::new();
    for i in 0..10 {
        hub.send_new_event(Event::new().data(format!("kept {i} {}", "x".repeat(i * 30))).id(format!("k{i}"))).unwrap();
        expected.push_str(&format!("id: k{i}\ndata: kept {i} {}\n\n", "x".repeat(i * 30)));
    }
    // A late joiner resuming after k4: what it reads is a gzip stream from its first byte.
    let mut client = RawClient::get(server.local_addr(), "/", "Accept-Encoding: gzip\r\nLast-Event-ID: k4\r\n");
    client.head();
    let wanted = expected.split_once("id: k5").map(|(_, rest)| format!("id: k5{rest}")).unwrap();
    let body = client.read_body_until(|body| gunzip(body).is_ok_and(|(data, _)| data == wanted.as_bytes()));
    // The stream never ends (a hub stream): zlib decodes what is there.
    if let Some(decoded) = python_zlib_gunzip(&body, false) {
        assert_eq!(decoded, wanted);
    }
}

/// When the server stops, a compressing hub's gzip clients get a whole gzip member, then the last
/// chunk: the final block, and a trailer whose CRC-32 and length are those of what each one
/// received, however it joined (with everything kept, resuming from history, after an unknown id,
/// or live only) and whatever came (events with and without ids, large and small, heartbeats).
/// Decoded strictly, here and by Python's zlib, which both fail on a truncated stream.
#[test]
fn a_compressing_hubs_gzip_streams_end_with_a_checked_trailer_when_the_server_stops() {
    use bare_sse::Hub;
    use std::time::Duration;
    let hub = Hub::builder().gzip(6).heartbeat(Some(Duration::from_millis(50))).build();
    let server = Server::builder().hub(hub.clone()).retry(Some(Duration::from_millis(2500))).start().unwrap();
    let data = |i: usize| format!("<p id=\"n{i}\">{}</p>", "ünïcode cell ".repeat(i * i * 7));
    let event = |i: usize| {
        let event = Event::new().event("tick").data(data(i));
        if i % 3 == 2 {
            event
        } else {
            event.id(format!("e{i}"))
        }
    };
    let text = |i: usize| {
        let id = if i % 3 == 2 { String::new() } else { format!("id: e{i}\n") };
        format!("event: tick\n{id}data: {}\n\n", data(i))
    };
    for i in 0..4 {
        hub.send_new_event(event(i)).unwrap();
    }
    let kept = |from: usize, to: usize| (from..to).filter(|i| i % 3 != 2).map(text).collect::<String>();
    let joins = [
        ("", format!("retry: 2500\n{}", kept(0, 4))),
        ("Last-Event-ID: e1\r\n", format!("retry: 2500\n{}", kept(2, 4))),
        ("Last-Event-ID: gone\r\n", format!("retry: 2500\nevent: bare-sse-reset\ndata: gone\n\n{}", kept(0, 4))),
    ];
    let mut clients: Vec<_> = joins
        .into_iter()
        .map(|(headers, expected)| {
            let mut client = RawClient::get(server.local_addr(), "/", &format!("Accept-Encoding: gzip\r\n{headers}"));
            assert_eq!(client.head().header("content-encoding"), Some("gzip"));
            (client, expected)
        })
        .collect();
    for i in 4..12 {
        hub.send_new_event(event(i)).unwrap();
        for (_, expected) in &mut clients {
            expected.push_str(&text(i));
        }
    }
    for (client, expected) in &mut clients {
        // Heartbeats may come between the events: a comment line, which the comparison leaves out.
        let wanted = expected.clone();
        let body = client.read_body_until(|body| {
            decoded_so_far(body).is_some_and(|text| text.replace(": keep-alive\n", "") == wanted)
        });
        *expected = decoded_so_far(&body).unwrap();
    }
    server.stop();
    for (at, (mut client, expected)) in clients.into_iter().enumerate() {
        let body = client.read_body_to_end();
        assert!(client.ended_with_last_chunk(), "client {at}: the body ends with its last chunk");
        let (decoded, ended) = gunzip(&body).unwrap_or_else(|error| panic!("client {at}: {error}"));
        assert!(ended, "client {at}: the gzip member ends, its trailer checked");
        let decoded = String::from_utf8(decoded).unwrap();
        // What it had decoded before the stop, then perhaps heartbeats: nothing else.
        let after = decoded.strip_prefix(&expected).unwrap_or_else(|| panic!("client {at}: {decoded:?}"));
        assert_eq!(after.replace(": keep-alive\n", ""), "", "client {at}");
        if let Some(decoded_by_zlib) = python_zlib_gunzip(&body, true) {
            assert_eq!(decoded_by_zlib, decoded, "client {at}");
        }
    }
}
