//! The head reader: fed in any split, it answers after each piece what the head parser answers for
//! all the bytes so far, though it parses only when a piece can have changed the answer. The first
//! byte chooses request or response heads (and a small request limit, so that limits are reached);
//! the next two choose where to split the rest.
#![no_main]

use bare_sse::http::{HeadLimits, HeadParser, HeadRead, HeadReader, Parsed, RequestHeads, ResponseHeads};
use libfuzzer_sys::fuzz_target;

/// Feeds the pieces until the first answer that is not `Partial`, checking each answer.
fn check<P>(parser: P, pieces: &[&[u8]])
where
    P: HeadParser + Clone,
    P::Head: PartialEq + std::fmt::Debug,
    P::Error: PartialEq + std::fmt::Debug,
{
    let mut reader = HeadReader::new(parser.clone());
    let mut so_far = Vec::new();
    for piece in pieces {
        so_far.extend_from_slice(piece);
        let read = reader.feed(piece);
        let expected = parser.parse(&so_far).map(|parsed| match parsed {
            Parsed::Partial => HeadRead::Partial,
            Parsed::Complete { head, consumed } => HeadRead::Complete { head, rest: so_far[consumed..].to_vec() },
        });
        assert_eq!(read, expected);
        if !matches!(read, Ok(HeadRead::Partial)) {
            return;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [kind, a, b, rest @ ..] = data else { return };
    let first = usize::from(*a) % (rest.len() + 1);
    let second = first + usize::from(*b) % (rest.len() - first + 1);
    let pieces = [&rest[..first], &rest[first..second], &rest[second..]];
    match kind % 3 {
        0 => check(RequestHeads(HeadLimits::default()), &pieces),
        1 => check(RequestHeads(HeadLimits { max_head_bytes: 64, max_headers: 4 }), &pieces),
        _ => check(ResponseHeads, &pieces),
    }
});
