//! Topic benchmark: what publishing to one topic costs in a hub with many topics, and whether a
//! hub whose clients all share one topic fans out as fast as a hub of every event. std only.
//!
//! Run: `cargo run --release --example bench_topics` (or add `-- SUBSCRIBERS TOPICS ONE_TOPIC_CLIENTS`;
//! by default 10000 1000 1000).
//!
//! - **Many topics**: SUBSCRIBERS clients over TOPICS topics (10 each by default), each client
//!   subscribed to one topic (`Selection::topics`, one feed per topic). Bursts of events are
//!   published to one topic with `publish_to`, and that topic's clients read them. Beside it, a
//!   hub that has only that topic's clients. Figures: time per event of a burst (from the first
//!   publish until that topic's clients have read the whole burst), and the latency of single
//!   events (publish until every client of the topic has read it), p50 / p99. The goal: the
//!   many-topic hub costs at most 1.5 times the small one per event.
//! - **One topic**: ONE_TOPIC_CLIENTS clients all subscribed to one topic, bursts published to it
//!   with `publish_to`; beside it, the same number of clients on a hub of every event
//!   (`Response::hub`, `send_new_event`): the fan-out of a hub without topics. Figures:
//!   deliveries per second (events x clients / time). The goal: one topic delivers at least 0.9
//!   times as fast.
//!
//! The two setups compared run at once, in this process (each with its own server and hub), and
//! are measured in turn, burst after burst, so that a change in the machine's load falls on both
//! alike; each ratio is the median of the ratios of the rounds. The clients run in one process per
//! setup (this program, started with `--clients`), on non-blocking sockets swept by one thread,
//! which reads only the clients of the topic published to (the others get nothing: heartbeats are
//! off), counts their bytes, and sleeps between measurements. They speak HTTP/1.0, so the body
//! has no chunk framing. Each server connection costs a thread and a descriptor, each client a
//! descriptor: when the processes may not open that many, the client counts are scaled down, and
//! the program says so.

use std::io::{BufRead, BufReader, Lines, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use bare_sse::hub::{Selection, Topics};
use bare_sse::server::{Request, Response};
use bare_sse::topic::{SelectorLimits, TopicSelector};
use bare_sse::{Event, Hub, Server};

#[path = "common/counting_clients.rs"]
mod counting_clients;

/// Every event on the wire is exactly this long.
const EVENT_BYTES: usize = 100;
/// Bursts per setup; medians are reported.
const BURST_ROUNDS: usize = 21;
/// Single events sent one at a time, per setup, to measure latency.
const LATENCY_EVENTS: usize = 40;
/// Descriptors a process keeps for itself (standard streams, listeners, pipes).
const SPARE_DESCRIPTORS: usize = 64;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--clients") {
        return run_clients(&args[1..]);
    }
    let number = |at: usize, default: usize| args.get(at).map_or(default, |text| parse(text));
    let (mut subscribers, topics, mut one_topic) = (number(0, 10_000), number(1, 1000), number(2, 1000));
    if let Some(limit) = open_files_limit() {
        // The server process holds both setups' connections: the many-topic one's, and one topic's.
        let most = limit.saturating_sub(SPARE_DESCRIPTORS);
        let per_topic = subscribers / topics.max(1);
        if subscribers + per_topic > most || 2 * one_topic > most {
            subscribers = subscribers.min(most.saturating_sub(per_topic));
            one_topic = one_topic.min(most / 2);
            println!(
                "note: a process may open {limit} descriptors here: scaled down to {subscribers} clients over \
                 {topics} topics, and {one_topic} on one topic\n"
            );
        }
    }
    let per_topic = subscribers / topics.max(1);
    println!("## Many topics: {subscribers} clients over {topics} topics, events published to one\n");
    let burst = 2000;
    let alone = Setup::start(Target::Topics { count: 1 }, per_topic, burst);
    let crowded = Setup::start(Target::Topics { count: topics }, subscribers, burst);
    let [alone, crowded] = measure_side_by_side([alone, crowded]);
    println!("| hub | clients | burst events | time per event (burst) | latency p50 / p99 |");
    println!("|---|---|---|---|---|");
    for (name, clients, measured) in [("that topic's clients only", per_topic, &alone), ("all", subscribers, &crowded)]
    {
        let per_event = measured.per_event.as_secs_f64() * 1e6;
        println!("| {name} | {clients} | {burst} | {per_event:.2} µs | {} |", measured.latency);
    }
    println!("\nmany-topic cost per event / one topic's alone: {:.2} (goal at most 1.5)\n", crowded.ratio_to_first);

    println!("## One topic: {one_topic} clients, all subscribed to it\n");
    let burst = 1000;
    let every = Setup::start(Target::Every, one_topic, burst);
    let one = Setup::start(Target::Topics { count: 1 }, one_topic, burst);
    let [every, one] = measure_side_by_side([every, one]);
    println!("| hub | burst events | deliveries/s | latency p50 / p99 |");
    println!("|---|---|---|---|");
    for (name, measured) in [("every event (Response::hub)", &every), ("one topic (publish_to)", &one)] {
        let rate = one_topic as f64 / measured.per_event.as_secs_f64();
        println!("| {name} | {burst} | {:.2} M/s | {} |", rate / 1e6, measured.latency);
    }
    println!("\none topic's deliveries/s / every event's: {:.2} (goal at least 0.9)", 1.0 / one.ratio_to_first);
}

fn parse(text: &str) -> usize {
    text.trim().parse().unwrap_or_else(|_| panic!("not a number: {text}"))
}

/// The most files this process may open (Linux), if it can tell.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// What the clients subscribe to.
#[derive(Clone, Copy)]
enum Target {
    /// Every event: the hub's own route.
    Every,
    /// One of `count` topics each, client `i` to topic `i % count`; events go to topic 0.
    Topics { count: usize },
}

struct Measured {
    /// Median over the bursts of the time per event.
    per_event: Duration,
    /// Median over the rounds of this setup's time per event over the first setup's.
    ratio_to_first: f64,
    /// Publish until every client of the topic has read the event, p50 / p99.
    latency: String,
}

/// A server with its clients, in a client process that reads when told to.
struct Setup {
    target: Target,
    hub: Hub,
    server: Server,
    child: Child,
    to_clients: ChildStdin,
    from_clients: Lines<BufReader<ChildStdout>>,
    burst: usize,
}

impl Setup {
    /// Starts a server and `clients` clients subscribed as `target` says, in a client process.
    fn start(target: Target, clients: usize, burst: usize) -> Setup {
        // A whole burst is queued at once; it must not count as a client falling behind.
        let hub = Hub::builder().heartbeat(None).max_queued_bytes(64 * 1024 * 1024).build();
        let topic_hub = hub.clone();
        let select = move |request: &Request| {
            let params = request.query().iter().map(|(name, value)| (name.as_str(), value.as_str()));
            match TopicSelector::from_params(params, None, &SelectorLimits::default()) {
                Ok(selector) => Response::hub(topic_hub.clone()).selection(Selection::topics(selector)),
                Err(error) => Response::text(format!("{error}\n")).with_status(400),
            }
        };
        let server = Server::builder()
            .hub(hub.clone())
            .path("/all")
            .route("/t", select)
            .max_connections(clients + 10)
            .start()
            .expect("start the server");
        let topics = match target {
            Target::Every => 0,
            Target::Topics { count } => count,
        };
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--clients", &server.local_addr().to_string()])
            .args([clients, topics].map(|n| n.to_string()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the client process");
        let to_clients = child.stdin.take().unwrap();
        let from_clients = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut setup = Setup { target, hub, server, child, to_clients, from_clients, burst };
        setup.expect("ready");
        let joined = setup.hub.wait_until_clients(|n| n == clients, Duration::from_secs(300));
        assert!(joined, "the clients did not all join");
        setup
    }

    fn expect(&mut self, what: &str) {
        let line = self.from_clients.next().and_then(Result::ok).unwrap_or_default();
        assert_eq!(line, what, "the client process said {line:?}");
    }

    /// Tells the client process to read `events` events, and publishes them; returns the time
    /// from the first publish until every client of the topic has read them all.
    fn send(&mut self, events: usize) -> Duration {
        writeln!(self.to_clients, "{events}").unwrap();
        self.to_clients.flush().unwrap();
        let topic = Topics::new(["t0"]);
        let started = Instant::now();
        for i in 0..events {
            let event = Event::new().data(event_data(i));
            match self.target {
                Target::Every => self.hub.send_new_event(event).unwrap(),
                Target::Topics { .. } => drop(self.hub.publish_to(&topic, event).unwrap()),
            }
        }
        self.expect("done");
        started.elapsed()
    }

    fn stop(self) {
        let Setup { mut child, to_clients, server, .. } = self;
        // The client process ends at the end of its input.
        drop(to_clients);
        child.wait().unwrap();
        server.stop();
    }
}

/// Bursts, then single events, on each setup in turn, round after round, so that a change in the
/// machine's load falls on every setup alike; then stops them.
fn measure_side_by_side<const N: usize>(mut setups: [Setup; N]) -> [Measured; N] {
    let mut bursts: Vec<[f64; N]> = Vec::new();
    for _ in 0..BURST_ROUNDS {
        bursts.push(std::array::from_fn(|at| {
            let burst = setups[at].burst;
            setups[at].send(burst).as_secs_f64() / burst as f64
        }));
    }
    let mut singles: [Vec<f64>; N] = std::array::from_fn(|_| Vec::new());
    for _ in 0..LATENCY_EVENTS {
        for (setup, latencies) in setups.iter_mut().zip(&mut singles) {
            latencies.push(setup.send(1).as_secs_f64() * 1000.0);
        }
    }
    for setup in setups {
        setup.stop();
    }
    std::array::from_fn(|at| {
        let per_event = median(bursts.iter().map(|round| round[at]).collect());
        let ratio_to_first = median(bursts.iter().map(|round| round[at] / round[0]).collect());
        let latencies = &mut singles[at];
        latencies.sort_by(f64::total_cmp);
        let quantile = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
        let latency = format!("{:.2} / {:.2} ms", quantile(0.5), quantile(0.99));
        Measured { per_event: Duration::from_secs_f64(per_event), ratio_to_first, latency }
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The data of the `i`th event: with `data: ` and the line ends, exactly [`EVENT_BYTES`].
fn event_data(i: usize) -> String {
    let mut data = format!("{i:08} ");
    data.extend(std::iter::repeat_n('x', EVENT_BYTES - "data: \n\n".len() - data.len()));
    data
}

// ---- the client process ----

/// Connections opened at once: std's listen queue holds 128, and a dropped connection attempt
/// costs its client a one-second retry.
const CONNECTORS: usize = 8;

/// Arguments: `ADDRESS CLIENTS TOPICS`. TOPICS 0: every client reads the hub's every event;
/// otherwise client `i` subscribes to topic `t<i % TOPICS>`, and only those of `t0` are read.
/// Prints `ready` once every client has its head; then, for each number of events read from
/// standard input, reads that many events on every client of `t0` and prints `done`.
fn run_clients(args: &[String]) {
    let addr: SocketAddr = args[0].parse().unwrap();
    let (clients, topics) = (parse(&args[1]), parse(&args[2]));
    let target = |index: usize| match topics {
        0 => "/all".to_string(),
        topics => format!("/t?match=t{}", index % topics),
    };
    // Connected from a few threads, each waiting for its head before the next connection.
    let connectors: Vec<_> = (0..CONNECTORS)
        .map(|k| {
            let targets: Vec<(usize, String)> = (k..clients).step_by(CONNECTORS).map(|i| (i, target(i))).collect();
            thread::spawn(move || targets.into_iter().map(|(i, path)| (i, connect(addr, &path))).collect::<Vec<_>>())
        })
        .collect();
    let (mut watched, mut idle) = (Vec::new(), Vec::new());
    for connector in connectors {
        for (index, socket) in connector.join().expect("a connector thread failed") {
            // Only the clients of topic 0 get events; the others are kept open, and left alone.
            if topics == 0 || index % topics == 0 {
                watched.push((socket, 0usize));
            } else {
                idle.push(socket);
            }
        }
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    let mut buffer = vec![0u8; 256 * 1024];
    for line in std::io::stdin().lock().lines() {
        let wanted = parse(&line.unwrap()) * EVENT_BYTES;
        counting_clients::read_all(&mut watched, wanted, &mut buffer);
        for (_, count) in &mut watched {
            assert_eq!(*count, wanted, "exactly the events published");
            *count = 0;
        }
        writeln!(out, "done").unwrap();
        out.flush().unwrap();
    }
    drop(idle);
}

/// A client of `path`, its head read, its socket non-blocking.
fn connect(addr: SocketAddr, path: &str) -> TcpStream {
    let socket = counting_clients::connect(addr, &format!("GET {path} HTTP/1.0\r\n\r\n"));
    socket.set_nonblocking(true).unwrap();
    socket
}
