//! Which feeds an event published to topics may go to, found without looking at every feed: an
//! index from exact topics to the feeds that subscribe to them, the feeds that subscribe to every
//! topic, and, for feeds whose selectors hold patterns, a bounded cache from topic to the pattern
//! feeds that select it.
//!
//! Every candidate selects one of the event's topics (a feed may come once per topic it selects);
//! the registry then applies only the private gate ([`Selection::admits_privacy`]) once per
//! event. A hub-wide notice goes to every feed, and needs no routing.

use std::collections::HashMap;

use super::selection_feed::FeedId;
use super::topics::{Selection, Topics};
use crate::topic::{TopicMatcher, TopicSelector};

/// Topics whose pattern feeds the routing cache remembers: past this many, it starts again empty.
/// Each entry holds its topic (at most [`MAX_TOPIC_BYTES`](super::MAX_TOPIC_BYTES)) and the ids of
/// the pattern feeds that select it.
pub const MAX_CACHED_TOPICS: usize = 4096;

#[derive(Debug, Default)]
pub(super) struct Routes {
    /// Feeds that subscribe to every topic ([`Selection::all`], or a selector holding the
    /// wildcard, with or without a private selector).
    every_topic: Vec<FeedId>,
    /// Per exact topic, the feeds whose selector names it.
    exact: HashMap<String, Vec<FeedId>>,
    /// Feeds whose selector holds a pattern, with that selector.
    patterns: Vec<(FeedId, TopicSelector)>,
    /// Per topic, the pattern feeds that select it. Cleared when a pattern feed comes or goes, and
    /// when it is full.
    cache: HashMap<String, Vec<FeedId>>,
}

impl Routes {
    /// A feed with this selection was made.
    pub fn add(&mut self, feed: FeedId, selection: &Selection) {
        let Some(selector) = selection.subscribed().filter(|selector| !selects_every_topic(selector)) else {
            self.every_topic.push(feed);
            return;
        };
        for matcher in selector.matchers() {
            if let TopicMatcher::Exact(topic) = matcher {
                self.exact.entry(topic.clone()).or_default().push(feed);
            }
        }
        if selector.matchers().iter().any(|matcher| !matches!(matcher, TopicMatcher::Exact(_))) {
            self.patterns.push((feed, selector.clone()));
            self.cache.clear();
        }
    }

    /// The feed with this selection was removed.
    pub fn remove(&mut self, feed: FeedId, selection: &Selection) {
        let Some(selector) = selection.subscribed().filter(|selector| !selects_every_topic(selector)) else {
            self.every_topic.retain(|&id| id != feed);
            return;
        };
        for matcher in selector.matchers() {
            if let TopicMatcher::Exact(topic) = matcher {
                if let Some(feeds) = self.exact.get_mut(topic.as_str()) {
                    feeds.retain(|&id| id != feed);
                    if feeds.is_empty() {
                        self.exact.remove(topic.as_str());
                    }
                }
            }
        }
        let patterns = self.patterns.len();
        self.patterns.retain(|(id, _)| *id != feed);
        if self.patterns.len() != patterns {
            self.cache.clear();
        }
    }

    /// Appends to `out` every feed an event published to `topics` may go to; a feed may come more
    /// than once (once per topic it selects).
    pub fn candidates(&mut self, topics: &Topics, out: &mut Vec<FeedId>) {
        out.extend_from_slice(&self.every_topic);
        for topic in topics.as_slice() {
            if let Some(feeds) = self.exact.get(topic.as_str()) {
                out.extend_from_slice(feeds);
            }
            if self.patterns.is_empty() {
                continue;
            }
            if let Some(feeds) = self.cache.get(topic.as_str()) {
                out.extend_from_slice(feeds);
                continue;
            }
            let one = std::slice::from_ref(topic);
            let feeds: Vec<FeedId> =
                self.patterns.iter().filter(|(_, selector)| selector.matches_any(one)).map(|(id, _)| *id).collect();
            out.extend_from_slice(&feeds);
            if self.cache.len() >= MAX_CACHED_TOPICS {
                self.cache.clear();
            }
            self.cache.insert(topic.clone(), feeds);
        }
    }

    /// Topics the cache remembers now (for tests of its bound).
    #[cfg(test)]
    pub fn cached_topics(&self) -> usize {
        self.cache.len()
    }
}
/// Whether a selector selects every topic: it holds the wildcard. Such a feed is routed every
/// event, as one without a selector is, rather than matched as a pattern against each topic.
fn selects_every_topic(selector: &TopicSelector) -> bool {
    selector.matchers().iter().any(|matcher| matches!(matcher, TopicMatcher::Wildcard(_)))
}
