//! Prints every event of a stream. Run `cargo run --example sse_test` in another terminal, then:
//! `cargo run --example listen -- http://127.0.0.1:8122/`
use bare_sse::EventSource;

#[path = "common/mod.rs"]
mod common;

fn main() -> std::process::ExitCode {
    let url = std::env::args().nth(1).unwrap_or_else(|| "http://127.0.0.1:8122/".to_string());
    common::run("listen", || {
        for event in EventSource::new(&url)?.filter_map(Result::ok) {
            println!("[{}] {}: {}", event.last_event_id, event.event, event.data);
        }
        Ok(())
    })
}
