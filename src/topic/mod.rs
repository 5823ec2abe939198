//! Topics and the matchers that select them, as Mercure defines them: an event is published to
//! one or more topics (strings, usually URLs), and a subscriber selects topics with matchers,
//! given as query parameters of its subscription: `match` (or `match_exact`) for one topic,
//! compared byte for byte, and `match_urlpattern` for a [URL pattern](url_pattern) such as
//! `https://example.com/books/:id`. The value `*` matches every topic, whatever the parameter.
//!
//! ```
//! use bare_sse::topic::{SelectorLimits, TopicSelector, UrlRecord};
//!
//! let hub = UrlRecord::parse("https://example.com/.well-known/mercure", None)?;
//! let query = "match=https%3A%2F%2Fexample.com%2Ffoo&match_urlpattern=%2Fbooks%2F%3Aid&lastEventID=7";
//! let selector = TopicSelector::from_query(query, Some(&hub), &SelectorLimits::default())?;
//! assert!(selector.matches_any(&["https://example.com/foo"]));
//! assert!(selector.matches_any(&["urn:other", "https://example.com/books/1"]));
//! assert!(selector.matches_any(&["/books/2"])); // a relative topic, resolved against the hub's URL
//! assert!(!selector.matches_any(&["https://example.com/books/1/reviews"]));
//!
//! // What Mercure says a hub must refuse with 400 Bad Request is an error:
//! let limits = SelectorLimits::default();
//! assert!(TopicSelector::from_query("matches=x", Some(&hub), &limits).is_err()); // the reserved `match` namespace
//! assert!(TopicSelector::from_query("match=a%E2%80%8Bb", Some(&hub), &limits).is_err()); // a zero-width space
//! assert!(TopicSelector::from_query("match_urlpattern=%2F%7Bx", Some(&hub), &limits).is_err()); // `/{x`
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Parsing here is whole-string (a query or a decoded form body at a time), pure, and bounded
//! ([`SelectorLimits`]); matching a URL pattern is linear in the topic's length (see
//! [`url_pattern`]). A hub that evaluates many subscribers against each update can remember
//! pattern results per topic in a [`MatchCache`].

mod cache;
pub mod url_pattern;
mod whatwg_url;

use std::fmt;
use std::sync::Arc;

use crate::http::{parse_query, PercentDecodeError};
pub use cache::{MatchCache, DEFAULT_MATCH_CACHE_BYTES};
pub use url_pattern::{PatternLimits, UrlComponent, UrlPattern, UrlPatternError, UrlPatternInit};
pub use whatwg_url::{UrlParseError, UrlRecord};

/// Most matcher parameters accepted in one subscription request, by default.
pub const DEFAULT_MAX_MATCHERS: usize = 100;
/// Longest matcher value accepted, in bytes, by default (exact topics and URL patterns alike).
pub const DEFAULT_MAX_MATCHER_BYTES: usize = url_pattern::DEFAULT_MAX_PATTERN_BYTES;

/// Bounds on what one subscription's matchers may hold. Past any of them, parsing fails with a
/// [`SelectorError`] (a hub answers 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectorLimits {
    /// Most matcher parameters in one request, counted before duplicates are dropped
    /// ([`DEFAULT_MAX_MATCHERS`]).
    pub max_matchers: usize,
    /// Longest matcher value, in bytes ([`DEFAULT_MAX_MATCHER_BYTES`]).
    pub max_matcher_bytes: usize,
    /// Most parts of one URL pattern ([`url_pattern::DEFAULT_MAX_PARTS`]).
    pub max_pattern_parts: usize,
    /// Most automaton states of one URL pattern ([`url_pattern::DEFAULT_MAX_STATES`]).
    pub max_pattern_states: usize,
}

impl Default for SelectorLimits {
    fn default() -> SelectorLimits {
        SelectorLimits {
            max_matchers: DEFAULT_MAX_MATCHERS,
            max_matcher_bytes: DEFAULT_MAX_MATCHER_BYTES,
            max_pattern_parts: url_pattern::DEFAULT_MAX_PARTS,
            max_pattern_states: url_pattern::DEFAULT_MAX_STATES,
        }
    }
}

impl SelectorLimits {
    fn pattern_limits(&self) -> PatternLimits {
        PatternLimits {
            max_pattern_bytes: self.max_matcher_bytes,
            max_parts: self.max_pattern_parts,
            max_states: self.max_pattern_states,
        }
    }
}

/// How a matcher's value is read: Mercure's matcher types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatcherType {
    /// The value is a topic, compared byte for byte (`match`, `match_exact`).
    Exact,
    /// The value is a URL pattern (`match_urlpattern`).
    UrlPattern,
}

impl MatcherType {
    /// The type's name in Mercure: `exact` or `urlpattern`.
    pub fn name(self) -> &'static str {
        match self {
            MatcherType::Exact => "exact",
            MatcherType::UrlPattern => "urlpattern",
        }
    }

    /// The type a subscription query parameter selects, if it is a matcher parameter: `match` and
    /// `match_exact` select [`Exact`](MatcherType::Exact), `match_urlpattern`
    /// [`UrlPattern`](MatcherType::UrlPattern). Names are case-sensitive.
    pub fn from_parameter(name: &str) -> Option<MatcherType> {
        match name {
            "match" | "match_exact" => Some(MatcherType::Exact),
            "match_urlpattern" => Some(MatcherType::UrlPattern),
            _ => None,
        }
    }
}

impl fmt::Display for MatcherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a query parameter's name is in Mercure's reserved `match` namespace: `match` itself,
/// or anything that starts with `match` in any case (`Match`, `matches`, `match_regex`). A
/// request may use such a name only for a matcher type the hub supports.
pub fn is_reserved_parameter(name: &str) -> bool {
    name.get(..5).is_some_and(|prefix| prefix.eq_ignore_ascii_case("match"))
}

/// One topic matcher.
#[derive(Debug, Clone)]
pub enum TopicMatcher {
    /// `*`: every topic. Mercure reserves the value before reading it by type, so `match=*` and
    /// `match_urlpattern=*` both mean it; the type it was given with is kept.
    Wildcard(MatcherType),
    /// One topic, compared byte for byte (no normalization, no base URL).
    Exact(String),
    /// A URL pattern, resolved against the hub's URL.
    UrlPattern {
        /// The pattern as given.
        source: String,
        /// The compiled pattern (shared: selectors are cloned cheaply).
        pattern: Arc<UrlPattern>,
    },
}

impl TopicMatcher {
    /// Checks and compiles one matcher value of the given type. `base_url` (the hub's URL)
    /// resolves relative URL patterns.
    ///
    /// # Errors
    ///
    /// [`SelectorError`]: a value with a forbidden character, longer than `limits` allow, or a
    /// URL pattern that does not compile.
    pub fn parse(
        matcher_type: MatcherType,
        value: &str,
        base_url: Option<&UrlRecord>,
        limits: &SelectorLimits,
    ) -> Result<TopicMatcher, SelectorError> {
        let parameter = || match matcher_type {
            MatcherType::Exact => "match",
            MatcherType::UrlPattern => "match_urlpattern",
        };
        if value.len() > limits.max_matcher_bytes {
            return Err(SelectorError::ValueTooLong {
                parameter: parameter().to_string(),
                bytes: value.len(),
                max: limits.max_matcher_bytes,
            });
        }
        check_topic_text(value)
            .map_err(|forbidden| SelectorError::ForbiddenChar { parameter: parameter().to_string(), forbidden })?;
        if value == "*" {
            return Ok(TopicMatcher::Wildcard(matcher_type));
        }
        match matcher_type {
            MatcherType::Exact => Ok(TopicMatcher::Exact(value.to_string())),
            MatcherType::UrlPattern => TopicMatcher::compile_pattern(value, base_url, limits),
        }
    }

    /// A URL pattern's matcher. Never inlined: the compiler's frame is not part of an exact
    /// topic's parse, which a server runs on a subscriber's connection thread, whose deepest
    /// call sets the stack pages it keeps while the subscriber is idle.
    #[inline(never)]
    fn compile_pattern(
        value: &str,
        base_url: Option<&UrlRecord>,
        limits: &SelectorLimits,
    ) -> Result<TopicMatcher, SelectorError> {
        let pattern = UrlPattern::parse_with_limits(value, base_url, &limits.pattern_limits())
            .map_err(|error| SelectorError::InvalidPattern { pattern: value.to_string(), error })?;
        Ok(TopicMatcher::UrlPattern { source: value.to_string(), pattern: Arc::new(pattern) })
    }

    /// The matcher's type.
    pub fn matcher_type(&self) -> MatcherType {
        match self {
            TopicMatcher::Wildcard(matcher_type) => *matcher_type,
            TopicMatcher::Exact(_) => MatcherType::Exact,
            TopicMatcher::UrlPattern { .. } => MatcherType::UrlPattern,
        }
    }

    /// The matcher's value as it was given (`*` for the wildcard).
    pub fn value(&self) -> &str {
        match self {
            TopicMatcher::Wildcard(_) => "*",
            TopicMatcher::Exact(topic) => topic,
            TopicMatcher::UrlPattern { source, .. } => source,
        }
    }

    /// Whether the matcher selects `topic`; `base_url` (the hub's URL) resolves a relative topic
    /// for a URL pattern. A topic that is not a URL matches no URL pattern.
    pub fn matches(&self, topic: &str, base_url: Option<&UrlRecord>) -> bool {
        match self {
            TopicMatcher::Wildcard(_) => true,
            TopicMatcher::Exact(exact) => exact == topic,
            TopicMatcher::UrlPattern { pattern, .. } => pattern.test(topic, base_url),
        }
    }
}

/// Two matchers are the same when they have the same type and value (which, with one base URL,
/// means they select the same topics).
impl PartialEq for TopicMatcher {
    fn eq(&self, other: &TopicMatcher) -> bool {
        self.matcher_type() == other.matcher_type() && self.value() == other.value()
    }
}

impl Eq for TopicMatcher {}

/// A subscription's matchers: it selects an update when any matcher matches any of the update's
/// topics.
#[derive(Debug, Clone)]
pub struct TopicSelector {
    /// No two the same; at most [`SelectorLimits::max_matchers`].
    matchers: Vec<TopicMatcher>,
    base_url: Option<Arc<UrlRecord>>,
}

impl TopicSelector {
    /// Reads the matchers of a subscription from its query string (without the `?`), decoded as
    /// `application/x-www-form-urlencoded`. Other parameters are ignored, except those Mercure
    /// reserves (see [`from_params`](Self::from_params)).
    ///
    /// # Errors
    ///
    /// [`SelectorError`]: as [`from_params`](Self::from_params), and for a query that does not
    /// decode.
    pub fn from_query(
        query: &str,
        base_url: Option<&UrlRecord>,
        limits: &SelectorLimits,
    ) -> Result<TopicSelector, SelectorError> {
        let pairs = parse_query(query).map_err(SelectorError::Query)?;
        TopicSelector::from_params(pairs.iter().map(|(name, value)| (name.as_str(), value.as_str())), base_url, limits)
    }

    /// Reads the matchers of a subscription from decoded name/value pairs (a query's and a form
    /// body's together, for a `QUERY` request), in order.
    ///
    /// Refused, as Mercure requires (each a [`SelectorError`] a hub answers with 400): a name in
    /// the reserved `match` namespace that is not `match`, `match_exact` or `match_urlpattern`;
    /// the pre-standard `topic` parameter (see [`SelectorError::LegacyTopicParameter`]); a value
    /// with a control or format character; a pattern that does not compile; more matchers, or a
    /// longer value, than `limits` allow; and no matcher at all. A matcher given twice is kept
    /// once.
    ///
    /// # Errors
    ///
    /// [`SelectorError`] for the first rule above that the parameters break.
    pub fn from_params<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
        base_url: Option<&UrlRecord>,
        limits: &SelectorLimits,
    ) -> Result<TopicSelector, SelectorError> {
        let mut matchers: Vec<TopicMatcher> = Vec::new();
        let mut count = 0;
        for (name, value) in params {
            let matcher_type = match MatcherType::from_parameter(name) {
                Some(matcher_type) => matcher_type,
                None if name == "topic" => return Err(SelectorError::LegacyTopicParameter),
                None if is_reserved_parameter(name) => {
                    return Err(SelectorError::UnknownMatcherParameter(name.to_string()))
                }
                None => continue,
            };
            count += 1;
            if count > limits.max_matchers {
                return Err(SelectorError::TooManyMatchers { max: limits.max_matchers });
            }
            let matcher =
                TopicMatcher::parse(matcher_type, value, base_url, limits).map_err(|error| error.naming(name))?;
            if !matchers.contains(&matcher) {
                matchers.push(matcher);
            }
        }
        if matchers.is_empty() {
            return Err(SelectorError::NoMatcher);
        }
        Ok(TopicSelector { matchers, base_url: base_url.map(|base| Arc::new(base.clone())) })
    }

    /// The matchers, in the order given, without duplicates.
    pub fn matchers(&self) -> &[TopicMatcher] {
        &self.matchers
    }

    /// The base URL relative patterns and topics are resolved against (the hub's URL).
    pub fn base_url(&self) -> Option<&UrlRecord> {
        self.base_url.as_deref()
    }

    /// Whether any matcher matches any of `topics` (an update's canonical and alternate topics).
    /// Each topic is parsed as a URL at most once, and only if a URL pattern needs it.
    pub fn matches_any(&self, topics: &[impl AsRef<str>]) -> bool {
        self.matches_any_with(topics, None)
    }

    /// [`matches_any`](Self::matches_any), remembering URL pattern results in `cache` (and using
    /// what it remembers), so that a topic published again, or selected by the same pattern in
    /// many subscriptions, is matched once. The cache is used only if it was made for this
    /// selector's base URL.
    pub fn matches_any_cached(&self, topics: &[impl AsRef<str>], cache: &mut MatchCache) -> bool {
        self.matches_any_with(topics, Some(cache))
    }

    fn matches_any_with(&self, topics: &[impl AsRef<str>], mut cache: Option<&mut MatchCache>) -> bool {
        let mut has_patterns = false;
        for matcher in &self.matchers {
            match matcher {
                TopicMatcher::Wildcard(_) if !topics.is_empty() => return true,
                TopicMatcher::Exact(exact) if topics.iter().any(|topic| topic.as_ref() == exact) => return true,
                TopicMatcher::UrlPattern { .. } => has_patterns = true,
                _ => {}
            }
        }
        if !has_patterns {
            return false;
        }
        if cache.as_deref().is_some_and(|cache| cache.base_url() != self.base_url()) {
            cache = None;
        }
        let base = self.base_url();
        // Each topic's URL components, worked out the first time a pattern needs them (`None`
        // inside: the topic is not a URL).
        let mut parsed: Vec<Option<Option<[String; 8]>>> = vec![None; topics.len()];
        for matcher in &self.matchers {
            let TopicMatcher::UrlPattern { source, pattern } = matcher else { continue };
            for (index, topic) in topics.iter().enumerate() {
                let topic = topic.as_ref();
                if let Some(known) = cache.as_deref_mut().and_then(|cache| cache.get(source, topic)) {
                    if known {
                        return true;
                    }
                    continue;
                }
                let values = parsed[index].get_or_insert_with(|| {
                    UrlRecord::parse(topic, base).ok().map(|url| url_pattern::component_values(&url))
                });
                let matched = values.as_ref().is_some_and(|values| pattern.test_values(values, &mut 0));
                if let Some(cache) = cache.as_deref_mut() {
                    cache.insert(source, topic, matched);
                }
                if matched {
                    return true;
                }
            }
        }
        false
    }
}

/// Why a subscription's matchers were refused: each one is a 400 Bad Request for a Mercure hub.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SelectorError {
    /// The query string could not be decoded (a `%` not followed by two hex digits, or bytes that
    /// are not UTF-8).
    Query(PercentDecodeError),
    /// A parameter in the reserved `match` namespace that names no supported matcher type (a
    /// misspelling, a different case, or a type this hub does not implement).
    UnknownMatcherParameter(String),
    /// The pre-standard `topic` parameter. Standard Mercure replaced it with `match` and
    /// `match_urlpattern`; it is refused rather than ignored so that an old client learns why,
    /// instead of getting a subscription to nothing.
    LegacyTopicParameter,
    /// More matcher parameters than [`SelectorLimits::max_matchers`].
    TooManyMatchers {
        /// The limit.
        max: usize,
    },
    /// A matcher value longer than [`SelectorLimits::max_matcher_bytes`].
    ValueTooLong {
        /// The parameter's name.
        parameter: String,
        /// The value's length in bytes.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// A matcher value holds a character Mercure forbids in topics and matchers.
    ForbiddenChar {
        /// The parameter's name.
        parameter: String,
        /// Which character, and where.
        forbidden: ForbiddenChar,
    },
    /// A `match_urlpattern` value that is not a URL pattern this hub accepts.
    InvalidPattern {
        /// The value.
        pattern: String,
        /// Why.
        error: UrlPatternError,
    },
    /// The request has no matcher parameter at all: it would select nothing.
    NoMatcher,
}

impl SelectorError {
    /// The error, naming the parameter as the request spelled it (`match_exact`, not `match`).
    fn naming(self, name: &str) -> SelectorError {
        match self {
            SelectorError::ValueTooLong { bytes, max, .. } => {
                SelectorError::ValueTooLong { parameter: name.to_string(), bytes, max }
            }
            SelectorError::ForbiddenChar { forbidden, .. } => {
                SelectorError::ForbiddenChar { parameter: name.to_string(), forbidden }
            }
            other => other,
        }
    }
}

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectorError::Query(error) => write!(f, "the query string cannot be decoded: {error}"),
            SelectorError::UnknownMatcherParameter(name) => write!(
                f,
                "unknown topic matcher parameter {name:?}: names starting with `match` are reserved; \
                 use `match`, `match_exact` or `match_urlpattern`"
            ),
            SelectorError::LegacyTopicParameter => f.write_str(
                "the `topic` parameter is from Mercure's pre-standard drafts; use `match` for a topic \
                 or `match_urlpattern` for a URL pattern",
            ),
            SelectorError::TooManyMatchers { max } => write!(f, "too many topic matchers: at most {max} are accepted"),
            SelectorError::ValueTooLong { parameter, bytes, max } => {
                write!(f, "a `{parameter}` value is {bytes} bytes long; at most {max} are accepted")
            }
            SelectorError::ForbiddenChar { parameter, forbidden } => {
                write!(f, "a `{parameter}` value holds {forbidden}")
            }
            SelectorError::InvalidPattern { pattern, error } => {
                write!(f, "{pattern:?} is not an accepted URL pattern: {error}")
            }
            SelectorError::NoMatcher => {
                f.write_str("no topic matcher: give at least one `match` or `match_urlpattern` parameter")
            }
        }
    }
}

impl std::error::Error for SelectorError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SelectorError::Query(error) => Some(error),
            SelectorError::InvalidPattern { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// A character Mercure forbids in topics and matcher values, and where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForbiddenChar {
    /// The character.
    pub character: char,
    /// Its byte offset in the text.
    pub at: usize,
}

impl fmt::Display for ForbiddenChar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if is_format_char(self.character) { "a Unicode format character" } else { "a control character" };
        write!(f, "U+{:04X} ({kind}) at byte {}", u32::from(self.character), self.at)
    }
}

impl std::error::Error for ForbiddenChar {}

/// Checks a topic or matcher value against Mercure's constraints: no C0 control (U+0000 to
/// U+001F), DEL (U+007F), C1 control (U+0080 to U+009F) or Unicode format character (general
/// category `Cf`: the bidirectional and zero-width controls, which are invisible and enable
/// spoofing). Being a `&str`, the text is valid UTF-8 already.
///
/// ```
/// use bare_sse::topic::check_topic_text;
/// assert!(check_topic_text("https://example.com/books/1").is_ok());
/// let error = check_topic_text("https://example.com/\u{202e}gnp.exe").unwrap_err();
/// assert_eq!((error.character, error.at), ('\u{202e}', 20));
/// ```
///
/// # Errors
///
/// [`ForbiddenChar`]: the first control or format character, and where it is.
pub fn check_topic_text(text: &str) -> Result<(), ForbiddenChar> {
    match text.char_indices().find(|&(_, c)| c.is_control() || is_format_char(c)) {
        Some((at, character)) => Err(ForbiddenChar { character, at }),
        None => Ok(()),
    }
}

/// General category `Cf` (format), from the Unicode Character Database 16.0.
const FORMAT_CHARS: [(char, char); 21] = [
    ('\u{ad}', '\u{ad}'),
    ('\u{600}', '\u{605}'),
    ('\u{61c}', '\u{61c}'),
    ('\u{6dd}', '\u{6dd}'),
    ('\u{70f}', '\u{70f}'),
    ('\u{890}', '\u{891}'),
    ('\u{8e2}', '\u{8e2}'),
    ('\u{180e}', '\u{180e}'),
    ('\u{200b}', '\u{200f}'),
    ('\u{202a}', '\u{202e}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206f}'),
    ('\u{feff}', '\u{feff}'),
    ('\u{fff9}', '\u{fffb}'),
    ('\u{110bd}', '\u{110bd}'),
    ('\u{110cd}', '\u{110cd}'),
    ('\u{13430}', '\u{1343f}'),
    ('\u{1bca0}', '\u{1bca3}'),
    ('\u{1d173}', '\u{1d17a}'),
    ('\u{e0001}', '\u{e0001}'),
    ('\u{e0020}', '\u{e007f}'),
];

fn is_format_char(c: char) -> bool {
    FORMAT_CHARS.iter().any(|&(low, high)| (low..=high).contains(&c))
}

#[cfg(test)]
mod tests;
