//! Helpers for the crate's unit tests: a small deterministic random generator, to feed parsers
//! random splits and random inputs without a dependency.

/// xorshift64*: deterministic, fast, and good enough to pick split points.
pub(crate) struct SplitRng(u64);

impl SplitRng {
    pub fn new(seed: u64) -> SplitRng {
        SplitRng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % bound.max(1)
    }

    /// Cuts `input` into random pieces (some empty).
    pub fn split<'a>(&mut self, mut input: &'a [u8]) -> Vec<&'a [u8]> {
        let mut pieces = Vec::new();
        while !input.is_empty() {
            let cut = self.below(input.len() + 1);
            pieces.push(&input[..cut]);
            input = &input[cut..];
        }
        pieces
    }

    /// Up to `max_len` bytes drawn from `alphabet`.
    pub fn bytes(&mut self, alphabet: &[u8], max_len: usize) -> Vec<u8> {
        let len = self.below(max_len + 1);
        (0..len).map(|_| alphabet[self.below(alphabet.len())]).collect()
    }
}

/// Lowercase hexadecimal, as test vectors print digests.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A topic selector of exact topics (`*` for every topic), as a subscription's `match`
/// parameters give them.
pub(crate) fn selector(topics: &[&str]) -> crate::topic::TopicSelector {
    let params = topics.iter().map(|topic| ("match", *topic));
    crate::topic::TopicSelector::from_params(params, None, &crate::topic::SelectorLimits::default())
        .expect("valid matchers")
}
