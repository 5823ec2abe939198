//! A hub backed by a Redis stream, so that several servers share one stream of events.
//!
//! # How events travel
//!
//! - **Publishing** appends the event to the stream (`XADD ... MAXLEN ~ N`), and nothing else: the
//!   call returns once Redis has it, or fails when Redis cannot be reached (nothing is dropped
//!   in silence). The entry's id (`<ms>-<seq>`) is the event's SSE `id:` when the event asked for
//!   one ([`Event::with_id`]); events without one travel the same way and are delivered live
//!   only (never replayed). Explicit ids are refused: Redis gives the ids.
//! - **Every server runs one reader** (`XREAD BLOCK` from the last entry it saw) that publishes
//!   each entry into its local hub. So every server delivers the same events in the same order,
//!   the publishing server included, and the local history is a cache of the stream.
//! - **Joining.** A client's `Last-Event-ID` is an entry id. If the local history has it, the
//!   local hub resumes it as always. If not (the client was on another server, or the cache
//!   moved on), the entries after it up to the last one the reader has published are read from
//!   the stream (`XRANGE`): the client joins the local fan-out at that same entry, under the hub's
//!   lock, so the hand-over has no gap and no duplicate. An id the stream does not hold (trimmed,
//!   or of another stream) gets the reset event and what the local history holds.
//! - **Faults.** The reader reconnects with backoff and jitter and goes on from its last entry. If
//!   that entry is gone (trimmed while it was away, or Redis restarted empty), events may have
//!   been lost: every client gets the reset event, the local history is forgotten, and the reader
//!   goes on from what the stream holds. Clients stay connected meanwhile, with heartbeats.

use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::registry::RESET_EVENT_TYPE;
use super::Inner;
use crate::jitter::Jitter;
use crate::redis::resp::Value;
use crate::redis::{Connection, RedisError, RedisUrl};
use crate::{Error, Event};

/// Entries kept in the stream, by default (`XADD ... MAXLEN ~`).
pub const DEFAULT_REDIS_MAX_LEN: usize = 10_000;
/// How long connecting and each command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one `XREAD` waits for entries.
const READ_BLOCK: Duration = Duration::from_secs(5);
/// Entries read at once.
const READ_COUNT: &[u8] = b"1000";
/// Entries fetched per `XRANGE` page when replaying.
const REPLAY_PAGE: usize = 1000;
/// Longest wait for this server's reader to reach a resuming client's last id. A reader that
/// follows the stream is normally within milliseconds of it; past this, the client gets the reset
/// event rather than a wait that looks like a hang.
const READER_CATCH_UP_TIMEOUT: Duration = Duration::from_secs(2);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The stream fields of an entry.
const FIELD_COMMENT: &[u8] = b"c";
const FIELD_TYPE: &[u8] = b"t";
const FIELD_RETRY: &[u8] = b"r";
const FIELD_DATA: &[u8] = b"d";
/// Present (`1`) on events that asked for an id: they are kept and replayed.
const FIELD_KEEP: &[u8] = b"k";

/// Where the stream is and how long it may grow.
#[derive(Debug, Clone)]
pub(crate) struct RedisConfig {
    pub url: RedisUrl,
    pub stream: String,
    pub max_len: usize,
}

/// The Redis side of a hub: the publishing connection, the reader's socket (to interrupt its
/// blocking read when the hub goes), and its stop signal.
///
/// The `publisher` and `replayer` locks are held across their Redis round trips, on purpose: each
/// guards one connection, which carries one exchange at a time, and holding the lock is what
/// keeps concurrent publishers' `XADD`s in the order they took it. Neither is the hub's lock,
/// which is never held across Redis I/O. A Redis that stops answering holds each for at most
/// the command timeout, after which the connection is dropped and made again by the next caller.
pub(crate) struct Backplane {
    config: RedisConfig,
    publisher: Mutex<Option<Connection>>,
    /// The id of the last entry this hub appended, for `flush` to wait for.
    last_published: Mutex<Option<String>>,
    /// For reading the entries a resuming client missed; kept between clients, so that many
    /// clients resuming at once (after a server restart) do not open a connection each.
    replayer: Mutex<Option<Connection>>,
    reader_socket: Mutex<Option<TcpStream>>,
    stopped: Mutex<bool>,
    stop: Condvar,
}

impl Backplane {
    pub fn new(config: RedisConfig) -> Backplane {
        Backplane {
            config,
            publisher: Mutex::new(None),
            last_published: Mutex::new(None),
            replayer: Mutex::new(None),
            reader_socket: Mutex::new(None),
            stopped: Mutex::new(false),
            stop: Condvar::new(),
        }
    }

    fn open(&self) -> Result<Connection, RedisError> {
        Connection::open(&self.config.url, COMMAND_TIMEOUT)
    }

    /// Appends events to the stream, pipelined in one round trip. Fails, with nothing appended
    /// after the failure, when Redis cannot be reached or refuses.
    pub fn publish(&self, events: &[Event]) -> Result<(), Error> {
        let mut commands: Vec<Vec<Vec<u8>>> = Vec::with_capacity(events.len());
        for event in events {
            commands.push(self.xadd(event)?);
        }
        let mut publisher = lock(&self.publisher);
        let connection = match publisher.as_mut() {
            Some(connection) => connection,
            None => publisher.insert(self.open().map_err(redis_error("connecting to Redis to publish"))?),
        };
        let borrowed: Vec<Vec<&[u8]>> = commands.iter().map(|c| c.iter().map(Vec::as_slice).collect()).collect();
        let replies = connection.pipeline(&borrowed);
        let replies = match replies {
            Ok(replies) => replies,
            Err(error) => {
                // A broken connection is made again by the next call.
                *publisher = None;
                return Err(redis_error("publishing to Redis")(error));
            }
        };
        if let Some(reply) = replies.iter().find(|reply| reply.as_str().is_none()) {
            let reply = RedisError::UnexpectedReply(format!("{reply:?}"));
            return Err(redis_error("publishing to Redis")(reply));
        }
        if let Some(id) = replies.last().and_then(Value::as_str) {
            *lock(&self.last_published) = Some(id.to_string());
        }
        Ok(())
    }

    /// The id of the last entry this hub appended, if it has appended any.
    pub fn last_published(&self) -> Option<String> {
        lock(&self.last_published).clone()
    }

    /// The `XADD` command for one event.
    fn xadd(&self, event: &Event) -> Result<Vec<Vec<u8>>, Error> {
        event.validate()?;
        if event.given_id().is_some() {
            return Err(Error::InvalidField {
                field: "id",
                reason: "a hub backed by Redis takes its ids from Redis entries: use with_id",
            });
        }
        let (comment, event_type, retry, data) = event.carried_fields();
        let mut command: Vec<Vec<u8>> = vec![
            b"XADD".to_vec(),
            self.config.stream.clone().into_bytes(),
            b"MAXLEN".to_vec(),
            b"~".to_vec(),
            self.config.max_len.to_string().into_bytes(),
            b"*".to_vec(),
        ];
        let mut field = |name: &[u8], value: Option<String>| {
            if let Some(value) = value {
                command.push(name.to_vec());
                command.push(value.into_bytes());
            }
        };
        field(FIELD_COMMENT, comment.map(str::to_string));
        field(FIELD_TYPE, event_type.map(str::to_string));
        field(FIELD_RETRY, retry.map(|ms| ms.to_string()));
        field(FIELD_DATA, data.map(str::to_string));
        field(FIELD_KEEP, event.wants_next_id().then(|| "1".to_string()));
        Ok(command)
    }

    /// The kept events after entry `after`, through entry `through`, from the stream, encoded with
    /// their ids. `None` when the stream does not hold `after` (trimmed, or never of this stream),
    /// or when `after` comes after `through`.
    pub fn replay(&self, after: &str, through: &str) -> Result<Option<Vec<Vec<u8>>>, RedisError> {
        let (Some(after_id), Some(through_id)) = (EntryId::parse(after), EntryId::parse(through)) else {
            return Ok(None);
        };
        // Past `through`, the client has seen entries this server's fan-out has yet to send: no
        // place in it is after them and before everything new.
        if after_id > through_id {
            return Ok(None);
        }
        let mut replayer = lock(&self.replayer);
        let redis = match replayer.as_mut() {
            Some(redis) => redis,
            None => replayer.insert(self.open()?),
        };
        let result = self.replay_on(redis, after, after_id, through, through_id);
        if result.is_err() {
            // Made again by the next client.
            *replayer = None;
        }
        result
    }

    fn replay_on(
        &self,
        redis: &mut Connection,
        after: &str,
        after_id: EntryId,
        through: &str,
        through_id: EntryId,
    ) -> Result<Option<Vec<Vec<u8>>>, RedisError> {
        if !holds(redis, &self.config.stream, after)? {
            return Ok(None);
        }
        let mut events = Vec::new();
        let mut cursor = after_id;
        while cursor < through_id {
            let start = format!("({cursor}");
            let page = redis.command(&[
                b"XRANGE",
                self.config.stream.as_bytes(),
                start.as_bytes(),
                through.as_bytes(),
                b"COUNT",
                REPLAY_PAGE.to_string().as_bytes(),
            ])?;
            let entries = entries_of(&page)?;
            for (id, event) in &entries {
                // Kept events only; one that does not encode is skipped, as the reader skips it.
                if let Some((event, true)) = event {
                    if let Ok(bytes) = event.encode(Some(id)) {
                        events.push(bytes);
                    }
                }
            }
            match entries.last().and_then(|(id, _)| EntryId::parse(id)) {
                Some(last) if entries.len() == REPLAY_PAGE => cursor = last,
                _ => break,
            }
        }
        Ok(Some(events))
    }

    /// Stops the reader: no new connection, and the blocking read in progress ends.
    pub fn stop(&self) {
        *lock(&self.stopped) = true;
        self.stop.notify_all();
        if let Some(socket) = lock(&self.reader_socket).take() {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    fn is_stopped(&self) -> bool {
        *lock(&self.stopped)
    }

    /// Waits `delay`, or less if the hub stops; returns whether it stopped.
    fn pause(&self, delay: Duration) -> bool {
        let stopped = lock(&self.stopped);
        let (stopped, _) =
            self.stop.wait_timeout_while(stopped, delay, |s| !*s).unwrap_or_else(PoisonError::into_inner);
        *stopped
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn redis_error(context: &'static str) -> impl Fn(RedisError) -> Error {
    move |error| Error::io(context, std::io::Error::other(error.to_string()))
}

/// Whether the reader, last at `last`, has published entry `target` locally. A `target` that is not
/// an entry id counts as reached: there is nothing to wait for.
pub(super) fn reached(last: Option<&str>, target: &str) -> bool {
    last.and_then(EntryId::parse) >= EntryId::parse(target)
}

/// A stream entry id, `<ms>-<seq>`, ordered as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct EntryId(u64, u64);

impl EntryId {
    fn parse(text: &str) -> Option<EntryId> {
        let (ms, seq) = text.split_once('-')?;
        let number =
            |s: &str| (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten();
        Some(EntryId(number(ms)?, number(seq)?))
    }
}

impl std::fmt::Display for EntryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}

/// Whether the stream still holds entry `id`.
fn holds(redis: &mut Connection, stream: &str, id: &str) -> Result<bool, RedisError> {
    let reply = redis.command(&[b"XRANGE", stream.as_bytes(), id.as_bytes(), id.as_bytes(), b"COUNT", b"1"])?;
    Ok(!entries_of(&reply)?.is_empty())
}

/// The id of the stream's last entry, if it has any.
fn last_entry(redis: &mut Connection, stream: &str) -> Result<Option<String>, RedisError> {
    let reply = redis.command(&[b"XREVRANGE", stream.as_bytes(), b"+", b"-", b"COUNT", b"1"])?;
    Ok(entries_of(&reply)?.into_iter().next().map(|(id, _)| id))
}

/// An entry: its id, and the event it carries with whether it is kept; `None` for an entry that
/// does not describe an event (written by something other than bare-sse), which is skipped.
type Entry = (String, Option<(Event, bool)>);

/// The entries of an `XRANGE` or `XREAD` reply. Only a reply of the wrong shape is an error.
fn entries_of(reply: &Value) -> Result<Vec<Entry>, RedisError> {
    let unexpected = || RedisError::UnexpectedReply(format!("{reply:?}"));
    let items = reply.as_array().ok_or_else(unexpected)?;
    items
        .iter()
        .map(|entry| {
            let parts = entry.as_array().filter(|p| p.len() == 2).ok_or_else(unexpected)?;
            let id = parts[0].as_str().ok_or_else(unexpected)?.to_string();
            let event = parts[1].as_array().and_then(event_of);
            Ok((id, event))
        })
        .collect()
}

/// The event an entry's fields describe, and whether it is kept.
fn event_of(fields: &[Value]) -> Option<(Event, bool)> {
    let (mut comment, mut event_type, mut retry, mut data, mut keep) = (None, None, None, None, false);
    for pair in fields.chunks(2) {
        let [name, value] = pair else { return None };
        let text = || value.as_str().map(str::to_string);
        match name.as_bytes()? {
            FIELD_COMMENT => comment = text(),
            FIELD_TYPE => event_type = text(),
            FIELD_RETRY => retry = value.as_str()?.parse().ok(),
            FIELD_DATA => data = text(),
            FIELD_KEEP => keep = true,
            _ => {}
        }
    }
    let event = Event::from_carried_fields(comment, event_type, retry, data);
    Some((if keep { event.with_id() } else { event }, keep))
}

/// The reader: follows the stream and publishes every entry into the local hub, until the hub
/// goes. Runs on its own thread.
pub(super) fn read_stream(inner: &Arc<Inner>, backplane: &Backplane) {
    let stream = backplane.config.stream.clone();
    let mut last: Option<String> = None;
    let mut backoff = MIN_BACKOFF;
    let mut jitter = Jitter::seeded();
    while !backplane.is_stopped() {
        let mut redis = match backplane.open() {
            Ok(redis) => redis,
            Err(_) => {
                if backplane.pause(spread(backoff, &mut jitter)) {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = MIN_BACKOFF;
        if let Ok(socket) = redis.socket_handle() {
            *lock(&backplane.reader_socket) = Some(socket);
        }
        if backplane.is_stopped() {
            return;
        }
        let from = match resume_point(&mut redis, &stream, last.as_deref()) {
            Ok(Resume::From(id)) => id,
            Ok(Resume::AfterLoss(id)) => {
                announce_loss(inner, last.as_deref().unwrap_or_default());
                id
            }
            Err(_) => continue,
        };
        {
            let mut state = inner.lock();
            state.redis_last = Some(from.clone());
            state.following = true;
            inner.progress.notify_all();
        }
        last = Some(from);
        // Read until the connection breaks.
        while let Some(after) = last.clone() {
            let reply = redis.command_waiting(
                &[
                    b"XREAD",
                    b"COUNT",
                    READ_COUNT,
                    b"BLOCK",
                    READ_BLOCK.as_millis().to_string().as_bytes(),
                    b"STREAMS",
                    stream.as_bytes(),
                    after.as_bytes(),
                ],
                READ_BLOCK,
            );
            let Ok(reply) = reply else { break };
            if backplane.is_stopped() {
                return;
            }
            let Some(streams) = reply.as_array() else { continue };
            let Some(entries) = streams.first().and_then(|s| s.as_array()).and_then(|s| s.get(1)) else { continue };
            let Ok(entries) = entries_of(entries) else { break };
            if let Some((id, _)) = entries.last() {
                last = Some(id.clone());
            }
            publish_locally(inner, entries);
        }
        let mut state = inner.lock();
        state.following = false;
        // Clients waiting for the reader to reach their last id wait no longer.
        inner.signal_progress(&state);
    }
}

enum Resume {
    /// Go on after this entry: nothing was lost.
    From(String),
    /// Go on after this entry; events after the last one seen may be lost.
    AfterLoss(String),
}

/// Where the reader goes on: at the start, from the stream's end; after a reconnect, from its last
/// entry if the stream still holds it.
fn resume_point(redis: &mut Connection, stream: &str, last: Option<&str>) -> Result<Resume, RedisError> {
    let Some(last) = last else {
        return Ok(Resume::From(last_entry(redis, stream)?.unwrap_or_else(|| "0-0".to_string())));
    };
    if last == "0-0" || holds(redis, stream, last)? {
        return Ok(Resume::From(last.to_string()));
    }
    // Trimmed while away: what is held after it is still to come. Restarted (the stream ends
    // before it, or is empty): all of the new stream is.
    let end = last_entry(redis, stream)?;
    let newer = end.as_deref().and_then(EntryId::parse) > EntryId::parse(last);
    Ok(Resume::AfterLoss(if newer { last.to_string() } else { "0-0".to_string() }))
}

/// `wait` give or take 25%, so that servers that lost Redis together do not all come back at once.
fn spread(wait: Duration, jitter: &mut Jitter) -> Duration {
    wait.mul_f64(0.75 + 0.5 * jitter.next_fraction())
}

/// Waits until this server's reader has published entry `id` here, while it follows the stream,
/// for at most [`READER_CATCH_UP_TIMEOUT`]. A client that moves from a server whose reader is
/// further along may have seen entries this one has not read yet; resumed before they arrive, it
/// would get them twice.
pub(super) fn wait_until_read(inner: &Inner, id: &str) {
    inner.wait_for_progress(READER_CATCH_UP_TIMEOUT, |state| {
        !state.following || reached(state.redis_last.as_deref(), id)
    });
}

/// Publishes entries into the local hub, in stream order, under one lock. An entry that does
/// not describe an event, or whose event does not encode, came from another writer: it is
/// skipped, and the reader goes on past it.
fn publish_locally(inner: &Inner, entries: Vec<Entry>) {
    if entries.is_empty() {
        return;
    }
    let mut state = inner.lock();
    for (id, event) in &entries {
        if let Some((event, _)) = event {
            let _ = state.registry.publish_assigned(event, Some(id));
        }
        state.redis_last = Some(id.clone());
    }
    state.last_append = std::time::Instant::now();
    inner.wake_flushers(&state);
    inner.signal_progress(&state);
}

/// Tells every client that events may have been lost (the reset event, with the last id seen),
/// and forgets the history, whose ids are no longer safe resume points.
fn announce_loss(inner: &Inner, last: &str) {
    let mut state = inner.lock();
    state.registry.clear_history();
    let _ = state.registry.publish(&Event::new().event(RESET_EVENT_TYPE).data(last));
    inner.wake_flushers(&state);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_order_as_redis_orders_them() {
        assert!(EntryId::parse("10-2") < EntryId::parse("10-10"));
        assert!(EntryId::parse("9-99") < EntryId::parse("10-0"));
        for bad in ["", "1", "1-", "-1", "a-1", "1-2-3", "1-+2"] {
            assert_eq!(EntryId::parse(bad), None, "{bad}");
        }
        assert_eq!(EntryId::parse("5-7").unwrap().to_string(), "5-7");
    }

    #[test]
    fn events_travel_as_fields_and_come_back_the_same() {
        let event = Event::new().event("t").data("a\nb").retry(Duration::from_millis(7)).comment("c").with_id();
        let config = RedisConfig { url: RedisUrl::parse("redis://h").unwrap(), stream: "s".into(), max_len: 5 };
        let command = Backplane::new(config).xadd(&event).unwrap();
        let fields: Vec<Value> = command[6..].iter().map(|f| Value::Bulk(Some(f.clone()))).collect();
        let (back, keep) = event_of(&fields).unwrap();
        assert!(keep);
        assert_eq!(back.encode(Some("1-1")).unwrap(), event.encode(Some("1-1")).unwrap());
        let given = Event::new().data("x").id("mine");
        let config = RedisConfig { url: RedisUrl::parse("redis://h").unwrap(), stream: "s".into(), max_len: 5 };
        assert!(Backplane::new(config).xadd(&given).is_err(), "Redis gives the ids");
    }

    /// A client resuming after an entry this server's reader has not read yet has no place in its
    /// fan-out: that is known before Redis is asked (the address here has no server).
    #[test]
    fn no_replay_for_an_id_past_the_readers_position() {
        let config =
            RedisConfig { url: RedisUrl::parse("redis://127.0.0.1:1").unwrap(), stream: "s".into(), max_len: 5 };
        assert!(matches!(Backplane::new(config).replay("7-1", "7-0"), Ok(None)));
    }

    #[test]
    fn jitter_stays_within_a_quarter() {
        let mut jitter = Jitter::seeded();
        for _ in 0..1000 {
            let wait = spread(Duration::from_millis(1000), &mut jitter);
            assert!(wait >= Duration::from_millis(750) && wait <= Duration::from_millis(1250), "{wait:?}");
        }
    }
}
