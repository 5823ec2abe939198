//! A server that owns its `TcpListener`, reads and routes each request itself, and hands only the
//! event stream at `/events` to bare-sse. A thread publishes the uptime every two seconds.
//!
//! Run: `cargo run --example embed [PORT]` (default 8124), then
//! `curl -N http://127.0.0.1:8124/events` and `curl http://127.0.0.1:8124/`.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use bare_sse::http::{HeadLimits, HeadRead, HeadReader, RequestHead, RequestHeads};
use bare_sse::server::serve_request;
use bare_sse::{Event, Hub, Request};

#[path = "common/mod.rs"]
mod common;

fn main() -> std::process::ExitCode {
    let port = common::port_arg(1, 8124, "embed [PORT]");
    common::run("embed", || serve(port))
}

fn serve(port: u16) -> Result<(), Box<dyn std::error::Error>> {
    let hub = Hub::new();
    let publisher = hub.clone();
    let started = Instant::now();
    thread::spawn(move || loop {
        thread::sleep(Duration::from_secs(2));
        let _ = publisher.send_new_event(Event::new().data(format!("up {} s", started.elapsed().as_secs())));
    });

    let listener = TcpListener::bind(("127.0.0.1", port))?;
    println!("listening on http://{}/ (the stream is /events)", listener.local_addr()?);
    for socket in listener.incoming() {
        let socket = socket?;
        let hub = hub.clone();
        thread::spawn(move || {
            // The program reads the whole head (however it arrives in pieces) and routes on the
            // parsed path, so `/eventsfoo` is not the stream.
            let Ok((head, mut socket)) = read_head(socket) else { return };
            if head.path == "/events" {
                serve_request(socket, Request::new(head, Vec::new()), hub);
            } else {
                let body = "this program answers / itself; its event stream is at /events\n";
                let response =
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                let _ = socket.write_all(response.as_bytes());
            }
        });
    }
    Ok(())
}

/// Reads a request head with the crate's head reader, within 5 seconds.
fn read_head(mut socket: TcpStream) -> std::io::Result<(RequestHead, TcpStream)> {
    socket.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = HeadReader::new(RequestHeads(HeadLimits::default()));
    loop {
        if reader.read_from(&mut socket)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        match reader.poll() {
            Ok(HeadRead::Complete { head, .. }) => {
                socket.set_read_timeout(None)?;
                return Ok((*head, socket));
            }
            Ok(HeadRead::Partial) => {}
            Err(error) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, error)),
        }
    }
}
