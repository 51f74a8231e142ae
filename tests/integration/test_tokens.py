"""People and tokens on each backend: issued, checked, trusted for a while, revoked, expired.

The suite is ``CredentialsSuite``; each ``TestCredentials…`` subclass gives it a store. A
"restart" or "another process" is a new ``Credentials`` instance on the same store.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from liveblog import tokens
from liveblog.domain import InvalidField
from liveblog.people import Role, person_id_for_name
from liveblog.settings import Settings
from liveblog.tokens import (
    Credentials,
    PersonExists,
    PersonNotFound,
    TokenNotFound,
    TokenRefused,
    parse_lifetime,
)

LEGACY = Path(__file__).parent / "data" / "legacy-tokens.json"


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


class WallClock:
    """The wall clock a ``Credentials`` judges expiry by, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def refusal(check: Callable[[], object]) -> str:
    with pytest.raises(TokenRefused) as refused:
        check()
    return refused.value.reason


class CredentialsSuite:
    """Subclasses supply the ``database_url`` fixture."""

    @pytest.fixture
    def open_credentials(self, database_url: str) -> Iterator[Callable[[], Credentials]]:
        opened: list[Credentials] = []

        def open_one() -> Credentials:
            app = Credentials(env=Settings(database_url=database_url).eventsourcing_env())
            opened.append(app)
            return app

        yield open_one
        for app in opened:
            app.close()

    @pytest.fixture
    def credentials(self, open_credentials: Callable[[], Credentials]) -> Credentials:
        return open_credentials()

    # -- the trust cache (as before people) ------------------------------------------------

    def test_a_token_is_trusted_only_once_it_has_been_checked(
        self, credentials: Credentials
    ) -> None:
        secret, principal = credentials.issue(name="Aida Reporter", role=Role.REPORTER)

        assert credentials.trusted(secret) is None
        assert credentials.authenticate(secret) == principal
        assert credentials.trusted(secret) == principal

    def test_trust_lapses_and_the_next_check_reads_the_store_again(
        self, credentials: Credentials, clock: Clock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        secret, principal = credentials.issue(name="Aida Reporter", role=Role.REPORTER)
        credentials.authenticate(secret)

        clock.now += tokens.TRUSTED_SECONDS - 0.1
        assert credentials.trusted(secret) == principal
        clock.now += 0.2
        assert credentials.trusted(secret) is None

        reads: list[UUID] = []
        real_read = credentials._get_token

        def counted_read(token_id: UUID) -> Any:
            reads.append(token_id)
            return real_read(token_id)

        monkeypatch.setattr(credentials, "_get_token", counted_read)
        assert credentials.authenticate(secret) == principal
        assert len(reads) == 1
        assert credentials.trusted(secret) == principal

    @pytest.mark.parametrize(
        "secret",
        ["lb_unknown", "not-even-a-token", "lb_" + "x" * 300, ""],
        ids=["unknown", "no prefix", "too long", "empty"],
    )
    def test_a_bad_token_is_refused_and_never_trusted(
        self, credentials: Credentials, secret: str
    ) -> None:
        credentials.issue(name="Aida Reporter", role=Role.REPORTER)

        assert refusal(lambda: credentials.authenticate(secret)) == "unknown"
        assert credentials.trusted(secret) is None

    def test_trust_is_bounded_in_size(
        self, credentials: Credentials, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(tokens, "MAX_TRUSTED", 3)
        secrets = [
            credentials.issue(name=f"Reporter {n}", role=Role.REPORTER)[0] for n in range(5)
        ]

        for secret in secrets:
            credentials.authenticate(secret)

        assert len(credentials._trusted) <= 3
        assert credentials.trusted(secrets[-1]) is not None

    # -- people ------------------------------------------------------------------------------

    def test_tokens_for_one_name_belong_to_one_person_across_restarts(
        self, open_credentials: Callable[[], Credentials]
    ) -> None:
        first, one = open_credentials().issue(name="Aida Reporter", role=Role.REPORTER)
        again = open_credentials()  # a restart: nothing in memory
        second, two = again.issue(name="  aida   REPORTER ", role=Role.REPORTER)

        assert one.actor == two.actor
        assert one.actor.id == str(person_id_for_name("Aida Reporter"))
        assert one.actor.name == "Aida Reporter"  # as first registered
        assert one.token_id != two.token_id
        assert again.authenticate(first).actor == again.authenticate(second).actor
        (person,) = again.people()
        assert (person.id, person.name, person.role, person.active) == (
            one.actor.id, "Aida Reporter", Role.REPORTER, True,
        )  # fmt: skip

    def test_a_token_created_with_another_role_changes_the_persons_role(
        self, credentials: Credentials
    ) -> None:
        old, _ = credentials.issue(name="Aida Reporter", role=Role.REPORTER)
        assert credentials.authenticate(old).role == Role.REPORTER

        _, principal = credentials.issue(name="Aida Reporter", role="editor")

        assert principal.role == Role.EDITOR
        assert credentials.trusted(old) is None  # the role change reaches old tokens at once
        assert credentials.authenticate(old).role == Role.EDITOR

    def test_a_person_is_registered_once(self, credentials: Credentials) -> None:
        person = credentials.register(name="Sam Editor", role=Role.EDITOR)

        with pytest.raises(PersonExists):
            credentials.register(name="SAM EDITOR", role=Role.REPORTER)
        assert credentials.people() == [person]
        _, principal = credentials.issue_for(UUID(person.id))
        assert principal.actor.id == person.id

    @pytest.mark.parametrize(
        ("name", "role", "field"),
        [("", "reporter", "name"), ("   ", "editor", "name"), ("x" * 201, "editor", "name"),
         ("Aida", "owner", "role"), ("Aida", "", "role")],
    )  # fmt: skip
    def test_names_and_roles_are_checked(
        self, credentials: Credentials, name: str, role: str, field: str
    ) -> None:
        with pytest.raises(InvalidField) as invalid:
            credentials.issue(name=name, role=role)
        assert invalid.value.field == field
        with pytest.raises(InvalidField):
            credentials.register(name=name, role=role)
        assert credentials.people() == []

    def test_a_token_name_must_be_newsroom_text(self, credentials: Credentials) -> None:
        for name in ("Aida\x00Reporter", "Aida\ud800", "Aida\uffff"):
            with pytest.raises(InvalidField) as caught:
                credentials.issue(name=name, role=Role.REPORTER)
            assert caught.value.field == "name"
        _, principal = credentials.issue(name="Aida\r\nReporter", role=Role.REPORTER)
        assert principal.actor.name == "Aida\nReporter"

    def test_deactivating_a_person_refuses_all_their_tokens_at_once(
        self, credentials: Credentials
    ) -> None:
        first, principal = credentials.issue(name="Aida Reporter", role=Role.REPORTER)
        second, _ = credentials.issue(name="Aida Reporter", role=Role.REPORTER)
        other, _ = credentials.issue(name="Erin Editor", role=Role.EDITOR)
        for secret in (first, second, other):
            credentials.authenticate(secret)

        person = credentials.update_person(UUID(principal.actor.id), active=False)

        assert person.active is False
        for secret in (first, second):
            assert credentials.trusted(secret) is None
            assert refusal(functools.partial(credentials.authenticate, secret)) == "inactive"
        assert credentials.trusted(other) is not None
        assert {t.status for t in credentials.tokens(UUID(principal.actor.id))} == {"inactive"}
        with pytest.raises(tokens.PersonInactive):
            credentials.issue(name="Aida Reporter", role=Role.REPORTER)

        credentials.update_person(UUID(principal.actor.id), active=True)
        assert credentials.authenticate(first).actor == principal.actor

    def test_changing_an_unknown_person_is_not_found(self, credentials: Credentials) -> None:
        unknown = person_id_for_name("Nobody")
        with pytest.raises(PersonNotFound):
            credentials.update_person(unknown, active=False)
        with pytest.raises(PersonNotFound):
            credentials.issue_for(unknown)
        with pytest.raises(PersonNotFound):
            credentials.person(unknown)

    # -- revocation --------------------------------------------------------------------------

    def test_a_check_that_raced_a_revocation_here_does_not_trust_the_token(
        self, credentials: Credentials, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        secret, principal = credentials.issue(name="Aida Reporter", role=Role.REPORTER)
        assert principal.token_id is not None
        token_id = principal.token_id
        real_get = credentials._get_token
        raced = False

        def read_then_revoke(wanted: UUID) -> Any:
            nonlocal raced
            token = real_get(wanted)  # the check reads the token as it was...
            if not raced:
                raced = True
                credentials.revoke(token_id)  # ...and a revocation lands right after
            return token

        monkeypatch.setattr(credentials, "_get_token", read_then_revoke)
        credentials.authenticate(secret)  # read before the revocation: still answered
        monkeypatch.setattr(credentials, "_get_token", real_get)
        assert credentials.trusted(secret) is None  # but not trusted for 9 s
        assert refusal(lambda: credentials.authenticate(secret)) == "revoked"

    def test_a_revoked_token_is_refused_at_once_in_the_revoking_process(
        self, credentials: Credentials
    ) -> None:
        secret, principal = credentials.issue(name="Aida Reporter", role=Role.REPORTER)
        kept, _ = credentials.issue(name="Aida Reporter", role=Role.REPORTER)
        credentials.authenticate(secret)
        assert principal.token_id is not None

        revoked = credentials.revoke(principal.token_id)

        assert revoked.revoked is True
        assert revoked.status == "revoked"
        assert credentials.trusted(secret) is None
        assert refusal(lambda: credentials.authenticate(secret)) == "revoked"
        assert credentials.authenticate(kept).actor == principal.actor
        assert credentials.revoke(principal.token_id) == revoked  # again: a no-op
        with pytest.raises(TokenNotFound):
            credentials.revoke(person_id_for_name("not a token"))

    def test_another_process_refuses_a_revoked_token_once_its_trust_lapses(
        self, open_credentials: Callable[[], Credentials], clock: Clock
    ) -> None:
        here, there = open_credentials(), open_credentials()
        secret, principal = here.issue(name="Aida Reporter", role=Role.REPORTER)
        there.authenticate(secret)
        assert principal.token_id is not None

        here.revoke(principal.token_id)

        assert there.trusted(secret) == principal  # trusted for at most TRUSTED_SECONDS
        clock.now += tokens.TRUSTED_SECONDS + 0.1
        assert there.trusted(secret) is None
        assert refusal(lambda: there.authenticate(secret)) == "revoked"

    def test_another_process_refuses_a_deactivated_persons_token_once_trust_lapses(
        self, open_credentials: Callable[[], Credentials], clock: Clock
    ) -> None:
        here, there = open_credentials(), open_credentials()
        secret, principal = here.issue(name="Aida Reporter", role=Role.REPORTER)
        there.authenticate(secret)

        here.update_person(UUID(principal.actor.id), active=False)

        clock.now += tokens.TRUSTED_SECONDS + 0.1
        assert refusal(lambda: there.authenticate(secret)) == "inactive"

    # -- expiry ------------------------------------------------------------------------------

    def test_a_token_expires_even_while_trusted(self, credentials: Credentials) -> None:
        wall = WallClock()
        credentials.clock = wall
        secret, principal = credentials.issue(
            name="Aida Reporter", role=Role.REPORTER, expires_at=wall.now + timedelta(hours=1)
        )
        assert credentials.authenticate(secret) == principal

        wall.now += timedelta(minutes=59)
        assert credentials.trusted(secret) == principal
        wall.now += timedelta(minutes=1)
        assert credentials.trusted(secret) is None
        with pytest.raises(TokenRefused) as refused:
            credentials.authenticate(secret)
        assert refused.value.reason == "expired"
        assert "expired at 2026-11-30T13:00:00Z" in refused.value.message
        (listed,) = credentials.tokens()
        assert listed.status == "expired"
        assert listed.expires_at == wall.now

    @pytest.mark.parametrize(
        "expires_at",
        [datetime(2026, 11, 30, 11, 0, tzinfo=UTC), datetime(2026, 11, 30, 13, 0),
         datetime(2046, 11, 30, 13, 0, tzinfo=UTC)],
        ids=["past", "no time zone", "too far"],
    )  # fmt: skip
    def test_an_expiry_must_be_ahead_and_within_bounds(
        self, credentials: Credentials, expires_at: datetime
    ) -> None:
        credentials.clock = WallClock()
        with pytest.raises(InvalidField) as invalid:
            credentials.issue(name="Aida", role=Role.REPORTER, expires_at=expires_at)
        assert invalid.value.field == "expires_at"
        assert credentials.tokens() == []

    # -- lists -------------------------------------------------------------------------------

    def test_lists_show_no_secret_and_no_hash(self, credentials: Credentials) -> None:
        secret, principal = credentials.issue(
            name="Aida Reporter", role=Role.REPORTER, label="phone"
        )
        credentials.issue(name="Erin Editor", role=Role.EDITOR)

        listed = credentials.tokens()
        mine = credentials.tokens(UUID(principal.actor.id))

        assert [t.person_name for t in listed] == ["Aida Reporter", "Erin Editor"]
        assert len(mine) == 1
        assert mine[0].id == str(principal.token_id)
        assert mine[0].hint == secret[-4:]
        assert mine[0].label == "phone"
        assert mine[0].status == "active"
        shown = repr(listed)
        assert secret not in shown
        assert tokens.hash_token(secret) not in shown
        assert [p.name for p in credentials.people()] == ["Aida Reporter", "Erin Editor"]

    # -- tokens issued before people existed ---------------------------------------------------

    @pytest.fixture
    def legacy(self, credentials: Credentials) -> dict[str, Any]:
        """The credentials log as the code before people wrote it, byte for byte."""
        written: dict[str, Any] = json.loads(LEGACY.read_text())
        credentials.recorder.insert_events(
            [
                StoredEvent(
                    originator_id=UUID(row["originator_id"]),
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=row["state"].encode(),
                )
                for row in written["stored_events"]
            ]
        )
        return written

    def test_tokens_issued_before_people_keep_working(
        self, credentials: Credentials, legacy: dict[str, Any]
    ) -> None:
        aida = str(person_id_for_name("Aida Reporter"))
        for name, issued in legacy["tokens"].items():
            for token in issued:
                principal = credentials.authenticate(token["secret"])
                assert principal.actor.name == name
                assert principal.role == Role(token["role"])
                assert principal.actor.id == str(person_id_for_name(name))
        people = credentials.people()
        assert [(p.id, p.name, p.role) for p in people] == [
            (aida, "Aida Reporter", Role.REPORTER),
            (str(person_id_for_name("Erin Editor")), "Erin Editor", Role.EDITOR),
        ]
        assert [t.person_id for t in credentials.tokens()].count(aida) == 2

    def test_a_person_known_only_from_old_tokens_can_be_managed(
        self, credentials: Credentials, legacy: dict[str, Any]
    ) -> None:
        aida = person_id_for_name("Aida Reporter")
        old = [token["secret"] for token in legacy["tokens"]["Aida Reporter"]]

        new, principal = credentials.issue(name="Aida Reporter", role=Role.REPORTER)
        assert principal.actor.id == str(aida)
        with pytest.raises(PersonExists):
            credentials.register(name="Erin Editor", role=Role.EDITOR)

        credentials.update_person(aida, active=False)
        for secret in [*old, new]:
            assert refusal(functools.partial(credentials.authenticate, secret)) == "inactive"
        erin = person_id_for_name("Erin Editor")
        assert credentials.update_person(erin, role=Role.ADMIN).role == Role.ADMIN
        erin_secret = legacy["tokens"]["Erin Editor"][0]["secret"]
        assert credentials.authenticate(erin_secret).role == Role.ADMIN
        (erin_token,) = credentials.tokens(erin)
        revoked = credentials.revoke(UUID(erin_token.id))
        assert revoked.status == "revoked"
        assert refusal(lambda: credentials.authenticate(erin_secret)) == "revoked"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("30d", timedelta(days=30)), ("12h", timedelta(hours=12)), ("90m", timedelta(minutes=90))],
)
def test_lifetimes_read_days_hours_and_minutes(raw: str, expected: timedelta) -> None:
    assert parse_lifetime("expires", raw) == expected


@pytest.mark.parametrize("raw", ["", "30", "d", "0d", "-1d", "1.5h", "30 days", "99999d", "1w"])
def test_other_lifetimes_are_refused(raw: str) -> None:
    with pytest.raises(InvalidField) as invalid:
        parse_lifetime("expires", raw)
    assert invalid.value.field == "expires"


class TestCredentialsOnSQLite(CredentialsSuite):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


@pytest.mark.postgres
class TestCredentialsOnPostgreSQL(CredentialsSuite):
    @pytest.fixture
    def database_url(self, fresh_postgres_url: str) -> str:
        return fresh_postgres_url
