//! JSON Web Tokens signed with HS256: the hash, keyed hash and encoding they are made of. Pure
//! functions, no I/O; a building block for the Mercure hub's authorization, usable on its own.

pub mod base64url;
pub mod hmac;
pub mod sha256;
