//! Redis backplane benchmark: events per second published through one Redis stream with 1 and 3
//! servers following it, latency from publishing on one server to receipt on another next to an
//! in-process hub, and fan-out deliveries per second to 1,000 clients spread over 3 servers next to
//! one in-process hub. std only; needs `redis-server` (Debian's package), which it starts itself on
//! a free loopback port with a temporary directory.
//!
//! Run: `cargo run --release --example bench_redis`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bare_sse::{Event, Hub, Server};

#[path = "common/counting_clients.rs"]
mod counting_clients;

/// Events published for the throughput figure.
const THROUGHPUT_EVENTS: usize = 200_000;
/// Events per `send_new_events` batch (one pipelined round trip).
const BATCH: usize = 500;
/// Single events timed for latency.
const LATENCY_EVENTS: usize = 2000;
/// Fan-out: clients, burst, rounds.
const FAN_OUT_CLIENTS: usize = 1000;
const FAN_OUT_BURST: usize = 1000;
const FAN_OUT_ROUNDS: usize = 5;
const WAIT: Duration = Duration::from_secs(60);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--clients") {
        return counting_clients::run(&args[1..], FAN_OUT_ROUNDS);
    }
    let Some(redis) = RedisProcess::start() else {
        eprintln!("bench_redis: redis-server is not installed (apt-get install redis-server)");
        std::process::exit(1);
    };

    println!("| servers | events published | events/s (until every server has them) |");
    println!("|---|---|---|");
    for servers in [1, 3] {
        let hubs: Vec<Hub> = (0..servers).map(|_| redis_hub(&redis, "throughput")).collect();
        let rate = throughput(&hubs);
        println!("| {servers} | {THROUGHPUT_EVENTS} | {rate:.0} |");
    }

    println!();
    println!("| path | p50 | p99 |");
    println!("|---|---|---|");
    let local = Hub::builder().heartbeat(None).build();
    let (p50, p99) = latency(&local, &local);
    println!("| in-process hub: publish to receipt | {p50:.2?} | {p99:.2?} |");
    let (a, b) = (redis_hub(&redis, "latency"), redis_hub(&redis, "latency"));
    let (p50, p99) = latency(&a, &b);
    println!("| through Redis: publish on A, receipt on B | {p50:.2?} | {p99:.2?} |");

    println!();
    println!(
        "| fan-out, {FAN_OUT_CLIENTS} clients × {FAN_OUT_BURST} events | deliveries/s (median of {FAN_OUT_ROUNDS}) |"
    );
    println!("|---|---|");
    let local = Hub::builder().heartbeat(None).max_queued_bytes(64 << 20).build();
    println!("| one in-process hub | {:.2} M/s |", fan_out(&[local]) / 1e6);
    let spread: Vec<Hub> = (0..3).map(|_| redis_hub(&redis, "fanout")).collect();
    println!("| 3 servers through Redis | {:.2} M/s |", fan_out(&spread) / 1e6);
}

fn redis_hub(redis: &RedisProcess, stream: &str) -> Hub {
    let hub = Hub::builder()
        .redis(&redis.url(), stream)
        .unwrap()
        .redis_max_len(THROUGHPUT_EVENTS)
        .heartbeat(None)
        .max_queued_bytes(64 << 20)
        .build();
    assert!(hub.wait_until_following(WAIT), "the reader did not follow the stream");
    hub
}

/// Publishes in batches on the first hub; events per second until every hub has published them
/// all locally.
fn throughput(hubs: &[Hub]) -> f64 {
    let before: Vec<u64> = hubs.iter().map(|hub| hub.stats().events_sent).collect();
    let started = Instant::now();
    let batch: Vec<Event> = (0..BATCH).map(|i| Event::new().data(format!("event {i:06}")).with_id()).collect();
    for _ in 0..THROUGHPUT_EVENTS / BATCH {
        hubs[0].send_new_events(&batch).unwrap();
    }
    for (hub, before) in hubs.iter().zip(before) {
        while hub.stats().events_sent < before + THROUGHPUT_EVENTS as u64 {
            assert!(started.elapsed() < WAIT, "the events did not all arrive");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    THROUGHPUT_EVENTS as f64 / started.elapsed().as_secs_f64()
}

/// Publishes single events on `publisher` and times their receipt by a client of `receiver`'s
/// server: p50 and p99.
fn latency(publisher: &Hub, receiver: &Hub) -> (Duration, Duration) {
    let server = Server::builder().hub(receiver.clone()).start().unwrap();
    let mut socket = TcpStream::connect(server.local_addr()).unwrap();
    socket.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let (arrivals, arrived) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(socket).lines().map_while(Result::ok) {
            if line.starts_with("data: ") && arrivals.send(Instant::now()).is_err() {
                return;
            }
        }
    });
    assert!(receiver.wait_until_clients(|n| n == 1, WAIT));
    let mut latencies: Vec<Duration> = (0..LATENCY_EVENTS)
        .map(|i| {
            let sent = Instant::now();
            publisher.send_new_event(Event::new().data(i.to_string())).unwrap();
            arrived.recv_timeout(WAIT).expect("the event arrived") - sent
        })
        .collect();
    drop(arrived);
    server.stop();
    let _ = reader.join();
    latencies.sort_unstable();
    (latencies[LATENCY_EVENTS / 2], latencies[LATENCY_EVENTS * 99 / 100])
}

/// Bursts of events without ids (live only, so every client's bytes are known) to clients spread
/// over one server per hub, counted by a client process: deliveries per second (median).
fn fan_out(hubs: &[Hub]) -> f64 {
    let servers: Vec<Server> = hubs
        .iter()
        .map(|hub| Server::builder().hub(hub.clone()).max_connections(FAN_OUT_CLIENTS + 10).start().unwrap())
        .collect();
    let addresses: Vec<String> = servers.iter().map(|s| s.local_addr().to_string()).collect();
    let burst: Vec<Event> =
        (0..FAN_OUT_BURST).map(|i| Event::new().data(format!("{i:08} {}", "x".repeat(80)))).collect();
    let burst_bytes: usize = burst.iter().map(|e| e.to_bytes().unwrap().len()).sum();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--clients", &addresses.join(","), &FAN_OUT_CLIENTS.to_string(), &burst_bytes.to_string(), "0", "plain"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the client process");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok);
    assert_eq!(lines.next().as_deref(), Some("ready"));
    let per_server = FAN_OUT_CLIENTS / hubs.len();
    for hub in hubs {
        assert!(hub.wait_until_clients(|n| n >= per_server, WAIT));
    }
    let mut rates: Vec<f64> = (0..FAN_OUT_ROUNDS)
        .map(|_| {
            let started = Instant::now();
            for batch in burst.chunks(BATCH) {
                hubs[0].send_new_events(batch).unwrap();
            }
            assert_eq!(lines.next().as_deref(), Some("burst-done"));
            (FAN_OUT_CLIENTS * FAN_OUT_BURST) as f64 / started.elapsed().as_secs_f64()
        })
        .collect();
    child.wait().unwrap();
    rates.sort_by(f64::total_cmp);
    rates[FAN_OUT_ROUNDS / 2]
}

/// A `redis-server` of the benchmark's own, killed when dropped.
struct RedisProcess {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl RedisProcess {
    fn start() -> Option<RedisProcess> {
        let port = TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let dir = std::env::temp_dir().join(format!("bare-sse-bench-redis-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        let mut output = BufReader::new(child.stdout.take()?);
        let mut line = String::new();
        while output.read_line(&mut line).ok()? > 0 && !line.contains("Ready to accept connections") {
            line.clear();
        }
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = output.read_to_end(&mut sink);
        });
        Some(RedisProcess { child, port, dir })
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
