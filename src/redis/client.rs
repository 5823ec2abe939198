//! A blocking Redis connection over `TcpStream`: connect with a timeout, authenticate, select the
//! database, then send commands (one, or several pipelined in one write) and read their replies.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::resp::{encode_command_into, Decoder, RespError, Value};
use crate::http::percent_decode;

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
    pub fn parse(text: &str) -> Result<RedisUrl, RedisError> {
        let bad = |why: &str| RedisError::Url(format!("{text:?}: {why}"));
        let rest = text.strip_prefix("redis://").ok_or_else(|| bad("only redis:// URLs (no TLS)"))?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((credentials, host_port)) => (Some(credentials), host_port),
            None => (None, authority),
        };
        let decode = |part: &str| percent_decode(part, false).map_err(|_| bad("bad percent-encoding"));
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
                (host, port.parse().map_err(|_| bad("bad port"))?)
            }
            _ => (host_port, 6379),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let db =
            if path.is_empty() { 0 } else { path.parse().map_err(|_| bad("the path must be a database number"))? };
        Ok(RedisUrl { host: host.to_string(), port, username, password, db })
    }
}

/// What can go wrong talking to Redis.
#[derive(Debug)]
pub enum RedisError {
    /// A URL that cannot be used.
    Url(String),
    /// The connection failed, broke or timed out.
    Io(io::Error),
    /// The bytes received are not RESP.
    Protocol(RespError),
    /// The server answered with an error reply.
    Server(String),
    /// A reply of a shape the command never returns.
    UnexpectedReply(String),
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisError::Url(why) => write!(f, "bad Redis URL {why}"),
            RedisError::Io(error) => write!(f, "Redis connection: {error}"),
            RedisError::Protocol(error) => write!(f, "Redis protocol: {error}"),
            RedisError::Server(message) => write!(f, "Redis error reply: {message}"),
            RedisError::UnexpectedReply(what) => write!(f, "unexpected Redis reply: {what}"),
        }
    }
}

impl std::error::Error for RedisError {}

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

/// One connection to a Redis server.
pub struct Connection {
    socket: TcpStream,
    decoder: Decoder,
    /// The read timeout for ordinary commands.
    timeout: Duration,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection").field("peer", &self.socket.peer_addr().ok()).finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects within `timeout`, then authenticates and selects the database as `url` says.
    /// Every command afterwards must be answered within `timeout` too.
    pub fn open(url: &RedisUrl, timeout: Duration) -> Result<Connection, RedisError> {
        let addresses = (url.host.as_str(), url.port).to_socket_addrs()?;
        let mut last_error = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
        for address in addresses {
            match TcpStream::connect_timeout(&address, timeout) {
                Ok(socket) => {
                    socket.set_nodelay(true)?;
                    socket.set_write_timeout(Some(timeout))?;
                    let mut connection = Connection { socket, decoder: Decoder::default(), timeout };
                    connection.hello(url)?;
                    return Ok(connection);
                }
                Err(error) => last_error = error,
            }
        }
        Err(RedisError::Io(last_error))
    }

    fn hello(&mut self, url: &RedisUrl) -> Result<(), RedisError> {
        if let Some(password) = &url.password {
            match &url.username {
                Some(user) => self.command(&[b"AUTH", user.as_bytes(), password.as_bytes()])?,
                None => self.command(&[b"AUTH", password.as_bytes()])?,
            };
        }
        if url.db != 0 {
            self.command(&[b"SELECT", url.db.to_string().as_bytes()])?;
        }
        Ok(())
    }

    /// Another handle on the socket: shutting it down from another thread ends a blocking read.
    pub fn socket_handle(&self) -> io::Result<TcpStream> {
        self.socket.try_clone()
    }

    /// Sends one command and returns its reply; an error reply is [`RedisError::Server`].
    pub fn command(&mut self, args: &[&[u8]]) -> Result<Value, RedisError> {
        self.command_waiting(args, self.timeout)
    }

    /// Like [`command`](Self::command), for a command that may take up to `wait` to answer
    /// (`XREAD BLOCK`): the read timeout is that plus the ordinary one.
    pub fn command_waiting(&mut self, args: &[&[u8]], wait: Duration) -> Result<Value, RedisError> {
        let mut request = Vec::new();
        encode_command_into(args, &mut request);
        self.socket.write_all(&request)?;
        let reply = self.read_reply(wait.max(self.timeout) + self.timeout)?;
        match reply {
            Value::Error(message) => Err(RedisError::Server(message)),
            value => Ok(value),
        }
    }

    /// Sends several commands in one write and reads all their replies, in order. Error replies
    /// are returned as [`Value::Error`] in their place; a broken connection is an `Err`.
    pub fn pipeline(&mut self, commands: &[Vec<&[u8]>]) -> Result<Vec<Value>, RedisError> {
        let mut request = Vec::new();
        for command in commands {
            encode_command_into(command, &mut request);
        }
        self.socket.write_all(&request)?;
        commands.iter().map(|_| self.read_reply(self.timeout)).collect()
    }

    fn read_reply(&mut self, timeout: Duration) -> Result<Value, RedisError> {
        self.socket.set_read_timeout(Some(timeout))?;
        let mut buffer = [0u8; 16 * 1024];
        loop {
            if let Some(value) = self.decoder.next_value()? {
                return Ok(value);
            }
            let read = self.socket.read(&mut buffer)?;
            if read == 0 {
                return Err(RedisError::Io(io::ErrorKind::UnexpectedEof.into()));
            }
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
}
