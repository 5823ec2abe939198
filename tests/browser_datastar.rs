//! The Datastar counter example in headless Chromium with the real Datastar library (the copy in
//! `../shared/vendor/`): a page left open across a server restart shows the new run's state
//! without a reload, and a page whose Datastar cannot load says so. Skipped, with the reason
//! printed, where Chromium or the library's copy is missing.

mod common;

#[path = "../examples/datastar_counter.rs"]
#[allow(dead_code)] // the tests use the example's routes, not its `main`
mod counter;

use std::path::Path;

use bare_sse::datastar;
use bare_sse::Server;
use common::agent;
use common::chromium::Chromium;

/// Datastar v1.0.2's browser bundle, beside the repository (see `shared/vendor/README.md`).
const DATASTAR_COPY: &str = "../shared/vendor/datastar-1.0.2.js";

/// Waits in the page, up to 30 s (Datastar retries after 1 s, then 2 s, ...), until the count
/// shows `count`; returns what it shows then.
fn count_shows(count: i64) -> String {
    format!(
        "new Promise((resolve) => {{ const until = Date.now() + 30000; \
         const check = () => {{ const shown = document.getElementById('count').textContent; \
         shown === '{count}' || Date.now() > until ? resolve(shown) : setTimeout(check, 20); }}; check(); }})"
    )
}

#[test]
fn a_page_open_across_a_restart_shows_the_new_state_without_a_reload() {
    let Ok(script) = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(DATASTAR_COPY)) else {
        println!("skipped: {DATASTAR_COPY} is missing, and this test needs the real Datastar library");
        return;
    };
    let Some(mut browser) = Chromium::start("datastar-restart", &[]) else { return };
    let app = counter::App::new().with_local_datastar(script.clone());
    let server = counter::routes(Server::builder(), app).start().unwrap();
    let address = server.local_addr();
    let page = browser.open(&format!("http://{address}/"));
    let post = agent()
        .post(&format!("http://{address}/increment"))
        .header("Content-Type", "application/json")
        .send(r#"{"step":5}"#)
        .unwrap();
    assert_eq!(post.status(), 204);
    assert_eq!(browser.evaluate(&page, &count_shows(5)).unwrap().as_str(), Some("5"), "Datastar applies the update");
    browser.evaluate(&page, "window.sameDocument = true").unwrap();

    // A new run on the same port, with its own state: the page reconnects and shows it.
    server.stop();
    let restarted =
        counter::routes(Server::builder().port(address.port()), counter::App::new().with_local_datastar(script));
    let _server = restarted.start().unwrap();
    assert_eq!(browser.evaluate(&page, &count_shows(0)).unwrap().as_str(), Some("0"), "the new run's state");
    assert_eq!(browser.evaluate(&page, "window.sameDocument").unwrap().as_bool(), Some(true), "no reload");
    let notice = "document.getElementById('datastar-missing').hidden";
    assert_eq!(browser.evaluate(&page, notice).unwrap().as_bool(), Some(true), "Datastar loaded: no notice");
}

#[test]
fn a_page_whose_datastar_cannot_load_says_so() {
    // Offline: no host name resolves but the test server's address.
    let offline = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1";
    let Some(mut browser) = Chromium::start("datastar-offline", &[offline]) else { return };
    let server = counter::routes(Server::builder(), counter::App::new()).start().unwrap();
    let page = browser.open(&format!("http://{}/", server.local_addr()));
    // Waits up to 30 s for the notice to show; its text, or null.
    let notice = "new Promise((resolve) => { const notice = document.getElementById('datastar-missing'); \
         const until = Date.now() + 30000; const check = () => !notice.hidden ? resolve(notice.textContent) \
         : Date.now() > until ? resolve(null) : setTimeout(check, 20); check(); })";
    let text = browser.evaluate(&page, notice).unwrap();
    let text = text.as_str().expect("the page says Datastar did not load");
    assert!(text.contains("Datastar did not load") && text.contains(datastar::CDN_URL), "{text}");
    assert!(text.contains("path/to/datastar.js"), "it says how to give a local copy: {text}");
}
