//! How many stack pages an idle connection keeps resident: two. A stack page, once touched, stays
//! resident for the thread's life, so what an idle connection costs is set by the deepest call its
//! thread ever made: reading a request, answering it, starting a stream, joining a hub. glibc
//! keeps about 4.5 KiB of its own at the top of each thread's stack, which leaves the crate's code
//! under 4 KiB of the two pages; a third page is 4 KiB more for every idle connection (a third
//! more at 1,000 connections).
//!
//! Frames are those of a release build: a debug build's are several times larger, so in a debug
//! build this test says so and passes. `.ci/run` runs it with `cargo test --release --test
//! idle_stack`. Alone in its own test binary: it reads every thread of its process.

mod common;

use std::time::Instant;

use bare_sse::server::{Request, Response};
use bare_sse::{Event, Hub, Server};
use common::{RawClient, READ_TIMEOUT};

/// The thread name of connection threads, as `/proc` shows it (15 bytes at most).
const CONNECTION_THREAD: &str = "bare-sse-connec";
/// Two pages of 4 KiB.
const MOST_STACK_KIB: u64 = 8;

/// Requests that take every path a connection thread can take before it idles: pages with and
/// without a query, a body, the server's own answers, an answer of events complete at once, a
/// stream that ends, and hub streams that join, resume, compress and select a feed of their own.
const REQUESTS: &[&str] = &[
    "GET /page HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /page?name=a%20b&other=%C3%BC+x&flag HTTP/1.1\r\nHost: x\r\nOrigin: http://app.example\r\n\r\n",
    "POST /page HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 29\r\n\r\n{\"count\":41,\"name\":\"example\"}",
    "POST /page HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "HEAD /page HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n",
    "DELETE /page HTTP/1.1\r\nHost: x\r\n\r\n",
    "OPTIONS /page HTTP/1.1\r\nHost: x\r\nOrigin: http://app.example\r\nAccess-Control-Request-Method: PUT\r\n\r\n",
    "GET /events?x=1 HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n",
    "GET /stream?x=1 HTTP/1.1\r\nHost: x\r\nOrigin: http://app.example\r\n\r\n",
    "GET /hub HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /hub?lastEventId=unknown HTTP/1.1\r\nHost: x\r\nOrigin: http://app.example\r\n\r\n",
    "GET /hub HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 1\r\nAccept-Encoding: gzip\r\n\r\n",
    "GET /hub/topic?topic=a HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /hub/topic?topic=b HTTP/1.1\r\nHost: x\r\n\r\n",
];

#[test]
fn every_idle_connection_keeps_two_stack_pages() {
    if cfg!(debug_assertions) {
        println!(
            "skipped: a debug build's frames are not a release build's; run `cargo test --release --test idle_stack`"
        );
        return;
    }
    let hub = Hub::builder().heartbeat(None).gzip(6).history_events(10).build();
    hub.send_new_event(Event::new().data("kept").with_id()).unwrap();
    let topics = hub.clone();
    // The selections are made before: a handler's own work (here, parsing topic selectors) is its
    // own, and this test measures the server's.
    let limits = bare_sse::topic::SelectorLimits::default();
    let selection = |topic: &str| {
        let selector = bare_sse::topic::TopicSelector::from_params([("match", topic)], None, &limits).unwrap();
        bare_sse::hub::Selection::topics(selector)
    };
    let selections = [selection("a"), selection("b")];
    let server = Server::builder()
        .stream_heartbeat(None)
        .retry(Some(std::time::Duration::from_millis(1500)))
        .route("/page", |_: &Request| Response::html("<p>hi</p>"))
        .route("/events", |_: &Request| Response::events(&[Event::new().data("one")]).unwrap())
        .route("/stream", |_: &Request| {
            Response::stream(|stream| {
                let _ = stream.send(&Event::new().data("one"));
            })
        })
        .route_hub("/hub", hub.clone())
        .route("/hub/topic", move |request: &Request| {
            let selection = &selections[usize::from(request.query_param("topic") == Some("b"))];
            Response::hub(topics.clone()).selection(selection.clone())
        })
        .start()
        .unwrap();
    let mut clients = Vec::new();
    let mut report = Vec::new();
    let mut known = Vec::new();
    for request in REQUESTS {
        let mut client = RawClient::connect(server.local_addr());
        client.send(request);
        let head = client.head();
        assert!(head.status < 500, "{request:?}: {head:?}");
        if !request.contains(" /hub") && !request.starts_with("HEAD") {
            client.read_to_end();
        }
        clients.push(client);
        // The new connection's thread, once it waits for its client's next bytes.
        let threads = wait_until_blocked(clients.len());
        let (thread, stack_pointer) = threads.into_iter().find(|(thread, _)| !known.contains(thread)).unwrap();
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let kib = resident_kib_of_mapping_holding(&smaps, stack_pointer)
            .unwrap_or_else(|| panic!("no mapping holds the stack pointer {stack_pointer:#x} of {request:?}'s thread"));
        known.push(thread);
        report.push((request.lines().next().unwrap_or_default(), kib, depth_below_top(&smaps, stack_pointer)));
    }
    for (request, kib, depth) in &report {
        eprintln!("{kib} KiB resident, deepest {depth:?} bytes below the top: {request}");
    }
    let over: Vec<_> = report.iter().filter(|(_, kib, _)| *kib > MOST_STACK_KIB).collect();
    assert!(over.is_empty(), "connection threads with more than {MOST_STACK_KIB} KiB of stack resident: {over:?}");
    assert!(hub.wait_until_clients(|n| n == 5, READ_TIMEOUT));
    // Every connection is idle, and none has touched more since.
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    for (thread, stack_pointer) in wait_until_blocked(REQUESTS.len()) {
        let kib = resident_kib_of_mapping_holding(&smaps, stack_pointer).unwrap();
        assert!(kib <= MOST_STACK_KIB, "thread {thread}: {kib} KiB of stack resident at the end ({report:?})");
    }
    drop(clients);
}

/// Waits until `count` connection threads are blocked in a system call (each waiting for its
/// client's next bytes), and returns each one's id and stack pointer, read from
/// `/proc/self/task/<id>/syscall`.
fn wait_until_blocked(count: usize) -> Vec<(String, u64)> {
    let deadline = Instant::now() + READ_TIMEOUT;
    loop {
        let mut blocked = Vec::new();
        let mut threads = 0;
        for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if name.trim() != CONNECTION_THREAD {
                continue;
            }
            threads += 1;
            // "<number> <six arguments> <stack pointer> <program counter>", or "running".
            let syscall = std::fs::read_to_string(task.path().join("syscall")).unwrap_or_default();
            let fields: Vec<&str> = syscall.split_whitespace().collect();
            if fields.len() == 9 {
                let stack_pointer = u64::from_str_radix(fields[7].trim_start_matches("0x"), 16).unwrap();
                blocked.push((task.file_name().to_string_lossy().into_owned(), stack_pointer));
            }
        }
        if threads == count && blocked.len() == count {
            return blocked;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {threads} connection threads blocked, {count} expected",
            blocked.len()
        );
        std::thread::yield_now();
    }
}

/// How far below the top of the mapping that holds `address` its deepest non-zero byte lies: the
/// deepest the stack has been, give or take the bytes that happened to be zero (shown in the
/// failure message, to find what went deep).
fn depth_below_top(smaps: &str, address: u64) -> Option<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let (_, end) = mapping_holding(smaps, address)?;
    let mut memory = std::fs::File::open("/proc/self/mem").ok()?;
    let mut top = vec![0u8; 64 * 1024];
    memory.seek(SeekFrom::Start(end - top.len() as u64)).ok()?;
    memory.read_exact(&mut top).ok()?;
    let deepest = top.iter().position(|&byte| byte != 0)?;
    Some((top.len() - deepest) as u64)
}

/// The resident size (`Rss`) of the mapping of `/proc/self/smaps` that holds `address`, in KiB.
fn resident_kib_of_mapping_holding(smaps: &str, address: u64) -> Option<u64> {
    let (header, _) = mapping_holding(smaps, address)?;
    let fields = smaps.lines().skip(header + 1).take_while(|line| mapping_range(line).is_none());
    let rss = fields.into_iter().find_map(|line| line.strip_prefix("Rss:"))?;
    rss.trim().trim_end_matches("kB").trim().parse().ok()
}

/// The line of `smaps` that opens the mapping holding `address`, and the mapping's end.
fn mapping_holding(smaps: &str, address: u64) -> Option<(usize, u64)> {
    smaps.lines().enumerate().find_map(|(at, line)| {
        let (start, end) = mapping_range(line)?;
        (start..end).contains(&address).then_some((at, end))
    })
}

/// The address range of a line that opens a mapping (`start-end perms ...`); `None` for the
/// lines of its fields (`Rss:   8 kB`).
fn mapping_range(line: &str) -> Option<(u64, u64)> {
    let (start, end) = line.split_whitespace().next()?.split_once('-')?;
    Some((u64::from_str_radix(start, 16).ok()?, u64::from_str_radix(end, 16).ok()?))
}
