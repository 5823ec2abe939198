//! The hub's rules of time, as values that are told the time: when a heartbeat is due
//! ([`HeartbeatClock`]), when a client whose writes wait has stalled ([`WriteDeadline`]), and
//! when an idle catch-up thread ends ([`linger_left`]). Nothing here reads the clock: every method
//! takes `now` from its caller, so the tests drive time by hand, and only the runtime (the
//! flusher and catch-up threads) calls `Instant::now()`, to pass it in.
//!
//! Not here: the rules that count bytes rather than time (a client more than `max_queued_bytes`
//! behind is dropped; the history keeps at most so many events and bytes), which are the
//! registry's and the history's; and the waiting itself, which is the runtime's.

use std::time::{Duration, Instant};

/// How long a catch-up thread with no client to catch up waits for one before it ends: a burst
/// that fills many sockets reuses the threads the last one started, and an idle hub keeps none.
pub const CATCH_UP_LINGER: Duration = Duration::from_secs(1);

/// When the hub's next heartbeat is due: a whole interval after the last bytes appended for its
/// clients (an event or a heartbeat), so that a stream with events never carries one, and a silent
/// stream carries one per interval.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeartbeatClock {
    interval: Duration,
    last_append: Instant,
}

impl HeartbeatClock {
    /// A clock that counts silence from `now`. The interval is at most a day (the builder keeps it
    /// so), so the time a heartbeat is due is always representable.
    pub fn new(interval: Duration, now: Instant) -> HeartbeatClock {
        HeartbeatClock { interval, last_append: now }
    }

    /// Bytes were appended for the clients at `now`: the silence starts again.
    pub fn appended(&mut self, now: Instant) {
        self.last_append = self.last_append.max(now);
    }

    /// When the next heartbeat is due, if nothing is appended before.
    pub fn due_at(&self) -> Instant {
        self.last_append + self.interval
    }

    /// Whether a heartbeat is due at `now`: the stream has been silent for the whole interval.
    pub fn is_due(&self, now: Instant) -> bool {
        now >= self.due_at()
    }
}

/// The write deadline of a thread whose writes to a client wait for its socket (the client's
/// connection while it sends history, a catch-up thread after): the client has stalled once its
/// socket has taken nothing for `timeout` since the writer last saw progress. The clock starts
/// when the writer takes the client: time spent waiting in the catch-up queue, written to by
/// nobody, is not the client's doing (that wait is bounded by `max_queued_bytes` instead).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriteDeadline {
    timeout: Duration,
    last_progress: Instant,
}

impl WriteDeadline {
    /// The deadline of a writer that takes a client at `now`.
    pub fn new(timeout: Duration, now: Instant) -> WriteDeadline {
        WriteDeadline { timeout, last_progress: now }
    }

    /// The socket took bytes; the writer saw it at `now`.
    pub fn progressed(&mut self, now: Instant) {
        self.last_progress = self.last_progress.max(now);
    }

    /// How long the writer may still wait for the socket at `now`, or `None` once the deadline
    /// has passed: the client has stalled, and is dropped. Never `Some` of zero, so a wait is
    /// always a real one (a zero send timeout means "none" to the operating system).
    pub fn wait(&self, now: Instant) -> Option<Duration> {
        let waited = now.saturating_duration_since(self.last_progress);
        Some(self.timeout.saturating_sub(waited)).filter(|left| !left.is_zero())
    }
}

/// How much longer a catch-up thread idle since `idle_since` waits for a client at `now`, or
/// `None` once it has waited [`CATCH_UP_LINGER`]: then it ends.
pub(crate) fn linger_left(idle_since: Instant, now: Instant) -> Option<Duration> {
    let idle = now.saturating_duration_since(idle_since);
    Some(CATCH_UP_LINGER.saturating_sub(idle)).filter(|left| !left.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_heartbeat_is_due_a_whole_interval_after_the_last_append() {
        let start = Instant::now();
        let mut clock = HeartbeatClock::new(15 * SECOND, start);
        assert!(!clock.is_due(start + 15 * SECOND - Duration::from_nanos(1)), "just before: silent, not yet due");
        assert!(clock.is_due(start + 15 * SECOND), "exactly at the interval");
        clock.appended(start + 10 * SECOND);
        assert_eq!(clock.due_at(), start + 25 * SECOND, "an event puts it off");
        assert!(!clock.is_due(start + 20 * SECOND));
        assert!(clock.is_due(start + 25 * SECOND));
        clock.appended(start + 5 * SECOND);
        assert_eq!(clock.due_at(), start + 25 * SECOND, "a time from before the last append changes nothing");
    }

    #[test]
    fn a_write_deadline_passes_after_the_timeout_without_progress() {
        let start = Instant::now();
        let mut deadline = WriteDeadline::new(10 * SECOND, start);
        assert_eq!(deadline.wait(start), Some(10 * SECOND), "a whole timeout to begin with");
        assert_eq!(deadline.wait(start + 4 * SECOND), Some(6 * SECOND), "what is left of it");
        assert_eq!(deadline.wait(start + 10 * SECOND), None, "exactly at the timeout: stalled");
        assert_eq!(deadline.wait(start + 60 * SECOND), None);
        deadline.progressed(start + 9 * SECOND);
        assert_eq!(deadline.wait(start + 10 * SECOND), Some(9 * SECOND), "progress starts the timeout again");
        assert_eq!(deadline.wait(start + 19 * SECOND), None);
        deadline.progressed(start + SECOND);
        assert_eq!(deadline.wait(start + 18 * SECOND), Some(SECOND), "an older time moves nothing back");
        assert_eq!(deadline.wait(start), Some(10 * SECOND), "a time before the progress waits a whole timeout");
    }

    #[test]
    fn an_idle_catch_up_thread_lingers_then_ends() {
        let start = Instant::now();
        assert_eq!(linger_left(start, start), Some(CATCH_UP_LINGER));
        assert_eq!(linger_left(start, start + CATCH_UP_LINGER / 4), Some(CATCH_UP_LINGER * 3 / 4));
        assert_eq!(linger_left(start, start + CATCH_UP_LINGER), None, "exactly at the linger: it ends");
        assert_eq!(linger_left(start, start + 2 * CATCH_UP_LINGER), None);
    }
}
