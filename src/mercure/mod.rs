//! A Mercure hub.

mod auth;
mod namespace;
pub mod publish;
mod text;
