//! The Mercure hub over real sockets: publishing, subscribing, authorization and reconciliation,
//! each test naming the section of the Mercure draft (draft-dunglas-mercure-08) whose rule it
//! checks.

mod common;

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use bare_sse::http::encode_query_component;
use bare_sse::json::{self, Value};
use bare_sse::jwt::{self, Hs256Key};
use bare_sse::mercure::{Mercure, MercureBuilder};
use bare_sse::{Hub, Server};
use common::{agent, RawClient, READ_TIMEOUT};

const KEY: &str = "!ChangeThisMercureHubJWTSecretKey!";
const AUDIENCE: &str = "https://localhost/.well-known/mercure";
const ISSUER: &str = "https://localhost";
const HUB: &str = "/.well-known/mercure";

struct Running {
    mercure: Mercure,
    server: Server,
}

impl Running {
    fn start(builder: MercureBuilder) -> Running {
        let mercure = builder.build().unwrap();
        let server = mercure.install(Server::builder().hub(mercure.hub().clone())).start().unwrap();
        Running { mercure, server }
    }

    fn standard() -> Running {
        Running::start(Mercure::builder().jwt_key(KEY).audience(AUDIENCE).issuer(ISSUER).anonymous(true))
    }

    fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    fn hub(&self) -> &Hub {
        self.mercure.hub()
    }

    /// Publishes a form; the status and the body.
    fn publish(&self, token: Option<&str>, form: &str) -> (u16, String, Option<String>) {
        let mut request = agent()
            .post(&format!("http://{}{HUB}", self.addr()))
            .header("Content-Type", "application/x-www-form-urlencoded");
        if let Some(token) = token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        let mut response = request.send(form).unwrap();
        let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string());
        let status = response.status().as_u16();
        (status, response.body_mut().read_to_string().unwrap(), challenge)
    }

    /// A subscriber, with its response head read and checked to be 200, joined to the hub.
    fn subscribe(&self, query: &str, headers: &str) -> RawClient {
        let before = self.hub().clients();
        let client = RawClient::stream(self.addr(), &format!("{HUB}?{query}"), headers);
        assert!(self.hub().wait_until_clients(|n| n > before, READ_TIMEOUT));
        client
    }
}

/// A token of the standard issuer and audience with these grants, expiring at `exp`.
fn token_until(grants: &str, exp: u64) -> String {
    let claims = format!(r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","exp":{exp},"authorization_details":[{grants}]}}"#);
    jwt::sign_hs256(&Hs256Key::new(KEY).unwrap(), jwt::ACCESS_TOKEN_TYPE, &json::parse(&claims).unwrap())
}

fn token(grants: &str) -> String {
    token_until(grants, 4_102_444_800)
}

fn grant(action: &str, matcher: &str) -> String {
    format!(r#"{{"type":"https://mercure.rocks/authorization-detail","actions":["{action}"],"topics":[{matcher}]}}"#)
}

fn publisher() -> String {
    token(&grant("publish", r#"{"match":"*"}"#))
}

/// The `exp` of a token this file made.
fn now_seconds_of_expiry(token: &str) -> u64 {
    let claims = token.split('.').nth(1).unwrap();
    let claims = json::parse(std::str::from_utf8(&jwt::base64url::decode(claims).unwrap()).unwrap()).unwrap();
    claims.get("exp").and_then(Value::as_i64).unwrap() as u64
}

fn now_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn an_update_reaches_the_subscribers_whose_matchers_select_it_once_and_in_order() {
    // "Subscription": every topic matching at least one matcher; "Publication": an update goes
    // to subscribers matching any of its topics.
    let hub = Running::standard();
    let mut exact = hub.subscribe("match=a&match=b", "");
    let mut pattern = hub.subscribe(&format!("match_urlpattern={}", "https%3A%2F%2Fexample.com%2Fbooks%2F%3Aid"), "");
    for form in [
        "topic=a&data=1",
        "topic=c&data=2",
        "topic=https%3A%2F%2Fexample.com%2Fbooks%2F7&data=3",
        "topic=a&topic=b&data=4",
        "topic=https%3A%2F%2Fexample.com%2Fbooks%2F7%2Fpages&data=5",
        "topic=b&topic=https%3A%2F%2Fexample.com%2Fbooks%2F8&data=6",
    ] {
        assert_eq!(hub.publish(Some(&publisher()), form).0, 200, "{form}");
    }
    for expected in ["1", "4", "6"] {
        assert_eq!(exact.next_block().data(), expected);
    }
    for expected in ["3", "6"] {
        assert_eq!(pattern.next_block().data(), expected);
    }
}

#[test]
fn publishing_answers_200_with_the_id_as_plain_text_and_honours_the_publishers_id() {
    // "Publication": 200, `text/plain; charset=utf-8`, the body is the update's id.
    let hub = Running::standard();
    let mut subscriber = hub.subscribe("match=t", "");
    let (status, id, _) = hub.publish(Some(&publisher()), "topic=t&data=x&id=urn%3Aevent%3A1&type=book&retry=1500");
    assert_eq!((status, id.as_str()), (200, "urn:event:1"));
    let block = subscriber.next_block();
    assert_eq!(
        (block.get("id"), block.get("event"), block.get("retry"), block.data().as_str()),
        (Some("urn:event:1"), Some("book"), Some("1500"), "x")
    );
    // A generated id is a fragment (or an IRI), as the protocol asks.
    let (status, generated, _) = hub.publish(Some(&publisher()), "topic=t&data=y");
    assert_eq!(status, 200);
    assert!(generated.starts_with('#') && generated.len() > 1, "{generated}");
    assert_eq!(subscriber.next_block().get("id"), Some(generated.as_str()));
    // Data is split on every line break, one `data:` field per line.
    hub.publish(Some(&publisher()), "topic=t&data=one%0D%0Atwo%0Dthree%0A++four");
    assert_eq!(subscriber.next_block().data(), "one\ntwo\nthree\n  four");
}

#[test]
fn a_private_update_reaches_only_subscribers_whose_token_grants_one_of_its_topics() {
    // "Subscribers": a private update needs a `subscribe` grant matching one of its topics; the
    // routing matchers never widen what a subscriber may read.
    let hub = Running::standard();
    let mut anonymous = hub.subscribe("match=t", "");
    let reader = token(&grant("subscribe", r#"{"match":"t"}"#));
    let mut granted = hub.subscribe("match=t", &format!("Authorization: Bearer {reader}\r\n"));
    let other = token(&grant("subscribe", r#"{"match":"u"}"#));
    let mut not_granted = hub.subscribe("match=t", &format!("Authorization: Bearer {other}\r\n"));
    let alternate = token(&grant("subscribe", r#"{"match":"/users/42/{*}?","match_type":"urlpattern"}"#));
    let mut by_alternate = hub.subscribe("match=t", &format!("Authorization: Bearer {alternate}\r\n"));

    hub.publish(Some(&publisher()), "topic=t&data=private&private=on");
    hub.publish(Some(&publisher()), "topic=t&topic=%2Fusers%2F42%2Fbooks%2F1&data=private-alternate&private");
    hub.publish(Some(&publisher()), "topic=t&data=public");
    assert_eq!(anonymous.next_block().data(), "public");
    assert_eq!(not_granted.next_block().data(), "public");
    assert_eq!(granted.next_block().data(), "private");
    assert_eq!(granted.next_block().data(), "private-alternate");
    assert_eq!(granted.next_block().data(), "public");
    assert_eq!(by_alternate.next_block().data(), "private-alternate");
    assert_eq!(by_alternate.next_block().data(), "public");
}

#[test]
fn the_cookie_carries_a_browsers_token_and_the_header_wins_over_it() {
    // "Presenting the Access Token": the cookie when there is no Authorization header.
    let hub = Running::standard();
    let reader = token(&grant("subscribe", r#"{"match":"*"}"#));
    let mut by_cookie = hub.subscribe("match=t", &format!("Cookie: a=b; __Secure-mercure_access_token={reader}\r\n"));
    hub.publish(Some(&publisher()), "topic=t&data=private&private");
    assert_eq!(by_cookie.next_block().data(), "private");
    // A bad cookie with a good header: the header's token is used.
    let mut both = RawClient::get(
        hub.addr(),
        &format!("{HUB}?match=t"),
        &format!("Cookie: __Secure-mercure_access_token=bad\r\nAuthorization: Bearer {reader}\r\n"),
    );
    assert_eq!(both.head().status, 200);
}

#[test]
fn refusals_are_the_statuses_and_challenges_the_spec_names() {
    // "Error Responses".
    let hub = Running::start(Mercure::builder().jwt_key(KEY).audience(AUDIENCE).issuer(ISSUER));
    let (status, _, challenge) = hub.publish(None, "topic=t&data=x");
    assert_eq!(status, 401);
    let challenge = challenge.unwrap();
    assert!(challenge.starts_with("Bearer") && !challenge.contains("error="), "{challenge}");
    assert!(challenge
        .contains("resource_metadata=\"https://localhost/.well-known/oauth-protected-resource/.well-known/mercure\""));

    let wrong_key = jwt::sign_hs256(
        &Hs256Key::new("another key of at least thirty-two bytes").unwrap(),
        jwt::ACCESS_TOKEN_TYPE,
        &json::parse(&format!(r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","exp":4102444800}}"#)).unwrap(),
    );
    let expired = token_until(&grant("publish", r#"{"match":"*"}"#), now_seconds() - 10);
    let wrong_audience = jwt::sign_hs256(
        &Hs256Key::new(KEY).unwrap(),
        jwt::ACCESS_TOKEN_TYPE,
        &json::parse(&format!(r#"{{"iss":"{ISSUER}","aud":"https://other","exp":4102444800}}"#)).unwrap(),
    );
    let plain_jwt_type = jwt::sign_hs256(
        &Hs256Key::new(KEY).unwrap(),
        "JWT",
        &json::parse(&format!(r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","exp":4102444800}}"#)).unwrap(),
    );
    let bad_pattern = token(&grant("publish", r#"{"match":"(a|","match_type":"urlpattern"}"#));
    let unknown_type = token(&grant("publish", r#"{"match":"a","match_type":"regex"}"#));
    for bad in [wrong_key, expired, wrong_audience, plain_jwt_type, bad_pattern, unknown_type, "x.y.z".to_string()] {
        let (status, _, challenge) = hub.publish(Some(&bad), "topic=t&data=x");
        assert_eq!(status, 401, "{bad}");
        assert!(challenge.unwrap().contains("error=\"invalid_token\""));
    }

    // A valid token that does not grant every topic: nothing is dispatched.
    let only_a = token(&grant("publish", r#"{"match":"a"}"#));
    let (status, _, challenge) = hub.publish(Some(&only_a), "topic=a&topic=b&data=x");
    assert_eq!(status, 403);
    assert!(challenge.unwrap().contains("error=\"insufficient_scope\""));
    assert_eq!(hub.hub().stats().events_sent, 0, "no refused update was published");

    // A malformed presentation.
    let mut basic = RawClient::get(hub.addr(), &format!("{HUB}?match=t"), "Authorization: Basic dXNlcg==\r\n");
    let head = basic.head();
    assert_eq!(head.status, 400);
    assert!(head.header("www-authenticate").unwrap().contains("invalid_request"));

    // Subscribers need a token unless the hub lets anonymous ones in.
    let mut anonymous = RawClient::get(hub.addr(), &format!("{HUB}?match=t"), "");
    let head = anonymous.head();
    assert_eq!(head.status, 401);
    assert!(head.header("www-authenticate").unwrap().starts_with("Bearer"));
}

#[test]
fn malformed_publications_and_subscriptions_get_400_or_413() {
    // "Publication" and "Subscription": field rules, the reserved namespace and the `match`
    // namespace.
    let hub = Running::standard();
    for form in [
        "data=no+topic",
        "topic=*",
        "topic=%2F.well-known%2Fmercure%2Fsubscriptions%2Fx",
        "topic=https%3A%2F%2Fhub%2F.well-known%2F%256Dercure",
        "topic=t&type=mercure",
        "topic=t&id=%23mine",
        "topic=t&id=earliest",
        "topic=t&retry=1s",
        "topic=a%E2%80%8Bb",
    ] {
        assert_eq!(hub.publish(Some(&publisher()), form).0, 400, "{form}");
    }
    let too_many: String =
        (0..=bare_sse::mercure::publish::MAX_TOPICS_PER_UPDATE).map(|n| format!("topic=t{n}&")).collect();
    assert_eq!(hub.publish(Some(&publisher()), &too_many).0, 413);
    assert_eq!(hub.hub().stats().events_sent, 0, "no refused update was published");

    for query in ["", "match_regex=a", "MATCH_x=a", "matchy=a", "match_urlpattern=(a%7C", "match=a%00b", "topic=a"] {
        let mut client = RawClient::get(hub.addr(), &format!("{HUB}?{query}"), "");
        assert_eq!(client.head().status, 400, "{query:?}");
    }
}

#[test]
fn a_subscriber_resumes_after_its_last_event_id_and_is_told_where() {
    // "Reconnection, State Reconciliation": `Last-Event-ID` wins over `last_event_id`; the
    // response says where the replay starts (`Mercure-Last-Event-ID`), `earliest` when the id is
    // unknown.
    let hub = Running::standard();
    let publish = |topic: &str, data: &str| hub.publish(Some(&publisher()), &format!("topic={topic}&data={data}")).1;
    let first = publish("t", "1");
    publish("u", "2");
    let third = publish("t", "3");
    publish("t", "4");

    let mut by_query =
        RawClient::get(hub.addr(), &format!("{HUB}?match=t&last_event_id={}", encode_query_component(&first)), "");
    let head = by_query.head();
    assert_eq!(head.header("mercure-last-event-id"), Some(first.as_str()));
    assert_eq!(by_query.next_block().data(), "3");
    assert_eq!(by_query.next_block().data(), "4");

    let mut header_wins = RawClient::get(
        hub.addr(),
        &format!("{HUB}?match=t&last_event_id={first}"),
        &format!("Last-Event-ID: {third}\r\n"),
    );
    assert_eq!(header_wins.head().header("mercure-last-event-id"), Some(third.as_str()));
    assert_eq!(header_wins.next_block().data(), "4");

    let mut unknown = RawClient::get(hub.addr(), &format!("{HUB}?match=t&last_event_id=never-seen"), "");
    assert_eq!(unknown.head().header("mercure-last-event-id"), Some("earliest"));

    // Without a cursor, no replay: the first event is the next one published.
    let mut no_cursor = RawClient::get(hub.addr(), &format!("{HUB}?match=t"), "");
    assert_eq!(no_cursor.head().header("mercure-last-event-id"), None);
    assert!(hub.hub().wait_until_clients(|n| n == 4, READ_TIMEOUT));
    publish("t", "5");
    assert_eq!(no_cursor.next_block().data(), "5");
}

#[test]
fn a_subscribers_connection_ends_by_its_tokens_expiry() {
    // "Subscribers": the hub closes the connection no later than the token's `exp`.
    let hub = Running::standard();
    let soon = token_until(&grant("subscribe", r#"{"match":"*"}"#), now_seconds() + 2);
    let mut client = hub.subscribe("match=t", &format!("Authorization: Bearer {soon}\r\n"));
    // Live until then.
    assert!(hub.hub().wait_until_clients(|n| n == 1, READ_TIMEOUT));
    assert_eq!(hub.publish(Some(&publisher()), "topic=t&data=live").0, 200);
    assert_eq!(client.next_block().data(), "live");
    // The connection ends (every read has a timeout far past the token's two seconds), at `exp`:
    // not before it (the clocks' conversion aside), and not long after it (a loaded machine
    // aside).
    client.read_to_end();
    let ended = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let expiry = now_seconds_of_expiry(&soon) as f64;
    assert!(ended >= expiry - 0.25, "it ended {:.2} s before the token expired", expiry - ended);
    assert!(ended <= expiry + 5.0, "it ended {:.2} s after the token expired", ended - expiry);
    assert!(hub.hub().wait_until_clients(|n| n == 0, READ_TIMEOUT));
}

#[test]
fn the_protected_resource_metadata_names_the_resource_and_the_cookie() {
    // "Protected Resource Metadata": `resource` is required.
    let hub = Running::standard();
    let mut response =
        agent().get(&format!("http://{}/.well-known/oauth-protected-resource{HUB}", hub.addr())).call().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let document = json::parse(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(document.get("resource"), Some(&Value::from(AUDIENCE)));
    assert_eq!(document.get("mercure_cookie"), Some(&Value::from("__Secure-mercure_access_token")));
    let page = agent().get(&format!("http://{}/", hub.addr())).call().unwrap();
    assert_eq!(page.status().as_u16(), 200);
}

#[test]
fn credentialed_cors_is_for_listed_origins_only() {
    // "Subscription": with credentials, never `*`, never an origin reflected from the request.
    let hub = Running::start(
        Mercure::builder().jwt_key(KEY).audience(AUDIENCE).anonymous(true).cors_origin("https://app.example"),
    );
    let mut listed = RawClient::get(hub.addr(), &format!("{HUB}?match=t"), "Origin: https://app.example\r\n");
    let head = listed.head();
    assert_eq!(head.header("access-control-allow-origin"), Some("https://app.example"));
    assert_eq!(head.header("access-control-allow-credentials"), Some("true"));
    let mut other = RawClient::get(hub.addr(), &format!("{HUB}?match=t"), "Origin: https://evil.example\r\n");
    assert_eq!(other.head().header("access-control-allow-origin"), None);
}

#[test]
fn a_stream_opens_with_a_comment_once_the_subscriber_has_joined() {
    // "Subscription": a comment is a keep-alive; sent first, it shows the stream open at once.
    let hub = Running::standard();
    let mut client = RawClient::get(hub.addr(), &format!("{HUB}?match=t"), "");
    assert_eq!(client.head().status, 200);
    assert_eq!(client.read_through("\n"), ":\n");
    assert_eq!(hub.hub().clients(), 1);
}

#[test]
fn two_hubs_on_one_redis_stream_hand_a_subscriber_over_with_its_private_updates() {
    // "Reconnection, State Reconciliation": a subscriber that moves to another hub of the same
    // stream with its last id gets exactly what it missed, private updates it may read included.
    let Some(redis) = common::redis::RedisServer::start() else { return };
    let on_redis = |history: usize| {
        let hub = Hub::builder().history_events(history).redis(&redis.url(), "mercure").unwrap();
        Running::start(Mercure::builder().jwt_key(KEY).audience(AUDIENCE).issuer(ISSUER).hub(hub))
    };
    // B keeps two updates in history: the moving subscriber's replay comes from the stream.
    let (a, b) = (on_redis(1000), on_redis(2));
    for running in [&a, &b] {
        assert!(running.hub().wait_until_following(READ_TIMEOUT));
    }
    let reader = token(&grant("subscribe", r#"{"match":"t"}"#));
    let auth = format!("Authorization: Bearer {reader}\r\n");
    let mut moving = a.subscribe("match=t", &auth);
    let forms = ["topic=t&data=0", "topic=u&data=1", "topic=t&data=2&private", "topic=t&topic=u&data=3"];
    let mut last_id = String::new();
    for form in forms {
        assert_eq!(a.publish(Some(&publisher()), form).0, 200, "{form}");
    }
    for expected in ["0", "2", "3"] {
        let block = moving.next_block();
        assert_eq!(block.data(), expected);
        last_id = block.get("id").unwrap().to_string();
    }
    drop(moving);
    let mut watcher = b.subscribe("match=t", &auth);
    for form in ["topic=t&data=4&private", "topic=u&data=5", "topic=t&data=6", "topic=t&data=7", "topic=t&data=8"] {
        assert_eq!(b.publish(Some(&publisher()), form).0, 200, "{form}");
    }
    // B's reader has them all once its own subscriber has.
    for expected in ["4", "6", "7", "8"] {
        assert_eq!(watcher.next_block().data(), expected);
    }
    let mut moved = RawClient::get(b.addr(), &format!("{HUB}?match=t"), &format!("{auth}Last-Event-ID: {last_id}\r\n"));
    assert_eq!(moved.head().header("mercure-last-event-id"), Some(last_id.as_str()));
    for expected in ["4", "6", "7", "8"] {
        assert_eq!(moved.next_block().data(), expected, "exactly what it missed, in order, once");
    }
    assert_eq!(b.hub().stats().resumed_from_redis, 1);
}
