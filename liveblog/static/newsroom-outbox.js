// Posts that must never be lost nor doubled. Each post gets its Idempotency-Key when it
// is composed; it is kept in localStorage until the server has answered it, and sent
// again (with the same key) after a connection failure, a 5xx or a 429, on a backoff and
// as soon as the browser is back online. The server answers a repeated key with the
// update it already made, so a retry whose first answer was lost is never a second post.

import { ApiFailure, api, storyPath } from "./newsroom-api.js";

const STORE = "liveblog.outbox";
const load = () => JSON.parse(localStorage.getItem(STORE) || "[]");
const save = (items) => localStorage.setItem(STORE, JSON.stringify(items));

export const newKey = () => crypto.randomUUID();

// owner() is the signed-in person's id: only their posts are sent with their token (a
// post someone else left in this browser waits for them to sign in again).
export function createOutbox({ owner, onChange, onSent, onRefused }) {
  let timer = null, attempt = 0, flushing = false, again = false;

  const items = () => load();

  function add(item) {
    save([...load().filter((i) => i.key !== item.key), item]);
    onChange(items());
    flush();
  }

  function drop(key) {
    save(load().filter((i) => i.key !== key));
    onChange(items());
  }

  async function sendOne(item) {
    const path = `${storyPath(item.slug)}/${item.kind === "draft" ? "drafts" : "updates"}`;
    return api("POST", path, { body: item.payload, headers: { "Idempotency-Key": item.key } });
  }

  async function flush() {
    if (flushing) { again = true; return; } // an item added meanwhile: one more pass
    flushing = true;
    again = false;
    clearTimeout(timer);
    timer = null;
    let failed = false;
    try {
      for (const item of load().filter((i) => i.author === owner())) {
        try {
          const answer = await sendOne(item);
          drop(item.key);
          attempt = 0;
          onSent(item, answer);
        } catch (error) {
          const retryable = !(error instanceof ApiFailure)
            || error.status >= 500 || error.status === 429 || error.status === 408;
          if (retryable) { failed = true; break; } // in order: the next waits for this one
          if (error.status === 401) break; // signed out: kept for the next sign-in
          drop(item.key);
          onRefused(item, error);
        }
      }
    } finally {
      flushing = false;
    }
    if (again && !failed) { flush(); return; }
    if (failed) {
      const wait = Math.min(30000, 1000 * 2 ** attempt);
      attempt += 1;
      timer = setTimeout(flush, wait / 2 + Math.random() * wait / 2);
    }
  }

  addEventListener("online", () => { attempt = 0; flush(); });
  return { add, flush, items };
}
