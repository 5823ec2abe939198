//! The countdown demo: a page at http://localhost:8090/ counts down from 30 with a custom event
//! type. Each connection sends at most 10 events and hangs up; the browser reconnects on its own
//! and sends `Last-Event-ID`, so the count resumes where it stopped instead of starting over. At 0
//! the server answers `204 No Content`, which tells the browser to stop for good.
//!
//! It is written on a plain `TcpListener` with bare-sse's request parser and `write_event`: the
//! pieces a program needs to speak SSE from a server of its own.
//!
//! Run: `cargo run --example countdown`

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use bare_sse::http::{response_head, HeadLimits, HeadRead, HeadReader, RequestHead, RequestHeads};
use bare_sse::{write_event, Event};

const START: u32 = 30;
const EVENTS_PER_CONNECTION: u32 = 10;

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>countdown</title>
<h1 id="count">…</h1>
<p id="log"></p>
<script>
  const source = new EventSource("/countdown");
  source.addEventListener("countdown", (e) => { document.getElementById("count").textContent = e.data; });
  source.onerror = () => { document.getElementById("log").textContent += "reconnecting… "; };
</script>
"#;

#[path = "common/mod.rs"]
mod common;

fn main() -> std::process::ExitCode {
    let port = common::port_arg(1, 8090, "countdown [PORT]");
    common::run("countdown", || {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        println!("Open http://localhost:{}/ and watch the count survive reconnections.", listener.local_addr()?.port());
        for socket in listener.incoming().flatten() {
            thread::spawn(move || {
                if let Err(e) = serve(socket) {
                    eprintln!("connection ended: {e}");
                }
            });
        }
        Ok(())
    })
}

fn serve(mut socket: TcpStream) -> std::io::Result<()> {
    let head = read_head(&mut socket)?;
    if head.path != "/countdown" {
        let length = PAGE.len().to_string();
        let headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", length.as_str())];
        socket.write_all(&response_head(200, &headers))?;
        return socket.write_all(PAGE.as_bytes());
    }
    // The id of each event is the count it showed: resume just below it.
    let next = match head.header("last-event-id").and_then(|id| id.parse::<u32>().ok()) {
        // A 204 has no body, and so no Content-Length either (RFC 9110 §8.6).
        Some(0) => return socket.write_all(&response_head(204, &[])),
        Some(last) => last - 1,
        None => START,
    };
    let headers = [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"), ("Connection", "close")];
    socket.write_all(&response_head(200, &headers))?;
    write_event(&mut socket, &Event::new().retry(std::time::Duration::from_secs(1))).map_err(std::io::Error::from)?;
    let last = next.saturating_sub(EVENTS_PER_CONNECTION - 1);
    for count in (last..=next).rev() {
        let event = Event::new().event("countdown").id(count.to_string()).data(count.to_string());
        write_event(&mut socket, &event).map_err(std::io::Error::from)?;
        thread::sleep(Duration::from_millis(500));
    }
    Ok(()) // hang up: the browser reconnects after the retry delay
}

/// Reads a request head with the crate's head reader, within 10 seconds.
fn read_head(socket: &mut TcpStream) -> std::io::Result<RequestHead> {
    socket.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = HeadReader::new(RequestHeads(HeadLimits::default()));
    loop {
        if reader.read_from(socket)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        match reader.poll() {
            Ok(HeadRead::Complete { head, .. }) => return Ok(*head),
            Ok(HeadRead::Partial) => {}
            Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        }
    }
}
