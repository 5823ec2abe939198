//! The regular expressions a URL pattern is made of, as a syntax tree: what `:name`, `*`, fixed
//! text and modifiers stand for, and the subset of JavaScript's regular expressions (with the
//! `v` flag, as the standard compiles them) that custom groups such as `:id(\d+)` may use.
//!
//! The subset is what a finite automaton can match in linear time, as RE2 does: characters,
//! `.`, classes (`[a-z0-9_]`, `[^/]`, `\d` `\w` `\s` and their negations), escapes, `(?:...)`
//! groups, `|`, the quantifiers `*` `+` `?` `{n}` `{n,}` `{n,m}` (greedy or lazy, which is the
//! same for a yes-or-no match), and the assertions `^` `$` `\b` `\B`. Refused as unsupported:
//! backreferences (`\1`, `\k<name>`), lookaround (`(?=`, `(?!`, `(?<=`, `(?<!`), named groups
//! (`(?<name>`), modifiers (`(?i:`), Unicode property escapes (`\p{...}`), and the `v` flag's
//! class set operations (`[a--b]`, `[a&&b]`, nested classes, `\q{...}`). Anything else that is
//! not a valid `v`-flag expression is refused as invalid, as a browser would refuse it. Groups
//! nested more than [`MAX_NESTING`] deep are refused too, so that neither the parser nor the
//! automaton builder, both recursive, can run out of stack.

use super::UrlPatternError;

/// How deep `(?:...)` groups may nest in a custom group's regular expression.
pub(super) const MAX_NESTING: usize = 32;

/// A set of characters, as sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CharSet(pub(super) Vec<(char, char)>);

impl CharSet {
    pub(super) fn from_ranges(mut ranges: Vec<(char, char)>) -> CharSet {
        ranges.sort_unstable();
        let mut merged: Vec<(char, char)> = Vec::with_capacity(ranges.len());
        for (low, high) in ranges {
            match merged.last_mut() {
                Some((_, last_high)) if u32::from(low) <= u32::from(*last_high).saturating_add(1) => {
                    *last_high = (*last_high).max(high);
                }
                _ => merged.push((low, high)),
            }
        }
        CharSet(merged)
    }

    pub(super) fn single(c: char) -> CharSet {
        CharSet(vec![(c, c)])
    }

    /// Every character but those in `self`.
    pub(super) fn negated(&self) -> CharSet {
        let mut ranges = Vec::new();
        let mut next = Some('\0');
        for &(low, high) in &self.0 {
            if let Some(start) = next {
                if start < low {
                    ranges.push((start, before(low)));
                }
            }
            next = after(high);
        }
        if let Some(start) = next {
            ranges.push((start, char::MAX));
        }
        CharSet(ranges)
    }

    pub(super) fn contains(&self, c: char) -> bool {
        self.0
            .binary_search_by(|&(low, high)| {
                if high < c {
                    std::cmp::Ordering::Less
                } else if low > c {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
    }

    /// Every character but a line terminator: what `.` matches.
    pub(super) fn dot() -> CharSet {
        CharSet::from_ranges(vec![('\n', '\n'), ('\r', '\r'), ('\u{2028}', '\u{2029}')]).negated()
    }

    fn digit() -> CharSet {
        CharSet(vec![('0', '9')])
    }

    pub(super) fn word() -> CharSet {
        CharSet::from_ranges(vec![('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')])
    }

    fn space() -> CharSet {
        // JavaScript's WhiteSpace and LineTerminator: the Zs category, tab, vertical tab, form
        // feed, no-break space, the byte-order mark, LF, CR and the two Unicode line separators.
        CharSet::from_ranges(vec![
            ('\t', '\r'),
            (' ', ' '),
            ('\u{a0}', '\u{a0}'),
            ('\u{1680}', '\u{1680}'),
            ('\u{2000}', '\u{200a}'),
            ('\u{2028}', '\u{2029}'),
            ('\u{202f}', '\u{202f}'),
            ('\u{205f}', '\u{205f}'),
            ('\u{3000}', '\u{3000}'),
            ('\u{feff}', '\u{feff}'),
        ])
    }
}

/// The character before `c`, skipping the surrogate gap (`c` is never `'\0'` here).
fn before(c: char) -> char {
    match c {
        '\u{e000}' => '\u{d7ff}',
        _ => char::from_u32(u32::from(c) - 1).unwrap_or('\0'),
    }
}

/// The character after `c`, skipping the surrogate gap; `None` after the last one.
fn after(c: char) -> Option<char> {
    match c {
        '\u{d7ff}' => Some('\u{e000}'),
        char::MAX => None,
        _ => char::from_u32(u32::from(c) + 1),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Assertion {
    /// `^`: the start of the component.
    Start,
    /// `$`: the end of the component.
    End,
    /// `\b`: between a word character and something else.
    WordBoundary,
    /// `\B`
    NotWordBoundary,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Node {
    /// Matches the empty string.
    Empty,
    /// One character from the set.
    Set(CharSet),
    Concat(Vec<Node>),
    Alternate(Vec<Node>),
    /// `min` to `max` (no limit when `None`) repetitions.
    Repeat {
        node: Box<Node>,
        min: u32,
        max: Option<u32>,
    },
    Assert(Assertion),
}

impl Node {
    /// The text, character for character.
    pub(super) fn literal(text: &str) -> Node {
        Node::Concat(text.chars().map(|c| Node::Set(CharSet::single(c))).collect())
    }

    pub(super) fn repeat(self, min: u32, max: Option<u32>) -> Node {
        Node::Repeat { node: Box::new(self), min, max }
    }
}

fn invalid(reason: &str) -> UrlPatternError {
    UrlPatternError::InvalidRegexp { reason: reason.to_string() }
}

fn unsupported(feature: &'static str) -> UrlPatternError {
    UrlPatternError::Unsupported { feature }
}

/// Parses the regular expression of a custom group (what is between its parentheses).
pub(super) fn parse_regexp(source: &str) -> Result<Node, UrlPatternError> {
    let mut parser = RegexpParser { chars: source.chars().collect(), at: 0, depth: 0 };
    let node = parser.disjunction()?;
    if parser.at != parser.chars.len() {
        return Err(invalid("unbalanced `)`"));
    }
    Ok(node)
}

struct RegexpParser {
    chars: Vec<char>,
    at: usize,
    /// How many groups the parser is inside.
    depth: usize,
}

impl RegexpParser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.at + offset).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        let matched = self.peek() == Some(c);
        if matched {
            self.at += 1;
        }
        matched
    }

    fn disjunction(&mut self) -> Result<Node, UrlPatternError> {
        let mut alternatives = vec![self.alternative()?];
        while self.eat('|') {
            alternatives.push(self.alternative()?);
        }
        Ok(if alternatives.len() == 1 { alternatives.remove(0) } else { Node::Alternate(alternatives) })
    }

    fn alternative(&mut self) -> Result<Node, UrlPatternError> {
        let mut terms = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            terms.push(self.term()?);
        }
        Ok(match terms.len() {
            0 => Node::Empty,
            1 => terms.remove(0),
            _ => Node::Concat(terms),
        })
    }

    fn term(&mut self) -> Result<Node, UrlPatternError> {
        let assertion = match self.peek() {
            Some('^') => Some(Assertion::Start),
            Some('$') => Some(Assertion::End),
            Some('\\') if self.peek_at(1) == Some('b') => Some(Assertion::WordBoundary),
            Some('\\') if self.peek_at(1) == Some('B') => Some(Assertion::NotWordBoundary),
            _ => None,
        };
        if let Some(assertion) = assertion {
            self.at += if matches!(assertion, Assertion::Start | Assertion::End) { 1 } else { 2 };
            if matches!(self.peek(), Some('*' | '+' | '?' | '{')) {
                return Err(invalid("an assertion cannot be repeated"));
            }
            return Ok(Node::Assert(assertion));
        }
        let atom = self.atom()?;
        self.quantified(atom)
    }

    fn quantified(&mut self, atom: Node) -> Result<Node, UrlPatternError> {
        let (min, max) = match self.peek() {
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('?') => (0, Some(1)),
            Some('{') => {
                self.at += 1;
                let min =
                    self.number().ok_or_else(|| invalid("a `{` must start a repetition count such as `{2,5}`"))?;
                let max = if self.eat(',') {
                    if self.peek() == Some('}') {
                        None
                    } else {
                        Some(self.number().ok_or_else(|| invalid("bad repetition count"))?)
                    }
                } else {
                    Some(min)
                };
                if self.peek() != Some('}') {
                    return Err(invalid("a repetition count must end with `}`"));
                }
                if max.is_some_and(|max| max < min) {
                    return Err(invalid("a repetition count `{n,m}` needs n <= m"));
                }
                (min, max)
            }
            _ => return Ok(atom),
        };
        self.at += 1;
        // A lazy quantifier (`+?`) matches the same strings as a greedy one.
        self.eat('?');
        if matches!(self.peek(), Some('*' | '+' | '?' | '{')) {
            return Err(invalid("nothing to repeat"));
        }
        Ok(atom.repeat(min, max))
    }

    /// Decimal digits, saturating: a count too large for the automaton is refused later, by size.
    fn number(&mut self) -> Option<u32> {
        let start = self.at;
        let mut value: u32 = 0;
        while let Some(digit) = self.peek().and_then(|c| c.to_digit(10)) {
            value = value.saturating_mul(10).saturating_add(digit);
            self.at += 1;
        }
        (self.at > start).then_some(value)
    }

    fn atom(&mut self) -> Result<Node, UrlPatternError> {
        let Some(c) = self.peek() else { return Err(invalid("unexpected end")) };
        self.at += 1;
        match c {
            '.' => Ok(Node::Set(CharSet::dot())),
            '(' => {
                // The tokenizer let through only groups that start with `(?`.
                if !(self.eat('?') && self.eat(':')) {
                    return Err(match (self.peek(), self.peek_at(1)) {
                        (Some('=' | '!'), _) | (Some('<'), Some('=' | '!')) => {
                            unsupported("lookaround `(?=`, `(?!`, `(?<=`, `(?<!` in a regular expression group")
                        }
                        (Some('<'), _) => unsupported("named groups `(?<name>...)` inside a regular expression group"),
                        _ => unsupported("group modifiers such as `(?i:...)` in a regular expression group"),
                    });
                }
                if self.depth == MAX_NESTING {
                    return Err(unsupported("regular expression groups nested more than 32 deep"));
                }
                self.depth += 1;
                let inner = self.disjunction()?;
                self.depth -= 1;
                if !self.eat(')') {
                    return Err(invalid("a `(` is not closed"));
                }
                Ok(inner)
            }
            '[' => self.class(),
            '\\' => self.atom_escape(),
            '*' | '+' | '?' => Err(invalid("nothing to repeat")),
            '{' | '}' | ']' | ')' => Err(invalid("a `{`, `}`, `]` or `)` must be escaped")),
            _ => Ok(Node::Set(CharSet::single(c))),
        }
    }

    fn atom_escape(&mut self) -> Result<Node, UrlPatternError> {
        let Some(c) = self.peek() else { return Err(invalid("a `\\` at the end escapes nothing")) };
        if let Some(set) = self.class_escape()? {
            return Ok(Node::Set(set));
        }
        if c.is_ascii_digit() && c != '0' {
            return Err(unsupported("backreferences (`\\1`) in a regular expression group"));
        }
        if c == 'k' {
            return Err(unsupported("named backreferences (`\\k<name>`) in a regular expression group"));
        }
        let escaped = self.character_escape(false)?;
        Ok(Node::Set(CharSet::single(escaped)))
    }

    /// `\d \D \w \W \s \S` after a `\`, consumed; `\p{...}` is refused.
    fn class_escape(&mut self) -> Result<Option<CharSet>, UrlPatternError> {
        let set = match self.peek() {
            Some('d') => CharSet::digit(),
            Some('D') => CharSet::digit().negated(),
            Some('w') => CharSet::word(),
            Some('W') => CharSet::word().negated(),
            Some('s') => CharSet::space(),
            Some('S') => CharSet::space().negated(),
            Some('p' | 'P') => {
                return Err(unsupported("Unicode property escapes (`\\p{...}`) in a regular expression group"))
            }
            _ => return Ok(None),
        };
        self.at += 1;
        Ok(Some(set))
    }

    /// The character a `\x` escape stands for (after the `\`), consumed. Inside a class, `\b`
    /// is a backspace and the class punctuators may be escaped too.
    fn character_escape(&mut self, in_class: bool) -> Result<char, UrlPatternError> {
        let Some(c) = self.peek() else { return Err(invalid("a `\\` at the end escapes nothing")) };
        self.at += 1;
        let control = match c {
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{b}'),
            'b' if in_class => Some('\u{8}'),
            '0' if !self.peek().is_some_and(|d| d.is_ascii_digit()) => Some('\0'),
            _ => None,
        };
        if let Some(control) = control {
            return Ok(control);
        }
        match c {
            'c' => {
                let letter = self
                    .peek()
                    .filter(char::is_ascii_alphabetic)
                    .ok_or_else(|| invalid("`\\c` must be followed by a letter"))?;
                self.at += 1;
                Ok(char::from(letter as u8 % 32))
            }
            'x' => self.hex_digits(2).ok_or_else(|| invalid("`\\x` must be followed by two hex digits")),
            'u' => self.unicode_escape(),
            '^' | '$' | '\\' | '.' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|' | '/' => Ok(c),
            '&' | '-' | '!' | '#' | '%' | ',' | ':' | ';' | '<' | '=' | '>' | '@' | '`' | '~' if in_class => Ok(c),
            _ => Err(invalid("an escape that is not valid with the `v` flag (only syntax characters may be escaped)")),
        }
    }

    fn hex_digits(&mut self, count: usize) -> Option<char> {
        let digits: String = self.chars.get(self.at..self.at + count)?.iter().collect();
        let value = u32::from_str_radix(&digits, 16).ok().filter(|_| digits.chars().all(|c| c.is_ascii_hexdigit()))?;
        self.at += count;
        char::from_u32(value)
    }

    /// `\uHHHH` (a surrogate pair `\uD83D\uDEB2` is one character) or `\u{H...}`.
    fn unicode_escape(&mut self) -> Result<char, UrlPatternError> {
        if self.eat('{') {
            let start = self.at;
            while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                self.at += 1;
            }
            let digits: String = self.chars[start..self.at].iter().collect();
            if !self.eat('}') || digits.is_empty() {
                return Err(invalid("`\\u{` must be followed by hex digits and `}`"));
            }
            let value = u32::from_str_radix(&digits, 16).map_err(|_| invalid("`\\u{...}` is past U+10FFFF"))?;
            return char::from_u32(value)
                .ok_or_else(|| unsupported("lone surrogates (`\\u{D800}`) in a regular expression group"));
        }
        let start = self.at;
        let high = self.chars.get(start..start + 4).map(|d| d.iter().collect::<String>());
        let Some(high) = high
            .and_then(|d| d.chars().all(|c| c.is_ascii_hexdigit()).then(|| u32::from_str_radix(&d, 16).ok()).flatten())
        else {
            return Err(invalid("`\\u` must be followed by four hex digits or `{...}`"));
        };
        self.at += 4;
        if (0xd800..0xdc00).contains(&high) && self.peek() == Some('\\') && self.peek_at(1) == Some('u') {
            let low_digits: Option<String> = self.chars.get(self.at + 2..self.at + 6).map(|d| d.iter().collect());
            if let Some(low) =
                low_digits.and_then(|d| u32::from_str_radix(&d, 16).ok()).filter(|low| (0xdc00..0xe000).contains(low))
            {
                self.at += 6;
                return char::from_u32(0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00))
                    .ok_or_else(|| invalid("bad surrogate pair"));
            }
        }
        char::from_u32(high).ok_or_else(|| unsupported("lone surrogates (`\\uD800`) in a regular expression group"))
    }

    /// A class, after its `[`: a union of characters, ranges and class escapes.
    fn class(&mut self) -> Result<Node, UrlPatternError> {
        let negated = self.eat('^');
        let mut ranges: Vec<(char, char)> = Vec::new();
        loop {
            let Some(c) = self.peek() else { return Err(invalid("a `[` class is not closed")) };
            if c == ']' {
                self.at += 1;
                break;
            }
            if c == '[' || (c == '\\' && self.peek_at(1) == Some('q')) {
                return Err(unsupported(
                    "nested classes and `\\q{...}` (the `v` flag's set notation) in a regular expression group",
                ));
            }
            self.refuse_set_operation()?;
            let low = if c == '\\' {
                self.at += 1;
                if let Some(set) = self.class_escape()? {
                    self.refuse_set_operation()?;
                    if self.peek() == Some('-') {
                        return Err(invalid("a class escape such as `\\d` cannot start a range"));
                    }
                    ranges.extend(set.0);
                    continue;
                }
                self.character_escape(true)?
            } else {
                self.class_set_character(c)?
            };
            self.refuse_set_operation()?;
            if !self.eat('-') {
                ranges.push((low, low));
                continue;
            }
            let high = match self.peek() {
                None => return Err(invalid("a `[` class is not closed")),
                Some('\\') => {
                    self.at += 1;
                    if matches!(self.peek(), Some('d' | 'D' | 'w' | 'W' | 's' | 'S' | 'p' | 'P')) {
                        return Err(invalid("a class escape such as `\\d` cannot end a range"));
                    }
                    self.character_escape(true)?
                }
                Some(next) => self.class_set_character(next)?,
            };
            if high < low {
                return Err(invalid("a range `[z-a]` is out of order"));
            }
            ranges.push((low, high));
        }
        let set = CharSet::from_ranges(ranges);
        Ok(Node::Set(if negated { set.negated() } else { set }))
    }

    /// Refuses `--` and `&&` at the parser's position: valid with the `v` flag, not supported.
    fn refuse_set_operation(&self) -> Result<(), UrlPatternError> {
        match (self.peek(), self.peek_at(1)) {
            (Some('-'), Some('-')) | (Some('&'), Some('&')) => Err(unsupported(
                "class subtraction `--` and intersection `&&` (the `v` flag's set operations) in a regular expression group",
            )),
            _ => Ok(()),
        }
    }

    /// One unescaped character of a class, `c`, consumed.
    fn class_set_character(&mut self, c: char) -> Result<char, UrlPatternError> {
        if "()[]{}/-|".contains(c) {
            return Err(invalid("`( ) [ ] { } / - |` must be escaped in a class with the `v` flag"));
        }
        if "&!#$%*+,.:;<=>?@^`~".contains(c) && self.peek_at(1) == Some(c) {
            return Err(invalid("a doubled punctuator such as `..` is reserved in a class with the `v` flag"));
        }
        self.at += 1;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_sets() {
        let set = CharSet::from_ranges(vec![('a', 'c'), ('b', 'f'), ('h', 'h'), ('g', 'g')]);
        assert_eq!(set.0, vec![('a', 'h')]);
        let not_slash = CharSet::single('/').negated();
        assert!(
            not_slash.contains('a')
                && not_slash.contains('\0')
                && not_slash.contains(char::MAX)
                && !not_slash.contains('/')
        );
        assert_eq!(CharSet::single('\u{d7ff}').negated().0, vec![('\0', '\u{d7fe}'), ('\u{e000}', char::MAX)]);
        assert!(!CharSet::dot().contains('\n') && CharSet::dot().contains('é'));
        assert_eq!(CharSet(Vec::new()).negated().negated().0, Vec::new());
    }

    #[test]
    fn supported_syntax_parses() {
        for source in [
            "\\d+",
            "[0-9]+",
            "[^\\/]+?",
            "blank|sourcedoc",
            "sub(?:.)",
            "a{2}b{1,}c{0,3}?",
            "\\x41\\u0042\\u{43}\\uD83D\\uDEB2",
            "[\\-\\]a-z_\\d]",
            "^a$\\b\\B",
            "[]",
            "[^]",
            "\\/\\.\\*",
            "\\cJ\\0\\t",
        ] {
            assert!(parse_regexp(source).is_ok(), "{source}: {:?}", parse_regexp(source));
        }
    }

    #[test]
    fn unsupported_features_are_named() {
        for source in [
            "(?=a)",
            "(?!a)",
            "(?<=a)",
            "(?<!a)",
            "(?<n>a)",
            "(?i:a)",
            "\\1",
            "\\k<n>",
            "\\p{L}",
            "[[a-z]--a]",
            "[\\d&&[0-1]]",
            "[a--b]",
            "[\\q{ab}]",
            "\\uD800",
        ] {
            assert!(
                matches!(parse_regexp(source), Err(UrlPatternError::Unsupported { .. })),
                "{source}: {:?}",
                parse_regexp(source)
            );
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let nested = |depth: usize| format!("{}a{}", "(?:".repeat(depth), ")".repeat(depth));
        assert!(parse_regexp(&nested(MAX_NESTING)).is_ok());
        assert!(matches!(parse_regexp(&nested(MAX_NESTING + 1)), Err(UrlPatternError::Unsupported { .. })));
        assert!(
            matches!(parse_regexp(&nested(100_000)), Err(UrlPatternError::Unsupported { .. })),
            "no stack overflow"
        );
    }

    #[test]
    fn invalid_expressions_are_refused() {
        for source in [
            "\\m", "a**", "*", "a{2,1}", "{", "a}", "]", "[a", "[a-]", "[-a]", "[z-a]", "[(]", "[a..]", "\\", "\\x4",
            "\\u12", "\\c1", "^*", "a)", "[\\d-z]", "\\-", "\\01",
        ] {
            assert!(
                matches!(parse_regexp(source), Err(UrlPatternError::InvalidRegexp { .. })),
                "{source}: {:?}",
                parse_regexp(source)
            );
        }
    }
}
