//! The HTTP/1.1 pieces bare-sse needs, written here: request-head parsing with limits, a head
//! reader that takes the bytes as they arrive, URL decoding, and response heads. Everything in
//! this module is pure (bytes in, values out); the server and the client own the sockets and the
//! clocks.

mod accept_encoding;
mod chunked;
mod cookie;
mod framing;
mod head;
mod request;
mod response;
mod url;

pub use accept_encoding::choose_coding;
pub use chunked::{ChunkedReader, DEFAULT_MAX_TRAILER_BYTES};
pub use cookie::cookie_value;
pub use framing::{BodyFramer, BodyFraming, Progress};
pub use head::{HeadParser, HeadRead, HeadReader, RequestHeads, ResponseHeads, READ_CHUNK_BYTES};
pub(crate) use request::is_chunked;
pub use request::{
    is_valid_header, parse_request_head, HeadLimits, Parsed, RequestError, RequestHead, Version, DEFAULT_MAX_HEADERS,
    DEFAULT_MAX_HEAD_BYTES,
};
pub use response::{
    complete_response, parse_response_head, reason_phrase, response_head, stream_response_head,
    stream_response_head_for, text_response, BodyRule, Persistence, ResponseHead, ResponseHeadError,
    MAX_RESPONSE_HEAD_BYTES,
};
pub(crate) use response::{decimal, with_event_stream_fields};
pub(crate) use url::split_scheme;
pub use url::{encode_query_component, parse_query, percent_decode, PercentDecodeError, Url, UrlError};
