//! Draining: ending every stream over a period of your choosing rather than all at once, so that a
//! restart or a deploy does not become a reconnect storm.
//!
//! Stopping a server that has 10,000 clients ends 10,000 streams in the same millisecond, and
//! every browser comes back after the same reconnection time: 10,000 connections, requests and
//! history replays at once, on the new server or on the next one behind the load balancer.
//! [`Server::drain`] spreads the ends over a period instead, and tells each client a reconnection
//! time of its own, so that the reconnections spread out too.
//!
//! # What a client sees
//!
//! - A stream that runs when the drain begins ends at its turn: after every event its hub
//!   published before that turn, a `retry:` line (a delay between the drain's bounds, with
//!   jitter), and the end of the body (the last chunk). An `EventSource` reconnects after that
//!   delay, with its `Last-Event-ID`.
//! - A request that would start a stream while the drain runs is answered at once, by the thread
//!   that read it: with [`DrainAnswer::ComeBackLater`] (the default), `200`, a `retry:` and the end
//!   of the body, which brings an `EventSource` back after that delay; with
//!   [`DrainAnswer::StopForGood`], `204 No Content`, after which an `EventSource` never reconnects
//!   (the WHATWG rule). Not `503`: `EventSource` fails for good on any status but `200`, so a `503`
//!   would stop it too, and with an error event rather than the documented way to say "stop".
//! - Requests answered at once (pages, handlers that do not stream) are served as usual.
//!
//! Once the last stream has ended, the server stops ([`Server::stop`]). With
//! [`DrainAnswer::StopForGood`] it first keeps answering `204` for the longest `retry:` it gave and
//! a second more, so that every client it ended comes back while it can still be told to stop.
//!
//! # The schedule
//!
//! [`schedule`] is pure: a number of streams, the period, the retry bounds and a jitter source give
//! each stream its end time and its `retry:`. The period is cut into as many equal slots as there
//! are streams, and the i-th stream (in the order their connections were accepted) ends at a random
//! point of the i-th slot, so every stretch of the period holds its share of the ends (no cluster,
//! no gap longer than two slots), and a seed ([`Drain::seed`]) repeats a drain exactly.
//!
//! # Invariants
//!
//! - Every stream the server tracks is in the drain's book ([`Book`]) from the moment it is
//!   tracked, before its head goes out, until its connection's thread lets it go. The book, the
//!   drain's start, and each turn are read and changed under the server's connections lock, so a
//!   stream is either in the drain's schedule or sees the drain when it is tracked.
//! - Nothing is written before a stream has started (its head, and for a hub client its first
//!   bytes: a gzip header, history): a stream whose turn comes while it is starting, or that is
//!   tracked once the drain has begun, is ended by its own thread as soon as it has started.
//! - A running hub stream is ended only once its hub has handed every client what was published
//!   before the turn, or [`DELIVERY_WAIT`] has passed (a client that does not read); the end then
//!   comes between two writes, so the events a client received are whole. Like `stop`'s, it is
//!   written without waiting for the socket (the writer may be a hub's flusher, which never
//!   waits): a client whose socket is full then has its connection cut instead.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, PoisonError, Weak};
use std::time::{Duration, Instant};

use super::connection::{borrowed, retry_line};
use super::stream_socket::StreamSocket;
use super::{Request, Server, Shared, TrackedStream};
use crate::http::{
    complete_response, stream_response_head_for, BodyFramer, BodyFraming, BodyRule, Persistence, Version,
};
use crate::jitter::Jitter;
use crate::Hub;

/// The shortest `retry:` a drained client is told, by default.
pub const DEFAULT_DRAIN_RETRY_MIN: Duration = Duration::from_secs(1);
/// The longest `retry:` a drained client is told, by default.
pub const DEFAULT_DRAIN_RETRY_MAX: Duration = Duration::from_secs(5);
/// Longest drain period accepted: longer ones are lowered to it. A deploy that waits more than an
/// hour for its clients to leave has another problem, and a bound keeps every end time
/// representable.
pub const MAX_DRAIN_PERIOD: Duration = Duration::from_secs(60 * 60);
/// Longest `retry:` a drain tells: longer bounds are lowered to it.
pub const MAX_DRAIN_RETRY: Duration = Duration::from_secs(60 * 60);
/// How long a turn waits for a hub to hand every client what was published before it. A client
/// that reads gets it within milliseconds; one that does not read could hold the drain back until
/// its write timeout, so after this long its stream ends without what it has not taken, and it
/// resumes from its last id when it reconnects.
pub(super) const DELIVERY_WAIT: Duration = Duration::from_secs(1);
/// After the last turn, how long the drain waits for the streams it ended to be over before it
/// stops the server: those whose end waits for a write in progress (a client catching up on a
/// backlog), and those that were still starting at their turn (a hub client taking a long
/// history), which end themselves with their `retry:` once started. Streams not over by then are
/// ended by [`Server::stop`], without a `retry:`.
pub(super) const END_WAIT: Duration = Duration::from_secs(2);
/// With [`DrainAnswer::StopForGood`], how much longer than the longest `retry:` the server keeps
/// answering `204` after its last stream ended: time for the last client to connect and ask.
const STOP_FOR_GOOD_GRACE: Duration = Duration::from_secs(1);

/// What a request that would start a stream gets while the server drains.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DrainAnswer {
    /// `200`, a `retry:` (between the drain's bounds, with jitter) and the end of the body: an
    /// `EventSource` comes back after that delay, to this server's successor or to another server
    /// behind the same address.
    #[default]
    ComeBackLater,
    /// `204 No Content`: an `EventSource` stops reconnecting for good, and so does `bare-sse
    /// listen`. For a service that is going away.
    StopForGood,
}

/// How a server drains: over what period, the `retry:` each client is told, and what requests for
/// a stream get meanwhile. See [`Server::drain_with`].
///
/// ```
/// use std::time::Duration;
/// use bare_sse::server::{Drain, DrainAnswer};
///
/// let drain = Drain::over(Duration::from_secs(30))
///     .retry_between(Duration::from_secs(2), Duration::from_secs(10))
///     .answer(DrainAnswer::StopForGood);
/// # let _ = drain;
/// ```
#[derive(Debug, Clone)]
#[must_use = "a drain does nothing until it is given to `Server::drain_with`"]
pub struct Drain {
    period: Duration,
    retry_min: Duration,
    retry_max: Duration,
    answer: DrainAnswer,
    seed: Option<u64>,
}

impl Drain {
    /// A drain that ends every stream within `period` (kept at most [`MAX_DRAIN_PERIOD`]; zero ends
    /// them all at once, each still with its `retry:`), telling each client a `retry:` between
    /// [`DEFAULT_DRAIN_RETRY_MIN`] and [`DEFAULT_DRAIN_RETRY_MAX`].
    pub fn over(period: Duration) -> Drain {
        Drain {
            period: period.min(MAX_DRAIN_PERIOD),
            retry_min: DEFAULT_DRAIN_RETRY_MIN,
            retry_max: DEFAULT_DRAIN_RETRY_MAX,
            answer: DrainAnswer::default(),
            seed: None,
        }
    }

    /// The bounds of the `retry:` each client is told, inclusive, in whole milliseconds (the
    /// field's unit; kept at most [`MAX_DRAIN_RETRY`], and swapped if `min` is the larger). Equal
    /// bounds give every client the same delay.
    pub fn retry_between(mut self, min: Duration, max: Duration) -> Drain {
        let whole_ms = |d: Duration| Duration::from_millis(d.min(MAX_DRAIN_RETRY).as_millis() as u64);
        (self.retry_min, self.retry_max) = (whole_ms(min.min(max)), whole_ms(min.max(max)));
        self
    }

    /// What a request that would start a stream gets while the drain runs (default
    /// [`DrainAnswer::ComeBackLater`]).
    pub fn answer(mut self, answer: DrainAnswer) -> Drain {
        self.answer = answer;
        self
    }

    /// Seeds the jitter of the end times and the `retry:` values, so that a drain of the same
    /// streams repeats exactly (default: seeded from the clock, which differs between servers
    /// drained together).
    pub fn seed(mut self, seed: u64) -> Drain {
        self.seed = Some(seed);
        self
    }

    fn jitter(&self) -> Jitter {
        self.seed.map_or_else(Jitter::seeded, Jitter::from_seed)
    }
}

/// One stream's turn in a drain: when its body ends, counted from the drain's start, and the
/// `retry:` it is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DrainTurn {
    pub end_at: Duration,
    pub retry: Duration,
}

/// The turns of `streams` streams drained over `period`, in order: the period is cut into
/// `streams` equal slots and the i-th turn falls at a random point of the i-th slot, so the end
/// times never go back, stay within the period, and spread over all of it. Each `retry:` is drawn
/// between `retry_min` and `retry_max` (whole milliseconds, inclusive).
pub(crate) fn schedule(
    streams: usize,
    period: Duration,
    (retry_min, retry_max): (Duration, Duration),
    jitter: &mut Jitter,
) -> Vec<DrainTurn> {
    (0..streams)
        .map(|slot| {
            let end_at = period.mul_f64((slot as f64 + jitter.next_fraction()) / streams as f64);
            DrainTurn { end_at, retry: retry_within(retry_min, retry_max, jitter) }
        })
        .collect()
}

/// A `retry:` between `min` and `max`, in whole milliseconds. Rounding down keeps it at least
/// `min`, which is whole milliseconds itself.
fn retry_within(min: Duration, max: Duration, jitter: &mut Jitter) -> Duration {
    let retry = min + (max - min).mul_f64(jitter.next_fraction());
    Duration::from_millis(retry.as_millis() as u64)
}

/// What a stream is fed by. (Its last line goes out as plain text either way: the stream's body
/// writer codes it as it codes the body, a hub's gzip client included.)
pub(super) enum StreamBody {
    /// A hub's client. The drain waits for the hub to deliver before each turn.
    Hub { hub: Hub },
    /// A per-connection stream: its body writer encodes what is written, if it has an encoder.
    PerConnection,
}

/// Where a tracked stream stands, for the drain.
enum Phase {
    /// Its head (or a hub client's first bytes) is still going out.
    Starting,
    /// Started: the drain may end it at its turn.
    Running,
    /// Its turn came while it was starting, or it began during the drain: its own thread ends it,
    /// with this `retry:`, as soon as it has started.
    EndOnStart(Duration),
    /// Ended by its own thread once started.
    Ended,
}

struct Entry {
    stream: Weak<StreamSocket>,
    body: StreamBody,
    phase: Phase,
}

/// A drain under way.
struct Draining {
    answer: DrainAnswer,
    retry: (Duration, Duration),
    /// Draws the `retry:` of streams and requests that arrive during the drain.
    jitter: Jitter,
}

/// Every stream the server tracks, by connection id, and the drain under way, if any. Lives in
/// the server's connections registry, under its lock.
#[derive(Default)]
pub(super) struct Book {
    streams: BTreeMap<u64, Entry>,
    draining: Option<Draining>,
}

/// A stream that a turn ends now.
struct Ending {
    stream: Arc<StreamSocket>,
    hub: Option<Hub>,
    last_bytes: Vec<u8>,
}

impl Book {
    /// Records stream `id`, which has not started yet. One tracked once a drain has begun is
    /// ended as soon as it has started, with a `retry:` drawn for it.
    pub fn track(&mut self, id: u64, stream: &Arc<StreamSocket>, body: StreamBody) {
        let phase = match &mut self.draining {
            Some(draining) => Phase::EndOnStart(draining.next_retry()),
            None => Phase::Starting,
        };
        self.streams.insert(id, Entry { stream: Arc::downgrade(stream), body, phase });
    }

    /// Stream `id` has started; returns the stream and its last bytes if its thread is to end it
    /// now, and then to call [`ended_on_start`](Self::ended_on_start).
    fn started(&mut self, id: u64) -> Option<(Arc<StreamSocket>, Vec<u8>)> {
        let entry = self.streams.get_mut(&id)?;
        match entry.phase {
            Phase::Starting => entry.phase = Phase::Running,
            Phase::EndOnStart(retry) => return Some((entry.stream.upgrade()?, retry_line(retry))),
            Phase::Running | Phase::Ended => {}
        }
        None
    }

    /// Stream `id`'s own thread has asked for its end, `retry:` first: wakes the drain, which may
    /// wait for it. Only now, so that the drain's stop cannot end it first, without the `retry:`.
    fn ended_on_start(&mut self, id: u64, drain_wake: &Condvar) {
        if let Some(entry) = self.streams.get_mut(&id) {
            entry.phase = Phase::Ended;
        }
        drain_wake.notify_all();
    }

    /// Forgets stream `id`, waking a drain (through `drain_wake`) that may wait for it to end;
    /// returns what was kept of it, for the caller to drop once it has let go of the lock: it may
    /// hold a hub, whose last clone joins the hub's threads when dropped.
    pub fn forget(&mut self, id: u64, drain_wake: &Condvar) -> Option<impl Sized> {
        if self.draining.is_some() {
            drain_wake.notify_all();
        }
        self.streams.remove(&id)
    }

    /// Whether a stream whose turn has come is still starting.
    fn any_to_end_on_start(&self) -> bool {
        self.streams.values().any(|entry| matches!(entry.phase, Phase::EndOnStart(_)))
    }

    /// Stream `id`'s turn, with `retry`: the stream to end now, if it is running. One still
    /// starting is ended by its own thread once started. Returns whether the stream was there.
    fn take_turn(&mut self, id: u64, retry: Duration, ending: &mut Vec<Ending>) -> bool {
        let Some(entry) = self.streams.get_mut(&id) else { return false };
        match entry.phase {
            Phase::Starting => entry.phase = Phase::EndOnStart(retry),
            // Ended, or to be ended once started, already: not counted twice.
            Phase::EndOnStart(_) | Phase::Ended => return false,
            Phase::Running => {
                let Some(stream) = entry.stream.upgrade() else { return false };
                let hub = match &entry.body {
                    StreamBody::Hub { hub, .. } => Some(hub.clone()),
                    StreamBody::PerConnection => None,
                };
                ending.push(Ending { stream, hub, last_bytes: retry_line(retry) });
            }
        }
        true
    }
}

impl Draining {
    fn next_retry(&mut self) -> Duration {
        retry_within(self.retry.0, self.retry.1, &mut self.jitter)
    }
}

/// The answer that brings a stream's client back after `retry`: `200`, the `retry:` line and the
/// end of the body, then a close (the head alone for `HEAD`). A `503` would make an
/// `EventSource` give up for good. For a server that is draining, or past its connection limit.
pub(super) fn come_back_later(method: &str, version: Version, headers: &[(&str, &str)], retry: Duration) -> Vec<u8> {
    let framing = BodyFraming::for_version(version);
    let mut headers = headers.to_vec();
    if framing == BodyFraming::Chunked {
        headers.push(("Connection", "close"));
    }
    let mut answer = stream_response_head_for(200, framing, false, &headers);
    if !BodyRule::for_response(Some(method), 200).sends_body() {
        return answer;
    }
    let mut framer = BodyFramer::new(framing);
    // Writing into a Vec cannot fail.
    let _ = framer.write_all(&mut answer, &retry_line(retry));
    answer.extend_from_slice(framer.end_of_body());
    answer
}

impl Server {
    /// Ends every stream over `period`, spread out, each with a `retry:` between
    /// [`DEFAULT_DRAIN_RETRY_MIN`] and [`DEFAULT_DRAIN_RETRY_MAX`], and then stops the server;
    /// requests for a stream meanwhile are told to come back later. Returns the number of streams
    /// it ended. The same as [`drain_with`](Self::drain_with)`(Drain::over(period))`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bare_sse::Server;
    ///
    /// let server = Server::builder().start()?;
    /// let ended = server.drain(Duration::from_millis(10)); // no client: it stops at once
    /// assert_eq!((ended, server.connections()), (0, 0));
    /// # Ok::<(), bare_sse::Error>(())
    /// ```
    pub fn drain(&self, period: Duration) -> usize {
        self.drain_with(Drain::over(period))
    }

    /// Drains the server as `drain` says, blocking until it is over, and then stops it. Each
    /// stream running now ends at its turn: the period is cut into as many equal slots as there
    /// are streams, and each stream, in the order their connections came, ends at a random point
    /// of its own slot, after every event its hub published before that turn, with a `retry:` line
    /// and the end of its body (the last chunk). A request that would start a stream meanwhile
    /// gets the [`DrainAnswer`]; other requests are served as usual. With
    /// [`DrainAnswer::StopForGood`], the server keeps answering `204` for the longest `retry:` and
    /// a second more after the last end, so that the clients it ended come back to hear it.
    /// Returns the number of streams it ended.
    ///
    /// A turn waits at most a second for its hub to deliver what was published before it: a
    /// client that does not read can hold the drain back that long, and its stream then ends
    /// without what it had not taken (it resumes from its last id).
    ///
    /// Returns at once, with 0, if the server is stopped or another drain is under way. A
    /// [`stop`](Self::stop) from another thread cuts the drain short: the streams left end as
    /// `stop` ends them, without a `retry:`.
    pub fn drain_with(&self, drain: Drain) -> usize {
        let shared = &self.shared;
        let began = Instant::now();
        let (ids, turns) = {
            let mut connections = shared.lock_connections();
            if shared.stopping.load(Ordering::SeqCst) || connections.drain.draining.is_some() {
                return 0;
            }
            let mut jitter = drain.jitter();
            let ids: Vec<u64> = connections.drain.streams.keys().copied().collect();
            let turns = schedule(ids.len(), drain.period, (drain.retry_min, drain.retry_max), &mut jitter);
            let retry = (drain.retry_min, drain.retry_max);
            connections.drain.draining = Some(Draining { answer: drain.answer, retry, jitter });
            (ids, turns)
        };
        let mut ended = 0;
        // The streams ended at their turns, to wait for at the end. Weak: a stream that is over
        // drops its socket, whose descriptor a reconnecting client may need.
        let mut ending = Vec::new();
        let mut next = 0;
        while next < turns.len() {
            if !shared.wait_for_drain(began + turns[next].end_at, |_| false) {
                return ended;
            }
            // Every turn due by now: at least the one waited for.
            let now = began.elapsed();
            let due = next..next + turns[next..].partition_point(|turn| turn.end_at <= now).max(1);
            ended += shared.end_turns(&ids[due.clone()], &turns[due.clone()], &mut ending);
            next = due.end;
        }
        // Streams whose turn came while they were starting end themselves once started, and an
        // end asked for during a write follows that write.
        let deadline = Instant::now() + END_WAIT;
        if !shared.wait_for_drain(deadline, |book| !book.any_to_end_on_start()) {
            return ended;
        }
        for stream in ending.iter().filter_map(Weak::upgrade) {
            stream.wait_closed(Some(deadline.saturating_duration_since(Instant::now())));
        }
        if let (DrainAnswer::StopForGood, Some(last)) = (drain.answer, turns.last()) {
            // Every client ended comes back within its `retry:`: it hears `204` while this waits.
            let deadline = began + last.end_at + drain.retry_max + STOP_FOR_GOOD_GRACE;
            if !shared.wait_for_drain(deadline, |_| false) {
                return ended;
            }
        }
        self.stop();
        ended
    }
}

impl Shared {
    /// During a drain, the answer to `request`, whose response would start a stream: see
    /// [`DrainAnswer`]. `None` when no drain is under way.
    pub(super) fn drain_answer(&self, request: &Request) -> Option<Vec<u8>> {
        let (answer, retry) = {
            let mut connections = self.lock_connections();
            let draining = connections.drain.draining.as_mut()?;
            let retry = match draining.answer {
                DrainAnswer::ComeBackLater => draining.next_retry(),
                DrainAnswer::StopForGood => Duration::ZERO,
            };
            (draining.answer, retry)
        };
        let cors = self.config.cors.headers(request.header("origin"));
        let headers = borrowed(&cors);
        Some(match answer {
            DrainAnswer::ComeBackLater => come_back_later(request.method(), request.version(), &headers, retry),
            DrainAnswer::StopForGood => {
                complete_response(Some(request.method()), 204, Persistence::Close, &headers, &[])
            }
        })
    }

    /// Wakes a drain waiting for its next turn, to see that the server is stopping. Under the
    /// lock the drain waits with, so that it cannot miss the wake-up between its look at the flag
    /// and its wait.
    pub(super) fn wake_drain(&self) {
        let _connections = self.lock_connections();
        self.drain_wake.notify_all();
    }

    /// Waits until `deadline`, or until `done` holds for the book (looked at when a stream that
    /// the drain waits for starts or ends); false if the server began to stop meanwhile.
    fn wait_for_drain(&self, deadline: Instant, done: impl Fn(&Book) -> bool) -> bool {
        let mut connections = self.lock_connections();
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                return false;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || done(&connections.drain) {
                return true;
            }
            connections = self.drain_wake.wait_timeout(connections, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// Ends the streams `ids`, whose turns these are: first every hub among them hands its
    /// clients what was published before now (for at most [`DELIVERY_WAIT`] each), then each
    /// running stream gets its `retry:` and the end of its body, between two writes; those are
    /// added to `ended_streams`. Returns how many of them were still there to end.
    fn end_turns(&self, ids: &[u64], turns: &[DrainTurn], ended_streams: &mut Vec<Weak<StreamSocket>>) -> usize {
        let mut ending = Vec::new();
        let mut ended = {
            let mut connections = self.lock_connections();
            let book = &mut connections.drain;
            ids.iter().zip(turns).filter(|(id, turn)| book.take_turn(**id, turn.retry, &mut ending)).count()
        };
        let mut hubs: Vec<&Hub> = Vec::new();
        for hub in ending.iter().filter_map(|end| end.hub.as_ref()) {
            if !hubs.iter().any(|seen| seen.is_same(hub)) {
                hubs.push(hub);
            }
        }
        for hub in hubs {
            hub.flush(DELIVERY_WAIT);
        }
        for Ending { stream, last_bytes, .. } in ending {
            // A stream that closed meanwhile (its client left) is not one the drain ended.
            if stream.end_soon_with(last_bytes) {
                ended_streams.push(Arc::downgrade(&stream));
            } else {
                ended -= 1;
            }
        }
        ended
    }
}

impl TrackedStream<'_> {
    /// Says that the stream has started (its head, and a hub client's first bytes, have gone
    /// out): from now on a drain may end it at its turn. If its turn has come already, or it began
    /// during a drain, it is ended now, with its `retry:`.
    pub(super) fn started(&self) {
        let ending = self.shared.lock_connections().drain.started(self.id);
        if let Some((stream, last_bytes)) = ending {
            stream.end_soon_with(last_bytes);
            self.shared.lock_connections().drain.ended_on_start(self.id, &self.shared.drain_wake);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn turns(streams: usize, period: Duration, retry: (Duration, Duration), seed: u64) -> Vec<DrainTurn> {
        schedule(streams, period, retry, &mut Jitter::from_seed(seed))
    }

    /// 50 streams over 10 s: each tenth of the period holds exactly five ends, in order, all
    /// within the period; the same seed repeats the drain and another seed does not.
    #[test]
    fn ends_spread_evenly_over_the_period() {
        let period = 10 * SECOND;
        let retry = (DEFAULT_DRAIN_RETRY_MIN, DEFAULT_DRAIN_RETRY_MAX);
        for seed in [0, 1, 7, 12345, u64::MAX] {
            let drained = turns(50, period, retry, seed);
            let ends: Vec<Duration> = drained.iter().map(|turn| turn.end_at).collect();
            assert!(ends.windows(2).all(|pair| pair[0] <= pair[1]), "seed {seed}: in order: {ends:?}");
            assert!(ends.iter().all(|&end| end <= period), "seed {seed}: within the period");
            for tenth in 0..10 {
                let (from, to) = (tenth * SECOND, (tenth + 1) * SECOND);
                let in_tenth = ends.iter().filter(|&&end| from <= end && end < to).count();
                assert_eq!(in_tenth, 5, "seed {seed}: tenth {tenth} of {ends:?}");
            }
            assert_eq!(turns(50, period, retry, seed), drained, "seed {seed}: repeated exactly");
            assert_ne!(turns(50, period, retry, seed ^ 1), drained, "seed {seed}: another seed, another drain");
        }
    }

    /// Two streams' ends are never more than two slots apart, and a stream's end is inside its own
    /// slot.
    #[test]
    fn each_end_falls_in_its_own_slot() {
        let period = 3 * SECOND;
        for streams in [1, 2, 3, 10, 997] {
            let slot = period / streams as u32;
            let drained = turns(streams, period, (SECOND, SECOND), 42);
            for (index, turn) in drained.iter().enumerate() {
                let start = slot * index as u32;
                // Within a nanosecond of the slot: the slot's width was rounded to whole ones.
                assert!(turn.end_at + Duration::from_nanos(1) >= start, "{streams}: {index} {turn:?}");
                assert!(turn.end_at <= start + slot + Duration::from_nanos(streams as u64), "{streams}: {index}");
            }
        }
    }

    /// Every `retry:` is a whole number of milliseconds within the bounds, and they spread over the
    /// bounds rather than bunch.
    #[test]
    fn retries_stay_within_their_bounds_and_spread() {
        let (min, max) = (Duration::from_millis(1500), Duration::from_millis(4500));
        let drained = turns(200, 10 * SECOND, (min, max), 9);
        assert!(drained.iter().all(|turn| min <= turn.retry && turn.retry <= max));
        assert!(drained.iter().all(|turn| turn.retry.subsec_nanos() % 1_000_000 == 0), "whole milliseconds");
        let retries: Vec<Duration> = drained.iter().map(|turn| turn.retry).collect();
        let (lowest, highest) = (retries.iter().min().unwrap(), retries.iter().max().unwrap());
        assert!(*lowest < min + (max - min) / 10 && *highest > max - (max - min) / 10, "{lowest:?} {highest:?}");
        for third in 0..3u32 {
            let from = min + (max - min) * third / 3;
            let to = min + (max - min) * (third + 1) / 3;
            let in_third = retries.iter().filter(|&&r| from <= r && r < to).count();
            assert!((40..=95).contains(&in_third), "third {third}: {in_third} of 200");
        }
    }

    #[test]
    fn edge_cases_no_stream_no_period_one_retry() {
        assert!(turns(0, SECOND, (SECOND, SECOND), 1).is_empty());
        let at_once = turns(20, Duration::ZERO, (SECOND, 2 * SECOND), 1);
        assert!(at_once.iter().all(|turn| turn.end_at.is_zero()), "a zero period ends every stream at once");
        let same = turns(20, SECOND, (3 * SECOND, 3 * SECOND), 1);
        assert!(same.iter().all(|turn| turn.retry == 3 * SECOND), "equal bounds, one retry");
        let one = turns(1, MAX_DRAIN_PERIOD, (SECOND, SECOND), 1);
        assert!(one[0].end_at <= MAX_DRAIN_PERIOD);
    }

    #[test]
    fn drain_settings_are_kept_in_range() {
        let drain = Drain::over(Duration::MAX).retry_between(Duration::MAX, Duration::from_micros(2500));
        assert_eq!(drain.period, MAX_DRAIN_PERIOD);
        assert_eq!(
            (drain.retry_min, drain.retry_max),
            (Duration::from_millis(2), MAX_DRAIN_RETRY),
            "ordered, whole ms"
        );
    }

    /// The answers a request for a stream gets during a drain: `200` with the `retry:` and the
    /// last chunk (the head alone for `HEAD`, a body ended by the close for HTTP/1.0), or `204`.
    #[test]
    fn come_back_later_is_a_whole_short_stream() {
        let cors = [("Access-Control-Allow-Origin", "*")];
        let answer = String::from_utf8(come_back_later("GET", Version::Http11, &cors, 2 * SECOND)).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.contains("\r\nContent-Type: text/event-stream; charset=utf-8\r\n"));
        assert!(
            answer.contains("\r\nConnection: close\r\n") && answer.contains("\r\nAccess-Control-Allow-Origin: *\r\n")
        );
        assert!(answer.ends_with("\r\n\r\nc\r\nretry: 2000\n\r\n0\r\n\r\n"), "{answer:?}");
        let head = String::from_utf8(come_back_later("HEAD", Version::Http11, &cors, 2 * SECOND)).unwrap();
        assert!(head.ends_with("\r\n\r\n") && !head.contains("retry"), "{head:?}");
        let old = String::from_utf8(come_back_later("GET", Version::Http10, &cors, SECOND)).unwrap();
        assert!(old.ends_with("\r\n\r\nretry: 1000\n") && old.contains("Connection: close"), "{old:?}");
    }
}
