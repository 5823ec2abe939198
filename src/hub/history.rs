//! The history ring: events that carried an id, kept so late joiners and reconnecting clients can
//! be sent what they missed. Bounded by a count and by bytes; the oldest events go first.
//!
//! An event larger than the whole byte limit is not kept, and evicts nothing: it reaches the
//! clients connected when it is sent, and no one else. Since the events kept before it can no
//! longer be followed by everything that came after them, their ids stop being resume points: a
//! client that resumes from one is treated as one whose id is unknown (the reset event, then the
//! whole history), never resumed past the gap in silence.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::compress::gzip::Checksum;

/// One kept event: its id and its encoded bytes (shared with everything else that sends it), and
/// when the hub compresses, the same bytes compressed, with the CRC-32 of the plain bytes (for the
/// gzip trailer of the clients it is replayed to).
#[derive(Debug, Clone)]
struct Kept {
    id: String,
    bytes: Arc<[u8]>,
    compressed: Option<(Arc<[u8]>, u32)>,
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

    /// Keeps an event. Its plain size counts against the byte limit; a compressed copy, when the
    /// hub compresses, is kept beside it (and is smaller, but for a few bytes of framing).
    pub fn keep(&mut self, id: String, bytes: Arc<[u8]>, compressed: Option<(Arc<[u8]>, u32)>) {
        if bytes.len() > self.max_bytes {
            self.resumable_from = self.events.len();
            return;
        }
        self.bytes += bytes.len();
        self.events.push_back(Kept { id, bytes, compressed });
        while self.events.len() > self.max_events || self.bytes > self.max_bytes {
            let Some(oldest) = self.events.pop_front() else { break };
            self.bytes -= oldest.bytes.len();
            self.resumable_from = self.resumable_from.saturating_sub(1);
        }
    }

    /// The events after `last_id`, or all of them when there is no last id or it is unknown. When
    /// an id occurs more than once, the newest occurrence counts. With `compressed`, their
    /// compressed copies (every kept event has one when the hub compresses).
    pub fn after(&self, last_id: Option<&str>, compressed: bool) -> Replay {
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
        for kept in self.events.range(start.unwrap_or(0)..) {
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
            history.keep(id.to_string(), bytes(id), None);
        }
        history
    }

    #[test]
    fn after_known_unknown_and_none() {
        let history = filled(&["1", "2", "3"]);
        assert_eq!(texts(&history.after(None, false)), ["1", "2", "3"]);
        assert_eq!(texts(&history.after(Some("1"), false)), ["2", "3"]);
        assert!(history.after(Some("3"), false).events.is_empty());
        assert!(!history.after(Some("3"), false).unknown_id);
        let unknown = history.after(Some("99"), false);
        assert!(unknown.unknown_id);
        assert_eq!(texts(&unknown), ["1", "2", "3"]);
    }

    #[test]
    fn repeated_id_resumes_after_the_newest() {
        let history = filled(&["a", "b", "a", "c"]);
        assert_eq!(texts(&history.after(Some("a"), false)), ["c"]);
    }

    #[test]
    fn bounded_by_count_at_the_limit() {
        let mut history = History::new(2, 1 << 20);
        history.keep("1".into(), bytes("1"), None);
        history.keep("2".into(), bytes("2"), None);
        assert_eq!(history.len(), 2);
        history.keep("3".into(), bytes("3"), None);
        assert_eq!(texts(&history.after(None, false)), ["2", "3"]);
        assert!(history.after(Some("1"), false).unknown_id, "evicted id is unknown");
    }

    #[test]
    fn bounded_by_bytes_at_the_limit() {
        let mut history = History::new(100, 10);
        history.keep("1".into(), bytes("12345"), None);
        history.keep("2".into(), bytes("67890"), None);
        assert_eq!(history.len(), 2, "exactly at the byte limit both stay");
        history.keep("3".into(), bytes("x"), None);
        assert_eq!(texts(&history.after(None, false)), ["67890", "x"]);
    }

    #[test]
    fn an_event_larger_than_the_limit_is_not_kept_and_evicts_nothing() {
        let mut history = History::new(100, 10);
        history.keep("1".into(), bytes("12345"), None);
        history.keep("2".into(), bytes("67890"), None);
        history.keep("big".into(), bytes("0123456789x"), None);
        assert_eq!(texts(&history.after(None, false)), ["12345", "67890"], "what fits stays");
        for before_the_gap in ["1", "2", "big"] {
            let replay = history.after(Some(before_the_gap), false);
            assert!(replay.unknown_id, "resuming from {before_the_gap} would skip the big event");
            assert_eq!(texts(&replay), ["12345", "67890"]);
        }
        history.keep("3".into(), bytes("abc"), None);
        let replay = history.after(Some("3"), false);
        assert!(!replay.unknown_id && replay.events.is_empty(), "ids after the gap resume");
        assert!(history.after(Some("2"), false).unknown_id);
        // Once the events before the gap are evicted, the rule has nothing left to guard.
        history.keep("4".into(), bytes("defgh"), None);
        history.keep("5".into(), bytes("ij"), None);
        assert_eq!(texts(&history.after(None, false)), ["abc", "defgh", "ij"]);
        assert!(!history.after(Some("3"), false).unknown_id);
        assert_eq!(texts(&history.after(Some("3"), false)), ["defgh", "ij"]);
    }

    #[test]
    fn zero_limit_keeps_nothing() {
        let mut history = History::new(0, 1 << 20);
        history.keep("1".into(), bytes("1"), None);
        assert_eq!(history.len(), 0);
    }
}
