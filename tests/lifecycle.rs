//! Clients leaving, counters, and stopping: everything closed, every thread joined, no hang.

mod common;

use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use bare_sse::{start_sse_tcp_port, Event, Hub, Server};
use common::{eventually, RawClient, READ_TIMEOUT};

#[test]
fn a_client_that_leaves_is_noticed_without_any_send() {
    let hub = Hub::builder().heartbeat(None).build();
    let server = Server::builder().hub(hub.clone()).start().unwrap();
    let client = RawClient::stream(server.local_addr(), "/", "");
    assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT));
    let left_at = Instant::now();
    drop(client);
    assert!(hub.wait_until_clients(|n| n == 0, Duration::from_secs(2)), "not noticed within 2 s");
    assert!(left_at.elapsed() < Duration::from_secs(1), "noticed after {:?}", left_at.elapsed());
    eventually("the connection to be freed", || server.connections() == 0);
    assert_eq!(hub.stats().disconnects, 1);
    assert_eq!(hub.stats().dropped_slow, 0);
}

#[test]
fn counters_track_events_and_clients() {
    let server = start_sse_tcp_port(0).unwrap();
    let mut a = RawClient::stream(server.local_addr(), "/", "");
    let _b = RawClient::stream(server.local_addr(), "/", "");
    assert!(server.hub().wait_until_clients(|n| n == 2, READ_TIMEOUT));
    server.send_new_event(Event::new().data("1")).unwrap();
    server.send_new_event(Event::new().data("2").with_id()).unwrap();
    a.next_block();
    a.next_block();
    let stats = server.hub().stats();
    assert_eq!((stats.clients, stats.events_sent, stats.history_len, stats.disconnects), (2, 2, 1, 0));
}

#[test]
fn stop_closes_every_connection_and_joins_every_thread() {
    let server = start_sse_tcp_port(0).unwrap();
    let addr = server.local_addr();
    let mut streams: Vec<RawClient> = (0..3).map(|_| RawClient::stream(addr, "/", "")).collect();
    // A connection still sending its head, and one that sent nothing.
    let mut half = RawClient::connect(addr);
    half.send("GET / HTTP/1.1\r\n");
    let idle = RawClient::connect(addr);
    assert!(server.hub().wait_until_clients(|n| n == 3, READ_TIMEOUT));
    eventually("all five connections to be registered", || server.connections() == 5);

    let started = Instant::now();
    server.stop();
    assert!(started.elapsed() < Duration::from_secs(2), "stop took {:?}", started.elapsed());
    assert_eq!(server.connections(), 0, "every connection thread was joined");
    assert_eq!(server.clients(), 0);
    for stream in &mut streams {
        stream.read_to_end();
    }
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(), "listener closed");
    server.stop(); // idempotent
    drop((half, idle));
}

#[test]
fn stop_does_not_hang_on_a_stalled_client() {
    let hub = Hub::builder().max_queued_bytes(64 * 1024 * 1024).write_timeout(Duration::from_secs(60)).build();
    let server = Server::builder().hub(hub.clone()).start().unwrap();
    let _stalled = RawClient::stream(server.local_addr(), "/", "");
    assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT));
    let payload = "x".repeat(64 * 1024);
    for _ in 0..400 {
        hub.send_new_event(Event::new().data(payload.as_str())).unwrap();
    }
    assert!(!hub.flush(Duration::from_millis(200)), "the client should be stuck with a full socket");
    let started = Instant::now();
    server.stop();
    assert!(started.elapsed() < Duration::from_secs(2), "stop took {:?}", started.elapsed());
    assert_eq!(hub.clients(), 0);
}

#[test]
fn stop_with_event_delivers_a_last_event() {
    let server = start_sse_tcp_port(0).unwrap();
    let mut client = RawClient::stream(server.local_addr(), "/", "");
    assert!(server.hub().wait_until_clients(|n| n == 1, READ_TIMEOUT));
    server.stop_with_event(Event::new().event("bye").data("server stopping")).unwrap();
    assert_eq!(client.read_to_end(), "event: bye\ndata: server stopping\n\n");
}

#[test]
fn dropping_the_server_stops_it() {
    let server = start_sse_tcp_port(0).unwrap();
    let hub = server.hub().clone();
    let mut client = RawClient::stream(server.local_addr(), "/", "");
    assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT));
    drop(server);
    assert_eq!(hub.clients(), 0);
    client.read_to_end();
}

#[test]
fn many_clients_come_and_go_concurrently() {
    let server = start_sse_tcp_port(0).unwrap();
    let addr = server.local_addr();
    let workers: Vec<_> = (0..8)
        .map(|_| {
            thread::spawn(move || {
                for _ in 0..20 {
                    let _client = RawClient::stream(addr, "/", "");
                }
            })
        })
        .collect();
    for _ in 0..200 {
        server.send_new_event(Event::new().data("tick")).unwrap();
    }
    for worker in workers {
        worker.join().unwrap();
    }
    assert!(server.hub().wait_until_clients(|n| n == 0, READ_TIMEOUT));
    assert_eq!(server.hub().stats().disconnects, 160);
}
