//! HMAC-SHA-256 (RFC 2104, FIPS 198-1): the keyed hash that signs and verifies HS256 tokens.
//!
//! ```
//! use bare_sse::jwt::hmac::{hmac_sha256, HmacSha256};
//!
//! let mut mac = HmacSha256::new(b"key");
//! mac.update(b"The quick brown fox ");
//! mac.update(b"jumps over the lazy dog");
//! assert_eq!(mac.finalize(), hmac_sha256(b"key", b"The quick brown fox jumps over the lazy dog"));
//! ```
//!
//! HMAC(K, m) = H((K' ^ opad) || H((K' ^ ipad) || m)), where K' is the key padded with zeros to
//! a block, or first hashed if it is longer than a block. Comparing a computed tag with a
//! received one must not stop at the first difference: [`super::constant_time_eq`] does not.

use super::sha256::{Sha256, BLOCK_BYTES, DIGEST_BYTES};

/// The byte XORed into the key for the inner hash.
const INNER_PAD: u8 = 0x36;
/// The byte XORed into the key for the outer hash.
const OUTER_PAD: u8 = 0x5c;

/// The HMAC-SHA-256 tag of `message` under `key`, in one call.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; DIGEST_BYTES] {
    let mut mac = HmacSha256::new(key);
    mac.update(message);
    mac.finalize()
}

/// An HMAC-SHA-256 computation fed in pieces: [`update`](HmacSha256::update) as often as
/// needed, then [`finalize`](HmacSha256::finalize).
#[derive(Clone)]
pub struct HmacSha256 {
    /// H((K' ^ ipad) || message so far).
    inner: Sha256,
    /// H((K' ^ opad) || ...), waiting for the inner digest.
    outer: Sha256,
}

/// Shows nothing of the key.
impl std::fmt::Debug for HmacSha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HmacSha256").finish_non_exhaustive()
    }
}

impl HmacSha256 {
    /// A computation keyed with `key`, of any length (a key longer than a block is hashed
    /// first, as the standard says).
    pub fn new(key: &[u8]) -> HmacSha256 {
        let mut block_key = [0u8; BLOCK_BYTES];
        if key.len() > BLOCK_BYTES {
            block_key[..DIGEST_BYTES].copy_from_slice(&super::sha256::sha256(key));
        } else {
            block_key[..key.len()].copy_from_slice(key);
        }
        let mut inner = Sha256::new();
        inner.update(&block_key.map(|b| b ^ INNER_PAD));
        let mut outer = Sha256::new();
        outer.update(&block_key.map(|b| b ^ OUTER_PAD));
        HmacSha256 { inner, outer }
    }

    /// Adds `bytes` to the message.
    pub fn update(&mut self, bytes: &[u8]) {
        self.inner.update(bytes);
    }

    /// The tag of everything given to [`update`](HmacSha256::update).
    pub fn finalize(self) -> [u8; DIGEST_BYTES] {
        let mut outer = self.outer;
        outer.update(&self.inner.finalize());
        outer.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::sha256::sha256;
    use crate::test_support::{hex, SplitRng};

    /// RFC 4231 section 4: key, data, and the HMAC-SHA-256 output (for test case 5, only its
    /// first 128 bits are given: the RFC's truncation test).
    fn rfc_4231_cases() -> Vec<(Vec<u8>, Vec<u8>, &'static str)> {
        vec![
            // 4.2: a key shorter than the digest.
            (vec![0x0b; 20], b"Hi There".to_vec(), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            // 4.3: a key shorter than the tag.
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?".to_vec(),
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            // 4.4: combined length of key and data larger than a block.
            (vec![0xaa; 20], vec![0xdd; 50], "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
            // 4.5: the same, with a 25-byte key.
            ((1..=25).collect(), vec![0xcd; 50], "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
            // 4.6: truncation to 128 bits.
            (vec![0x0c; 20], b"Test With Truncation".to_vec(), "a3b6167473100ee06e0c796c2955552b"),
            // 4.7: a key larger than a block, hashed first.
            (
                vec![0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            // 4.8: a key and data larger than a block.
            (
                vec![0xaa; 131],
                b"This is a test using a larger than block-size key and a larger than block-size data. \
                  The key needs to be hashed before being used by the HMAC algorithm."
                    .to_vec(),
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ]
    }

    #[test]
    fn rfc_4231_test_cases() {
        for (key, data, tag) in rfc_4231_cases() {
            let computed = hex(&hmac_sha256(&key, &data));
            assert!(computed.starts_with(tag), "key {key:02x?}: {computed} is not {tag}");
            assert!(tag.len() == 64 || tag.len() == 32, "a whole tag, or the truncated one");
        }
    }

    #[test]
    fn key_of_exactly_one_block_is_used_as_is_and_one_byte_more_is_hashed() {
        // A 65-byte key is replaced by its digest, so it gives the same tag as that digest used
        // as the key; a 64-byte key is not.
        let key_64 = [0x11u8; 64];
        let key_65 = [0x11u8; 65];
        assert_eq!(hmac_sha256(&key_65, b"m"), hmac_sha256(&sha256(&key_65), b"m"));
        assert_ne!(hmac_sha256(&key_64, b"m"), hmac_sha256(&sha256(&key_64), b"m"));
    }

    #[test]
    fn byte_by_byte_and_random_splits_equal_one_shot() {
        let mut rng = SplitRng::new(4231);
        for (key, data, _) in rfc_4231_cases() {
            let whole = hmac_sha256(&key, &data);
            let mut mac = HmacSha256::new(&key);
            for byte in &data {
                mac.update(std::slice::from_ref(byte));
            }
            assert_eq!(mac.finalize(), whole);
            for _ in 0..8 {
                let mut mac = HmacSha256::new(&key);
                for piece in rng.split(&data) {
                    mac.update(piece);
                }
                assert_eq!(mac.finalize(), whole);
            }
        }
    }
}
