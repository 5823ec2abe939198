//! The Datastar SDK test server: answers `GET /test?datastar=…` and `POST /test` (JSON body) with
//! the events the request describes, so the Datastar SDK test suite can check bare-sse's bytes.
//!
//! Run: `cargo run --example datastar_sdk_test [PORT]` (default 7331), then the suite against it.

use bare_sse::datastar;
use bare_sse::server::{Request, Response};
use bare_sse::{Server, ServerBuilder};

fn main() -> Result<(), bare_sse::Error> {
    let port = std::env::args().nth(1).map_or(Ok(7331), |p| p.parse()).unwrap_or_else(|_| {
        eprintln!("usage: datastar_sdk_test [PORT]");
        std::process::exit(2);
    });
    let server = routes(Server::builder().port(port)).start()?;
    println!("Datastar SDK test server on http://{}/test", server.local_addr());
    std::thread::park(); // serve until Ctrl-C
    Ok(())
}

/// The `/test` route on a server builder.
pub fn routes(builder: ServerBuilder) -> ServerBuilder {
    builder.route("/test", answer_test_request)
}

fn answer_test_request(request: &Request) -> Response {
    let events = datastar::read_signals(request)
        .map_err(|e| e.to_string())
        .and_then(|input| datastar::events_from_test_input(&input).map_err(|e| e.to_string()));
    match events {
        Ok(events) => datastar::response(move |stream| {
            let _ = stream.send_iter(&events);
        }),
        Err(message) => Response::text(format!("{message}\n")).with_status(400),
    }
}
