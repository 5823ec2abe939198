//! Hosts as the WHATWG URL Standard parses and writes them: domains (lowercased, and Punycode for
//! non-ASCII labels), IPv4 addresses in every form the standard accepts (`0x7f.1`, `2130706433`),
//! IPv6 addresses (written back in their compressed form), and the opaque hosts of non-special
//! schemes (`foo://Host/`, kept as written but percent-encoded).
//!
//! One deviation, for want of Unicode tables in the standard library: UTS 46's mapping (case
//! folding, compatibility mappings, NFC) is applied to ASCII only. A non-ASCII character that has
//! a lowercase form of its own (`É`, `Ω`) is refused, and any other is Punycode-encoded as it is.
//! That keeps the mapping one-to-one, so two hosts are equal here only when the standard makes
//! them equal too: what differs is that a host written with characters the standard would map
//! (`CAFÉ`, fullwidth or decomposed letters) fails to parse, which for topic matching means "does
//! not match", never a match the standard would not make.

use std::fmt::{self, Write};

use super::percent::{percent_decode, percent_encode_char, EncodeSet};

/// A parsed host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Host {
    /// A domain: ASCII, lowercase, never empty.
    Domain(String),
    /// An IPv4 address.
    Ipv4(u32),
    /// An IPv6 address, as its eight 16-bit pieces.
    Ipv6([u16; 8]),
    /// The host of a URL whose scheme is not special: ASCII, percent-encoded, never empty.
    Opaque(String),
    /// The empty host (`file:///`, `foo:///`).
    Empty,
}

/// The host could not be parsed: the URL that holds it is not a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HostError;

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(text) | Host::Opaque(text) => f.write_str(text),
            Host::Empty => Ok(()),
            Host::Ipv4(address) => {
                let [a, b, c, d] = address.to_be_bytes();
                write!(f, "{a}.{b}.{c}.{d}")
            }
            Host::Ipv6(pieces) => {
                f.write_char('[')?;
                write_ipv6(pieces, f)?;
                f.write_char(']')
            }
        }
    }
}

/// The host parser: `input` is what stands between the authority's `@` (or its start) and the
/// port or path. `is_opaque` is true for schemes that are not special.
pub(crate) fn parse_host(input: &str, is_opaque: bool) -> Result<Host, HostError> {
    if let Some(inside) = input.strip_prefix('[') {
        let address = inside.strip_suffix(']').ok_or(HostError)?;
        return parse_ipv6(address).map(Host::Ipv6);
    }
    if is_opaque {
        return parse_opaque_host(input);
    }
    // A domain may be written percent-encoded; it is decoded before anything else, and bytes that
    // are not UTF-8 could only become U+FFFD, which no domain may hold.
    let decoded = percent_decode(input.as_bytes());
    let domain = String::from_utf8(decoded).map_err(|_| HostError)?;
    let ascii = domain_to_ascii(&domain)?;
    if ends_in_number(&ascii) {
        return parse_ipv4(&ascii).map(Host::Ipv4);
    }
    Ok(Host::Domain(ascii))
}

/// A code point no host may hold.
fn is_forbidden_host_code_point(c: char) -> bool {
    matches!(
        c,
        '\0' | '\t' | '\n' | '\r' | ' ' | '#' | '/' | ':' | '<' | '>' | '?' | '@' | '[' | '\\' | ']' | '^' | '|'
    )
}

/// A code point no domain may hold: the forbidden host code points, C0 controls, `%` and DEL.
fn is_forbidden_domain_code_point(c: char) -> bool {
    is_forbidden_host_code_point(c) || c <= '\u{1f}' || c == '%' || c == '\u{7f}'
}

fn parse_opaque_host(input: &str) -> Result<Host, HostError> {
    if input.chars().any(is_forbidden_host_code_point) {
        return Err(HostError);
    }
    if input.is_empty() {
        return Ok(Host::Empty);
    }
    let mut encoded = String::with_capacity(input.len());
    for c in input.chars() {
        percent_encode_char(c, EncodeSet::C0Control, &mut encoded);
    }
    Ok(Host::Opaque(encoded))
}

/// Domain to ASCII, as the host parser runs it (not strict): ASCII is lowercased; labels with other
/// characters are Punycode-encoded (see the module's note on what is not mapped).
fn domain_to_ascii(domain: &str) -> Result<String, HostError> {
    let ascii = if domain.is_ascii() {
        domain.to_ascii_lowercase()
    } else {
        let mut ascii = String::with_capacity(domain.len() + 8);
        // UTS 46 maps the ideographic and fullwidth full stops to `.` before splitting labels.
        let mapped: String =
            domain.chars().map(|c| if matches!(c, '\u{3002}' | '\u{ff0e}' | '\u{ff61}') { '.' } else { c }).collect();
        for (index, label) in mapped.split('.').enumerate() {
            if index > 0 {
                ascii.push('.');
            }
            if label.is_ascii() {
                ascii.push_str(&label.to_ascii_lowercase());
                continue;
            }
            // A character with a lowercase form of its own is one UTS 46 would map: refused
            // (see the module's note). `ẞ` is why: lowercasing makes it `ß`, UTS 46 makes it `ss`.
            let label: Vec<char> = label.chars().map(|c| c.to_ascii_lowercase()).collect();
            if label.iter().any(|&c| !c.to_lowercase().eq(std::iter::once(c))) {
                return Err(HostError);
            }
            ascii.push_str("xn--");
            punycode_encode(&label, &mut ascii).ok_or(HostError)?;
        }
        ascii
    };
    if ascii.is_empty() || ascii.chars().any(is_forbidden_domain_code_point) {
        return Err(HostError);
    }
    Ok(ascii)
}

/// Punycode (RFC 3492) of one label, appended to `out`; `None` only on arithmetic overflow, which
/// labels of any realistic length never reach.
fn punycode_encode(label: &[char], out: &mut String) -> Option<()> {
    const BASE: u32 = 36;
    const T_MIN: u32 = 1;
    const T_MAX: u32 = 26;
    fn digit(value: u32) -> char {
        // 0..=25 are `a`..=`z`, 26..=35 are `0`..=`9`.
        char::from(if value < 26 { b'a' + value as u8 } else { b'0' + (value - 26) as u8 })
    }
    fn adapt(delta: u32, points: u32, first: bool) -> u32 {
        let mut delta = if first { delta / 700 } else { delta / 2 };
        delta += delta / points;
        let mut k = 0;
        while delta > ((BASE - T_MIN) * T_MAX) / 2 {
            delta /= BASE - T_MIN;
            k += BASE;
        }
        k + (BASE - T_MIN + 1) * delta / (delta + 38)
    }

    let basic = label.iter().filter(|c| c.is_ascii()).count() as u32;
    out.extend(label.iter().filter(|c| c.is_ascii()));
    if basic > 0 {
        out.push('-');
    }
    let (mut n, mut delta, mut bias, mut handled) = (128u32, 0u32, 72u32, basic);
    while (handled as usize) < label.len() {
        let next = label.iter().map(|&c| c as u32).filter(|&c| c >= n).min()?;
        delta = delta.checked_add((next - n).checked_mul(handled + 1)?)?;
        n = next;
        for &c in label {
            let c = c as u32;
            if c < n {
                delta = delta.checked_add(1)?;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias {
                        T_MIN
                    } else if k >= bias + T_MAX {
                        T_MAX
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    out.push(digit(t + (q - t) % (BASE - t)));
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                out.push(digit(q));
                bias = adapt(delta, handled + 1, handled == basic);
                delta = 0;
                handled += 1;
            }
        }
        delta = delta.checked_add(1)?;
        n += 1;
    }
    Some(())
}

/// Whether a domain's last label is a number, which makes the whole host an IPv4 address.
fn ends_in_number(domain: &str) -> bool {
    // The last label, an empty one after a final dot left out (every topic's host comes here).
    let last = domain.strip_suffix('.').unwrap_or(domain).rsplit('.').next().unwrap_or("");
    if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    parse_ipv4_number(last).is_some()
}

/// One part of an IPv4 address: decimal, `0x` hexadecimal or `0` octal. `None` when it is none.
fn parse_ipv4_number(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
        (hex, 16)
    } else if part.len() >= 2 && part.starts_with('0') {
        (&part[1..], 8)
    } else {
        (part, 10)
    };
    if digits.is_empty() {
        return Some(0);
    }
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    // Any number past u64 is past every limit below; saturating keeps it "too large".
    Some(digits.chars().fold(0u64, |value, c| {
        value.saturating_mul(u64::from(radix)).saturating_add(u64::from(c.to_digit(radix).unwrap_or(0)))
    }))
}

fn parse_ipv4(input: &str) -> Result<u32, HostError> {
    let mut parts: Vec<&str> = input.split('.').collect();
    if parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    if parts.len() > 4 {
        return Err(HostError);
    }
    let numbers: Vec<u64> =
        parts.iter().map(|part| parse_ipv4_number(part).ok_or(HostError)).collect::<Result<_, _>>()?;
    let (last, leading) = numbers.split_last().ok_or(HostError)?;
    if leading.iter().any(|&n| n > 255) {
        return Err(HostError);
    }
    // The last number fills every byte the others left: 1.2.3 is 1.2.0.3, and 1.65538 is 1.0.1.2.
    if *last >= 256u64.pow(5 - numbers.len() as u32) {
        return Err(HostError);
    }
    let mut address = *last;
    for (index, n) in leading.iter().enumerate() {
        address += n * 256u64.pow(3 - index as u32);
    }
    u32::try_from(address).map_err(|_| HostError)
}

fn parse_ipv6(input: &str) -> Result<[u16; 8], HostError> {
    let chars: Vec<char> = input.chars().collect();
    let at = |pointer: usize| chars.get(pointer).copied();
    let mut address = [0u16; 8];
    let mut piece_index = 0usize;
    let mut compress: Option<usize> = None;
    let mut pointer = 0usize;
    if at(0) == Some(':') {
        if at(1) != Some(':') {
            return Err(HostError);
        }
        pointer += 2;
        piece_index += 1;
        compress = Some(piece_index);
    }
    while let Some(c) = at(pointer) {
        if piece_index == 8 {
            return Err(HostError);
        }
        if c == ':' {
            if compress.is_some() {
                return Err(HostError);
            }
            pointer += 1;
            piece_index += 1;
            compress = Some(piece_index);
            continue;
        }
        let (mut value, mut length) = (0u16, 0usize);
        while length < 4 {
            let Some(digit) = at(pointer).and_then(|c| c.to_digit(16)) else { break };
            value = value * 0x10 + digit as u16;
            pointer += 1;
            length += 1;
        }
        match at(pointer) {
            Some('.') => {
                // An IPv4 address written in the last two pieces.
                if length == 0 || piece_index > 6 {
                    return Err(HostError);
                }
                pointer -= length;
                let mut numbers_seen = 0;
                while let Some(c) = at(pointer) {
                    if numbers_seen > 0 {
                        if c == '.' && numbers_seen < 4 {
                            pointer += 1;
                        } else {
                            return Err(HostError);
                        }
                    }
                    if !at(pointer).is_some_and(|c| c.is_ascii_digit()) {
                        return Err(HostError);
                    }
                    let mut ipv4_piece: Option<u16> = None;
                    while let Some(number) = at(pointer).and_then(|c| c.to_digit(10)) {
                        ipv4_piece = match ipv4_piece {
                            None => Some(number as u16),
                            Some(0) => return Err(HostError),
                            Some(piece) => Some(piece * 10 + number as u16),
                        };
                        if ipv4_piece.is_some_and(|piece| piece > 255) {
                            return Err(HostError);
                        }
                        pointer += 1;
                    }
                    address[piece_index] = address[piece_index] * 0x100 + ipv4_piece.unwrap_or(0);
                    numbers_seen += 1;
                    if numbers_seen == 2 || numbers_seen == 4 {
                        piece_index += 1;
                    }
                }
                if numbers_seen != 4 {
                    return Err(HostError);
                }
                break;
            }
            Some(':') => {
                pointer += 1;
                if at(pointer).is_none() {
                    return Err(HostError);
                }
            }
            Some(_) => return Err(HostError),
            None => {}
        }
        address[piece_index] = value;
        piece_index += 1;
    }
    match compress {
        Some(compress) => {
            let mut swaps = piece_index - compress;
            piece_index = 7;
            while piece_index != 0 && swaps > 0 {
                address.swap(piece_index, compress + swaps - 1);
                piece_index -= 1;
                swaps -= 1;
            }
        }
        None if piece_index != 8 => return Err(HostError),
        None => {}
    }
    Ok(address)
}

/// Writes an IPv6 address with its longest run of two or more zero pieces as `::` (the first such
/// run when two are as long), every piece in lowercase hexadecimal without leading zeros.
fn write_ipv6(pieces: &[u16; 8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let mut longest: Option<(usize, usize)> = None;
    let mut run: Option<(usize, usize)> = None;
    for (index, &piece) in pieces.iter().enumerate() {
        if piece == 0 {
            let (start, length) = run.unwrap_or((index, 0));
            run = Some((start, length + 1));
        } else {
            run = None;
        }
        if let Some((start, length)) = run {
            if length >= 2 && longest.is_none_or(|(_, best)| length > best) {
                longest = Some((start, length));
            }
        }
    }
    let mut index = 0;
    while index < 8 {
        if let Some((start, length)) = longest.filter(|(start, _)| *start == index) {
            f.write_str(if start == 0 { "::" } else { ":" })?;
            index += length;
            continue;
        }
        write!(f, "{:x}", pieces[index])?;
        if index != 7 {
            f.write_char(':')?;
        }
        index += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(input: &str) -> Option<String> {
        parse_host(input, false).ok().map(|host| host.to_string())
    }

    #[test]
    fn domains_are_lowercased_and_percent_decoded() {
        assert_eq!(host("EXAMPLE.com").as_deref(), Some("example.com"));
        assert_eq!(host("ex%41mple.com").as_deref(), Some("example.com"));
        assert_eq!(host("example.com.").as_deref(), Some("example.com."));
        for bad in ["a b", "a%20b", "a<b", "a%", "a%25b", "a|b", "a^b", "%ff"] {
            assert_eq!(host(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn non_ascii_labels_become_punycode() {
        assert_eq!(host("café.com").as_deref(), Some("xn--caf-dma.com"));
        assert_eq!(host("CAFé.com").as_deref(), Some("xn--caf-dma.com"));
        assert_eq!(host("🚲.com").as_deref(), Some("xn--h78h.com"));
        assert_eq!(host("CAFÉ.com"), None, "UTS 46 would map É: refused, not guessed");
        assert_eq!(host("ẞ.de"), None, "lowercasing gives ß, UTS 46 gives ss: refused");
        assert_eq!(host("bücher.example").as_deref(), Some("xn--bcher-kva.example"));
        assert_eq!(host("例え.テスト").as_deref(), Some("xn--r8jz45g.xn--zckzah"));
        assert_eq!(host("münchen。de").as_deref(), Some("xn--mnchen-3ya.de"), "ideographic full stop");
    }

    #[test]
    fn ipv4_in_every_form() {
        for (input, expected) in [
            ("127.0.0.1", "127.0.0.1"),
            ("0x7f.1", "127.0.0.1"),
            ("2130706433", "127.0.0.1"),
            ("0177.0.0.1", "127.0.0.1"),
            ("1.2.3", "1.2.0.3"),
            ("1.65538", "1.1.0.2"),
            ("255.255.255.255.", "255.255.255.255"),
            ("0x", "0.0.0.0"),
        ] {
            assert_eq!(host(input).as_deref(), Some(expected), "{input}");
        }
        for bad in ["256.0.0.1", "1.2.3.4.5", "4294967296", "09.1", "1.2.3.0x100000000", "foo.09"] {
            assert_eq!(host(bad), None, "{bad}");
        }
        assert_eq!(host("1.2.3.foo").as_deref(), Some("1.2.3.foo"), "not a number at the end: a domain");
    }

    #[test]
    fn ipv6_parsed_and_compressed() {
        for (input, expected) in [
            ("[::1]", "[::1]"),
            ("[0:0:0:0:0:0:0:1]", "[::1]"),
            ("[1:0:0:2:0:0:0:3]", "[1:0:0:2::3]"),
            ("[1:0:0:2:0:0:3:4]", "[1::2:0:0:3:4]"),
            ("[::ffff:192.168.0.1]", "[::ffff:c0a8:1]"),
            ("[ABCD::]", "[abcd::]"),
            ("[1:2:3:4:5:6:7:8]", "[1:2:3:4:5:6:7:8]"),
            ("[1:0:3:4:5:6:7:8]", "[1:0:3:4:5:6:7:8]"),
        ] {
            assert_eq!(host(input).as_deref(), Some(expected), "{input}");
        }
        for bad in ["[::1", "[1:2:3:4:5:6:7:8:9]", "[1::2::3]", "[:1]", "[1:]", "[::1.2.3]", "[::01.2.3.4]", "[x::]"] {
            assert_eq!(host(bad), None, "{bad}");
        }
    }

    #[test]
    fn opaque_hosts_keep_case_and_encode() {
        assert_eq!(parse_host("Host%20é", true).unwrap().to_string(), "Host%20%C3%A9");
        assert_eq!(parse_host("", true), Ok(Host::Empty));
        assert_eq!(parse_host("a b", true), Err(HostError));
    }

    #[test]
    fn punycode_vectors() {
        // RFC 3492 section 7.1 samples (lowercased), and two short ones.
        for (label, expected) in [
            ("ü", "tda"),
            ("🚲", "h78h"),
            ("他们为什么不说中文", "ihqwcrb4cv8a8dqg056pqjye"),
            ("почемужеонинеговорятпорусски", "b1abfaaepdrnnbgefbadotcwatmq2g4l"),
        ] {
            let chars: Vec<char> = label.chars().collect();
            let mut out = String::new();
            punycode_encode(&chars, &mut out).unwrap();
            assert_eq!(out, expected, "{label}");
        }
    }
}
