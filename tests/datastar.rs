//! The Datastar SDK over real HTTP: the SDK test server, response headers and framing, reading
//! signals, concurrent sends, and the counter example driven by browser-shaped requests.

// Both examples included below load `examples/common` for their `main`s.
#![allow(clippy::duplicate_mod)]

mod common;

#[path = "../examples/datastar_sdk_test.rs"]
#[allow(dead_code)] // the example's `main` is not called by the tests; its routes are
mod sdk_test_server;

#[path = "../examples/datastar_counter.rs"]
#[allow(dead_code)] // likewise: the tests use the example's routes, not its `main`
mod counter;

use std::io::Read;
use std::thread;

use bare_sse::datastar::{self, DatastarStream, ElementOptions};
use bare_sse::http::encode_query_component;
use bare_sse::http::{parse_request_head, HeadLimits, Parsed};
use bare_sse::parse::{MessageEvent, Parser};
use bare_sse::server::{Request, Response};
use bare_sse::Server;
use common::{agent, RawClient};

fn events_of(body: &str) -> Vec<MessageEvent> {
    let mut parser = Parser::new();
    parser.feed(body.as_bytes()).unwrap();
    std::iter::from_fn(|| parser.next_event()).collect()
}

const INPUT: &str = r##"{"events": [
    {"type": "patchElements", "elements": "<div id=\"feed\">\n  <span>1</span>\n</div>", "selector": "#feed", "mode": "inner", "useViewTransition": true, "eventId": "e1", "retryDuration": 2000},
    {"type": "patchSignals", "signals": {"one": null, "two": {"alpha": 1}}, "onlyIfMissing": true},
    {"type": "executeScript", "script": "console.log('hello');", "attributes": {"type": "text/javascript"}, "autoRemove": false}
]}"##;

const EXPECTED: &str = "event: datastar-patch-elements\nid: e1\nretry: 2000\ndata: mode inner\ndata: selector #feed\n\
    data: useViewTransition true\ndata: elements <div id=\"feed\">\ndata: elements   <span>1</span>\ndata: elements </div>\n\n\
    event: datastar-patch-signals\ndata: onlyIfMissing true\ndata: signals {\"one\":null,\"two\":{\"alpha\":1}}\n\n\
    event: datastar-patch-elements\ndata: mode append\ndata: selector body\n\
    data: elements <script type=\"text/javascript\">console.log('hello');</script>\n\n";

#[test]
fn sdk_test_server_answers_get_with_the_events_described() {
    let server = sdk_test_server::routes(Server::builder()).start().unwrap();
    let url = format!("http://{}/test?datastar={}", server.local_addr(), encode_query_component(INPUT));
    let mut response =
        agent().get(&url).header("Accept", "text/event-stream").header("datastar-request", "true").call().unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/event-stream; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["connection"], "keep-alive");
    // Every event is known when the handler returns: one complete response.
    assert_eq!(headers["content-length"], EXPECTED.len().to_string());
    assert_eq!(response.body_mut().read_to_string().unwrap(), EXPECTED);
}

#[test]
fn sdk_test_server_answers_post_with_a_json_body() {
    let server = sdk_test_server::routes(Server::builder()).start().unwrap();
    let url = format!("http://{}/test", server.local_addr());
    let response = agent()
        .post(&url)
        .header("Content-Type", "application/json")
        .header("datastar-request", "true")
        .send(INPUT)
        .unwrap();
    assert_eq!(response.into_body().read_to_string().unwrap(), EXPECTED);
}

#[test]
fn each_event_is_its_own_chunk_and_http10_gets_a_close_delimited_body() {
    // The SDK test server's events, sent one by one on a stream.
    let server = Server::builder()
        .route("/test", |request: &Request| {
            let input = datastar::read_signals(request).unwrap();
            let events = sdk_test_server::events_from_test_input(&input).unwrap();
            datastar::response(move |stream| {
                let _ = stream.send_iter(&events);
            })
        })
        .start()
        .unwrap();
    let one = r#"{"events":[{"type":"patchSignals","signals":{"a":1}}]}"#;
    let mut client = RawClient::connect(server.local_addr());
    client.send(&format!("GET /test?datastar={} HTTP/1.1\r\nHost: x\r\n\r\n", encode_query_component(one)));
    client.head_keeping_framing();
    let event = "event: datastar-patch-signals\ndata: signals {\"a\":1}\n\n";
    assert_eq!(client.read_through("0\r\n\r\n"), format!("{:x}\r\n{event}\r\n0\r\n\r\n", event.len()));

    let mut old = RawClient::connect(server.local_addr());
    old.send(&format!("GET /test?datastar={} HTTP/1.0\r\n\r\n", encode_query_component(one)));
    let head = old.head();
    assert_eq!((head.header("connection"), head.header("transfer-encoding")), (Some("close"), None));
    assert_eq!(old.read_to_end(), event);
}

#[test]
fn bad_or_missing_signals_get_a_clear_400() {
    let server = sdk_test_server::routes(Server::builder()).start().unwrap();
    let base = format!("http://{}/test", server.local_addr());
    let missing = agent().get(&base).call().unwrap();
    assert_eq!(missing.status(), 400);
    assert!(missing.into_body().read_to_string().unwrap().contains("no `events` array"), "no signals: an empty object");
    let invalid = agent().post(&base).send("{not json").unwrap();
    assert_eq!(invalid.status(), 400);
    let message = invalid.into_body().read_to_string().unwrap();
    assert!(message.contains("signals: invalid JSON at byte 1"), "{message}");
}

/// `HEAD` is a `GET` without the body: on a Datastar route that reads its signals from the query,
/// it reads them the same way and gets the head a `GET` gets.
#[test]
fn head_on_a_datastar_get_route_gets_the_head_a_get_gets() {
    let server = sdk_test_server::routes(Server::builder()).start().unwrap();
    let target = format!("/test?datastar={}", encode_query_component(INPUT));
    let mut client = RawClient::connect(server.local_addr());
    client.send(&format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n"));
    let get = client.head();
    assert_eq!(client.read_to_end(), EXPECTED);
    client.send(&format!("HEAD {target} HTTP/1.1\r\nHost: x\r\n\r\n"));
    let head = client.head_keeping_framing();
    assert_eq!(head, get, "the same status and fields");
}

/// An event id with a line break cannot be sent (it would end the field early): the test server
/// refuses such input with a clear `400`, instead of a `200` that silently stops at that event.
#[test]
fn an_event_id_that_cannot_be_sent_gets_a_clear_400() {
    let server = sdk_test_server::routes(Server::builder()).start().unwrap();
    let url = format!("http://{}/test", server.local_addr());
    for id in ["a\\nb", "a\\rb", "a\\u0000b"] {
        let input = format!(
            r#"{{"events":[{{"type":"patchSignals","signals":{{"a":1}}}},{{"type":"patchSignals","signals":{{"b":2}},"eventId":"{id}"}}]}}"#
        );
        let answer = agent().post(&url).send(input.as_str()).unwrap();
        assert_eq!(answer.status(), 400, "{id}");
        let message = answer.into_body().read_to_string().unwrap();
        assert!(message.contains("id"), "{id}: {message}");
    }
}

/// Signals nested to the JSON depth limit are read on the connection's own thread without
/// exhausting its stack; one level deeper is a clear error, never an abort.
#[test]
fn deeply_nested_signals_are_read_or_refused_never_abort() {
    let server = Server::builder()
        .route("/deep", |request: &Request| match datastar::read_signals(request) {
            Ok(signals) => Response::text(format!("{}\n", signals.to_string().len())),
            Err(error) => Response::text(format!("{error}\n")).with_status(400),
        })
        .start()
        .unwrap();
    let url = format!("http://{}/deep", server.local_addr());
    let nested = |depth: usize| "{\"a\":".repeat(depth) + "1" + &"}".repeat(depth);
    for depth in [48, bare_sse::json::DEFAULT_MAX_DEPTH] {
        let answer = agent().post(&url).send(nested(depth).as_str()).unwrap();
        assert_eq!(answer.status(), 200, "depth {depth}");
    }
    let too_deep = agent().post(&url).send(nested(bare_sse::json::DEFAULT_MAX_DEPTH + 1).as_str()).unwrap();
    assert_eq!(too_deep.status(), 400);
    assert!(too_deep.into_body().read_to_string().unwrap().contains("depth"));
}

fn request(raw: &str) -> Request {
    let Ok(Parsed::Complete { head, consumed }) = parse_request_head(raw.as_bytes(), &HeadLimits::default()) else {
        panic!("bad test request")
    };
    Request::new(head, raw.as_bytes()[consumed..].to_vec())
}

#[test]
fn read_signals_by_method() {
    let get = request("GET /a?datastar=%7B%22n%22%3A1%7D HTTP/1.1\r\nHost: x\r\ndatastar-request: true\r\n\r\n");
    assert_eq!(datastar::read_signals(&get).unwrap().to_string(), r#"{"n":1}"#);
    assert!(datastar::is_datastar_request(&get));
    let post = request("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n{\"n\":2}");
    assert_eq!(datastar::read_signals(&post).unwrap().to_string(), r#"{"n":2}"#);
    assert!(!datastar::is_datastar_request(&post));
    let delete_with_body_only = request("DELETE /a HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n{\"id\":3} ");
    assert_eq!(datastar::read_signals(&delete_with_body_only).unwrap().to_string(), "{}", "DELETE reads the query");
    let delete_query = request("DELETE /a?datastar=%7B%22id%22%3A4%7D HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(datastar::read_signals(&delete_query).unwrap().to_string(), r#"{"id":4}"#, "DELETE reads the query");
    let query_method = request("QUERY /a HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n{\"q\":5}");
    assert_eq!(datastar::read_signals(&query_method).unwrap().to_string(), r#"{"q":5}"#);
    let get_with_body_only = request("GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
    assert_eq!(datastar::read_signals(&get_with_body_only).unwrap().to_string(), "{}", "GET reads the query only");
    let empty_post = request("POST /a HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(datastar::read_signals(&empty_post).unwrap().to_string(), "{}", "no signals: an empty object");
    let invalid = request("PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n{x}");
    let error = datastar::read_signals(&invalid).unwrap_err();
    assert!(matches!(&error, bare_sse::Error::InvalidJson { source, .. } if source.position == 1), "{error}");
}

#[test]
fn two_threads_sending_on_one_datastar_stream_never_interleave() {
    let server = Server::builder()
        .route("/", |_: &Request| {
            datastar::response(|stream| {
                let senders: Vec<_> = ["a", "b"]
                    .into_iter()
                    .map(|tag| {
                        let stream = stream.clone();
                        thread::spawn(move || {
                            for i in 0..200 {
                                let html = format!("<ul id=\"{tag}\">\n<li>{tag}{i}</li>\n</ul>");
                                stream.patch_elements(&html, ElementOptions::new()).unwrap();
                            }
                        })
                    })
                    .collect();
                for sender in senders {
                    sender.join().unwrap();
                }
            })
        })
        .start()
        .unwrap();
    let mut body = String::new();
    agent()
        .get(&format!("http://{}/", server.local_addr()))
        .call()
        .unwrap()
        .into_body()
        .into_reader()
        .read_to_string(&mut body)
        .unwrap();
    let events = events_of(&body);
    assert_eq!(events.len(), 400);
    for event in events {
        let lines: Vec<&str> = event.data.lines().collect();
        assert_eq!(lines.len(), 3, "{:?}", event.data);
        let tag = &lines[0]["elements <ul id=\"".len()..][..1];
        assert!(
            lines[1].starts_with(&format!("elements <li>{tag}")) && lines[2] == "elements </ul>",
            "{:?}",
            event.data
        );
    }
}

#[test]
fn counter_app_with_browser_shaped_requests() {
    let server = counter::routes(Server::builder(), counter::App::new()).start().unwrap();
    let base = format!("http://{}", server.local_addr());
    let page = agent().get(&format!("{base}/")).call().unwrap().into_body().read_to_string().unwrap();
    assert!(page.contains(datastar::CDN_URL) && page.contains("@post('/increment')"));

    // The page's stream of updates, opened as Datastar opens it: a GET carrying the signals.
    let signals = encode_query_component(r#"{"step":1,"todo":""}"#);
    let mut updates =
        RawClient::stream(server.local_addr(), &format!("/updates?datastar={signals}"), "datastar-request: true\r\n");
    let post = |path: &str, json: &str| {
        agent()
            .post(&format!("{base}{path}"))
            .header("Content-Type", "application/json")
            .header("datastar-request", "true")
            .send(json)
            .unwrap()
    };
    // The region is in the history from the start: a page (re)connecting to a new run gets it.
    let initial = updates.next_block();
    assert_eq!(initial.data(), "elements <span id=\"count\">0</span>\nelements <ul id=\"todos\"></ul>");
    let incremented = post("/increment", r#"{"step":5,"todo":""}"#);
    assert_eq!(incremented.status(), 204);
    let region = updates.next_block();
    assert_eq!(
        region.data(),
        "elements <span id=\"count\">5</span>\nelements <ul id=\"todos\"></ul>",
        "one event, whole region"
    );
    assert!(region.get("id").is_some(), "with an id, so it is kept for later pages");

    let added = post("/todos", r#"{"step":5,"todo":"buy <milk>"}"#);
    assert_eq!(added.headers()["content-type"], "application/json");
    let reply = added.into_body().read_to_string().unwrap();
    assert_eq!(reply, r#"{"todo":""}"#, "the input is cleared");
    let latest = "elements <span id=\"count\">5</span>\nelements <ul id=\"todos\"><li>buy &lt;milk&gt;</li></ul>";
    assert_eq!(updates.next_block().data(), latest);

    // A page that opens (or reconnects) later gets the latest region at once.
    let mut later = RawClient::stream(server.local_addr(), "/updates", "datastar-request: true\r\n");
    assert_eq!(later.next_block().data(), latest);

    let rejected = post("/todos", r#"{"todo":"   "}"#).into_body().read_to_string().unwrap();
    assert!(rejected.contains("console.error"), "{rejected}");
    assert_eq!(post("/increment", "not json").status(), 400);
}

#[test]
fn counter_app_can_serve_a_local_copy_of_datastar() {
    let app = counter::App::new().with_local_datastar("/* datastar */".to_string());
    let server = counter::routes(Server::builder(), app).start().unwrap();
    let base = format!("http://{}", server.local_addr());
    let page = agent().get(&format!("{base}/")).call().unwrap().into_body().read_to_string().unwrap();
    assert!(page.contains(r#"src="/datastar.js""#) && !page.contains(datastar::CDN_URL), "{page}");
    let mut script = agent().get(&format!("{base}/datastar.js")).call().unwrap();
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(script.body_mut().read_to_string().unwrap(), "/* datastar */");
}

#[test]
fn counter_app_says_which_datastar_it_loads_and_how_to_give_a_local_copy() {
    let from_cdn = counter::App::new().datastar_note();
    assert!(from_cdn.contains(datastar::CDN_URL) && from_cdn.contains("DATASTAR_JS=path/to/datastar.js"), "{from_cdn}");
    let local = counter::App::new().with_local_datastar(String::new()).datastar_note();
    assert!(local.contains("local copy") && !local.contains(datastar::CDN_URL), "{local}");
    // The page says so itself when the library does not load.
    let server = counter::routes(Server::builder(), counter::App::new()).start().unwrap();
    let page = agent().get(&format!("http://{}/", server.local_addr())).call().unwrap();
    let page = page.into_body().read_to_string().unwrap();
    assert!(page.contains("onerror=") && page.contains("Datastar did not load"), "{page}");
}

#[test]
fn plain_responses_and_hubs_still_work_next_to_datastar() {
    let hub = bare_sse::Hub::new();
    hub.send_new_event(bare_sse::Event::new().data("from the hub").with_id()).unwrap();
    let server = Server::builder()
        .route("/ok", |_: &Request| Response::text("ok"))
        .route_hub("/events", hub.clone())
        .route("/ds", |_: &Request| datastar::response(|stream| stream.console_log("hi").unwrap()))
        .start()
        .unwrap();
    let base = format!("http://{}", server.local_addr());
    assert_eq!(agent().get(&format!("{base}/ok")).call().unwrap().into_body().read_to_string().unwrap(), "ok");
    let datastar_body = agent().get(&format!("{base}/ds")).call().unwrap().into_body().read_to_string().unwrap();
    assert_eq!(events_of(&datastar_body).len(), 1);
    let mut events = RawClient::stream(server.local_addr(), "/events", "");
    assert_eq!(events.next_block().data(), "from the hub");
}

#[test]
fn sdk_test_input_builds_events_in_order() {
    let input = bare_sse::json::parse(
        r##"{"events": [
            {"type": "patchElements", "elements": "<div id=\"a\"></div>", "mode": "append", "selector": "#b"},
            {"type": "patchSignals", "signals-raw": "{\"x\":\n1}", "eventId": "7"},
            {"type": "executeScript", "script": "go()", "autoRemove": false, "attributes": {"type": "module"}},
            {"type": "removeSignals", "paths": ["a.b"]}
        ]}"##,
    )
    .unwrap();
    let wires: Vec<String> = sdk_test_server::events_from_test_input(&input)
        .unwrap()
        .iter()
        .map(|e| String::from_utf8(e.to_bytes().unwrap()).unwrap())
        .collect();
    assert_eq!(
        wires[0],
        "event: datastar-patch-elements\ndata: mode append\ndata: selector #b\ndata: elements <div id=\"a\"></div>\n\n"
    );
    assert_eq!(wires[1], "event: datastar-patch-signals\nid: 7\ndata: signals {\"x\":\ndata: signals 1}\n\n");
    assert!(wires[2].ends_with("data: elements <script type=\"module\">go()</script>\n\n"));
    assert_eq!(wires[3], "event: datastar-patch-signals\ndata: signals {\"a\":{\"b\":null}}\n\n");
    assert!(sdk_test_server::events_from_test_input(
        &bare_sse::json::parse(r#"{"events":[{"type":"nope"}]}"#).unwrap()
    )
    .is_err());
    assert!(sdk_test_server::events_from_test_input(&bare_sse::json::parse("{}").unwrap()).is_err());
}

#[test]
fn one_shot_responses_carry_their_options_in_datastar_headers() {
    use bare_sse::datastar::{html_response, script_response, signals_response, Mode, Namespace, SignalOptions};
    let server = Server::builder()
        .route("/html", |_: &Request| {
            let options = ElementOptions::new()
                .selector("#list")
                .mode(Mode::Append)
                .namespace(Namespace::Svg)
                .use_view_transition(true);
            html_response("<circle id=\"c\"/>", options).unwrap()
        })
        .route("/html-defaults", |_: &Request| html_response("<p id=\"p\"></p>", ElementOptions::new()).unwrap())
        .route("/json", |_: &Request| {
            signals_response(r#"{"count": 2}"#, SignalOptions::new().only_if_missing(true)).unwrap()
        })
        .route("/js", |_: &Request| script_response("go()", &[("type", "module"), ("data-x", "a\"b")]).unwrap())
        .start()
        .unwrap();
    let get = |path: &str| {
        let mut response = agent().get(&format!("http://{}{path}", server.local_addr())).call().unwrap();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter(|(name, _)| name.as_str().starts_with("datastar-") || name.as_str() == "content-type")
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_string()))
            .collect();
        (headers, response.body_mut().read_to_string().unwrap())
    };
    let pairs = |list: &[(&str, &str)]| list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect::<Vec<_>>();
    assert_eq!(
        get("/html"),
        (
            pairs(&[
                ("content-type", "text/html; charset=utf-8"),
                ("datastar-selector", "#list"),
                ("datastar-mode", "append"),
                ("datastar-namespace", "svg"),
                ("datastar-use-view-transition", "true"),
            ]),
            "<circle id=\"c\"/>".to_string()
        )
    );
    assert_eq!(get("/html-defaults").0, pairs(&[("content-type", "text/html; charset=utf-8")]), "defaults stay off");
    assert_eq!(
        get("/json"),
        (
            pairs(&[("content-type", "application/json"), ("datastar-only-if-missing", "true")]),
            r#"{"count": 2}"#.to_string()
        )
    );
    assert_eq!(
        get("/js"),
        (
            pairs(&[
                ("content-type", "text/javascript; charset=utf-8"),
                ("datastar-script-attributes", r#"{"type":"module","data-x":"a\"b"}"#),
            ]),
            "go()".to_string()
        )
    );
}

#[test]
fn one_shot_options_that_would_break_a_header_are_errors() {
    use bare_sse::datastar::{html_response, script_response};
    assert!(html_response("<p></p>", ElementOptions::new().selector("#a\r\nSet-Cookie: x=1")).is_err());
    assert!(script_response("x", &[("on load", "x")]).is_err());
}

/// A short Datastar answer on the wire: its head, the server's `retry:` line and its event leave
/// in one write, so a client's first read holds them all (on loopback, one write arrives whole);
/// an answer of events complete at once, and a plain response, leave whole. Both on a fresh
/// connection and on one kept from the answer before.
#[test]
fn an_action_answers_its_head_and_event_in_one_write() {
    let server = Server::builder()
        .retry(Some(std::time::Duration::from_millis(1500)))
        .route("/action", |_: &Request| {
            datastar::response(|stream| {
                let _ = stream.patch_signals(r#"{"n":1}"#, Default::default());
            })
        })
        .route("/events", |_: &Request| {
            datastar::events_response(&[datastar::patch_signals(r#"{"n":1}"#, Default::default()).unwrap()]).unwrap()
        })
        .route("/text", |_: &Request| Response::text("done"))
        .start()
        .unwrap();
    let mut socket = std::net::TcpStream::connect(server.local_addr()).unwrap();
    socket.set_read_timeout(Some(common::READ_TIMEOUT)).unwrap();
    let (retry, event) = ("retry: 1500\n", "event: datastar-patch-signals\ndata: signals {\"n\":1}\n\n");
    let chunk = |text: &str| format!("{:x}\r\n{text}\r\n", text.len());
    for path in ["/action", "/action", "/text", "/events", "/action", "/events"] {
        std::io::Write::write_all(&mut socket, format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
        let mut buffer = vec![0u8; 8192];
        let n = socket.read(&mut buffer).unwrap();
        let mut answer = String::from_utf8_lossy(&buffer[..n]).into_owned();
        let (head, body) = answer.split_once("\r\n\r\n").expect("the whole head in the first read");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head:?}");
        match path {
            "/text" => {
                assert_eq!(body, "done", "the whole response in the first read");
                continue;
            }
            "/events" => {
                assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", retry.len() + event.len())), "{head:?}");
                assert_eq!(body, format!("{retry}{event}"), "the whole answer in the first read");
                continue;
            }
            _ => {}
        }
        let first = format!("{}{}", chunk(retry), chunk(event));
        assert!(body.starts_with(&first), "{path}: the retry and the event in the first read, with the head: {body:?}");
        // The body's end leaves once the handler has returned, perhaps in a write of its own.
        while !answer.ends_with("\r\n0\r\n\r\n") {
            let n = socket.read(&mut buffer).unwrap();
            assert!(n > 0, "the connection ended inside the body");
            answer.push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
    }
}

/// A Datastar handler that runs long streams each event as it sends it: the first reaches the
/// client while the handler still waits for the client's word to send the second.
#[test]
fn a_datastar_handler_streams_each_event_as_it_sends_it() {
    let (go, gone_ahead) = std::sync::mpsc::channel::<()>();
    let gone_ahead = std::sync::Arc::new(std::sync::Mutex::new(gone_ahead));
    let server = Server::builder()
        .route("/steps", move |_: &Request| {
            let gone_ahead = std::sync::Arc::clone(&gone_ahead);
            datastar::response(move |stream| {
                let _ = stream.patch_signals(r#"{"step":1}"#, Default::default());
                let _ = gone_ahead.lock().unwrap().recv();
                let _ = stream.patch_signals(r#"{"step":2}"#, Default::default());
            })
        })
        .start()
        .unwrap();
    let mut client = RawClient::get(server.local_addr(), "/steps", "");
    assert_eq!(client.head().status, 200);
    assert_eq!(client.next_block().data(), r#"signals {"step":1}"#);
    go.send(()).unwrap();
    assert_eq!(client.next_block().data(), r#"signals {"step":2}"#);
    client.read_to_end();
    assert!(client.ended_with_last_chunk());
}

/// A Datastar handler that waits before its first event still shows its client the head (once it
/// has lasted a moment): the head waits for the first event only while the answer may be short.
/// And a client that leaves it then is noticed, with nothing sent.
#[test]
fn a_datastar_handler_that_waits_before_its_first_event_shows_its_head_and_notices_departure() {
    let (go, gone_ahead) = std::sync::mpsc::channel::<()>();
    let gone_ahead = std::sync::Arc::new(std::sync::Mutex::new(gone_ahead));
    let (closed, was_closed) = std::sync::mpsc::channel::<()>();
    let closed = std::sync::Mutex::new(closed);
    let server = Server::builder()
        .route("/later", move |_: &Request| {
            let gone_ahead = std::sync::Arc::clone(&gone_ahead);
            datastar::response(move |stream| {
                let _ = gone_ahead.lock().unwrap().recv();
                let _ = stream.patch_signals(r#"{"late":true}"#, Default::default());
            })
        })
        .route("/forever", move |_: &Request| {
            let closed = closed.lock().unwrap().clone();
            datastar::response(move |stream| {
                stream.on_close(move || closed.send(()).unwrap());
                stream.wait_closed(None);
            })
        })
        .start()
        .unwrap();
    let mut client = RawClient::get(server.local_addr(), "/later", "");
    assert_eq!(client.head().status, 200, "the head, before any event");
    go.send(()).unwrap();
    assert_eq!(client.next_block().data(), r#"signals {"late":true}"#);
    // Gone after the head, before any event.
    let mut client = RawClient::get(server.local_addr(), "/forever", "");
    assert_eq!(client.head().status, 200);
    drop(client);
    was_closed.recv_timeout(common::READ_TIMEOUT).expect("the departure noticed");
}
