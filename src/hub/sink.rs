//! The contract between the hub and the server: what the hub needs of a client's connection
//! ([`Sink`]), how a write that must not wait went ([`Written`]), and how a client's body ends
//! ([`Ending`]). The hub owns these types and the server implements them (its `StreamSocket`), so
//! the hub never sees a socket and never imports the server: data flows one way, and the lower
//! layer states what it needs.
//!
//! Not here: who writes to a client when (the registry's owner rule, in `registry.rs`), and the
//! threads that call a sink (`flusher.rs`, `catch_up.rs`, `subscription.rs`).
//!
//! # What the hub relies on
//!
//! - **One writer at a time.** The hub calls a sink's write methods from one thread at a time per
//!   client (the registry's owner), but the server may hold the socket for a moment of its own
//!   (its departure watch switching the socket's mode, its stop writing the body's end). A sink
//!   serialises the two: [`Sink::write_now`] finds the socket taken and says so without waiting;
//!   [`Sink::write_waiting`] waits its turn.
//! - **Exact counts.** Every write starts where the last one stopped, and reports what the socket
//!   took: a [`Written::Partial`] count is exactly the bytes of the offered slice that are on their
//!   way to the client, so the hub can move the client's cursor by it and hand the rest to another
//!   thread without losing or repeating a byte. A frame (an HTTP chunk) that a write left open is
//!   the sink's to finish before the next bytes.
//! - **Closing is final and safe from any thread.** After [`Sink::close`], every write fails at
//!   once (a thread blocked in one returns), so a thread that holds a client the hub gave up on
//!   lets it go without waiting.

use std::sync::Arc;
use std::time::Duration;

/// What the hub needs of a client's connection. The server's connections implement it; the hub
/// never sees a socket.
pub(crate) trait Sink: Send + Sync {
    /// Writes as much of `bytes` as the socket takes without waiting: it never blocks, not even for
    /// a moment. `Partial` (perhaps of 0 bytes) when the socket is full, or when another thread is
    /// writing to it; then the client's next writer is a thread that may wait.
    fn write_now(&self, bytes: &[u8]) -> Written;
    /// Writes `bytes`, waiting for the socket: for the write turn as long as it takes, and for room
    /// in the socket at most `wait` (never zero) at a time. A frame an earlier write left open is
    /// continued first (`bytes` are its rest; empty `bytes` only finish it). `All` once every byte
    /// is written (and its frame closed, unless the frame goes on past them); `Partial(n)` once a
    /// wait of `wait` found the socket still full, after it took `n` bytes (perhaps 0); `Failed`
    /// when the connection is broken or closed. Whether the client has stalled is the hub's to
    /// decide, from what the writes took and when (`timing.rs`): the sink only waits as long as it
    /// is told.
    fn write_waiting(&self, bytes: &[u8], wait: Duration) -> Written;
    /// The hub gave up on this client: close its connection.
    fn close(&self);
    /// What ends this client's body when the body ends cleanly (the server's stop), before the
    /// framing's end: given the number of body bytes the socket has written (in whole writes,
    /// the frames' own bytes not counted), the bytes to write, or `None` when no clean end is
    /// possible there (the connection is then cut). Called at most once, by the socket's writer,
    /// with no write in progress. A gzip client's end is the rest of a unit its last write stopped
    /// inside, the final block and the trailer.
    fn set_ending(&self, ending: Ending);
}

/// How a write went: one that must not wait ([`Sink::write_now`]), or one that waits as long as it
/// is told ([`Sink::write_waiting`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    /// Everything.
    All,
    /// The socket was full after it took this many bytes (without waiting, or after the wait).
    Partial(usize),
    /// The connection is broken.
    Failed,
}

/// The end of a client's body, computed when the body ends (see [`Sink::set_ending`]): given the
/// body bytes written so far and last plain bytes to send before the end (perhaps none), the
/// bytes that end it, or `None` where no clean end is possible.
pub(crate) type Ending = Box<dyn FnOnce(u64, &[u8]) -> Option<Vec<u8>> + Send>;

/// A client's sink as the hub stores it: shared by the registry, the round that writes to it and
/// the thread that catches it up.
pub(crate) type SharedSink = Arc<dyn Sink>;
