//! Topic selectors: which topics a subscriber asks for.
//!
//! **A stand-in, to be replaced** by the full module (URL Pattern matching), which keeps this API:
//! a [`TopicMatcher`] is an exact topic or a pattern, a [`TopicSelector`] is a set of matchers,
//! and [`TopicSelector::matches_any`] says whether it selects any of an event's topics. This
//! stand-in knows one pattern only, the wildcard `*`, which matches every topic; every other
//! string is an exact topic.
//!
//! ```
//! use bare_sse::topic::TopicSelector;
//!
//! let books = TopicSelector::new(["https://example.com/books/1", "https://example.com/books/2"]);
//! assert!(books.matches_any(&["https://example.com/books/2"]));
//! assert!(!books.matches_any(&["https://example.com/books/3"]));
//! assert!(TopicSelector::new(["*"]).matches_any(&["anything"]));
//! ```

/// One topic selector: an exact topic, or a pattern that matches many.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TopicMatcher {
    /// Matches this topic, and no other.
    Exact(String),
    /// Matches the topics of a pattern.
    UrlPattern(UrlPattern),
}

/// A pattern of topics. The stand-in knows only the wildcard, `*`, which matches every topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UrlPattern {
    source: String,
}

impl UrlPattern {
    /// The pattern as it was written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `topic` is one of the pattern's topics.
    pub fn matches(&self, _topic: &str) -> bool {
        // The only pattern the stand-in makes is the wildcard.
        true
    }
}

impl TopicMatcher {
    /// The matcher a selector string stands for: `*` matches every topic; any other string is
    /// an exact topic.
    pub fn new(selector: impl Into<String>) -> TopicMatcher {
        let selector = selector.into();
        if selector == "*" {
            TopicMatcher::UrlPattern(UrlPattern { source: selector })
        } else {
            TopicMatcher::Exact(selector)
        }
    }

    /// Whether `topic` is one this matcher selects.
    pub fn matches(&self, topic: &str) -> bool {
        match self {
            TopicMatcher::Exact(exact) => exact == topic,
            TopicMatcher::UrlPattern(pattern) => pattern.matches(topic),
        }
    }
}

/// The topics one subscriber asks for: a set of matchers. Two selectors made of the same matchers,
/// in any order and with repeats, are equal (the matchers are kept sorted, once each).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicSelector {
    /// Sorted, without repeats.
    matchers: Vec<TopicMatcher>,
}

impl TopicSelector {
    /// A selector of these selector strings (see [`TopicMatcher::new`]).
    pub fn new<I, T>(selectors: I) -> TopicSelector
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        TopicSelector::from_matchers(selectors.into_iter().map(TopicMatcher::new))
    }

    /// A selector of these matchers.
    pub fn from_matchers(matchers: impl IntoIterator<Item = TopicMatcher>) -> TopicSelector {
        let mut matchers: Vec<TopicMatcher> = matchers.into_iter().collect();
        matchers.sort_unstable();
        matchers.dedup();
        TopicSelector { matchers }
    }

    /// Its matchers, sorted, once each.
    pub fn matchers(&self) -> &[TopicMatcher] {
        &self.matchers
    }

    /// Whether some matcher selects some of `topics`.
    pub fn matches_any(&self, topics: &[impl AsRef<str>]) -> bool {
        topics.iter().any(|topic| self.matchers.iter().any(|matcher| matcher.matches(topic.as_ref())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_topics_match_themselves_and_the_wildcard_matches_all() {
        let selector = TopicSelector::new(["a", "b"]);
        assert!(selector.matches_any(&["x", "b"]));
        assert!(!selector.matches_any(&["x", "ab", "A"]));
        assert!(!selector.matches_any(&[] as &[&str]));
        assert!(TopicSelector::new(["*"]).matches_any(&["", "anything"]));
        assert!(!TopicSelector::new(Vec::<String>::new()).matches_any(&["a"]), "an empty selector selects nothing");
    }

    #[test]
    fn selectors_of_the_same_matchers_are_equal_in_any_order() {
        assert_eq!(TopicSelector::new(["b", "a", "b"]), TopicSelector::new(["a", "b"]));
        assert_ne!(TopicSelector::new(["a"]), TopicSelector::new(["a", "*"]));
        assert_eq!(TopicSelector::new(["b", "a"]).matchers()[0], TopicMatcher::Exact("a".into()));
    }
}
