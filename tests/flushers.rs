//! Publishing wakes only the flushers that have clients. Alone in its own test binary, so that
//! every flusher thread it watches belongs to the one hub it starts.

mod common;

use bare_sse::{Event, Hub, Server};
use common::{flusher_wake_ups, RawClient, READ_TIMEOUT};

#[test]
fn events_for_a_few_clients_wake_one_flusher() {
    let hub = Hub::builder().flusher_threads(2).heartbeat(None).build();
    let server = Server::builder().hub(hub.clone()).start().unwrap();
    let mut client = RawClient::stream(server.local_addr(), "/", "");
    assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT));
    let Some(woke) = flusher_wake_ups(2, || {
        for i in 0..20 {
            hub.send_new_event(Event::new().data(i.to_string())).unwrap();
            assert_eq!(client.next_block().data(), i.to_string());
        }
    }) else {
        return;
    };
    assert_eq!(woke[0], 0, "the flusher without clients stays asleep: wake-ups {woke:?}");
    assert!(woke[1] > 0, "the client's flusher wrote the events: wake-ups {woke:?}");
}
