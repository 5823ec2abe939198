//! Publishing wakes only the flushers that have clients. Alone in its own test binary, so that
//! every flusher thread it watches belongs to the one hub it starts.

mod common;

use bare_sse::{Event, Hub, Server};
use common::{settled_thread_switches, thread_switches, RawClient, READ_TIMEOUT};

/// Thread names are cut to 15 bytes: `bare-sse-flusher-0` and `-1` both show as this.
const FLUSHER: &str = "bare-sse-flushe";

#[test]
fn events_for_a_few_clients_wake_one_flusher() {
    if !std::path::Path::new("/proc/self/task").exists() {
        println!("skipped: needs Linux's /proc to count context switches");
        return;
    }
    let hub = Hub::builder().flusher_threads(2).heartbeat(None).build();
    let server = Server::builder().hub(hub.clone()).start().unwrap();
    let mut client = RawClient::stream(server.local_addr(), "/", "");
    assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT));
    let before = settled_thread_switches(FLUSHER);
    assert_eq!(before.len(), 2, "two flushers: {before:?}");
    for i in 0..20 {
        hub.send_new_event(Event::new().data(i.to_string())).unwrap();
        assert_eq!(client.next_block().data(), i.to_string());
    }
    let after = thread_switches(FLUSHER);
    let mut woke: Vec<u64> = before.iter().map(|(id, (_, count))| after[id].1 - count).collect();
    woke.sort_unstable();
    assert_eq!(woke[0], 0, "the flusher without clients stays asleep: wake-ups {woke:?}");
    assert!(woke[1] > 0, "the client's flusher wrote the events: wake-ups {woke:?}");
}
