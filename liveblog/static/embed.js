// liveblog's embed: <div data-liveblog="SLUG"></div> on any page, and this script from
// the liveblog server, become the story's live page in an iframe, sized to its content.
// The server lets only the sites of LIVEBLOG_ALLOWED_ORIGINS frame it (CSP
// frame-ancestors); the page inside does the live work itself.
(() => {
  const script = document.currentScript;
  const origin = new URL(script ? script.src : location.href).origin;
  const frames = [];
  function mount(host) {
    if (host.dataset.liveblogMounted) return;
    host.dataset.liveblogMounted = "true";
    const frame = document.createElement("iframe");
    frame.src = `${origin}/stories/${encodeURIComponent(host.dataset.liveblog)}/embed`;
    frame.title = host.dataset.liveblogTitle || "Live coverage";
    frame.style.cssText = "width:100%;height:600px;border:0;display:block";
    frame.setAttribute("allow", "");
    host.replaceChildren(frame);
    frames.push(frame);
  }
  addEventListener("message", (event) => {
    if (event.origin !== origin || !event.data || event.data.liveblog !== "height") return;
    const frame = frames.find((f) => f.contentWindow === event.source);
    const height = Number(event.data.height);
    if (frame && height > 0 && height < 100000) frame.style.height = `${height}px`;
  });
  const mountAll = () => document.querySelectorAll("[data-liveblog]").forEach(mount);
  if (document.readyState === "loading") addEventListener("DOMContentLoaded", mountAll);
  else mountAll();
})();
