//! Datastar action benchmark: small `POST` actions (a JSON body of about 200 bytes, answered by one
//! short `datastar-patch-signals` event) from concurrent clients, in requests per second and
//! latency percentiles. std only (the axum peer is built by this program, in its own project).
//!
//! Run: `cargo run --release --example bench_datastar` (or add `-- CLIENTS SECONDS`, default 50
//! and 5; `--no-axum` leaves the peer out).
//!
//! Each server runs in its own process, and the clients (one thread each) in this one:
//! - **bare-sse, keep-alive**: every client sends all its requests on one connection;
//! - **bare-sse, close per request**: every request on a new connection with `Connection: close`,
//!   as every request was answered before connections persisted;
//! - **axum**: the same action written with axum's `Sse` (`benches/axum_peer`), keep-alive
//!   clients. It is built with `cargo build --release` the first time, which needs crates.io.
//!
//! Every response is read to its end and checked (status, event, the count the signals asked for).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use bare_sse::datastar::{self, DatastarStream, SignalOptions};
use bare_sse::http::{parse_response_head, ChunkedReader, Parsed};
use bare_sse::json::Value;
use bare_sse::server::{Request, Response};
use bare_sse::Server;

/// The peer's project, relative to this crate's root.
const AXUM_PEER: &str = "benches/axum_peer";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve") {
        return serve_bare_sse();
    }
    let with_axum = !args.iter().any(|a| a == "--no-axum");
    let numbers: Vec<u64> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let clients = numbers.first().copied().unwrap_or(50) as usize;
    let duration = Duration::from_secs(numbers.get(1).copied().unwrap_or(5));

    let mut results = Vec::new();
    let bare = Peer::start_bare_sse();
    results.push(("bare-sse, keep-alive", run_load(bare.addr, clients, duration, true)));
    results.push(("bare-sse, close per request", run_load(bare.addr, clients, duration, false)));
    drop(bare);
    if with_axum {
        match Peer::start_axum() {
            Ok(axum) => results.push(("axum 0.8, keep-alive", run_load(axum.addr, clients, duration, true))),
            Err(why) => eprintln!("axum peer left out: {why}"),
        }
    }

    println!("{clients} clients, {} s each", duration.as_secs());
    println!("| server | requests/s | p50 | p99 |");
    println!("|---|---|---|---|");
    for (name, load) in &results {
        let (p50, p99) = (load.percentile(0.50), load.percentile(0.99));
        println!("| {name} | {:.0} | {p50:.2?} | {p99:.2?} |", load.rate());
    }
    let rate = |name: &str| results.iter().find(|(n, _)| *n == name).map(|(_, load)| load.rate());
    if let (Some(keep), Some(close)) = (rate("bare-sse, keep-alive"), rate("bare-sse, close per request")) {
        println!("keep-alive / close per request: {:.2}x", keep / close);
    }
    if let (Some(keep), Some(axum)) = (rate("bare-sse, keep-alive"), rate("axum 0.8, keep-alive")) {
        println!("bare-sse keep-alive / axum: {:.2}x", keep / axum);
    }
}

/// The action, as a bare-sse user writes it: read the signals, answer with one patch.
fn serve_bare_sse() {
    let server = Server::builder()
        .route_method("POST", "/action", |request: &Request| {
            let count = datastar::read_signals(request).ok().and_then(|s| s.get("count")?.as_i64()).unwrap_or(0);
            datastar::response(move |stream| {
                let patch = Value::Object(vec![("count".into(), Value::from(count + 1))]);
                let _ = stream.patch_signals(&patch, SignalOptions::new());
            })
        })
        .route("/", |_: &Request| Response::no_content())
        .max_connections(100_000)
        .start()
        .expect("start the server");
    println!("listening {}", server.local_addr().port());
    std::thread::park();
}

/// A server in a child process.
struct Peer {
    child: Child,
    addr: SocketAddr,
}

impl Peer {
    fn start_bare_sse() -> Peer {
        let program = std::env::current_exe().expect("this program's path");
        Peer::spawn(Command::new(program).arg("--serve")).expect("start bare-sse")
    }

    fn start_axum() -> Result<Peer, String> {
        let manifest = format!("{AXUM_PEER}/Cargo.toml");
        let built = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--quiet", "--manifest-path", &manifest])
            .status()
            .map_err(|e| format!("running cargo: {e}"))?;
        if !built.success() {
            return Err(format!("cargo build of {AXUM_PEER} failed"));
        }
        Peer::spawn(Command::new(format!("{AXUM_PEER}/target/release/axum-peer")).arg("0"))
    }

    /// Starts `command` and waits for its `listening PORT` line.
    fn spawn(command: &mut Command) -> Result<Peer, String> {
        let mut child = command.stdout(Stdio::piped()).spawn().map_err(|e| format!("starting a server: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map_err(|e| e.to_string())?;
        let port: u16 =
            line.trim().strip_prefix("listening ").and_then(|p| p.parse().ok()).ok_or(format!("said {line:?}"))?;
        Ok(Peer { child, addr: SocketAddr::from(([127, 0, 0, 1], port)) })
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the clients measured.
struct Load {
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Load {
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        let at = ((self.latencies.len() as f64 * p) as usize).min(self.latencies.len().saturating_sub(1));
        self.latencies.get(at).copied().unwrap_or_default()
    }
}

/// Runs `clients` threads sending actions for `duration`, on one connection each (`keep_alive`)
/// or one connection per request.
fn run_load(addr: SocketAddr, clients: usize, duration: Duration, keep_alive: bool) -> Load {
    let start = Arc::new(Barrier::new(clients + 1));
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                let end = Instant::now() + duration;
                let mut latencies = Vec::new();
                let mut connection = None;
                let mut count = client as i64 * 1_000_000;
                while Instant::now() < end {
                    let sent = Instant::now();
                    let reader = match connection.as_mut() {
                        Some(reader) => reader,
                        None => connection.insert(connect(addr)),
                    };
                    let reusable = action(reader, count, keep_alive);
                    latencies.push(sent.elapsed());
                    count += 1;
                    if !reusable {
                        connection = None;
                    }
                }
                latencies
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    let mut latencies: Vec<Duration> = threads.into_iter().flat_map(|t| t.join().expect("a client failed")).collect();
    let elapsed = began.elapsed();
    latencies.sort_unstable();
    Load { latencies, elapsed }
}

fn connect(addr: SocketAddr) -> BufReader<TcpStream> {
    let socket = TcpStream::connect(addr).expect("connect");
    socket.set_nodelay(true).expect("nodelay");
    socket.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    BufReader::new(socket)
}

/// Sends one action and reads its whole answer, checking it. Returns whether the connection may
/// carry the next request (a server may close it after a number of requests).
fn action(reader: &mut BufReader<TcpStream>, count: i64, keep_alive: bool) -> bool {
    // About 200 bytes of signals, as a small form sends them.
    let body = format!(
        r#"{{"count":{count},"user":{{"name":"Ada Lovelace","email":"ada@example.com"}},"filter":"open","page":3,"sort":"updated","selected":[12,14,19],"draft":"a short note typed by hand"}}"#
    );
    let connection = if keep_alive { "" } else { "Connection: close\r\n" };
    let request = format!(
        "POST /action HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nDatastar-Request: true\r\n\
         Accept: text/event-stream\r\n{connection}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    reader.get_mut().write_all(request.as_bytes()).expect("send");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let read = reader.read_until(b'\n', &mut head).expect("read the head");
        assert!(read > 0, "the server closed before answering");
    }
    let Ok(Parsed::Complete { head, .. }) = parse_response_head(&head) else { panic!("a bad response head") };
    assert_eq!(head.status, 200);
    let mut text = String::new();
    if head.header("transfer-encoding").is_some_and(|te| te.eq_ignore_ascii_case("chunked")) {
        ChunkedReader::new(&mut *reader).read_to_string(&mut text).expect("read the body");
    } else if let Some(length) = head.header("content-length").and_then(|l| l.parse().ok()) {
        (&mut *reader).take(length).read_to_string(&mut text).expect("read the body");
    } else {
        reader.read_to_string(&mut text).expect("read the body");
    }
    let expected = format!("event: datastar-patch-signals\ndata: signals {{\"count\":{}}}\n\n", count + 1);
    assert_eq!(text, expected);
    keep_alive && !head.header("connection").is_some_and(|c| c.eq_ignore_ascii_case("close"))
}
