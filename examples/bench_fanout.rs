//! Fan-out benchmark: how fast bare-sse sends a burst of events to many clients, how long one event
//! takes to reach all of them, and how much memory an idle connection costs. std only.
//!
//! Run: `cargo run --release --example bench_fanout` (or add `-- 100,1000 2000` for client counts
//! and burst length).
//!
//! The clients run in a second process (this same program, started with `--clients`), one thread
//! each, and check every byte they receive. Each client count is measured twice against the same
//! clients' code:
//! - **bare-sse**: a server on port 0, events published with `send_new_event`;
//! - **ceiling**: a reference writer in this file that encodes the whole burst once (as one chunk of
//!   a chunked body, the framing bare-sse sends) and writes it to each socket in one `write_all`:
//!   what loopback and the client process can take at best from one thread;
//! - **2-thread ceiling**: the same, with the sockets split between two threads, the best a 2-core
//!   machine can do when the clients leave it a core.
//!
//! Figures: deliveries per second (events x clients / time from first publish to last byte read),
//! latency from publish to receipt of single events (p50, p99, over every client and event), and
//! the server process's resident memory per idle connection (measured once one client has come and
//! gone, so that what the first client costs the process once is not spread over the others).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bare_sse::{Event, Hub, Server};

/// Every event on the wire is exactly this long, so clients can check bytes by position.
const EVENT_BYTES: usize = 100;
/// Single events sent one at a time to measure latency.
const LATENCY_EVENTS: usize = 20;
/// Bursts per measurement; the median is reported.
const BURST_ROUNDS: usize = 15;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--clients") {
        return run_clients(&args[1..]);
    }
    let counts: Vec<usize> = args.first().map_or("100,1000,10000", String::as_str).split(',').map(parse).collect();
    let burst: Option<usize> = args.get(1).map(|s| parse(s));
    println!(
        "| clients | burst events | bare-sse deliveries/s | ceiling deliveries/s | 2-thread ceiling | ratio to best ceiling \
         | bare-sse latency p50 / p99 | ceiling latency p50 / p99 \
         | bare-sse all written median / max | ceiling all written median / max | RSS per idle connection |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for clients in counts {
        // Bursts long enough to take tens of milliseconds, so that scheduling noise averages out.
        let events = burst.unwrap_or(match clients {
            0..=100 => 10_000,
            101..=1000 => 1000,
            _ => 100,
        });
        let ours = measure(&mut BareSse::start(clients), clients, events);
        let ceiling = measure(&mut Ceiling::start(1), clients, events);
        let two_threads = measure(&mut Ceiling::start(2), clients, events);
        println!(
            "| {clients} | {events} | {:.2} M/s | {:.2} M/s | {:.2} M/s | {:.2} | {} | {} | {} | {} | {} |",
            ours.rate / 1e6,
            ceiling.rate / 1e6,
            two_threads.rate / 1e6,
            ours.rate / ceiling.rate.max(two_threads.rate),
            ours.latency,
            ceiling.latency,
            ours.all_written,
            ceiling.all_written,
            ours.rss_per_connection.map_or("n/a".to_string(), |b| format!("{:.1} KiB", b / 1024.0)),
        );
    }
}

fn parse(text: &str) -> usize {
    text.trim().parse().unwrap_or_else(|_| panic!("not a number: {text}"))
}

/// A server under test: something that accepts the clients and sends them bytes.
trait Sender {
    fn addr(&self) -> SocketAddr;
    /// Returns once `clients` clients are connected and have their response heads.
    fn accept_clients(&mut self, clients: usize);
    fn send_burst(&mut self, events: &[Vec<u8>]);
    /// Sends one event and returns once it is written to every socket.
    fn send_one(&mut self, event: &[u8]);
}

struct BareSse {
    server: Server,
}

impl BareSse {
    fn start(clients: usize) -> BareSse {
        // A whole burst is queued at once; it must not count as a client falling behind.
        let hub = Hub::builder().heartbeat(None).max_queued_bytes(64 * 1024 * 1024).build();
        let server =
            Server::builder().hub(hub).max_connections(clients + 10).start().expect("start the bare-sse server");
        // One client comes and goes first, so that what the first client costs once for the whole
        // process is not counted per connection: the hub's flusher threads (started by the first
        // client, then kept for the hub's life) and code run for the first time.
        let mut first = TcpStream::connect(server.local_addr()).expect("connect the first client");
        first.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n").expect("send its request");
        read_head(&mut first);
        drop(first);
        assert!(server.hub().wait_until_clients(|n| n == 0, Duration::from_secs(10)), "the first client stayed");
        BareSse { server }
    }
}

impl Sender for BareSse {
    fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    fn accept_clients(&mut self, clients: usize) {
        assert!(self.server.hub().wait_until_clients(|n| n == clients, Duration::from_secs(120)));
    }

    fn send_burst(&mut self, events: &[Vec<u8>]) {
        for event in events {
            self.server.send_new_event(Event::new().data(data_of(event))).unwrap();
        }
    }

    fn send_one(&mut self, event: &[u8]) {
        self.server.send_new_event(Event::new().data(data_of(event))).unwrap();
        assert!(self.server.hub().flush(Duration::from_secs(10)), "the writers did not finish");
    }
}

/// The data of an encoded `data: ...\n\n` event.
fn data_of(event: &[u8]) -> &str {
    std::str::from_utf8(&event[6..event.len() - 2]).unwrap()
}

/// The reference writer: no hub, one `write_all` per client, from `threads` threads.
struct Ceiling {
    listener: TcpListener,
    sockets: Vec<TcpStream>,
    threads: usize,
}

impl Ceiling {
    fn start(threads: usize) -> Ceiling {
        Ceiling { listener: TcpListener::bind("127.0.0.1:0").unwrap(), sockets: Vec::new(), threads }
    }

    /// Writes `bytes` as one chunk to every socket, the sockets split between the threads.
    fn write_everywhere(&mut self, payload: &[u8]) {
        let chunk = [format!("{:x}\r\n", payload.len()).as_bytes(), payload, b"\r\n"].concat();
        let share = self.sockets.len().div_ceil(self.threads).max(1);
        thread::scope(|scope| {
            for sockets in self.sockets.chunks_mut(share) {
                let chunk = &chunk;
                scope.spawn(move || {
                    for socket in sockets {
                        socket.write_all(chunk).unwrap();
                    }
                });
            }
        });
    }
}

impl Sender for Ceiling {
    fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap()
    }

    fn accept_clients(&mut self, clients: usize) {
        for _ in 0..clients {
            let (mut socket, _) = self.listener.accept().unwrap();
            socket.set_nodelay(true).unwrap();
            read_head(&mut socket);
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
            socket.write_all(head.as_bytes()).unwrap();
            self.sockets.push(socket);
        }
    }

    fn send_burst(&mut self, events: &[Vec<u8>]) {
        self.write_everywhere(&events.concat());
    }

    fn send_one(&mut self, event: &[u8]) {
        self.write_everywhere(event);
    }
}

struct Measured {
    rate: f64,
    /// Publish to receipt, p50 / p99 over every client and event, as the clients saw it.
    latency: String,
    /// Publish until the last socket had the event, median / max over the events.
    all_written: String,
    rss_per_connection: Option<f64>,
}

/// Runs one client process against `sender`: connect, measure idle memory, burst, then latency.
fn measure(sender: &mut dyn Sender, clients: usize, events: usize) -> Measured {
    let rss_before = resident_bytes();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--clients", &sender.addr().to_string(), &clients.to_string(), &events.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the client process");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines().map(|l| l.unwrap());
    let mut expect = |what: &str| {
        let line = lines.next().unwrap_or_default();
        assert!(line.starts_with(what), "client process said {line:?}, expected {what}");
        line
    };
    sender.accept_clients(clients);
    expect("ready");
    let rss_per_connection = rss_before.zip(resident_bytes()).map(|(b, a)| a.saturating_sub(b) as f64 / clients as f64);

    let burst: Vec<Vec<u8>> = (0..events).map(burst_event).collect();
    let mut rates: Vec<f64> = (0..BURST_ROUNDS)
        .map(|_| {
            let started = Instant::now();
            sender.send_burst(&burst);
            expect("burst-done");
            (clients * events) as f64 / started.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    let rate = rates[BURST_ROUNDS / 2];

    let mut written: Vec<f64> = (0..LATENCY_EVENTS)
        .map(|k| {
            let started = Instant::now();
            sender.send_one(&latency_event(k));
            let all_written = started.elapsed().as_secs_f64() * 1000.0;
            expect("got");
            all_written
        })
        .collect();
    written.sort_by(f64::total_cmp);
    let all_written = format!("{:.1} / {:.1} ms", written[LATENCY_EVENTS / 2], written[LATENCY_EVENTS - 1]);
    let latency = expect("latency").trim_start_matches("latency ").to_string();
    drop(lines);
    child.wait().unwrap();
    Measured { rate, latency, all_written, rss_per_connection }
}

fn burst_event(i: usize) -> Vec<u8> {
    let head = format!("data: {i:08} ");
    let mut event = head.into_bytes();
    event.resize(EVENT_BYTES - 2, b'x');
    event.extend_from_slice(b"\n\n");
    event
}

fn latency_event(k: usize) -> Vec<u8> {
    let micros = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros();
    let mut event = format!("data: L{k:04} {micros:020} ").into_bytes();
    event.resize(EVENT_BYTES - 2, b'y');
    event.extend_from_slice(b"\n\n");
    event
}

/// Resident memory of this process (Linux), in bytes.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn read_head(socket: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if socket.read(&mut byte).unwrap() == 0 {
            panic!("connection closed during the head");
        }
        head.push(byte[0]);
    }
    head
}

// ---- the client process ----
//
// Thousands of blocked reader threads would make the client process, not the server, the
// bottleneck (waking 10,000 threads on 2 cores takes longer than writing to 10,000 sockets). So
// the clients are non-blocking sockets swept by one thread, which checks every byte. One sweeper
// leaves the other core to the server; a second one was measured to slow both sides down.

/// Pause after a sweep that found nothing to read.
const IDLE_PAUSE: Duration = Duration::from_micros(50);

/// What the sweeper tells the client process's main thread, once per client.
enum Report {
    BurstDone,
    Latency(u64),
}

/// One client socket and how far it has got.
struct Client {
    socket: TcpStream,
    body: Unchunk,
    payload: Vec<u8>,
    /// Bytes of the current burst checked so far.
    checked: usize,
    rounds_done: usize,
    latency_events_done: usize,
    leftover: Vec<u8>,
}

fn run_clients(args: &[String]) {
    let addr: SocketAddr = args[0].parse().unwrap();
    let clients = parse(&args[1]);
    let events = parse(&args[2]);
    let expected_burst: Vec<u8> = (0..events).flat_map(burst_event).collect();
    let clients_state: Vec<Client> = connect_all(addr, clients)
        .into_iter()
        .map(|socket| {
            socket.set_nonblocking(true).unwrap();
            let body = Unchunk::default();
            Client {
                socket,
                body,
                payload: Vec::new(),
                checked: 0,
                rounds_done: 0,
                latency_events_done: 0,
                leftover: Vec::new(),
            }
        })
        .collect();
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").unwrap();

    let (reports, received) = mpsc::channel();
    thread::spawn(move || sweep(clients_state, &expected_burst, &reports));
    for _ in 0..BURST_ROUNDS {
        for _ in 0..clients {
            assert!(matches!(received.recv(), Ok(Report::BurstDone)));
        }
        writeln!(out, "burst-done").unwrap();
    }
    let mut latencies = Vec::new();
    for _ in 0..LATENCY_EVENTS {
        for _ in 0..clients {
            match received.recv() {
                Ok(Report::Latency(us)) => latencies.push(us),
                _ => panic!("the sweeper stopped early"),
            }
        }
        writeln!(out, "got").unwrap();
    }
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    writeln!(out, "latency {:.1} / {:.1} ms", at(0.5), at(0.99)).unwrap();
}

/// Connects from a few threads, each waiting for its response head before the next connection.
/// std's listen queue holds 128 connections; overfilling it drops SYNs, and each dropped SYN costs
/// its client a one-second retry, which would make the setup, not the server, the slow part.
fn connect_all(addr: SocketAddr, clients: usize) -> Vec<TcpStream> {
    const CONNECTORS: usize = 8;
    let connectors: Vec<_> = (0..CONNECTORS)
        .map(|k| {
            let count = clients / CONNECTORS + usize::from(k < clients % CONNECTORS);
            thread::spawn(move || {
                let connect = |_| {
                    let mut socket = send_request(addr);
                    read_head(&mut socket);
                    socket
                };
                (0..count).map(connect).collect::<Vec<_>>()
            })
        })
        .collect();
    connectors.into_iter().flat_map(|c| c.join().expect("a connector thread failed")).collect()
}

fn send_request(addr: SocketAddr) -> TcpStream {
    let mut socket = TcpStream::connect(addr).expect("connect");
    socket.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    socket.write_all(b"GET /events HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n").unwrap();
    socket
}

fn sweep(mut clients: Vec<Client>, expected_burst: &[u8], reports: &mpsc::Sender<Report>) {
    let mut buffer = vec![0u8; 64 * 1024];
    while clients.iter().any(|c| c.latency_events_done < LATENCY_EVENTS) {
        let mut progressed = false;
        for client in &mut clients {
            match client.socket.read(&mut buffer) {
                Ok(0) => panic!("the server closed a stream"),
                Ok(n) => {
                    progressed = true;
                    let mut payload = std::mem::take(&mut client.payload);
                    payload.clear();
                    client.body.feed(&buffer[..n], &mut payload);
                    client.take(&payload, expected_burst, reports);
                    client.payload = payload;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("read failed: {e}"),
            }
        }
        if !progressed {
            thread::sleep(IDLE_PAUSE);
        }
    }
}

impl Client {
    /// Checks newly read bytes: burst bytes by position, latency events by their stamp.
    fn take(&mut self, mut bytes: &[u8], expected_burst: &[u8], reports: &mpsc::Sender<Report>) {
        while self.rounds_done < BURST_ROUNDS && !bytes.is_empty() {
            let take = bytes.len().min(expected_burst.len() - self.checked);
            assert_eq!(&bytes[..take], &expected_burst[self.checked..self.checked + take], "wrong burst bytes");
            self.checked += take;
            bytes = &bytes[take..];
            if self.checked == expected_burst.len() {
                self.checked = 0;
                self.rounds_done += 1;
                reports.send(Report::BurstDone).unwrap();
            }
        }
        self.leftover.extend_from_slice(bytes);
        while self.leftover.len() >= EVENT_BYTES {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as u64;
            let event: Vec<u8> = self.leftover.drain(..EVENT_BYTES).collect();
            let text = std::str::from_utf8(&event).unwrap();
            let k = self.latency_events_done;
            assert!(text.starts_with(&format!("data: L{k:04} ")), "unexpected event {text:?}");
            let sent: u64 = text[12..32].parse().unwrap();
            reports.send(Report::Latency(now.saturating_sub(sent))).unwrap();
            self.latency_events_done += 1;
        }
    }
}

/// Takes the chunk framing off a chunked body as it arrives, checking it.
#[derive(Default)]
struct Unchunk {
    state: UnchunkState,
    size: usize,
    left: usize,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum UnchunkState {
    #[default]
    Size,
    SizeEnd,
    Data,
    DataCr,
    DataLf,
}

impl Unchunk {
    fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) {
        while let Some(&byte) = bytes.first() {
            match self.state {
                UnchunkState::Size if byte == b'\r' => self.state = UnchunkState::SizeEnd,
                UnchunkState::Size => {
                    let digit = (byte as char).to_digit(16).expect("a hex chunk size") as usize;
                    self.size = self.size * 16 + digit;
                }
                UnchunkState::SizeEnd => {
                    assert_eq!(byte, b'\n', "chunk size line end");
                    assert!(self.size > 0, "the server ended the stream");
                    (self.left, self.size, self.state) = (self.size, 0, UnchunkState::Data);
                }
                UnchunkState::Data => {
                    let take = self.left.min(bytes.len());
                    out.extend_from_slice(&bytes[..take]);
                    self.left -= take;
                    bytes = &bytes[take..];
                    if self.left == 0 {
                        self.state = UnchunkState::DataCr;
                    }
                    continue;
                }
                UnchunkState::DataCr => {
                    assert_eq!(byte, b'\r', "chunk end");
                    self.state = UnchunkState::DataLf;
                }
                UnchunkState::DataLf => {
                    assert_eq!(byte, b'\n', "chunk end");
                    self.state = UnchunkState::Size;
                }
            }
            bytes = &bytes[1..];
        }
    }
}
