//! A small DEFLATE decoder (RFC 1951) and gzip reader (RFC 1952), written for bare-sse's tests
//! only: it checks the crate's encoder from the outside, in the library's unit tests, the
//! integration tests and the DEFLATE fuzz target. It decodes bit by bit (slow and simple), and
//! stops without error where the input ends between blocks, as a stream read so far does. Its
//! length and distance tables are typed in from RFC 1951 again rather than taken from the encoder,
//! so that a wrong entry there cannot check itself.
//!
//! One copy serves all three: the library compiles it only for its own tests (`cfg(test)`), and
//! the integration tests (`tests/common`) and the fuzz target include this file as a module of
//! their own, so the library never ships it and the crate keeps `ureq` as its only
//! dev-dependency. It keeps no limit on what it writes out: feed it only the crate's own output.

/// What decoding the input came to.
#[derive(Debug, PartialEq, Eq)]
pub struct Inflated {
    /// The bytes decoded.
    pub data: Vec<u8>,
    /// The final block was decoded.
    pub finished: bool,
    /// Input bytes used (through the end of the final block, once finished).
    pub consumed: usize,
}

struct Bits<'a> {
    input: &'a [u8],
    at: usize, // in bits
}

impl Bits<'_> {
    fn bit(&mut self) -> Result<u32, String> {
        let byte = *self.input.get(self.at / 8).ok_or("input ends inside a block")?;
        let bit = (byte >> (self.at % 8)) & 1;
        self.at += 1;
        Ok(u32::from(bit))
    }

    fn bits(&mut self, count: u32) -> Result<u32, String> {
        let mut value = 0;
        for i in 0..count {
            value |= self.bit()? << i;
        }
        Ok(value)
    }

    fn align(&mut self) {
        self.at = self.at.div_ceil(8) * 8;
    }

    fn at_end(&self) -> bool {
        self.at.div_ceil(8) >= self.input.len()
    }
}

/// A canonical Huffman code as counts per length and symbols in code order.
struct Code {
    count: [u16; 16],
    symbols: Vec<u16>,
}

impl Code {
    fn new(lengths: &[u8]) -> Result<Code, String> {
        let mut count = [0u16; 16];
        for &len in lengths {
            count[usize::from(len)] += 1;
        }
        count[0] = 0;
        let mut left: i32 = 1;
        for &codes_of_length in &count[1..] {
            left = (left << 1) - i32::from(codes_of_length);
            if left < 0 {
                return Err("an over-subscribed code".into());
            }
        }
        let used: u16 = count.iter().sum();
        if left > 0 && used != 1 {
            return Err("an incomplete code".into());
        }
        let mut offsets = [0u16; 16];
        for len in 1..15 {
            offsets[len + 1] = offsets[len] + count[len];
        }
        let mut symbols = vec![0u16; used as usize];
        for (symbol, &len) in lengths.iter().enumerate() {
            if len != 0 {
                symbols[usize::from(offsets[usize::from(len)])] = symbol as u16;
                offsets[usize::from(len)] += 1;
            }
        }
        Ok(Code { count, symbols })
    }

    fn decode(&self, bits: &mut Bits) -> Result<u16, String> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= bits.bit()? as i32;
            let count = i32::from(self.count[len]);
            if code - count < first {
                return Ok(self.symbols[(index + (code - first)) as usize]);
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err("no such code".into())
    }
}

const LENGTH_BASE: [u16; 29] =
    [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA: [u32; 29] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
    8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u32; 30] =
    [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];

/// Decodes a raw DEFLATE stream, as far as the input goes (stopping between blocks).
pub fn inflate(input: &[u8]) -> Result<Inflated, String> {
    let mut bits = Bits { input, at: 0 };
    let mut out = Vec::new();
    loop {
        if bits.at_end() {
            return Ok(Inflated { data: out, finished: false, consumed: input.len() });
        }
        let last = bits.bit()? == 1;
        match bits.bits(2)? {
            0 => {
                bits.align();
                let at = bits.at / 8;
                let header = input.get(at..at + 4).ok_or("input ends inside a stored block's length")?;
                let length = u16::from_le_bytes([header[0], header[1]]);
                if !length != u16::from_le_bytes([header[2], header[3]]) {
                    return Err("a stored block's length and its complement disagree".into());
                }
                let data = input.get(at + 4..at + 4 + usize::from(length)).ok_or("input ends inside a stored block")?;
                out.extend_from_slice(data);
                bits.at = (at + 4 + usize::from(length)) * 8;
            }
            1 => {
                let mut literal_lengths = [8u8; 288];
                literal_lengths[144..256].fill(9);
                literal_lengths[256..280].fill(7);
                // All 32 fixed distance codes exist; 30 and 31 never occur in valid data.
                codes_block(&mut bits, &mut out, &Code::new(&literal_lengths)?, &Code::new(&[5u8; 32])?)?;
            }
            2 => {
                let (literals, distances) = dynamic_codes(&mut bits)?;
                codes_block(&mut bits, &mut out, &literals, &distances)?;
            }
            _ => return Err("block type 3".into()),
        }
        if last {
            return Ok(Inflated { data: out, finished: true, consumed: bits.at.div_ceil(8) });
        }
    }
}

fn dynamic_codes(bits: &mut Bits) -> Result<(Code, Code), String> {
    const ORDER: [usize; 19] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
    let literal_count = bits.bits(5)? as usize + 257;
    let distance_count = bits.bits(5)? as usize + 1;
    let code_length_count = bits.bits(4)? as usize + 4;
    if literal_count > 286 || distance_count > 30 {
        return Err("too many codes".into());
    }
    let mut code_length_lengths = [0u8; 19];
    for &symbol in &ORDER[..code_length_count] {
        code_length_lengths[symbol] = bits.bits(3)? as u8;
    }
    let code_length_code = Code::new(&code_length_lengths)?;
    let mut lengths = Vec::with_capacity(literal_count + distance_count);
    while lengths.len() < literal_count + distance_count {
        match code_length_code.decode(bits)? {
            symbol @ 0..=15 => lengths.push(symbol as u8),
            16 => {
                let previous = *lengths.last().ok_or("a repeat with nothing before it")?;
                let times = 3 + bits.bits(2)?;
                lengths.extend(std::iter::repeat_n(previous, times as usize));
            }
            17 => {
                let times = 3 + bits.bits(3)?;
                lengths.extend(std::iter::repeat_n(0, times as usize));
            }
            _ => {
                let times = 11 + bits.bits(7)?;
                lengths.extend(std::iter::repeat_n(0, times as usize));
            }
        }
    }
    if lengths.len() != literal_count + distance_count {
        return Err("code lengths run past their count".into());
    }
    if lengths[256] == 0 {
        return Err("no end-of-block code".into());
    }
    Ok((Code::new(&lengths[..literal_count])?, Code::new(&lengths[literal_count..])?))
}

fn codes_block(bits: &mut Bits, out: &mut Vec<u8>, literals: &Code, distances: &Code) -> Result<(), String> {
    loop {
        let symbol = literals.decode(bits)?;
        match symbol {
            0..=255 => out.push(symbol as u8),
            256 => return Ok(()),
            _ => {
                let code = usize::from(symbol - 257);
                if code >= 29 {
                    return Err("a bad length code".into());
                }
                let length = usize::from(LENGTH_BASE[code]) + bits.bits(LENGTH_EXTRA[code])? as usize;
                let code = usize::from(distances.decode(bits)?);
                if code >= 30 {
                    return Err("a bad distance code".into());
                }
                let distance = usize::from(DIST_BASE[code]) + bits.bits(DIST_EXTRA[code])? as usize;
                if distance > out.len() || distance > 32 * 1024 {
                    return Err(format!("a distance {distance} past the start ({} bytes out)", out.len()));
                }
                for _ in 0..length {
                    out.push(out[out.len() - distance]);
                }
            }
        }
    }
}

/// CRC-32 bit by bit: independent of the crate's table-driven one.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// Decodes one gzip member as far as the input goes. Returns the data and whether the member
/// ended, with its CRC-32 and length checked.
pub fn gunzip(input: &[u8]) -> Result<(Vec<u8>, bool), String> {
    if input.len() < 10 {
        return Ok((Vec::new(), false));
    }
    if input[..3] != [0x1F, 0x8B, 8] {
        return Err("not a gzip header".into());
    }
    if input[3] != 0 {
        return Err("header flags this reader does not take".into());
    }
    let inflated = inflate(&input[10..])?;
    if !inflated.finished {
        return Ok((inflated.data, false));
    }
    let trailer = input.get(10 + inflated.consumed..10 + inflated.consumed + 8).ok_or("input ends in the trailer")?;
    let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    if crc != crc32(&inflated.data) {
        return Err("the trailer's CRC-32 is wrong".into());
    }
    if size != inflated.data.len() as u32 {
        return Err("the trailer's length is wrong".into());
    }
    if input.len() != 10 + inflated.consumed + 8 {
        return Err("bytes after the member".into());
    }
    Ok((inflated.data, true))
}
