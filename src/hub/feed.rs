//! A feed: the subscribers that share one [`Selection`], and the bytes they read. Every event a
//! feed's selection admits is appended to it once, and each of its subscribers reads the feed's
//! backlog from its own cursor; so a hub whose clients all share one selection has one feed, and
//! works as a hub without topics would.
//!
//! A feed knows nothing of routing or of threads: the registry decides which feeds an event goes
//! to, and who may write to a subscriber (see the invariants in `registry.rs`, which hold per
//! feed).

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use super::backlog::Backlog;
use super::registry::{Coding, GzipRange, Owner, Stats};
use super::topics::Selection;
use crate::compress::gzip::Checksum;

/// A feed's number in its registry: unique for the registry's life (never reused, so that a key
/// or a round that names a removed feed finds nothing rather than another feed).
pub(crate) type FeedId = u64;

/// Backlog bytes per member past which a feed drops the bytes every member has passed, up to
/// [`TRIM_BACKLOG_AT_BYTES`]: a trim walks the feed's members, so a large feed trims once per
/// many bytes, and a small one often, which keeps what an idle feed holds to a few bytes per
/// member.
const TRIM_BYTES_PER_MEMBER: usize = 64;
/// Backlog size past which a feed always drops the bytes every member has passed: small enough
/// to bound what sits idle, large enough that a burst of small events does not walk every member
/// for every event.
pub(super) const TRIM_BACKLOG_AT_BYTES: usize = 64 * 1024;

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

/// Where a compressed unit starts in the gzip backlog, and the running checksum of the plain bytes
/// of the units before it.
#[derive(Debug, Clone, Copy)]
pub(super) struct UnitStart {
    pub offset: u64,
    pub before: Checksum,
}

#[derive(Debug)]
pub(super) struct Feed<S> {
    /// What its members receive; the key it is found by.
    pub selection: Selection,
    /// Per coding: the plain bytes, and (when the hub compresses) the compressed ones.
    pub backlogs: [Backlog; 2],
    /// Where each unit held in the gzip backlog starts, oldest first: the unit holding the lowest
    /// cursor, and every one after it.
    pub gzip_units: VecDeque<UnitStart>,
    /// The running checksum of the plain bytes of every unit appended to the gzip backlog while
    /// someone read it: the checksum at its end.
    pub gzip_checksum: Checksum,
    /// Per coding, the members that read it.
    pub readers: [usize; 2],
    /// Per shard, its members in that shard by number: the order they joined in, which is the
    /// order a round writes to them (so a flood of new clients never delays the ones already
    /// there).
    pub members: Vec<BTreeMap<u64, Subscriber<S>>>,
    /// Members in every shard.
    pub member_count: usize,
    /// Per shard, whether the feed is in that shard's list of feeds with bytes to send.
    pub dirty: Vec<bool>,
    /// The number of the last event the registry routed while looking at this feed: an event
    /// that names several of the feed's topics is appended once.
    pub stamp: u64,
    /// When bytes were last appended (an event or a heartbeat): its silence, for heartbeats.
    pub last_append: Instant,
}

impl<S> Feed<S> {
    /// An empty feed, silent since `silent_since`.
    pub fn new(selection: Selection, shards: usize, silent_since: Instant) -> Feed<S> {
        Feed {
            selection,
            backlogs: [Backlog::default(), Backlog::default()],
            gzip_units: VecDeque::new(),
            gzip_checksum: Checksum::default(),
            readers: [0; 2],
            members: (0..shards).map(|_| BTreeMap::new()).collect(),
            member_count: 0,
            dirty: vec![false; shards],
            stamp: 0,
            last_append: silent_since,
        }
    }

    /// Appends to each backlog its form of the same bytes (the compressed one with the checksum of
    /// its plain bytes); a backlog nobody reads only advances.
    pub fn append(&mut self, plain: &[u8], compressed: Option<(&[u8], Checksum)>) {
        let plain_backlog = &mut self.backlogs[Coding::Identity as usize];
        if self.readers[Coding::Identity as usize] > 0 {
            plain_backlog.append(plain);
        } else {
            plain_backlog.skip(plain.len());
        }
        let backlog = &mut self.backlogs[Coding::Gzip as usize];
        match compressed {
            Some((unit, checksum)) if self.readers[Coding::Gzip as usize] > 0 => {
                self.gzip_units.push_back(UnitStart { offset: backlog.end(), before: self.gzip_checksum });
                self.gzip_checksum = self.gzip_checksum.then(checksum);
                backlog.append(unit);
            }
            // Nobody reads the compressed backlog: the units skipped are in nobody's stream, so the
            // running checksum leaves them out.
            Some((unit, _)) => {
                backlog.skip(unit.len());
                self.gzip_units.clear();
            }
            None => {
                backlog.skip(0);
                self.gzip_units.clear();
            }
        }
    }

    /// Every member, shard by shard.
    pub fn all_members(&self) -> impl Iterator<Item = &Subscriber<S>> {
        self.members.iter().flat_map(BTreeMap::values)
    }

    /// Drops the backlog bytes that every open member has passed, once there are enough of them.
    pub fn trim(&mut self) {
        let threshold = self.member_count.saturating_mul(TRIM_BYTES_PER_MEMBER).clamp(1, TRIM_BACKLOG_AT_BYTES);
        for coding in [Coding::Identity, Coding::Gzip] {
            let backlog = &self.backlogs[coding as usize];
            if backlog.held() < threshold {
                continue;
            }
            let readers = self.all_members().filter(|s| !s.closed && s.coding == coding);
            let lowest = readers.map(|s| s.cursor).min().unwrap_or(backlog.end());
            self.backlogs[coding as usize].drop_before(lowest);
            if coding == Coding::Gzip {
                // The unit holding the lowest cursor stays: a client inside it may end there.
                while self.gzip_units.get(1).is_some_and(|unit| unit.offset <= lowest) {
                    self.gzip_units.pop_front();
                }
            }
        }
    }

    /// How gzip member `sub`'s stream ends once it has received `received` bytes of the gzip
    /// backlog (counted from where it joined; its socket's count, which may be ahead of its
    /// cursor, never behind). `None` when `received` is past the backlog's end, or behind the
    /// cursor.
    ///
    /// Invariant relied on: the cursor is at or before `start + received`, and units are dropped
    /// only once wholly below the lowest cursor, so the unit holding that offset is still here.
    pub fn gzip_range(&self, sub: &Subscriber<S>, received: u64) -> Option<GzipRange> {
        let backlog = &self.backlogs[Coding::Gzip as usize];
        let at = sub.start.checked_add(received).filter(|&at| at <= backlog.end() && at >= sub.cursor)?;
        // The first unit that starts at or after `at`: the client is inside the one before it (or
        // exactly at its start); past the last one, its end is the backlog's.
        let next = self.gzip_units.partition_point(|unit| unit.offset < at);
        let (end, before) = match self.gzip_units.get(next) {
            Some(unit) => (unit.offset, unit.before),
            None => (backlog.end(), self.gzip_checksum),
        };
        let rest = backlog.since(at);
        let rest = rest[..usize::try_from(end - at).ok()?.min(rest.len())].to_vec();
        Some(GzipRange { rest, checksum: sub.start_checksum.until(before) })
    }
}
