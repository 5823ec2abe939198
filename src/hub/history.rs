//! The history ring: events that carried an id, kept so late joiners and reconnecting clients can
//! be sent what they missed. Bounded by a count and by bytes; the oldest events go first.
//!
//! An event larger than the whole byte limit is not kept, and evicts nothing: it reaches the
//! clients connected when it is sent, and no one else. Since the events kept before it can no
//! longer be followed by everything that came after them, their ids stop being resume points: a
//! client that resumes from one is treated as one whose id is unknown (the reset event, then the
//! whole history), never resumed past the gap in silence.
//!
//! Each event keeps the topics it was published to, and a client is replayed only the events its
//! selection admits (the rule live delivery follows). Ids are the hub's one sequence: a client's
//! last id finds its place among every kept event, whichever it was sent.

use std::collections::VecDeque;
use std::sync::Arc;

use super::topics::{Selection, Topics};
use crate::compress::gzip::Checksum;

/// One kept event: its id and its encoded bytes (shared with everything else that sends it), and
/// when the hub compresses, the same bytes compressed, with the CRC-32 of the plain bytes (for the
/// gzip trailer of the clients it is replayed to); and its topics.
#[derive(Debug, Clone)]
struct Kept {
    id: String,
    bytes: Arc<[u8]>,
    compressed: Option<(Arc<[u8]>, u32)>,
    topics: Topics,
}

impl Kept {
    /// What it counts against the byte limit: its plain bytes and its topics' text.
    fn size(&self) -> usize {
        self.bytes.len() + self.topics.text_bytes()
    }
}

/// What a connecting client should be sent from history.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    /// Encoded events, oldest first.
    pub events: Vec<Arc<[u8]>>,
    /// When the events are compressed: the checksum of each one's plain bytes, in the same order.
    pub checksums: Vec<Checksum>,
    /// The client named a last id that is not (or no longer) in history, so it may have missed
    /// events that cannot be sent again.
    pub unknown_id: bool,
}

#[derive(Debug)]
pub(crate) struct History {
    events: VecDeque<Kept>,
    bytes: usize,
    max_events: usize,
    max_bytes: usize,
    /// Events before this position were kept before an event too large to keep: resuming from
    /// one of them would skip that event.
    resumable_from: usize,
}

impl History {
    pub fn new(max_events: usize, max_bytes: usize) -> History {
        History { events: VecDeque::new(), bytes: 0, max_events, max_bytes, resumable_from: 0 }
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Forgets every event: none of their ids is a resume point any more.
    pub fn clear(&mut self) {
        self.events.clear();
        self.bytes = 0;
        self.resumable_from = 0;
    }

    /// Keeps an event published to `topics`. Its plain size and its topics' text count against
    /// the byte limit; a compressed copy, when the hub compresses, is kept beside it (and is
    /// smaller, but for a few bytes of framing).
    pub fn keep(&mut self, id: String, bytes: Arc<[u8]>, compressed: Option<(Arc<[u8]>, u32)>, topics: Topics) {
        let kept = Kept { id, bytes, compressed, topics };
        if kept.size() > self.max_bytes {
            self.resumable_from = self.events.len();
            return;
        }
        self.bytes += kept.size();
        self.events.push_back(kept);
        while self.events.len() > self.max_events || self.bytes > self.max_bytes {
            let Some(oldest) = self.events.pop_front() else { break };
            self.bytes -= oldest.size();
            self.resumable_from = self.resumable_from.saturating_sub(1);
        }
    }

    /// The events after `last_id` that `selection` admits, or all it admits when there is no
    /// last id or it is unknown. When an id occurs more than once, the newest occurrence counts.
    /// With `compressed`, their compressed copies (every kept event has one when the hub
    /// compresses).
    pub fn after(&self, last_id: Option<&str>, compressed: bool, selection: &Selection) -> Replay {
        let start = match last_id {
            None => Some(0),
            Some(id) => self
                .events
                .iter()
                .rposition(|kept| kept.id == id)
                .filter(|&at| at >= self.resumable_from)
                .map(|at| at + 1),
        };
        let unknown_id = start.is_none();
        let (mut events, mut checksums) = (Vec::new(), Vec::new());
        for kept in self.events.range(start.unwrap_or(0)..).filter(|kept| selection.admits(&kept.topics)) {
            match (&kept.compressed, compressed) {
                (Some((compressed, crc)), true) => {
                    events.push(Arc::clone(compressed));
                    checksums.push(Checksum { crc: *crc, len: kept.bytes.len() as u64 });
                }
                _ => events.push(Arc::clone(&kept.bytes)),
            }
        }
        Replay { events, checksums, unknown_id }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(text: &str) -> Arc<[u8]> {
        Arc::from(text.as_bytes())
    }

    fn texts(replay: &Replay) -> Vec<String> {
        replay.events.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect()
    }

    fn filled(ids: &[&str]) -> History {
        let mut history = History::new(100, 1 << 20);
        for id in ids {
            history.keep(id.to_string(), bytes(id), None, Topics::notice().clone());
        }
        history
    }

    #[test]
    fn after_known_unknown_and_none() {
        let history = filled(&["1", "2", "3"]);
        assert_eq!(texts(&history.after(None, false, &Selection::all())), ["1", "2", "3"]);
        assert_eq!(texts(&history.after(Some("1"), false, &Selection::all())), ["2", "3"]);
        assert!(history.after(Some("3"), false, &Selection::all()).events.is_empty());
        assert!(!history.after(Some("3"), false, &Selection::all()).unknown_id);
        let unknown = history.after(Some("99"), false, &Selection::all());
        assert!(unknown.unknown_id);
        assert_eq!(texts(&unknown), ["1", "2", "3"]);
    }

    #[test]
    fn repeated_id_resumes_after_the_newest() {
        let history = filled(&["a", "b", "a", "c"]);
        assert_eq!(texts(&history.after(Some("a"), false, &Selection::all())), ["c"]);
    }

    #[test]
    fn bounded_by_count_at_the_limit() {
        let mut history = History::new(2, 1 << 20);
        history.keep("1".into(), bytes("1"), None, Topics::notice().clone());
        history.keep("2".into(), bytes("2"), None, Topics::notice().clone());
        assert_eq!(history.len(), 2);
        history.keep("3".into(), bytes("3"), None, Topics::notice().clone());
        assert_eq!(texts(&history.after(None, false, &Selection::all())), ["2", "3"]);
        assert!(history.after(Some("1"), false, &Selection::all()).unknown_id, "evicted id is unknown");
    }

    #[test]
    fn bounded_by_bytes_at_the_limit() {
        let mut history = History::new(100, 10);
        history.keep("1".into(), bytes("12345"), None, Topics::notice().clone());
        history.keep("2".into(), bytes("67890"), None, Topics::notice().clone());
        assert_eq!(history.len(), 2, "exactly at the byte limit both stay");
        history.keep("3".into(), bytes("x"), None, Topics::notice().clone());
        assert_eq!(texts(&history.after(None, false, &Selection::all())), ["67890", "x"]);
    }

    #[test]
    fn an_event_larger_than_the_limit_is_not_kept_and_evicts_nothing() {
        let mut history = History::new(100, 10);
        history.keep("1".into(), bytes("12345"), None, Topics::notice().clone());
        history.keep("2".into(), bytes("67890"), None, Topics::notice().clone());
        history.keep("big".into(), bytes("0123456789x"), None, Topics::notice().clone());
        assert_eq!(texts(&history.after(None, false, &Selection::all())), ["12345", "67890"], "what fits stays");
        for before_the_gap in ["1", "2", "big"] {
            let replay = history.after(Some(before_the_gap), false, &Selection::all());
            assert!(replay.unknown_id, "resuming from {before_the_gap} would skip the big event");
            assert_eq!(texts(&replay), ["12345", "67890"]);
        }
        history.keep("3".into(), bytes("abc"), None, Topics::notice().clone());
        let replay = history.after(Some("3"), false, &Selection::all());
        assert!(!replay.unknown_id && replay.events.is_empty(), "ids after the gap resume");
        assert!(history.after(Some("2"), false, &Selection::all()).unknown_id);
        // Once the events before the gap are evicted, the rule has nothing left to guard.
        history.keep("4".into(), bytes("defgh"), None, Topics::notice().clone());
        history.keep("5".into(), bytes("ij"), None, Topics::notice().clone());
        assert_eq!(texts(&history.after(None, false, &Selection::all())), ["abc", "defgh", "ij"]);
        assert!(!history.after(Some("3"), false, &Selection::all()).unknown_id);
        assert_eq!(texts(&history.after(Some("3"), false, &Selection::all())), ["defgh", "ij"]);
    }

    /// A client is replayed the events its selection admits, after its last id, which finds its
    /// place among all events (one sequence), whichever it was sent; notices reach everyone.
    #[test]
    fn a_replay_is_filtered_by_the_clients_selection() {
        use crate::test_support::selector;
        let mut history = History::new(100, 1 << 20);
        let keep = |history: &mut History, id: &str, topics: Topics| history.keep(id.into(), bytes(id), None, topics);
        keep(&mut history, "a1", Topics::new(["a"]));
        keep(&mut history, "b1", Topics::new(["b"]));
        keep(&mut history, "n1", Topics::notice().clone());
        keep(&mut history, "a2", Topics::new(["a", "b"]));
        keep(&mut history, "pa", Topics::new(["a"]).private(true));
        keep(&mut history, "b2", Topics::new(["b"]));
        let a = Selection::topics(selector(&["a"]));
        assert_eq!(texts(&history.after(None, false, &a)), ["a1", "n1", "a2"]);
        let replay = history.after(Some("b1"), false, &a);
        assert!(!replay.unknown_id, "an id of another topic is a place in the one sequence");
        assert_eq!(texts(&replay), ["n1", "a2"]);
        let private_a = a.clone().with_private(selector(&["a"]));
        assert_eq!(texts(&history.after(Some("a2"), false, &private_a)), ["pa"]);
        assert_eq!(texts(&history.after(Some("a1"), false, &Selection::all())), ["b1", "n1", "a2", "b2"]);
        let unknown = history.after(Some("gone"), false, &a);
        assert!(unknown.unknown_id);
        assert_eq!(texts(&unknown), ["a1", "n1", "a2"], "the whole history its selection admits");
    }

    /// Topics count against the byte limit with the event: what a history holds stays bounded
    /// whatever topics come.
    #[test]
    fn topics_count_against_the_byte_limit() {
        let mut history = History::new(100, 10);
        history.keep("1".into(), bytes("123"), None, Topics::new(["abcd"]));
        history.keep("2".into(), bytes("123"), None, Topics::new(["abc"]));
        assert_eq!(history.len(), 1, "7 + 6 bytes: the first goes");
        history.keep("3".into(), bytes("1"), None, Topics::new(["x".repeat(10)]));
        assert!(history.after(Some("2"), false, &Selection::all()).unknown_id, "11 bytes: too large to keep");
    }

    #[test]
    fn zero_limit_keeps_nothing() {
        let mut history = History::new(0, 1 << 20);
        history.keep("1".into(), bytes("1"), None, Topics::notice().clone());
        assert_eq!(history.len(), 0);
    }
}
