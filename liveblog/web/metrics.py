"""``GET /metrics``: Prometheus text for operators (and for tests that count reads).

Each app has its own ``CollectorRegistry`` (tests build many apps in one process; the
global default registry would mix them and refuse the second app's metrics). It holds:

- ``LiveStatsCollector``: the live stats the parts already keep (hub, feed), read at
  scrape time, so the hot paths pay nothing more than the increments they already make.
  To add a sample, add one line to the list in ``live_samples``.
- ``HttpMetrics``: requests, latency and errors of the routed HTTP path, by method,
  route template (``/api/stories/{story}``, never the raw path: a client choosing label
  values could grow the registry without bound) and status class; plus the answers the
  cached-GET fast path wrote, by status, which cost it one dict increment each.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import Response

from liveblog.feed import Feed
from liveblog.live.backlog import BacklogReads
from liveblog.live.hub import Hub
from liveblog.rate_limit import RateLimiter
from liveblog.web.public import NO_STORE

# (name, "counter" | "gauge", help, value)
LiveSample = tuple[str, str, str, float]

# Latency buckets (seconds): the routed path answers in about a millisecond when warm; a
# write waits for its group commit; a past version or a cold story reads the store.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Methods outside this set share one label value: the method is the client's choice.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"


def live_samples(state: State) -> list[LiveSample]:
    """The live stats as samples; the app's parts exist (start-up is done)."""
    hub: Hub = state.hub
    feed: Feed = state.feed
    stats = hub.stats
    backlogs: BacklogReads = state.backlogs
    limiter: RateLimiter | None = state.write_limiter
    samples: list[LiveSample] = [
        ("liveblog_feed_position", "gauge", "Newest notification the feed has processed",
         feed.position),
        ("liveblog_feed_reconnects_total", "counter", "Times the feed restarted its subscription",
         feed.reconnects),
        ("liveblog_feed_stories_needing_attention", "gauge",
         "Stories whose projection stopped at an event the views cannot take",
         len(feed.stories_needing_attention())),
        ("liveblog_live_readers", "gauge", "Readers connected to this process",
         hub.reader_count()),
        ("liveblog_live_direct_readers", "gauge",
         "Live readers caught up and written to by the hub itself (the fast path)",
         hub.direct_reader_count()),
        ("liveblog_live_joins_total", "counter", "Live connections accepted", stats.joins),
        ("liveblog_live_frames_total", "counter", "Story events published to the hub",
         stats.frames_published),
        ("liveblog_live_slow_readers_total", "counter", "Readers dropped as too slow",
         stats.readers_dropped_slow),
        ("liveblog_live_slow_reader_pending_bytes_max", "gauge",
         "Most bytes that waited for a reader when it was dropped as slow",
         stats.slow_reader_pending_bytes_max),
        ("liveblog_connections_refused_total", "counter",
         "Connections and requests refused for the per-address limit",
         state.gate.refusals),
        ("liveblog_writes_rate_limited_total", "counter",
         "Writes refused with 429 for their token's rate limit",
         0 if limiter is None else limiter.refused),
        ("liveblog_live_store_backlog_reads_total", "counter",
         "Resumes older than the ring (served from a shared store read, or reset)",
         stats.store_backlog_reads),
        ("liveblog_live_backlog_store_reads_total", "counter",
         "Reads of the store for resumes' backlogs (shared by concurrent resumes)",
         backlogs.stats.store_reads),
        ("liveblog_live_backlog_too_far_back_total", "counter",
         "Resumes further back than LIVEBLOG_MAX_BACKLOG, answered with a reset snapshot",
         backlogs.stats.too_far_back),
        ("liveblog_live_snapshot_view_reads_total", "counter",
         "Snapshots read from the views (the rest came from memory)", stats.snapshot_view_reads),
    ]  # fmt: skip
    return samples


class LiveStatsCollector:
    """A prometheus_client collector that turns ``live_samples`` into metric families."""

    def __init__(self, state: State) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        if getattr(self.state, "hub", None) is None:
            return  # not started yet (or no lifespan): nothing live to report
        for name, kind, help_text, value in live_samples(self.state):
            family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            yield family(name, help_text, value=value)


class ReadyAnswersCollector:
    """The fast path's answers, counted in a plain dict (see ``HttpMetrics.ready``)."""

    def __init__(self, counts: dict[int, int]) -> None:
        self.counts = counts

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "liveblog_http_ready_answers_total",
            "GETs of a story answered from the hub's cached render, without routing"
            " (not in liveblog_http_requests_total)",
            labels=["status"],
        )
        for status, count in sorted(self.counts.items()):
            family.add_metric([str(status)], count)
        yield family


class HttpMetrics:
    """One app's registry: the live stats, and what the HTTP paths record."""

    def __init__(self, state: State) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(LiveStatsCollector(state))
        # The fast path's counts, status → answers: a dict the fast path increments
        # (``count_ready``), not a prometheus Counter with its label lookup and lock.
        self.ready: dict[int, int] = {200: 0, 304: 0}
        self.registry.register(ReadyAnswersCollector(self.ready))
        self._requests = Counter(
            "liveblog_http_requests", "HTTP requests answered on the routed path",
            ["method", "route", "status_class"], registry=self.registry,
        )  # fmt: skip
        self._errors = Counter(
            "liveblog_http_errors", "HTTP answers with a 4xx or 5xx status",
            ["route", "status_class"], registry=self.registry,
        )  # fmt: skip
        self._latency = Histogram(
            "liveblog_http_request_duration_seconds",
            "Time from the request's arrival at the app to the end of its answer",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        # labels() validates and locks on every call: keep the children it made.
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    def count_ready(self, status: int) -> None:
        ready = self.ready
        ready[status] = ready.get(status, 0) + 1

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            method = method if method in KNOWN_METHODS else "OTHER"
            status_class = f"{status // 100}xx"
            errors = self._errors.labels(route, status_class) if status >= 400 else None
            children = (
                self._requests.labels(method, route, status_class),
                self._latency.labels(method, route),
                errors,
            )
            if len(self._children) < 10_000:  # bounded: method × route × status
                self._children[key] = children
        requests, latency, errors = children
        requests.inc()
        latency.observe(seconds)
        if errors is not None:
            errors.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


async def metrics(request: Request) -> Response:
    http_metrics: HttpMetrics = request.app.state.http_metrics
    return Response(http_metrics.render(), media_type=CONTENT_TYPE_PLAIN_0_0_4, headers=NO_STORE)
