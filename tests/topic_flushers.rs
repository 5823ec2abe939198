//! An event on a topic wakes only the flusher its clients share. Alone in its own test binary, so
//! that every flusher thread it watches belongs to the one hub it starts.

mod common;

use bare_sse::hub::{Selection, Topics};
use bare_sse::server::{Request, Response};
use bare_sse::topic::{SelectorLimits, TopicSelector};
use bare_sse::{Event, Hub, Server};
use common::{flusher_wake_ups, RawClient, READ_TIMEOUT};

/// Clients of two topics joined in turn (a, b, a, b) on two flushers that take two clients each:
/// each topic's clients share their feed's own flusher, so events on one topic wake only it.
#[test]
fn events_on_one_topic_wake_one_flusher() {
    let hub = Hub::builder().flusher_threads(2).clients_per_flusher(2).heartbeat(None).build();
    let of_topic = hub.clone();
    let server = Server::builder()
        .route("/t", move |request: &Request| {
            let topic = request.query_param("topic").unwrap_or("a").to_string();
            let limits = SelectorLimits::default();
            let selector = TopicSelector::from_params([("match", topic.as_str())], None, &limits).unwrap();
            Response::hub(of_topic.clone()).selection(Selection::topics(selector))
        })
        .start()
        .unwrap();
    let mut clients = Vec::new();
    for (n, topic) in ["a", "b", "a", "b"].into_iter().enumerate() {
        clients.push((topic, RawClient::stream(server.local_addr(), &format!("/t?topic={topic}"), "")));
        assert!(hub.wait_until_clients(|joined| joined == n + 1, READ_TIMEOUT));
    }
    let Some(woke) = flusher_wake_ups(2, || {
        for i in 0..20 {
            hub.publish_to(&Topics::new(["a"]), Event::new().data(i.to_string())).unwrap();
            for (_, client) in clients.iter_mut().filter(|(topic, _)| *topic == "a") {
                assert_eq!(client.next_block().data(), i.to_string());
            }
        }
    }) else {
        return;
    };
    assert_eq!(woke[0], 0, "topic b's flusher stays asleep: wake-ups {woke:?}");
    assert!(woke[1] > 0, "topic a's flusher wrote the events: wake-ups {woke:?}");
}
