//! The pattern tokenizer: a pattern string becomes `{`, `}`, `(regexp)`, `:name`, plain and
//! escaped characters, modifiers and `*`. The constructor-string parser reads the tokens
//! leniently (a stray `:` is just a character there); a component's pattern reads them strictly.
//!
//! Positions are in characters (code points), as in the standard, not bytes.

use super::UrlPatternError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenKind {
    /// `{`
    Open,
    /// `}`
    Close,
    /// `(...)`: the value is what is inside the parentheses.
    Regexp,
    /// `:name`: the value is the name.
    Name,
    /// A character with no meaning in the pattern syntax.
    Char,
    /// `\x`: the value is `x`.
    EscapedChar,
    /// `?` or `+`.
    OtherModifier,
    /// `*`: a wildcard, or a modifier after a group.
    Asterisk,
    /// The end of the input.
    End,
    /// What the lenient policy makes of a tokenizing error.
    InvalidChar,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Token {
    pub(super) kind: TokenKind,
    /// Where the token starts in the input, in characters.
    pub(super) index: usize,
    pub(super) value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Policy {
    /// A tokenizing error is an error.
    Strict,
    /// A tokenizing error becomes an [`TokenKind::InvalidChar`] token.
    Lenient,
}

/// Whether `c` may start a group name. Names are JavaScript identifiers; this crate takes their
/// ASCII part (letters, `$`, `_`), and [`tokenize`] refuses a non-ASCII character where a name
/// could go on, since telling which of those are identifier characters needs Unicode tables.
fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '$' || c == '_'
}

fn is_name_part(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit()
}

/// Whether `c` is a name character, for the pattern-string writer (which only sees ASCII).
pub(super) fn is_valid_name_code_point(c: char, first: bool) -> bool {
    if first {
        is_name_start(c)
    } else {
        is_name_part(c)
    }
}

pub(super) fn tokenize(input: &[char], policy: Policy) -> Result<Vec<Token>, UrlPatternError> {
    let mut tokens = Vec::new();
    let mut index = 0;
    let error = |tokens: &mut Vec<Token>, from: usize, to: usize, reason: &str| {
        if policy == Policy::Strict {
            return Err(UrlPatternError::Syntax { component: None, reason: reason.to_string() });
        }
        tokens.push(Token { kind: TokenKind::InvalidChar, index: from, value: input[from..to].iter().collect() });
        Ok(())
    };
    while index < input.len() {
        let c = input[index];
        let simple = |kind| Token { kind, index, value: c.to_string() };
        match c {
            '*' => tokens.push(simple(TokenKind::Asterisk)),
            '+' | '?' => tokens.push(simple(TokenKind::OtherModifier)),
            '{' => tokens.push(simple(TokenKind::Open)),
            '}' => tokens.push(simple(TokenKind::Close)),
            '\\' => {
                let Some(&escaped) = input.get(index + 1) else {
                    error(&mut tokens, index, index + 1, "a `\\` at the end of the pattern escapes nothing")?;
                    index += 1;
                    continue;
                };
                tokens.push(Token { kind: TokenKind::EscapedChar, index, value: escaped.to_string() });
                index += 2;
                continue;
            }
            ':' => {
                let start = index + 1;
                let mut end = start;
                while let Some(&next) = input.get(end) {
                    if !next.is_ascii() {
                        return Err(UrlPatternError::Unsupported {
                            feature: "a non-ASCII character in or right after a group name (`:name`)",
                        });
                    }
                    if !is_valid_name_code_point(next, end == start) {
                        break;
                    }
                    end += 1;
                }
                if end == start {
                    error(&mut tokens, index, start, "a `:` must start a group name (or be escaped as `\\:`)")?;
                    index = start;
                    continue;
                }
                tokens.push(Token { kind: TokenKind::Name, index, value: input[start..end].iter().collect() });
                index = end;
                continue;
            }
            '(' => match regexp_end(input, index) {
                Ok(end) => {
                    tokens.push(Token {
                        kind: TokenKind::Regexp,
                        index,
                        value: input[index + 1..end - 1].iter().collect(),
                    });
                    index = end;
                    continue;
                }
                Err(reason) => {
                    error(&mut tokens, index, index + 1, reason)?;
                    index += 1;
                    continue;
                }
            },
            _ => tokens.push(simple(TokenKind::Char)),
        }
        index += 1;
    }
    tokens.push(Token { kind: TokenKind::End, index: input.len(), value: String::new() });
    Ok(tokens)
}

/// Where the regexp group opened at `open` ends (just past its `)`), or why it is not one: it must
/// be ASCII, not empty, not start with `?`, and any group inside it must start with `(?`.
fn regexp_end(input: &[char], open: usize) -> Result<usize, &'static str> {
    let mut depth = 1;
    let mut position = open + 1;
    while position < input.len() {
        let c = input[position];
        if !c.is_ascii() {
            return Err("a regular expression group `(...)` must be ASCII");
        }
        if position == open + 1 && c == '?' {
            return Err("a regular expression group cannot start with `?`");
        }
        match c {
            '\\' => {
                match input.get(position + 1) {
                    Some(escaped) if escaped.is_ascii() => {}
                    _ => return Err("a `\\` in a regular expression group must escape an ASCII character"),
                }
                position += 2;
                continue;
            }
            ')' => {
                depth -= 1;
                if depth == 0 {
                    position += 1;
                    break;
                }
            }
            '(' => {
                depth += 1;
                if input.get(position + 1) != Some(&'?') {
                    return Err("a group inside a regular expression group must be `(?:...)`");
                }
            }
            _ => {}
        }
        position += 1;
    }
    if depth != 0 {
        return Err("a regular expression group `(` is not closed");
    }
    if position - open == 2 {
        return Err("a regular expression group `()` cannot be empty");
    }
    Ok(position)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(input: &str, policy: Policy) -> Vec<(TokenKind, String)> {
        let chars: Vec<char> = input.chars().collect();
        tokenize(&chars, policy).unwrap().into_iter().map(|t| (t.kind, t.value)).collect()
    }

    #[test]
    fn every_token_kind() {
        use TokenKind::*;
        let tokens = kinds("/:id(\\d+)?{a}*\\:+", Policy::Strict);
        let expected = [
            (Char, "/"),
            (Name, "id"),
            (Regexp, "\\d+"),
            (OtherModifier, "?"),
            (Open, "{"),
            (Char, "a"),
            (Close, "}"),
            (Asterisk, "*"),
            (EscapedChar, ":"),
            (OtherModifier, "+"),
            (End, ""),
        ];
        let expected: Vec<(TokenKind, String)> = expected.iter().map(|(k, v)| (*k, v.to_string())).collect();
        assert_eq!(tokens, expected);
    }

    #[test]
    fn strict_errors_and_lenient_invalid_chars() {
        for bad in ["\\", ":", "a:/", "(", "()", "(?x)", "(a(b))", "(é)", "(a", "(\\é)"] {
            let chars: Vec<char> = bad.chars().collect();
            assert!(tokenize(&chars, Policy::Strict).is_err(), "{bad:?}");
            assert!(
                tokenize(&chars, Policy::Lenient).unwrap().iter().any(|t| t.kind == TokenKind::InvalidChar),
                "{bad:?}"
            );
        }
        assert_eq!(kinds("a:8", Policy::Lenient)[1], (TokenKind::InvalidChar, ":".to_string()));
        assert_eq!(kinds("(a(?:b))", Policy::Strict)[0], (TokenKind::Regexp, "a(?:b)".to_string()));
    }

    #[test]
    fn non_ascii_names_are_refused_not_misread() {
        for input in [":café", ":é", "/:a\u{e0100}b"] {
            let chars: Vec<char> = input.chars().collect();
            assert!(matches!(tokenize(&chars, Policy::Lenient), Err(UrlPatternError::Unsupported { .. })), "{input}");
        }
        assert_eq!(kinds("é:a", Policy::Strict)[0], (TokenKind::Char, "é".to_string()));
    }
}
