"""Tokens: issued, checked against the store, then trusted for a while without a read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from liveblog import tokens
from liveblog.domain import InvalidField
from liveblog.settings import Settings
from liveblog.tokens import Credentials, Principal, Role


@pytest.fixture
def credentials(tmp_path: Path) -> Iterator[Credentials]:
    env = Settings(database_url=f"sqlite:///{tmp_path / 'tokens.sqlite3'}").eventsourcing_env()
    with Credentials(env=env) as app:
        yield app


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("liveblog.tokens.monotonic", clock)
    return clock


def test_a_token_is_trusted_only_once_it_has_been_checked(credentials: Credentials) -> None:
    secret, principal = credentials.issue(name="Aida Reporter", role=Role.REPORTER)

    assert credentials.trusted(secret) is None
    assert credentials.authenticate(secret) == principal
    assert credentials.trusted(secret) == principal


def test_trust_lapses_and_the_next_check_reads_the_store_again(
    credentials: Credentials, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret, principal = credentials.issue(name="Aida Reporter", role=Role.REPORTER)
    credentials.authenticate(secret)

    clock.now += tokens.TRUSTED_SECONDS - 0.1
    assert credentials.trusted(secret) == principal
    clock.now += 0.2
    assert credentials.trusted(secret) is None

    reads: list[str] = []
    real_read = credentials._read_principal

    def counted_read(token_hash: str) -> Principal | None:
        reads.append(token_hash)
        return real_read(token_hash)

    monkeypatch.setattr(credentials, "_read_principal", counted_read)
    assert credentials.authenticate(secret) == principal
    assert len(reads) == 1
    assert credentials.trusted(secret) == principal


@pytest.mark.parametrize(
    "secret",
    ["lb_unknown", "not-even-a-token", "lb_" + "x" * 300, ""],
    ids=["unknown", "no prefix", "too long", "empty"],
)
def test_a_bad_token_is_refused_and_never_trusted(credentials: Credentials, secret: str) -> None:
    credentials.issue(name="Aida Reporter", role=Role.REPORTER)

    assert credentials.authenticate(secret) is None
    assert credentials.trusted(secret) is None


def test_trust_is_bounded_in_size(
    credentials: Credentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokens, "MAX_TRUSTED", 3)
    secrets = [credentials.issue(name=f"Reporter {n}", role=Role.REPORTER)[0] for n in range(5)]

    for secret in secrets:
        assert credentials.authenticate(secret) is not None

    assert len(credentials._trusted) <= 3
    assert credentials.trusted(secrets[-1]) is not None


def test_a_token_name_must_be_newsroom_text(credentials: Credentials) -> None:
    for name in ("Aida\x00Reporter", "Aida\ud800", "Aida\uffff"):
        with pytest.raises(InvalidField) as caught:
            credentials.issue(name=name, role=Role.REPORTER)
        assert caught.value.field == "name"
    _, principal = credentials.issue(name="Aida\r\nReporter", role=Role.REPORTER)
    assert principal.actor.name == "Aida\nReporter"
