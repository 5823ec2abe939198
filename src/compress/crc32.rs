//! CRC-32 as gzip uses it (IEEE 802.3, reflected, polynomial `0xEDB88320`), and the combination of
//! two CRCs into the CRC of the concatenated data, which lets a client's gzip trailer be computed
//! from per-event CRCs without reading the events again.

/// The reflected polynomial.
const POLYNOMIAL: u32 = 0xEDB8_8320;

/// The byte-at-a-time table, built at compile time.
const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut crc = n as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ POLYNOMIAL } else { crc >> 1 };
            bit += 1;
        }
        table[n] = crc;
        n += 1;
    }
    table
};

/// The CRC-32 of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    update(0, data)
}

/// Continues `crc` (of earlier data) over `data`.
pub fn update(crc: u32, data: &[u8]) -> u32 {
    let mut crc = !crc;
    for &byte in data {
        crc = TABLE[((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

/// The CRC of `a` followed by `b`, from `crc_a`, `crc_b` and the length of `b`: no data is read.
/// It costs a few dozen word operations per bit of `len_b`'s magnitude.
pub fn combine(crc_a: u32, crc_b: u32, len_b: u64) -> u32 {
    multiply_mod_p(x_to_the_8n(len_b), crc_a) ^ crc_b
}

/// The CRC of `b` alone, from the CRC of some data `a`, the CRC of `a` followed by `b`, and the
/// length of `b`: the inverse of [`combine`]. Since `combine(crc_a, crc_b, len_b)` is
/// `combine(crc_a, 0, len_b) ^ crc_b`, the CRC of `b` is `combine(crc_a, 0, len_b) ^ crc_ab`. This is
/// how the CRC of a range of a stream is found from two running CRCs of it, at the range's start
/// and at its end, without the bytes.
pub fn suffix(crc_a: u32, crc_ab: u32, len_b: u64) -> u32 {
    combine(crc_a, 0, len_b) ^ crc_ab
}

/// `a * b` modulo the polynomial, in the reflected bit order.
fn multiply_mod_p(a: u32, mut b: u32) -> u32 {
    let mut m: u32 = 1 << 31;
    let mut product = 0;
    loop {
        if a & m != 0 {
            product ^= b;
            if a & (m - 1) == 0 {
                return product;
            }
        }
        m >>= 1;
        b = if b & 1 != 0 { (b >> 1) ^ POLYNOMIAL } else { b >> 1 };
    }
}

/// `x^(8n)` modulo the polynomial: the operator that shifts a CRC past `n` zero bytes.
fn x_to_the_8n(mut n: u64) -> u32 {
    // x^(2^k) for k = 3, 4, ...: starting at x^8 (one byte), squared at each step.
    let mut power: u32 = 1 << (31 - 8); // x^8 in reflected order
    let mut result: u32 = 1 << 31; // x^0
    while n != 0 {
        if n & 1 != 0 {
            result = multiply_mod_p(power, result);
        }
        power = multiply_mod_p(power, power);
        n >>= 1;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::SplitRng as Rng;

    #[test]
    fn known_values() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926, "the standard check value");
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"a"), 0xE8B7_BE43);
        assert_eq!(crc32(b"The quick brown fox jumps over the lazy dog"), 0x414F_A339);
        assert_eq!(update(crc32(b"The quick brown "), b"fox jumps over the lazy dog"), 0x414F_A339);
    }

    #[test]
    fn combining_equals_computing_over_the_whole() {
        let mut rng = Rng::new(7);
        for _ in 0..200 {
            let data: Vec<u8> = (0..rng.below(3000)).map(|_| rng.below(256) as u8).collect();
            let cut = rng.below(data.len() + 1);
            let (a, b) = data.split_at(cut);
            assert_eq!(combine(crc32(a), crc32(b), b.len() as u64), crc32(&data), "cut {cut} of {}", data.len());
        }
        assert_eq!(combine(crc32(b"12345"), crc32(b"6789"), 4), crc32(b"123456789"));
        assert_eq!(combine(crc32(b"abc"), crc32(b""), 0), crc32(b"abc"));
        assert_eq!(combine(crc32(b""), crc32(b"abc"), 3), crc32(b"abc"));
    }

    /// A range's CRC from the running CRCs at its two ends, for ranges anywhere in random data,
    /// empty ones and the whole included, then continued with `combine` as a client's stream is.
    #[test]
    fn the_crc_of_a_range_comes_from_the_running_crcs_at_its_ends() {
        let mut rng = Rng::new(31);
        for _ in 0..200 {
            let data: Vec<u8> = (0..rng.below(5000)).map(|_| rng.below(256) as u8).collect();
            let mut cuts = [rng.below(data.len() + 1), rng.below(data.len() + 1)];
            cuts.sort_unstable();
            let [start, end] = cuts;
            let (at_start, at_end) = (crc32(&data[..start]), crc32(&data[..end]));
            let range = suffix(at_start, at_end, (end - start) as u64);
            assert_eq!(range, crc32(&data[start..end]), "{start}..{end} of {}", data.len());
            // A lead of other bytes, then the range: what a client that joined late received.
            let lead: Vec<u8> = (0..rng.below(300)).map(|_| rng.below(256) as u8).collect();
            let whole = [&lead[..], &data[start..end]].concat();
            assert_eq!(combine(crc32(&lead), range, (end - start) as u64), crc32(&whole));
        }
        assert_eq!(suffix(crc32(b"12345"), crc32(b"123456789"), 4), crc32(b"6789"));
        assert_eq!(suffix(crc32(b"abc"), crc32(b"abc"), 0), 0, "an empty range");
        assert_eq!(suffix(0, crc32(b"abc"), 3), crc32(b"abc"), "from the start");
    }
}
