// One story's live stream for the console (docs/live-protocol.md): a WebSocket that
// resumes with since= the last version applied, checks that versions are contiguous
// (a hole reconnects, a duplicate is dropped) and reconnects with backoff and jitter.
// The reader page's live.js does the same for its server-rendered page; the console
// starts from a snapshot instead (no since on the first connection).

export function follow(slug, { onSnapshot, onEvent, onState }) {
  let version = null, socket = null, timer = null, attempt = 0, stopped = false;

  function connect() {
    timer = null;
    if (stopped) return;
    if (!navigator.onLine) { onState("offline"); return; }
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const since = version === null ? "" : `?since=${version}`;
    const ws = new WebSocket(`${scheme}://${location.host}/api/stories/${encodeURIComponent(slug)}/live${since}`);
    ws.onmessage = (message) => receive(JSON.parse(message.data));
    ws.onclose = (event) => {
      socket = null;
      if (stopped) return;
      if (event.code === 4404) { onState("no such story"); return; }
      retry();
    };
    socket = ws;
  }

  function receive(message) {
    if (message.type === "snapshot") {
      version = message.version;
      onSnapshot(message.story, version);
    } else if (message.type === "live") {
      attempt = 0;
      onState("live");
    } else if (message.type === "event") {
      if (message.version <= version) return;
      if (message.version !== version + 1) { restart(); return; }
      version = message.version;
      onEvent(message, version);
    }
  }

  function retry() {
    if (timer || stopped) return;
    const ceiling = Math.min(30000, 500 * 2 ** attempt);
    attempt += 1;
    onState("reconnecting…");
    timer = setTimeout(connect, ceiling / 2 + Math.random() * ceiling / 2);
  }

  function drop() {
    if (socket) { socket.onclose = null; socket.close(); socket = null; }
    clearTimeout(timer);
    timer = null;
  }

  function restart() { drop(); connect(); }
  const offline = () => { drop(); onState("offline"); };
  const online = () => { attempt = 0; restart(); };
  addEventListener("offline", offline);
  addEventListener("online", online);
  connect();

  return {
    version: () => version,
    stop() {
      stopped = true;
      drop();
      removeEventListener("offline", offline);
      removeEventListener("online", online);
    },
  };
}
