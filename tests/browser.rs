//! A real browser: headless Chromium's `EventSource` reads a hub route that compresses its events
//! with gzip, history and live events both. Skipped, with the reason printed, where Chromium is not
//! installed (`.ci/run` installs Debian's `chromium`).

mod common;

use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;

use bare_sse::server::{Request, Response};
use bare_sse::{Event, Hub, Server};
use common::chromium::BROWSER_TIMEOUT;

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>gzip events</title>
<script>
  const received = [];
  const source = new EventSource("/events");
  source.addEventListener("open", () => fetch("/ready", { method: "POST" }));
  source.addEventListener("update", (event) => {
    received.push(event.data);
    if (received.length === 6) {
      source.close();
      fetch("/report", { method: "POST", body: JSON.stringify(received) });
    }
  });
</script>
"#;

#[test]
fn chromium_event_source_reads_gzip_events_from_a_hub() {
    let Some(browser) = common::chromium::installed() else {
        println!("skipped: Chromium is not installed (apt-get install chromium), so no browser can read the stream");
        return;
    };
    let hub = Hub::builder().gzip(6).build();
    let (ready_tx, ready) = mpsc::channel::<()>();
    let (report_tx, report) = mpsc::channel::<String>();
    let (encoding_tx, encoding) = mpsc::channel::<Option<String>>();
    let (ready_tx, report_tx, encoding_tx) = (Mutex::new(ready_tx), Mutex::new(report_tx), Mutex::new(encoding_tx));
    let stream_hub = hub.clone();
    let server = Server::builder()
        .route("/", |_: &Request| Response::html(PAGE))
        .route("/events", move |request: &Request| {
            let _ = encoding_tx.lock().unwrap().send(request.header("accept-encoding").map(str::to_string));
            Response::hub(stream_hub.clone())
        })
        .route_method("POST", "/ready", move |_: &Request| {
            let _ = ready_tx.lock().unwrap().send(());
            Response::no_content()
        })
        .route_method("POST", "/report", move |request: &Request| {
            let _ = report_tx.lock().unwrap().send(request.body_text().unwrap_or_default().to_string());
            Response::no_content()
        })
        .start()
        .unwrap();
    let region = |i: usize| format!("<main id=\"m\">{}</main>", format!("row {i} ").repeat(40));
    for i in 0..3 {
        hub.send_new_event(Event::new().event("update").data(region(i)).with_id()).unwrap();
    }

    let profile = std::env::temp_dir().join(format!("bare-sse-chromium-{}", std::process::id()));
    let mut child = Command::new(browser)
        .args(common::chromium::FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("http://{}/", server.local_addr()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let result = (|| {
        let accepted = encoding.recv_timeout(BROWSER_TIMEOUT).map_err(|_| "Chromium never opened the stream")?;
        ready.recv_timeout(BROWSER_TIMEOUT).map_err(|_| "the stream never opened")?;
        for i in 3..6 {
            hub.send_new_event(Event::new().event("update").data(region(i)).with_id()).unwrap();
        }
        let received = report.recv_timeout(BROWSER_TIMEOUT).map_err(|_| "the page never reported")?;
        Ok::<_, &str>((accepted, received))
    })();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&profile);
    let (accepted, received) = result.unwrap();
    assert!(accepted.as_deref().is_some_and(|a| a.contains("gzip")), "Chromium offers gzip: {accepted:?}");
    let expected: Vec<String> = (0..6).map(region).collect();
    let expected = bare_sse::json::Value::Array(expected.into_iter().map(bare_sse::json::Value::from).collect());
    assert_eq!(bare_sse::json::parse(&received).unwrap(), expected);
}
