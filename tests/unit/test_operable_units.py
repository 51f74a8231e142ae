"""The small parts of operability: request ids, the log formats, the per-app metrics."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from liveblog.logs import configure_logging, redact_query
from liveblog.settings import Settings, SettingsError
from liveblog.web.app import create_app
from liveblog.web.metrics import HttpMetrics
from liveblog.web.request_id import MAX_LENGTH, request_id_of


def test_a_sane_request_id_is_kept_and_the_first_one_wins() -> None:
    headers = [(b"x-request-id", b"abc-1.2_3:4"), (b"x-request-id", b"second")]
    assert request_id_of(headers) == b"abc-1.2_3:4"
    longest = b"a" * MAX_LENGTH
    assert request_id_of([(b"x-request-id", longest)]) == longest


@pytest.mark.parametrize(
    "value", [b"", b"a" * (MAX_LENGTH + 1), b"a b", b'a"b', b"a\tb", b"\xc3\xa9", b"a\nb"]
)
def test_an_insane_request_id_is_replaced(value: bytes) -> None:
    made = request_id_of([(b"x-request-id", value)])
    assert made != value
    assert re.fullmatch(rb"[0-9a-f]{8}-[0-9a-f]+", made), made


def test_made_request_ids_differ() -> None:
    made = {request_id_of([]) for _ in range(1000)}
    assert len(made) == 1000


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes these loggers process-wide: put them back afterwards."""
    names = ["", "uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "liveblog"]
    loggers = [logging.getLogger(name) for name in names]
    saved = [(list(x.handlers), x.level, x.propagate) for x in loggers]
    # Another test may have left uvicorn's loggers at another level (uvicorn.Config does).
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    yield
    for logger, (handlers, level, propagate) in zip(loggers, saved, strict=True):
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


@pytest.mark.usefixtures("restore_logging")
def test_json_logs_are_one_object_a_line_for_liveblog_and_uvicorn() -> None:
    stream = io.StringIO()
    configure_logging("json", "info", stream)
    logging.getLogger("uvicorn.error").info("Application startup complete.")
    logging.getLogger("liveblog.access").info(
        "GET / 200", extra={"fields": {"status": 200, "request_id": "r-1"}}
    )
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        logging.getLogger("liveblog.web").exception("failed")
    logging.getLogger("liveblog.web").debug("not at info")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3, lines
    first, second, third = (json.loads(line) for line in lines)
    assert first["logger"] == "uvicorn.error"
    assert first["message"] == "Application startup complete."
    assert second["status"] == 200
    assert second["request_id"] == "r-1"
    assert third["level"] == "error"
    assert "RuntimeError: boom" in third["exc"]


@pytest.mark.usefixtures("restore_logging")
def test_text_logs_are_plain_lines_with_the_fields() -> None:
    stream = io.StringIO()
    configure_logging("text", "info", stream)
    logging.getLogger("liveblog.access").info("GET / 200", extra={"fields": {"status": 200}})
    line = stream.getvalue().strip()
    assert "INFO liveblog.access: GET / 200 status=200" in line
    with pytest.raises(ValueError, match="log format"):
        configure_logging("xml")


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("log_format", ["json", "text"])
def test_a_token_in_a_logged_query_is_redacted_whoever_logs_it(log_format: str) -> None:
    stream = io.StringIO()
    configure_logging(log_format, "info", stream)
    # uvicorn's line for a WebSocket handshake, as an editors' replay from a browser makes it.
    logging.getLogger("uvicorn.error").info(
        '%s - "WebSocket %s" [accepted]',
        "127.0.0.1:5000", "/api/stories/s/live?replay=max&token=lb_SECRET1&from=2",
    )  # fmt: skip
    logging.getLogger("liveblog.web").warning("asked /x?%74oken=lb_SECRET2, /y?TOKEN=lb_SECRET3")
    logging.getLogger("liveblog.web").info("tokens are fine to mention; token=lb_not_a_query")
    text = stream.getvalue()
    for secret in ("lb_SECRET1", "lb_SECRET2", "lb_SECRET3"):
        assert secret not in text
    assert "/live?replay=max&token=[redacted]&from=2" in text
    assert "?%74oken=[redacted]" in text
    assert "token=lb_not_a_query" in text  # not in a query: left as it is


@pytest.mark.parametrize(
    ("query", "redacted"),
    [
        ("token=abc", "token=[redacted]"),
        ("replay=5&token=abc&token=def", "replay=5&token=[redacted]&token=[redacted]"),
        ("tokens=abc&my_token=x", "tokens=abc&my_token=x"),
        ("token", "token"),
        ("t%6Fken=abc", "t%6Fken=[redacted]"),
    ],
)
def test_redact_query_blanks_only_the_token_parameters(query: str, redacted: str) -> None:
    assert redact_query(query) == redacted


def test_log_settings_come_from_the_environment() -> None:
    settings = Settings.from_environ(
        {"LIVEBLOG_LOG_FORMAT": "TEXT", "LIVEBLOG_ACCESS_LOG_CACHED": "yes"}
    )
    assert settings.log_format == "text"
    assert settings.access_log_cached is True
    defaults = Settings.from_environ({})
    assert (defaults.log_format, defaults.access_log_cached) == ("json", False)
    with pytest.raises(SettingsError, match="LIVEBLOG_LOG_FORMAT"):
        Settings.from_environ({"LIVEBLOG_LOG_FORMAT": "xml"})
    with pytest.raises(SettingsError, match="LIVEBLOG_ACCESS_LOG_CACHED"):
        Settings.from_environ({"LIVEBLOG_ACCESS_LOG_CACHED": "maybe"})


def samples(metrics: HttpMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.render().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_each_app_has_its_own_registry() -> None:
    first = create_app(Settings(database_url="memory://"))
    second = create_app(Settings(database_url="memory://"))  # no duplicate-metric error
    first.state.http_metrics.observe("GET", "/healthz", 200, 0.001)
    key = (
        "liveblog_http_requests_total",
        (("method", "GET"), ("route", "/healthz"), ("status_class", "2xx")),
    )
    assert samples(first.state.http_metrics)[key] == 1
    assert key not in samples(second.state.http_metrics)


def test_requests_are_labelled_by_class_and_odd_methods_share_a_label() -> None:
    metrics = create_app(Settings(database_url="memory://")).state.http_metrics
    metrics.observe("GET", "/api/stories/{story}", 404, 0.002)
    metrics.observe("GET", "/api/stories/{story}", 410, 0.002)
    metrics.observe("PROPFIND", "unmatched", 405, 0.003)
    metrics.observe("POST", "/api/stories", 503, 7.0)
    metrics.count_ready(304)
    found = samples(metrics)
    story = ("route", "/api/stories/{story}")
    assert found["liveblog_http_errors_total", (story, ("status_class", "4xx"))] == 2
    assert (
        found[
            "liveblog_http_requests_total",
            (("method", "OTHER"), ("route", "unmatched"), ("status_class", "4xx")),
        ]
        == 1
    )
    posts = (("method", "POST"), ("route", "/api/stories"))
    assert found["liveblog_http_request_duration_seconds_bucket", (("le", "5.0"), *posts)] == 0
    assert found["liveblog_http_request_duration_seconds_bucket", (("le", "10.0"), *posts)] == 1
    assert found["liveblog_http_ready_answers_total", (("status", "304"),)] == 1
    # No live stats before start-up: the app's parts do not exist yet.
    assert not any(name.startswith("liveblog_live_") for name, _ in found)


async def test_a_500_carries_a_request_id_and_is_logged_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(Settings(database_url="memory://"))

    async def boom(request: Request) -> Response:
        raise RuntimeError("a bug")

    app.router.routes.append(Route("/boom/{thing}", boom))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    caplog.set_level(logging.INFO, logger="liveblog.access")
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/boom/1", headers={"X-Request-ID": "boom-1"})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal"
    assert response.headers["x-request-id"] == "boom-1"
    lines = [r for r in caplog.records if r.name == "liveblog.access"]
    assert len(lines) == 1
    fields = lines[0].fields  # type: ignore[attr-defined]
    assert (fields["status"], fields["route"], fields["request_id"]) == (
        500,
        "/boom/{thing}",
        "boom-1",
    )
    found = samples(app.state.http_metrics)
    assert (
        found["liveblog_http_errors_total", (("route", "/boom/{thing}"), ("status_class", "5xx"))]
        == 1
    )
