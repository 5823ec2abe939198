//! Per-connection streams: sending, noticing the client leave, on_close exactly once, concurrent
//! senders, batches, iterator and channel sources, panics, heartbeats and the slow-client bound.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bare_sse::server::{Request, Response};
use bare_sse::{Error, Event, EventStream, Server, ServerBuilder};
use common::{RawClient, READ_TIMEOUT};

/// A server whose `/` runs `run` as a per-connection stream.
fn serve_stream(settings: ServerBuilder, run: impl Fn(EventStream) + Send + Sync + Clone + 'static) -> Server {
    settings.route("/", move |_: &Request| Response::stream(run.clone())).start().unwrap()
}

fn quiet() -> ServerBuilder {
    Server::builder().stream_heartbeat(None)
}

/// Counts the `on_close` calls of `stream` in `closes`.
fn count_closes(stream: &EventStream, closes: &Arc<AtomicUsize>) {
    let closes = Arc::clone(closes);
    stream.on_close(move || {
        closes.fetch_add(1, Ordering::SeqCst);
    });
}

#[test]
fn events_then_the_end_and_on_close_once() {
    let closes = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&closes);
    let server = serve_stream(quiet(), move |stream| {
        count_closes(&stream, &counter);
        for i in 0..3 {
            stream.send(&Event::new().id(i.to_string()).data(format!("n{i}"))).unwrap();
        }
    });
    let mut client = RawClient::stream(server.local_addr(), "/", "");
    for i in 0..3 {
        assert_eq!(client.next_block().data(), format!("n{i}"));
    }
    assert_eq!(client.read_to_end(), "", "the connection closes when the closure returns");
    server.stop();
    assert_eq!(closes.load(Ordering::SeqCst), 1);
}

#[test]
fn the_closure_learns_that_the_client_left_while_it_blocks() {
    let (report, reports) = mpsc::channel();
    let closes = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&closes);
    let server = serve_stream(quiet(), move |stream| {
        count_closes(&stream, &counter);
        let closed = stream.wait_closed(Some(Duration::from_secs(5)));
        let send_after = stream.send(&Event::new().data("too late"));
        report.send((closed, matches!(send_after, Err(Error::ClientGone)), Instant::now())).unwrap();
    });
    let client = RawClient::stream(server.local_addr(), "/", "");
    let left_at = Instant::now();
    drop(client);
    let (closed, send_failed, noticed_at) = reports.recv_timeout(READ_TIMEOUT).unwrap();
    assert!(closed && send_failed);
    assert!(noticed_at - left_at < Duration::from_secs(1), "noticed after {:?}", noticed_at - left_at);
    server.stop();
    assert_eq!(closes.load(Ordering::SeqCst), 1, "on_close ran exactly once");
}

/// A send blocked on a full socket holds no lock that others need: closing the stream from another
/// thread returns at once, and the blocked send then fails with `ClientGone`, long before the
/// write timeout.
#[test]
fn closing_from_another_thread_ends_a_blocked_send_at_once() {
    let (handed, handles) = mpsc::channel();
    let (report, reports) = mpsc::channel();
    let settings = quiet().stream_write_timeout(Duration::from_secs(60));
    let server = serve_stream(settings, move |stream| {
        handed.send(stream.clone()).unwrap();
        // More than the socket buffers of both ends can hold (at most 4 MiB to send and 6 MiB to
        // receive on Linux loopback): this send blocks until the client reads, which it never
        // does past its first bytes.
        let big = "x".repeat(16 * 1024 * 1024);
        let result = stream.send(&Event::new().data(big));
        report.send((matches!(result, Err(Error::ClientGone)), Instant::now())).unwrap();
    });
    let mut client = RawClient::stream(server.local_addr(), "/", "");
    // Encoding 16 MiB in a debug build on a loaded machine can take a while: wait longer for the
    // signal that the send is under way (a wait, not a bound on anything).
    client.socket.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    client.read_through("data: xxxx"); // the big send is under way
    let stream = handles.recv_timeout(READ_TIMEOUT).unwrap();
    let closing = Instant::now();
    stream.close();
    let close_took = closing.elapsed();
    let (gone, send_ended) = reports.recv_timeout(READ_TIMEOUT).unwrap();
    // Time is the behaviour: promptness, with bounds far below the 60 s write timeout.
    assert!(close_took < Duration::from_secs(5), "close waited {close_took:?} for the blocked send");
    assert!(gone, "the blocked send reports that the client is gone");
    assert!(send_ended - closing < Duration::from_secs(5), "the send ended {:?} after close", send_ended - closing);
}

#[test]
fn on_close_registered_after_close_runs_at_once() {
    let (report, reports) = mpsc::channel();
    let server = serve_stream(quiet(), move |stream| {
        stream.close();
        let report = report.clone();
        stream.on_close(move || report.send("ran").unwrap());
    });
    let mut client = RawClient::stream(server.local_addr(), "/", "");
    assert_eq!(reports.recv_timeout(READ_TIMEOUT).unwrap(), "ran");
    client.read_to_end();
}

#[test]
fn concurrent_senders_never_interleave() {
    const THREADS: usize = 4;
    const EACH: usize = 300;
    let server = serve_stream(quiet(), |stream| {
        let senders: Vec<_> = (0..THREADS)
            .map(|t| {
                let stream = stream.clone();
                thread::spawn(move || {
                    for i in 0..EACH {
                        let tag = format!("t{t}-{i}");
                        stream.send(&Event::new().event(&tag).data(format!("{tag}\n{tag}\n{tag}"))).unwrap();
                    }
                })
            })
            .collect();
        for sender in senders {
            sender.join().unwrap();
        }
    });
    let mut client = RawClient::stream(server.local_addr(), "/", "");
    let mut next_per_thread = [0usize; THREADS];
    for _ in 0..THREADS * EACH {
        let block = client.next_block();
        let tag = block.get("event").unwrap().to_string();
        assert_eq!(block.data(), format!("{tag}\n{tag}\n{tag}"), "an event was interleaved");
        let (t, i) = tag[1..].split_once('-').unwrap();
        let (t, i): (usize, usize) = (t.parse().unwrap(), i.parse().unwrap());
        assert_eq!(i, next_per_thread[t], "each sender's events arrive in order");
        next_per_thread[t] += 1;
    }
}

#[test]
fn a_batch_is_sent_whole() {
    let server = serve_stream(quiet(), |stream| {
        let senders: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|tag| {
                let stream = stream.clone();
                thread::spawn(move || {
                    for _ in 0..200 {
                        let batch: Vec<Event> = (0..3).map(|k| Event::new().data(format!("{tag}{k}"))).collect();
                        stream.send_batch(&batch).unwrap();
                    }
                })
            })
            .collect();
        for sender in senders {
            sender.join().unwrap();
        }
        assert!(stream.send_batch(&[Event::new().data("ok"), Event::new().id("bad\n")]).is_err());
    });
    let mut client = RawClient::stream(server.local_addr(), "/", "");
    for _ in 0..400 {
        let first = client.next_block().data();
        let tag = &first[..1];
        assert_eq!(first, format!("{tag}0"));
        assert_eq!(client.next_block().data(), format!("{tag}1"));
        assert_eq!(client.next_block().data(), format!("{tag}2"));
    }
    assert_eq!(client.read_to_end(), "", "an invalid batch sends nothing");
}

#[test]
fn an_iterator_source_ends_cleanly() {
    let (report, reports) = mpsc::channel();
    let server = serve_stream(quiet(), move |stream| {
        let result = stream.send_iter((0..5).map(|i| Event::new().data(i.to_string())));
        report.send(result.is_ok()).unwrap();
    });
    let mut client = RawClient::stream(server.local_addr(), "/", "");
    let received: Vec<String> = (0..5).map(|_| client.next_block().data()).collect();
    assert_eq!(received, ["0", "1", "2", "3", "4"]);
    assert_eq!(client.read_to_end(), "");
    assert!(reports.recv_timeout(READ_TIMEOUT).unwrap());
}

#[test]
fn a_channel_source_ends_with_its_senders_or_with_the_client() {
    let (report, reports) = mpsc::channel();
    let server = serve_stream(quiet(), move |stream| {
        let (events, receiver) = mpsc::channel();
        let feeder = thread::spawn(move || {
            for i in 0..3 {
                if events.send(Event::new().data(format!("from channel {i}"))).is_err() {
                    return;
                }
            }
        });
        let first = stream.send_receiver(&receiver);
        feeder.join().unwrap();
        report.send(("drained", first.is_ok())).unwrap();
    });
    let mut client = RawClient::stream(server.local_addr(), "/", "");
    for i in 0..3 {
        assert_eq!(client.next_block().data(), format!("from channel {i}"));
    }
    assert_eq!(reports.recv_timeout(READ_TIMEOUT).unwrap(), ("drained", true));
    drop(server);

    let (report, reports) = mpsc::channel();
    let server = serve_stream(quiet(), move |stream| {
        let (_events, receiver) = mpsc::channel::<Event>(); // a source that never sends
        let result = stream.send_receiver(&receiver);
        report.send(matches!(result, Err(Error::ClientGone))).unwrap();
    });
    let client = RawClient::stream(server.local_addr(), "/", "");
    drop(client);
    assert!(reports.recv_timeout(READ_TIMEOUT).unwrap(), "the quiet source ended when the client left");
}

#[test]
fn a_panicking_stream_closes_the_connection_and_runs_on_close() {
    let (report, reports) = mpsc::channel();
    let server = serve_stream(quiet(), move |stream| {
        let report = report.clone();
        stream.on_close(move || report.send("closed").unwrap());
        stream.send(&Event::new().data("before")).unwrap();
        panic!("stream bug");
    });
    let mut client = RawClient::stream(server.local_addr(), "/", "");
    assert_eq!(client.next_block().data(), "before");
    assert_eq!(client.read_to_end(), "");
    assert_eq!(reports.recv_timeout(READ_TIMEOUT).unwrap(), "closed");
    let mut again = RawClient::stream(server.local_addr(), "/", "");
    assert_eq!(again.next_block().data(), "before", "the server survived");
}

#[test]
fn per_connection_streams_get_heartbeats() {
    let settings = Server::builder().stream_heartbeat(Some(Duration::from_millis(50)));
    let server = serve_stream(settings, |stream| {
        stream.wait_closed(Some(Duration::from_secs(5)));
    });
    let mut client = RawClient::stream(server.local_addr(), "/", "");
    client.read_through(": keep-alive\n");
    client.read_through(": keep-alive\n");
}

#[test]
fn a_client_that_does_not_read_is_dropped_at_the_write_timeout() {
    let (report, reports) = mpsc::channel();
    let settings = quiet().stream_write_timeout(Duration::from_millis(200));
    let server = serve_stream(settings, move |stream| {
        let payload = "x".repeat(64 * 1024);
        let started = Instant::now();
        let mut sent = 0;
        while stream.send(&Event::new().data(payload.as_str())).is_ok() {
            sent += 1;
            if started.elapsed() > READ_TIMEOUT {
                break;
            }
        }
        report.send((sent, stream.is_closed())).unwrap();
    });
    let _stalled = RawClient::stream(server.local_addr(), "/", "");
    let (sent, closed) = reports.recv_timeout(READ_TIMEOUT * 2).unwrap();
    assert!(closed, "the stream gave up on the client after {sent} events");
}

/// CPU time used so far by this process's stream watcher threads (Linux), in clock ticks.
fn watcher_cpu_ticks() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
    tasks
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm")).is_ok_and(|c| c.starts_with("bare-sse-stream"))
        })
        .filter_map(|task| std::fs::read_to_string(task.path().join("stat")).ok())
        .map(|stat| {
            // After the command name: state, ppid, ... with utime and stime 12th and 13th.
            let fields: Vec<&str> = stat.rsplit_once(") ").map_or(vec![], |(_, rest)| rest.split(' ').collect());
            fields.get(11).and_then(|t| t.parse::<u64>().ok()).unwrap_or(0)
                + fields.get(12).and_then(|t| t.parse::<u64>().ok()).unwrap_or(0)
        })
        .sum()
}

/// While a send is blocked on a client that does not read, the stream is not silent: the watcher
/// waits for the next interval instead of retrying the heartbeat in a loop.
#[test]
fn the_watcher_does_not_spin_while_a_send_is_blocked() {
    let (report, reports) = mpsc::channel();
    let settings = Server::builder()
        .stream_heartbeat(Some(Duration::from_millis(10)))
        .stream_write_timeout(Duration::from_secs(30));
    let server = serve_stream(settings, move |stream| {
        let payload = "x".repeat(64 * 1024);
        let _ = report.send(());
        while stream.send(&Event::new().data(payload.as_str())).is_ok() {}
    });
    let stalled = RawClient::stream(server.local_addr(), "/", "");
    reports.recv_timeout(READ_TIMEOUT).unwrap();
    // Time is the behaviour here: CPU used over a wall-clock window. Loopback buffers fill within
    // milliseconds, so the send is blocked for nearly all of this second.
    let before = watcher_cpu_ticks();
    thread::sleep(Duration::from_secs(1));
    let used_ms = watcher_cpu_ticks().saturating_sub(before) * 10;
    assert!(used_ms < 250, "the watchers used {used_ms} ms of CPU in one second");
    drop(stalled);
}

/// A stream's head has the status its handler set, and a field the handler set once, even one the
/// server sets on streams (`Content-Type`, `Cache-Control`).
#[test]
fn a_stream_head_has_the_status_and_the_fields_its_handler_set() {
    let server = quiet()
        .route("/", |_: &Request| {
            Response::stream(|stream| drop(stream.send(&Event::new().data("made"))))
                .with_status(201)
                .header("content-type", "text/event-stream")
                .header("Cache-Control", "no-store")
        })
        .route("/hub", |_: &Request| Response::hub(bare_sse::Hub::new()).with_status(202))
        .start()
        .unwrap();
    let mut client = RawClient::get(server.local_addr(), "/", "");
    let head = client.head();
    let count = |name: &str| head.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).count();
    assert_eq!(head.status, 201);
    assert_eq!((count("content-type"), count("cache-control"), count("x-accel-buffering")), (1, 1, 1));
    assert_eq!(head.header("content-type"), Some("text/event-stream"));
    assert_eq!(head.header("cache-control"), Some("no-store"));
    assert_eq!(client.next_block().data(), "made");
    let mut hub_client = RawClient::get(server.local_addr(), "/hub", "");
    let head = hub_client.head();
    assert_eq!((head.status, head.header("content-type")), (202, Some("text/event-stream; charset=utf-8")));
}
