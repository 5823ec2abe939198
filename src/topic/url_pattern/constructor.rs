//! The constructor string parser: splits a whole pattern such as
//! `https://{:sub.}?example.com/books/:id?x=*` into its components, the way the URL parser splits
//! a URL, but on pattern tokens, so that `:id` is a group and not a port and nothing inside `{...}`
//! ends a component. Components written are kept; which are absent decides the defaults
//! (`https://example.com` matches any path, `/books` is relative).

use super::canonicalize;
use super::component::Component;
use super::parts::Options;
use super::tokenizer::{tokenize, Policy, Token, TokenKind};
use super::{protocol_matches_special_scheme, UrlPatternError, UrlPatternInit};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Init,
    Protocol,
    Authority,
    Username,
    Password,
    Hostname,
    Port,
    Pathname,
    Search,
    Hash,
    Done,
}

struct Parser {
    input: Vec<char>,
    tokens: Vec<Token>,
    result: UrlPatternInit,
    component_start: usize,
    token_index: usize,
    token_increment: usize,
    group_depth: usize,
    hostname_ipv6_bracket_depth: usize,
    protocol_matches_special_scheme: bool,
    state: State,
    max_states: usize,
}

/// Splits a constructor string into components (what is absent stays `None`).
pub(super) fn parse_constructor_string(input: &str, max_states: usize) -> Result<UrlPatternInit, UrlPatternError> {
    let chars: Vec<char> = input.chars().collect();
    let mut parser = Parser {
        tokens: tokenize(&chars, Policy::Lenient)?,
        input: chars,
        result: UrlPatternInit::default(),
        component_start: 0,
        token_index: 0,
        token_increment: 1,
        group_depth: 0,
        hostname_ipv6_bracket_depth: 0,
        protocol_matches_special_scheme: false,
        state: State::Init,
        max_states,
    };
    while parser.token_index < parser.tokens.len() {
        parser.token_increment = 1;
        if parser.tokens[parser.token_index].kind == TokenKind::End {
            match parser.state {
                State::Init => {
                    // No `:` after a scheme: a relative pattern, starting at the hash, the search
                    // or (most often) the pathname.
                    parser.rewind();
                    if parser.is_hash_prefix() {
                        parser.change_state(State::Hash, 1);
                    } else if parser.is_search_prefix() {
                        parser.change_state(State::Search, 1);
                    } else {
                        parser.change_state(State::Pathname, 0);
                    }
                    parser.token_index += parser.token_increment;
                    continue;
                }
                State::Authority => {
                    // No `@`: no username or password.
                    parser.rewind_and_set_state(State::Hostname);
                    parser.token_index += parser.token_increment;
                    continue;
                }
                _ => {
                    parser.change_state(State::Done, 0);
                    break;
                }
            }
        }
        if parser.tokens[parser.token_index].kind == TokenKind::Open {
            // No component boundary inside `{...}`.
            parser.group_depth += 1;
            parser.token_index += parser.token_increment;
            continue;
        }
        if parser.group_depth > 0 {
            if parser.tokens[parser.token_index].kind == TokenKind::Close {
                parser.group_depth -= 1;
            } else {
                parser.token_index += parser.token_increment;
                continue;
            }
        }
        match parser.state {
            State::Init => {
                if parser.is_protocol_suffix() {
                    parser.rewind_and_set_state(State::Protocol);
                }
            }
            State::Protocol => {
                if parser.is_protocol_suffix() {
                    parser.compute_protocol_matches_special_scheme()?;
                    let (next_state, skip) = if parser.next_is_authority_slashes() {
                        (State::Authority, 3)
                    } else if parser.protocol_matches_special_scheme {
                        (State::Authority, 1)
                    } else {
                        (State::Pathname, 1)
                    };
                    parser.change_state(next_state, skip);
                }
            }
            State::Authority => {
                if parser.is_identity_terminator() {
                    parser.rewind_and_set_state(State::Username);
                } else if parser.is_pathname_start() || parser.is_search_prefix() || parser.is_hash_prefix() {
                    parser.rewind_and_set_state(State::Hostname);
                }
            }
            State::Username => {
                if parser.is_password_prefix() {
                    parser.change_state(State::Password, 1);
                } else if parser.is_identity_terminator() {
                    parser.change_state(State::Hostname, 1);
                }
            }
            State::Password => {
                if parser.is_identity_terminator() {
                    parser.change_state(State::Hostname, 1);
                }
            }
            State::Hostname => {
                if parser.is_non_special_pattern_char(parser.token_index, '[') {
                    parser.hostname_ipv6_bracket_depth += 1;
                } else if parser.is_non_special_pattern_char(parser.token_index, ']') {
                    parser.hostname_ipv6_bracket_depth = parser.hostname_ipv6_bracket_depth.saturating_sub(1);
                } else if parser.is_port_prefix() && parser.hostname_ipv6_bracket_depth == 0 {
                    parser.change_state(State::Port, 1);
                } else if parser.is_pathname_start() {
                    parser.change_state(State::Pathname, 0);
                } else if parser.is_search_prefix() {
                    parser.change_state(State::Search, 1);
                } else if parser.is_hash_prefix() {
                    parser.change_state(State::Hash, 1);
                }
            }
            State::Port => {
                if parser.is_pathname_start() {
                    parser.change_state(State::Pathname, 0);
                } else if parser.is_search_prefix() {
                    parser.change_state(State::Search, 1);
                } else if parser.is_hash_prefix() {
                    parser.change_state(State::Hash, 1);
                }
            }
            State::Pathname => {
                if parser.is_search_prefix() {
                    parser.change_state(State::Search, 1);
                } else if parser.is_hash_prefix() {
                    parser.change_state(State::Hash, 1);
                }
            }
            State::Search => {
                if parser.is_hash_prefix() {
                    parser.change_state(State::Hash, 1);
                }
            }
            State::Hash | State::Done => {}
        }
        parser.token_index += parser.token_increment;
    }
    // A host without a port means the default port, not any port (`:*` says any).
    if parser.result.hostname.is_some() && parser.result.port.is_none() {
        parser.result.port = Some(String::new());
    }
    Ok(parser.result)
}

impl Parser {
    fn change_state(&mut self, new_state: State, skip: usize) {
        if !matches!(self.state, State::Init | State::Authority | State::Done) {
            let value = self.make_component_string();
            let result = &mut self.result;
            let slot = match self.state {
                State::Protocol => &mut result.protocol,
                State::Username => &mut result.username,
                State::Password => &mut result.password,
                State::Hostname => &mut result.hostname,
                State::Port => &mut result.port,
                State::Pathname => &mut result.pathname,
                State::Search => &mut result.search,
                _ => &mut result.hash,
            };
            *slot = Some(value);
        }
        if self.state != State::Init && new_state != State::Done {
            // Components skipped over between two that were written get their empty value (or
            // `/` for the path of a special scheme), so that they are not wildcards.
            let before_host =
                matches!(self.state, State::Protocol | State::Authority | State::Username | State::Password);
            if before_host
                && matches!(new_state, State::Port | State::Pathname | State::Search | State::Hash)
                && self.result.hostname.is_none()
            {
                self.result.hostname = Some(String::new());
            }
            let before_path = before_host || matches!(self.state, State::Hostname | State::Port);
            if before_path && matches!(new_state, State::Search | State::Hash) && self.result.pathname.is_none() {
                self.result.pathname = Some(if self.protocol_matches_special_scheme { "/" } else { "" }.to_string());
            }
            let before_search = before_path || self.state == State::Pathname;
            if before_search && new_state == State::Hash && self.result.search.is_none() {
                self.result.search = Some(String::new());
            }
        }
        self.state = new_state;
        self.token_index += skip;
        self.component_start = self.token_index;
        self.token_increment = 0;
    }

    fn rewind(&mut self) {
        self.token_index = self.component_start;
        self.token_increment = 0;
    }

    fn rewind_and_set_state(&mut self, state: State) {
        self.rewind();
        self.state = state;
    }

    /// The token at `index`, or the end token past the end.
    fn safe_token(&self, index: usize) -> &Token {
        // The tokenizer always ends the list with an end token.
        self.tokens.get(index).unwrap_or(&self.tokens[self.tokens.len() - 1])
    }

    /// Whether the token at `index` is `value` as a plain character (not pattern syntax).
    fn is_non_special_pattern_char(&self, index: usize, value: char) -> bool {
        let token = self.safe_token(index);
        token.value.len() == value.len_utf8()
            && token.value.starts_with(value)
            && matches!(token.kind, TokenKind::Char | TokenKind::EscapedChar | TokenKind::InvalidChar)
    }

    fn is_protocol_suffix(&self) -> bool {
        self.is_non_special_pattern_char(self.token_index, ':')
    }

    fn next_is_authority_slashes(&self) -> bool {
        self.is_non_special_pattern_char(self.token_index + 1, '/')
            && self.is_non_special_pattern_char(self.token_index + 2, '/')
    }

    fn is_identity_terminator(&self) -> bool {
        self.is_non_special_pattern_char(self.token_index, '@')
    }

    fn is_password_prefix(&self) -> bool {
        self.is_non_special_pattern_char(self.token_index, ':')
    }

    fn is_port_prefix(&self) -> bool {
        self.is_non_special_pattern_char(self.token_index, ':')
    }

    fn is_pathname_start(&self) -> bool {
        self.is_non_special_pattern_char(self.token_index, '/')
    }

    /// A `?` that starts the search: a plain `?`, or a modifier `?` that follows nothing it could
    /// modify (after a group, `?` makes the group optional).
    fn is_search_prefix(&self) -> bool {
        if self.is_non_special_pattern_char(self.token_index, '?') {
            return true;
        }
        if self.tokens[self.token_index].value != "?" {
            return false;
        }
        let Some(previous) = self.token_index.checked_sub(1) else { return true };
        !matches!(
            self.safe_token(previous).kind,
            TokenKind::Name | TokenKind::Regexp | TokenKind::Close | TokenKind::Asterisk
        )
    }

    fn is_hash_prefix(&self) -> bool {
        self.is_non_special_pattern_char(self.token_index, '#')
    }

    /// The input from the component's first token to the current one.
    fn make_component_string(&self) -> String {
        let start = self.safe_token(self.component_start).index;
        let end = self.tokens[self.token_index].index;
        self.input[start..end].iter().collect()
    }

    /// Compiles the protocol as written so far, to learn whether it can be a special scheme: that
    /// decides whether an authority follows and how the path is read.
    fn compute_protocol_matches_special_scheme(&mut self) -> Result<(), UrlPatternError> {
        let protocol = self.make_component_string();
        let component = Component::compile(&protocol, &canonicalize::protocol, Options::DEFAULT, self.max_states)?;
        self.protocol_matches_special_scheme = protocol_matches_special_scheme(&component);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(input: &str) -> [Option<String>; 8] {
        let init = parse_constructor_string(input, 10_000).unwrap();
        [init.protocol, init.username, init.password, init.hostname, init.port, init.pathname, init.search, init.hash]
    }

    fn some(parts: [Option<&str>; 8]) -> [Option<String>; 8] {
        parts.map(|part| part.map(str::to_string))
    }

    #[test]
    fn components_are_split_on_pattern_tokens() {
        assert_eq!(
            split("https://example.com/books/:id"),
            some([Some("https"), None, None, Some("example.com"), Some(""), Some("/books/:id"), None, None])
        );
        assert_eq!(
            split("http{s}?://{:sub.}?example.com:8080/a?x=1#top"),
            some([
                Some("http{s}?"),
                None,
                None,
                Some("{:sub.}?example.com"),
                Some("8080"),
                Some("/a"),
                Some("x=1"),
                Some("top")
            ])
        );
        assert_eq!(
            split("https://:user::pass@example.com"),
            some([Some("https"), Some(":user"), Some(":pass"), Some("example.com"), Some(""), None, None, None])
        );
        assert_eq!(
            split("https://example.com?foo"),
            some([Some("https"), None, None, Some("example.com"), Some(""), Some("/"), Some("foo"), None])
        );
        assert_eq!(
            split("https://example.com#foo"),
            some([Some("https"), None, None, Some("example.com"), Some(""), Some("/"), Some(""), Some("foo")])
        );
        assert_eq!(
            split("data:foobar"),
            some([None, None, None, None, None, Some("data:foobar"), None, None]),
            "`:foobar` is a group"
        );
        assert_eq!(
            split("data\\:foobar"),
            some([Some("data"), None, None, Some(""), Some(""), Some("foobar"), None, None]),
            "skipped over: empty"
        );
        assert_eq!(split("http://[\\:\\:1]:8080/")[3].as_deref(), Some("[\\:\\:1]"));
        assert_eq!(split("/books/:id?")[5].as_deref(), Some("/books/:id?"), "a `?` after a group modifies it");
        assert_eq!(split("/books/*\\?x")[6].as_deref(), Some("x"));
        assert_eq!(split("?q")[6].as_deref(), Some("q"));
        assert_eq!(split("#h")[7].as_deref(), Some("h"));
    }
}
