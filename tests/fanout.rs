//! The hub's fan-out under the conditions that once lost events or stalled: clients joining while
//! others leave, sockets that fill up, bursts, and ids across a restart.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bare_sse::hub::RESET_EVENT_TYPE;
use bare_sse::{Event, Hub, Server};
use common::{eventually, RawClient, READ_TIMEOUT};

/// Clients that join just as the last ones leave still get live events: every shard that has
/// clients has a running flusher, whatever the order of joins and leaves. One flusher per client,
/// so that both shards are joined and left in every round.
#[test]
fn clients_joining_as_the_last_ones_leave_get_live_events() {
    let hub = Hub::builder().flusher_threads(2).clients_per_flusher(1).heartbeat(None).build();
    let server = Server::builder().hub(hub.clone()).start().unwrap();
    for round in 0..100 {
        let mut first = RawClient::stream(server.local_addr(), "/", "");
        assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT));
        let mut second = RawClient::stream(server.local_addr(), "/", "");
        assert!(hub.wait_until_clients(|n| n == 2, READ_TIMEOUT));
        hub.send_new_event(Event::new().data(format!("round {round}"))).unwrap();
        assert_eq!(first.next_block().data(), format!("round {round}"));
        assert_eq!(second.next_block().data(), format!("round {round}"));
        // The shards empty in either order.
        if round % 2 == 0 {
            drop((first, second));
        } else {
            drop((second, first));
        }
        assert!(hub.wait_until_clients(|n| n == 0, READ_TIMEOUT));
    }
}

/// The first shard's flusher sends the heartbeats; a client on another shard gets them too, also
/// once the first shard has no clients left (only flushers with clients are woken for new bytes).
#[test]
fn heartbeats_reach_clients_of_every_shard() {
    let hub =
        Hub::builder().flusher_threads(2).clients_per_flusher(1).heartbeat(Some(Duration::from_millis(50))).build();
    let server = Server::builder().hub(hub.clone()).start().unwrap();
    let first = RawClient::stream(server.local_addr(), "/", "");
    assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT));
    let mut second = RawClient::stream(server.local_addr(), "/", "");
    assert!(hub.wait_until_clients(|n| n == 2, READ_TIMEOUT));
    second.read_through(": keep-alive\n");
    drop(first);
    assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT));
    second.read_through(": keep-alive\n");
    second.read_through(": keep-alive\n");
}

/// A client whose socket fills up is handed back to its own side and resumed as soon as its socket
/// drains, not at the next tick of a poll: a continuously reading client sees no long pause.
#[test]
fn a_full_socket_resumes_as_soon_as_it_drains() {
    const EVENTS: usize = 400;
    // The reader starts only once all 25 MiB are queued: on a machine loaded enough that queueing
    // them takes longer than the default write timeout, the hub would rightly drop the client as
    // stalled, which is not what this test is about.
    let hub = Hub::builder().heartbeat(None).write_timeout(Duration::from_secs(600)).build();
    let server = Server::builder().hub(hub.clone()).start().unwrap();
    let mut reader = RawClient::stream(server.local_addr(), "/", "");
    assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT));
    let payload = "x".repeat(64 * 1024);
    for i in 0..EVENTS {
        hub.send_new_event(Event::new().id(i.to_string()).data(payload.as_str())).unwrap();
    }
    let mut long_pauses = Vec::new();
    let mut last = Instant::now();
    for i in 0..EVENTS {
        assert_eq!(reader.next_block().get("id"), Some(i.to_string().as_str()));
        if last.elapsed() >= Duration::from_millis(700) {
            long_pauses.push(last.elapsed());
        }
        last = Instant::now();
    }
    // A polled hand-back paused about a second at every hand-back, and 25 MiB through a socket
    // that holds about 4 MiB is handed back several times; a signalled one takes milliseconds. One
    // long pause is allowed for a loaded machine that deschedules the reader once.
    assert!(long_pauses.len() <= 1, "pauses of 700 ms or more between events: {long_pauses:?}");
    assert_eq!(hub.stats().dropped_slow, 0);
}

/// A client that keeps reading stays connected through a burst of several megabytes queued at
/// once, with the default settings, and gets every event (these have no ids: a drop would lose
/// them for good).
#[test]
fn a_reading_client_survives_a_multi_megabyte_burst() {
    const EVENTS: usize = 256; // 8 MiB of 32 KiB events
    let hub = Hub::new();
    let server = Server::builder().hub(hub.clone()).start().unwrap();
    let mut reader = RawClient::stream(server.local_addr(), "/", "");
    assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT));
    for i in 0..EVENTS {
        let data = format!("{i:05}{}", "y".repeat(32 * 1024));
        hub.send_new_event(Event::new().data(data)).unwrap();
    }
    for i in 0..EVENTS {
        let data = reader.next_block().data();
        assert_eq!(&data[..5], format!("{i:05}"), "event {i} (of {} bytes)", data.len());
    }
    assert_eq!((hub.stats().dropped_slow, hub.clients()), (0, 1));
}

/// At most `max_catch_up_threads` clients are caught up at once. Past that, a client whose socket
/// filled up waits for a thread to come free, and one that never reads frees its thread once the
/// write timeout drops it: a reading client that joined after four that never read, with two
/// threads, still gets every event.
#[test]
fn catch_up_threads_stay_within_their_limit_and_waiting_clients_are_served_in_turn() {
    const NON_READING: usize = 4;
    const EVENT_BYTES: usize = 64 * 1024;
    // 8 MiB: about twice what a socket that is not read takes on loopback, so each one fills up.
    const EVENTS: usize = 128;
    let hub = Hub::builder()
        .flusher_threads(1)
        .heartbeat(None)
        .max_catch_up_threads(2)
        .write_timeout(Duration::from_millis(300))
        .build();
    let server = Server::builder().hub(hub.clone()).start().unwrap();
    let addr = server.local_addr();
    // The clients that never read join first, so they are first in line for the threads.
    let non_reading: Vec<RawClient> = (0..NON_READING).map(|_| RawClient::stream(addr, "/", "")).collect();
    let mut reader = RawClient::stream(addr, "/", "");
    assert!(hub.wait_until_clients(|n| n == NON_READING + 1, READ_TIMEOUT));
    // Once every client has this event, their connections have handed them to the flusher.
    hub.send_new_event(Event::new().data("welcome")).unwrap();
    assert!(hub.flush(READ_TIMEOUT));
    assert_eq!(reader.next_block().data(), "welcome");

    // Records the most catch-up threads the hub ran at once.
    let most = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (hub, most, done) = (hub.clone(), Arc::clone(&most), Arc::clone(&done));
        thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                most.fetch_max(hub.stats().catch_up_threads, Ordering::SeqCst);
                thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let filler = "z".repeat(EVENT_BYTES);
    let events: Vec<Event> = (0..EVENTS).map(|i| Event::new().data(format!("{i:05}{filler}"))).collect();
    hub.send_new_events(&events).unwrap();
    for i in 0..EVENTS {
        let data = reader.next_block().data();
        assert_eq!(&data[..5], format!("{i:05}"), "event {i}");
    }
    assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT), "the clients that never read were dropped");
    done.store(true, Ordering::SeqCst);
    sampler.join().unwrap();
    // The two threads were busy for at least the write timeout each: the sampler saw them.
    assert_eq!(most.load(Ordering::SeqCst), 2, "the limit was reached and never passed");
    assert_eq!(hub.stats().dropped_slow, NON_READING as u64, "for being slow");
    drop(non_reading);
    // With nobody left to catch up, the threads end once they have lingered.
    eventually("the idle catch-up threads to end", || hub.stats().catch_up_threads == 0);
}

/// A browser that resumes with an id from an earlier run of the program (the same number, a new
/// run) is told it may have missed events, never resumed at the new run's event of that number.
#[test]
fn an_id_from_an_earlier_run_gets_the_reset_signal() {
    let earlier_run = Hub::new();
    for _ in 0..3 {
        earlier_run.send_new_event(Event::new().data("before the restart").with_id()).unwrap();
    }
    let earlier = Server::builder().hub(earlier_run.clone()).start().unwrap();
    let mut client = RawClient::stream(earlier.local_addr(), "/", "");
    let last_id = (0..3).map(|_| client.next_block().get("id").unwrap().to_string()).last().unwrap();
    drop((client, earlier, earlier_run));

    let restarted = Hub::new();
    for i in 1..=4 {
        restarted.send_new_event(Event::new().data(format!("new {i}")).with_id()).unwrap();
    }
    let server = Server::builder().hub(restarted).start().unwrap();
    let mut resumed = RawClient::stream(server.local_addr(), "/", &format!("Last-Event-ID: {last_id}\r\n"));
    let reset = resumed.next_block();
    assert_eq!((reset.get("event"), reset.data()), (Some(RESET_EVENT_TYPE), last_id));
    for i in 1..=4 {
        assert_eq!(resumed.next_block().data(), format!("new {i}"), "the whole history, from its start");
    }
}
