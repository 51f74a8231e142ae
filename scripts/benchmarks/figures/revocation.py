"""How long a token revoked through one server process stays usable on another.

Two ``liveblog serve`` processes on one PostgreSQL (a schema of its own, dropped after).
Each trial makes the second process trust a token (one request), revokes the token
through the first, then asks the second every 50 ms until it answers 401. DESIGN §7
promises at most 10 s (the trust cache, ``liveblog.tokens.TRUSTED_SECONDS``); revoking
just after the check is the worst case, so the figures sit near that bound.

    .venv/bin/python -m scripts.benchmarks.figures.revocation [--url postgresql://…]
        [--trials 3]

Talks to 127.0.0.1 only; starts and stops its own two servers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
from psycopg import sql

from scripts.benchmarks.children import spawn_server
from scripts.benchmarks.common import HOST, Children, free_port
from tests.databases import with_schema

POLL_SECONDS = 0.05
GIVE_UP_SECONDS = 30.0


def start_server(children: Children, url: str, log: Path) -> str:
    """``liveblog serve`` on ``url``; its base URL once it answers ``/healthz``."""
    port = free_port()
    env = {**os.environ, "LIVEBLOG_DATABASE_URL": url, "LIVEBLOG_WRITE_RATE": "off"}
    argv = [sys.executable, "-m", "liveblog.cli", "serve", "--host", HOST, "--port", str(port),
            "--log-level", "warning"]  # fmt: skip
    spawn_server(children, argv, log, port, env)
    return f"http://{HOST}:{port}"


def trial(first: str, second: str, admin: str, secret: str, token_id: str) -> float:
    """Seconds from the revocation's answer to the second process's first 401."""
    bearer = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(f"{second}/api/me", headers=bearer).status_code == 200
    revoked = httpx.delete(
        f"{first}/api/tokens/{token_id}", headers={"Authorization": f"Bearer {admin}"}
    )
    assert revoked.status_code == 200, revoked.text
    done = time.monotonic()
    assert httpx.get(f"{first}/api/me", headers=bearer).status_code == 401
    while time.monotonic() - done < GIVE_UP_SECONDS:
        if httpx.get(f"{second}/api/me", headers=bearer).status_code == 401:
            return time.monotonic() - done
        time.sleep(POLL_SECONDS)
    raise SystemExit(f"still accepted {GIVE_UP_SECONDS:.0f} s after its revocation")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("LIVEBLOG_TEST_POSTGRES_URL", ""))
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("var/revocation-delay"))
    args = parser.parse_args()
    if not args.url.startswith("postgresql://"):
        raise SystemExit("give --url postgresql://… (or set LIVEBLOG_TEST_POSTGRES_URL)")
    from liveblog.settings import Settings
    from liveblog.tokens import Credentials, Role

    args.work.mkdir(parents=True, exist_ok=True)
    schema = f"lb_revoke_{uuid.uuid4().hex[:12]}"
    conninfo = urlunsplit(urlsplit(args.url)._replace(query=""))
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = with_schema(args.url, schema)
    children = Children()
    try:
        with Credentials(env=Settings(database_url=url).eventsourcing_env()) as credentials:
            admin, _ = credentials.issue(name="Delay Admin", role=Role.ADMIN)
            issued = [
                credentials.issue(name="Delay Reporter", role=Role.REPORTER)
                for _ in range(args.trials)
            ]
        first = start_server(children, url, args.work / "first.log")
        second = start_server(children, url, args.work / "second.log")
        delays = []
        for n, (secret, principal) in enumerate(issued, start=1):
            delay = trial(first, second, admin, secret, str(principal.token_id))
            delays.append(delay)
            print(f"trial {n}: refused by the other process {delay:.2f} s after revocation")
        print(
            f"revocation reached the other process in {min(delays):.2f}–{max(delays):.2f} s"
            f" (median {statistics.median(delays):.2f} s) over {len(delays)} trials;"
            " the revoking process refused it at once"
        )
    finally:
        children.stop_all()
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )


if __name__ == "__main__":
    main()
