//! The Redis connection and the Redis backplane against a real `redis-server` (started by the test
//! on a free loopback port; skipped, with the reason printed, where it is not installed), and
//! against a fake one that answers what each test chooses.

mod common;

use std::time::{Duration, Instant};

use bare_sse::redis::resp::{Limits, RespError, Value};
use bare_sse::redis::{Connection, RedisError, RedisUrl};
use common::fake_redis::{reply, Answer, FakeRedis};
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
    /// read everything, and the history holds the newest five only).
    #[test]
    fn a_resume_point_trimmed_from_the_stream_gets_the_reset_event() {
        let Some(redis) = RedisServer::start() else { return };
        let hub = Hub::builder().redis(&redis.url(), "events").unwrap().redis_max_len(10).history_events(5).build();
        let a = Server::builder().hub(hub).start().unwrap();
        wait_until_following(&[&a]);
        let mut first = RawClient::stream(a.local_addr(), "/", "");
        let (trimmed, _) = publish_first_then_a_thousand(&a, &mut first);
        let mut redis_client = Connection::open(&RedisUrl::parse(&redis.url()).unwrap(), TIMEOUT).unwrap();
        let held = redis_client.command(&[b"XRANGE", b"events", trimmed.as_bytes(), trimmed.as_bytes()]).unwrap();
        assert_eq!(held.as_array().map(<[Value]>::len), Some(0), "trimmed from the stream: {trimmed}");
        let mut late = RawClient::stream(a.local_addr(), "/", &format!("Last-Event-ID: {trimmed}\r\n"));
        assert_eq!(late.next_block().get("event"), Some("bare-sse-reset"), "neither stream nor history holds it");
        assert_eq!(data_of(&mut late).1, "995", "then what the history holds");
    }

    /// A resume point trimmed from the stream that the local history still holds is resumed from
    /// the history, exactly: nothing is missed, so no reset is due. (A reader that lags behind
    /// the trimming leaves the history holding such points for a while.)
    #[test]
    fn a_resume_point_trimmed_from_the_stream_but_held_in_the_history_resumes_exactly() {
        let Some(redis) = RedisServer::start() else { return };
        let hub = Hub::builder().redis(&redis.url(), "events").unwrap().redis_max_len(10).history_events(2000).build();
        let a = Server::builder().hub(hub).start().unwrap();
        wait_until_following(&[&a]);
        let mut first = RawClient::stream(a.local_addr(), "/", "");
        let (trimmed, delivered) = publish_first_then_a_thousand(&a, &mut first);
        let mut late = RawClient::stream(a.local_addr(), "/", &format!("Last-Event-ID: {trimmed}\r\n"));
        let resumed: Vec<String> = delivered.iter().map(|_| data_of(&mut late).1).collect();
        assert_eq!(resumed, delivered, "every event after the resume point, once, as the first client got them");
    }

    /// Publishes `first`, then `0`..`999`, and reads from `client` up to `999`: when it returns,
    /// the reader has published every entry locally. Returns the id of `first`, and the data the
    /// client got after it.
    fn publish_first_then_a_thousand(server: &Server, client: &mut RawClient) -> (String, Vec<String>) {
        assert!(server.hub().wait_until_clients(|n| n == 1, READ_TIMEOUT));
        server.send_new_event(Event::new().data("first").with_id()).unwrap();
        let (first_id, first) = data_of(client);
        assert_eq!(first, "first");
        let events: Vec<Event> = (0..1000).map(|i| Event::new().data(i.to_string()).with_id()).collect();
        server.hub().send_new_events(&events).unwrap();
        // Entries trimmed before the reader read them never reach it: read up to the last one.
        let mut after = Vec::new();
        while after.last().map(String::as_str) != Some("999") {
            after.push(data_of(client).1);
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
