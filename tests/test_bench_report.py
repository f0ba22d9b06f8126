"""Benchmark report: BALROG aggregation maths, paired comparison, tables, PNG, dispatch."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from automem_sdk.benchmarks.harness.report import (
    aggregate,
    build_report,
    mean_se,
    report_dir,
)
from automem_sdk.benchmarks.harness.runner import episode_path
from rich.console import Console

from automem_sdk.episode_result import EpisodeResult
from automem_sdk.errors import AutomemError


def _ep(agent: str, env: str, seed: int, prog: float, **diag: float) -> EpisodeResult:
    return EpisodeResult(
        agent=agent,
        env=env,
        task=env.partition("/")[2] or env,
        seed=seed,
        progression=prog,
        steps=10,
        total_reward=0.0,
        diagnostics={"unproductive_rate": 0.25, "tokens/step": 40.0, **diag},
    )


def test_mean_se_uses_population_std() -> None:
    m, se = mean_se([0.0, 100.0])
    assert m == 50.0
    assert se == pytest.approx(50.0 / math.sqrt(2))
    assert mean_se([3.0]) == (3.0, 0.0)
    with pytest.raises(ValueError):
        mean_se([])


def test_balrog_aggregation_on_known_numbers() -> None:
    envs, overall = aggregate({"a": [0.0, 100.0], "b": [10.0, 20.0, 30.0, 40.0]})
    a, b = envs
    assert (a.mean, a.n) == (50.0, 2)
    assert a.se == pytest.approx(35.35533906)
    assert (b.mean, b.n) == (25.0, 4)
    assert b.se == pytest.approx(math.sqrt(125.0) / 2.0)  # std 11.18, /sqrt(4)
    assert overall.mean == pytest.approx(37.5)  # mean of env means, not of episodes (31.67)
    assert overall.se == pytest.approx(math.sqrt(1250.0 + 31.25) / 2.0)
    assert overall.n == 6


def test_minihack_env_mean_is_over_all_its_episodes() -> None:
    rows = [
        _ep("explorer", "minihack/MazeWalk-9x9", 0, 1.0),
        _ep("explorer", "minihack/MazeWalk-9x9", 1, 1.0),
        _ep("explorer", "minihack/MazeWalk-9x9", 2, 1.0),
        _ep("explorer", "minihack/Quest-Easy", 0, 0.0),
        _ep("explorer", "crafter", 0, 0.5),
        _ep("explorer", "crafter", 1, 0.1),
    ]
    rep = build_report(rows)
    (a,) = rep.agents
    assert [(t.name, t.mean) for t in a.tasks] == [
        ("crafter", pytest.approx(30.0)),
        ("minihack/MazeWalk-9x9", 100.0),
        ("minihack/Quest-Easy", 0.0),
    ]
    env = {e.name: e for e in a.envs}
    assert env["minihack"].mean == pytest.approx(75.0)  # 3 of 4 episodes, not (100 + 0) / 2
    assert env["minihack"].n == 4
    assert a.overall.mean == pytest.approx((75.0 + 30.0) / 2)
    assert a.overall.se == pytest.approx(
        math.sqrt(env["minihack"].se ** 2 + env["crafter"].se ** 2) / 2
    )
    assert a.diagnostics["crafter"]["tokens/step"] == pytest.approx(40.0)


def test_comparison_is_paired_over_common_seeds() -> None:
    env = "minihack/MazeWalk-15x15"
    rows = [
        _ep("explorer", env, 0, 1.0),
        _ep("explorer", env, 1, 1.0),
        _ep("explorer", env, 2, 0.0),
        _ep("explorer", env, 9, 1.0),  # no partner: left out of the comparison
        _ep("explorer-nomem", env, 0, 0.0),
        _ep("explorer-nomem", env, 1, 1.0),
        _ep("explorer-nomem", env, 2, 0.0),
    ]
    comp = build_report(rows).comparison
    assert comp is not None and (comp.a, comp.b) == ("explorer", "explorer-nomem")
    (task,) = comp.tasks
    assert task.n == 3
    assert task.mean_a == pytest.approx(200.0 / 3) and task.mean_b == pytest.approx(100.0 / 3)
    dm, dse = mean_se([100.0, 0.0, 0.0])
    assert (task.diff, task.diff_se) == (pytest.approx(dm), pytest.approx(dse))
    assert comp.overall is not None and comp.overall.diff == pytest.approx(dm)
    custom = build_report(rows, ("explorer-nomem", "explorer")).comparison
    assert custom is not None and custom.tasks[0].diff == pytest.approx(-dm)
    with pytest.raises(AutomemError):
        build_report(rows, ("explorer", "llm"))


def _console() -> Console:
    return Console(record=True, width=160, force_terminal=False)


def test_report_dir_prints_tables_and_writes_png(tmp_path: Path) -> None:
    env = "minihack/MazeWalk-9x9"
    for agent, progs in (("explorer", [1.0, 1.0, 0.0]), ("explorer-hist16", [0.0, 1.0, 0.0])):
        for seed, p in enumerate(progs):
            path = episode_path(tmp_path, agent, env, seed)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_ep(agent, env, seed, p, redundant_writes=2.0).model_dump_json())
    console = _console()
    rep = report_dir(tmp_path, console=console)
    text = console.export_text()
    assert rep is not None and rep.n_episodes == 6
    assert "MazeWalk-9x9" in text and "minihack *" in text and "overall" in text
    assert "66.7 ± 27.2" in text  # explorer: mean 66.7, SE 47.1/sqrt(3)
    assert "+33.3" in text and "95% CI" in text  # paired difference and its interval
    assert "overall (mean of 1 game)" in text and "BALROG's overall averages 6" in text
    assert "missing episodes: none (6 of 6 finished)" in text
    assert "Trace diagnostics" in text and "unprod" in text
    png = tmp_path / "bench_report.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((tmp_path / "bench_report.json").read_text())
    assert data["comparisons"][0]["tasks"][0]["n"] == 3
    md = (tmp_path / "bench_report.md").read_text()
    assert "| explorer | env | minihack | 3 | 0 |" in md
    assert "| explorer - explorer-hist16 (95% CI) |" in md


def test_report_dir_prints_a_pipeline_report(tmp_path: Path) -> None:
    rows = [{"stage": "baseline", "env": "minihack/Corridor-R3", "n": 4, "progression": 0.25}]
    (tmp_path / "report.json").write_text(
        json.dumps({"name": "p1", "stages": {"baseline": True}, "rows": rows})
    )
    console = _console()
    assert report_dir(tmp_path, console=console) is None
    text = console.export_text()
    assert "minihack/Corridor-R3" in text and "0.250" in text and "p1" in text


def test_report_dir_hands_structural_runs_to_their_renderer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import automem_sdk.trainers.structural as structural

    seen: list[Path] = []
    monkeypatch.setattr(structural, "is_structural_run", lambda p: Path(p) == tmp_path)
    monkeypatch.setattr(
        structural, "render_structural_report", lambda p, **kw: seen.append(Path(p))
    )
    assert report_dir(tmp_path, console=_console()) is None
    assert seen == [tmp_path]


def test_report_dir_rejects_other_folders(tmp_path: Path) -> None:
    with pytest.raises(AutomemError, match="not a benchmark folder"):
        report_dir(tmp_path, console=_console())
    with pytest.raises(AutomemError, match="no such folder"):
        report_dir(tmp_path / "missing", console=_console())


def _folder(tmp_path: Path, agents: dict[str, dict[str, list[float]]]) -> Path:
    for agent, envs in agents.items():
        for env, progs in envs.items():
            for seed, p in enumerate(progs):
                path = episode_path(tmp_path, agent, env, seed)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(_ep(agent, env, seed, p).model_dump_json())
    return tmp_path


def test_tables_piped_at_80_columns_cut_no_number(tmp_path: Path) -> None:
    envs = {"minihack/MazeWalk-15x15": [0.3, 1.0, 0.0], "minihack/CorridorBattle-Dark": [0.0]}
    agents = {
        name: envs
        for name in ("explorer", "explorer-stateless", "explorer-hist16", "explorer-trunc")
    }
    console = Console(record=True, width=80, force_terminal=False)
    rep = report_dir(_folder(tmp_path, agents), console=console, plot=False)
    text = console.export_text()
    assert rep is not None
    assert "…" not in text
    assert text.count("43.3 ± 24.2") == 4  # every agent's MazeWalk-15x15 cell, whole
    for name in agents:
        assert name in text
    assert "CorridorBattle-Dark" in text and "unprod = unproductive_rate" in text


def test_pipeline_table_keeps_every_stage_name(tmp_path: Path) -> None:
    stages = [f"behavioral-{k}-specialist-after-round-2" for k in ("map", "log", "plan", "all")]
    rows = [
        {"stage": s, "env": "minihack/CorridorBattle-Dark", "n": 20, "raw score": 0.123456}
        for s in stages
    ]
    (tmp_path / "report.json").write_text(json.dumps({"name": "p", "rows": rows}))
    console = Console(record=True, width=80, force_terminal=False)
    report_dir(tmp_path, console=console)
    text = console.export_text()
    assert "…" not in text
    for s in stages:
        assert s in text
    assert text.count("0.123") == 4 and "raw score" in text


def test_report_formats_for_piping(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import csv
    import io

    root = _folder(tmp_path, {"explorer": {"minihack/MazeWalk-9x9": [1.0, 0.0]}})
    report_dir(root, fmt="csv", plot=False)
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[0]["agent"] == "explorer" and float(rows[0]["mean"]) == 50.0
    report_dir(root, fmt="json", plot=False)
    assert json.loads(capsys.readouterr().out)["n_episodes"] == 2
    report_dir(root, fmt="md", plot=False)
    assert (
        "| explorer | task | minihack/MazeWalk-9x9 | 2 | 0 | 50.0 ± 35.4 |"
        in capsys.readouterr().out
    )


def test_plot_says_what_it_shows() -> None:
    pytest.importorskip("matplotlib")
    from automem_sdk.benchmarks.harness.report import _figure

    rows = [
        _ep("explorer", "minihack/MazeWalk-9x9", 0, 1.0),
        _ep("explorer", "minihack/MazeWalk-9x9", 1, 1.0),
        _ep("explorer", "minihack/Corridor-R3", 0, 0.0),
        _ep("explorer-stateless", "minihack/MazeWalk-9x9", 0, 0.0),
    ]
    fig = _figure(build_report(rows))
    ax = fig.axes[0]
    # explorer-stateless played seed 0 of MazeWalk-9x9, explorer seeds 0 and 1
    assert "4 of 5 episodes, 1 missing" in ax.get_title()
    assert "mean of 1 game" in ax.get_title()
    texts = [t.get_text() for t in ax.texts] + [t.get_text() for t in fig.texts]
    assert "100\nn=2" in texts and "0\nn=1" in texts
    assert "no episodes" in texts  # explorer-stateless never played Corridor-R3
    note = next(t for t in texts if t.startswith("unequal n"))
    assert "MazeWalk-9x9" in note and "explorer-stateless: Corridor-R3" in texts[-1]
    assert len(ax.collections) >= 1  # zero bars drawn as a marked baseline
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_paired_bootstrap_interval_is_seeded_and_stratified() -> None:
    from automem_sdk.benchmarks.harness.stats import paired_bootstrap

    same = paired_bootstrap({"m": {"m/a": [5.0] * 7}}, resamples=200)
    ci = same.tasks[("m", "m/a")]
    assert (ci.estimate, ci.low, ci.high) == (5.0, 5.0, 5.0)  # no spread, no width
    data = {"m": {"m/a": [0.0, 100.0, 0.0, 100.0], "m/b": [0.0] * 4}, "c": {"c": [10.0] * 3}}
    one = paired_bootstrap(data, resamples=500, seed=3)
    assert one == paired_bootstrap(data, resamples=500, seed=3)  # reproducible
    ci = one.tasks[("m", "m/a")]
    assert ci.estimate == 50.0 and 0.0 <= ci.low < 50.0 < ci.high <= 100.0
    assert one.envs["m"].estimate == 25.0  # tasks pooled, as BALROG's env mean
    assert one.envs["c"].low == one.envs["c"].high == 10.0
    assert one.overall is not None and one.overall.estimate == pytest.approx(17.5)
    assert one.overall.low < 17.5 < one.overall.high
    assert not ci.excludes_zero() and one.envs["c"].excludes_zero()


def test_default_contrasts_put_memory_against_both_baselines() -> None:
    env = "minihack/MazeWalk-15x15"
    rows = [
        _ep(agent, env, seed, p)
        for agent, ps in (
            ("explorer", [1.0, 1.0, 1.0, 1.0]),
            ("explorer-hist16", [1.0, 0.0, 1.0, 0.0]),
            ("explorer-stateless", [0.0, 0.0, 0.0, 0.0]),
        )
        for seed, p in enumerate(ps)
    ]
    rep = build_report(rows, resamples=300)
    pairs = [(c.a, c.b) for c in rep.comparisons]
    assert pairs == [
        ("explorer", "explorer-hist16"),
        ("explorer", "explorer-stateless"),
        ("explorer-hist16", "explorer-stateless"),
    ]
    vs_stateless = rep.comparisons[1].tasks[0]
    assert (vs_stateless.diff, vs_stateless.ci_low, vs_stateless.ci_high) == (100.0, 100.0, 100.0)
    vs_hist = rep.comparisons[0].tasks[0]
    assert vs_hist.diff == 50.0 and vs_hist.ci_low <= 50.0 <= vs_hist.ci_high
    from automem_sdk.benchmarks.harness.report import headline_tables

    (table, _) = headline_tables(rep)
    assert "| MazeWalk-15x15 | 4 | 100.0 | 50.0 | 0.0 | +50.0 [" in table
    assert "overall (mean of 1 game)" in table


def test_missing_episodes_come_from_the_run_plan(tmp_path: Path) -> None:
    import json as _json

    root = _folder(tmp_path, {"explorer": {"crafter": [0.5, 0.25]}})
    (root / "runs").mkdir()
    plan = {"agents": ["explorer", "explorer-hist16"], "envs": ["crafter"], "seeds": [0, 1, 2]}
    (root / "runs" / "r1.plan.json").write_text(_json.dumps(plan))
    console = _console()
    rep = report_dir(root, console=console, plot=False)
    assert rep is not None and rep.n_expected == 6 and rep.n_missing == 4
    text = console.export_text()
    assert "missing episodes (4 of 6)" in text
    assert "explorer crafter: 1 of 3 (seeds 2)" in text
    assert "explorer-hist16 crafter: 3 of 3 (seeds 0, 1, 2)" in text
    assert rep.agents[0].tasks[0].missing == 1


def test_default_contrasts_match_run_suffixes() -> None:
    from automem_sdk.benchmarks.harness.report import default_contrasts

    assert default_contrasts(["balrog@balrog-obs", "balrog+memory@balrog-obs", "balrog"]) == [
        ("balrog+memory@balrog-obs", "balrog@balrog-obs")
    ]
    pairs = default_contrasts(["explorer", "explorer@memgpt", "explorer-hist8"])
    assert pairs == [("explorer", "explorer@memgpt"), ("explorer", "explorer-hist8")]


def _summary_rows() -> list[dict[str, object]]:
    stages = ["baseline", "structural", *(f"behavioral:specialist-{k}" for k in "abcd"), "final"]
    return [
        {
            "stage": s,
            "env": "minihack/CorridorBattle-Dark",
            "n": 20 + i,
            "progression": 0.312345,
            "se": 0.0456,
            "op_validity": 0.987,
            "redundant_writes": 12.5,
            "unproductive_rate": 0.123,
            "tokens/step": 2633.3,
            "usd": 0.0,
            "scaffold": "cramped-minihack-3",
        }
        for i, s in enumerate(stages)
    ]


def _first_column(text: str) -> list[str]:
    """The first column's cells of the first rich table in ``text``, fold lines joined (a
    row starts where the third column, ``n``, has a value)."""
    names: list[str] = []
    for line in text.splitlines():
        if line.startswith("└"):
            break
        if not line.startswith("│"):
            continue
        cells = [c.strip() for c in line.strip("│").split("│")]
        if cells[2]:
            names.append(cells[0])
        elif names:
            names[-1] += cells[0]
    return names


@pytest.mark.parametrize("width", [80, 120])
def test_pipeline_summary_fits_a_terminal(width: int) -> None:
    from automem_sdk.trainers.pipeline import print_summary

    rows = _summary_rows()
    console = Console(record=True, width=width, force_terminal=True)
    print_summary(rows, console=console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= width
    assert "…" not in text
    assert _first_column(text) == [r["stage"] for r in rows]  # the behavioral rows differ
    for col in ("unproductive_rate", "tokens/step", "scaffold"):
        assert col in text  # every column is somewhere, in a block of its own if need be
    assert text.count("2633.300") == len(rows) and text.count("0.312") == len(rows)


def test_pipeline_summary_formats(capsys: pytest.CaptureFixture[str]) -> None:
    import csv
    import io

    from automem_sdk.trainers.pipeline import print_summary

    rows = _summary_rows()
    print_summary(rows, fmt="csv")
    got = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [g["stage"] for g in got] == [r["stage"] for r in rows]
    assert got[0]["progression"] == "0.312"
    print_summary(rows, fmt="json")
    assert json.loads(capsys.readouterr().out)[2]["n"] == 22
    print_summary(rows, fmt="md")
    assert (
        "| behavioral:specialist-d | minihack/CorridorBattle-Dark | 25 |" in capsys.readouterr().out
    )


def test_pipeline_cli_takes_format() -> None:
    from automem_sdk.cli import build_parser

    args = build_parser().parse_args(["pipeline", "p.yaml", "--report", "--format", "md"])
    assert args.format == "md"


def test_tables_in_an_80_column_terminal_cut_no_number(tmp_path: Path) -> None:
    envs = {"minihack/MazeWalk-15x15": [0.3, 1.0, 0.0], "minihack/CorridorBattle-Dark": [0.0]}
    names = ("explorer", "explorer-stateless", "explorer-hist16", "explorer-trunc", "two-model")
    console = Console(record=True, width=80, force_terminal=True)
    report_dir(_folder(tmp_path, dict.fromkeys(names, envs)), console=console, plot=False)
    text = console.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    assert text.count("43.3 ± 24.2") == len(names)  # too wide: split into column blocks
    assert "columns 2/2" in text
    for name in names:
        assert name in text
