"""schemathesis against a real server, from the description it serves, on both backends.

Every operation is fuzzed with valid and invalid input (bounded and derandomized), once
with whatever story and update ids schemathesis makes up and once on a real story and
update, with an editor's token. No answer may be a 5xx or break the description.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from liveblog.web.openapi import DESCRIPTION
from tests.e2e.server import LiveServer, create_token

EXAMPLES_PER_RUN = 12
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]
# An endless stream: a client reads it until it hangs up, which a fuzzer cannot do.
UNFUZZED = ("/api/stories/{story}/live/sse",)
SLUG = "fuzzed"


@dataclass(frozen=True)
class Target:
    server: LiveServer
    editor: str
    update_id: str


def start(database_url: str, folder: Path) -> Iterator[Target]:
    editor = create_token(database_url, "Fuzz Editor", "editor")
    server = LiveServer(database_url, folder / "server.log").start()
    try:
        auth = {"Authorization": f"Bearer {editor}"}
        with httpx.Client(base_url=server.base_url, headers=auth, timeout=10) as client:
            opened = client.post("/api/stories", json={"slug": SLUG, "title": "Fuzzed"})
            assert opened.status_code == 201, opened.text
            posted = client.post(f"/api/stories/{SLUG}/updates", json={"body": "<p>one</p>"})
            assert posted.status_code == 201, posted.text
        yield Target(server, editor, posted.json()["id"])
    finally:
        server.stop()


@pytest.fixture
def sqlite_target(tmp_path: Path) -> Iterator[Target]:
    yield from start(f"sqlite:///{tmp_path / 'fuzz.sqlite3'}", tmp_path)


@pytest.fixture
def postgres_target(fresh_postgres_url: str, tmp_path: Path) -> Iterator[Target]:
    yield from start(fresh_postgres_url, tmp_path)


def fuzz(target: Target) -> None:
    base_url = target.server.base_url
    served = httpx.get(f"{base_url}/api/openapi.json")
    assert served.headers["content-type"] == "application/json"
    assert served.json() == DESCRIPTION
    schema = schemathesis.openapi.from_url(f"{base_url}/api/openapi.json")
    headers = {"Authorization": f"Bearer {target.editor}"}
    failures: list[str] = []
    seen: Counter[tuple[str, int]] = Counter()
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operations.append(result.ok())
    assert len(operations) >= 18
    for operation in operations:
        if operation.path in UNFUZZED:
            continue
        real = {"story": SLUG, "update": target.update_id}
        fixed = {k: v for k, v in real.items() if "{" + k + "}" in operation.path}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for path_parameters in ({}, fixed) if fixed else ({},):
                strategy = operation.as_strategy(
                    generation_mode=mode, path_parameters=path_parameters or None
                )
                failure = run(strategy, base_url, headers, seen)
                if failure is not None:
                    failures.append(f"{operation.label} ({mode.value}): {failure}")
    assert not failures, "\n\n".join(failures)
    # A guard on the run itself: the fuzzer reached the handlers, not only 404s.
    succeeded = {label for label, status in seen if status < 300}
    for label in ("GET /api/stories/{story}", "POST /api/stories/{story}/updates",
                  "POST /api/stories/{story}/updates/{update}/corrections",
                  "GET /api/stories/{story}/events", "POST /api/stories"):  # fmt: skip
        assert label in succeeded, sorted(seen.items())
    assert sum(seen.values()) > 300, sorted(seen.items())


def run(
    strategy: Any, base_url: str, headers: dict[str, str], seen: Counter[tuple[str, int]]
) -> str | None:
    """Up to EXAMPLES_PER_RUN cases; the first failure, unshrunk, as text."""

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES_PER_RUN,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the first failure is enough
        suppress_health_check=list(HealthCheck),
    )
    def call(case: Case[Any]) -> None:
        response = case.call_and_validate(
            base_url=base_url, headers=headers, checks=CHECKS, timeout=10
        )
        seen[(case.operation.label, response.status_code)] += 1

    try:
        call()
    except Unsatisfiable:  # negative mode, for an operation that takes no input at all
        return None
    # schemathesis raises its failures as a BaseExceptionGroup; each is collected and
    # all are reported together.
    except (Exception, BaseExceptionGroup) as error:
        return f"{type(error).__name__}: {error}"
    return None


def test_the_api_answers_fuzzed_requests_as_described_on_sqlite(sqlite_target: Target) -> None:
    fuzz(sqlite_target)


@pytest.mark.postgres
def test_the_api_answers_fuzzed_requests_as_described_on_postgresql(
    postgres_target: Target,
) -> None:
    fuzz(postgres_target)
