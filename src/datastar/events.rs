//! The event builders. Each returns a plain [`Event`], so it can go to one page through a
//! [`DatastarStream`](super::DatastarStream) or to every page through a [`Hub`](crate::Hub). An id
//! or a reconnection delay is set on that event ([`Event::id`], [`Event::with_id`],
//! [`Event::retry`]); the encoder writes them after `event` and before the data lines, the order
//! Datastar's specification gives.

use super::{PATCH_ELEMENTS, PATCH_SIGNALS};
use crate::event::{check_single_line, split_lines};
use crate::json::{self, Value};
use crate::{Error, Event};

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
    pub(super) selector: Option<String>,
    pub(super) mode: Mode,
    pub(super) namespace: Namespace,
    pub(super) use_view_transition: bool,
    view_transition_selector: Option<String>,
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

    /// The CSS selector of the element the view transition is scoped to (Datastar assumes `#main`).
    /// Sent only when [`use_view_transition`](Self::use_view_transition) is on: without a
    /// transition it means nothing.
    pub fn view_transition_selector(mut self, selector: impl Into<String>) -> ElementOptions {
        self.view_transition_selector = Some(selector.into());
        self
    }
}

/// Options of [`patch_signals`] and [`remove_signals`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignalOptions {
    pub(super) only_if_missing: bool,
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
/// Data lines come in one order for every patch: `mode`, `selector`, `useViewTransition`,
/// `viewTransitionSelector`, `namespace`, then `elements`, each only when it is not the default.
/// That is the order of every example in Datastar's SDK specification. Its test suite compares
/// data lines of different kinds in any order, as the browser reads them; two of its expected
/// files put `selector` first, against the specification's own full example.
///
/// ```
/// use bare_sse::datastar::{patch_elements, ElementOptions, Mode};
/// let options = ElementOptions::new().selector("#list").mode(Mode::Append);
/// let event = patch_elements("<li>\n  hi\n</li>", options).unwrap();
/// assert_eq!(
///     event.to_bytes().unwrap(),
///     b"event: datastar-patch-elements\ndata: mode append\ndata: selector #list\n\
///       data: elements <li>\ndata: elements   hi\ndata: elements </li>\n\n"
/// );
/// ```
///
/// # Errors
///
/// [`Error::InvalidField`] when the selector or the view transition selector holds a line break
/// (field `selector` or `viewTransitionSelector`), which would inject a line into the event.
pub fn patch_elements(elements: &str, options: ElementOptions) -> Result<Event, Error> {
    let mut lines = Vec::new();
    if options.mode != Mode::Outer {
        lines.push(format!("mode {}", options.mode.as_str()));
    }
    if let Some(selector) = options.selector.as_deref().filter(|s| !s.is_empty()) {
        check_single_line("selector", selector)?;
        lines.push(format!("selector {selector}"));
    }
    if options.use_view_transition {
        lines.push("useViewTransition true".to_string());
        if let Some(selector) = options.view_transition_selector.as_deref().filter(|s| !s.is_empty()) {
            check_single_line("viewTransitionSelector", selector)?;
            lines.push(format!("viewTransitionSelector {selector}"));
        }
    }
    if options.namespace != Namespace::Html {
        lines.push(format!("namespace {}", options.namespace.as_str()));
    }
    if !elements.is_empty() {
        lines.extend(split_lines(elements).map(|line| format!("elements {line}")));
    }
    datastar_event(PATCH_ELEMENTS, &lines)
}

/// Removes the elements that `selector` matches: a patch with [`Mode::Remove`] and no elements.
///
/// # Errors
///
/// [`Error::InvalidField`] (field `selector`) when `selector` holds a line break.
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
///
/// # Errors
///
/// [`Error::InvalidJson`] when `signals` is text that is not JSON; a [`Value`] always passes.
pub fn patch_signals<'a>(signals: impl Into<Signals<'a>>, options: SignalOptions) -> Result<Event, Error> {
    let mut lines = Vec::new();
    if options.only_if_missing {
        lines.push("onlyIfMissing true".to_string());
    }
    match signals.into() {
        Signals::Raw(text) => {
            json::parse(text)
                .map_err(|source| Error::InvalidJson { context: "the signals given to patch_signals", source })?;
            lines.extend(split_lines(text).map(|line| format!("signals {line}")));
        }
        Signals::Value(value) => lines.push(format!("signals {value}")),
    }
    datastar_event(PATCH_SIGNALS, &lines)
}

/// Removes signals by dot path (`user.name`): a merge patch that sets each path to `null`.
///
/// # Errors
///
/// [`Error::InvalidSignalPath`] for the first path with an empty segment (`""`, `a..b`, `.a`).
pub fn remove_signals(paths: &[&str], options: SignalOptions) -> Result<Event, Error> {
    let patch = json::removal_patch(paths)?;
    patch_signals(&patch, options)
}

/// An event of `event_type` with one data line per entry.
fn datastar_event(event_type: &str, lines: &[String]) -> Result<Event, Error> {
    let mut event = Event::new().event(event_type);
    if !lines.is_empty() {
        event = event.data(lines.join("\n"));
    }
    event.validate()?;
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
            .view_transition_selector("#main");
        let event = patch_elements("<g id=\"feed\">\n  <circle/>\r\n</g>", options);
        assert_eq!(
            wire(event.map(|e| e.id("123").retry(Duration::from_millis(2000)))),
            "event: datastar-patch-elements\nid: 123\nretry: 2000\ndata: mode inner\ndata: selector #feed\n\
             data: useViewTransition true\ndata: viewTransitionSelector #main\ndata: namespace svg\n\
             data: elements <g id=\"feed\">\n\
             data: elements   <circle/>\ndata: elements </g>\n\n"
        );
    }

    #[test]
    fn defaults_are_omitted_even_when_given() {
        let options = ElementOptions::new()
            .mode(Mode::Outer)
            .namespace(Namespace::Html)
            .use_view_transition(false)
            .view_transition_selector("#main");
        assert_eq!(
            wire(patch_elements("<p id=\"x\"></p>", options)),
            "event: datastar-patch-elements\ndata: elements <p id=\"x\"></p>\n\n"
        );
        let signals = SignalOptions::new().only_if_missing(false);
        assert_eq!(wire(patch_signals("{}", signals)), "event: datastar-patch-signals\ndata: signals {}\n\n");
    }

    #[test]
    fn remove_elements_is_a_remove_patch_without_elements() {
        assert_eq!(
            wire(remove_elements("#feed, #other", ElementOptions::new()).map(|e| e.id("e"))),
            "event: datastar-patch-elements\nid: e\ndata: mode remove\ndata: selector #feed, #other\n\n"
        );
    }

    #[test]
    fn patch_signals_from_a_value_is_one_compact_line() {
        let value = json::parse(r#"{ "output": "Patched", "user": { "name": "", "n": 1.50 } }"#).unwrap();
        assert_eq!(
            wire(
                patch_signals(&value, SignalOptions::new().only_if_missing(true))
                    .map(|e| e.id("1").retry(Duration::from_millis(10)))
            ),
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
            Err(Error::InvalidJson { source, .. }) if source.position == 1
        ));
    }

    #[test]
    fn remove_signals_sets_paths_to_null() {
        assert_eq!(
            wire(remove_signals(&["user.name", "user.email", "count"], SignalOptions::new())),
            "event: datastar-patch-signals\ndata: signals {\"user\":{\"name\":null,\"email\":null},\"count\":null}\n\n"
        );
        let error = remove_signals(&["a..b"], SignalOptions::new()).unwrap_err();
        assert!(matches!(&error, Error::InvalidSignalPath(empty) if empty.path == "a..b"), "{error:?}");
        assert!(error.to_string().contains("\"a..b\""), "the message names the path: {error}");
    }

    #[test]
    fn line_breaks_cannot_inject_data_lines() {
        assert!(patch_elements("<p id=a></p>", ElementOptions::new().selector("#a\nelements <script>")).is_err());
        let transition = ElementOptions::new().use_view_transition(true).view_transition_selector("#a\rmode remove");
        assert!(patch_elements("<p id=a></p>", transition).is_err());
    }
}
