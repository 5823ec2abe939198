//! A bounded memory of URL pattern results: (pattern, topic) → matched or not.
//!
//! A hub evaluates every subscriber's matchers against every update. Many subscribers share a
//! pattern, and a topic is usually published many times, so the same (pattern, topic) question
//! comes back; the cache answers it without parsing the topic or running the pattern again.
//!
//! The bound is on bytes (of pattern and topic text, plus a fixed [`ENTRY_OVERHEAD_BYTES`] per
//! entry), since both strings come from peers and can be long. Eviction is by generations, which
//! needs no bookkeeping per lookup: entries go into the current generation; when it holds half
//! the budget it becomes the previous one and the one before is dropped whole; an entry found in
//! the previous generation is copied into the current one. So what was used recently survives,
//! and the cache never holds more than the budget (plus one entry).

use std::collections::HashMap;

use super::UrlRecord;

/// The default budget of a [`MatchCache`], in bytes.
pub const DEFAULT_MATCH_CACHE_BYTES: usize = 4 * 1024 * 1024;

/// What each entry costs besides its text: the hash table slots, the string headers and the
/// answer, rounded up.
pub(super) const ENTRY_OVERHEAD_BYTES: usize = 64;

/// Pattern → topic → matched.
type Generation = HashMap<Box<str>, HashMap<Box<str>, bool>>;

/// Remembers whether URL patterns matched topics, within a byte budget; see
/// [`TopicSelector::matches_any_cached`](super::TopicSelector::matches_any_cached).
///
/// A result depends on the base URL relative topics are resolved against, so a cache serves the
/// selectors of one base URL (a hub's) only; others bypass it.
#[derive(Debug)]
pub struct MatchCache {
    base_url: Option<UrlRecord>,
    max_bytes: usize,
    current: Generation,
    current_bytes: usize,
    previous: Generation,
    previous_bytes: usize,
    hits: u64,
    misses: u64,
}

impl MatchCache {
    /// An empty cache for selectors resolved against `base_url`, holding at most `max_bytes`
    /// ([`DEFAULT_MATCH_CACHE_BYTES`] is a fair start). A budget of 0 remembers nothing.
    pub fn new(base_url: Option<&UrlRecord>, max_bytes: usize) -> MatchCache {
        MatchCache {
            base_url: base_url.cloned(),
            max_bytes,
            current: HashMap::new(),
            current_bytes: 0,
            previous: HashMap::new(),
            previous_bytes: 0,
            hits: 0,
            misses: 0,
        }
    }

    /// The base URL the cache was made for.
    pub fn base_url(&self) -> Option<&UrlRecord> {
        self.base_url.as_ref()
    }

    /// How many lookups found an answer, and how many did not, since the cache was made.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }

    /// How many bytes the entries take, by the cache's own count (at most the budget, plus one
    /// entry).
    pub fn bytes(&self) -> usize {
        self.current_bytes + self.previous_bytes
    }

    /// The remembered answer for `pattern` (its source text) and `topic`, if any.
    pub(super) fn get(&mut self, pattern: &str, topic: &str) -> Option<bool> {
        if let Some(&matched) = self.current.get(pattern).and_then(|topics| topics.get(topic)) {
            self.hits += 1;
            return Some(matched);
        }
        let found = self.previous.get(pattern).and_then(|topics| topics.get(topic)).copied();
        match found {
            Some(matched) => {
                self.hits += 1;
                self.insert(pattern, topic, matched);
                Some(matched)
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    /// Remembers an answer.
    pub(super) fn insert(&mut self, pattern: &str, topic: &str, matched: bool) {
        let bytes = entry_bytes(pattern, topic);
        if bytes > self.max_bytes / 2 {
            // Larger than a generation: it would push everything else out.
            return;
        }
        if self.current_bytes + bytes > self.max_bytes / 2 {
            self.previous = std::mem::take(&mut self.current);
            self.previous_bytes = std::mem::take(&mut self.current_bytes);
        }
        let topics = self.current.entry(pattern.into()).or_default();
        if topics.insert(topic.into(), matched).is_none() {
            self.current_bytes += bytes;
        }
    }
}

fn entry_bytes(pattern: &str, topic: &str) -> usize {
    pattern.len() + topic.len() + ENTRY_OVERHEAD_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_and_counts() {
        let mut cache = MatchCache::new(None, 10_000);
        assert_eq!(cache.get("p", "t"), None);
        cache.insert("p", "t", true);
        cache.insert("p", "u", false);
        assert_eq!((cache.get("p", "t"), cache.get("p", "u"), cache.get("q", "t")), (Some(true), Some(false), None));
        assert_eq!(cache.hits_and_misses(), (2, 2));
        assert_eq!(cache.bytes(), 2 * (2 + ENTRY_OVERHEAD_BYTES));
    }

    #[test]
    fn never_holds_more_than_its_budget() {
        let budget = 100 * (8 + 1 + ENTRY_OVERHEAD_BYTES);
        let mut cache = MatchCache::new(None, budget);
        for n in 0..10_000 {
            cache.insert(&format!("{n:08}"), "t", true);
            assert!(cache.bytes() <= budget, "{} > {budget} after {n}", cache.bytes());
        }
        // The last entries are still there; the first ones went with their generation.
        assert_eq!(cache.get("00009999", "t"), Some(true));
        assert_eq!(cache.get("00000000", "t"), None);
    }

    #[test]
    fn recently_used_entries_survive_a_generation() {
        let entry = 2 + ENTRY_OVERHEAD_BYTES;
        let mut cache = MatchCache::new(None, 8 * entry);
        cache.insert("p", "0", true);
        for n in 1..=4 {
            cache.insert("p", &n.to_string(), true); // the fifth entry starts a new generation
        }
        assert_eq!(cache.get("p", "0"), Some(true), "found in the previous generation, copied forward");
        for n in 5..=8 {
            cache.insert("p", &n.to_string(), true);
        }
        assert_eq!(cache.get("p", "0"), Some(true));
        assert_eq!(cache.get("p", "1"), None, "not used since: dropped with its generation");
    }

    #[test]
    fn oversized_entries_and_empty_budgets_are_not_kept() {
        let mut cache = MatchCache::new(None, 200);
        cache.insert(&"p".repeat(100), "t", true);
        assert_eq!(cache.get(&"p".repeat(100), "t"), None);
        let mut nothing = MatchCache::new(None, 0);
        nothing.insert("p", "t", true);
        assert_eq!((nothing.get("p", "t"), nothing.bytes()), (None, 0));
    }
}
