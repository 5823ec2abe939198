//! Attribute values for Datastar's backend actions: `get("/x")` is `@get('/x')`, to put in an
//! attribute such as `data-on:click`. URLs and options are escaped for the single-quoted string.
//! Options come as an [`ActionOptions`] builder ([`action_with`]) or as raw text ([`action`]).

use std::fmt;
use std::time::Duration;

use super::script::escape_js_string;

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

/// `@query('url')`: the HTTP `QUERY` method, a safe request whose signals travel in the body.
pub fn query(url: &str) -> String {
    action("query", url, None)
}

/// `@method('url', {options})` with typed options.
///
/// ```
/// use bare_sse::datastar::action::{action_with, ActionOptions, ContentType};
/// let options = ActionOptions::new().content_type(ContentType::Form).selector("#signup").open_when_hidden(true);
/// assert_eq!(action_with("post", "/signup", &options),
///            "@post('/signup', {contentType: 'form', selector: '#signup', openWhenHidden: true})");
/// ```
pub fn action_with(method: &str, url: &str, options: &ActionOptions) -> String {
    if options.is_empty() {
        return action(method, url, None);
    }
    action(method, url, Some(&options.to_string()))
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

/// How an action sends the signals: as JSON (the default) or as the closest form's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    /// The signals as a JSON body (or the `datastar` query parameter for `GET` and `DELETE`).
    Json,
    /// The fields of a form, URL- or multipart-encoded as the form says.
    Form,
}

impl ContentType {
    /// The option's value, as Datastar spells it.
    fn name(self) -> &'static str {
        match self {
            ContentType::Json => "json",
            ContentType::Form => "form",
        }
    }
}

/// Whether a new request of an element cancels the one still running (Datastar's default), or
/// lets both run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestCancellation {
    /// A new request cancels the element's running one.
    Auto,
    /// Requests run side by side.
    Disabled,
}

impl RequestCancellation {
    /// The option's value, as Datastar spells it.
    fn name(self) -> &'static str {
        match self {
            RequestCancellation::Auto => "auto",
            RequestCancellation::Disabled => "disabled",
        }
    }
}

/// When Datastar reopens a request (its `retry` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Datastar's default: after a network failure only. A stream that ends cleanly, as every
    /// stream of a server that stops does, is not reopened.
    Auto,
    /// After a network failure or an error status (4xx, 5xx).
    Error,
    /// Also after a stream ends cleanly, as `EventSource` does: what a long-lived stream that must
    /// outlive a server restart needs. A `204` or a redirect still ends it for good.
    Always,
    /// Never.
    Never,
}

impl Retry {
    /// The option's value, as Datastar spells it.
    fn name(self) -> &'static str {
        match self {
            Retry::Auto => "auto",
            Retry::Error => "error",
            Retry::Always => "always",
            Retry::Never => "never",
        }
    }
}

/// Options of a backend action, written as the object literal Datastar reads. Only the options
/// set are written; each is escaped for the single-quoted strings of an attribute.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActionOptions {
    content_type: Option<ContentType>,
    include: Option<String>,
    exclude: Option<String>,
    selector: Option<String>,
    headers: Vec<(String, String)>,
    open_when_hidden: Option<bool>,
    retry: Option<Retry>,
    retry_interval: Option<Duration>,
    retry_scaler: Option<f64>,
    retry_max_wait: Option<Duration>,
    retry_max_count: Option<u32>,
    request_cancellation: Option<RequestCancellation>,
}

impl ActionOptions {
    /// No options: Datastar's defaults.
    pub fn new() -> ActionOptions {
        ActionOptions::default()
    }

    /// How the signals are sent (default JSON).
    pub fn content_type(mut self, content_type: ContentType) -> ActionOptions {
        self.content_type = Some(content_type);
        self
    }

    /// Send only the signals whose path this regular expression (JavaScript syntax) matches.
    pub fn include_signals(mut self, pattern: impl Into<String>) -> ActionOptions {
        self.include = Some(pattern.into());
        self
    }

    /// Leave out the signals whose path this regular expression matches (Datastar's default
    /// leaves out those starting with `_`).
    pub fn exclude_signals(mut self, pattern: impl Into<String>) -> ActionOptions {
        self.exclude = Some(pattern.into());
        self
    }

    /// The form to send, by CSS selector, with [`ContentType::Form`] (default: the closest one).
    pub fn selector(mut self, selector: impl Into<String>) -> ActionOptions {
        self.selector = Some(selector.into());
        self
    }

    /// Adds a request header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> ActionOptions {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Keep the request open while the page is hidden (default false: a stream is closed when
    /// the tab is hidden and opened again when it shows).
    pub fn open_when_hidden(mut self, enabled: bool) -> ActionOptions {
        self.open_when_hidden = Some(enabled);
        self
    }

    /// When the request is reopened (Datastar: [`Retry::Auto`]). A long-lived `@get` stream on a
    /// hub wants [`Retry::Always`], so that the page reconnects after the server stops.
    pub fn retry(mut self, retry: Retry) -> ActionOptions {
        self.retry = Some(retry);
        self
    }

    /// The first wait before retrying after a network failure (Datastar: 1 s).
    pub fn retry_interval(mut self, wait: Duration) -> ActionOptions {
        self.retry_interval = Some(wait);
        self
    }

    /// What each wait is multiplied by for the next retry (Datastar: 2).
    pub fn retry_scaler(mut self, factor: f64) -> ActionOptions {
        self.retry_scaler = Some(factor);
        self
    }

    /// The longest wait between retries (Datastar: 30 s).
    pub fn retry_max_wait(mut self, wait: Duration) -> ActionOptions {
        self.retry_max_wait = Some(wait);
        self
    }

    /// How many retries before giving up (Datastar: 10).
    pub fn retry_max_count(mut self, count: u32) -> ActionOptions {
        self.retry_max_count = Some(count);
        self
    }

    /// Whether a new request cancels the running one (Datastar: [`RequestCancellation::Auto`]).
    pub fn request_cancellation(mut self, cancellation: RequestCancellation) -> ActionOptions {
        self.request_cancellation = Some(cancellation);
        self
    }

    fn is_empty(&self) -> bool {
        *self == ActionOptions::default()
    }
}

/// The object literal, e.g. `{contentType: 'form', retryMaxCount: 3}`.
impl fmt::Display for ActionOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = |value: &str| format!("'{}'", escape_js_string(value));
        // A regular expression built from a string: escaping a string is simpler to get right
        // than escaping a regular expression literal.
        let regex = |pattern: &str| format!("new RegExp({})", text(pattern));
        let mut fields: Vec<String> = Vec::new();
        if let Some(content_type) = self.content_type {
            fields.push(format!("contentType: '{}'", content_type.name()));
        }
        let filters: Vec<String> = [("include", &self.include), ("exclude", &self.exclude)]
            .into_iter()
            .filter_map(|(name, pattern)| Some(format!("{name}: {}", regex(pattern.as_deref()?))))
            .collect();
        if !filters.is_empty() {
            fields.push(format!("filterSignals: {{{}}}", filters.join(", ")));
        }
        if let Some(selector) = &self.selector {
            fields.push(format!("selector: {}", text(selector)));
        }
        if !self.headers.is_empty() {
            let headers: Vec<String> =
                self.headers.iter().map(|(name, value)| format!("{}: {}", text(name), text(value))).collect();
            fields.push(format!("headers: {{{}}}", headers.join(", ")));
        }
        if let Some(enabled) = self.open_when_hidden {
            fields.push(format!("openWhenHidden: {enabled}"));
        }
        if let Some(retry) = self.retry {
            fields.push(format!("retry: '{}'", retry.name()));
        }
        if let Some(wait) = self.retry_interval {
            fields.push(format!("retryInterval: {}", wait.as_millis()));
        }
        if let Some(factor) = self.retry_scaler.filter(|factor| factor.is_finite()) {
            fields.push(format!("retryScaler: {factor}"));
        }
        if let Some(wait) = self.retry_max_wait {
            fields.push(format!("retryMaxWait: {}", wait.as_millis()));
        }
        if let Some(count) = self.retry_max_count {
            fields.push(format!("retryMaxCount: {count}"));
        }
        if let Some(cancellation) = self.request_cancellation {
            fields.push(format!("requestCancellation: '{}'", cancellation.name()));
        }
        write!(f, "{{{}}}", fields.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions() {
        assert_eq!(get("/count"), "@get('/count')");
        assert_eq!(post("/a b"), "@post('/a b')");
        assert_eq!(put("/p"), "@put('/p')");
        assert_eq!(patch("/p"), "@patch('/p')");
        assert_eq!(delete("/d\"x"), r"@delete('/d\x22x')");
        assert_eq!(action("post", "/f", Some("{contentType: 'form'}")), "@post('/f', {contentType: 'form'})");
        assert_eq!(query("/search"), "@query('/search')");
    }

    #[test]
    fn typed_options_in_order_and_escaped() {
        assert_eq!(action_with("get", "/x", &ActionOptions::new()), "@get('/x')", "no options, no object");
        let options = ActionOptions::new()
            .content_type(ContentType::Json)
            .include_signals("^user\\.")
            .exclude_signals("'\"</")
            .selector("form[name='a']")
            .header("X-Csrf", "t'k")
            .open_when_hidden(false)
            .retry(Retry::Always)
            .retry_interval(Duration::from_millis(500))
            .retry_scaler(1.5)
            .retry_max_wait(Duration::from_secs(5))
            .retry_max_count(3)
            .request_cancellation(RequestCancellation::Disabled);
        assert_eq!(
            options.to_string(),
            concat!(
                r"{contentType: 'json', filterSignals: {include: new RegExp('^user\\.'), ",
                r"exclude: new RegExp('\'\x22\x3C/')}, selector: 'form[name=\'a\']', headers: {'X-Csrf': 't\'k'}, ",
                r"openWhenHidden: false, retry: 'always', retryInterval: 500, retryScaler: 1.5, retryMaxWait: 5000, ",
                r"retryMaxCount: 3, ",
                r"requestCancellation: 'disabled'}"
            )
        );
        let only_exclude = ActionOptions::new().exclude_signals("^_");
        assert_eq!(action_with("put", "/p", &only_exclude), "@put('/p', {filterSignals: {exclude: new RegExp('^_')}})");
    }
}
