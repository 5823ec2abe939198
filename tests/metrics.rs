//! The metrics exposition: exact counts after a known sequence of clients, events, errors, resumes
//! and drops, read both as text and by a parser nobody here wrote: `prometheus_client`'s
//! (`pip install prometheus_client`; without it, that half of each check says so and is skipped).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use bare_sse::json;
use bare_sse::server::METRICS_CONTENT_TYPE;
use bare_sse::{write_event, Event, Hub, Server};
use common::redis::RedisServer;
use common::{eventually, RawClient, READ_TIMEOUT};

/// The epoch of the test hubs' ids, so that ids (and so byte counts) are known in advance.
const EPOCH: u64 = 7;

/// Every family the exposition has, with its type: none may go missing.
const FAMILIES: [(&str, &str); 10] = [
    ("bare_sse_connections_open", "gauge"),
    ("bare_sse_connections_accepted", "counter"),
    ("bare_sse_connections_turned_away", "counter"),
    ("bare_sse_requests", "counter"),
    ("bare_sse_hub_clients", "gauge"),
    ("bare_sse_hub_events_published", "counter"),
    ("bare_sse_hub_bytes_written", "counter"),
    ("bare_sse_hub_slow_client_drops", "counter"),
    ("bare_sse_hub_resets", "counter"),
    ("bare_sse_hub_resumes", "counter"),
];

/// One sample, as the text names it: its name, its labels, its value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// What `prometheus_client` parsed: every family (name and type) and every sample.
struct Parsed {
    families: Vec<(String, String)>,
    samples: Vec<Sample>,
}

/// A sample a test expects: its name, its labels, its value.
type Expected<'a> = (&'a str, &'a [(&'a str, &'a str)], u64);

/// `GET path` on a connection of its own; checks the answer is the exposition and returns it.
fn scrape(server: &Server, path: &str) -> String {
    let mut client = RawClient::get(server.local_addr(), path, "Connection: close\r\n");
    let head = client.head();
    assert_eq!((head.status, head.header("content-type")), (200, Some(METRICS_CONTENT_TYPE)));
    client.read_to_end()
}

/// The value of the sample `name` with exactly `labels`, read from the text by the format's rules
/// for the few label values these tests use (no escapes).
fn text_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
    let written: Vec<String> = labels.iter().map(|(label, value)| format!("{label}=\"{value}\"")).collect();
    let key = if labels.is_empty() { name.to_string() } else { format!("{name}{{{}}}", written.join(",")) };
    let line = text.lines().find(|line| line.strip_prefix(key.as_str()).is_some_and(|rest| rest.starts_with(' ')))?;
    Some(line[key.len() + 1..].parse().unwrap())
}

/// Runs `prometheus_client`'s text parser over `text`. `None`, with the reason printed, where
/// python3 or the package is missing.
fn parsed_by_prometheus_client(text: &str) -> Option<Parsed> {
    const SCRIPT: &str = r#"
import json, sys
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError as error:
    print(error)
    sys.exit(3)
for family in text_string_to_metric_families(sys.stdin.read()):
    print(json.dumps(["family", family.name, family.type, family.documentation]))
    for sample in family.samples:
        print(json.dumps(["sample", sample.name, sample.labels, sample.value]))
"#;
    let child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        println!("skipped the prometheus_client check: python3 could not be started");
        return None;
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    if output.status.code() == Some(3) {
        println!("skipped the prometheus_client check: {} (pip install prometheus_client)", stdout.trim());
        return None;
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "prometheus_client refused the exposition: {stderr}\n{text}");
    let (mut families, mut samples) = (Vec::new(), Vec::new());
    for line in stdout.lines() {
        let item = json::parse(line).unwrap();
        let item = item.as_array().unwrap();
        let text = |index: usize| item[index].as_str().unwrap().to_string();
        if text(0) == "family" {
            assert!(!text(3).is_empty(), "every family has its help: {line}");
            families.push((text(1), text(2)));
            continue;
        }
        let labels = item[2].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()));
        samples.push(Sample { name: text(1), labels: labels.collect(), value: item[3].as_f64().unwrap() });
    }
    Some(Parsed { families, samples })
}

/// Checks each `(name, labels, value)` in the text and, where it can run, in what
/// `prometheus_client` parsed: the same value, every family present with its type, and as many
/// samples as the text has lines of them.
fn check(text: &str, expected: &[Expected]) {
    for (name, labels, value) in expected {
        assert_eq!(text_value(text, name, labels), Some(*value), "{name} {labels:?} in\n{text}");
    }
    let Some(Parsed { families, samples }) = parsed_by_prometheus_client(text) else { return };
    for (name, kind) in FAMILIES {
        assert!(families.contains(&(name.to_string(), kind.to_string())), "{name} ({kind}) in {families:?}");
    }
    let sample_lines = text.lines().filter(|line| !line.is_empty() && !line.starts_with('#')).count();
    assert_eq!(samples.len(), sample_lines, "every sample parsed");
    for (name, labels, value) in expected {
        let found = samples.iter().find(|sample| {
            sample.name == *name
                && sample.labels.len() == labels.len()
                && labels.iter().all(|(l, v)| sample.labels.iter().any(|(sl, sv)| sl == l && sv == v))
        });
        assert_eq!(found.map(|sample| sample.value), Some(*value as f64), "{name} {labels:?} as parsed");
    }
}

/// The bytes of an event with this id and data, as the hub writes them.
fn event_bytes(id: Option<&str>, event_type: Option<&str>, data: &str) -> u64 {
    let mut event = Event::new().data(data);
    if let Some(id) = id {
        event = event.id(id);
    }
    if let Some(event_type) = event_type {
        event = event.event(event_type);
    }
    let mut out = Vec::new();
    write_event(&mut out, &event).unwrap();
    out.len() as u64
}

/// Three clients, five events with ids and one without, a 404, a 405, a resume, an unknown id, a
/// `HEAD`: every counter exact, twice (the second scrape counts the first).
#[test]
fn every_counter_is_exact_after_a_known_sequence() {
    let chat = Hub::builder().id_epoch(EPOCH).heartbeat(None).build();
    let news = Hub::builder().name("news").heartbeat(None).build();
    let server = Server::builder()
        .route_hub("/chat", chat.clone())
        .route_hub("/news", news.clone())
        .route_metrics("/metrics")
        .start()
        .unwrap();
    let addr = server.local_addr();
    chat.send_new_event(Event::new().data("first").with_id()).unwrap();
    news.send_new_events(&[Event::new().data("to nobody"), Event::new().data("again")]).unwrap();

    let mut clients: Vec<RawClient> = (0..3).map(|_| RawClient::stream(addr, "/chat", "")).collect();
    for client in &mut clients {
        assert_eq!(client.next_block().data(), "first");
    }
    assert!(chat.wait_until_clients(|n| n == 3, READ_TIMEOUT));
    for i in 2..=5 {
        chat.send_new_event(Event::new().data(format!("event {i}")).with_id()).unwrap();
    }
    for client in &mut clients {
        for i in 2..=5 {
            assert_eq!(client.next_block().get("id"), Some(format!("{EPOCH}-{i}").as_str()));
        }
    }
    let mut missing = RawClient::get(addr, "/nope", "Connection: close\r\n");
    assert_eq!(missing.head().status, 404);
    missing.read_to_end();
    let mut wrong_method = RawClient::connect(addr);
    wrong_method.send("POST /chat HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert_eq!(wrong_method.head().status, 405);
    wrong_method.read_to_end();
    let mut resumed = RawClient::stream(addr, "/chat", &format!("Last-Event-ID: {EPOCH}-3\r\n"));
    assert_eq!(resumed.next_block().get("id"), Some(format!("{EPOCH}-4").as_str()));
    let mut reset = RawClient::stream(addr, "/chat", "Last-Event-ID: 6-1\r\n");
    assert_eq!(reset.next_block().get("event"), Some("bare-sse-reset"));
    let mut head_only = RawClient::connect(addr);
    head_only.send("HEAD /chat HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(head_only.head_keeping_framing().status, 200);
    drop((missing, wrong_method, head_only));

    // A live event that every client reads: each was handed to its flusher after its history, so
    // once it is flushed, every write so far has been counted.
    chat.send_new_event(Event::new().data("sync")).unwrap();
    clients.push(resumed);
    clients.push(reset);
    for client in &mut clients {
        while client.next_block().data() != "sync" {}
    }
    assert!(chat.flush(READ_TIMEOUT));
    eventually("the one-off connections to close", || server.connections() == 5);

    let data = |i: usize| if i == 1 { "first".to_string() } else { format!("event {i}") };
    let with_id = |i: usize| event_bytes(Some(&format!("{EPOCH}-{i}")), None, &data(i));
    let history: u64 = (1..=5).map(with_id).sum();
    let sync = event_bytes(None, None, "sync");
    let reset_event = event_bytes(None, Some("bare-sse-reset"), "6-1");
    let bytes = 3 * (history + sync) + (with_id(4) + with_id(5) + sync) + (reset_event + history + sync);

    let first = scrape(&server, "/metrics");
    check(
        &first,
        &[
            // Five streams, and the scrape's own connection.
            ("bare_sse_connections_open", &[], 6),
            ("bare_sse_connections_accepted_total", &[], 9),
            ("bare_sse_connections_turned_away_total", &[], 0),
            // Five streams and the HEAD; the scrape is counted once it is answered.
            ("bare_sse_requests_total", &[("code", "200")], 6),
            ("bare_sse_requests_total", &[("code", "404")], 1),
            ("bare_sse_requests_total", &[("code", "405")], 1),
            ("bare_sse_hub_clients", &[("hub", "/chat")], 5),
            ("bare_sse_hub_clients", &[("hub", "news")], 0),
            ("bare_sse_hub_events_published_total", &[("hub", "/chat")], 6),
            ("bare_sse_hub_events_published_total", &[("hub", "news")], 2),
            ("bare_sse_hub_bytes_written_total", &[("hub", "/chat")], bytes),
            ("bare_sse_hub_bytes_written_total", &[("hub", "news")], 0),
            ("bare_sse_hub_slow_client_drops_total", &[("hub", "/chat")], 0),
            ("bare_sse_hub_slow_client_drops_total", &[("hub", "news")], 0),
            ("bare_sse_hub_resets_total", &[("hub", "/chat")], 1),
            ("bare_sse_hub_resets_total", &[("hub", "news")], 0),
            ("bare_sse_hub_resumes_total", &[("hub", "/chat"), ("source", "history")], 1),
            ("bare_sse_hub_resumes_total", &[("hub", "/chat"), ("source", "redis")], 0),
            ("bare_sse_hub_resumes_total", &[("hub", "news"), ("source", "history")], 0),
            ("bare_sse_hub_resumes_total", &[("hub", "news"), ("source", "redis")], 0),
        ],
    );
    let samples = first.lines().filter(|line| !line.starts_with('#')).count();
    assert_eq!(samples, 20, "only those: no other status, no other hub\n{first}");

    let second = scrape(&server, "/metrics");
    check(
        &second,
        &[
            ("bare_sse_connections_accepted_total", &[], 10),
            ("bare_sse_requests_total", &[("code", "200")], 7),
            ("bare_sse_hub_clients", &[("hub", "/chat")], 5),
        ],
    );
    server.stop();
    check(
        &server.metrics(),
        &[("bare_sse_connections_open", &[], 0), ("bare_sse_hub_clients", &[("hub", "/chat")], 0)],
    );
}

/// A client that stops reading is dropped as slow, and counted.
#[test]
fn a_slow_client_drop_is_counted() {
    let hub = Hub::builder().write_timeout(Duration::from_millis(200)).heartbeat(None).build();
    let server = Server::builder().route_hub("/events", hub.clone()).route_metrics("/metrics").start().unwrap();
    let mut stalled = RawClient::stream(server.local_addr(), "/events", "");
    assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT));
    // Events of 64 KiB until the client is dropped: as many as its socket absorbs, and a little
    // more, whatever the buffers' size (at most 64 MiB, past `max_queued_bytes`).
    let event = Event::new().data("x".repeat(64 * 1024));
    // The first event reaches the client's socket (which holds it unread) before the burst: a
    // burst published faster than a flusher runs, on a loaded machine, could put the client past
    // `max_queued_bytes` with nothing written yet.
    hub.send_new_event(&event).unwrap();
    eventually("the first event written", || hub.stats().bytes_written > 0);
    let mut published = 1;
    while hub.clients() > 0 && published < 1024 {
        hub.send_new_event(&event).unwrap();
        published += 1;
    }
    assert!(hub.wait_until_clients(|n| n == 0, READ_TIMEOUT), "the stalled client was not dropped");
    let text = scrape(&server, "/metrics");
    check(
        &text,
        &[
            ("bare_sse_hub_slow_client_drops_total", &[("hub", "/events")], 1),
            ("bare_sse_hub_clients", &[("hub", "/events")], 0),
            ("bare_sse_hub_events_published_total", &[("hub", "/events")], published),
        ],
    );
    let written = text_value(&text, "bare_sse_hub_bytes_written_total", &[("hub", "/events")]).unwrap();
    assert!(written > 0 && written < published * 64 * 1024, "part of the burst reached the stalled client: {written}");
    stalled.read_to_end();
}

/// Connections past the limit are counted as accepted and turned away, and their answers by status.
#[test]
fn connections_past_the_limit_are_counted() {
    let server = Server::builder().max_connections(1).start().unwrap();
    let _stream = RawClient::stream(server.local_addr(), "/", "");
    assert!(server.hub().wait_until_clients(|n| n == 1, READ_TIMEOUT));
    let mut stream_request = RawClient::get(server.local_addr(), "/", "Accept: text/event-stream\r\n");
    assert_eq!(stream_request.head().status, 200);
    stream_request.read_to_end();
    let mut page_request = RawClient::get(server.local_addr(), "/", "");
    assert_eq!(page_request.head().status, 503);
    page_request.read_to_end();
    check(
        &server.metrics(),
        &[
            ("bare_sse_connections_accepted_total", &[], 3),
            ("bare_sse_connections_turned_away_total", &[], 2),
            ("bare_sse_connections_open", &[], 1),
            ("bare_sse_requests_total", &[("code", "200")], 2),
            ("bare_sse_requests_total", &[("code", "503")], 1),
            ("bare_sse_hub_clients", &[("hub", "/")], 1),
        ],
    );
}

/// Hub names are label values: a quote, a backslash, a line feed and any other character come out
/// of a real parser as they went in. The route answers `GET` and `HEAD` only, and takes precedence
/// over a hub that streams on every path.
#[test]
fn label_values_are_escaped_and_the_route_takes_get_and_head() {
    let name = "a \"quoted\" \\ name\nover two lines, ü";
    let odd = Hub::builder().name(name).build();
    let server = Server::builder().hub(Hub::new()).route_hub("/odd", odd).route_metrics("/metrics").start().unwrap();
    let text = scrape(&server, "/metrics");
    assert!(
        text.contains("bare_sse_hub_clients{hub=\"a \\\"quoted\\\" \\\\ name\\nover two lines, ü\"} 0\n"),
        "{text}"
    );
    if let Some(Parsed { samples, .. }) = parsed_by_prometheus_client(&text) {
        let clients: Vec<&Sample> = samples.iter().filter(|sample| sample.name == "bare_sse_hub_clients").collect();
        assert_eq!(clients.len(), 1, "routes set: the server's own hub is not served, nor reported");
        assert_eq!(clients[0].labels, [("hub".to_string(), name.to_string())]);
    }
    let mut head = RawClient::connect(server.local_addr());
    head.send("HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(head.head_keeping_framing().status, 200);
    let mut post = RawClient::connect(server.local_addr());
    post.send("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let post_head = post.head();
    assert_eq!((post_head.status, post_head.header("allow")), (405, Some("GET, HEAD, OPTIONS")));

    // Without routes, the hub streams on every path but the metrics'.
    let everywhere = Server::builder().route_metrics("/metrics").start().unwrap();
    let _client = RawClient::stream(everywhere.local_addr(), "/anything", "");
    assert!(everywhere.hub().wait_until_clients(|n| n == 1, READ_TIMEOUT));
    check(&scrape(&everywhere, "/metrics"), &[("bare_sse_hub_clients", &[("hub", "/")], 1)]);
}

/// A hub on a Redis stream: a client whose last id the local history does not hold resumes from
/// the stream, and is counted so; an id the stream never held gets the reset event.
#[test]
fn resumes_from_the_redis_stream_are_counted() {
    let Some(redis) = RedisServer::start() else { return };
    let hub = Hub::builder().redis(&redis.url(), "events").unwrap().history_events(1).heartbeat(None).build();
    let server = Server::builder().route_hub("/events", hub.clone()).route_metrics("/metrics").start().unwrap();
    assert!(hub.wait_until_following(READ_TIMEOUT));
    let mut first = RawClient::stream(server.local_addr(), "/events", "");
    assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT));
    for i in 0..3 {
        hub.send_new_event(Event::new().data(format!("e{i}")).with_id()).unwrap();
    }
    let ids: Vec<String> = (0..3).map(|_| first.next_block().get("id").unwrap().to_string()).collect();
    // The history keeps the last event only: a resume after the first comes from the stream.
    let mut from_stream = RawClient::stream(server.local_addr(), "/events", &format!("Last-Event-ID: {}\r\n", ids[0]));
    assert_eq!(from_stream.next_block().data(), "e1");
    let mut from_history = RawClient::stream(server.local_addr(), "/events", &format!("Last-Event-ID: {}\r\n", ids[2]));
    let mut lost = RawClient::stream(server.local_addr(), "/events", "Last-Event-ID: 1-1\r\n");
    assert_eq!(lost.next_block().get("event"), Some("bare-sse-reset"));
    assert!(hub.wait_until_clients(|n| n == 4, READ_TIMEOUT));
    hub.send_new_event(Event::new().data("live")).unwrap();
    assert_eq!(from_history.next_block().data(), "live");
    check(
        &scrape(&server, "/metrics"),
        &[
            ("bare_sse_hub_resumes_total", &[("hub", "/events"), ("source", "redis")], 1),
            ("bare_sse_hub_resumes_total", &[("hub", "/events"), ("source", "history")], 1),
            ("bare_sse_hub_resets_total", &[("hub", "/events")], 1),
            ("bare_sse_hub_clients", &[("hub", "/events")], 4),
        ],
    );
}
