// The newsroom console's one way to the API: fetch with the token pasted at sign-in.
// The token lives in this tab's sessionStorage only: never in a URL, a log line or
// localStorage. A 401 on any call means the token was revoked or expired: the console
// signs out with the server's reason (listeners of "signed-out").

const KEY = "liveblog.token";
const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const esc = (text) => String(text ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);

export const token = () => sessionStorage.getItem(KEY);
export const keepToken = (value) => sessionStorage.setItem(KEY, value);
export const forgetToken = () => sessionStorage.removeItem(KEY);

export class ApiFailure extends Error {
  constructor(status, code, message, data) {
    super(message);
    this.status = status;
    this.code = code;
    this.data = data;
  }
}

// Resolves with the answer's JSON (null for none); rejects with ApiFailure for an error
// answer, or with the browser's TypeError when no answer came (offline, connection lost).
export async function api(method, path, { body, headers = {} } = {}) {
  const sent = { ...headers, Authorization: `Bearer ${token()}` };
  if (body !== undefined) sent["Content-Type"] = "application/json";
  const answer = await fetch(path, {
    method, headers: sent, body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  const text = await answer.text();
  const data = text ? JSON.parse(text) : null;
  if (answer.ok) return data;
  const error = data?.error || {};
  const failure = new ApiFailure(answer.status, error.code || "error", error.message || answer.statusText, data);
  if (answer.status === 401) {
    forgetToken();
    dispatchEvent(new CustomEvent("signed-out", { detail: failure.message }));
  }
  throw failure;
}

export const storyPath = (slug) => `/api/stories/${encodeURIComponent(slug)}`;
