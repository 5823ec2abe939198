//! Slow-client benchmark: how long one reading client takes to receive a 4 MiB burst from a hub
//! with one flusher, alone, and while clients that never read are connected to the same hub (200
//! by default). std only.
//!
//! Run: `cargo run --release --example bench_slow_clients` (or add `-- 500` for another number of
//! non-reading clients).
//!
//! The reading client runs in a second process (this program, started with `--clients`: the
//! byte-counting clients of `examples/common`, here just one), and says when it has every byte of a
//! burst. The non-reading clients are sockets in this process that send their request and then
//! read nothing. Each round:
//!
//! 1. **alone**: a burst to the reading client, the only client;
//! 2. fresh non-reading clients connect (after the reader), and two bursts go out **while their
//!    sockets fill**: until its buffers are full (about 4 MB on loopback), a client that does not
//!    read takes bytes like one that does, so each of these bursts is also copied into every one of
//!    them;
//! 3. once every non-reading client's socket is full (each is then with a catch-up thread, blocked
//!    in `write`), a burst **with them full**.
//!
//! It prints the median of the rounds for each, the ratio to alone, and the process's threads.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use bare_sse::hub::CATCH_UP_LINGER;
use bare_sse::{Event, Hub, Server};

#[path = "common/counting_clients.rs"]
mod counting_clients;

/// Each event on the wire is this long (the reading client speaks HTTP/1.0: no chunk framing).
const EVENT_BYTES: usize = 64 * 1024;
/// Events per burst: 4 MiB.
const BURST_EVENTS: usize = 64;
/// Rounds; the median of each measurement is reported.
const ROUNDS: usize = 7;
/// Bursts per round: one alone, two while the sockets fill, one with them full.
const BURSTS_PER_ROUND: usize = 4;
/// Bursts in all: the rounds, then one more alone once the catch-up threads have ended.
const BURSTS: usize = ROUNDS * BURSTS_PER_ROUND + 1;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--clients") {
        return counting_clients::run(&args[1..], BURSTS);
    }
    let slow: usize = args.first().map_or(200, |n| n.parse().expect("a number of non-reading clients"));
    let hub = Hub::builder().flusher_threads(1).heartbeat(None).build();
    let server = Server::builder().hub(hub.clone()).max_connections(slow + 10).start().expect("start the server");
    let mut reader = Reader::start(&server, &hub);

    let (mut alone, mut first, mut second, mut full) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut threads = Threads { alone: thread_count(), ..Threads::default() };
    for round in 0..ROUNDS {
        alone.push(reader.burst());
        let non_reading: Vec<TcpStream> = (0..slow).map(|_| connect_non_reading(&server)).collect();
        assert!(hub.wait_until_clients(|n| n == slow + 1, Duration::from_secs(60)), "the clients did not connect");
        first.push(reader.burst());
        second.push(reader.burst());
        // Each is now with a catch-up thread, blocked in `write` (or, if its socket filled before
        // its connection had handed it to the flusher, with its connection thread, likewise).
        let with_catch_up_thread = settled(|| hub.stats().catch_up_threads);
        if round == 0 {
            threads.full = thread_count();
            threads.catch_up = with_catch_up_thread;
        }
        full.push(reader.burst());
        assert_eq!(hub.stats().dropped_slow, 0, "no client was dropped");
        drop(non_reading);
        assert!(hub.wait_until_clients(|n| n == 1, Duration::from_secs(60)), "the non-reading clients stayed");
    }
    // Catch-up threads end once they have had nothing to do for a while.
    thread::sleep(CATCH_UP_LINGER + Duration::from_secs(1));
    threads.after = thread_count();
    alone.push(reader.burst());
    reader.finish();

    let alone = median(alone);
    let versus = |times: Vec<Duration>| {
        let time = median(times);
        format!("{} ({:.2})", millis(time), time.as_secs_f64() / alone.as_secs_f64())
    };
    println!(
        "| non-reading clients | reader alone | first burst after they connect (/ alone) | second burst | \
         with their sockets full |"
    );
    println!("|---|---|---|---|---|");
    println!("| {slow} | {} | {} | {} | {} |", millis(alone), versus(first), versus(second), versus(full));
    println!(
        "threads: {} with the reader alone; {} once the {slow} non-reading clients' sockets are full (+{}, of \
         which {} catch-up threads); {} {:?} after the last of them left",
        threads.alone,
        threads.full,
        threads.full - threads.alone,
        threads.catch_up,
        threads.after,
        CATCH_UP_LINGER + Duration::from_secs(1),
    );
}

/// The reading client: a second process with one byte-counting client.
struct Reader<'a> {
    hub: &'a Hub,
    child: std::process::Child,
    lines: Box<dyn Iterator<Item = String>>,
    data: String,
}

impl Reader<'_> {
    fn start<'a>(server: &Server, hub: &'a Hub) -> Reader<'a> {
        let burst_bytes = (EVENT_BYTES * BURST_EVENTS).to_string();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--clients", &server.local_addr().to_string(), "1", &burst_bytes, "0", "plain"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the reading client");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines().map(|line| line.unwrap());
        assert_eq!(lines.next().as_deref(), Some("ready"));
        assert!(hub.wait_until_clients(|n| n == 1, Duration::from_secs(10)), "the reading client did not connect");
        let data = "x".repeat(EVENT_BYTES - "data: \n\n".len());
        Reader { hub, child, lines: Box::new(lines), data }
    }

    /// Publishes a burst; returns how long the reading client took to have all of it.
    fn burst(&mut self) -> Duration {
        let started = Instant::now();
        for _ in 0..BURST_EVENTS {
            self.hub.send_new_event(Event::new().data(self.data.as_str())).unwrap();
        }
        assert_eq!(self.lines.next().as_deref(), Some("burst-done"));
        started.elapsed()
    }

    fn finish(mut self) {
        drop(self.lines);
        self.child.wait().unwrap();
    }
}

/// The process's thread counts: before the first round, once the first round's non-reading
/// clients' sockets are full, and after the last round.
#[derive(Default)]
struct Threads {
    alone: usize,
    full: usize,
    /// Catch-up threads then.
    catch_up: usize,
    after: usize,
}

/// A client that sends its request and never reads a byte.
fn connect_non_reading(server: &Server) -> TcpStream {
    let mut socket = TcpStream::connect(server.local_addr()).expect("connect");
    socket.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n").expect("send the request");
    socket
}

/// The value of `count` once it has not changed for 300 ms (looking every 10 ms, for up to 10 s).
fn settled(count: impl Fn() -> usize) -> usize {
    let started = Instant::now();
    let (mut last, mut since) = (count(), Instant::now());
    while since.elapsed() < Duration::from_millis(300) && started.elapsed() < Duration::from_secs(10) {
        thread::sleep(Duration::from_millis(10));
        let now = count();
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
    last
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

fn millis(time: Duration) -> String {
    format!("{:.1} ms", time.as_secs_f64() * 1000.0)
}

/// Threads of this process now (Linux; 0 elsewhere).
fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |tasks| tasks.count())
}
