//! The Datastar SDK test server: answers `GET /test?datastar=…` and `POST /test` (JSON body) with
//! the events the request describes, so the Datastar SDK test suite can check bare-sse's bytes.
//!
//! Run: `cargo run --example datastar_sdk_test [PORT]` (default 7331), then the suite against it.

use std::time::Duration;

use bare_sse::datastar::{self, ElementOptions, Mode, Namespace, ScriptOptions, SignalOptions};
use bare_sse::json::Value;
use bare_sse::server::{Request, Response};
use bare_sse::{Event, Server, ServerBuilder};

#[path = "common/mod.rs"]
mod common;

fn main() -> std::process::ExitCode {
    let port = common::port_arg(1, 7331, "datastar_sdk_test [PORT]");
    common::run("datastar_sdk_test", || {
        let server = routes(Server::builder().port(port)).start()?;
        println!("Datastar SDK test server on http://{}/test", server.local_addr());
        std::thread::park(); // serve until Ctrl-C
        Ok(())
    })
}

/// The `/test` route on a server builder.
pub fn routes(builder: ServerBuilder) -> ServerBuilder {
    builder.route("/test", answer_test_request)
}

fn answer_test_request(request: &Request) -> Response {
    let events =
        datastar::read_signals(request).map_err(|e| e.to_string()).and_then(|input| events_from_test_input(&input));
    match events {
        // Every event is known now: they leave in one write, with the head and the body's end.
        Ok(events) => {
            datastar::events_response(&events).unwrap_or_else(|e| Response::text(format!("{e}\n")).with_status(400))
        }
        Err(message) => Response::text(format!("{message}\n")).with_status(400),
    }
}

/// Builds the events the test suite's JSON describes: `{"events": [...]}`, each with a `type`
/// (`patchElements`, `patchSignals`, `executeScript`, and also `removeElements`, `removeSignals`)
/// and its options by their specification names (`elements`, `selector`, `mode`,
/// `useViewTransition`, `viewTransitionSelector`, `namespace`, `signals`, `signals-raw`, `onlyIfMissing`, `script`,
/// `autoRemove`, `attributes`, `paths`, `eventId`, `retryDuration`).
pub fn events_from_test_input(input: &Value) -> Result<Vec<Event>, String> {
    let events = input.get("events").and_then(Value::as_array).ok_or("the input has no `events` array")?;
    events.iter().map(event_from_test_spec).collect()
}

fn event_from_test_spec(spec: &Value) -> Result<Event, String> {
    let text = |name: &str| spec.get(name).and_then(Value::as_str);
    let flag = |name: &str| spec.get(name).and_then(Value::as_bool);
    let event = match text("type").ok_or("an event has no `type`")? {
        kind @ ("patchElements" | "removeElements") => {
            let mut options = ElementOptions::new();
            if let Some(selector) = text("selector") {
                options = options.selector(selector);
            }
            if let Some(mode) = text("mode") {
                options = options.mode(Mode::from_name(mode).ok_or(format!("unknown mode {mode:?}"))?);
            }
            if kind == "removeElements" {
                options = options.mode(Mode::Remove);
            }
            if let Some(namespace) = text("namespace") {
                let namespace = Namespace::from_name(namespace).ok_or(format!("unknown namespace {namespace:?}"))?;
                options = options.namespace(namespace);
            }
            options = options.use_view_transition(flag("useViewTransition").unwrap_or(false));
            if let Some(selector) = text("viewTransitionSelector") {
                options = options.view_transition_selector(selector);
            }
            datastar::patch_elements(text("elements").unwrap_or(""), options)
        }
        "patchSignals" | "removeSignals" => {
            let options = SignalOptions::new().only_if_missing(flag("onlyIfMissing").unwrap_or(false));
            if let Some(paths) = spec.get("paths").and_then(Value::as_array) {
                let paths: Vec<&str> = paths.iter().filter_map(Value::as_str).collect();
                datastar::remove_signals(&paths, options)
            } else if let Some(raw) = text("signals-raw") {
                datastar::patch_signals(raw, options)
            } else {
                datastar::patch_signals(spec.get("signals").ok_or("a patchSignals event has no `signals`")?, options)
            }
        }
        "executeScript" => {
            let mut options = ScriptOptions::new().auto_remove(flag("autoRemove").unwrap_or(true));
            for (name, value) in spec.get("attributes").and_then(Value::as_object).unwrap_or_default() {
                let value = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                options = options.attribute(name.clone(), value);
            }
            datastar::execute_script(text("script").ok_or("an executeScript event has no `script`")?, options)
        }
        other => return Err(format!("unknown event type {other:?}")),
    };
    let mut event = event.map_err(|e| e.to_string())?;
    if let Some(id) = text("eventId") {
        event = event.id(id);
    }
    // Datastar's own default is left out, as every SDK does.
    let retry = spec.get("retryDuration").and_then(Value::as_i64).and_then(|ms| u64::try_from(ms).ok());
    if let Some(retry) = retry.map(Duration::from_millis).filter(|&r| r != datastar::DEFAULT_RETRY) {
        event = event.retry(retry);
    }
    // An id that cannot be sent (a line break in it) is refused here, with the others' errors:
    // found only while streaming, it would end the stream there, after a `200`.
    event.validate().map_err(|e| e.to_string())?;
    Ok(event)
}
