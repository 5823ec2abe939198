//! The hub's counters that are kept outside its lock: bytes written to clients, and how joining
//! clients resumed. They are atomics, bumped where the work happens (once per write, or once per
//! flusher round, never per byte or per event), and read into [`Stats`] with the counters the
//! registry keeps under the lock.
//!
//! Also here: the hub's name, which labels it in a server's metrics.

use std::sync::atomic::{AtomicU64, Ordering};

use super::registry::{Round, Stats};
use super::sink::Written;
use super::{Hub, HubBuilder};

/// Counters bumped outside the hub's lock. Relaxed ordering: each is a count on its own, read for
/// reporting, and orders nothing else.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    bytes_written: AtomicU64,
    resumed_from_history: AtomicU64,
    resumed_from_redis: AtomicU64,
    resets_sent: AtomicU64,
}

impl Counters {
    /// A blocking write of `count` bytes to a client completed.
    pub fn wrote(&self, count: usize) {
        if count > 0 {
            self.bytes_written.fetch_add(count as u64, Ordering::Relaxed);
        }
    }

    /// A flusher round's writes are done: adds what each took, with one atomic operation.
    pub fn wrote_round<S>(&self, round: &Round<S>) {
        let written: usize = (0..round.targets.len())
            .map(|index| match round.targets[index].outcome {
                Written::All => round.bytes_for(index).len(),
                Written::Partial(count) => count,
                Written::Failed => 0,
            })
            .sum();
        self.wrote(written);
    }

    /// A joining client named a last id that the hub's history holds.
    pub fn resumed_from_history(&self) {
        self.resumed_from_history.fetch_add(1, Ordering::Relaxed);
    }

    /// A joining client's last id was not in the history, and the Redis stream replayed what
    /// came after it.
    pub fn resumed_from_redis(&self) {
        self.resumed_from_redis.fetch_add(1, Ordering::Relaxed);
    }

    /// A joining client gets the reset event: its last id could not be resumed.
    pub fn reset_sent(&self) {
        self.resets_sent.fetch_add(1, Ordering::Relaxed);
    }

    /// `stats` (from the registry) with these counters filled in.
    pub fn fill(&self, stats: Stats) -> Stats {
        Stats {
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
            resumed_from_history: self.resumed_from_history.load(Ordering::Relaxed),
            resumed_from_redis: self.resumed_from_redis.load(Ordering::Relaxed),
            resets_sent: self.resets_sent.load(Ordering::Relaxed),
            ..stats
        }
    }
}

impl HubBuilder {
    /// The hub's name, which labels its series in a server's metrics
    /// ([`ServerBuilder::route_metrics`](crate::ServerBuilder::route_metrics)); by default a hub is
    /// labelled by the path of its first route on that server.
    pub fn name(mut self, name: impl Into<String>) -> HubBuilder {
        self.name = Some(name.into());
        self
    }
}

impl Hub {
    /// The name given to [`HubBuilder::name`], if any.
    pub fn name(&self) -> Option<&str> {
        self.inner().config.name.as_deref()
    }
}
