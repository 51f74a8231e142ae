"""The benchmark package's own logic: it imports, and its figures say what was measured.

The package is run by CI as ``scripts/bench --quick`` (a smoke test of every workload);
these tests cover what that run cannot check: the arithmetic of the reports.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import pkgutil
import signal
from pathlib import Path

import pytest

import scripts.benchmarks
from scripts.benchmarks import __main__ as bench
from scripts.benchmarks import fanout, fanout_report
from scripts.benchmarks.__main__ import WORKLOADS, selected
from scripts.benchmarks.common import Children, percentile
from scripts.benchmarks.fanout_runs import Options, Run
from scripts.benchmarks.report import markdown_table, text_table
from scripts.benchmarks.workload import Context, Row, Sizes


def test_every_module_of_the_package_imports() -> None:
    names = [info.name for info in pkgutil.walk_packages(
        scripts.benchmarks.__path__, prefix="scripts.benchmarks.")]  # fmt: skip
    assert "scripts.benchmarks.fanout" in names
    assert "scripts.benchmarks.figures.slow_readers" in names
    for name in names:
        importlib.import_module(name)


def test_quick_sizes_are_smaller_on_every_count() -> None:
    quick, full = Sizes.quick(), Sizes.full()
    for field in dataclasses.fields(Sizes):
        assert getattr(quick, field.name) <= getattr(full, field.name), field.name
    assert full.fanout_rounds >= 5  # the fan-out goal is a median of at least five rounds


def test_only_names_workloads_and_refuses_others() -> None:
    assert selected(None) == list(WORKLOADS)
    assert selected("write, fan-out") == ["write", "fan-out"]
    with pytest.raises(SystemExit, match="unknown workload"):
        selected("fan-out,fanout")


def run_of(target: str, latencies: list[list[float]], sent: list[int]) -> Run:
    """A run whose post ``i`` reached its readers ``latencies[i]`` ms after ``sent[i]``."""
    run = Run(target, readers=len(latencies[0]), posts=len(latencies))
    run.sent = sent
    run.latencies_ms = [ms for post in latencies for ms in post]
    run.received = len(run.latencies_ms)
    run.first_ms = [min(post) for post in latencies]
    run.last_ms = [max(post) for post in latencies]
    run.window = (sent[0], sent[-1] + 1_000_000_000)
    return run


def options(tmp_path: Path) -> Options:
    return Options(posts=2, interval=0.5, batch=10, work=tmp_path, children=Children())


def test_the_fan_out_row_is_the_median_of_the_rounds_p99_ratios(tmp_path: Path) -> None:
    sent = [0, 500_000_000]
    baseline = run_of("baseline", [[10.0, 100.0], [10.0, 100.0]], sent)
    rounds = [
        (run_of("project", [[10.0, p99], [10.0, p99]], sent), baseline)
        for p99 in (90.0, 300.0, 110.0)  # one slow round of three
    ]
    row = fanout.row(rounds, options(tmp_path))
    assert row.ratio == pytest.approx(1.1)
    assert row.met is True
    assert "p99 ratio per round: 0.90, 3.00, 1.10" in row.notes[0]
    assert row.goal == "≤ 1.2× (median of 3 rounds)"


def test_a_round_with_a_lost_message_fails_the_goal(tmp_path: Path) -> None:
    sent = [0, 500_000_000]
    project = run_of("project", [[10.0, 20.0], [10.0, 20.0]], sent)
    project.received -= 1
    baseline = run_of("baseline", [[10.0, 20.0], [10.0, 20.0]], sent)
    assert fanout.row([(project, baseline)], options(tmp_path)).met is False


def test_the_round_table_shows_both_runs_and_the_ratios(tmp_path: Path) -> None:
    sent = [0, 500_000_000]
    project = run_of("project", [[4.0, 8.0], [4.0, 8.0]], sent)
    baseline = run_of("baseline", [[2.0, 4.0], [2.0, 4.0]], sent)
    text = fanout_report.table(project, baseline, options(tmp_path))
    lines = text.splitlines()
    assert lines[1].split()[:3] == ["target", "p50", "ms"]
    assert lines[2].split()[:4] == ["project", "4.0", "8.0", "8.0"]
    assert lines[4].split() == ["ratio", "2.00×", "2.00×"]
    table = fanout_report.markdown([(project, baseline)])
    assert "| 1 | 2 | **ratio** | **2.00×** | **2.00×** |" in table


def test_a_traced_run_says_when_each_stage_came_after_each_post(tmp_path: Path) -> None:
    trace = tmp_path / "trace.log"
    ms = 1_000_000
    trace.write_text(
        "\n".join([
            f"saved+ {3 * ms} ", f"batch+ {4 * ms} ", f"views- {5 * ms} ",
            f"frames+ {5 * ms} ", f"publish+ {6 * ms} ", f"publish- {40 * ms} ",
            f"gc {20 * ms} 2.150.500", f"gc {30 * ms} 0.2.000",
            f"saved+ {505 * ms} ", f"publish+ {508 * ms} ", f"publish- {530 * ms} ",
        ]) + "\n"
    )  # fmt: skip
    run = run_of("project", [[7.0, 45.0], [9.0, 30.0]], [0, 500 * ms])
    run.trace = trace
    times = fanout_report.stage_times(run)
    assert times["saved"] == [3.0, 5.0]
    assert times["feed woke"] == [4.0]  # the second post's batch was not stamped
    # A stage is looked for after the last one found, and before the next post.
    assert times["publish began"] == [6.0, 8.0]
    assert times["publish ended"] == [40.0, 30.0]
    assert "saved 4.0 (5.0)" in fanout_report.where_time_went(run)
    summary = fanout_report.gc_summary(run)
    assert "1 full (150 ms)" in summary
    assert "1 young (2 ms in all" in summary


def test_the_summary_table_marks_goals_not_met_and_unmeasured_rows() -> None:
    rows = [
        Row("write", "900 posts/s", "1,000 posts/s", 0.9, "≥ 0.5×", True),
        Row("rebuild", "1 events/s", "4 events/s", 0.25, "≥ 0.5×", False, ["rounds 0.25"]),
        Row("resume", notes=["FAILED: TimeoutError"]),
    ]
    text = text_table(rows)
    assert [line.split()[-1] for line in text.splitlines()[2:5]] == ["yes", "NO", "n/a"]
    assert "- rebuild: rounds 0.25" in text
    table = markdown_table(rows, ["liveblog at abc1234"], "scripts/bench --only write")
    assert "| rebuild | 1 events/s | 4 events/s | 0.25× | ≥ 0.5× | **NO** |" in table
    assert "| resume | n/a | n/a | — |  | n/a |" in table


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert math.isnan(percentile([], 50))


def test_the_run_fails_when_a_workload_cannot_be_measured_not_when_a_goal_is_missed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What CI's ``scripts/bench --quick`` step relies on (fake workloads, no servers)."""

    def missed(ctx: Context) -> list[Row]:
        return [Row("missed", "1 posts/s", "4 posts/s", 0.25, "≥ 0.5×", False)]

    def broken(ctx: Context) -> list[Row]:
        raise RuntimeError("the server did not start")

    monkeypatch.setattr(signal, "signal", lambda *args: None)  # pytest keeps its SIGTERM
    monkeypatch.setitem(bench.WORKLOADS, "write", missed)
    monkeypatch.setitem(bench.WORKLOADS, "growth", broken)
    assert bench.main(["--quick", "--only", "write"]) == 0
    assert bench.main(["--quick", "--only", "write,growth"]) == 1
    assert "growth: FAILED: RuntimeError: the server did not start" in capsys.readouterr().out
