// What a journal entry is, as the page sees it: its kind, its labels, and how
// the live feed's updates of a running stream merge into it. No DOM here.

// The same rules as the admin API's filters (mockserver/admin/journal_query.py).
export const isUnmatched = (e) => e.source === "unmatched";
const noSource = (e) => e.source === null || e.source === undefined;
// Refused because nothing is served there: a typo in the URL, not an invalid request.
export const unknownRoute = (e) => (e.status === 404 || e.status === 405) && !e.operation && noSource(e);
export const isInvalid = (e) => Boolean(e.error) && noSource(e) && !unknownRoute(e);

// A CORS preflight: the browser asking before the real request (hidden unless asked for).
export function isPreflight(e) {
  if (e.method !== "OPTIONS") return false;
  return Object.keys(e.headers || {}).some((name) => name.toLowerCase() === "access-control-request-method");
}

export const isStreaming = (e) => Boolean(e.stream && e.stream.state === "streaming");

// Why an entry got an error before any source answered, in words; null if it did not.
export function refusal(e) {
  if (!e.error || !noSource(e)) return null;
  if (unknownRoute(e)) return e.status === 405 ? "method not allowed" : "unknown path";
  return "refused as invalid";
}

export function sourceLabel(e) {
  const s = e.source;
  if (noSource(e)) {
    const why = refusal(e);
    return why === "refused as invalid" ? "refused" : (why || "—");
  }
  if (s.startsWith("fixture:")) return e.fixture || s.slice(8);
  return s;
}

// Fold a live update (`update: true`: a running stream's counters and its new
// events, to go at index response.chunks_from) into the entry the page holds.
export function mergeUpdate(entry, update) {
  for (const key of ["status", "source", "stream", "duration_ms", "spec", "operation"]) {
    if (key in update) entry[key] = update[key];
  }
  const fresh = update.response;
  if (!fresh) return;
  const response = entry.response || (entry.response = { headers: {}, body: null, chunks: [], size: 0, truncated: false });
  const chunks = response.chunks || (response.chunks = []);
  const from = fresh.chunks_from ?? chunks.length;
  if (fresh.chunks && fresh.chunks.length && from <= chunks.length) chunks.splice(from, Infinity, ...fresh.chunks);
  response.size = fresh.size;
  response.truncated = fresh.truncated;
}

// An update for an entry the page never saw in full (its start was missed): enough to show a row.
export function fromUpdate(update) {
  const entry = { headers: {}, body: null, error: null, near_misses: [], ...update };
  delete entry.update;
  entry.response = null;
  mergeUpdate(entry, update);
  return entry;
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
