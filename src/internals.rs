//! Not part of the API: the pieces of the crate's workings that its fuzz targets (`fuzz/`) and
//! benchmarks (`examples/bench_*.rs`) drive directly, and a program has no use for. Hidden from
//! the docs and free to change in any release; a program should compress through
//! [`compress::Gzip`](crate::compress::Gzip) or [`HubBuilder::gzip`](crate::HubBuilder::gzip)
//! instead.

pub use crate::compress::deflate::Deflater;
pub use crate::compress::gzip::HEADER as GZIP_HEADER;
