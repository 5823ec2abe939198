//! Topics over HTTP: clients subscribed to topics (from their request's `match` parameters,
//! through `Response::selection`) and clients of the whole hub get exactly their events, private ones
//! only with a private selector; resuming, compression and heartbeats work for topic subscribers
//! as for everyone.

mod common;

use std::time::Duration;

use bare_sse::hub::{Selection, Topics, RESET_EVENT_TYPE};
use bare_sse::server::{Request, Response};
use bare_sse::topic::{SelectorLimits, TopicSelector};
use bare_sse::{Event, Hub, Server};
use common::test_inflate::gunzip;
use common::{RawClient, READ_TIMEOUT};

/// A selector of exact topics (`*`: every topic).
fn selector<'a>(topics: impl IntoIterator<Item = &'a str>) -> TopicSelector {
    let params = topics.into_iter().map(|topic| ("match", topic));
    TopicSelector::from_params(params, None, &SelectorLimits::default()).unwrap()
}

/// A server with `hub` on `/all` (every event) and on `/topics`, where the `match` parameters
/// select the topics the client subscribes to (as Mercure's do) and each `private` one is a topic
/// whose private events it may read.
fn serve(hub: &Hub) -> Server {
    let topics_hub = hub.clone();
    let select = move |request: &Request| {
        let params = request.query().iter().map(|(name, value)| (name.as_str(), value.as_str()));
        let Ok(subscribed) = TopicSelector::from_params(params, None, &SelectorLimits::default()) else {
            return Response::text("no topic\n").with_status(400);
        };
        let private: Vec<&str> =
            request.query().iter().filter(|(name, _)| name == "private").map(|(_, topic)| topic.as_str()).collect();
        let mut selection = Selection::topics(subscribed);
        if !private.is_empty() {
            selection = selection.with_private(selector(private));
        }
        Response::hub(topics_hub.clone()).selection(selection)
    };
    Server::builder().route_hub("/all", hub.clone()).route("/topics", select).start().unwrap()
}

/// The data of each event a client receives until one whose data is `last`, that one included.
fn data_until(client: &mut RawClient, last: &str) -> Vec<String> {
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some(last) {
        seen.push(client.next_block().data());
    }
    seen
}

#[test]
fn topic_subscribers_and_whole_hub_subscribers_get_exactly_their_events() {
    let hub = Hub::builder().heartbeat(None).build();
    let server = serve(&hub);
    let addr = server.local_addr();
    let mut a = RawClient::stream(addr, "/topics?match=a", "");
    let mut b = RawClient::stream(addr, "/topics?match=b", "");
    let mut both = RawClient::stream(addr, "/topics?match=a&match=b", "");
    let mut every = RawClient::stream(addr, "/all", "");
    let mut private_a = RawClient::stream(addr, "/topics?match=a&private=a", "");
    let mut wildcard = RawClient::stream(addr, "/topics?match=*", "");
    assert!(hub.wait_until_clients(|n| n == 6, READ_TIMEOUT));

    hub.publish_to(&Topics::new(["a"]), Event::new().data("1")).unwrap();
    hub.publish_to(&Topics::new(["b"]), Event::new().data("2")).unwrap();
    hub.publish_to(&Topics::new(["a", "b"]), Event::new().data("3")).unwrap();
    hub.send_new_event(Event::new().data("notice")).unwrap();
    hub.publish_to(&Topics::new(["a"]).private(true), Event::new().data("private")).unwrap();
    hub.publish_to(&Topics::new(["c"]), Event::new().data("4")).unwrap();
    hub.send_new_event(Event::new().data("end")).unwrap();

    assert_eq!(data_until(&mut a, "end"), ["1", "3", "notice", "end"]);
    assert_eq!(data_until(&mut b, "end"), ["2", "3", "notice", "end"]);
    assert_eq!(data_until(&mut both, "end"), ["1", "2", "3", "notice", "end"], "an event of both topics once");
    assert_eq!(data_until(&mut every, "end"), ["1", "2", "3", "notice", "4", "end"]);
    assert_eq!(data_until(&mut private_a, "end"), ["1", "3", "notice", "private", "end"]);
    assert_eq!(data_until(&mut wildcard, "end"), ["1", "2", "3", "notice", "4", "end"]);
    server.stop();
}

/// Ids are the hub's one sequence: a topic subscriber's last id is a place in it, and it is sent
/// the kept events of its topics after it; with an id the hub does not hold, the reset event and
/// the kept events of its topics. `publish_to` returns each event's id.
#[test]
fn a_topic_subscriber_resumes_with_the_kept_events_of_its_topics() {
    let hub = Hub::builder().id_epoch(7).heartbeat(None).build();
    let server = serve(&hub);
    let mut ids = Vec::new();
    for (topic, data) in [("a", "a1"), ("b", "b1"), ("a", "a2"), ("b", "b2")] {
        ids.push(hub.publish_to(&Topics::new([topic]), Event::new().data(data).with_id()).unwrap());
    }
    assert_eq!(ids, [Some("7-1"), Some("7-2"), Some("7-3"), Some("7-4")].map(|id| id.map(str::to_string)));
    let explicit = hub.publish_to(&Topics::new(["a"]), Event::new().data("a3").id("mine")).unwrap();
    assert_eq!(explicit.as_deref(), Some("mine"));
    assert_eq!(hub.publish_to(&Topics::new(["a"]), Event::new().data("live only")).unwrap(), None);

    let mut resumed = RawClient::stream(server.local_addr(), "/topics?match=a", "Last-Event-ID: 7-2\r\n");
    let block = resumed.next_block();
    assert_eq!((block.get("id"), block.data().as_str()), (Some("7-3"), "a2"));
    assert_eq!(resumed.next_block().get("id"), Some("mine"));

    let mut reset = RawClient::stream(server.local_addr(), "/topics?match=b", "Last-Event-ID: 6-1\r\n");
    let first = reset.next_block();
    assert_eq!((first.get("event"), first.data().as_str()), (Some(RESET_EVENT_TYPE), "6-1"));
    assert_eq!(reset.next_block().data(), "b1");
    assert_eq!(reset.next_block().data(), "b2");
    hub.send_new_event(Event::new().data("end")).unwrap();
    assert_eq!(reset.next_block().data(), "end", "nothing of topic a in between");
    assert_eq!(resumed.next_block().data(), "end");
    server.stop();
}

/// A compressing hub compresses each event once for every feed: a gzip client of one topic
/// decodes exactly its topic's events, and its stream ends with a checked trailer when the server
/// stops. Heartbeats reach a topic subscriber that no event is for.
#[test]
fn gzip_and_heartbeats_reach_topic_subscribers() {
    let hub = Hub::builder().gzip(6).heartbeat(Some(Duration::from_millis(20))).build();
    let server = serve(&hub);
    let mut zipped = RawClient::get(server.local_addr(), "/topics?match=a", "Accept-Encoding: gzip\r\n");
    assert_eq!(zipped.head().header("content-encoding"), Some("gzip"));
    let mut quiet = RawClient::stream(server.local_addr(), "/topics?match=nobody-publishes-this", "");
    assert!(hub.wait_until_clients(|n| n == 2, READ_TIMEOUT));
    assert_eq!(quiet.read_through(": keep-alive\n"), ": keep-alive\n", "a heartbeat");

    let mut expected = String::new();
    for i in 0..6 {
        let topic = if i % 2 == 0 { "a" } else { "b" };
        let data = format!("{topic}{i} {}", "cell ".repeat(i * 20));
        hub.publish_to(&Topics::new([topic]), Event::new().data(data.clone())).unwrap();
        if topic == "a" {
            expected.push_str(&format!("data: {data}\n\n"));
        }
    }
    let decoded = |body: &[u8]| {
        gunzip(body).ok().map(|(data, ended)| (String::from_utf8(data).unwrap().replace(": keep-alive\n", ""), ended))
    };
    zipped.read_body_until(|body| decoded(body).is_some_and(|(text, _)| text == expected));
    server.stop();
    let body = zipped.read_body_to_end();
    assert_eq!(decoded(&body), Some((expected, true)), "the member ends, its trailer checked");
}

/// Heartbeats follow each topic's own silence: a client of a quiet topic gets one while another
/// topic is busier than the heartbeat interval (before topics, silence was the hub's, and it never
/// came).
#[test]
fn a_quiet_topic_gets_heartbeats_while_another_is_busy() {
    // A run in which the publisher itself fell silent for a heartbeat interval (a loaded machine
    // can pause it) shows nothing, since the whole hub was silent then: it is run again.
    for _ in 0..5 {
        if quiet_topic_heartbeat_while_another_is_busy() {
            return;
        }
    }
    panic!("the publisher was paused for a heartbeat interval in every run");
}

/// One run: false when it showed nothing (the busy topic fell silent for an interval).
fn quiet_topic_heartbeat_while_another_is_busy() -> bool {
    // Far longer than the gaps between the busy topic's events, even on a loaded machine.
    let interval = Duration::from_millis(300);
    let hub = Hub::builder().heartbeat(Some(interval)).build();
    let server = serve(&hub);
    let mut quiet = RawClient::stream(server.local_addr(), "/topics?match=quiet", "");
    let mut busy = RawClient::stream(server.local_addr(), "/topics?match=busy", "");
    assert!(hub.wait_until_clients(|n| n == 2, READ_TIMEOUT));
    let (heard, heartbeat) = std::sync::mpsc::channel();
    let listener = std::thread::spawn(move || heard.send(quiet.read_through(": keep-alive\n")).unwrap());
    let deadline = std::time::Instant::now() + READ_TIMEOUT;
    let (mut published, mut longest_gap, mut last) = (0, Duration::ZERO, std::time::Instant::now());
    // Every millisecond an event of the busy topic, until the quiet topic's client has a heartbeat.
    while heartbeat.try_recv().is_err() {
        assert!(std::time::Instant::now() < deadline, "no heartbeat for the quiet topic");
        hub.publish_to(&Topics::new(["busy"]), Event::new().data(published.to_string())).unwrap();
        longest_gap = longest_gap.max(last.elapsed());
        last = std::time::Instant::now();
        published += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
    listener.join().unwrap();
    for n in 0..published {
        assert_eq!(busy.next_block().data(), n.to_string(), "the busy topic's events, in order");
    }
    server.stop();
    longest_gap < interval
}

/// Topics a publisher may not send are refused before anything is sent or numbered: none, too
/// many, an empty one, one too long, one with a control character.
#[test]
fn invalid_topics_are_refused_and_nothing_is_sent() {
    use bare_sse::hub::{MAX_TOPICS_PER_EVENT, MAX_TOPIC_BYTES};
    let hub = Hub::builder().id_epoch(7).build();
    let too_many: Vec<String> = (0..=MAX_TOPICS_PER_EVENT).map(|n| n.to_string()).collect();
    for topics in [
        Topics::new(Vec::<String>::new()),
        Topics::new(too_many),
        Topics::new(["a", ""]),
        Topics::new(["x".repeat(MAX_TOPIC_BYTES + 1)]),
        Topics::new(["a\nevent: injected"]),
    ] {
        let refused = hub.publish_to(&topics, Event::new().data("x").with_id());
        assert!(matches!(refused, Err(bare_sse::Error::InvalidField { field: "topic", .. })), "{topics:?}");
    }
    assert_eq!((hub.stats().events_sent, hub.stats().history_len), (0, 0));
    let first = hub.publish_to(&Topics::new(["x".repeat(MAX_TOPIC_BYTES)]), Event::new().data("x").with_id());
    assert_eq!(first.unwrap().as_deref(), Some("7-1"), "the refused events took no id");
}

/// `report_resume` adds a header to the head, once the client has joined, saying where its stream
/// resumes: after its last id when the hub has it, from the earliest event kept otherwise.
#[test]
fn the_head_can_say_where_the_stream_resumes() {
    let hub = Hub::builder().id_epoch(7).heartbeat(None).build();
    hub.publish_to(&Topics::new(["a"]), Event::new().data("a1").with_id()).unwrap();
    let reporting = hub.clone();
    let server = Server::builder()
        .hub(hub.clone())
        .path("/plain")
        .route("/reported", move |_: &Request| {
            let selection = Selection::topics(selector(["a"]));
            Response::hub(reporting.clone()).selection(selection).report_resume("Resumes-After")
        })
        .start()
        .unwrap();
    for (last_id, reported) in [(None, "earliest"), (Some("7-1"), "7-1"), (Some("6-1"), "earliest")] {
        let header = last_id.map(|id| format!("Last-Event-ID: {id}\r\n")).unwrap_or_default();
        let mut client = RawClient::get(server.local_addr(), "/reported", &header);
        let head = client.head();
        assert_eq!((head.status, head.header("resumes-after")), (200, Some(reported)), "{last_id:?}");
        assert_eq!(head.header("content-type"), Some("text/event-stream; charset=utf-8"), "the rest of the head");
        if last_id == Some("6-1") {
            assert_eq!(client.next_block().get("event"), Some(RESET_EVENT_TYPE));
        }
        if reported == "earliest" {
            assert_eq!(client.next_block().data(), "a1", "from the earliest event kept");
        }
    }
    let mut plain = RawClient::get(server.local_addr(), "/plain", "");
    assert_eq!(plain.head().header("resumes-after"), None, "only where asked for");
    server.stop();
}

/// A topic subscriber whose socket fills up is caught up by a catch-up thread, and gets its
/// topic's events exactly, in order, while a subscriber of another topic is not held back.
#[test]
fn a_topic_subscriber_that_falls_behind_catches_up_exactly() {
    let hub = Hub::builder().heartbeat(None).build();
    let server = serve(&hub);
    let mut slow = RawClient::stream(server.local_addr(), "/topics?match=slow", "");
    let mut fast = RawClient::stream(server.local_addr(), "/topics?match=fast", "");
    assert!(hub.wait_until_clients(|n| n == 2, READ_TIMEOUT));
    let payload = "x".repeat(64 * 1024);
    // About 13 MB for the slow topic: more than a loopback socket's buffers hold.
    for n in 0..200 {
        hub.publish_to(&Topics::new(["slow"]), Event::new().data(format!("{n} {payload}"))).unwrap();
        if n % 20 == 0 {
            hub.publish_to(&Topics::new(["fast"]), Event::new().data(n.to_string())).unwrap();
        }
    }
    // More than the sockets' buffers hold: the slow client's backlog is a catch-up thread's.
    common::eventually("the slow client handed to a catch-up thread", || hub.stats().catch_up_threads == 1);
    for n in (0..200).step_by(20) {
        assert_eq!(fast.next_block().data(), n.to_string(), "the other topic's client reads on");
    }
    for n in 0..200 {
        let data = slow.next_block().data();
        assert_eq!(
            data.split_once(' ').map(|(n, rest)| (n.to_string(), rest.len())),
            Some((n.to_string(), payload.len()))
        );
    }
    hub.send_new_event(Event::new().data("end")).unwrap();
    assert_eq!(slow.next_block().data(), "end", "nothing more, nothing twice");
    assert_eq!(fast.next_block().data(), "end");
    server.stop();
}
