//! The request a handler receives: the parsed head and the body, read in full up to a limit.

use std::net::SocketAddr;

use crate::http::{RequestHead, Version};
use crate::hub::ClientInfo;

/// An HTTP request as a [`Handler`](super::Handler) sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Boxed as the head reader hands it over: a request is small to move through the frames of
    /// the connection thread, whose deepest call sets the stack pages an idle connection keeps.
    head: Box<RequestHead>,
    body: Vec<u8>,
}

impl Request {
    /// A request from a parsed head and its body (handlers can be tested with these).
    pub fn new(head: RequestHead, body: Vec<u8>) -> Request {
        Request::with_boxed_head(Box::new(head), body)
    }

    /// A request from a head the head reader boxed.
    pub(crate) fn with_boxed_head(head: Box<RequestHead>, body: Vec<u8>) -> Request {
        Request { head, body }
    }

    /// The method, e.g. `GET`.
    pub fn method(&self) -> &str {
        &self.head.method
    }

    /// The path, percent-decoded, without the query.
    pub fn path(&self) -> &str {
        &self.head.path
    }

    /// The first value of a query parameter, decoded.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.head.query_param(name)
    }

    /// Every query parameter, decoded, in order.
    pub fn query(&self) -> &[(String, String)] {
        &self.head.query
    }

    /// The first value of a header, matched case-insensitively. For a list field that a client may
    /// send on several lines (`Accept`, `Accept-Encoding`, ...), use
    /// [`header_list`](Self::header_list), which reads them all.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    /// Every value of a list field: its lines combined, comma-separated (see
    /// [`RequestHead::header_list`]).
    pub fn header_list(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        self.head.header_list(name)
    }

    /// The value of the cookie `name`, from the request's `Cookie` header(s), if it is there (see
    /// [`cookie_value`](crate::http::cookie_value)).
    pub fn cookie(&self, name: &str) -> Option<&str> {
        let mut headers = self.head.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("cookie"));
        headers.find_map(|(_, value)| crate::http::cookie_value(value, name))
    }

    /// Every header, in order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.head.headers
    }

    /// The protocol version.
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// The body (empty when there is none).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as text, if it is UTF-8.
    pub fn body_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }

    /// The parsed head.
    pub fn head(&self) -> &RequestHead {
        &self.head
    }

    /// What a hub's lifecycle hooks are told about the client that sent this request.
    pub(crate) fn client_info(&self, peer_addr: Option<SocketAddr>, last_event_id: Option<String>) -> ClientInfo {
        let head = &self.head;
        ClientInfo::new(head.path.clone(), head.query.clone(), head.headers.clone(), peer_addr, last_event_id)
    }
}
