//! File descriptors: after many clients have come and gone (half of them resetting their
//! connection), with every connection thread gone, the server holds exactly the descriptors it
//! held before. Alone in its own test binary, so that the process's descriptors are this test's.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bare_sse::server::{Request, Response};
use bare_sse::{Event, Hub, Server};
use common::{fd_count, RawClient, READ_TIMEOUT};

const CYCLES: usize = 200;

/// A client that asks for `target` by hand: it reads nothing, so that closing it with the answer
/// unread resets the connection (a socket closed with unread input sends RST).
fn unread(addr: SocketAddr, target: &str) -> TcpStream {
    let mut socket = TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    socket.write_all(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
    socket
}

/// Waits until the answer is in the socket, unread, then closes it: the connection is reset.
fn reset(socket: TcpStream) {
    let mut byte = [0u8; 1];
    assert!(socket.peek(&mut byte).unwrap() > 0, "the answer arrives");
    drop(socket);
}

#[test]
fn clients_that_come_and_go_leave_no_descriptor_behind() {
    let hub = Hub::builder().heartbeat(None).build();
    let server = Server::builder()
        .stream_heartbeat(None)
        .route_hub("/hub", hub.clone())
        .route("/stream", |_: &Request| {
            Response::stream(|stream| {
                let _ = stream.send(&Event::new().data("once"));
                stream.wait_closed(Some(READ_TIMEOUT));
            })
        })
        .route("/page", |_: &Request| Response::text("page"))
        .start()
        .unwrap();
    let addr = server.local_addr();
    let before = fd_count();
    for cycle in 0..CYCLES {
        // A hub client that a flusher writes to, as every client of a publishing hub is: it
        // leaves cleanly, or resets its connection.
        let event = Event::new().data(format!("event {cycle}"));
        if cycle % 2 == 0 {
            let mut client = RawClient::stream(addr, "/hub", "");
            assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT));
            hub.send_new_event(event).unwrap();
            assert_eq!(client.next_block().data(), format!("event {cycle}"));
        } else {
            let client = unread(addr, "/hub");
            assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT));
            hub.send_new_event(event).unwrap();
            reset(client);
        }
        assert!(hub.wait_until_clients(|n| n == 0, READ_TIMEOUT));
        // A per-connection stream, likewise; and a plain answer on a kept connection.
        if cycle % 2 == 0 {
            assert_eq!(RawClient::stream(addr, "/stream", "").next_block().data(), "once");
        } else {
            reset(unread(addr, "/stream"));
        }
        let mut page = RawClient::get(addr, "/page", "");
        page.head();
        assert_eq!(page.read_to_end(), "page");
    }
    // The last connections may still be ending: give them the time to.
    let deadline = Instant::now() + READ_TIMEOUT;
    while (server.connections() > 0 || fd_count() != before) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(server.connections(), 0, "every connection thread has ended");
    assert_eq!(fd_count(), before, "descriptors held after {CYCLES} clients of each kind came and went");
}
