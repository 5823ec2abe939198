//! `Server::stop` returns within its bound even when the server cannot connect to itself to wake
//! its accept loop, here because the process has no file descriptor left. Alone in its own test
//! binary, since it uses up the process's descriptors.

use std::fs::File;
use std::net::TcpStream;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bare_sse::Server;

/// The soft and hard limits on open files of this process (Linux).
fn open_file_limits() -> Option<(u64, u64)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
    let mut numbers = line.split_whitespace().filter_map(|word| word.parse().ok());
    Some((numbers.next()?, numbers.next()?))
}

/// Sets this process's soft limit on open files with `prlimit` (util-linux).
fn set_soft_limit(soft: u64, hard: u64) -> bool {
    let pid = std::process::id().to_string();
    let limit = format!("--nofile={soft}:{hard}");
    Command::new("prlimit").args(["--pid", &pid, &limit]).status().is_ok_and(|status| status.success())
}

#[test]
fn stop_is_bounded_when_the_accept_loop_cannot_be_woken() {
    let Some((soft, hard)) = open_file_limits() else {
        println!("skipped: needs Linux's /proc to read the open-file limit");
        return;
    };
    let server = Server::builder().start().unwrap();
    let addr = server.local_addr();
    let open_now = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    // A few descriptors to spare, all taken below: a small limit keeps that quick.
    if !set_soft_limit(open_now + 16, hard) && soft > 1 << 16 {
        println!("skipped: no prlimit to lower an open-file limit of {soft}");
        return;
    }
    let mut held = Vec::new();
    while let Ok(file) = File::open("/dev/null") {
        held.push(file);
    }
    assert!(TcpStream::connect(addr).is_err(), "no descriptor is left to connect with");

    let (stopped, stop) = mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        server.stop();
        let _ = stopped.send(());
    });
    let returned = stop.recv_timeout(Duration::from_secs(10));
    let took = started.elapsed();
    drop(held);
    set_soft_limit(soft, hard);
    assert!(returned.is_ok(), "stop did not return within {took:?}");
    assert!(took < Duration::from_secs(5), "stop took {took:?}");

    // The accept loop, left waiting, ends with the next connection, and the listener closes.
    let _ = TcpStream::connect(addr);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_ok() {
        assert!(Instant::now() < deadline, "the listener stays open");
        std::thread::sleep(Duration::from_millis(5));
    }
}
