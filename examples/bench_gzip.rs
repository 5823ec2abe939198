//! Compression benchmark: the ratio and speed of this crate's gzip on a Datastar-shaped stream and
//! on small fan-out events, per connection (one encoder per client, its window kept across events)
//! and compressed once (each event on its own, as a hub compresses for all its clients); then hub
//! fan-out with compression off and on. std only.
//!
//! Run: `cargo run --release --example bench_gzip` (or add `-- 100,1000` for client counts).
//!
//! Fan-out clients run in a second process (this program, started with `--clients`), speak HTTP/1.0
//! so that the body has no chunk framing, and count the bytes of each burst: plain events, or the
//! compressed units a hub sends (the same bytes for every client, computed here the same way).

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bare_sse::compress::{Gzip, WriteProfile, DEFAULT_LEVEL};
use bare_sse::datastar::{self, ElementOptions};
// The encoder alone, as a hub runs it for each event: not part of the API (see its module).
use bare_sse::internals::{Deflater, GZIP_HEADER};
use bare_sse::{Event, Hub, Server};

/// Each fan-out event on the wire is this long before compression.
const EVENT_BYTES: usize = 100;
/// Bursts per fan-out measurement; the median is reported.
const BURST_ROUNDS: usize = 7;

#[path = "common/counting_clients.rs"]
mod counting_clients;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--clients") {
        return counting_clients::run(&args[1..], BURST_ROUNDS);
    }
    let counts: Vec<usize> = args
        .first()
        .map_or("100,1000", String::as_str)
        .split(',')
        .map(|n| n.parse().expect("a client count"))
        .collect();

    println!("| stream | bytes | per connection: ratio, MB/s | compressed once: ratio, MB/s |");
    println!("|---|---|---|---|");
    for (name, events) in
        [("Datastar region, 100 updates", datastar_stream()), ("100-byte events, 10,000", small_events(10_000))]
    {
        let plain: usize = events.iter().map(Vec::len).sum();
        let (per_connection, per_connection_speed) = per_connection(&events);
        let (once, once_speed) = compressed_once(&events);
        println!(
            "| {name} | {plain} | {:.1}x, {per_connection_speed:.0} MB/s | {:.1}x, {once_speed:.0} MB/s |",
            plain as f64 / per_connection as f64,
            plain as f64 / once as f64,
        );
    }

    println!();
    println!("| clients | burst | plain deliveries/s | gzip deliveries/s | gzip / plain |");
    println!("|---|---|---|---|---|");
    for clients in counts {
        let events = if clients <= 100 { 10_000 } else { 1000 };
        let plain = fan_out(clients, events, false);
        let gzip = fan_out(clients, events, true);
        println!("| {clients} | {events} | {:.2} M/s | {:.2} M/s | {:.2} |", plain / 1e6, gzip / 1e6, gzip / plain);
    }
}

/// A page region of 5 to 20 KB (a table whose rows come and go), resent whole on every update, as
/// Datastar apps do, encoded as `datastar-patch-elements` events.
fn datastar_stream() -> Vec<Vec<u8>> {
    (0..100)
        .map(|update: usize| {
            let rows = 40 + (update * 7) % 120;
            let body: String = (0..rows)
                .map(|row| {
                    format!(
                        "<tr id=\"row-{row}\"><td class=\"name\">Item {row}</td><td class=\"qty\">{}</td>\
                         <td class=\"state\">{}</td><td><button data-on:click=\"@post('/items/{row}/toggle')\">Toggle</button></td></tr>\n",
                        (row * 31 + update) % 97,
                        if (row + update) % 3 == 0 { "open" } else { "done" },
                    )
                })
                .collect();
            let html = format!("<table id=\"items\"><tbody>\n{body}</tbody></table>");
            datastar::patch_elements(&html, ElementOptions::new()).unwrap().to_bytes().unwrap()
        })
        .collect()
}

fn small_events(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let mut event = format!("data: {i:08} ").into_bytes();
            event.resize(EVENT_BYTES - 2, b'x');
            event.extend_from_slice(b"\n\n");
            event
        })
        .collect()
}

/// One gzip stream with its window kept across events: compressed size and MB/s.
fn per_connection(events: &[Vec<u8>]) -> (usize, f64) {
    let started = Instant::now();
    let mut encoder = Gzip::new(DEFAULT_LEVEL).encoder();
    let mut out = Vec::new();
    for event in events {
        encoder.encode(event, &mut out);
    }
    encoder.finish(&mut out);
    (out.len(), megabytes_per_second(events, started.elapsed()))
}

/// Each event compressed on its own, as a compressing hub does: compressed size and MB/s.
fn compressed_once(events: &[Vec<u8>]) -> (usize, f64) {
    let started = Instant::now();
    let mut deflater = Deflater::new(DEFAULT_LEVEL);
    let mut out = Vec::new();
    for event in events {
        deflater.compress_independent(event, &mut out);
    }
    (out.len() + 18, megabytes_per_second(events, started.elapsed()))
}

fn megabytes_per_second(events: &[Vec<u8>], elapsed: Duration) -> f64 {
    events.iter().map(Vec::len).sum::<usize>() as f64 / 1e6 / elapsed.as_secs_f64()
}

/// Hub fan-out of bursts of small events to `clients` clients: deliveries per second (median).
fn fan_out(clients: usize, events: usize, gzip: bool) -> f64 {
    let mut hub = Hub::builder().heartbeat(None).max_queued_bytes(64 * 1024 * 1024);
    if gzip {
        hub = hub.gzip(DEFAULT_LEVEL);
    }
    let hub = hub.build();
    let server = Server::builder().hub(hub.clone()).max_connections(clients + 10).start().expect("start the server");
    let burst = small_events(events);
    // What each client reads per burst: the events, or each compressed on its own (as the hub does).
    let burst_bytes: usize = if gzip {
        let mut deflater = Deflater::new(DEFAULT_LEVEL);
        burst
            .iter()
            .map(|event| {
                let mut out = Vec::new();
                deflater.compress_independent(event, &mut out);
                out.len()
            })
            .sum()
    } else {
        burst.iter().map(Vec::len).sum()
    };
    let prefix = if gzip { GZIP_HEADER.len() } else { 0 };
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--clients", &server.local_addr().to_string(), &clients.to_string()])
        .args([burst_bytes.to_string(), prefix.to_string(), (if gzip { "gzip" } else { "plain" }).to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the client process");
    let mut stdout = child.stdout.take().unwrap();
    let mut line = || {
        let mut text = Vec::new();
        let mut byte = [0u8; 1];
        while stdout.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
            text.push(byte[0]);
        }
        String::from_utf8(text).unwrap()
    };
    assert_eq!(line(), "ready");
    assert!(hub.wait_until_clients(|n| n == clients, Duration::from_secs(120)));
    let data: Vec<String> = burst.iter().map(|e| String::from_utf8_lossy(&e[6..e.len() - 2]).into_owned()).collect();
    let mut rates: Vec<f64> = (0..BURST_ROUNDS)
        .map(|_| {
            let started = Instant::now();
            for data in &data {
                hub.send_new_event(Event::new().data(data.as_str())).unwrap();
            }
            assert_eq!(line(), "burst-done");
            (clients * events) as f64 / started.elapsed().as_secs_f64()
        })
        .collect();
    drop(child.stdin.take());
    child.wait().unwrap();
    rates.sort_by(f64::total_cmp);
    rates[BURST_ROUNDS / 2]
}
