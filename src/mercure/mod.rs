//! A Mercure hub.

mod namespace;
pub mod publish;
mod text;
