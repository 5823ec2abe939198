//! What every example does the same way: take its port(s) from the command line, and report a
//! failure as a sentence (`Display`), not as a debug dump.
#![allow(dead_code)] // each example uses the part it needs

use std::error::Error;
use std::process::ExitCode;

/// The port given as argument `position` (1 is the first), or `default` when there is none. A
/// value that is not a port ends the program with `usage`.
pub fn port_arg(position: usize, default: u16, usage: &str) -> u16 {
    match std::env::args().nth(position) {
        None => default,
        Some(text) => text.parse().unwrap_or_else(|_| {
            eprintln!("`{text}` is not a port (0 to 65535)\nusage: {usage}");
            std::process::exit(2);
        }),
    }
}

/// Runs an example's body; an error is printed for a person to read, and the exit code is 1.
pub fn run(name: &str, body: impl FnOnce() -> Result<(), Box<dyn Error>>) -> ExitCode {
    match body() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{name}: {error}");
            ExitCode::FAILURE
        }
    }
}
