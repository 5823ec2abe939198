//! Datastar event-stream responses: [`response`], whose events leave as they are sent, with the
//! event builders as methods of an [`EventStream`]; and [`events_response`], for events all
//! known when the handler returns.

use super::{
    console_error, console_log, dispatch_custom_event, execute_script, patch_elements, patch_signals, prefetch,
    redirect, remove_elements, remove_signals, replace_url, CustomEventOptions, ElementOptions, ScriptOptions,
    SignalOptions, Signals,
};
use crate::json::Value;
use crate::server::Response;
use crate::{Error, Event, EventStream};

/// A Datastar stream response: `run` gets the client's [`EventStream`] to send Datastar events on. On
/// HTTP/1.1 it carries `Connection: keep-alive`, as the specification asks, with a chunked body
/// (one chunk per event, flushed at once); HTTP/1.0 clients get a body that ends with the
/// connection.
pub fn response(run: impl FnOnce(EventStream) + Send + 'static) -> Response {
    Response::stream(run).keep_alive()
}

/// A Datastar answer whose events are all known when the handler returns, such as an action's
/// that reads the signals, updates its state and answers with a patch: the head, the events and
/// the body's end leave in one write, and no stream runs (see [`Response::events`]). It carries
/// `Connection: keep-alive` on HTTP/1.1, as [`response`] does.
///
/// ```
/// use bare_sse::datastar::{self, ElementOptions, SignalOptions};
/// use bare_sse::server::{Request, Response};
///
/// fn save(request: &Request) -> Result<Response, bare_sse::Error> {
///     let _signals = datastar::read_signals(request)?;
///     datastar::events_response(&[
///         datastar::patch_signals(r#"{"saved": true}"#, SignalOptions::new())?,
///         datastar::patch_elements("<p id=\"status\">Saved</p>", ElementOptions::new())?,
///     ])
/// }
/// # let _ = save;
/// ```
///
/// # Errors
///
/// That of [`Response::events`], for an event that cannot be encoded.
pub fn events_response<'a>(events: impl IntoIterator<Item = &'a Event>) -> Result<Response, Error> {
    Response::events(events).map(Response::keep_alive)
}

/// Datastar operations as methods of a [`EventStream`]. Sends are serialised: whole events never
/// interleave, even from several threads.
pub trait DatastarStream {
    /// Sends [`patch_elements`].
    ///
    /// # Errors
    ///
    /// Those of [`patch_elements`] (nothing is sent then), and [`Error::ClientGone`] once the
    /// client has gone or the stream was closed.
    fn patch_elements(&self, elements: &str, options: ElementOptions) -> Result<(), Error>;
    /// Sends [`remove_elements`].
    ///
    /// # Errors
    ///
    /// Those of [`remove_elements`] (nothing is sent then), and [`Error::ClientGone`] once the
    /// client has gone or the stream was closed.
    fn remove_elements(&self, selector: &str, options: ElementOptions) -> Result<(), Error>;
    /// Sends [`patch_signals`].
    ///
    /// # Errors
    ///
    /// Those of [`patch_signals`] (nothing is sent then), and [`Error::ClientGone`] once the client
    /// has gone or the stream was closed.
    fn patch_signals<'a>(&self, signals: impl Into<Signals<'a>>, options: SignalOptions) -> Result<(), Error>;
    /// Sends [`remove_signals`].
    ///
    /// # Errors
    ///
    /// Those of [`remove_signals`] (nothing is sent then), and [`Error::ClientGone`] once the
    /// client has gone or the stream was closed.
    fn remove_signals(&self, paths: &[&str], options: SignalOptions) -> Result<(), Error>;
    /// Sends [`execute_script`].
    ///
    /// # Errors
    ///
    /// Those of [`execute_script`] (nothing is sent then), and [`Error::ClientGone`] once the
    /// client has gone or the stream was closed.
    fn execute_script(&self, script: &str, options: ScriptOptions) -> Result<(), Error>;
    /// Sends [`redirect`].
    ///
    /// # Errors
    ///
    /// Those of [`redirect`] (nothing is sent then), and [`Error::ClientGone`] once the client has
    /// gone or the stream was closed.
    fn redirect(&self, url: &str) -> Result<(), Error>;
    /// Sends [`replace_url`].
    ///
    /// # Errors
    ///
    /// Those of [`replace_url`] (nothing is sent then), and [`Error::ClientGone`] once the client
    /// has gone or the stream was closed.
    fn replace_url(&self, url: &str) -> Result<(), Error>;
    /// Sends [`console_log`].
    ///
    /// # Errors
    ///
    /// Those of [`console_log`] (nothing is sent then), and [`Error::ClientGone`] once the client
    /// has gone or the stream was closed.
    fn console_log(&self, message: &str) -> Result<(), Error>;
    /// Sends [`console_error`].
    ///
    /// # Errors
    ///
    /// Those of [`console_error`] (nothing is sent then), and [`Error::ClientGone`] once the client
    /// has gone or the stream was closed.
    fn console_error(&self, message: &str) -> Result<(), Error>;
    /// Sends [`dispatch_custom_event`].
    ///
    /// # Errors
    ///
    /// Those of [`dispatch_custom_event`] (nothing is sent then), and [`Error::ClientGone`] once
    /// the client has gone or the stream was closed.
    fn dispatch_custom_event(&self, name: &str, detail: &Value, options: CustomEventOptions) -> Result<(), Error>;
    /// Sends [`prefetch`].
    ///
    /// # Errors
    ///
    /// Those of [`prefetch`] (nothing is sent then), and [`Error::ClientGone`] once the client has
    /// gone or the stream was closed.
    fn prefetch(&self, urls: &[&str]) -> Result<(), Error>;
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

    fn dispatch_custom_event(&self, name: &str, detail: &Value, options: CustomEventOptions) -> Result<(), Error> {
        self.send(&dispatch_custom_event(name, detail, options)?)
    }

    fn prefetch(&self, urls: &[&str]) -> Result<(), Error> {
        self.send(&prefetch(urls)?)
    }
}
