// mockserver inspector: a live view of the request journal.
//
// Reads GET /__admin/requests/stream (server-sent events, one JournalEntry per
// `data:` line) with fetch() so it can send the admin token, and keeps a list
// of rows, newest first. A stream shows up when it starts; the feed's partial
// entries (`update: true`, same `id`) then add its events as they go out, and
// its stored entry replaces them when it ends. No framework, no build step
// (ES modules, served as they are); every value from the server goes into the
// page as text, never as HTML.
import { $, clockTime, el, notice } from "./dom.js";
import { AuthNeeded, api, apiJson, auth, setToken } from "./api.js";
import {
  fromUpdate, isInvalid, isPreflight, isStreaming, isUnmatched, mergeUpdate, refusal, sourceLabel, unknownRoute,
} from "./entries.js";
import { refreshDetail, renderDetail, showSnippet } from "./detail.js";
import { asCurl, asFetch } from "./snippets.js";
import { followServer, initPanels, loadFixtures, loadSettings } from "./panels.js";

const MAX_ROWS = 5000;          // oldest rows are dropped past this
const BACKLOG = 1000;           // entries the stream starts with (the API's maximum)
const RECONNECT_MS = 1000;

const state = {
  entries: [],                  // oldest first
  byId: new Map(),              // entry id -> entry (a running stream's updates find it here)
  rows: new Map(),              // entry -> <tr>
  selected: null,
  filter: "all",
  preflights: false,            // CORS preflight rows shown
  stream: null,                 // AbortController of the open stream
};

const emptyDefault = $("empty").cloneNode(true);   // "No requests yet..." with its markup

function askForToken(message) {
  stopStream();
  setConn("locked", "token needed");
  $("token-form").hidden = false;
  $("token-error").textContent = message;
  $("token").focus();
}
auth.onNeeded = askForToken;

// ---- the live stream -----------------------------------------------------

function setConn(kind, text) {
  const conn = $("conn");
  conn.dataset.state = kind;
  conn.textContent = text;
}

function stopStream() {
  if (state.stream) state.stream.abort();
  state.stream = null;
}

async function connect() {
  stopStream();
  if (auth.needed) return;
  const ctrl = new AbortController();
  state.stream = ctrl;
  setConn("connecting", "connecting");
  try {
    const res = await api(`/__admin/requests/stream?backlog=${BACKLOG}`, {
      signal: ctrl.signal, headers: { Accept: "text/event-stream" }, cache: "no-store",
    });
    if (!res.ok || !res.body) throw new Error(`stream answered HTTP ${res.status}`);
    clearRows();                 // the stream starts with the backlog: rebuild from it
    setConn("live", "live");
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer = (buffer + value).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        handleEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  } catch (err) {
    if (ctrl.signal.aborted || err instanceof AuthNeeded) return;
  }
  if (state.stream !== ctrl) return;
  setConn("down", "reconnecting");
  setTimeout(() => { if (state.stream === ctrl) connect(); }, RECONNECT_MS);
}

function handleEvent(block) {
  const data = block.split("\n")
    .filter((line) => line.startsWith("data:"))
    .map((line) => line.slice(line.startsWith("data: ") ? 6 : 5))
    .join("\n");
  if (!data) return;             // a comment or keep-alive
  let item;
  try { item = JSON.parse(data); } catch { return; }
  receive(item);
}

// A new entry, a running stream's update, or the stored entry that replaces it.
function receive(item) {
  const known = item.id ? state.byId.get(item.id) : undefined;
  if (!known) {
    addEntry(item.update ? fromUpdate(item) : item);
    return;
  }
  if (item.update) {
    mergeUpdate(known, item);
  } else {
    for (const key of Object.keys(known)) if (!(key in item)) delete known[key];
    Object.assign(known, item);
  }
  redrawRow(known);
  if (state.selected === known) refreshDetail(known, actions);
}

// ---- the list ------------------------------------------------------------

function addEntry(entry) {
  state.entries.push(entry);
  if (entry.id) state.byId.set(entry.id, entry);
  const row = renderRow(entry);
  state.rows.set(entry, row);
  $("rows").prepend(row);
  if (state.entries.length > MAX_ROWS) {
    const old = state.entries.shift();
    state.rows.get(old).remove();
    state.rows.delete(old);
    if (old.id) state.byId.delete(old.id);
  }
  updateCounts();
}

function redrawRow(entry) {
  const old = state.rows.get(entry);
  if (!old) return;
  const row = renderRow(entry);
  if (state.selected === entry) row.classList.add("selected");
  old.replaceWith(row);
  state.rows.set(entry, row);
  if (document.activeElement === old) row.focus();
  updateCounts();
}

function streamTag(e) {
  if (!e.stream) return null;
  if (isStreaming(e)) return el("span", { class: "tag stream live", text: `streaming · ${e.stream.events}` });
  return el("span", { class: "tag stream", text: "stream" });
}

function renderRow(e) {
  const invalid = isInvalid(e);
  const why = refusal(e);
  const classes = ["row"];
  if (invalid) classes.push("invalid");
  if (unknownRoute(e)) classes.push("unknown-route");
  if (isUnmatched(e)) classes.push("unmatched");
  if (isPreflight(e)) classes.push("preflight");
  if (isStreaming(e)) classes.push("streaming");
  if (e.status >= 400) classes.push("failed");
  const what = e.operation ? `${e.operation}` : `${e.method} ${e.path}`;
  const request = el("td", { class: "c-request" },
    el("div", { class: "what" },
      why ? el("span", { class: "marker", title: why, text: invalid ? "✖" : "?" }) : null,
      el("span", { class: "method", text: e.method }),
      el("span", { class: "path", text: e.path }),
      e.operation ? el("span", { class: "op muted", text: `${e.spec || ""} · ${what}` }) : null,
      isPreflight(e) ? el("span", { class: "tag", text: "preflight" }) : null,
      streamTag(e)),
    e.error ? el("div", { class: "err" },
      why && !invalid ? el("span", { class: "why", text: `${why}: ` }) : null,
      e.error.param ? el("code", { class: "param", text: e.error.param }) : null,
      el("span", { class: "message", text: e.error.message })) : null);
  const row = el("tr", { class: classes.join(" "), tabindex: "0", "data-source": e.source || "", "data-id": e.id || "" },
    el("td", { class: "c-time", text: clockTime(e.time) }),
    request,
    el("td", { class: "c-status" }, el("span", { class: `status s${String(e.status || 0)[0]}xx`, text: e.status ?? "—" })),
    el("td", { class: "c-source" },
      el("span", { class: `source${e.fixture ? " fixture" : ""}${isUnmatched(e) ? " unmatched" : ""}`, text: sourceLabel(e) })),
    el("td", { class: "c-ms", text: isStreaming(e) ? "…" : (e.duration_ms !== undefined ? Math.round(e.duration_ms) : "") }));
  row.addEventListener("click", () => select(e));
  row.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); select(e); }
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      let next = ev.key === "ArrowDown" ? row.nextElementSibling : row.previousElementSibling;
      while (next && next.offsetParent === null) {
        next = ev.key === "ArrowDown" ? next.nextElementSibling : next.previousElementSibling;
      }
      if (next) next.focus();
    }
  });
  return row;
}

function clearRows() {
  state.entries = [];
  state.byId.clear();
  state.rows.clear();
  $("rows").replaceChildren();
  select(null);
  updateCounts();
}

function updateCounts() {
  const counts = { all: 0, unmatched: 0, invalid: 0, preflight: 0 };
  for (const e of state.entries) {
    if (isPreflight(e)) {
      counts.preflight += 1;
      if (!state.preflights) continue;   // hidden rows are not counted
    }
    counts.all += 1;
    if (isUnmatched(e)) counts.unmatched += 1;
    if (isInvalid(e)) counts.invalid += 1;
  }
  for (const span of document.querySelectorAll("[data-count]")) {
    span.textContent = counts[span.dataset.count];
  }
  const empty = $("empty");
  empty.hidden = counts[state.filter] > 0;
  if (counts.all === 0 && counts.preflight > 0) {
    empty.textContent = `Only CORS preflights so far (${counts.preflight}): tick "Preflights" to see them.`;
  } else if (state.filter === "all" || counts.all === 0) {
    empty.replaceChildren(...emptyDefault.cloneNode(true).childNodes);
  } else {
    empty.textContent = `No ${state.filter} requests among the ${counts.all} shown.`;
  }
}

function setFilter(name) {
  state.filter = name;
  $("requests").dataset.filter = name;  // the CSS hides the rows that do not match
  for (const button of document.querySelectorAll("#filters button")) {
    button.classList.toggle("active", button.dataset.filter === name);
    button.setAttribute("aria-pressed", String(button.dataset.filter === name));
  }
  updateCounts();
}

function showPreflights(on) {
  state.preflights = on;
  $("requests").dataset.preflights = on ? "shown" : "hidden";  // the CSS hides them too
  updateCounts();
}

// ---- the detail panel ----------------------------------------------------

function select(entry) {
  if (state.selected && state.rows.has(state.selected)) state.rows.get(state.selected).classList.remove("selected");
  state.selected = entry;
  if (entry && state.rows.has(entry)) state.rows.get(entry).classList.add("selected");
  renderDetail(entry, actions);
}

// ---- actions -------------------------------------------------------------

// Headers that change how the mock answers; the rest (host, length, secrets) are not replayed.
const REPLAYED_HEADERS = /^(x-mock-|prefer$)/i;

async function replay(e) {
  const headers = { "Content-Type": "application/json" };
  for (const [name, value] of Object.entries(e.headers || {})) {
    if (REPLAYED_HEADERS.test(name) && value !== "[redacted]") headers[name] = value;
  }
  const body = typeof e.body === "string" ? e.body : JSON.stringify(e.body);
  try {
    const res = await fetch(e.path + (e.query ? `?${e.query}` : ""), { method: e.method, headers, body });
    await res.text();            // read streams to the end, so they are journaled complete
    notice(`Replayed ${e.method} ${e.path}: HTTP ${res.status}`, !res.ok);
  } catch (err) {
    notice(`Replay failed: ${err.message}`, true);
  }
}

async function copy(e, kind) {
  const text = kind === "curl" ? asCurl(e) : asFetch(e);
  showSnippet(text, kind);     // shown as well: the clipboard may be refused (no focus, no permission)
  try {
    await navigator.clipboard.writeText(text);
    notice(`Copied as ${kind === "curl" ? "a curl command" : "a fetch() call"}.`);
  } catch {
    notice("The clipboard is not available here: select the text below.");
  }
}

const actions = { replay, copy };

async function reset() {
  try {
    await apiJson("/__admin/reset", { method: "POST" });
    clearRows();
    loadFixtures();
    loadSettings();
    notice("Reset: journal, scenarios, counters, settings, runtime fixtures and threads forgotten.");
  } catch (err) {
    if (!(err instanceof AuthNeeded)) notice(`Reset failed: ${err.message}`, true);
  }
}

async function clearJournal() {
  try {
    await apiJson("/__admin/requests", { method: "DELETE" });
    clearRows();
    notice("Journal cleared.");
  } catch (err) {
    if (!(err instanceof AuthNeeded)) notice(`Clear failed: ${err.message}`, true);
  }
}

async function exportHar() {
  try {
    const res = await api("/__admin/requests.har");
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const url = URL.createObjectURL(await res.blob());
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    const link = el("a", { href: url, download: `mockserver-${stamp}.har`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (err) {
    if (!(err instanceof AuthNeeded)) notice(`HAR export failed: ${err.message}`, true);
  }
}

async function loadHealth() {
  const health = await apiJson("/__admin/health");
  const specs = health.specs.map((s) => s.name).join(", ");
  $("server-info").textContent = `v${health.version || "?"} · ${specs}`;
}

async function start() {
  try {
    await loadHealth();
  } catch (err) {
    if (!(err instanceof AuthNeeded)) notice(`Health: ${err.message}`, true);
    if (err instanceof AuthNeeded) return;
  }
  loadFixtures();
  loadSettings();
  connect();
  followServer();
}

// ---- wiring --------------------------------------------------------------

function init() {
  for (const button of document.querySelectorAll("#filters button")) {
    button.addEventListener("click", () => setFilter(button.dataset.filter));
  }
  $("show-preflights").addEventListener("change", (ev) => showPreflights(ev.target.checked));
  $("reset").addEventListener("click", reset);
  $("clear").addEventListener("click", clearJournal);
  $("export-har").addEventListener("click", exportHar);
  $("notice").addEventListener("click", () => { $("notice").hidden = true; });
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    setToken($("token").value.trim());
    $("token-form").hidden = true;
    start();
  });
  initPanels();
  window.addEventListener("pagehide", stopStream);
  setFilter("all");
  showPreflights($("show-preflights").checked);
  start();
}

init();
