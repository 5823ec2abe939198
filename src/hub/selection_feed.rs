//! The clients that share one [`Selection`], and what the hub keeps for them: their [`Feed`] (the
//! bytes every event the selection admits is appended to, once), the clients per shard with their
//! cursors into it, and the clock of their silence, for heartbeats. A hub whose clients all share
//! one selection has one of these, and works as a hub without topics.
//!
//! Not here: which events a selection admits (`topics.rs`), which selections an event may go to
//! (`routing.rs`), and who may write to a client and when (the registry's policy, whose
//! invariants hold for each selection's clients: see `registry.rs`).

use std::collections::BTreeMap;

use super::feed::{Coding, Feed};
use super::registry::{Owner, Stats};
use super::timing::HeartbeatClock;
use super::topics::Selection;
use crate::compress::gzip::Checksum;

/// A selection's number in its registry: unique for the registry's life (never reused, so that a
/// key, a queued client or a round that names a removed selection finds nothing rather than
/// another one).
pub(crate) type FeedId = u64;

/// One client, as the registry keeps it.
#[derive(Debug)]
pub(super) struct Subscriber<S> {
    pub sink: S,
    /// The backlog this client reads.
    pub coding: Coding,
    /// Offset in that backlog where this client joined.
    pub start: u64,
    /// For a gzip client, the running checksum of the plain bytes at `start`.
    pub start_checksum: Checksum,
    /// Offset in that backlog of the next byte this client needs.
    pub cursor: u64,
    pub owner: Owner,
    /// The hub gave up on this client; it stays registered until its connection leaves.
    pub closed: bool,
}

impl<S> Subscriber<S> {
    /// Too far behind, or stalled: the client is dropped, and counted.
    pub fn give_up_as_slow(&mut self, stats: &mut Stats) {
        self.closed = true;
        stats.dropped_slow += 1;
    }
}

#[derive(Debug)]
pub(super) struct SelectionFeed<S> {
    /// What its clients receive; the key it is found by.
    pub selection: Selection,
    /// The bytes its clients read.
    pub feed: Feed,
    /// Per shard, its clients in that shard by number: the order they joined in, which is the
    /// order a round writes to them (so a flood of new clients never delays the ones already
    /// there).
    pub members: Vec<BTreeMap<u64, Subscriber<S>>>,
    /// Clients in every shard.
    pub member_count: usize,
    /// Per shard, whether it is in that shard's list of selections with bytes to send.
    pub dirty: Vec<bool>,
    /// The number of the last event the registry routed while looking at this selection: an
    /// event that names several of its topics is appended once.
    pub stamp: u64,
    /// When its clients' next heartbeat is due; `None` when the hub sends none.
    pub heartbeat: Option<HeartbeatClock>,
}

impl<S> SelectionFeed<S> {
    /// No clients yet, and an empty feed; silent since `heartbeat`'s start.
    pub fn new(selection: Selection, shards: usize, heartbeat: Option<HeartbeatClock>) -> SelectionFeed<S> {
        SelectionFeed {
            selection,
            feed: Feed::default(),
            members: (0..shards).map(|_| BTreeMap::new()).collect(),
            member_count: 0,
            dirty: vec![false; shards],
            stamp: 0,
            heartbeat,
        }
    }

    /// Every client, shard by shard.
    pub fn all_members(&self) -> impl Iterator<Item = &Subscriber<S>> {
        self.members.iter().flat_map(BTreeMap::values)
    }

    /// Drops the feed's bytes that every open client has passed, once there are enough of them.
    pub fn trim(&mut self) {
        for coding in Coding::ALL {
            if !self.feed.wants_trim(coding) {
                continue;
            }
            let readers = self.members.iter().flat_map(BTreeMap::values).filter(|s| !s.closed && s.coding == coding);
            let lowest = readers.map(|s| s.cursor).min().unwrap_or(self.feed.end(coding));
            self.feed.drop_before(coding, lowest);
        }
    }
}
