"""schemathesis against a real server, from the description it serves, on both backends.

Every operation is fuzzed with valid and invalid input (bounded and derandomized), once
with whatever ids schemathesis makes up and once on a real story, update, person and
token, with an admin's token (an admin may do all an editor may, and the people and
token routes are admin only). No answer may be a 5xx or break the description.

The admin routes can take the fuzzer's own rights away: ``DELETE /api/tokens/{token}``
revokes a token, ``PATCH /api/people/{person}`` demotes or deactivates a person. The
fuzzing token is kept out of their reach rather than replaced as it falls:

- the made-up ids cannot name it: a token's id is derived from the hash of its secret
  and a person's from their name, so no generated string is either but by a 2**-122
  accident;
- the real ids given to the admin routes are those of a *subject*, a person with a
  token of their own, made afresh (over the API) for each run, so what one operation
  does to its subject (deactivated, demoted, revoked) does not decide another's answers.

A fresh token per request would guard the same, at a CLI call (a process) per request.
The run ends by checking that the fuzzing token is still an admin's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
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
from liveblog.web.security import CONTENT_SECURITY_POLICY, PRIVATE, SECURITY_HEADERS
from tests.e2e.server import LiveServer
from tests.helpers import bearer, issue_token

EXAMPLES_PER_RUN = 12
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]
# Answers private to their caller: each 2xx of these says so (DESIGN §7).
PRIVATE_PATHS = ("/api/me", "/api/people", "/api/tokens")
# An endless stream: a client reads it until it hangs up, which a fuzzer cannot do.
UNFUZZED = ("/api/stories/{story}/live/sse",)
SLUG = "fuzzed"


ADMIN = "Fuzz Admin"


@dataclass(frozen=True)
class Target:
    server: LiveServer
    admin: str
    update_id: str


def start(database_url: str, folder: Path) -> Iterator[Target]:
    admin = issue_token(database_url, ADMIN, "admin")
    server = LiveServer(database_url, folder / "server.log").start()
    try:
        auth = bearer(admin)
        with httpx.Client(base_url=server.base_url, headers=auth, timeout=10) as client:
            opened = client.post("/api/stories", json={"slug": SLUG, "title": "Fuzzed"})
            assert opened.status_code == 201, opened.text
            posted = client.post(f"/api/stories/{SLUG}/updates", json={"body": "<p>one</p>"})
            assert posted.status_code == 201, posted.text
        yield Target(server, admin, posted.json()["id"])
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
    headers = bearer(target.admin)
    failures: list[str] = []
    seen: Counter[tuple[str, int]] = Counter()
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operations.append(result.ok())
    assert len(operations) >= 27
    subjects = Subjects(base_url, headers)
    for operation in operations:
        if operation.path in UNFUZZED:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            real = {"story": SLUG, "update": target.update_id}
            if "{person}" in operation.path or "{token}" in operation.path:
                real.update(subjects.fresh())
            fixed = {k: v for k, v in real.items() if "{" + k + "}" in operation.path}
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
                  "GET /api/stories/{story}/events", "POST /api/stories",
                  "GET /api/me", "POST /api/people", "PATCH /api/people/{person}",
                  "POST /api/people/{person}/tokens", "GET /api/tokens",
                  "DELETE /api/tokens/{token}"):  # fmt: skip
        assert label in succeeded, sorted(seen.items())
    assert sum(seen.values()) > 500, sorted(seen.items())
    # ... and it kept its own rights throughout (see the module docstring).
    me = httpx.get(f"{base_url}/api/me", headers=headers)
    assert (me.status_code, me.json()["name"], me.json()["role"]) == (200, ADMIN, "admin")


class Subjects:
    """People for the admin routes to fuzz, each with a token: never the fuzzer's own."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        self.base_url = base_url
        self.headers = headers
        self.made = 0

    def fresh(self) -> dict[str, str]:
        """A new subject's ids, as the path parameters ``person`` and ``token``."""
        self.made += 1
        name = f"Fuzz Subject {self.made}"
        with httpx.Client(base_url=self.base_url, headers=self.headers, timeout=10) as client:
            person = client.post("/api/people", json={"name": name, "role": "reporter"})
            assert person.status_code == 201, person.text
            token = client.post(f"/api/people/{person.json()['id']}/tokens", json={})
        assert token.status_code == 201, token.text
        return {"person": person.json()["id"], "token": token.json()["id"]}


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
        # schemathesis keeps each header as a list of values, by lower-case name.
        answered = {name: ", ".join(values) for name, values in response.headers.items()}
        check_headers(case.operation.path, response.status_code, answered)

    try:
        call()
    except Unsatisfiable:  # negative mode, for an operation that takes no input at all
        return None
    # schemathesis raises its failures as a BaseExceptionGroup; each is collected and
    # all are reported together.
    except (Exception, BaseExceptionGroup) as error:
        return f"{type(error).__name__}: {error}"
    return None


def check_headers(path: str, status: int, headers: Mapping[str, str]) -> None:
    """The security headers on every answer; ``private, no-store`` on the private ones.

    A page (``text/html``: the readers' pages, the newsroom console) sets a policy of its
    own (``liveblog/web/pages.py``, ``console.py``), which is kept; it is never framed
    but by the sites the embed allows."""
    page = headers.get("content-type", "").startswith("text/html")
    for name, value in SECURITY_HEADERS:
        if page and name == CONTENT_SECURITY_POLICY:
            assert "frame-ancestors" in headers.get(name.decode(), ""), f"{status}: {name!r}"
            continue
        assert headers.get(name.decode()) == value.decode(), f"{status}: {name!r}"
    if path.startswith(PRIVATE_PATHS) and status < 300:
        assert headers.get("cache-control") == PRIVATE["Cache-Control"], f"{status}"


def test_the_api_answers_fuzzed_requests_as_described_on_sqlite(sqlite_target: Target) -> None:
    fuzz(sqlite_target)


@pytest.mark.postgres
def test_the_api_answers_fuzzed_requests_as_described_on_postgresql(
    postgres_target: Target,
) -> None:
    fuzz(postgres_target)
