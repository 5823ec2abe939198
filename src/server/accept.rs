//! The accept loop: takes each new connection, registers it and starts its thread, or, past the
//! connection limit, makes room by closing the connection that has waited longest for its next
//! request, or hands the newcomer to the overflow answerer (`overflow.rs`). Also how `stop` ends
//! the loop, which std's blocking `accept` lets no one interrupt but a connection.
//!
//! Not here: what a connection's thread does (`connection.rs`).

use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::shared::{Connections, Shared};
use super::{connection, metrics, overflow, USER_CODE_STACK_BYTES};

/// How long `stop` keeps trying to wake its accept loop with a connection of its own. When that
/// cannot be made (no file descriptor left, a firewall on the loopback), `stop` returns anyway and
/// the accept loop ends, closing the listener, when the next connection arrives.
const ACCEPT_WAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// The pause between attempts to wake the accept loop.
const ACCEPT_WAKE_RETRY: Duration = Duration::from_millis(50);

/// Accepts connections until the server stops: each is admitted (its own thread) or, past the
/// connection limit, handed to the overflow answerer.
pub(super) fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener) {
    // The channel to the overflow answerer, once started. Owned here, so the answerer ends when
    // this loop does.
    let mut overflow: Option<SyncSender<TcpStream>> = None;
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        match stream {
            Ok(socket) => {
                shared.metrics.accepted();
                if let Some(socket) = admit(shared, socket) {
                    shared.metrics.turned_away();
                    hand_to_overflow(shared, &mut overflow, socket);
                }
            }
            // Out of file descriptors or memory: let the running connections finish some work
            // rather than spinning on accept.
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Registers a connection and starts its thread; returns it when the server is at its connection
/// limit, for the overflow answerer.
fn admit(shared: &Arc<Shared>, socket: TcpStream) -> Option<TcpStream> {
    let mut connections = shared.lock_connections();
    // Joining finished threads is a walk over all handles: do it only once they have doubled, so
    // accepting stays O(1) on average (a burst of reconnects must not overflow the listen queue).
    if connections.threads.len() >= 2 * connections.sockets.len() + 64 {
        reap_finished_threads(&mut connections);
    }
    if connections.sockets.len() >= shared.config.max_connections {
        // Full: close the connection that has waited longest for its next request, if any, and
        // take its place. Its thread is leaving, so the count is over the limit only until it has.
        let Some((_, idle_id)) = connections.idle.pop_first() else { return Some(socket) };
        if let Some(idle_socket) = connections.sockets.get(&idle_id) {
            let _ = idle_socket.shutdown(Shutdown::Both);
        }
    }
    let socket = Arc::new(socket);
    let id = connections.next_id;
    connections.next_id += 1;
    // Registered before its thread starts, so that the thread's `Registered` guard always has an
    // entry to remove; the thread is spawned with the lock released.
    connections.sockets.insert(id, Arc::clone(&socket));
    drop(connections);
    let thread_shared = Arc::clone(shared);
    let spawned = thread::Builder::new()
        .name("bare-sse-connection".to_string())
        .stack_size(USER_CODE_STACK_BYTES)
        .spawn(move || {
            let _registered = Registered { shared: &thread_shared, id };
            let _open = metrics::Open::new(&thread_shared.metrics);
            connection::serve(&thread_shared, &socket, id);
        });
    let mut connections = shared.lock_connections();
    match spawned {
        Ok(thread) => connections.threads.push(thread),
        // No thread for it: the connection is closed unanswered.
        Err(_) => drop(connections.sockets.remove(&id)),
    }
    None
}

/// Gives a connection past the limit to the overflow answerer, starting it the first time. When
/// its queue is full, or it cannot start, the connection is closed unread.
fn hand_to_overflow(shared: &Arc<Shared>, overflow: &mut Option<SyncSender<TcpStream>>, socket: TcpStream) {
    if overflow.is_none() {
        let (sender, arrivals) = mpsc::sync_channel(overflow::QUEUE);
        let answerer_shared = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .name("bare-sse-overflow".to_string())
            .spawn(move || overflow::run(&answerer_shared, &arrivals));
        let Ok(thread) = spawned else { return };
        *shared.overflow_thread.lock().unwrap_or_else(PoisonError::into_inner) = Some(thread);
        *overflow = Some(sender);
    }
    if let Some(sender) = overflow {
        match sender.try_send(socket) {
            Ok(()) | Err(TrySendError::Full(_)) => {}
            Err(TrySendError::Disconnected(_)) => *overflow = None,
        }
    }
}

/// Removes a connection from the registry when its thread ends, even by a panic.
struct Registered<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.shared.lock_connections().sockets.remove(&self.id);
    }
}

fn reap_finished_threads(connections: &mut Connections) {
    let (finished, running) = std::mem::take(&mut connections.threads).into_iter().partition(|t| t.is_finished());
    connections.threads = running;
    for thread in finished {
        let _ = thread.join();
    }
}

/// Ends the accept loop, which `stopping` tells to return, and joins it; gives up after
/// [`ACCEPT_WAKE_TIMEOUT`] if it cannot be woken. `accept` blocks, and std offers no way to
/// interrupt it but a connection: one of our own makes it return.
pub(super) fn stop_accept_loop(local_addr: SocketAddr, accept_thread: JoinHandle<()>) {
    let deadline = Instant::now() + ACCEPT_WAKE_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // A connection made is one `accept` returns: the loop then sees `stopping` and ends.
        if accept_thread.is_finished() || wake_accept_loop(local_addr, left) {
            let _ = accept_thread.join();
            return;
        }
        if left.is_zero() {
            // Detached: the loop ends, and drops the listener, with the next connection it accepts.
            return;
        }
        thread::sleep(ACCEPT_WAKE_RETRY.min(left));
    }
}

/// Connects to the server's own listener, waiting at most `timeout`; returns whether it could.
fn wake_accept_loop(local_addr: SocketAddr, timeout: Duration) -> bool {
    let mut address = local_addr;
    if address.ip().is_unspecified() {
        address.set_ip(match address {
            SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            SocketAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        });
    }
    // A zero timeout is refused by `connect_timeout`: one millisecond is the last try.
    TcpStream::connect_timeout(&address, timeout.max(Duration::from_millis(1))).is_ok()
}
