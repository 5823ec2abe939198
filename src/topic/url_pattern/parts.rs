//! A component's pattern string as a list of parts (the standard's "part list"): fixed text, and
//! groups (`:name`, `*`, `(regexp)`) with an optional prefix and suffix and a modifier. The
//! parser runs each piece of fixed text through the component's encoding callback, so the parts
//! hold canonical text; the writer turns parts back into the normalized pattern string.

use super::tokenizer::{is_valid_name_code_point, tokenize, Policy, Token, TokenKind};
use super::UrlPatternError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PartKind {
    FixedText,
    /// A group with a regular expression of its own: `(\d+)`, `:id([0-9]+)`.
    Regexp,
    /// A group matching up to the next delimiter: `:name`.
    SegmentWildcard,
    /// A group matching anything: `*`.
    FullWildcard,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Modifier {
    None,
    /// `?`
    Optional,
    /// `*`
    ZeroOrMore,
    /// `+`
    OneOrMore,
}

impl Modifier {
    fn as_str(self) -> &'static str {
        match self {
            Modifier::None => "",
            Modifier::Optional => "?",
            Modifier::ZeroOrMore => "*",
            Modifier::OneOrMore => "+",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Part {
    pub(super) kind: PartKind,
    /// The fixed text, or the regular expression of a [`PartKind::Regexp`]; empty otherwise.
    pub(super) value: String,
    pub(super) modifier: Modifier,
    /// The group's name: given (`:id`), or a number for unnamed groups; empty for fixed text.
    pub(super) name: String,
    pub(super) prefix: String,
    pub(super) suffix: String,
}

/// How a component's groups behave: the hostname's segments end at `.`, the pathname's at `/`
/// (which is also the automatic prefix of a pathname group, so that `/:id?` makes the `/`
/// optional too). Other components have neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Options {
    pub(super) delimiter: Option<char>,
    pub(super) prefix: Option<char>,
}

impl Options {
    pub(super) const DEFAULT: Options = Options { delimiter: None, prefix: None };
    pub(super) const HOSTNAME: Options = Options { delimiter: Some('.'), prefix: None };
    pub(super) const PATHNAME: Options = Options { delimiter: Some('/'), prefix: Some('/') };

    /// The regular expression a `:name` group stands for: `[^/]+?` in a pathname.
    pub(super) fn segment_wildcard_regexp(self) -> String {
        let mut regexp = "[^".to_string();
        regexp.push_str(&escape_regexp(&self.delimiter.map(String::from).unwrap_or_default()));
        regexp.push_str("]+?");
        regexp
    }
}

/// The regular expression `*` stands for.
pub(super) const FULL_WILDCARD_REGEXP: &str = ".*";

/// Canonicalizes one piece of fixed text for its component.
pub(super) type Encoder<'a> = &'a dyn Fn(&str) -> Result<String, UrlPatternError>;

struct PatternParser<'a> {
    tokens: Vec<Token>,
    encode: Encoder<'a>,
    segment_wildcard_regexp: String,
    parts: Vec<Part>,
    pending_fixed_value: String,
    index: usize,
    next_numeric_name: usize,
}

/// Parses a component's pattern string into parts, encoding fixed text with `encode`.
pub(super) fn parse_pattern_string(
    input: &str,
    options: Options,
    encode: Encoder<'_>,
) -> Result<Vec<Part>, UrlPatternError> {
    let chars: Vec<char> = input.chars().collect();
    let mut parser = PatternParser {
        tokens: tokenize(&chars, Policy::Strict)?,
        encode,
        segment_wildcard_regexp: options.segment_wildcard_regexp(),
        parts: Vec::new(),
        pending_fixed_value: String::new(),
        index: 0,
        next_numeric_name: 0,
    };
    while parser.index < parser.tokens.len() {
        // `<prefix char><name><regexp or *><modifier>`, any of them absent.
        let char_token = parser.try_consume(TokenKind::Char);
        let name_token = parser.try_consume(TokenKind::Name);
        let regexp_or_wildcard = parser.try_consume_regexp_or_wildcard(name_token.is_some());
        if name_token.is_some() || regexp_or_wildcard.is_some() {
            let mut prefix = char_token.map(|token| token.value).unwrap_or_default();
            if !prefix.is_empty() && Some(prefix.as_str()) != options.prefix.map(String::from).as_deref() {
                parser.pending_fixed_value.push_str(&prefix);
                prefix.clear();
            }
            parser.flush_pending_fixed_value()?;
            let modifier = parser.try_consume_modifier();
            parser.add_part(&prefix, name_token, regexp_or_wildcard, "", modifier)?;
            continue;
        }
        let fixed = char_token.or_else(|| parser.try_consume(TokenKind::EscapedChar));
        if let Some(fixed) = fixed {
            parser.pending_fixed_value.push_str(&fixed.value);
            continue;
        }
        // `{<prefix><name><regexp or *><suffix>}<modifier>`.
        if parser.try_consume(TokenKind::Open).is_some() {
            let prefix = parser.consume_text();
            let name_token = parser.try_consume(TokenKind::Name);
            let regexp_or_wildcard = parser.try_consume_regexp_or_wildcard(name_token.is_some());
            let suffix = parser.consume_text();
            parser
                .consume_required(TokenKind::Close, "a `{` group must end with `}`, and cannot hold another group")?;
            let modifier = parser.try_consume_modifier();
            parser.add_part(&prefix, name_token, regexp_or_wildcard, &suffix, modifier)?;
            continue;
        }
        parser.flush_pending_fixed_value()?;
        parser.consume_required(
            TokenKind::End,
            "unexpected character (a modifier with nothing to modify, or a stray `}`)",
        )?;
    }
    Ok(parser.parts)
}

impl PatternParser<'_> {
    fn try_consume(&mut self, kind: TokenKind) -> Option<Token> {
        let token = self.tokens.get(self.index).filter(|token| token.kind == kind)?.clone();
        self.index += 1;
        Some(token)
    }

    fn try_consume_modifier(&mut self) -> Option<Token> {
        self.try_consume(TokenKind::OtherModifier).or_else(|| self.try_consume(TokenKind::Asterisk))
    }

    fn try_consume_regexp_or_wildcard(&mut self, after_name: bool) -> Option<Token> {
        let token = self.try_consume(TokenKind::Regexp);
        if !after_name && token.is_none() {
            return self.try_consume(TokenKind::Asterisk);
        }
        token
    }

    fn consume_required(&mut self, kind: TokenKind, reason: &str) -> Result<Token, UrlPatternError> {
        self.try_consume(kind).ok_or_else(|| UrlPatternError::Syntax { component: None, reason: reason.to_string() })
    }

    fn consume_text(&mut self) -> String {
        let mut text = String::new();
        while let Some(token) = self.try_consume(TokenKind::Char).or_else(|| self.try_consume(TokenKind::EscapedChar)) {
            text.push_str(&token.value);
        }
        text
    }

    fn flush_pending_fixed_value(&mut self) -> Result<(), UrlPatternError> {
        if self.pending_fixed_value.is_empty() {
            return Ok(());
        }
        let value = (self.encode)(&std::mem::take(&mut self.pending_fixed_value))?;
        self.parts.push(Part {
            kind: PartKind::FixedText,
            value,
            modifier: Modifier::None,
            name: String::new(),
            prefix: String::new(),
            suffix: String::new(),
        });
        Ok(())
    }

    fn add_part(
        &mut self,
        prefix: &str,
        name_token: Option<Token>,
        regexp_or_wildcard: Option<Token>,
        suffix: &str,
        modifier_token: Option<Token>,
    ) -> Result<(), UrlPatternError> {
        let modifier = match modifier_token.as_ref().map(|token| token.value.as_str()) {
            Some("?") => Modifier::Optional,
            Some("*") => Modifier::ZeroOrMore,
            Some("+") => Modifier::OneOrMore,
            _ => Modifier::None,
        };
        if name_token.is_none() && regexp_or_wildcard.is_none() {
            if modifier == Modifier::None {
                // `{text}` with no modifier is plain text, joined with the text around it.
                self.pending_fixed_value.push_str(prefix);
                return Ok(());
            }
            self.flush_pending_fixed_value()?;
            // `{text}?`: fixed text with a modifier is a part of its own.
            if !prefix.is_empty() {
                let value = (self.encode)(prefix)?;
                self.parts.push(Part {
                    kind: PartKind::FixedText,
                    value,
                    modifier,
                    name: String::new(),
                    prefix: String::new(),
                    suffix: String::new(),
                });
            }
            return Ok(());
        }
        self.flush_pending_fixed_value()?;
        // A regexp equal to what `:name` or `*` stands for is that group, so that `([^/]+?)`
        // and `(.*)` behave (and are written back) as `:0` and `*`.
        let regexp = match &regexp_or_wildcard {
            None => self.segment_wildcard_regexp.clone(),
            Some(token) if token.kind == TokenKind::Asterisk => FULL_WILDCARD_REGEXP.to_string(),
            Some(token) => token.value.clone(),
        };
        let (kind, value) = if regexp == self.segment_wildcard_regexp {
            (PartKind::SegmentWildcard, String::new())
        } else if regexp == FULL_WILDCARD_REGEXP {
            (PartKind::FullWildcard, String::new())
        } else {
            (PartKind::Regexp, regexp)
        };
        let name = match name_token {
            Some(token) => token.value,
            None => {
                self.next_numeric_name += 1;
                (self.next_numeric_name - 1).to_string()
            }
        };
        if self.parts.iter().any(|part| part.name == name) {
            return Err(UrlPatternError::Syntax {
                component: None,
                reason: format!("the group name `{name}` is used twice"),
            });
        }
        let prefix = (self.encode)(prefix)?;
        let suffix = (self.encode)(suffix)?;
        self.parts.push(Part { kind, value, modifier, name, prefix, suffix });
        Ok(())
    }
}

/// Escapes the characters that mean something in a regular expression.
pub(super) fn escape_regexp(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if ".+*?^${}()[]|/\\".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Escapes the characters that mean something in a pattern string.
pub(super) fn escape_pattern(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if "+*?:{}()\\".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Writes parts back as the normalized pattern string (what the standard's getters return).
pub(super) fn generate_pattern_string(parts: &[Part], options: Options) -> String {
    let mut result = String::new();
    for (index, part) in parts.iter().enumerate() {
        let previous = index.checked_sub(1).map(|i| &parts[i]);
        let next = parts.get(index + 1);
        if part.kind == PartKind::FixedText {
            if part.modifier == Modifier::None {
                result.push_str(&escape_pattern(&part.value));
            } else {
                result.push('{');
                result.push_str(&escape_pattern(&part.value));
                result.push('}');
                result.push_str(part.modifier.as_str());
            }
            continue;
        }
        let custom_name = !part.name.starts_with(|c: char| c.is_ascii_digit());
        let is_prefix_char = |text: &str| options.prefix.is_some_and(|p| text.len() == 1 && text.starts_with(p));
        let mut needs_grouping = !part.suffix.is_empty() || (!part.prefix.is_empty() && !is_prefix_char(&part.prefix));
        if !needs_grouping && custom_name && part.kind == PartKind::SegmentWildcard && part.modifier == Modifier::None {
            if let Some(next) = next.filter(|next| next.prefix.is_empty() && next.suffix.is_empty()) {
                // `:name` followed by text that could continue the name needs braces around it.
                needs_grouping = if next.kind == PartKind::FixedText {
                    next.value.chars().next().is_some_and(|c| is_valid_name_code_point(c, false))
                } else {
                    next.name.starts_with(|c: char| c.is_ascii_digit())
                };
            }
        }
        if !needs_grouping && part.prefix.is_empty() {
            if let Some(previous) = previous {
                let ends_with_prefix = options.prefix.is_some_and(|p| previous.value.ends_with(p));
                needs_grouping = previous.kind == PartKind::FixedText && ends_with_prefix;
            }
        }
        if needs_grouping {
            result.push('{');
        }
        result.push_str(&escape_pattern(&part.prefix));
        if custom_name {
            result.push(':');
            result.push_str(&part.name);
        }
        match part.kind {
            PartKind::Regexp => {
                result.push('(');
                result.push_str(&part.value);
                result.push(')');
            }
            PartKind::SegmentWildcard if !custom_name => {
                result.push('(');
                result.push_str(&options.segment_wildcard_regexp());
                result.push(')');
            }
            PartKind::FullWildcard => {
                let plain_star = previous
                    .is_none_or(|previous| previous.kind == PartKind::FixedText || previous.modifier != Modifier::None)
                    || needs_grouping
                    || !part.prefix.is_empty();
                if !custom_name && plain_star {
                    result.push('*');
                } else {
                    result.push('(');
                    result.push_str(FULL_WILDCARD_REGEXP);
                    result.push(')');
                }
            }
            _ => {}
        }
        if part.kind == PartKind::SegmentWildcard
            && custom_name
            && part.suffix.chars().next().is_some_and(|c| is_valid_name_code_point(c, false))
        {
            result.push('\\');
        }
        result.push_str(&escape_pattern(&part.suffix));
        if needs_grouping {
            result.push('}');
        }
        result.push_str(part.modifier.as_str());
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(text: &str) -> Result<String, UrlPatternError> {
        Ok(text.to_string())
    }

    fn parts(input: &str, options: Options) -> Vec<Part> {
        parse_pattern_string(input, options, &identity).unwrap()
    }

    #[test]
    fn groups_prefixes_and_modifiers() {
        let parsed = parts("/books/:id?", Options::PATHNAME);
        assert_eq!(parsed.len(), 2);
        assert_eq!((parsed[0].kind, parsed[0].value.as_str()), (PartKind::FixedText, "/books"));
        let group = &parsed[1];
        assert_eq!(
            (group.kind, group.name.as_str(), group.prefix.as_str(), group.modifier),
            (PartKind::SegmentWildcard, "id", "/", Modifier::Optional)
        );

        let parsed = parts("{:sub.}?example.com", Options::HOSTNAME);
        assert_eq!((parsed[0].suffix.as_str(), parsed[0].modifier), (".", Modifier::Optional));
        assert_eq!(parts("a:x", Options::DEFAULT)[0].value, "a", "a prefix that is not the prefix code point is text");
        assert_eq!(parts("{abc}", Options::DEFAULT)[0].value, "abc");
        assert_eq!(parts("{abc}+", Options::DEFAULT)[0].modifier, Modifier::OneOrMore);
        assert!(parts("{}?", Options::DEFAULT).is_empty());
        let numbered = parts("*/(a)", Options::PATHNAME);
        assert_eq!((numbered[0].name.as_str(), numbered[1].name.as_str()), ("0", "1"));
        assert_eq!(parts("/([^\\/]+?)", Options::PATHNAME)[0].kind, PartKind::SegmentWildcard);
        assert_eq!(parts("(.*)", Options::DEFAULT)[0].kind, PartKind::FullWildcard);
    }

    #[test]
    fn malformed_patterns() {
        for bad in ["/:id/:id", "{a{b}}", "{a", "a}", "?", "/+", "{:a}{:a}", "(a)(b)(c)*x\\"] {
            assert!(parse_pattern_string(bad, Options::PATHNAME, &identity).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn written_back_normalized() {
        for (input, expected) in [
            ("/foo/(.*)", "/foo/*"),
            ("/foo/(.*)?", "/foo/*?"),
            ("/foo{/bar}", "/foo/bar"),
            ("{:foo}{(.*)}", "{:foo}(.*)"),
            ("{:foo}{(.*)bar}", ":foo{*bar}"),
            ("{:foo}{bar(.*)}", ":foo{bar*}"),
            ("{:foo}:bar(.*)", ":foo:bar(.*)"),
            ("{:foo}?(.*)", ":foo?*"),
            ("{:foo\\.bar}", "{:foo.bar}"),
            (":foo\\bar", "{:foo}bar"),
            (":foo{}(.*)", "{:foo}(.*)"),
            (":foo{}?bar", "{:foo}bar"),
            ("*{}**?", "*(.*)?"),
            ("*\\/*", "*/{*}"),
            ("/:foo\\bar", "{/:foo}bar"),
            ("(foo)?(.*)", "(foo)?*"),
        ] {
            assert_eq!(
                generate_pattern_string(&parts(input, Options::PATHNAME), Options::PATHNAME),
                expected,
                "{input}"
            );
        }
    }
}
