//! The Redis connection against a real `redis-server` (started by the test on a free loopback
//! port; skipped, with the reason printed, where it is not installed).

mod common;

use std::time::Duration;

use bare_sse::redis::resp::Value;
use bare_sse::redis::{Connection, RedisError, RedisUrl};
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
