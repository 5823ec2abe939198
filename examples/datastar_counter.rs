//! A Datastar app: a counter and a todo list, shared by every open tab.
//!
//! Buttons and the form send `@post` actions; the server reads the signals they carry, updates its
//! state, and broadcasts the new HTML to every page through a hub that each page subscribes to with
//! `@get('/updates')` when it loads. The page loads Datastar's browser library from its CDN
//! (version pinned in `bare_sse::datastar::CDN_URL`).
//!
//! Run: `cargo run --example datastar_counter`, then open http://localhost:8125/ in two tabs.

use std::sync::{Arc, Mutex, PoisonError};

use bare_sse::datastar::{self, action, DatastarStream, ElementOptions, SignalOptions};
use bare_sse::json::Value;
use bare_sse::server::{Request, Response};
use bare_sse::{Hub, Server, ServerBuilder};

/// Longest todo accepted, in characters.
const MAX_TODO_CHARS: usize = 200;

#[path = "common/mod.rs"]
mod common;

fn main() -> std::process::ExitCode {
    let port = common::port_arg(1, 8125, "datastar_counter [PORT]");
    common::run("datastar_counter", || {
        let server = routes(Server::builder().port(port), App::new()).start()?;
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
        App { state: Arc::default(), updates: Hub::builder().history_events(0).build() }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends the current counter and list to every page.
    fn broadcast(&self) {
        let (count, list) = {
            let state = self.state();
            (state.count, todo_list_html(&state.todos))
        };
        let events = [
            datastar::patch_elements(&format!("<span id=\"count\">{count}</span>"), ElementOptions::new()),
            datastar::patch_elements(&list, ElementOptions::new()),
        ];
        for event in events.into_iter().flatten() {
            let _ = self.updates.send_new_event(event);
        }
    }
}

/// The app's routes on a server builder.
pub fn routes(builder: ServerBuilder, app: App) -> ServerBuilder {
    let page_app = app.clone();
    let count_app = app.clone();
    let todo_app = app.clone();
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

/// Adds the `todo` signal to the list, then clears the input of the page that sent it.
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
    datastar::response(|stream| {
        let cleared = Value::Object(vec![("todo".into(), Value::from(""))]);
        let _ = stream.patch_signals(&cleared, SignalOptions::new());
    })
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
<script type="module" src="{cdn}"></script>
<body data-init="{updates}" data-signals="{{step: 1, todo: ''}}">
  <h1>Count: <span id="count">{count}</span></h1>
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
        cdn = datastar::CDN_URL,
        updates = action::get("/updates"),
        increment = action::post("/increment"),
        add = action::post("/todos"),
        count = state.count,
        list = todo_list_html(&state.todos),
    )
}
