//! The character rule Mercure applies to every identifier a peer sends: topics, matcher values,
//! update ids and event types.
//!
//! Such a value must be UTF-8 (a Rust `str` always is) and hold no control character (C0
//! U+0000–U+001F, DEL U+007F, C1 U+0080–U+009F) and no Unicode *format* character (general
//! category `Cf`: soft hyphen, bidirectional and zero-width controls, tag characters, ...).
//! Format characters are invisible, so two topics that print the same could differ, and an
//! attacker could spoof one; control characters could break the event stream's lines.

/// Every code point of general category `Cf` (Unicode 16), as inclusive ranges in ascending order.
/// std has no character categories, and this list is small and stable.
const FORMAT_CHARACTERS: [(u32, u32); 21] = [
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// Whether `c` is a control character (C0, DEL or C1).
fn is_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
}

/// Whether `c` is a Unicode format character (general category `Cf`).
fn is_format(c: char) -> bool {
    let c = u32::from(c);
    let at = FORMAT_CHARACTERS.partition_point(|&(_, last)| last < c);
    FORMAT_CHARACTERS.get(at).is_some_and(|&(first, _)| first <= c)
}

/// Checks a value against the rule: `Err` names what is wrong with it.
pub(crate) fn check_identifier(value: &str) -> Result<(), &'static str> {
    match value.chars().find(|&c| is_control(c) || is_format(c)) {
        Some(c) if is_control(c) => Err("it contains a control character"),
        Some(_) => Err("it contains an invisible Unicode format character"),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_and_iris_pass() {
        for value in ["", "bar", "https://example.com/books/1", "urn:uuid:e1ee88e2", "café/ü/日本", "a b"] {
            assert_eq!(check_identifier(value), Ok(()), "{value:?}");
        }
    }

    #[test]
    fn every_control_character_is_refused() {
        for c in (0u32..0x20).chain(0x7f..0xa0).filter_map(char::from_u32) {
            assert!(check_identifier(&format!("a{c}b")).is_err(), "U+{:04X}", u32::from(c));
        }
        assert!(check_identifier("\u{a0}").is_ok(), "no-break space is a separator, not a control");
    }

    #[test]
    fn format_characters_are_refused_at_both_ends_of_every_range() {
        for (first, last) in FORMAT_CHARACTERS {
            for code in [first, last] {
                let c = char::from_u32(code).unwrap();
                assert!(check_identifier(&format!("x{c}")).is_err(), "U+{code:04X}");
            }
            for code in [first - 1, last + 1] {
                let c = char::from_u32(code).unwrap();
                if !is_control(c) && !FORMAT_CHARACTERS.iter().any(|&(a, b)| (a..=b).contains(&code)) {
                    assert!(check_identifier(&format!("x{c}")).is_ok(), "U+{code:04X} is not Cf");
                }
            }
        }
    }

    #[test]
    fn the_table_is_sorted_and_disjoint() {
        for pair in FORMAT_CHARACTERS.windows(2) {
            assert!(pair[0].0 <= pair[0].1 && pair[0].1 < pair[1].0, "{pair:?}");
        }
    }
}
