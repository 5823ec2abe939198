//! The demo: a page on http://localhost:8080 that shows the event stream served on port 8122.
//!
//! The page and the stream are on different ports, so the browser treats the stream as another
//! origin: CORS is real here. Type a line and press Enter to send it to every open tab. Type
//! `id <text>` to send it with an id: it is kept, so a tab opened later still shows it. End with
//! Ctrl-D (end of input) or Ctrl-C.
//!
//! Run: `cargo run --example sse_test [PAGE_PORT] [STREAM_PORT]` (default 8080 and 8122)

use std::io::BufRead;

use bare_sse::{start_sse_tcp_port, Event, Request, Response, Server};

#[path = "common/mod.rs"]
mod common;

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>bare-sse demo</title>
<h1>bare-sse demo</h1>
<p>Events from <code>http://localhost:STREAM_PORT/</code>, one per line:</p>
<textarea id="log" rows="20" cols="80" readonly></textarea>
<script>
  const log = document.getElementById("log");
  const source = new EventSource("http://" + location.hostname + ":STREAM_PORT/");
  // lastEventId stays from the last event that had an id; the hub's ids never repeat, so a new
  // value is how this page knows that this event carried one.
  let lastId = "";
  source.onmessage = (e) => {
    const label = e.lastEventId && e.lastEventId !== lastId ? "[" + e.lastEventId + "] " : "";
    lastId = e.lastEventId;
    log.value += label + e.data + "\n";
  };
  source.onerror = () => { log.value += "(connection lost, reconnecting)\n"; };
</script>
"#;

fn main() -> std::process::ExitCode {
    let usage = "sse_test [PAGE_PORT] [STREAM_PORT]";
    let (page_port, stream_port) = (common::port_arg(1, 8080, usage), common::port_arg(2, 8122, usage));
    common::run("sse_test", || demo(page_port, stream_port))
}

fn demo(page_port: u16, stream_port: u16) -> Result<(), Box<dyn std::error::Error>> {
    let server = start_sse_tcp_port(stream_port)?;
    let page = PAGE.replace("STREAM_PORT", &stream_port.to_string());
    let _page = Server::builder()
        .port(page_port)
        .route("/", move |_: &Request| Response::html(page.as_str()))
        .route("/favicon.ico", |_: &Request| Response::no_content()) // no 404 in the console
        .start()?;
    println!("Open http://localhost:{page_port}/ in a browser (the stream is on port {stream_port}).");
    println!("Type a line to send it; `id <text>` sends it with an id, kept for tabs opened later.");

    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let event = match line.strip_prefix("id ") {
            Some(text) => Event::new().data(text).with_id(),
            None => Event::new().data(line),
        };
        server.send_new_event(event)?;
    }
    server.stop_with_event(Event::new().data("(server stopped)"))?;
    Ok(())
}
