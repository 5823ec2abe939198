//! Idle connections cost nothing while nothing happens: no thread of the server wakes up between
//! heartbeats. Alone in its own test binary, so that every `bare-sse-*` thread it watches belongs
//! to the one server it starts.

mod common;

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use bare_sse::server::{Request, Response};
use bare_sse::{Hub, Server};
use common::{RawClient, READ_TIMEOUT};

const HUB_CLIENTS: usize = 8;
const STREAM_CLIENTS: usize = 4;

/// Context switches so far of each of this process's `bare-sse-*` threads, by thread id. A thread
/// that stays blocked (in `read`, `accept` or a condition variable wait) is never switched to.
fn server_thread_switches() -> HashMap<String, (String, u64)> {
    let mut switches = HashMap::new();
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default().trim().to_string();
        if !name.starts_with("bare-sse") {
            continue;
        }
        let status = std::fs::read_to_string(path.join("status")).unwrap_or_default();
        let count: u64 = status
            .lines()
            .filter(|line| {
                line.starts_with("voluntary_ctxt_switches") || line.starts_with("nonvoluntary_ctxt_switches")
            })
            .filter_map(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum();
        switches.insert(task.file_name().to_string_lossy().into_owned(), (name, count));
    }
    switches
}

/// Whether every `bare-sse-*` thread is blocked (state `S` in `/proc`), not runnable.
fn all_server_threads_asleep() -> bool {
    std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten().all(|task| {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        // The state follows the parenthesised command name: `pid (comm) S ...`.
        let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
        !name.starts_with("bare-sse") || state == Some('S')
    })
}

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
    // Let the threads that just answered reach their blocking calls: wait (up to a minute, on a
    // loaded machine) until every server thread is asleep and two looks in a row see none move.
    // The quiet window below is what is asserted.
    let mut before = server_thread_switches();
    for _ in 0..600 {
        thread::sleep(Duration::from_millis(100));
        let now = server_thread_switches();
        let settled = now == before && all_server_threads_asleep();
        before = now;
        if settled {
            break;
        }
    }

    // Time is the behaviour here: nothing may wake during a quiet second.
    thread::sleep(Duration::from_secs(1));
    let after = server_thread_switches();
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
