//! Headless Chromium for the browser tests, driven over the DevTools protocol: JSON commands on a
//! WebSocket (RFC 6455), written here since the tests have no WebSocket crate. It opens and closes
//! tabs and evaluates scripts in them; a script that returns a promise is awaited, so a test waits
//! for a page's own signal (an event arrived, an element changed), not for time to pass.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bare_sse::json::{self, Value};

/// Chromium can take a while to start, and to answer, on a loaded machine.
pub const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

/// Where Debian installs Chromium (`apt-get install chromium`), if it is there.
pub fn installed() -> Option<&'static str> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().find(|path| std::path::Path::new(path).exists())
}

/// The flags every browser test starts Chromium with: headless, as root, and quiet on the network.
pub const FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// A running Chromium with a fresh profile, killed and its profile removed when dropped.
pub struct Chromium {
    child: Child,
    profile: PathBuf,
    devtools: WebSocket,
    next_id: u64,
}

/// A tab opened by [`Chromium::open`].
#[derive(Debug, Clone)]
pub struct Tab {
    pub target: String,
    session: String,
}

impl Chromium {
    /// Starts Chromium with [`FLAGS`] and `extra` flags, and connects to its DevTools endpoint.
    /// `None`, with the reason printed, when Chromium is not installed.
    pub fn start(test: &str, extra: &[&str]) -> Option<Chromium> {
        let Some(browser) = installed() else {
            println!("skipped {test}: Chromium is not installed (apt-get install chromium)");
            return None;
        };
        let profile = std::env::temp_dir().join(format!("bare-sse-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        let child = Command::new(browser)
            .args(FLAGS)
            .args(extra)
            .arg("--remote-debugging-port=0")
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Chromium starts");
        // Chromium writes the port it chose, and its endpoint's path, to this file once it listens.
        let active_port = profile.join("DevToolsActivePort");
        let deadline = Instant::now() + BROWSER_TIMEOUT;
        let (port, path) = loop {
            let text = std::fs::read_to_string(&active_port).unwrap_or_default();
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                break (port.parse::<u16>().expect("a port"), path.to_string());
            }
            assert!(Instant::now() < deadline, "Chromium never opened its DevTools endpoint");
            std::thread::sleep(Duration::from_millis(20));
        };
        let devtools = WebSocket::connect(port, &path);
        Some(Chromium { child, profile, devtools, next_id: 0 })
    }

    /// Sends a command (to a tab's session, or to the browser) and returns its result.
    pub fn command(&mut self, session: Option<&str>, method: &str, params: Value) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = Value::Object(vec![
            ("id".into(), Value::from(id as i64)),
            ("method".into(), method.into()),
            ("params".into(), params),
        ]);
        if let Some(session) = session {
            message.set("sessionId", session.into());
        }
        self.devtools.send(&message.to_string());
        loop {
            // Events (no id) and answers to nothing else come in between: skip them.
            let reply = json::parse(&self.devtools.receive()).expect("DevTools sends JSON");
            if reply.get("id").and_then(Value::as_i64) != Some(id as i64) {
                continue;
            }
            if let Some(error) = reply.get("error") {
                return Err(format!("{method}: {error}"));
            }
            return Ok(reply.get("result").cloned().unwrap_or(Value::Null));
        }
    }

    /// Opens a tab at `url` (in the background, as a user's new tab), attached for [`evaluate`],
    /// once its page has run its scripts (`url` as the browser writes it: `http://host:port/`).
    pub fn open(&mut self, url: &str) -> Tab {
        let params = Value::Object(vec![("url".into(), url.into()), ("background".into(), true.into())]);
        let created = self.command(None, "Target.createTarget", params).expect("a new tab");
        let target = created.get("targetId").and_then(Value::as_str).unwrap().to_string();
        let params = Value::Object(vec![("targetId".into(), target.as_str().into()), ("flatten".into(), true.into())]);
        let attached = self.command(None, "Target.attachToTarget", params).expect("attached to the tab");
        let session = attached.get("sessionId").and_then(Value::as_str).unwrap().to_string();
        let tab = Tab { target, session };
        // The tab starts on an empty document, and an evaluation that the page's arrival
        // interrupts fails: ask again until the page itself answers, parsed.
        let loaded = "document.readyState === 'loading' \
            ? new Promise((resolve) => addEventListener('DOMContentLoaded', () => resolve(location.href))) \
            : location.href";
        let deadline = Instant::now() + BROWSER_TIMEOUT;
        while self.evaluate(&tab, loaded).ok().and_then(|href| href.as_str().map(|h| h == url)) != Some(true) {
            assert!(Instant::now() < deadline, "{url} never loaded");
            std::thread::sleep(Duration::from_millis(20));
        }
        tab
    }

    /// Evaluates `expression` in `tab`, awaiting it if it is a promise, and returns its value
    /// (JSON-shaped), or the exception it threw as an error.
    pub fn evaluate(&mut self, tab: &Tab, expression: &str) -> Result<Value, String> {
        let params = Value::Object(vec![
            ("expression".into(), expression.into()),
            ("awaitPromise".into(), true.into()),
            ("returnByValue".into(), true.into()),
        ]);
        let result = self.command(Some(&tab.session), "Runtime.evaluate", params)?;
        if let Some(exception) = result.get("exceptionDetails") {
            return Err(format!("{expression}: {exception}"));
        }
        Ok(result.get("result").and_then(|r| r.get("value")).cloned().unwrap_or(Value::Null))
    }

    /// Closes `tab`, as a user closing it would.
    pub fn close(&mut self, tab: &Tab) {
        let params = Value::Object(vec![("targetId".into(), tab.target.as_str().into())]);
        self.command(None, "Target.closeTarget", params).expect("the tab closes");
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // Asked to close, Chromium ends its helper processes too, which a kill leaves writing
        // to the profile for a moment; a kill is the fallback.
        let close = r#"{"id":0,"method":"Browser.close","params":{}}"#;
        let deadline = Instant::now() + Duration::from_secs(10);
        if self.devtools.try_write_frame(0x1, close.as_bytes()).is_ok() {
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// The client end of a WebSocket, as much of it as DevTools needs: text messages, fragmented or
/// not, and pings answered.
struct WebSocket {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl WebSocket {
    fn connect(port: u16, path: &str) -> WebSocket {
        let socket = TcpStream::connect(("127.0.0.1", port)).expect("DevTools accepts");
        socket.set_read_timeout(Some(BROWSER_TIMEOUT)).unwrap();
        let mut writer = socket.try_clone().unwrap();
        // The key only has to be 16 bytes in base64; DevTools needs no proof of anything.
        write!(
            writer,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: YmFyZS1zc2UtdGVzdHMhIQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        let mut reader = BufReader::new(socket);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.starts_with("HTTP/1.1 101"), "DevTools refused the WebSocket: {status}");
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
        }
        WebSocket { reader, writer }
    }

    fn send(&mut self, text: &str) {
        self.write_frame(0x1, text.as_bytes());
    }

    fn write_frame(&mut self, opcode: u8, payload: &[u8]) {
        self.try_write_frame(opcode, payload).expect("DevTools takes the command");
    }

    /// A frame from the client: final, masked (clients must mask; any key will do).
    fn try_write_frame(&mut self, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
        let mut frame = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = [0x5a, 0x17, 0xc3, 0x2e];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, byte)| byte ^ mask[i % 4]));
        self.writer.write_all(&frame)
    }

    /// The next text message.
    fn receive(&mut self) -> String {
        let mut message = Vec::new();
        loop {
            let mut head = [0u8; 2];
            self.reader.read_exact(&mut head).expect("a DevTools message in time");
            let (last, opcode) = (head[0] & 0x80 != 0, head[0] & 0x0f);
            let length = match head[1] & 0x7f {
                126 => {
                    let mut bytes = [0u8; 2];
                    self.reader.read_exact(&mut bytes).unwrap();
                    u16::from_be_bytes(bytes) as usize
                }
                127 => {
                    let mut bytes = [0u8; 8];
                    self.reader.read_exact(&mut bytes).unwrap();
                    u64::from_be_bytes(bytes) as usize
                }
                n => n as usize,
            };
            let mut payload = vec![0u8; length];
            self.reader.read_exact(&mut payload).unwrap();
            match opcode {
                0x9 => self.write_frame(0xa, &payload),
                0x8 => panic!("DevTools closed the connection"),
                0x0..=0x2 => {
                    message.extend_from_slice(&payload);
                    if last {
                        return String::from_utf8(message).expect("text messages are UTF-8");
                    }
                }
                _ => {}
            }
        }
    }
}
