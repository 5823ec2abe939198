//! What a Mercure access token grants: the topics its holder may publish to and subscribe to,
//! read from the claims of a token that [`crate::jwt`] has verified.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use bare_sse::{json, jwt};
//! use bare_sse::mercure::claims::{Action, Grants, TopicMatcher};
//!
//! // A hub checks the token as a JWT access token first: its signature, issuer, audience (the
//! // hub's resource identifier), type at+jwt, and expiry.
//! let key = jwt::Hs256Key::new("a secret of at least thirty-two bytes!")?;
//! let verifier = jwt::Verifier::for_issuer("https://example.com", key.clone())
//!     .audience("https://hub.example.com/.well-known/mercure")
//!     .token_type(jwt::ACCESS_TOKEN_TYPE);
//!
//! let token = jwt::sign_hs256(&key, jwt::ACCESS_TOKEN_TYPE, &json::parse(r#"{
//!     "iss": "https://example.com", "aud": "https://hub.example.com/.well-known/mercure",
//!     "exp": 1767225600,
//!     "authorization_details": [{
//!         "type": "https://mercure.rocks/authorization-detail",
//!         "actions": ["subscribe"],
//!         "topics": [{"match": "https://example.com/books/:id", "match_type": "urlpattern"}]
//!     }]
//! }"#)?);
//! let claims = verifier.verify(&token, UNIX_EPOCH + Duration::from_secs(1767225300))?;
//!
//! let grants = Grants::from_claims(&claims)?;
//! let subscribe: Vec<_> = grants.matchers(Action::Subscribe).collect();
//! assert_eq!(subscribe, [&TopicMatcher::UrlPattern("https://example.com/books/:id".into())]);
//! assert_eq!(grants.matchers(Action::Publish).count(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The rules, as the draft's section "Authorization Details" and those after it set them
//!
//! - Grants live in the `authorization_details` claim (RFC 9396), an array of objects, each with
//!   a string `type`. Only entries of type [`AUTHORIZATION_DETAIL_TYPE`] are Mercure's; entries
//!   of other types belong to other APIs and are skipped.
//! - A Mercure entry has a non-empty `actions` array of strings and a non-empty `topics` array
//!   of topic matcher objects, and may have a `payload` object. Actions other than `publish`
//!   and `subscribe` grant nothing and are skipped; they do not make the token invalid.
//! - A topic matcher object has a string `match` and may have a `match_type`: `exact` (the
//!   default) or `urlpattern`. Any other type makes the token invalid, since the hub cannot
//!   evaluate it. A `match` of `*` matches every topic, whatever its `match_type`.
//! - A token with no `authorization_details`, or none of Mercure's, grants nothing; an entry
//!   that breaks any rule above makes the whole token invalid (the hub answers 401
//!   `invalid_token`), never just that entry, since acting on the rest would change what the
//!   token grants.
//! - A publisher needs `publish` on every topic of an update; a subscriber receives a private
//!   update if it has `subscribe` on at least one of its topics. The `payload` of the first
//!   `subscribe` entry whose topics match a subscription's own matcher describes that
//!   subscription. Matching belongs to the topic matcher; this module only says what the token
//!   grants, in the token's order.
//!
//! The pre-standard form, a `mercure` claim with `publish` and `subscribe` arrays, is not read:
//! the draft mentions it only in its non-normative appendix on older deployments and does not
//! ask hubs to accept it. A token that carries only that claim grants nothing here.
//!
//! The draft asks hubs to limit how many entries and matchers a token may hold, and how long a
//! matcher may be; here the token's length limit ([`crate::jwt::Verifier::max_token_bytes`], 8
//! KiB by default) bounds all three. A `urlpattern` matcher is returned as written: whoever
//! compiles it must refuse the whole token if it does not compile, as for any other invalid
//! entry.

use std::fmt;

use crate::json::Value;
use crate::jwt::Claims;

/// The `type` of a Mercure authorization detail, compared byte for byte.
pub const AUTHORIZATION_DETAIL_TYPE: &str = "https://mercure.rocks/authorization-detail";

/// The reserved matcher that matches every topic.
pub const WILDCARD: &str = "*";

/// An operation a token can grant on topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// `publish`: send updates for the matching topics.
    Publish,
    /// `subscribe`: receive private updates for the matching topics.
    Subscribe,
}

impl Action {
    /// The action's name in a token's `actions`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Publish => "publish",
            Action::Subscribe => "subscribe",
        }
    }

    fn from_name(name: &str) -> Option<Action> {
        match name {
            "publish" => Some(Action::Publish),
            "subscribe" => Some(Action::Subscribe),
            _ => None,
        }
    }
}

/// A topic matcher from a token: which topics an entry's actions apply to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TopicMatcher {
    /// `*`: every topic, whatever the `match_type` said.
    Any,
    /// `match_type` `exact`, or none: the topic equal to this string byte for byte.
    Exact(String),
    /// `match_type` `urlpattern`: the topics this URL pattern (relative ones against the hub's
    /// URL) matches.
    UrlPattern(String),
}

impl TopicMatcher {
    /// The matcher as written in the token's `match` (`*` for [`TopicMatcher::Any`]). For
    /// choosing a subscription's payload, the draft matches a subscription's own matcher string
    /// as if it were a topic.
    pub fn as_str(&self) -> &str {
        match self {
            TopicMatcher::Any => WILDCARD,
            TopicMatcher::Exact(matcher) | TopicMatcher::UrlPattern(matcher) => matcher,
        }
    }
}

/// One Mercure authorization detail: actions granted on topics, and maybe a payload.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AuthorizationDetail {
    /// The actions this entry grants, in its order; actions this module does not know are left
    /// out, so this may be empty (the entry then grants nothing).
    pub actions: Vec<Action>,
    /// The topics they apply to, in the token's order; never empty.
    pub topics: Vec<TopicMatcher>,
    /// The entry's `payload`, always a JSON object: data describing a subscription, meaningful
    /// with the `subscribe` action only.
    pub payload: Option<Value>,
}

impl AuthorizationDetail {
    /// Whether this entry grants `action`.
    pub fn grants(&self, action: Action) -> bool {
        self.actions.contains(&action)
    }
}

/// Everything a token grants: its Mercure authorization details, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Grants {
    details: Vec<AuthorizationDetail>,
}

impl Grants {
    /// The grants of a verified token's claims; [`InvalidGrants`] if its `authorization_details`
    /// breaks a rule (see the [module documentation](self)), in which case the token must be
    /// refused as a whole.
    ///
    /// # Errors
    ///
    /// [`InvalidGrants`], naming the entry and the rule it breaks.
    pub fn from_claims(claims: &Claims) -> Result<Grants, InvalidGrants> {
        Grants::from_json(claims.as_json())
    }

    /// The same, from the claims as JSON (the tests feed claims with no token around them).
    fn from_json(claims: &Value) -> Result<Grants, InvalidGrants> {
        let entries = match claims.get("authorization_details") {
            None => return Ok(Grants::default()),
            Some(Value::Array(entries)) => entries,
            Some(_) => return Err(InvalidGrants { entry: None, reason: "authorization_details must be an array" }),
        };
        let mut details = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let invalid = |reason| InvalidGrants { entry: Some(index), reason };
            if !matches!(entry, Value::Object(_)) {
                return Err(invalid("an authorization detail must be an object"));
            }
            match entry.get("type") {
                Some(Value::String(kind)) if kind == AUTHORIZATION_DETAIL_TYPE => {}
                Some(Value::String(_)) => continue,
                _ => return Err(invalid("an authorization detail must have a string \"type\"")),
            }
            details.push(mercure_detail(entry).map_err(invalid)?);
        }
        Ok(Grants { details })
    }

    /// The Mercure authorization details, in the token's order (the order decides which
    /// `payload` describes a subscription: the first `subscribe` entry that matches).
    pub fn details(&self) -> &[AuthorizationDetail] {
        &self.details
    }

    /// Every topic matcher on which the token grants `action`, in the token's order: a topic
    /// is granted when one of them matches it. None when the token grants no such right.
    pub fn matchers(&self, action: Action) -> impl Iterator<Item = &TopicMatcher> {
        self.details.iter().filter(move |detail| detail.grants(action)).flat_map(|detail| &detail.topics)
    }
}

/// Reads one entry already known to be of Mercure's type.
fn mercure_detail(entry: &Value) -> Result<AuthorizationDetail, &'static str> {
    let actions = match entry.get("actions") {
        Some(Value::Array(actions)) if !actions.is_empty() => actions,
        _ => return Err("\"actions\" must be a non-empty array of strings"),
    };
    let mut granted = Vec::new();
    for action in actions {
        let name = action.as_str().ok_or("\"actions\" must hold only strings")?;
        // Unknown actions grant nothing and are skipped (the draft leaves room for new ones).
        if let Some(action) = Action::from_name(name) {
            if !granted.contains(&action) {
                granted.push(action);
            }
        }
    }
    let topics = match entry.get("topics") {
        Some(Value::Array(topics)) if !topics.is_empty() => topics,
        _ => return Err("\"topics\" must be a non-empty array of topic matcher objects"),
    };
    let topics = topics.iter().map(topic_matcher).collect::<Result<Vec<_>, _>>()?;
    let payload = match entry.get("payload") {
        None => None,
        Some(payload @ Value::Object(_)) => Some(payload.clone()),
        Some(_) => return Err("\"payload\" must be an object"),
    };
    Ok(AuthorizationDetail { actions: granted, topics, payload })
}

/// Reads one topic matcher object.
fn topic_matcher(object: &Value) -> Result<TopicMatcher, &'static str> {
    if !matches!(object, Value::Object(_)) {
        return Err("each of \"topics\" must be an object with a \"match\"");
    }
    let matcher = object.get("match").and_then(Value::as_str).ok_or("a topic matcher must have a string \"match\"")?;
    // The type is checked even for the wildcard: a type the hub cannot evaluate invalidates the
    // token, and the wildcard does not make an unknown type any better understood.
    let is_url_pattern = match object.get("match_type") {
        None => false,
        Some(Value::String(kind)) if kind == "exact" => false,
        Some(Value::String(kind)) if kind == "urlpattern" => true,
        Some(_) => return Err("\"match_type\" must be \"exact\" or \"urlpattern\""),
    };
    Ok(match (matcher, is_url_pattern) {
        (WILDCARD, _) => TopicMatcher::Any,
        (_, false) => TopicMatcher::Exact(matcher.to_string()),
        (_, true) => TopicMatcher::UrlPattern(matcher.to_string()),
    })
}

/// Why a token's `authorization_details` is invalid; the hub refuses the whole token (401
/// `invalid_token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidGrants {
    /// The index of the entry of `authorization_details` at fault, if the claim is an array.
    pub entry: Option<usize>,
    /// What is wrong.
    pub reason: &'static str,
}

impl fmt::Display for InvalidGrants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.entry {
            Some(entry) => write!(f, "invalid authorization_details, entry {entry}: {}", self.reason),
            None => write!(f, "invalid authorization_details: {}", self.reason),
        }
    }
}

impl std::error::Error for InvalidGrants {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;

    /// The grants of claims written as JSON text.
    fn grants_of(claims: &str) -> Result<Grants, InvalidGrants> {
        Grants::from_json(&json::parse(claims).unwrap())
    }

    /// Claims with these authorization details (JSON text of the array's entries).
    fn with_details(entries: &str) -> Result<Grants, InvalidGrants> {
        grants_of(&format!(r#"{{"authorization_details":[{entries}]}}"#))
    }

    /// A Mercure entry with these actions and topics (JSON texts of the arrays' elements).
    fn entry(actions: &str, topics: &str) -> String {
        format!(r#"{{"type":"{AUTHORIZATION_DETAIL_TYPE}","actions":[{actions}],"topics":[{topics}]}}"#)
    }

    fn exact(topic: &str) -> TopicMatcher {
        TopicMatcher::Exact(topic.into())
    }

    fn pattern(pattern: &str) -> TopicMatcher {
        TopicMatcher::UrlPattern(pattern.into())
    }

    fn matchers(grants: &Grants, action: Action) -> Vec<TopicMatcher> {
        grants.matchers(action).cloned().collect()
    }

    // Section "Authorization Details": tokens with no Mercure entry grant nothing.
    #[test]
    fn authorization_details_absent_or_empty_grants_nothing() {
        for claims in [r#"{}"#, r#"{"authorization_details":[]}"#, r#"{"sub":"ann","exp":1}"#] {
            let grants = grants_of(claims).unwrap();
            assert!(grants.details().is_empty(), "{claims}");
            assert_eq!(grants.matchers(Action::Publish).count(), 0);
            assert_eq!(grants.matchers(Action::Subscribe).count(), 0);
        }
    }

    // Appendix "Changes from Pre-Standardization Deployments": the `mercure` claim is the old
    // form, which this draft does not ask hubs to read.
    #[test]
    fn the_pre_standard_mercure_claim_grants_nothing() {
        let grants = grants_of(r#"{"mercure":{"publish":["*"],"subscribe":["*"]}}"#).unwrap();
        assert!(grants.details().is_empty());
    }

    // Section "Authorization", its example: a subscriber token with one urlpattern matcher.
    #[test]
    fn a_subscribe_grant_with_a_url_pattern() {
        let grants = with_details(&entry(
            r#""subscribe""#,
            r#"{"match":"https://example.org/books/:id","match_type":"urlpattern"}"#,
        ))
        .unwrap();
        assert_eq!(matchers(&grants, Action::Subscribe), [pattern("https://example.org/books/:id")]);
        assert!(matchers(&grants, Action::Publish).is_empty());
        assert_eq!(grants.details()[0].actions, [Action::Subscribe]);
        assert_eq!(grants.details()[0].payload, None);
    }

    // Sections "Publishers" and "Subscribers": actions are granted per entry, on that entry's
    // topics only, and matchers come in the token's order.
    #[test]
    fn each_action_gets_the_topics_of_the_entries_that_grant_it() {
        let grants = with_details(
            &[
                entry(r#""publish""#, r#"{"match":"https://example.org/a"}"#),
                entry(
                    r#""subscribe","publish""#,
                    r#"{"match":"https://example.org/b"},{"match":"/c/{x}","match_type":"urlpattern"}"#,
                ),
                entry(r#""subscribe""#, r#"{"match":"https://example.org/d","match_type":"exact"}"#),
            ]
            .join(","),
        )
        .unwrap();
        assert_eq!(
            matchers(&grants, Action::Publish),
            [exact("https://example.org/a"), exact("https://example.org/b"), pattern("/c/{x}")]
        );
        assert_eq!(
            matchers(&grants, Action::Subscribe),
            [exact("https://example.org/b"), pattern("/c/{x}"), exact("https://example.org/d")]
        );
        assert_eq!(grants.details()[1].actions, [Action::Subscribe, Action::Publish]);
    }

    // Sections "Matcher Types" and "Topic Matcher List": `exact` is the default type, and `*`
    // matches every topic whatever the type.
    #[test]
    fn match_type_defaults_to_exact_and_star_is_any_topic() {
        let grants = with_details(&entry(
            r#""subscribe""#,
            r#"{"match":"*"},{"match":"*","match_type":"urlpattern"},{"match":"*","match_type":"exact"},{"match":"/books/1"}"#,
        ))
        .unwrap();
        assert_eq!(
            matchers(&grants, Action::Subscribe),
            [TopicMatcher::Any, TopicMatcher::Any, TopicMatcher::Any, exact("/books/1")]
        );
        assert_eq!(TopicMatcher::Any.as_str(), "*");
        assert_eq!(exact("/books/1").as_str(), "/books/1");
        // Only `*` itself: a star inside a matcher is an ordinary character (or a pattern's).
        let grants =
            with_details(&entry(r#""subscribe""#, r#"{"match":"**"},{"match":" *"},{"match":"/books/*"}"#)).unwrap();
        assert_eq!(matchers(&grants, Action::Subscribe), [exact("**"), exact(" *"), exact("/books/*")]);
    }

    // Section "Topic Matcher List": an unsupported match_type invalidates the token; types are
    // case-sensitive.
    #[test]
    fn an_unknown_match_type_invalidates_the_token() {
        for match_type in [r#""regex""#, r#""Exact""#, r#""URLPattern""#, r#""""#, "null", "1", r#"["exact"]"#] {
            for matcher in [r#""/books/1""#, r#""*""#] {
                let topics = format!(r#"{{"match":{matcher},"match_type":{match_type}}}"#);
                let error = with_details(&entry(r#""subscribe""#, &topics)).unwrap_err();
                assert_eq!(error.entry, Some(0));
                assert!(error.reason.contains("match_type"), "{topics}: {error}");
            }
        }
    }

    // Section "Authorization Details": unknown actions grant nothing and leave the token valid;
    // a non-string action does not.
    #[test]
    fn unknown_actions_are_skipped_but_non_strings_invalidate() {
        let grants = with_details(
            &[entry(r#""read","subscribe","Publish""#, r#"{"match":"/a"}"#), entry(r#""delete""#, r#"{"match":"/b"}"#)]
                .join(","),
        )
        .unwrap();
        assert_eq!(matchers(&grants, Action::Subscribe), [exact("/a")]);
        assert!(matchers(&grants, Action::Publish).is_empty(), "action names are case-sensitive");
        assert!(grants.details()[1].actions.is_empty());
        assert_eq!(grants.details()[1].topics, [exact("/b")]);
        for actions in [r#""subscribe",1"#, "null", r#"["subscribe"]"#] {
            let error = with_details(&entry(actions, r#"{"match":"/a"}"#)).unwrap_err();
            assert!(error.reason.contains("actions"), "{actions}: {error}");
        }
    }

    #[test]
    fn a_repeated_action_is_listed_once() {
        let grants = with_details(&entry(r#""publish","publish""#, r#"{"match":"/a"}"#)).unwrap();
        assert_eq!(grants.details()[0].actions, [Action::Publish]);
        assert_eq!(matchers(&grants, Action::Publish), [exact("/a")]);
    }

    // Section "Authorization Details": actions and topics are required and non-empty; any
    // invalid Mercure entry invalidates the whole token, whatever the other entries grant.
    #[test]
    fn a_broken_entry_invalidates_the_whole_token() {
        let good = entry(r#""publish""#, r#"{"match":"/a"}"#);
        let broken = [
            (format!(r#"{{"type":"{AUTHORIZATION_DETAIL_TYPE}","topics":[{{"match":"/a"}}]}}"#), "actions"),
            (
                format!(r#"{{"type":"{AUTHORIZATION_DETAIL_TYPE}","actions":"publish","topics":[{{"match":"/a"}}]}}"#),
                "actions",
            ),
            (entry("", r#"{"match":"/a"}"#), "actions"),
            (format!(r#"{{"type":"{AUTHORIZATION_DETAIL_TYPE}","actions":["publish"]}}"#), "topics"),
            (entry(r#""publish""#, ""), "topics"),
            (
                format!(r#"{{"type":"{AUTHORIZATION_DETAIL_TYPE}","actions":["publish"],"topics":{{"match":"/a"}}}}"#),
                "topics",
            ),
            (entry(r#""publish""#, r#""/a""#), "topics"),
            (entry(r#""publish""#, r#"{"match":"/a"},null"#), "topics"),
            (entry(r#""publish""#, r#"{"topic":"/a"}"#), "match"),
            (entry(r#""publish""#, r#"{"match":1}"#), "match"),
            (entry(r#""publish""#, r#"{"match":null,"match_type":"exact"}"#), "match"),
            (entry(r#""publish""#, r#"{"match":["/a"]}"#), "match"),
        ];
        for (entry_text, reason) in broken {
            let error = with_details(&format!("{good},{entry_text}")).unwrap_err();
            assert_eq!(error.entry, Some(1), "{entry_text}");
            assert!(error.reason.contains(reason), "{entry_text}: {error}");
            // First or last, the same.
            assert_eq!(with_details(&format!("{entry_text},{good}")).unwrap_err().entry, Some(0));
        }
    }

    // RFC 9396 section 2: authorization_details is an array of objects, each with a string
    // `type`; entries of another type are another API's business.
    #[test]
    fn entries_of_other_types_are_skipped_and_malformed_entries_invalidate() {
        let grants = with_details(&[
            r#"{"type":"payment_initiation","actions":["initiate"],"instructedAmount":{"amount":"1"}}"#.to_string(),
            r#"{"type":"https://mercure.rocks/authorization-detail/","actions":["publish"],"topics":[{"match":"*"}]}"#.into(),
            r#"{"type":"HTTPS://MERCURE.ROCKS/AUTHORIZATION-DETAIL","actions":["publish"],"topics":[{"match":"*"}]}"#.into(),
            entry(r#""subscribe""#, r#"{"match":"/a"}"#),
        ]
        .join(","))
        .unwrap();
        assert_eq!(grants.details().len(), 1, "the type is compared byte for byte");
        assert!(matchers(&grants, Action::Publish).is_empty());
        for not_an_entry in
            ["1", r#""x""#, "null", "[]", r#"{"actions":["publish"],"topics":[{"match":"*"}]}"#, r#"{"type":1}"#]
        {
            let error = with_details(not_an_entry).unwrap_err();
            assert_eq!(error.entry, Some(0), "{not_an_entry}");
        }
        for claim in [r#""x""#, "{}", "null", "1"] {
            let error = grants_of(&format!(r#"{{"authorization_details":{claim}}}"#)).unwrap_err();
            assert_eq!(error.entry, None, "{claim}");
            assert_eq!(error.to_string(), "invalid authorization_details: authorization_details must be an array");
        }
    }

    // Section "Payloads": a subscribe entry may carry a payload object; the first matching
    // entry's payload wins, so the order is kept.
    #[test]
    fn payloads_are_kept_with_their_entries_in_order() {
        let grants = with_details(&[
            r#"{"type":"https://mercure.rocks/authorization-detail","actions":["subscribe"],
                "topics":[{"match":"https://example.org/foo"}],"payload":{"label":"foo"}}"#,
            r#"{"type":"https://mercure.rocks/authorization-detail","actions":["subscribe"],
                "topics":[{"match":"https://example.org/bar/:id","match_type":"urlpattern"}],"payload":{"label":"bars"}}"#,
            r#"{"type":"https://mercure.rocks/authorization-detail","actions":["subscribe"],
                "topics":[{"match":"*"}],"payload":{"label":"default","nested":{"a":[1,2]}}}"#,
            r#"{"type":"https://mercure.rocks/authorization-detail","actions":["subscribe"],"topics":[{"match":"/no-payload"}]}"#,
        ]
        .join(","))
        .unwrap();
        let payloads: Vec<_> =
            grants.details().iter().map(|detail| detail.payload.as_ref().map(Value::to_string)).collect();
        assert_eq!(
            payloads,
            [
                Some(r#"{"label":"foo"}"#.to_string()),
                Some(r#"{"label":"bars"}"#.to_string()),
                Some(r#"{"label":"default","nested":{"a":[1,2]}}"#.to_string()),
                None
            ]
        );
        assert_eq!(grants.details()[2].topics, [TopicMatcher::Any]);
        for payload in [r#""text""#, "[1]", "null", "1"] {
            let detail = format!(
                r#"{{"type":"{AUTHORIZATION_DETAIL_TYPE}","actions":["subscribe"],"topics":[{{"match":"*"}}],"payload":{payload}}}"#
            );
            let error = with_details(&detail).unwrap_err();
            assert!(error.reason.contains("payload"), "{payload}: {error}");
        }
    }

    #[test]
    fn grants_come_from_a_verified_token() {
        use crate::jwt::{self, Hs256Key, Verifier};
        use std::time::{Duration, UNIX_EPOCH};
        let key = Hs256Key::new([9u8; 32]).unwrap();
        let claims = json::parse(&format!(
            r#"{{"iss":"pub","aud":"hub","exp":100,"authorization_details":[{}]}}"#,
            entry(r#""publish""#, r#"{"match":"/a"}"#)
        ))
        .unwrap();
        let token = jwt::sign_hs256(&key, jwt::ACCESS_TOKEN_TYPE, &claims);
        let verifier = Verifier::for_issuer("pub", key).audience("hub").token_type(jwt::ACCESS_TOKEN_TYPE);
        let verified = verifier.verify(&token, UNIX_EPOCH + Duration::from_secs(50)).unwrap();
        let grants = Grants::from_claims(&verified).unwrap();
        assert_eq!(matchers(&grants, Action::Publish), [exact("/a")]);
        assert_eq!(Action::Publish.name(), "publish");
        assert_eq!(Action::Subscribe.name(), "subscribe");
    }
}
