// The panels beside the request list: the loaded fixtures, and the pacing
// settings (GET/PUT /__admin/settings, process-wide). Both follow the
// server: GET /__admin/versions is polled (it is two small reads), and a
// panel is reloaded only when its marker moved: a fixture file edited and
// hot-reloaded, a runtime fixture added or removed, settings changed by
// another client.

import { $, el, notice } from "./dom.js";
import { AuthNeeded, apiJson, auth, sendJson } from "./api.js";

const POLL_MS = 1000;
const PACING = [["ttft_ms", "pacing-ttft"], ["tps", "pacing-tps"], ["jitter_ms", "pacing-jitter"]];

const seen = { fixtures: null, settings: null };
let polling = false;

export async function loadFixtures() {
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
    ? data.fixtures.map((f) => el("li", { class: "fixture", "data-id": f.id },
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

// ---- pacing ------------------------------------------------------------------

let shown = null;                 // the settings the form shows

function showSettings(view) {
  shown = view.settings;
  const form = $("pacing-form");
  const s = view.settings;
  for (const [name, id] of PACING) $(id).value = String(s[name]);
  $("pacing-unmatched").value = s.unmatched;
  const changed = Object.keys(view.changed || {});
  $("pacing-state").textContent = changed.length ? `changed: ${changed.join(", ")}` : "as started";
  form.dataset.dirty = "";
}

export async function loadSettings() {
  try {
    showSettings(await apiJson("/__admin/settings"));
  } catch (err) {
    if (!(err instanceof AuthNeeded)) notice(`Settings: ${err.message}`, true);
  }
}

// The fields the user changed (only those are sent: the others stay as they are set).
function formChanges() {
  const out = {};
  for (const [name, id] of PACING) {
    const text = $(id).value.trim();
    const value = text === "" ? null : Number(text);   // empty: back to the command line's value
    if (!shown || value !== shown[name]) out[name] = value;
  }
  const unmatched = $("pacing-unmatched").value;
  if (!shown || unmatched !== shown.unmatched) out.unmatched = unmatched;
  return out;
}

async function applySettings(ev) {
  ev.preventDefault();
  const changes = formChanges();
  if (!Object.keys(changes).length) {
    notice("Pacing: nothing to change.");
    return;
  }
  try {
    const view = await sendJson("/__admin/settings", "PUT", changes);
    showSettings(view);
    const s = view.settings;
    notice(`Pacing: ttft ${s.ttft_ms} ms, ${s.tps} tokens/s, jitter ${s.jitter_ms} ms, unmatched ${s.unmatched}.`);
  } catch (err) {
    if (!(err instanceof AuthNeeded)) notice(`Settings refused: ${err.message}`, true);
  }
}

async function restoreSettings() {
  try {
    showSettings(await sendJson("/__admin/settings", "PUT",
                                { ttft_ms: null, tps: null, jitter_ms: null, unmatched: null }));
    notice("Pacing: back to the command line's settings.");
  } catch (err) {
    if (!(err instanceof AuthNeeded)) notice(`Settings refused: ${err.message}`, true);
  }
}

// ---- following the server ------------------------------------------------------

async function poll() {
  if (auth.needed || document.hidden) return;
  let versions;
  try {
    versions = await apiJson("/__admin/versions");
  } catch {
    return;                        // the server is restarting, or a token is needed: the next poll tells
  }
  if (seen.fixtures !== null && versions.fixtures !== seen.fixtures) loadFixtures();
  // Not over what the user is typing: the form is refreshed once it is applied or left alone.
  if (seen.settings !== null && versions.settings !== seen.settings && !$("pacing-form").dataset.dirty) loadSettings();
  seen.fixtures = versions.fixtures;
  if (!$("pacing-form").dataset.dirty) seen.settings = versions.settings;
}

export function followServer() {
  if (polling) return;
  polling = true;
  const again = () => { poll().finally(() => setTimeout(again, POLL_MS)); };
  again();
}

export function initPanels() {
  $("refresh-fixtures").addEventListener("click", loadFixtures);
  const form = $("pacing-form");
  form.addEventListener("submit", applySettings);
  form.addEventListener("input", () => { form.dataset.dirty = "1"; });
  $("pacing-restore").addEventListener("click", restoreSettings);
}
