"""API tokens: issued to a person, only a hash of each stored; revocable, and may expire.

Tokens and people live in their own application (and tables), away from the public story
log. A token's aggregate id is derived from the token's hash, so checking a presented
token is one keyed read (and one more for its person); the stored hash is then compared
in constant time. The id is also the token's public id, shown in lists and used to revoke
it: it is a one-way function of the hash, so it tells nothing of the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from time import monotonic
from typing import Any, TypeVar
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, Transcoder
from eventsourcing.utils import Environment, EnvType

from liveblog.domain import LIVEBLOG_NAMESPACE, Actor, DomainError, InvalidField, check_text
from liveblog.people import AdminAction, Person, Role, check_name, person_id_for_name
from liveblog.side_apps import own_sqlite_table, uncached_environment
from liveblog.transcoder import OrjsonTranscoder

__all__ = [
    "MAX_LABEL",
    "REVOCATION_SECONDS",
    "TOKEN_PREFIX",
    "TRUSTED_SECONDS",
    "ApiToken",
    "Credentials",
    "PersonExists",
    "PersonInactive",
    "PersonInfo",
    "PersonNotFound",
    "Principal",
    "Role",
    "TokenInfo",
    "TokenNotFound",
    "TokenRefused",
    "check_lifetime",
    "hash_token",
    "parse_lifetime",
    "token_id_for_hash",
]

TOKEN_PREFIX = "lb_"
MAX_SECRET = 200
MAX_LABEL = 100
# How long a process trusts a token it has checked, without reading it again. Every
# write request presents one, and the read (in a worker thread) was a tenth of the
# write path's cost. The process that revokes a token (or deactivates its person, or
# changes their role) drops its entries at once; other processes read the token again
# within this time, which bounds how long a revocation takes to reach them. DESIGN §7
# promises 10 s: a second less leaves room for the request that carries the token
# (scripts/benchmarks/figures/revocation.py measures it; docs/benchmarks.md).
TRUSTED_SECONDS = 9.0
REVOCATION_SECONDS = 10.0
MAX_TRUSTED = 4096
# The longest lifetime ``--expires`` or ``expires_in`` may ask for.
MAX_LIFETIME = timedelta(days=3650)

T = TypeVar("T")


@dataclass(frozen=True)
class Principal:
    """The person behind a valid token, and which token it was."""

    actor: Actor
    role: Role
    token_id: UUID | None = None
    expires_at: datetime | None = None


class TokenRefused(Exception):
    """A presented token that gives no rights; ``reason`` is unknown, revoked, expired or
    inactive, and the message says so to its holder."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class PersonNotFound(DomainError):
    code = "not_found"


class TokenNotFound(DomainError):
    code = "not_found"


class PersonExists(DomainError):
    code = "person_exists"


class PersonInactive(DomainError):
    """No new token for a deactivated person: reactivate them first."""

    code = "person_inactive"


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_id_for_hash(token_hash: str) -> UUID:
    return uuid5(LIVEBLOG_NAMESPACE, f"token:{token_hash}")


_LIFETIME = re.compile(r"(\d{1,7})([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_lifetime(field: str, raw: str) -> timedelta:
    """``30d``, ``12h`` or ``90m`` as a duration; ``InvalidField`` naming ``field`` else."""
    match = _LIFETIME.fullmatch(raw.strip()) if isinstance(raw, str) else None
    if match is None:
        raise InvalidField(field, "must look like 30d, 12h or 90m")
    lifetime = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    return check_lifetime(field, lifetime)


def check_lifetime(field: str, lifetime: timedelta) -> timedelta:
    if lifetime <= timedelta(0):
        raise InvalidField(field, "must be a positive duration")
    if lifetime > MAX_LIFETIME:
        raise InvalidField(field, f"must be at most {MAX_LIFETIME.days} days")
    return lifetime


class ApiToken(Aggregate):
    class Issued(Aggregate.Created):
        # Version 2: the token belongs to a person (``person_id``), may expire, and keeps
        # a hint (its last four characters) and a label for humans. Version 1 tokens,
        # each with a ``principal_id`` of its own, belong to the person of their name.
        class_version = 2

        person_id: str
        name: str  # the person's name and role when it was issued, for the record
        role: str
        token_hash: str
        expires_at: datetime | None
        hint: str
        label: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.pop("principal_id", None)
            state["person_id"] = str(person_id_for_name(state["name"]))
            state["expires_at"] = None
            state["hint"] = ""
            state["label"] = ""

    class Revoked(Aggregate.Event):
        def apply(self, aggregate: Any) -> None:
            aggregate.revoked = True

    def __init__(
        self,
        *,
        person_id: str,
        name: str,
        role: str,
        token_hash: str,
        expires_at: datetime | None,
        hint: str,
        label: str,
    ) -> None:
        self.person_id = person_id
        self.name = name
        self.role = role
        self.token_hash = token_hash
        self.expires_at = expires_at
        self.hint = hint
        self.label = label
        self.revoked = False


@dataclass(frozen=True)
class PersonInfo:
    """A person as lists and answers show them."""

    id: str
    name: str
    role: Role
    active: bool
    created_at: datetime


@dataclass(frozen=True)
class TokenInfo:
    """A token as lists show it: never its secret, never its hash."""

    id: str
    person_id: str
    person_name: str
    label: str
    hint: str
    created_at: datetime
    expires_at: datetime | None
    revoked: bool
    status: str  # active, revoked, expired, or inactive (its person is deactivated)


@dataclass(frozen=True)
class _Holder:
    """Who a token's rights come from: its person, or (before people existed) itself."""

    name: str
    role: str
    active: bool


# Who acts when a command comes from the command line (``liveblog token``, ``person``):
# whoever may run it on the server, which the audit trail names so.
OPERATOR = Actor("operator", "liveblog command line")


class Credentials(Application[UUID]):
    """People and their API tokens: issue, list, revoke, deactivate, and check."""

    name = "Credentials"

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        # Checked tokens by hash: (principal, trusted until). Only valid tokens are kept.
        self._trusted: dict[str, tuple[Principal, float]] = {}
        # Bumped by every change that drops trusted entries (revoke, deactivate, role):
        # a check whose read began before such a change must not trust what it read.
        self._trust_generation = 0
        # Wall-clock time, for expiry (tests move it); trust lapses by ``monotonic``.
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        # No aggregate cache: every check that misses the trust cache must see the
        # store as it is (a revocation made by another process).
        return uncached_environment(name, env)

    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder()

    def construct_recorder(self) -> ApplicationRecorder:
        return own_sqlite_table(self.factory, "credentials_events") or super().construct_recorder()

    # -- commands -----------------------------------------------------------------------

    def issue(
        self,
        *,
        name: str,
        role: Role | str,
        expires_at: datetime | None = None,
        label: str = "",
        by: Actor = OPERATOR,
    ) -> tuple[str, Principal]:
        """A new token for the person called ``name``, who is registered if new and given
        ``role`` if theirs differs. Returns the secret (shown once, never stored).
        ``by``: who issued it, for the audit trail (the command line's operator)."""
        name = check_name(name)
        wanted = Role.parse("role", role)

        def command() -> tuple[str, Principal]:
            person = self._get_person(person_id_for_name(name))
            if person is None:
                person = self._person_from_tokens(person_id_for_name(name), name, wanted)
            if not person.active:
                raise PersonInactive(f"{person.name} is deactivated; reactivate them first")
            new = bool(person.pending_events)  # registered just now, with the token
            if person.change_role(wanted):
                self._forget(lambda p: p.actor.id == str(person.id))
            detail = f"role {person.role}" + (", a new person" if new else "")
            return self._issue_to(person, expires_at=expires_at, label=label, by=by,
                                  detail=detail)  # fmt: skip

        return self._retried(command)

    def issue_for(
        self, person_id: UUID, *, expires_at: datetime | None = None, label: str = "",
        by: Actor = OPERATOR,
    ) -> tuple[str, Principal]:  # fmt: skip
        """A new token for an existing (and active) person."""

        def command() -> tuple[str, Principal]:
            person = self._person_for_change(person_id)
            if not person.active:
                raise PersonInactive(f"{person.name} is deactivated; reactivate them first")
            return self._issue_to(person, expires_at=expires_at, label=label, by=by,
                                  detail=f"role {person.role}")  # fmt: skip

        return self._retried(command)

    def register(self, *, name: str, role: Role | str, by: Actor = OPERATOR) -> PersonInfo:
        """A new person; ``PersonExists`` when the name is taken (however it is spelt)."""
        name = check_name(name)
        wanted = Role.parse("role", role)
        person_id = person_id_for_name(name)
        if self._get_person(person_id) is not None or self._legacy_holder(person_id):
            raise PersonExists(f"there is already a person called {name!r}")
        person = Person.register(name, wanted)
        action = AdminAction.record(
            "person.registered", by, person_id=person.id, detail=f"role {wanted.value}"
        )
        try:
            self.save(person, action)
        except IntegrityError:
            raise PersonExists(f"there is already a person called {name!r}") from None
        return _person_info(person)

    def update_person(
        self, person_id: UUID, *, role: Role | str | None = None, active: bool | None = None,
        by: Actor = OPERATOR,
    ) -> PersonInfo:  # fmt: skip
        """Change a person's role and/or active flag. Their tokens follow at once here,
        and within TRUSTED_SECONDS in other processes."""
        wanted = None if role is None else Role.parse("role", role)

        def command() -> PersonInfo:
            person = self._person_for_change(person_id)
            changes = []
            if wanted is not None and person.change_role(wanted):
                changes.append(f"role {wanted.value}")
            if active is not None and person.set_active(active):
                changes.append("activated" if active else "deactivated")
            if changes:
                detail = ", ".join(changes)
                changed = AdminAction.record("person.changed", by, person_id=person.id,
                                             detail=detail)  # fmt: skip
                self.save(person, changed)
            return _person_info(person)

        info = self._retried(command)
        self._forget(lambda p: p.actor.id == info.id)
        return info

    def revoke(self, token_id: UUID, *, by: Actor = OPERATOR) -> TokenInfo:
        """Revoke a token (again is a no-op): refused here at once, elsewhere within
        TRUSTED_SECONDS."""

        def command() -> ApiToken:
            token = self._get_token(token_id)
            if token is None:
                raise TokenNotFound(f"no token {token_id}")
            if not token.revoked:
                token.trigger_event(ApiToken.Revoked)
                revoked = AdminAction.record("token.revoked", by, person_id=token.person_id,
                                             token_id=token.id)  # fmt: skip
                self.save(token, revoked)
            return token

        token = self._retried(command)
        self._trust_generation += 1
        self._trusted.pop(token.token_hash, None)
        return self._token_info(token, self._holder(token))

    # -- queries ------------------------------------------------------------------------

    def people(self) -> list[PersonInfo]:
        """Every person, by name; people known only from tokens issued before people
        existed are listed as their tokens describe them."""
        aggregates = self._all()
        people = {str(agg.id): _person_info(agg) for agg in aggregates if isinstance(agg, Person)}
        for agg in aggregates:
            if isinstance(agg, ApiToken) and agg.person_id not in people:
                people[agg.person_id] = PersonInfo(
                    agg.person_id, agg.name, Role(agg.role), True, agg.created_on
                )
        return sorted(people.values(), key=lambda p: (p.name.casefold(), p.id))

    def person(self, person_id: UUID) -> PersonInfo:
        for info in self.people():
            if info.id == str(person_id):
                return info
        raise PersonNotFound(f"no person {person_id}")

    def tokens(self, person_id: UUID | None = None) -> list[TokenInfo]:
        """Every token (or one person's), oldest first, without secrets or hashes."""
        aggregates = self._all()
        persons = {str(agg.id): agg for agg in aggregates if isinstance(agg, Person)}
        listed = []
        for agg in aggregates:
            if not isinstance(agg, ApiToken):
                continue
            if person_id is not None and agg.person_id != str(person_id):
                continue
            person = persons.get(agg.person_id)
            holder = (
                _Holder(agg.name, agg.role, True)
                if person is None
                else _Holder(person.name, person.role, person.active)
            )
            listed.append(self._token_info(agg, holder))
        return sorted(listed, key=lambda t: (t.created_at, t.id))

    def token(self, token_id: UUID) -> TokenInfo:
        token = self._get_token(token_id)
        if token is None:
            raise TokenNotFound(f"no token {token_id}")
        return self._token_info(token, self._holder(token))

    # -- checking tokens ----------------------------------------------------------------

    def trusted(self, secret: str) -> Principal | None:
        """The principal of a token checked in the last TRUSTED_SECONDS, without I/O.

        None means "not known here lately", not "invalid": call ``authenticate``.
        """
        if len(secret) > MAX_SECRET:
            return None
        token_hash = hash_token(secret)
        entry = self._trusted.get(token_hash)
        if entry is None or entry[1] < monotonic():
            return None
        principal = entry[0]
        if principal.expires_at is not None and self.clock() >= principal.expires_at:
            self._trusted.pop(token_hash, None)
            return None
        return principal

    def authenticate(self, secret: str) -> Principal:
        """The principal of a valid token; ``TokenRefused`` says why a token is not."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > MAX_SECRET:
            raise TokenRefused("unknown", "the token is unknown")
        token_hash = hash_token(secret)
        # Trust runs from before the read: a revocation committed after it is seen by
        # the next read, at most TRUSTED_SECONDS after the revocation itself.
        trusted_until = monotonic() + TRUSTED_SECONDS
        generation = self._trust_generation
        token = self._get_token(token_id_for_hash(token_hash))
        if token is None or not hmac.compare_digest(token.token_hash, token_hash):
            raise TokenRefused("unknown", "the token is unknown")
        if token.revoked:
            raise TokenRefused("revoked", "the token has been revoked")
        if token.expires_at is not None and self.clock() >= token.expires_at:
            raise TokenRefused("expired", f"the token expired at {_rfc3339(token.expires_at)}")
        holder = self._holder(token)
        if not holder.active:
            raise TokenRefused("inactive", "the token's holder has been deactivated")
        principal = Principal(
            Actor(token.person_id, holder.name), Role(holder.role), token.id, token.expires_at
        )
        if generation != self._trust_generation:
            return principal  # a revocation here raced this read: answer, but trust nothing
        if len(self._trusted) >= MAX_TRUSTED:
            self._trusted.clear()  # rare (thousands of writers); the next read refills
        self._trusted[token_hash] = (principal, trusted_until)
        return principal

    # -- inside -------------------------------------------------------------------------

    def _issue_to(
        self, person: Person, *, expires_at: datetime | None, label: str, by: Actor, detail: str
    ) -> tuple[str, Principal]:
        check_text("label", label, limit=MAX_LABEL, required=False)
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise InvalidField("expires_at", "must carry a time zone")
            # Checked before the conversion, which overflows for times near year 1 or 9999.
            check_lifetime("expires_at", expires_at - self.clock())
            expires_at = expires_at.astimezone(UTC)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_hash = hash_token(secret)
        token = ApiToken._create(
            ApiToken.Issued,
            id=token_id_for_hash(token_hash),
            person_id=str(person.id),
            name=person.name,
            role=person.role,
            token_hash=token_hash,
            expires_at=expires_at,
            hint=secret[-4:],
            label=label.strip(),
        )
        issued = AdminAction.record("token.issued", by, person_id=person.id, token_id=token.id,
                                    detail=detail)  # fmt: skip
        # A new person, or a changed role, goes with the token, and the audit's record.
        self.save(person, token, issued)
        actor = Actor(str(person.id), person.name)
        return secret, Principal(actor, Role(person.role), token.id, expires_at)

    def _retried(self, command: Callable[[], T]) -> T:
        """Run a command again when another writer changed the same aggregate first."""
        for _ in range(2):
            try:
                return command()
            except IntegrityError:
                continue
        return command()

    def _get_token(self, token_id: UUID) -> ApiToken | None:
        try:
            token: object = self.repository.get(token_id)
        except AggregateNotFoundError:
            return None
        return token if isinstance(token, ApiToken) else None

    def _get_person(self, person_id: UUID) -> Person | None:
        try:
            person: object = self.repository.get(person_id)
        except AggregateNotFoundError:
            return None
        return person if isinstance(person, Person) else None

    def _holder(self, token: ApiToken) -> _Holder:
        person = self._get_person(UUID(token.person_id))
        if person is None:  # issued before people existed: the token says who and what
            return _Holder(token.name, token.role, True)
        return _Holder(person.name, person.role, person.active)

    def _legacy_holder(self, person_id: UUID) -> ApiToken | None:
        """The first token of a person known only from tokens issued before people."""
        for agg in self._all():
            if isinstance(agg, ApiToken) and agg.person_id == str(person_id):
                return agg
        return None

    def _person_from_tokens(self, person_id: UUID, name: str, role: Role) -> Person:
        """A Person aggregate for ``person_id`` (not yet saved): as their first token
        issued before people existed describes them, or new."""
        legacy = self._legacy_holder(person_id)
        if legacy is None:
            return Person.register(name, role)
        return Person.register(legacy.name, Role(legacy.role))

    def _person_for_change(self, person_id: UUID) -> Person:
        """The person to change: stored, or made from their tokens issued before people
        existed (saved with the change); ``PersonNotFound`` otherwise."""
        person = self._get_person(person_id)
        if person is not None:
            return person
        legacy = self._legacy_holder(person_id)
        if legacy is None:
            raise PersonNotFound(f"no person {person_id}")
        return Person.register(legacy.name, Role(legacy.role))

    def _all(self) -> list[Aggregate]:
        """Every person and token, folded from this application's log, in log order.

        Admin lists only: a newsroom has hundreds of people and tokens, a few events
        each, so reading them all is cheaper than keeping an index aggregate that every
        issue would contend for.
        """
        aggregates: dict[UUID, Aggregate] = {}
        for event in self._events():
            before = aggregates.get(event.originator_id)
            after = event.mutate(before)
            if isinstance(after, Aggregate):
                aggregates[event.originator_id] = after
        return list(aggregates.values())

    def _events(self) -> Iterator[Any]:
        position = 0
        while True:
            notifications = self.recorder.select_notifications(
                start=position, limit=500, inclusive_of_start=False
            )
            for notification in notifications:
                yield self.mapper.to_domain_event(notification)
            if len(notifications) < 500:
                return
            position = notifications[-1].id

    def _forget(self, matches: Callable[[Principal], bool]) -> None:
        """Drop trusted entries whose principal ``matches``: the next use reads the store."""
        self._trust_generation += 1
        for token_hash, (principal, _) in list(self._trusted.items()):
            if matches(principal):
                self._trusted.pop(token_hash, None)

    def _token_info(self, token: ApiToken, holder: _Holder) -> TokenInfo:
        if token.revoked:
            status = "revoked"
        elif token.expires_at is not None and self.clock() >= token.expires_at:
            status = "expired"
        elif not holder.active:
            status = "inactive"
        else:
            status = "active"
        return TokenInfo(
            id=str(token.id),
            person_id=token.person_id,
            person_name=holder.name,
            label=token.label,
            hint=token.hint,
            created_at=token.created_on,
            expires_at=token.expires_at,
            revoked=token.revoked,
            status=status,
        )


def _person_info(person: Person) -> PersonInfo:
    return PersonInfo(
        str(person.id), person.name, Role(person.role), person.active, person.created_on
    )


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
