//! The writer threads: each owns a shard of the clients and sends each of them everything past
//! its cursor, one write per client per round, without ever waiting on a socket.

use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard, PoisonError};
use std::time::Instant;

use super::{Inner, Owner, State, HEARTBEAT_BYTES};
use crate::error::is_timeout;

/// The send timeout of sockets owned by the writer threads. A full socket makes a write give up
/// after this long (the kernel rounds it up to one clock tick), and the client is handed back to its
/// connection thread. It is as short as the platform allows without a non-blocking socket, which
/// would also make the connection thread's reads non-blocking.
pub(super) const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_micros(1);

/// One client to write to in this round.
struct Target {
    id: u64,
    socket: Arc<TcpStream>,
    cursor: u64,
    outcome: Outcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Everything was written.
    Sent,
    /// The socket filled up after this many bytes.
    Full(usize),
    /// The connection is broken.
    Failed,
}

/// The writer loop of shard `shard`. Returns when the hub has no clients left.
pub(super) fn run(inner: &Inner, shard: usize) {
    let mut round_bytes = Vec::new();
    let mut targets = Vec::new();
    let mut state = inner.lock();
    loop {
        state = match wait_for_work(inner, state, shard) {
            Some(state) => state,
            None => return,
        };
        let end = state.backlog.end();
        state.seen_end[shard] = end;
        let from = collect_targets(inner, &mut state, shard, end, &mut targets);
        round_bytes.clear();
        round_bytes.extend_from_slice(state.backlog.since(from));
        drop(state);

        for target in &mut targets {
            let skip = (target.cursor - from) as usize;
            target.outcome = write_without_waiting(&target.socket, &round_bytes[skip..]);
        }

        state = inner.lock();
        apply_outcomes(&mut state, shard, end, &targets);
        state.trim_backlog();
        inner.progress.notify_all();
    }
}

/// Sleeps until the backlog has grown past what this shard has handled; shard 0 also sends the
/// heartbeat when the stream has been silent long enough. `None` means: no clients, stop.
fn wait_for_work<'a>(
    inner: &'a Inner,
    mut state: MutexGuard<'a, State>,
    shard: usize,
) -> Option<MutexGuard<'a, State>> {
    loop {
        if state.subscriber_count == 0 {
            state.writers_running -= 1;
            inner.progress.notify_all();
            return None;
        }
        if state.backlog.end() > state.seen_end[shard] {
            return Some(state);
        }
        let heartbeat = inner.config.heartbeat.filter(|_| shard == 0);
        let sleep_for = match heartbeat {
            None => None,
            Some(interval) => {
                let due = state.last_append + interval;
                let now = Instant::now();
                if now >= due {
                    state.backlog.append(HEARTBEAT_BYTES);
                    state.last_append = now;
                    inner.work.notify_all();
                    continue;
                }
                Some(due - now)
            }
        };
        state.idle_writers += 1;
        state = match sleep_for {
            None => inner.work.wait(state).unwrap_or_else(PoisonError::into_inner),
            Some(timeout) => inner.work.wait_timeout(state, timeout).unwrap_or_else(PoisonError::into_inner).0,
        };
        state.idle_writers -= 1;
    }
}

/// Fills `targets` with this shard's clients that the writers own and that are behind, drops the
/// clients that have fallen too far behind, and returns the lowest cursor among the targets.
fn collect_targets(inner: &Inner, state: &mut State, shard: usize, end: u64, targets: &mut Vec<Target>) -> u64 {
    targets.clear();
    let mut from = end;
    let max_behind = inner.config.max_queued_bytes as u64;
    let mut dropped = 0;
    for (&id, sub) in state.shards[shard].iter_mut().filter(|(_, s)| !s.closed) {
        if end - sub.cursor > max_behind {
            sub.close();
            dropped += 1;
        } else if sub.owner == Owner::Writers && sub.cursor < end {
            from = from.min(sub.cursor);
            targets.push(Target { id, socket: Arc::clone(&sub.socket), cursor: sub.cursor, outcome: Outcome::Sent });
        }
    }
    state.stats.dropped_slow += dropped;
    from
}

fn apply_outcomes(state: &mut State, shard: usize, end: u64, targets: &[Target]) {
    for target in targets {
        let Some(sub) = state.subscriber(shard, target.id).filter(|s| !s.closed) else { continue };
        match target.outcome {
            Outcome::Sent => sub.cursor = end,
            Outcome::Full(written) => {
                sub.cursor = target.cursor + written as u64;
                sub.owner = Owner::Connection;
                sub.handed_back.store(true, Ordering::Release);
            }
            Outcome::Failed => sub.close(),
        }
    }
}

/// Writes `bytes` unless the socket fills up. A short count from `write` means the send timeout
/// expired with the socket full, so it is not retried.
fn write_without_waiting(socket: &TcpStream, bytes: &[u8]) -> Outcome {
    let mut socket = socket;
    let mut written = 0;
    while written < bytes.len() {
        match socket.write(&bytes[written..]) {
            Ok(0) => return Outcome::Failed,
            Ok(n) if written + n < bytes.len() => return Outcome::Full(written + n),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => return Outcome::Full(written),
            Err(_) => return Outcome::Failed,
        }
    }
    Outcome::Sent
}
