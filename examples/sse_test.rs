//! The demo: a page on http://localhost:8080 that shows the event stream served on port 8122.
//!
//! The page and the stream are on different ports, so the browser treats the stream as another
//! origin: CORS is real here. Type a line and press Enter to send it to every open tab. Type
//! `id <text>` to send it with an id: it is kept, so a tab opened later still shows it. End with
//! Ctrl-D (end of input) or Ctrl-C.
//!
//! Run: `cargo run --example sse_test`

use std::io::BufRead;

use bare_sse::{start_sse_tcp_port, Event, Request, Response, Server};

const PAGE_PORT: u16 = 8080;
const STREAM_PORT: u16 = 8122;

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>bare-sse demo</title>
<h1>bare-sse demo</h1>
<p>Events from <code>http://localhost:8122/</code>, one per line:</p>
<textarea id="log" rows="20" cols="80" readonly></textarea>
<script>
  const log = document.getElementById("log");
  const source = new EventSource("http://" + location.hostname + ":8122/");
  source.onmessage = (e) => { log.value += (e.lastEventId ? "[" + e.lastEventId + "] " : "") + e.data + "\n"; };
  source.onerror = () => { log.value += "(connection lost, reconnecting)\n"; };
</script>
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = start_sse_tcp_port(STREAM_PORT)?;
    let _page = Server::builder().port(PAGE_PORT).route("/", |_: &Request| Response::html(PAGE)).start()?;
    println!("Open http://localhost:{PAGE_PORT}/ in a browser (the stream is on port {STREAM_PORT}).");
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
