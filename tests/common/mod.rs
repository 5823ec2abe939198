//! Test peers: a raw TCP client that reads an event stream with a timeout on every read, and a
//! ureq agent with timeouts.
#![allow(dead_code)] // each test file uses a different part of these helpers

pub mod chromium;
pub mod fake_redis;
pub mod redis;
/// The tests' DEFLATE and gzip decoder, the one the library's own tests use.
#[path = "../../src/test_inflate.rs"]
pub mod test_inflate;

use std::collections::HashMap;
use std::io::{Read, Write};

use bare_sse::http::{parse_response_head, Parsed, ResponseHead};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Every blocking read in the tests gives up after this long.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A client speaking HTTP by hand.
pub struct RawClient {
    pub socket: TcpStream,
    /// Bytes received, with the body's chunk framing removed once a chunked head has been read.
    received: Vec<u8>,
    /// Bytes of `received` already returned.
    consumed: usize,
    /// Set once the response head said the body is chunked: the framing still to decode.
    chunks: Option<Dechunker>,
    /// The body length the last response head gave (`Content-Length`), until the body is read.
    body_length: Option<usize>,
}

/// Decodes a chunked body as it arrives, and checks its framing strictly.
#[derive(Default)]
struct Dechunker {
    raw: Vec<u8>,
    /// Bytes left in the current chunk, when inside one.
    in_chunk: Option<usize>,
    ended: bool,
}

impl Dechunker {
    /// Moves every complete piece of `raw` into `out`.
    fn decode(&mut self, out: &mut Vec<u8>) {
        loop {
            match self.in_chunk {
                None if !self.ended => {
                    let Some(at) = find(&self.raw, b"\r\n") else { return };
                    let line = std::str::from_utf8(&self.raw[..at]).expect("chunk size line is text");
                    let size = usize::from_str_radix(line, 16).unwrap_or_else(|_| panic!("bad chunk size {line:?}"));
                    self.raw.drain(..at + 2);
                    if size == 0 {
                        self.ended = true;
                    }
                    self.in_chunk = Some(size);
                }
                None => return,
                Some(left) => {
                    let take = left.min(self.raw.len());
                    out.extend(self.raw.drain(..take));
                    if take < left {
                        self.in_chunk = Some(left - take);
                        return;
                    }
                    if self.raw.len() < 2 {
                        self.in_chunk = Some(0);
                        return;
                    }
                    assert_eq!(&self.raw[..2], b"\r\n", "a chunk must end with CRLF");
                    self.raw.drain(..2);
                    self.in_chunk = None;
                }
            }
        }
    }
}

/// One event as a test sees it: its fields in order, comments dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub fields: Vec<(String, String)>,
}

impl Block {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn data(&self) -> String {
        let lines: Vec<&str> = self.fields.iter().filter(|(n, _)| n == "data").map(|(_, v)| v.as_str()).collect();
        lines.join("\n")
    }
}

impl RawClient {
    pub fn connect(addr: SocketAddr) -> RawClient {
        let socket = TcpStream::connect(addr).expect("connect");
        socket.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        socket.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
        RawClient { socket, received: Vec::new(), consumed: 0, chunks: None, body_length: None }
    }

    /// Connects and sends a GET for `target` with extra header lines (each ending in CRLF).
    pub fn get(addr: SocketAddr, target: &str, extra_headers: &str) -> RawClient {
        let mut client = RawClient::connect(addr);
        client.send(&format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n{extra_headers}\r\n"));
        client
    }

    /// Like [`RawClient::get`], but `None` when the server is not there (stopped).
    pub fn try_get(addr: SocketAddr, target: &str, extra_headers: &str) -> Option<RawClient> {
        let socket = TcpStream::connect(addr).ok()?;
        socket.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        socket.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
        let mut client = RawClient { socket, received: Vec::new(), consumed: 0, chunks: None, body_length: None };
        let request = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n{extra_headers}\r\n");
        client.socket.write_all(request.as_bytes()).ok()?;
        Some(client)
    }

    /// Like [`RawClient::head`], but `None` when the connection ends (or is reset) first.
    pub fn try_head(&mut self) -> Option<ResponseHead> {
        while find(self.pending(), b"\r\n\r\n").is_none() {
            if !self.fill_unless_ended() {
                return None;
            }
        }
        Some(self.head())
    }

    /// A GET for the stream, with its head read and checked to be 200.
    pub fn stream(addr: SocketAddr, target: &str, extra_headers: &str) -> RawClient {
        let mut client = RawClient::get(addr, target, extra_headers);
        let head = client.head();
        assert_eq!(head.status, 200, "{head:?}");
        client
    }

    pub fn send(&mut self, text: &str) {
        self.socket.write_all(text.as_bytes()).expect("send");
    }

    /// Reads once; returns 0 at the end of the stream (or of a chunked body).
    fn fill(&mut self) -> usize {
        self.try_fill().unwrap_or_else(|e| panic!("read failed or timed out: {e}"))
    }

    fn try_fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            if self.chunks.as_ref().is_some_and(|c| c.ended) {
                return Ok(0);
            }
            let n = self.socket.read(&mut chunk)?;
            let Some(chunks) = &mut self.chunks else {
                self.received.extend_from_slice(&chunk[..n]);
                return Ok(n);
            };
            if n == 0 {
                return Ok(0);
            }
            chunks.raw.extend_from_slice(&chunk[..n]);
            let before = self.received.len();
            chunks.decode(&mut self.received);
            if self.received.len() > before {
                return Ok(self.received.len() - before);
            }
        }
    }

    /// Reads once; false when the connection has ended or was reset. A read that times out still
    /// fails the test.
    fn fill_unless_ended(&mut self) -> bool {
        match self.try_fill() {
            Ok(n) => n > 0,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                panic!("read timed out: {e}")
            }
            Err(_) => false,
        }
    }

    /// The next event block, or `None` once the stream has ended (closed or reset). A read that
    /// times out still fails the test.
    pub fn try_next_block(&mut self) -> Option<Block> {
        loop {
            if find(self.pending(), b"\n\n").is_some() {
                return Some(self.next_block());
            }
            if !self.fill_unless_ended() {
                return None;
            }
        }
    }

    /// Whether the body ended with its last chunk (a chunked body that ended properly).
    pub fn ended_with_last_chunk(&self) -> bool {
        self.chunks.as_ref().is_some_and(|c| c.ended)
    }

    fn pending(&self) -> &[u8] {
        &self.received[self.consumed..]
    }

    /// Reads until `done` holds for the unread body bytes, which stay unread; returns a copy of
    /// them. For binary bodies (compressed streams).
    pub fn read_body_until(&mut self, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        while !done(self.pending()) {
            assert!(self.fill() > 0, "the body ended first");
        }
        self.pending().to_vec()
    }

    /// Reads to the end of the connection; returns the body bytes left unread. For binary bodies.
    pub fn read_body_to_end(&mut self) -> Vec<u8> {
        while self.fill() > 0 {}
        let body = self.pending().to_vec();
        self.consumed = self.received.len();
        body
    }

    /// Reads until `needle` appears in the unread bytes; returns the text up to and including it.
    pub fn read_through(&mut self, needle: &str) -> String {
        loop {
            if let Some(at) = find(self.pending(), needle.as_bytes()) {
                let end = self.consumed + at + needle.len();
                let text = String::from_utf8_lossy(&self.received[self.consumed..end]).into_owned();
                self.consumed = end;
                return text;
            }
            if self.fill() == 0 {
                let unread = String::from_utf8_lossy(self.pending());
                let shown: String = unread.chars().take(300).collect();
                panic!("stream ended before {needle:?}; unread ({} bytes): {shown:?}", unread.len());
            }
        }
    }

    /// Reads and parses the response head, and leaves the body's framing in what is read next.
    pub fn head_keeping_framing(&mut self) -> ResponseHead {
        // After a chunked body's end come the next response's bytes, unframed.
        if let Some(chunks) = self.chunks.take_if(|chunks| chunks.ended) {
            self.received.extend_from_slice(&chunks.raw);
        }
        let text = self.read_through("\r\n\r\n");
        match parse_response_head(text.as_bytes()) {
            Ok(Parsed::Complete { head, .. }) => head,
            other => panic!("not a response head: {other:?} in {text:?}"),
        }
    }

    /// Reads and parses the response head, with the crate's own response-head parser. A chunked
    /// body is decoded from then on.
    pub fn head(&mut self) -> ResponseHead {
        let head = self.head_keeping_framing();
        self.body_length = match head.status {
            204 | 304 => Some(0),
            _ => head.header("content-length").and_then(|length| length.parse().ok()),
        };
        if head.header("transfer-encoding") == Some("chunked") {
            let mut chunks = Dechunker { raw: self.received.split_off(self.consumed), ..Dechunker::default() };
            chunks.decode(&mut self.received);
            self.chunks = Some(chunks);
        }
        head
    }

    /// The next event block, skipping comment lines (heartbeats) and comment-only blocks.
    pub fn next_block(&mut self) -> Block {
        loop {
            let text = self.read_through("\n\n");
            let fields: Vec<(String, String)> = text
                .lines()
                .filter(|l| !l.is_empty() && !l.starts_with(':'))
                .map(|l| {
                    let (n, v) = l.split_once(':').unwrap_or((l, ""));
                    (n.to_string(), v.strip_prefix(' ').unwrap_or(v).to_string())
                })
                .collect();
            if !fields.is_empty() {
                return Block { fields };
            }
        }
    }

    /// Reads to the end of the body (its `Content-Length`, its last chunk, or the end of the
    /// connection) and returns what was left unread of it.
    pub fn read_to_end(&mut self) -> String {
        if let Some(length) = self.body_length.take() {
            while self.pending().len() < length {
                assert!(self.fill() > 0, "the connection ended inside a body of {length} bytes");
            }
            let text = String::from_utf8_lossy(&self.pending()[..length]).into_owned();
            self.consumed += length;
            return text;
        }
        while self.fill() > 0 {}
        let text = String::from_utf8_lossy(self.pending()).into_owned();
        self.consumed = self.received.len();
        text
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A ureq agent that reports every status as a response and times out.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(READ_TIMEOUT)).build().into()
}

/// Publishes 400 events of 64 KiB to `hub`, about 26 MB: more than a loopback socket's buffers
/// hold, so a client that reads nothing is left with a full socket (given a queue limit above that).
pub fn flood(hub: &bare_sse::Hub) {
    let payload = "x".repeat(64 * 1024);
    for _ in 0..400 {
        hub.send_new_event(bare_sse::Event::new().data(payload.as_str())).unwrap();
    }
}

/// Waits for `condition` where the library offers no signal to wait on (checked every 5 ms).
pub fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + READ_TIMEOUT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How many times each of the process's `flushers` hub flusher threads woke while `during` ran,
/// fewest first, counted once they have settled asleep; `None`, with the reason printed, without
/// Linux's `/proc`. For a test alone in its binary, whose one hub owns every flusher.
pub fn flusher_wake_ups(flushers: usize, during: impl FnOnce()) -> Option<Vec<u64>> {
    // Thread names are cut to 15 bytes: `bare-sse-flusher-0` and `-1` both show as this.
    const FLUSHER: &str = "bare-sse-flushe";
    if !std::path::Path::new("/proc/self/task").exists() {
        println!("skipped: needs Linux's /proc to count context switches");
        return None;
    }
    let before = settled_thread_switches(FLUSHER);
    assert_eq!(before.len(), flushers, "the flushers: {before:?}");
    during();
    let after = thread_switches(FLUSHER);
    let mut woke: Vec<u64> = before.iter().map(|(id, (_, count))| after[id].1 - count).collect();
    woke.sort_unstable();
    Some(woke)
}

/// A small seeded random generator (xorshift64*), so randomized tests repeat exactly by seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A number below `bound` (0 when `bound` is 0).
    pub fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % bound.max(1)
    }
}

/// Threads of this process now (Linux), to check that nothing is left running.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |tasks| tasks.count())
}

/// Context switches so far of each of this process's threads whose name starts with `prefix`, by
/// thread id, with their names (Linux). A thread that stays blocked (in `read`, `accept` or a
/// condition variable wait) is never switched to.
pub fn thread_switches(prefix: &str) -> HashMap<String, (String, u64)> {
    thread_counters(prefix, &["voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"])
}

/// How many times each of this process's threads whose name starts with `prefix` has gone to
/// sleep so far, by thread id, with their names (Linux): its voluntary context switches, one for
/// each wait in a blocking call (a write waiting for room in a socket, a lock, a condition
/// variable). Preemptions are not counted: a loaded machine preempts a busy thread at will.
pub fn thread_sleeps(prefix: &str) -> HashMap<String, (String, u64)> {
    thread_counters(prefix, &["voluntary_ctxt_switches"])
}

/// The sum of the named counters of `/proc/self/task/<id>/status` of each thread whose name starts
/// with `prefix`, by thread id, with their names.
fn thread_counters(prefix: &str, counters: &[&str]) -> HashMap<String, (String, u64)> {
    let mut counts = HashMap::new();
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default().trim().to_string();
        if !name.starts_with(prefix) {
            continue;
        }
        let status = std::fs::read_to_string(path.join("status")).unwrap_or_default();
        let count: u64 = status
            .lines()
            .filter_map(|line| line.split_once(':'))
            .filter(|(counter, _)| counters.contains(counter))
            .filter_map(|(_, value)| value.trim().parse::<u64>().ok())
            .sum();
        counts.insert(task.file_name().to_string_lossy().into_owned(), (name, count));
    }
    counts
}

/// Whether every thread whose name starts with `prefix` is blocked (state `S` in `/proc`).
fn threads_asleep(prefix: &str) -> bool {
    std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten().all(|task| {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        // The state follows the parenthesised command name: `pid (comm) S ...`.
        let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
        !name.starts_with(prefix) || state == Some('S')
    })
}

/// [`thread_switches`] once the threads have reached their blocking calls: every one asleep, and
/// two looks in a row a tenth of a second apart see none move (waiting up to a minute, for a
/// loaded machine).
pub fn settled_thread_switches(prefix: &str) -> HashMap<String, (String, u64)> {
    let mut before = thread_switches(prefix);
    for _ in 0..600 {
        std::thread::sleep(Duration::from_millis(100));
        let now = thread_switches(prefix);
        let settled = now == before && threads_asleep(prefix);
        before = now;
        if settled {
            break;
        }
    }
    before
}

/// Open file descriptors of this process now (Linux).
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |fds| fds.count())
}
