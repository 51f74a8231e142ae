// One story's live stream (docs/live-protocol.md), for the reader page (live.js) and the
// newsroom console: a WebSocket, else Server-Sent Events after two sockets that never
// opened (a proxy that does not pass them, say); reconnecting with exponential backoff
// and jitter, and always with since= the last version applied. Versions are checked: a
// duplicate is dropped, a hole reconnects (the server then fills it, or resets).
//
// follow("/api/stories/<slug>", { since, onSnapshot, onEvent, onState }): since is the
// version the caller already shows (a rendered page), or null for a first snapshot.
// onState gets "live", "offline", "reconnecting" or "gone" (no such story).

export function follow(path, { since = null, onSnapshot, onEvent, onState }) {
  let version = since, socket = null, source = null, timer = null;
  let attempt = 0, socketFailures = 0, stopped = false;
  const query = () => (version === null ? "" : `?since=${version}`);

  function connect() {
    timer = null;
    if (stopped) return;
    if (!navigator.onLine) { onState("offline"); return; }
    if (socketFailures >= 2 && window.EventSource) { connectEvents(); return; }
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}${path}/live${query()}`);
    let opened = false;
    ws.onopen = () => { opened = true; socketFailures = 0; };
    ws.onmessage = (event) => receive(JSON.parse(event.data));
    ws.onclose = (event) => {
      socket = null;
      if (!opened) socketFailures += 1;
      if (event.code === 4404) { onState("gone"); return; }
      retry();
    };
    socket = ws;
  }

  // The browser reconnects an EventSource by itself with Last-Event-ID, the last version.
  function connectEvents() {
    const events = new EventSource(`${path}/live/sse${query()}`);
    events.onmessage = (event) => receive(JSON.parse(event.data));
    events.onerror = () => {
      if (events.readyState === EventSource.CLOSED) { source = null; retry(); }
    };
    source = events;
  }

  function receive(message) {
    if (message.type === "snapshot") { // first, or a reset: what the caller holds is replaced
      version = message.version;
      onSnapshot(message.story, version);
    } else if (message.type === "live") {
      attempt = 0;
      onState("live");
    } else if (message.type === "event") {
      if (version !== null && message.version <= version) return; // already applied
      if (version !== null && message.version !== version + 1) { reconnectNow(); return; }
      version = message.version;
      onEvent(message, version);
    }
  }

  function disconnect() {
    if (socket) { socket.onclose = null; socket.close(); socket = null; }
    if (source) { source.close(); source = null; }
    clearTimeout(timer);
    timer = null;
  }

  function retry() {
    if (timer || stopped) return;
    const ceiling = Math.min(30000, 500 * 2 ** attempt);
    attempt += 1;
    onState("reconnecting");
    timer = setTimeout(connect, ceiling / 2 + Math.random() * ceiling / 2);
  }

  function reconnectNow() { disconnect(); connect(); }
  const offline = () => { disconnect(); onState("offline"); };
  const online = () => { attempt = 0; reconnectNow(); };
  addEventListener("offline", offline);
  addEventListener("online", online);
  connect();

  return {
    version: () => version,
    stop() {
      stopped = true;
      disconnect();
      removeEventListener("offline", offline);
      removeEventListener("online", online);
    },
  };
}
