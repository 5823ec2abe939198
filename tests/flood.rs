//! A flood of connections past the connection limit: every one is answered, and none gets a
//! thread of its own. Alone in its own test binary, so that the process's thread count is this
//! test's.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use bare_sse::Server;
use common::{thread_count, RawClient, READ_TIMEOUT};

const LIMIT: usize = 40;
const FLOOD: usize = 400;

#[test]
fn a_flood_past_the_limit_is_answered_without_a_thread_each() {
    if thread_count() == 0 {
        println!("skipped: needs Linux's /proc to count threads");
        return;
    }
    let server = Server::builder().max_connections(LIMIT).overload_retry(Duration::from_secs(9)).start().unwrap();
    let streams: Vec<RawClient> =
        (0..LIMIT).map(|_| RawClient::stream(server.local_addr(), "/", "Accept: text/event-stream\r\n")).collect();
    assert!(server.hub().wait_until_clients(|n| n == LIMIT, READ_TIMEOUT));
    let baseline = thread_count();

    // A thread that records the most threads the process ever had during the flood.
    let peak = Arc::new(AtomicUsize::new(0));
    let flooding = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, flooding) = (Arc::clone(&peak), Arc::clone(&flooding));
        thread::spawn(move || {
            while flooding.load(Ordering::SeqCst) {
                peak.fetch_max(thread_count(), Ordering::SeqCst);
                thread::yield_now();
            }
        })
    };
    let request = b"GET / HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n";
    // Each connection sends its request at once, as a browser does; the answers are read after all
    // of them are open.
    let mut flood: Vec<TcpStream> = (0..FLOOD)
        .map(|_| {
            let mut socket = TcpStream::connect(server.local_addr()).unwrap();
            socket.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
            socket.write_all(request).unwrap();
            socket
        })
        .collect();
    let mut answered = 0;
    for socket in &mut flood {
        let mut answer = String::new();
        socket.read_to_string(&mut answer).expect("an answer, then a clean close");
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer:?}");
        assert!(answer.ends_with("\r\n\r\nc\r\nretry: 9000\n\r\n0\r\n\r\n"), "{answer:?}");
        answered += 1;
    }
    flooding.store(false, Ordering::SeqCst);
    sampler.join().unwrap();
    assert_eq!(answered, FLOOD);
    // The sampler itself is one more thread; the overflow answerer another.
    let peak = peak.load(Ordering::SeqCst);
    assert!(peak <= baseline + 2, "threads peaked at {peak}, from {baseline} with {LIMIT} streams");
    assert_eq!(server.clients(), LIMIT, "the streams inside the limit are untouched");
    drop(streams);
}
