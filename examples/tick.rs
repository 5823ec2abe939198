//! The Raku event source's demo: every client gets an event of type `tick` with the current time,
//! every second, fed to its stream from an iterator.
//!
//! Run: `cargo run --example tick [PORT]` (default 8122), then `curl -N http://127.0.0.1:8122/`

use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bare_sse::server::{Request, Response};
use bare_sse::{Event, Server};

#[path = "common/mod.rs"]
mod common;

fn main() -> std::process::ExitCode {
    let port = common::port_arg(1, 8122, "tick [PORT]");
    common::run("tick", || serve(port))
}

fn serve(port: u16) -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::builder()
        .port(port)
        .route("/", |_: &Request| {
            Response::stream(|stream| {
                let ticks = std::iter::repeat_with(|| {
                    thread::sleep(Duration::from_secs(1));
                    Event::new().event("tick").data(utc_time_now())
                });
                let _ = stream.send_iter(ticks); // ends when the client leaves
            })
        })
        .start()?;
    println!("ticking on http://{}/", server.local_addr());
    thread::park(); // serve until Ctrl-C
    Ok(())
}

/// `HH:MM:SS UTC`, from the system clock.
fn utc_time_now() -> String {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let of_day = seconds % 86_400;
    format!("{:02}:{:02}:{:02} UTC", of_day / 3600, of_day / 60 % 60, of_day % 60)
}
