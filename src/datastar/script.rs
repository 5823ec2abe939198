//! Events that run JavaScript in the browser: each is a `<script>` element appended to `body`
//! through a `datastar-patch-elements` event, as every Datastar SDK sends it. Everything that
//! goes inside the script is escaped so that it can end neither its string nor the element.

use super::events::{patch_elements, ElementOptions, Mode};
use crate::http::encode_query_component;
use crate::json::Value;
use crate::server::Request;
use crate::{Error, Event};

/// Options of [`execute_script`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptOptions {
    auto_remove: bool,
    attributes: Vec<(String, String)>,
}

impl Default for ScriptOptions {
    fn default() -> ScriptOptions {
        ScriptOptions { auto_remove: true, attributes: Vec::new() }
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
///     b"event: datastar-patch-elements\ndata: mode append\ndata: selector body\n\
///       data: elements <script type=\"module\" data-effect=\"el.remove()\">go()</script>\n\n"
/// );
/// ```
///
/// # Errors
///
/// [`Error::InvalidField`] (field `attributes`) when an attribute's name in `options` is not a
/// valid HTML attribute name. Values are escaped, and the script is sent as it is.
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
    patch_elements(&tag, ElementOptions::new().selector("body").mode(Mode::Append))
}

/// Sends the browser to `url`.
///
/// # Errors
///
/// None in practice: the text is escaped into a script without attributes. The `Result` is that of
/// [`execute_script`], which this is built on.
pub fn redirect(url: &str) -> Result<Event, Error> {
    execute_script(&format!("setTimeout(() => window.location = '{}')", escape_js_string(url)), ScriptOptions::new())
}

/// Changes the address bar to `url` without loading it.
///
/// # Errors
///
/// None in practice: the text is escaped into a script without attributes. The `Result` is that of
/// [`execute_script`], which this is built on.
pub fn replace_url(url: &str) -> Result<Event, Error> {
    let script = format!("window.history.replaceState({{}}, '', '{}')", escape_js_string(url));
    execute_script(&script, ScriptOptions::new())
}

/// Logs `message` in the browser's console.
///
/// # Errors
///
/// None in practice: the text is escaped into a script without attributes. The `Result` is that of
/// [`execute_script`], which this is built on.
pub fn console_log(message: &str) -> Result<Event, Error> {
    execute_script(&format!("console.log('{}')", escape_js_string(message)), ScriptOptions::new())
}

/// Logs `message` as an error in the browser's console.
///
/// # Errors
///
/// None in practice: the text is escaped into a script without attributes. The `Result` is that of
/// [`execute_script`], which this is built on.
pub fn console_error(message: &str) -> Result<Event, Error> {
    execute_script(&format!("console.error('{}')", escape_js_string(message)), ScriptOptions::new())
}

/// Replaces the query of the address bar's URL with `params` (encoded), keeping the path of
/// `request`, without loading anything: a page's filters and pagination stay in its URL.
///
/// ```
/// use bare_sse::datastar::replace_url_query;
/// # let request = bare_sse::Request::new(bare_sse::http::parse_request_head(
/// #     b"GET /items?page=1 HTTP/1.0\r\n\r\n", &Default::default()).map(|p| match p {
/// #     bare_sse::http::Parsed::Complete { head, .. } => head, _ => unreachable!() }).unwrap(), vec![]);
/// let event = replace_url_query(&request, &[("page", "2"), ("q", "a b&c")]).unwrap();
/// let wire = String::from_utf8(event.to_bytes().unwrap()).unwrap();
/// assert!(wire.contains("window.history.replaceState({}, '', '/items?page=2\\x26q=a%20b%26c')"));
/// ```
///
/// # Errors
///
/// None in practice: the path and the encoded query are escaped into a script without attributes.
/// The `Result` is that of [`execute_script`], which this is built on.
pub fn replace_url_query(request: &Request, params: &[(&str, &str)]) -> Result<Event, Error> {
    let target = &request.head().target;
    let path = target.split_once('?').map_or(target.as_str(), |(path, _)| path);
    let query: Vec<String> = params
        .iter()
        .map(|(name, value)| format!("{}={}", encode_query_component(name), encode_query_component(value)))
        .collect();
    let url = if query.is_empty() { path.to_string() } else { format!("{path}?{}", query.join("&")) };
    replace_url(&url)
}

/// Options of [`dispatch_custom_event`]: where the event is dispatched and how it travels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomEventOptions {
    selector: Option<String>,
    bubbles: bool,
    cancelable: bool,
    composed: bool,
}

impl Default for CustomEventOptions {
    fn default() -> CustomEventOptions {
        CustomEventOptions { selector: None, bubbles: true, cancelable: true, composed: true }
    }
}

impl CustomEventOptions {
    /// The defaults: dispatched on `document`, bubbling, cancelable and composed.
    pub fn new() -> CustomEventOptions {
        CustomEventOptions::default()
    }

    /// Dispatch on every element that this CSS selector matches, instead of on `document`.
    pub fn selector(mut self, selector: impl Into<String>) -> CustomEventOptions {
        self.selector = Some(selector.into());
        self
    }

    /// Whether the event bubbles up through the DOM (default true).
    pub fn bubbles(mut self, enabled: bool) -> CustomEventOptions {
        self.bubbles = enabled;
        self
    }

    /// Whether a listener may cancel it with `preventDefault()` (default true).
    pub fn cancelable(mut self, enabled: bool) -> CustomEventOptions {
        self.cancelable = enabled;
        self
    }

    /// Whether it crosses shadow DOM boundaries (default true).
    pub fn composed(mut self, enabled: bool) -> CustomEventOptions {
        self.composed = enabled;
        self
    }
}

/// Dispatches a DOM `CustomEvent` named `name`, with `detail` as its `detail`, on `document` or
/// on the elements a selector matches: a way for the server to tell page code (or a
/// `data-on:name` attribute) that something happened.
///
/// ```
/// use bare_sse::datastar::{dispatch_custom_event, CustomEventOptions};
/// use bare_sse::json::Value;
/// let detail = Value::Object(vec![("id".into(), Value::from(7))]);
/// let event = dispatch_custom_event("saved", &detail, CustomEventOptions::new().selector("#form")).unwrap();
/// let wire = String::from_utf8(event.to_bytes().unwrap()).unwrap();
/// assert!(wire.contains("document.querySelectorAll('#form')"));
/// assert!(wire.contains("new CustomEvent('saved', {bubbles: true, cancelable: true, composed: true, detail: {\"id\":7}})"));
/// ```
///
/// # Errors
///
/// [`Error::InvalidField`] (field `name`) when `name` is empty.
pub fn dispatch_custom_event(name: &str, detail: &Value, options: CustomEventOptions) -> Result<Event, Error> {
    if name.is_empty() {
        return Err(Error::InvalidField { field: "name", reason: "a custom event needs a name" });
    }
    let targets = match options.selector.as_deref().filter(|s| !s.is_empty()) {
        Some(selector) => format!("document.querySelectorAll('{}')", escape_js_string(selector)),
        None => "[document]".to_string(),
    };
    let script = format!(
        "{{const event = new CustomEvent('{}', {{bubbles: {}, cancelable: {}, composed: {}, detail: {}}});\n\
         {targets}.forEach((target) => target.dispatchEvent(event));}}",
        escape_js_string(name),
        options.bubbles,
        options.cancelable,
        options.composed,
        json_in_script(detail),
    );
    execute_script(&script, ScriptOptions::new())
}

/// Asks the browser to prefetch `urls` with a speculation rules script (`<script
/// type="speculationrules">`), so that following a link to them is instant. The script stays in
/// the page: removing it would cancel the rules.
///
/// ```
/// let event = bare_sse::datastar::prefetch(&["/next", "/about"]).unwrap();
/// let wire = String::from_utf8(event.to_bytes().unwrap()).unwrap();
/// assert!(wire.contains(r#"<script type="speculationrules">{"prefetch":[{"source":"list","urls":["/next","/about"]}]}</script>"#));
/// ```
///
/// # Errors
///
/// None in practice: the URLs are escaped into JSON in a script whose one attribute is valid. The
/// `Result` is that of [`execute_script`], which this is built on.
pub fn prefetch(urls: &[&str]) -> Result<Event, Error> {
    let urls = Value::Array(urls.iter().map(|&url| Value::from(url)).collect());
    let rule = Value::Object(vec![("source".into(), Value::from("list")), ("urls".into(), urls)]);
    let rules = Value::Object(vec![("prefetch".into(), Value::Array(vec![rule]))]);
    let options = ScriptOptions::new().auto_remove(false).attribute("type", "speculationrules");
    execute_script(&json_in_script(&rules), options)
}

/// JSON text that can sit inside a `<script>` element: `<` (only ever inside a string) becomes
/// `\u003c`, so no `</script>` can appear. JSON is also a JavaScript expression.
fn json_in_script(value: &Value) -> String {
    value.to_string().replace('<', "\\u003c")
}

pub(super) fn is_attribute_name(name: &str) -> bool {
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
pub(super) fn escape_js_string(text: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn wire(event: Result<Event, Error>) -> String {
        String::from_utf8(event.unwrap().to_bytes().unwrap()).unwrap()
    }

    #[test]
    fn execute_script_defaults_and_options() {
        assert_eq!(
            wire(execute_script("console.log('Here')", ScriptOptions::new())),
            "event: datastar-patch-elements\ndata: mode append\ndata: selector body\n\
             data: elements <script data-effect=\"el.remove()\">console.log('Here')</script>\n\n"
        );
        let options = ScriptOptions::new()
            .auto_remove(false)
            .attribute("type", "text/javascript")
            .attribute("data-x", "a\"b<c>&'");
        let event = execute_script("first();\nsecond();", options);
        assert_eq!(
            wire(event.map(|e| e.id("s1").retry(Duration::from_millis(2000)))),
            "event: datastar-patch-elements\nid: s1\nretry: 2000\ndata: mode append\ndata: selector body\n\
             data: elements <script type=\"text/javascript\" data-x=\"a&quot;b&lt;c&gt;&amp;&#39;\">first();\n\
             data: elements second();</script>\n\n"
        );
        assert!(execute_script("x", ScriptOptions::new().attribute("on load", "x")).is_err());
    }

    #[test]
    fn script_helpers_escape_their_arguments() {
        let expect = |script: &str| {
            format!(
                "event: datastar-patch-elements\ndata: mode append\ndata: selector body\n\
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
    fn custom_events_escape_their_name_selector_and_detail() {
        let detail = Value::Object(vec![("html".into(), Value::from("</script><b>"))]);
        let options = CustomEventOptions::new().selector("a[title='x']").bubbles(false).composed(false);
        let text = wire(dispatch_custom_event("it's", &detail, options));
        assert!(!text.contains("</script><b>"), "{text}");
        assert!(text.contains(r#"detail: {"html":"\u003c/script>\u003cb>"}"#), "{text}");
        assert!(
            text.contains(r"new CustomEvent('it\'s', {bubbles: false, cancelable: true, composed: false"),
            "{text}"
        );
        assert!(text.contains(r"document.querySelectorAll('a[title=\'x\']')"), "{text}");
        let plain = wire(dispatch_custom_event("x", &Value::Null, CustomEventOptions::new()));
        assert!(plain.contains("[document].forEach"), "{plain}");
        assert!(dispatch_custom_event("", &Value::Null, CustomEventOptions::new()).is_err());
    }

    #[test]
    fn prefetch_rules_are_escaped_json_and_stay_in_the_page() {
        let text = wire(prefetch(&["/a?x=</script>"]));
        assert!(text.contains(r#"{"prefetch":[{"source":"list","urls":["/a?x=\u003c/script>"]}]}</script>"#), "{text}");
        assert!(!text.contains("data-effect"), "removing the rules would cancel them");
    }

    #[test]
    fn replace_url_query_keeps_the_path_and_encodes_the_query() {
        let head = match crate::http::parse_request_head(b"GET /a%20b?old=1 HTTP/1.0\r\n\r\n", &Default::default()) {
            Ok(crate::http::Parsed::Complete { head, .. }) => head,
            other => panic!("{other:?}"),
        };
        let request = Request::new(head, Vec::new());
        let text = wire(replace_url_query(&request, &[("q", "ü/?&=")]));
        assert!(text.contains(r"replaceState({}, '', '/a%20b?q=%C3%BC%2F%3F%26%3D')"), "{text}");
        let text = wire(replace_url_query(&request, &[]));
        assert!(text.contains(r"replaceState({}, '', '/a%20b')"), "{text}");
    }
}
