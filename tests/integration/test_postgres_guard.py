"""The PostgreSQL guard: unset, those tests skip saying why; set but unreachable, they fail.

Runs a PostgreSQL test of this suite in a child pytest with each environment, since the
guard's whole job is what happens around a test, not inside it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ONE_POSTGRES_TEST = "tests/integration/test_event_roundtrip.py"


def run_postgres_tests(url: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LIVEBLOG_TEST_POSTGRES_URL"}
    if url is not None:
        env["LIVEBLOG_TEST_POSTGRES_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
         "-m", "postgres", ONE_POSTGRES_TEST],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_unset_the_postgres_tests_skip_and_say_which_variable_to_set() -> None:
    done = run_postgres_tests(None)
    assert done.returncode == 0, done.stdout
    assert "skipped" in done.stdout
    assert "LIVEBLOG_TEST_POSTGRES_URL" in done.stdout
    assert " passed" not in done.stdout


def test_set_but_unreachable_the_postgres_tests_fail_rather_than_skip() -> None:
    done = run_postgres_tests("postgresql://postgres@127.0.0.1:1/test")
    assert done.returncode != 0, done.stdout
    assert "error" in done.stdout.lower()
    assert "skipped" not in done.stdout
