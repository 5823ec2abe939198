//! The event-stream parser: any split of the same bytes gives the same events, last event id and
//! retry. The first two bytes choose where to split the rest.
#![no_main]

use bare_sse::parse::{MessageEvent, Parser};
use libfuzzer_sys::fuzz_target;

fn parse(pieces: &[&[u8]]) -> (Vec<MessageEvent>, String, Option<std::time::Duration>, Vec<bool>) {
    let mut parser = Parser::with_limits(256, 1024);
    let mut events = Vec::new();
    let mut errors = Vec::new();
    for piece in pieces {
        errors.push(parser.feed(piece).is_err());
        events.extend(std::iter::from_fn(|| parser.next_event()));
    }
    (events, parser.last_event_id().to_string(), parser.retry(), errors)
}

fuzz_target!(|data: &[u8]| {
    let [a, b, rest @ ..] = data else { return };
    let first = usize::from(*a) % (rest.len() + 1);
    let second = first + usize::from(*b) % (rest.len() - first + 1);
    let (whole, whole_id, whole_retry, whole_errors) = parse(&[rest]);
    let (split, split_id, split_retry, split_errors) = parse(&[&rest[..first], &rest[first..second], &rest[second..]]);
    assert_eq!(whole, split);
    assert_eq!(whole_id, split_id);
    assert_eq!(whole_retry, split_retry);
    assert_eq!(whole_errors.iter().any(|e| *e), split_errors.iter().any(|e| *e));
});
