//! Idle connections cost nothing while nothing happens: no thread of the server wakes up between
//! heartbeats. Alone in its own test binary, so that every `bare-sse-*` thread it watches belongs
//! to the one server it starts.

mod common;

use std::sync::mpsc;
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use bare_sse::server::{Request, Response};
use bare_sse::{Hub, Server};
use common::{settled_thread_switches, thread_switches, RawClient, READ_TIMEOUT};

const HUB_CLIENTS: usize = 8;
const STREAM_CLIENTS: usize = 4;

#[test]
fn idle_connections_wake_no_thread_between_heartbeats() {
    if !std::path::Path::new("/proc/self/task").exists() {
        println!("skipped: needs Linux's /proc to count context switches");
        return;
    }
    let hub = Hub::builder().heartbeat(Some(Duration::from_secs(3600))).build();
    // A per-connection stream whose handler waits (on a channel) until its client leaves.
    let (started, starts) = mpsc::channel();
    let started = Mutex::new(started);
    let server = Server::builder()
        .stream_heartbeat(None)
        .hub(hub.clone())
        .path("/events")
        .route("/stream", move |_: &Request| {
            let started = started.lock().unwrap().clone();
            Response::stream(move |stream| {
                let (hold, wait) = mpsc::channel::<()>();
                stream.on_close(move || drop(hold));
                let _ = started.send(());
                let _ = wait.recv();
            })
        })
        .start()
        .unwrap();
    let _hub_clients: Vec<RawClient> =
        (0..HUB_CLIENTS).map(|_| RawClient::stream(server.local_addr(), "/events", "")).collect();
    let _stream_clients: Vec<RawClient> =
        (0..STREAM_CLIENTS).map(|_| RawClient::stream(server.local_addr(), "/stream", "")).collect();
    for _ in 0..STREAM_CLIENTS {
        starts.recv_timeout(READ_TIMEOUT).unwrap();
    }
    assert!(hub.wait_until_clients(|n| n == HUB_CLIENTS, READ_TIMEOUT));
    // Let the threads that just answered reach their blocking calls. The quiet window below is what
    // is asserted.
    let before = settled_thread_switches("bare-sse");

    // Time is the behaviour here: nothing may wake during a quiet second.
    thread::sleep(Duration::from_secs(1));
    let after = thread_switches("bare-sse");
    let woke: Vec<String> = before
        .iter()
        .filter_map(|(id, (name, count))| {
            let later = after.get(id)?.1;
            (later != *count).then(|| format!("{name} (thread {id}): {} wake-ups", later - count))
        })
        .collect();
    assert!(before.len() > HUB_CLIENTS + STREAM_CLIENTS, "the server's threads were not found: {before:?}");
    assert!(woke.is_empty(), "threads woke while every connection was idle: {woke:?}");
}
