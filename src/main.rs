//! `bare-sse`: serve events read from standard input, or print the events of a stream. A thin
//! layer over the library; run `bare-sse --help`.

use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bare_sse::client::{EventSource, Item};
use bare_sse::json::Value;
use bare_sse::mercure::Mercure;
use bare_sse::parse::{
    classify_line, Block, EventFields, Field, Line, LineSplitter, DEFAULT_MAX_EVENT_BYTES, DEFAULT_MAX_LINE_BYTES,
};
use bare_sse::ClientError;
use bare_sse::{shared_source, AllowOrigin, Event, Hub, MessageEvent, Request, Response, Server};

/// `eprintln!` that ignores a closed standard error instead of panicking.
macro_rules! note {
    ($($arg:tt)*) => {{
        let _ = writeln!(io::stderr(), $($arg)*);
    }};
}

/// The command a usage error concerns: it says which one-line usage and which help to point to.
#[derive(Clone, Copy)]
enum Command {
    /// No command, or one that does not exist.
    None,
    Serve,
    Listen,
    Mercure,
}

impl Command {
    /// One line of usage and where the rest is: printed after a usage error, so that the error
    /// stays in sight rather than above a screen of help.
    fn usage_line(self) -> &'static str {
        match self {
            Command::None => "usage: bare-sse serve|listen|mercure [options] (`bare-sse --help` says more)",
            Command::Serve => "usage: bare-sse serve [options] (`bare-sse serve --help` lists them)",
            Command::Listen => "usage: bare-sse listen URL [options] (`bare-sse listen --help` lists them)",
            Command::Mercure => "usage: bare-sse mercure [options] (`bare-sse mercure --help` lists them)",
        }
    }
}

const USAGE: &str = "\
usage: bare-sse serve [options]      send events read from standard input to every client
       bare-sse listen URL [options] print the events of a stream
       bare-sse mercure [options]    run a Mercure hub (publish with POST, subscribe by topic)
       bare-sse <command> --help     the options of a command
       bare-sse --version            the version";

const SERVE_HELP: &str = "\
usage: bare-sse serve [options]

Reads events in text/event-stream format from standard input (`data:`, `event:`, `id:`, `retry:`
fields; a blank line ends an event) and sends each one to every connected client. A bad line is
reported on standard error and skipped. At the end of input an unfinished last event is sent, and
the server goes on serving (clients that connect later get the events kept in history) until it
is interrupted, or, with --exit-at-end, exits.

options:
  --port P              port to listen on (default 8122; 0 picks a free one)
  --bind ADDR           address to listen on (default 127.0.0.1)
  --history N           events with ids kept for late joiners (default 1000)
  --heartbeat SECS      comment sent after this much silence (default 15; 0 turns it off)
  --retry MS            send `retry: MS` to each client when it connects
  --allow-origin ORIGIN allow this origin (repeatable; default: any origin)
  --max-clients N       most connections at once (default 10000)
  --auto-id             give every event without an `id:` line the next id, `<epoch>-<n>`: n counts
                        1, 2, 3, ... and the epoch is the time serve started, in Unix milliseconds
                        (with --redis, the Redis entry id, `<ms>-<seq>`); events with ids are kept
                        in history for clients that connect later, events without go only to the
                        clients connected when they are sent
  --lines               send each input line as one event's data instead
  --page                also serve a page at / that shows the stream (the stream moves to /events);
                        every tab of it shares one connection (browsers allow six per site); it
                        shows what clients get, so with --lines, add --auto-id for a tab opened
                        later to see the lines sent before it
  --max-line-bytes N    longest input line (default 8388608); longer ones are reported and skipped
  --max-event-bytes N   most data in one input event, its line ends counted (default 16777216);
                        a larger event is reported and not sent
  --redis URL           share events with every server on the same Redis stream
                        (redis://[[user]:password@]host[:port][/db]); ids become stream entry ids,
                        so use --auto-id (or none) rather than `id:` lines
  --stream NAME         the Redis stream (default events)
  --gzip                compress every event once (gzip, level 6) for clients that accept gzip;
                        never with secrets and attacker-chosen text in one stream (BREACH)
  --metrics PATH        also serve the server's counters on PATH (e.g. /metrics), in the
                        Prometheus text format; the stream stays on every other path
  --exit-at-end         exit when the input ends (after the last event has gone out)
  --drain SECS          with --exit-at-end: when the input ends, end the streams over SECS seconds
                        (at most 3600) rather than all at once, spread out, each told to reconnect
                        1 to 5 s later (`retry:`, with jitter), so that clients do not all come
                        back at once; a client asking for a stream meanwhile is told to come back
                        later. Only the end of input starts a drain: SIGTERM and Ctrl-C still stop
                        at once, since serve uses Rust's standard library alone, which cannot catch
                        signals";

const LISTEN_HELP: &str = "\
usage: bare-sse listen URL [options]

Connects to an event stream, reconnecting as a browser does, and prints each event's data (prefixed
with its type and a colon when the type is not `message`). Only http:// URLs: for https, put a
TLS-terminating proxy (nginx, caddy, stunnel) in front, or use a client with TLS.

options:
  --last-event-id ID    resume after this id
  --json                print one JSON object per event: {\"type\":...,\"data\":...}, with
                        \"id\":... last when the event carried an id of its own
  --header 'K: V'       send this request header (repeatable)
  --max-event-bytes N   largest event (and line) accepted (default 16777216)
  --once                exit after the first event
  --max-failures N      give up after N connection attempts in a row fail (default: never)
  --timeout SECS        give up after this long in all

exit codes:
  0  the server said it is done (204 No Content), or --once got its event
  1  another failure
  2  a usage error (a bad option or URL)
  3  the server could not be reached (--max-failures attempts in a row failed, or ended
     before any event)
  4  the server answered with an HTTP error status
  5  the server answered with a content type other than text/event-stream
  6  --timeout passed";

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>bare-sse</title>
<style>body { font-family: sans-serif } pre { background: #f4f4f4; padding: 1em }</style>
<h1>bare-sse stream</h1>
<p id="status">connecting…</p>
<pre id="log"></pre>
<script src="/bare-sse/shared-source.js"></script>
<script>
  // SharedEventSource gives every tab of this page one connection between them: browsers allow
  // six per origin, and a tab holding its own stream would use one each. Its `onevent` gets every
  // event whatever its type, and `id` is the event's own id (null when it has none), so the page
  // shows each event with its type, and its id only when it carries one.
  const log = document.getElementById("log");
  const status = document.getElementById("status");
  const source = new SharedEventSource("/events");
  source.onevent = (event) => {
    const id = event.id === null ? "" : "[" + event.id + "] ";
    const type = event.type === "message" ? "" : event.type + ": ";
    log.textContent += id + type + event.data + "\n";
  };
  source.onopen = () => {
    status.textContent = source.leading
      ? "this tab holds the stream's connection for every tab of this page"
      : "another tab of this page holds the stream's connection and passes its events on";
  };
  source.onerror = () => {
    status.textContent = source.readyState === SharedEventSource.CLOSED ? "the stream ended" : "reconnecting…";
  };
</script>
"#;

/// How a run ends badly.
enum Failure {
    /// The command line is wrong: exit code 2, with the usage of the command it concerns.
    Usage(String, Command),
    /// Something failed while running: exit code 1, or a more precise one from `listen`.
    Runtime(String, u8),
}

/// Exit codes, as `bare-sse listen --help` documents them.
mod exit {
    pub const FAILURE: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const UNREACHABLE: u8 = 3;
    pub const HTTP_STATUS: u8 = 4;
    pub const CONTENT_TYPE: u8 = 5;
    pub const TIMEOUT: u8 = 6;
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message, command)) => {
            note!("bare-sse: {message}\n{}", command.usage_line());
            ExitCode::from(exit::USAGE)
        }
        Err(Failure::Runtime(message, code)) => {
            note!("bare-sse: {message}");
            ExitCode::from(code)
        }
    }
}

fn run(args: &[String]) -> Result<(), Failure> {
    let Some((command, rest)) = args.split_first() else {
        return Err(Failure::Usage("no command given".into(), Command::None));
    };
    let wants_help = rest.iter().any(|a| a == "--help" || a == "-h");
    match command.as_str() {
        "--help" | "-h" | "help" => print_help(USAGE),
        "--version" | "-V" => print_help(concat!("bare-sse ", env!("CARGO_PKG_VERSION"))),
        "serve" if wants_help => print_help(SERVE_HELP),
        "listen" if wants_help => print_help(LISTEN_HELP),
        "mercure" if wants_help => print_help(MERCURE_HELP),
        "mercure" => mercure(&MercureOptions::parse(rest)?),
        "serve" => serve(&ServeOptions::parse(rest)?),
        "listen" => listen(&ListenOptions::parse(rest)?),
        other => Err(Failure::Usage(format!("unknown command `{other}`"), Command::None)),
    }
}

/// Prints help on standard output; a closed pipe (`bare-sse serve --help | head -0`) is not an
/// error worth a word.
fn print_help(text: &str) -> Result<(), Failure> {
    let _ = writeln!(io::stdout(), "{text}");
    Ok(())
}

/// The whole-number types options take, with their largest value for error messages.
trait OptionNumber: TryFrom<u64> {
    const LARGEST: u64;
}

impl OptionNumber for u16 {
    const LARGEST: u64 = u16::MAX as u64;
}

impl OptionNumber for u32 {
    const LARGEST: u64 = u32::MAX as u64;
}

impl OptionNumber for u64 {
    const LARGEST: u64 = u64::MAX;
}

impl OptionNumber for usize {
    const LARGEST: u64 = usize::MAX as u64;
}

/// Walks `--name value`, `--name=value` and positional arguments.
struct Arguments<'a> {
    rest: std::slice::Iter<'a, String>,
    pending_value: Option<&'a str>,
    /// The command being parsed, whose usage a usage error shows.
    command: Command,
}

impl<'a> Arguments<'a> {
    fn new(args: &'a [String], command: Command) -> Arguments<'a> {
        Arguments { rest: args.iter(), pending_value: None, command }
    }

    fn usage_error(&self, message: String) -> Failure {
        Failure::Usage(message, self.command)
    }

    /// The next option name (with its `=value` kept for [`Arguments::value`]) or positional.
    fn next(&mut self) -> Option<&'a str> {
        let arg = self.rest.next()?;
        match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                self.pending_value = Some(value);
                Some(name)
            }
            _ => Some(arg),
        }
    }

    fn value(&mut self, name: &str) -> Result<&'a str, Failure> {
        if let Some(value) = self.pending_value.take() {
            return Ok(value);
        }
        match self.rest.next() {
            Some(value) => Ok(value),
            None => Err(self.usage_error(format!("{name} needs a value"))),
        }
    }

    /// A whole number that fits `T`; an error names the range.
    fn number<T: OptionNumber>(&mut self, name: &str) -> Result<T, Failure> {
        let text = self.value(name)?;
        match text.parse::<u64>().ok().and_then(|n| T::try_from(n).ok()) {
            Some(number) => Ok(number),
            None => {
                Err(self.usage_error(format!("{name} takes a whole number from 0 to {}, not `{text}`", T::LARGEST)))
            }
        }
    }

    /// An IP address (`127.0.0.1`, `::1`, `0.0.0.0`).
    fn ip_address(&mut self, name: &str) -> Result<IpAddr, Failure> {
        let text = self.value(name)?;
        text.parse().map_err(|_| self.usage_error(format!("{name} takes an IP address, not `{text}`")))
    }

    fn flag(&mut self, name: &str) -> Result<bool, Failure> {
        match self.pending_value.take() {
            None => Ok(true),
            Some(_) => Err(self.usage_error(format!("{name} takes no value"))),
        }
    }
}

struct ServeOptions {
    port: u16,
    bind: IpAddr,
    history: usize,
    heartbeat_seconds: u64,
    retry_ms: Option<u64>,
    origins: Vec<String>,
    max_clients: usize,
    auto_id: bool,
    lines: bool,
    page: bool,
    max_line_bytes: usize,
    max_event_bytes: usize,
    redis: Option<String>,
    stream: String,
    gzip: bool,
    metrics: Option<String>,
    exit_at_end: bool,
    /// `--drain`: the period over which the streams end at the end of input.
    drain_seconds: Option<u64>,
}

/// What `serve` does with no options.
impl Default for ServeOptions {
    fn default() -> ServeOptions {
        ServeOptions {
            port: 8122,
            bind: IpAddr::from([127, 0, 0, 1]),
            history: bare_sse::hub::DEFAULT_HISTORY_EVENTS,
            heartbeat_seconds: bare_sse::hub::DEFAULT_HEARTBEAT.as_secs(),
            retry_ms: None,
            origins: Vec::new(),
            max_clients: bare_sse::server::DEFAULT_MAX_CONNECTIONS,
            auto_id: false,
            lines: false,
            page: false,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            redis: None,
            stream: "events".to_string(),
            gzip: false,
            metrics: None,
            exit_at_end: false,
            drain_seconds: None,
        }
    }
}

impl ServeOptions {
    fn parse(args: &[String]) -> Result<ServeOptions, Failure> {
        let mut options = ServeOptions::default();
        let mut args = Arguments::new(args, Command::Serve);
        while let Some(name) = args.next() {
            match name {
                "--port" => options.port = args.number(name)?,
                "--bind" => options.bind = args.ip_address(name)?,
                "--history" => options.history = args.number(name)?,
                "--heartbeat" => options.heartbeat_seconds = args.number(name)?,
                "--retry" => options.retry_ms = Some(args.number(name)?),
                "--allow-origin" => options.origins.push(args.value(name)?.to_string()),
                "--max-clients" => options.max_clients = args.number(name)?,
                "--auto-id" => options.auto_id = args.flag(name)?,
                "--lines" => options.lines = args.flag(name)?,
                "--page" => options.page = args.flag(name)?,
                "--max-line-bytes" => options.max_line_bytes = args.number(name)?,
                "--max-event-bytes" => options.max_event_bytes = args.number(name)?,
                "--gzip" => options.gzip = args.flag(name)?,
                "--metrics" => {
                    let path = args.value(name)?;
                    if !path.starts_with('/') {
                        return Err(
                            args.usage_error(format!("--metrics takes a path that starts with /, not `{path}`"))
                        );
                    }
                    options.metrics = Some(path.to_string());
                }
                "--redis" => options.redis = Some(args.value(name)?.to_string()),
                "--stream" => options.stream = args.value(name)?.to_string(),
                "--exit-at-end" => options.exit_at_end = args.flag(name)?,
                "--drain" => options.drain_seconds = Some(args.number(name)?),
                other => return Err(args.usage_error(format!("serve: unknown option `{other}`"))),
            }
        }
        if options.drain_seconds.is_some() && !options.exit_at_end {
            let message = "--drain needs --exit-at-end: the drain begins when the input ends (signals stop at once)";
            return Err(args.usage_error(message.to_string()));
        }
        Ok(options)
    }
}

fn serve(options: &ServeOptions) -> Result<(), Failure> {
    let hub = build_hub(options)?;
    let server = start_server(options, &hub)?;
    let mut publisher = Publisher::new(&hub, options.auto_id, options.redis.is_some());
    let stdin = io::stdin().lock();
    let read = if options.lines {
        send_lines(stdin, &mut publisher, options.max_line_bytes)
    } else {
        send_events(stdin, &mut publisher, options.max_line_bytes, options.max_event_bytes)
    };
    read.map_err(|e| Failure::Runtime(format!("reading standard input: {e}"), exit::FAILURE))?;
    if !options.exit_at_end {
        // What the input held stays in history for clients that connect later, but only the
        // events with ids: say so when some had none, since those clients will not see them.
        if let Some(note) = publisher.without_id_note() {
            note!("bare-sse: {note}");
        }
        note!("bare-sse: end of input; still serving (Ctrl-C to stop)");
        loop {
            std::thread::park();
        }
    }
    if let Some(seconds) = options.drain_seconds {
        drain(&server, seconds);
        return Ok(());
    }
    hub.flush(Duration::from_secs(2));
    server.stop();
    Ok(())
}

/// The hub the options describe.
fn build_hub(options: &ServeOptions) -> Result<Hub, Failure> {
    let heartbeat = (options.heartbeat_seconds > 0).then(|| Duration::from_secs(options.heartbeat_seconds));
    let mut hub = Hub::builder().history_events(options.history).heartbeat(heartbeat);
    if options.gzip {
        hub = hub.gzip(bare_sse::compress::DEFAULT_LEVEL);
    }
    if let Some(url) = &options.redis {
        hub = hub.redis(url, &options.stream).map_err(|e| Failure::Usage(format!("--redis: {e}"), Command::Serve))?;
    }
    Ok(hub.build())
}

/// Starts the server the options describe, on `hub`, and says where it serves what.
fn start_server(options: &ServeOptions, hub: &Hub) -> Result<Server, Failure> {
    let mut builder = Server::builder()
        .hub(hub.clone())
        .bind(options.bind)
        .port(options.port)
        .retry(options.retry_ms.map(Duration::from_millis))
        .max_connections(options.max_clients);
    if !options.origins.is_empty() {
        builder = builder.allow_origin(AllowOrigin::List(options.origins.clone()));
    }
    if let Some(path) = &options.metrics {
        builder = builder.route_metrics(path.as_str());
    }
    let stream_path = if options.page {
        // Browsers ask every page for an icon: answer with no content rather than a 404.
        builder = builder
            .path("/events")
            .page("/", PAGE)
            .route_handler(shared_source::SCRIPT_PATH, shared_source::Script)
            .route("/favicon.ico", |_: &Request| Response::no_content());
        "/events"
    } else {
        "/"
    };
    let server = builder.start().map_err(|e| Failure::Runtime(e.to_string(), exit::FAILURE))?;
    note!("bare-sse: serving http://{}{stream_path}", server.local_addr());
    if options.page {
        note!("bare-sse: page at http://{}/", server.local_addr());
    }
    if let Some(path) = &options.metrics {
        note!("bare-sse: metrics at http://{}{path}", server.local_addr());
    }
    Ok(server)
}

/// `--drain`: ends the streams over that many seconds (at most the server's longest drain).
fn drain(server: &Server, seconds: u64) {
    let period = Duration::from_secs(seconds).min(bare_sse::server::MAX_DRAIN_PERIOD);
    note!("bare-sse: end of input; draining: the streams end over {} s", period.as_secs());
    // Each turn waits for the events published before it: no flush needed first.
    let ended = server.drain(period);
    let streams = if ended == 1 { "stream" } else { "streams" };
    note!("bare-sse: drained: {ended} {streams} ended");
}

/// Sends the events read from standard input to the hub, and counts what it sent.
struct Publisher<'a> {
    hub: &'a Hub,
    auto_id: bool,
    /// The hub is on a Redis stream, which gives the ids: an `id:` line cannot be honoured.
    redis: bool,
    sent: usize,
    sent_without_id: usize,
}

impl Publisher<'_> {
    fn new(hub: &Hub, auto_id: bool, redis: bool) -> Publisher<'_> {
        Publisher { hub, auto_id, redis, sent: 0, sent_without_id: 0 }
    }

    /// Sends `event`, read from the input at `line` (its first field), reporting a refusal.
    fn send(&mut self, event: Event, line: usize) {
        if self.redis && event.given_id().is_some() {
            note!(
                "bare-sse: event at line {line} not sent: `id:` lines cannot be used with --redis, since Redis \
                 gives every event its id (use --auto-id, or no id)"
            );
            return;
        }
        let has_id = event.given_id().is_some() || event.wants_next_id();
        match self.hub.send_new_event(event) {
            Ok(_) => {
                self.sent += 1;
                self.sent_without_id += usize::from(!has_id);
            }
            Err(e) => note!("bare-sse: event at line {line} not sent: {e}"),
        }
    }

    /// What to say at the end of the input when events went out without an id: only the
    /// clients connected then got them, and history keeps none of them for later ones.
    fn without_id_note(&self) -> Option<String> {
        (self.sent_without_id > 0).then(|| {
            format!(
                "{} of {} events had no id, so only the clients connected then got them; with --auto-id every \
                 event gets one, and history keeps it for clients that connect later",
                self.sent_without_id, self.sent
            )
        })
    }
}

/// Sends each input line as one event's data. Lines end at CR, LF or CRLF; bytes that are not
/// UTF-8 are replaced (U+FFFD), and a line longer than the limit is reported and skipped, so no
/// input stops the stream or grows memory without bound.
fn send_lines(input: impl Read, publisher: &mut Publisher<'_>, max_line_bytes: usize) -> io::Result<()> {
    let mut splitter = LineSplitter::new(max_line_bytes);
    let mut line_number = 0;
    let mut on_line = |line: &str| {
        line_number += 1;
        let event = Event::new().data(line);
        publisher.send(if publisher.auto_id { event.with_id() } else { event }, line_number);
    };
    // Whether the input so far ends inside a line (`read_input` never passes an empty slice).
    let mut inside_a_line = false;
    read_input(input, |bytes| {
        inside_a_line = !matches!(bytes.last(), Some(b'\n' | b'\r'));
        if let Err(e) = splitter.feed(bytes, &mut on_line) {
            note!("bare-sse: {e}; line skipped");
        }
    })?;
    // The end of input ends an unfinished last line; after a line end it would be an empty line
    // of its own, an empty event that no input line asked for.
    if inside_a_line {
        splitter.feed(b"\n", &mut on_line).ok();
    }
    Ok(())
}

/// Feeds everything `input` holds to `take`, a buffer at a time.
fn read_input(mut input: impl Read, mut take: impl FnMut(&[u8])) -> io::Result<()> {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match input.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => take(&buffer[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The event a block of fields read from standard input makes: its id as given, or, without one,
/// the hub's next id with `--auto-id`.
fn event_from(block: Block, auto_id: bool) -> Event {
    let mut event = Event::new();
    if let Some(data) = block.data {
        event = event.data(data);
    }
    if let Some(event_type) = block.event_type {
        event = event.event(event_type);
    }
    if let Some(retry) = block.retry {
        event = event.retry(retry);
    }
    match block.id {
        Some(id) => event.id(id),
        None if auto_id => event.with_id(),
        None => event,
    }
}

/// Reads text/event-stream from `input` with the library's line and field rules, sending each
/// event. Unlike a client, it reports the fields those rules ignore rather than passing over them,
/// since here they are typos, and it sends an event that has fields but no data (a `retry:` alone,
/// say), which a client would not see as an event.
fn send_events(
    input: impl Read,
    publisher: &mut Publisher<'_>,
    max_line_bytes: usize,
    max_event_bytes: usize,
) -> io::Result<()> {
    let mut splitter = LineSplitter::new(max_line_bytes);
    let mut fields = EventFields::new(max_event_bytes);
    // The line of the event's first field that counts, for messages about the event.
    let mut first_line = 0;
    let mut line_number = 0;
    let mut on_line = |line: &str| {
        line_number += 1;
        let (name, value) = match classify_line(line) {
            Line::Blank if fields.is_empty() => return,
            Line::Blank => {
                let block = fields.end();
                if !block.too_large {
                    publisher.send(event_from(block, publisher.auto_id), first_line);
                }
                return;
            }
            Line::Comment(_) => return,
            Line::Field { name, value } => (name, value),
        };
        if fields.is_empty() {
            first_line = line_number;
        }
        match fields.take(name, value) {
            Ok(Field::IdWithNul(_)) => note!("bare-sse: line {line_number}: an id cannot hold NUL; line skipped"),
            Ok(Field::BadRetry(value)) => {
                note!("bare-sse: line {line_number}: retry takes milliseconds, not `{value}`")
            }
            Ok(Field::Unknown { name, .. }) => note!("bare-sse: line {line_number}: unknown field `{name}` skipped"),
            Ok(_) => {}
            Err(e) => note!("bare-sse: line {line_number}: {e}; event at line {first_line} not sent"),
        }
    };
    read_input(input, |bytes| {
        if let Err(e) = splitter.feed(bytes, &mut on_line) {
            note!("bare-sse: {e}; line skipped");
        }
    })?;
    // The end of input ends the last event even without its blank line.
    splitter.feed(b"\n\n", &mut on_line).ok();
    Ok(())
}

struct ListenOptions {
    url: String,
    last_event_id: Option<String>,
    json: bool,
    headers: Vec<(String, String)>,
    max_event_bytes: usize,
    once: bool,
    max_failures: Option<u32>,
    timeout: Option<Duration>,
}

impl ListenOptions {
    fn parse(args: &[String]) -> Result<ListenOptions, Failure> {
        let mut url = None;
        let mut options = ListenOptions {
            url: String::new(),
            last_event_id: None,
            json: false,
            headers: Vec::new(),
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            once: false,
            max_failures: None,
            timeout: None,
        };
        let mut args = Arguments::new(args, Command::Listen);
        while let Some(name) = args.next() {
            match name {
                "--last-event-id" => options.last_event_id = Some(args.value(name)?.to_string()),
                "--json" => options.json = args.flag(name)?,
                "--max-event-bytes" => options.max_event_bytes = args.number(name)?,
                "--once" => options.once = args.flag(name)?,
                "--max-failures" => options.max_failures = Some(args.number(name)?),
                "--timeout" => options.timeout = Some(Duration::from_secs(args.number(name)?)),
                "--header" => {
                    let text = args.value(name)?;
                    let (key, value) = text
                        .split_once(':')
                        .ok_or_else(|| args.usage_error(format!("--header takes 'Name: value', not `{text}`")))?;
                    options.headers.push((key.trim().to_string(), value.trim().to_string()));
                }
                other if other.starts_with("--") => {
                    return Err(args.usage_error(format!("listen: unknown option `{other}`")));
                }
                positional if url.is_none() => url = Some(positional.to_string()),
                extra => return Err(args.usage_error(format!("listen: unexpected argument `{extra}`"))),
            }
        }
        options.url = url.ok_or_else(|| args.usage_error("listen needs a URL".into()))?;
        Ok(options)
    }
}

fn listen(options: &ListenOptions) -> Result<(), Failure> {
    if options.url.get(..8).is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://")) {
        return Err(Failure::Usage(
            "listen speaks plain http:// only; for https, put a TLS-terminating proxy (nginx, caddy, stunnel) \
             in front of the server and listen to it over http://"
                .into(),
            Command::Listen,
        ));
    }
    let mut source = event_source(options)?;
    let timed_out = Arc::new(AtomicBool::new(false));
    if let Some(timeout) = options.timeout {
        let (closer, timed_out) = (source.close_handle(), Arc::clone(&timed_out));
        std::thread::spawn(move || {
            std::thread::sleep(timeout);
            timed_out.store(true, Ordering::SeqCst);
            closer.close();
        });
    }
    let mut out = io::stdout().lock();
    let mut give_up_hint = GiveUpHint::new(options);
    for item in source.items() {
        let event = match item {
            Ok(Item::Event(event)) => event,
            Ok(Item::Retrying { error, attempt }) => {
                note!("bare-sse: {error}; reconnecting");
                if give_up_hint.after_failure(attempt) {
                    note!("bare-sse: {GIVE_UP_HINT}");
                }
                continue;
            }
            Ok(_) => continue,
            Err(e) => return Err(Failure::Runtime(e.to_string(), exit_code_for(&e))),
        };
        // A closed pipe (`bare-sse listen ... | head`) ends the listener quietly.
        if print_event(&mut out, event, options.json).is_err() || options.once {
            return Ok(());
        }
    }
    if timed_out.load(Ordering::SeqCst) {
        return Err(Failure::Runtime("--timeout passed".into(), exit::TIMEOUT));
    }
    Ok(())
}

/// The client the options describe.
fn event_source(options: &ListenOptions) -> Result<EventSource, Failure> {
    let mut builder = EventSource::builder(&options.url).max_event_bytes(options.max_event_bytes);
    if let Some(id) = &options.last_event_id {
        builder = builder.last_event_id(id.as_str());
    }
    for (name, value) in &options.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    if let Some(attempts) = options.max_failures {
        builder = builder.max_attempts(attempts);
    }
    builder.build().map_err(|e| Failure::Usage(e.to_string(), Command::Listen))
}

/// Prints an event on a line of its own: its data, after its type when that is not `message`, or,
/// with `json`, an object with its type, data and own id.
fn print_event(out: &mut impl Write, event: MessageEvent, json: bool) -> io::Result<()> {
    if json {
        let mut fields =
            vec![("type".to_string(), Value::from(event.event)), ("data".to_string(), Value::from(event.data))];
        // The event's own id only: the last id of an earlier event would say that this one is kept
        // in history, and could be resumed after, when it is not.
        if let Some(id) = event.id {
            fields.push(("id".to_string(), Value::from(id)));
        }
        writeln!(out, "{}", Value::Object(fields))?;
    } else if event.event == "message" {
        writeln!(out, "{}", event.data)?;
    } else {
        // A typed event (a reset, a Datastar patch) is not mistaken for data.
        writeln!(out, "{}: {}", event.event, event.data)?;
    }
    out.flush()
}

/// Failures in a row after which `listen` says how to make it give up: the first one may be a
/// passing hiccup, a second one in a row looks like a wrong URL or a server that is down.
const GIVE_UP_HINT_AFTER: u32 = 2;

const GIVE_UP_HINT: &str = "still trying, as a browser does; --max-failures N gives up after N failed attempts in a \
                            row, --timeout SECS after that many seconds";

/// Whether to tell, once, how to make `listen` give up: it retries for ever by default, as a
/// browser does, which against a wrong URL looks like a hang.
struct GiveUpHint {
    /// Not said yet, and no option bounds the retries already.
    pending: bool,
}

impl GiveUpHint {
    fn new(options: &ListenOptions) -> GiveUpHint {
        GiveUpHint { pending: options.max_failures.is_none() && options.timeout.is_none() }
    }

    /// Whether to say it now, after a failure that makes `failures_in_a_row`.
    fn after_failure(&mut self, failures_in_a_row: u32) -> bool {
        let now = self.pending && failures_in_a_row >= GIVE_UP_HINT_AFTER;
        self.pending &= !now;
        now
    }
}

/// The exit code for a failure the client will not retry.
fn exit_code_for(error: &ClientError) -> u8 {
    match error {
        ClientError::Status(_) => exit::HTTP_STATUS,
        ClientError::ContentType(_) => exit::CONTENT_TYPE,
        ClientError::GaveUp { .. } => exit::UNREACHABLE,
        _ => exit::FAILURE,
    }
}

const MERCURE_HELP: &str = "\
usage: bare-sse mercure [options]

Runs a Mercure hub (the protocol of mercure.rocks, draft 08) at /.well-known/mercure: publishers
POST updates on topics, subscribers GET a stream of the topics they match (`match=TOPIC`,
`match_urlpattern=PATTERN`), and private updates reach only subscribers whose token allows them.
Tokens are JWTs signed with HS256 (the only algorithm supported), of type at+jwt, whose
authorization_details grant `publish` and `subscribe` on topics.

options:
  --port P                  port to listen on (default 3000; 0 picks a free one)
  --bind ADDR               address to listen on (default 127.0.0.1)
  --jwt-key K               the key of publishers' and subscribers' tokens
  --publisher-jwt-key K     the key of publishers' tokens (env MERCURE_PUBLISHER_JWT_KEY)
  --subscriber-jwt-key K    the key of subscribers' tokens (env MERCURE_SUBSCRIBER_JWT_KEY)
  --audience AUD            the hub's resource identifier, required in every token's aud
                            (e.g. https://example.com/.well-known/mercure)
  --issuer ISS              the issuer every token's iss must name
  --anonymous               subscribers without a token receive public updates
  --cors-origin ORIGIN      a page origin that may use the hub from a browser, with cookies
                            (repeat for several)
  --history N               updates kept for subscribers that resume (default 1000)
  --heartbeat SECS          comment sent after SECS of silence (default 15; 0: none)
  --redis URL --stream KEY  share updates with other hubs through a Redis stream

Keys are at least 32 bytes. Without a publisher key nobody can publish; without a subscriber key
no subscriber can present a token, so none receives private updates. The hub stops when the
process is interrupted.";

/// The options of `bare-sse mercure`.
struct MercureOptions {
    port: u16,
    bind: IpAddr,
    publisher_key: Option<String>,
    subscriber_key: Option<String>,
    audience: Option<String>,
    issuer: Option<String>,
    anonymous: bool,
    cors_origins: Vec<String>,
    history: usize,
    heartbeat_seconds: u64,
    redis: Option<String>,
    stream: Option<String>,
}

impl MercureOptions {
    fn parse(args: &[String]) -> Result<MercureOptions, Failure> {
        let env_key = |name: &str| std::env::var(name).ok().filter(|key| !key.is_empty());
        let mut options = MercureOptions {
            port: 3000,
            bind: IpAddr::from([127, 0, 0, 1]),
            publisher_key: env_key("MERCURE_PUBLISHER_JWT_KEY"),
            subscriber_key: env_key("MERCURE_SUBSCRIBER_JWT_KEY"),
            audience: None,
            issuer: None,
            anonymous: false,
            cors_origins: Vec::new(),
            history: bare_sse::hub::DEFAULT_HISTORY_EVENTS,
            heartbeat_seconds: 15,
            redis: None,
            stream: None,
        };
        let mut args = Arguments::new(args, Command::Mercure);
        while let Some(name) = args.next() {
            match name {
                "--port" => options.port = args.number(name)?,
                "--bind" => options.bind = args.ip_address(name)?,
                "--jwt-key" => {
                    let key = args.value(name)?.to_string();
                    options.publisher_key = Some(key.clone());
                    options.subscriber_key = Some(key);
                }
                "--publisher-jwt-key" => options.publisher_key = Some(args.value(name)?.to_string()),
                "--subscriber-jwt-key" => options.subscriber_key = Some(args.value(name)?.to_string()),
                "--audience" => options.audience = Some(args.value(name)?.to_string()),
                "--issuer" => options.issuer = Some(args.value(name)?.to_string()),
                "--anonymous" => options.anonymous = args.flag(name)?,
                "--cors-origin" => options.cors_origins.push(args.value(name)?.to_string()),
                "--history" => options.history = args.number(name)?,
                "--heartbeat" => options.heartbeat_seconds = args.number(name)?,
                "--redis" => options.redis = Some(args.value(name)?.to_string()),
                "--stream" => options.stream = Some(args.value(name)?.to_string()),
                other => return Err(args.usage_error(format!("unknown option `{other}`"))),
            }
        }
        if options.redis.is_some() != options.stream.is_some() {
            return Err(args.usage_error("--redis and --stream go together".to_string()));
        }
        Ok(options)
    }
}

/// `bare-sse mercure`: builds the hub the options describe and serves it until interrupted.
fn mercure(options: &MercureOptions) -> Result<(), Failure> {
    let usage = |message: String| Failure::Usage(message, Command::Mercure);
    let heartbeat = (options.heartbeat_seconds > 0).then(|| Duration::from_secs(options.heartbeat_seconds));
    let mut hub = Hub::builder().history_events(options.history).heartbeat(heartbeat);
    if let (Some(url), Some(stream)) = (&options.redis, &options.stream) {
        hub = hub.redis(url, stream).map_err(|e| usage(format!("--redis: {e}")))?;
    }
    let mut builder = Mercure::builder().hub(hub).anonymous(options.anonymous);
    if let Some(key) = &options.publisher_key {
        builder = builder.publisher_jwt_key(key.as_bytes());
    }
    if let Some(key) = &options.subscriber_key {
        builder = builder.subscriber_jwt_key(key.as_bytes());
    }
    if let Some(audience) = &options.audience {
        builder = builder.audience(audience.as_str());
    }
    if let Some(issuer) = &options.issuer {
        builder = builder.issuer(issuer.as_str());
    }
    for origin in &options.cors_origins {
        builder = builder.cors_origin(origin.as_str());
    }
    let hub = builder.build().map_err(|e| usage(e.to_string()))?;
    if options.publisher_key.is_none() {
        note!("bare-sse: no publisher key (--jwt-key or --publisher-jwt-key): nobody can publish");
    }
    if options.audience.is_none() {
        note!("bare-sse: no --audience: tokens are not checked for this hub's resource identifier");
    }
    let server = Server::builder().hub(hub.hub().clone()).bind(options.bind).port(options.port);
    let server = hub.install(server).start().map_err(|e| Failure::Runtime(e.to_string(), exit::FAILURE))?;
    note!("bare-sse: Mercure hub at http://{}{}", server.local_addr(), bare_sse::mercure::DEFAULT_PATH);
    loop {
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bare_sse::json;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn serve_options() {
        let options = ServeOptions::parse(&args(
            "--port=0 --history 5 --auto-id --allow-origin http://a --allow-origin http://b --gzip",
        ))
        .ok()
        .unwrap();
        assert_eq!((options.port, options.history, options.auto_id, options.gzip), (0, 5, true, true));
        assert_eq!(options.origins, ["http://a", "http://b"]);
        assert!(matches!(ServeOptions::parse(&args("--port x")), Err(Failure::Usage(..))));
        assert!(matches!(ServeOptions::parse(&args("--port")), Err(Failure::Usage(..))));
        assert!(matches!(ServeOptions::parse(&args("--lines=yes")), Err(Failure::Usage(..))));
        assert!(matches!(ServeOptions::parse(&args("--nope")), Err(Failure::Usage(..))));
        assert_eq!(ServeOptions::parse(&args("--metrics /metrics")).ok().unwrap().metrics.as_deref(), Some("/metrics"));
        assert!(matches!(ServeOptions::parse(&args("--metrics metrics")), Err(Failure::Usage(..))));
        assert!(matches!(ServeOptions::parse(&args("--metrics")), Err(Failure::Usage(..))));
    }

    #[test]
    fn listen_options() {
        let options = ListenOptions::parse(&args("http://h/ --json --header X-A:1 --last-event-id 4")).ok().unwrap();
        assert_eq!(
            (options.url.as_str(), options.json, options.last_event_id.as_deref()),
            ("http://h/", true, Some("4"))
        );
        assert_eq!(options.headers, [("X-A".to_string(), "1".to_string())]);
        assert!(matches!(ListenOptions::parse(&args("--json")), Err(Failure::Usage(..))));
        assert!(matches!(ListenOptions::parse(&args("http://a http://b")), Err(Failure::Usage(..))));
    }

    #[test]
    fn the_give_up_hint_comes_once_after_failures_and_not_when_bounded() {
        let hints = |options: &str, failures: &[u32]| {
            let mut hint = GiveUpHint::new(&ListenOptions::parse(&args(options)).ok().unwrap());
            failures.iter().map(|&n| hint.after_failure(n)).collect::<Vec<_>>()
        };
        let run = [1, 2, 3, 1, 2, 3];
        assert_eq!(hints("http://h/", &run), [false, true, false, false, false, false]);
        assert_eq!(hints("http://h/ --max-failures 9", &run), [false; 6]);
        assert_eq!(hints("http://h/ --timeout 60", &run), [false; 6]);
        assert_eq!(hints("http://h/", &[1, 1, 1, 5]), [false, false, false, true], "in a row");
    }

    #[test]
    fn json_output_escapes() {
        let value = Value::Object(vec![("data".into(), Value::from("a\"b\nc"))]);
        assert_eq!(value.to_string(), r#"{"data":"a\"b\nc"}"#);
        assert!(json::parse(&value.to_string()).is_ok());
    }
}
