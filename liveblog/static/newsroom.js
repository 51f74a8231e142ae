// The newsroom console (GET /newsroom): sign in with a token, pick a story, compose,
// follow the timeline, work the drafts queue; editors also get the history and admins
// the people. Every datum comes from the API (newsroom-api.js); posts go through the
// outbox (newsroom-outbox.js), so none is lost or doubled on a bad network.

import { render } from "./live.js";
import { ApiFailure, api, esc, forgetToken, keepToken, storyPath, token } from "./newsroom-api.js";
import { createOutbox, newKey } from "./newsroom-outbox.js";
import { follow } from "./stream.js";
import { createTimeline } from "./newsroom-timeline.js";
import { createHistory } from "./newsroom-history.js";
import { createPeople } from "./newsroom-people.js";

const $ = (id) => document.getElementById(id);
const RANKS = ["contributor", "reporter", "editor", "admin"];
let me = null, slug = null, stream = null, composing = newKey();
let older = null; // the cursor of the next older page of the timeline, or null
const can = (role) => me && RANKS.indexOf(me.role) >= RANKS.indexOf(role);

function say(text) {
  const notice = $("notice");
  notice.textContent = text;
  notice.hidden = !text;
}

const timeline = createTimeline($("timeline"), { me: () => me, slug: () => slug, say });
const history = createHistory({ slug: () => slug, say });
const people = createPeople({ say });
const outbox = createOutbox({
  owner: () => me?.id,
  onChange: showOutbox,
  onSent: (item, answer) => {
    if (item.kind === "update" && answer?.status === "published" && item.slug === slug) timeline.put(answer);
    if (item.then === "submit" && answer?.id) {
      api("POST", `${storyPath(item.slug)}/drafts/${answer.id}/submit`).then(loadDrafts, (e) => say(e.message));
    } else if (item.kind === "draft" || answer?.status === "scheduled") loadDrafts();
  },
  onRefused: (item, error) => say(`Not sent (${error.message}). Your text: ${item.payload.body}`),
});

// -- signing in and out ------------------------------------------------------------------

async function signIn(secret) {
  keepToken(secret);
  try {
    me = await api("GET", "/api/me");
  } catch (error) {
    if (error instanceof ApiFailure && error.status === 401) say(`That token was refused: ${error.message}`);
    else {
      say("The server did not answer: try again.");
      forgetToken();
    }
    return;
  }
  say("");
  $("who-name").textContent = me.name;
  $("who-role").textContent = me.role;
  $("who").hidden = false;
  for (const role of RANKS) document.body.classList.toggle(`can-${role}`, can(role));
  $("signin").hidden = true;
  $("console").hidden = false;
  $("people-section").hidden = !can("admin");
  await loadStories();
  if (can("admin")) people.load();
  outbox.flush();
  showOutbox(outbox.items());
}

function signOut(message) {
  forgetToken();
  me = null;
  stream?.stop();
  stream = null;
  slug = null;
  $("who").hidden = true;
  $("console").hidden = true;
  $("story-view").hidden = true;
  $("people-section").hidden = true;
  $("signin").hidden = false;
  for (const role of RANKS) document.body.classList.remove(`can-${role}`);
  say(message);
  $("token-input").focus();
}

addEventListener("signed-out", (event) => signOut(`You were signed out: ${event.detail}`));
$("signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const secret = $("token-input").value.trim();
  $("token-input").value = "";
  signIn(secret);
});
$("sign-out").addEventListener("click", () => signOut("Signed out."));

// -- stories -----------------------------------------------------------------------------

async function loadStories() {
  const { stories } = await api("GET", "/api/stories");
  $("stories").replaceChildren(...stories.map((s) => {
    const li = document.createElement("li");
    li.innerHTML = `<button type="button" class="story-link" data-slug="${esc(s.slug)}">${esc(s.title)}</button>`
      + ` <span class="tag">${esc(s.status)}</span>`;
    return li;
  }));
}

$("stories").addEventListener("click", (event) => {
  const b = event.target.closest("button[data-slug]");
  if (b) openStory(b.dataset.slug);
});

function showStory(story) {
  $("story-title").textContent = story.title;
  $("story-summary").textContent = story.summary;
  $("story-status").textContent = story.status === "live" ? "Live" : "Closed";
  $("close-story").textContent = story.status === "live" ? "Close coverage" : "Reopen coverage";
  $("close-story").dataset.status = story.status;
  if (document.activeElement !== $("s-title")) $("s-title").value = story.title;
  if (document.activeElement !== $("s-summary")) $("s-summary").value = story.summary;
}

function openStory(chosen) {
  stream?.stop();
  slug = chosen;
  history.reset();
  $("story-view").hidden = false;
  $("reader-link").href = `/stories/${encodeURIComponent(slug)}`;
  $("stream-state").textContent = "connecting…";
  $("story-view").dataset.stream = "connecting";
  stream = follow(storyPath(slug), {
    onSnapshot: (story, version) => {
      if (!story) return;
      showStory(story);
      timeline.reset(story.updates);
      older = story.next;
      $("older").hidden = !older;
      history.moved(version);
    },
    onEvent: (message, version) => {
      if (message.data.update) timeline.put(message.data.update);
      if (message.data.story) showStory(message.data.story);
      history.moved(version);
    },
    onState: (state) => {
      $("stream-state").textContent = state === "gone" ? "no such story" : state;
      $("story-view").dataset.stream = state === "live" ? "live" : "waiting";
    },
  });
  loadDrafts();
  $("story-title").tabIndex = -1;
  $("story-title").focus();
}

$("new-story-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const story = await api("POST", "/api/stories", {
      body: { slug: $("ns-slug").value, title: $("ns-title").value, summary: $("ns-summary").value } });
    event.target.reset();
    await loadStories();
    openStory(story.slug);
  } catch (error) { say(error.message); }
});

$("story-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    showStory(await api("PATCH", storyPath(slug), { body: { title: $("s-title").value, summary: $("s-summary").value } }));
    loadStories();
  } catch (error) { say(error.message); }
});

$("close-story").addEventListener("click", async () => {
  const action = $("close-story").dataset.status === "live" ? "close" : "reopen";
  try { showStory(await api("POST", `${storyPath(slug)}/${action}`)); } catch (error) { say(error.message); }
});

// Older pages of the timeline; the stream keeps what is shown current.
$("older").addEventListener("click", async () => {
  try {
    const page = await api("GET", `${storyPath(slug)}/updates?before=${encodeURIComponent(older)}`);
    const first = page.updates[0];
    for (const u of page.updates) timeline.put(u);
    older = page.next;
    $("older").hidden = !older;
    if (first) $("tl-" + first.id).querySelector("button")?.focus();
  } catch (error) { say(error.message); }
});

// -- the composer ------------------------------------------------------------------------

function composed() {
  const payload = { body: $("c-body").value };
  if ($("c-title").value.trim()) payload.title = $("c-title").value.trim();
  if (can("editor")) {
    if ($("c-key").checked) payload.key_event = true;
    if ($("c-pin").checked) payload.pinned = true;
  }
  const media = [];
  if ($("c-img").value.trim()) {
    media.push({ type: "image", url: $("c-img").value.trim(), alt: $("c-alt").value,
      ...($("c-caption").value.trim() ? { caption: $("c-caption").value.trim() } : {}) });
  }
  if ($("c-embed").value.trim()) media.push({ type: "embed", url: $("c-embed").value.trim() });
  if (media.length) payload.media = media;
  return payload;
}

function send(kind, extra = {}, then = null) {
  const message = $("composer-message");
  if (!$("c-body").value.trim()) { message.textContent = "Write something first."; $("c-body").focus(); return; }
  outbox.add({ key: composing, kind, slug, author: me.id, payload: { ...composed(), ...extra }, then });
  composing = newKey(); // the next post is a new post; this one keeps its key until answered
  $("composer").reset();
  $("preview-box").hidden = true;
  message.textContent = kind === "draft" ? "Draft saved." : "Sent.";
  $("c-body").focus();
}

// Posting, for a contributor, is submitting for approval: the one thing theirs to send.
const postNow = () => (can("reporter") ? send("update") : send("draft", {}, "submit"));
$("composer").addEventListener("submit", (event) => { event.preventDefault(); postNow(); });
$("composer").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); postNow(); }
});
$("c-draft").addEventListener("click", () => send("draft"));
$("c-submit").addEventListener("click", () => send("draft", {}, "submit"));
$("c-schedule").addEventListener("click", () => {
  const at = $("c-at").value;
  if (!at) { $("composer-message").textContent = "Choose when to publish it."; $("c-at").focus(); return; }
  send("update", { publish_at: new Date(at).toISOString() });
});

$("c-preview").addEventListener("click", async () => {
  const { body, media } = composed();
  try {
    const answer = await api("POST", "/api/preview", { body: { body, ...(media ? { media } : {}) } });
    $("warnings").replaceChildren(...answer.warnings.map((w) => {
      const li = document.createElement("li");
      li.textContent = `Removed ${w.element}${w.attribute ? " " + w.attribute : ""}: ${w.hint}`;
      return li;
    }));
    const now = new Date().toISOString();
    $("preview").replaceChildren(render({ id: "preview", status: "published", title: $("c-title").value.trim(),
      body: answer.body, media: answer.media, author: me, pinned: false, key_event: false,
      published_at: now, corrections: [] }, slug, "preview-"));
    $("preview-box").hidden = false;
  } catch (error) { say(error.message); }
});

const WRAPS = { strong: ["<strong>", "</strong>"], em: ["<em>", "</em>"], a: ['<a href="https://">', "</a>"],
  ul: ["<ul><li>", "</li></ul>"], blockquote: ["<blockquote>", "</blockquote>"] };
document.querySelector(".toolbar").addEventListener("click", (event) => {
  const b = event.target.closest("button[data-wrap]");
  if (!b) return;
  const area = $("c-body");
  const [open, close] = WRAPS[b.dataset.wrap];
  const { selectionStart: from, selectionEnd: to, value } = area;
  area.value = value.slice(0, from) + open + value.slice(from, to) + close + value.slice(to);
  area.focus();
  area.setSelectionRange(from + open.length, to + open.length);
});

function showOutbox(items) {
  const mine = items.filter((i) => me && i.author === me.id);
  $("outbox-heading").hidden = mine.length === 0;
  $("outbox").replaceChildren(...mine.map((i) => {
    const li = document.createElement("li");
    li.className = "sending";
    li.dataset.key = i.key;
    li.textContent = `Sending… ${i.payload.title || i.payload.body.replace(/<[^>]*>/g, "").slice(0, 80)}`;
    return li;
  }));
}

// -- drafts ------------------------------------------------------------------------------

async function loadDrafts() {
  if (!slug) return;
  const statuses = can("editor") ? ["submitted", "scheduled", "draft"] : ["draft", "submitted", "scheduled"];
  try {
    const lists = await Promise.all(statuses.map((s) => api("GET", `${storyPath(slug)}/drafts?status=${s}`)));
    const drafts = lists.flatMap((l) => l.drafts)
      .filter((d) => d.status !== "draft" || d.author.id === me.id);
    $("drafts").replaceChildren(...drafts.map(draftItem));
    if (!drafts.length) $("drafts").innerHTML = '<li class="hint">No drafts waiting.</li>';
  } catch (error) { if (error instanceof ApiFailure) say(error.message); }
}

function draftItem(d) {
  const li = document.createElement("li");
  li.className = "draft";
  li.id = "draft-" + d.id;
  li.dataset.revision = d.revision;
  const mine = d.author.id === me.id;
  const publish = can("editor") || (mine && can("reporter"));
  li.innerHTML = `<p class="meta"><span class="tag">${esc(d.status)}</span> ${esc(d.author.name)}`
    + (d.publish_at ? ` · at <time datetime="${esc(d.publish_at)}">${esc(d.publish_at)}</time>` : "") + "</p>"
    + (d.title ? `<h4>${esc(d.title)}</h4>` : "") + `<div class="body">${d.body}</div>`
    + '<p class="tl-actions">'
    + '<button type="button" data-draft="edit">Edit</button>'
    + (d.status === "draft" ? ' <button type="button" data-draft="submit">Submit for approval</button>' : "")
    + (publish ? ' <button type="button" data-draft="publish">Publish</button>' : "")
    + (publish && d.status !== "scheduled" ? ` <label for="ds-${d.id}">At</label> <input type="datetime-local" id="ds-${d.id}"> <button type="button" data-draft="schedule">Schedule</button>` : "")
    + (d.status === "scheduled" ? ' <button type="button" data-draft="unschedule">Unschedule</button>' : "")
    + ' <button type="button" data-draft="discard">Discard</button></p><div class="draft-work"></div>';
  return li;
}

$("drafts").addEventListener("click", async (event) => {
  const b = event.target.closest("button[data-draft]");
  if (!b) return;
  const li = b.closest(".draft");
  const id = li.id.slice(6);
  const path = `${storyPath(slug)}/drafts/${id}`;
  try {
    const action = b.dataset.draft;
    if (action === "edit") {
      const d = await api("GET", path);
      const work = li.querySelector(".draft-work");
      work.innerHTML = `<form><label for="de-title-${id}">Headline</label><input id="de-title-${id}" value="${esc(d.title)}">`
        + `<label for="de-body-${id}">Body</label><textarea id="de-body-${id}" rows="4">${esc(d.body)}</textarea>`
        + '<button type="submit">Save draft</button></form>';
      work.querySelector("form").addEventListener("submit", async (e) => {
        e.preventDefault();
        try {
          await api("PATCH", path, { body: { title: $(`de-title-${id}`).value, body: $(`de-body-${id}`).value },
            headers: { "If-Match": `"d${d.revision}"` } });
          loadDrafts();
        } catch (error) { say(error.message); }
      });
      $(`de-body-${id}`).focus();
      return;
    }
    // What an editor approves is the revision they read in the queue: if its author
    // changed it since, the server answers 409 and the queue shows the new text.
    const seen = { "If-Match": `"d${li.dataset.revision}"` };
    if (action === "schedule") {
      const at = $(`ds-${id}`).value;
      if (!at) { $(`ds-${id}`).focus(); return; }
      await api("POST", `${path}/schedule`, { body: { publish_at: new Date(at).toISOString() }, headers: seen });
    } else {
      const answer = await api("POST", `${path}/${action}`, action === "publish" ? { headers: seen } : {});
      if (action === "publish" && answer?.id) timeline.put(answer);
    }
    loadDrafts();
  } catch (error) { say(error.message); loadDrafts(); }
});

if (token()) signIn(token());
else $("token-input").focus();
