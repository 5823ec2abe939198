//! A publish request's form, read and checked: `POST` to the hub with an
//! `application/x-www-form-urlencoded` body of `topic` (one or more), `data`, `id`, `type`,
//! `retry` and `private` fields. Pure: the handler in [`super`] authorizes the publisher and hands
//! the update to the hub.
//!
//! Every rule here is the publication section of the Mercure specification; a request that breaks
//! one is answered `400 Bad Request`, or `413 Content Too Large` for one over a limit. Fields the
//! hub does not know are ignored, so publishers can send future fields.

use std::fmt;

use super::namespace::is_reserved;
use crate::http::parse_query;
use crate::topic::check_topic_text;

/// Most `topic` fields in one update.
pub const MAX_TOPICS_PER_UPDATE: usize = 64;
/// Most bytes of one field's value, `data` excepted (its bound is the body's).
pub const MAX_FIELD_BYTES: usize = 4096;

/// One update, as a publisher sent it, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The topics: the first is the canonical one, the others alternates.
    pub topics: Vec<String>,
    /// The content (`data`), if any.
    pub data: Option<String>,
    /// The id the publisher chose, if any.
    pub id: Option<String>,
    /// The SSE event type (`type`), if any.
    pub event_type: Option<String>,
    /// The reconnection time in milliseconds (`retry`), if any.
    pub retry: Option<u64>,
    /// Whether only subscribers authorized for one of the topics may receive it.
    pub private: bool,
}

/// Why a publish request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishError {
    /// The body is not a valid form (a bad `%` escape, or not UTF-8): 400.
    NotAForm,
    /// No `topic` field: 400.
    NoTopic,
    /// A field breaks a rule of the specification: 400. The field's name and the rule.
    Invalid {
        /// The field's name.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// More `topic` fields than [`MAX_TOPICS_PER_UPDATE`], or a field longer than
    /// [`MAX_FIELD_BYTES`]: 413.
    TooLarge(&'static str),
}

impl PublishError {
    /// The HTTP status that answers this error.
    pub fn status(&self) -> u16 {
        match self {
            PublishError::TooLarge(_) => 413,
            _ => 400,
        }
    }
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::NotAForm => f.write_str("the body is not an application/x-www-form-urlencoded form in UTF-8"),
            PublishError::NoTopic => f.write_str("an update needs at least one `topic` field"),
            PublishError::Invalid { field, reason } => write!(f, "invalid `{field}`: {reason}"),
            PublishError::TooLarge(what) => write!(f, "too large: {what}"),
        }
    }
}

impl std::error::Error for PublishError {}

/// Reads and checks a publish request's body. `hub_path` is the path of the hub's URL, whose
/// namespace topics may not address.
///
/// # Errors
///
/// A [`PublishError`] for the first rule the form breaks.
pub fn parse_update(body: &[u8], hub_path: &str) -> Result<Update, PublishError> {
    let body = std::str::from_utf8(body).map_err(|_| PublishError::NotAForm)?;
    let fields = parse_query(body).map_err(|_| PublishError::NotAForm)?;
    let mut update = Update { topics: Vec::new(), data: None, id: None, event_type: None, retry: None, private: false };
    for (name, value) in fields {
        if name != "data" && value.len() > MAX_FIELD_BYTES {
            return Err(PublishError::TooLarge("a field is longer than the hub takes"));
        }
        match name.as_str() {
            "topic" => {
                if update.topics.len() == MAX_TOPICS_PER_UPDATE {
                    return Err(PublishError::TooLarge("more `topic` fields than the hub takes"));
                }
                check_topic(&value, hub_path)?;
                update.topics.push(value);
            }
            "data" => update.data = Some(value),
            "id" => update.id = Some(checked_id(value)?),
            "type" => update.event_type = Some(checked_type(value)?),
            "retry" => update.retry = Some(checked_retry(&value)?),
            // Present means private, whatever the value.
            "private" => update.private = true,
            _ => {}
        }
    }
    if update.topics.is_empty() {
        return Err(PublishError::NoTopic);
    }
    Ok(update)
}

fn invalid(field: &'static str, reason: &'static str) -> PublishError {
    PublishError::Invalid { field, reason }
}

/// The character rule of topics, ids and types: no control character and no invisible Unicode
/// format character.
fn check_text(field: &'static str, value: &str) -> Result<(), PublishError> {
    check_topic_text(value).map_err(|_| invalid(field, "it contains a control or an invisible format character"))
}

fn check_topic(topic: &str, hub_path: &str) -> Result<(), PublishError> {
    check_text("topic", topic)?;
    if topic == "*" {
        return Err(invalid("topic", "`*` is the wildcard matcher, not a topic"));
    }
    if is_reserved(topic, hub_path) {
        return Err(invalid("topic", "it addresses the hub's reserved namespace"));
    }
    Ok(())
}

fn checked_id(id: String) -> Result<String, PublishError> {
    check_text("id", &id)?;
    if id.starts_with('#') {
        return Err(invalid("id", "ids starting with `#` are the hub's own"));
    }
    if id == "earliest" {
        return Err(invalid("id", "`earliest` is reserved for reconciliation"));
    }
    Ok(id)
}

fn checked_type(event_type: String) -> Result<String, PublishError> {
    check_text("type", &event_type)?;
    if event_type == "mercure" {
        return Err(invalid("type", "the type `mercure` is reserved for the hub's own events"));
    }
    Ok(event_type)
}

fn checked_retry(retry: &str) -> Result<u64, PublishError> {
    if retry.is_empty() || !retry.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("retry", "it must be ASCII digits only"));
    }
    // More digits than a u64 holds is still a valid retry: it is as long as can be waited.
    Ok(retry.parse().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HUB: &str = "/.well-known/mercure";

    fn parse(body: &str) -> Result<Update, PublishError> {
        parse_update(body.as_bytes(), HUB)
    }

    #[test]
    fn a_full_update_is_read() {
        let update = parse(
            "topic=https%3A%2F%2Fexample.com%2Fbooks%2F1&topic=alt&data=the+content%0Aline+2&id=urn%3Ax&type=book&retry=1500&private=on&future=1",
        )
        .unwrap();
        assert_eq!(update.topics, ["https://example.com/books/1", "alt"]);
        assert_eq!(update.data.as_deref(), Some("the content\nline 2"));
        assert_eq!(update.id.as_deref(), Some("urn:x"));
        assert_eq!(update.event_type.as_deref(), Some("book"));
        assert_eq!(update.retry, Some(1500));
        assert!(update.private);
    }

    #[test]
    fn private_is_present_whatever_its_value() {
        for body in ["topic=a&private", "topic=a&private=", "topic=a&private=off", "topic=a&private=0"] {
            assert!(parse(body).unwrap().private, "{body}");
        }
        assert!(!parse("topic=a").unwrap().private);
    }

    #[test]
    fn an_update_needs_a_topic() {
        assert_eq!(parse("data=x"), Err(PublishError::NoTopic));
        assert_eq!(parse(""), Err(PublishError::NoTopic));
    }

    #[test]
    fn topics_that_are_the_wildcard_reserved_or_invisible_are_refused() {
        for body in [
            "topic=*",
            "topic=a&topic=*",
            "topic=%2F.well-known%2Fmercure%2Fsubscriptions%2Fx",
            "topic=https%3A%2F%2Fhub.example%2F.well-known%2F%256Dercure",
            "topic=a%0Ab",
            "topic=a%E2%80%8Bb",
        ] {
            let error = parse(body).unwrap_err();
            assert!(matches!(error, PublishError::Invalid { field: "topic", .. }), "{body}: {error}");
            assert_eq!(error.status(), 400);
        }
    }

    #[test]
    fn ids_types_and_retries_follow_the_rules() {
        for (body, field) in [
            ("topic=a&id=%23frag", "id"),
            ("topic=a&id=earliest", "id"),
            ("topic=a&id=a%0Db", "id"),
            ("topic=a&id=a%C2%85b", "id"),
            ("topic=a&type=mercure", "type"),
            ("topic=a&type=a%0Ab", "type"),
            ("topic=a&type=%EF%BB%BFx", "type"),
            ("topic=a&retry=", "retry"),
            ("topic=a&retry=-1", "retry"),
            ("topic=a&retry=1.5", "retry"),
            ("topic=a&retry=%EF%BC%91", "retry"),
        ] {
            assert!(matches!(parse(body), Err(PublishError::Invalid { field: f, .. }) if f == field), "{body}");
        }
        assert_eq!(parse("topic=a&id=earliest2").unwrap().id.as_deref(), Some("earliest2"));
        assert_eq!(parse("topic=a&retry=99999999999999999999999").unwrap().retry, Some(u64::MAX));
    }

    #[test]
    fn bodies_that_are_not_forms_are_refused() {
        assert_eq!(parse_update(b"topic=%zz", HUB), Err(PublishError::NotAForm));
        assert_eq!(parse_update(b"topic=\xff", HUB), Err(PublishError::NotAForm));
        assert_eq!(parse_update(b"topic=%ff", HUB), Err(PublishError::NotAForm));
    }

    #[test]
    fn limits_answer_413_at_one_past_them() {
        let at_limit: String = (0..MAX_TOPICS_PER_UPDATE).map(|n| format!("topic=t{n}&")).collect();
        assert_eq!(parse(&at_limit).unwrap().topics.len(), MAX_TOPICS_PER_UPDATE);
        let error = parse(&format!("{at_limit}topic=one-more")).unwrap_err();
        assert_eq!(error.status(), 413);

        let longest = "x".repeat(MAX_FIELD_BYTES);
        assert!(parse(&format!("topic={longest}")).is_ok());
        assert_eq!(parse(&format!("topic={longest}x")).unwrap_err().status(), 413);
        // Data is bounded by the body limit only.
        assert!(parse(&format!("topic=a&data={longest}{longest}")).is_ok());
    }
}
