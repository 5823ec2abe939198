//! A feed: the bytes the clients of one selection read (every client of a hub without topics),
//! addressed by offset, in each coding a client may read ([`Coding`]): the plain bytes, and, when
//! the hub compresses, the same events compressed once each. Every client of the feed holds a
//! cursor into the backlog of its coding (kept with the client, `selection_feed.rs`; the registry,
//! `registry.rs`, decides who writes it and when); the feed appends,
//! hands out the bytes past a cursor, and drops the bytes below the lowest cursor it is given.
//! It also keeps what a gzip client's clean end needs: where each compressed unit starts, and the
//! running checksum of the plain bytes before it.
//!
//! Not here: the clients, their cursors and owners, and the policy (the registry's); which events
//! a feed gets (the registry routes them); the compression itself (the registry compresses each
//! event once and appends the same forms to every feed that gets it).
//!
//! # Invariants
//!
//! - **One backlog per coding.** Every client reads one of the backlogs, chosen when it joins, and
//!   its cursor is an offset in that one. Every event is appended to both in the same step, so the
//!   two carry the same events in the same order. A backlog nobody reads only advances its end.
//! - **Every gzip client's trailer can be found.** Each compressed unit in the gzip backlog has a
//!   record of the checksum of the plain bytes before it (a running checksum over every unit
//!   appended while someone read them), kept as long as any byte of the unit is held; a gzip
//!   client records the running checksum where it joined. The checksum of what a client received
//!   from the backlog is then the difference of two running checksums: nothing is computed per
//!   client as events go out.
//! - **Nothing dropped that a reader needs**, provided the caller passes the lowest cursor of the
//!   open readers of that coding to [`Feed::drop_before`]: bytes go only below it, and the unit
//!   holding it stays whole in the record.

use std::collections::VecDeque;

use super::backlog::Backlog;
use crate::compress::gzip::Checksum;

/// Bytes appended since the last trim past which dropping the bytes every client has passed is
/// worth a walk of the clients, at most: small enough to bound what sits idle, large enough that
/// a burst of small events does not walk every client for every event.
pub(crate) const TRIM_BACKLOG_AT_BYTES: usize = 64 * 1024;
/// Bytes appended per reader since the last trim past which a backlog of few readers is trimmed
/// (up to [`TRIM_BACKLOG_AT_BYTES`]): a trim walks the readers, so a walk costs one reader per 64
/// bytes appended, whatever the feed, and an idle feed of a few clients (a topic's) holds a few
/// bytes per client, however many feeds there are.
const TRIM_BYTES_PER_READER: usize = 64;

/// How a client's bytes are encoded: which backlog of the feed it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    /// The events as they are.
    Identity = 0,
    /// Each event compressed once, as DEFLATE units that refer to nothing before them and end on a
    /// byte boundary, so that they can follow a gzip header (and each other) in any client's stream.
    Gzip = 1,
}

impl Coding {
    /// Every coding, in the order of the feed's backlogs.
    pub const ALL: [Coding; 2] = [Coding::Identity, Coding::Gzip];
}

/// Where a compressed unit starts in the gzip backlog, and the running checksum of the plain bytes
/// of the units before it.
#[derive(Debug, Clone, Copy)]
struct UnitStart {
    offset: u64,
    before: Checksum,
}

/// Where a client joins a feed: the end of its coding's backlog, and, for a gzip client, the
/// running checksum there (the start of its trailer's checksum).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place {
    pub offset: u64,
    pub checksum: Checksum,
}

/// How a gzip client's stream can end after the backlog bytes it received.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct GzipRange {
    /// The rest of the unit the client is inside, if its last write stopped in one: sent before
    /// the end, so that the end follows a whole unit.
    pub rest: Vec<u8>,
    /// The checksum of the plain bytes of the backlog from where the client joined to the end of
    /// that unit.
    pub checksum: Checksum,
}

/// The bytes a hub's clients read, in each coding (see the module's invariants).
#[derive(Debug, Default)]
pub(crate) struct Feed {
    /// Per coding: the plain bytes, and (when the hub compresses) the compressed ones.
    backlogs: [Backlog; 2],
    /// Where each unit held in the gzip backlog starts, oldest first: the unit holding the lowest
    /// cursor, and every one after it.
    gzip_units: VecDeque<UnitStart>,
    /// The running checksum of the plain bytes of every unit appended to the gzip backlog while
    /// someone read it: the checksum at its end.
    gzip_checksum: Checksum,
    /// Per coding, the clients that read it.
    readers: [usize; 2],
    /// Per coding, the backlog's end when it was last trimmed.
    trimmed_at: [u64; 2],
}

impl Feed {
    /// The offset one past the last byte ever appended to `coding`'s backlog.
    pub fn end(&self, coding: Coding) -> u64 {
        self.backlogs[coding as usize].end()
    }

    /// Both backlogs' ends, by coding.
    pub fn ends(&self) -> [u64; 2] {
        Coding::ALL.map(|coding| self.end(coding))
    }

    /// The bytes of `coding`'s backlog from `from` (a reader's cursor) to the end.
    pub fn since(&self, coding: Coding, from: u64) -> &[u8] {
        self.backlogs[coding as usize].since(from)
    }

    /// Whether some client reads `coding`: only then are its bytes kept (and, for gzip, made).
    pub fn is_read(&self, coding: Coding) -> bool {
        self.readers[coding as usize] > 0
    }

    /// A client starts reading `coding` here, from now on.
    pub fn join(&mut self, coding: Coding) -> Place {
        if self.readers[coding as usize] == 0 {
            // Nothing was held while nobody read: bytes count towards a trim from here.
            self.trimmed_at[coding as usize] = self.end(coding);
        }
        self.readers[coding as usize] += 1;
        Place { offset: self.end(coding), checksum: self.gzip_checksum }
    }

    /// A client of `coding` is gone.
    pub fn leave(&mut self, coding: Coding) {
        self.readers[coding as usize] -= 1;
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
            // Invariant relied on: the registry compresses an event whenever a feed it appends to has
            // a gzip reader (`gzip_read`), so no compressed form means no gzip reader to lose it.
            None => {
                debug_assert_eq!(self.readers[Coding::Gzip as usize], 0, "a gzip reader got no compressed event");
                backlog.skip(0);
                self.gzip_units.clear();
            }
        }
    }

    /// How a gzip client that joined with running checksum `joined`, whose cursor is at `cursor`
    /// and whose socket has taken the gzip backlog up to offset `at`, ends its stream. `None` when
    /// `at` is past the end, or before the cursor.
    ///
    /// Invariant relied on: units are dropped only once wholly below the lowest cursor, so the
    /// unit holding `at` (at or past this client's cursor) is still recorded.
    pub fn gzip_range(&self, joined: Checksum, cursor: u64, at: u64) -> Option<GzipRange> {
        let backlog = &self.backlogs[Coding::Gzip as usize];
        if at > backlog.end() || at < cursor {
            return None;
        }
        // The first unit that starts at or after `at`: the client is inside the one before it (or
        // exactly at its start); past the last one, its end is the backlog's.
        let next = self.gzip_units.partition_point(|unit| unit.offset < at);
        let (end, before) = match self.gzip_units.get(next) {
            Some(unit) => (unit.offset, unit.before),
            None => (backlog.end(), self.gzip_checksum),
        };
        let rest = backlog.since(at);
        let rest = rest[..usize::try_from(end - at).ok()?.min(rest.len())].to_vec();
        Some(GzipRange { rest, checksum: joined.until(before) })
    }

    /// Whether `coding`'s backlog has grown enough since it was last trimmed to be worth trimming,
    /// for as many readers as it has: the caller then finds the lowest cursor of its open readers,
    /// for [`drop_before`](Self::drop_before).
    pub fn wants_trim(&self, coding: Coding) -> bool {
        let readers = self.readers[coding as usize];
        let threshold = readers.saturating_mul(TRIM_BYTES_PER_READER).min(TRIM_BACKLOG_AT_BYTES) as u64;
        let grown = self.end(coding) - self.trimmed_at[coding as usize];
        readers > 0 && self.backlogs[coding as usize].held() > 0 && grown >= threshold
    }

    /// Drops `coding`'s bytes below `lowest`, the lowest cursor of its open readers (its end when
    /// it has none).
    pub fn drop_before(&mut self, coding: Coding, lowest: u64) {
        self.trimmed_at[coding as usize] = self.end(coding);
        self.backlogs[coding as usize].drop_before(lowest);
        if coding == Coding::Gzip {
            // The unit holding the lowest cursor stays: a client inside it may end there.
            while self.gzip_units.get(1).is_some_and(|unit| unit.offset <= lowest) {
                self.gzip_units.pop_front();
            }
        }
    }

    /// Bytes `coding`'s backlog holds (for tests of its bounds).
    #[cfg(test)]
    pub fn held(&self, coding: Coding) -> usize {
        self.backlogs[coding as usize].held()
    }

    /// Where the recorded gzip units start (for tests).
    #[cfg(test)]
    pub fn unit_offsets(&self) -> Vec<u64> {
        self.gzip_units.iter().map(|unit| unit.offset).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit and the checksum of its plain bytes, as the registry appends them (the "compressed"
    /// bytes here are stand-ins: the feed never looks inside a unit).
    fn unit(plain: &[u8]) -> (Vec<u8>, Checksum) {
        (plain.iter().map(|b| b.to_ascii_uppercase()).collect(), Checksum::of(plain))
    }

    #[test]
    fn a_coding_nobody_reads_keeps_nothing_and_only_its_end_moves() {
        let mut feed = Feed::default();
        let (compressed, checksum) = unit(b"abc");
        feed.append(b"abc", Some((&compressed, checksum)));
        assert_eq!(feed.ends(), [3, 3]);
        assert_eq!((feed.held(Coding::Identity), feed.held(Coding::Gzip)), (0, 0), "no reader, no bytes");
        let place = feed.join(Coding::Gzip);
        assert_eq!((place.offset, place.checksum), (3, Checksum::default()), "skipped units are in no stream");
        feed.append(b"de", Some((&unit(b"de").0, unit(b"de").1)));
        assert_eq!(feed.since(Coding::Gzip, 3), b"DE");
        assert_eq!((feed.held(Coding::Identity), feed.end(Coding::Identity)), (0, 5));
        feed.leave(Coding::Gzip);
        assert!(!feed.is_read(Coding::Gzip));
    }

    /// A backlog is worth trimming once a few bytes per reader were appended since its last
    /// trim, and always at `TRIM_BACKLOG_AT_BYTES`: what an idle feed of a few clients holds stays
    /// small, a feed of many is walked once per many bytes, and one whose bytes a slow client
    /// holds is not walked again until as many more come. A backlog nobody reads holds nothing,
    /// and is never walked.
    #[test]
    fn a_backlog_is_trimmed_once_a_few_bytes_per_reader_came_since_the_last_trim() {
        let mut feed = Feed::default();
        feed.append(&[b'x'; 1000], None);
        assert!(!feed.wants_trim(Coding::Identity), "no reader: nothing held");
        let readers = 3;
        for _ in 0..readers {
            feed.join(Coding::Identity);
        }
        let threshold = readers * TRIM_BYTES_PER_READER;
        feed.append(&vec![b'x'; threshold - 1], None);
        assert!(!feed.wants_trim(Coding::Identity), "one byte short");
        feed.append(b"x", None);
        assert!(feed.wants_trim(Coding::Identity), "at the threshold");
        // A slow reader holds everything: the next walk waits for as many more bytes.
        let start = feed.end(Coding::Identity) - threshold as u64;
        feed.drop_before(Coding::Identity, start);
        feed.append(&vec![b'x'; threshold - 1], None);
        assert!(!feed.wants_trim(Coding::Identity));
        feed.append(b"x", None);
        assert!(feed.wants_trim(Coding::Identity));
        let mut crowded = Feed::default();
        for _ in 0..TRIM_BACKLOG_AT_BYTES {
            crowded.join(Coding::Identity);
        }
        crowded.append(&vec![b'x'; TRIM_BACKLOG_AT_BYTES - 1], None);
        assert!(!crowded.wants_trim(Coding::Identity));
        crowded.append(b"x", None);
        assert!(crowded.wants_trim(Coding::Identity), "never more than TRIM_BACKLOG_AT_BYTES");
    }

    /// Trimming below a reader that stopped inside a unit keeps that unit whole, so the reader can
    /// still end there: its range is the unit's rest, and its checksum covers exactly the units it
    /// received, from where it joined.
    #[test]
    fn trimming_keeps_the_unit_a_reader_stopped_inside() {
        let mut feed = Feed::default();
        let place = feed.join(Coding::Gzip);
        for plain in [&b"first"[..], b"second", b"third"] {
            let (compressed, checksum) = unit(plain);
            feed.append(plain, Some((&compressed, checksum)));
        }
        assert_eq!(feed.unit_offsets(), [0, 5, 11]);
        // The reader's socket took "FIRST" and "SEC": it is inside the second unit.
        feed.drop_before(Coding::Gzip, 8);
        assert_eq!(feed.unit_offsets(), [5, 11], "the first unit went; the one holding the cursor stays");
        let range = feed.gzip_range(place.checksum, 8, 8).unwrap();
        assert_eq!(range.rest, b"OND");
        assert_eq!(range.checksum, Checksum::of(b"firstsecond"));
        let whole = feed.gzip_range(place.checksum, 8, feed.end(Coding::Gzip)).unwrap();
        assert_eq!((whole.rest, whole.checksum), (Vec::new(), Checksum::of(b"firstsecondthird")));
        assert!(feed.gzip_range(place.checksum, 8, 7).is_none(), "before its cursor");
        assert!(feed.gzip_range(place.checksum, 8, 17).is_none(), "past the end");
    }
}
