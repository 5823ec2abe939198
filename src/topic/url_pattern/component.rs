//! One compiled component (protocol, hostname, pathname, ...): its normalized pattern string and
//! what matches it. The parts become the regular expression the standard describes, built as a
//! syntax tree and compiled to an automaton, with two shortcuts for the most common components:
//! `*` matches anything, and a component of fixed text is a string comparison.

use super::nfa::Nfa;
use super::parts::{generate_pattern_string, parse_pattern_string, Encoder, Modifier, Options, Part, PartKind};
use super::regexp::{parse_regexp, CharSet, Node};
use super::UrlPatternError;

#[derive(Debug, Clone)]
pub(super) struct Component {
    /// The normalized pattern string, as the standard's getters return it.
    pub(super) pattern: String,
    matcher: Matcher,
    /// How many parts (groups, optional text) the pattern has, what the part limit counts; none
    /// for `*` alone, which costs nothing to match.
    pub(super) parts: usize,
}

#[derive(Debug, Clone)]
enum Matcher {
    /// `*`: every value matches. Components of a parsed URL never hold a line break, the one
    /// thing `*` (the regular expression `.*`) would not match.
    Anything,
    /// Fixed text only: the value must be this text.
    Exact(String),
    Automaton(Nfa),
}

impl Component {
    /// Compiles a component's pattern string, whose fixed text `encode` canonicalizes, into an
    /// automaton of at most `max_states` states.
    pub(super) fn compile(
        input: &str,
        encode: Encoder<'_>,
        options: Options,
        max_states: usize,
    ) -> Result<Component, UrlPatternError> {
        let parts = parse_pattern_string(input, options, encode)?;
        let pattern = generate_pattern_string(&parts, options);
        let counted =
            parts.iter().filter(|part| part.kind != PartKind::FixedText || part.modifier != Modifier::None).count();
        let matcher = match parts.as_slice() {
            [Part { kind: PartKind::FullWildcard, modifier: Modifier::None, prefix, suffix, .. }]
                if prefix.is_empty() && suffix.is_empty() =>
            {
                Matcher::Anything
            }
            _ if counted == 0 => Matcher::Exact(parts.iter().map(|part| part.value.as_str()).collect()),
            _ => {
                let nodes = parts.iter().map(|part| part_node(part, options)).collect::<Result<Vec<_>, _>>()?;
                Matcher::Automaton(Nfa::compile(&Node::Concat(nodes), max_states)?)
            }
        };
        let parts = if matches!(matcher, Matcher::Anything) { 0 } else { counted };
        Ok(Component { pattern, matcher, parts })
    }

    /// How many automaton states the component took (none for the two shortcuts).
    pub(super) fn states(&self) -> usize {
        match &self.matcher {
            Matcher::Automaton(nfa) => nfa.len(),
            _ => 0,
        }
    }

    pub(super) fn matches(&self, value: &str, steps: &mut u64) -> bool {
        match &self.matcher {
            Matcher::Anything => true,
            Matcher::Exact(text) => text == value,
            Matcher::Automaton(nfa) => nfa.is_match_counting(value, steps),
        }
    }
}

/// The regular expression the standard generates for one part, as a syntax tree.
fn part_node(part: &Part, options: Options) -> Result<Node, UrlPatternError> {
    let repeat = |node: Node, modifier: Modifier| match modifier {
        Modifier::None => node,
        Modifier::Optional => node.repeat(0, Some(1)),
        Modifier::ZeroOrMore => node.repeat(0, None),
        Modifier::OneOrMore => node.repeat(1, None),
    };
    if part.kind == PartKind::FixedText {
        return Ok(repeat(Node::literal(&part.value), part.modifier));
    }
    let value = match part.kind {
        // `[^<delimiter>]+?`: one or more characters up to the delimiter (any character at all
        // when the component has none).
        PartKind::SegmentWildcard => {
            let set = options
                .delimiter
                .map_or_else(|| CharSet(Vec::new()).negated(), |delimiter| CharSet::single(delimiter).negated());
            Node::Set(set).repeat(1, None)
        }
        PartKind::FullWildcard => Node::Set(CharSet::dot()).repeat(0, None),
        _ => parse_regexp(&part.value)?,
    };
    let (prefix, suffix) = (Node::literal(&part.prefix), Node::literal(&part.suffix));
    Ok(match part.modifier {
        // `(?:<prefix>(<value>)<suffix>)<modifier>`
        Modifier::None | Modifier::Optional => repeat(Node::Concat(vec![prefix, value, suffix]), part.modifier),
        // Without prefix or suffix, `((?:<value>)<modifier>)`.
        _ if part.prefix.is_empty() && part.suffix.is_empty() => repeat(value, part.modifier),
        // `(?:<prefix>((?:<value>)(?:<suffix><prefix>(?:<value>))*)<suffix>)`, then `?` for `*`:
        // the prefix and suffix go between repetitions, not around each.
        _ => {
            let repeated = Node::Concat(vec![suffix.clone(), prefix.clone(), value.clone()]).repeat(0, None);
            let once_or_more = Node::Concat(vec![prefix, value, repeated, suffix]);
            if part.modifier == Modifier::ZeroOrMore {
                once_or_more.repeat(0, Some(1))
            } else {
                once_or_more
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(text: &str) -> Result<String, UrlPatternError> {
        Ok(text.to_string())
    }

    fn compile(pattern: &str, options: Options) -> Component {
        Component::compile(pattern, &identity, options, 10_000).unwrap()
    }

    fn matches(pattern: &str, options: Options, value: &str) -> bool {
        compile(pattern, options).matches(value, &mut 0)
    }

    #[test]
    fn shortcuts() {
        assert!(matches!(compile("*", Options::DEFAULT).matcher, Matcher::Anything));
        assert!(matches!(compile("(.*)", Options::DEFAULT).matcher, Matcher::Anything));
        assert!(matches!(compile("/a{/b}", Options::PATHNAME).matcher, Matcher::Exact(ref text) if text == "/a/b"));
        assert!(matches!(compile("", Options::PATHNAME).matcher, Matcher::Exact(ref text) if text.is_empty()));
        assert!(matches!(compile("*?", Options::DEFAULT).matcher, Matcher::Automaton(_)));
        assert_eq!(compile("/:a/*/{x}?", Options::PATHNAME).parts, 3);
        assert_eq!(compile("*", Options::DEFAULT).parts, 0);
    }

    #[test]
    fn pathname_groups() {
        let o = Options::PATHNAME;
        assert!(
            matches("/books/:id", o, "/books/1")
                && !matches("/books/:id", o, "/books/1/2")
                && !matches("/books/:id", o, "/books/")
        );
        assert!(
            matches("/foo/:bar?", o, "/foo")
                && matches("/foo/:bar?", o, "/foo/x")
                && !matches("/foo/:bar?", o, "/foo/")
        );
        assert!(matches("/foo/:bar+", o, "/foo/a/b") && !matches("/foo/:bar+", o, "/foo"));
        assert!(
            matches("/foo/:bar*", o, "/foo")
                && matches("/foo/:bar*", o, "/foo/a/b")
                && !matches("/foo/:bar*", o, "/foobar")
        );
        assert!(matches("/foo{/bar}*", o, "/foo/bar/bar") && !matches("/foo{/bar}*", o, "/foo/bar/baz"));
        let between = "{x(\\d+)-}+";
        assert!(
            matches(between, o, "x1-x2-") && !matches(between, o, "x1-2-") && !matches(between, o, "x1-x2"),
            "prefix and suffix go between repetitions"
        );
        assert!(matches("*/*", o, "foo/bar") && !matches("*//*", o, "foo/bar"));
    }

    #[test]
    fn hostname_and_default_delimiters() {
        assert!(matches("{:sub.}?example.com", Options::HOSTNAME, "example.com"));
        assert!(matches("{:sub.}?example.com", Options::HOSTNAME, "a.example.com"));
        assert!(!matches("{:sub.}?example.com", Options::HOSTNAME, "a.b.example.com"));
        assert!(matches("{*.}?example.com", Options::HOSTNAME, "a.b.example.com"));
        assert!(matches(":name", Options::DEFAULT, "a/b.c"), "no delimiter outside hostname and pathname");
        assert!(matches("http{s}?", Options::DEFAULT, "https") && matches("http{s}?", Options::DEFAULT, "http"));
    }

    #[test]
    fn custom_regexps() {
        let o = Options::PATHNAME;
        assert!(matches("/:id(\\d+)", o, "/42") && !matches("/:id(\\d+)", o, "/4a"));
        assert!(matches("(blank|sourcedoc)", Options::DEFAULT, "sourcedoc"));
        assert!(
            matches("/:id(\\d+)*", o, "/1/2/3") && matches("/:id(\\d+)*", o, "") && !matches("/:id(\\d+)*", o, "/1/x")
        );
    }
}
