"""API tokens: issued to a named person with a role; only a hash of each is stored.

Tokens live in their own application (and tables), away from the public story log. A
token's aggregate id is derived from the token's hash, so checking a presented token is
one keyed read; the stored hash is then compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from time import monotonic
from typing import Any
from uuid import UUID, uuid4, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import ApplicationRecorder, Transcoder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteFactory
from eventsourcing.utils import Environment, EnvType

from liveblog.domain import LIVEBLOG_NAMESPACE, MAX_NAME, Actor, InvalidField, check_text
from liveblog.settings import environment_from_settings
from liveblog.transcoder import OrjsonTranscoder

TOKEN_PREFIX = "lb_"
# How long a process trusts a token it has checked, without reading it again. Every
# write request presents one, and the read (in a worker thread) was a tenth of the
# write path's cost. Tokens cannot be revoked yet; when they can, the revoking process
# must drop the entry at once, and other processes will notice within this time.
TRUSTED_SECONDS = 10.0
MAX_TRUSTED = 4096


class Role(StrEnum):
    REPORTER = "reporter"
    EDITOR = "editor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def includes(self, needed: Role) -> bool:
        """An admin may do all an editor may, and an editor all a reporter may."""
        return self.rank >= needed.rank


_RANKS = {Role.REPORTER: 1, Role.EDITOR: 2, Role.ADMIN: 3}


@dataclass(frozen=True)
class Principal:
    """The person behind a valid token."""

    actor: Actor
    role: Role


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_id_for_hash(token_hash: str) -> UUID:
    return uuid5(LIVEBLOG_NAMESPACE, f"token:{token_hash}")


class ApiToken(Aggregate):
    class Issued(Aggregate.Created):
        principal_id: str
        name: str
        role: str
        token_hash: str

    class Revoked(Aggregate.Event):
        def apply(self, aggregate: Any) -> None:
            aggregate.revoked = True

    def __init__(self, principal_id: str, name: str, role: str, token_hash: str) -> None:
        self.principal_id = principal_id
        self.name = name
        self.role = role
        self.token_hash = token_hash
        self.revoked = False


class Credentials(Application[UUID]):
    """Issues and checks API tokens."""

    name = "Credentials"

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        # Checked tokens by hash: (principal, trusted until). Only valid tokens are kept.
        self._trusted: dict[str, tuple[Principal, float]] = {}

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        return environment_from_settings(name, env, snapshotting=False)

    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder()

    def construct_recorder(self) -> ApplicationRecorder:
        # The library names SQLite tables by purpose, not by application, so tokens would
        # share the story log's table there; keep them apart, as on PostgreSQL.
        if isinstance(self.factory, SQLiteFactory):
            recorder = SQLiteApplicationRecorder(
                self.factory.datastore, events_table_name="credentials_events"
            )
            recorder.create_table()
            return recorder
        return super().construct_recorder()

    def issue(self, *, name: str, role: Role | str) -> tuple[str, Principal]:
        """Make a new token; returns the secret (shown once, never stored) and its owner."""
        name = check_text("name", name, limit=MAX_NAME)
        try:
            role = Role(role)
        except ValueError:
            raise InvalidField("role", "must be reporter, editor or admin") from None
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_hash = hash_token(secret)
        token = ApiToken._create(
            ApiToken.Issued,
            id=token_id_for_hash(token_hash),
            principal_id=f"p-{uuid4().hex[:12]}",
            name=name,
            role=role.value,
            token_hash=token_hash,
        )
        self.save(token)
        return secret, Principal(Actor(token.principal_id, name), role)

    def trusted(self, secret: str) -> Principal | None:
        """The principal of a token checked in the last TRUSTED_SECONDS, without I/O.

        None means "not known here lately", not "invalid": call ``authenticate``.
        """
        if len(secret) > 200:
            return None
        entry = self._trusted.get(hash_token(secret))
        if entry is None or entry[1] < monotonic():
            return None
        return entry[0]

    def authenticate(self, secret: str) -> Principal | None:
        """The principal of a valid, unrevoked token; None for anything else."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        token_hash = hash_token(secret)
        principal = self._read_principal(token_hash)
        if principal is not None:
            if len(self._trusted) >= MAX_TRUSTED:
                self._trusted.clear()  # rare (thousands of writers); the next read refills
            self._trusted[token_hash] = (principal, monotonic() + TRUSTED_SECONDS)
        return principal

    def _read_principal(self, token_hash: str) -> Principal | None:
        try:
            token: object = self.repository.get(token_id_for_hash(token_hash))
        except AggregateNotFoundError:
            return None
        if not isinstance(token, ApiToken) or token.revoked:
            return None
        if not hmac.compare_digest(token.token_hash, token_hash):
            return None
        return Principal(Actor(token.principal_id, token.name), Role(token.role))
