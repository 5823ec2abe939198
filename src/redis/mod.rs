//! Redis, std only: the RESP protocol ([`resp`], pure) and a blocking connection ([`Connection`])
//! with the commands a Redis Streams backplane needs, for hubs on several servers that share one
//! stream of events.

mod client;
pub mod resp;

pub(crate) use client::{time_left, timed_out};
pub use client::{Connection, RedisError, RedisUrl};
