//! Huffman codes for DEFLATE (RFC 1951 §3.2.2): code lengths from symbol frequencies, limited to a
//! maximum length, and the canonical codes those lengths define.

/// Code lengths for symbols with these frequencies: more frequent symbols get shorter codes, no
/// code is longer than `max_bits`, and unused symbols get 0. One used symbol gets length 1 (an
/// incomplete code, which DEFLATE allows for a single symbol).
pub(super) fn code_lengths(frequencies: &[u32], max_bits: u8) -> Vec<u8> {
    let mut lengths = vec![0u8; frequencies.len()];
    let mut symbols: Vec<usize> = (0..frequencies.len()).filter(|&s| frequencies[s] > 0).collect();
    if symbols.len() < 2 {
        if let Some(&only) = symbols.first() {
            lengths[only] = 1;
        }
        return lengths;
    }
    // Ascending by frequency; ties by symbol, so that the result does not depend on sort stability.
    symbols.sort_unstable_by_key(|&s| (frequencies[s], s));
    let weights: Vec<u64> = symbols.iter().map(|&s| u64::from(frequencies[s])).collect();
    let count = codes_per_length(&leaf_depths(weights), max_bits);
    // The least frequent symbols get the longest codes.
    let mut next = 0;
    for len in (1..=usize::from(max_bits)).rev() {
        for _ in 0..count[len] {
            lengths[symbols[next]] = len as u8;
            next += 1;
        }
    }
    lengths
}

/// The depth of each leaf in a Huffman tree over these weights (ascending, two or more): each
/// step joins the two lightest nodes.
fn leaf_depths(mut weight: Vec<u64>) -> Vec<u8> {
    let leaves = weight.len();
    let nodes = 2 * leaves - 1;
    weight.resize(nodes, 0);
    let mut parent = vec![0usize; nodes];
    // Two queues: leaves in ascending order, and internal nodes, which are made in ascending order.
    let (mut next_leaf, mut next_internal) = (0, leaves);
    for made in leaves..nodes {
        let mut pick = || {
            let take_leaf = next_leaf < leaves && (next_internal >= made || weight[next_leaf] <= weight[next_internal]);
            if take_leaf {
                next_leaf += 1;
                next_leaf - 1
            } else {
                next_internal += 1;
                next_internal - 1
            }
        };
        let (a, b) = (pick(), pick());
        weight[made] = weight[a] + weight[b];
        parent[a] = made;
        parent[b] = made;
    }
    // Depths, from the root (the last node made) down.
    let mut depth = vec![0u8; nodes];
    for node in (0..nodes - 1).rev() {
        depth[node] = depth[parent[node]].saturating_add(1);
    }
    depth.truncate(leaves);
    depth
}

/// How many codes of each length (index 1 to `max_bits`) a code with these leaf depths has once no
/// code is longer than `max_bits`: lengths over the limit are pushed down to it, and the Kraft
/// equality (the sum of 2^-length is 1) is then restored by lengthening codes until it holds.
fn codes_per_length(depths: &[u8], max_bits: u8) -> Vec<u32> {
    let max = usize::from(max_bits);
    let mut count = vec![0u32; max + 1];
    for &d in depths {
        count[usize::from(d).min(max)] += 1;
    }
    let kraft = |count: &[u32]| -> u64 { (1..=max).map(|len| u64::from(count[len]) << (max - len)).sum() };
    let mut total = kraft(&count);
    while total > 1 << max {
        // Take a code of the longest length, and make a shorter one two codes one longer.
        count[max] -= 1;
        if let Some(len) = (1..max).rev().find(|&len| count[len] > 0) {
            count[len] -= 1;
            count[len + 1] += 2;
        }
        total = kraft(&count);
    }
    count
}

/// The canonical codes for `lengths`, bit-reversed so that they can be written LSB first.
pub(super) fn codes(lengths: &[u8]) -> Vec<u16> {
    let max = lengths.iter().copied().max().unwrap_or(0) as usize;
    let mut count = vec![0u16; max + 1];
    for &len in lengths {
        count[usize::from(len)] += 1;
    }
    count[0] = 0;
    let mut next = vec![0u16; max + 2];
    let mut code = 0u16;
    for bits in 1..=max {
        code = (code + count[bits - 1]) << 1;
        next[bits] = code;
    }
    lengths
        .iter()
        .map(|&len| {
            if len == 0 {
                return 0;
            }
            let code = next[usize::from(len)];
            next[usize::from(len)] += 1;
            code.reverse_bits() >> (16 - len)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::SplitRng as Rng;

    fn kraft_sum(lengths: &[u8], max: u8) -> u64 {
        lengths.iter().filter(|&&l| l > 0).map(|&l| 1u64 << (max - l)).sum()
    }

    #[test]
    fn lengths_are_complete_limited_and_ordered_by_frequency() {
        let mut rng = Rng::new(3);
        for round in 0..300 {
            let symbols = 2 + rng.below(286);
            // Skewed frequencies (some powers of two) force deep trees that must be limited.
            let frequencies: Vec<u32> = (0..symbols)
                .map(|s| match rng.below(4) {
                    0 => 0,
                    1 => 1 << (s % 24),
                    _ => rng.below(1000) as u32,
                })
                .collect();
            let max = if round % 2 == 0 { 15 } else { 7 };
            let lengths = code_lengths(&frequencies, max);
            let used = frequencies.iter().filter(|&&f| f > 0).count();
            if used < 2 {
                continue;
            }
            if used > 1 << max {
                continue; // cannot fit: never asked for by the encoder
            }
            assert!(lengths.iter().all(|&l| l <= max));
            assert_eq!(kraft_sum(&lengths, max), 1 << max, "a complete code, round {round}");
            for (a, b) in (0..symbols).flat_map(|a| (0..symbols).map(move |b| (a, b))) {
                if frequencies[a] > frequencies[b] && frequencies[b] > 0 {
                    assert!(lengths[a] <= lengths[b], "round {round}: a more frequent symbol has a longer code");
                }
            }
        }
    }

    #[test]
    fn canonical_codes_follow_rfc_1951() {
        // The example of RFC 1951 §3.2.2: lengths (3, 3, 3, 3, 3, 2, 4, 4) give codes 010, 011,
        // 100, 101, 110, 00, 1110, 1111 (written here bit-reversed).
        let lengths = [3, 3, 3, 3, 3, 2, 4, 4];
        let expected: Vec<u16> = [0b010u16, 0b011, 0b100, 0b101, 0b110, 0b00, 0b1110, 0b1111]
            .iter()
            .zip(lengths)
            .map(|(&code, len)| code.reverse_bits() >> (16 - len))
            .collect();
        assert_eq!(codes(&lengths), expected);
    }

    #[test]
    fn one_symbol_gets_one_bit() {
        assert_eq!(code_lengths(&[0, 5, 0], 15), vec![0, 1, 0]);
        assert_eq!(code_lengths(&[0, 0], 15), vec![0, 0]);
    }
}
