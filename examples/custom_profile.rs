//! A write profile of your own: the shape a Brotli (or any other) encoder from a crate of yours
//! would take, shown with a toy coding that needs no crate. A client that offers `x-caps` in
//! `Accept-Encoding` gets the stream upper-cased; any other client gets it as it is.
//!
//! Run: `cargo run --example custom_profile [PORT]` (default 8126), then
//! `curl -N -H 'Accept-Encoding: x-caps' http://localhost:8126/` (and without the header).

use std::sync::Arc;
use std::time::Duration;

use bare_sse::compress::{BodyEncoder, WriteProfile};
use bare_sse::{Event, Request, Response, Server};

#[path = "common/mod.rs"]
mod common;

/// The profile: names the coding and makes one encoder per response.
struct Caps;

/// One response's encoder: called once per event (and heartbeat), in order.
struct CapsEncoder {
    events: usize,
}

impl WriteProfile for Caps {
    fn content_coding(&self) -> &str {
        "x-caps"
    }

    fn encoder(&self) -> Box<dyn BodyEncoder> {
        Box::new(CapsEncoder { events: 0 })
    }
}

impl BodyEncoder for CapsEncoder {
    fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        // A real encoder would compress here, and flush so that the client can decode this
        // event now: the server sends `out` at once.
        out.extend(input.iter().map(u8::to_ascii_uppercase));
        self.events += 1;
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        // What ends the coding (a trailer); here, a last comment.
        out.extend_from_slice(format!(": {} UNITS\n", self.events).as_bytes());
    }
}

fn main() -> std::process::ExitCode {
    let port = common::port_arg(1, 8126, "custom_profile [PORT]");
    common::run("custom_profile", || {
        let server = Server::builder()
            .port(port)
            .write_profile(Arc::new(Caps))
            .route("/", |_: &Request| {
                Response::stream(|stream| {
                    for i in 1..=3 {
                        if stream.send(&Event::new().data(format!("tick {i}"))).is_err() {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(500));
                    }
                })
            })
            .start()?;
        println!("streaming on http://{}/", server.local_addr());
        std::thread::park(); // serve until Ctrl-C
        Ok(())
    })
}
