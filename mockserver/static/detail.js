// The detail panel: one journal entry, its request next to its response.
//
// A stream still being sent is shown as it goes: refreshDetail() re-renders
// the small parts that change (facts, stream flags, sizes) and appends the
// events that arrived, so the panel neither flickers nor loses its scroll.

import { $, el, pretty, prettyText } from "./dom.js";
import { formatBytes, isInvalid, isStreaming, refusal } from "./entries.js";

const HINT = "Click a request to see its body, headers, response, error, near misses and stream.";

function field(name, value) {
  return [el("dt", { text: name }), el("dd", {}, value)];
}

function facts(e) {
  return el("dl", { class: "facts", id: "facts" },
    field("time", `${new Date(e.time * 1000).toISOString()}`),
    field("operation", e.operation ? `${e.spec} · ${e.operation}` : "— (no operation)"),
    field("status", el("span", { class: `status s${String(e.status || 0)[0]}xx${isInvalid(e) ? " invalid" : ""}`,
                                 text: e.status ?? "—" })),
    field("source", e.source ?? (e.error ? `none: ${refusal(e)}` : "—")),
    e.fixture ? field("fixture", e.fixture) : null,
    field("session", e.session || "default"),
    field("request id", el("code", { class: "request-id", text: e.request_id || "—" })),
    field("duration", isStreaming(e) ? `${Math.round(e.duration_ms)} ms so far` : `${e.duration_ms} ms`));
}

function errorBox(e) {
  const why = refusal(e);
  const title = why ? why[0].toUpperCase() + why.slice(1) : "Error answered";
  return el("section", { class: `error-box${why && why !== "refused as invalid" ? " unknown-route" : ""}` },
    el("h3", { text: title }),
    el("p", { class: "message", text: e.error.message }),
    el("dl", { class: "facts" },
      field("param", e.error.param ? el("code", { text: e.error.param }) : "—"),
      field("type", e.error.type || "—"),
      field("code", e.error.code || "—")));
}

function streamSection(e) {
  const s = e.stream;
  const flag = (name, on, bad) => el("span", { class: `flag ${on ? (bad ? "bad" : "good") : "off"}`, text: `${name}: ${on ? "yes" : "no"}` });
  return el("section", { class: "stream", id: "stream" },
    el("h3", { text: "Stream" }),
    el("p", { class: "flags" },
      el("span", { class: "flag events", text: `events: ${s.events}` }),
      el("span", { class: `flag state${isStreaming(e) ? " live" : ""}`, text: `state: ${s.state || "—"}` }),
      flag("done", s.done, false), flag("cut", s.cut, true),
      flag("error", s.error, true), flag("disconnected", s.disconnected, true)));
}

function headersTable(headers) {
  return el("table", { class: "kv" }, el("tbody", {},
    Object.entries(headers || {}).map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", { text: v })))));
}

function responseMeta(e) {
  const r = e.response;
  const parts = [`${formatBytes(r.size)}`];
  if (r.chunks) parts.push(`${r.chunks.length} event${r.chunks.length === 1 ? "" : "s"} kept`);
  if (r.first_byte_ms !== undefined && r.first_byte_ms !== null) parts.push(`first byte after ${r.first_byte_ms} ms`);
  return el("div", { class: "response-meta", id: "response-meta" },
    el("span", { class: "muted small", text: parts.join(" · ") }),
    r.truncated ? el("p", { class: "cut-marker", text:
      `✂ cut: the journal keeps the first ${formatBytes(64 * 1024)} of ${formatBytes(r.size)} (limits.MAX_JOURNAL_BODY_BYTES)` }) : null);
}

const chunkItem = (text) => el("li", {}, el("code", { text }));

function responseSection(e) {
  const r = e.response;
  if (!r) {
    return el("section", { class: "response", id: "response" }, el("h3", { text: "Response" }),
      el("p", { class: "muted", text: "No response went out (the client left first)." }));
  }
  const headerCount = Object.keys(r.headers || {}).length;
  const body = r.chunks
    ? el("ol", { class: "chunks", id: "chunks", start: "0" }, r.chunks.map(chunkItem))
    : el("pre", { class: "response-body", text: r.body ? prettyText(r.body) : "(no body)" });
  return el("section", { class: "response", id: "response" },
    el("h3", {}, r.chunks ? "Response events" : "Response body", isStreaming(e) ? el("span", { class: "live-dot", title: "streaming" }) : null),
    responseMeta(e),
    body,
    el("details", { class: "response-headers", id: "response-headers" },
      el("summary", { text: `Response headers (${headerCount})` }), headersTable(r.headers)));
}

export function renderDetail(e, actions) {
  const panel = $("detail");
  if (!e) {
    delete panel.dataset.id;
    panel.replaceChildren(el("p", { class: "muted", text: HINT }));
    return;
  }
  panel.dataset.id = e.id || "";
  const canReplay = e.method !== "GET" && e.method !== "HEAD" && e.body !== null && e.body !== undefined;
  const parts = [
    el("div", { class: "panel-head" },
      el("h2", {}, el("span", { class: "method", text: e.method }), " ", el("span", { text: e.path })),
      el("div", { class: "detail-actions" },
        el("button", { type: "button", id: "replay", class: "small", disabled: !canReplay,
                       title: "send this body again to the same path", onclick: () => actions.replay(e) }, "Replay"),
        el("button", { type: "button", id: "copy-curl", class: "small", title: "the request as a curl command",
                       onclick: () => actions.copy(e, "curl") }, "Copy as curl"),
        el("button", { type: "button", id: "copy-fetch", class: "small", title: "the request as a fetch() call",
                       onclick: () => actions.copy(e, "fetch") }, "Copy as fetch"))),
    el("pre", { class: "snippet", id: "snippet", hidden: true }),
    facts(e),
  ];
  if (e.error) parts.push(errorBox(e));
  if (e.near_misses && e.near_misses.length) {
    parts.push(el("section", { class: "near-misses" },
      el("h3", { text: `Near misses (${e.near_misses.length})` }),
      el("ul", {}, e.near_misses.map((m) => el("li", { text: m })))));
  }
  if (e.stream) parts.push(streamSection(e));
  const headers = Object.entries(e.headers || {});
  parts.push(el("div", { class: "exchange" },
    el("section", { class: "body request" },
      el("h3", {}, "Request body", typeof e.body === "string" ? el("span", { class: "muted", text: " (not JSON)" }) : null),
      el("pre", { class: "json request-body", text: pretty(e.body) }),
      el("details", { class: "headers", open: true },
        el("summary", { text: `Request headers (${headers.length})` }), headersTable(e.headers))),
    responseSection(e)));
  panel.replaceChildren(...parts);
}

// The entry shown changed (a running stream's update, or its final entry): refresh in place.
export function refreshDetail(e, actions) {
  const panel = $("detail");
  if (panel.dataset.id !== (e.id || "") || !$("facts")) return;
  const list = $("chunks");
  const r = e.response;
  if (!r || !$("response") || (r.chunks && !list) || (list && !r.chunks)) {
    renderDetail(e, actions);     // the shape changed: draw it again
    return;
  }
  $("facts").replaceWith(facts(e));
  if (e.stream) {
    const stream = $("stream");
    if (stream) stream.replaceWith(streamSection(e));
    else renderDetail(e, actions);
  }
  $("response-meta").replaceWith(responseMeta(e));
  const heading = $("response").querySelector("h3");
  heading.replaceWith(el("h3", {}, r.chunks ? "Response events" : "Response body",
                         isStreaming(e) ? el("span", { class: "live-dot", title: "streaming" }) : null));
  const open = $("response-headers").open;
  const headerBox = el("details", { class: "response-headers", id: "response-headers", open },
    el("summary", { text: `Response headers (${Object.keys(r.headers || {}).length})` }), headersTable(r.headers));
  $("response-headers").replaceWith(headerBox);
  if (list) {
    if (list.children.length > r.chunks.length) list.replaceChildren();
    for (let i = list.children.length; i < r.chunks.length; i += 1) list.append(chunkItem(r.chunks[i]));
  }
}

export function showSnippet(text, kind) {
  const box = $("snippet");
  if (!box) return;
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = false;
}
