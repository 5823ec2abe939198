//! A hub's lifecycle hooks: what a join and a leave carry, when they run (no lock held, the join
//! before the client's head), and that every join gets exactly one leave over many clients coming
//! and going at random, dropped as slow, or still connected when the server stops.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bare_sse::hub::ClientInfo;
use bare_sse::{Event, Hub, HubBuilder, Server};
use common::{RawClient, Rng, READ_TIMEOUT};

/// Every join and leave a hub's hooks were told of, in order, with a signal for each.
#[derive(Default)]
struct Record {
    seen: Mutex<Seen>,
    changed: Condvar,
}

#[derive(Default)]
struct Seen {
    joins: Vec<ClientInfo>,
    leaves: Vec<ClientInfo>,
}

impl Record {
    /// `builder` with hooks that write here.
    fn hooks(self: &Arc<Record>, builder: HubBuilder) -> HubBuilder {
        let (joins, leaves) = (Arc::clone(self), Arc::clone(self));
        builder
            .on_join(move |client: &ClientInfo| {
                joins.seen.lock().unwrap().joins.push(client.clone());
                joins.changed.notify_all();
            })
            .on_leave(move |client: &ClientInfo| {
                leaves.seen.lock().unwrap().leaves.push(client.clone());
                leaves.changed.notify_all();
            })
    }

    fn counts(&self) -> (usize, usize) {
        let seen = self.seen.lock().unwrap();
        (seen.joins.len(), seen.leaves.len())
    }

    /// Waits until `leaves` leaves have been recorded.
    fn wait_for_leaves(&self, leaves: usize) {
        let seen = self.seen.lock().unwrap();
        let (seen, timeout) =
            self.changed.wait_timeout_while(seen, READ_TIMEOUT, |seen| seen.leaves.len() < leaves).unwrap();
        assert!(!timeout.timed_out(), "{} leaves of {leaves} after {READ_TIMEOUT:?}", seen.leaves.len());
    }

    /// Each join has exactly one leave, with the same information, and nothing else left.
    fn check_paired(&self) {
        let seen = self.seen.lock().unwrap();
        let mut left: HashMap<u64, usize> = HashMap::new();
        for leave in &seen.leaves {
            *left.entry(leave.id()).or_default() += 1;
        }
        for join in &seen.joins {
            assert_eq!(left.remove(&join.id()), Some(1), "client {} left once", join.id());
            assert_eq!(seen.leaves.iter().find(|leave| leave.id() == join.id()), Some(join), "the same info");
        }
        assert!(left.is_empty(), "leaves without a join: {left:?}");
    }
}

#[test]
fn a_join_and_its_leave_carry_what_the_request_carried() {
    let record = Arc::new(Record::default());
    let hub = record.hooks(Hub::builder().id_epoch(7)).build();
    hub.send_new_event(Event::new().data("kept").with_id()).unwrap();
    let server = Server::builder().route_hub("/room", hub.clone()).start().unwrap();

    let mut client =
        RawClient::stream(server.local_addr(), "/room?user=ann&x=a%20b", "Last-Event-ID: 7-1\r\nX-User: Ann\r\n");
    // The head came after the join: the hook has run.
    let join = record.seen.lock().unwrap().joins[0].clone();
    assert_eq!((join.id(), join.path(), join.query_param("x")), (0, "/room", Some("a b")));
    assert_eq!(join.query(), [("user".to_string(), "ann".to_string()), ("x".to_string(), "a b".to_string())]);
    assert_eq!((join.header("x-user"), join.header("HOST")), (Some("Ann"), Some("localhost")));
    assert_eq!(join.headers().len(), 3);
    assert_eq!(join.peer_addr(), Some(client.socket.local_addr().unwrap()));
    assert_eq!(join.last_event_id(), Some("7-1"));
    assert_eq!(record.counts(), (1, 0));

    // A HEAD request does not join; the query's id counts when the header is absent.
    let mut head = RawClient::connect(server.local_addr());
    head.send("HEAD /room HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(head.head_keeping_framing().status, 200);
    let _second = RawClient::stream(server.local_addr(), "/room?lastEventId=7-1", "");
    let second = record.seen.lock().unwrap().joins[1].clone();
    assert_eq!((second.id(), second.last_event_id(), second.header("last-event-id")), (1, Some("7-1"), None));
    assert_eq!(record.counts(), (2, 0));

    hub.send_new_event(Event::new().data("live")).unwrap();
    assert_eq!(client.next_block().data(), "live");
    drop(client);
    record.wait_for_leaves(1);
    assert_eq!(record.seen.lock().unwrap().leaves[0], join);
    server.stop();
    record.check_paired();
}

/// A join says whether the client was resumed after its last id: not on a first connection, nor
/// with an id the hub does not hold (the client gets the reset event instead).
#[test]
fn a_join_says_whether_the_client_was_resumed() {
    let record = Arc::new(Record::default());
    let hub = record.hooks(Hub::builder().id_epoch(7)).build();
    hub.send_new_event(Event::new().data("kept").with_id()).unwrap();
    let server = Server::builder().hub(hub).start().unwrap();
    let mut clients = Vec::new();
    for (last_id, resumed) in [(None, false), (Some("7-1"), true), (Some("6-1"), false)] {
        let header = last_id.map(|id| format!("Last-Event-ID: {id}\r\n")).unwrap_or_default();
        clients.push(RawClient::stream(server.local_addr(), "/", &header));
        // The head came after the join: the hook has run.
        let join = record.seen.lock().unwrap().joins.last().unwrap().clone();
        assert_eq!((join.last_event_id(), join.resumed()), (last_id, resumed));
    }
    server.stop();
    record.check_paired();
}

/// Hooks run with no lock of the hub held: they can read its counters and publish to it. An event
/// `on_join` publishes reaches the joining client after its history; one `on_leave` publishes
/// reaches those who stay, not the one leaving.
#[test]
fn hooks_may_publish_to_their_own_hub() {
    // The hooks reach the hub through this slot, emptied at the end so that the hub is dropped.
    let slot: Arc<Mutex<Option<Hub>>> = Arc::default();
    let (on_join_slot, on_leave_slot) = (Arc::clone(&slot), Arc::clone(&slot));
    let hub = Hub::builder()
        .id_epoch(7)
        .on_join(move |client: &ClientInfo| {
            let hub = on_join_slot.lock().unwrap().clone().unwrap();
            let clients = hub.stats().clients;
            hub.send_new_event(Event::new().data(format!("{} joined; {clients} here", client.id()))).unwrap();
        })
        .on_leave(move |client: &ClientInfo| {
            let hub = on_leave_slot.lock().unwrap().clone().unwrap();
            hub.send_new_event(Event::new().data(format!("{} left; {} here", client.id(), hub.clients()))).unwrap();
        })
        .build();
    *slot.lock().unwrap() = Some(hub.clone());
    hub.send_new_event(Event::new().data("history").with_id()).unwrap();
    let server = Server::builder().hub(hub.clone()).start().unwrap();

    let mut first = RawClient::stream(server.local_addr(), "/", "");
    assert_eq!(first.next_block().data(), "history");
    assert_eq!(first.next_block().data(), "0 joined; 1 here", "counted already, and after its history");
    let mut second = RawClient::stream(server.local_addr(), "/", "");
    assert_eq!(second.next_block().data(), "history");
    assert_eq!(second.next_block().data(), "1 joined; 2 here");
    assert_eq!(first.next_block().data(), "1 joined; 2 here");
    drop(second);
    assert_eq!(first.next_block().data(), "1 left; 1 here", "unregistered before its leave");
    server.stop();
    slot.lock().unwrap().take();
}

/// A hook that panics is caught: the client streams on, and its leave still comes, once.
#[test]
fn a_panicking_hook_neither_ends_the_stream_nor_loses_the_leave() {
    let leaves = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&leaves);
    let hub = Hub::builder()
        .on_join(|client: &ClientInfo| assert!(client.header("x-panic").is_none(), "on_join panics on purpose"))
        .on_leave(move |client: &ClientInfo| {
            recorded.lock().unwrap().push(client.id());
            panic!("on_leave panics on purpose");
        })
        .build();
    let server = Server::builder().hub(hub.clone()).start().unwrap();
    let mut client = RawClient::stream(server.local_addr(), "/", "X-Panic: yes\r\n");
    assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT));
    hub.send_new_event(Event::new().data("still here")).unwrap();
    assert_eq!(client.next_block().data(), "still here");
    drop(client);
    assert!(hub.wait_until_clients(|n| n == 0, READ_TIMEOUT));
    server.stop();
    assert_eq!(*leaves.lock().unwrap(), [0]);
    // The server still serves after both panics.
    let server = Server::builder().hub(hub.clone()).start().unwrap();
    let _client = RawClient::stream(server.local_addr(), "/", "");
    server.stop();
    assert_eq!(*leaves.lock().unwrap(), [0, 1]);
}

/// Publishes events of 64 KiB that nobody reads until every client has been dropped as slow: as
/// many as the sockets absorb and a little more, whatever their buffers' size.
fn publish_until_every_client_is_dropped(hub: &Hub) {
    let event = Event::new().data("x".repeat(64 * 1024));
    // 64 MiB at most: twice the default `max_queued_bytes`, past which every client is dropped.
    for _ in 0..1024 {
        if hub.clients() == 0 {
            return;
        }
        hub.send_new_event(&event).unwrap();
    }
    assert!(hub.wait_until_clients(|n| n == 0, READ_TIMEOUT), "every client dropped as slow");
}

/// Clients join (some resuming, from a known id or an unknown one), leave, are sent small events,
/// are all dropped as slow once (a burst none of them reads), and the rest are connected when the
/// server stops: every join gets exactly one leave, with the same information, in every seed; the
/// join is recorded before the client has its head, and every leave by the time `stop` returns.
#[test]
fn every_join_gets_exactly_one_leave_under_random_churn() {
    let mut dropped_in_all_seeds = 0;
    for seed in 0..4 {
        let record = Arc::new(Record::default());
        let hub = record
            .hooks(Hub::builder().heartbeat(None).write_timeout(Duration::from_millis(200)).id_epoch(seed))
            .build();
        let server = Server::builder().route_hub("/events", hub.clone()).start().unwrap();
        let addr = server.local_addr();
        let mut rng = Rng::new(seed);
        let mut connected: Vec<(u64, RawClient)> = Vec::new();
        let (mut joined, mut left, mut dropped_slow) = (0, 0, 0);
        let mut ids = 0;
        // Late enough that clients have come.
        let flood_at = 20 + rng.below(40);
        for step in 0..60 {
            if step == flood_at {
                publish_until_every_client_is_dropped(&hub);
                dropped_slow += connected.len();
                left += connected.len();
                connected.clear();
                record.wait_for_leaves(left);
                continue;
            }
            match rng.below(5) {
                0 | 1 => {
                    let resume = match rng.below(3) {
                        0 if ids > 0 => format!("Last-Event-ID: {seed}-{}\r\n", 1 + rng.below(ids)),
                        1 => "Last-Event-ID: unknown\r\n".to_string(),
                        _ => String::new(),
                    };
                    let client = RawClient::stream(addr, &format!("/events?step={step}"), &resume);
                    let join = record.seen.lock().unwrap().joins.last().cloned().expect("joined before its head");
                    assert_eq!(join.query_param("step"), Some(step.to_string().as_str()), "seed {seed}");
                    assert_eq!(join.id(), joined as u64, "seed {seed}: ids count the joins");
                    joined += 1;
                    connected.push((join.id(), client));
                }
                2 if !connected.is_empty() => {
                    drop(connected.swap_remove(rng.below(connected.len())));
                    left += 1;
                    record.wait_for_leaves(left);
                }
                _ => {
                    let event = Event::new().data(format!("step {step}"));
                    let event = if rng.below(2) == 0 { event } else { event.with_id() };
                    ids += usize::from(event.wants_next_id());
                    hub.send_new_event(event).unwrap();
                }
            }
            assert_eq!(record.counts(), (joined, left), "seed {seed}, step {step}");
            assert_eq!(hub.clients(), connected.len(), "seed {seed}, step {step}");
        }
        server.stop();
        println!("seed {seed}: {joined} joins, {dropped_slow} dropped as slow, {} at the stop", connected.len());
        assert_eq!(record.counts(), (joined, joined), "seed {seed}: every leave has run when stop returns");
        assert_eq!(hub.stats().dropped_slow, dropped_slow as u64, "seed {seed}");
        record.check_paired();
        drop(connected);
        dropped_in_all_seeds += dropped_slow;
    }
    assert!(dropped_in_all_seeds > 0, "the seeds drop clients as slow");
}
