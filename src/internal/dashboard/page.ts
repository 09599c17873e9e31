/**
 * The dashboard's one page: plain HTML, CSS and DOM code, no framework and
 * no build step. It follows `/api/events` (Server-Sent Events, read with
 * `fetch` so that a bearer token can be sent) and falls back to polling
 * `/api/snapshot`; it draws every value with `textContent` (key names are
 * data, never markup). A token is taken from the page's `#token=…` fragment,
 * which browsers never send to the server.
 */

/** The page, for a dashboard refreshed every `interval` ms; `readOnly` hides the buttons that write. */
export const page = (options: { readonly interval: number; readonly readOnly: boolean }): string => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>effect-redis-streams dashboard</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2330; background: #f6f7f9; }
  h1 { font-size: 1.3rem; margin: 0 0 .25rem; } h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
  #status { color: #5b6475; margin-bottom: 1rem; } #status.down { color: #b3261e; }
  table { border-collapse: collapse; background: #fff; width: 100%; margin-bottom: .5rem; }
  th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #e3e6eb; vertical-align: top; }
  th { background: #eef0f4; font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .stream { margin-bottom: 1.25rem; padding: .75rem; background: #fff; border: 1px solid #dde1e7; border-radius: 6px; }
  .stream h3 { margin: 0 0 .4rem; font-size: 1rem; } .meta { color: #5b6475; margin-bottom: .4rem; }
  .stale { color: #b3261e; font-weight: 600; } .muted { color: #8a93a3; } .paused { color: #9a6700; font-weight: 600; }
  svg.spark { vertical-align: middle; } .legend-pending { color: #2563eb; } .legend-lag { color: #d97706; }
  button { font: inherit; padding: .2rem .7rem; cursor: pointer; } #dlq-view { margin-top: .75rem; }
  #message { margin: .5rem 0; color: #0f5132; } #message.error { color: #b3261e; }
</style>
</head>
<body>
<h1>effect-redis-streams</h1>
<div id="status">connecting…</div>
<div id="message"></div>
<h2>Streams</h2>
<div id="streams"><p class="muted">No stream yet.</p></div>
<h2>Dead-letter streams</h2>
<div id="dlqs"><p class="muted">No dead-letter stream.</p></div>
<div id="dlq-view" hidden>
  <h2 id="dlq-title"></h2>
  <button id="redrive" type="button"${options.readOnly ? " hidden" : ""}>Redrive all shown</button>
  <button id="dlq-close" type="button">Close</button>
  <table><thead><tr><th>dead-letter id</th><th>from stream</th><th>group</th><th>consumer</th><th>id</th>
  <th>deliveries</th><th>reason</th><th>error</th><th>dead-lettered</th><th>fields</th></tr></thead><tbody id="letters"></tbody></table>
</div>
<script>
"use strict";
const INTERVAL = ${options.interval};
const READ_ONLY = ${options.readOnly};
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const headers = token ? { authorization: "Bearer " + token } : {};
let openDlq = null;

const el = (tag, attrs, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") node.textContent = v; else if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
};
const api = (path, init) => fetch(path, { ...init, headers: { ...headers, ...(init && init.headers) } }).then(async (res) => {
  const body = await res.json();
  if (!res.ok) throw new Error(body.message || res.statusText);
  return body;
});
const enc = encodeURIComponent;
const ms = (n) => n < 1000 ? n + " ms" : n < 60000 ? (n / 1000).toFixed(1) + " s" : Math.round(n / 60000) + " min";
const say = (text, error) => { const m = document.getElementById("message"); m.textContent = text; m.className = error ? "error" : ""; };

const SVG = "http://www.w3.org/2000/svg";
const spark = (pending, lag) => {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "spark"); svg.setAttribute("width", "160"); svg.setAttribute("height", "28");
  const values = pending.concat(lag.filter((v) => v !== null));
  const max = Math.max(1, ...values);
  const line = (series, color) => {
    const points = series.map((v, i) => v === null ? null : [i * 160 / Math.max(1, series.length - 1), 26 - v * 24 / max])
      .filter((p) => p !== null).map((p) => p[0].toFixed(1) + "," + p[1].toFixed(1)).join(" ");
    const path = document.createElementNS(SVG, "polyline");
    path.setAttribute("points", points); path.setAttribute("fill", "none"); path.setAttribute("stroke", color);
    path.setAttribute("stroke-width", "1.5");
    svg.append(path);
  };
  line(pending, "#2563eb"); line(lag, "#d97706");
  return svg;
};

const groupTable = (stream, groups) => {
  const body = el("tbody");
  for (const g of groups) {
    const consumers = el("td", { "data-field": "consumers" });
    if (g.consumers.length === 0) consumers.append(el("span", { class: "muted", text: "none" }));
    for (const c of g.consumers) {
      consumers.append(el("div", { class: c.stale ? "stale" : "", "data-consumer": c.name },
        el("span", { text: c.name }), " · ", el("span", { text: c.pending + " pending" }), " · idle ",
        el("span", { text: ms(c.idle) + (c.stale ? " (stale)" : "") })));
    }
    const gc = el("button", { type: "button", "data-action": "gc" }, "gc dry run");
    gc.onclick = () => api("/api/streams/" + enc(stream) + "/groups/" + enc(g.name) + "/gc?dryRun=true", { method: "POST" })
      .then((actions) => {
        const counts = {};
        for (const a of actions) counts[a._tag] = (counts[a._tag] || 0) + 1;
        say("gc dry run on " + g.name + ": " + (Object.entries(counts).map(([k, v]) => v + " " + k).join(", ") || "nothing to do"));
      }, (e) => say(e.message, true));
    const toggle = el("button", { type: "button", "data-action": g.paused ? "resume" : "pause" }, g.paused ? "resume" : "pause");
    toggle.onclick = () => api("/api/streams/" + enc(stream) + "/groups/" + enc(g.name) + (g.paused ? "/resume" : "/pause"), { method: "POST" })
      .then((state) => say(g.name + (state.paused ? " paused: its consumers read nothing until it is resumed" : " resumed")), (e) => say(e.message, true));
    body.append(el("tr", { "data-group": stream + "|" + g.name },
      el("td", {}, el("span", { text: g.name }), g.paused ? el("span", { class: "paused", "data-field": "paused", text: " paused" }) : ""),
      el("td", { class: "num", "data-field": "pending", text: String(g.pending) }),
      el("td", { class: "num", "data-field": "lag", text: g.lag === null ? "–" : String(g.lag) }),
      el("td", { "data-field": "last-delivered", text: g.lastDeliveredId }),
      el("td", {}, spark(g.history.pending, g.history.lag)),
      consumers,
      el("td", {}, READ_ONLY ? "" : gc, READ_ONLY ? "" : " ", READ_ONLY ? "" : toggle)));
  }
  const sparkHead = el("th", {}, el("span", { class: "legend-pending", text: "pending" }), " / ",
    el("span", { class: "legend-lag", text: "lag" }));
  return el("table", {}, el("thead", {}, el("tr", {}, ...["group", "pending", "lag", "last delivered"].map((h) => el("th", { text: h })),
    sparkHead, el("th", { text: "consumers" }), el("th", { text: "" }))), body);
};

const render = (snapshot) => {
  const streams = document.getElementById("streams");
  streams.replaceChildren();
  if (snapshot.streams.length === 0) streams.append(el("p", { class: "muted", text: "No stream yet." }));
  for (const s of snapshot.streams) {
    const rate = (s.addedPerSecond === null ? "" : " · " + s.addedPerSecond.toFixed(1) + " added/s") +
      (s.delayed.count === 0 ? "" : " · " + s.delayed.count + " delayed, next due " + new Date(s.delayed.nextDue).toLocaleTimeString());
    streams.append(el("div", { class: "stream", "data-stream": s.name },
      el("h3", { text: s.name }),
      el("div", { class: "meta" }, el("span", { "data-field": "length", text: String(s.length) }), " entries · first ",
        el("span", { text: s.firstId || "–" }), " · last ", el("span", { text: s.lastId || "–" }), rate,
        s.dlq === s.name ? " · a dead-letter stream" : " · dead letters in ", el("span", { text: s.dlq === s.name ? "" : s.dlq })),
      s.groups.length === 0 ? el("p", { class: "muted", text: "No consumer group." }) : groupTable(s.name, s.groups)));
  }
  const dlqs = document.getElementById("dlqs");
  dlqs.replaceChildren();
  if (snapshot.dlqs.length === 0) dlqs.append(el("p", { class: "muted", text: "No dead-letter stream." }));
  for (const d of snapshot.dlqs) {
    const view = el("button", { type: "button", "data-action": "view" }, "view");
    view.onclick = () => showDlq(d.name);
    dlqs.append(el("div", { "data-dlq": d.name }, el("strong", { text: d.name }), ": ",
      el("span", { "data-field": "length", text: String(d.length) }), " entries from ",
      el("span", { text: d.origins.join(", ") }), " ", view));
  }
  const status = document.getElementById("status");
  status.textContent = "live (" + mode + ") · refreshed " + new Date(snapshot.at).toLocaleTimeString();
  status.className = "";
  if (openDlq !== null) loadLetters();
};

const showDlq = (name) => { openDlq = name; document.getElementById("dlq-view").hidden = false; loadLetters(); };
const loadLetters = () => {
  const name = openDlq;
  document.getElementById("dlq-title").textContent = "Dead letters in " + name;
  return api("/api/dlq/" + enc(name) + "?count=100").then((letters) => {
    if (name !== openDlq) return;
    const body = document.getElementById("letters");
    body.replaceChildren(...letters.map((l) => el("tr", { "data-letter": l.dlqId },
      ...[l.dlqId, l.stream, l.group, l.consumer, l.id, String(l.deliveries), l.reason,
        l.error === undefined ? "" : (l.error.tag === undefined ? "" : l.error.tag + ": ") + l.error.message,
        new Date(l.deadLetteredAt).toISOString(), JSON.stringify(l.fields)].map((v) => el("td", { text: v })))));
    document.getElementById("redrive").dataset.count = String(letters.length);
  }, (e) => say(e.message, true));
};
document.getElementById("dlq-close").onclick = () => { openDlq = null; document.getElementById("dlq-view").hidden = true; };
document.getElementById("redrive").onclick = () => {
  const count = Number(document.getElementById("redrive").dataset.count || "0");
  if (openDlq === null || count === 0) return say("nothing to redrive");
  api("/api/dlq/" + enc(openDlq) + "/redrive?count=" + count, { method: "POST" })
    .then((moved) => { say("redrove " + moved.length + " entr" + (moved.length === 1 ? "y" : "ies")); loadLetters(); },
      (e) => say(e.message, true));
};

let mode = "events";
const down = (why) => { const s = document.getElementById("status"); s.textContent = "disconnected: " + why; s.className = "down"; };
const poll = () => {
  mode = "polling";
  const tick = () => api("/api/snapshot").then(render, (e) => down(e.message)).finally(() => setTimeout(tick, INTERVAL));
  tick();
};
const follow = async () => {
  const res = await fetch("/api/events", { headers });
  if (!res.ok || !res.body) throw new Error("events unavailable (" + res.status + ")");
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  while (true) {
    const { value, done } = await reader.read();
    if (done) throw new Error("event stream ended");
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\\n\\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.split("\\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\\n");
      if (data) render(JSON.parse(data));
    }
  }
};
follow().catch((e) => { down(e.message); poll(); });
</script>
</body>
</html>
`
