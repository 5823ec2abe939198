//! The Redis connection and the Redis backplane against a real `redis-server` (started by the test
//! on a free loopback port; skipped, with the reason printed, where it is not installed), and
//! against a fake one that answers what each test chooses.

mod common;

use std::time::{Duration, Instant};

use bare_sse::redis::resp::{Limits, RespError, Value};
use bare_sse::redis::{Connection, RedisError, RedisUrl};
use common::fake_redis::{reply, Answer, Call, FakeRedis, MiniStream};
use common::redis::RedisServer;

const TIMEOUT: Duration = Duration::from_secs(5);

#[test]
fn commands_pipelines_and_stream_entries_against_a_real_server() {
    let Some(server) = RedisServer::start() else { return };
    let url = RedisUrl::parse(&server.url()).unwrap();
    let mut redis = Connection::open(&url, TIMEOUT).unwrap();
    assert_eq!(redis.command(&[b"PING"]).unwrap(), Value::Simple("PONG".into()));
    let id = redis.command(&[b"XADD", b"s", b"MAXLEN", b"~", b"100", b"*", b"d", b"line\r\none"]).unwrap();
    let id = id.as_str().unwrap().to_string();
    let replies =
        redis.pipeline(&[vec![b"XADD", b"s", b"*", b"d", b"two"], vec![b"NOPE"], vec![b"XLEN", b"s"]]).unwrap();
    assert!(replies[0].as_str().is_some());
    assert!(matches!(&replies[1], Value::Error(message) if message.contains("unknown command")));
    assert_eq!(replies[2], Value::Integer(2));
    let range = redis.command(&[b"XRANGE", b"s", id.as_bytes(), id.as_bytes()]).unwrap();
    let entry = &range.as_array().unwrap()[0];
    let fields = entry.as_array().unwrap()[1].as_array().unwrap();
    assert_eq!(fields[1].as_bytes(), Some(&b"line\r\none"[..]), "binary-safe");
    assert!(matches!(redis.command(&[b"XADD"]), Err(RedisError::Server(_))));
    // The connection is still good after an error reply.
    assert_eq!(redis.command(&[b"PING"]).unwrap(), Value::Simple("PONG".into()));
}

#[test]
fn authentication_with_a_user_and_a_database() {
    let Some(server) = RedisServer::start() else { return };
    let url = RedisUrl::parse(&server.url()).unwrap();
    let mut admin = Connection::open(&url, TIMEOUT).unwrap();
    admin.command(&[b"ACL", b"SETUSER", b"app", b"on", b">s3cret", b"~*", b"+@all"]).unwrap();
    admin.command(&[b"SELECT", b"3"]).unwrap();
    admin.command(&[b"SET", b"where", b"db3"]).unwrap();
    let app = RedisUrl::parse(&format!("redis://app:s3cret@127.0.0.1:{}/3", server.port)).unwrap();
    let mut connection = Connection::open(&app, TIMEOUT).unwrap();
    assert_eq!(connection.command(&[b"GET", b"where"]).unwrap().as_str(), Some("db3"));
    assert_eq!(connection.command(&[b"ACL", b"WHOAMI"]).unwrap().as_str(), Some("app"));
    let wrong = RedisUrl::parse(&format!("redis://app:nope@127.0.0.1:{}/3", server.port)).unwrap();
    assert!(matches!(Connection::open(&wrong, TIMEOUT), Err(RedisError::Server(_))));
}

#[test]
fn a_blocking_read_waits_its_time_and_an_absent_server_is_an_error() {
    let Some(server) = RedisServer::start() else { return };
    let url = RedisUrl::parse(&server.url()).unwrap();
    let mut redis = Connection::open(&url, TIMEOUT).unwrap();
    let nothing =
        redis.command_waiting(&[b"XREAD", b"BLOCK", b"50", b"STREAMS", b"empty", b"$"], Duration::from_millis(50));
    assert_eq!(nothing.unwrap(), Value::Array(None), "no entry in time");
    let port = server.port;
    drop(server);
    let gone = RedisUrl::parse(&format!("redis://127.0.0.1:{port}")).unwrap();
    assert!(matches!(Connection::open(&gone, TIMEOUT), Err(RedisError::Io(_))));
}

mod backplane {
    use super::*;
    use bare_sse::{Event, Hub, Server};
    use common::{RawClient, Rng, READ_TIMEOUT};

    /// A server whose hub is backed by the stream `events` on `redis`.
    fn server_on(redis: &RedisServer, history: usize) -> Server {
        let hub = Hub::builder().redis(&redis.url(), "events").unwrap().history_events(history).build();
        Server::builder().hub(hub).start().unwrap()
    }

    fn data_of(client: &mut RawClient) -> (String, String) {
        let block = client.next_block();
        (block.get("id").unwrap_or_default().to_string(), block.data())
    }

    /// Waits until every server's reader follows the stream: from then on, every event reaches it.
    fn wait_until_following(servers: &[&Server]) {
        for server in servers {
            assert!(server.hub().wait_until_following(READ_TIMEOUT), "the reader never followed the stream");
        }
    }

    #[test]
    fn three_servers_share_one_stream_and_a_client_moves_without_missing_anything() {
        let Some(redis) = RedisServer::start() else { return };
        let (a, b, c) = (server_on(&redis, 1000), server_on(&redis, 2), server_on(&redis, 1000));
        wait_until_following(&[&a, &b, &c]);
        let mut on_b = RawClient::stream(b.local_addr(), "/", "");
        let mut on_c = RawClient::stream(c.local_addr(), "/", "");
        let mut moving = RawClient::stream(a.local_addr(), "/", "");
        assert!(b.hub().wait_until_clients(|n| n == 1, READ_TIMEOUT));
        for i in 0..5 {
            a.send_new_event(Event::new().data(format!("e{i}")).with_id()).unwrap();
        }
        let mut last_id = String::new();
        for i in 0..5 {
            let (id, data) = data_of(&mut moving);
            assert_eq!(data, format!("e{i}"));
            assert_eq!(data_of(&mut on_b), (id.clone(), data.clone()), "B has the same event, same id");
            assert_eq!(data_of(&mut on_c), (id.clone(), data), "and C");
            last_id = id;
        }
        // Leaves A after e4; six events later it reconnects to B, whose history keeps only two:
        // the four before those come from the stream.
        drop(moving);
        for i in 5..11 {
            c.send_new_event(Event::new().data(format!("e{i}")).with_id()).unwrap();
        }
        for i in 5..11 {
            assert_eq!(data_of(&mut on_b).1, format!("e{i}"));
        }
        let mut moved = RawClient::stream(b.local_addr(), "/", &format!("Last-Event-ID: {last_id}\r\n"));
        for i in 5..11 {
            assert_eq!(data_of(&mut moved).1, format!("e{i}"), "exactly the ones it missed, in order");
        }
        a.send_new_event(Event::new().data("live").with_id()).unwrap();
        assert_eq!(data_of(&mut moved).1, "live", "then live, with no duplicate before it");
        // An id the stream never held: the reset event, then what B's history holds.
        let mut lost = RawClient::stream(b.local_addr(), "/", "Last-Event-ID: 1-1\r\n");
        assert_eq!(lost.next_block().get("event"), Some("bare-sse-reset"));
    }

    /// A client that moves from a server whose reader is further along resumes after its own last
    /// id: the server it moves to waits until its reader has read that far, rather than send again
    /// what the client has. Whether the second reader is behind at the moment of the move is up to
    /// the scheduler, so the move is made many times.
    #[test]
    fn a_client_moving_to_a_server_whose_reader_is_behind_gets_nothing_twice() {
        let Some(redis) = RedisServer::start() else { return };
        let (a, b) = (server_on(&redis, 1000), server_on(&redis, 1000));
        wait_until_following(&[&a, &b]);
        let mut on_a = RawClient::stream(a.local_addr(), "/", "");
        assert!(a.hub().wait_until_clients(|n| n == 1, READ_TIMEOUT));
        for round in 0..100 {
            let events: Vec<Event> = (0..20).map(|i| Event::new().data(format!("{round}.{i}")).with_id()).collect();
            a.hub().send_new_events(&events).unwrap();
            let mut last_id = String::new();
            for i in 0..20 {
                let (id, data) = data_of(&mut on_a);
                assert_eq!(data, format!("{round}.{i}"));
                last_id = id;
            }
            let mut moved = RawClient::stream(b.local_addr(), "/", &format!("Last-Event-ID: {last_id}\r\n"));
            a.send_new_event(Event::new().data(format!("{round}.next")).with_id()).unwrap();
            assert_eq!(data_of(&mut on_a).1, format!("{round}.next"));
            assert_eq!(data_of(&mut moved).1, format!("{round}.next"), "round {round}: the next event, none twice");
        }
        // An id past every entry: the reader never reaches it. The wait is bounded, and then comes
        // the reset event, not a hang and not a resume at the reader's place.
        let mut ahead = RawClient::stream(b.local_addr(), "/", "Last-Event-ID: 99999999999999-0\r\n");
        assert_eq!(ahead.next_block().get("event"), Some("bare-sse-reset"));
    }

    #[test]
    fn publishing_fails_while_redis_is_down_and_ids_are_redis_entry_ids() {
        let Some(redis) = RedisServer::start() else { return };
        let a = server_on(&redis, 100);
        wait_until_following(&[&a]);
        let refused = a.send_new_event(Event::new().data("x").id("mine"));
        assert!(matches!(refused, Err(bare_sse::Error::InvalidField { field: "id", .. })));
        let mut client = RawClient::stream(a.local_addr(), "/", "");
        a.send_new_event(Event::new().data("kept").with_id()).unwrap();
        a.send_new_event(Event::new().data("live only")).unwrap();
        let (id, _) = data_of(&mut client);
        let (ms, seq) = id.split_once('-').unwrap();
        assert!(ms.parse::<u64>().is_ok() && seq.parse::<u64>().is_ok(), "a stream entry id: {id}");
        assert_eq!(data_of(&mut client), (String::new(), "live only".to_string()));
        drop(redis);
        assert!(a.send_new_event(Event::new().data("lost?").with_id()).is_err(), "nothing dropped in silence");
    }

    #[test]
    fn clients_stay_connected_with_heartbeats_while_redis_is_away() {
        let Some(redis) = RedisServer::start() else { return };
        let hub =
            Hub::builder().redis(&redis.url(), "events").unwrap().heartbeat(Some(Duration::from_millis(50))).build();
        let a = Server::builder().hub(hub).start().unwrap();
        wait_until_following(&[&a]);
        let mut client = RawClient::stream(a.local_addr(), "/", "");
        assert!(a.hub().wait_until_clients(|n| n == 1, READ_TIMEOUT));
        drop(redis);
        // Heartbeats are the local hub's own: they keep coming, and the stream stays open.
        for _ in 0..3 {
            client.read_through(": keep-alive\n");
        }
        assert_eq!(a.clients(), 1);
    }

    #[test]
    fn redis_restarted_with_its_data_loses_nothing_and_restarted_empty_sends_the_reset() {
        for persistent in [true, false] {
            let Some(redis) = RedisServer::start_in(None, persistent) else { return };
            let a = server_on(&redis, 100);
            wait_until_following(&[&a]);
            let mut client = RawClient::stream(a.local_addr(), "/", "");
            a.send_new_event(Event::new().data("before").with_id()).unwrap();
            assert_eq!(data_of(&mut client).1, "before");
            let kept = redis.kill();
            assert!(a.send_new_event(Event::new().data("while down").with_id()).is_err());
            let redis = RedisServer::start_in(Some(kept), persistent).unwrap();
            // The reader reconnects with backoff; publishing works again at once.
            a.send_new_event(Event::new().data("after").with_id()).unwrap();
            if persistent {
                assert_eq!(data_of(&mut client).1, "after", "no loss, no duplicate");
            } else {
                let block = client.next_block();
                assert_eq!(block.get("event"), Some("bare-sse-reset"), "the stream it followed is gone");
                assert_eq!(data_of(&mut client).1, "after");
            }
            drop(redis);
        }
    }

    /// The stream's length limit: entries past it are trimmed (`MAXLEN ~`, in whole blocks of
    /// entries), and a client resuming from one the stream and the local history no longer hold
    /// gets the reset event.
    ///
    /// The test relies on two positions, and waits for each instead of racing the reader: the
    /// resume point is an event the first client has received (so the reader has read it), and
    /// the late client comes only once the first has received the last event (so the reader has
    /// read everything, and the history holds the newest five only: a reader that lagged behind
    /// the trimming forgot its history and started it again from entries it read after that).
    #[test]
    fn a_resume_point_trimmed_from_the_stream_gets_the_reset_event() {
        let Some(redis) = RedisServer::start() else { return };
        let hub = Hub::builder().redis(&redis.url(), "events").unwrap().redis_max_len(10).history_events(5).build();
        let a = Server::builder().hub(hub).start().unwrap();
        wait_until_following(&[&a]);
        let mut first = RawClient::stream(a.local_addr(), "/", "");
        let (trimmed, _) = publish_first_then_a_thousand(&a, &mut first, 1000);
        let mut redis_client = Connection::open(&RedisUrl::parse(&redis.url()).unwrap(), TIMEOUT).unwrap();
        let held = redis_client.command(&[b"XRANGE", b"events", trimmed.as_bytes(), trimmed.as_bytes()]).unwrap();
        assert_eq!(held.as_array().map(<[Value]>::len), Some(0), "trimmed from the stream: {trimmed}");
        let mut late = RawClient::stream(a.local_addr(), "/", &format!("Last-Event-ID: {trimmed}\r\n"));
        assert_eq!(late.next_block().get("event"), Some("bare-sse-reset"), "neither stream nor history holds it");
        assert_eq!(data_of(&mut late).1, "995", "then what the history holds");
    }

    /// A resume point trimmed from the stream that the local history still holds is resumed from
    /// the history, exactly: nothing is missed, so no reset is due. The events go in batches of
    /// five, each read before the next: the reader never lags by the ten entries the stream
    /// keeps, so it never misses one.
    #[test]
    fn a_resume_point_trimmed_from_the_stream_but_held_in_the_history_resumes_exactly() {
        let Some(redis) = RedisServer::start() else { return };
        let hub = Hub::builder().redis(&redis.url(), "events").unwrap().redis_max_len(10).history_events(2000).build();
        let a = Server::builder().hub(hub).start().unwrap();
        wait_until_following(&[&a]);
        let mut first = RawClient::stream(a.local_addr(), "/", "");
        let (trimmed, delivered) = publish_first_then_a_thousand(&a, &mut first, 5);
        let expected: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
        assert_eq!(delivered, expected, "a reader that keeps up misses nothing, and no reset is due");
        let mut late = RawClient::stream(a.local_addr(), "/", &format!("Last-Event-ID: {trimmed}\r\n"));
        let resumed: Vec<String> = delivered.iter().map(|_| data_of(&mut late).1).collect();
        assert_eq!(resumed, delivered, "every event after the resume point, once, as the first client got them");
    }

    /// Publishes `first`, then `0`..`999` in batches of `batch`, reading from `client` up to the end
    /// of each batch before publishing the next: when it returns, the reader has published every
    /// entry locally. Returns the id of `first`, and the data of what the client got after it
    /// (entries trimmed before the reader read them never reach it; reset events count by their
    /// data, the last id before the loss).
    fn publish_first_then_a_thousand(server: &Server, client: &mut RawClient, batch: usize) -> (String, Vec<String>) {
        assert!(server.hub().wait_until_clients(|n| n == 1, READ_TIMEOUT));
        server.send_new_event(Event::new().data("first").with_id()).unwrap();
        let (first_id, first) = data_of(client);
        assert_eq!(first, "first");
        let mut after = Vec::new();
        for batch in (0..1000).collect::<Vec<_>>().chunks(batch) {
            let events: Vec<Event> = batch.iter().map(|i| Event::new().data(i.to_string()).with_id()).collect();
            server.hub().send_new_events(&events).unwrap();
            let last = batch.last().unwrap().to_string();
            while after.last() != Some(&last) {
                after.push(data_of(client).1);
            }
        }
        (first_id, after)
    }

    #[test]
    fn stop_with_event_waits_for_the_last_event_to_come_back_through_redis() {
        let Some(redis) = RedisServer::start() else { return };
        let a = server_on(&redis, 100);
        wait_until_following(&[&a]);
        let mut client = RawClient::stream(a.local_addr(), "/", "");
        assert!(a.hub().wait_until_clients(|n| n == 1, READ_TIMEOUT));
        a.stop_with_event(Event::new().data("last words")).unwrap();
        let mut seen = Vec::new();
        while let Some(block) = client.try_next_block() {
            seen.push(block.data());
        }
        assert_eq!(seen, ["last words"], "the final event arrives before the connection closes");
    }

    #[test]
    fn entries_from_other_writers_are_skipped_and_the_stream_goes_on() {
        let Some(redis) = RedisServer::start() else { return };
        let a = server_on(&redis, 100);
        wait_until_following(&[&a]);
        let mut client = RawClient::stream(a.local_addr(), "/", "");
        let mut other = Connection::open(&RedisUrl::parse(&redis.url()).unwrap(), TIMEOUT).unwrap();
        other.command(&[b"XADD", b"events", b"*", b"something", b"else"]).unwrap();
        other.command(&[b"XADD", b"events", b"*", b"t", b"two\nlines", b"d", b"x"]).unwrap();
        a.send_new_event(Event::new().data("after them")).unwrap();
        let block = client.next_block();
        assert_eq!((block.get("event"), block.data()), (None, "after them".to_string()));
    }

    #[test]
    fn publishers_on_two_servers_at_once_give_every_client_one_total_order() {
        const EACH: usize = 500;
        let Some(redis) = RedisServer::start() else { return };
        let servers = [server_on(&redis, 100), server_on(&redis, 100), server_on(&redis, 100)];
        wait_until_following(&[&servers[0], &servers[1], &servers[2]]);
        let mut clients: Vec<RawClient> = servers.iter().map(|s| RawClient::stream(s.local_addr(), "/", "")).collect();
        for server in &servers {
            assert!(server.hub().wait_until_clients(|n| n == 1, READ_TIMEOUT));
        }
        let publishers: Vec<_> = ["a", "b"]
            .into_iter()
            .zip([servers[0].hub().clone(), servers[1].hub().clone()])
            .map(|(tag, hub)| {
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        hub.send_new_event(Event::new().data(format!("{tag}{i}")).with_id()).unwrap();
                    }
                })
            })
            .collect();
        for publisher in publishers {
            publisher.join().unwrap();
        }
        let orders: Vec<Vec<(String, String)>> =
            clients.iter_mut().map(|client| (0..2 * EACH).map(|_| data_of(client)).collect()).collect();
        assert_eq!(orders[0], orders[1], "A and B saw one order");
        assert_eq!(orders[0], orders[2], "and C the same");
        for tag in ["a", "b"] {
            let own: Vec<&String> = orders[0].iter().map(|(_, data)| data).filter(|d| d.starts_with(tag)).collect();
            let expected: Vec<String> = (0..EACH).map(|i| format!("{tag}{i}")).collect();
            assert_eq!(own, expected.iter().collect::<Vec<_>>(), "each publisher's events in its own order");
        }
    }

    /// A server whose hub is backed by the stream `events` on `redis`, with every public event on
    /// `/` and, on `/x`, the events of topic `x`, its private ones included, with a head that says
    /// where the stream resumes.
    fn topic_server_on(redis: &RedisServer, history: usize) -> Server {
        use bare_sse::hub::Selection;
        use bare_sse::server::{Request, Response};
        use bare_sse::topic::{SelectorLimits, TopicSelector};
        let hub = Hub::builder().redis(&redis.url(), "events").unwrap().history_events(history).build();
        let of_x = hub.clone();
        let select = move |_: &Request| {
            let x = || TopicSelector::from_params([("match", "x")], None, &SelectorLimits::default()).unwrap();
            Response::hub(of_x.clone())
                .selection(Selection::topics(x()).with_private(x()))
                .report_resume("Resumes-After")
        };
        Server::builder().hub(hub).path("/").route("/x", select).start().unwrap()
    }

    /// Events of topics travel through the stream with their topics and private flag: a topic
    /// subscriber that moves to a server whose history does not reach its last id is replayed from
    /// the stream exactly the events of its topic it missed, private ones included, none twice and
    /// none of another topic; a client of every public event never gets a private one.
    #[test]
    fn a_topic_subscriber_moving_between_servers_misses_nothing_and_gets_nothing_twice() {
        use bare_sse::hub::Topics;
        let Some(redis) = RedisServer::start() else { return };
        let (a, b) = (topic_server_on(&redis, 1000), topic_server_on(&redis, 2));
        wait_until_following(&[&a, &b]);
        let mut moving = RawClient::stream(a.local_addr(), "/x", "");
        let mut public_on_b = RawClient::stream(b.local_addr(), "/", "");
        assert!(a.hub().wait_until_clients(|n| n == 1, READ_TIMEOUT));
        assert!(b.hub().wait_until_clients(|n| n == 1, READ_TIMEOUT));
        // Topics and privacy of the events, in turn.
        let kinds = [("x", false), ("y", false), ("x", true), ("x y", false), ("y", true), ("y x", true)];
        let publish = |server: &Server, n: usize| {
            let (topics, private) = kinds[n % kinds.len()];
            let topics = Topics::new(topics.split(' ')).private(private);
            server.hub().publish_to(&topics, Event::new().data(n.to_string()).with_id()).unwrap();
        };
        let of_x = |range: std::ops::Range<usize>| range.filter(|n| kinds[n % 6].0.contains('x')).collect::<Vec<_>>();
        let public = |range: std::ops::Range<usize>| range.filter(|n| !kinds[n % 6].1).collect::<Vec<_>>();
        let read = |client: &mut RawClient, expected: &[usize]| {
            let mut last_id = String::new();
            for n in expected {
                let (id, data) = data_of(client);
                assert_eq!(data, n.to_string());
                last_id = id;
            }
            last_id
        };
        for n in 0..12 {
            publish(&a, n);
        }
        let last_id = read(&mut moving, &of_x(0..12));
        read(&mut public_on_b, &public(0..12));
        drop(moving);
        for n in 12..24 {
            publish(&b, n);
        }
        // B's reader has them all once its client has: the client then moves there.
        read(&mut public_on_b, &public(12..24));
        let mut moved = RawClient::get(b.local_addr(), "/x", &format!("Last-Event-ID: {last_id}\r\n"));
        assert_eq!(moved.head().header("resumes-after"), Some(last_id.as_str()), "resumed, from the stream");
        read(&mut moved, &of_x(12..24));
        assert_eq!(b.hub().stats().resumed_from_redis, 1, "from the stream: B's history holds two events");
        a.send_new_event(Event::new().data("live").with_id()).unwrap();
        assert_eq!(data_of(&mut moved).1, "live", "then live, with nothing twice or of topic y before it");
        assert_eq!(data_of(&mut public_on_b).1, "live", "and no private event before it");
    }

    /// Ten thousand events published on three servers while clients move between them at
    /// random, resuming by `Last-Event-ID`: every client ends with every event once, in order.
    #[test]
    fn ten_thousand_events_and_random_moves_deliver_every_event_once_in_order() {
        const EVENTS: usize = 10_000;
        let Some(redis) = RedisServer::start() else { return };
        let servers = [server_on(&redis, 50), server_on(&redis, 50), server_on(&redis, 50)];
        wait_until_following(&[&servers[0], &servers[1], &servers[2]]);
        let addresses: Vec<_> = servers.iter().map(Server::local_addr).collect();
        let mut rng = Rng::new(13);
        let mut clients: Vec<(RawClient, Vec<usize>, String)> =
            (0..6).map(|i| (RawClient::stream(addresses[i % 3], "/", ""), Vec::new(), String::new())).collect();
        for server in &servers {
            assert!(server.hub().wait_until_clients(|n| n == 2, READ_TIMEOUT));
        }
        let hubs: Vec<Hub> = servers.iter().map(|s| s.hub().clone()).collect();
        let publisher = std::thread::spawn(move || {
            let mut rng = Rng::new(7);
            for batch in (0..EVENTS).collect::<Vec<_>>().chunks(50) {
                let events: Vec<Event> = batch.iter().map(|n| Event::new().data(n.to_string()).with_id()).collect();
                hubs[rng.below(3)].send_new_events(&events).unwrap();
            }
        });
        // Read a little from each client in turn; now and then one moves to a random server.
        while clients.iter().any(|(_, got, _)| got.len() < EVENTS) {
            let pick = rng.below(clients.len());
            let (client, got, last_id) = &mut clients[pick];
            if got.len() == EVENTS {
                continue;
            }
            for _ in 0..1 + rng.below(300) {
                let (id, data) = data_of(client);
                got.push(data.parse().unwrap());
                *last_id = id;
                if got.len() == EVENTS {
                    break;
                }
            }
            if rng.below(4) == 0 && got.len() < EVENTS {
                let to = addresses[rng.below(3)];
                *client = RawClient::stream(to, "/", &format!("Last-Event-ID: {last_id}\r\n"));
            }
        }
        publisher.join().unwrap();
        for (index, (_, got, _)) in clients.iter().enumerate() {
            if let Some(at) = got.iter().enumerate().position(|(i, &n)| i != n) {
                let around = &got[at.saturating_sub(3)..(at + 4).min(got.len())];
                panic!("client {index}: every event once, in order; at {at}, it got {around:?}");
            }
        }
    }
}

/// A reply must be whole within the timeout, however its bytes are spread out: a server that
/// sends a byte now and then cannot hold a caller longer than that.
#[test]
fn a_reply_that_drips_must_be_whole_within_the_timeout() {
    let fake = FakeRedis::start(|call| match call.name().as_str() {
        "PING" => Answer::Drip(reply::bulk("x".repeat(1000)), Duration::from_millis(5)),
        _ => Answer::Bytes(reply::ok()),
    });
    let mut redis = Connection::open(&RedisUrl::parse(&fake.url()).unwrap(), Duration::from_millis(300)).unwrap();
    let started = Instant::now();
    let result = redis.command(&[b"PING"]);
    assert!(matches!(&result, Err(error) if error.is_timeout()), "{:?}", result.map(|_| "the whole reply"));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "given up after {:?}, not once the reply came",
        started.elapsed()
    );
}

/// Each bulk string fits, but not their sum: the reply is refused once its size passes the limit.
#[test]
fn a_whole_reply_is_bounded() {
    let fake = FakeRedis::start(|call| match call.name().as_str() {
        "PING" => Answer::Bytes(reply::array((0..12).map(|_| reply::bulk(vec![b'x'; 1 << 20])))),
        _ => Answer::Bytes(reply::ok()),
    });
    let mut redis = Connection::open(&RedisUrl::parse(&fake.url()).unwrap(), TIMEOUT).unwrap();
    redis.set_limits(Limits { max_bulk_bytes: 2 << 20, max_reply_bytes: 4 << 20, ..Limits::default() });
    let result = redis.command(&[b"PING"]);
    assert!(matches!(result, Err(RedisError::Protocol(RespError::TooLarge("reply")))), "{result:?}");
}

#[test]
fn redis_errors_keep_their_cause() {
    use std::error::Error as _;
    let io = RedisError::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, "slow"));
    assert!(io.source().unwrap().downcast_ref::<std::io::Error>().is_some());
    let protocol = RedisError::Protocol(RespError::Malformed("x"));
    assert_eq!(protocol.source().unwrap().downcast_ref::<RespError>(), Some(&RespError::Malformed("x")));
    assert!(RedisError::Server("ERR".into()).source().is_none());
}

/// The backplane against servers that misbehave: a fake Redis answering what each test chooses,
/// and a real one misconfigured, frozen, or holding entries too large to read.
mod faults {
    use super::*;
    use bare_sse::{Event, Hub, HubBuilder, Server};
    use common::{RawClient, READ_TIMEOUT};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    fn hub_on(url: &str) -> HubBuilder {
        Hub::builder().redis(url, "events").unwrap()
    }

    fn serve(hub: Hub) -> Server {
        let server = Server::builder().hub(hub).start().unwrap();
        assert!(server.hub().wait_until_following(READ_TIMEOUT), "the reader never followed the stream");
        server
    }

    /// A fake Redis holding a well-behaved stream, answering every command with it.
    fn fake_stream() -> (MiniStream, FakeRedis) {
        let stream = MiniStream::default();
        let answers = stream.clone();
        (stream, FakeRedis::start(move |call| answers.answer(call)))
    }

    fn data_of(client: &mut RawClient) -> (String, String) {
        let block = client.next_block();
        (block.get("id").unwrap_or_default().to_string(), block.data())
    }

    /// The next block is the reset event, with `last` as its data.
    fn expect_reset(client: &mut RawClient, last: &str) {
        let block = client.next_block();
        assert_eq!((block.get("event"), block.data()), (Some("bare-sse-reset"), last.to_string()));
    }

    /// The shortest time the reader can take for four attempts: three waits, of 100, 200 and
    /// 400 ms (jitter only adds to a wait).
    const FOUR_ATTEMPTS_AT_LEAST: Duration = Duration::from_millis(700);

    /// Waits for the fourth `command` the fake receives, and checks that the reader waited
    /// between them as its backoff says: a storm would send four in a few milliseconds.
    fn assert_backs_off(answer: impl Fn(&Call) -> Answer + Send + Sync + 'static, command: &'static str) {
        let fake = FakeRedis::start(answer);
        let _hub = hub_on(&fake.url()).build();
        let attempts = |calls: &[Call]| calls.iter().filter(|call| call.name() == command).count();
        fake.expect("four attempts", Duration::from_secs(10), |calls, _| attempts(calls) >= 4);
        let times: Vec<Instant> =
            fake.calls().iter().filter(|call| call.name() == command).map(|call| call.at).collect();
        let spent = times[3] - times[0];
        assert!(
            spent >= FOUR_ATTEMPTS_AT_LEAST,
            "{command}: four attempts in {spent:?}, on {} connections",
            fake.connections()
        );
    }

    /// Whatever fails (a refused command, a protocol error, a closed connection, a reply of the
    /// wrong shape, an empty read that comes at once), the reader waits before it tries again,
    /// longer each time: a successful connection alone does not reset the backoff. One test per
    /// failure, so that they wait side by side.
    fn refusing_xrevrange(bytes: &'static [u8]) {
        assert_backs_off(move |_| Answer::Bytes(bytes.to_vec()), "XREVRANGE");
    }

    /// An empty stream whose `XREAD`s get `bytes`.
    fn answering_xread(bytes: &'static [u8]) {
        let answer = move |call: &Call| match call.name().as_str() {
            "XREVRANGE" => Answer::Bytes(reply::array([])),
            _ => Answer::Bytes(bytes.to_vec()),
        };
        assert_backs_off(answer, "XREAD");
    }

    #[test]
    fn backoff_after_a_missing_password() {
        refusing_xrevrange(b"-NOAUTH Authentication required.\r\n");
    }

    #[test]
    fn backoff_after_a_key_of_the_wrong_type() {
        refusing_xrevrange(b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
    }

    #[test]
    fn backoff_after_bytes_that_are_not_resp() {
        refusing_xrevrange(b"?garbage\r\n");
    }

    #[test]
    fn backoff_after_a_reply_that_is_not_entries() {
        refusing_xrevrange(b"*1\r\n:1\r\n");
    }

    #[test]
    fn backoff_after_a_connection_closed_at_once() {
        assert_backs_off(|_| Answer::Close, "XREVRANGE");
    }

    /// Before, the reader read again at once on the same connection: a busy loop.
    #[test]
    fn backoff_after_a_read_answered_with_no_array() {
        answering_xread(b"+OK\r\n");
    }

    /// Redis answers an `XREAD BLOCK` with nothing only once its wait is over.
    #[test]
    fn backoff_after_a_read_answered_with_nothing_at_once() {
        answering_xread(b"*-1\r\n");
    }

    #[test]
    fn backoff_after_a_read_answered_for_another_stream() {
        answering_xread(b"*1\r\n*2\r\n$5\r\nother\r\n*0\r\n");
    }

    #[test]
    fn backoff_after_a_malformed_integer() {
        answering_xread(b":1x\r\n");
    }

    /// The same against a real server: a password it requires and the URL lacks, and a stream key
    /// that holds a string. Its own counter of connections tells how often the reader came.
    #[test]
    fn a_misconfigured_real_server_gets_a_connection_now_and_then() {
        for misconfigure in [
            &[&b"CONFIG"[..], b"SET", b"requirepass", b"secret"],
            &[&b"SET"[..], b"events", b"a string", b"", b""][..3],
        ] {
            let Some(redis) = RedisServer::start() else { return };
            let mut admin = Connection::open(&RedisUrl::parse(&redis.url()).unwrap(), TIMEOUT).unwrap();
            admin.command(misconfigure).unwrap();
            let before = total_connections(&mut admin);
            let started = Instant::now();
            let _hub = hub_on(&redis.url()).build();
            let admin = std::cell::RefCell::new(admin);
            common::eventually("four connections", || total_connections(&mut admin.borrow_mut()) >= before + 4);
            let spent = started.elapsed();
            assert!(spent >= FOUR_ATTEMPTS_AT_LEAST, "four connections in {spent:?}");
        }
    }

    /// Connections the server has accepted so far (`INFO stats`).
    fn total_connections(redis: &mut Connection) -> u64 {
        let info = redis.command(&[b"INFO", b"stats"]).unwrap();
        let info = info.as_str().unwrap().to_string();
        let line = info.lines().find_map(|line| line.strip_prefix("total_connections_received:")).unwrap();
        line.trim().parse().unwrap()
    }

    /// An entry larger than the reader takes is read and dropped, skipped with the reset event
    /// (clients miss it), and the reader goes on: when it comes first in a reply, and when it
    /// comes after others (then the next read starts with it). One at the limit is delivered, and
    /// a publish over it is refused with nothing appended. The reader never reconnects.
    #[test]
    fn an_entry_too_large_to_read_is_skipped_with_the_reset_event() {
        let (stream, fake) = fake_stream();
        let server = serve(hub_on(&fake.url()).redis_max_entry_bytes(1024).build());
        let mut client = RawClient::stream(server.local_addr(), "/", "");
        assert!(server.hub().wait_until_clients(|n| n == 1, READ_TIMEOUT));
        stream.push("1-0", reply::kept("1-0", "one"));
        assert_eq!(data_of(&mut client), ("1-0".to_string(), "one".to_string()));
        stream.hold_reads(true);
        stream.push("2-0", reply::kept("2-0", &"x".repeat(1025)));
        stream.push("3-0", reply::kept("3-0", "three"));
        stream.push("4-0", reply::kept("4-0", &"y".repeat(5000)));
        stream.push("5-0", reply::kept("5-0", "five"));
        stream.hold_reads(false);
        expect_reset(&mut client, "1-0");
        assert_eq!(data_of(&mut client).1, "three");
        expect_reset(&mut client, "3-0");
        assert_eq!(data_of(&mut client).1, "five");
        // Field names and values together: "d" and the data, "k" and "1".
        server.send_new_event(Event::new().data("z".repeat(1021)).with_id()).unwrap();
        assert_eq!(data_of(&mut client).1.len(), 1021, "at the limit");
        let refused = server.send_new_event(Event::new().data("z".repeat(1022)).with_id());
        assert!(matches!(refused, Err(bare_sse::Error::InvalidField { field: "data", .. })), "{refused:?}");
        assert_eq!(stream.ids().len(), 6, "nothing appended");
        // The reader's connection and the publisher's, no more.
        assert_eq!(fake.connections(), 2);
    }

    /// The same with a real server and the default limit (16 MiB): an entry of 65 MiB, written
    /// by another program, is skipped, and the reader, on the same connection, delivers what
    /// comes next. Publishing an event over the limit is refused.
    #[test]
    fn a_real_entry_of_65_mib_is_skipped_and_the_reader_goes_on() {
        let Some(redis) = RedisServer::start() else { return };
        let server = serve(hub_on(&redis.url()).build());
        let mut client = RawClient::stream(server.local_addr(), "/", "");
        assert!(server.hub().wait_until_clients(|n| n == 1, READ_TIMEOUT));
        server.send_new_event(Event::new().data("before").with_id()).unwrap();
        let (before, _) = data_of(&mut client);
        let mut other = Connection::open(&RedisUrl::parse(&redis.url()).unwrap(), Duration::from_secs(60)).unwrap();
        let connections = total_connections(&mut other);
        let huge = vec![b'x'; 65 << 20];
        other.command(&[b"XADD", b"events", b"*", b"d", &huge, b"k", b"1"]).unwrap();
        drop(huge);
        server.send_new_event(Event::new().data("after").with_id()).unwrap();
        expect_reset(&mut client, &before);
        assert_eq!(data_of(&mut client).1, "after");
        assert_eq!(total_connections(&mut other), connections, "the reader never reconnected");
        let too_large = Event::new().data("x".repeat(bare_sse::hub::DEFAULT_REDIS_MAX_ENTRY_BYTES));
        assert!(matches!(server.send_new_event(too_large), Err(bare_sse::Error::InvalidField { .. })));
        assert_eq!(other.command(&[b"XLEN", b"events"]).unwrap(), Value::Integer(3), "nothing appended");
    }

    /// Ids read from Redis are checked as a local publish checks them: an id that is not an entry
    /// id (here one that would inject an event), one that goes backwards, and one read before
    /// never reach a client; the reply is refused, and the reader reconnects and goes on.
    #[test]
    fn ids_from_redis_are_checked_before_they_reach_clients() {
        let (stream, fake) = fake_stream();
        let server = serve(hub_on(&fake.url()).build());
        let mut client = RawClient::stream(server.local_addr(), "/", "");
        assert!(server.hub().wait_until_clients(|n| n == 1, READ_TIMEOUT));
        let injected = "3000000-0\nevent: injected\ndata: INJECTED";
        stream.script_xread(reply::xread("events", [reply::kept(injected, "x")]));
        stream.push("5-0", reply::kept("5-0", "five"));
        let received = client.read_through("five\n\n");
        assert!(!received.contains("INJECTED"), "{received:?}");
        assert_eq!(fake.connections(), 2, "the reply was refused and the reader reconnected");
        for (bad, why) in [("4-0", "backwards"), ("5-0", "again")] {
            stream.script_xread(reply::xread("events", [reply::kept(bad, why)]));
        }
        stream.push("6-0", reply::kept("6-0", "six"));
        let received = client.read_through("six\n\n");
        assert!(!received.contains("backwards") && !received.contains("again"), "{received:?}");
        assert!(received.contains("id: 6-0"), "{received:?}");
    }

    /// A pipelined batch that Redis partly refuses says how many it appended, and those count for
    /// `flush`; a batch whose replies stop coming says how many may have been appended. The
    /// error's source is the Redis error itself.
    #[test]
    fn a_failed_publish_says_what_was_appended() {
        use std::error::Error as _;
        let stream = MiniStream::default();
        let xadds = Arc::new(AtomicUsize::new(0));
        let answers = (stream.clone(), Arc::clone(&xadds));
        let fake = FakeRedis::start(move |call| {
            if call.name() == "XADD" {
                match answers.1.fetch_add(1, Ordering::SeqCst) {
                    1 => return Answer::Bytes(reply::error("OOM command not allowed when used memory > 'maxmemory'.")),
                    4.. => return Answer::Freeze,
                    _ => {}
                }
            }
            answers.0.answer(call)
        });
        let server = serve(hub_on(&fake.url()).redis_timeout(Duration::from_millis(500)).build());
        let mut client = RawClient::stream(server.local_addr(), "/", "");
        assert!(server.hub().wait_until_clients(|n| n == 1, READ_TIMEOUT));
        let batch: Vec<Event> = ["a", "b", "c"].iter().map(|data| Event::new().data(*data).with_id()).collect();
        let error = server.hub().send_new_events(&batch).unwrap_err();
        assert!(matches!(error, bare_sse::Error::RedisPublish { appended: 2, unknown: 0, .. }), "{error:?}");
        let source = error.source().and_then(|source| source.downcast_ref::<RedisError>());
        assert!(matches!(source, Some(RedisError::Server(message)) if message.starts_with("OOM")), "{source:?}");
        assert!(server.hub().flush(READ_TIMEOUT), "flush waits for the appended ones");
        assert_eq!((data_of(&mut client).1, data_of(&mut client).1), ("a".to_string(), "c".to_string()));
        // The fourth XADD is answered, then none: one appended, two unknown.
        let error = server.hub().send_new_events(&batch).unwrap_err();
        assert!(
            matches!(error, bare_sse::Error::RedisPublish { appended: 1, unknown: 2, ref source, .. } if source.is_timeout()),
            "{error:?}"
        );
        assert!(error.to_string().contains("may or may not"), "{error}");
        assert_eq!(data_of(&mut client).1, "a");
    }

    /// The same against a real server that runs out of memory in the middle of a batch: what the
    /// error says was appended is what the stream holds, and what clients get.
    #[test]
    fn a_real_server_out_of_memory_in_a_batch_is_told_exactly() {
        let Some(redis) = RedisServer::start() else { return };
        let server = serve(hub_on(&redis.url()).build());
        let mut client = RawClient::stream(server.local_addr(), "/", "");
        assert!(server.hub().wait_until_clients(|n| n == 1, READ_TIMEOUT));
        let mut admin = Connection::open(&RedisUrl::parse(&redis.url()).unwrap(), TIMEOUT).unwrap();
        let used = admin.command(&[b"INFO", b"memory"]).unwrap();
        let used: u64 = used
            .as_str()
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        admin.command(&[b"CONFIG", b"SET", b"maxmemory", (used + (1 << 20)).to_string().as_bytes()]).unwrap();
        let batch: Vec<Event> =
            (0..20).map(|i| Event::new().data(format!("{i}:{}", "x".repeat(200 << 10))).with_id()).collect();
        let result = server.hub().send_new_events(&batch);
        let appended = match result {
            Err(bare_sse::Error::RedisPublish {
                appended,
                unknown: 0,
                source: RedisError::Server(ref message),
                ..
            }) if message.starts_with("OOM") => appended,
            other => panic!("{other:?}"),
        };
        assert!(appended > 0 && appended < batch.len(), "a batch cut in the middle: {appended} appended");
        assert_eq!(admin.command(&[b"XLEN", b"events"]).unwrap(), Value::Integer(appended as i64));
        assert!(server.hub().flush(READ_TIMEOUT));
        for i in 0..appended {
            assert!(data_of(&mut client).1.starts_with(&format!("{i}:")));
        }
    }

    /// With Redis frozen, each resuming client waits for at most one timeout (its turn on the
    /// replaying connection included), whatever the others do, then gets the reset event; each
    /// publisher likewise. Against a fake that stops answering, and a real server stopped with
    /// SIGSTOP.
    #[test]
    fn a_frozen_redis_holds_each_caller_for_one_timeout_at_most() {
        let (stream, frozen_fake) = {
            let stream = MiniStream::default();
            let frozen = Arc::new(AtomicBool::new(false));
            let answers = (stream.clone(), Arc::clone(&frozen));
            let fake = FakeRedis::start(move |call| {
                if answers.1.load(Ordering::SeqCst) {
                    Answer::Freeze
                } else {
                    answers.0.answer(call)
                }
            });
            (stream, (fake, frozen))
        };
        let _ = stream;
        let (fake, frozen) = frozen_fake;
        let freeze = move || frozen.store(true, Ordering::SeqCst);
        each_caller_waits_one_timeout_at_most(&fake.url(), freeze);
        let Some(redis) = RedisServer::start() else { return };
        each_caller_waits_one_timeout_at_most(&redis.url(), || redis.freeze());
        redis.thaw();
    }

    fn each_caller_waits_one_timeout_at_most(url: &str, freeze: impl FnOnce()) {
        const TIMEOUT: Duration = Duration::from_millis(700);
        const CALLERS: usize = 6;
        // Six callers one after another would take 4.2 s; one timeout, with room for a loaded
        // machine, is much less.
        const BOUND: Duration = Duration::from_millis(2500);
        let server = serve(hub_on(url).history_events(1).redis_timeout(TIMEOUT).build());
        let mut client = RawClient::stream(server.local_addr(), "/", "");
        assert!(server.hub().wait_until_clients(|n| n == 1, READ_TIMEOUT));
        let events: Vec<Event> = (0..3).map(|i| Event::new().data(i.to_string()).with_id()).collect();
        server.hub().send_new_events(&events).unwrap();
        let (resume_from, _) = data_of(&mut client);
        data_of(&mut client);
        data_of(&mut client);
        freeze();
        let started = Instant::now();
        let address = server.local_addr();
        let resuming: Vec<_> = (0..CALLERS)
            .map(|_| {
                let header = format!("Last-Event-ID: {resume_from}\r\n");
                std::thread::spawn(move || {
                    let mut client = RawClient::stream(address, "/", &header);
                    let block = client.next_block();
                    (started.elapsed(), block.get("event").map(str::to_string))
                })
            })
            .collect();
        for thread in resuming {
            let (waited, event) = thread.join().unwrap();
            assert_eq!(event.as_deref(), Some("bare-sse-reset"));
            assert!(waited < BOUND, "a resuming client waited {waited:?}");
        }
        let hub = server.hub().clone();
        let started = Instant::now();
        let publishing: Vec<_> = (0..CALLERS)
            .map(|i| {
                let hub = hub.clone();
                std::thread::spawn(move || (hub.send_new_event(Event::new().data(i.to_string())), started.elapsed()))
            })
            .collect();
        for thread in publishing {
            let (result, waited) = thread.join().unwrap();
            match result {
                Err(bare_sse::Error::RedisPublish { appended: 0, unknown: 0 | 1, ref source, .. })
                    if source.is_timeout() => {}
                other => panic!("{other:?}"),
            }
            assert!(waited < BOUND, "a publisher waited {waited:?}");
        }
    }

    /// A server that starts on a stream fills its history from the stream's tail, as far as its
    /// history's limits go, before it counts as following: a new client on it gets what a new
    /// client on an older server gets.
    #[test]
    fn a_server_started_later_serves_the_same_history() {
        let Some(redis) = RedisServer::start() else { return };
        let a = serve(hub_on(&redis.url()).build());
        for i in 0..5 {
            a.send_new_event(Event::new().data(format!("e{i}")).with_id()).unwrap();
        }
        a.send_new_event(Event::new().data("live only")).unwrap();
        assert!(a.hub().flush(READ_TIMEOUT));
        let mut on_a = RawClient::stream(a.local_addr(), "/", "");
        let history: Vec<(String, String)> = (0..5).map(|_| data_of(&mut on_a)).collect();
        // By count, and by bytes: `id: <13 digits>-<seq>\ndata: eN\n\n` is about 30 bytes.
        let later = [(hub_on(&redis.url()).history_events(3), 3), (hub_on(&redis.url()).history_bytes(70), 2)];
        let mut servers = Vec::new();
        let mut clients = vec![on_a];
        for (builder, kept) in later {
            let b = serve(builder.build());
            let mut on_b = RawClient::stream(b.local_addr(), "/", "");
            let got: Vec<(String, String)> = (0..kept).map(|_| data_of(&mut on_b)).collect();
            assert_eq!(got, history[5 - kept..], "the newest {kept}, with the same ids");
            servers.push(b);
            clients.push(on_b);
        }
        a.send_new_event(Event::new().data("next").with_id()).unwrap();
        for client in &mut clients {
            assert_eq!(data_of(client).1, "next");
        }
    }

    /// The history filled from the tail stops short of an entry too large to read (it must not
    /// have a hole) and holds only kept events.
    #[test]
    fn the_history_filled_from_the_tail_has_no_hole() {
        let (stream, fake) = fake_stream();
        stream.push("1-0", reply::kept("1-0", "a"));
        stream.push("2-0", reply::kept("2-0", &"x".repeat(2000)));
        stream.push("3-0", reply::kept("3-0", "c"));
        stream.push("4-0", reply::entry("4-0", &[("d", "live only")]));
        stream.push("5-0", reply::kept("5-0", "e"));
        let server = serve(hub_on(&fake.url()).redis_max_entry_bytes(1024).build());
        assert_eq!(server.hub().stats().history_len, 2);
        let mut client = RawClient::stream(server.local_addr(), "/", "");
        assert_eq!(data_of(&mut client), ("3-0".to_string(), "c".to_string()));
        assert_eq!(data_of(&mut client), ("5-0".to_string(), "e".to_string()));
    }

    /// When the reader's last entry is trimmed before it reads what followed, the entries in
    /// between are gone: clients get the reset event before what the reader reads next. Against
    /// a fake that trims, and a real server behind a proxy that holds the reader's read while a
    /// burst goes through.
    #[test]
    fn entries_trimmed_before_the_reader_read_them_are_announced() {
        let (stream, fake) = fake_stream();
        let server = serve(hub_on(&fake.url()).redis_max_len(3).build());
        let mut client = RawClient::stream(server.local_addr(), "/", "");
        assert!(server.hub().wait_until_clients(|n| n == 1, READ_TIMEOUT));
        server.send_new_event(Event::new().data("first").with_id()).unwrap();
        let (first, _) = data_of(&mut client);
        stream.hold_reads(true);
        let events: Vec<Event> = (0..10).map(|i| Event::new().data(i.to_string()).with_id()).collect();
        server.hub().send_new_events(&events).unwrap();
        stream.hold_reads(false);
        expect_reset(&mut client, &first);
        let rest: Vec<String> = (0..3).map(|_| data_of(&mut client).1).collect();
        assert_eq!(rest, ["7", "8", "9"]);

        let Some(redis) = RedisServer::start() else { return };
        // The proxy holds the reader's reads while the gate is shut; it counts the reads it let
        // through, so that the test shuts the gate only behind one already on its way.
        let gate = Arc::new((std::sync::Mutex::new((false, 0)), std::sync::Condvar::new()));
        let for_proxy = Arc::clone(&gate);
        let proxy = FakeRedis::proxy(&redis.url(), move |call| {
            if call.name() == "XREAD" {
                let (state, changed) = &*for_proxy;
                let mut state = changed.wait_while(state.lock().unwrap(), |(shut, _)| *shut).unwrap();
                state.1 += 1;
                changed.notify_all();
            }
            Answer::Forward
        });
        let shut = |shut: bool| {
            let (state, changed) = &*gate;
            let mut state = changed.wait_while(state.lock().unwrap(), |(_, passed)| *passed == 0).unwrap();
            state.0 = shut;
            changed.notify_all();
        };
        let server = serve(hub_on(&proxy.url()).redis_max_len(10).build());
        let mut client = RawClient::stream(server.local_addr(), "/", "");
        assert!(server.hub().wait_until_clients(|n| n == 1, READ_TIMEOUT));
        // The read on its way delivers `first`; the next one waits at the gate.
        shut(true);
        server.send_new_event(Event::new().data("first").with_id()).unwrap();
        let (first, _) = data_of(&mut client);
        let events: Vec<Event> = (0..1000).map(|i| Event::new().data(i.to_string()).with_id()).collect();
        server.hub().send_new_events(&events).unwrap();
        shut(false);
        expect_reset(&mut client, &first);
        let mut rest = Vec::new();
        while rest.last().map(String::as_str) != Some("999") {
            rest.push(data_of(&mut client).1);
        }
        assert!(rest.len() >= 10 && rest.len() < 1000, "what the stream still held: {} entries", rest.len());
    }

    /// A client resuming from the stream gets exactly what it missed, unless that is more than a
    /// client may be behind (`max_queued_bytes`: it is held for the client until written) or
    /// holds an entry too large to read: then the reset event.
    #[test]
    fn a_replay_from_the_stream_is_bounded_and_has_no_hole() {
        let (stream, fake) = fake_stream();
        let data = |i: usize| format!("{i}{}", "x".repeat(999));
        for i in 1..=6 {
            stream.push(&format!("{i}-0"), reply::kept(&format!("{i}-0"), &data(i)));
        }
        let hub = hub_on(&fake.url()).redis_max_entry_bytes(1024).history_events(1).max_queued_bytes(4000);
        let server = serve(hub.build());
        let resume = |from: &str| RawClient::stream(server.local_addr(), "/", &format!("Last-Event-ID: {from}\r\n"));
        // 4-0 to 6-0: three events of about a kilobyte.
        let mut client = resume("3-0");
        for i in 4..=6 {
            assert_eq!(data_of(&mut client), (format!("{i}-0"), data(i)));
        }
        // 2-0 to 6-0: five, more than 4000 bytes.
        expect_reset(&mut resume("1-0"), "1-0");
        // An entry too large to read (the reader skips it too, and forgets its history).
        stream.push("7-0", reply::kept("7-0", &"y".repeat(2000)));
        stream.push("8-0", reply::kept("8-0", "eight"));
        expect_reset(&mut client, "6-0");
        assert_eq!(data_of(&mut client).1, "eight");
        expect_reset(&mut resume("6-0"), "6-0");
    }

    /// A publish whose reply drips is bounded by the timeout too, and says its event may have
    /// been appended.
    #[test]
    fn a_publish_whose_reply_drips_gives_up_in_time() {
        let stream = MiniStream::default();
        let answers = stream.clone();
        let fake = FakeRedis::start(move |call| match call.name().as_str() {
            "XADD" => Answer::Drip(reply::bulk("1-0"), Duration::from_millis(500)),
            _ => answers.answer(call),
        });
        let server = serve(hub_on(&fake.url()).redis_timeout(Duration::from_millis(300)).build());
        let started = Instant::now();
        let result = server.send_new_event(Event::new().data("x"));
        assert!(
            matches!(&result, Err(bare_sse::Error::RedisPublish { appended: 0, unknown: 1, source, .. }) if source.is_timeout()),
            "{result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    }
}
