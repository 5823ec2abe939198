//! Jitter for reconnection waits, std only.

use std::time::{SystemTime, UNIX_EPOCH};

/// Random fractions for reconnection jitter (the client's, and a backplane's): xorshift seeded
/// from the clock and the address of a fresh allocation, which differ between peers started
/// together, so that they do not all come back at the same instant.
pub(crate) struct Jitter(u64);

impl Jitter {
    pub fn seeded() -> Jitter {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        let address = Box::new(0u8).as_ref() as *const u8 as u64;
        Jitter((nanos ^ address.rotate_left(32)) | 1)
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
}
