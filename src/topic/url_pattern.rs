//! URL patterns (the WHATWG URL Pattern Standard), the `urlpattern` topic matcher of Mercure:
//! `https://example.com/books/:id` matches `https://example.com/books/1` but not
//! `https://example.com/books/1/reviews`.
//!
//! ```
//! use bare_sse::topic::{UrlComponent, UrlPattern, UrlRecord};
//!
//! let books = UrlPattern::parse("https://example.com/books/:id", None)?;
//! assert!(books.test("https://example.com/books/1", None));
//! assert!(books.test("https://EXAMPLE.com:443/books/1?page=2#top", None)); // one URL, spelled otherwise
//! assert!(!books.test("https://example.com/books/1/reviews", None));
//!
//! // Relative patterns and topics are resolved against a base: for a Mercure hub, its own URL.
//! let hub = UrlRecord::parse("https://hub.example/.well-known/mercure", None)?;
//! let orders = UrlPattern::parse("/users/*/orders{/:order}?", Some(&hub))?;
//! assert!(orders.test("/users/7/orders", Some(&hub)));
//! assert!(orders.test("https://hub.example/users/7/orders/12", None));
//! assert_eq!(orders.component(UrlComponent::Pathname), "/users/*/orders/:order?"); // normalized
//! assert_eq!(orders.component(UrlComponent::Hostname), "hub.example");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What a pattern is
//!
//! A pattern has eight components: protocol, username, password, hostname, port, pathname,
//! search and hash, matched one by one against the same parts of a URL parsed by the WHATWG URL
//! parser ([`UrlRecord`]). A whole-URL pattern string is split into them as a URL would be, and
//! the components it leaves out take the standard's defaults: username and password match
//! anything; a hostname without a port means the default port (`:*` for any); the path, search
//! and hash after the last component written match anything (`https://example.com` matches the
//! whole origin, `https://example.com/a` any search and hash of `/a`). A relative pattern
//! (`/books/:id`, `?page=*`) takes the components before it from the base URL.
//!
//! In each component: `:name` matches a segment (up to the next `/` in a pathname, `.` in a
//! hostname, anything elsewhere), `*` matches anything, `(regexp)` a regular expression, `{...}`
//! groups text, and a group can be made optional (`?`) or repeated (`*`, `+`); in a pathname the
//! `/` before a group goes with it (`/books/:id?` matches `/books`). `\` escapes. The fixed text
//! is canonicalized as the URL parser would (`/café` matches `/caf%C3%A9`, `EXAMPLE.com` matches
//! `example.com`, the port of a special scheme's default is no port), so that one URL spelled two
//! ways matches the same patterns.
//!
//! # Linear-time matching
//!
//! The standard defines matching by JavaScript regular expressions, which backtrack: a pattern
//! such as `*a*a*a*a*b` takes time exponential in the length of a URL of `a`s. Mercure requires
//! hubs to avoid that. Here each component compiles to a Thompson automaton whose simulation
//! advances every live state together, one input character at a time, visiting each state at
//! most once per character: a match costs O(URL length × pattern size) whatever the pattern. The
//! size is bounded when the pattern is compiled ([`PatternLimits`]), and the two most common
//! components take shortcuts: `*` matches without looking, and fixed text is compared as a string.
//!
//! # What is supported, and what is refused
//!
//! Everything of the standard but these, which are refused with
//! [`UrlPatternError::Unsupported`] (Mercure lets a hub refuse what it cannot evaluate safely;
//! the reference hub, on RE2, refuses the same regular-expression features):
//!
//! - Inside custom groups `(...)`, the regular expressions are a linear-time subset of
//!   JavaScript's (`v` flag): characters, `.`, classes, `\d \w \s`, escapes, `(?:...)`, `|`,
//!   quantifiers (also counted, `{2,5}`), `^ $ \b \B`. Backreferences, lookaround, named groups,
//!   Unicode property escapes and the `v` flag's class set operations are refused (see
//!   `regexp.rs`).
//! - Group names are ASCII (letters, digits, `$`, `_`): a non-ASCII character in or right after
//!   a name is refused, since telling JavaScript identifier characters apart needs Unicode tables.
//! - The `ignoreCase` option does not exist here (Mercure forbids it).
//! - Non-ASCII host names that UTS 46 would map (`CAFÉ.example`) are refused in patterns, and do
//!   not parse (so do not match) in topics; see [`UrlRecord`].
//!
//! And one reading where the standard's text and browsers differ: a pattern's port is compiled as
//! no scheme's default, so `http://h:443` keeps its port `443`, as browsers do; the text since
//! 2025 canonicalizes it as an `https` port, which would make it "no port" and match
//! `http://h/` on port 80 instead.
//!
//! The standard's dictionary form (a pattern per component) is [`UrlPattern::from_init`].

mod canonicalize;
mod component;
mod constructor;
mod nfa;
mod parts;
mod regexp;
mod tokenizer;

use std::fmt;

use super::whatwg_url::{default_port, is_special_scheme, UrlPath, UrlRecord};
use component::Component;
use parts::{escape_pattern, Options};

/// Longest pattern accepted by default, in bytes (all components together for
/// [`UrlPattern::from_init`]).
pub const DEFAULT_MAX_PATTERN_BYTES: usize = 2048;
/// Most parts (groups, wildcards, optional or repeated text) accepted by default in one pattern,
/// all components together.
pub const DEFAULT_MAX_PARTS: usize = 64;
/// Most automaton states accepted by default in one pattern, all components together: what
/// bounds the cost of each character of a URL matched against it.
pub const DEFAULT_MAX_STATES: usize = 4096;

/// Bounds on what a pattern may cost. Patterns past them are refused when compiled, with
/// [`UrlPatternError::TooLong`], [`TooManyParts`](UrlPatternError::TooManyParts) or
/// [`TooComplex`](UrlPatternError::TooComplex).
///
/// Matching a URL of `n` characters visits at most `(n + 1) × max_states` automaton states, so
/// `max_states` is the knob for the worst case; a fixed-text pattern of `max_pattern_bytes` bytes
/// with one wildcard needs about as many states as bytes (three per non-ASCII byte in a path,
/// which is percent-encoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatternLimits {
    /// Longest pattern, in bytes ([`DEFAULT_MAX_PATTERN_BYTES`]).
    pub max_pattern_bytes: usize,
    /// Most parts ([`DEFAULT_MAX_PARTS`]).
    pub max_parts: usize,
    /// Most automaton states ([`DEFAULT_MAX_STATES`]).
    pub max_states: usize,
}

impl Default for PatternLimits {
    fn default() -> PatternLimits {
        PatternLimits {
            max_pattern_bytes: DEFAULT_MAX_PATTERN_BYTES,
            max_parts: DEFAULT_MAX_PARTS,
            max_states: DEFAULT_MAX_STATES,
        }
    }
}

/// One of the eight components of a URL and of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UrlComponent {
    /// The scheme, without `:`.
    Protocol,
    /// The username.
    Username,
    /// The password.
    Password,
    /// The host.
    Hostname,
    /// The port (empty for the scheme's default).
    Port,
    /// The path.
    Pathname,
    /// The query, without `?`.
    Search,
    /// The fragment, without `#`.
    Hash,
}

impl UrlComponent {
    /// All eight, in URL order.
    pub const ALL: [UrlComponent; 8] = [
        UrlComponent::Protocol,
        UrlComponent::Username,
        UrlComponent::Password,
        UrlComponent::Hostname,
        UrlComponent::Port,
        UrlComponent::Pathname,
        UrlComponent::Search,
        UrlComponent::Hash,
    ];

    /// The standard's name for it: `protocol`, `hostname`, ...
    pub fn name(self) -> &'static str {
        match self {
            UrlComponent::Protocol => "protocol",
            UrlComponent::Username => "username",
            UrlComponent::Password => "password",
            UrlComponent::Hostname => "hostname",
            UrlComponent::Port => "port",
            UrlComponent::Pathname => "pathname",
            UrlComponent::Search => "search",
            UrlComponent::Hash => "hash",
        }
    }
}

impl fmt::Display for UrlComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a pattern was not compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlPatternError {
    /// The pattern is longer than [`PatternLimits::max_pattern_bytes`].
    TooLong {
        /// Its length in bytes.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The pattern has more parts than [`PatternLimits::max_parts`].
    TooManyParts {
        /// How many it has.
        parts: usize,
        /// The limit.
        max: usize,
    },
    /// The pattern needs more automaton states than [`PatternLimits::max_states`] (long fixed
    /// text around groups, or large repetition counts such as `{1000}`).
    TooComplex {
        /// How many it needs (at least).
        states: usize,
        /// The limit.
        max: usize,
    },
    /// The pattern is not well-formed: an unclosed `{`, a modifier with nothing to modify, a
    /// group name used twice, ...
    Syntax {
        /// The component whose pattern it is, when known.
        component: Option<UrlComponent>,
        /// What is wrong, in words.
        reason: String,
    },
    /// A custom group's regular expression is not valid.
    InvalidRegexp {
        /// What is wrong, in words.
        reason: String,
    },
    /// Fixed text that is not valid in its component (a space in a hostname, a port past 65535,
    /// a protocol that is no scheme).
    InvalidComponent {
        /// The component.
        component: UrlComponent,
        /// The text.
        value: String,
    },
    /// The pattern is relative (it has no protocol) and there is no base URL to resolve it
    /// against.
    RelativeWithoutBase,
    /// [`UrlPatternInit::base_url`] is not a URL.
    InvalidBaseUrl,
    /// Valid by the standard, but not supported here (see the [module docs](self)).
    Unsupported {
        /// What, in words.
        feature: &'static str,
    },
}

impl fmt::Display for UrlPatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlPatternError::TooLong { bytes, max } => write!(f, "the URL pattern is {bytes} bytes long; at most {max} are accepted"),
            UrlPatternError::TooManyParts { parts, max } => {
                write!(f, "the URL pattern has {parts} groups, wildcards and optional parts; at most {max} are accepted")
            }
            UrlPatternError::TooComplex { states, max } => write!(
                f,
                "the URL pattern is too complex to match cheaply ({states} automaton states; at most {max} are accepted)"
            ),
            UrlPatternError::Syntax { component: Some(component), reason } => write!(f, "the URL pattern's {component} is malformed: {reason}"),
            UrlPatternError::Syntax { component: None, reason } => write!(f, "the URL pattern is malformed: {reason}"),
            UrlPatternError::InvalidRegexp { reason } => write!(f, "a regular expression in the URL pattern is invalid: {reason}"),
            UrlPatternError::InvalidComponent { component, value } => write!(f, "{value:?} is not a valid {component} in a URL pattern"),
            UrlPatternError::RelativeWithoutBase => f.write_str("the URL pattern is relative (it has no protocol) and there is no base URL"),
            UrlPatternError::InvalidBaseUrl => f.write_str("the URL pattern's base URL is not a URL"),
            UrlPatternError::Unsupported { feature } => write!(f, "not supported in URL patterns here: {feature}"),
        }
    }
}

impl std::error::Error for UrlPatternError {}

/// A pattern or an input given component by component: the standard's `URLPatternInit`
/// dictionary. Absent components are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlPatternInit {
    /// The protocol (a trailing `:` is dropped).
    pub protocol: Option<String>,
    /// The username.
    pub username: Option<String>,
    /// The password.
    pub password: Option<String>,
    /// The hostname.
    pub hostname: Option<String>,
    /// The port.
    pub port: Option<String>,
    /// The pathname (relative ones are resolved against `base_url`).
    pub pathname: Option<String>,
    /// The search (a leading `?` is dropped).
    pub search: Option<String>,
    /// The hash (a leading `#` is dropped).
    pub hash: Option<String>,
    /// A URL that supplies the components before the first one given.
    pub base_url: Option<String>,
}

impl UrlPatternInit {
    fn get(&self, component: UrlComponent) -> Option<&str> {
        match component {
            UrlComponent::Protocol => self.protocol.as_deref(),
            UrlComponent::Username => self.username.as_deref(),
            UrlComponent::Password => self.password.as_deref(),
            UrlComponent::Hostname => self.hostname.as_deref(),
            UrlComponent::Port => self.port.as_deref(),
            UrlComponent::Pathname => self.pathname.as_deref(),
            UrlComponent::Search => self.search.as_deref(),
            UrlComponent::Hash => self.hash.as_deref(),
        }
    }

    fn slot(&mut self, component: UrlComponent) -> &mut Option<String> {
        match component {
            UrlComponent::Protocol => &mut self.protocol,
            UrlComponent::Username => &mut self.username,
            UrlComponent::Password => &mut self.password,
            UrlComponent::Hostname => &mut self.hostname,
            UrlComponent::Port => &mut self.port,
            UrlComponent::Pathname => &mut self.pathname,
            UrlComponent::Search => &mut self.search,
            UrlComponent::Hash => &mut self.hash,
        }
    }

    fn has(&self, components: &[UrlComponent]) -> bool {
        components.iter().any(|component| self.get(*component).is_some())
    }
}

/// A compiled URL pattern. Matching never fails: a URL that does not parse does not match.
#[derive(Debug, Clone)]
pub struct UrlPattern {
    /// In [`UrlComponent::ALL`] order.
    components: [Component; 8],
}

/// Whether a pattern is being built or an input is being read: patterns keep their syntax (the
/// base URL's parts are escaped into it), inputs are canonicalized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InitKind {
    Pattern,
    Url,
}

impl UrlPattern {
    /// Compiles a whole-URL pattern string such as `https://example.com/books/:id`, with the
    /// default [`PatternLimits`]. A relative pattern (`/books/:id`) needs `base_url`.
    ///
    /// # Errors
    ///
    /// [`UrlPatternError`]: a pattern too long or complex for the default limits, one that
    /// breaks the syntax, or uses a feature this matcher refuses (see the module documentation).
    pub fn parse(pattern: &str, base_url: Option<&UrlRecord>) -> Result<UrlPattern, UrlPatternError> {
        UrlPattern::parse_with_limits(pattern, base_url, &PatternLimits::default())
    }

    /// [`parse`](Self::parse) with limits of your own.
    ///
    /// # Errors
    ///
    /// As [`parse`](Self::parse), with `limits` in place of the defaults.
    pub fn parse_with_limits(
        pattern: &str,
        base_url: Option<&UrlRecord>,
        limits: &PatternLimits,
    ) -> Result<UrlPattern, UrlPatternError> {
        if pattern.len() > limits.max_pattern_bytes {
            return Err(UrlPatternError::TooLong { bytes: pattern.len(), max: limits.max_pattern_bytes });
        }
        let init = constructor::parse_constructor_string(pattern, limits.max_states)?;
        if base_url.is_none() && init.protocol.is_none() {
            return Err(UrlPatternError::RelativeWithoutBase);
        }
        let processed = process_init(&init, base_url, InitKind::Pattern)?;
        UrlPattern::create(processed, limits)
    }

    /// Compiles a pattern given component by component (the standard's dictionary form), whose
    /// absent components match anything unless `base_url` supplies them.
    ///
    /// # Errors
    ///
    /// [`UrlPatternError`], as [`parse_with_limits`](Self::parse_with_limits) says, for any
    /// component.
    pub fn from_init(init: &UrlPatternInit, limits: &PatternLimits) -> Result<UrlPattern, UrlPatternError> {
        let bytes = UrlComponent::ALL.iter().filter_map(|component| init.get(*component)).map(str::len).sum();
        if bytes > limits.max_pattern_bytes {
            return Err(UrlPatternError::TooLong { bytes, max: limits.max_pattern_bytes });
        }
        let base = init
            .base_url
            .as_deref()
            .map(|base| UrlRecord::parse(base, None).map_err(|_| UrlPatternError::InvalidBaseUrl))
            .transpose()?;
        let processed = process_init(init, base.as_ref(), InitKind::Pattern)?;
        UrlPattern::create(processed, limits)
    }

    fn create(init: UrlPatternInit, limits: &PatternLimits) -> Result<UrlPattern, UrlPatternError> {
        // A component the init leaves out matches anything.
        let text = |component| init.get(component).unwrap_or("*");
        let protocol = text(UrlComponent::Protocol);
        let mut port = text(UrlComponent::Port);
        if is_special_scheme(protocol) && default_port(protocol).is_some_and(|default| port == default.to_string()) {
            port = "";
        }
        let mut budget = Budget { limits, parts: 0, states: 0 };
        let protocol = budget.compile(UrlComponent::Protocol, protocol, &canonicalize::protocol, Options::DEFAULT)?;
        let username = budget.compile(
            UrlComponent::Username,
            text(UrlComponent::Username),
            &canonicalize::username,
            Options::DEFAULT,
        )?;
        let password = budget.compile(
            UrlComponent::Password,
            text(UrlComponent::Password),
            &canonicalize::password,
            Options::DEFAULT,
        )?;
        let hostname_pattern = text(UrlComponent::Hostname);
        let hostname_encoder: parts::Encoder<'_> = if canonicalize::is_ipv6_hostname_pattern(hostname_pattern) {
            &canonicalize::ipv6_hostname
        } else {
            &canonicalize::hostname
        };
        let hostname = budget.compile(UrlComponent::Hostname, hostname_pattern, hostname_encoder, Options::HOSTNAME)?;
        let port =
            budget.compile(UrlComponent::Port, port, &|value| canonicalize::port(value, None), Options::DEFAULT)?;
        let pathname_pattern = text(UrlComponent::Pathname);
        let pathname = if protocol_matches_special_scheme(&protocol) {
            budget.compile(UrlComponent::Pathname, pathname_pattern, &canonicalize::pathname, Options::PATHNAME)?
        } else {
            budget.compile(
                UrlComponent::Pathname,
                pathname_pattern,
                &canonicalize::opaque_pathname,
                Options::DEFAULT,
            )?
        };
        let search = budget.compile(
            UrlComponent::Search,
            text(UrlComponent::Search),
            &canonicalize::search,
            Options::DEFAULT,
        )?;
        let hash =
            budget.compile(UrlComponent::Hash, text(UrlComponent::Hash), &canonicalize::hash, Options::DEFAULT)?;
        Ok(UrlPattern { components: [protocol, username, password, hostname, port, pathname, search, hash] })
    }

    /// The normalized pattern of one component (the standard's getters): `*` for a component
    /// that matches anything, `""` for one that must be empty.
    pub fn component(&self, component: UrlComponent) -> &str {
        &self.components[component as usize].pattern
    }

    /// Whether `input`, resolved against `base_url` when it is relative, matches. An input that
    /// is not a URL (or is relative with no base) does not match.
    pub fn test(&self, input: &str, base_url: Option<&UrlRecord>) -> bool {
        UrlRecord::parse(input, base_url).is_ok_and(|url| self.test_url(&url))
    }

    /// Whether a parsed URL matches: what to call when one URL is matched against many patterns,
    /// so that it is parsed once.
    pub fn test_url(&self, url: &UrlRecord) -> bool {
        self.test_values(&component_values(url), &mut 0)
    }

    /// Whether a URL's components (see [`component_values`]) match, adding to `steps` the
    /// automaton states visited.
    pub(super) fn test_values(&self, values: &[String; 8], steps: &mut u64) -> bool {
        self.components.iter().zip(values).all(|(component, value)| component.matches(value, steps))
    }

    /// Whether an input given component by component matches (absent components are empty unless
    /// `base_url` supplies them). An input that does not canonicalize does not match.
    pub fn test_init(&self, input: &UrlPatternInit) -> bool {
        let base = match input.base_url.as_deref().map(|base| UrlRecord::parse(base, None)).transpose() {
            Ok(base) => base,
            Err(_) => return false,
        };
        let Ok(processed) = process_init(input, base.as_ref(), InitKind::Url) else { return false };
        self.components
            .iter()
            .zip(UrlComponent::ALL)
            .all(|(component, which)| component.matches(processed.get(which).unwrap_or_default(), &mut 0))
    }
}

/// A URL's eight components as patterns see them, in [`UrlComponent::ALL`] order: the host and
/// port serialized, the path as written, and absent parts empty. Worked out once per URL when it
/// is matched against many patterns.
pub(super) fn component_values(url: &UrlRecord) -> [String; 8] {
    [
        url.scheme.clone(),
        url.username.clone(),
        url.password.clone(),
        url.host(),
        url.port.map(|port| port.to_string()).unwrap_or_default(),
        url.path(),
        url.query.clone().unwrap_or_default(),
        url.fragment.clone().unwrap_or_default(),
    ]
}

/// Keeps the running totals of a pattern's parts and states against the limits.
struct Budget<'a> {
    limits: &'a PatternLimits,
    parts: usize,
    states: usize,
}

impl Budget<'_> {
    fn compile(
        &mut self,
        which: UrlComponent,
        pattern: &str,
        encode: parts::Encoder<'_>,
        options: Options,
    ) -> Result<Component, UrlPatternError> {
        let remaining = self.limits.max_states.saturating_sub(self.states);
        let component = Component::compile(pattern, encode, options, remaining).map_err(|error| match error {
            UrlPatternError::Syntax { component: None, reason } => {
                UrlPatternError::Syntax { component: Some(which), reason }
            }
            UrlPatternError::TooComplex { states, .. } => {
                UrlPatternError::TooComplex { states: states + self.states, max: self.limits.max_states }
            }
            other => other,
        })?;
        self.parts += component.parts;
        self.states += component.states();
        if self.parts > self.limits.max_parts {
            return Err(UrlPatternError::TooManyParts { parts: self.parts, max: self.limits.max_parts });
        }
        Ok(component)
    }
}

/// Whether the compiled protocol matches one of the special schemes, which decides how the
/// pathname is read (a path of segments, or an opaque one).
fn protocol_matches_special_scheme(protocol: &Component) -> bool {
    ["ftp", "file", "http", "https", "ws", "wss"].iter().any(|scheme| protocol.matches(scheme, &mut 0))
}

/// The standard's "process a URLPatternInit": fills in the components before the first one given
/// from the base URL, resolves a relative pathname, and (for inputs) canonicalizes each.
fn process_init(
    init: &UrlPatternInit,
    base: Option<&UrlRecord>,
    kind: InitKind,
) -> Result<UrlPatternInit, UrlPatternError> {
    use UrlComponent::*;
    let mut result = UrlPatternInit::default();
    if kind == InitKind::Url {
        for component in UrlComponent::ALL {
            *result.slot(component) = Some(String::new());
        }
    }
    // Base URL parts go into a pattern as escaped text, into an input as they are.
    let from_base = |text: &str| if kind == InitKind::Pattern { escape_pattern(text) } else { text.to_string() };
    if let Some(base) = base {
        if init.protocol.is_none() {
            result.protocol = Some(from_base(&base.scheme));
        }
        // A component is taken from the base only when no component at least as specific is
        // given; username and password never are for patterns.
        if kind == InitKind::Url && !init.has(&[Protocol, Hostname, Port, Username]) {
            result.username = Some(from_base(&base.username));
        }
        if kind == InitKind::Url && !init.has(&[Protocol, Hostname, Port, Username, Password]) {
            result.password = Some(from_base(&base.password));
        }
        if !init.has(&[Protocol, Hostname]) {
            result.hostname = Some(from_base(&base.host()));
        }
        if !init.has(&[Protocol, Hostname, Port]) {
            result.port = Some(base.port.map(|port| port.to_string()).unwrap_or_default());
        }
        if !init.has(&[Protocol, Hostname, Port, Pathname]) {
            result.pathname = Some(from_base(&base.path()));
        }
        if !init.has(&[Protocol, Hostname, Port, Pathname, Search]) {
            result.search = Some(from_base(base.query.as_deref().unwrap_or_default()));
        }
        if !init.has(&[Protocol, Hostname, Port, Pathname, Search, Hash]) {
            result.hash = Some(from_base(base.fragment.as_deref().unwrap_or_default()));
        }
    }
    let canonical = kind == InitKind::Url;
    if let Some(protocol) = &init.protocol {
        let stripped = protocol.strip_suffix(':').unwrap_or(protocol);
        result.protocol = Some(if canonical { canonicalize::protocol(stripped)? } else { stripped.to_string() });
    }
    if let Some(username) = &init.username {
        result.username = Some(if canonical { canonicalize::username(username)? } else { username.clone() });
    }
    if let Some(password) = &init.password {
        result.password = Some(if canonical { canonicalize::password(password)? } else { password.clone() });
    }
    if let Some(hostname) = &init.hostname {
        result.hostname = Some(if canonical { canonicalize::hostname(hostname)? } else { hostname.clone() });
    }
    let protocol = result.protocol.clone().unwrap_or_default();
    if let Some(port) = &init.port {
        result.port = Some(if canonical { canonicalize::port(port, Some(&protocol))? } else { port.clone() });
    }
    if let Some(pathname) = &init.pathname {
        let mut pathname = pathname.clone();
        if let Some(base) = base.filter(|base| !matches!(base.path, UrlPath::Opaque(_))) {
            if !is_absolute_pathname(&pathname, kind) {
                let base_path = from_base(&base.path());
                if let Some(slash) = base_path.rfind('/') {
                    pathname.insert_str(0, &base_path[..=slash]);
                }
            }
        }
        result.pathname = Some(match kind {
            InitKind::Pattern => pathname,
            InitKind::Url if is_special_scheme(&protocol) || protocol.is_empty() => canonicalize::pathname(&pathname)?,
            InitKind::Url => canonicalize::opaque_pathname(&pathname)?,
        });
    }
    if let Some(search) = &init.search {
        let stripped = search.strip_prefix('?').unwrap_or(search);
        result.search = Some(if canonical { canonicalize::search(stripped)? } else { stripped.to_string() });
    }
    if let Some(hash) = &init.hash {
        let stripped = hash.strip_prefix('#').unwrap_or(hash);
        result.hash = Some(if canonical { canonicalize::hash(stripped)? } else { stripped.to_string() });
    }
    Ok(result)
}

/// Whether a pathname starts at the root; in a pattern also `\/...` and `{/...`.
fn is_absolute_pathname(pathname: &str, kind: InitKind) -> bool {
    pathname.starts_with('/')
        || (kind == InitKind::Pattern && (pathname.starts_with("\\/") || pathname.starts_with("{/")))
}

#[cfg(test)]
mod tests;
