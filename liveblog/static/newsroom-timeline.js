// The console's timeline: the story's updates, newest first, as readers see them (the
// reader page's own markup, from live.js), each with the actions the role allows.
// Corrections name the revision they edited (If-Match: "r<revision>"): when someone
// corrected the update first, the server answers 409, and the form shows their version
// and keeps the editor's text to redo the change on it. Nothing is overwritten silently.

import { render } from "./live.js";
import { ApiFailure, api, esc, storyPath } from "./newsroom-api.js";

const $ = (id) => document.getElementById(id);

export function createTimeline(box, { me, slug: currentSlug, say }) {
  const updates = new Map(); // id → Update
  const editor = () => ["editor", "admin"].includes(me().role);
  const base = (id) => `${storyPath(currentSlug())}/updates/${encodeURIComponent(id)}`;

  function put(u) {
    updates.set(u.id, u);
    const old = $("tl-" + u.id);
    const open = old?.querySelector("form, .revisions");
    const made = item(u);
    if (old) {
      // An open form stays as the editor left it; the update around it is refreshed.
      if (open) { made.querySelector(".tl-work").replaceWith(old.querySelector(".tl-work")); }
      old.replaceWith(made);
    } else {
      const later = [...box.children].find((c) => c.dataset.published < u.published_at);
      if (later) later.before(made); else box.append(made);
    }
  }

  function reset(list) {
    updates.clear();
    box.replaceChildren();
    for (const u of list) put(u);
  }

  function item(u) {
    const wrap = document.createElement("div");
    wrap.className = "tl-item";
    wrap.id = "tl-" + u.id;
    wrap.dataset.published = u.published_at;
    wrap.dataset.revision = u.revision;
    wrap.append(render(u, currentSlug(), "tl-update-"));
    const buttons = document.createElement("p");
    buttons.className = "tl-actions";
    const mine = u.author.id === me().id;
    // Which update a button acts on, for a screen reader that lists the buttons alone.
    const which = u.title || u.body.replace(/<[^>]*>/g, "").slice(0, 60) || u.published_at;
    const add = (label, action) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.setAttribute("aria-label", `${label}: ${which}`);
      b.dataset.action = action;
      buttons.append(b);
    };
    if (u.status === "published") {
      if (editor() || mine) add("Correct", "correct");
      if (editor()) {
        add("Retract", "retract");
        add(u.pinned ? "Unpin" : "Pin", "pin");
        add(u.key_event ? "Not a key event" : "Key event", "key");
      }
    } else if (editor()) add("Reinstate", "reinstate");
    add("Revisions", "revisions");
    const work = document.createElement("div");
    work.className = "tl-work";
    wrap.append(buttons, work);
    return wrap;
  }

  function form(id, html, onSubmit) {
    const work = $("tl-" + id).querySelector(".tl-work");
    work.innerHTML = `<form>${html}<p class="actions"><button type="submit" class="primary">Save</button>`
      + ' <button type="button" data-action="cancel">Cancel</button></p><p class="message" role="alert"></p></form>';
    const f = work.querySelector("form");
    f.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        put(await onSubmit(f));
        $("tl-" + id).querySelector(".tl-work").replaceChildren();
      } catch (error) {
        if (error.code === "conflict_shown") return; // the form shows both versions
        f.querySelector(".message").textContent = error instanceof ApiFailure
          ? error.message : "No answer from the server: try again.";
      }
    });
    f.querySelector("input, textarea")?.focus();
    return f;
  }

  function correct(id) {
    const u = updates.get(id);
    let revision = u.revision;
    form(id, `<label for="fx-title-${id}">Headline</label><input id="fx-title-${id}" name="title" value="${esc(u.title)}">`
      + `<label for="fx-body-${id}">Body</label><textarea id="fx-body-${id}" name="body" rows="5">${esc(u.body)}</textarea>`
      + (u.media.length ? `<label><input type="checkbox" name="nomedia"> Remove its media (${u.media.length})</label>` : "")
      + `<label for="fx-img-${id}">Add an image: URL (https)</label><input id="fx-img-${id}" name="img" type="url">`
      + `<label for="fx-alt-${id}">Its description (alt)</label><input id="fx-alt-${id}" name="alt">`
      + `<label for="fx-note-${id}">Public note</label><input id="fx-note-${id}" name="note" required>`
      + '<div class="conflict" hidden></div>', async (f) => {
      const body = { title: f.elements.title.value, body: f.elements.body.value, note: f.elements.note.value };
      const kept = f.elements.nomedia?.checked ? [] : updates.get(id).media;
      const added = f.elements.img.value.trim()
        ? [{ type: "image", url: f.elements.img.value.trim(), alt: f.elements.alt.value }] : [];
      if (added.length || kept.length !== updates.get(id).media.length) body.media = [...kept, ...added];
      try {
        return await api("POST", `${base(id)}/corrections`, { body, headers: { "If-Match": `"r${revision}"` } });
      } catch (error) {
        if (!(error instanceof ApiFailure) || error.status !== 409) throw error;
        // Someone corrected it first: show theirs, keep ours, edit on top of theirs.
        const theirs = await api("GET", base(id));
        revision = theirs.revision;
        updates.set(id, theirs);
        const box = f.querySelector(".conflict");
        box.hidden = false;
        box.innerHTML = `<p><strong>${esc(theirs.corrections.at(-1)?.by?.name || "Someone")} corrected this first</strong>`
          + ` (revision ${theirs.revision}). Their version:</p><blockquote class="theirs"><p class="theirs-title">${esc(theirs.title)}</p>`
          + `<div class="theirs-body">${theirs.body}</div></blockquote>`
          + "<p>Your text is kept below: redo your change on theirs, then save again.</p>";
        box.tabIndex = -1;
        box.focus();
        throw new ApiFailure(409, "conflict_shown", "", null);
      }
    });
  }

  function reason(id, action, label) {
    form(id, `<label for="rs-${id}">${label}</label><input id="rs-${id}" name="reason" required>`,
      (f) => api("POST", `${base(id)}/${action}`, { body: { reason: f.elements.reason.value } }));
  }

  async function revisions(id) {
    const work = $("tl-" + id).querySelector(".tl-work");
    const answer = await api("GET", `${base(id)}/revisions`);
    const list = answer.revisions;
    const current = list.at(-1).revision;
    work.innerHTML = '<div class="revisions"><h4>Revisions</h4><ol>' + list.map((r) => `<li data-revision="${r.revision}">`
      + `<p><strong>${r.revision}. ${esc(r.kind)}</strong> ${esc(r.at)} · ${esc(r.by?.name || r.author?.name || "")}`
      + (r.note ? ` — ${esc(r.note)}` : "") + "</p>"
      + (r.title_diff ? `<p class="diff">${r.title_diff}</p>` : "")
      + (r.diff ? `<div class="diff">${r.diff}</div>` : "")
      + (editor() && r.revision !== current && r.kind !== "retracted"
        ? `<p><label for="rv-${id}-${r.revision}">Note</label> <input id="rv-${id}-${r.revision}">`
          + ` <button type="button" data-action="revert" data-to="${r.revision}">Revert to this revision</button></p>` : "")
      + "</li>").join("") + '</ol><p class="message" role="alert"></p><button type="button" data-action="cancel">Close</button></div>';
  }

  async function revert(id, to) {
    const note = $(`rv-${id}-${to}`).value || `Reverted to revision ${to}`;
    const u = updates.get(id);
    put(await api("POST", `${base(id)}/corrections`, { body: { revert_to: to, note }, headers: { "If-Match": `"r${u.revision}"` } }));
  }

  box.addEventListener("click", async (event) => {
    const b = event.target.closest("button[data-action]");
    if (!b) return;
    const id = b.closest(".tl-item").id.slice(3);
    const u = updates.get(id);
    try {
      switch (b.dataset.action) {
        case "correct": correct(id); break;
        case "retract": reason(id, "retraction", "Reason (shown to readers)"); break;
        case "reinstate": reason(id, "reinstatement", "Reason for reinstating"); break;
        case "pin": put(await api("PATCH", base(id), { body: { pinned: !u.pinned } })); break;
        case "key": put(await api("PATCH", base(id), { body: { key_event: !u.key_event } })); break;
        case "revisions": await revisions(id); break;
        case "revert": await revert(id, Number(b.dataset.to)); break;
        case "cancel": b.closest(".tl-work").replaceChildren(); break;
      }
    } catch (error) {
      say(error.message || "No answer from the server: try again.");
    }
  });

  return { put, reset, get: (id) => updates.get(id) };
}
