//! Clients leaving, counters, and stopping: everything closed, every thread joined, no hang.

mod common;

use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use bare_sse::compress::Gzip;
use bare_sse::datastar::{self, DatastarStream, SignalOptions};
use bare_sse::server::{Request, Response};
use bare_sse::{start_sse_tcp_port, Event, Hub, Server};
use common::test_inflate::gunzip;
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
        assert!(stream.ended_with_last_chunk(), "each body ends properly, with its last chunk");
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
    common::flood(&hub);
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
    assert!(client.ended_with_last_chunk(), "the body ends properly, with its last chunk");
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
    assert!(client.ended_with_last_chunk());
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

/// Stopping ends every per-connection stream's body properly while its closure still runs: the
/// write profile's end (a gzip trailer that checks the whole body) and then the last chunk, for a
/// plain stream, a compressed one, and a Datastar stream on a kept connection.
#[test]
fn stop_ends_running_streams_with_the_encoders_end_and_the_last_chunk() {
    let (started, starts) = std::sync::mpsc::channel::<()>();
    let started = std::sync::Mutex::new(started);
    let running = move |stream: bare_sse::EventStream| {
        stream.send(&Event::new().data("first")).unwrap();
        let _ = started.lock().unwrap().send(());
        // Until the server ends the stream.
        stream.wait_closed(None);
    };
    let running = std::sync::Arc::new(running);
    let (plain, zipped, action) = (running.clone(), running.clone(), running);
    let server = Server::builder()
        .stream_heartbeat(None)
        .route("/plain", move |_: &Request| {
            let run = plain.clone();
            Response::stream(move |stream| run(stream))
        })
        .route("/gzip", move |_: &Request| {
            let run = zipped.clone();
            Response::stream(move |stream| run(stream)).write_profile(Gzip::new(6).shared())
        })
        .route("/ds", move |_: &Request| {
            let run = action.clone();
            datastar::response(move |stream| {
                stream.patch_signals("{\"n\":1}", SignalOptions::new()).unwrap();
                run(stream)
            })
        })
        .start()
        .unwrap();
    let mut plain = RawClient::stream(server.local_addr(), "/plain", "");
    let mut zipped = RawClient::stream(server.local_addr(), "/gzip", "Accept-Encoding: gzip\r\n");
    let mut action = RawClient::stream(server.local_addr(), "/ds", "");
    for _ in 0..3 {
        starts.recv_timeout(READ_TIMEOUT).unwrap();
    }
    server.stop();

    assert_eq!(plain.read_to_end(), "data: first\n\n");
    let compressed = zipped.read_body_until(|body| gunzip(body).is_ok_and(|(_, ended)| ended));
    assert_eq!(gunzip(&compressed), Ok((b"data: first\n\n".to_vec(), true)), "a whole gzip member, trailer checked");
    zipped.read_to_end();
    assert!(action.read_to_end().ends_with("data: first\n\n"));
    for client in [&plain, &zipped, &action] {
        assert!(client.ended_with_last_chunk(), "each body ends with its last chunk");
    }
}

/// A hub's flusher may be writing to a client at the moment the server stops: the end of the
/// body then comes after the event being written, whole, never inside it; and every client that
/// keeps reading sees its body end properly.
#[test]
fn stopping_while_events_stream_ends_each_body_between_two_events() {
    for round in 0..5 {
        let hub = Hub::builder().heartbeat(None).build();
        let server = Server::builder().hub(hub.clone()).start().unwrap();
        let mut clients: Vec<RawClient> = (0..4).map(|_| RawClient::stream(server.local_addr(), "/", "")).collect();
        assert!(hub.wait_until_clients(|n| n == 4, READ_TIMEOUT));
        let readers: Vec<_> = clients
            .drain(..)
            .map(|mut client| {
                thread::spawn(move || {
                    let body = client.read_to_end();
                    (body, client.ended_with_last_chunk())
                })
            })
            .collect();
        let publisher = {
            let hub = hub.clone();
            // Small events, a few hundred: well under what the sockets hold, so no client falls
            // behind and every body can end properly.
            thread::spawn(move || {
                for i in 0..400 {
                    hub.send_new_event(Event::new().data(format!("event {i} of round {round}"))).unwrap();
                }
            })
        };
        // Stop while the publisher is (most likely) still going.
        server.stop();
        publisher.join().unwrap();
        for reader in readers {
            let (body, ended) = reader.join().unwrap();
            assert!(ended, "round {round}: the body ends with its last chunk");
            for (i, block) in body.split_terminator("\n\n").enumerate() {
                assert_eq!(block, format!("data: event {i} of round {round}"), "round {round}: whole events, in order");
            }
        }
    }
}
