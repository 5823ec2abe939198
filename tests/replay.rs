//! History and resume: late joiners, Last-Event-ID by header and query, unknown ids, limits, and
//! resuming while other threads publish.

mod common;

use std::thread;

use bare_sse::{hub::RESET_EVENT_TYPE, Event, Hub, Server};
use common::{RawClient, READ_TIMEOUT};

/// The epoch of the test hubs' ids, so that ids are known in advance.
const EPOCH: u64 = 7;

/// The hub's `n`th id.
fn id(n: usize) -> String {
    format!("{EPOCH}-{n}")
}

fn numbered() -> bare_sse::HubBuilder {
    Hub::builder().id_epoch(EPOCH)
}

fn start_server() -> Server {
    Server::builder().hub(numbered().build()).start().unwrap()
}

fn publish_numbered(hub: &Hub, count: usize) {
    for i in 1..=count {
        hub.send_new_event(Event::new().data(format!("event {i}")).with_id()).unwrap();
    }
}

#[test]
fn late_joiner_gets_history_but_not_events_without_id() {
    let server = start_server();
    server.send_new_event(Event::new().data("kept 1").with_id()).unwrap();
    server.send_new_event(Event::new().data("live only")).unwrap();
    server.send_new_event(Event::new().data("kept 2").id("custom")).unwrap();
    server.send_new_event(Event::new().data("kept 3").with_id()).unwrap();

    let mut late = RawClient::stream(server.local_addr(), "/", "");
    assert_eq!(late.read_through("\n\n"), "id: 7-1\ndata: kept 1\n\n");
    assert_eq!(late.read_through("\n\n"), "id: custom\ndata: kept 2\n\n");
    assert_eq!(late.read_through("\n\n"), "id: 7-2\ndata: kept 3\n\n", "auto ids count only with_id events");
    assert!(server.hub().wait_until_clients(|n| n == 1, READ_TIMEOUT));
    server.send_new_event(Event::new().data("live")).unwrap();
    assert_eq!(late.read_through("\n\n"), "data: live\n\n", "history, then live, nothing else");
}

#[test]
fn resume_by_header_and_by_query() {
    let server = start_server();
    publish_numbered(server.hub(), 5);
    let ways = ["Last-Event-ID: 7-3\r\n", ""];
    let targets = ["/", "/?lastEventId=7-3", "/?last_event_id=7-3"];
    for (headers, target) in [(ways[0], targets[0]), (ways[1], targets[1]), (ways[1], targets[2])] {
        let mut client = RawClient::stream(server.local_addr(), target, headers);
        assert_eq!(client.next_block().get("id"), Some("7-4"), "{target} {headers}");
        assert_eq!(client.next_block().get("id"), Some("7-5"));
    }
}

#[test]
fn header_wins_over_query_and_empty_means_none() {
    let server = start_server();
    publish_numbered(server.hub(), 3);
    let mut client = RawClient::stream(server.local_addr(), "/?lastEventId=7-1", "Last-Event-ID: 7-2\r\n");
    assert_eq!(client.next_block().get("id"), Some("7-3"));
    let mut client = RawClient::stream(server.local_addr(), "/?lastEventId=", "");
    assert_eq!(client.next_block().get("id"), Some("7-1"), "an empty id replays everything");
}

#[test]
fn resume_from_the_newest_id_sends_only_live_events() {
    let server = start_server();
    publish_numbered(server.hub(), 3);
    let mut client = RawClient::stream(server.local_addr(), "/", "Last-Event-ID: 7-3\r\n");
    assert!(server.hub().wait_until_clients(|n| n == 1, READ_TIMEOUT));
    server.send_new_event(Event::new().data("next").with_id()).unwrap();
    assert_eq!(client.read_through("\n\n"), "id: 7-4\ndata: next\n\n");
}

#[test]
fn unknown_id_gets_a_reset_event_then_the_whole_history() {
    let hub = numbered().history_events(2).build();
    let server = Server::builder().hub(hub).start().unwrap();
    publish_numbered(server.hub(), 4); // 1 and 2 are evicted
    for gone in ["7-1", "never-sent"] {
        let mut client = RawClient::stream(server.local_addr(), "/", &format!("Last-Event-ID: {gone}\r\n"));
        let reset = client.next_block();
        assert_eq!((reset.get("event"), reset.data()), (Some(RESET_EVENT_TYPE), gone.to_string()));
        assert_eq!(client.next_block().get("id"), Some("7-3"));
        assert_eq!(client.next_block().get("id"), Some("7-4"));
    }
}

#[test]
fn history_limits_hold_at_the_boundary() {
    let hub = numbered().history_events(3).build();
    publish_numbered(&hub, 3);
    assert_eq!(hub.stats().history_len, 3);
    publish_numbered(&hub, 1);
    assert_eq!(hub.stats().history_len, 3);

    let event_bytes = "id: 7-1\ndata: event 1\n\n".len();
    let hub = numbered().history_bytes(2 * event_bytes).build();
    publish_numbered(&hub, 2);
    assert_eq!(hub.stats().history_len, 2, "exactly at the byte limit");
    publish_numbered(&hub, 1);
    assert_eq!(hub.stats().history_len, 2);
}

#[test]
fn the_hub_outlives_the_server_and_can_be_served_again() {
    let hub = numbered().build();
    let server = Server::builder().hub(hub.clone()).start().unwrap();
    hub.send_new_event(Event::new().data("a").with_id()).unwrap();
    server.stop();
    hub.send_new_event(Event::new().data("b").with_id()).unwrap();
    let again = Server::builder().hub(hub.clone()).start().unwrap();
    let mut client = RawClient::stream(again.local_addr(), "/", "");
    assert_eq!(client.read_through("\n\n"), "id: 7-1\ndata: a\n\n");
    assert_eq!(client.read_through("\n\n"), "id: 7-2\ndata: b\n\n");
}

/// Clients resume while two threads publish as fast as they can: each must see exactly the ids
/// after its last one, in order, with no duplicate and no gap.
#[test]
fn resume_during_concurrent_publishing_has_no_duplicates_or_gaps() {
    const BEFORE: usize = 500;
    const PER_PUBLISHER: usize = 2000;
    const TOTAL: usize = BEFORE + 2 * PER_PUBLISHER;
    let hub = numbered().history_events(TOTAL).build();
    let server = Server::builder().hub(hub.clone()).start().unwrap();
    publish_numbered(&hub, BEFORE);

    let addr = server.local_addr();
    let readers: Vec<_> = (0..8)
        .map(|i| {
            thread::spawn(move || {
                let (first_expected, headers, target) = match i % 3 {
                    0 => (1, String::new(), "/".to_string()),
                    1 => (BEFORE + 1, format!("Last-Event-ID: {}\r\n", id(BEFORE)), "/".to_string()),
                    _ => (101, String::new(), format!("/?lastEventId={}", id(100))),
                };
                let mut client = RawClient::stream(addr, &target, &headers);
                for expected in first_expected..=TOTAL {
                    let id = client.next_block().get("id").map(str::to_string);
                    assert_eq!(id, Some(self::id(expected)), "client {i}");
                }
            })
        })
        .collect();
    let publishers: Vec<_> = (0..2)
        .map(|_| {
            let hub = hub.clone();
            thread::spawn(move || {
                for _ in 0..PER_PUBLISHER {
                    hub.send_new_event(Event::new().data("x").with_id()).unwrap();
                }
            })
        })
        .collect();
    for thread in publishers.into_iter().chain(readers) {
        thread.join().unwrap();
    }
}
