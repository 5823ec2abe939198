//! The history ring: events that carried an id, kept so late joiners and reconnecting clients can
//! be sent what they missed. Bounded by a count and by bytes; the oldest events go first.

use std::collections::VecDeque;
use std::sync::Arc;

/// One kept event: its id and its encoded bytes (shared with everything else that sends it).
#[derive(Debug, Clone)]
struct Kept {
    id: String,
    bytes: Arc<[u8]>,
}

/// What a connecting client should be sent from history.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    /// Encoded events, oldest first.
    pub events: Vec<Arc<[u8]>>,
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
}

impl History {
    pub fn new(max_events: usize, max_bytes: usize) -> History {
        History { events: VecDeque::new(), bytes: 0, max_events, max_bytes }
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn keep(&mut self, id: String, bytes: Arc<[u8]>) {
        self.bytes += bytes.len();
        self.events.push_back(Kept { id, bytes });
        while self.events.len() > self.max_events || self.bytes > self.max_bytes {
            let Some(oldest) = self.events.pop_front() else { break };
            self.bytes -= oldest.bytes.len();
        }
    }

    /// The events after `last_id`, or all of them when there is no last id or it is unknown. When
    /// an id occurs more than once, the newest occurrence counts.
    pub fn after(&self, last_id: Option<&str>) -> Replay {
        let start = match last_id {
            None => Some(0),
            Some(id) => self.events.iter().rposition(|kept| kept.id == id).map(|at| at + 1),
        };
        let unknown_id = start.is_none();
        let events = self.events.range(start.unwrap_or(0)..).map(|kept| Arc::clone(&kept.bytes)).collect();
        Replay { events, unknown_id }
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
            history.keep(id.to_string(), bytes(id));
        }
        history
    }

    #[test]
    fn after_known_unknown_and_none() {
        let history = filled(&["1", "2", "3"]);
        assert_eq!(texts(&history.after(None)), ["1", "2", "3"]);
        assert_eq!(texts(&history.after(Some("1"))), ["2", "3"]);
        assert!(history.after(Some("3")).events.is_empty());
        assert!(!history.after(Some("3")).unknown_id);
        let unknown = history.after(Some("99"));
        assert!(unknown.unknown_id);
        assert_eq!(texts(&unknown), ["1", "2", "3"]);
    }

    #[test]
    fn repeated_id_resumes_after_the_newest() {
        let history = filled(&["a", "b", "a", "c"]);
        assert_eq!(texts(&history.after(Some("a"))), ["c"]);
    }

    #[test]
    fn bounded_by_count_at_the_limit() {
        let mut history = History::new(2, 1 << 20);
        history.keep("1".into(), bytes("1"));
        history.keep("2".into(), bytes("2"));
        assert_eq!(history.len(), 2);
        history.keep("3".into(), bytes("3"));
        assert_eq!(texts(&history.after(None)), ["2", "3"]);
        assert!(history.after(Some("1")).unknown_id, "evicted id is unknown");
    }

    #[test]
    fn bounded_by_bytes_at_the_limit() {
        let mut history = History::new(100, 10);
        history.keep("1".into(), bytes("12345"));
        history.keep("2".into(), bytes("67890"));
        assert_eq!(history.len(), 2, "exactly at the byte limit both stay");
        history.keep("3".into(), bytes("x"));
        assert_eq!(texts(&history.after(None)), ["67890", "x"]);
    }

    #[test]
    fn zero_limit_keeps_nothing() {
        let mut history = History::new(0, 1 << 20);
        history.keep("1".into(), bytes("1"));
        assert_eq!(history.len(), 0);
    }
}
