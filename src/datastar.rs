//! The Datastar SDK: patch the browser's DOM and signals over SSE, byte-compatible with every other
//! Datastar SDK.
//!
//! Datastar's browser library sends its state ("signals") as JSON with each request and applies
//! the events the server answers with. Two event types carry everything:
//! `datastar-patch-elements` (HTML into the DOM) and `datastar-patch-signals` (an RFC 7386 merge
//! patch into the signals).
//!
//! ```
//! use bare_sse::datastar::{self, DatastarStream, ElementOptions, Mode};
//! use bare_sse::json::Value;
//! use bare_sse::server::{Request, Response};
//!
//! fn increment(request: &Request) -> Response {
//!     let count = datastar::read_signals(request).ok().and_then(|s| s.get("count")?.as_i64()).unwrap_or(0);
//!     datastar::response(move |stream| {
//!         let patch = Value::Object(vec![("count".into(), Value::from(count + 1))]);
//!         let _ = stream.patch_signals(&patch, Default::default());
//!         let html = format!("<li>now {}</li>", count + 1);
//!         let _ = stream.patch_elements(&html, ElementOptions::new().selector("#log").mode(Mode::Append));
//!     })
//! }
//! # let _ = increment;
//! ```
//!
//! The functions that build events ([`patch_elements`], [`patch_signals`], ...) return plain
//! [`Event`]s, so a hub can broadcast them to every page too; [`DatastarStream`] offers the same
//! operations as methods of a per-connection [`EventStream`].
//!
//! On the wire, defaults are left out (mode `outer`, namespace `html`, `useViewTransition false`,
//! `onlyIfMissing false`, retry 1000 ms), and fields come in the order the specification gives:
//! `event`, `id`, `retry`, then the data lines.

use std::fmt;
use std::time::Duration;

use crate::event::split_lines;
use crate::json::{self, Value};
use crate::server::{Request, Response};

use crate::{Error, Event, EventStream};

/// The event that patches HTML elements into the DOM.
pub const PATCH_ELEMENTS: &str = "datastar-patch-elements";
/// The event that patches signals.
pub const PATCH_SIGNALS: &str = "datastar-patch-signals";
/// The reconnection delay Datastar assumes; a `retry` of this value is not written.
pub const DEFAULT_RETRY_MS: u64 = 1000;
/// The CDN address of the Datastar browser library version the examples are written for.
pub const CDN_URL: &str = "https://cdn.jsdelivr.net/gh/starfederation/datastar@v1.0.2/bundles/datastar.js";

/// How patched elements go into the DOM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Morph the whole target element (the default).
    #[default]
    Outer,
    /// Morph the target's inner HTML.
    Inner,
    /// Replace the target, resetting its state.
    Replace,
    /// Insert at the start inside the target.
    Prepend,
    /// Insert at the end inside the target.
    Append,
    /// Insert before the target.
    Before,
    /// Insert after the target.
    After,
    /// Remove the target.
    Remove,
}

impl Mode {
    const ALL: [Mode; 8] =
        [Mode::Outer, Mode::Inner, Mode::Replace, Mode::Prepend, Mode::Append, Mode::Before, Mode::After, Mode::Remove];

    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Outer => "outer",
            Mode::Inner => "inner",
            Mode::Replace => "replace",
            Mode::Prepend => "prepend",
            Mode::Append => "append",
            Mode::Before => "before",
            Mode::After => "after",
            Mode::Remove => "remove",
        }
    }

    /// The mode with this wire name.
    pub fn from_name(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|mode| mode.as_str() == name)
    }
}

/// The namespace new elements are created in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Namespace {
    /// HTML (the default).
    #[default]
    Html,
    /// SVG.
    Svg,
    /// MathML.
    MathMl,
}

impl Namespace {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Namespace::Html => "html",
            Namespace::Svg => "svg",
            Namespace::MathMl => "mathml",
        }
    }

    /// The namespace with this wire name.
    pub fn from_name(name: &str) -> Option<Namespace> {
        [Namespace::Html, Namespace::Svg, Namespace::MathMl].into_iter().find(|ns| ns.as_str() == name)
    }
}

/// Options of [`patch_elements`] and [`remove_elements`]. Every one defaults to what Datastar
/// assumes when it is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ElementOptions {
    selector: Option<String>,
    mode: Mode,
    namespace: Namespace,
    use_view_transition: bool,
    event_id: Option<String>,
    retry_ms: Option<u64>,
}

impl ElementOptions {
    /// The defaults.
    pub fn new() -> ElementOptions {
        ElementOptions::default()
    }

    /// The CSS selector of the target (default: each top-level element's `id`).
    pub fn selector(mut self, selector: impl Into<String>) -> ElementOptions {
        self.selector = Some(selector.into());
        self
    }

    /// How to patch (default [`Mode::Outer`]).
    pub fn mode(mut self, mode: Mode) -> ElementOptions {
        self.mode = mode;
        self
    }

    /// The namespace of new elements (default [`Namespace::Html`]).
    pub fn namespace(mut self, namespace: Namespace) -> ElementOptions {
        self.namespace = namespace;
        self
    }

    /// Whether to use the View Transitions API (default false).
    pub fn use_view_transition(mut self, enabled: bool) -> ElementOptions {
        self.use_view_transition = enabled;
        self
    }

    /// The event's `id`.
    pub fn event_id(mut self, id: impl Into<String>) -> ElementOptions {
        self.event_id = Some(id.into());
        self
    }

    /// The event's `retry` (default 1000 ms, which is not written).
    pub fn retry(mut self, delay: Duration) -> ElementOptions {
        self.retry_ms = Some(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
        self
    }
}

/// Options of [`patch_signals`] and [`remove_signals`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignalOptions {
    only_if_missing: bool,
    event_id: Option<String>,
    retry_ms: Option<u64>,
}

impl SignalOptions {
    /// The defaults.
    pub fn new() -> SignalOptions {
        SignalOptions::default()
    }

    /// Patch only signals that do not exist yet (default false).
    pub fn only_if_missing(mut self, enabled: bool) -> SignalOptions {
        self.only_if_missing = enabled;
        self
    }

    /// The event's `id`.
    pub fn event_id(mut self, id: impl Into<String>) -> SignalOptions {
        self.event_id = Some(id.into());
        self
    }

    /// The event's `retry` (default 1000 ms, which is not written).
    pub fn retry(mut self, delay: Duration) -> SignalOptions {
        self.retry_ms = Some(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
        self
    }
}

/// Options of [`execute_script`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptOptions {
    auto_remove: bool,
    attributes: Vec<(String, String)>,
    event_id: Option<String>,
    retry_ms: Option<u64>,
}

impl Default for ScriptOptions {
    fn default() -> ScriptOptions {
        ScriptOptions { auto_remove: true, attributes: Vec::new(), event_id: None, retry_ms: None }
    }
}

impl ScriptOptions {
    /// The defaults (the script tag removes itself after it runs).
    pub fn new() -> ScriptOptions {
        ScriptOptions::default()
    }

    /// Whether the script tag removes itself after running (default true).
    pub fn auto_remove(mut self, enabled: bool) -> ScriptOptions {
        self.auto_remove = enabled;
        self
    }

    /// Adds an attribute to the script tag; the value is HTML-escaped.
    pub fn attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> ScriptOptions {
        self.attributes.push((name.into(), value.into()));
        self
    }

    /// The event's `id`.
    pub fn event_id(mut self, id: impl Into<String>) -> ScriptOptions {
        self.event_id = Some(id.into());
        self
    }

    /// The event's `retry` (default 1000 ms, which is not written).
    pub fn retry(mut self, delay: Duration) -> ScriptOptions {
        self.retry_ms = Some(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
        self
    }
}

/// Signals to patch: JSON text sent verbatim line by line, or a value sent compact on one line.
#[derive(Debug, Clone, Copy)]
pub enum Signals<'a> {
    /// JSON text (checked to be JSON, then sent as it is).
    Raw(&'a str),
    /// A JSON value.
    Value(&'a Value),
}

impl<'a> From<&'a str> for Signals<'a> {
    fn from(text: &'a str) -> Signals<'a> {
        Signals::Raw(text)
    }
}

impl<'a> From<&'a String> for Signals<'a> {
    fn from(text: &'a String) -> Signals<'a> {
        Signals::Raw(text)
    }
}

impl<'a> From<&'a Value> for Signals<'a> {
    fn from(value: &'a Value) -> Signals<'a> {
        Signals::Value(value)
    }
}

/// A `datastar-patch-elements` event. `elements` is one or more complete HTML elements (each with
/// an `id` unless a selector is given); it may be empty with [`Mode::Remove`].
///
/// ```
/// use bare_sse::datastar::{patch_elements, ElementOptions, Mode};
/// let event = patch_elements("<div id=\"a\">\n  hi\n</div>", ElementOptions::new().mode(Mode::Inner)).unwrap();
/// assert_eq!(
///     event.to_bytes().unwrap(),
///     b"event: datastar-patch-elements\ndata: mode inner\ndata: elements <div id=\"a\">\ndata: elements   hi\ndata: elements </div>\n\n"
/// );
/// ```
pub fn patch_elements(elements: &str, options: ElementOptions) -> Result<Event, Error> {
    let mut lines = Vec::new();
    if let Some(selector) = options.selector.as_deref().filter(|s| !s.is_empty()) {
        lines.push(format!("selector {}", single_line("selector", selector)?));
    }
    if options.mode != Mode::Outer {
        lines.push(format!("mode {}", options.mode.as_str()));
    }
    if options.namespace != Namespace::Html {
        lines.push(format!("namespace {}", options.namespace.as_str()));
    }
    if options.use_view_transition {
        lines.push("useViewTransition true".to_string());
    }
    if !elements.is_empty() {
        lines.extend(split_lines(elements).map(|line| format!("elements {line}")));
    }
    datastar_event(PATCH_ELEMENTS, options.event_id, options.retry_ms, &lines)
}

/// Removes the elements that `selector` matches: a patch with [`Mode::Remove`] and no elements.
pub fn remove_elements(selector: &str, options: ElementOptions) -> Result<Event, Error> {
    patch_elements("", options.selector(selector).mode(Mode::Remove))
}

/// A `datastar-patch-signals` event: an RFC 7386 merge patch (a `null` member removes a signal).
///
/// ```
/// use bare_sse::datastar::{patch_signals, SignalOptions};
/// let event = patch_signals("{\"a\": 1,\n \"b\": null}", SignalOptions::new().only_if_missing(true)).unwrap();
/// assert_eq!(
///     event.to_bytes().unwrap(),
///     b"event: datastar-patch-signals\ndata: onlyIfMissing true\ndata: signals {\"a\": 1,\ndata: signals  \"b\": null}\n\n"
/// );
/// ```
pub fn patch_signals<'a>(signals: impl Into<Signals<'a>>, options: SignalOptions) -> Result<Event, Error> {
    let mut lines = Vec::new();
    if options.only_if_missing {
        lines.push("onlyIfMissing true".to_string());
    }
    match signals.into() {
        Signals::Raw(text) => {
            json::parse(text).map_err(|_| Error::InvalidField { field: "signals", reason: "it is not valid JSON" })?;
            lines.extend(split_lines(text).map(|line| format!("signals {line}")));
        }
        Signals::Value(value) => lines.push(format!("signals {value}")),
    }
    datastar_event(PATCH_SIGNALS, options.event_id, options.retry_ms, &lines)
}

/// Removes signals by dot path (`user.name`): a merge patch that sets each path to `null`.
pub fn remove_signals(paths: &[&str], options: SignalOptions) -> Result<Event, Error> {
    let patch = json::removal_patch(paths).map_err(|reason| Error::InvalidField { field: "paths", reason })?;
    patch_signals(&patch, options)
}

/// Runs JavaScript in the browser: a `<script>` tag appended to `body`, which removes itself after
/// running unless `auto_remove` is false. The script is sent as it is: it must not contain
/// `</script>`.
///
/// ```
/// use bare_sse::datastar::{execute_script, ScriptOptions};
/// let event = execute_script("go()", ScriptOptions::new().attribute("type", "module")).unwrap();
/// assert_eq!(
///     event.to_bytes().unwrap(),
///     b"event: datastar-patch-elements\ndata: selector body\ndata: mode append\n\
///       data: elements <script type=\"module\" data-effect=\"el.remove()\">go()</script>\n\n"
/// );
/// ```
pub fn execute_script(script: &str, options: ScriptOptions) -> Result<Event, Error> {
    let mut tag = String::from("<script");
    for (name, value) in &options.attributes {
        if !is_attribute_name(name) {
            return Err(Error::InvalidField { field: "attributes", reason: "an attribute name is not valid HTML" });
        }
        tag.push_str(&format!(" {name}=\"{}\"", escape_html(value)));
    }
    if options.auto_remove {
        tag.push_str(" data-effect=\"el.remove()\"");
    }
    tag.push('>');
    tag.push_str(script);
    tag.push_str("</script>");
    let mut element_options = ElementOptions::new().selector("body").mode(Mode::Append);
    element_options.event_id = options.event_id;
    element_options.retry_ms = options.retry_ms;
    patch_elements(&tag, element_options)
}

/// Sends the browser to `url`.
pub fn redirect(url: &str) -> Result<Event, Error> {
    execute_script(&format!("setTimeout(() => window.location = '{}')", escape_js_string(url)), ScriptOptions::new())
}

/// Changes the address bar to `url` without loading it.
pub fn replace_url(url: &str) -> Result<Event, Error> {
    let script = format!("window.history.replaceState({{}}, '', '{}')", escape_js_string(url));
    execute_script(&script, ScriptOptions::new())
}

/// Logs `message` in the browser's console.
pub fn console_log(message: &str) -> Result<Event, Error> {
    execute_script(&format!("console.log('{}')", escape_js_string(message)), ScriptOptions::new())
}

/// Logs `message` as an error in the browser's console.
pub fn console_error(message: &str) -> Result<Event, Error> {
    execute_script(&format!("console.error('{}')", escape_js_string(message)), ScriptOptions::new())
}

/// `event`, `id` (if any), `retry` (unless the default), then one data line per entry.
fn datastar_event(
    event_type: &str,
    event_id: Option<String>,
    retry_ms: Option<u64>,
    lines: &[String],
) -> Result<Event, Error> {
    let mut event = Event::new().event(event_type);
    if let Some(id) = event_id {
        event = event.id(id);
    }
    if let Some(retry) = retry_ms.filter(|&r| r != DEFAULT_RETRY_MS) {
        event = event.retry(Duration::from_millis(retry));
    }
    if !lines.is_empty() {
        event = event.data(lines.join("\n"));
    }
    event.validate()?;
    Ok(event)
}

fn single_line<'a>(field: &'static str, value: &'a str) -> Result<&'a str, Error> {
    if value.contains(['\r', '\n']) {
        return Err(Error::InvalidField { field, reason: "it contains a line break (CR or LF)" });
    }
    Ok(value)
}

fn is_attribute_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c.is_control() || "\"'<>/=".contains(c))
}

/// Escapes text for an HTML attribute value in double quotes (or element content).
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for a single-quoted JavaScript string that may sit inside an HTML attribute or a
/// `<script>` element: quotes, backslashes, line breaks, and the characters HTML gives meaning to
/// (`<`, `>`, `&`, `"`) become escapes, so the text can end neither the string nor the element.
fn escape_js_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '"' | '<' | '>' | '&' => out.push_str(&format!("\\x{:02X}", c as u32)),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Why a request carried no usable signals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalsError {
    /// A GET without a `datastar` query parameter, or a request with an empty body.
    Missing,
    /// The signals are not valid JSON.
    Invalid(json::ParseError),
}

impl fmt::Display for SignalsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignalsError::Missing => f.write_str("the request carries no Datastar signals"),
            SignalsError::Invalid(error) => write!(f, "the request's Datastar signals are not valid JSON: {error}"),
        }
    }
}

impl std::error::Error for SignalsError {}

/// Reads the signals a Datastar request carries: for GET, the `datastar` query parameter (URL
/// encoded JSON); for every other method, the JSON body.
pub fn read_signals(request: &Request) -> Result<Value, SignalsError> {
    let text = if request.method() == "GET" {
        request.query_param("datastar").ok_or(SignalsError::Missing)?
    } else {
        let body = request.body();
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(SignalsError::Missing);
        }
        return json::parse_bytes(body).map_err(SignalsError::Invalid);
    };
    json::parse(text).map_err(SignalsError::Invalid)
}

/// Whether the request came from Datastar (it sends `datastar-request: true`).
pub fn is_datastar_request(request: &Request) -> bool {
    request.header("datastar-request").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// A Datastar stream response: `run` gets the client's [`EventStream`] to send Datastar events on. On
/// HTTP/1.1 it carries `Connection: keep-alive`, as the specification asks, with a chunked body
/// (one chunk per event, flushed at once); HTTP/1.0 clients get a body that ends with the
/// connection.
pub fn response(run: impl FnOnce(EventStream) + Send + 'static) -> Response {
    Response::stream(run).keep_alive()
}

/// Datastar operations as methods of a [`EventStream`]. Sends are serialised: whole events never
/// interleave, even from several threads.
pub trait DatastarStream {
    /// Sends [`patch_elements`].
    fn patch_elements(&self, elements: &str, options: ElementOptions) -> Result<(), Error>;
    /// Sends [`remove_elements`].
    fn remove_elements(&self, selector: &str, options: ElementOptions) -> Result<(), Error>;
    /// Sends [`patch_signals`].
    fn patch_signals<'a>(&self, signals: impl Into<Signals<'a>>, options: SignalOptions) -> Result<(), Error>;
    /// Sends [`remove_signals`].
    fn remove_signals(&self, paths: &[&str], options: SignalOptions) -> Result<(), Error>;
    /// Sends [`execute_script`].
    fn execute_script(&self, script: &str, options: ScriptOptions) -> Result<(), Error>;
    /// Sends [`redirect`].
    fn redirect(&self, url: &str) -> Result<(), Error>;
    /// Sends [`replace_url`].
    fn replace_url(&self, url: &str) -> Result<(), Error>;
    /// Sends [`console_log`].
    fn console_log(&self, message: &str) -> Result<(), Error>;
    /// Sends [`console_error`].
    fn console_error(&self, message: &str) -> Result<(), Error>;
}

impl DatastarStream for EventStream {
    fn patch_elements(&self, elements: &str, options: ElementOptions) -> Result<(), Error> {
        self.send(&patch_elements(elements, options)?)
    }

    fn remove_elements(&self, selector: &str, options: ElementOptions) -> Result<(), Error> {
        self.send(&remove_elements(selector, options)?)
    }

    fn patch_signals<'a>(&self, signals: impl Into<Signals<'a>>, options: SignalOptions) -> Result<(), Error> {
        self.send(&patch_signals(signals, options)?)
    }

    fn remove_signals(&self, paths: &[&str], options: SignalOptions) -> Result<(), Error> {
        self.send(&remove_signals(paths, options)?)
    }

    fn execute_script(&self, script: &str, options: ScriptOptions) -> Result<(), Error> {
        self.send(&execute_script(script, options)?)
    }

    fn redirect(&self, url: &str) -> Result<(), Error> {
        self.send(&redirect(url)?)
    }

    fn replace_url(&self, url: &str) -> Result<(), Error> {
        self.send(&replace_url(url)?)
    }

    fn console_log(&self, message: &str) -> Result<(), Error> {
        self.send(&console_log(message)?)
    }

    fn console_error(&self, message: &str) -> Result<(), Error> {
        self.send(&console_error(message)?)
    }
}

/// Attribute values for Datastar's backend actions: `get("/x")` is `@get('/x')`, to put in an
/// attribute such as `data-on:click`. URLs and options are escaped for the single-quoted string.
pub mod action {
    use super::escape_js_string;

    /// `@get('url')`
    pub fn get(url: &str) -> String {
        action("get", url, None)
    }

    /// `@post('url')`
    pub fn post(url: &str) -> String {
        action("post", url, None)
    }

    /// `@put('url')`
    pub fn put(url: &str) -> String {
        action("put", url, None)
    }

    /// `@patch('url')`
    pub fn patch(url: &str) -> String {
        action("patch", url, None)
    }

    /// `@delete('url')`
    pub fn delete(url: &str) -> String {
        action("delete", url, None)
    }

    /// `@method('url')`, or `@method('url', options)` with an options object written as
    /// Datastar expects it, e.g. `{contentType: 'form'}` (inserted as it is).
    ///
    /// ```
    /// use bare_sse::datastar::action;
    /// assert_eq!(action::action("post", "/todo?x='1'", Some("{contentType: 'form'}")),
    ///            r"@post('/todo?x=\'1\'', {contentType: 'form'})");
    /// ```
    pub fn action(method: &str, url: &str, options: Option<&str>) -> String {
        let url = escape_js_string(url);
        match options {
            Some(options) => format!("@{method}('{url}', {options})"),
            None => format!("@{method}('{url}')"),
        }
    }
}

/// Builds the events described by the Datastar SDK test suite's JSON: `{"events": [...]}`, each
/// with a `type` (`patchElements`, `patchSignals`, `executeScript`, and also `removeElements`,
/// `removeSignals`) and its options by their specification names (`elements`, `selector`, `mode`,
/// `useViewTransition`, `namespace`, `signals`, `signals-raw`, `onlyIfMissing`, `script`,
/// `autoRemove`, `attributes`, `paths`, `eventId`, `retryDuration`).
pub fn events_from_test_input(input: &Value) -> Result<Vec<Event>, Error> {
    let bad = |reason: &'static str| Error::InvalidField { field: "events", reason };
    let events = input.get("events").and_then(Value::as_array).ok_or(bad("no `events` array"))?;
    events.iter().map(|spec| event_from_test_spec(spec).map_err(bad)?).collect()
}

fn event_from_test_spec(spec: &Value) -> Result<Result<Event, Error>, &'static str> {
    let text = |name: &str| spec.get(name).and_then(Value::as_str);
    let flag = |name: &str| spec.get(name).and_then(Value::as_bool);
    let event_id = text("eventId").map(str::to_string);
    let retry_ms = spec.get("retryDuration").and_then(Value::as_i64).and_then(|r| u64::try_from(r).ok());
    Ok(match text("type").ok_or("an event has no `type`")? {
        "patchElements" | "removeElements" => {
            let mut options = ElementOptions { event_id, retry_ms, ..ElementOptions::default() };
            options.selector = text("selector").map(str::to_string);
            if let Some(mode) = text("mode") {
                options.mode = Mode::from_name(mode).ok_or("unknown `mode`")?;
            }
            if text("type") == Some("removeElements") {
                options.mode = Mode::Remove;
            }
            if let Some(namespace) = text("namespace") {
                options.namespace = Namespace::from_name(namespace).ok_or("unknown `namespace`")?;
            }
            options.use_view_transition = flag("useViewTransition").unwrap_or(false);
            patch_elements(text("elements").unwrap_or(""), options)
        }
        "patchSignals" | "removeSignals" => {
            let options = SignalOptions { only_if_missing: flag("onlyIfMissing").unwrap_or(false), event_id, retry_ms };
            if let Some(paths) = spec.get("paths").and_then(Value::as_array) {
                let paths: Vec<&str> = paths.iter().filter_map(Value::as_str).collect();
                remove_signals(&paths, options)
            } else if let Some(raw) = text("signals-raw") {
                patch_signals(raw, options)
            } else {
                patch_signals(spec.get("signals").ok_or("a patchSignals event has no `signals`")?, options)
            }
        }
        "executeScript" => {
            let mut options = ScriptOptions {
                auto_remove: flag("autoRemove").unwrap_or(true),
                event_id,
                retry_ms,
                ..Default::default()
            };
            for (name, value) in spec.get("attributes").and_then(Value::as_object).unwrap_or_default() {
                let value = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                options.attributes.push((name.clone(), value));
            }
            execute_script(text("script").ok_or("an executeScript event has no `script`")?, options)
        }
        _ => return Err("unknown event `type`"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(event: Result<Event, Error>) -> String {
        String::from_utf8(event.unwrap().to_bytes().unwrap()).unwrap()
    }

    #[test]
    fn patch_elements_with_defaults() {
        assert_eq!(
            wire(patch_elements("<div id=\"feed\"><span>1</span></div>", ElementOptions::new())),
            "event: datastar-patch-elements\ndata: elements <div id=\"feed\"><span>1</span></div>\n\n"
        );
    }

    #[test]
    fn patch_elements_with_every_option_and_multiline_html() {
        let options = ElementOptions::new()
            .selector("#feed")
            .mode(Mode::Inner)
            .namespace(Namespace::Svg)
            .use_view_transition(true)
            .event_id("123")
            .retry(Duration::from_millis(2000));
        assert_eq!(
            wire(patch_elements("<g id=\"feed\">\n  <circle/>\r\n</g>", options)),
            "event: datastar-patch-elements\nid: 123\nretry: 2000\ndata: selector #feed\ndata: mode inner\n\
             data: namespace svg\ndata: useViewTransition true\ndata: elements <g id=\"feed\">\n\
             data: elements   <circle/>\ndata: elements </g>\n\n"
        );
    }

    #[test]
    fn defaults_are_omitted_even_when_given() {
        let options = ElementOptions::new()
            .mode(Mode::Outer)
            .namespace(Namespace::Html)
            .use_view_transition(false)
            .retry(Duration::from_millis(1000));
        assert_eq!(
            wire(patch_elements("<p id=\"x\"></p>", options)),
            "event: datastar-patch-elements\ndata: elements <p id=\"x\"></p>\n\n"
        );
        let signals = SignalOptions::new().only_if_missing(false).retry(Duration::from_millis(1000));
        assert_eq!(wire(patch_signals("{}", signals)), "event: datastar-patch-signals\ndata: signals {}\n\n");
    }

    #[test]
    fn remove_elements_is_a_remove_patch_without_elements() {
        assert_eq!(
            wire(remove_elements("#feed, #other", ElementOptions::new().event_id("e"))),
            "event: datastar-patch-elements\nid: e\ndata: selector #feed, #other\ndata: mode remove\n\n"
        );
    }

    #[test]
    fn patch_signals_from_a_value_is_one_compact_line() {
        let value = json::parse(r#"{ "output": "Patched", "user": { "name": "", "n": 1.50 } }"#).unwrap();
        assert_eq!(
            wire(patch_signals(
                &value,
                SignalOptions::new().only_if_missing(true).event_id("1").retry(Duration::from_millis(10))
            )),
            "event: datastar-patch-signals\nid: 1\nretry: 10\ndata: onlyIfMissing true\n\
             data: signals {\"output\":\"Patched\",\"user\":{\"name\":\"\",\"n\":1.50}}\n\n"
        );
        let multiline = Value::Object(vec![("one".into(), Value::from("first\n signal"))]);
        assert_eq!(
            wire(patch_signals(&multiline, SignalOptions::new())),
            "event: datastar-patch-signals\ndata: signals {\"one\":\"first\\n signal\"}\n\n",
            "a line break inside a string stays an escape on one line"
        );
    }

    #[test]
    fn raw_signals_are_sent_line_by_line_verbatim_and_must_be_json() {
        assert_eq!(
            wire(patch_signals("{\n  \"a\": [1, 2]\n}", SignalOptions::new())),
            "event: datastar-patch-signals\ndata: signals {\ndata: signals   \"a\": [1, 2]\ndata: signals }\n\n"
        );
        assert!(matches!(
            patch_signals("{a: 1}", SignalOptions::new()),
            Err(Error::InvalidField { field: "signals", .. })
        ));
    }

    #[test]
    fn remove_signals_sets_paths_to_null() {
        assert_eq!(
            wire(remove_signals(&["user.name", "user.email", "count"], SignalOptions::new())),
            "event: datastar-patch-signals\ndata: signals {\"user\":{\"name\":null,\"email\":null},\"count\":null}\n\n"
        );
        assert!(remove_signals(&["a..b"], SignalOptions::new()).is_err());
    }

    #[test]
    fn execute_script_defaults_and_options() {
        assert_eq!(
            wire(execute_script("console.log('Here')", ScriptOptions::new())),
            "event: datastar-patch-elements\ndata: selector body\ndata: mode append\n\
             data: elements <script data-effect=\"el.remove()\">console.log('Here')</script>\n\n"
        );
        let options = ScriptOptions::new()
            .auto_remove(false)
            .attribute("type", "text/javascript")
            .attribute("data-x", "a\"b<c>&'")
            .event_id("s1")
            .retry(Duration::from_millis(2000));
        assert_eq!(
            wire(execute_script("first();\nsecond();", options)),
            "event: datastar-patch-elements\nid: s1\nretry: 2000\ndata: selector body\ndata: mode append\n\
             data: elements <script type=\"text/javascript\" data-x=\"a&quot;b&lt;c&gt;&amp;&#39;\">first();\n\
             data: elements second();</script>\n\n"
        );
        assert!(execute_script("x", ScriptOptions::new().attribute("on load", "x")).is_err());
    }

    #[test]
    fn script_helpers_escape_their_arguments() {
        let expect = |script: &str| {
            format!(
                "event: datastar-patch-elements\ndata: selector body\ndata: mode append\n\
                 data: elements <script data-effect=\"el.remove()\">{script}</script>\n\n"
            )
        };
        assert_eq!(
            wire(redirect("/next?a=1&b='2'")),
            expect(r"setTimeout(() => window.location = '/next?a=1\x26b=\'2\'')")
        );
        assert_eq!(wire(replace_url("/x")), expect("window.history.replaceState({}, '', '/x')"));
        assert_eq!(wire(console_log("</script>\\\n")), expect(r"console.log('\x3C/script\x3E\\\n')"));
        assert_eq!(wire(console_error("it's")), expect(r"console.error('it\'s')"));
    }

    #[test]
    fn line_breaks_cannot_inject_data_lines() {
        assert!(patch_elements("<p id=a></p>", ElementOptions::new().selector("#a\nelements <script>")).is_err());
        assert!(patch_elements("<p id=a></p>", ElementOptions::new().event_id("1\n")).is_err());
    }

    #[test]
    fn actions() {
        assert_eq!(action::get("/count"), "@get('/count')");
        assert_eq!(action::post("/a b"), "@post('/a b')");
        assert_eq!(action::put("/p"), "@put('/p')");
        assert_eq!(action::patch("/p"), "@patch('/p')");
        assert_eq!(action::delete("/d\"x"), r"@delete('/d\x22x')");
        assert_eq!(action::action("post", "/f", Some("{contentType: 'form'}")), "@post('/f', {contentType: 'form'})");
    }

    #[test]
    fn test_input_builds_events_in_order() {
        let input = json::parse(
            r##"{"events": [
                {"type": "patchElements", "elements": "<div id=\"a\"></div>", "mode": "append", "selector": "#b"},
                {"type": "patchSignals", "signals-raw": "{\"x\":\n1}", "eventId": "7"},
                {"type": "executeScript", "script": "go()", "autoRemove": false, "attributes": {"type": "module"}},
                {"type": "removeSignals", "paths": ["a.b"]}
            ]}"##,
        )
        .unwrap();
        let wires: Vec<String> = events_from_test_input(&input).unwrap().iter().map(|e| wire(Ok(e.clone()))).collect();
        assert_eq!(wires[0], "event: datastar-patch-elements\ndata: selector #b\ndata: mode append\ndata: elements <div id=\"a\"></div>\n\n");
        assert_eq!(wires[1], "event: datastar-patch-signals\nid: 7\ndata: signals {\"x\":\ndata: signals 1}\n\n");
        assert!(wires[2].ends_with("data: elements <script type=\"module\">go()</script>\n\n"));
        assert_eq!(wires[3], "event: datastar-patch-signals\ndata: signals {\"a\":{\"b\":null}}\n\n");
        assert!(events_from_test_input(&json::parse(r#"{"events":[{"type":"nope"}]}"#).unwrap()).is_err());
        assert!(events_from_test_input(&json::parse("{}").unwrap()).is_err());
    }
}
