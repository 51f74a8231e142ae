"""A bad ``LIVEBLOG_DATABASE_URL`` at start-up: one line, an exit code, at once.

Each command runs as the operator runs it (``python -m liveblog.cli`` in a subprocess).
2 means the configuration cannot work as written; 1 means the store cannot be reached now.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.databases import libpq_url
from tests.e2e.server import free_port, liveblog_command

# Not a timing assertion: a bound far above the probe's 2 s, to catch the old hangs
# (the pool's 5 s wait per attempt, the 60 s start-up catch-up) and never flake.
DID_NOT_HANG_SECONDS = 30.0

COMMANDS = {
    "serve": ["serve", "--port", "0"],
    "rebuild": ["rebuild"],
    "demo": ["demo"],
    "token": ["token", "create", "--name", "Aida", "--role", "reporter"],
}


def run(url: str, command: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    done = subprocess.run(
        liveblog_command(*command),
        env={**os.environ, **env, "LIVEBLOG_DATABASE_URL": url},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert time.monotonic() - started < DID_NOT_HANG_SECONDS
    return done


def assert_one_error_line(done: subprocess.CompletedProcess[str], code: int, says: str) -> None:
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("liveblog: error: "), lines[0]
    assert says in lines[0], lines[0]
    assert done.stdout == ""


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_unknown_scheme_is_a_configuration_error(command: str) -> None:
    done = run("mysql://root@127.0.0.1/liveblog", COMMANDS[command])
    assert_one_error_line(done, 2, "must start with sqlite:/// or postgresql://")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_sqlite_file_in_a_missing_directory_is_a_configuration_error(
    command: str, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-dir" / "db.sqlite3"
    done = run(f"sqlite:///{missing}", COMMANDS[command])
    assert_one_error_line(done, 2, "does not exist")
    assert not missing.parent.exists()  # not made behind the operator's back


def test_a_sqlite_file_where_no_directory_can_be_is_a_configuration_error(
    tmp_path: Path,
) -> None:
    # Tests run as root, for whom every directory is writable: a file in the way stands
    # for a directory the process cannot write to.
    (tmp_path / "plain-file").write_text("not a directory")
    done = run(f"sqlite:///{tmp_path / 'plain-file' / 'db.sqlite3'}", COMMANDS["serve"])
    assert_one_error_line(done, 2, "plain-file")


def test_a_file_that_is_not_a_database_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not a SQLite database, just some text " * 100)
    done = run(f"sqlite:///{path}", COMMANDS["token"])
    assert_one_error_line(done, 2, "cannot open the SQLite file")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_refused_postgresql_connection_is_unreachable_and_quick(command: str) -> None:
    # Port 1 on the loopback: nothing listens there, the connection is refused at once.
    done = run("postgresql://postgres@127.0.0.1:1/liveblog", COMMANDS[command])
    assert_one_error_line(done, 1, "cannot connect to PostgreSQL at 127.0.0.1:1/liveblog")


def test_a_postgresql_url_with_a_bad_port_is_a_configuration_error() -> None:
    done = run("postgresql://postgres@127.0.0.1:99999/liveblog", COMMANDS["serve"])
    assert_one_error_line(done, 2, "port")


def test_a_bad_log_format_is_a_configuration_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    done = run(url, COMMANDS["serve"], LIVEBLOG_LOG_FORMAT="xml")
    assert_one_error_line(done, 2, "LIVEBLOG_LOG_FORMAT")


def with_database(url: str, database: str) -> str:
    parts = urlsplit(libpq_url(url))
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_missing_postgresql_database_is_a_configuration_error(
    command: str, postgres_url: str
) -> None:
    done = run(with_database(postgres_url, "liveblog_no_such_db"), COMMANDS[command])
    assert_one_error_line(done, 2, 'database "liveblog_no_such_db" does not exist')


def test_a_missing_postgresql_schema_is_a_configuration_error(postgres_url: str) -> None:
    parts = urlsplit(libpq_url(postgres_url))
    url = urlunsplit(parts._replace(query="schema=liveblog_no_such_schema"))
    done = run(url, COMMANDS["serve"])
    assert_one_error_line(done, 2, "'liveblog_no_such_schema' does not exist")


def test_a_good_url_still_serves(tmp_path: Path) -> None:
    """The probe lets a good store through: serve starts (and is stopped by the test)."""
    port = free_port()
    env = {**os.environ, "LIVEBLOG_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    process = subprocess.Popen(
        liveblog_command("serve", "--port", str(port)),
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    try:
        for line in process.stderr:
            assert "Traceback" not in line
            if "Application startup complete" in line:
                break
    finally:
        process.terminate()
        process.wait(timeout=15)
