//! A DEFLATE encoder (RFC 1951): LZ77 matching over a 32 KiB window with hash chains, and for each
//! block the smallest of a stored, a fixed-Huffman and a dynamic-Huffman encoding.
//!
//! Input comes in *flush units* (one event each): every unit is compressed completely and ends with
//! a sync flush (an empty stored block), so its output ends on a byte boundary and a decoder can
//! decode everything sent so far. A unit may refer back to earlier units (a stream's best ratio),
//! or to nothing before it ([`Deflater::compress_independent`]), so that its bytes can be spliced
//! into any stream at a unit boundary.
//!
//! Memory: the window (at most 64 KiB), a hash table of 2^15 and a chain table of 2^15 positions
//! (4 bytes each), and the tokens of one block (up to 32 Ki, 4 bytes each): about 450 KiB per
//! encoder, allocated when it is made.

use super::huffman::{code_lengths, codes};

/// The most the level can be: longest match searches.
pub const MAX_LEVEL: u32 = 9;
/// The level that trades speed and ratio evenly.
pub const DEFAULT_LEVEL: u32 = 6;

const WINDOW: usize = 32 * 1024;
const WINDOW_MASK: usize = WINDOW - 1;
const MIN_MATCH: usize = 3;
const MAX_MATCH: usize = 258;
const HASH_BITS: u32 = 15;
const HASH_SIZE: usize = 1 << HASH_BITS;
/// Input compressed per step: the window holds at most this plus the 32 KiB before it.
const STEP: usize = WINDOW;
/// Tokens per block at most, which bounds a block's token buffer: one step's worth, so that
/// incompressible input costs one stored block header (5 bytes) per 32 KiB.
const MAX_BLOCK_TOKENS: usize = STEP;
/// Blocks with fewer tokens are never dynamic (see `write_block`).
const MIN_DYNAMIC_TOKENS: usize = 128;
/// The end-of-block symbol.
const END_OF_BLOCK: usize = 256;
/// A token: a literal byte, or a match `(length - 3) << 16 | distance` with this bit set.
const MATCH_FLAG: u32 = 1 << 31;

const LENGTH_BASE: [u16; 29] =
    [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA: [u8; 29] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
    8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] =
    [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
/// The order code-length code lengths are sent in.
const CODE_LENGTH_ORDER: [usize; 19] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/// The length code (0-based, for symbol 257 + code) of a match length.
fn length_code(length: usize) -> usize {
    LENGTH_BASE.partition_point(|&base| usize::from(base) <= length) - 1
}

/// The distance code of a match distance.
fn distance_code(distance: usize) -> usize {
    DIST_BASE.partition_point(|&base| usize::from(base) <= distance) - 1
}

/// Bits written least significant first, as DEFLATE packs them.
#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    bits: u64,
    count: u32,
}

impl BitWriter {
    fn write(&mut self, value: u32, count: u32) {
        self.bits |= u64::from(value) << self.count;
        self.count += count;
        while self.count >= 8 {
            self.out.push(self.bits as u8);
            self.bits >>= 8;
            self.count -= 8;
        }
    }

    /// Pads with zero bits to the next byte boundary.
    fn align(&mut self) {
        if self.count > 0 {
            self.out.push(self.bits as u8);
            self.bits = 0;
            self.count = 0;
        }
    }
}

/// A DEFLATE encoder for one stream, keeping its window between flush units.
pub struct Deflater {
    max_chain: usize,
    nice_length: usize,
    stored_only: bool,
    /// Recent input: up to 32 KiB already compressed (which matches may refer to), then the input
    /// being compressed.
    window: Vec<u8>,
    /// For each hash, the latest position with it, plus one (0: none).
    head: Vec<u32>,
    /// For each position (modulo the window size), the previous one with the same hash, plus one.
    prev: Vec<u32>,
    /// How many bytes have slid out of the window before `window[0]`.
    base: u64,
    tokens: Vec<u32>,
    bits: BitWriter,
}

impl Deflater {
    /// An encoder at `level` (0: stored blocks only, 1: fastest, [`MAX_LEVEL`]: smallest).
    pub fn new(level: u32) -> Deflater {
        let level = level.min(MAX_LEVEL);
        let (max_chain, nice_length) = match level {
            0 => (0, 0),
            1 => (4, 16),
            2 => (8, 32),
            3 => (16, 64),
            4 => (32, 96),
            5 => (64, 128),
            6 => (128, 128),
            7 => (256, 192),
            8 => (1024, 258),
            _ => (4096, 258),
        };
        Deflater {
            max_chain,
            nice_length,
            stored_only: level == 0,
            window: Vec::new(),
            head: vec![0; HASH_SIZE],
            prev: vec![0; WINDOW],
            base: 0,
            tokens: Vec::new(),
            bits: BitWriter::default(),
        }
    }

    /// Compresses `input` as one flush unit, which may refer to earlier units, and appends its
    /// bytes to `out`: complete blocks ending with a sync flush, on a byte boundary.
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.compress_unit(input, out, false);
    }

    /// Compresses `input` as one flush unit that refers to nothing before it: its bytes can follow
    /// any unit's in any stream. The window still moves on (later [`compress`](Self::compress)
    /// calls may refer to this input).
    pub fn compress_independent(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.compress_unit(input, out, true);
    }

    /// `input` as a flush unit of stored blocks, with no encoder: for a few bytes that are sent
    /// once (a client's first line), where making an encoder would cost more than it saves.
    pub fn stored_unit(input: &[u8], out: &mut Vec<u8>) {
        for piece in input.chunks(65_535) {
            let length = piece.len() as u16;
            out.push(0); // BFINAL = 0, BTYPE = 00, then padding to the byte
            out.extend_from_slice(&length.to_le_bytes());
            out.extend_from_slice(&(!length).to_le_bytes());
            out.extend_from_slice(piece);
        }
        // The sync flush.
        out.extend_from_slice(&[0x00, 0x00, 0x00, 0xFF, 0xFF]);
    }

    /// The bytes that end the stream: a final, empty block, after the last flush unit.
    pub fn finish(out: &mut Vec<u8>) {
        // BFINAL = 1, BTYPE = 01 (fixed), then the end-of-block code (7 zero bits), padded.
        out.extend_from_slice(&[0x03, 0x00]);
    }

    fn compress_unit(&mut self, input: &[u8], out: &mut Vec<u8>, independent: bool) {
        // Where the unit starts, counted from the start of the stream: an independent unit may
        // refer to nothing before it.
        let unit_start = self.base + self.window.len() as u64;
        for piece in input.chunks(STEP) {
            self.slide(piece.len());
            let start = self.window.len();
            self.window.extend_from_slice(piece);
            let floor = if independent { unit_start.saturating_sub(self.base) as usize } else { 0 };
            let end = self.window.len();
            if self.stored_only {
                self.write_stored(start, end);
            } else {
                self.tokenize_and_write(start, end, floor);
            }
        }
        // The sync flush: an empty stored block, which ends on a byte boundary.
        self.bits.write(0, 3);
        self.bits.align();
        self.bits.out.extend_from_slice(&[0x00, 0x00, 0xFF, 0xFF]);
        out.append(&mut self.bits.out);
    }

    /// Makes room for `incoming` more bytes: when they would not fit, drops the oldest input so
    /// that the window keeps the last 32 KiB, and moves the hash tables' positions down with it.
    /// That happens once per 32 KiB of input at most, whatever the size of the units.
    fn slide(&mut self, incoming: usize) {
        if self.window.len() + incoming <= 2 * WINDOW {
            return;
        }
        let drop = self.window.len() - WINDOW;
        self.window.drain(..drop);
        self.base += drop as u64;
        let shift = drop as u32;
        for entry in self.head.iter_mut().chain(self.prev.iter_mut()) {
            *entry = entry.saturating_sub(shift);
        }
    }

    fn hash(&self, at: usize) -> usize {
        let w = &self.window;
        let key = u32::from(w[at]) | u32::from(w[at + 1]) << 8 | u32::from(w[at + 2]) << 16;
        (key.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
    }

    /// The chain slot of window position `at`: by position in the stream, which sliding does not
    /// change.
    fn slot(&self, at: usize) -> usize {
        (self.base as usize).wrapping_add(at) & WINDOW_MASK
    }

    /// Records position `at` in the hash chains.
    fn insert(&mut self, at: usize) {
        let hash = self.hash(at);
        let slot = self.slot(at);
        self.prev[slot] = self.head[hash];
        self.head[hash] = at as u32 + 1;
    }

    /// The longest match for the bytes at `at` (within `end`), among earlier positions no lower than
    /// `floor` and no further back than the window: `(length, distance)`, or a length under 3.
    fn longest_match(&self, at: usize, end: usize, floor: usize) -> (usize, usize) {
        let max_length = MAX_MATCH.min(end - at);
        let (mut best_length, mut best_distance) = (0, 0);
        if max_length < MIN_MATCH {
            return (0, 0);
        }
        let w = &self.window;
        let mut candidate = self.head[self.hash(at)] as usize;
        let mut chain = self.max_chain;
        while candidate != 0 && chain > 0 {
            let from = candidate - 1;
            if from < floor || from >= at || at - from > WINDOW {
                break;
            }
            // Cheap rejection first: a longer match must agree at the current best length.
            if w[from + best_length] == w[at + best_length] {
                let length =
                    w[from..from + max_length].iter().zip(&w[at..at + max_length]).take_while(|(a, b)| a == b).count();
                if length > best_length {
                    (best_length, best_distance) = (length, at - from);
                    if length >= self.nice_length || length == max_length {
                        break;
                    }
                }
            }
            let next = self.prev[self.slot(from)] as usize;
            // A chain entry overwritten by a newer position would lead forward: stop there.
            if next >= candidate {
                break;
            }
            candidate = next;
            chain -= 1;
        }
        if best_length < MIN_MATCH {
            return (0, 0);
        }
        // `best_length` never passes `max_length`, so the cheap check above stays in bounds.
        (best_length, best_distance)
    }

    /// Turns `window[start..end]` into literals and matches, writing a block whenever the token
    /// buffer is full, and at the end.
    fn tokenize_and_write(&mut self, start: usize, end: usize, floor: usize) {
        let mut at = start;
        let mut block_start = start;
        while at < end {
            let (length, distance) = self.longest_match(at, end, floor);
            if length >= MIN_MATCH {
                self.tokens.push(MATCH_FLAG | ((length - MIN_MATCH) as u32) << 16 | distance as u32);
                for position in at..(at + length).min(end.saturating_sub(MIN_MATCH - 1)) {
                    self.insert(position);
                }
                at += length;
            } else {
                self.tokens.push(u32::from(self.window[at]));
                if at + MIN_MATCH <= end {
                    self.insert(at);
                }
                at += 1;
            }
            if self.tokens.len() >= MAX_BLOCK_TOKENS {
                self.write_block(block_start, at);
                block_start = at;
            }
        }
        if !self.tokens.is_empty() {
            self.write_block(block_start, end);
        }
    }

    /// Writes the tokens of `window[start..end]` as the smallest of a stored, a fixed and a
    /// dynamic block, and clears them.
    fn write_block(&mut self, start: usize, end: usize) {
        let mut literal_frequencies = [0u32; 286];
        let mut distance_frequencies = [0u32; 30];
        for &token in &self.tokens {
            if token & MATCH_FLAG != 0 {
                literal_frequencies[257 + length_code(token_length(token))] += 1;
                distance_frequencies[distance_code(token_distance(token))] += 1;
            } else {
                literal_frequencies[token as usize] += 1;
            }
        }
        literal_frequencies[END_OF_BLOCK] = 1;
        // The extra bits follow from the code counts: every length (distance) code has a fixed
        // number of them, whatever the block's Huffman codes.
        let extra = |frequencies: &[u32], extra: &[u8]| -> u64 {
            frequencies.iter().zip(extra).map(|(&f, &bits)| u64::from(f) * u64::from(bits)).sum()
        };
        let extra_bits = extra(&literal_frequencies[257..], &LENGTH_EXTRA) + extra(&distance_frequencies, &DIST_EXTRA);
        let cost = |literal_lengths: &[u8], distance_lengths: &[u8]| -> u64 {
            let literals: u64 =
                literal_frequencies.iter().zip(literal_lengths).map(|(&f, &l)| u64::from(f) * u64::from(l)).sum();
            let distances: u64 =
                distance_frequencies.iter().zip(distance_lengths).map(|(&f, &l)| u64::from(f) * u64::from(l)).sum();
            literals + distances + extra_bits
        };
        let (fixed_literals, fixed_distances) = fixed_lengths();
        let fixed_cost = 3 + cost(&fixed_literals, &fixed_distances);
        // A dynamic block's header alone costs some 60 bits or more, and building its codes costs
        // more time than a small block takes to write: small blocks are fixed or stored.
        let dynamic = (self.tokens.len() >= MIN_DYNAMIC_TOKENS)
            .then(|| DynamicTrees::new(&literal_frequencies, &distance_frequencies));
        let dynamic_cost = dynamic.as_ref().map_or(u64::MAX, |dynamic| {
            3 + dynamic.header_bits() + cost(&dynamic.literal_lengths, &dynamic.distance_lengths)
        });
        let bytes = (end - start) as u64;
        let stored_cost = 8 * bytes + 40 * bytes.div_ceil(65_535).max(1) + 7;
        if stored_cost <= fixed_cost.min(dynamic_cost) {
            self.tokens.clear();
            self.write_stored(start, end);
        } else if let Some(dynamic) = dynamic.filter(|_| dynamic_cost < fixed_cost) {
            self.bits.write(0b100, 3); // BFINAL = 0, BTYPE = 10
            dynamic.write_header(&mut self.bits);
            let codes = (codes(&dynamic.literal_lengths), codes(&dynamic.distance_lengths));
            self.write_tokens(&dynamic.literal_lengths, &dynamic.distance_lengths, &codes.0, &codes.1);
        } else {
            self.bits.write(0b010, 3); // BFINAL = 0, BTYPE = 01
            let fixed = fixed_codes();
            self.write_tokens(&fixed_literals, &fixed_distances, &fixed.0, &fixed.1);
        }
    }

    /// Writes `window[start..end]` as stored blocks.
    fn write_stored(&mut self, start: usize, end: usize) {
        for piece in self.window[start..end].chunks(65_535) {
            self.bits.write(0, 3); // BFINAL = 0, BTYPE = 00
            self.bits.align();
            let length = piece.len() as u16;
            self.bits.out.extend_from_slice(&length.to_le_bytes());
            self.bits.out.extend_from_slice(&(!length).to_le_bytes());
            self.bits.out.extend_from_slice(piece);
        }
    }

    /// Writes the tokens with these codes, then the end of the block, and clears them.
    fn write_tokens(
        &mut self,
        literal_lengths: &[u8],
        distance_lengths: &[u8],
        literal_codes: &[u16],
        distance_codes: &[u16],
    ) {
        let bits = &mut self.bits;
        for &token in &self.tokens {
            if token & MATCH_FLAG != 0 {
                let (length, distance) = (token_length(token), token_distance(token));
                let code = length_code(length);
                bits.write(u32::from(literal_codes[257 + code]), u32::from(literal_lengths[257 + code]));
                bits.write((length - usize::from(LENGTH_BASE[code])) as u32, u32::from(LENGTH_EXTRA[code]));
                let code = distance_code(distance);
                bits.write(u32::from(distance_codes[code]), u32::from(distance_lengths[code]));
                bits.write((distance - usize::from(DIST_BASE[code])) as u32, u32::from(DIST_EXTRA[code]));
            } else {
                let literal = token as usize;
                bits.write(u32::from(literal_codes[literal]), u32::from(literal_lengths[literal]));
            }
        }
        bits.write(u32::from(literal_codes[END_OF_BLOCK]), u32::from(literal_lengths[END_OF_BLOCK]));
        self.tokens.clear();
    }
}

fn token_length(token: u32) -> usize {
    ((token & !MATCH_FLAG) >> 16) as usize + MIN_MATCH
}

fn token_distance(token: u32) -> usize {
    (token & 0xFFFF) as usize
}

/// The fixed Huffman codes, made once.
fn fixed_codes() -> &'static (Vec<u16>, Vec<u16>) {
    static CODES: std::sync::OnceLock<(Vec<u16>, Vec<u16>)> = std::sync::OnceLock::new();
    CODES.get_or_init(|| {
        let (literals, distances) = fixed_lengths();
        (codes(&literals), codes(&distances))
    })
}

/// The code lengths of the fixed Huffman codes (RFC 1951 §3.2.6).
fn fixed_lengths() -> ([u8; 288], [u8; 30]) {
    let mut literals = [8u8; 288];
    literals[144..256].fill(9);
    literals[256..280].fill(7);
    (literals, [5u8; 30])
}

/// The codes of a dynamic block, and its header: the code lengths, run-length encoded with the
/// code-length code.
struct DynamicTrees {
    literal_lengths: Vec<u8>,
    distance_lengths: Vec<u8>,
    /// The run-length symbols of the code lengths, with their extra bits.
    runs: Vec<(u8, u8)>,
    code_length_lengths: Vec<u8>,
    /// How many code-length code lengths are sent (4 to 19).
    code_length_count: usize,
}

impl DynamicTrees {
    fn new(literal_frequencies: &[u32; 286], distance_frequencies: &[u32; 30]) -> DynamicTrees {
        let literal_lengths = code_lengths(literal_frequencies, 15);
        let mut distance_lengths = code_lengths(distance_frequencies, 15);
        // A block with fewer than two distance codes in use still sends a complete code of two
        // one-bit codes, which every decoder accepts.
        let used: Vec<usize> = (0..30).filter(|&d| distance_lengths[d] > 0).collect();
        if used.len() < 2 {
            let first = used.first().copied().unwrap_or(0);
            distance_lengths[first] = 1;
            distance_lengths[if first == 0 { 1 } else { 0 }] = 1;
        }
        let literal_count = 257 + literal_lengths[257..].iter().rposition(|&l| l > 0).map_or(0, |p| p + 1);
        let distance_count = distance_lengths.iter().rposition(|&l| l > 0).map_or(1, |p| p + 1);
        let mut all = literal_lengths[..literal_count].to_vec();
        all.extend_from_slice(&distance_lengths[..distance_count]);
        let runs = run_lengths(&all);
        let mut frequencies = [0u32; 19];
        for &(symbol, _) in &runs {
            frequencies[usize::from(symbol)] += 1;
        }
        let code_length_lengths = code_lengths(&frequencies, 7);
        let code_length_count =
            4.max(CODE_LENGTH_ORDER.iter().rposition(|&s| code_length_lengths[s] > 0).map_or(0, |p| p + 1));
        DynamicTrees {
            literal_lengths: literal_lengths[..literal_count].to_vec(),
            distance_lengths: distance_lengths[..distance_count].to_vec(),
            runs,
            code_length_lengths,
            code_length_count,
        }
    }

    fn header_bits(&self) -> u64 {
        let runs: u64 = self
            .runs
            .iter()
            .map(|&(symbol, _)| {
                u64::from(self.code_length_lengths[usize::from(symbol)]) + u64::from(extra_bits(symbol))
            })
            .sum();
        5 + 5 + 4 + 3 * self.code_length_count as u64 + runs
    }

    fn write_header(&self, bits: &mut BitWriter) {
        bits.write((self.literal_lengths.len() - 257) as u32, 5);
        bits.write((self.distance_lengths.len() - 1) as u32, 5);
        bits.write((self.code_length_count - 4) as u32, 4);
        for &symbol in &CODE_LENGTH_ORDER[..self.code_length_count] {
            bits.write(u32::from(self.code_length_lengths[symbol]), 3);
        }
        let codes = codes(&self.code_length_lengths);
        for &(symbol, extra) in &self.runs {
            let s = usize::from(symbol);
            bits.write(u32::from(codes[s]), u32::from(self.code_length_lengths[s]));
            bits.write(u32::from(extra), extra_bits(symbol));
        }
    }
}

/// Extra bits after a code-length symbol: 16 repeats 3-6 times, 17 zeros 3-10, 18 zeros 11-138.
fn extra_bits(symbol: u8) -> u32 {
    match symbol {
        16 => 2,
        17 => 3,
        18 => 7,
        _ => 0,
    }
}

/// Code lengths as code-length symbols: a length, or a run of the previous one (16) or of zeros
/// (17, 18), each with its extra-bit value.
fn run_lengths(lengths: &[u8]) -> Vec<(u8, u8)> {
    let mut runs = Vec::new();
    let mut at = 0;
    while at < lengths.len() {
        let value = lengths[at];
        let run = lengths[at..].iter().take_while(|&&l| l == value).count();
        if value == 0 && run >= 3 {
            let run = run.min(138);
            if run >= 11 {
                runs.push((18, (run - 11) as u8));
            } else {
                runs.push((17, (run - 3) as u8));
            }
            at += run;
        } else if value != 0 && run >= 4 {
            // The value itself, then repeats of it, 3 to 6 at a time.
            runs.push((value, 0));
            let mut left = run - 1;
            while left >= 3 {
                let repeat = left.min(6);
                runs.push((16, (repeat - 3) as u8));
                left -= repeat;
            }
            for _ in 0..left {
                runs.push((value, 0));
            }
            at += run;
        } else {
            runs.push((value, 0));
            at += 1;
        }
    }
    runs
}
