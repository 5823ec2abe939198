//! Write profiles: the transform a response body's bytes pass through, with a flush point after
//! every event. The identity (no transform) is the default; [`Gzip`] is built in, and a program can
//! plug in its own (Brotli from a crate of its choosing, say) by implementing [`WriteProfile`].
//!
//! A profile is offered per server ([`ServerBuilder::write_profile`](crate::ServerBuilder::write_profile))
//! or per response ([`Response::write_profile`](crate::Response::write_profile)), and used only
//! when the request's `Accept-Encoding` accepts its coding; the response then says
//! `Content-Encoding` and `Vary: Accept-Encoding`.
//!
//! **BREACH**: compression leaks, through the size of what is sent, whether attacker-chosen text
//! matches a secret in the same compressed stream. Never compress a stream that carries both a
//! secret (a token, a CSRF value, private data) and text an attacker can get into it.

use std::sync::Arc;

use super::deflate::{DEFAULT_LEVEL, MAX_LEVEL};
use super::gzip::GzipEncoder;

/// A content coding for response bodies: names itself and makes one encoder per response.
///
/// ```
/// use bare_sse::compress::{BodyEncoder, WriteProfile};
///
/// /// A "coding" that upper-cases ASCII: a toy, to show the shape.
/// struct Shout;
/// struct ShoutEncoder;
///
/// impl WriteProfile for Shout {
///     fn content_coding(&self) -> &str {
///         "x-shout"
///     }
///     fn encoder(&self) -> Box<dyn BodyEncoder> {
///         Box::new(ShoutEncoder)
///     }
/// }
///
/// impl BodyEncoder for ShoutEncoder {
///     fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
///         out.extend(input.iter().map(u8::to_ascii_uppercase));
///     }
///     fn finish(&mut self, _out: &mut Vec<u8>) {}
/// }
///
/// let server = bare_sse::Server::builder().write_profile(std::sync::Arc::new(Shout)).start()?;
/// # server.stop();
/// # Ok::<(), bare_sse::Error>(())
/// ```
pub trait WriteProfile: Send + Sync + 'static {
    /// The coding's name, as `Accept-Encoding` and `Content-Encoding` spell it (`gzip`, `br`).
    fn content_coding(&self) -> &str;
    /// A new encoder, for one response body.
    fn encoder(&self) -> Box<dyn BodyEncoder>;
}

/// One response body's encoder. The server calls [`encode`](Self::encode) once per flush unit
/// (an event, a batch, a heartbeat), in order, and sends its output at once, so that output must
/// let the client decode everything so far; [`finish`](Self::finish) once at a clean end.
pub trait BodyEncoder: Send {
    /// Encodes one flush unit, appending to `out`.
    fn encode(&mut self, input: &[u8], out: &mut Vec<u8>);
    /// Appends what ends the coding (a trailer, a final block).
    fn finish(&mut self, out: &mut Vec<u8>);
}

/// gzip, with this crate's DEFLATE encoder: every event is followed by a sync flush, so the browser
/// decodes it the moment it arrives. One encoder per response keeps its 32 KiB window across
/// events (about 450 KiB of memory per compressed response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gzip {
    level: u32,
}

impl Gzip {
    /// gzip at `level`, 0 (stored, no compression) to [`MAX_LEVEL`] (9, smallest); above 9 is 9.
    /// [`DEFAULT_LEVEL`] (6) trades speed and ratio evenly.
    pub fn new(level: u32) -> Gzip {
        Gzip { level: level.min(MAX_LEVEL) }
    }

    /// The level.
    pub fn level(&self) -> u32 {
        self.level
    }

    /// As an offer for a server or response.
    pub fn shared(self) -> Arc<dyn WriteProfile> {
        Arc::new(self)
    }
}

impl Default for Gzip {
    /// gzip at [`DEFAULT_LEVEL`] (6).
    fn default() -> Gzip {
        Gzip::new(DEFAULT_LEVEL)
    }
}

impl WriteProfile for Gzip {
    fn content_coding(&self) -> &str {
        "gzip"
    }

    fn encoder(&self) -> Box<dyn BodyEncoder> {
        Box::new(GzipEncoder::new(self.level))
    }
}

impl BodyEncoder for GzipEncoder {
    fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        GzipEncoder::encode(self, input, out);
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        GzipEncoder::finish(self, out);
    }
}

/// The write profiles offered for a response, in order of preference (none: identity only).
#[derive(Clone, Default)]
pub(crate) struct Offers(pub Vec<Arc<dyn WriteProfile>>);

impl Offers {
    /// The profile that the request's `Accept-Encoding` accepts best, if any.
    pub fn negotiate(&self, accept_encoding: Option<&str>) -> Option<&Arc<dyn WriteProfile>> {
        let codings: Vec<&str> = self.0.iter().map(|profile| profile.content_coding()).collect();
        let chosen = crate::http::choose_coding(accept_encoding, &codings)?;
        self.0.iter().find(|profile| profile.content_coding() == chosen)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Offers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|profile| profile.content_coding())).finish()
    }
}
