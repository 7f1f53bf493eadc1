// mockserver inspector: a live view of the request journal.
//
// Reads GET /__admin/requests/stream (server-sent events, one JournalEntry per
// `data:` line) with fetch() so it can send the admin token, and keeps a list
// of rows, newest first. No framework, no build step; every value from the
// server goes into the page as text, never as HTML.
"use strict";

(() => {
  const MAX_ROWS = 5000;          // oldest rows are dropped past this
  const BACKLOG = 1000;           // entries the stream starts with (the API's maximum)
  const RECONNECT_MS = 1000;
  const TOKEN_KEY = "mockserver.adminToken";

  const state = {
    entries: [],                  // oldest first
    rows: new Map(),              // entry -> <tr>
    selected: null,
    filter: "all",
    token: sessionStorage.getItem(TOKEN_KEY) || "",
    needToken: false,
    stream: null,                 // AbortController of the open stream
  };

  const $ = (id) => document.getElementById(id);
  const emptyDefault = $("empty").cloneNode(true);   // "No requests yet..." with its markup

  class AuthNeeded extends Error {}

  // ---- small helpers -------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function clockTime(seconds) {
    const d = new Date(seconds * 1000);
    const pad = (n, w = 2) => String(n).padStart(w, "0");
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }

  function pretty(body) {
    if (body === null || body === undefined) return "(no body)";
    if (typeof body === "string") return body;          // journaled as raw text: it was not JSON
    return JSON.stringify(body, null, 2);
  }

  // The same rules as the admin API's filters (mockserver/admin/handlers.py).
  const isInvalid = (e) => Boolean(e.error) && (e.source === null || e.source === undefined);
  const isUnmatched = (e) => e.source === "unmatched";

  function sourceLabel(e) {
    const s = e.source;
    if (s === null || s === undefined) return e.error ? "refused" : "—";
    if (s.startsWith("fixture:")) return e.fixture || s.slice(8);
    return s;
  }

  let noticeTimer = null;
  function notice(text, bad = false) {
    const box = $("notice");
    box.textContent = text;
    box.classList.toggle("bad", bad);
    box.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { box.hidden = true; }, 4000);
  }

  // ---- the admin API -------------------------------------------------------

  async function api(path, options = {}) {
    const headers = new Headers(options.headers || {});
    if (state.token) headers.set("Authorization", `Bearer ${state.token}`);
    const res = await fetch(path, { ...options, headers });
    if (res.status === 401) {
      askForToken(state.token ? "That token was refused." : "");
      throw new AuthNeeded("admin token needed");
    }
    return res;
  }

  async function apiJson(path, options) {
    const res = await api(path, options);
    const data = await res.json().catch(() => null);
    if (!res.ok) {
      const message = data && data.error ? data.error.message : `HTTP ${res.status}`;
      throw new Error(message);
    }
    return data;
  }

  function askForToken(message) {
    state.needToken = true;
    stopStream();
    setConn("locked", "token needed");
    $("token-form").hidden = false;
    $("token-error").textContent = message;
    $("token").focus();
  }

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
    if (state.needToken) return;
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
    let entry;
    try { entry = JSON.parse(data); } catch { return; }
    addEntry(entry);
  }

  // ---- the list ------------------------------------------------------------

  function addEntry(entry) {
    state.entries.push(entry);
    const row = renderRow(entry);
    state.rows.set(entry, row);
    $("rows").prepend(row);
    if (state.entries.length > MAX_ROWS) {
      const old = state.entries.shift();
      state.rows.get(old).remove();
      state.rows.delete(old);
    }
    updateCounts();
  }

  function renderRow(e) {
    const invalid = isInvalid(e);
    const classes = ["row"];
    if (invalid) classes.push("invalid");
    if (isUnmatched(e)) classes.push("unmatched");
    if (e.status >= 400) classes.push("failed");
    const what = e.operation ? `${e.operation}` : `${e.method} ${e.path}`;
    const request = el("td", { class: "c-request" },
      el("div", { class: "what" },
        invalid ? el("span", { class: "marker", title: "refused as invalid", text: "✖" }) : null,
        el("span", { class: "method", text: e.method }),
        el("span", { class: "path", text: e.path }),
        e.operation ? el("span", { class: "op muted", text: `${e.spec || ""} · ${what}` }) : null,
        e.stream ? el("span", { class: "tag", text: "stream" }) : null),
      e.error ? el("div", { class: "err" },
        e.error.param ? el("code", { class: "param", text: e.error.param }) : null,
        el("span", { class: "message", text: e.error.message })) : null);
    const source = sourceLabel(e);
    const row = el("tr", { class: classes.join(" "), tabindex: "0", "data-source": e.source || "" },
      el("td", { class: "c-time", text: clockTime(e.time) }),
      request,
      el("td", { class: "c-status" }, el("span", { class: `status s${String(e.status || 0)[0]}xx`, text: e.status ?? "—" })),
      el("td", { class: "c-source" },
        el("span", { class: `source${e.fixture ? " fixture" : ""}${isUnmatched(e) ? " unmatched" : ""}`, text: source })),
      el("td", { class: "c-ms", text: e.duration_ms !== undefined ? Math.round(e.duration_ms) : "" }));
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
    state.rows.clear();
    $("rows").replaceChildren();
    select(null);
    updateCounts();
  }

  function updateCounts() {
    const counts = { all: state.entries.length, unmatched: 0, invalid: 0 };
    for (const e of state.entries) {
      if (isUnmatched(e)) counts.unmatched += 1;
      if (isInvalid(e)) counts.invalid += 1;
    }
    for (const span of document.querySelectorAll("[data-count]")) {
      span.textContent = counts[span.dataset.count];
    }
    const empty = $("empty");
    empty.hidden = counts[state.filter] > 0;
    if (state.filter === "all" || counts.all === 0) empty.replaceChildren(...emptyDefault.cloneNode(true).childNodes);
    else empty.textContent = `No ${state.filter} requests among the ${counts.all} shown.`;
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

  // ---- the detail panel ----------------------------------------------------

  function select(entry) {
    if (state.selected && state.rows.has(state.selected)) state.rows.get(state.selected).classList.remove("selected");
    state.selected = entry;
    if (entry && state.rows.has(entry)) state.rows.get(entry).classList.add("selected");
    renderDetail(entry);
  }

  function field(name, value) {
    return [el("dt", { text: name }), el("dd", {}, value)];
  }

  function renderDetail(e) {
    const panel = $("detail");
    if (!e) {
      panel.replaceChildren(el("p", { class: "muted", text: "Click a request to see its body, headers, error, near misses and stream." }));
      return;
    }
    const canReplay = e.method !== "GET" && e.method !== "HEAD" && e.body !== null && e.body !== undefined;
    const parts = [
      el("div", { class: "panel-head" },
        el("h2", {}, el("span", { class: "method", text: e.method }), " ", el("span", { text: e.path })),
        el("button", { type: "button", id: "replay", disabled: !canReplay,
                       title: "send this body again to the same path", onclick: () => replay(e) }, "Replay")),
      el("dl", { class: "facts" },
        field("time", `${new Date(e.time * 1000).toISOString()}`),
        field("operation", e.operation ? `${e.spec} · ${e.operation}` : "— (no operation)"),
        field("status", el("span", { class: `status s${String(e.status || 0)[0]}xx${isInvalid(e) ? " invalid" : ""}`,
                                     text: e.status ?? "—" })),
        field("source", e.source ?? (e.error ? "none: refused before a source was chosen" : "—")),
        e.fixture ? field("fixture", e.fixture) : null,
        field("session", e.session || "default"),
        field("duration", `${e.duration_ms} ms`)),
    ];

    if (e.error) {
      parts.push(el("section", { class: "error-box" },
        el("h3", { text: isInvalid(e) ? "Refused as invalid" : "Error answered" }),
        el("p", { class: "message", text: e.error.message }),
        el("dl", { class: "facts" },
          field("param", e.error.param ? el("code", { text: e.error.param }) : "—"),
          field("type", e.error.type || "—"),
          field("code", e.error.code || "—"))));
    }

    if (e.near_misses && e.near_misses.length) {
      parts.push(el("section", { class: "near-misses" },
        el("h3", { text: `Near misses (${e.near_misses.length})` }),
        el("ul", {}, e.near_misses.map((m) => el("li", { text: m })))));
    }

    if (e.stream) {
      const s = e.stream;
      const flag = (name, on, bad) => el("span", { class: `flag ${on ? (bad ? "bad" : "good") : "off"}`, text: `${name}: ${on ? "yes" : "no"}` });
      parts.push(el("section", { class: "stream" },
        el("h3", { text: "Stream" }),
        el("p", { class: "flags" },
          el("span", { class: "flag", text: `events: ${s.events}` }),
          flag("done", s.done, false), flag("cut", s.cut, true),
          flag("error", s.error, true), flag("disconnected", s.disconnected, true))));
    }

    parts.push(el("section", { class: "body" },
      el("h3", {}, "Request body", typeof e.body === "string" ? el("span", { class: "muted", text: " (not JSON)" }) : null),
      el("pre", { class: "json", text: pretty(e.body) })));

    const headers = Object.entries(e.headers || {});
    parts.push(el("section", { class: "headers" },
      el("h3", { text: `Headers (${headers.length})` }),
      el("table", { class: "kv" }, el("tbody", {},
        headers.map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", { text: v })))))));

    parts.push(el("p", { class: "muted small", text: "The journal keeps requests, not response bodies." }));
    panel.replaceChildren(...parts);
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
      const res = await fetch(e.path, { method: e.method, headers, body });
      await res.text();            // read streams to the end, so they are journaled complete
      notice(`Replayed ${e.method} ${e.path}: HTTP ${res.status}`, !res.ok);
    } catch (err) {
      notice(`Replay failed: ${err.message}`, true);
    }
  }

  async function reset() {
    try {
      await apiJson("/__admin/reset", { method: "POST" });
      clearRows();
      loadFixtures();
      notice("Reset: journal, scenarios, counters, runtime fixtures and threads forgotten.");
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

  async function loadFixtures() {
    let data;
    try {
      data = await apiJson("/__admin/fixtures");
    } catch (err) {
      if (!(err instanceof AuthNeeded)) notice(`Fixtures: ${err.message}`, true);
      return;
    }
    $("load-errors").replaceChildren(...data.errors.map((x) =>
      el("li", { class: "load-error" },
        el("span", { class: "marker", text: "✖" }),
        el("code", { text: `${x.file}:${x.line}` }), ": ",
        el("span", { text: x.reason }))));
    const list = data.fixtures.length
      ? data.fixtures.map((f) => el("li", { class: "fixture" },
          el("strong", { text: f.id }),
          el("span", { class: "muted", text: ` ${f.file}${f.line ? `:${f.line}` : ""}` }),
          f.spec ? el("span", { class: "tag", text: f.spec }) : null,
          f.priority ? el("span", { class: "tag", text: `priority ${f.priority}` }) : null,
          f.description ? el("div", { class: "muted small", text: f.description }) : null))
      : [el("li", { class: "muted", text: "No fixtures loaded: every request is answered from the spec (generated)." })];
    $("fixture-list").replaceChildren(...list);
    $("fixture-count").textContent = `${data.fixtures.length} loaded` +
      (data.errors.length ? `, ${data.errors.length} file${data.errors.length > 1 ? "s" : ""} failed` : "");
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
    connect();
  }

  // ---- wiring --------------------------------------------------------------

  function init() {
    for (const button of document.querySelectorAll("#filters button")) {
      button.addEventListener("click", () => setFilter(button.dataset.filter));
    }
    $("reset").addEventListener("click", reset);
    $("clear").addEventListener("click", clearJournal);
    $("refresh-fixtures").addEventListener("click", loadFixtures);
    $("notice").addEventListener("click", () => { $("notice").hidden = true; });
    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      state.token = $("token").value.trim();
      sessionStorage.setItem(TOKEN_KEY, state.token);
      state.needToken = false;
      $("token-form").hidden = true;
      start();
    });
    window.addEventListener("pagehide", stopStream);
    setFilter("all");
    start();
  }

  init();
})();
