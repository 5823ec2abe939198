//! The `bare-sse` binary end to end: serve ⇄ listen, history and resume, bad input, usage errors.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use common::{agent, READ_TIMEOUT};

const BINARY: &str = env!("CARGO_BIN_EXE_bare-sse");

/// Lines of a child's output, read on a thread so that waiting for one can time out.
fn lines_of(output: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

fn next_line(lines: &Receiver<String>) -> String {
    lines.recv_timeout(READ_TIMEOUT).expect("no output line in time")
}

/// Waits for a line containing `needle`, returning it.
fn line_containing(lines: &Receiver<String>, needle: &str) -> String {
    loop {
        let line = next_line(lines);
        if line.contains(needle) {
            return line;
        }
    }
}

struct Serving {
    child: Child,
    stdin: Option<ChildStdin>,
    stderr: Receiver<String>,
    url: String,
}

impl Serving {
    /// `serve` with `--exit-at-end`, so that closing its input ends it.
    fn start(args: &[&str]) -> Serving {
        Serving::start_with(&[args, &["--exit-at-end"]].concat())
    }

    fn start_with(args: &[&str]) -> Serving {
        let mut child = Command::new(BINARY)
            .arg("serve")
            .args(["--port", "0"])
            .args(args)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stderr = lines_of(child.stderr.take().unwrap());
        let first = line_containing(&stderr, "serving ");
        let url = first.split("serving ").nth(1).unwrap().to_string();
        Serving { child, stdin, stderr, url }
    }

    fn send(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Closes standard input and returns the exit status.
    fn finish(mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        wait_with_timeout(&mut self.child)
    }

    /// Closes standard input.
    fn end_input(&mut self) {
        drop(self.stdin.take());
    }
}

fn wait_with_timeout(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + READ_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "process did not exit");
        thread::sleep(Duration::from_millis(10));
    }
}

struct Listening {
    child: Child,
    stdout: Receiver<String>,
}

impl Listening {
    fn start(url: &str, args: &[&str]) -> Listening {
        let mut child = Command::new(BINARY).arg("listen").arg(url).args(args).stdout(Stdio::piped()).spawn().unwrap();
        let stdout = lines_of(child.stdout.take().unwrap());
        Listening { child, stdout }
    }

    fn line(&self) -> String {
        next_line(&self.stdout)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_and_listen_with_json_output() {
    let mut serving = Serving::start(&["--auto-id"]);
    serving.send("data: hello\n\nevent: note\ndata: two\ndata: lines\n\n");
    let listening = Listening::start(&serving.url, &["--json"]);
    // Hub ids are `<epoch>-<n>`.
    let (first, second) = (listening.line(), listening.line());
    assert!(first.starts_with(r#"{"type":"message","data":"hello","id":""#) && first.ends_with(r#"-1"}"#), "{first}");
    assert!(second.starts_with(r#"{"type":"note","data":"two\nlines","id":""#) && second.ends_with(r#"-2"}"#));
    serving.send("id: custom\ndata: \"quoted\"\n\n");
    assert_eq!(listening.line(), r#"{"type":"message","data":"\"quoted\"","id":"custom"}"#);
    assert!(serving.finish().success(), "serve exits cleanly at the end of input");
}

/// With `--exit-at-end`, every stream's body ends properly before `serve` exits: its last chunk,
/// so that clients (curl, httpx, requests, `bare-sse listen`) see a complete response rather than
/// a transfer cut short.
#[test]
fn exit_at_end_ends_each_stream_with_its_last_chunk() {
    let mut serving = Serving::start(&["--auto-id"]);
    let address = serving.url.trim_start_matches("http://").split('/').next().unwrap().parse().unwrap();
    let mut clients: Vec<common::RawClient> = (0..3).map(|_| common::RawClient::stream(address, "/", "")).collect();
    // Kept in history, so each client reads it whether it joined before or after.
    serving.send("data: one\n\n");
    for client in &mut clients {
        assert_eq!(client.next_block().data(), "one");
    }
    assert!(serving.finish().success());
    for client in &mut clients {
        assert_eq!(client.read_to_end(), "");
        assert!(client.ended_with_last_chunk(), "the body ends with its last chunk");
    }
}

/// With `--drain`, the end of input ends the streams over the period rather than at once: each
/// body ends with a `retry:` in the documented range (1 to 5 s) and its last chunk, and `serve`
/// exits once the last one has ended, which is in the last quarter of the period for the last of
/// four streams.
#[test]
fn drain_ends_each_stream_over_the_period_with_a_retry_and_its_last_chunk() {
    let mut serving = Serving::start(&["--auto-id", "--drain", "2"]);
    let address = serving.url.trim_start_matches("http://").split('/').next().unwrap().parse().unwrap();
    let mut clients: Vec<common::RawClient> = (0..4).map(|_| common::RawClient::stream(address, "/", "")).collect();
    serving.send("data: one\n\n");
    for client in &mut clients {
        assert_eq!(client.next_block().data(), "one");
    }
    serving.end_input();
    let input_ended = Instant::now();
    line_containing(&serving.stderr, "end of input; draining: the streams end over 2 s");
    for client in &mut clients {
        let rest = client.read_to_end();
        let retry: u64 = rest.strip_prefix("retry: ").and_then(|ms| ms.trim_end().parse().ok()).expect(&rest);
        assert!((1000..=5000).contains(&retry), "{rest:?}");
        assert!(client.ended_with_last_chunk(), "the body ends with its last chunk");
    }
    line_containing(&serving.stderr, "drained: 4 streams ended");
    assert!(wait_with_timeout(&mut serving.child).success());
    assert!(input_ended.elapsed() >= Duration::from_millis(1500), "spread over the period, not at once");
}

/// A drain period past the limit is lowered to it, and a drain with no stream ends at once.
#[test]
fn a_huge_drain_period_is_kept_in_range() {
    let mut serving = Serving::start(&["--drain", "18446744073709551615"]);
    serving.end_input();
    line_containing(&serving.stderr, "draining: the streams end over 3600 s");
    line_containing(&serving.stderr, "drained: 0 streams ended");
    assert!(wait_with_timeout(&mut serving.child).success());
}

#[test]
fn listen_resumes_from_a_last_event_id() {
    let mut serving = Serving::start(&["--auto-id"]);
    serving.send("data: one\n\ndata: two\n\ndata: three\n\n");
    // A first listener that has read all three events is the signal that `serve` has published
    // them, and it learns the id to resume from.
    let first = Listening::start(&serving.url, &["--json"]);
    let id_of_one = first.line().rsplit_once(r#""id":""#).unwrap().1.trim_end_matches(r#""}"#).to_string();
    first.line();
    first.line();
    let listening = Listening::start(&serving.url, &["--last-event-id", &id_of_one]);
    assert_eq!(listening.line(), "two");
    assert_eq!(listening.line(), "three");
    serving.finish();
}

#[test]
fn bad_input_lines_are_reported_and_skipped() {
    let mut serving = Serving::start(&[]);
    serving.send("foo: bar\nretry: soon\nid: 5\ndata: ok\n\nid: bad\0id\ndata: x\n\n");
    assert!(line_containing(&serving.stderr, "line 1").contains("unknown field `foo`"));
    assert!(line_containing(&serving.stderr, "line 2").contains("retry"));
    assert!(line_containing(&serving.stderr, "line 6").contains("NUL"), "the id line with a NUL is skipped");
    let listening = Listening::start(&serving.url, &[]);
    assert_eq!(listening.line(), "ok", "the good event went out (kept for late joiners by its id)");
    assert!(serving.finish().success());
}

/// An input event's data is bounded as a client's is: at the limit (its line ends counted) it is
/// sent, one byte past it, on one line or across several, it is reported and not sent, and the
/// events after it go out as usual.
#[test]
fn input_events_past_the_event_limit_are_reported_and_not_sent() {
    let mut serving = Serving::start(&["--auto-id", "--max-event-bytes", "16"]);
    let at_limit = "a".repeat(15);
    let past = "b".repeat(16);
    serving.send(&format!(
        "data: {at_limit}\n\ndata: {past}\n\nevent: split\ndata: ccccccc\ndata: dddddddd\n\ndata: after\n\n"
    ));
    let first = line_containing(&serving.stderr, "line 3");
    assert!(first.contains("event larger than 16 bytes") && first.contains("not sent"), "{first}");
    let second = line_containing(&serving.stderr, "line 7");
    assert!(second.contains("event at line 5 not sent"), "{second}");
    let listening = Listening::start(&serving.url, &[]);
    assert_eq!(listening.line(), at_limit);
    assert_eq!(listening.line(), "after", "the events past the limit were not sent");
    assert!(serving.finish().success());
}

#[test]
fn lines_mode_sends_each_line() {
    let mut serving = Serving::start(&["--lines", "--auto-id"]);
    serving.send("first line\nsecond: not a field\n");
    let listening = Listening::start(&serving.url, &[]);
    assert_eq!(listening.line(), "first line");
    assert_eq!(listening.line(), "second: not a field");
    serving.finish();
}

#[test]
fn page_option_serves_a_page_and_moves_the_stream() {
    let serving = Serving::start(&["--page"]);
    assert!(serving.url.ends_with("/events"), "{}", serving.url);
    let page_url = serving.url.trim_end_matches("events");
    let mut response = agent().get(page_url).call().unwrap();
    let page = response.body_mut().read_to_string().unwrap();
    assert!(page.contains("new SharedEventSource(\"/events\")"), "{page}");
    let mut script = agent().get(&format!("{page_url}bare-sse/shared-source.js")).call().unwrap();
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(script.body_mut().read_to_string().unwrap(), bare_sse::shared_source::SCRIPT);
    let icon = agent().get(&format!("{page_url}favicon.ico")).call().unwrap();
    assert_eq!(icon.status(), 204, "no 404 noise in the console");
    serving.finish();
}

/// `--metrics PATH` serves the counters there, and the stream stays on every other path.
#[test]
fn metrics_option_serves_the_counters_and_keeps_the_stream_on_every_other_path() {
    let mut serving = Serving::start(&["--auto-id", "--metrics", "/metrics"]);
    let metrics_url = format!("{}metrics", serving.url);
    assert!(line_containing(&serving.stderr, "metrics at").ends_with(&format!("metrics at {metrics_url}")));
    serving.send("data: one\n\n");
    let listening = Listening::start(&format!("{}events", serving.url), &[]);
    assert_eq!(listening.line(), "one");
    let mut response = agent().get(&metrics_url).call().unwrap();
    assert_eq!(response.headers()["content-type"], bare_sse::server::METRICS_CONTENT_TYPE);
    let text = response.body_mut().read_to_string().unwrap();
    assert!(text.contains("\nbare_sse_hub_clients{hub=\"/\"} 1\n"), "{text}");
    assert!(text.contains("\nbare_sse_hub_events_published_total{hub=\"/\"} 1\n"), "{text}");
    serving.finish();
}

/// A usage error is the error and one line of usage that points to `--help`: nothing long that
/// would scroll the error away.
#[test]
fn usage_errors_exit_2_with_the_error_and_a_short_usage() {
    let cases: [(&[&str], &str, &str); 12] = [
        (&["serve", "--port", "x"], "--port takes a whole number", "bare-sse serve --help"),
        (&["mercure", "--bind", "nowhere"], "--bind takes an IP address", "bare-sse mercure --help"),
        (&["mercure", "--jwt-key", "short"], "at least 32", "bare-sse mercure --help"),
        (&["mercure", "--redis", "redis://127.0.0.1:1"], "--redis and --stream go together", "bare-sse mercure --help"),
        (&["mercure", "--cors-origin", "*"], "cannot be `*`", "bare-sse mercure --help"),
        (&["serve", "--drain", "5"], "--drain needs --exit-at-end", "bare-sse serve --help"),
        (&["serve", "--bogus"], "unknown option `--bogus`", "bare-sse serve --help"),
        (&["listen"], "listen needs a URL", "bare-sse listen --help"),
        (&["listen", "ftp://x/"], "ftp", "bare-sse listen --help"),
        (&["listen", "https://example.com/"], "TLS-terminating proxy", "bare-sse listen --help"),
        (&["frobnicate"], "unknown command `frobnicate`", "bare-sse --help"),
        (&[], "no command given", "bare-sse --help"),
    ];
    for (args, error, help) in cases {
        let output = Command::new(BINARY).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{args:?}: {stderr}");
        assert!(lines[0].starts_with("bare-sse: ") && lines[0].contains(error), "{args:?}: {stderr}");
        assert!(lines[1].starts_with("usage: bare-sse") && lines[1].contains(help), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    let output = Command::new(BINARY).args(["serve", "--port", "99999"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--port takes a whole number from 0 to 65535, not `99999`"), "{stderr}");
}

#[test]
fn version() {
    for flag in ["--version", "-V"] {
        let output = Command::new(BINARY).arg(flag).output().unwrap();
        assert!(output.status.success());
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), concat!("bare-sse ", env!("CARGO_PKG_VERSION")));
    }
}

/// The README's first example pipes a few events in: `serve` must go on serving them after its
/// input ends, to clients that connect later.
#[test]
fn serve_keeps_serving_after_its_input_ends() {
    let mut serving = Serving::start_with(&["--auto-id"]);
    serving.send("event: build\ndata: ok\n\n");
    serving.end_input();
    line_containing(&serving.stderr, "still serving");
    let listening = Listening::start(&serving.url, &[]);
    assert_eq!(listening.line(), "build: ok", "a typed event shows its type");
    assert!(serving.child.try_wait().unwrap().is_none(), "still running");
}

#[test]
fn listen_exit_codes_say_what_went_wrong() {
    let status_of = |args: &[&str]| {
        let mut child =
            Command::new(BINARY).arg("listen").args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        wait_with_timeout(&mut child).code()
    };
    // Nothing listens on a port just freed.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    assert_eq!(status_of(&[&format!("http://{free}/"), "--max-failures", "1"]), Some(3), "unreachable");
    let answer = |response: &'static str| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        thread::spawn(move || {
            if let Ok((mut socket, _)) = listener.accept() {
                let mut request = [0u8; 1024];
                let _ = socket.read(&mut request);
                let _ = socket.write_all(response.as_bytes());
            }
        });
        url
    };
    let not_found = answer("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(status_of(&[&not_found]), Some(4), "HTTP error status");
    let html = answer("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(status_of(&[&html]), Some(5), "wrong content type");
    let done = answer("HTTP/1.1 204 No Content\r\n\r\n");
    assert_eq!(status_of(&[&done]), Some(0), "204 is done");
    let silent = answer("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n: nothing yet\n");
    assert_eq!(status_of(&[&silent, "--timeout", "1"]), Some(6), "timeout");
}

#[test]
fn listen_once_exits_after_the_first_event() {
    let mut serving = Serving::start(&["--auto-id"]);
    serving.send("data: first\n\ndata: second\n\n");
    let output = Command::new(BINARY).args(["listen", &serving.url, "--once"]).output().unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "first\n");
    serving.finish();
}

#[test]
fn help_for_each_command() {
    for (args, needle) in
        [(&["--help"][..], "bare-sse serve"), (&["serve", "--help"], "--auto-id"), (&["listen", "--help"], "--json")]
    {
        let output = Command::new(BINARY).args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&output.stdout).contains(needle), "{args:?}");
    }
}

#[test]
fn lines_mode_replaces_invalid_utf8_and_keeps_going() {
    let mut serving = Serving::start(&["--lines", "--auto-id"]);
    let stdin = serving.stdin.as_mut().unwrap();
    stdin.write_all(b"caf\xe9 latin-1\nnext\r\n").unwrap();
    stdin.flush().unwrap();
    let listening = Listening::start(&serving.url, &[]);
    assert_eq!(listening.line(), "caf\u{fffd} latin-1");
    assert_eq!(listening.line(), "next");
    serving.send("after\n");
    assert_eq!(listening.line(), "after", "serve is still reading");
    assert!(serving.finish().success());
}

#[test]
fn a_long_input_line_is_skipped_past_the_limit() {
    let mut serving = Serving::start(&["--lines", "--auto-id", "--max-line-bytes", "10"]);
    serving.send("0123456789\n0123456789x\nshort\n");
    assert!(line_containing(&serving.stderr, "line").contains("longer than 10 bytes"));
    let listening = Listening::start(&serving.url, &[]);
    assert_eq!(listening.line(), "0123456789", "exactly at the limit");
    assert_eq!(listening.line(), "short");
    serving.finish();
}

#[test]
fn a_closed_output_pipe_is_no_panic() {
    let mut child =
        Command::new(BINARY).args(["serve", "--help"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take()); // as `| head -0` does
    let status = wait_with_timeout(&mut child);
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(status.success() && !stderr.contains("panicked"), "{status:?}: {stderr}");
}

#[test]
fn huge_durations_are_kept_in_range() {
    let mut serving =
        Serving::start(&["--auto-id", "--heartbeat", "18446744073709551615", "--retry", "18446744073709551615"]);
    serving.send("data: ok\n\n");
    let listening = Listening::start(&serving.url, &[]);
    assert_eq!(listening.line(), "ok");
    assert!(serving.finish().success(), "no thread panicked");
}

#[test]
fn gzip_option_compresses_for_clients_that_accept_it() {
    let mut serving = Serving::start(&["--gzip", "--auto-id"]);
    serving.send("data: one\n\ndata: two\n\n");
    // A plain client (listen sends no Accept-Encoding) reads both; then they are in history.
    let listening = Listening::start(&serving.url, &[]);
    assert_eq!((listening.line(), listening.line()), ("one".to_string(), "two".to_string()));
    let address = serving.url.trim_start_matches("http://").split('/').next().unwrap().parse().unwrap();
    let mut zipped = common::RawClient::get(address, "/", "Accept-Encoding: gzip\r\n");
    assert_eq!(zipped.head().header("content-encoding"), Some("gzip"));
    zipped.read_body_until(|body| {
        common::test_inflate::gunzip(body).is_ok_and(|(data, _)| {
            let text = String::from_utf8_lossy(&data);
            text.contains("data: one\n\n") && text.ends_with("data: two\n\n")
        })
    });
    serving.finish();
}

#[test]
fn two_serve_processes_share_events_through_redis() {
    let Some(redis) = common::redis::RedisServer::start() else { return };
    let url = redis.url();
    let mut first = Serving::start_with(&["--redis", &url, "--stream", "cli", "--auto-id"]);
    let second = Serving::start_with(&["--redis", &url, "--stream", "cli"]);
    let listening = Listening::start(&second.url, &["--json"]);
    // The second server follows the stream from where it was when its reader connected: an event
    // sent before that never reaches it. Send warm-ups until one arrives (the signal that both
    // follow), then one that must arrive exactly.
    let mut arrived = false;
    for attempt in 0..100 {
        first.send(&format!("data: warm-up {attempt}\n\n"));
        if listening.stdout.recv_timeout(Duration::from_millis(200)).is_ok() {
            arrived = true;
            break;
        }
    }
    assert!(arrived, "no warm-up event arrived through Redis");
    first.send("event: note\ndata: through redis\n\n");
    // Warm-ups sent before the first one arrived may still come first.
    let line = std::iter::repeat_with(|| listening.line()).find(|line| !line.contains("warm-up")).unwrap();
    assert!(line.starts_with(r#"{"type":"note","data":"through redis","id":""#), "{line}");

    let bad = Command::new(BINARY).args(["serve", "--redis", "http://nope"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("only redis://"));
}

/// `--timeout` ends a stream that is still open: that is no failure, so nothing but the timeout
/// is said (no "body ended inside chunk framing; reconnecting").
#[test]
fn listen_timeout_says_only_that_it_passed() {
    let mut serving = Serving::start(&["--auto-id"]);
    serving.send("data: one\n\n");
    // Long enough for the event to arrive on a loaded machine.
    let output = Command::new(BINARY).args(["listen", &serving.url, "--timeout", "3"]).output().unwrap();
    assert_eq!(output.status.code(), Some(6));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "one\n");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "bare-sse: --timeout passed\n");
    serving.finish();
}

/// Events without an id go only to the clients connected when they are sent; at the end of its
/// input `serve` says how many there were, and that `--auto-id` keeps them for later clients.
#[test]
fn serve_says_at_the_end_of_input_how_many_events_had_no_id() {
    for (args, input, count) in
        [(&[][..], "data: a\n\nid: 1\ndata: b\n\ndata: c\n\n", "2 of 3"), (&["--lines"], "x\ny\n", "2 of 2")]
    {
        let mut serving = Serving::start_with(args);
        serving.send(input);
        serving.end_input();
        let note = line_containing(&serving.stderr, "no id");
        assert!(note.contains(count) && note.contains("--auto-id"), "{args:?}: {note}");
        line_containing(&serving.stderr, "still serving");
    }
    let mut serving = Serving::start_with(&["--auto-id"]);
    serving.send("data: a\n\n");
    serving.end_input();
    let last = line_containing(&serving.stderr, "end of input");
    assert!(last.contains("still serving"), "nothing to say when every event has an id: {last}");
}

/// The help describes the ids `--auto-id` gives, `<epoch>-<n>`, and they are that.
#[test]
fn auto_id_help_says_what_the_ids_look_like() {
    let help = Command::new(BINARY).args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let auto_id = help.lines().find(|line| line.trim_start().starts_with("--auto-id")).unwrap();
    assert!(auto_id.contains("<epoch>-<n>"), "{auto_id}");
    let mut serving = Serving::start(&["--auto-id"]);
    serving.send("data: a\n\n");
    let line = Listening::start(&serving.url, &["--json"]).line();
    let id = line.split(r#""id":""#).nth(1).unwrap().trim_end_matches(r#""}"#);
    let (epoch, n) = id.split_once('-').unwrap();
    let epoch: u128 = epoch.parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    assert!(epoch <= now && now - epoch < 600_000, "the epoch is the start time in Unix milliseconds: {id}");
    assert_eq!(n, "1");
    serving.finish();
}

/// With `--redis`, Redis gives the ids: an `id:` line is refused in the command line's words.
#[test]
fn an_id_line_with_redis_is_refused_in_command_line_words() {
    let Some(redis) = common::redis::RedisServer::start() else { return };
    let mut serving = Serving::start(&["--redis", &redis.url(), "--stream", "ids"]);
    serving.send("data: before\nid: 7\n\n");
    let refusal = line_containing(&serving.stderr, "line 1");
    assert!(refusal.contains("--auto-id") && refusal.contains("Redis"), "{refusal}");
    assert!(!refusal.contains("with_id"), "no Rust method names: {refusal}");
    serving.finish();
}

/// `listen` retries as a browser does; after its first failures it says, once, which options make
/// it give up (and not when one of them is given: see the unit tests).
#[test]
fn listen_says_how_to_give_up_when_it_keeps_failing() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut child = Command::new(BINARY)
        .args(["listen", &format!("http://{free}/")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = lines_of(child.stderr.take().unwrap());
    let mut before = Vec::new();
    let hint = loop {
        let line = next_line(&stderr);
        if line.contains("--max-failures") {
            break line;
        }
        before.push(line);
    };
    assert!(hint.contains("--timeout"), "{hint}");
    assert_eq!(before.len(), 2, "after two failed attempts: {before:?}");
    assert!(before.iter().all(|line| line.contains("reconnecting")), "{before:?}");
    let _ = child.kill();
    let _ = child.wait();
}

/// `--json` prints an `id` only for an event that carried one, not the last id of an earlier event.
#[test]
fn listen_json_prints_an_id_only_for_events_that_carry_one() {
    let mut serving = Serving::start(&[]);
    serving.send("id: a\ndata: one\n\n");
    let listening = Listening::start(&serving.url, &["--json"]);
    assert_eq!(listening.line(), r#"{"type":"message","data":"one","id":"a"}"#);
    // The listener has the first event, so it is connected: the next ones reach it live.
    serving.send("event: note\ndata: two\n\nid: b\ndata: three\n\n");
    assert_eq!(listening.line(), r#"{"type":"note","data":"two"}"#);
    assert_eq!(listening.line(), r#"{"type":"message","data":"three","id":"b"}"#);
    serving.finish();
}

/// In `--lines` mode the end of input ends an unfinished last line, and adds no empty event after
/// a finished one. A listener connected before the end collects everything `serve` sent until it
/// exited (it then gives up on reconnecting).
#[test]
fn lines_mode_sends_exactly_the_input_lines() {
    for (input, expected) in [("x\ny\n", &["x", "y"][..]), ("x\ny", &["x", "y"]), ("x\r\n\ny\r", &["x", "", "y"])] {
        let mut serving = Serving::start(&["--lines", "--auto-id"]);
        serving.send("first\n");
        let mut listening = Listening::start(&serving.url, &["--max-failures", "1"]);
        assert_eq!(listening.line(), "first", "{input:?}: the listener is connected");
        serving.send(input);
        assert!(serving.finish().success());
        assert_eq!(wait_with_timeout(&mut listening.child).code(), Some(3), "{input:?}: serve has gone");
        // The output's reader ends at the end of the output, so this takes every line printed.
        let rest: Vec<String> = std::iter::from_fn(|| listening.stdout.recv_timeout(READ_TIMEOUT).ok()).collect();
        assert_eq!(rest, expected, "{input:?}");
    }
}
