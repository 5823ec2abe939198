// SharedEventSource: one event stream shared by every tab of an origin (served by bare-sse).
//
// Browsers open at most six HTTP/1.1 connections per origin, and an event stream holds one for as
// long as the page is open: with six tabs open, a seventh tab of the same site never loads.
// `new SharedEventSource(url)` behaves like `new EventSource(url)`, but only one tab (the
// leader, chosen with a Web Lock) holds the connection; it passes every event on to the other
// tabs through a BroadcastChannel. When the leader goes away (closed, reloaded, navigated), the
// lock passes to a waiting tab at once, and that tab reconnects, resuming after the last id it
// received, so that no tab misses an event; a tab drops an event whose id it has already received
// from another leader, so that no tab gets one twice.
//
// The leader reads the stream with fetch rather than EventSource, so that it sees every event
// whatever its type (an EventSource delivers a type only to a listener for it, and a leader
// cannot know which types the other tabs listen for), and knows which events carry an id of their
// own. Its resume position goes in the `lastEventId` query parameter, which bare-sse reads like
// the Last-Event-ID header: no custom header, so no CORS preflight.
//
// Invariants relied on:
// - one leader per lock name at a time (Web Locks), so one connection per stream URL;
// - messages from one sender on a BroadcastChannel arrive in the order they were posted, so each
//   leader's `seq` numbers arrive in order;
// - ids are unique within the last `history` events, as a bare-sse hub's are: a repeat from
//   another leader, or of an event a tab received in its catch-up, is a duplicate;
// - `history` is at least the hub's history: a leader that never caught up reads from the start,
//   and the other tabs recognise what it repeats only within their last `history` events.
//
// Where Web Locks or BroadcastChannel are missing (Web Locks need a secure context: https, or
// http on localhost), each tab reads the stream on its own, as an EventSource would.
(function () {
  "use strict";

  const CONNECTING = 0;
  const OPEN = 1;
  const CLOSED = 2;
  // EventSource's reconnection time until the stream sends `retry:`.
  const DEFAULT_RETRY_MS = 3000;
  // Events with ids each tab keeps, to catch up tabs opened later and to recognise repeats.
  const DEFAULT_HISTORY = 1000;
  // The event a bare-sse hub sends when it does not know the id a client resumes from.
  const RESET_EVENT = "bare-sse-reset";

  // The event-stream parser of the HTML standard, fed decoded text in any split. `onEvent` gets
  // { type, data, lastEventId, id }, where `id` is the event's own id (null when it had none).
  class StreamParser {
    constructor(onEvent, onRetry) {
      this.onEvent = onEvent;
      this.onRetry = onRetry;
      this.lastEventId = "";
      this.reset();
    }

    // A new connection starts a new stream; the last event id persists.
    reset() {
      this.pending = "";
      this.afterCR = false;
      this.data = "";
      this.type = "";
      this.ownId = null;
    }

    feed(text) {
      let start = 0;
      if (this.afterCR && text.length > 0) {
        this.afterCR = false;
        if (text.charCodeAt(0) === 10) start = 1; // the LF of a CRLF split across reads
      }
      const lineEnd = /[\r\n]/g;
      for (;;) {
        lineEnd.lastIndex = start;
        const found = lineEnd.exec(text);
        if (found === null) {
          this.pending += text.slice(start);
          return;
        }
        const end = found.index;
        const line = this.pending + text.slice(start, end);
        this.pending = "";
        this.processLine(line);
        start = end + 1;
        if (text.charCodeAt(end) === 13) {
          if (start === text.length) this.afterCR = true;
          else if (text.charCodeAt(start) === 10) start += 1;
        }
      }
    }

    processLine(line) {
      if (line === "") return this.dispatch();
      const colon = line.indexOf(":");
      if (colon === 0) return; // a comment
      let name = line;
      let value = "";
      if (colon > 0) {
        name = line.slice(0, colon);
        value = line.slice(colon + 1);
        if (value.charCodeAt(0) === 32) value = value.slice(1);
      }
      if (name === "event") this.type = value;
      else if (name === "data") this.data += value + "\n";
      else if (name === "id" && !value.includes("\0")) this.lastEventId = this.ownId = value;
      else if (name === "retry" && /^[0-9]+$/.test(value)) this.onRetry(Number(value));
    }

    dispatch() {
      const ownId = this.ownId;
      this.ownId = null;
      if (this.data === "") {
        this.type = "";
        return;
      }
      const event = {
        type: this.type || "message",
        data: this.data.slice(0, -1),
        lastEventId: this.lastEventId,
        id: ownId === null || ownId === "" ? null : ownId,
      };
      this.data = "";
      this.type = "";
      this.onEvent(event);
    }
  }

  const randomName = () => Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);

  class SharedEventSource extends EventTarget {
    // `options`: withCredentials (as EventSource), history (events with ids kept per tab,
    // default 1000).
    constructor(url, options = {}) {
      super();
      this.url = new URL(url, document.baseURI).href;
      this.withCredentials = Boolean(options.withCredentials);
      this.readyState = CONNECTING;
      this.onopen = this.onmessage = this.onerror = this.onevent = null;
      for (const type of ["open", "message", "error"]) {
        this.addEventListener(type, (event) => this["on" + type] && this["on" + type](event));
      }
      this._origin = new URL(this.url).origin;
      this._history = options.history === undefined ? DEFAULT_HISTORY : Math.max(0, options.history);
      this._tab = randomName();
      this._log = []; // the events with ids this tab received, oldest first: { event, from }
      this._lastEventId = ""; // of the last event this tab received: where a takeover resumes
      this._leading = false;
      this._closed = false;
      const name = "bare-sse-shared-source " + (this.withCredentials ? "credentials " : "") + this.url;
      if (!("locks" in navigator) || typeof BroadcastChannel !== "function") {
        this._channel = null;
        this._lead(null);
        return;
      }
      // Until the leader's catch-up comes, messages wait here (null: not waiting).
      this._waiting = [];
      this._channel = new BroadcastChannel(name);
      this._channel.onmessage = (message) => this._receive(message.data);
      this._post({ kind: "hello", tab: this._tab });
      this._lockRequest = new AbortController();
      navigator.locks
        .request(name, { signal: this._lockRequest.signal }, () => new Promise((release) => this._lead(release)))
        .catch(() => {}); // withdrawn by close()
    }

    get CONNECTING() { return CONNECTING; }
    get OPEN() { return OPEN; }
    get CLOSED() { return CLOSED; }

    // Whether this tab holds the connection (a bare-sse extension).
    get leading() {
      return this._leading;
    }

    close() {
      if (this._closed) return;
      this._closed = true;
      this.readyState = CLOSED;
      if (this._lockRequest) this._lockRequest.abort();
      if (this._connection) this._connection.abort();
      if (this._channel) this._channel.close();
      this._leading = false;
      if (this._release) this._release(); // the next tab in line takes over
    }

    _post(message) {
      if (this._channel) this._channel.postMessage(message);
    }

    _receive(message) {
      if (this._closed) return;
      if (message.kind === "hello") {
        if (this._leading) {
          const events = this._log.map((entry) => entry.event);
          this._post({ kind: "catch-up", to: message.tab, term: this._term, seq: this._seq, events, state: this.readyState });
        }
      } else if (message.kind === "leader") {
        // A new leader: a tab still waiting for its catch-up asks it, in case the last one died first.
        if (this._waiting) this._post({ kind: "hello", tab: this._tab });
      } else if (message.kind === "catch-up") {
        if (message.to !== this._tab || !this._waiting) return;
        const waited = this._waiting;
        this._waiting = null;
        this._setState(message.state);
        for (const event of message.events) this._deliver(event, "catch-up");
        // What the leader sent before its catch-up is in the catch-up.
        for (const held of waited) {
          if (!(held.term === message.term && held.seq <= message.seq)) this._receive(held);
        }
      } else if (this._waiting) {
        this._waiting.push(message);
      } else if (message.kind === "event") {
        this._deliver(message.event, message.term);
      } else if (message.kind === "state") {
        this._setState(message.state, message.dispatch);
      }
    }

    // Dispatches an event in this tab, unless it is a repeat. `from` is the leadership term the
    // event came from, or "catch-up".
    _deliver(event, from) {
      if (event.id !== null) {
        for (let i = this._log.length - 1; i >= 0; i--) {
          const seen = this._log[i];
          if (seen.event.id === event.id && seen.from !== from) return;
        }
        this._log.push({ event, from });
        if (this._log.length > this._history) this._log.shift();
      } else if (event.type === RESET_EVENT) {
        // The server forgot the history: a tab opened later must not catch up on the old one.
        this._log = [];
      }
      this._lastEventId = event.lastEventId;
      const message = new MessageEvent(event.type, { data: event.data, lastEventId: event.lastEventId, origin: this._origin });
      Object.defineProperty(message, "id", { value: event.id });
      this.dispatchEvent(message);
      try {
        if (this.onevent) this.onevent(message);
      } catch (error) {
        // Reported like a listener's error, without breaking the stream that called it.
        setTimeout(() => {
          throw error;
        });
      }
    }

    _setState(state, dispatch) {
      const changed = state !== this.readyState;
      this.readyState = state;
      if (dispatch === "error" || (state === CLOSED && changed)) this.dispatchEvent(new Event("error"));
      else if (state === OPEN && changed) this.dispatchEvent(new Event("open"));
      if (state === CLOSED) this.close();
    }

    // This tab leads: it reads the stream and passes on what it reads. `release` ends the lock.
    _lead(release) {
      if (this._closed) return release && release();
      this._release = release;
      this._leading = true;
      this._term = randomName();
      this._seq = 0;
      // A tab that never caught up has no history: it reads the stream from the start (which
      // holds what it was holding back).
      const resumeFrom = this._waiting ? "" : this._lastEventId;
      this._waiting = null;
      this._post({ kind: "leader", term: this._term });
      this._read(resumeFrom);
    }

    // Posts a message to the other tabs, numbered within this leadership.
    _broadcast(message) {
      this._seq += 1;
      message.term = this._term;
      message.seq = this._seq;
      this._post(message);
    }

    _announce(state, dispatch) {
      this._broadcast({ kind: "state", state, dispatch });
      this._setState(state, dispatch);
    }

    async _read(resumeFrom) {
      let retry = DEFAULT_RETRY_MS;
      const parser = new StreamParser(
        (event) => {
          this._broadcast({ kind: "event", event });
          this._deliver(event, this._term);
        },
        (ms) => (retry = ms),
      );
      parser.lastEventId = resumeFrom;
      while (!this._closed) {
        const url = new URL(this.url);
        if (parser.lastEventId !== "") url.searchParams.set("lastEventId", parser.lastEventId);
        this._connection = new AbortController();
        let response = null;
        try {
          response = await fetch(url, {
            headers: { Accept: "text/event-stream" },
            cache: "no-store",
            credentials: this.withCredentials ? "include" : "same-origin",
            signal: this._connection.signal,
          });
        } catch (error) {
          // Unreachable: try again later, as EventSource does.
        }
        if (this._closed) return;
        if (response !== null) {
          const type = response.headers.get("Content-Type") || "";
          if (response.status !== 200 || !/^text\/event-stream\s*(;|$)/i.test(type)) {
            // A 204, an error status or another content type ends the stream for good.
            return this._announce(CLOSED, "error");
          }
          this._announce(OPEN);
          parser.reset();
          try {
            const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
            for (;;) {
              const { value, done } = await reader.read();
              if (done || this._closed) break;
              parser.feed(value);
            }
          } catch (error) {
            // The connection broke: reconnect below.
          }
          if (this._closed) return;
        }
        this._announce(CONNECTING, "error");
        await new Promise((wake) => setTimeout(wake, retry));
      }
    }
  }

  SharedEventSource.CONNECTING = CONNECTING;
  SharedEventSource.OPEN = OPEN;
  SharedEventSource.CLOSED = CLOSED;
  // The parser, for tests: new StreamParser(onEvent, onRetry), then feed(text) in any split.
  SharedEventSource.StreamParser = StreamParser;
  globalThis.SharedEventSource = SharedEventSource;
})();
