// liveblog's reader page, live: the client of docs/live-protocol.md for the page the
// server rendered. No framework, no build step. The page carries the story's version
// (data-version); the module connects with since= it, so nothing falls between the
// render and the stream, and applies every event in place: an update is replaced whole
// by its new state (render() makes the markup of templates/_update.html).
// The stream itself (WebSocket, else Server-Sent Events; backoff; since=; versions
// checked) is stream.js, which the newsroom console shares.

import { follow } from "./stream.js";

const NAMES = { youtube: "YouTube", vimeo: "Vimeo", x: "X/Twitter", instagram: "Instagram",
  bluesky: "Bluesky", tiktok: "TikTok", mastodon: "Mastodon" };
const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const esc = (text) => String(text ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);
const $ = (id) => document.getElementById(id);

const DATE = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const TIME = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });

// Times are rendered in UTC; the reader sees their own local time.
export function localizeTimes(scope) {
  const today = new Date().toDateString();
  for (const time of scope.querySelectorAll("time[datetime]")) {
    const moment = new Date(time.dateTime);
    if (Number.isNaN(moment.getTime())) continue;
    time.textContent = (moment.toDateString() === today ? TIME : DATE).format(moment);
  }
}

const timeTag = (at) => `<time datetime="${esc(at)}">${esc(at)}</time>`;

function mediaHtml(m) {
  if (m.type === "image") {
    const caption = (m.caption ? `<span class="caption">${esc(m.caption)}</span>` : "")
      + (m.credit ? `<span class="credit">${esc(m.credit)}</span>` : "");
    return `<figure class="media"><img src="${esc(m.url)}" alt="${esc(m.alt)}" loading="lazy">`
      + (caption ? `<figcaption>${caption}</figcaption>` : "") + "</figure>";
  }
  if (m.type === "embed") {
    const name = esc(NAMES[m.provider] || "the provider");
    return `<p class="media embed"><a href="${esc(m.url)}" target="_blank" rel="noopener">`
      + `Open this post on ${name}</a> <span class="note">(not loaded until you click: `
      + `nothing is fetched from ${name} before)</span></p>`;
  }
  return "";
}

// One update, as templates/_update.html renders it.
export function render(u, slug, anchor = "update-") {
  const retracted = u.status === "retracted";
  const classes = "update" + (u.pinned ? " pinned" : "") + (u.key_event ? " key" : "")
    + (retracted ? " retracted" : "");
  let html = `<article class="${classes}" id="${anchor}${esc(u.id)}" data-published="${esc(u.published_at)}">`
    + `<p class="meta"><a class="when" href="/stories/${esc(slug)}/updates/${esc(u.id)}">`
    + `${timeTag(u.published_at)}</a> <span class="by">${esc(u.author.name)}</span>`
    + (u.key_event ? ' <span class="tag">Key event</span>' : "")
    + (u.pinned ? ' <span class="tag">Pinned</span>' : "") + "</p>";
  if (retracted) {
    html += `<p class="tombstone">This update was retracted${u.retraction ? ": " + esc(u.retraction.reason) : ""}</p>`;
  } else {
    if (u.title) html += `<h3>${esc(u.title)}</h3>`;
    html += `<div class="body">${u.body}</div>`; // sanitized HTML, from the server
    for (const m of u.media || []) html += mediaHtml(m);
    if (u.corrections.length) {
      html += '<ul class="notes">' + u.corrections.map(
        (c) => `<li>Corrected ${timeTag(c.at)} — ${esc(c.note)}</li>`).join("") + "</ul>";
    }
  }
  return element(html + "</article>");
}

function element(html) {
  const template = document.createElement("template");
  template.innerHTML = html;
  const made = template.content.firstElementChild;
  localizeTimes(made);
  return made;
}

// Puts `made` among `list`'s children, newest first (by data-published).
function insertInOrder(list, made) {
  const at = made.dataset.published;
  for (const child of list.children) {
    if (child.dataset.published && child.dataset.published < at) {
      child.before(made);
      return;
    }
  }
  list.append(made);
}

localizeTimes(document);
const root = $("story");
if (root) start(root);

function start(root) {
  const slug = root.dataset.slug;
  const mode = root.dataset.mode; // "top": the newest page; "older", "single": no new posts
  const keyOnly = root.dataset.keyOnly === "true";
  const embed = root.dataset.embed === "true";
  const list = $("updates");
  const button = $("new-updates");
  const titleSuffix = document.title.slice(($("story-title")?.textContent || "").length);
  const pending = new Map(); // id → update, held while the reader reads further down

  // -- applying what arrives -------------------------------------------------------------

  function readerAtTop() {
    return list.getBoundingClientRect().top >= -30;
  }

  function showPending() {
    if (!button) return;
    button.hidden = pending.size === 0;
    button.textContent = `${pending.size} new update${pending.size === 1 ? "" : "s"}`;
  }

  function reveal() {
    const shown = [...pending.values()].map((u) => render(u, slug));
    pending.clear();
    showPending();
    for (const made of shown) insertInOrder(list, made);
    $("no-updates")?.remove();
    return shown;
  }

  function placeFlagged(u) {
    const pinned = $("pinned-list");
    if (pinned) {
      const old = $("pinned-" + u.id);
      if (!u.pinned) old?.remove();
      else if (old) old.replaceWith(render(u, slug, "pinned-"));
      else insertInOrder(pinned, render(u, slug, "pinned-"));
      $("pinned").hidden = pinned.children.length === 0;
    }
    keyEvent(u.id, u.key_event, u.title, u.published_at);
  }

  function keyEvent(id, isKey, title, at) {
    const keys = $("key-events-list");
    if (!keys) return;
    keys.querySelector(`li[data-id="${CSS.escape(id)}"]`)?.remove();
    if (isKey) {
      const href = $("update-" + id) ? `#update-${id}` : `/stories/${slug}/updates/${id}`;
      const item = element(`<li data-id="${esc(id)}" data-published="${esc(at)}"><a href="${esc(href)}">`
        + `${esc(title || "Key event")}</a> ${timeTag(at)}</li>`);
      insertInOrder(keys, item);
    }
    $("key-events").hidden = keys.children.length === 0;
  }

  function applyUpdate(u) {
    placeFlagged(u);
    const shown = $("update-" + u.id);
    const belongs = !keyOnly || u.key_event;
    if (shown) {
      if (belongs) shown.replaceWith(render(u, slug));
      else shown.remove();
      return;
    }
    if (pending.has(u.id) || (belongs && mode === "top" && isNewest(u))) {
      if (!belongs) pending.delete(u.id);
      else if (readerAtTop() && pending.size === 0) {
        insertInOrder(list, render(u, slug));
        $("no-updates")?.remove();
      } else pending.set(u.id, u);
      showPending();
    }
  }

  // Newer than the oldest update shown, or every update is shown: it belongs on this page.
  function isNewest(u) {
    const last = list.querySelector("article:last-of-type");
    return !$("older") || !last || u.published_at >= last.dataset.published;
  }

  function applyStory(story) {
    $("story-title").textContent = story.title;
    document.title = story.title + titleSuffix;
    const summary = $("story-summary");
    if (summary) summary.textContent = story.summary;
    const status = $("story-status");
    if (status) {
      status.innerHTML = story.status === "live"
        ? '<span class="live-badge">Live</span> <span class="connection" id="connection"></span>'
        : '<span class="ended">Coverage has ended</span>';
    }
  }

  function applySnapshot(story) {
    applyStory(story);
    if (mode === "top" && !keyOnly) {
      pending.clear();
      showPending();
      list.replaceChildren(...story.updates.map((u) => render(u, slug)));
      const older = $("older");
      if (older && story.next) older.href = `?before=${story.next}`;
      else older?.parentElement.remove();
    } else {
      for (const u of story.updates) if ($("update-" + u.id)) applyUpdate(u);
    }
    const pinned = $("pinned-list");
    if (pinned) {
      pinned.replaceChildren(...story.pinned.map((u) => render(u, slug, "pinned-")));
      $("pinned").hidden = story.pinned.length === 0;
    }
    const keys = $("key-events-list");
    if (keys) {
      keys.replaceChildren();
      for (const k of story.key_events) keyEvent(k.id, true, k.title, k.published_at);
    }
  }

  // -- the connection --------------------------------------------------------------------

  const STATES = { offline: "offline: updates resume when you are back",
    reconnecting: "reconnecting…", gone: "this story is no longer available" };

  function setConnection(text) {
    if (text) root.dataset.stream = "waiting";
    const shown = $("connection");
    if (shown) shown.textContent = text;
  }

  function connect() {
    follow(`/api/stories/${encodeURIComponent(slug)}`, {
      since: Number(root.dataset.version),
      onSnapshot: (story) => { if (story) applySnapshot(story); },
      onEvent: (message) => {
        if (message.data.update) applyUpdate(message.data.update);
        else if (message.data.story) applyStory(message.data.story);
      },
      onState: (state) => {
        if (state === "live") {
          root.dataset.stream = "live"; // for styles, and for tests that wait for it
          setConnection("");
        } else setConnection(STATES[state]);
      },
    });
  }

  // -- the reader's side -----------------------------------------------------------------

  button?.addEventListener("click", () => {
    const shown = reveal();
    if (shown.length) {
      const first = shown.reduce((a, b) => (a.dataset.published > b.dataset.published ? a : b));
      first.tabIndex = -1;
      first.focus({ preventScroll: true });
      first.scrollIntoView({ block: "start" });
    }
  });
  addEventListener("scroll", () => { if (pending.size && readerAtTop()) reveal(); }, { passive: true });

  // "Older updates" loads in place: the next page's own HTML, its articles moved here.
  document.addEventListener("click", async (event) => {
    const link = event.target.closest?.("a[href]");
    if (!link) return;
    if (link.id === "older") {
      event.preventDefault();
      try {
        const answer = await fetch(link.href);
        if (!answer.ok) throw new Error(String(answer.status));
        const next = new DOMParser().parseFromString(await answer.text(), "text/html");
        const articles = [...next.querySelectorAll("#updates > article")]
          .filter((a) => !$(a.id)).map((a) => document.adoptNode(a));
        for (const a of articles) { localizeTimes(a); list.append(a); }
        const further = next.getElementById("older");
        if (further) link.href = further.getAttribute("href");
        else link.parentElement.remove();
        if (articles[0]) { articles[0].tabIndex = -1; articles[0].focus(); }
      } catch {
        location.href = link.href; // the plain link still works
      }
    } else if (embed && !link.getAttribute("href").startsWith("#")) {
      link.target = "_blank"; // from an embed, other pages open beside the host's page
      link.rel = "noopener";
    }
  });

  if (embed && parent !== window) {
    // The host page (embed.js) sizes the iframe to the content.
    const tell = () => parent.postMessage(
      { liveblog: "height", height: Math.ceil(document.body.getBoundingClientRect().height) }, "*");
    new ResizeObserver(tell).observe(document.body);
    tell();
  }

  connect();
}
