//! Topics: what an event is published to ([`Topics`]), what a subscriber receives
//! ([`Selection`]), and the one rule that joins them ([`Selection::admits`]), used alike for live
//! delivery and for replay from history or from a Redis stream.
//!
//! ```
//! use bare_sse::hub::{Selection, Topics};
//! use bare_sse::topic::TopicSelector;
//!
//! let book = Topics::new(["/books/1"]);
//! let draft = Topics::new(["/books/1"]).private(true);
//! let reader = Selection::topics(TopicSelector::new(["/books/1"]));
//! let editor = reader.clone().with_private(TopicSelector::new(["/books/1"]));
//! assert!(reader.admits(&book) && !reader.admits(&draft));
//! assert!(editor.admits(&book) && editor.admits(&draft));
//! assert!(Selection::all().admits(&book) && !Selection::all().admits(&draft));
//! ```

use std::sync::{Arc, OnceLock};

use crate::topic::TopicSelector;
use crate::Error;

/// Longest topic accepted, in bytes.
pub const MAX_TOPIC_BYTES: usize = 2048;
/// Most topics one event may be published to.
pub const MAX_TOPICS_PER_EVENT: usize = 64;

/// The topics an event is published to, and whether it is private
/// ([`Hub::publish_to`](super::Hub::publish_to)).
///
/// A public event reaches the subscribers whose [`Selection`] selects one of its topics; a private
/// one, only those that also have a private selector that selects one of them. Cheap to clone:
/// the topics are shared, and the hub's history keeps them once per event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    topics: Arc<[String]>,
    private: bool,
}

impl Topics {
    /// Public topics. They are checked when the event is published: at least one, at most
    /// [`MAX_TOPICS_PER_EVENT`], each non-empty, at most [`MAX_TOPIC_BYTES`], and with no control
    /// character.
    pub fn new<I, T>(topics: I) -> Topics
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Topics { topics: topics.into_iter().map(Into::into).collect(), private: false }
    }

    /// Makes the event private (`true`) or public (`false`, the default).
    pub fn private(mut self, private: bool) -> Topics {
        self.private = private;
        self
    }

    /// Whether the event is private.
    pub fn is_private(&self) -> bool {
        self.private
    }

    /// The topics, in the order given.
    pub fn as_slice(&self) -> &[String] {
        &self.topics
    }

    /// No topic at all: a hub-wide notice, which every subscriber receives (what
    /// [`Hub::send_new_event`](super::Hub::send_new_event) sends, and the hub's own reset events).
    pub(crate) fn notice() -> Topics {
        // One for the process: a notice is published with every `send_new_event`, which should
        // not cost an allocation.
        static NOTICE: OnceLock<Topics> = OnceLock::new();
        NOTICE.get_or_init(|| Topics { topics: Arc::from([]), private: false }).clone()
    }

    /// Whether this is a hub-wide notice.
    pub(crate) fn is_notice(&self) -> bool {
        self.topics.is_empty()
    }

    /// Bytes of topic text, which a kept event's share of the history counts.
    pub(crate) fn text_bytes(&self) -> usize {
        self.topics.iter().map(String::len).sum()
    }

    /// Refuses topics a publisher may not send: none, too many, or one that is empty, too long or
    /// holds a control character (C0, DEL or C1: a line break would break the Redis stream's
    /// fields and every log that prints a topic).
    pub(crate) fn check(&self) -> Result<(), Error> {
        let refuse = |reason: &'static str| Err(Error::InvalidField { field: "topic", reason });
        if self.topics.is_empty() {
            return refuse("an event published to topics needs at least one (send_new_event reaches everyone)");
        }
        if self.topics.len() > MAX_TOPICS_PER_EVENT {
            return refuse("an event may have at most MAX_TOPICS_PER_EVENT (64) topics");
        }
        for topic in self.topics.iter() {
            if topic.is_empty() {
                return refuse("a topic is empty");
            }
            if topic.len() > MAX_TOPIC_BYTES {
                return refuse("a topic is longer than MAX_TOPIC_BYTES (2048)");
            }
            if topic.chars().any(char::is_control) {
                return refuse("a topic contains a control character");
            }
        }
        Ok(())
    }
}

/// What one subscriber receives: every public event, or those of some topics, and private events
/// of the topics it may read. Every subscriber also receives the hub-wide notices (events sent
/// with [`Hub::send_new_event`](super::Hub::send_new_event), and the hub's reset events).
///
/// Subscribers with equal selections share everything the hub keeps per selection (their
/// *feed*), so a selection made from a request should be built the same way for the same request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Selection {
    /// `None`: every topic.
    topics: Option<TopicSelector>,
    /// The private events the subscriber may receive: `None`, none.
    private: Option<TopicSelector>,
}

impl Selection {
    /// Every public event: what [`Response::hub`](crate::Response::hub) subscribes a client to.
    pub fn all() -> Selection {
        Selection::default()
    }

    /// The public events with a topic that `selector` selects.
    pub fn topics(selector: TopicSelector) -> Selection {
        Selection { topics: Some(selector), private: None }
    }

    /// Also the private events with a topic that `selector` selects, and (for a selection of
    /// [`topics`](Self::topics)) a topic that the subscription's selector selects. Without it, no
    /// private event is ever sent.
    pub fn with_private(mut self, selector: TopicSelector) -> Selection {
        self.private = Some(selector);
        self
    }

    /// The topics subscribed to: `None` for every topic.
    pub fn subscribed(&self) -> Option<&TopicSelector> {
        self.topics.as_ref()
    }

    /// Whether an event published to `topics` reaches a subscriber with this selection.
    pub fn admits(&self, topics: &Topics) -> bool {
        if topics.is_notice() {
            return true;
        }
        let subscribed = self.topics.as_ref().is_none_or(|selector| selector.matches_any(&topics.topics));
        subscribed && (!topics.private || self.private.as_ref().is_some_and(|p| p.matches_any(&topics.topics)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selector(topics: &[&str]) -> TopicSelector {
        TopicSelector::new(topics.iter().copied())
    }

    #[test]
    fn topics_are_checked_at_their_limits() {
        assert!(Topics::new(["a"]).check().is_ok());
        assert!(Topics::new(Vec::<String>::new()).check().is_err(), "none");
        let most: Vec<String> = (0..MAX_TOPICS_PER_EVENT).map(|n| n.to_string()).collect();
        assert!(Topics::new(most.clone()).check().is_ok());
        assert!(Topics::new(most.into_iter().chain(["one more".to_string()])).check().is_err());
        assert!(Topics::new(["x".repeat(MAX_TOPIC_BYTES)]).check().is_ok());
        assert!(Topics::new(["x".repeat(MAX_TOPIC_BYTES + 1)]).check().is_err());
        // Every control character, C0, DEL and C1, anywhere in a topic.
        for control in (0..0x20).chain(0x7f..0xa0).map(|c| char::from_u32(c).unwrap()) {
            for topic in [format!("{control}"), format!("a{control}"), format!("{control}b"), format!("a{control}b")] {
                let refused = Topics::new(["fine".to_string(), topic.clone()]).check();
                assert!(matches!(refused, Err(Error::InvalidField { field: "topic", .. })), "{topic:?}");
            }
        }
        assert!(Topics::new([""]).check().is_err(), "an empty topic");
        assert!(Topics::new(["https://example.com/é/✓ x"]).check().is_ok(), "any other text");
    }

    #[test]
    fn public_events_reach_the_selections_that_select_a_topic() {
        let event = Topics::new(["a", "b"]);
        assert!(Selection::all().admits(&event));
        assert!(Selection::topics(selector(&["b"])).admits(&event));
        assert!(Selection::topics(selector(&["*"])).admits(&event));
        assert!(!Selection::topics(selector(&["c"])).admits(&event));
        assert!(!Selection::topics(selector(&[])).admits(&event));
    }

    /// A private event needs a private selector that selects one of its topics, and, for a
    /// selection of topics, a subscribed topic too.
    #[test]
    fn private_events_need_a_matching_private_selector() {
        let event = Topics::new(["a", "b"]).private(true);
        assert!(!Selection::all().admits(&event), "no private selector");
        assert!(!Selection::topics(selector(&["a"])).admits(&event), "no private selector");
        assert!(!Selection::all().with_private(selector(&["c"])).admits(&event), "one that selects none");
        assert!(Selection::all().with_private(selector(&["b"])).admits(&event));
        assert!(Selection::topics(selector(&["a"])).with_private(selector(&["*"])).admits(&event));
        assert!(!Selection::topics(selector(&["c"])).with_private(selector(&["*"])).admits(&event), "not subscribed");
    }

    #[test]
    fn notices_reach_every_selection() {
        for selection in [Selection::all(), Selection::topics(selector(&[])), Selection::topics(selector(&["a"]))] {
            assert!(selection.admits(&Topics::notice()));
        }
    }
}
