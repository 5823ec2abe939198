//! Base64url without padding (RFC 4648 section 5, as RFC 7515 section 2 uses it): the encoding
//! of each part of a compact JWS.
//!
//! ```
//! use bare_sse::jwt::base64url;
//!
//! assert_eq!(base64url::encode(b"\xfb\xff"), "-_8");
//! assert_eq!(base64url::decode("-_8").unwrap(), b"\xfb\xff");
//! assert!(base64url::decode("-_8=").is_err()); // no padding
//! assert!(base64url::decode("-_9").is_err()); // the last character's unused bits must be 0
//! ```
//!
//! Decoding is strict, so that one byte string has exactly one encoding and a token cannot be
//! altered without changing its signed bytes: padding (`=`), whitespace, the standard alphabet's
//! `+` and `/`, a length that no byte string encodes to (one character past a group of four),
//! and a last character whose unused low bits are not zero are all refused.

use std::fmt;

/// The 64 characters, in the order of the values they stand for.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Why a text is not unpadded base64url, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset in the text where the problem was found.
    pub position: usize,
    /// What is wrong.
    pub reason: &'static str,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid base64url at byte {}: {}", self.position, self.reason)
    }
}

impl std::error::Error for DecodeError {}

/// `bytes` in base64url, without padding.
pub fn encode(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        // Up to 24 bits, most significant first; a short group leaves zeros in its low bits.
        let bits = group.iter().enumerate().fold(0u32, |bits, (i, &byte)| bits | u32::from(byte) << (16 - 8 * i));
        for sextet in 0..=group.len() {
            text.push(char::from(ALPHABET[(bits >> (18 - 6 * sextet)) as usize & 0x3f]));
        }
    }
    text
}

/// The bytes that `text` encodes in base64url, without padding.
///
/// # Errors
///
/// A [`DecodeError`] with the position of the first character that is not base64url (padding
/// and whitespace included), or for a length no encoding has, or trailing bits that are not zero.
pub fn decode(text: &str) -> Result<Vec<u8>, DecodeError> {
    let text = text.as_bytes();
    let mut bytes = Vec::with_capacity(text.len() / 4 * 3 + 2);
    for (group_index, group) in text.chunks(4).enumerate() {
        let mut bits = 0u32;
        for (i, &character) in group.iter().enumerate() {
            let position = group_index * 4 + i;
            let value = sextet(character).ok_or(DecodeError { position, reason: not_alphabet_reason(character) })?;
            bits |= u32::from(value) << (18 - 6 * i);
        }
        if group.len() == 1 {
            return Err(DecodeError {
                position: group_index * 4,
                reason: "one character past a group of four encodes no byte",
            });
        }
        // Two characters carry one byte and four spare bits, three carry two bytes and two spare
        // bits; canonical encodings leave the spare bits zero.
        let whole_bytes = group.len() - 1;
        if bits & (0xff_ffff >> (8 * whole_bytes)) != 0 {
            return Err(DecodeError {
                position: group_index * 4 + group.len() - 1,
                reason: "the last character has bits set past the end of the data (not canonical)",
            });
        }
        bytes.extend_from_slice(&bits.to_be_bytes()[1..1 + whole_bytes]);
    }
    Ok(bytes)
}

/// The value of a base64url character.
fn sextet(character: u8) -> Option<u8> {
    match character {
        b'A'..=b'Z' => Some(character - b'A'),
        b'a'..=b'z' => Some(character - b'a' + 26),
        b'0'..=b'9' => Some(character - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

/// A reason a user can act on for a character outside the alphabet.
fn not_alphabet_reason(character: u8) -> &'static str {
    match character {
        b'=' => "padding ('=') is not used in base64url here",
        b'+' | b'/' => "'+' and '/' belong to standard base64, not base64url ('-' and '_')",
        b' ' | b'\t' | b'\r' | b'\n' => "whitespace is not allowed",
        _ => "a character outside the base64url alphabet",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::SplitRng;

    /// RFC 4648 section 10, without padding (the same strings in base64url, since these use
    /// neither of the two characters in which the alphabets differ).
    const RFC_4648_VECTORS: [(&str, &str); 7] = [
        ("", ""),
        ("f", "Zg"),
        ("fo", "Zm8"),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg"),
        ("fooba", "Zm9vYmE"),
        ("foobar", "Zm9vYmFy"),
    ];

    #[test]
    fn rfc_4648_vectors_encode_and_decode() {
        for (data, encoded) in RFC_4648_VECTORS {
            assert_eq!(encode(data.as_bytes()), encoded);
            assert_eq!(decode(encoded).unwrap(), data.as_bytes());
        }
    }

    #[test]
    fn the_url_safe_characters_stand_for_62_and_63() {
        assert_eq!(encode(&[0xfb, 0xef, 0xbe]), "----");
        assert_eq!(encode(&[0xff, 0xff, 0xff]), "____");
        assert_eq!(decode("-_-_").unwrap(), [0xfb, 0xff, 0xbf]);
        // RFC 7515 appendix C's example: the octets 3, 236, 255, 224, 193.
        assert_eq!(encode(&[3, 236, 255, 224, 193]), "A-z_4ME");
        assert_eq!(decode("A-z_4ME").unwrap(), [3, 236, 255, 224, 193]);
    }

    #[test]
    fn every_byte_string_round_trips() {
        let mut rng = SplitRng::new(4648);
        let every_byte: Vec<u8> = (0..=255).collect();
        for _ in 0..500 {
            let bytes = rng.bytes(&every_byte, 40);
            let encoded = encode(&bytes);
            assert!(!encoded.contains('='));
            assert_eq!(decode(&encoded).unwrap(), bytes);
        }
    }

    #[test]
    fn padding_whitespace_and_other_alphabets_are_refused() {
        let refused = [
            ("Zg==", 2, "padding"),
            ("Zm8=", 3, "padding"),
            ("Zm9v\n", 4, "whitespace"),
            ("Zm9v\r\n", 4, "whitespace"),
            (" Zm9v", 0, "whitespace"),
            ("Zm 9v", 2, "whitespace"),
            ("Zm\t9", 2, "whitespace"),
            ("+/8", 0, "standard base64"),
            ("Zm9\u{e9}", 3, "outside"),
            ("Zm9v\0", 4, "outside"),
            ("Zm.v", 2, "outside"),
        ];
        for (text, position, reason) in refused {
            let error = decode(text).unwrap_err();
            assert_eq!(error.position, position, "{text:?}");
            assert!(error.reason.contains(reason), "{text:?}: {error}");
        }
    }

    #[test]
    fn a_length_that_encodes_nothing_is_refused() {
        for text in ["A", "Zm9vA", "Zm9vYmFyA"] {
            assert!(decode(text).unwrap_err().reason.contains("one character past"), "{text:?}");
        }
    }

    #[test]
    fn non_canonical_trailing_bits_are_refused() {
        // "Zg" is "f"; "Zh".."Zv" would decode to "f" too, with spare bits set.
        assert_eq!(decode("Zg").unwrap(), b"f");
        for last in "hijklmnopqrstuv".chars() {
            let text = format!("Z{last}");
            assert!(decode(&text).unwrap_err().reason.contains("not canonical"), "{text}");
        }
        // "Zm8" is "fo"; "Zm9" would be "fo" with its last spare bit set.
        assert_eq!(decode("Zm8").unwrap(), b"fo");
        for text in ["Zm9", "Zm-", "Zm_"] {
            assert!(decode(text).unwrap_err().reason.contains("not canonical"), "{text}");
        }
        // Across every value of the last character, exactly the canonical ones decode.
        for (length, canonical) in [(2, 4), (3, 16)] {
            let accepted = ALPHABET
                .iter()
                .filter(|&&last| {
                    let mut text = "AAA"[..length - 1].to_string();
                    text.push(char::from(last));
                    decode(&text).is_ok()
                })
                .count();
            assert_eq!(accepted, canonical, "length {length}");
        }
    }
}
