// A journaled request as a command to send it again: curl (POSIX shell) or fetch() (JavaScript).
//
// Both carry the method, the URL (this page's origin: the mock itself), the
// headers that say something about the request (not those the client or
// the connection sets: host, length, encoding, the browser's own, nor a
// value the journal redacted), and the body. A JSON body is written back
// as JSON; the mock compares bodies by value, so a reproduction is the
// same request.

const SKIPPED = /^(host|content-length|connection|keep-alive|transfer-encoding|accept-encoding|te|trailer|upgrade|via|expect|dnt|date|cookie|origin|referer|priority|sec-.*|proxy-.*|access-control-request-.*)$/i;
const REDACTED = "[redacted]";

export function requestUrl(e, origin = location.origin) {
  return origin + e.path + (e.query ? `?${e.query}` : "");
}

export function replayHeaders(e) {
  return Object.entries(e.headers || {}).filter(([name, value]) => !SKIPPED.test(name) && value !== REDACTED);
}

export function bodyText(e) {
  if (e.body === null || e.body === undefined) return null;
  return typeof e.body === "string" ? e.body : JSON.stringify(e.body);
}

// One shell word: single quotes keep everything literal ($, `, \, ", newlines);
// a single quote itself closes the quotes, is escaped, and reopens them.
export const shellQuote = (text) => `'${String(text).replace(/'/g, "'\\''")}'`;

// One option per line, the lines joined by a backslash-newline (the shell reads them as one command).
export function asCurl(e, origin) {
  const body = bodyText(e);
  let first = "curl -sS";
  if (e.method === "HEAD") first += " --head";
  else if (e.method !== "GET" || body !== null) first += ` -X ${/^[A-Z]+$/.test(e.method) ? e.method : shellQuote(e.method)}`;
  const lines = [`${first} ${shellQuote(requestUrl(e, origin))}`];
  for (const [name, value] of replayHeaders(e)) lines.push(`-H ${shellQuote(`${name}: ${value}`)}`);
  if (body !== null) lines.push(`--data-raw ${shellQuote(body)}`);
  return lines.join(" \\\n  ");
}

const indent = (text, by) => text.replace(/\n/g, `\n${by}`);

export function asFetch(e, origin) {
  const lines = [`fetch(${JSON.stringify(requestUrl(e, origin))}, {`, `  method: ${JSON.stringify(e.method)},`];
  const headers = Object.fromEntries(replayHeaders(e));
  if (Object.keys(headers).length) lines.push(`  headers: ${indent(JSON.stringify(headers, null, 2), "  ")},`);
  if (e.body !== null && e.body !== undefined) {
    lines.push(typeof e.body === "string"
      ? `  body: ${JSON.stringify(e.body)},`
      : `  body: JSON.stringify(${indent(JSON.stringify(e.body, null, 2), "  ")}),`);
  }
  lines.push("})");
  return lines.join("\n");
}
