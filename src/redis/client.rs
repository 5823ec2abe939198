//! A blocking Redis connection over `TcpStream`: connect with a timeout, authenticate, select the
//! database, then send commands (one, or several pipelined in one write) and read their replies.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::resp::{encode_command_into, Decoder, Limits, RespError, Value};
use crate::http::{percent_decode, PercentDecodeError};
use crate::net::{dial, DeadlineReader};

/// Where a Redis server is, parsed from `redis://[[user]:password@]host[:port][/db]`.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    /// Host name or address.
    pub host: String,
    /// Port (default 6379).
    pub port: u16,
    /// User for `AUTH` (Redis 6 ACLs); none means the default user.
    pub username: Option<String>,
    /// Password for `AUTH`.
    pub password: Option<String>,
    /// Database number for `SELECT` (default 0).
    pub db: u32,
}

impl fmt::Debug for RedisUrl {
    /// Never shows the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisUrl")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("db", &self.db)
            .finish()
    }
}

impl RedisUrl {
    /// Parses a `redis://` URL.
    ///
    /// ```
    /// let url = bare_sse::redis::RedisUrl::parse("redis://app:s%40cret@127.0.0.1:6380/2").unwrap();
    /// assert_eq!((url.host.as_str(), url.port, url.db), ("127.0.0.1", 6380, 2));
    /// assert_eq!((url.username.as_deref(), url.password.as_deref()), (Some("app"), Some("s@cret")));
    /// ```
    ///
    /// # Errors
    ///
    /// A [`RedisUrlError`] that says what is wrong with the text: another scheme than `redis://`,
    /// bad percent-encoding in the user name or password, no host, a port that is not a number
    /// from 0 to 65535, or a path that is not a database number.
    pub fn parse(text: &str) -> Result<RedisUrl, RedisUrlError> {
        let rest = text.strip_prefix("redis://").ok_or(RedisUrlError::NotRedis)?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((credentials, host_port)) => (Some(credentials), host_port),
            None => (None, authority),
        };
        let decode = |part: &str| percent_decode(part, false).map_err(RedisUrlError::PercentEncoding);
        let (username, password) = match credentials {
            None => (None, None),
            Some(credentials) => match credentials.split_once(':') {
                Some((user, password)) => {
                    let user = (!user.is_empty()).then(|| decode(user)).transpose()?;
                    (user, Some(decode(password)?))
                }
                None => (None, Some(decode(credentials)?)),
            },
        };
        let (host, port) = match host_port.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
                (host, port.parse().map_err(|_| RedisUrlError::InvalidPort)?)
            }
            _ => (host_port, 6379),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(RedisUrlError::NoHost);
        }
        let db = if path.is_empty() { 0 } else { path.parse().map_err(|_| RedisUrlError::InvalidDatabase)? };
        Ok(RedisUrl { host: host.to_string(), port, username, password, db })
    }
}

/// Why a text is not a Redis URL ([`RedisUrl::parse`]). Neither its message nor its `Debug`
/// shows the URL, which may hold a password.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisUrlError {
    /// The text does not start with `redis://` (`rediss://`, Redis over TLS, is not supported).
    NotRedis,
    /// The user name or password holds a `%` that does not start a valid escape, or decodes to
    /// bytes that are not UTF-8; the [`PercentDecodeError`] (also the
    /// [`source`](std::error::Error::source)) says which.
    PercentEncoding(PercentDecodeError),
    /// Nothing names the host (`redis://`, `redis://:6379`).
    NoHost,
    /// The port is not a number from 0 to 65535.
    InvalidPort,
    /// The path is not a database number (`/0`, `/1`, ...).
    InvalidDatabase,
}

impl fmt::Display for RedisUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid Redis URL: ")?;
        match self {
            RedisUrlError::NotRedis => f.write_str("only redis:// URLs are supported (no TLS)"),
            RedisUrlError::PercentEncoding(error) => write!(f, "in the user name or password, {error}"),
            RedisUrlError::NoHost => f.write_str("no host"),
            RedisUrlError::InvalidPort => f.write_str("the port is not a number from 0 to 65535"),
            RedisUrlError::InvalidDatabase => f.write_str("the path must be a database number"),
        }
    }
}

impl std::error::Error for RedisUrlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RedisUrlError::PercentEncoding(error) => Some(error),
            _ => None,
        }
    }
}

/// What can go wrong talking to Redis.
#[derive(Debug)]
#[non_exhaustive]
pub enum RedisError {
    /// The connection failed or broke, or Redis did not answer in time (kind `TimedOut`).
    Io(io::Error),
    /// The bytes received are not RESP, or a reply is over the limits.
    Protocol(RespError),
    /// The server answered with an error reply.
    Server(String),
    /// A reply of a shape the command never returns.
    UnexpectedReply(String),
}

impl RedisError {
    /// Whether Redis did not answer in time: a frozen or overloaded server, or a reply that came
    /// too slowly.
    pub fn is_timeout(&self) -> bool {
        matches!(self, RedisError::Io(error) if error.kind() == io::ErrorKind::TimedOut)
    }
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisError::Io(error) => write!(f, "Redis connection: {error}"),
            RedisError::Protocol(error) => write!(f, "Redis protocol: {error}"),
            RedisError::Server(message) => write!(f, "Redis error reply: {message}"),
            RedisError::UnexpectedReply(what) => write!(f, "unexpected Redis reply: {what}"),
        }
    }
}

impl std::error::Error for RedisError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RedisError::Io(error) => Some(error),
            RedisError::Protocol(error) => Some(error),
            RedisError::Server(_) | RedisError::UnexpectedReply(_) => None,
        }
    }
}

impl From<io::Error> for RedisError {
    fn from(error: io::Error) -> RedisError {
        RedisError::Io(error)
    }
}

impl From<RespError> for RedisError {
    fn from(error: RespError) -> RedisError {
        RedisError::Protocol(error)
    }
}

/// The error for a deadline that passed: what was being waited for, as a `TimedOut` I/O error.
pub(crate) fn timed_out(what: &str) -> RedisError {
    RedisError::Io(io::Error::new(io::ErrorKind::TimedOut, format!("no {what} in time")))
}

/// The time left until `deadline`, or the timeout error when none is left (a zero socket timeout
/// would mean "wait forever").
pub(crate) fn time_left(deadline: Instant, what: &str) -> Result<Duration, RedisError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(timed_out(what));
    }
    Ok(left)
}

/// An expired socket timeout (`WouldBlock` on Unix, `TimedOut` on Windows) is the deadline's.
fn socket_error(error: io::Error, what: &str) -> RedisError {
    if crate::net::is_timeout(&error) {
        timed_out(what)
    } else {
        RedisError::Io(error)
    }
}

/// One connection to a Redis server.
///
/// Every exchange has one deadline: a reply, or a pipeline's replies, must be complete by then,
/// however the bytes are spread out, so a server that sends a byte now and then cannot hold a
/// caller longer than the timeout.
pub struct Connection {
    socket: TcpStream,
    decoder: Decoder,
    /// How long an ordinary command may take, its whole reply included.
    timeout: Duration,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection").field("peer", &self.socket.peer_addr().ok()).finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects, authenticates and selects the database as `url` says, all within `timeout`
    /// (the name's lookup aside: the system resolver has no timeout). Every command afterwards
    /// must be answered within `timeout` too. Replies are decoded with the default
    /// [`Limits`]; see [`set_limits`](Self::set_limits).
    ///
    /// # Errors
    ///
    /// [`RedisError::Io`] when the host name does not resolve, no address takes the connection, or
    /// the whole exchange takes longer than `timeout` (see [`RedisError::is_timeout`]);
    /// [`RedisError::Server`] when Redis refuses `AUTH` or `SELECT`; [`RedisError::Protocol`] when
    /// its replies are not RESP.
    pub fn open(url: &RedisUrl, timeout: Duration) -> Result<Connection, RedisError> {
        let deadline = Instant::now() + timeout;
        let socket = dial(&url.host, url.port, deadline).map_err(|error| socket_error(error, "connection"))?;
        let mut connection = Connection { socket, decoder: Decoder::default(), timeout };
        connection.hello(url, deadline)?;
        Ok(connection)
    }

    fn hello(&mut self, url: &RedisUrl, deadline: Instant) -> Result<(), RedisError> {
        if let Some(password) = &url.password {
            match &url.username {
                Some(user) => self.command_by(&[b"AUTH", user.as_bytes(), password.as_bytes()], deadline)?,
                None => self.command_by(&[b"AUTH", password.as_bytes()], deadline)?,
            };
        }
        if url.db != 0 {
            self.command_by(&[b"SELECT", url.db.to_string().as_bytes()], deadline)?;
        }
        Ok(())
    }

    /// Bounds what replies may hold from the next reply on (default: [`Limits::default`]).
    pub fn set_limits(&mut self, limits: Limits) {
        self.decoder.set_limits(limits);
    }

    /// Whether the connection is still good to send on: the server has not closed it (it restarted,
    /// or dropped an idle connection), and has sent nothing unasked, which would be taken for the
    /// next reply. Checked without waiting.
    pub(crate) fn is_usable(&self) -> bool {
        if self.decoder.buffered() > 0 || self.socket.set_nonblocking(true).is_err() {
            return false;
        }
        let quiet = matches!(self.socket.peek(&mut [0u8; 1]), Err(error) if error.kind() == io::ErrorKind::WouldBlock);
        self.socket.set_nonblocking(false).is_ok() && quiet
    }

    /// Another handle on the socket: shutting it down from another thread ends a blocking read.
    ///
    /// # Errors
    ///
    /// The `io::Error` of cloning the socket's handle (for example when the process has no file
    /// descriptor left).
    pub fn socket_handle(&self) -> io::Result<TcpStream> {
        self.socket.try_clone()
    }

    /// Sends one command and returns its reply; an error reply is [`RedisError::Server`].
    ///
    /// # Errors
    ///
    /// [`RedisError::Server`] for an error reply (the connection is still good); [`RedisError::Io`]
    /// when the connection breaks or the reply is not whole within the timeout (see
    /// [`RedisError::is_timeout`]); [`RedisError::Protocol`] for a reply that is not RESP or is
    /// over the [`Limits`]. After an `Io` or `Protocol` error the connection cannot be trusted:
    /// open another.
    pub fn command(&mut self, args: &[&[u8]]) -> Result<Value, RedisError> {
        self.command_by(args, Instant::now() + self.timeout)
    }

    /// Like [`command`](Self::command), for a command that may take up to `wait` to answer
    /// (`XREAD BLOCK`): the reply must be complete within that plus the ordinary timeout.
    ///
    /// # Errors
    ///
    /// Those of [`command`](Self::command), against the longer deadline.
    pub fn command_waiting(&mut self, args: &[&[u8]], wait: Duration) -> Result<Value, RedisError> {
        self.command_by(args, Instant::now() + wait + self.timeout)
    }

    /// Like [`command`](Self::command), with the reply due by `deadline`.
    pub(crate) fn command_by(&mut self, args: &[&[u8]], deadline: Instant) -> Result<Value, RedisError> {
        let mut request = Vec::new();
        encode_command_into(args, &mut request);
        self.send(&request, deadline)?;
        match self.receive(deadline)? {
            Value::Error(message) => Err(RedisError::Server(message)),
            value => Ok(value),
        }
    }

    /// Sends several commands in one write and reads all their replies, in order, all within
    /// the timeout. Error replies are returned as [`Value::Error`] in their place; a broken
    /// connection is an `Err`.
    ///
    /// # Errors
    ///
    /// [`RedisError::Io`] or [`RedisError::Protocol`], as for [`command`](Self::command); error
    /// replies are no error here. After an error, Redis may have run any part of the commands.
    pub fn pipeline(&mut self, commands: &[Vec<&[u8]>]) -> Result<Vec<Value>, RedisError> {
        let deadline = Instant::now() + self.timeout;
        let mut request = Vec::new();
        for command in commands {
            encode_command_into(command, &mut request);
        }
        self.send(&request, deadline)?;
        commands.iter().map(|_| self.receive(deadline)).collect()
    }

    /// Writes encoded commands, all by `deadline`. After a failure, Redis may have received and
    /// run any part of them.
    pub(crate) fn send(&mut self, request: &[u8], deadline: Instant) -> Result<(), RedisError> {
        let mut written = 0;
        while written < request.len() {
            self.socket.set_write_timeout(Some(time_left(deadline, "room to send the command")?))?;
            match self.socket.write(&request[written..]) {
                Ok(0) => return Err(RedisError::Io(io::ErrorKind::WriteZero.into())),
                Ok(n) => written += n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(socket_error(error, "room to send the command")),
            }
        }
        Ok(())
    }

    /// The next reply, complete by `deadline`.
    pub(crate) fn receive(&mut self, deadline: Instant) -> Result<Value, RedisError> {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            if let Some(value) = self.decoder.next_value()? {
                return Ok(value);
            }
            let read = match DeadlineReader::new(&self.socket, deadline).read(&mut buffer) {
                Ok(0) => return Err(RedisError::Io(io::ErrorKind::UnexpectedEof.into())),
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(socket_error(error, "complete reply")),
            };
            self.decoder.feed(&buffer[..read]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = RedisUrl::parse("redis://localhost").unwrap();
        assert_eq!((url.host.as_str(), url.port, url.db, url.password), ("localhost", 6379, 0, None));
        let url = RedisUrl::parse("redis://:pw@h:1/3").unwrap();
        assert_eq!((url.username, url.password.as_deref(), url.port, url.db), (None, Some("pw"), 1, 3));
        let url = RedisUrl::parse("redis://[::1]:7000").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", 7000));
        for bad in ["http://h", "redis://", "redis://h:x", "redis://h/db", "rediss://h"] {
            assert!(RedisUrl::parse(bad).is_err(), "{bad}");
        }
        let shown = format!("{:?}", RedisUrl::parse("redis://u:secret@h").unwrap());
        assert!(!shown.contains("secret"), "{shown}");
    }

    /// Each class of bad URL is its own variant, and no error shows the password, however the
    /// URL is wrong: a message goes to logs and terminals.
    #[test]
    fn a_bad_url_says_what_is_wrong_and_never_shows_the_password() {
        for (text, expected) in [
            ("http://u:s3cret@h", RedisUrlError::NotRedis),
            ("rediss://u:s3cret@h", RedisUrlError::NotRedis),
            ("redis://u:s3cret@", RedisUrlError::NoHost),
            ("redis://u:s3cret@:6379", RedisUrlError::NoHost),
            ("redis://u:s3cret@h:x", RedisUrlError::InvalidPort),
            ("redis://u:s3cret@h:65536", RedisUrlError::InvalidPort),
            ("redis://u:s3cret@h/db", RedisUrlError::InvalidDatabase),
            ("redis://u:s3cret%zz@h", RedisUrlError::PercentEncoding(PercentDecodeError::BadEscape(6))),
            ("redis://u:s3cret%ff@h", RedisUrlError::PercentEncoding(PercentDecodeError::NotUtf8)),
        ] {
            let error = RedisUrl::parse(text).unwrap_err();
            assert_eq!(error, expected, "{text}");
            for shown in [error.to_string(), format!("{error:?}")] {
                assert!(!shown.contains("s3cret"), "{text}: {shown}");
            }
        }
        let error = RedisUrl::parse("redis://:pw%zz@h").unwrap_err();
        let cause = std::error::Error::source(&error).and_then(|cause| cause.downcast_ref::<PercentDecodeError>());
        assert_eq!(cause, Some(&PercentDecodeError::BadEscape(2)), "the decoding error is kept as the cause");
    }
}
