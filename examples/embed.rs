//! A server that owns its `TcpListener` and answers most requests itself, handing only the event
//! stream at `/events` to bare-sse. A thread publishes the uptime every two seconds.
//!
//! Run: `cargo run --example embed`, then `curl -N http://127.0.0.1:8124/events` and
//! `curl http://127.0.0.1:8124/`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use bare_sse::server::serve_connection;
use bare_sse::{Event, Hub};

fn main() -> std::io::Result<()> {
    let hub = Hub::new();
    let publisher = hub.clone();
    let started = Instant::now();
    thread::spawn(move || loop {
        thread::sleep(Duration::from_secs(2));
        let _ = publisher.send_new_event(Event::new().data(format!("up {} s", started.elapsed().as_secs())));
    });

    let listener = TcpListener::bind("127.0.0.1:8124")?;
    println!("listening on http://{}/ (the stream is /events)", listener.local_addr()?);
    for socket in listener.incoming() {
        let socket = socket?;
        let hub = hub.clone();
        thread::spawn(move || {
            // Look at the request line without consuming it, so bare-sse can read the request.
            let mut start = [0u8; 16];
            let seen = socket.peek(&mut start).unwrap_or(0);
            if start[..seen].starts_with(b"GET /events") {
                serve_connection(socket, hub);
            } else {
                let _ = answer_myself(socket);
            }
        });
    }
    Ok(())
}

/// The program's own handling: read the request head, answer with a line of text.
fn answer_myself(mut socket: TcpStream) -> std::io::Result<()> {
    socket.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
        if socket.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let body = "this program answers / itself; its event stream is at /events\n";
    let response = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    socket.write_all(response.as_bytes())
}
