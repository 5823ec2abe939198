//! Redis, std only: the RESP2 protocol ([`resp`], pure: commands encoded, replies decoded from
//! bytes that arrive in any split, every reply bounded) and a blocking [`Connection`] with one
//! deadline per exchange. The hub's backplane ([`HubBuilder::redis`](crate::HubBuilder::redis)),
//! for hubs on several servers that share one stream of events, is built on them; a program does
//! not need them to use it.
//!
//! They are public as a building block a program may rely on: to look after the stream its hubs
//! share (its length, trimming), or for commands of its own, with no other dependency. Their
//! errors are [`RedisError`] and, for a URL, [`RedisUrlError`]; both convert into
//! [`bare_sse::Error`](crate::Error) with `?`.
//!
//! ```no_run
//! use std::time::Duration;
//! use bare_sse::redis::{Connection, RedisUrl};
//!
//! fn main() -> Result<(), bare_sse::Error> {
//!     let url = RedisUrl::parse("redis://127.0.0.1:6379/0")?;
//!     let mut redis = Connection::open(&url, Duration::from_secs(5))?;
//!     let entries = redis.command(&[b"XLEN", b"events"])?; // a hub's stream, named "events"
//!     println!("{} entries", entries.as_integer().unwrap_or(0));
//!     Ok(())
//! }
//! ```
//!
//! The protocol alone needs no server:
//!
//! ```
//! use bare_sse::redis::resp::{encode_command, Decoder, Value};
//!
//! assert_eq!(encode_command(&[b"XLEN", b"events"]), b"*2\r\n$4\r\nXLEN\r\n$6\r\nevents\r\n");
//! let mut replies = Decoder::default();
//! replies.feed(b":4");
//! assert_eq!(replies.next_value()?, None); // not whole yet
//! replies.feed(b"2\r\n");
//! assert_eq!(replies.next_value()?, Some(Value::Integer(42)));
//! # Ok::<(), bare_sse::Error>(())
//! ```

mod client;
pub mod resp;

pub(crate) use client::{time_left, timed_out};
pub use client::{Connection, RedisError, RedisUrl, RedisUrlError};
