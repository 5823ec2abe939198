//! A hub backed by a Redis stream, so that several servers share one stream of events.
//!
//! # How events travel
//!
//! - **Publishing** appends the event to the stream (`XADD ... MAXLEN ~ N`), and nothing else: the
//!   call returns once Redis has it, or fails saying what became of each event (appended, refused,
//!   or unknown when Redis stopped answering after they were sent: [`Error::RedisPublish`]). The entry's
//!   id (`<ms>-<seq>`) is the event's SSE `id:` when the event asked for one
//!   ([`Event::with_id`]); events without one travel the same way and are delivered live only
//!   (never replayed). Explicit ids are refused: Redis gives the ids. An event whose entry would be
//!   larger than the readers take is refused before anything is sent. An event published to
//!   topics carries them as `topic` fields, one per topic in order, and a private one a `private`
//!   field.
//! - **Every server runs one reader** (`XREAD BLOCK` from the last entry it saw) that publishes
//!   each entry into its local hub. So every server delivers the same events in the same order,
//!   the publishing server included, and the local history is a cache of the stream. A reader
//!   that starts fills that cache from the stream's tail, up to the history's limits, before it
//!   counts as following: a server started later serves new clients the same history as the
//!   others.
//! - **Joining.** A client's `Last-Event-ID` is an entry id. If the local history has it, the
//!   local hub resumes it as always. If not (the client was on another server, or the cache
//!   moved on), the entries after it up to the last one the reader has published are read from
//!   the stream (`XRANGE`), those its selection admits are kept for it, and the client joins the
//!   local fan-out at that same entry, under the hub's lock, so the hand-over has no gap and no
//!   duplicate. An id the stream does not hold (trimmed,
//!   or of another stream) gets the reset event and what the local history holds; so does a
//!   client whose replay Redis does not answer within the timeout, or that holds an entry too
//!   large to read, or more than `max_queued_bytes` (the replay is held for the client until it
//!   is written, and a client that far behind would be dropped anyway).
//! - **Faults.** The reader reconnects with backoff and jitter after every failure (the backoff
//!   starts again only once a read has succeeded) and goes on from its last entry. If that entry
//!   is gone (trimmed while it was away or while it lagged behind, or Redis restarted empty),
//!   events may have been lost: every client gets the reset event, the local history is
//!   forgotten, and the reader goes on from what the stream holds. Clients stay connected
//!   meanwhile, with heartbeats.
//!
//! # Trusting Redis no more than a publisher
//!
//! Everything read from Redis passes the checks a local publish does: entry ids must be entry ids
//! (`<ms>-<seq>`, digits only, so no line break can reach a client) and strictly increasing, and
//! fields must make a valid event; a reply that breaks these rules is a failure, like a broken
//! connection. Replies are bounded (`RedisConfig::read_limits`); an entry too large to take is read
//! and dropped without being held, and skipped: clients get the reset event, since they miss
//! it. Every exchange has a deadline for its whole reply, and callers that share a connection
//! (publishers, resuming clients) wait for it at most until their own deadline.
//!
//! The reader reports what it skips and why it reconnects on standard error (`bare-sse: ...`),
//! once per new kind of failure: nothing else would tell an operator that Redis misbehaves.

use std::fmt::Display;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::registry::RESET_EVENT_TYPE;
use super::shared::{Inner, State};
use super::topics::{Selection, Topics, MAX_TOPICS_PER_EVENT};
use crate::backoff::Backoff;
use crate::net::Stop;
use crate::redis::resp::{encode_command_into, Limits, Value};
use crate::redis::{time_left, timed_out, Connection, RedisError, RedisUrl};
use crate::{Error, Event};

/// Entries kept in the stream, by default (`XADD ... MAXLEN ~`).
pub const DEFAULT_REDIS_MAX_LEN: usize = 10_000;
/// Largest entry (its field names and values together) a reader takes, by default: 16 MiB, what
/// a bare-sse client takes of one event by default. Publishing a larger one is refused.
pub const DEFAULT_REDIS_MAX_ENTRY_BYTES: usize = 16 << 20;
/// Smallest entry limit accepted: room for any event a hub needs to carry.
pub const MIN_REDIS_MAX_ENTRY_BYTES: usize = 1024;
/// Largest entry limit accepted: Redis's own default limit on one argument (512 MiB).
pub const MAX_REDIS_MAX_ENTRY_BYTES: usize = 512 << 20;
/// How long connecting, or one command with its whole reply, may take, by default.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_secs(5);
/// Shortest Redis timeout accepted.
pub const MIN_REDIS_TIMEOUT: Duration = Duration::from_millis(10);
/// Longest Redis timeout accepted.
pub const MAX_REDIS_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// How long one `XREAD` waits for entries.
const READ_BLOCK: Duration = Duration::from_secs(5);
/// Entries read at once.
const READ_COUNT: usize = 1000;
/// Entries fetched per `XRANGE` or `XREVRANGE` page when replaying or filling the history.
const RANGE_PAGE: usize = 1000;
/// Longest wait for this server's reader to reach a resuming client's last id. A reader that
/// follows the stream is normally within milliseconds of it; past this, the client gets the reset
/// event rather than a wait that looks like a hang.
const READER_CATCH_UP_TIMEOUT: Duration = Duration::from_secs(2);
/// The reader's wait after a first failure, and the most it doubles to while failures go on.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Room in a reply for what surrounds the largest entry: the reply's headers, the entry's id, and
/// each field's length line. A bare-sse entry has at most five fields, about 50 bytes of framing
/// each, and one field per topic (at most [`MAX_TOPICS_PER_EVENT`], about 20 bytes of framing
/// each); other writers' entries with many small fields may not fit, and are skipped.
const ENTRY_FRAMING_BYTES: usize = 4096;

/// The stream fields of an entry.
const FIELD_COMMENT: &[u8] = b"c";
const FIELD_TYPE: &[u8] = b"t";
const FIELD_RETRY: &[u8] = b"r";
const FIELD_DATA: &[u8] = b"d";
/// Present (`1`) on events that asked for an id: they are kept and replayed.
const FIELD_KEEP: &[u8] = b"k";
/// One field per topic, in the order given (a topic may hold any character but a control one,
/// so no separator inside one field would be safe). None on a hub-wide notice.
const FIELD_TOPIC: &[u8] = b"topic";
/// Present (`1`) on private events.
const FIELD_PRIVATE: &[u8] = b"private";

/// How a hub uses its stream: the settings of [`HubBuilder`](super::HubBuilder)'s `redis_*`
/// setters, kept apart from the stream's address so that they can be set in any order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RedisSettings {
    pub max_len: usize,
    pub max_entry_bytes: usize,
    pub timeout: Duration,
}

impl Default for RedisSettings {
    fn default() -> RedisSettings {
        RedisSettings {
            max_len: DEFAULT_REDIS_MAX_LEN,
            max_entry_bytes: DEFAULT_REDIS_MAX_ENTRY_BYTES,
            timeout: DEFAULT_REDIS_TIMEOUT,
        }
    }
}

/// Where the stream is, and how the hub uses it.
#[derive(Debug, Clone)]
pub(crate) struct RedisConfig {
    pub url: RedisUrl,
    pub stream: String,
    pub settings: RedisSettings,
}

impl RedisConfig {
    /// The limits on what the reader, a replay or a history fill reads: an entry of up to
    /// `max_entry_bytes` fits in a reply of its own (with the stream's name and the framing), and
    /// a larger one, or one that does not fit after others, is dropped as it arrives.
    fn read_limits(&self) -> Limits {
        let entry = self.settings.max_entry_bytes;
        Limits {
            max_bulk_bytes: entry,
            max_reply_bytes: entry.saturating_add(self.stream.len()).saturating_add(ENTRY_FRAMING_BYTES),
            discard_oversized: true,
            ..Limits::default()
        }
    }
}

/// The limits on what a publisher reads: entry ids, and error replies.
fn publish_limits() -> Limits {
    Limits {
        max_bulk_bytes: 256,
        max_array_items: 16,
        max_reply_items: 16,
        max_reply_bytes: 128 << 10,
        ..Limits::default()
    }
}

/// One Redis connection shared by callers of one kind (publishers, or resuming clients), which use
/// it one at a time: kept between callers, so that many callers at once (clients resuming after
/// a server restart) do not open a connection each.
///
/// A caller waits for its turn at most until its own deadline, whatever the callers before it do:
/// the connection is taken out of the lock for the exchange, and the lock is never held across
/// Redis I/O. A publisher's batch goes whole within its turn, so concurrent batches never
/// interleave on the connection.
struct SharedConnection {
    slot: Mutex<Slot>,
    returned: Condvar,
}

#[derive(Default)]
struct Slot {
    idle: Option<Connection>,
    in_use: bool,
}

impl SharedConnection {
    fn new() -> SharedConnection {
        SharedConnection { slot: Mutex::new(Slot::default()), returned: Condvar::new() }
    }

    /// The caller's turn, or `None` if it does not come by `deadline`.
    fn turn(&self, deadline: Instant) -> Option<Turn<'_>> {
        let mut slot = lock(&self.slot);
        while slot.in_use {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            slot = self.returned.wait_timeout(slot, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        slot.in_use = true;
        Some(Turn { shared: self, connection: slot.idle.take() })
    }
}

/// The connection of a [`SharedConnection`], for one caller; given back when dropped.
struct Turn<'a> {
    shared: &'a SharedConnection,
    connection: Option<Connection>,
}

impl Turn<'_> {
    /// The kept connection if it is still good, or a new one from `open`.
    fn connection(
        &mut self,
        open: impl FnOnce() -> Result<Connection, RedisError>,
    ) -> Result<&mut Connection, RedisError> {
        // A server that restarted or timed the connection out has closed it: better a new one
        // than an exchange that fails, or whose outcome is unknown, after the command was sent.
        let connection = match self.connection.take().filter(Connection::is_usable) {
            Some(connection) => connection,
            None => open()?,
        };
        Ok(self.connection.insert(connection))
    }

    /// Drops the connection after a failure (its state is unknown): the next caller makes another.
    fn discard(&mut self) {
        self.connection = None;
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut slot = lock(&self.shared.slot);
        slot.idle = self.connection.take();
        slot.in_use = false;
        self.shared.returned.notify_one();
    }
}

/// The Redis side of a hub: the publishing and replaying connections, and the reader's stop (which
/// interrupts its blocking read, or its wait to reconnect, when the hub goes).
pub(crate) struct Backplane {
    config: RedisConfig,
    publisher: SharedConnection,
    /// The newest entry this hub appended, for `flush` to wait for.
    last_published: Mutex<Option<EntryId>>,
    /// For reading the entries a resuming client missed.
    replayer: SharedConnection,
    reader_stop: Stop,
}

impl Backplane {
    pub fn new(config: RedisConfig) -> Backplane {
        Backplane {
            config,
            publisher: SharedConnection::new(),
            last_published: Mutex::new(None),
            replayer: SharedConnection::new(),
            reader_stop: Stop::default(),
        }
    }

    /// A new connection, open within what is left until `deadline`, decoding with `limits`.
    fn open(&self, deadline: Instant, limits: Limits) -> Result<Connection, RedisError> {
        let left = time_left(deadline, "connection to Redis")?;
        let mut connection = Connection::open(&self.config.url, left)?;
        connection.set_limits(limits);
        Ok(connection)
    }

    /// Appends events published to `topics` to the stream, pipelined in one round trip, all
    /// within the timeout; returns their entry ids. Fails, with nothing sent, on an invalid or too
    /// large event; otherwise the error says how many events Redis appended and how many it may
    /// have ([`Error::RedisPublish`]), and the appended ones count for `flush`.
    pub fn publish(&self, events: &[Event], topics: &Topics) -> Result<Vec<String>, Error> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut request = Vec::new();
        for event in events {
            self.xadd_into(event, topics, &mut request)?;
        }
        let deadline = Instant::now() + self.config.settings.timeout;
        let failed =
            |appended: usize, unknown: usize, source: RedisError| Error::RedisPublish { appended, unknown, source };
        let Some(mut turn) = self.publisher.turn(deadline) else {
            return Err(failed(0, 0, timed_out("turn on the publishing connection")));
        };
        let connection =
            turn.connection(|| self.open(deadline, publish_limits())).map_err(|error| failed(0, 0, error))?;
        if let Err(error) = connection.send(&request, deadline) {
            // Redis may have received and run any part of what was written.
            turn.discard();
            return Err(failed(0, events.len(), error));
        }
        let mut appended = Vec::with_capacity(events.len());
        let mut refused = None;
        for index in 0..events.len() {
            let reply = connection.receive(deadline).and_then(|reply| match reply {
                Value::Error(message) => Ok(Err(RedisError::Server(message))),
                reply => match reply.as_str().and_then(EntryId::parse) {
                    Some(id) => Ok(Ok(id)),
                    None => Err(RedisError::UnexpectedReply(format!("{reply:?} to XADD"))),
                },
            });
            match reply {
                Ok(Ok(id)) => appended.push(id),
                // Redis goes on with the rest of the batch after refusing one.
                Ok(Err(refusal)) => refused = refused.or(Some(refusal)),
                Err(error) => {
                    turn.discard();
                    self.note_published(&appended);
                    return Err(failed(appended.len(), events.len() - index, error));
                }
            }
        }
        self.note_published(&appended);
        match refused {
            Some(refusal) => Err(failed(appended.len(), 0, refusal)),
            None => Ok(appended.iter().map(EntryId::to_string).collect()),
        }
    }

    /// Records the newest of the entries just appended, for `flush`.
    fn note_published(&self, appended: &[EntryId]) {
        if let Some(newest) = appended.iter().max() {
            let mut last = lock(&self.last_published);
            *last = (*last).max(Some(*newest));
        }
    }

    /// The id of the newest entry this hub appended, if it has appended any.
    pub fn last_published(&self) -> Option<String> {
        lock(&self.last_published).map(|id| id.to_string())
    }

    /// Appends the `XADD` command for one event published to `topics` to `request`, or refuses
    /// the event: invalid, with an explicit id, or larger than the readers take.
    fn xadd_into(&self, event: &Event, topics: &Topics, request: &mut Vec<u8>) -> Result<(), Error> {
        event.validate()?;
        if event.given_id().is_some() {
            return Err(Error::InvalidField {
                field: "id",
                reason: "a hub backed by Redis takes its ids from Redis entries: use with_id",
            });
        }
        let (comment, event_type, retry, data) = event.carried_fields();
        let retry = retry.map(|ms| ms.to_string());
        let fields = [
            (FIELD_COMMENT, comment.map(str::as_bytes)),
            (FIELD_TYPE, event_type.map(str::as_bytes)),
            (FIELD_RETRY, retry.as_deref().map(str::as_bytes)),
            (FIELD_DATA, data.map(str::as_bytes)),
            (FIELD_KEEP, event.wants_next_id().then_some(&b"1"[..])),
        ];
        let mut fields: Vec<(&[u8], &[u8])> =
            fields.into_iter().filter_map(|(name, value)| Some((name, value?))).collect();
        fields.extend(topics.as_slice().iter().map(|topic| (FIELD_TOPIC, topic.as_bytes())));
        if topics.is_private() {
            fields.push((FIELD_PRIVATE, b"1"));
        }
        let entry_bytes: usize = fields.iter().map(|(name, value)| name.len() + value.len()).sum();
        if entry_bytes > self.config.settings.max_entry_bytes {
            return Err(Error::InvalidField {
                field: "data",
                reason: "the event would make a Redis entry larger than readers take \
                         (HubBuilder::redis_max_entry_bytes)",
            });
        }
        let max_len = self.config.settings.max_len.to_string();
        let mut command: Vec<&[u8]> =
            vec![b"XADD", self.config.stream.as_bytes(), b"MAXLEN", b"~", max_len.as_bytes(), b"*"];
        for (name, value) in fields {
            command.push(name);
            command.push(value);
        }
        encode_command_into(&command, request);
        Ok(())
    }

    /// The kept events after entry `after`, through entry `through`, that `selection` admits,
    /// from the stream, encoded with their ids, all within the timeout (the wait for the
    /// replaying connection included).
    /// `None` when the stream does not hold `after` (trimmed, or never of this stream), when
    /// `after` comes after `through`, when an entry between them is too large to read (the
    /// client would miss it), or when they come to more than `most_bytes` (held for the client
    /// until they are written: a client that far behind would be dropped anyway).
    pub fn replay(
        &self,
        after: &str,
        through: &str,
        most_bytes: usize,
        selection: &Selection,
    ) -> Result<Option<Vec<Vec<u8>>>, RedisError> {
        let (Some(after), Some(through)) = (EntryId::parse(after), EntryId::parse(through)) else {
            return Ok(None);
        };
        // Past `through`, the client has seen entries this server's fan-out has yet to send: no
        // place in it is after them and before everything new.
        if after > through {
            return Ok(None);
        }
        let deadline = Instant::now() + self.config.settings.timeout;
        let mut turn = self.replayer.turn(deadline).ok_or_else(|| timed_out("turn on the replaying connection"))?;
        let redis = turn.connection(|| self.open(deadline, self.config.read_limits()))?;
        let result = self.replay_on(redis, (after, through), most_bytes, selection, deadline);
        if result.is_err() {
            turn.discard();
        }
        result
    }

    fn replay_on(
        &self,
        redis: &mut Connection,
        (after, through): (EntryId, EntryId),
        most_bytes: usize,
        selection: &Selection,
        deadline: Instant,
    ) -> Result<Option<Vec<Vec<u8>>>, RedisError> {
        let stream = self.config.stream.as_bytes();
        if !holds(redis, stream, after, deadline)? {
            return Ok(None);
        }
        let mut events = Vec::new();
        let mut bytes = 0;
        let mut cursor = after;
        while cursor < through {
            let start = format!("({cursor}");
            let (end, count) = (through.to_string(), RANGE_PAGE.to_string());
            let page = redis.command_by(
                &[b"XRANGE", stream, start.as_bytes(), end.as_bytes(), b"COUNT", count.as_bytes()],
                deadline,
            )?;
            let (entries, in_reply) = entries_of(&page)?;
            check_ascending(&entries, cursor)?;
            if let Some(past) = entries.iter().map(Entry::id).find(|id| *id > through) {
                return Err(RedisError::UnexpectedReply(format!("entry {past} in XRANGE through {through}")));
            }
            for entry in &entries {
                match entry {
                    Entry::TooLarge(_) => return Ok(None),
                    // Kept events its selection admits only; an entry that is not one of ours is
                    // skipped, as the reader skips it.
                    Entry::Event { id, event: Some(carried) } if carried.keep && selection.admits(&carried.topics) => {
                        if let Ok(encoded) = carried.event.encode(Some(&id.to_string())) {
                            bytes += encoded.len();
                            if bytes > most_bytes {
                                return Ok(None);
                            }
                            events.push(encoded);
                        }
                    }
                    Entry::Event { .. } => {}
                }
            }
            match entries.last() {
                // A short page ends the range; a full one, even cut short, goes on after its last
                // entry.
                Some(last) if in_reply == RANGE_PAGE => cursor = last.id(),
                _ => break,
            }
        }
        Ok(Some(events))
    }

    /// Stops the reader: no new connection, and the blocking read in progress ends.
    pub fn stop(&self) {
        self.reader_stop.stop();
    }

    fn is_stopped(&self) -> bool {
        self.reader_stop.is_stopped()
    }

    /// Waits `delay`, or less if the hub stops; returns whether it stopped.
    fn pause(&self, delay: Duration) -> bool {
        self.reader_stop.sleep(delay)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Reports on standard error, as the command line does: the only way a library thread that has no
/// caller can tell an operator that Redis misbehaves.
fn report(what: impl Display) {
    eprintln!("bare-sse: {what}");
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
    /// The id before every entry: where a reader of an empty stream starts.
    const START: EntryId = EntryId(0, 0);

    /// Parses `<ms>-<seq>`: two numbers of ASCII digits and nothing else, so that an id read
    /// from Redis can be written to clients as it is.
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
fn holds(redis: &mut Connection, stream: &[u8], id: EntryId, deadline: Instant) -> Result<bool, RedisError> {
    let id = id.to_string();
    let reply = redis.command_by(&[b"XRANGE", stream, id.as_bytes(), id.as_bytes(), b"COUNT", b"1"], deadline)?;
    let (entries, _) = entries_of(&reply)?;
    match entries.as_slice() {
        [] => Ok(false),
        [entry] if entry.id().to_string() == id => Ok(true),
        _ => Err(RedisError::UnexpectedReply(format!("entries other than {id} for XRANGE {id} {id}"))),
    }
}

/// A stream entry as read.
#[derive(Debug)]
enum Entry {
    /// The event it carries; `None` for an entry that does not describe a valid event (written by
    /// something other than bare-sse), which is skipped.
    Event { id: EntryId, event: Option<Carried> },
    /// An entry larger than the read limits: its fields were read and dropped.
    TooLarge(EntryId),
}

impl Entry {
    fn id(&self) -> EntryId {
        match self {
            Entry::Event { id, .. } | Entry::TooLarge(id) => *id,
        }
    }
}

/// The entries of an `XRANGE`, `XREVRANGE` or `XREAD` reply, in the reply's order, and how many
/// the reply held (more than were taken when it was cut short). An entry with a dropped part ([`Value::Discarded`]) is
/// [`Entry::TooLarge`] when it comes first (it had the whole reply's room to itself), and cuts the
/// reply short when it comes later (it only lacked the room the entries before it took): the
/// next read starts with it. A reply of the wrong shape, or with an id that is not an entry id,
/// is an error.
fn entries_of(reply: &Value) -> Result<(Vec<Entry>, usize), RedisError> {
    let unexpected = |what: &str| RedisError::UnexpectedReply(format!("{what} in a stream reply"));
    let items = reply.as_array().ok_or_else(|| unexpected("not an array"))?;
    let mut entries = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let parts = match item {
            Value::Discarded if index > 0 => return Ok((entries, items.len())),
            item => item
                .as_array()
                .filter(|p| p.len() == 2)
                .ok_or_else(|| unexpected("an entry that is not an id and fields"))?,
        };
        let id = match &parts[0] {
            Value::Discarded if index > 0 => return Ok((entries, items.len())),
            id => id.as_str().and_then(EntryId::parse).ok_or_else(|| unexpected("an id that is not an entry id"))?,
        };
        let event = match &parts[1] {
            Value::Array(Some(fields)) if !fields.contains(&Value::Discarded) => event_of(fields),
            Value::Array(Some(_)) | Value::Discarded if index > 0 => return Ok((entries, items.len())),
            Value::Array(Some(_)) | Value::Discarded => {
                entries.push(Entry::TooLarge(id));
                continue;
            }
            _ => return Err(unexpected("fields that are not an array")),
        };
        entries.push(Entry::Event { id, event });
    }
    Ok((entries, items.len()))
}

/// Checks that entries come in increasing order, each after `after`.
fn check_ascending(entries: &[Entry], mut after: EntryId) -> Result<(), RedisError> {
    for entry in entries {
        if entry.id() <= after {
            return Err(RedisError::UnexpectedReply(format!("entry {} after {after}: ids must increase", entry.id())));
        }
        after = entry.id();
    }
    Ok(())
}

/// What an entry carries: an event, whether it is kept, and the topics it was published to.
#[derive(Debug)]
struct Carried {
    event: Event,
    keep: bool,
    topics: Topics,
}

/// The event an entry's fields describe; `None` when they do not make an event (with its topics)
/// a local publish would accept.
fn event_of(fields: &[Value]) -> Option<Carried> {
    let (mut comment, mut event_type, mut retry, mut data, mut keep) = (None, None, None, None, false);
    let (mut topics, mut private) = (Vec::new(), false);
    for pair in fields.chunks(2) {
        let [name, value] = pair else { return None };
        let text = || value.as_str().map(str::to_string);
        match name.as_bytes()? {
            FIELD_COMMENT => comment = Some(text()?),
            FIELD_TYPE => event_type = Some(text()?),
            FIELD_RETRY => retry = Some(value.as_str()?.parse().ok()?),
            FIELD_DATA => data = Some(text()?),
            FIELD_KEEP => keep = true,
            // Counted as they come: an entry with more topics than a publish takes is refused
            // before they are all kept.
            FIELD_TOPIC if topics.len() < MAX_TOPICS_PER_EVENT => topics.push(text()?),
            FIELD_TOPIC => return None,
            FIELD_PRIVATE => private = true,
            _ => {}
        }
    }
    let event = Event::from_carried_fields(comment, event_type, retry, data);
    let event = if keep { event.with_id() } else { event };
    event.validate().ok()?;
    let topics = if topics.is_empty() {
        // A private event without topics would be a notice to everyone.
        if private {
            return None;
        }
        Topics::notice().clone()
    } else {
        let topics = Topics::new(topics).private(private);
        topics.check().ok()?;
        topics
    };
    Some(Carried { event, keep, topics })
}

/// The reader: follows the stream and publishes every entry into the local hub, until the hub
/// goes. Runs on its own thread.
pub(super) fn read_stream(inner: &Arc<Inner>, backplane: &Backplane) {
    let mut reader = Reader { inner, backplane, last: None, backoff: Backoff::new(), reported: None };
    while !backplane.is_stopped() {
        let Err(error) = reader.follow() else { return };
        {
            let mut state = inner.lock();
            state.following = false;
            // Clients waiting for the reader to reach their last id wait no longer.
            inner.signal_progress(&state);
        }
        if backplane.is_stopped() {
            return;
        }
        reader.report_failure(&error);
        // Every failure waits, however it came (refused, a bad reply, a reply that never came):
        // a server that accepts connections and then fails them must not get a storm of them.
        reader.backoff.failed();
        if backplane.pause(reader.backoff.wait(MIN_BACKOFF, MAX_BACKOFF)) {
            return;
        }
    }
}

/// What the reader keeps between connections.
struct Reader<'a> {
    inner: &'a Inner,
    backplane: &'a Backplane,
    /// The last entry published here; `None` until a first connection has found where to start.
    last: Option<EntryId>,
    /// The failures in a row, which the wait before the next connection doubles with: they count
    /// again from none only once a read has succeeded.
    backoff: Backoff,
    /// The last failure reported, so that one that repeats is reported once.
    reported: Option<String>,
}

impl Reader<'_> {
    /// Connects, finds where to go on, and reads until the connection fails (`Err`) or the hub
    /// stops (`Ok`).
    fn follow(&mut self) -> Result<(), RedisError> {
        let backplane = self.backplane;
        let config = &backplane.config;
        let mut redis = backplane.open(Instant::now() + config.settings.timeout, config.read_limits())?;
        backplane.reader_stop.watch(redis.socket_handle().ok().as_ref());
        if backplane.is_stopped() {
            return Ok(());
        }
        let last = self.start_point(&mut redis)?;
        {
            let mut state = self.inner.lock();
            state.redis_last = Some(last.to_string());
            state.following = true;
            self.inner.progress.notify_all();
        }
        self.last = Some(last);
        self.read_after(&mut redis, last)
    }

    /// Where this connection reads from: after the stream's tail, once that has filled the local
    /// history, on the first connection; after the last entry published here on the next, with
    /// the reset event first when entries after it may be lost.
    fn start_point(&self, redis: &mut Connection) -> Result<EntryId, RedisError> {
        let config = &self.backplane.config;
        match self.last {
            None => {
                let (end, tail) = self.history_tail(redis)?;
                publish_locally(self.inner, &config.stream, EntryId::START, &tail, false);
                Ok(end)
            }
            Some(last) => match resume_point(redis, config.stream.as_bytes(), last, config.settings.timeout)? {
                Resume::From(id) => Ok(id),
                Resume::AfterLoss(id) => {
                    publish_locally(self.inner, &config.stream, last, &[], true);
                    Ok(id)
                }
            },
        }
    }

    /// Reads the entries after `last` as they come, publishing each here, until the connection
    /// fails (`Err`) or the hub stops (`Ok`).
    fn read_after(&mut self, redis: &mut Connection, mut last: EntryId) -> Result<(), RedisError> {
        let config = &self.backplane.config;
        let stream = config.stream.as_bytes();
        let (count, block) = (READ_COUNT.to_string(), READ_BLOCK.as_millis().to_string());
        loop {
            let after = last.to_string();
            let asked = Instant::now();
            let reply = redis.command_by(
                &[
                    b"XREAD",
                    b"COUNT",
                    count.as_bytes(),
                    b"BLOCK",
                    block.as_bytes(),
                    b"STREAMS",
                    stream,
                    after.as_bytes(),
                ],
                asked + READ_BLOCK + config.settings.timeout,
            )?;
            if self.backplane.is_stopped() {
                return Ok(());
            }
            let Some((entries, in_reply)) = xread_entries(&reply, stream)? else {
                // Redis answers an XREAD BLOCK with nothing only once the wait is over: one that
                // does so at once would have the reader spin.
                if asked.elapsed() < READ_BLOCK / 2 {
                    return Err(RedisError::UnexpectedReply("XREAD BLOCK answered nothing at once".to_string()));
                }
                self.read_succeeded();
                continue;
            };
            check_ascending(&entries, last)?;
            let lost = self.missed_trimmed(redis, last, in_reply)?;
            self.read_succeeded();
            publish_locally(self.inner, &config.stream, last, &entries, lost);
            if let Some(newest) = entries.last() {
                last = newest.id();
                self.last = Some(last);
            }
        }
    }

    fn read_succeeded(&mut self) {
        self.backoff.succeeded();
        self.reported = None;
    }

    /// Whether entries after `last` may have been trimmed before a read that returned `in_reply`
    /// entries after it.
    ///
    /// Trimming removes the oldest entries first, and `MAXLEN ~ N` leaves at least N. So if `last`
    /// had been trimmed before the read, the stream held at least N entries, all after it, and the
    /// read returned `READ_COUNT` of them or N: a read that returned fewer missed nothing, and
    /// costs nothing more. Otherwise the reader asks whether the stream still holds `last`: if so
    /// it held it at the read too, and nothing was missed. If not, entries may have been missed
    /// (or `last` was trimmed just after the read, which means the reader lags by about N entries
    /// and the reset event is a fair warning). This assumes every writer trims to this server's
    /// `redis_max_len` or more.
    fn missed_trimmed(&self, redis: &mut Connection, last: EntryId, in_reply: usize) -> Result<bool, RedisError> {
        let config = &self.backplane.config;
        if last == EntryId::START || in_reply < READ_COUNT.min(config.settings.max_len) {
            return Ok(false);
        }
        let deadline = Instant::now() + config.settings.timeout;
        Ok(!holds(redis, config.stream.as_bytes(), last, deadline)?)
    }

    /// Where a reader that has read nothing yet starts: the stream's last entry, and the kept
    /// events of its tail, oldest first, as many as the local history keeps (so that this server
    /// serves new clients the history the others serve). The tail stops short of an entry too
    /// large to read: a history must not have a hole.
    fn history_tail(&self, redis: &mut Connection) -> Result<(EntryId, Vec<Entry>), RedisError> {
        let config = &self.backplane.config;
        let (most_events, most_bytes) = (self.inner.config.history_events, self.inner.config.history_bytes);
        // Pages start at the history's size and double: a small history reads little, and a tail
        // of live-only events takes few round trips.
        let mut page = RANGE_PAGE.min(most_events).max(1);
        let mut end = None;
        let mut newest_first = Vec::new();
        let mut bytes = 0;
        // The last entry looked at: the next page starts before it.
        let mut below: Option<EntryId> = None;
        'pages: loop {
            let start = below.map_or_else(|| "+".to_string(), |id| format!("({id}"));
            let count = page.to_string();
            let reply = redis.command_by(
                &[b"XREVRANGE", config.stream.as_bytes(), start.as_bytes(), b"-", b"COUNT", count.as_bytes()],
                Instant::now() + config.settings.timeout,
            )?;
            let (entries, in_reply) = entries_of(&reply)?;
            for entry in entries {
                let id = entry.id();
                if below.is_some_and(|below| id >= below) {
                    return Err(RedisError::UnexpectedReply(format!("entry {id} in XREVRANGE: ids must decrease")));
                }
                below = Some(id);
                end = end.or(Some(id));
                let size = match &entry {
                    Entry::TooLarge(_) => break 'pages,
                    Entry::Event { event: Some(carried), .. } if carried.keep => {
                        let encoded = carried.event.encode(Some(&id.to_string()));
                        encoded.map_or(0, |bytes| bytes.len() + carried.topics.text_bytes())
                    }
                    Entry::Event { .. } => continue,
                };
                if newest_first.len() >= most_events || bytes + size > most_bytes {
                    break 'pages;
                }
                bytes += size;
                newest_first.push(entry);
            }
            // A short page reached the stream's start; a full one, even cut short, goes on.
            if in_reply < page || newest_first.len() >= most_events {
                break;
            }
            page = (page * 2).min(RANGE_PAGE);
        }
        newest_first.reverse();
        Ok((end.unwrap_or(EntryId::START), newest_first))
    }

    /// Reports a failure, unless it is the one reported last.
    fn report_failure(&mut self, error: &RedisError) {
        let text = error.to_string();
        if self.reported.as_ref() != Some(&text) {
            report(format_args!(
                "reading Redis stream {:?} failed: {text}; reconnecting with backoff",
                self.backplane.config.stream
            ));
            self.reported = Some(text);
        }
    }
}

/// The entries of an `XREAD` reply for `stream`, with how many the reply held; `None` when it
/// says nothing came.
fn xread_entries(reply: &Value, stream: &[u8]) -> Result<Option<(Vec<Entry>, usize)>, RedisError> {
    let streams = match reply {
        Value::Array(None) => return Ok(None),
        Value::Array(Some(streams)) => streams,
        other => return Err(RedisError::UnexpectedReply(format!("{other:?} to XREAD"))),
    };
    match streams.as_slice() {
        [one] => match one.as_array() {
            Some([name, entries]) if name.as_bytes() == Some(stream) => {
                let in_reply = entries.as_array().map_or(0, <[Value]>::len);
                Ok(Some((entries_of(entries)?.0, in_reply)))
            }
            _ => Err(RedisError::UnexpectedReply("XREAD answered for another stream".to_string())),
        },
        _ => Err(RedisError::UnexpectedReply(format!("{} streams to an XREAD of one", streams.len()))),
    }
}

enum Resume {
    /// Go on after this entry: nothing was lost.
    From(EntryId),
    /// Go on after this entry; events after the last one seen may be lost.
    AfterLoss(EntryId),
}

/// Where the reader goes on after a reconnect: from its last entry if the stream still holds it.
fn resume_point(redis: &mut Connection, stream: &[u8], last: EntryId, timeout: Duration) -> Result<Resume, RedisError> {
    if last == EntryId::START || holds(redis, stream, last, Instant::now() + timeout)? {
        return Ok(Resume::From(last));
    }
    // Trimmed while away: what is held after it is still to come. Restarted (the stream ends
    // before it, or is empty): all of the new stream is.
    let reply = redis.command_by(&[b"XREVRANGE", stream, b"+", b"-", b"COUNT", b"1"], Instant::now() + timeout)?;
    let end = entries_of(&reply)?.0.first().map(Entry::id);
    Ok(Resume::AfterLoss(if end > Some(last) { last } else { EntryId::START }))
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

/// Publishes entries read after entry `after` into the local hub, in stream order, under one
/// lock. With `lost`, entries before them may have been lost: clients are told first. An entry
/// that is not a valid event came from another writer: it is skipped. An entry too large to read
/// is skipped too, and since clients miss it, they are told.
fn publish_locally(inner: &Inner, stream: &str, after: EntryId, entries: &[Entry], lost: bool) {
    if entries.is_empty() && !lost {
        return;
    }
    let mut reports = Vec::new();
    {
        let mut state = inner.lock();
        let now = Instant::now();
        if lost {
            reports.push(format!(
                "entries of Redis stream {stream:?} after {after} may be lost (trimmed before they were \
                 read, or Redis restarted without them); clients get the reset event"
            ));
            announce_loss(&mut state, after, now);
        }
        let mut previous = after;
        for entry in entries {
            match entry {
                Entry::Event { id, event: Some(carried) } => {
                    let id = Some(id.to_string());
                    let _ = state.registry.publish_assigned(&carried.event, id.as_deref(), &carried.topics, now);
                }
                Entry::Event { .. } => {}
                Entry::TooLarge(id) => {
                    reports.push(format!(
                        "entry {id} of Redis stream {stream:?} is larger than this server reads \
                         (HubBuilder::redis_max_entry_bytes): skipped; clients get the reset event"
                    ));
                    announce_loss(&mut state, previous, now);
                }
            }
            previous = entry.id();
            state.redis_last = Some(previous.to_string());
        }
        inner.wake_flushers(&state);
        inner.signal_progress(&state);
    }
    reports.into_iter().for_each(report);
}

/// Tells every client that events after `last` may have been missed (the reset event, with that
/// id), and forgets the history, whose ids are no longer safe resume points.
fn announce_loss(state: &mut State, last: EntryId, now: Instant) {
    state.registry.clear_history();
    let reset = Event::new().event(RESET_EVENT_TYPE).data(last.to_string());
    let _ = state.registry.publish(&reset, Topics::notice(), now);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::resp::Decoder;

    fn config(max_entry_bytes: usize) -> RedisConfig {
        let settings = RedisSettings { max_entry_bytes, ..RedisSettings::default() };
        RedisConfig { url: RedisUrl::parse("redis://127.0.0.1:1").unwrap(), stream: "s".into(), settings }
    }

    fn bulk(text: &str) -> Value {
        Value::Bulk(Some(text.as_bytes().to_vec()))
    }

    fn entry(id: &str, fields: Value) -> Value {
        Value::Array(Some(vec![bulk(id), fields]))
    }

    fn fields(pairs: &[&str]) -> Value {
        Value::Array(Some(pairs.iter().map(|text| bulk(text)).collect()))
    }

    /// The `XADD` commands a backplane would send for `events`, decoded.
    fn xadds(backplane: &Backplane, events: &[Event]) -> Result<Vec<Value>, Error> {
        xadds_to(backplane, events, Topics::notice())
    }

    /// The same, for events published to `topics`.
    fn xadds_to(backplane: &Backplane, events: &[Event], topics: &Topics) -> Result<Vec<Value>, Error> {
        let mut request = Vec::new();
        for event in events {
            backplane.xadd_into(event, topics, &mut request)?;
        }
        let mut decoder = Decoder::default();
        decoder.feed(&request);
        Ok(std::iter::from_fn(|| decoder.next_value().unwrap()).collect())
    }

    #[test]
    fn entry_ids_order_as_redis_orders_them() {
        assert!(EntryId::parse("10-2") < EntryId::parse("10-10"));
        assert!(EntryId::parse("9-99") < EntryId::parse("10-0"));
        for bad in ["", "1", "1-", "-1", "a-1", "1-2-3", "1-+2", "1-0\nevent: x", " 1-0", "1-0 "] {
            assert_eq!(EntryId::parse(bad), None, "{bad:?}");
        }
        assert_eq!(EntryId::parse("5-7").unwrap().to_string(), "5-7");
    }

    #[test]
    fn events_travel_as_fields_and_come_back_the_same() {
        let event = Event::new().event("t").data("a\nb").retry(Duration::from_millis(7)).comment("c").with_id();
        let backplane = Backplane::new(config(DEFAULT_REDIS_MAX_ENTRY_BYTES));
        let command = xadds(&backplane, std::slice::from_ref(&event)).unwrap();
        let back = event_of(&command[0].as_array().unwrap()[6..]).unwrap();
        assert!(back.keep && back.topics.is_notice());
        assert_eq!(back.event.encode(Some("1-1")).unwrap(), event.encode(Some("1-1")).unwrap());
        let given = Event::new().data("x").id("mine");
        assert!(xadds(&backplane, &[given]).is_err(), "Redis gives the ids");
        let bare = event_of(&[bulk("k"), bulk("1")]).unwrap();
        assert_eq!(bare.event.encode(Some("1-1")).unwrap(), b"id: 1-1\n\n", "an event of an id alone is an event");
    }

    /// Topics travel as one field each, in order, and the private flag as a field of its own;
    /// they come back the same.
    #[test]
    fn topics_travel_as_one_field_each_and_come_back_the_same() {
        let backplane = Backplane::new(config(DEFAULT_REDIS_MAX_ENTRY_BYTES));
        let event = Event::new().data("x").with_id();
        for topics in [Topics::new(["b", "a b", "b"]), Topics::new(["/é"]).private(true)] {
            let command = xadds_to(&backplane, std::slice::from_ref(&event), &topics).unwrap();
            let fields = &command[0].as_array().unwrap()[6..];
            let names: Vec<_> = fields.chunks(2).map(|pair| pair[0].as_str().unwrap().to_string()).collect();
            assert_eq!(names.iter().filter(|name| *name == "topic").count(), topics.as_slice().len());
            let back = event_of(fields).unwrap();
            assert_eq!((back.topics, back.keep), (topics, true));
        }
    }

    /// Topic fields from Redis pass the checks of a publish: no control character, at most
    /// `MAX_TOPICS_PER_EVENT` of them, none empty, and a private event has one.
    #[test]
    fn topics_from_redis_pass_the_checks_of_a_publish() {
        let with = |extra: &[&str]| {
            let pairs: Vec<&str> = ["d", "x"].iter().chain(extra).copied().collect();
            event_of(fields(&pairs).as_array().unwrap())
        };
        assert!(with(&["topic", "a"]).is_some());
        for bad in [&["topic", "a\nb"][..], &["topic", ""], &["topic", "\u{85}"], &["private", "1"]] {
            assert!(with(bad).is_none(), "{bad:?}");
        }
        let most: Vec<&str> = (0..MAX_TOPICS_PER_EVENT).flat_map(|_| ["topic", "t"]).collect();
        assert!(with(&most).is_some(), "at the limit");
        let over: Vec<&str> = most.iter().copied().chain(["topic", "t"]).collect();
        assert!(with(&over).is_none(), "one topic over");
    }

    /// Entry fields are checked as a local publish checks an event: a type with a line break, a
    /// retry that is not a number, text that is not UTF-8, or no field at all make no event.
    #[test]
    fn fields_from_redis_pass_the_checks_of_a_local_publish() {
        let bad: [&[Value]; 5] = [
            &[bulk("t"), bulk("a\nevent: injected"), bulk("d"), bulk("x")],
            &[bulk("r"), bulk("soon"), bulk("d"), bulk("x")],
            &[bulk("d"), Value::Bulk(Some(vec![0xff]))],
            &[bulk("other"), bulk("writer")],
            &[bulk("d")],
        ];
        for fields in bad {
            assert!(event_of(fields).is_none(), "{fields:?}");
        }
    }

    /// A publish whose entry (field names and values) is larger than the readers take is refused
    /// before anything is sent; one at the limit goes.
    #[test]
    fn an_event_larger_than_the_readers_take_is_refused() {
        let backplane = Backplane::new(config(1024));
        // "d" + data, and "k" + "1".
        let at_limit = Event::new().data("x".repeat(1024 - 3)).with_id();
        assert_eq!(xadds(&backplane, std::slice::from_ref(&at_limit)).unwrap().len(), 1);
        let over = Event::new().data("x".repeat(1024 - 2)).with_id();
        let refused = xadds(&backplane, &[at_limit, over]);
        assert!(matches!(refused, Err(Error::InvalidField { field: "data", .. })), "{refused:?}");
        let at_limit = Event::new().data("x".repeat(1024 - 1));
        assert!(xadds(&backplane, &[at_limit]).is_ok(), "without the keep field");
    }

    /// An entry with a dropped part is too large when it comes first in a reply, and cuts the reply
    /// short when it comes later (the next read starts with it). Ids must be entry ids.
    #[test]
    fn entries_too_large_are_skipped_only_when_first() {
        let too_large = entry("2-0", Value::Array(Some(vec![bulk("d"), Value::Discarded])));
        let reply = Value::Array(Some(vec![too_large.clone(), entry("3-0", fields(&["d", "x"]))]));
        let (entries, in_reply) = entries_of(&reply).unwrap();
        assert!(matches!(
            entries.as_slice(),
            [Entry::TooLarge(EntryId(2, 0)), Entry::Event { id: EntryId(3, 0), event: Some(_) }]
        ));
        assert_eq!(in_reply, 2);
        for later in [too_large, entry("2-0", Value::Discarded), Value::Discarded] {
            let reply =
                Value::Array(Some(vec![entry("1-0", fields(&["d", "x"])), later, entry("3-0", fields(&["d", "y"]))]));
            let (entries, in_reply) = entries_of(&reply).unwrap();
            assert_eq!((entries.len(), in_reply), (1, 3), "cut after the first");
        }
        for bad in [
            Value::Array(Some(vec![entry("1-0\nevent: injected", fields(&["d", "x"]))])),
            Value::Array(Some(vec![Value::Discarded])),
            Value::Array(Some(vec![entry("1-0", bulk("d"))])),
            Value::Array(Some(vec![bulk("1-0")])),
            bulk("1-0"),
        ] {
            assert!(entries_of(&bad).is_err(), "{bad:?}");
        }
        let backwards =
            entries_of(&Value::Array(Some(vec![entry("5-0", fields(&["d", "x"])), entry("4-0", fields(&["d", "y"]))])));
        assert!(check_ascending(&backwards.unwrap().0, EntryId(1, 0)).is_err(), "ids go forward");
        let again = entries_of(&Value::Array(Some(vec![entry("5-0", fields(&["d", "x"]))])));
        assert!(check_ascending(&again.unwrap().0, EntryId(5, 0)).is_err(), "and past the last one read");
    }

    #[test]
    fn an_xread_reply_is_one_stream_or_nothing() {
        let stream = b"s";
        assert!(xread_entries(&Value::Array(None), stream).unwrap().is_none());
        let good = Value::Array(Some(vec![Value::Array(Some(vec![bulk("s"), Value::Array(Some(vec![]))]))]));
        assert_eq!(xread_entries(&good, stream).unwrap().map(|(entries, n)| (entries.len(), n)), Some((0, 0)));
        let other = Value::Array(Some(vec![Value::Array(Some(vec![bulk("t"), Value::Array(Some(vec![]))]))]));
        for bad in [Value::Simple("OK".into()), Value::Integer(0), Value::Bulk(None), Value::Array(Some(vec![])), other]
        {
            assert!(xread_entries(&bad, stream).is_err(), "{bad:?}");
        }
    }

    /// A client resuming after an entry this server's reader has not read yet has no place in its
    /// fan-out: that is known before Redis is asked (the address here has no server).
    #[test]
    fn no_replay_for_an_id_past_the_readers_position() {
        let backplane = Backplane::new(config(DEFAULT_REDIS_MAX_ENTRY_BYTES));
        assert!(matches!(backplane.replay("7-1", "7-0", usize::MAX, &Selection::all()), Ok(None)));
    }
}
