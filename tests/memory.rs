//! What clients that never read can make the server hold. Alone in its own test binary, so that
//! the process's resident memory is this test's.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use bare_sse::{Event, Hub, Server};
use common::READ_TIMEOUT;

const CLIENTS: usize = 40;
const HISTORY_BYTES: usize = 4 * 1024 * 1024;
const EVENT_BYTES: usize = 16 * 1024;

/// Resident memory of this process (Linux), in bytes.
fn resident_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn connect_without_reading(addr: SocketAddr) -> TcpStream {
    let mut socket = TcpStream::connect(addr).unwrap();
    socket.write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    socket
}

/// Waits until the client's socket holds more than the head and the first event, unread: its
/// replay is being written, so whatever the server allocates for it has been allocated.
fn wait_for_replay_under_way(client: &TcpStream) {
    let mut buffer = vec![0u8; 4 * EVENT_BYTES];
    let deadline = Instant::now() + READ_TIMEOUT;
    while client.peek(&mut buffer).unwrap() < 2 * EVENT_BYTES {
        assert!(Instant::now() < deadline, "the replay did not start");
        std::thread::yield_now();
    }
}

/// A joining client is sent the whole history, but the history is shared: a client that never
/// reads costs its socket buffers (the kernel's) and a thread, not a copy of the history.
#[test]
fn clients_that_never_read_hold_no_copy_of_the_history() {
    let Some(start) = resident_bytes() else {
        println!("skipped: needs Linux's /proc to read resident memory");
        return;
    };
    let hub = Hub::builder().history_events(1000).history_bytes(HISTORY_BYTES).heartbeat(None).build();
    let server = Server::builder().hub(hub.clone()).start().unwrap();
    let payload = "h".repeat(EVENT_BYTES - 32);
    for _ in 0..HISTORY_BYTES / EVENT_BYTES {
        hub.send_new_event(Event::new().with_id().data(payload.as_str())).unwrap();
    }
    let before = resident_bytes().unwrap();
    let clients: Vec<TcpStream> = (0..CLIENTS).map(|_| connect_without_reading(server.local_addr())).collect();
    assert!(hub.wait_until_clients(|n| n == CLIENTS, READ_TIMEOUT));
    for client in &clients {
        wait_for_replay_under_way(client);
    }
    let grown = resident_bytes().unwrap().saturating_sub(before);
    let per_client = grown / CLIENTS;
    assert!(
        per_client < HISTORY_BYTES / 8,
        "each non-reading client added {} KiB (the history is {} KiB; started at {} KiB)",
        per_client / 1024,
        HISTORY_BYTES / 1024,
        start / 1024
    );
    drop(clients);
}
