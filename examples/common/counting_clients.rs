//! The client process of the byte-counting benchmarks: many clients on non-blocking sockets, swept
//! by one thread, each counting the bytes of every burst. They speak HTTP/1.0, so the body has no
//! chunk framing and the bytes counted are the body's.
//!
//! Arguments: `ADDRESSES CLIENTS BURST_BYTES PREFIX_BYTES plain|gzip`, where ADDRESSES is a
//! comma-separated list of servers the clients are spread over, and PREFIX_BYTES the body bytes
//! each client gets before the first burst (a gzip header). It prints `ready` once every client
//! is connected, then `burst-done` each time every client has read one burst.

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
            let mut socket = TcpStream::connect(addresses[index % addresses.len()]).unwrap();
            write!(socket, "GET / HTTP/1.0\r\n{accept}\r\n").unwrap();
            // The head, then the first bytes of the body (the gzip header), before any burst.
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                assert_eq!(socket.read(&mut byte).unwrap(), 1, "the server closed");
                head.push(byte[0]);
            }
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
        let mut done = 0;
        while done < clients {
            let mut progress = false;
            for (socket, count) in &mut sockets {
                if *count >= burst_bytes {
                    continue;
                }
                match socket.read(&mut buffer) {
                    Ok(0) => panic!("the server closed a stream"),
                    Ok(n) => {
                        *count += n;
                        progress = true;
                        if *count >= burst_bytes {
                            done += 1;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => panic!("read: {e}"),
                }
            }
            if !progress {
                thread::sleep(Duration::from_micros(50));
            }
        }
        for (_, count) in &mut sockets {
            assert_eq!(*count, burst_bytes, "exactly the burst's bytes");
            *count = 0;
        }
        writeln!(out, "burst-done").unwrap();
        out.flush().unwrap();
    }
}
