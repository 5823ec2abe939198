//! The backlog: every byte sent to a hub's clients, as one append-only log addressed by stream
//! offset. Each client keeps a cursor (the offset of the next byte it needs); publishing is an
//! append, and sending is "write everything between the cursor and the end". Bytes that every
//! client has passed are dropped from the front.
//!
//! Not here: the cursors (the registry's) and which bytes may go (the feed, `feed.rs`, which holds
//! one backlog per coding).

#[derive(Debug, Default)]
pub(crate) struct Backlog {
    /// Stream offset of `bytes[0]`.
    start: u64,
    bytes: Vec<u8>,
}

impl Backlog {
    /// The offset one past the last byte ever appended.
    pub fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }

    /// Bytes held in memory.
    pub fn held(&self) -> usize {
        self.bytes.len()
    }

    pub fn append(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    /// Advances the end without keeping the bytes: nobody is listening.
    pub fn skip(&mut self, len: usize) {
        self.start = self.end() + len as u64;
        self.bytes.clear();
    }

    /// The bytes from `from` to the end.
    ///
    /// Invariant relied on: `from` is a cursor of a live client, and bytes are only dropped below
    /// the lowest such cursor, so `from >= start`.
    pub fn since(&self, from: u64) -> &[u8] {
        let at = usize::try_from(from.saturating_sub(self.start)).unwrap_or(usize::MAX);
        self.bytes.get(at..).unwrap_or(&[])
    }

    /// Drops the bytes before `offset`.
    pub fn drop_before(&mut self, offset: u64) {
        let count = usize::try_from(offset.saturating_sub(self.start)).unwrap_or(usize::MAX).min(self.bytes.len());
        self.bytes.drain(..count);
        self.start += count as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_survive_trimming() {
        let mut log = Backlog::default();
        log.append(b"abc");
        log.append(b"def");
        assert_eq!((log.end(), log.since(2)), (6, &b"cdef"[..]));
        log.drop_before(4);
        assert_eq!((log.held(), log.since(4), log.since(5)), (2, &b"ef"[..], &b"f"[..]));
        log.skip(10);
        assert_eq!((log.end(), log.held(), log.since(16)), (16, 0, &b""[..]));
        log.append(b"g");
        assert_eq!(log.since(16), b"g");
    }
}
