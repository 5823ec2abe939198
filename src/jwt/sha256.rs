//! SHA-256 (FIPS 180-4), the hash under HMAC-SHA-256 and so under HS256 tokens.
//!
//! ```
//! use bare_sse::jwt::sha256::{sha256, Sha256};
//!
//! let mut hasher = Sha256::new();
//! hasher.update(b"a");
//! hasher.update(b"bc");
//! assert_eq!(hasher.finalize(), sha256(b"abc"));
//! ```
//!
//! The message is taken in 64-byte blocks; a partial block waits in a buffer until the next
//! update fills it, so any split of a message into updates gives the digest of the whole. The
//! code follows the standard's section 6.2 step by step and is not hardened against timing
//! attacks beyond what SHA-256 itself gives: its running time depends on the message length only.

/// Bytes in one SHA-256 block: the unit the compression function works on, and the size HMAC
/// pads its key to.
pub const BLOCK_BYTES: usize = 64;
/// Bytes in a SHA-256 digest.
pub const DIGEST_BYTES: usize = 32;

/// The initial hash value H(0) (FIPS 180-4 section 5.3.3): the first 32 bits of the fractional
/// parts of the square roots of the first eight primes.
const INITIAL_STATE: [u32; 8] =
    [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/// The round constants K (FIPS 180-4 section 4.2.2): the first 32 bits of the fractional parts of
/// the cube roots of the first sixty-four primes.
const ROUND_CONSTANTS: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
    0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
    0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
];

/// The SHA-256 digest of `message`, in one call.
pub fn sha256(message: &[u8]) -> [u8; DIGEST_BYTES] {
    let mut hasher = Sha256::new();
    hasher.update(message);
    hasher.finalize()
}

/// A SHA-256 computation fed in pieces: [`update`](Sha256::update) as often as needed, then
/// [`finalize`](Sha256::finalize).
#[derive(Clone)]
pub struct Sha256 {
    /// The intermediate hash value H(i) after every whole block so far.
    state: [u32; 8],
    /// The start of a block not yet whole: `buffer[..buffered]`.
    buffer: [u8; BLOCK_BYTES],
    buffered: usize,
    /// Bytes of message so far. The standard counts bits in 64 bits, so messages are limited to
    /// 2^61 bytes, far beyond anything this crate hashes.
    length: u64,
}

impl Default for Sha256 {
    fn default() -> Sha256 {
        Sha256::new()
    }
}

/// Shows how much has been hashed, not the state, which would say something of the message.
impl std::fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sha256").field("length", &self.length).finish_non_exhaustive()
    }
}

impl Sha256 {
    /// A computation that has hashed nothing yet.
    pub fn new() -> Sha256 {
        Sha256 { state: INITIAL_STATE, buffer: [0; BLOCK_BYTES], buffered: 0, length: 0 }
    }

    /// Hashes `bytes` as the next part of the message.
    pub fn update(&mut self, mut bytes: &[u8]) {
        self.length = self.length.wrapping_add(bytes.len() as u64);
        if self.buffered > 0 {
            let take = (BLOCK_BYTES - self.buffered).min(bytes.len());
            self.buffer[self.buffered..self.buffered + take].copy_from_slice(&bytes[..take]);
            self.buffered += take;
            bytes = &bytes[take..];
            if self.buffered < BLOCK_BYTES {
                return;
            }
            let block = self.buffer;
            compress(&mut self.state, &block);
            self.buffered = 0;
        }
        let mut blocks = bytes.chunks_exact(BLOCK_BYTES);
        for block in &mut blocks {
            let mut whole = [0; BLOCK_BYTES];
            whole.copy_from_slice(block);
            compress(&mut self.state, &whole);
        }
        let rest = blocks.remainder();
        self.buffer[..rest.len()].copy_from_slice(rest);
        self.buffered = rest.len();
    }

    /// The digest of everything given to [`update`](Sha256::update).
    pub fn finalize(mut self) -> [u8; DIGEST_BYTES] {
        // Padding (section 5.1.1): a 1 bit, zeros up to 8 bytes short of a block boundary, then
        // the message length in bits as a big-endian 64-bit number.
        let bit_length = self.length.wrapping_mul(8);
        let zeros = (BLOCK_BYTES + BLOCK_BYTES - 8 - 1 - self.buffered) % BLOCK_BYTES;
        let mut padding = [0u8; BLOCK_BYTES + 8];
        padding[0] = 0x80;
        padding[1 + zeros..1 + zeros + 8].copy_from_slice(&bit_length.to_be_bytes());
        self.update(&padding[..1 + zeros + 8]);
        debug_assert_eq!(self.buffered, 0, "padding ends on a block boundary");
        let mut digest = [0u8; DIGEST_BYTES];
        for (bytes, word) in digest.chunks_exact_mut(4).zip(self.state) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        digest
    }
}

/// The compression function (section 6.2.2): mixes one block into the hash value.
fn compress(state: &mut [u32; 8], block: &[u8; BLOCK_BYTES]) {
    // The message schedule W: the block's sixteen words, then 48 more derived from them.
    let mut schedule = [0u32; 64];
    for (word, bytes) in schedule.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_be_bytes(bytes.try_into().expect("chunks_exact gives four bytes"));
    }
    for t in 16..64 {
        let s0 = schedule[t - 15].rotate_right(7) ^ schedule[t - 15].rotate_right(18) ^ (schedule[t - 15] >> 3);
        let s1 = schedule[t - 2].rotate_right(17) ^ schedule[t - 2].rotate_right(19) ^ (schedule[t - 2] >> 10);
        schedule[t] = schedule[t - 16].wrapping_add(s0).wrapping_add(schedule[t - 7]).wrapping_add(s1);
    }

    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
    for t in 0..64 {
        let sum1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let choose = (e & f) ^ (!e & g);
        let t1 = h.wrapping_add(sum1).wrapping_add(choose).wrapping_add(ROUND_CONSTANTS[t]).wrapping_add(schedule[t]);
        let sum0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let majority = (a & b) ^ (a & c) ^ (b & c);
        let t2 = sum0.wrapping_add(majority);
        h = g;
        g = f;
        f = e;
        e = d.wrapping_add(t1);
        d = c;
        c = b;
        b = a;
        a = t1.wrapping_add(t2);
    }
    for (word, add) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
        *word = word.wrapping_add(add);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{hex, SplitRng};

    /// The FIPS 180-4 examples (NIST's "SHA256.pdf" example values and the long-message vector
    /// of the Secure Hash Algorithm Validation System).
    const VECTORS: [(&[u8], &str); 4] = [
        (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        // 448 bits: the padding no longer fits in the message's only block.
        (
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        ),
        // 896 bits.
        (
            b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
        ),
    ];

    #[test]
    fn fips_180_4_vectors() {
        for (message, digest) in VECTORS {
            assert_eq!(hex(&sha256(message)), digest, "{:?}", String::from_utf8_lossy(message));
        }
    }

    #[test]
    fn one_million_a() {
        let message = vec![b'a'; 1_000_000];
        assert_eq!(hex(&sha256(&message)), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    }

    #[test]
    fn byte_by_byte_and_random_splits_equal_one_shot() {
        let mut rng = SplitRng::new(7);
        for (message, digest) in VECTORS {
            let mut hasher = Sha256::new();
            for byte in message {
                hasher.update(std::slice::from_ref(byte));
            }
            assert_eq!(hex(&hasher.finalize()), digest);
        }
        // Every length around the block and padding boundaries, in random splits.
        for length in 0..=3 * BLOCK_BYTES {
            let message = rng.bytes(&[0, 1, 0x80, 0xff, b'a'], length);
            let whole = sha256(&message);
            for _ in 0..4 {
                let mut hasher = Sha256::new();
                for piece in rng.split(&message) {
                    hasher.update(piece);
                }
                assert_eq!(hasher.finalize(), whole, "{message:?}");
            }
        }
    }

    #[test]
    fn lengths_where_the_padding_fits_spills_or_fills_a_block_of_its_own() {
        // Digests of "a" repeated 55, 56, 63, 64 and 65 times (from Python's hashlib): the
        // padding just fits, spills into a second block, or makes a block of its own.
        let expected = [
            (55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"),
            (56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"),
            (63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"),
            (64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"),
            (65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"),
        ];
        for (count, digest) in expected {
            assert_eq!(hex(&sha256(&vec![b'a'; count])), digest, "{count} bytes");
        }
    }
}
