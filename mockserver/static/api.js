// The admin API, with the admin token (--admin-token) when the server needs one.

const TOKEN_KEY = "mockserver.adminToken";

export class AuthNeeded extends Error {}

export const auth = {
  token: sessionStorage.getItem(TOKEN_KEY) || "",
  needed: false,
  onNeeded: (message) => {},      // the page asks for a token (set by inspector.js)
};

export function setToken(token) {
  auth.token = token;
  auth.needed = false;
  sessionStorage.setItem(TOKEN_KEY, token);
}

export async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  if (auth.token) headers.set("Authorization", `Bearer ${auth.token}`);
  const res = await fetch(path, { ...options, headers });
  if (res.status === 401) {
    auth.needed = true;
    auth.onNeeded(auth.token ? "That token was refused." : "");
    throw new AuthNeeded("admin token needed");
  }
  return res;
}

export async function apiJson(path, options) {
  const res = await api(path, options);
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const message = data && data.error ? data.error.message : `HTTP ${res.status}`;
    throw new Error(message);
  }
  return data;
}

// PUT/POST a JSON body (the admin API takes application/json only).
export const sendJson = (path, method, body) =>
  apiJson(path, { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
