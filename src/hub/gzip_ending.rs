//! The end of a gzip client's body. A hub that compresses sends each event compressed once for
//! every gzip client; when the server's stop ends such a client's body, the body must still end as
//! a whole gzip member: the rest of a unit its last write stopped inside, the final block, and a
//! trailer with the CRC-32 and length of every plain byte the client was sent. Those bytes are the
//! client's own lead (its header, first bytes and history, tracked here as they are written) and
//! the range of the shared backlog it received (whose checksum the feed finds from running
//! checksums kept per event, in `feed.rs`).
//!
//! Not here: writing the end, which the server's socket does when its body ends (the hub hands it
//! this closure through [`Sink::set_ending`](super::Sink::set_ending)).

use std::sync::{Arc, Mutex, PoisonError, Weak};

use super::registry::Key;
use super::shared::Inner;
use super::sink::Ending;
use crate::compress::deflate::Deflater;
use crate::compress::gzip::{self, Checksum};

/// What a gzip client was sent before its first backlog byte (its header, first bytes and history),
/// as it was being sent: its end needs to know where the backlog's bytes start, and what the plain
/// bytes before them were. Updated before each write, because the body may end as that write ends
/// (the server's stop), before the writing thread sees it return.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Lead {
    /// Written in full.
    done: LeadPart,
    /// Written in full once the write in progress (if any) is: `done` and that write's bytes.
    writing: LeadPart,
}

/// The first bytes of a gzip client's body: how many, and the checksum of their plain bytes.
#[derive(Debug, Clone, Copy, Default)]
struct LeadPart {
    bytes: u64,
    plain: Checksum,
}

impl Lead {
    /// For a body that has `written` bytes: the checksum of the plain bytes of its lead, and how
    /// many bytes of the backlog followed it. `None` inside the lead (before the header is whole,
    /// or inside a piece, which only a body ended mid-write can be).
    fn split(&self, written: u64) -> Option<(Checksum, u64)> {
        if written < gzip::HEADER.len() as u64 {
            return None;
        }
        if written == self.done.bytes {
            return Some((self.done.plain, 0));
        }
        let past = written.checked_sub(self.writing.bytes)?;
        Some((self.writing.plain, past))
    }
}

/// The lead is about to grow by `bytes`, whose plain bytes have `plain` as their checksum.
pub(super) fn lead_writes(lead: &Mutex<Lead>, bytes: usize, plain: Checksum) {
    let mut lead = lead.lock().unwrap_or_else(PoisonError::into_inner);
    let done = lead.done;
    lead.writing = LeadPart { bytes: done.bytes + bytes as u64, plain: done.plain.then(plain) };
}

/// The write that [`lead_writes`] announced is done.
pub(super) fn lead_written(lead: &Mutex<Lead>) {
    let mut lead = lead.lock().unwrap_or_else(PoisonError::into_inner);
    lead.done = lead.writing;
}

/// The end of gzip client `key`'s body: the rest of any unit its last write stopped inside, the
/// final block, and the trailer, whose checksum is the lead's followed by the backlog range the
/// client received (two running checksums' difference: see `feed.rs`). The hub is held weakly:
/// a socket that outlives it has nothing to end with, and is cut.
pub(super) fn gzip_ending(inner: Weak<Inner>, key: Key, lead: Arc<Mutex<Lead>>) -> Ending {
    Box::new(move |written, last| {
        let (lead, received) = lead.lock().unwrap_or_else(PoisonError::into_inner).split(written)?;
        let inner = inner.upgrade()?;
        let range = inner.lock().registry.gzip_range(key, received)?;
        let mut end = range.rest;
        let mut checksum = lead.then(range.checksum);
        if !last.is_empty() {
            // Last plain bytes (a drain's `retry:` line): one more stored unit, in the checksum.
            Deflater::stored_unit(last, &mut end);
            checksum = checksum.then(Checksum::of(last));
        }
        Deflater::finish(&mut end);
        end.extend_from_slice(&checksum.trailer());
        Some(end)
    })
}
