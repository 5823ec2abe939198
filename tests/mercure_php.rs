//! A publisher and a subscriber nobody here wrote, through `bare-sse mercure`: Symfony's Mercure
//! component (Debian's php-symfony-mercure, driven by `.ci/mercure-php-publisher`) publishes with
//! its own token, and Chromium's `EventSource` receives the update. Skipped, with the reason
//! printed, where PHP's component or Chromium cannot be had.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use bare_sse::json::Value;
use common::chromium::Chromium;

const KEY: &str = "!ChangeThisMercureHubJWTSecretKey!";
const AUDIENCE: &str = "https://localhost/.well-known/mercure";
const ISSUER: &str = "https://localhost";

/// `bare-sse mercure` on a free port; the child and the hub's URL, as it printed it.
fn start_hub() -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bare-sse"))
        .args(["mercure", "--port", "0", "--jwt-key", KEY, "--audience", AUDIENCE, "--issuer", ISSUER, "--anonymous"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("bare-sse starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("bare-sse says where it serves").unwrap();
        if let Some(url) = line.strip_prefix("bare-sse: Mercure hub at ") {
            break url.to_string();
        }
    };
    // Keep reading standard error, so that the hub never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, url)
}

/// Publishes with Symfony's component; `None` when it cannot be had (exit 77), with why printed.
fn publish_with_symfony(hub_url: &str, topic: &str, data: &str, id: &str) -> Option<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/mercure-php-publisher");
    let output = Command::new(script)
        .args([hub_url, topic, "--data", data, "--id", id, "--jwt-key", KEY, "--audience", AUDIENCE])
        .args(["--issuer", ISSUER])
        .output()
        .expect("the publisher script runs");
    if output.status.code() == Some(77) {
        println!("skipped: {}", String::from_utf8_lossy(&output.stderr).trim());
        return None;
    }
    assert!(output.status.success(), "Symfony's publisher failed: {}", String::from_utf8_lossy(&output.stderr));
    Some(String::from_utf8(output.stdout).unwrap().trim().to_string())
}

#[test]
fn symfonys_publisher_reaches_chromiums_event_source_through_the_hub() {
    let Some(mut browser) = Chromium::start("mercure-php", &[]) else { return };
    let (mut hub, hub_url) = start_hub();
    let origin = hub_url.strip_suffix("/.well-known/mercure").unwrap();
    let tab = browser.open(&format!("{origin}/"));
    let topic = "https://example.com/books/1";
    let subscribe = format!(
        "window.update = new Promise((resolve) => {{ \
            const source = new EventSource('/.well-known/mercure?match=' + encodeURIComponent('{topic}')); \
            source.onmessage = (message) => {{ source.close(); resolve([message.lastEventId, message.data]); }}; \
            window.opened = new Promise((opened) => {{ source.onopen = () => opened(true); }}); \
        }}); window.opened"
    );
    assert_eq!(browser.evaluate(&tab, &subscribe), Ok(Value::Bool(true)));

    let published = publish_with_symfony(&hub_url, topic, "a new title\nand a second line", "urn:book:1:v2");
    if let Some(id) = published {
        assert_eq!(id, "urn:book:1:v2");
        let received = browser.evaluate(&tab, "window.update").unwrap();
        let expected = Value::Array(vec!["urn:book:1:v2".into(), "a new title\nand a second line".into()]);
        assert_eq!(received, expected);
    }
    let _ = hub.kill();
    let _ = hub.wait();
}
