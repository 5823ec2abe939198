//! The server's metrics: counters of its connections and answers, and the Prometheus text
//! exposition (format 0.0.4) of them and of the counters of the hubs it serves.
//!
//! ```
//! use bare_sse::{Hub, Server};
//!
//! let chat = Hub::builder().name("chat").build();
//! let server = Server::builder()
//!     .route_hub("/chat", chat)        // labelled hub="chat" (without a name: hub="/chat")
//!     .route_metrics("/metrics")       // GET /metrics: the exposition
//!     .start()
//!     .unwrap();
//! assert!(server.metrics().contains("bare_sse_hub_clients{hub=\"chat\"} 0\n"));
//! server.stop();
//! ```
//!
//! # What is counted, and what it costs
//!
//! Counters are atomics, bumped where the work happens, with no lock: once per accepted
//! connection, once per answer, and, in the hub, once per write (a flusher round adds its writes
//! with one operation), never per byte or per event. The counters the hub's registry already keeps
//! under its lock (clients, events, slow-client drops) are read with that lock once per scrape.
//!
//! A hub's series are labelled `hub="<label>"`: its [`name`](crate::HubBuilder::name), or else the
//! path of its first route on this server (`/` for a hub that streams on every path). A hub served
//! on several routes appears once; two hubs with the same label are told apart by `#2`, `#3`, ...
//! A hub's counters are the hub's, not this server's: a hub served by two servers shows the same
//! figures on both. The server knows the hubs it routes to ([`route_hub`], [`route_handler`] with a
//! hub, and its own hub on its path); a hub that a closure answers with ([`Response::hub`]) is not
//! among them.
//!
//! [`route_hub`]: crate::ServerBuilder::route_hub
//! [`route_handler`]: crate::ServerBuilder::route_handler
//! [`Response::hub`]: crate::Response::hub

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Hub, Stats};

/// The `Content-Type` of the exposition: the Prometheus text format, version 0.0.4.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Status codes counted one by one: 100 to 599. Any other is counted as `other`.
const FIRST_STATUS: u16 = 100;
const LAST_STATUS: u16 = 599;
/// One slot per status code, and the last for `other`.
const STATUS_SLOTS: usize = (LAST_STATUS - FIRST_STATUS) as usize + 2;

/// A server's counters, and the hubs it serves with their labels. Shared by the server and its
/// metrics routes.
pub(crate) struct ServerMetrics {
    accepted: AtomicU64,
    turned_away: AtomicU64,
    open: AtomicU64,
    answers: Box<[AtomicU64]>,
    hubs: Vec<(String, Hub)>,
}

impl ServerMetrics {
    /// Counters at zero, for a server that serves `hubs` (each with the path of a route that
    /// serves it, in the order the routes are tried).
    pub fn new(hubs: &[(String, Hub)]) -> ServerMetrics {
        ServerMetrics {
            accepted: AtomicU64::new(0),
            turned_away: AtomicU64::new(0),
            open: AtomicU64::new(0),
            answers: (0..STATUS_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            hubs: label_hubs(hubs),
        }
    }

    /// The listener accepted a connection.
    pub fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection past the connection limit went to the overflow answerer.
    pub fn turned_away(&self) {
        self.turned_away.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection's thread started serving it. Paired with [`closed`](Self::closed) by
    /// [`Open`].
    fn opened(&self) {
        self.open.fetch_add(1, Ordering::Relaxed);
    }

    fn closed(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// An answer with this status was sent (or its head was ready to go: a stream counts once,
    /// when it starts).
    pub fn answered(&self, status: u16) {
        let slot = if (FIRST_STATUS..=LAST_STATUS).contains(&status) {
            usize::from(status - FIRST_STATUS)
        } else {
            STATUS_SLOTS - 1
        };
        self.answers[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition of every counter, in the Prometheus text format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = Exposition::default();
        out.family(&CONNECTIONS_OPEN);
        out.sample(CONNECTIONS_OPEN.name, &[], self.open.load(Ordering::Relaxed));
        out.family(&CONNECTIONS_ACCEPTED);
        out.sample(CONNECTIONS_ACCEPTED.name, &[], self.accepted.load(Ordering::Relaxed));
        out.family(&CONNECTIONS_TURNED_AWAY);
        out.sample(CONNECTIONS_TURNED_AWAY.name, &[], self.turned_away.load(Ordering::Relaxed));
        out.family(&REQUESTS);
        for (slot, count) in self.answers.iter().enumerate() {
            let count = count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let code = match u16::try_from(slot) {
                Ok(offset) if slot < STATUS_SLOTS - 1 => (FIRST_STATUS + offset).to_string(),
                _ => "other".to_string(),
            };
            out.sample(REQUESTS.name, &[("code", &code)], count);
        }
        // One lock of each hub, for the counters its registry keeps under it.
        let hubs: Vec<(&str, Stats)> = self.hubs.iter().map(|(label, hub)| (label.as_str(), hub.stats())).collect();
        for series in &HUB_SERIES {
            out.family(&series.family);
            for (label, stats) in &hubs {
                out.sample(series.family.name, &[("hub", label)], (series.value)(stats));
            }
        }
        out.family(&HUB_RESUMES);
        for (label, stats) in &hubs {
            out.sample(HUB_RESUMES.name, &[("hub", label), ("source", "history")], stats.resumed_from_history);
            out.sample(HUB_RESUMES.name, &[("hub", label), ("source", "redis")], stats.resumed_from_redis);
        }
        out.text
    }
}

/// A metric family: its name, its type, and what it counts (the program's own text, with no
/// backslash or line break to escape).
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
}

const CONNECTIONS_OPEN: Family =
    Family { name: "bare_sse_connections_open", kind: "gauge", help: "Connections open now, streaming or not." };
const CONNECTIONS_ACCEPTED: Family = Family {
    name: "bare_sse_connections_accepted_total",
    kind: "counter",
    help: "Connections accepted, those past the connection limit included.",
};
const CONNECTIONS_TURNED_AWAY: Family = Family {
    name: "bare_sse_connections_turned_away_total",
    kind: "counter",
    help: "Connections past the connection limit, answered by the overflow thread without a handler.",
};
const REQUESTS: Family = Family {
    name: "bare_sse_requests_total",
    kind: "counter",
    help: "Answers by status code (other: outside 100-599); a stream counts once, when it starts.",
};
const HUB_RESUMES: Family = Family {
    name: "bare_sse_hub_resumes_total",
    kind: "counter",
    help: "Joining clients resumed after their last event id, by where it was found.",
};

/// A family with one series per hub, and what it reads from the hub's stats.
struct HubSeries {
    family: Family,
    value: fn(&Stats) -> u64,
}

const HUB_SERIES: [HubSeries; 5] = [
    HubSeries {
        family: Family { name: "bare_sse_hub_clients", kind: "gauge", help: "Clients streaming from the hub now." },
        value: |stats| stats.clients as u64,
    },
    HubSeries {
        family: Family {
            name: "bare_sse_hub_events_published_total",
            kind: "counter",
            help: "Events published to the hub.",
        },
        value: |stats| stats.events_sent,
    },
    HubSeries {
        family: Family {
            name: "bare_sse_hub_bytes_written_total",
            kind: "counter",
            help: "Bytes of event stream written to the hub's clients (the body, without HTTP framing).",
        },
        value: |stats| stats.bytes_written,
    },
    HubSeries {
        family: Family {
            name: "bare_sse_hub_slow_client_drops_total",
            kind: "counter",
            help: "Clients dropped for falling too far behind, or for a write that made no progress.",
        },
        value: |stats| stats.dropped_slow,
    },
    HubSeries {
        family: Family {
            name: "bare_sse_hub_resets_total",
            kind: "counter",
            help: "Joining clients sent the reset event, since their last event id could not be resumed.",
        },
        value: |stats| stats.resets_sent,
    },
];

/// Counts a connection as open for as long as it lives.
pub(super) struct Open<'a>(&'a ServerMetrics);

impl<'a> Open<'a> {
    pub fn new(metrics: &'a ServerMetrics) -> Open<'a> {
        metrics.opened();
        Open(metrics)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.closed();
    }
}

/// Each hub once, under its label: its name, or the path of its first route, made unique.
fn label_hubs(routes: &[(String, Hub)]) -> Vec<(String, Hub)> {
    let mut hubs: Vec<(String, Hub)> = Vec::new();
    for (path, hub) in routes {
        if hubs.iter().any(|(_, known)| known.is_same(hub)) {
            continue;
        }
        let wanted = hub.name().unwrap_or(path);
        let mut label = wanted.to_string();
        for n in 2.. {
            if !hubs.iter().any(|(taken, _)| *taken == label) {
                break;
            }
            label = format!("{wanted}#{n}");
        }
        hubs.push((label, hub.clone()));
    }
    hubs
}

/// The text being written: families, each a `# HELP` and a `# TYPE` line, then its samples.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    /// Starts a family: its `# HELP` and `# TYPE` lines.
    fn family(&mut self, family: &Family) {
        let Family { name, kind, help } = family;
        // Writing to a String cannot fail.
        let _ = write!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (index, (label, value)) in labels.iter().enumerate() {
                if index > 0 {
                    self.text.push(',');
                }
                self.text.push_str(label);
                self.text.push_str("=\"");
                push_label_value(&mut self.text, value);
                self.text.push('"');
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }
}

/// A label value as the text format writes it: backslash, double quote and line feed escaped.
fn push_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_backslash_quote_and_line_feed() {
        let mut out = String::new();
        push_label_value(&mut out, "a\\b\"c\nd\re/é");
        assert_eq!(out, "a\\\\b\\\"c\\nd\re/é");
    }

    /// Help texts are written as they are: none may hold what the format would need escaped.
    #[test]
    fn help_texts_need_no_escaping() {
        let families = [&CONNECTIONS_OPEN, &CONNECTIONS_ACCEPTED, &CONNECTIONS_TURNED_AWAY, &REQUESTS, &HUB_RESUMES];
        for family in families.into_iter().chain(HUB_SERIES.iter().map(|series| &series.family)) {
            assert!(!family.help.contains(['\\', '\n']), "{}", family.name);
        }
    }

    #[test]
    fn statuses_are_counted_each_and_the_rest_as_other() {
        let metrics = ServerMetrics::new(&[]);
        for status in [100, 200, 200, 404, 599, 99, 600, 0, 65535] {
            metrics.answered(status);
        }
        let text = metrics.render();
        let lines: Vec<&str> = text.lines().filter(|line| line.starts_with("bare_sse_requests_total")).collect();
        assert_eq!(
            lines,
            [
                "bare_sse_requests_total{code=\"100\"} 1",
                "bare_sse_requests_total{code=\"200\"} 2",
                "bare_sse_requests_total{code=\"404\"} 1",
                "bare_sse_requests_total{code=\"599\"} 1",
                "bare_sse_requests_total{code=\"other\"} 4",
            ]
        );
    }

    #[test]
    fn each_hub_once_by_name_or_first_path_and_labels_made_unique() {
        let (a, b, c) = (Hub::new(), Hub::builder().name("news").build(), Hub::new());
        let d = Hub::builder().name("/a").build();
        let routes = [
            ("/a".to_string(), a.clone()),
            ("/b".to_string(), b.clone()),
            ("/a2".to_string(), a.clone()),
            ("/news".to_string(), c.clone()),
            ("/d".to_string(), d.clone()),
        ];
        let labels: Vec<String> = label_hubs(&routes).into_iter().map(|(label, _)| label).collect();
        assert_eq!(labels, ["/a", "news", "/news", "/a#2"]);
    }
}
