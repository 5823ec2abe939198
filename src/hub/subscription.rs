//! Joining and leaving: [`Hub::subscribe`] registers a client and takes its history snapshot in
//! one step; the [`Subscription`] it returns, held by the client's connection, sends the client its
//! first bytes, its history and the backlog since it joined, hands it to its flusher, and
//! unregisters it when dropped.
//!
//! Not here: what a gzip client's end needs to know of what it was sent (`gzip_ending.rs`), the
//! catch-up writes themselves (`catch_up.rs`), and the lifecycle hooks it calls (`hooks.rs`).

use std::io;
use std::sync::{Arc, Mutex};

use super::backplane;
use super::catch_up::CatchUp;
use super::feed::Coding;
use super::gzip_ending::{gzip_ending, lead_writes, lead_written, Lead};
use super::history::Replay;
use super::hooks::Presence;
use super::registry::{Key, RESET_EVENT_TYPE};
use super::shared::Inner;
use super::sink::{SharedSink, Sink};
use super::topics::Selection;
use super::Hub;
use crate::compress::deflate::Deflater;
use crate::compress::gzip::{self, Checksum};
use crate::Event;

impl Hub {
    /// Registers a client that receives what `selection` admits, and takes its history snapshot
    /// in one step. The client is owned by its connection until [`Subscription::start`] has sent
    /// it what it missed. With `gzip` (on a hub that compresses), the client reads the compressed
    /// events.
    pub(crate) fn subscribe(
        &self,
        sink: SharedSink,
        last_event_id: Option<&str>,
        gzip: bool,
        selection: &Selection,
    ) -> io::Result<Subscription> {
        let inner = self.inner();
        inner.start_flushers()?;
        if let (Some(_), Some(after)) = (&inner.backplane, last_event_id) {
            backplane::wait_until_read(inner, after);
        }
        let coding = if gzip && self.compresses() { Coding::Gzip } else { Coding::Identity };
        let gzip = coding == Coding::Gzip;
        let joined = {
            let mut state = inner.lock();
            let joined = state.registry.join(sink, last_event_id, coding, selection);
            let joined = joined.map(|joined| (joined, state.redis_last.clone()));
            inner.signal_progress(&state);
            // Shard 0's flusher sends the heartbeats; asleep with no clients, it has no deadline:
            // for a hub's first client, let it compute one. With clients, it sleeps until the
            // earliest due time, which a join never brings forward (see `Registry::add_selection`).
            if state.asleep[0] && inner.config.heartbeat.is_some() && state.registry.subscriber_count() == 1 {
                inner.work[0].notify_one();
            }
            joined
        };
        let Some((mut joined, redis_last)) = joined else {
            return Err(io::Error::other("no flusher thread could be started"));
        };
        if last_event_id.is_some() && !joined.replay.unknown_id {
            inner.counters.resumed_from_history();
        }
        // Resuming from an entry this server's history does not hold: the stream may.
        if let (Some(after), Some(through)) = (last_event_id, redis_last) {
            if joined.replay.unknown_id {
                resume_from_backplane(inner, after, &through, selection, gzip, &mut joined.replay);
            }
        }
        let reset = joined.replay.unknown_id.then(|| reset_event(last_event_id.unwrap_or_default()));
        if reset.is_some() {
            inner.counters.reset_sent();
        }
        let resumed = last_event_id.is_some() && reset.is_none();
        let replay = Some(joined.replay);
        Ok(Subscription { inner: Arc::clone(inner), key: joined.key, replay, reset, gzip, resumed, presence: None })
    }
}

/// Fills `replay` with the entries of the hub's Redis stream after `after`, through `through`,
/// when the stream still holds them.
///
/// Never inlined: a rare path, whose frame would otherwise widen every join's, and the stack
/// pages a connection thread touches while its client joins stay resident while it is idle.
#[inline(never)]
fn resume_from_backplane(
    inner: &Inner,
    after: &str,
    through: &str,
    selection: &Selection,
    gzip: bool,
    replay: &mut Replay,
) {
    let Some(backplane) = &inner.backplane else { return };
    let most_bytes = inner.config.max_queued_bytes;
    if let Ok(Some(events)) = backplane.replay(after, through, most_bytes, selection) {
        if gzip {
            replay.checksums = events.iter().map(|bytes| Checksum::of(bytes)).collect();
        }
        replay.events = events.into_iter().map(|bytes| compressed_if(gzip, bytes).into()).collect();
        replay.unknown_id = false;
        inner.counters.resumed_from_redis();
    }
}

/// The reset event for a client whose last event id the hub does not hold. Never inlined, as
/// `resume_from_backplane` is not.
#[inline(never)]
fn reset_event(last_event_id: &str) -> Box<Event> {
    Box::new(Event::new().event(RESET_EVENT_TYPE).data(last_event_id))
}

/// An event's bytes for a client that reads compressed bytes: a stored unit (for the few events
/// replayed from a backplane, which the hub's compressor never saw).
fn compressed_if(gzip: bool, bytes: Vec<u8>) -> Vec<u8> {
    if !gzip {
        return bytes;
    }
    let mut out = Vec::with_capacity(bytes.len() + 16);
    Deflater::stored_unit(&bytes, &mut out);
    out
}

/// A client's place in the hub, held by its connection. [`Subscription::leave`] (or dropping it)
/// unregisters the client.
pub(crate) struct Subscription {
    pub(super) inner: Arc<Inner>,
    pub(super) key: Key,
    replay: Option<Replay>,
    /// Boxed: few clients get one, and the subscription is held for the client's whole life.
    reset: Option<Box<Event>>,
    /// The client reads compressed bytes: its stream starts with a gzip header.
    gzip: bool,
    /// The client's last event id was found (in history, or in the Redis stream): it gets what
    /// came after it, and no reset event.
    pub(super) resumed: bool,
    /// Set when the hub's hooks were told the client joined: dropped after the client is
    /// unregistered, it tells them it left (see `hooks.rs`).
    pub(super) presence: Option<Presence>,
}

impl Subscription {
    /// Sends the client none of the history it joined with: it starts with the events published
    /// from now on. Its cursor was set at the backlog's end when it joined, so nothing is missed
    /// and nothing is sent twice; a reset event, if one is due, still goes out.
    pub fn skip_history(&mut self) {
        if let Some(replay) = &mut self.replay {
            replay.events.clear();
            replay.checksums.clear();
        }
    }

    /// Sends `intro` (the stream's first bytes), the reset event if the client's last id was
    /// unknown, its history, and then the backlog, with blocking writes; then hands the client to
    /// its flusher. Fails when the client is gone, stalled or was dropped.
    ///
    /// Each history event is written straight from the history's shared bytes, so a joining client
    /// that does not read holds no copy of the history: what it costs is bounded by the socket's
    /// buffers, which the kernel holds, and its place in the shared backlog.
    ///
    /// Never inlined: what it holds while it writes is gone before the client's thread waits,
    /// idle, for the client to leave, keeping the stack pages it touched.
    #[inline(never)]
    pub fn start(&mut self, sink: &dyn Sink, intro: &[u8]) -> io::Result<()> {
        let mut catch_up = CatchUp::new(&self.inner, self.key);
        let mut first = intro.to_vec();
        if let Some(reset) = self.reset.take() {
            first.extend_from_slice(&reset.encode(None).map_err(io::Error::from)?);
        }
        // What this client is sent before the backlog, as its gzip end needs to know it.
        let lead = Arc::new(Mutex::new(Lead::default()));
        if self.gzip {
            sink.set_ending(gzip_ending(Arc::downgrade(&self.inner), self.key, Arc::clone(&lead)));
            // The header, then this client's own first bytes as stored blocks: too few to be
            // worth an encoder, and they end on a byte boundary like every compressed event.
            let mut compressed = gzip::HEADER.to_vec();
            if !first.is_empty() {
                Deflater::stored_unit(&first, &mut compressed);
            }
            lead_writes(&lead, compressed.len(), Checksum::of(&first));
            first = compressed;
        }
        if !first.is_empty() {
            catch_up.write_all(sink, &first)?;
            lead_written(&lead);
        }
        let replay = self.replay.take().unwrap_or_default();
        for (at, event) in replay.events.iter().enumerate() {
            if let Some(checksum) = replay.checksums.get(at) {
                lead_writes(&lead, event.len(), *checksum);
            }
            catch_up.write_all(sink, event)?;
            lead_written(&lead);
        }
        drop(replay);
        catch_up.run(sink)
    }

    /// Whether the client's last event id was found (in history, or in the Redis stream): it is
    /// sent what came after it, and no reset event.
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    /// Unregisters the client.
    pub fn leave(self) {}
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut state = self.inner.lock();
        state.registry.leave(self.key);
        self.inner.signal_progress(&state);
    }
}
