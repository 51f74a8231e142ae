"""``liveblog serve | demo | rebuild | replay | token | person | export | import``: thin
entry points over the app and applications.

Each command first checks the store (``liveblog.startup``): a bad ``LIVEBLOG_DATABASE_URL``
or a store that cannot be reached ends the command with one line on standard error,
``liveblog: error: ...``, and exit code 2 (bad configuration) or 1 (unreachable, busy).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from uuid import UUID

from liveblog.domain import DomainError
from liveblog.people import Role, person_id_for_name
from liveblog.replay_clock import MAX_GAP_SECONDS, SPEED_RULE, parse_speed
from liveblog.replay_lines import parse_time
from liveblog.settings import Settings, SettingsError
from liveblog.startup import EXIT_BAD_CONFIG, EXIT_UNREACHABLE, StartupError, check_store
from liveblog.store_lock import StoreBusy
from liveblog.tokens import Credentials, PersonInfo, PersonNotFound, TokenInfo, parse_lifetime
from projections.views import ALL_VIEWS
from projections.wire import rfc3339

if TYPE_CHECKING:
    from liveblog.newsroom import Newsroom


def _checked_settings() -> Settings:
    """The settings, once the store they name has been seen to open (else StartupError)."""
    settings = Settings.from_environ()
    check_store(settings)
    return settings


def _serve(args: argparse.Namespace) -> int:
    from liveblog.logs import configure_logging
    from liveblog.store_lock import hold_serving
    from liveblog.web.app import create_app
    from liveblog.web.server import LiveblogServer, server_config

    settings = _checked_settings()
    configure_logging(settings.log_format, args.log_level)
    # Taken before uvicorn starts, so a running rebuild is reported in one line, not as a
    # failed lifespan's traceback; the app holds it until it shuts down.
    serving_lock = hold_serving(settings)
    if args.demo:
        _prepare_demo(settings, args.host, args.port)
    app = create_app(settings, serving_lock=serving_lock)
    config = server_config(
        app,
        host=args.host,
        port=args.port,
        ws=args.ws,
        log_level=args.log_level,
        keep_alive_seconds=settings.keep_alive_seconds,
    )
    LiveblogServer(config, app).run()
    return 0


# Demo tokens are printed on every start; each expires after a week (or when revoked).
DEMO_TOKEN_LIFETIME = timedelta(days=7)


def _prepare_demo(settings: Settings, host: str, port: int) -> None:
    """Seed the demo story into an empty store and print what a new user needs: fresh
    tokens for the demo people, whose ids stay the same from start to start."""
    from liveblog.demo import DEMO_PEOPLE, DEMO_SLUG, seed_demo
    from liveblog.newsroom import Newsroom

    env = settings.eventsourcing_env()
    lines = []
    with Newsroom(env=env) as newsroom, Credentials(env=env) as credentials:
        if not newsroom.story_ids():
            seed_demo(newsroom)
            print(f"Seeded the demo story into {settings.database_url}")
        expires_at = _whole_second(credentials.clock() + DEMO_TOKEN_LIFETIME)
        for person, role in DEMO_PEOPLE:
            label = f"{role.value} token:"
            try:
                secret, _ = credentials.issue(
                    name=person.name, role=role, expires_at=expires_at, label="demo"
                )
            except DomainError as refused:  # say, an admin deactivated the demo person
                secret = f"none ({refused})"
            lines.append(f"  {label:<15} {secret}   ({person.name})")
    base = f"http://{host}:{port}"
    print(
        f"\nliveblog on {base}\n"
        f"  read it:     {base}/stories/{DEMO_SLUG}\n"
        f"  front page:  {base}/\n"
        f"  newsroom:    {base}/newsroom   (sign in with a token below)\n"
        f"  stories:     {base}/api/stories\n"
        f"  demo story:  {base}/api/stories/{DEMO_SLUG}\n"
        f"  health:      {base}/healthz\n" + "\n".join(lines) + "\n"
        f"  (new tokens on every start; each expires {rfc3339(expires_at)})\n",
        flush=True,
    )


def _demo(_: argparse.Namespace) -> int:
    from liveblog.demo import seed_demo
    from liveblog.newsroom import Newsroom

    settings = _checked_settings()
    with Newsroom(env=settings.eventsourcing_env()) as newsroom:
        story_id = seed_demo(newsroom)
        version = newsroom.get_story(story_id).version
    print(f"demo story {story_id} at version {version} in {settings.database_url}")
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    from liveblog.bootstrap import build_views
    from liveblog.newsroom import Newsroom
    from liveblog.rebuild import progress_bar, rebuild
    from liveblog.store_lock import hold_rebuilding

    settings = _checked_settings()
    names = [args.projection] if args.projection else list(ALL_VIEWS)
    try:
        lock = hold_rebuilding(settings)
    except StoreBusy as busy:
        if not args.force:
            raise
        print(f"liveblog: warning: {busy}; rebuilding anyway (--force)", file=sys.stderr)
        lock = None
    try:
        with Newsroom(env=settings.eventsourcing_env()) as newsroom:
            views = build_views(newsroom)
            result = rebuild(newsroom, views, names=names, progress=progress_bar())
    finally:
        if lock is not None:
            lock.release()
    print(
        f"rebuilt {', '.join(names)} from {result.events:,} events"
        f" in {result.seconds:.1f}s ({result.rate:,.0f} events/s)"
    )
    return 0


def _replay(args: argparse.Namespace) -> int:
    """An editors' replay of a story's events as they stood, paced (DESIGN §5)."""
    from liveblog.newsroom import Newsroom
    from liveblog.replay import ReplayRefused, plan_replay
    from liveblog.replay_lines import print_replay
    from projections.story_reads import StoryMissing

    settings = _checked_settings()
    with Newsroom(env=settings.eventsourcing_env()) as newsroom:
        try:
            story_id = newsroom.resolve_story_id(args.story)
            replay = plan_replay(newsroom, story_id, first=args.first, at=args.at)
        except StoryMissing:
            raise BadInput(f"no story {args.story!r}") from None
        except ReplayRefused as refused:
            raise BadInput(str(refused).replace("from:", "--from:", 1)) from None
        try:
            print_replay(replay, args.speed, lambda line: print(line, flush=True))
        except KeyboardInterrupt:
            return 130
    return 0


def _argument(parse: Callable[[str], object], rule: str) -> Callable[[str], object]:
    """An argparse ``type`` whose refusal says ``rule`` (argparse then exits with 2)."""

    def checked(raw: str) -> object:
        try:
            return parse(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{raw!r}: {rule}") from None

    return checked


def _version(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise ValueError(raw)
    return int(raw)


def _export(args: argparse.Namespace) -> int:
    from liveblog.exporter import write_export
    from liveblog.sections import open_stores

    settings = _checked_settings()
    stores = open_stores(settings.eventsourcing_env())
    try:
        story_ids = None if not args.story else _existing_stories(stores.newsroom, args.story)
        with _output(args.output) as out:
            counts = write_export(stores, out, story_ids)
    finally:
        stores.close()
    where = "standard output" if args.output in (None, "-") else args.output
    kinds = ", ".join(f"{kind}: {count}" for kind, count in counts.items())
    print(
        f"exported {sum(counts.values())} records ({kinds}) to {where};"
        " tokens are not exported: issue new ones after an import",
        file=sys.stderr,
    )
    return 0


def _existing_stories(newsroom: Newsroom, refs: Sequence[str]) -> list[UUID]:
    """The ids of the stories named (id or slug), each once; CommandError for one that is
    not there."""
    from liveblog.newsroom import resolve_story_ref

    ids: list[UUID] = []
    for ref in refs:
        story_id = resolve_story_ref(ref)
        if not newsroom.story_events(story_id, limit=1):
            raise CommandError(f"no story {ref!r}")
        if story_id not in ids:
            ids.append(story_id)
    return ids


@contextlib.contextmanager
def _output(name: str | None) -> Iterator[IO[bytes]]:
    """Standard output, or a file written beside its name and renamed once complete:
    an export that fails half-way leaves no file that looks whole."""
    if name in (None, "-"):
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    path = Path(name)
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("wb") as out:
            yield out
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)


def _import(args: argparse.Namespace) -> int:
    from liveblog.export_format import Malformed
    from liveblog.importer import CannotImport, TargetNotEmpty, import_export
    from liveblog.sections import open_stores
    from liveblog.store_lock import hold_rebuilding

    settings = _checked_settings()
    try:
        # A server writing (or its feed folding views) while the store fills is refused,
        # as for a rebuild; and a server started meanwhile waits for this to end.
        lock = hold_rebuilding(settings)
    except StoreBusy:
        raise CommandError(
            "a server is serving the target store: stop it, import, then start it"
        ) from None
    try:
        stores = open_stores(settings.eventsourcing_env())
        try:
            with _input(args.file) as stream:
                summary = import_export(stores, stream)
        finally:
            stores.close()
    except Malformed as error:
        raise BadInput(f"{args.file}: {error}; nothing was imported") from None
    except (TargetNotEmpty, CannotImport) as error:
        raise CommandError(str(error)) from None
    finally:
        lock.release()
    print(
        f"imported {', '.join(summary)} into {settings.database_url}\n"
        "The read views are built from them when a server starts on this store"
        " (or run: liveblog rebuild).\n"
        "Tokens are not exported: issue new ones, e.g.\n"
        '  liveblog token create --name "Erin Editor" --role editor'
    )
    return 0


@contextlib.contextmanager
def _input(name: str) -> Iterator[IO[bytes]]:
    if name == "-":
        yield sys.stdin.buffer
        return
    try:
        stream = Path(name).open("rb")  # noqa: SIM115 (closed below)
    except OSError as error:
        raise BadInput(f"cannot read {name}: {error.strerror}") from None
    with stream:
        yield stream


def _credentials() -> Credentials:
    return Credentials(env=_checked_settings().eventsourcing_env())


def _token_create(args: argparse.Namespace) -> int:
    lifetime = None if args.expires is None else parse_lifetime("--expires", args.expires)
    with _credentials() as credentials:
        expires_at = None if lifetime is None else _whole_second(credentials.clock() + lifetime)
        secret, principal = credentials.issue(
            name=args.name, role=args.role, expires_at=expires_at, label=args.label
        )
    until = "never expires" if expires_at is None else f"expires {rfc3339(expires_at)}"
    print(
        f"token {principal.token_id} for {principal.actor.name} ({principal.role.value}),"
        f" person {principal.actor.id}; {until}; shown once:"
    )
    print(secret)
    return 0


def _token_list(args: argparse.Namespace) -> int:
    person_id = None if args.person is None else _person_ref(args.person)
    with _credentials() as credentials:
        listed = credentials.tokens(person_id)
    _print_table(
        ["ID", "PERSON", "LABEL", "ENDS", "CREATED", "EXPIRES", "STATUS"],
        [_token_row(token) for token in listed],
    )
    return 0


def _token_row(token: TokenInfo) -> list[str]:
    return [
        token.id,
        token.person_name,
        token.label or "-",
        f"...{token.hint}" if token.hint else "-",
        _minute(token.created_at),
        _minute(token.expires_at) if token.expires_at else "never",
        token.status,
    ]


def _token_revoke(args: argparse.Namespace) -> int:
    with _credentials() as credentials:
        token = credentials.revoke(_uuid(args.id, "token"))
    print(
        f"revoked token {token.id} of {token.person_name}"
        " (running servers refuse it within 10 seconds)"
    )
    return 0


def _person_list(_: argparse.Namespace) -> int:
    with _credentials() as credentials:
        people = credentials.people()
    _print_table(["ID", "NAME", "ROLE", "ACTIVE", "CREATED"], [_person_row(p) for p in people])
    return 0


def _person_row(person: PersonInfo) -> list[str]:
    active = "yes" if person.active else "no"
    return [person.id, person.name, person.role.value, active, _minute(person.created_at)]


def _person_active(active: bool) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        with _credentials() as credentials:
            try:
                person = credentials.update_person(_person_ref(args.id), active=active)
            except PersonNotFound:
                raise CommandError(f"no person {args.id!r} (see liveblog person list)") from None
        state = (
            "active"
            if person.active
            else "deactivated: running servers refuse their tokens within 10 seconds"
        )
        print(f"{person.name} ({person.id}) is {state}")
        return 0

    return run


def _person_ref(raw: str) -> UUID:
    """A person's id, or (for people at a terminal) their name."""
    try:
        return UUID(raw)
    except ValueError:
        return person_id_for_name(raw)


def _uuid(raw: str, what: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise CommandError(f"{raw!r} is not a {what} id (see liveblog {what} list)") from None


def _whole_second(moment: datetime) -> datetime:
    """An expiry people read: ``2026-12-07T18:49:33Z``, not to the microsecond."""
    return moment.replace(microsecond=0)


def _minute(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ")


def _print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


class CommandError(Exception):
    """A command that cannot do what it was asked: one line on stderr, exit status 1."""


EXIT_BAD_INPUT = 2  # as argparse's own refusals


class BadInput(Exception):
    """An argument that names nothing there is (no such story, a version it lacks): one
    line on stderr, exit status 2, as argparse's own refusals."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="liveblog",
        description="Event-sourced newsroom live blogs. The store is LIVEBLOG_DATABASE_URL "
        "(default sqlite:///./var/liveblog.sqlite3).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP and WebSocket server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--ws",
        default="websockets-sansio",
        choices=["websockets-sansio", "websockets"],
        help="uvicorn's WebSocket implementation: its connection on the websockets "
        "library's Sans-I/O layer, which both names run (the legacy layer is not used)",
    )
    serve.add_argument(
        "--demo", action="store_true",
        help="seed the demo story into an empty store and print an editor and a reporter token",
    )  # fmt: skip
    serve.set_defaults(run=_serve)

    demo = commands.add_parser("demo", help="seed the demo story (does nothing if it exists)")
    demo.set_defaults(run=_demo)

    rebuild = commands.add_parser(
        "rebuild", help="drop the read views and rebuild them from the log (servers stopped)"
    )
    rebuild.add_argument("--projection", choices=ALL_VIEWS, help="only this view")
    rebuild.add_argument(
        "--force", action="store_true",
        help="rebuild even while a server serves the store (its views will be rewritten under it)",
    )  # fmt: skip
    rebuild.set_defaults(run=_rebuild)

    _add_replay(commands)

    token = commands.add_parser("token", help="manage API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser(
        "create",
        help="a new token for the person of that name (registered if new, given the role);"
        " the token alone on the last line",
    )
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--expires", metavar="30d|12h|90m", help="lifetime (default: none)")
    create.add_argument("--label", default="", help="a note for humans, e.g. phone")
    create.set_defaults(run=_token_create)
    listing = token_commands.add_parser("list", help="every token, without secrets")
    listing.add_argument("--person", metavar="ID|NAME", help="only this person's tokens")
    listing.set_defaults(run=_token_list)
    revoke = token_commands.add_parser("revoke", help="refuse a token from now on")
    revoke.add_argument("id", metavar="ID")
    revoke.set_defaults(run=_token_revoke)

    person = commands.add_parser("person", help="manage the people who hold tokens")
    person_commands = person.add_subparsers(dest="person_command", required=True)
    person_commands.add_parser("list", help="every person").set_defaults(run=_person_list)
    deactivate = person_commands.add_parser("deactivate", help="refuse every token of this person")
    deactivate.add_argument("id", metavar="ID|NAME")
    deactivate.set_defaults(run=_person_active(False))
    activate = person_commands.add_parser("activate", help="undo a deactivation")
    activate.add_argument("id", metavar="ID|NAME")
    activate.set_defaults(run=_person_active(True))

    _add_export_and_import(commands)
    return parser


def _add_replay(commands: Any) -> None:
    replay = commands.add_parser(
        "replay",
        help="print a story's events as they stood (superseded and retracted text "
        "included: for editors), at the original pace / SPEED",
    )
    replay.add_argument("story", metavar="STORY", help="the story's id or slug")
    replay.add_argument(
        "--speed", default=60.0, metavar="max|N", type=_argument(parse_speed, SPEED_RULE),
        help=f"the original gaps / N, each at most {MAX_GAP_SECONDS:g} s (default: 60)",
    )  # fmt: skip
    start = replay.add_mutually_exclusive_group()
    start.add_argument(
        "--from", dest="first", metavar="V", type=_argument(_version, "a version, 1 or more"),
        help="start at version V (default: 1, the story's opening)",
    )  # fmt: skip
    start.add_argument(
        "--at", metavar="TIME", type=_argument(parse_time, "an RFC 3339 time with a zone"),
        help="start with the first event after TIME (e.g. 2026-12-01T10:00:00Z)",
    )  # fmt: skip
    replay.set_defaults(run=_replay)


def _add_export_and_import(commands: Any) -> None:
    export = commands.add_parser(
        "export",
        help="write the store as NDJSON: people (no tokens), every story's events in order",
    )
    export.add_argument(
        "--story", action="append", metavar="ID|SLUG",
        help="only this story (repeat for more); people are exported all the same",
    )  # fmt: skip
    export.add_argument(
        "--output", metavar="FILE", help="write here (default, or -: standard output)"
    )
    export.set_defaults(run=_export)
    load = commands.add_parser(
        "import",
        help="load an export into an empty store, all or nothing (servers stopped); "
        "tokens are issued anew afterwards",
    )
    load.add_argument("file", metavar="FILE", help="an export (- for standard input)")
    load.set_defaults(run=_import)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.run(args)
    except (DomainError, CommandError) as refused:
        print(f"liveblog: {refused}", file=sys.stderr)
        return 1
    except BadInput as bad:
        print(f"liveblog: error: {bad}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (SettingsError, StartupError, StoreBusy) as error:
        print(f"liveblog: error: {error}", file=sys.stderr)
        return _exit_code(error)
    return result


def _exit_code(error: Exception) -> int:
    if isinstance(error, StartupError):
        return error.exit_code
    return EXIT_BAD_CONFIG if isinstance(error, SettingsError) else EXIT_UNREACHABLE


if __name__ == "__main__":
    sys.exit(main())
