//! Topics: what an event is published to ([`Topics`]), what a subscriber receives
//! ([`Selection`]), and the one rule that joins them ([`Selection::admits`]), used alike for live
//! delivery and for replay from history or from a Redis stream.
//!
//! ```
//! use bare_sse::hub::{Selection, Topics};
//! use bare_sse::topic::{SelectorLimits, TopicSelector};
//!
//! let book_1 = || TopicSelector::from_query("match=%2Fbooks%2F1", None, &SelectorLimits::default());
//! let book = Topics::new(["/books/1"]);
//! let draft = Topics::new(["/books/1"]).private(true);
//! let reader = Selection::topics(book_1()?);
//! let editor = reader.clone().with_private(book_1()?);
//! assert!(reader.admits(&book) && !reader.admits(&draft));
//! assert!(editor.admits(&book) && editor.admits(&draft));
//! assert!(Selection::all().admits(&book) && !Selection::all().admits(&draft));
//! # Ok::<(), bare_sse::topic::SelectorError>(())
//! ```

use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use crate::topic::{check_topic_text, TopicMatcher, TopicSelector};
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
    /// or format character (the rule of [`check_topic_text`], which subscribers' matchers
    /// follow too).
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
    pub(crate) fn notice() -> &'static Topics {
        // One for the process: a notice is published with every `send_new_event`, which should
        // cost neither an allocation nor a count.
        static NOTICE: OnceLock<Topics> = OnceLock::new();
        NOTICE.get_or_init(|| Topics { topics: Arc::from([]), private: false })
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
    /// holds a control or format character ([`check_topic_text`]: a line break would break every
    /// log that prints a topic, and an invisible character would let two topics look alike).
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
            if check_topic_text(topic).is_err() {
                return refuse("a topic contains a control or format character");
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
/// *feed*). Two selections are equal when their selectors hold the same matchers, in any order
/// (the wildcard however it was given), with the same base URL.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Shared: a selection is cloned for each client that joins with it, and its feed and the
    /// hub's index of feeds keep copies, so a clone is a count, not a copy of every matcher.
    parts: Arc<SelectionParts>,
}

#[derive(Debug, Clone, Default)]
struct SelectionParts {
    /// `None`: every topic.
    topics: Option<TopicSelector>,
    /// The private events the subscriber may receive: `None`, none.
    private: Option<TopicSelector>,
    /// What equality and hashing look at: the two selectors as keys.
    key: [Option<SelectorKey>; 2],
}

/// A selector as it is compared: its matchers sorted, and its base URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SelectorKey {
    matchers: Vec<MatcherKey>,
    base_url: Option<String>,
}

/// A matcher as it is compared.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum MatcherKey {
    Wildcard,
    Exact(String),
    UrlPattern(String),
}

impl SelectorKey {
    fn of(selector: &TopicSelector) -> SelectorKey {
        let mut matchers: Vec<MatcherKey> = selector
            .matchers()
            .iter()
            .map(|matcher| match matcher {
                TopicMatcher::Wildcard(_) => MatcherKey::Wildcard,
                TopicMatcher::Exact(topic) => MatcherKey::Exact(topic.clone()),
                TopicMatcher::UrlPattern { source, .. } => MatcherKey::UrlPattern(source.clone()),
            })
            .collect();
        matchers.sort_unstable();
        matchers.dedup();
        SelectorKey { matchers, base_url: selector.base_url().map(ToString::to_string) }
    }
}

impl PartialEq for Selection {
    fn eq(&self, other: &Selection) -> bool {
        Arc::ptr_eq(&self.parts, &other.parts) || self.parts.key == other.parts.key
    }
}

impl Eq for Selection {}

impl Hash for Selection {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts.key.hash(state);
    }
}

impl Selection {
    /// Every public event: what [`Response::hub`](crate::Response::hub) subscribes a client to.
    pub fn all() -> Selection {
        Selection::default()
    }

    /// The public events with a topic that `selector` selects.
    pub fn topics(selector: TopicSelector) -> Selection {
        let key = [Some(SelectorKey::of(&selector)), None];
        Selection { parts: Arc::new(SelectionParts { topics: Some(selector), private: None, key }) }
    }

    /// Also the private events with a topic that `selector` selects, and (for a selection of
    /// [`topics`](Self::topics)) a topic that the subscription's selector selects. Without it, no
    /// private event is ever sent.
    pub fn with_private(mut self, selector: TopicSelector) -> Selection {
        let parts = Arc::make_mut(&mut self.parts);
        parts.key[1] = Some(SelectorKey::of(&selector));
        parts.private = Some(selector);
        self
    }

    /// The topics subscribed to: `None` for every topic.
    pub fn subscribed(&self) -> Option<&TopicSelector> {
        self.parts.topics.as_ref()
    }

    /// Whether an event published to `topics` reaches a subscriber with this selection.
    pub fn admits(&self, topics: &Topics) -> bool {
        if topics.is_notice() {
            return true;
        }
        let subscribed = self.parts.topics.as_ref().is_none_or(|selector| selector.matches_any(&topics.topics));
        subscribed && self.admits_privacy(topics)
    }

    /// The private half of [`admits`](Self::admits): a public event passes; a private one only
    /// if the private selector selects one of its topics. For a selection already known to select
    /// one of the event's topics (the hub's routing finds only such).
    pub(crate) fn admits_privacy(&self, topics: &Topics) -> bool {
        !topics.private || self.parts.private.as_ref().is_some_and(|p| p.matches_any(&topics.topics))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selector(topics: &[&str]) -> TopicSelector {
        crate::test_support::selector(topics)
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
        // Every control character, C0, DEL and C1, and format characters, anywhere in a topic.
        let format = ['\u{ad}', '\u{200b}', '\u{202e}', '\u{feff}'];
        for control in (0..0x20).chain(0x7f..0xa0).map(|c| char::from_u32(c).unwrap()).chain(format) {
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
    }

    /// Selections of the same matchers are equal (they share a feed), whatever their order and
    /// repeats, and however the wildcard was given; other matchers, or a private selector, make
    /// another.
    #[test]
    fn selections_of_the_same_matchers_are_equal() {
        use crate::topic::SelectorLimits;
        use std::collections::HashSet;
        let from = |query: &str| TopicSelector::from_query(query, None, &SelectorLimits::default()).unwrap();
        let set = |selections: &[Selection]| selections.iter().cloned().collect::<HashSet<_>>().len();
        let a_b = Selection::topics(from("match=a&match=b"));
        assert_eq!(a_b, Selection::topics(from("match=b&match_exact=a&match=b")));
        assert_eq!(Selection::topics(from("match=*")), Selection::topics(from("match_urlpattern=*")));
        assert_eq!(set(&[a_b.clone(), Selection::topics(from("match=b&match=a"))]), 1);
        let others = [
            Selection::all(),
            a_b.clone(),
            Selection::topics(from("match=a")),
            Selection::topics(from("match_urlpattern=https%3A%2F%2Fh%2F%3Aid")),
            Selection::topics(from("match=https%3A%2F%2Fh%2F%3Aid")),
            a_b.clone().with_private(from("match=a")),
            Selection::all().with_private(from("match=a")),
        ];
        assert_eq!(set(&others), others.len(), "each different");
        // A base URL (a Mercure hub's, from the request's host) is part of the selection.
        let base = |url: &str| crate::topic::UrlRecord::parse(url, None).unwrap();
        let (x, y) = (base("https://x.example/.well-known/mercure"), base("https://y.example/.well-known/mercure"));
        let with_base = |query: &str, base: &crate::topic::UrlRecord| {
            Selection::topics(TopicSelector::from_query(query, Some(base), &SelectorLimits::default()).unwrap())
        };
        let books = "match_urlpattern=%2Fbooks%2F%3Aid";
        assert_eq!(with_base(books, &x), with_base(books, &x), "made apart, the same");
        assert_eq!(set(&[with_base(books, &x), with_base(books, &x)]), 1);
        assert_ne!(with_base(books, &x), with_base(books, &y), "another base");
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
        for selection in [Selection::all(), Selection::topics(selector(&["a"])).with_private(selector(&["b"]))] {
            assert!(selection.admits(Topics::notice()));
        }
    }
}
