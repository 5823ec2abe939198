//! The page at `/` of a Mercure hub: what the hub is and how to use it, and a live view of the
//! updates a visitor may see (public ones, unless the browser holds a token cookie).

/// The status page.
pub(crate) const STATUS_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>bare-sse: Mercure hub</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }
  code, pre { background: #f3f3f3; padding: 0.1rem 0.3rem; }
  pre { padding: 0.6rem; overflow-x: auto; }
  #updates li { font-family: monospace; }
</style>
</head>
<body>
<h1>Mercure hub</h1>
<p>This is a <a href="https://mercure.rocks">Mercure</a> hub served by bare-sse. Subscribe with
<code>GET /.well-known/mercure?match=TOPIC</code> (or <code>match_urlpattern=PATTERN</code>);
publish with a <code>POST</code> to the same URL, a form with <code>topic</code> and
<code>data</code>, and a publisher's token in <code>Authorization: Bearer</code>.</p>
<form id="watch">
  <label>Watch topics matching <input name="pattern" size="40" value="*"></label>
  <button>Watch</button>
</form>
<p id="state">Not watching.</p>
<ol id="updates"></ol>
<script>
  let source = null;
  document.getElementById("watch").addEventListener("submit", (event) => {
    event.preventDefault();
    if (source) source.close();
    const pattern = new FormData(event.target).get("pattern");
    const url = new URL("/.well-known/mercure", location.origin);
    url.searchParams.append(pattern.includes(":") || pattern === "*" ? "match_urlpattern" : "match", pattern);
    source = new EventSource(url, { withCredentials: true });
    const state = document.getElementById("state");
    source.onopen = () => { state.textContent = "Watching " + pattern + "."; };
    source.onerror = () => { state.textContent = "Not connected (is a token needed?); retrying."; };
    source.onmessage = (message) => {
      const item = document.createElement("li");
      item.textContent = message.lastEventId + ": " + message.data;
      document.getElementById("updates").prepend(item);
    };
  });
</script>
</body>
</html>
"#;
