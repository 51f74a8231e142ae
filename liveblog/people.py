"""People: who may write, with a stable id, a name, a role and an active flag.

A person's id is derived from the normalised name, so ``liveblog token create --name``
finds the same person again on every run (and after every restart), and the store itself
keeps names unique. The id is also the actor id that the person's events carry, so a
reporter keeps the authorship of her posts whatever token she used to make them.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate

from liveblog.domain import LIVEBLOG_NAMESPACE, MAX_NAME, Actor, InvalidField, check_text


class Role(StrEnum):
    """Roles, lowest first: each one may do all that the ones before it may.

    The order of declaration is the order of rank, so a new role is one line in the
    right place.
    """

    # Freelancers and stringers: drafts for an editor to publish (DESIGN §3, §4); no
    # route that publishes anything accepts them.
    CONTRIBUTOR = "contributor"
    REPORTER = "reporter"
    EDITOR = "editor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def includes(self, needed: Role) -> bool:
        """An admin may do all an editor may, an editor all a reporter may, and a
        reporter all a contributor may."""
        return self.rank >= needed.rank

    @classmethod
    def parse(cls, field: str, value: object) -> Role:
        """``value`` as a role, or ``InvalidField`` naming ``field`` and the choices."""
        if isinstance(value, str) and value in _BY_VALUE:
            return _BY_VALUE[value]
        raise InvalidField(field, f"must be one of {ROLE_CHOICES}")


_RANKS = {role: rank for rank, role in enumerate(Role, start=1)}
_BY_VALUE = {role.value: role for role in Role}
ROLE_CHOICES = ", ".join(role.value for role in Role)


def normalised_name(name: str) -> str:
    """What makes two spellings of a name the same person: case, width and spacing aside."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def person_id_for_name(name: str) -> UUID:
    return uuid5(LIVEBLOG_NAMESPACE, f"person:{normalised_name(name)}")


def check_name(name: str) -> str:
    """A person's display name: newsroom text, not blank, at most MAX_NAME characters."""
    return check_text("name", name, limit=MAX_NAME).strip()


class Person(Aggregate):
    class Registered(Aggregate.Created):
        name: str
        role: str

    class RoleChanged(Aggregate.Event):
        role: str

        def apply(self, aggregate: Any) -> None:
            aggregate.role = self.role

    class Deactivated(Aggregate.Event):
        def apply(self, aggregate: Any) -> None:
            aggregate.active = False

    class Reactivated(Aggregate.Event):
        def apply(self, aggregate: Any) -> None:
            aggregate.active = True

    def __init__(self, name: str, role: str) -> None:
        self.name = name
        self.role = role
        self.active = True

    @classmethod
    def register(cls, name: str, role: Role, *, at: datetime | None = None) -> Person:
        """A new person; ``at`` is when they were registered (an import keeps the
        original time), default now."""
        name = check_name(name)
        person: Person = cls._create(
            cls.Registered, id=person_id_for_name(name), timestamp=at, name=name, role=role.value
        )
        return person

    def change_role(self, role: Role) -> bool:
        """Give the person ``role``; False (and no event) when it is theirs already."""
        if self.role == role.value:
            return False
        self.trigger_event(self.RoleChanged, role=role.value)
        return True

    def set_active(self, active: bool) -> bool:
        """(De)activate; False (and no event) when the person already is so."""
        if self.active == active:
            return False
        self.trigger_event(self.Reactivated if active else self.Deactivated)
        return True


class AdminAction(Aggregate):
    """One command on people or tokens, and who gave it: the audit trail's record of
    token administration. People's and tokens' own events do not say who acted (a token
    is issued from the command line as often as by an admin); this is saved with them,
    in the same transaction, so neither is ever recorded without the other."""

    class Recorded(Aggregate.Created):
        action: str  # "person.registered", "person.changed", "token.issued", "token.revoked"
        actor_id: str
        actor_name: str
        person_id: str | None
        token_id: str | None
        detail: str

    def __init__(
        self, *, action: str, actor_id: str, actor_name: str, person_id: str | None,
        token_id: str | None, detail: str,
    ) -> None:  # fmt: skip
        self.action = action
        self.actor = Actor(actor_id, actor_name)
        self.person_id = person_id
        self.token_id = token_id
        self.detail = detail

    @classmethod
    def record(
        cls, action: str, by: Actor, *, person_id: object = None, token_id: object = None,
        detail: str = "",
    ) -> AdminAction:  # fmt: skip
        made: AdminAction = cls._create(
            cls.Recorded, id=uuid4(), action=action, actor_id=by.id, actor_name=by.name,
            person_id=None if person_id is None else str(person_id),
            token_id=None if token_id is None else str(token_id), detail=detail,
        )  # fmt: skip
        return made
