//! Many tabs of one site in headless Chromium, past the six connections HTTP/1.1 allows per
//! origin: `SharedEventSource` (`bare_sse::shared_source`) gives eight tabs one connection, every
//! tab every event, and a change of leader that loses and repeats nothing; `bare-sse serve --page`
//! uses it. And the other answer: the README's nginx recipe, HTTP/2 to the browser. Skipped, with
//! the reason printed, where Chromium (or, for the recipe, nginx or openssl) is not installed.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use bare_sse::json::{self, Value};
use bare_sse::server::{Request, Response};
use bare_sse::{shared_source, Event, Hub, Server};
use common::chromium::{Chromium, Tab, BROWSER_TIMEOUT};
use common::READ_TIMEOUT;

const TABS: usize = 8;

/// Each tab records every `tick` event (data, lastEventId, own id); `opened` settles on the first
/// `open`, `finished` on the `done` event.
const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>tab</title>
<script src="/bare-sse/shared-source.js"></script>
<script>
  const received = [];
  const source = new SharedEventSource("/events");
  const opened = new Promise((resolve) => source.addEventListener("open", resolve, { once: true }));
  const finished = new Promise((resolve) => source.addEventListener("done", resolve, { once: true }));
  source.addEventListener("tick", (event) => received.push([event.data, event.lastEventId, event.id]));
</script>
"#;

fn tick(i: usize) -> Event {
    Event::new().event("tick").data(i.to_string()).with_id()
}

/// What every tab must have received: ticks 0..count with the hub's ids `7-1`, `7-2`, ...
fn expected_ticks(count: usize) -> Value {
    let ticks = (0..count).map(|i| {
        let id = Value::from(format!("7-{}", i + 1));
        Value::Array(vec![Value::from(i.to_string()), id.clone(), id])
    });
    Value::Array(ticks.collect())
}

fn received(browser: &mut Chromium, tab: &Tab) -> Value {
    let text = browser.evaluate(tab, "finished.then(() => JSON.stringify(received))").unwrap();
    json::parse(text.as_str().unwrap()).unwrap()
}

#[test]
fn eight_tabs_share_one_connection_and_a_new_leader_misses_and_repeats_nothing() {
    let Some(mut browser) = Chromium::start("eight-tabs", &[]) else { return };
    let hub = Hub::builder().id_epoch(7).build();
    let stream_requests = Arc::new(AtomicUsize::new(0));
    // Each stream request: when it came, and the id it resumes after.
    let (request_tx, stream_request) = mpsc::channel::<(Instant, Option<String>)>();
    let request_tx = Mutex::new(request_tx);
    let (counted, stream_hub) = (Arc::clone(&stream_requests), hub.clone());
    let server = Server::builder()
        .route("/", |_: &Request| Response::html(PAGE))
        .route_handler(shared_source::SCRIPT_PATH, shared_source::Script)
        .route("/events", move |request: &Request| {
            counted.fetch_add(1, Ordering::SeqCst);
            let resume = request.query_param("lastEventId").map(str::to_string);
            let _ = request_tx.lock().unwrap().send((Instant::now(), resume));
            Response::hub(stream_hub.clone())
        })
        .start()
        .unwrap();
    // Kept in the hub's history before any tab opens: tabs get them through the leader.
    for i in 0..5 {
        hub.send_new_event(tick(i)).unwrap();
    }

    // 127.0.0.1 is a secure context, as Web Locks need.
    let tabs: Vec<Tab> = (0..TABS).map(|i| browser.open(&format!("http://{}/?tab={i}", server.local_addr()))).collect();
    let leading: Vec<bool> = tabs
        .iter()
        .map(|tab| browser.evaluate(tab, "opened.then(() => source.leading)").unwrap().as_bool().unwrap())
        .collect();
    assert_eq!(leading.iter().filter(|&&l| l).count(), 1, "one leader: {leading:?}");
    assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT));
    assert_eq!(stream_requests.load(Ordering::SeqCst), 1, "eight tabs, one stream connection");
    assert_eq!(stream_request.recv_timeout(READ_TIMEOUT).unwrap().1, None, "the first tab reads from the start");

    // Events flow while the leading tab closes: some are in flight to the tabs, some are sent
    // while no tab is connected.
    let (halfway_tx, halfway) = mpsc::channel();
    let publisher_hub = hub.clone();
    let publisher = std::thread::spawn(move || {
        for i in 5..300 {
            publisher_hub.send_new_event(tick(i)).unwrap();
            if i == 100 {
                halfway_tx.send(()).unwrap();
            }
            std::thread::sleep(Duration::from_millis(2)); // a stream with events flowing
        }
        publisher_hub.send_new_event(Event::new().event("done").data("done").with_id()).unwrap();
    });
    halfway.recv_timeout(READ_TIMEOUT).unwrap();
    let leader = leading.iter().position(|&l| l).unwrap();
    let closed_at = Instant::now();
    browser.close(&tabs[leader]);
    let (took_over_at, resume) = stream_request.recv_timeout(BROWSER_TIMEOUT).expect("another tab takes over");
    let takeover = took_over_at - closed_at;
    // After the last event it received: one sent after the first connection opened.
    let resumed_after = resume.as_deref().and_then(|id| id.strip_prefix("7-")?.parse::<usize>().ok());
    assert!(resumed_after.is_some_and(|n| n > 5), "the new leader resumes where it was: {resume:?}");
    publisher.join().unwrap();

    let expected = expected_ticks(300);
    for (i, tab) in tabs.iter().enumerate().filter(|&(i, _)| i != leader) {
        assert_eq!(received(&mut browser, tab), expected, "tab {i}: every event once, in order");
    }
    assert_eq!(stream_requests.load(Ordering::SeqCst), 2, "one takeover, one new connection");
    let leaders = tabs.iter().enumerate().filter(|&(i, _)| i != leader);
    let leaders = leaders.filter(|(_, tab)| browser.evaluate(tab, "source.leading").unwrap().as_bool().unwrap());
    assert_eq!(leaders.count(), 1);
    println!("takeover: the new leader connected {} ms after the leading tab was closed", takeover.as_millis());
    // The promise is a second; measured: 40 to 360 ms on 2 cores with a load average up to 20.
    assert!(takeover < Duration::from_secs(1), "takeover took {takeover:?}");
}

#[test]
fn a_tab_opened_later_catches_up_on_what_the_tabs_received() {
    let Some(mut browser) = Chromium::start("late-tab", &[]) else { return };
    let hub = Hub::builder().id_epoch(7).build();
    let server = Server::builder()
        .route("/", |_: &Request| Response::html(PAGE))
        .route_handler(shared_source::SCRIPT_PATH, shared_source::Script)
        .route_hub("/events", hub.clone())
        .start()
        .unwrap();
    let url = format!("http://{}/", server.local_addr());
    let first = browser.open(&url);
    assert_eq!(browser.evaluate(&first, "opened.then(() => source.leading)").unwrap().as_bool(), Some(true));
    for i in 0..3 {
        hub.send_new_event(tick(i)).unwrap();
    }
    // An event without an id is live only, as the hub sends it: a later tab does not get it.
    hub.send_new_event(Event::new().event("tick").data("live only")).unwrap();
    let seen = "new Promise((resolve) => { const check = () => received.length === 4 ? resolve() : setTimeout(check, 10); check(); })";
    browser.evaluate(&first, seen).unwrap();

    let later = browser.open(&url);
    assert_eq!(browser.evaluate(&later, "opened.then(() => source.leading)").unwrap().as_bool(), Some(false));
    hub.send_new_event(tick(3)).unwrap();
    hub.send_new_event(Event::new().event("done").data("done").with_id()).unwrap();
    assert_eq!(received(&mut browser, &later), expected_ticks(4), "the kept events, then live ones");
    let with_the_live_one = received(&mut browser, &first);
    assert_eq!(with_the_live_one.as_array().unwrap().len(), 5);
    assert_eq!(hub.clients(), 1);
}

/// `bare-sse serve --page`: eight tabs of its page show every line, through one tab's connection.
#[test]
fn serve_page_holds_one_connection_for_eight_tabs() {
    let Some(mut browser) = Chromium::start("serve-page", &[]) else { return };
    let serve = Command::new(env!("CARGO_BIN_EXE_bare-sse"))
        .args(["serve", "--port", "0", "--lines", "--auto-id", "--page", "--exit-at-end"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut serve = Killed(serve);
    let mut stderr = std::io::BufReader::new(serve.0.stderr.take().unwrap());
    let mut line = String::new();
    let page = loop {
        line.clear();
        assert!(std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0, "serve printed no page URL");
        if let Some(url) = line.trim().strip_prefix("bare-sse: page at ") {
            break url.to_string();
        }
    };
    let mut input = serve.0.stdin.take().unwrap();
    writeln!(input, "before the tabs").unwrap();

    let tabs: Vec<Tab> = (0..TABS).map(|_| browser.open(&page)).collect();
    // Waits, in the page, until its log shows `text`.
    let shows = |text: &str| {
        format!(
            "new Promise((resolve) => {{ const log = document.getElementById('log'); \
             const check = () => log.textContent.includes({text:?}) ? resolve(log.textContent) : setTimeout(check, 10); \
             check(); }})"
        )
    };
    for tab in &tabs {
        browser.evaluate(tab, &shows("before the tabs")).unwrap();
    }
    writeln!(input, "after the tabs").unwrap();
    input.flush().unwrap();
    let mut leaders = 0;
    for tab in &tabs {
        let log = browser.evaluate(tab, &shows("after the tabs")).unwrap();
        // Each line once, with its id (`<epoch>-<n>`).
        let lines: Vec<&str> = log.as_str().unwrap().lines().collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        for (line, (n, text)) in lines.iter().zip([(1, "before the tabs"), (2, "after the tabs")]) {
            assert!(line.starts_with('[') && line.ends_with(&format!("-{n}] {text}")), "{line}");
        }
        leaders += browser.evaluate(tab, "source.leading").unwrap().as_bool().unwrap() as usize;
    }
    assert_eq!(leaders, 1, "one tab holds the stream for all eight");
}

/// A child process, killed when the test ends, failed or not.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A page that reads the stream with the browser's own `EventSource`, one connection per tab.
const PLAIN_PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>tab</title>
<script>
  const received = [];
  const source = new EventSource("/events");
  const opened = new Promise((resolve) => source.addEventListener("open", resolve, { once: true }));
  const finished = new Promise((resolve) => source.addEventListener("done", resolve, { once: true }));
  source.addEventListener("tick", (event) => received.push([event.data, event.lastEventId, event.lastEventId]));
</script>
"#;

/// The README's nginx recipe, with this test's address, host name and certificate.
fn readme_nginx_server_block(listen: u16, upstream: SocketAddr, certificate: &Path, key: &Path) -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme.find("```nginx\n").expect("the README has an nginx block") + "```nginx\n".len();
    let block = &readme[start..][..readme[start..].find("```").unwrap()];
    let mut block = block.to_string();
    for (from, to) in [
        ("listen 443 ", format!("listen 127.0.0.1:{listen} ")),
        ("server_name example.com", "server_name 127.0.0.1".to_string()),
        ("/etc/ssl/certs/example.com.pem", certificate.display().to_string()),
        ("/etc/ssl/private/example.com.key", key.display().to_string()),
        ("http://127.0.0.1:8122", format!("http://{upstream}")),
    ] {
        assert!(block.contains(from), "the README's nginx block has `{from}`");
        block = block.replace(from, &to);
    }
    block
}

/// nginx running the README's recipe in a directory of its own, stopped when dropped.
struct Nginx {
    child: Child,
    directory: PathBuf,
}

impl Nginx {
    /// `None`, with the reason printed, when nginx or openssl is missing.
    fn start(upstream: SocketAddr) -> Option<(Nginx, u16)> {
        let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().find(|p| Path::new(p).exists());
        let Some(nginx) = nginx else {
            println!("skipped: nginx is not installed (apt-get install nginx-light), so the recipe cannot be run");
            return None;
        };
        let directory = std::env::temp_dir().join(format!("bare-sse-nginx-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).unwrap();
        let (certificate, key) = (directory.join("cert.pem"), directory.join("key.pem"));
        let made = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
            .args(["-days", "1", "-subj", "/CN=127.0.0.1", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&certificate)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !made.is_ok_and(|status| status.success()) {
            println!("skipped: openssl could not make a test certificate, which HTTP/2 in a browser needs");
            return None;
        }
        // A port the system just gave out and took back: free, barring a race with another program.
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let server = readme_nginx_server_block(port, upstream, &certificate, &key);
        let temp = directory.display();
        let config = format!(
            "daemon off;\nmaster_process off;\npid {temp}/nginx.pid;\nerror_log {temp}/error.log;\n\
             events {{}}\nhttp {{\n  access_log off;\n  client_body_temp_path {temp}/body;\n  \
             proxy_temp_path {temp}/proxy;\n  fastcgi_temp_path {temp}/fastcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n  \
             scgi_temp_path {temp}/scgi;\n{server}}}\n"
        );
        std::fs::write(directory.join("nginx.conf"), config).unwrap();
        let child = Command::new(nginx)
            .arg("-p")
            .arg(&directory)
            .arg("-c")
            .arg(directory.join("nginx.conf"))
            .arg("-e")
            .arg(directory.join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let nginx = Nginx { child, directory };
        let deadline = Instant::now() + READ_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            let log = std::fs::read_to_string(nginx.directory.join("error.log")).unwrap_or_default();
            assert!(Instant::now() < deadline, "nginx never listened: {log}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some((nginx, port))
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

/// The other answer to the six-connection limit: HTTP/2 between the browser and a proxy. Eight
/// tabs, each with its own plain `EventSource`, all load through the README's nginx recipe.
#[test]
fn eight_tabs_with_their_own_event_sources_load_through_nginx_over_http2() {
    let hub = Hub::builder().id_epoch(7).build();
    let server = Server::builder()
        .route("/", |_: &Request| Response::html(PLAIN_PAGE))
        .route_hub("/events", hub.clone())
        .start()
        .unwrap();
    let Some((_nginx, port)) = Nginx::start(server.local_addr()) else { return };
    let Some(mut browser) = Chromium::start("nginx-http2", &["--ignore-certificate-errors"]) else { return };
    for i in 0..3 {
        hub.send_new_event(tick(i)).unwrap();
    }
    let tabs: Vec<Tab> = (0..TABS).map(|i| browser.open(&format!("https://127.0.0.1:{port}/?tab={i}"))).collect();
    let protocol = "opened.then(() => performance.getEntriesByType('navigation')[0].nextHopProtocol)";
    for tab in &tabs {
        assert_eq!(browser.evaluate(tab, protocol).unwrap().as_str(), Some("h2"));
    }
    assert!(hub.wait_until_clients(|n| n == TABS, READ_TIMEOUT), "one stream per tab, between nginx and the server");
    for i in 3..6 {
        hub.send_new_event(tick(i)).unwrap();
    }
    hub.send_new_event(Event::new().event("done").data("done").with_id()).unwrap();
    for (i, tab) in tabs.iter().enumerate() {
        assert_eq!(received(&mut browser, tab), expected_ticks(6), "tab {i}");
    }
}

/// The script's event-stream parser against the library's (`bare_sse::parse::Parser`), on the
/// standard's corner cases, each fed to Chromium whole, a byte at a time and in random splits
/// (decoded as the leader decodes a response: a streaming `TextDecoder`).
#[test]
fn the_scripts_parser_reads_what_the_library_parser_reads_in_any_split() {
    let Some(mut browser) = Chromium::start("shared-source-parser", &[]) else { return };
    let server = Server::builder()
        .route("/", |_: &Request| Response::html("<script src=\"/bare-sse/shared-source.js\"></script>"))
        .route_handler(shared_source::SCRIPT_PATH, shared_source::Script)
        .start()
        .unwrap();
    let page = browser.open(&format!("http://{}/", server.local_addr()));
    let inputs: [&[u8]; 18] = [
        b"data: a\n\n",
        "\u{feff}data: after a BOM\n\n".as_bytes(),
        b"data:a\r\ndata: b\r\n\r\n",
        b"data: cr\r\rdata: x\r\r",
        b": a comment\ndata: c\n\n",
        b"data\n\ndata:\n\n",
        b"data:  two spaces\n\n",
        b"id: 1\ndata: x\n\nid: 2\0z\ndata: y\n\ndata: z\n\n",
        b"retry: 1500\ndata: r\n\nretry: 15x\ndata: s\n\n",
        b"event: custom\ndata: t\n\nevent:\ndata: u\n\n",
        b"event: only\n\ndata: v\n\n",
        "data: é€😀\n\n".as_bytes(),
        b"data: \xff\xfe\xc3 and \xe2\x82\n\n",
        b"id\ndata: w\n\n",
        b"data: first\ndata: second\n\ndata: unfinished",
        b"id: 5\n\ndata: after an id alone\n\n",
        b"\r\n\n\rdata: after blank lines\n\n",
        b"DATA: not data\ndata : not data either\nfoo: bar\ndata: kept\n\n",
    ];
    let mut rng = common::Rng::new(0x7ab5);
    let mut cases = Vec::new();
    let mut expected = Vec::new();
    for input in inputs {
        let mut parser = bare_sse::parse::Parser::new();
        parser.feed(input).unwrap();
        let events = std::iter::from_fn(|| parser.next_event())
            .map(|e| Value::Array(vec![e.event.into(), e.data.into(), e.last_event_id.into()]))
            .collect();
        let retry = parser.retry().map_or(Value::Null, |retry| Value::from(retry.as_millis() as i64));
        let outcome = Value::Object(vec![("events".into(), Value::Array(events)), ("retry".into(), retry)]);
        let mut splittings = vec![Vec::new(), (1..input.len()).collect::<Vec<_>>()];
        for _ in 0..20 {
            let mut cuts: Vec<usize> = (0..rng.below(input.len())).map(|_| rng.below(input.len() + 1)).collect();
            cuts.sort_unstable();
            splittings.push(cuts);
        }
        for cuts in splittings {
            let bytes = Value::Array(input.iter().map(|&b| Value::from(b as i64)).collect());
            let cuts = Value::Array(cuts.into_iter().map(|c| Value::from(c as i64)).collect());
            cases.push(Value::Object(vec![("bytes".into(), bytes), ("cuts".into(), cuts)]));
            expected.push(outcome.clone());
        }
    }
    let run = format!(
        "JSON.stringify(({}).map(({{ bytes, cuts }}) => {{
            const events = [];
            let retry = null;
            const parser = new SharedEventSource.StreamParser(
                (event) => events.push([event.type, event.data, event.lastEventId]), (ms) => (retry = ms));
            const decoder = new TextDecoder();
            const all = Uint8Array.from(bytes);
            let start = 0;
            for (const end of [...cuts, all.length]) {{
                parser.feed(decoder.decode(all.subarray(start, end), {{ stream: true }}));
                start = end;
            }}
            parser.feed(decoder.decode());
            return {{ events, retry }};
        }}))",
        Value::Array(cases.clone())
    );
    let outcomes = browser.evaluate(&page, &run).unwrap();
    let outcomes = json::parse(outcomes.as_str().unwrap()).unwrap();
    assert_eq!(outcomes.as_array().unwrap().len(), cases.len());
    for ((case, outcome), expected) in cases.iter().zip(outcomes.as_array().unwrap()).zip(&expected) {
        assert_eq!(outcome, expected, "{case}");
    }
}

/// A stream that fails for good (here a 404) closes the source in every tab, with an error event,
/// as it closes an `EventSource`: no tab goes on trying.
#[test]
fn a_stream_that_fails_for_good_closes_every_tab() {
    let Some(mut browser) = Chromium::start("shared-source-404", &[]) else { return };
    let page = PAGE.replace("\"/events\"", "\"/missing\"");
    let server = Server::builder()
        .route("/", move |_: &Request| Response::html(page.clone()))
        .route_handler(shared_source::SCRIPT_PATH, shared_source::Script)
        .start()
        .unwrap();
    let url = format!("http://{}/", server.local_addr());
    let tabs: Vec<Tab> = (0..3).map(|_| browser.open(&url)).collect();
    let closed = "source.readyState === SharedEventSource.CLOSED || new Promise((resolve) => \
        source.addEventListener('error', () => source.readyState === SharedEventSource.CLOSED && resolve(true)))";
    for tab in &tabs {
        assert_eq!(browser.evaluate(tab, closed).unwrap().as_bool(), Some(true));
        assert_eq!(browser.evaluate(tab, "source.leading").unwrap().as_bool(), Some(false));
    }
}
