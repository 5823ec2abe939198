//! Jitter for reconnection waits and drains, std only.

use std::time::{SystemTime, UNIX_EPOCH};

/// Random fractions for reconnection jitter (the client's, a backplane's, and a server's drain):
/// xorshift seeded from the clock and the address of a fresh allocation, which differ between
/// peers started together, so that they do not all come back at the same instant; or from a
/// seed, so that a drain's spread can be repeated exactly.
#[derive(Debug, Clone)]
pub(crate) struct Jitter(u64);

impl Jitter {
    pub fn seeded() -> Jitter {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        let address = Box::new(0u8).as_ref() as *const u8 as u64;
        Jitter((nanos ^ address.rotate_left(32)) | 1)
    }

    /// The same fractions for the same seed. The seed is mixed first (SplitMix64's finaliser), so
    /// that small seeds (0, 1, 2) do not start xorshift on nearly empty state, whose first
    /// fractions would all be close to 0; xorshift needs a state that is not 0, hence the `| 1`.
    pub fn from_seed(seed: u64) -> Jitter {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Jitter((z ^ (z >> 31)) | 1)
    }

    /// A number in [0, 1).
    pub fn next_fraction(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_stay_in_zero_to_one() {
        let mut jitter = Jitter::seeded();
        assert!((0..10_000).map(|_| jitter.next_fraction()).all(|f| (0.0..1.0).contains(&f)));
    }

    /// A seed gives the same fractions every time, another seed others; small seeds start spread
    /// out like any other.
    #[test]
    fn a_seed_repeats_its_fractions() {
        let fractions = |seed| {
            let mut jitter = Jitter::from_seed(seed);
            (0..100).map(|_| jitter.next_fraction()).collect::<Vec<f64>>()
        };
        assert_eq!(fractions(7), fractions(7));
        assert_ne!(fractions(7), fractions(8));
        for seed in 0..4 {
            let first = fractions(seed);
            assert!(first.iter().all(|f| (0.0..1.0).contains(f)));
            assert!(first[..10].iter().any(|&f| f > 0.1), "seed {seed}: {:?}", &first[..10]);
        }
    }
}
