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
    fn start(args: &[&str]) -> Serving {
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
    assert!(response.body_mut().read_to_string().unwrap().contains("new EventSource(\"/events\")"));
    serving.finish();
}

#[test]
fn usage_errors_exit_2_with_a_message() {
    for args in [&["serve", "--port", "x"][..], &["serve", "--bogus"], &["listen"], &["frobnicate"], &[]] {
        let output = Command::new(BINARY).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("bare-sse: ") && stderr.contains("usage:"), "{args:?}: {stderr}");
    }
    let output = Command::new(BINARY).args(["listen", "ftp://x/"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
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
