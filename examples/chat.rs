//! A chat on one port: the page at `/`, messages posted to `/say`, and the stream of messages on
//! `/events`. The hub keeps the last 50 messages, so a tab opened later sees them.
//!
//! Run: `cargo run --example chat`, then open http://localhost:8123/ in two tabs.

use bare_sse::http::parse_query;
use bare_sse::server::{Request, Response};
use bare_sse::{Event, Hub, Server};

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>bare-sse chat</title>
<ul id="messages"></ul>
<form id="say"><input name="message" autocomplete="off" autofocus> <button>Send</button></form>
<script>
  const list = document.getElementById("messages");
  new EventSource("/events").onmessage = (e) => {
    const item = document.createElement("li");
    item.textContent = e.data;
    list.append(item);
  };
  document.getElementById("say").onsubmit = async (e) => {
    e.preventDefault();
    const body = new URLSearchParams(new FormData(e.target));
    e.target.reset();
    await fetch("/say", { method: "POST", body });
  };
</script>
"#;

/// The longest message accepted, in bytes.
const MAX_MESSAGE_BYTES: usize = 1000;

#[path = "common/mod.rs"]
mod common;

fn main() -> std::process::ExitCode {
    let port = common::port_arg(1, 8123, "chat [PORT]");
    common::run("chat", || serve(port))
}

fn serve(port: u16) -> Result<(), Box<dyn std::error::Error>> {
    let messages = Hub::builder().history_events(50).build();
    let hub = messages.clone();
    let server = Server::builder()
        .port(port)
        .route("/", |_: &Request| Response::html(PAGE))
        .route_hub("/events", messages.clone())
        .route_method("POST", "/say", move |request: &Request| say(&hub, request))
        .start()?;
    println!("chat on http://localhost:{}/", server.local_addr().port());
    std::thread::park(); // serve until Ctrl-C
    Ok(())
}

/// Reads `message=...` from a form body and broadcasts it.
fn say(messages: &Hub, request: &Request) -> Response {
    let form = request.body_text().and_then(|body| parse_query(body).ok()).unwrap_or_default();
    let message = form.iter().find(|(name, _)| name == "message").map(|(_, value)| value.trim());
    match message {
        Some(text) if !text.is_empty() && text.len() <= MAX_MESSAGE_BYTES => {
            // Message lines become data lines, so a message cannot inject fields.
            match messages.send_new_event(Event::new().data(text).with_id()) {
                Ok(()) => Response::no_content(),
                Err(e) => Response::text(e.to_string()).with_status(500),
            }
        }
        _ => Response::text("send a form field `message` of 1 to 1000 bytes\n").with_status(400),
    }
}
