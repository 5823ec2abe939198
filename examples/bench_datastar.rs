//! Datastar action benchmark: small `POST` actions (about 100 bytes of JSON signals, answered by
//! one short `datastar-patch-signals` event on a stream) against bare-sse and against the same
//! action in axum, side by side in one run, at 50 and at 200 keep-alive connections. Prints each
//! run's requests per second, the ratio bare-sse / axum and its median, latency percentiles, and
//! each server's CPU time per request (Linux), which a machine shared with other work disturbs
//! less than the rate.
//!
//! bare-sse answers the action three ways: **stream**, the event on a `datastar::response` stream
//! (what an action that sends events as it goes uses: each event leaves as it is sent, and the
//! body's end when the closure returns); **events**, `datastar::events_response`, the same event
//! stream complete when the handler returns, in one write (what the axum peer answers: `Sse`
//! over a stream that is ready at once); and **one-shot**, `datastar::signals_response` (a plain
//! JSON response that Datastar applies as the same patch).
//!
//! Run: `cargo run --release --example bench_datastar` (options: `--connections 50,200`,
//! `--seconds 8`, `--runs 3`, `--no-axum`).
//!
//! The load comes from [`wrk`](https://github.com/wg/wrk) (`apt-get install wrk`), two threads,
//! as the figures in the README were measured: a load generator written here on threads would
//! measure itself more than the servers. Each server runs in its own process and is checked
//! first: one action, its response read to the end and compared with the event expected. The
//! axum peer (`benches/axum_peer`, a project of its own outside this crate's dependencies) is
//! built with `cargo build --release` the first time, which needs crates.io. Within a run, the
//! servers take turns, in an order that alternates from run to run.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bare_sse::datastar::{self, DatastarStream, SignalOptions};
use bare_sse::http::{parse_response_head, ChunkedReader, Parsed};
use bare_sse::json::Value;
use bare_sse::server::{Request, Response};
use bare_sse::Server;

/// The axum peer's project.
const AXUM_PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/axum_peer");
/// The signals each action sends: about 100 bytes, as a small form's.
const SIGNALS: &str =
    r#"{"count":41,"user":{"name":"Ada Lovelace","email":"ada@example.com"},"filter":"open","page":3}"#;
/// The event both servers' streams answer with, for `SIGNALS`.
const EXPECTED_EVENT: &str = "event: datastar-patch-signals\ndata: signals {\"count\":42}\n\n";
/// The patch bare-sse's one-shot response answers with, for `SIGNALS`.
const EXPECTED_SIGNALS: &str = "{\"count\":42}";
/// Clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve") {
        return serve_bare_sse();
    }
    let settings = Settings::from_args(&args);
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("bench_datastar needs wrk on the PATH (apt-get install wrk)");
        std::process::exit(2);
    }
    let script = std::env::temp_dir().join(format!("bench-datastar-{}.lua", std::process::id()));
    std::fs::write(&script, wrk_script()).expect("write wrk's script");

    let bare_sse = Peer::start_bare_sse();
    let axum = if settings.axum {
        Peer::start_axum().map_err(|why| eprintln!("axum peer left out: {why}")).ok()
    } else {
        None
    };
    let mut targets = vec![
        Target { name: "bare-sse, stream", server: &bare_sse, path: "/action", answer: Answer::Event },
        Target { name: "bare-sse, events", server: &bare_sse, path: "/events", answer: Answer::Event },
        Target { name: "bare-sse, one-shot", server: &bare_sse, path: "/one-shot", answer: Answer::Json },
    ];
    if let Some(axum) = &axum {
        targets.push(Target { name: "axum 0.8, stream", server: axum, path: "/action", answer: Answer::Event });
    }
    for target in &targets {
        check_action(target).unwrap_or_else(|why| panic!("{} answered wrongly: {why}", target.name));
    }

    println!("load average before: {}", load_average());
    println!("{} s per server and run, wrk -t2, keep-alive", settings.seconds);
    println!("| connections | run | server | requests/s | p50 | p99 | CPU per request |");
    println!("|---|---|---|---|---|---|---|");
    for &connections in &settings.connections {
        // Each bare-sse way's rate over axum's (the last target), run by run.
        let mut ratios = vec![Vec::new(); targets.len()];
        for run in 1..=settings.runs {
            let mut order: Vec<usize> = (0..targets.len()).collect();
            if run % 2 == 0 {
                order.reverse();
            }
            let mut rates = vec![0.0; targets.len()];
            for index in order {
                let target = &targets[index];
                let load = run_wrk(&script, target, connections, settings.seconds);
                let cpu = load.cpu_per_request.map_or("–".to_string(), |cpu| format!("{cpu:.1} µs"));
                let (name, rate, p50, p99) = (target.name, load.rate, &load.p50, &load.p99);
                println!("| {connections} | {run} | {name} | {rate:.0} | {p50} | {p99} | {cpu} |");
                if load.errors > 0 {
                    println!("  ({} errors or non-2xx answers)", load.errors);
                }
                rates[index] = load.rate;
            }
            if let (Some(_), Some(&axum_rate)) = (&axum, rates.last()) {
                for (index, rate) in rates.iter().enumerate().take(targets.len() - 1) {
                    ratios[index].push(rate / axum_rate);
                }
            }
        }
        for (target, ratios) in targets.iter().zip(ratios).filter(|(_, ratios)| !ratios.is_empty()) {
            let shown: Vec<String> = ratios.iter().map(|ratio| format!("{ratio:.2}")).collect();
            let median = median(ratios);
            println!("{connections} connections, {} / axum: {} (median {median:.2})", target.name, shown.join(", "));
        }
    }
    println!("load average after: {}", load_average());
    let _ = std::fs::remove_file(&script);
}

/// What the command line asked for.
struct Settings {
    connections: Vec<usize>,
    seconds: u64,
    runs: usize,
    axum: bool,
}

impl Settings {
    fn from_args(args: &[String]) -> Settings {
        let mut settings = Settings { connections: vec![50, 200], seconds: 8, runs: 3, axum: true };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || args.next().unwrap_or_else(|| usage(&format!("{arg} needs a value")));
            match arg.as_str() {
                "--connections" => {
                    let list = value().split(',').map(str::parse).collect::<Result<Vec<usize>, _>>();
                    settings.connections = list.unwrap_or_else(|_| usage("--connections takes numbers, e.g. 50,200"));
                }
                "--seconds" => settings.seconds = value().parse().unwrap_or_else(|_| usage("--seconds takes a number")),
                "--runs" => settings.runs = value().parse().unwrap_or_else(|_| usage("--runs takes a number")),
                "--no-axum" => settings.axum = false,
                other => usage(&format!("unknown option {other}")),
            }
        }
        settings
    }
}

fn usage(problem: &str) -> ! {
    eprintln!("{problem}\nusage: bench_datastar [--connections 50,200] [--seconds 8] [--runs 3] [--no-axum]");
    std::process::exit(2);
}

/// The action, as a bare-sse user writes it: read the signals, answer with one patch, on a stream
/// (`/action`), as events complete at once (`/events`) or as a one-shot response (`/one-shot`).
fn serve_bare_sse() {
    let count = |request: &Request| {
        datastar::read_signals(request).ok().and_then(|signals| signals.get("count")?.as_i64()).unwrap_or(0)
    };
    let patch = |count: i64| Value::Object(vec![("count".into(), Value::from(count + 1))]);
    let server = Server::builder()
        .route_method("POST", "/action", move |request: &Request| {
            let count = count(request);
            datastar::response(move |stream| {
                let _ = stream.patch_signals(&patch(count), SignalOptions::new());
            })
        })
        .route_method("POST", "/events", move |request: &Request| {
            let event = datastar::patch_signals(&patch(count(request)), SignalOptions::new());
            event.and_then(|event| datastar::events_response(&[event])).unwrap_or_else(|_| Response::new(500))
        })
        .route_method("POST", "/one-shot", move |request: &Request| {
            datastar::signals_response(&patch(count(request)), SignalOptions::new())
                .unwrap_or_else(|_| Response::new(500))
        })
        .max_connections(100_000)
        .start()
        .expect("start the server");
    println!("listening {}", server.local_addr().port());
    std::thread::park();
}

/// wrk's script: every request is the same action.
fn wrk_script() -> String {
    format!(
        "wrk.method = \"POST\"\nwrk.body = '{SIGNALS}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.headers[\"Datastar-Request\"] = \"true\"\n"
    )
}

/// What a benchmark run loads: a server, and the path of its action.
struct Target<'a> {
    name: &'static str,
    server: &'a Peer,
    path: &'static str,
    answer: Answer,
}

/// What the action's answer is.
enum Answer {
    /// [`EXPECTED_EVENT`] on an event stream (chunked, or with a length).
    Event,
    /// [`EXPECTED_SIGNALS`], a one-shot JSON response.
    Json,
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

    /// The CPU time the server's process has used so far, in seconds (Linux).
    fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // The fields after the parenthesised command name; utime and stime are the 14th and 15th.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        Some(ticks / TICKS_PER_SECOND)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one wrk run measured.
struct Load {
    rate: f64,
    p50: String,
    p99: String,
    /// Socket errors and answers other than 2xx or 3xx.
    errors: u64,
    cpu_per_request: Option<f64>,
}

/// Loads `target` with wrk for `seconds` on `connections` connections.
fn run_wrk(script: &std::path::Path, target: &Target, connections: usize, seconds: u64) -> Load {
    let server = target.server;
    let url = format!("http://{}{}", server.addr, target.path);
    let cpu_before = server.cpu_seconds();
    let output = Command::new("wrk")
        .args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency", "-s"])
        .arg(script)
        .arg(&url)
        .output()
        .expect("run wrk");
    let cpu_after = server.cpu_seconds();
    let text = String::from_utf8_lossy(&output.stdout);
    let after = |label: &str| {
        let line = text.lines().find(|line| line.trim_start().starts_with(label))?;
        Some(line.trim_start()[label.len()..].trim().to_string())
    };
    let requests: f64 = text
        .lines()
        .find(|line| line.contains("requests in"))
        .and_then(|line| line.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let answers_not_2xx = after("Non-2xx or 3xx responses:").and_then(|count| count.parse::<u64>().ok());
    // "Socket errors: connect 0, read 0, write 0, timeout 0"
    let socket_errors = after("Socket errors:").map(|counts| {
        counts.split(',').filter_map(|count| count.split_whitespace().last()?.parse::<u64>().ok()).sum::<u64>()
    });
    let errors = answers_not_2xx.unwrap_or(0) + socket_errors.unwrap_or(0);
    let cpu_per_request = match (cpu_before, cpu_after) {
        (Some(before), Some(after)) if requests > 0.0 => Some((after - before) / requests * 1e6),
        _ => None,
    };
    Load {
        rate: after("Requests/sec:").and_then(|rate| rate.parse().ok()).unwrap_or(0.0),
        p50: after("50%").unwrap_or_default(),
        p99: after("99%").unwrap_or_default(),
        errors,
        cpu_per_request,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

/// The machine's load average over the last minute, 5 and 15 minutes (Linux).
fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// Sends the action once and reads its whole answer, checking it.
fn check_action(target: &Target) -> Result<(), String> {
    let socket = TcpStream::connect(target.server.addr).map_err(|e| e.to_string())?;
    socket.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(socket);
    let request = format!(
        "POST {} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nDatastar-Request: true\r\n\
         Content-Length: {}\r\n\r\n{SIGNALS}",
        target.path,
        SIGNALS.len()
    );
    reader.get_mut().write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if reader.read_until(b'\n', &mut head).map_err(|e| e.to_string())? == 0 {
            return Err("the server closed before answering".into());
        }
    }
    let Ok(Parsed::Complete { head, .. }) = parse_response_head(&head) else { return Err("a bad head".into()) };
    if head.status != 200 {
        return Err(format!("status {}", head.status));
    }
    let mut text = String::new();
    let chunked = head.header("transfer-encoding").is_some_and(|te| te.eq_ignore_ascii_case("chunked"));
    let length = head.header("content-length").and_then(|length| length.parse().ok());
    let expected = match (&target.answer, chunked, length) {
        (Answer::Event, true, _) => {
            ChunkedReader::new(&mut reader).read_to_string(&mut text).map_err(|e| e.to_string())?;
            EXPECTED_EVENT
        }
        (Answer::Event, false, Some(length)) => {
            (&mut reader).take(length).read_to_string(&mut text).map_err(|e| e.to_string())?;
            EXPECTED_EVENT
        }
        (Answer::Json, false, Some(length)) => {
            (&mut reader).take(length).read_to_string(&mut text).map_err(|e| e.to_string())?;
            EXPECTED_SIGNALS
        }
        _ => return Err(format!("a body framed otherwise than expected: {head:?}")),
    };
    if text != expected {
        return Err(format!("the body was {text:?}"));
    }
    Ok(())
}
