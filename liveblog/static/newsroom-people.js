// Admins: people and their roles, and tokens: listed (never a secret), issued (the
// secret shown once, with a copy button), revoked.

import { api, esc } from "./newsroom-api.js";

const $ = (id) => document.getElementById(id);

export function createPeople({ say }) {
  async function load() {
    try {
      const [{ people }, { tokens }] = await Promise.all([api("GET", "/api/people"), api("GET", "/api/tokens")]);
      $("people").replaceChildren(...people.map((p) => {
        const li = document.createElement("li");
        li.innerHTML = `${esc(p.name)} <span class="tag">${esc(p.role)}</span>${p.active ? "" : " (inactive)"}`
          + ` <button type="button" data-issue="${esc(p.id)}">Issue a token</button>`;
        return li;
      }));
      $("tokens").replaceChildren(...tokens.map((t) => {
        const li = document.createElement("li");
        li.id = "token-" + t.id;
        li.innerHTML = `${esc(t.person.name)} · ${esc(t.label)} · …${esc(t.hint)} <span class="tag">${esc(t.status)}</span>`
          + (t.revoked ? "" : ` <button type="button" data-revoke="${esc(t.id)}">Revoke</button>`);
        return li;
      }));
    } catch (error) { say(error.message); }
  }

  $("people").addEventListener("click", async (event) => {
    const b = event.target.closest("button[data-issue]");
    if (!b) return;
    try {
      const made = await api("POST", `/api/people/${encodeURIComponent(b.dataset.issue)}/tokens`, { body: {} });
      $("secret").textContent = made.secret;
      $("new-secret").hidden = false;
      $("copy-secret").focus();
      load();
    } catch (error) { say(error.message); }
  });

  $("copy-secret").addEventListener("click", () => navigator.clipboard?.writeText($("secret").textContent));

  $("tokens").addEventListener("click", async (event) => {
    const b = event.target.closest("button[data-revoke]");
    if (!b) return;
    try { await api("DELETE", `/api/tokens/${encodeURIComponent(b.dataset.revoke)}`); load(); } catch (error) { say(error.message); }
  });

  $("person-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("POST", "/api/people", { body: { name: $("p-name").value, role: $("p-role").value } });
      event.target.reset();
      load();
    } catch (error) { say(error.message); }
  });

  return { load };
}
