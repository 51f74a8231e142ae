// Editors' history: the story "as readers saw it" at any version (a slider over the
// versions, beside the story now), the events with filters, and the replay stream
// (docs/live-protocol.md, "Replay (editors)") at a chosen speed with play and pause.

import { render } from "./live.js";
import { api, esc, storyPath, token } from "./newsroom-api.js";

const $ = (id) => document.getElementById(id);

export function createHistory({ slug, say }) {
  let latest = 0, replay = null, paused = [], holding = false, shownAt = null, timer = null;

  const story = (s, box) => box.replaceChildren(...(s?.updates || []).map((u) => render(u, s.slug, box.id + "-")));

  // Called on every version the stream applies: the slider reaches to it; "now" follows.
  function moved(version) {
    const slider = $("at-slider");
    const atEnd = Number(slider.value) >= latest;
    latest = version;
    slider.max = String(Math.max(1, version));
    if (atEnd || shownAt === null) slider.value = String(version);
    clearTimeout(timer);
    timer = setTimeout(() => { showNow(); if (shownAt === null) showAt(Number(slider.value)); }, 150);
  }

  async function showNow() {
    if (!document.body.classList.contains("can-editor")) return;
    try { story(await api("GET", storyPath(slug())), $("now")); } catch (error) { say(error.message); }
  }

  async function showAt(version) {
    if (!document.body.classList.contains("can-editor") || version < 1) return;
    shownAt = version;
    try {
      const then = await api("GET", `${storyPath(slug())}?at_version=${version}`);
      const [event] = (await api("GET", `${storyPath(slug())}/events?after=${version - 1}&limit=1`)).events;
      $("at-label").textContent = `${version}${event ? ", " + new Date(event.at).toLocaleString() : ""}`;
      $("then").dataset.version = String(version);
      story(then, $("then"));
    } catch (error) { say(error.message); }
  }

  $("at-slider").addEventListener("input", (event) => {
    clearTimeout(timer);
    timer = setTimeout(() => showAt(Number(event.target.value)), 120);
  });

  // A moment: the version readers had then (?at=), shown as the slider's would be.
  $("at-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const at = new Date($("at-time").value).toISOString();
    try {
      const then = await api("GET", `${storyPath(slug())}?at=${encodeURIComponent(at)}`);
      $("at-slider").value = String(then.version);
      await showAt(then.version);
    } catch (error) { say(error.message); }
  });

  $("history-filters").addEventListener("submit", async (event) => {
    event.preventDefault();
    const query = new URLSearchParams({ limit: "200" });
    if ($("h-type").value) query.set("type", $("h-type").value);
    if ($("h-update").value.trim()) query.set("update", $("h-update").value.trim());
    if ($("h-actor").value.trim()) query.set("actor", $("h-actor").value.trim());
    if ($("h-from").value) query.set("from", new Date($("h-from").value).toISOString());
    if ($("h-to").value) query.set("to", new Date($("h-to").value).toISOString());
    try {
      const { events } = await api("GET", `${storyPath(slug())}/events?${query}`);
      $("events").replaceChildren(...events.map(eventItem));
    } catch (error) { say(error.message); }
  });

  function eventItem(e) {
    const li = document.createElement("li");
    li.dataset.version = e.version;
    const u = e.data?.update;
    li.innerHTML = `<button type="button" class="linkish" data-at="${e.version}">v${e.version}</button> `
      + `<strong>${esc(e.type || e.event)}</strong> ${esc(new Date(e.at).toLocaleString())}`
      + ` · ${esc(e.actor?.name || "")}${u?.title ? " · " + esc(u.title) : ""}`;
    return li;
  }

  for (const list of [$("events"), $("replay")]) {
    list.addEventListener("click", (event) => {
      const b = event.target.closest("button[data-at]");
      if (!b) return;
      $("at-slider").value = b.dataset.at;
      showAt(Number(b.dataset.at));
      $("at-slider").focus();
    });
  }

  // The replay: the token goes in the WebSocket's query, the one place a browser can put
  // it there (the server redacts it from every log line). Pause holds what arrives.
  $("replay-play").addEventListener("click", () => {
    if (replay && holding) { holding = false; for (const m of paused.splice(0)) shown(m); return state("playing"); }
    replay?.close();
    $("replay").replaceChildren();
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const speed = encodeURIComponent($("replay-speed").value);
    replay = new WebSocket(`${scheme}://${location.host}/api/stories/${encodeURIComponent(slug())}/live`
      + `?replay=${speed}&token=${encodeURIComponent(token())}`);
    replay.onmessage = (m) => { const message = JSON.parse(m.data); if (holding) paused.push(message); else shown(message); };
    replay.onclose = () => { replay = null; $("replay-pause").disabled = true; if (!holding) state("ended"); };
    holding = false;
    $("replay-pause").disabled = false;
    state("playing");
  });
  $("replay-pause").addEventListener("click", () => { holding = true; state("paused"); });

  function state(text) { $("replay-state").textContent = text; $("replay").dataset.state = text; }

  function shown(message) {
    if (message.type === "event") {
      $("replay").prepend(eventItem({ ...message, type: message.event }));
    } else if (message.type === "replay_end") state("ended");
  }

  return { moved, reset: () => { latest = 0; shownAt = null; } };
}
