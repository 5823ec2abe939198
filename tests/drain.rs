//! Draining a server: every stream ends properly over the period, spread out, each with a `retry:`
//! in range; events published meanwhile reach every client not yet ended; requests for a stream
//! during the drain are told to come back later, or to stop for good.
//!
//! Time is the behaviour here, so some assertions are about it, with bounds that only a delay
//! cannot break: a turn never comes before its slot of the period begins (a loaded machine makes
//! turns later, never earlier). The exact spread is unit-tested on the pure schedule
//! (`server::drain`'s tests).

mod common;

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bare_sse::client::EventSource;
use bare_sse::compress::Gzip;
use bare_sse::server::{Drain, DrainAnswer};
use bare_sse::{Event, Hub, Request, Response, Server};
use common::test_inflate::gunzip;
use common::{RawClient, READ_TIMEOUT};

/// What a drained client received: the data of its events, in order, and the `retry:` it was told
/// last, which must be the last line of its body.
struct Received {
    data: Vec<String>,
    retry: Option<u64>,
    /// The body ended with its last chunk.
    ended: bool,
    /// When the reader saw the end.
    at: Instant,
}

/// Reads `client`'s stream to its end on a thread of its own.
fn read_in_background(mut client: RawClient) -> thread::JoinHandle<Received> {
    thread::spawn(move || {
        let body = client.read_to_end();
        let at = Instant::now();
        let mut received = Received { data: Vec::new(), retry: None, ended: client.ended_with_last_chunk(), at };
        for line in body.lines().filter(|line| !line.is_empty() && !line.starts_with(':')) {
            assert!(received.retry.is_none(), "nothing after the drain's retry: {body:?}");
            match line.split_once(": ") {
                Some(("data", data)) => received.data.push(data.to_string()),
                Some(("retry", ms)) => received.retry = Some(ms.parse().expect("retry: is a number")),
                Some(("id", _)) => {}
                _ => panic!("unexpected line {line:?} in {body:?}"),
            }
        }
        received
    })
}

/// `count` hub clients, connected one after another (so the server accepted them in this order).
fn clients(server: &Server, count: usize) -> Vec<RawClient> {
    let clients = (0..count).map(|_| RawClient::stream(server.local_addr(), "/", "")).collect();
    assert!(server.hub().wait_until_clients(|n| n == count, READ_TIMEOUT));
    clients
}

fn quiet_hub() -> Hub {
    Hub::builder().heartbeat(None).build()
}

/// 50 clients drained over two seconds: every stream ends with a `retry:` in the given range and
/// its last chunk, and the ends are spread over the period rather than all at its start. A
/// stream's turn never comes before its slot (a fiftieth of the period) begins, so 45 of them end
/// after the first tenth however loaded the machine is.
#[test]
fn a_drain_ends_every_stream_over_the_period_with_a_retry_and_its_last_chunk() {
    const CLIENTS: usize = 50;
    let period = Duration::from_secs(2);
    let server = Server::builder().hub(quiet_hub()).start().unwrap();
    let readers: Vec<_> = clients(&server, CLIENTS).into_iter().map(read_in_background).collect();

    let before = Instant::now();
    let drain = Drain::over(period).retry_between(Duration::from_millis(2000), Duration::from_millis(4000)).seed(7);
    let ended = server.drain_with(drain);
    let took = before.elapsed();

    assert_eq!(ended, CLIENTS, "every stream was ended by the drain");
    assert!(took >= period * 49 / 50, "the last turn is in the last fiftieth of the period: {took:?}");
    assert_eq!(server.connections(), 0, "then the server stopped");
    let mut ends = Vec::new();
    for reader in readers {
        let received = reader.join().unwrap();
        assert!(received.ended, "the body ends with its last chunk");
        let retry = received.retry.expect("a retry: before the end");
        assert!((2000..=4000).contains(&retry), "retry: {retry} within the range");
        ends.push(received.at - before);
    }
    ends.sort();
    let after_first_tenth = ends.iter().filter(|&&end| end >= period / 10).count();
    assert!(after_first_tenth >= 45, "not all at the start: {ends:?}");
    assert!(ends[39] - ends[9] >= period / 4, "spread over the period, not bunched: {ends:?}");
}

/// How far each reader of [`events_published_during_a_drain_reach_every_client_not_yet_ended`]
/// has read: its count of events, or `usize::MAX` once its stream has ended.
struct Progress {
    read: Mutex<Vec<usize>>,
    changed: Condvar,
}

impl Progress {
    fn set(&self, reader: usize, read: usize) {
        self.read.lock().unwrap()[reader] = read;
        self.changed.notify_all();
    }

    /// Waits until every reader has read `count` events or seen its stream end.
    fn wait_for_all(&self, count: usize) {
        let read = self.read.lock().unwrap();
        let waited = self.changed.wait_timeout_while(read, READ_TIMEOUT, |read| read.iter().any(|&n| n < count));
        assert!(!waited.unwrap().1.timed_out(), "every reader reads every event");
    }
}

/// While the drain runs, a publisher sends numbered events, each once every client still
/// streaming has read the one before (so that no socket fills up: a client that does not keep up
/// is cut at its end, as `stop` cuts it). Each client receives them in order with no gap, and every
/// event published before its slot of the period began: its turn waited for the hub to deliver
/// them.
#[test]
fn events_published_during_a_drain_reach_every_client_not_yet_ended() {
    const CLIENTS: usize = 20;
    let period = Duration::from_secs(2);
    let hub = quiet_hub();
    let server = Server::builder().hub(hub.clone()).start().unwrap();
    let progress = Arc::new(Progress { read: Mutex::new(vec![0; CLIENTS]), changed: Condvar::new() });
    let readers: Vec<_> = clients(&server, CLIENTS)
        .into_iter()
        .enumerate()
        .map(|(index, mut client)| {
            let progress = Arc::clone(&progress);
            thread::spawn(move || {
                let mut data = Vec::new();
                while let Some(block) = client.try_next_block() {
                    data.push(block.data());
                    progress.set(index, data.len());
                }
                progress.set(index, usize::MAX);
                // What follows the last event: the drain's `retry:` line.
                let rest = client.read_to_end();
                let retry = rest.strip_prefix("retry: ").and_then(|ms| ms.strip_suffix('\n')?.parse::<u64>().ok());
                (data, retry, client.ended_with_last_chunk())
            })
        })
        .collect();

    let drained = Arc::new(AtomicBool::new(false));
    let publisher = {
        let (hub, drained, progress) = (hub.clone(), Arc::clone(&drained), Arc::clone(&progress));
        thread::spawn(move || {
            let mut published = Vec::new();
            while !drained.load(Ordering::SeqCst) {
                hub.send_new_event(Event::new().data(published.len().to_string())).unwrap();
                published.push(Instant::now());
                progress.wait_for_all(published.len());
            }
            published
        })
    };
    let before = Instant::now();
    assert_eq!(server.drain_with(Drain::over(period).seed(11)), CLIENTS);
    drained.store(true, Ordering::SeqCst);
    let published = publisher.join().unwrap();

    for (index, reader) in readers.into_iter().enumerate() {
        let (data, retry, ended) = reader.join().unwrap();
        assert!(ended && retry.is_some(), "client {index}: a retry: and the last chunk ({ended}, {retry:?})");
        let in_order: Vec<String> = (0..data.len()).map(|n| n.to_string()).collect();
        assert_eq!(data, in_order, "client {index}: every event from the first, in order, once");
        let slot_start = before + period * index as u32 / CLIENTS as u32;
        let before_turn = published.iter().filter(|&&at| at < slot_start).count();
        assert!(
            data.len() >= before_turn,
            "client {index}: {} events received, {before_turn} published before its slot began",
            data.len()
        );
    }
    let during = published.iter().filter(|&&at| at > before && at < before + period * 19 / 20).count();
    assert!(during > 0, "events were published while the drain ran");
}

/// A drain over no time ends every stream at once, but only after everything published before it:
/// a burst still being written when the drain begins reaches every client whole, then the
/// `retry:`, then the last chunk.
#[test]
fn a_drain_over_no_time_ends_each_stream_after_everything_published_before_it() {
    const CLIENTS: usize = 8;
    const EVENTS: usize = 300;
    let hub = quiet_hub();
    let server = Server::builder().hub(hub.clone()).start().unwrap();
    let readers: Vec<_> = clients(&server, CLIENTS).into_iter().map(read_in_background).collect();
    for n in 0..EVENTS {
        hub.send_new_event(Event::new().data(format!("{n} of the burst before the drain"))).unwrap();
    }
    assert_eq!(server.drain(Duration::ZERO), CLIENTS);
    let expected: Vec<String> = (0..EVENTS).map(|n| format!("{n} of the burst before the drain")).collect();
    for reader in readers {
        let received = reader.join().unwrap();
        assert_eq!(received.data, expected);
        let retry = received.retry.expect("a retry: after the events");
        assert!((1000..=5000).contains(&retry), "the default range: {retry}");
        assert!(received.ended);
    }
}

/// During a drain, a request for a stream gets `200`, a `retry:` in the drain's range and the end
/// of the body, without joining the hub (no history replayed) or running a stream's closure; a
/// page is served as usual. A `stop` cuts the drain short: it returns, and the streams left end
/// properly.
#[test]
fn requests_for_a_stream_during_a_drain_are_told_to_come_back_later() {
    let server = Arc::new(
        Server::builder()
            .hub(quiet_hub())
            .path("/events")
            .page("/", "<p>still here</p>")
            .route("/count", |_: &Request| {
                Response::stream(|stream| {
                    stream.wait_closed(None);
                })
            })
            .route("/saved", |_: &Request| Response::events(&[Event::new().data("saved")]).unwrap())
            .start()
            .unwrap(),
    );
    let address = server.local_addr();
    let mut clients: Vec<RawClient> = (0..3).map(|_| RawClient::stream(address, "/events", "")).collect();
    assert!(server.hub().wait_until_clients(|n| n == 3, READ_TIMEOUT));
    // Kept in history: a stream that started would replay it first.
    server.send_new_event(Event::new().data("kept").with_id()).unwrap();
    for client in &mut clients {
        assert_eq!(client.next_block().data(), "kept");
    }
    // Six seconds for three streams: the first ends within two, the last after four.
    let drain = Drain::over(Duration::from_secs(6)).retry_between(Duration::from_secs(3), Duration::from_secs(4));
    let draining = {
        let server = Arc::clone(&server);
        thread::spawn(move || server.drain_with(drain.seed(3)))
    };
    // The first stream's end says that the drain runs; the last one's turn is two seconds away.
    assert!(clients[0].read_to_end().starts_with("retry: ") && clients[0].ended_with_last_chunk());

    for (target, accept) in [("/events", "Accept: text/event-stream\r\n"), ("/count", ""), ("/events", "")] {
        let mut newcomer = RawClient::get(address, target, &format!("Origin: http://app.example\r\n{accept}"));
        let head = newcomer.head();
        assert_eq!(head.status, 200, "{target}: {head:?}");
        assert_eq!(head.header("content-type"), Some("text/event-stream; charset=utf-8"));
        assert_eq!(head.header("access-control-allow-origin"), Some("*"), "a cross-origin EventSource can read it");
        let body = newcomer.read_to_end();
        let retry: u64 = body.strip_prefix("retry: ").and_then(|rest| rest.trim_end().parse().ok()).unwrap();
        assert!((3000..=4000).contains(&retry) && body.ends_with('\n'), "{target}: {body:?}");
        assert!(newcomer.ended_with_last_chunk(), "{target}: a complete body");
    }
    // The first client leaves the hub once its thread sees its end; no newcomer stays.
    assert!(server.hub().wait_until_clients(|n| n == 2, READ_TIMEOUT));
    let mut page = RawClient::get(address, "/", "");
    assert_eq!(page.head().status, 200);
    assert_eq!(page.read_to_end(), "<p>still here</p>");
    // An answer of events complete at once is no stream: it is answered as a page is.
    let mut saved = RawClient::get(address, "/saved", "");
    assert_eq!(saved.head().status, 200);
    assert_eq!(saved.read_to_end(), "data: saved\n\n");

    server.stop();
    let ended = draining.join().unwrap();
    assert!((1..=2).contains(&ended), "cut short after one or two turns: {ended}");
    for client in &mut clients[1..] {
        client.read_to_end();
        assert!(client.ended_with_last_chunk(), "stop ends the streams left properly");
    }
}

/// With `StopForGood`, a client that comes back after its stream was drained, or any request for a
/// stream during the drain, gets `204`, and a reconnecting client (the library's, as a browser)
/// stops for good; the server waits for them before it stops.
#[test]
fn a_drain_that_stops_for_good_answers_204_to_the_clients_it_ended() {
    let hub = quiet_hub();
    let server = Server::builder().hub(hub.clone()).start().unwrap();
    let url = format!("http://{}/", server.local_addr());
    let (opened, opens) = mpsc::channel();
    let listeners: Vec<_> = (0..3)
        .map(|_| {
            let (url, opened) = (url.clone(), opened.clone());
            thread::spawn(move || {
                // Bounded: a client that is not told to stop fails (an `Err`) rather than hangs.
                let mut source = EventSource::builder(&url).max_attempts(3).build().unwrap();
                let mut events = Vec::new();
                for event in &mut source {
                    events.push(event.unwrap().data);
                    let _ = opened.send(());
                }
                (events, source.ready_state())
            })
        })
        .collect();
    assert!(hub.wait_until_clients(|n| n == 3, READ_TIMEOUT));
    hub.send_new_event(Event::new().data("before the drain").with_id()).unwrap();
    for _ in 0..3 {
        opens.recv_timeout(READ_TIMEOUT).unwrap();
    }
    let raw: Vec<_> = (0..2).map(|_| read_in_background(RawClient::stream(server.local_addr(), "/", ""))).collect();
    assert!(hub.wait_until_clients(|n| n == 5, READ_TIMEOUT));

    let drain = Drain::over(Duration::from_secs(1))
        .retry_between(Duration::from_millis(300), Duration::from_millis(600))
        .answer(DrainAnswer::StopForGood);
    let before = Instant::now();
    let ended = server.drain_with(drain);
    assert!(before.elapsed() >= Duration::from_millis(600), "it waited for the clients to come back");
    assert_eq!(ended, 5);
    for listener in listeners {
        let (events, state) = listener.join().unwrap();
        assert_eq!(events, ["before the drain"], "one event, and no reconnection after the 204");
        assert_eq!(state, bare_sse::client::ReadyState::Closed, "a 204 closes it for good");
    }
    for reader in raw {
        let received = reader.join().unwrap();
        assert!(received.ended && (300..=600).contains(&received.retry.unwrap()));
    }
}

/// The 204 a stop-for-good drain gives is a whole answer with no body, with CORS headers, so that a
/// cross-origin `EventSource` reads it as the end rather than as a network error.
#[test]
fn the_204_of_a_stop_for_good_drain_carries_cors_headers() {
    let server = Arc::new(Server::builder().hub(quiet_hub()).start().unwrap());
    let mut client = RawClient::stream(server.local_addr(), "/", "");
    assert!(server.hub().wait_until_clients(|n| n == 1, READ_TIMEOUT));
    let drain = Drain::over(Duration::ZERO).retry_between(Duration::from_secs(30), Duration::from_secs(30));
    let draining = {
        let server = Arc::clone(&server);
        thread::spawn(move || server.drain_with(drain.answer(DrainAnswer::StopForGood)))
    };
    // Ended at once; the server then answers 204 for 31 s, unless stopped.
    assert_eq!(client.read_to_end(), "retry: 30000\n");
    let mut newcomer = RawClient::get(server.local_addr(), "/", "Origin: http://app.example\r\n");
    let head = newcomer.head();
    assert_eq!((head.status, head.header("access-control-allow-origin")), (204, Some("*")));
    assert_eq!(head.header("connection"), Some("close"));
    let mut rest = Vec::new();
    newcomer.socket.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "no body after a 204: {rest:?}");
    server.stop();
    assert_eq!(draining.join().unwrap(), 1);
}

/// A drain that begins while a stream is still starting (its head written, its history still
/// going out to a client that has not read it) ends it once it has started: after its history,
/// with a `retry:` and the last chunk, never inside the history or before the head.
#[test]
fn a_stream_still_starting_is_ended_once_it_has_started() {
    let hub = Hub::builder().heartbeat(None).history_bytes(64 << 20).history_events(100).build();
    // History larger than the socket buffers hold: the new client's start blocks until it reads.
    let big = "x".repeat(256 * 1024);
    for _ in 0..40 {
        hub.send_new_event(Event::new().data(big.as_str()).with_id()).unwrap();
    }
    let server = Arc::new(Server::builder().hub(hub.clone()).start().unwrap());
    let mut client = RawClient::stream(server.local_addr(), "/", "");
    assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT));
    let draining = {
        let server = Arc::clone(&server);
        thread::spawn(move || server.drain(Duration::ZERO))
    };
    let body = client.read_to_end();
    assert_eq!(draining.join().unwrap(), 1);
    let (events, last) = body.rsplit_once("\n\n").unwrap();
    assert_eq!(events.split("\n\n").count(), 40, "the whole history first");
    assert!(last.starts_with("retry: ") && last.ends_with('\n'), "then the retry: {last:?}");
    assert!(client.ended_with_last_chunk());
}

/// A client that does not read holds a turn back for at most a second (the wait for its hub's
/// delivery) and the drain's end for at most two more, never for the write timeout: a client that
/// reads still gets its `retry:` and the last chunk.
#[test]
fn a_client_that_does_not_read_holds_the_drain_back_only_briefly() {
    let hub = Hub::builder().heartbeat(None).max_queued_bytes(64 << 20).write_timeout(Duration::from_secs(60)).build();
    let server = Server::builder().hub(hub.clone()).start().unwrap();
    let _stalled = RawClient::stream(server.local_addr(), "/", "");
    assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT));
    common::flood(&hub);
    assert!(!hub.flush(Duration::from_millis(200)), "the stalled client's socket is full");
    // Joins after the burst, which has no ids: it has nothing to read but its end.
    let reader = read_in_background(RawClient::stream(server.local_addr(), "/", ""));
    assert!(hub.wait_until_clients(|n| n == 2, READ_TIMEOUT));

    let before = Instant::now();
    assert_eq!(server.drain(Duration::ZERO), 2);
    let took = before.elapsed();
    assert!(took >= Duration::from_secs(1), "the turn waited for the delivery: {took:?}");
    assert!(took < Duration::from_secs(8), "but not for the write timeout: {took:?}");
    let received = reader.join().unwrap();
    assert!(received.data.is_empty() && received.retry.is_some() && received.ended);
}

/// A compressed stream gets its `retry:` compressed as the rest of its body: a hub's gzip client as
/// one more DEFLATE unit before its final block and trailer, a per-connection stream through its
/// encoder, whose end (the trailer) follows. Both decode whole, their checksums checked.
#[test]
fn compressed_streams_get_their_retry_compressed() {
    let hub = Hub::builder().heartbeat(None).gzip(6).build();
    let server = Server::builder()
        .hub(hub.clone())
        .path("/hub")
        .route("/own", |_: &Request| {
            Response::stream(|stream| {
                stream.send(&Event::new().data("own")).unwrap();
                stream.wait_closed(None);
            })
            .write_profile(Gzip::new(6).shared())
        })
        .start()
        .unwrap();
    let gzip = "Accept-Encoding: gzip\r\n";
    let mut from_hub = RawClient::stream(server.local_addr(), "/hub", gzip);
    let mut own = RawClient::stream(server.local_addr(), "/own", gzip);
    assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT));
    hub.send_new_event(Event::new().data("shared")).unwrap();
    from_hub.read_body_until(|body| gunzip(body).is_ok_and(|(data, _)| data == b"data: shared\n\n"));
    own.read_body_until(|body| gunzip(body).is_ok_and(|(data, _)| data == b"data: own\n\n"));

    let drain = Drain::over(Duration::ZERO).retry_between(Duration::from_millis(1500), Duration::from_millis(1500));
    assert_eq!(server.drain_with(drain), 2);
    let expected =
        [(&mut from_hub, "data: shared\n\nretry: 1500\n", true), (&mut own, "data: own\n\nretry: 1500\n", true)];
    for (client, text, trailer) in expected {
        let decoded = Ok((text.as_bytes().to_vec(), trailer));
        client.read_body_until(|body| gunzip(body) == decoded);
        client.read_to_end();
        assert!(client.ended_with_last_chunk(), "{text:?}: the last chunk follows");
    }
}
