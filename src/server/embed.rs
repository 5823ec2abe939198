//! Serving connections and requests a program accepted or read itself, on its own thread, with
//! the default settings: [`serve_connection`] for a connection, [`serve_request`] for a request
//! already parsed and routed. For programs that own their listener and hand some requests to
//! bare-sse (`examples/embed.rs`).

use std::net::TcpStream;
use std::sync::Arc;

use super::connection;
use super::router::{Handler, Pattern};
use super::shared::Shared;
use super::{Request, ServerBuilder};

/// Serves one connection that the caller accepted: reads each request, calls `handler` (a closure
/// or a hub) and answers, on the calling thread, with the default limits, until the connection
/// closes (a persistent connection may carry several requests). For programs that own
/// their `TcpListener` and hand SSE requests to bare-sse.
///
/// ```no_run
/// use bare_sse::{server::serve_connection, Hub};
///
/// let hub = Hub::new();
/// let listener = std::net::TcpListener::bind("127.0.0.1:8122")?;
/// for socket in listener.incoming() {
///     let (socket, hub) = (socket?, hub.clone());
///     std::thread::spawn(move || serve_connection(socket, hub));
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn serve_connection(socket: TcpStream, handler: impl Handler) {
    let shared = Shared::new(ServerBuilder::default().add_route(Pattern::Prefix("/".into()), None, handler));
    // Not in a server's registry: no other connection can need its place.
    connection::serve(&shared, &Arc::new(socket), 0);
}

/// Answers a request that the caller has read and routed itself, on the calling thread: calls
/// `handler` (a closure or a hub) and sends its response, or runs its stream until the client
/// leaves, with the default settings. For programs that parse requests themselves (with
/// [`parse_request_head`](crate::http::parse_request_head)) and hand some of them to bare-sse;
/// `examples/embed.rs` shows one.
pub fn serve_request(socket: TcpStream, request: Request, handler: impl Handler) {
    let shared = Shared::new(ServerBuilder::default());
    let socket = Arc::new(socket);
    let _ = socket.set_nodelay(true);
    // The caller read the request: where a next one would begin is the caller's to know.
    if let connection::Next::Stream(stream) =
        connection::handle(&shared, &socket, request, &handler, connection::Exchange::only())
    {
        stream.run(&shared, &socket, 0);
    }
}
