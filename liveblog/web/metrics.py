"""``GET /metrics``: Prometheus text for operators (and for tests that count reads)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from liveblog.feed import Follower
from liveblog.live.hub import Hub


async def metrics(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    follower: Follower = request.app.state.follower
    stats = hub.stats
    samples = [
        ("liveblog_feed_position", "gauge", "Newest notification the feed has processed",
         follower.position),
        ("liveblog_feed_reconnects_total", "counter", "Times the feed restarted its subscription",
         follower.reconnects),
        ("liveblog_feed_stories_needing_attention", "gauge",
         "Stories whose projection stopped at an event the views cannot take",
         len(follower.stories_needing_attention())),
        ("liveblog_live_readers", "gauge", "Readers connected to this process",
         hub.reader_count()),
        ("liveblog_live_joins_total", "counter", "Live connections accepted", stats.joins),
        ("liveblog_live_frames_total", "counter", "Story events published to the hub",
         stats.frames_published),
        ("liveblog_live_slow_readers_total", "counter", "Readers dropped as too slow",
         stats.readers_dropped_slow),
        ("liveblog_live_store_backlog_reads_total", "counter",
         "Resumes that had to read missed events from the store", stats.store_backlog_reads),
        ("liveblog_live_snapshot_view_reads_total", "counter",
         "Snapshots read from the views (the rest came from memory)", stats.snapshot_view_reads),
    ]  # fmt: skip
    lines = []
    for name, kind, help_text, value in samples:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value}"]
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
