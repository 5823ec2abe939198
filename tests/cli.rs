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
    assert!(line_containing(&serving.stderr, "line 6").contains("NUL"), "the event with a NUL id is refused");
    let listening = Listening::start(&serving.url, &[]);
    assert_eq!(listening.line(), "ok", "the good event went out (kept for late joiners by its id)");
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
    assert!(response.body_mut().read_to_string().unwrap().contains("fetch(\"/events\""));
    let icon = agent().get(&format!("{page_url}favicon.ico")).call().unwrap();
    assert_eq!(icon.status(), 204, "no 404 noise in the console");
    serving.finish();
}

#[test]
fn usage_errors_exit_2_with_a_message() {
    let cases: [(&[&str], &str); 5] = [
        (&["serve", "--port", "x"], "usage: bare-sse serve"),
        (&["serve", "--bogus"], "usage: bare-sse serve"),
        (&["listen"], "usage: bare-sse listen"),
        (&["frobnicate"], "bare-sse <command> --help"),
        (&[], "bare-sse <command> --help"),
    ];
    for (args, usage) in cases {
        let output = Command::new(BINARY).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("bare-sse: ") && stderr.contains(usage), "{args:?}: {stderr}");
    }
    let output = Command::new(BINARY).args(["serve", "--port", "99999"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--port takes a whole number from 0 to 65535, not `99999`"), "{stderr}");
    let output = Command::new(BINARY).args(["listen", "ftp://x/"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let output = Command::new(BINARY).args(["listen", "https://example.com/"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("TLS-terminating proxy"));
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
        common::inflate::gunzip(body).is_ok_and(|(data, _)| {
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
