//! URLs as the WHATWG URL Standard parses them (the parser browsers use, and the one the URL
//! Pattern Standard and Mercure's topic matching are defined on): any scheme, relative references
//! resolved against a base, hosts canonicalized, dot segments removed, and every part
//! percent-encoded with its own set, so that two spellings of one URL parse to one record.
//!
//! ```
//! use bare_sse::topic::UrlRecord;
//!
//! let hub = UrlRecord::parse("https://Hub.Example/.well-known/mercure", None)?;
//! let topic = UrlRecord::parse("../books/1?x=é#top", Some(&hub))?;
//! assert_eq!(topic.to_string(), "https://hub.example/books/1?x=%C3%A9#top");
//! assert_eq!((topic.host(), topic.path().as_str(), topic.query()), ("hub.example".to_string(), "/books/1", Some("x=%C3%A9")));
//! assert_eq!(UrlRecord::parse("urn:uuid:6e8b", None)?.path(), "uuid:6e8b");
//! assert!(UrlRecord::parse("/books/1", None).is_err()); // relative, and no base
//! # Ok::<(), bare_sse::topic::UrlParseError>(())
//! ```
//!
//! This is the standard's *basic URL parser* for UTF-8 input (the legacy encodings of HTML
//! documents do not apply), without `blob:` URL resolution, and with one deviation in host
//! parsing, for want of Unicode tables in the standard library: UTS 46's mapping of non-ASCII
//! host names (case folding, compatibility mappings, NFC) is not applied. A non-ASCII character
//! with a lowercase form of its own (`É`) is refused; any other is Punycode-encoded as it is. So
//! two hosts are equal here only when the standard makes them equal too, and a host the standard
//! would map (`CAFÉ.example`, fullwidth letters) fails to parse: for topic matching, "does not
//! match", never a match the standard would not make. It also runs from the "state overrides" that URL Pattern canonicalization needs
//! (hostname, port, path start, opaque path, query, fragment), always on a URL of a special scheme
//! whose host is set, which is all that canonicalization asks of it.
//!
//! The parser is linear in its input: every state consumes a character or moves to a state that
//! does, except the authority state, which rewinds once over the authority to read it as a host.

mod host;
mod percent;

use std::fmt;

pub(crate) use host::Host;
use percent::{percent_encode_char, percent_encode_str, EncodeSet};

/// A parsed URL: the standard's "URL record", whose parts are already canonical.
///
/// Its [`Display`](fmt::Display) is the standard's serialization, which parses back to an equal
/// record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlRecord {
    pub(crate) scheme: String,
    pub(crate) username: String,
    pub(crate) password: String,
    pub(crate) host: Option<Host>,
    pub(crate) port: Option<u16>,
    pub(crate) path: UrlPath,
    pub(crate) query: Option<String>,
    pub(crate) fragment: Option<String>,
}

/// A URL's path: segments (`/a/b` is `["a", "b"]`), or, for URLs such as `urn:isbn:1` and
/// `mailto:x@y` that have no hierarchy, one opaque string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UrlPath {
    Segments(Vec<String>),
    Opaque(String),
}

/// A text that is not a URL, or a relative reference with no base to resolve it against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlParseError;

impl fmt::Display for UrlParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a URL (by the WHATWG URL Standard), or a relative URL without a base")
    }
}

impl std::error::Error for UrlParseError {}

impl From<host::HostError> for UrlParseError {
    fn from(_: host::HostError) -> UrlParseError {
        UrlParseError
    }
}

/// The schemes the standard treats specially, with their default ports.
const SPECIAL_SCHEMES: [(&str, Option<u16>); 6] =
    [("ftp", Some(21)), ("file", None), ("http", Some(80)), ("https", Some(443)), ("ws", Some(80)), ("wss", Some(443))];

/// Whether `scheme` is one of the six special schemes.
pub(crate) fn is_special_scheme(scheme: &str) -> bool {
    SPECIAL_SCHEMES.iter().any(|(special, _)| *special == scheme)
}

/// The default port of a special scheme (`None` for `file` and every other scheme).
pub(crate) fn default_port(scheme: &str) -> Option<u16> {
    SPECIAL_SCHEMES.iter().find(|(special, _)| *special == scheme).and_then(|(_, port)| *port)
}

impl UrlRecord {
    /// Parses `input`, resolving it against `base` when it is relative. Leading and trailing C0
    /// controls and spaces are ignored, and so are tabs and line breaks anywhere.
    ///
    /// # Errors
    ///
    /// [`UrlParseError`] where the URL Standard's parser fails: no scheme and no base, an
    /// invalid host or port, and the like.
    pub fn parse(input: &str, base: Option<&UrlRecord>) -> Result<UrlRecord, UrlParseError> {
        let mut url = UrlRecord::empty();
        let trimmed = input.trim_matches(|c: char| c <= ' ');
        Parser::run_from(trimmed, base, &mut url, None, State::SchemeStart)?;
        Ok(url)
    }

    fn empty() -> UrlRecord {
        UrlRecord {
            scheme: String::new(),
            username: String::new(),
            password: String::new(),
            host: None,
            port: None,
            path: UrlPath::Segments(Vec::new()),
            query: None,
            fragment: None,
        }
    }

    /// The scheme, lowercase, without its `:`.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The username, percent-encoded; empty when there is none.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password, percent-encoded; empty when there is none.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The host as written in the URL (`example.com`, `127.0.0.1`, `[::1]`); empty when the URL
    /// has none.
    pub fn host(&self) -> String {
        self.host.as_ref().map(Host::to_string).unwrap_or_default()
    }

    /// The port, unless it is absent or the scheme's default (`https://h:443/` has none).
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The path as written in the URL: `/a/b`, or the opaque path (`isbn:1` of `urn:isbn:1`).
    pub fn path(&self) -> String {
        match &self.path {
            UrlPath::Opaque(path) => path.clone(),
            UrlPath::Segments(segments) => segments.iter().fold(String::new(), |mut out, segment| {
                out.push('/');
                out.push_str(segment);
                out
            }),
        }
    }

    /// The query without its `?`, percent-encoded; `None` when the URL has no `?`.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The fragment without its `#`, percent-encoded; `None` when the URL has no `#`.
    pub fn fragment(&self) -> Option<&str> {
        self.fragment.as_deref()
    }

    /// Whether the scheme is special (`http`, `https`, `ws`, `wss`, `ftp`, `file`), which is what
    /// gives a URL a host and a hierarchical path.
    pub fn is_special(&self) -> bool {
        is_special_scheme(&self.scheme)
    }

    fn includes_credentials(&self) -> bool {
        !self.username.is_empty() || !self.password.is_empty()
    }

    fn segments(&mut self) -> &mut Vec<String> {
        // Only the path states reach here, and they run only for URLs whose path is not opaque:
        // the scheme state makes a path opaque exactly when it leaves for the opaque path state.
        if let UrlPath::Opaque(_) = self.path {
            self.path = UrlPath::Segments(Vec::new());
        }
        match &mut self.path {
            UrlPath::Segments(segments) => segments,
            UrlPath::Opaque(_) => unreachable!("made segments just above"),
        }
    }

    /// Removes the last path segment, except a `file:` URL's lone drive letter (`file:///C:`).
    fn shorten_path(&mut self) {
        let is_file = self.scheme == "file";
        let segments = self.segments();
        if is_file && segments.len() == 1 && is_normalized_windows_drive_letter(&segments[0]) {
            return;
        }
        segments.pop();
    }
}

impl fmt::Display for UrlRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.scheme)?;
        if let Some(host) = &self.host {
            f.write_str("//")?;
            if self.includes_credentials() {
                f.write_str(&self.username)?;
                if !self.password.is_empty() {
                    write!(f, ":{}", self.password)?;
                }
                f.write_str("@")?;
            }
            write!(f, "{host}")?;
            if let Some(port) = self.port {
                write!(f, ":{port}")?;
            }
        }
        // `web+demo:/.//not-a-host/` keeps its `/.`, or it would read back with a host.
        if let (None, UrlPath::Segments(segments)) = (&self.host, &self.path) {
            if segments.len() > 1 && segments[0].is_empty() {
                f.write_str("/.")?;
            }
        }
        f.write_str(&self.path())?;
        if let Some(query) = &self.query {
            write!(f, "?{query}")?;
        }
        if let Some(fragment) = &self.fragment {
            write!(f, "#{fragment}")?;
        }
        Ok(())
    }
}

/// Where parsing starts when it does not start at the scheme: the states URL Pattern
/// canonicalization runs one part of a URL through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Override {
    Hostname,
    Port,
    PathStart,
    OpaquePath,
    Query,
    Fragment,
}

/// Runs the parser from `state_override` over `input`, updating `url` in place. `url` must be of
/// a special scheme and have a host (URL Pattern's dummy URL, `https://dummy.invalid/`): the
/// branches for other URLs are the setters' business, which this crate does not have.
pub(crate) fn parse_with_override(
    input: &str,
    url: &mut UrlRecord,
    state_override: Override,
) -> Result<(), UrlParseError> {
    let state = match state_override {
        Override::Hostname => State::Hostname,
        Override::Port => State::Port,
        Override::PathStart => State::PathStart,
        Override::OpaquePath => State::OpaquePath,
        Override::Query => State::Query,
        Override::Fragment => State::Fragment,
    };
    Parser::run_from(input, None, url, Some(state_override), state)
}

/// Appends `value` percent-encoded as a URL's username or password is.
pub(crate) fn encode_userinfo(value: &str, out: &mut String) {
    percent_encode_str(value, EncodeSet::Userinfo, out);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    SchemeStart,
    Scheme,
    NoScheme,
    SpecialRelativeOrAuthority,
    PathOrAuthority,
    Relative,
    RelativeSlash,
    SpecialAuthoritySlashes,
    SpecialAuthorityIgnoreSlashes,
    Authority,
    Hostname,
    Port,
    File,
    FileSlash,
    FileHost,
    PathStart,
    Path,
    OpaquePath,
    Query,
    Fragment,
}

/// The basic URL parser's state machine. `pointer` may step back one before the start (the
/// standard's "start over"), which is why it is signed; it is never read there.
struct Parser<'a> {
    input: Vec<char>,
    base: Option<&'a UrlRecord>,
    state_override: Option<Override>,
    pointer: isize,
    buffer: String,
    at_sign_seen: bool,
    inside_brackets: bool,
    password_token_seen: bool,
}

impl<'a> Parser<'a> {
    fn run_from(
        input: &str,
        base: Option<&'a UrlRecord>,
        url: &mut UrlRecord,
        state_override: Option<Override>,
        mut state: State,
    ) -> Result<(), UrlParseError> {
        let mut parser = Parser {
            input: input.chars().filter(|c| !matches!(c, '\t' | '\n' | '\r')).collect(),
            base,
            state_override,
            pointer: 0,
            buffer: String::new(),
            at_sign_seen: false,
            inside_brackets: false,
            password_token_seen: false,
        };
        let end = parser.input.len() as isize;
        loop {
            match parser.step(state, url)? {
                Step::Next(next) => state = next,
                Step::Done => return Ok(()),
            }
            if parser.pointer >= end {
                return Ok(());
            }
            parser.pointer += 1;
        }
    }

    /// The character at the pointer; `None` is the standard's EOF code point.
    fn c(&self) -> Option<char> {
        usize::try_from(self.pointer).ok().and_then(|at| self.input.get(at)).copied()
    }

    /// The characters after the pointer.
    fn remaining(&self) -> &[char] {
        let from = usize::try_from(self.pointer + 1).unwrap_or(0).min(self.input.len());
        &self.input[from..]
    }

    fn remaining_starts_with(&self, c: char) -> bool {
        self.remaining().first() == Some(&c)
    }

    fn back(&mut self) {
        self.pointer -= 1;
    }

    /// One run of the state machine at the pointer.
    fn step(&mut self, state: State, url: &mut UrlRecord) -> Result<Step, UrlParseError> {
        let c = self.c();
        let special = url.is_special();
        // In special URLs a backslash is a slash.
        let is_slash = |c: Option<char>| c == Some('/') || (special && c == Some('\\'));
        let next = match state {
            State::SchemeStart => match c {
                Some(c) if c.is_ascii_alphabetic() => {
                    self.buffer.push(c.to_ascii_lowercase());
                    State::Scheme
                }
                _ => {
                    self.back();
                    State::NoScheme
                }
            },
            State::Scheme => match c {
                Some(c) if c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.') => {
                    self.buffer.push(c.to_ascii_lowercase());
                    State::Scheme
                }
                Some(':') => {
                    url.scheme = std::mem::take(&mut self.buffer);
                    if url.scheme == "file" {
                        State::File
                    } else if url.is_special() && self.base.is_some_and(|base| base.scheme == url.scheme) {
                        State::SpecialRelativeOrAuthority
                    } else if url.is_special() {
                        State::SpecialAuthoritySlashes
                    } else if self.remaining_starts_with('/') {
                        self.pointer += 1;
                        State::PathOrAuthority
                    } else {
                        url.path = UrlPath::Opaque(String::new());
                        State::OpaquePath
                    }
                }
                _ => {
                    // Not a scheme after all: start over, as a relative reference.
                    self.buffer.clear();
                    self.pointer = -1;
                    State::NoScheme
                }
            },
            State::NoScheme => {
                let Some(base) = self.base else { return Err(UrlParseError) };
                match (&base.path, c) {
                    (UrlPath::Opaque(_), Some('#')) => {
                        url.scheme = base.scheme.clone();
                        url.path = base.path.clone();
                        url.query = base.query.clone();
                        url.fragment = Some(String::new());
                        State::Fragment
                    }
                    (UrlPath::Opaque(_), _) => return Err(UrlParseError),
                    _ => {
                        self.back();
                        if base.scheme == "file" {
                            State::File
                        } else {
                            State::Relative
                        }
                    }
                }
            }
            State::SpecialRelativeOrAuthority => {
                if c == Some('/') && self.remaining_starts_with('/') {
                    self.pointer += 1;
                    State::SpecialAuthorityIgnoreSlashes
                } else {
                    self.back();
                    State::Relative
                }
            }
            State::PathOrAuthority => {
                if c == Some('/') {
                    State::Authority
                } else {
                    self.back();
                    State::Path
                }
            }
            State::Relative => {
                let base = self.base.ok_or(UrlParseError)?;
                url.scheme = base.scheme.clone();
                let special = url.is_special();
                if c == Some('/') || (special && c == Some('\\')) {
                    State::RelativeSlash
                } else {
                    url.username = base.username.clone();
                    url.password = base.password.clone();
                    url.host = base.host.clone();
                    url.port = base.port;
                    url.path = base.path.clone();
                    url.query = base.query.clone();
                    match c {
                        Some('?') => {
                            url.query = Some(String::new());
                            State::Query
                        }
                        Some('#') => {
                            url.fragment = Some(String::new());
                            State::Fragment
                        }
                        Some(_) => {
                            url.query = None;
                            url.shorten_path();
                            self.back();
                            State::Path
                        }
                        None => State::Relative,
                    }
                }
            }
            State::RelativeSlash => {
                if special && (c == Some('/') || c == Some('\\')) {
                    State::SpecialAuthorityIgnoreSlashes
                } else if c == Some('/') {
                    State::Authority
                } else {
                    let base = self.base.ok_or(UrlParseError)?;
                    url.username = base.username.clone();
                    url.password = base.password.clone();
                    url.host = base.host.clone();
                    url.port = base.port;
                    self.back();
                    State::Path
                }
            }
            State::SpecialAuthoritySlashes => {
                if c == Some('/') && self.remaining_starts_with('/') {
                    self.pointer += 1;
                } else {
                    self.back();
                }
                State::SpecialAuthorityIgnoreSlashes
            }
            State::SpecialAuthorityIgnoreSlashes => {
                if c == Some('/') || c == Some('\\') {
                    State::SpecialAuthorityIgnoreSlashes
                } else {
                    self.back();
                    State::Authority
                }
            }
            State::Authority => {
                if c == Some('@') {
                    if self.at_sign_seen {
                        self.buffer.insert_str(0, "%40");
                    }
                    self.at_sign_seen = true;
                    for code_point in std::mem::take(&mut self.buffer).chars() {
                        if code_point == ':' && !self.password_token_seen {
                            self.password_token_seen = true;
                            continue;
                        }
                        let target = if self.password_token_seen { &mut url.password } else { &mut url.username };
                        percent_encode_char(code_point, EncodeSet::Userinfo, target);
                    }
                    State::Authority
                } else if c.is_none() || is_slash(c) || c == Some('?') || c == Some('#') {
                    if self.at_sign_seen && self.buffer.is_empty() {
                        return Err(UrlParseError);
                    }
                    // Read the authority again, from its start, as a host (and port).
                    self.pointer -= self.buffer.chars().count() as isize + 1;
                    self.buffer.clear();
                    State::Hostname
                } else {
                    self.buffer.extend(c);
                    State::Authority
                }
            }
            State::Hostname => {
                if c == Some(':') && !self.inside_brackets {
                    if self.buffer.is_empty() || self.state_override == Some(Override::Hostname) {
                        return Err(UrlParseError);
                    }
                    url.host = Some(host::parse_host(&self.buffer, !special)?);
                    self.buffer.clear();
                    State::Port
                } else if c.is_none() || is_slash(c) || c == Some('?') || c == Some('#') {
                    self.back();
                    if special && self.buffer.is_empty() {
                        return Err(UrlParseError);
                    }
                    if self.state_override.is_some()
                        && self.buffer.is_empty()
                        && (url.includes_credentials() || url.port.is_some())
                    {
                        return Err(UrlParseError);
                    }
                    url.host = Some(host::parse_host(&self.buffer, !special)?);
                    self.buffer.clear();
                    if self.state_override.is_some() {
                        return Ok(Step::Done);
                    }
                    State::PathStart
                } else {
                    match c {
                        Some('[') => self.inside_brackets = true,
                        Some(']') => self.inside_brackets = false,
                        _ => {}
                    }
                    self.buffer.extend(c);
                    State::Hostname
                }
            }
            State::Port => match c {
                Some(digit) if digit.is_ascii_digit() => {
                    self.buffer.push(digit);
                    State::Port
                }
                _ if c.is_none()
                    || is_slash(c)
                    || c == Some('?')
                    || c == Some('#')
                    || self.state_override.is_some() =>
                {
                    if !self.buffer.is_empty() {
                        // Leading zeros are allowed ("0080" is 80); anything over 65535 is not.
                        let digits = self.buffer.trim_start_matches('0');
                        let port: u16 =
                            if digits.is_empty() { 0 } else { digits.parse().map_err(|_| UrlParseError)? };
                        url.port = if Some(port) == default_port(&url.scheme) { None } else { Some(port) };
                        self.buffer.clear();
                        if self.state_override.is_some() {
                            return Ok(Step::Done);
                        }
                    }
                    if self.state_override.is_some() {
                        return Err(UrlParseError);
                    }
                    self.back();
                    State::PathStart
                }
                _ => return Err(UrlParseError),
            },
            State::File => {
                url.scheme = "file".to_string();
                url.host = Some(Host::Empty);
                match (c, self.base.filter(|base| base.scheme == "file")) {
                    (Some('/' | '\\'), _) => State::FileSlash,
                    (_, Some(base)) => {
                        url.host = base.host.clone();
                        url.path = base.path.clone();
                        url.query = base.query.clone();
                        match c {
                            Some('?') => {
                                url.query = Some(String::new());
                                State::Query
                            }
                            Some('#') => {
                                url.fragment = Some(String::new());
                                State::Fragment
                            }
                            Some(_) => {
                                url.query = None;
                                if starts_with_windows_drive_letter(&self.input[self.pointer as usize..]) {
                                    url.path = UrlPath::Segments(Vec::new());
                                } else {
                                    url.shorten_path();
                                }
                                self.back();
                                State::Path
                            }
                            None => State::File,
                        }
                    }
                    (_, None) => {
                        self.back();
                        State::Path
                    }
                }
            }
            State::FileSlash => {
                if c == Some('/') || c == Some('\\') {
                    State::FileHost
                } else {
                    if let Some(base) = self.base.filter(|base| base.scheme == "file") {
                        url.host = base.host.clone();
                        let rest = &self.input[usize::try_from(self.pointer).unwrap_or(0).min(self.input.len())..];
                        if let (false, UrlPath::Segments(base_segments)) =
                            (starts_with_windows_drive_letter(rest), &base.path)
                        {
                            if let Some(first) = base_segments.first().filter(|s| is_normalized_windows_drive_letter(s))
                            {
                                url.segments().push(first.clone());
                            }
                        }
                    }
                    self.back();
                    State::Path
                }
            }
            State::FileHost => {
                if matches!(c, None | Some('/' | '\\' | '?' | '#')) {
                    self.back();
                    if self.state_override.is_none() && is_windows_drive_letter(&self.buffer) {
                        // `file://C:/` is a path, not a host; the buffer goes on into the path.
                        State::Path
                    } else if self.buffer.is_empty() {
                        url.host = Some(Host::Empty);
                        State::PathStart
                    } else {
                        let mut host = host::parse_host(&self.buffer, !special)?;
                        if host == Host::Domain("localhost".to_string()) {
                            host = Host::Empty;
                        }
                        url.host = Some(host);
                        self.buffer.clear();
                        State::PathStart
                    }
                } else {
                    self.buffer.extend(c);
                    State::FileHost
                }
            }
            State::PathStart => {
                if special {
                    if c != Some('/') && c != Some('\\') {
                        self.back();
                    }
                    State::Path
                } else if self.state_override.is_none() && c == Some('?') {
                    url.query = Some(String::new());
                    State::Query
                } else if self.state_override.is_none() && c == Some('#') {
                    url.fragment = Some(String::new());
                    State::Fragment
                } else if c.is_some() {
                    if c != Some('/') {
                        self.back();
                    }
                    State::Path
                } else {
                    if self.state_override.is_some() && url.host.is_none() {
                        url.segments().push(String::new());
                    }
                    State::PathStart
                }
            }
            State::Path => {
                let ends_segment =
                    c.is_none() || is_slash(c) || (self.state_override.is_none() && matches!(c, Some('?' | '#')));
                if ends_segment {
                    let buffer = std::mem::take(&mut self.buffer);
                    if is_double_dot_segment(&buffer) {
                        url.shorten_path();
                        if !is_slash(c) {
                            url.segments().push(String::new());
                        }
                    } else if is_single_dot_segment(&buffer) {
                        if !is_slash(c) {
                            url.segments().push(String::new());
                        }
                    } else {
                        let mut segment = buffer;
                        if url.scheme == "file" && url.segments().is_empty() && is_windows_drive_letter(&segment) {
                            segment.replace_range(1..2, ":");
                        }
                        url.segments().push(segment);
                    }
                    match c {
                        Some('?') if self.state_override.is_none() => {
                            url.query = Some(String::new());
                            State::Query
                        }
                        Some('#') if self.state_override.is_none() => {
                            url.fragment = Some(String::new());
                            State::Fragment
                        }
                        _ => State::Path,
                    }
                } else {
                    if let Some(c) = c {
                        percent_encode_char(c, EncodeSet::Path, &mut self.buffer);
                    }
                    State::Path
                }
            }
            State::OpaquePath => {
                let UrlPath::Opaque(path) = &mut url.path else { return Err(UrlParseError) };
                match c {
                    Some('?') => {
                        url.query = Some(String::new());
                        State::Query
                    }
                    Some('#') => {
                        url.fragment = Some(String::new());
                        State::Fragment
                    }
                    Some(' ') => {
                        // A space before a query or fragment is written `%20`, so that it cannot
                        // be mistaken for trailing whitespace.
                        let before_more = matches!(self.remaining().first(), Some('?' | '#'));
                        path.push_str(if before_more { "%20" } else { " " });
                        State::OpaquePath
                    }
                    Some(c) => {
                        percent_encode_char(c, EncodeSet::C0Control, path);
                        State::OpaquePath
                    }
                    None => State::OpaquePath,
                }
            }
            State::Query => {
                if (self.state_override.is_none() && c == Some('#')) || c.is_none() {
                    let set = if special { EncodeSet::SpecialQuery } else { EncodeSet::Query };
                    let query = url.query.get_or_insert_with(String::new);
                    percent_encode_str(&std::mem::take(&mut self.buffer), set, query);
                    if c == Some('#') {
                        url.fragment = Some(String::new());
                        State::Fragment
                    } else {
                        State::Query
                    }
                } else {
                    self.buffer.extend(c);
                    State::Query
                }
            }
            State::Fragment => {
                if let Some(c) = c {
                    percent_encode_char(c, EncodeSet::Fragment, url.fragment.get_or_insert_with(String::new));
                }
                State::Fragment
            }
        };
        Ok(Step::Next(next))
    }
}

enum Step {
    Next(State),
    Done,
}

fn is_single_dot_segment(segment: &str) -> bool {
    segment == "." || segment.eq_ignore_ascii_case("%2e")
}

fn is_double_dot_segment(segment: &str) -> bool {
    ["..", ".%2e", "%2e.", "%2e%2e"].iter().any(|dots| segment.eq_ignore_ascii_case(dots))
}

/// `C:` or `C|`.
fn is_windows_drive_letter(text: &str) -> bool {
    let mut chars = text.chars();
    matches!((chars.next(), chars.next(), chars.next()), (Some(letter), Some(':' | '|'), None) if letter.is_ascii_alphabetic())
}

/// `C:` only.
fn is_normalized_windows_drive_letter(text: &str) -> bool {
    is_windows_drive_letter(text) && text.ends_with(':')
}

/// Whether `rest` starts with a drive letter followed by nothing or by `/`, `\`, `?` or `#`.
fn starts_with_windows_drive_letter(rest: &[char]) -> bool {
    rest.len() >= 2
        && rest[0].is_ascii_alphabetic()
        && matches!(rest[1], ':' | '|')
        && (rest.len() == 2 || matches!(rest[2], '/' | '\\' | '?' | '#'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &str, base: Option<&str>) -> Option<String> {
        let base = base.map(|base| UrlRecord::parse(base, None).expect("base parses"));
        UrlRecord::parse(input, base.as_ref()).ok().map(|url| url.to_string())
    }

    #[test]
    fn the_standards_examples() {
        for (input, base, expected) in [
            ("https:example.org", None, Some("https://example.org/")),
            ("https://////example.com///", None, Some("https://example.com///")),
            ("https://example.com/././foo", None, Some("https://example.com/foo")),
            ("hello:world", Some("https://example.com/"), Some("hello:world")),
            ("https:example.org", Some("https://example.com/"), Some("https://example.com/example.org")),
            ("\\example\\..\\demo/.\\", Some("https://example.com/"), Some("https://example.com/demo/")),
            ("example", Some("https://example.com/demo"), Some("https://example.com/example")),
            ("file:///C|/demo", None, Some("file:///C:/demo")),
            ("..", Some("file:///C:/demo"), Some("file:///C:/")),
            ("file://loc%61lhost/", None, Some("file:///")),
            ("https://user:password@example.org/", None, Some("https://user:password@example.org/")),
            ("https://example.org/foo bar", None, Some("https://example.org/foo%20bar")),
            ("https://EXAMPLE.com/../x", None, Some("https://example.com/x")),
            ("https://ex ample.org/", None, None),
            ("example", None, None),
            ("https://example.com:demo", None, None),
            ("http://[www.example.com]/", None, None),
            ("https://example.org//", None, Some("https://example.org//")),
            ("https://example.com/[]?[]#[]", None, Some("https://example.com/[]?[]#[]")),
            ("https://example/%?%#%", None, Some("https://example/%?%#%")),
            ("https://example/%25?%25#%25", None, Some("https://example/%25?%25#%25")),
        ] {
            assert_eq!(parse(input, base).as_deref(), expected, "{input:?} against {base:?}");
        }
    }

    #[test]
    fn components() {
        let url = UrlRecord::parse("HTTPS://u%40:p:w@LocalHost:8000/search?q=text#hello", None).unwrap();
        assert_eq!(url.scheme(), "https");
        assert_eq!((url.username(), url.password()), ("u%40", "p%3Aw"));
        assert_eq!((url.host(), url.port()), ("localhost".to_string(), Some(8000)));
        assert_eq!((url.path(), url.query(), url.fragment()), ("/search".to_string(), Some("q=text"), Some("hello")));
        let urn = UrlRecord::parse("urn:isbn:9780307476463", None).unwrap();
        assert_eq!((urn.host.clone(), urn.path()), (None, "isbn:9780307476463".to_string()));
        let file = UrlRecord::parse("file:///ada/Analytical%20Engine/README.md", None).unwrap();
        assert_eq!((file.host(), file.path()), (String::new(), "/ada/Analytical%20Engine/README.md".to_string()));
    }

    #[test]
    fn default_ports_are_dropped_and_ports_bounded() {
        assert_eq!(parse("http://h:80/", None).as_deref(), Some("http://h/"));
        assert_eq!(parse("https://h:0443/", None).as_deref(), Some("https://h/"));
        assert_eq!(parse("foo://h:80/", None).as_deref(), Some("foo://h:80/"));
        assert_eq!(parse("http://h:65535/", None).as_deref(), Some("http://h:65535/"));
        assert_eq!(parse("http://h:65536/", None), None);
        assert_eq!(parse(&format!("http://h:{}/", "9".repeat(40)), None), None);
        assert_eq!(parse("http://h:/", None).as_deref(), Some("http://h/"));
    }

    #[test]
    fn relative_references_and_dot_segments() {
        let base = Some("https://hub.example/.well-known/mercure?x#y");
        for (input, expected) in [
            ("/books/1", "https://hub.example/books/1"),
            ("books/1", "https://hub.example/.well-known/books/1"),
            ("?q", "https://hub.example/.well-known/mercure?q"),
            ("#f", "https://hub.example/.well-known/mercure?x#f"),
            ("", "https://hub.example/.well-known/mercure?x"),
            ("//other/x", "https://other/x"),
            ("../../../a/%2e%2E/b/./c", "https://hub.example/b/c"),
            ("/a/..", "https://hub.example/"),
            ("http:/x", "http://x/"),
        ] {
            assert_eq!(parse(input, base).as_deref(), Some(expected), "{input:?}");
        }
        assert_eq!(parse("#x", Some("urn:a")).as_deref(), Some("urn:a#x"), "only a fragment against an opaque path");
        assert_eq!(parse("x", Some("urn:a")), None);
    }

    #[test]
    fn non_special_urls_keep_their_shape() {
        for (input, expected) in [
            ("foo://Host/a/../b", "foo://Host/b"),
            ("mailto:Joe@Example.com", "mailto:Joe@Example.com"),
            ("data:text/plain, a b ?q", "data:text/plain, a b%20?q"),
            ("web+demo:/.//not-a-host/", "web+demo:/.//not-a-host/"),
            ("foo:/a/b", "foo:/a/b"),
            ("foo:///x", "foo:///x"),
            ("javascript:alert(1)", "javascript:alert(1)"),
        ] {
            assert_eq!(parse(input, None).as_deref(), Some(expected), "{input:?}");
        }
    }

    #[test]
    fn whitespace_and_controls() {
        assert_eq!(parse(" \u{1}https://h/a\tb\nc\r \u{0}", None).as_deref(), Some("https://h/abc"));
        assert_eq!(parse("https://h/\u{7f}é?é#é`", None).as_deref(), Some("https://h/%7F%C3%A9?%C3%A9#%C3%A9%60"));
        assert_eq!(parse("https://h/'?'", None).as_deref(), Some("https://h/'?%27"));
        assert_eq!(parse("foo://h/'?'", None).as_deref(), Some("foo://h/'?'"));
    }

    #[test]
    fn credentials_and_hosts() {
        assert_eq!(parse("https://a@b@c/", None).as_deref(), Some("https://a%40b@c/"));
        assert_eq!(parse("https://:@c/", None).as_deref(), Some("https://c/"));
        assert_eq!(parse("https://@/", None), None);
        assert_eq!(parse("https:///", None), None);
        assert_eq!(parse("https://[::1]:8080/", None).as_deref(), Some("https://[::1]:8080/"));
        assert_eq!(parse("https://0x7f.1/", None).as_deref(), Some("https://127.0.0.1/"));
        assert_eq!(parse("https://caf%C3%A9.example/", None).as_deref(), Some("https://xn--caf-dma.example/"));
    }

    #[test]
    fn file_urls() {
        for (input, base, expected) in [
            ("file:c:\\foo\\bar.html", None, "file:///c:/foo/bar.html"),
            ("file://localhost/x", None, "file:///x"),
            ("file://Host/x", None, "file://host/x"),
            ("/C|/x", Some("file:///D:/y"), "file:///C:/x"),
            ("x", Some("file:///D:/y"), "file:///D:/x"),
            ("/x", Some("file:///D:/y"), "file:///D:/x"),
            ("?q", Some("file:///a/b"), "file:///a/b?q"),
            ("file:", Some("file:///a?b"), "file:///a?b"),
        ] {
            assert_eq!(parse(input, base).as_deref(), Some(expected), "{input:?} against {base:?}");
        }
    }

    #[test]
    fn serialization_round_trips() {
        for input in ["https://a:b@h:1/p?q#f", "foo:/.//x", "urn:x", "file:///C:/", "http://[1::]/", "foo://h"] {
            let once = UrlRecord::parse(input, None).unwrap();
            assert_eq!(UrlRecord::parse(&once.to_string(), None).unwrap(), once, "{input}");
        }
    }
}
