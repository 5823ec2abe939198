//! The hub's promise under seeded random load, over real sockets: publishers with and without ids,
//! clients that join at random moments (some resuming from a random id, some from an unknown one),
//! read slowly, leave early, and a server that sometimes stops in the middle. Every client must
//! receive every event published while it was connected, after its resume point, exactly once and
//! in order; after the server stops and the hub is dropped, no thread and no file descriptor is
//! left.
//!
//! `cargo test --test soak` runs a few seeds; `SOAK_SEEDS=500 cargo test --release --test soak`
//! runs a long soak (the seed of a failure is in its message).
//!
//! How exactness is checked without knowing the order concurrent publishers landed in: a reference
//! client joins before anything is published and reads to the end, so what it receives is the
//! hub's order. Every other client's events must then be a replay (the events with ids between its
//! resume point and its join, in that order) followed by one unbroken run of the reference's events.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use bare_sse::{Event, Hub, Server};
use common::{fd_count, thread_count, Block, RawClient, Rng, READ_TIMEOUT};

const PUBLISHERS: usize = 2;
const EVENTS_PER_PUBLISHER: usize = 300;
const CLIENTS: usize = 6;
/// The data of the last event of a round.
const END: &str = "end";

/// One received event: its data (unique within a round) and whether it carried an id.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    data: String,
    id: Option<String>,
}

impl From<Block> for Seen {
    fn from(block: Block) -> Seen {
        Seen { data: block.data(), id: block.get("id").map(str::to_string) }
    }
}

/// How many events have been published so far, for clients that wait to join at a given point.
#[derive(Default)]
struct Progress {
    published: Mutex<usize>,
    changed: Condvar,
}

impl Progress {
    fn advance(&self) {
        *self.published.lock().unwrap() += 1;
        self.changed.notify_all();
    }

    fn wait_for(&self, count: usize) {
        let published = self.published.lock().unwrap();
        drop(self.changed.wait_while(published, |published| *published < count).unwrap());
    }
}

/// What one client set out to do.
#[derive(Debug, Clone)]
struct Plan {
    join_after: usize,
    resume: Resume,
    /// Stop reading (and leave) after this many events; `None`: read to the end.
    leave_after: Option<usize>,
    /// Pause this long after each of the first events it reads, so its socket fills up.
    slow: Option<Duration>,
}

#[derive(Debug, Clone)]
enum Resume {
    Start,
    /// From the id of the reference's event at this position (if it has an id by then).
    FromSeen(usize),
    Unknown,
}

#[test]
fn every_client_gets_every_event_once_in_order_under_random_load() {
    let seeds: u64 = std::env::var("SOAK_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(4);
    let threads_before = thread_count();
    let fds_before = fd_count();
    for seed in 0..seeds {
        run_round(seed);
        // Everything of the round is stopped, dropped and joined: nothing may be left.
        assert_eq!(thread_count(), threads_before, "seed {seed}: threads left running");
        assert_eq!(fd_count(), fds_before, "seed {seed}: file descriptors left open");
    }
}

fn run_round(seed: u64) {
    let mut rng = Rng::new(seed);
    // One or two flushers; clients spread evenly, or filling a flusher before the next.
    let hub = Hub::builder()
        .heartbeat(None)
        .flusher_threads(1 + rng.below(2))
        .clients_per_flusher(1 + rng.below(3))
        .id_epoch(seed)
        .build();
    let server = Server::builder().hub(hub.clone()).start().unwrap();
    let addr = server.local_addr();
    let total = PUBLISHERS * EVENTS_PER_PUBLISHER;
    let stop_at = (rng.below(3) == 0).then(|| rng.below(total));
    let progress = Arc::new(Progress::default());

    let mut reference = RawClient::stream(addr, "/", "");
    assert!(hub.wait_until_clients(|n| n == 1, READ_TIMEOUT));
    let reference_seen = Arc::new(Mutex::new(Vec::<Seen>::new()));
    let reference_thread = {
        let seen = Arc::clone(&reference_seen);
        thread::spawn(move || read_to_the_end(&mut reference, None, None, |event| seen.lock().unwrap().push(event)))
    };
    let clients: Vec<_> = random_plans(&mut rng, total)
        .into_iter()
        .map(|plan| {
            let (progress, reference_seen) = (Arc::clone(&progress), Arc::clone(&reference_seen));
            thread::spawn(move || run_client(addr, plan, &progress, &reference_seen))
        })
        .collect();
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|publisher| {
            let (hub, progress) = (hub.clone(), Arc::clone(&progress));
            let rng = Rng::new(seed * 100 + publisher as u64);
            thread::spawn(move || publish(&hub, publisher, rng, &progress))
        })
        .collect();

    if let Some(at) = stop_at {
        progress.wait_for(at);
        server.stop();
    }
    for publisher in publishers {
        publisher.join().unwrap();
    }
    hub.send_new_event(Event::new().data(END).with_id()).unwrap();
    let stopped = stop_at.is_some();
    // Every client reads to `end`, leaves early, or sees the stream end with the stop.
    reference_thread.join().unwrap();
    let results: Vec<_> = clients.into_iter().map(|client| client.join().unwrap()).collect();
    server.stop();
    drop((server, hub));

    let reference = reference_seen.lock().unwrap().clone();
    check_reference(seed, &reference, stopped);
    let position: HashMap<&str, usize> = reference.iter().enumerate().map(|(at, e)| (e.data.as_str(), at)).collect();
    for (plan, resume_id, received) in results {
        check_client(seed, &reference, &position, &plan, resume_id.as_deref(), &received, stopped);
    }
}

/// What each client of a round sets out to do, drawn from `rng`.
fn random_plans(rng: &mut Rng, total: usize) -> Vec<Plan> {
    (0..CLIENTS)
        .map(|_| Plan {
            join_after: rng.below(total),
            resume: match rng.below(4) {
                0 | 1 => Resume::Start,
                2 => Resume::FromSeen(rng.below(total / 2)),
                _ => Resume::Unknown,
            },
            leave_after: (rng.below(3) == 0).then(|| rng.below(total)),
            slow: (rng.below(3) == 0).then(|| Duration::from_micros(200 + rng.below(800) as u64)),
        })
        .collect()
}

/// One client's run as its plan says: it joins once that many events are published, resuming as
/// planned, and reads. Returns the plan, the id it resumed from, and what it received.
fn run_client(
    addr: std::net::SocketAddr,
    plan: Plan,
    progress: &Progress,
    reference_seen: &Mutex<Vec<Seen>>,
) -> (Plan, Option<String>, Vec<Seen>) {
    progress.wait_for(plan.join_after);
    let resume_id = match plan.resume {
        Resume::Start => None,
        Resume::Unknown => Some("unknown".to_string()),
        Resume::FromSeen(at) => reference_seen.lock().unwrap().iter().take(at + 1).rev().find_map(|e| e.id.clone()),
    };
    let header = resume_id.as_ref().map(|id| format!("Last-Event-ID: {id}\r\n")).unwrap_or_default();
    let mut received = Vec::new();
    // The server may have stopped before this client connected or was answered.
    if let Some(mut client) = RawClient::try_get(addr, "/", &header) {
        if client.try_head().is_some_and(|head| head.status == 200) {
            read_to_the_end(&mut client, plan.leave_after, plan.slow, |event| received.push(event));
        }
    }
    (plan, resume_id, received)
}

/// Reads events until `end`, the stream's end, or, with `leave_after`, that many events; with
/// `slow`, pausing that long after each of the first 50.
fn read_to_the_end(
    client: &mut RawClient,
    leave_after: Option<usize>,
    slow: Option<Duration>,
    mut take: impl FnMut(Seen),
) {
    let mut read = 0;
    while let Some(block) = client.try_next_block() {
        let event = Seen::from(block);
        let end = event.data == END;
        take(event);
        read += 1;
        if end || leave_after.is_some_and(|count| read >= count) {
            break;
        }
        if let Some(pause) = slow.filter(|_| read < 50) {
            thread::sleep(pause);
        }
    }
}

/// One publisher's events, some with ids and all padded at random, each counted as published.
fn publish(hub: &Hub, publisher: usize, mut rng: Rng, progress: &Progress) {
    for n in 0..EVENTS_PER_PUBLISHER {
        let padding = "p".repeat(rng.below(4000));
        let event = Event::new().data(format!("{publisher}-{n}-{padding}"));
        let event = if rng.below(2) == 0 { event.with_id() } else { event };
        hub.send_new_event(event).unwrap();
        progress.advance();
    }
}

/// The reference joined first and read to the end: it has every event once, each publisher's in
/// the order published (all of them unless the server stopped), and `end` last.
fn check_reference(seed: u64, reference: &[Seen], stopped: bool) {
    let mut next = [0usize; PUBLISHERS];
    for event in reference.iter().filter(|e| e.data != END) {
        let mut parts = event.data.splitn(3, '-');
        let publisher: usize = parts.next().unwrap().parse().unwrap();
        let n: usize = parts.next().unwrap().parse().unwrap();
        assert_eq!(n, next[publisher], "seed {seed}: publisher {publisher}'s events in order, none lost");
        next[publisher] += 1;
    }
    if !stopped {
        assert_eq!(next, [EVENTS_PER_PUBLISHER; PUBLISHERS], "seed {seed}: every event");
        assert_eq!(reference.last().map(|e| e.data.as_str()), Some(END), "seed {seed}");
    }
}

fn check_client(
    seed: u64,
    reference: &[Seen],
    position: &HashMap<&str, usize>,
    plan: &Plan,
    resume_id: Option<&str>,
    received: &[Seen],
    stopped: bool,
) {
    let context = format!("seed {seed}, {plan:?}, resumed from {resume_id:?}");
    let mut events = received;
    let resume_at = match resume_id {
        None => None,
        Some(id) => match reference.iter().position(|e| e.id.as_deref() == Some(id)) {
            Some(at) => Some(at),
            None => {
                // An id the hub never gave out: the reset signal first, then the whole history.
                if let Some((reset, rest)) = events.split_first() {
                    assert_eq!(reset.data, id, "{context}: the reset event names the id");
                    events = rest;
                }
                None
            }
        },
    };
    // When the server stops, it closes the sockets one after another, so a client may get an event
    // or two more than the reference: that tail is cut; anywhere else an unknown event is an error.
    let known = events.iter().take_while(|e| position.contains_key(e.data.as_str())).count();
    if stopped {
        assert!(events[known..].iter().all(|e| !position.contains_key(e.data.as_str())), "{context}");
    } else {
        assert_eq!(known, events.len(), "{context}: an event the reference never saw: {:?}", events.get(known));
    }
    let at: Vec<usize> = events[..known].iter().map(|e| position[e.data.as_str()]).collect();
    // The live part is the longest unbroken run of the reference at the end.
    let mut live_from = at.len();
    while live_from > 0 && (live_from == at.len() || at[live_from - 1] + 1 == at[live_from]) {
        live_from -= 1;
    }
    let joined_at = at.get(live_from).copied().unwrap_or(reference.len());
    let replay_start = resume_at.map_or(0, |at| at + 1);
    let expected_replay: Vec<usize> =
        (replay_start..joined_at.max(replay_start)).filter(|&i| reference[i].id.is_some()).collect();
    let replayed = &at[..live_from];
    if stopped {
        // The stop may cut the replay anywhere.
        assert!(
            expected_replay.starts_with(replayed),
            "{context}: the replay is a prefix of the kept events; got {at:?}"
        );
    } else {
        assert_eq!(replayed, &expected_replay[..], "{context}: the replay is the kept events after the resume point");
    }
    let read_to_the_end = plan.leave_after.is_none_or(|count| received.len() < count);
    if read_to_the_end && !stopped && !at.is_empty() {
        assert_eq!(at.last(), Some(&(reference.len() - 1)), "{context}: live events up to the end");
    }
}
