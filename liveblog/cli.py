"""``liveblog serve | demo | rebuild | token create``: thin entry points over the app.

Each command first checks the store (``liveblog.startup``): a bad ``LIVEBLOG_DATABASE_URL``
or a store that cannot be reached ends the command with one line on standard error,
``liveblog: error: ...``, and exit code 2 (bad configuration) or 1 (unreachable, busy).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from liveblog.settings import Settings, SettingsError
from liveblog.startup import EXIT_BAD_CONFIG, EXIT_UNREACHABLE, StartupError, check_store
from liveblog.store_lock import StoreBusy
from liveblog.tokens import Credentials, Role
from projections.views import ALL_VIEWS


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
        app, host=args.host, port=args.port, ws=args.ws, log_level=args.log_level
    )
    LiveblogServer(config, app).run()
    return 0


def _prepare_demo(settings: Settings, host: str, port: int) -> None:
    """Seed the demo story into an empty store and print what a new user needs."""
    from liveblog.demo import DEMO_SLUG, seed_demo
    from liveblog.newsroom import Newsroom

    env = settings.eventsourcing_env()
    with Newsroom(env=env) as newsroom, Credentials(env=env) as credentials:
        if not newsroom.story_ids():
            seed_demo(newsroom)
            print(f"Seeded the demo story into {settings.database_url}")
        editor, _ = credentials.issue(name="Demo Editor", role=Role.EDITOR)
        reporter, _ = credentials.issue(name="Demo Reporter", role=Role.REPORTER)
    base = f"http://{host}:{port}"
    print(
        f"\nliveblog on {base}\n"
        f"  stories:     {base}/api/stories\n"
        f"  demo story:  {base}/api/stories/{DEMO_SLUG}\n"
        f"  health:      {base}/healthz\n"
        f"  editor token:   {editor}\n"
        f"  reporter token: {reporter}\n",
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


def _token_create(args: argparse.Namespace) -> int:
    settings = _checked_settings()
    with Credentials(env=settings.eventsourcing_env()) as credentials:
        secret, principal = credentials.issue(name=args.name, role=args.role)
    print(f"token for {principal.actor.name} ({principal.role.value}), id {principal.actor.id}:")
    print(secret)
    return 0


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
        default="websockets",
        choices=["websockets", "websockets-sansio"],
        help="uvicorn's WebSocket implementation (websockets: measured fastest at fan-out)",
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

    token = commands.add_parser("token", help="manage API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="print a new token on the last line")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.set_defaults(run=_token_create)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.run(args)
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
