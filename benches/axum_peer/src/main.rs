//! A small Datastar action in axum, as its users write one: read the signals from the JSON body,
//! answer with one `datastar-patch-signals` event over SSE. Usage: `axum-peer PORT` (it prints
//! `listening` once bound).

use std::convert::Infallible;

use axum::response::sse::{Event, Sse};
use axum::routing::post;
use axum::{Json, Router};
use futures_util::stream::{self, Stream};
use serde_json::Value;

async fn action(Json(signals): Json<Value>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let count = signals.get("count").and_then(Value::as_i64).unwrap_or(0);
    let data = format!("signals {{\"count\":{}}}", count + 1);
    Sse::new(stream::iter([Ok(Event::default().event("datastar-patch-signals").data(data))]))
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    println!("listening {}", listener.local_addr().expect("address").port());
    axum::serve(listener, Router::new().route("/action", post(action))).await.expect("serve");
}
