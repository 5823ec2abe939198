//! Clients that never read do not hold back one that does: a hub's flusher never waits on a full
//! socket. Alone in its own test binary, so that the flusher it watches is its hub's.

mod common;

use bare_sse::{Event, Hub, Server};
use common::{settled_thread_switches, thread_sleeps, RawClient, READ_TIMEOUT};

/// Thread names are cut to 15 bytes: `bare-sse-flusher-0` shows as this.
const FLUSHER: &str = "bare-sse-flushe";
const NON_READING: usize = 200;
const EVENT_BYTES: usize = 64 * 1024;
/// 8 MiB: about twice what the socket of a client that does not read takes on loopback (some 4 MB
/// of kernel buffers), so that every one of them fills up during the burst.
const EVENTS: usize = 128;

/// One flusher, one reading client, and 200 that never read (after the response head): the reader
/// gets a burst that fills every other socket, and the flusher never once waits for room in one.
///
/// How that is seen without timing: a thread that waits in a blocking call (a write waiting for
/// room in a socket, a lock, a condition variable) goes to sleep, which the kernel counts. A
/// write that waits, however short its send timeout, sleeps once; so a flusher that waited on
/// each full socket slept at least 200 times during the burst. One that never waits on a socket
/// sleeps only between rounds and on the odd contended lock.
#[test]
fn a_reading_client_is_not_held_back_by_clients_that_never_read() {
    if !std::path::Path::new("/proc/self/task").exists() {
        println!("skipped: needs Linux's /proc to count a thread's sleeps");
        return;
    }
    let hub = Hub::builder().flusher_threads(1).heartbeat(None).build();
    let server = Server::builder().hub(hub.clone()).start().unwrap();
    let addr = server.local_addr();
    let mut reader = RawClient::stream(addr, "/", "");
    assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT));
    let non_reading: Vec<RawClient> = (0..NON_READING).map(|_| RawClient::stream(addr, "/", "")).collect();
    assert!(hub.wait_until_clients(|n| n == NON_READING + 1, READ_TIMEOUT));
    // Once every client has this event, their connections have handed them to the flusher.
    hub.send_new_event(Event::new().data("welcome")).unwrap();
    assert!(hub.flush(READ_TIMEOUT));
    assert_eq!(reader.next_block().data(), "welcome");

    let before = settled_thread_switches(FLUSHER);
    let (flusher, _) = before.iter().next().expect("the hub's flusher");
    let slept_before = thread_sleeps(FLUSHER)[flusher].1;
    let filler = "y".repeat(EVENT_BYTES);
    let events: Vec<Event> = (0..EVENTS).map(|i| Event::new().data(format!("{i:05}{filler}"))).collect();
    // Under one lock: the flusher takes the whole burst in one round.
    hub.send_new_events(&events).unwrap();
    for i in 0..EVENTS {
        let data = reader.next_block().data();
        assert_eq!(&data[..5], format!("{i:05}"), "event {i}");
    }
    let slept = thread_sleeps(FLUSHER)[flusher].1 - slept_before;
    assert!(slept < NON_READING as u64 / 2, "the flusher slept {slept} times while {NON_READING} sockets filled up");
    assert_eq!((hub.stats().dropped_slow, hub.clients()), (0, NON_READING + 1), "nobody was dropped");
    drop(non_reading);
    assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT));
}
