//! The client process of the byte-counting benchmarks: many clients on non-blocking sockets, swept
//! by one thread, each counting the bytes of every burst. They speak HTTP/1.0, so the body has no
//! chunk framing and the bytes counted are the body's.
//!
//! Arguments: `ADDRESSES CLIENTS BURST_BYTES PREFIX_BYTES plain|gzip`, where ADDRESSES is a
//! comma-separated list of servers the clients are spread over, and PREFIX_BYTES the body bytes
//! each client gets before the first burst (a gzip header). It prints `ready` once every client
//! is connected, then `burst-done` each time every client has read one burst. `bench_topics` uses
//! its connect and its sweep for clients of its own.
#![allow(dead_code)] // each benchmark uses the part it needs

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

/// Runs the clients for `rounds` bursts.
pub fn run(args: &[String], rounds: usize) {
    let addresses: Vec<SocketAddr> = args[0].split(',').map(|a| a.parse().unwrap()).collect();
    let clients: usize = args[1].parse().unwrap();
    let burst_bytes: usize = args[2].parse().unwrap();
    let prefix: usize = args[3].parse().unwrap();
    let accept = if args[4] == "gzip" { "Accept-Encoding: gzip\r\n" } else { "" };
    let mut sockets: Vec<(TcpStream, usize)> = (0..clients)
        .map(|index| {
            let mut socket = connect(addresses[index % addresses.len()], &format!("GET / HTTP/1.0\r\n{accept}\r\n"));
            // The first bytes of the body (the gzip header), before any burst.
            let mut first = vec![0u8; prefix];
            socket.read_exact(&mut first).unwrap();
            socket.set_nonblocking(true).unwrap();
            (socket, 0)
        })
        .collect();
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    let mut buffer = vec![0u8; 256 * 1024];
    for _ in 0..rounds {
        read_all(&mut sockets, burst_bytes, &mut buffer);
        for (_, count) in &mut sockets {
            assert_eq!(*count, burst_bytes, "exactly the burst's bytes");
            *count = 0;
        }
        writeln!(out, "burst-done").unwrap();
        out.flush().unwrap();
    }
}

/// A client that sent `request` and read the response head, which must say `200`. Blocking.
pub fn connect(addr: SocketAddr, request: &str) -> TcpStream {
    let mut socket = TcpStream::connect(addr).expect("connect");
    socket.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(socket.read(&mut byte).unwrap(), 1, "the server closed");
        head.push(byte[0]);
    }
    let status = String::from_utf8_lossy(&head[..12.min(head.len())]).into_owned();
    assert!(status.ends_with(" 200"), "{status}");
    socket
}

/// Sweeps the non-blocking `sockets` until each has counted `wanted` bytes: one thread reads
/// them all, so the clients cost the machine little beside the server.
pub fn read_all(sockets: &mut [(TcpStream, usize)], wanted: usize, buffer: &mut [u8]) {
    let mut done = 0;
    while done < sockets.len() {
        let mut progress = false;
        for (socket, count) in sockets.iter_mut() {
            if *count >= wanted {
                continue;
            }
            match socket.read(buffer) {
                Ok(0) => panic!("the server closed a stream"),
                Ok(n) => {
                    *count += n;
                    progress = true;
                    done += usize::from(*count >= wanted);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("read: {e}"),
            }
        }
        if !progress {
            thread::sleep(Duration::from_micros(50));
        }
    }
}
