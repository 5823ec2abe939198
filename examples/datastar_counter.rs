//! A Datastar app: a counter and a todo list, shared by every open tab.
//!
//! The pattern: each page opens one long-lived stream, `@get('/updates')`, when it loads. Buttons
//! and the form send `@post` actions; the server reads the signals they carry, updates its state,
//! and broadcasts the *whole* region (counter and list) as one event with an id through a hub
//! that keeps the latest one in its history. So a page that reconnects, or opens later, gets the
//! current region at once, and no update can be half-applied. After a server restart, a page
//! resuming with an id of the old run gets the hub's reset event, then the latest region.
//!
//! The region goes into the hub's history when the app starts, too: a page still open from a
//! previous run shows the new run's state as soon as it reconnects, not when someone first clicks.
//!
//! The page loads Datastar's browser library from its CDN (version pinned in
//! `bare_sse::datastar::CDN_URL`), or, on a machine without it, from a local copy given as the
//! second argument or in `DATASTAR_JS`, served at `/datastar.js`. The program says on start which
//! it loads, and the page says so when the library did not load (offline, the CDN is out of
//! reach, and without Datastar no button works).
//!
//! Run: `cargo run --example datastar_counter [PORT] [DATASTAR_JS]`, then open
//! http://localhost:8125/ in two tabs.

use std::sync::{Arc, Mutex, PoisonError};

use bare_sse::datastar::{self, action, DatastarStream, ElementOptions, SignalOptions};
use bare_sse::json::Value;
use bare_sse::server::{Request, Response};
use bare_sse::{Hub, Server, ServerBuilder};

/// Longest todo accepted, in characters.
const MAX_TODO_CHARS: usize = 200;

#[path = "common/mod.rs"]
mod common;

/// The environment variable that may name a local copy of Datastar's browser library.
const DATASTAR_JS_VAR: &str = "DATASTAR_JS";

fn main() -> std::process::ExitCode {
    let port = common::port_arg(1, 8125, "datastar_counter [PORT] [DATASTAR_JS]");
    common::run("datastar_counter", || {
        let local_copy = std::env::args().nth(2).or_else(|| std::env::var(DATASTAR_JS_VAR).ok());
        let mut app = App::new();
        if let Some(path) = local_copy {
            let script = std::fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
            app = app.with_local_datastar(script);
        }
        println!("{}", app.datastar_note());
        let server = routes(Server::builder().port(port), app).start()?;
        println!("open http://localhost:{}/", server.local_addr().port());
        std::thread::park(); // serve until Ctrl-C
        Ok(())
    })
}

/// The shared state and the hub that carries its changes to every page.
#[derive(Clone)]
pub struct App {
    state: Arc<Mutex<State>>,
    updates: Hub,
    /// Datastar's browser library, when served from here instead of the CDN.
    local_datastar: Option<Arc<str>>,
}

#[derive(Default)]
struct State {
    count: i64,
    todos: Vec<String>,
}

impl Default for App {
    fn default() -> App {
        App::new()
    }
}

impl App {
    pub fn new() -> App {
        // The latest region is all a page needs: history keeps one event.
        let app =
            App { state: Arc::default(), updates: Hub::builder().history_events(1).build(), local_datastar: None };
        // From the start, so that a page reconnecting to a new run (after a restart) gets it.
        app.broadcast();
        app
    }

    /// Serves `script` (Datastar's browser library) at `/datastar.js`, and loads it from there.
    pub fn with_local_datastar(mut self, script: String) -> App {
        self.local_datastar = Some(script.into());
        self
    }

    /// Where the page loads Datastar from, and how to give it a local copy: printed on start.
    pub fn datastar_note(&self) -> String {
        match &self.local_datastar {
            Some(_) => "Datastar: the local copy given, served at /datastar.js".to_string(),
            None => format!(
                "Datastar: the page loads {} from the CDN; offline, give a local copy of that file: \
                 datastar_counter PORT path/to/datastar.js, or {DATASTAR_JS_VAR}=path/to/datastar.js",
                datastar::CDN_URL
            ),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends the whole region, counter and list, to every page as one event, and keeps it for
    /// pages that connect or reconnect later.
    fn broadcast(&self) {
        let region = {
            let state = self.state();
            format!("{}\n{}", count_html(state.count), todo_list_html(&state.todos))
        };
        if let Ok(event) = datastar::patch_elements(&region, ElementOptions::new()) {
            let _ = self.updates.send_new_event(event.with_id());
        }
    }
}

/// The app's routes on a server builder.
pub fn routes(builder: ServerBuilder, app: App) -> ServerBuilder {
    let page_app = app.clone();
    let count_app = app.clone();
    let todo_app = app.clone();
    let mut builder = builder;
    if let Some(script) = app.local_datastar.clone() {
        builder = builder.route("/datastar.js", move |_: &Request| {
            Response::new(200).header("Content-Type", "text/javascript; charset=utf-8").body(script.as_bytes())
        });
    }
    builder
        .route("/", move |_: &Request| Response::html(page(&page_app)))
        .route_hub("/updates", app.updates.clone())
        .route_method("POST", "/increment", move |request: &Request| increment(&count_app, request))
        .route_method("POST", "/todos", move |request: &Request| add_todo(&todo_app, request))
}

/// Adds the `step` signal (default 1) to the counter.
fn increment(app: &App, request: &Request) -> Response {
    let signals = match datastar::read_signals(request) {
        Ok(signals) => signals,
        Err(e) => return Response::text(format!("{e}\n")).with_status(400),
    };
    let step = signals.get("step").and_then(Value::as_i64).unwrap_or(1).clamp(-1000, 1000);
    app.state().count += step;
    app.broadcast();
    Response::no_content()
}

/// Adds the `todo` signal to the list, then clears the input of the page that sent it (a one-shot
/// JSON answer: no stream needed for one patch).
fn add_todo(app: &App, request: &Request) -> Response {
    let signals = match datastar::read_signals(request) {
        Ok(signals) => signals,
        Err(e) => return Response::text(format!("{e}\n")).with_status(400),
    };
    let todo = signals.get("todo").and_then(Value::as_str).unwrap_or("").trim().to_string();
    if todo.is_empty() || todo.chars().count() > MAX_TODO_CHARS {
        return datastar::response(|stream| {
            let _ = stream.console_error("a todo needs 1 to 200 characters");
        });
    }
    app.state().todos.push(todo);
    app.broadcast();
    let cleared = Value::Object(vec![("todo".into(), Value::from(""))]);
    datastar::signals_response(&cleared, SignalOptions::new()).unwrap_or_else(|_| Response::new(500))
}

fn count_html(count: i64) -> String {
    format!("<span id=\"count\">{count}</span>")
}

fn todo_list_html(todos: &[String]) -> String {
    let items: String = todos.iter().map(|todo| format!("<li>{}</li>", escape(todo))).collect();
    format!("<ul id=\"todos\">{items}</ul>")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn page(app: &App) -> String {
    let state = app.state();
    format!(
        r#"<!doctype html>
<meta charset="utf-8">
<title>bare-sse + Datastar</title>
<script type="module" src="{datastar}"
  onerror="document.getElementById('datastar-missing').hidden = false"></script>
<body data-init="{updates}" data-signals="{{step: 1, todo: ''}}">
  <p id="datastar-missing" hidden><strong>Datastar did not load</strong> from {datastar}, so the
    buttons do nothing. Offline? Start the example with a local copy of that file:
    <code>cargo run --example datastar_counter PORT path/to/datastar.js</code>.</p>
  <h1>Count: {count}</h1>
  <label>Step <input type="number" data-bind:step></label>
  <button data-on:click="{increment}">Add</button>
  <h2>Todos</h2>
  {list}
  <form data-on:submit__prevent="{add}">
    <input data-bind:todo placeholder="Something to do">
    <button>Add todo</button>
  </form>
</body>
"#,
        datastar = if app.local_datastar.is_some() { "/datastar.js" } else { datastar::CDN_URL },
        updates = action::get("/updates"),
        increment = action::post("/increment"),
        add = action::post("/todos"),
        count = count_html(state.count),
        list = todo_list_html(&state.todos),
    )
}
