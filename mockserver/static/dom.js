// Small DOM helpers. Every value from the server goes into the page as text, never as HTML.

export const $ = (id) => document.getElementById(id);

export function el(tag, props, ...children) {
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

export function clockTime(seconds) {
  const d = new Date(seconds * 1000);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function pretty(body) {
  if (body === null || body === undefined) return "(no body)";
  if (typeof body === "string") return body;          // journaled as raw text: it was not JSON
  return JSON.stringify(body, null, 2);
}

// A text that may be JSON, indented if it is.
export function prettyText(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
}

let noticeTimer = null;
export function notice(text, bad = false) {
  const box = $("notice");
  box.textContent = text;
  box.classList.toggle("bad", bad);
  box.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { box.hidden = true; }, 4000);
}
