//! The Mercure protocol (<https://mercure.rocks>, the IETF draft `draft-dunglas-mercure-08`):
//! publishers POST updates on topics to a hub, and the hub pushes each update over Server-Sent
//! Events to the subscribers whose topic matchers select it; updates marked private reach only
//! subscribers whose access token grants them.
//!
//! - [`claims`]: what a verified access token lets its holder publish and subscribe to (the token
//!   itself is checked by [`crate::jwt`]).
//! - [`publish`]: a publish request's form, read and checked.
//! - [`Mercure`]: the hub itself, its subscribe and publish endpoints added to a server by
//!   [`Mercure::install`]; `bare-sse mercure` runs one from the command line.

mod auth;
pub mod claims;
mod hub;
mod namespace;
mod page;
pub mod publish;

pub use auth::DEFAULT_COOKIE_NAME;
pub use hub::{Mercure, MercureBuilder, DEFAULT_PATH};
