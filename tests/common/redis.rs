//! A real `redis-server` for the tests: started on a free loopback port with a temporary
//! directory, stopped (and the directory removed) when dropped. `None`, with the reason printed,
//! where `redis-server` is not installed.
#![allow(dead_code)] // each test binary uses part of it

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub struct RedisServer {
    child: Child,
    pub port: u16,
    dir: PathBuf,
    persistent: bool,
}

impl RedisServer {
    /// A server without persistence.
    pub fn start() -> Option<RedisServer> {
        RedisServer::start_in(None, false)
    }

    /// A server on `port` (a new free one when `None`), with an append-only file when `persistent`
    /// (so a restart on the same port and directory keeps the data).
    pub fn start_in(reuse: Option<(u16, PathBuf)>, persistent: bool) -> Option<RedisServer> {
        if Command::new("redis-server").arg("--version").output().is_err() {
            println!("skipped: redis-server is not installed (apt-get install redis-server)");
            return None;
        }
        let (port, dir) = reuse.unwrap_or_else(|| {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let dir = std::env::temp_dir().join(format!("bare-sse-redis-{}-{port}", std::process::id()));
            (port, dir)
        });
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", if persistent { "yes" } else { "no" }, "--appendfsync", "always"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Ready when it says so: a signal, not a sleep.
        let (ready_tx, ready) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("Ready to accept connections") {
                    let _ = ready_tx.send(());
                }
            }
        });
        ready.recv_timeout(Duration::from_secs(30)).expect("redis-server did not become ready");
        Some(RedisServer { child, port, dir, persistent })
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Stops the server's process (SIGSTOP): it holds its connections and answers nothing, as a
    /// server that hangs does, until [`thaw`](Self::thaw).
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Lets a frozen server go on (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill {signal}");
    }

    /// Kills the server at once (no shutdown save), leaving its directory.
    pub fn kill(mut self) -> (u16, PathBuf) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let kept = (self.port, self.dir.clone());
        self.dir = PathBuf::new(); // keep the files for a restart
        kept
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
