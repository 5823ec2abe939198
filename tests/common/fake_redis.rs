//! A fake Redis: a listener on a free loopback port that reads commands (RESP arrays of bulk
//! strings) and answers each one as the test's function says (well, badly, slowly or never), or
//! passes it on to a real server behind it. It counts connections and records every command with
//! the time it came, so a test waits for what it expects instead of sleeping.
//!
//! The [`reply`] functions build answers.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bare_sse::redis::resp::{Decoder, Value};
use bare_sse::redis::{Connection, RedisError, RedisUrl};

/// One command the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    /// The connection it came on: 1 for the first one accepted, 2 for the next, ...
    pub connection: usize,
    /// When it was read.
    pub at: Instant,
    /// The command's name and arguments.
    pub args: Vec<Vec<u8>>,
}

impl Call {
    /// The command's name, in capitals.
    pub fn name(&self) -> String {
        String::from_utf8_lossy(&self.args[0]).to_ascii_uppercase()
    }

    /// Argument `index` (the name is 0), as text.
    pub fn arg(&self, index: usize) -> String {
        self.args.get(index).map(|arg| String::from_utf8_lossy(arg).into_owned()).unwrap_or_default()
    }
}

/// What the fake does with a command.
pub enum Answer {
    /// Sends these bytes at once.
    Bytes(Vec<u8>),
    /// Sends these bytes one at a time, `every` apart: a reply that drips.
    Drip(Vec<u8>, Duration),
    /// Sends nothing and reads nothing more on this connection, which stays open until the fake
    /// is dropped: a frozen server.
    Freeze,
    /// Closes the connection.
    Close,
    /// Passes the command to the real server behind the fake ([`FakeRedis::proxy`]) and its reply
    /// back.
    Forward,
}

type AnswerFn = dyn Fn(&Call) -> Answer + Send + Sync;

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    answer: Box<AnswerFn>,
    upstream: Option<RedisUrl>,
}

#[derive(Default)]
struct State {
    connections: usize,
    calls: Vec<Call>,
    stopping: bool,
    sockets: Vec<TcpStream>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The fake server; dropping it closes every connection.
pub struct FakeRedis {
    address: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl FakeRedis {
    /// A fake that answers every command with `answer`.
    pub fn start(answer: impl Fn(&Call) -> Answer + Send + Sync + 'static) -> FakeRedis {
        FakeRedis::serve(Box::new(answer), None)
    }

    /// A fake in front of the real server at `upstream`: `answer` may pass commands on with
    /// [`Answer::Forward`], each connection on its own connection to `upstream`.
    pub fn proxy(upstream: &str, answer: impl Fn(&Call) -> Answer + Send + Sync + 'static) -> FakeRedis {
        FakeRedis::serve(Box::new(answer), Some(RedisUrl::parse(upstream).unwrap()))
    }

    fn serve(answer: Box<AnswerFn>, upstream: Option<RedisUrl>) -> FakeRedis {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let shared = Arc::new(Shared { state: Mutex::default(), changed: Condvar::new(), answer, upstream });
        let for_acceptor = Arc::clone(&shared);
        let acceptor = std::thread::spawn(move || {
            for socket in listener.incoming() {
                let Ok(socket) = socket else { continue };
                let connection = {
                    let mut state = for_acceptor.lock();
                    if state.stopping {
                        return;
                    }
                    state.connections += 1;
                    state.sockets.push(socket.try_clone().unwrap());
                    for_acceptor.changed.notify_all();
                    state.connections
                };
                let shared = Arc::clone(&for_acceptor);
                std::thread::spawn(move || serve_connection(&shared, socket, connection));
            }
        });
        FakeRedis { address, shared, acceptor: Some(acceptor) }
    }

    /// `redis://` URL of the fake.
    pub fn url(&self) -> String {
        format!("redis://{}", self.address)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.lock().connections
    }

    /// Every command received so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.lock().calls.clone()
    }

    /// Waits until `done` holds for the commands received and the connections accepted, for at
    /// most `timeout`; returns whether it does.
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(&[Call], usize) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        while !done(&state.calls, state.connections) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self.shared.changed.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        true
    }

    /// Waits until `done` holds (see [`wait_until`](Self::wait_until)), failing the test after
    /// `timeout`.
    pub fn expect(&self, what: &str, timeout: Duration, done: impl Fn(&[Call], usize) -> bool) {
        assert!(self.wait_until(timeout, done), "the fake Redis never saw {what}; it saw {:?}", self.summary());
    }

    /// The commands' names, with their connection, for failure messages.
    fn summary(&self) -> Vec<String> {
        self.calls().iter().rev().take(40).map(|call| format!("#{} {}", call.connection, call.name())).collect()
    }
}

impl Drop for FakeRedis {
    fn drop(&mut self) {
        {
            let mut state = self.shared.lock();
            state.stopping = true;
            for socket in state.sockets.drain(..) {
                let _ = socket.shutdown(Shutdown::Both);
            }
            self.shared.changed.notify_all();
        }
        // Wakes the acceptor, which sees `stopping`.
        let _ = TcpStream::connect(self.address);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Serves one connection until it ends, then closes it: the listener keeps another handle on the
/// socket (to close it when dropped), so dropping this one would not.
fn serve_connection(shared: &Shared, socket: TcpStream, connection: usize) {
    answer_commands(shared, &socket, connection);
    let _ = socket.shutdown(Shutdown::Both);
}

fn answer_commands(shared: &Shared, mut socket: &TcpStream, connection: usize) {
    let mut decoder = Decoder::default();
    let mut upstream: Option<Connection> = None;
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let command = match decoder.next_value() {
            Ok(Some(command)) => command,
            Ok(None) => match socket.read(&mut buffer) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    decoder.feed(&buffer[..n]);
                    continue;
                }
            },
            Err(_) => return,
        };
        let args: Vec<Vec<u8>> = command
            .as_array()
            .unwrap_or_default()
            .iter()
            .map(|arg| arg.as_bytes().unwrap_or_default().to_vec())
            .collect();
        if args.is_empty() {
            return;
        }
        let call = Call { connection, at: Instant::now(), args };
        {
            let mut state = shared.lock();
            if state.stopping {
                return;
            }
            state.calls.push(call.clone());
            shared.changed.notify_all();
        }
        let sent = match (shared.answer)(&call) {
            Answer::Bytes(bytes) => socket.write_all(&bytes),
            Answer::Drip(bytes, every) => drip(socket, &bytes, every),
            Answer::Freeze => {
                let mut state = shared.lock();
                while !state.stopping {
                    state = shared.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
                }
                return;
            }
            Answer::Close => return,
            Answer::Forward => {
                let url = shared.upstream.as_ref().expect("Forward needs FakeRedis::proxy");
                let upstream = match &mut upstream {
                    Some(upstream) => upstream,
                    None => upstream.insert(Connection::open(url, Duration::from_secs(10)).unwrap()),
                };
                let args: Vec<&[u8]> = call.args.iter().map(Vec::as_slice).collect();
                let reply = match upstream.command_waiting(&args, Duration::from_secs(10)) {
                    Ok(value) => reply::encode(&value),
                    Err(RedisError::Server(message)) => reply::error(&message),
                    Err(_) => return,
                };
                socket.write_all(&reply)
            }
        };
        if sent.is_err() {
            return;
        }
    }
}

/// Writes `bytes` one at a time, `every` apart: the peer's behaviour under test, not a wait.
fn drip(mut socket: &TcpStream, bytes: &[u8], every: Duration) -> std::io::Result<()> {
    for byte in bytes {
        socket.write_all(std::slice::from_ref(byte))?;
        std::thread::sleep(every);
    }
    Ok(())
}

/// Answers, as RESP bytes.
pub mod reply {
    use super::Value;

    /// `+OK`
    pub fn ok() -> Vec<u8> {
        b"+OK\r\n".to_vec()
    }

    /// An error reply.
    pub fn error(message: &str) -> Vec<u8> {
        format!("-{message}\r\n").into_bytes()
    }

    /// A bulk string.
    pub fn bulk(bytes: impl AsRef<[u8]>) -> Vec<u8> {
        let bytes = bytes.as_ref();
        let mut out = format!("${}\r\n", bytes.len()).into_bytes();
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
        out
    }

    /// An array of encoded items.
    pub fn array(items: impl IntoIterator<Item = Vec<u8>>) -> Vec<u8> {
        let items: Vec<Vec<u8>> = items.into_iter().collect();
        let mut out = format!("*{}\r\n", items.len()).into_bytes();
        items.iter().for_each(|item| out.extend_from_slice(item));
        out
    }

    /// The absent array, as `XREAD BLOCK` answers when nothing came.
    pub fn nil() -> Vec<u8> {
        b"*-1\r\n".to_vec()
    }

    /// A stream entry: its id and its field-value pairs.
    pub fn entry(id: &str, fields: &[(&str, &str)]) -> Vec<u8> {
        array([bulk(id), array(fields.iter().flat_map(|(name, value)| [bulk(name), bulk(value)]))])
    }

    /// An entry as a hub writes a kept event with this data.
    pub fn kept(id: &str, data: &str) -> Vec<u8> {
        entry(id, &[("d", data), ("k", "1")])
    }

    /// An `XREAD` reply: these entries of stream `stream`.
    pub fn xread(stream: &str, entries: impl IntoIterator<Item = Vec<u8>>) -> Vec<u8> {
        array([array([bulk(stream), array(entries)])])
    }

    /// Any value, as RESP.
    pub fn encode(value: &Value) -> Vec<u8> {
        match value {
            Value::Simple(text) => format!("+{text}\r\n").into_bytes(),
            Value::Error(text) => error(text),
            Value::Integer(n) => format!(":{n}\r\n").into_bytes(),
            Value::Bulk(None) => b"$-1\r\n".to_vec(),
            Value::Bulk(Some(bytes)) => bulk(bytes),
            Value::Array(None) => nil(),
            Value::Array(Some(items)) => array(items.iter().map(encode)),
            Value::Discarded => panic!("the proxy decodes with the default limits, which discard nothing"),
        }
    }
}

/// A stream id as the fake orders them (`<ms>-<seq>`); hostile ids are sent through
/// [`MiniStream::script_xread`], never stored.
fn parse_id(text: &str) -> Option<(u64, u64)> {
    let (ms, seq) = text.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

#[derive(Default)]
struct StreamState {
    /// Entries, oldest first: their id and their RESP bytes.
    entries: Vec<((u64, u64), Vec<u8>)>,
    /// `XREAD` replies to send, in order, before reading the entries.
    scripted: std::collections::VecDeque<Vec<u8>>,
    /// While set, `XREAD`s wait, whatever the stream holds.
    reads_held: bool,
}

/// A small model of one Redis stream for a [`FakeRedis`]: `XADD` (trimming exactly to its
/// `MAXLEN`), `XRANGE`, `XREVRANGE` and `XREAD BLOCK` (which waits for entries, as Redis does),
/// plus `AUTH`, `SELECT` and `PING`. A test answers what it wants to test itself and leaves the
/// rest to [`MiniStream::answer`].
#[derive(Clone, Default)]
pub struct MiniStream {
    shared: Arc<(Mutex<StreamState>, Condvar)>,
}

impl MiniStream {
    fn lock(&self) -> MutexGuard<'_, StreamState> {
        self.shared.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends an entry, as RESP bytes ([`reply::entry`]), under `id`.
    pub fn push(&self, id: &str, entry: Vec<u8>) {
        let id = parse_id(id).expect("an entry id");
        self.lock().entries.push((id, entry));
        self.shared.1.notify_all();
    }

    /// Sends `reply` to the next `XREAD`, whatever it asks.
    pub fn script_xread(&self, reply: Vec<u8>) {
        self.lock().scripted.push_back(reply);
        self.shared.1.notify_all();
    }

    /// Makes `XREAD`s wait (`true`) until released (`false`).
    pub fn hold_reads(&self, held: bool) {
        self.lock().reads_held = held;
        self.shared.1.notify_all();
    }

    /// Ids of the entries held, oldest first.
    pub fn ids(&self) -> Vec<String> {
        self.lock().entries.iter().map(|((ms, seq), _)| format!("{ms}-{seq}")).collect()
    }

    /// The answer of a well-behaved Redis holding this stream.
    pub fn answer(&self, call: &Call) -> Answer {
        let count_after = |at: usize| {
            if call.arg(at).eq_ignore_ascii_case("COUNT") {
                call.arg(at + 1).parse().unwrap()
            } else {
                usize::MAX
            }
        };
        match call.name().as_str() {
            "AUTH" | "SELECT" => Answer::Bytes(reply::ok()),
            "PING" => Answer::Bytes(b"+PONG\r\n".to_vec()),
            "XRANGE" => self.range(&call.arg(2), &call.arg(3), count_after(4), false),
            "XREVRANGE" => self.range(&call.arg(2), &call.arg(3), count_after(4), true),
            "XADD" => self.xadd(call),
            // XREAD COUNT n BLOCK ms STREAMS stream after
            "XREAD" => {
                let block = Duration::from_millis(call.arg(4).parse().unwrap());
                self.xread(&call.arg(6), parse_id(&call.arg(7)).unwrap_or((0, 0)), count_after(1), block)
            }
            other => Answer::Bytes(reply::error(&format!("ERR unknown command '{other}'"))),
        }
    }

    /// `XRANGE` from `start` to `end` (`XREVRANGE`, `reverse`, from `end` down to `start`), at most
    /// `count` entries.
    fn range(&self, start: &str, end: &str, count: usize, reverse: bool) -> Answer {
        let bound = |text: &str| match text {
            "-" => ((0, 0), true),
            "+" => ((u64::MAX, u64::MAX), true),
            text => match text.strip_prefix('(') {
                Some(id) => (parse_id(id).unwrap(), false),
                None => (parse_id(text).unwrap_or((0, 0)), true),
            },
        };
        let ((low, low_inclusive), (high, high_inclusive)) =
            if reverse { (bound(end), bound(start)) } else { (bound(start), bound(end)) };
        let within = |id: &(u64, u64)| {
            (*id > low || (low_inclusive && *id == low)) && (*id < high || (high_inclusive && *id == high))
        };
        let state = self.lock();
        let mut entries: Vec<Vec<u8>> =
            state.entries.iter().filter(|(id, _)| within(id)).map(|(_, entry)| entry.clone()).collect();
        if reverse {
            entries.reverse();
        }
        entries.truncate(count);
        Answer::Bytes(reply::array(entries))
    }

    /// `XADD stream MAXLEN ~ n * field value ...`: the next id, and the stream trimmed to exactly
    /// `n`.
    fn xadd(&self, call: &Call) -> Answer {
        let max_len: usize = call.arg(4).parse().unwrap();
        let fields: Vec<(String, String)> = call.args[6..]
            .chunks(2)
            .map(|pair| (String::from_utf8_lossy(&pair[0]).into(), String::from_utf8_lossy(&pair[1]).into()))
            .collect();
        let mut state = self.lock();
        let id = (state.entries.last().map_or(1, |((ms, _), _)| ms + 1), 0);
        let text = format!("{}-{}", id.0, id.1);
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        state.entries.push((id, reply::entry(&text, &pairs)));
        let excess = state.entries.len().saturating_sub(max_len);
        state.entries.drain(..excess);
        self.shared.1.notify_all();
        Answer::Bytes(reply::bulk(text))
    }

    /// `XREAD BLOCK`: a scripted reply, or up to `count` entries after `after`, waiting up to
    /// `block` for one (and for as long as reads are held).
    fn xread(&self, stream: &str, after: (u64, u64), count: usize, block: Duration) -> Answer {
        let deadline = Instant::now() + block;
        let mut state = self.lock();
        loop {
            if !state.reads_held {
                if let Some(scripted) = state.scripted.pop_front() {
                    return Answer::Bytes(scripted);
                }
                let entries: Vec<Vec<u8>> = state
                    .entries
                    .iter()
                    .filter(|(id, _)| *id > after)
                    .take(count)
                    .map(|(_, entry)| entry.clone())
                    .collect();
                if !entries.is_empty() {
                    return Answer::Bytes(reply::xread(stream, entries));
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() && !state.reads_held {
                return Answer::Bytes(reply::nil());
            }
            let wait = if state.reads_held { Duration::from_millis(100) } else { left };
            state = self.shared.1.wait_timeout(state, wait).unwrap_or_else(PoisonError::into_inner).0;
        }
    }
}
