"""README benchmark tables rendered from result files (``benchmarks/render_readme.py``), and the
medians, tail percentiles and model-based suggestion times they print (``infonas.bench.stats``)."""

from __future__ import annotations

import importlib.util
import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from infonas.bench.pareto import format_pareto_table
from infonas.bench.search import format_search_table
from infonas.bench.stats import StepRecorder, percentile, step_seconds_summary
from infonas.cli import main

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "render_readme.py"


def _load_renderer():
    spec = importlib.util.spec_from_file_location("render_readme", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render_readme = _load_renderer()


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory, synthetic_table_file) -> Path:
    """Results of real short runs of every benchmark kind, named as the README would name them."""
    from search_spaces import NB201Space

    space = NB201Space()
    rng = np.random.default_rng(1)
    archs = sorted({space.sample(rng) for _ in range(120)}, key=space.format)[:80]
    lines = ["arch,acc_cheap,acc"]
    for arch in archs:
        acc = 50 + 7 * sum(op.startswith("nor_conv") for op in arch.ops) + rng.normal(0, 1)
        lines.append(f"{space.format(arch)},{acc - 5 + rng.normal(0, 2):.4f},{acc:.4f}")
    folder = tmp_path_factory.mktemp("results")
    table = folder / "small.csv"
    table.write_text("\n".join(lines) + "\n")
    common = ["--table", table, "--quiet"]
    invoke("bench", "search", *common, "--objective", "acc", "--methods", "rs,bo-ei", "--seeds", 2, "--budget", 8,
           "--out", folder / "search_bayesian.json")
    invoke("bench", "search", *common, "--objective", "acc", "--methods", "rs,ls", "--seeds", 2, "--budget", 52,
           "--full-budget", "--out", folder / "search_full.json")
    invoke("bench", "search", *common, "--objective", "acc", "--cheap", "acc_cheap", "--cheap-cost", 0.1,
           "--methods", "rs", "--seeds", 12, "--budget", 3, "--out", folder / "search_mf.json")
    invoke("bench", "pareto", "--table", synthetic_table_file, "--quiet", "--objectives", "acc:max,params:min",
           "--methods", "rs,nsga2", "--seeds", 2, "--budget", 12, "--out", folder / "pareto_params.json")
    invoke("bench", "surrogate", *common, "--objective", "acc", "--train-sizes", "8,16", "--seeds", 1, "--models",
           "hamming", "--out", folder / "surrogate.json")
    invoke("bench", "executors", "--table", table, "--objective", "acc", "--sleep", 0, "--trials", 3, "--workers", 2,
           "--executors", "serial,pool", "--strategy", "rs", "--out", folder / "executors.json")
    return folder


FIXTURE_README = """# A README

Text before.

<!-- results:search_bayesian.json -->
stale table
<!-- /results -->

<!-- results:search_full.json labels=off -->
<!-- /results -->

<!-- results:search_mf.json -->
<!-- /results -->

<!-- results:pareto_params.json labels=off -->
<!-- /results -->

<!-- results:surrogate.json columns=kendall_tau,fit_predict_seconds -->
<!-- /results -->

<!-- results:executors.json -->
<!-- /results -->

Text after.
"""


def _block(text: str, name: str) -> list[str]:
    start = text.index(f"<!-- results:{name}")
    return text[start: text.index("<!-- /results -->", start)].splitlines()[1:]


def _load(results_dir: Path, name: str) -> dict:
    return json.loads((results_dir / name).read_text())


def test_every_table_kind_renders_with_its_provenance(results_dir):
    text = render_readme.render(FIXTURE_README, results_dir)
    assert text.startswith("# A README\n\nText before.") and text.endswith("Text after.\n")
    assert "stale table" not in text
    for name, kind, rows in [("search_bayesian.json", "search", 2), ("search_full.json", "search", 2),
                             ("search_mf.json", "multi-fidelity", 1), ("pareto_params.json", "pareto", 2),
                             ("surrogate.json", "surrogate", 1), ("executors.json", "executors", 2)]:
        results = _load(results_dir, name)
        assert render_readme.kind(results) == kind
        block = _block(text, name)
        assert block[0].startswith("| ") and block[1].startswith("|---|")
        assert len([line for line in block if line.startswith("| `")]) == rows
        meta = results["meta"]
        provenance = block[-1]
        assert provenance.startswith(f"_From `benchmarks/results/{name}`: `infonas bench ")
        assert meta["command"] in provenance and meta["date"][:10] in provenance
        assert f"{meta['cpu_count']} cores ({meta['cores_used']} usable)" in provenance
        assert (f"commit `{meta['commit'][:7]}`" if meta["commit"] else "no git commit") in provenance


def test_search_rows_show_median_and_p90_of_queries_and_model_step_times(results_dir):
    text = render_readme.render(FIXTURE_README, results_dir)
    results = _load(results_dir, "search_bayesian.json")
    (bo,) = [line for line in _block(text, "search_bayesian.json") if line.startswith("| `bo-ei`")]
    cells = [c.strip() for c in bo.strip("|").split("|")]
    queries = results["methods"]["bo-ei"]["queries_to_optimum"]
    assert cells[0] == "`bo-ei` (WL+Hamming+additive GP, copula-warped targets, LogEI)"
    assert cells[1] == f"{sum(q is not None for q in queries)}/2"
    expected = [render_readme._number(percentile(queries, q)) for q in (0.5, 0.9)]
    assert cells[2].strip("*") == f"{expected[0]} ({expected[1]})"
    timing = results["methods"]["bo-ei"]["model_step_seconds"]
    flags = results["methods"]["bo-ei"]["model_based_steps"]
    assert all(seed[:5] == [0] * 5 and set(seed[5:]) <= {1} for seed in flags)  # n_init = 5 random picks first
    assert timing["steps"] == "model-based" and timing["model_based"]["count"] == sum(map(sum, flags)) > 0
    assert cells[3] == (f"{render_readme._seconds(timing['model_based']['median'])} "
                        f"({render_readme._seconds(timing['model_based']['p90'])})")
    # No seed reached 50 observations: that column is left out rather than shown empty.
    assert "observations" not in _block(text, "search_bayesian.json")[0]


def test_every_step_columns_count_model_free_steps_after_the_design(results_dir):
    results = _load(results_dir, "search_bayesian.json")
    record = dict(results["methods"]["bo-ei"])
    # Seed 0: design of 2, a model step, a fallback, a model step; seed 1: no model step at all.
    record["model_based_steps"] = [[0, 0, 1, 0, 1], [0, 0, 0]]
    record["suggest_seconds"] = [[0.1, 0.1, 2.0, 4.0, 3.0], [0.1, 0.1, 0.1]]
    results["methods"] = {"bo-ei": record}
    header, _, row = render_readme.render_search(results, {"steps": "all"})
    assert header.endswith("| s per suggestion, every step: median (p90) | steps after the initial design that "
                           "took no model (all seeds) |")
    cells = [c.strip() for c in row.strip("|").split("|")]
    seconds = [0.1, 0.1, 2.0, 4.0, 3.0, 0.1, 0.1, 0.1]
    assert cells[-2] == (f"{render_readme._seconds(percentile(seconds, 0.5))} "
                         f"({render_readme._seconds(percentile(seconds, 0.9))})")
    assert cells[-1] == "1 of 3 (33%)"
    assert len(render_readme.render_search(results, {})[0].split("|")) == len(header.split("|")) - 2
    with pytest.raises(render_readme.RenderError, match="steps=all"):
        render_readme.render_block("search_bayesian.json every=1", results_dir)


def test_full_budget_runs_time_suggestions_at_50_observations(results_dir):
    results = _load(results_dir, "search_full.json")
    assert results["stops_at_optimum"] is False
    for record in results["methods"].values():
        assert all(len(curve) == 52 for curve in record["suggest_seconds"])
        at_50 = record["model_step_seconds"]["at_observations"]["50"]
        assert at_50["count"] == 2 * 4  # observations 48..51 of each seed (the budget ends at 52)
        assert record["model_step_seconds"]["steps"] == "all (no model)"
    header = _block(render_readme.render(FIXTURE_README, results_dir), "search_full.json")[0]
    assert header.endswith("all steps, then at 50 observations |")


def test_multi_fidelity_rows_list_every_seeds_cost(results_dir):
    results = _load(results_dir, "search_mf.json")
    (row,) = [line for line in _block(render_readme.render(FIXTURE_README, results_dir), "search_mf.json")
              if line.startswith("| `rs`")]
    costs = sorted((c for c in results["methods"]["rs"]["cost_to_optimum"]), key=lambda c: 1e9 if c is None else c)
    assert render_readme._sorted_costs(costs) in row
    assert " ... " in render_readme._sorted_costs(costs) and ", then " in render_readme._sorted_costs(costs)
    assert render_readme._sorted_costs([3.0, None, 1.25]) == "1.25, 3, never"


def test_pareto_rows_show_median_p10_min_max(results_dir):
    results = _load(results_dir, "pareto_params.json")
    block = _block(render_readme.render(FIXTURE_README, results_dir), "pareto_params.json")
    assert "median hypervolume ratio (p10)" in block[0] and "median after 3 / 6 evaluations" in block[0]
    for method, record in results["methods"].items():
        (row,) = [line for line in block if line.startswith(f"| `{method}` |")]
        ratios = record["hv_ratio"]
        assert f"{percentile(ratios, 0.5):.5f} ({percentile(ratios, 0.1):.5f})" in row
        assert f"| {min(ratios):.5f} | {max(ratios):.5f} |" in row


def test_surrogate_columns_are_chosen_by_the_marker(results_dir):
    block = _block(render_readme.render(FIXTURE_README, results_dir), "surrogate.json")
    assert block[0] == "| model | Kendall tau | fit + predict s |"
    (row,) = [line for line in block if line.startswith("| `hamming`")]
    rows = sorted((r for r in _load(results_dir, "surrogate.json")["results"]), key=lambda r: r["train_size"])
    assert f"{rows[0]['kendall_tau']:.3f} / {rows[1]['kendall_tau']:.3f}" in row
    assert block[-1].endswith("; each cell lists N = 8 / 16._")


def test_check_mode_and_errors(results_dir, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(FIXTURE_README)
    args = ["--readme", str(readme), "--results", str(results_dir)]
    assert render_readme.main(args + ["--check"]) == 1
    assert render_readme.main(args) == 0
    rendered = readme.read_text()
    assert render_readme.main(args + ["--check"]) == 0
    assert render_readme.render(rendered, results_dir) == rendered  # a second render changes nothing
    readme.write_text(rendered.replace("| `rs` |", "| `rs` | 1 |", 1))
    assert render_readme.main(args + ["--check"]) == 1
    for broken in ("<!-- results:missing.json -->\n<!-- /results -->\n",
                   "<!-- results:surrogate.json -->\nno end\n",
                   "<!-- results:surrogate.json colour=red -->\n<!-- /results -->\n",
                   "<!-- results:surrogate.json columns=tau -->\n<!-- /results -->\n"):
        readme.write_text(broken)
        assert render_readme.main(args) == 2 and readme.read_text() == broken


def test_the_repository_readme_matches_its_committed_results():
    if not list((ROOT / "benchmarks" / "results").glob("*.json")):
        pytest.skip("no committed results in benchmarks/results yet")
    done = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr


def test_percentile_counts_a_seed_that_never_reached_as_never():
    assert percentile([3, 1, 2], 0.5) == 2 and percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile([10.0] * 9 + [20.0], 0.9) == pytest.approx(11.0)
    assert percentile([1, 2, None], 0.5) == 2 and percentile([1, None, None], 0.5) is None
    assert percentile([1, 2, 3, None], 0.5) == 2.5 and percentile([1, 2, 3, None], 0.9) is None
    assert percentile([], 0.5) is None and percentile([None], 0.5) is None


def test_step_seconds_pool_model_based_steps_around_each_observation_count():
    seconds = [[9.0, 9.0, 1.0, 2.0, 3.0, 4.0], [9.0, 9.0, 5.0]]
    flags = [[False, False, True, True, True, True], [False, False, True]]
    summary = step_seconds_summary(seconds, flags, points=[3, 5], window=1)
    assert summary["steps"] == "model-based" and summary["window"] == 1
    assert summary["model_based"]["count"] == 5 and summary["model_based"]["median"] == 3.0
    # Observations 2..4: steps 2, 3, 4 of seed 0 and step 2 of seed 1 (which stopped there).
    assert summary["at_observations"]["3"] == {"median": 2.5, "p90": pytest.approx(4.4), "count": 4}
    assert summary["at_observations"]["5"]["count"] == 2
    free = step_seconds_summary([[0.5, 0.25]], [[False, False]], points=[9])
    assert free["steps"] == "all (no model)" and free["model_based"]["count"] == 2
    assert free["at_observations"]["9"] == {"median": None, "p90": None, "count": 0}


def test_step_recorder_tells_the_initial_design_from_model_steps(tiny_table_file, space):
    from infonas.evaluators.tabular import TabularBenchmark, TabularEvaluator
    from infonas.study import Study

    table = TabularBenchmark.from_csv(tiny_table_file, space)
    recorder = StepRecorder()
    study = Study.create(None, space, TabularEvaluator(table, "acc"), "acc", strategy="bo-ei", seed=0,
                         strategy_options={"n_init": 3})
    study.optimize(6, callbacks=[recorder])
    assert recorder.model_based == [False, False, False, True, True, True]
    baseline = StepRecorder()
    Study.create(None, space, TabularEvaluator(table, "acc"), "acc", strategy="rea", seed=0).optimize(
        4, callbacks=[baseline])
    assert baseline.model_based == [False] * 4


def test_text_tables_print_tail_percentiles(results_dir):
    search = format_search_table(_load(results_dir, "search_full.json"))
    assert "p90 q" in search and "p90 cost" in search and "s at 50/100/150 obs" in search
    pareto = format_pareto_table(_load(results_dir, "pareto_params.json"))
    assert "p10" in pareto and "s/model step (p90)" in pareto


META = {"command": "infonas bench fidelity --table t.csv", "commit": "0123456789abcdef", "dirty": False,
        "date": "2026-01-02T03:04:05Z", "cpu_count": 4, "cores_used": 2, "workers": 1, "wall_seconds": 2.4}


def _fidelity(**changes) -> dict:
    """A hand-made ``infonas bench fidelity`` result: five signals in a non-alphabetical order, one
    of them without a ranking, and a ceiling."""
    results = {
        "meta": META, "target": "test_acc", "n": 40,
        "signals": {
            "supernet_mixed_norecal": {"n": 40, "kendall_tau": 0.12345, "spearman": -0.05, "precision_top5": 0.5,
                                       "precision_top10": 0.25, "kendall_tau_ci90": [0.0812, 0.1601]},
            "valid_acc_ep12": {"n": 38, "kendall_tau": 0.7, "spearman": 0.8, "precision_top5": 1.0,
                               "precision_top10": 0.75},
            "params": {"n": 40, "kendall_tau": 0.3, "spearman": 0.4, "precision_top5": 0.0, "precision_top10": 0.5},
            "width": {"n": 40, "kendall_tau": -0.2, "spearman": -0.3, "precision_top5": 0.0, "precision_top10": 0.0},
            "flops": {"n": 2, "kendall_tau": None, "spearman": None, "precision_top5": None, "precision_top10": None,
                      "note": "only 2 rows with both the signal and the target; a ranking needs 3"},
        },
        "ceiling": {"column": "test_acc_seed1", "kendall_tau": 0.61, "n": 30},
        "target_spread": {"p0": 10.0, "p10": 50.0, "p50": 80.125, "p90": 90.0, "p100": 95.5},
    }
    return {**results, **changes}


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip("|").split("|")]


def test_signal_labels_are_composed_from_the_column_name():
    label = render_readme.signal_label
    assert label("supernet_spos_recal") == "single-path supernet, BN recalibrated"
    assert label("supernet_mixed_batchstats") == "mixed-operation supernet, batch statistics at evaluation"
    assert label("supernet_spos_norecal") == "single-path supernet, its own running BN statistics"
    assert label("valid_acc_ep1") == "validation accuracy after 1 epoch of the same training run"
    assert label("valid_acc_ep12") == "validation accuracy after 12 epochs of the same training run"
    assert label("params") == "parameter count (the trivial predictor)" and label("flops") == "FLOPs"
    for unknown in ("width", "supernet_darts_recal", "supernet_spos_other", "valid_acc_epX"):
        assert label(unknown) == ""


def test_fidelity_rows_follow_the_file_with_dashes_and_the_note_where_there_is_no_ranking():
    results = _fidelity()
    assert render_readme.kind(results) == "fidelity"
    lines = render_readme.render_fidelity(results, {})
    assert lines[0] == ("| signal | what it is | Kendall tau | tau, 90% bootstrap interval | Spearman | P@top 5% "
                        "| P@top 10% | cells |")
    rows = [_cells(line) for line in lines[2:7]]
    assert [row[0] for row in rows] == [f"`{name}`" for name in results["signals"]]
    assert rows[0] == ["`supernet_mixed_norecal`", "mixed-operation supernet, its own running BN statistics",
                       "0.123", "0.081 to 0.160", "-0.050", "50%", "25%", "40"]
    assert rows[1][1:] == ["validation accuracy after 12 epochs of the same training run", "0.700", "–", "0.800",
                           "100%", "75%", "38"]
    assert rows[3][:2] == ["`width`", ""]  # an unknown column: its name only
    note = "only 2 rows with both the signal and the target; a ranking needs 3"
    assert rows[4] == ["`flops`", f"FLOPs; no ranking: {note}", "–", "–", "–", "–", "–", "2"]
    spread = "Target spread over 40 cells: min 10.00, p10 50.00, median 80.12, p90 90.00, max 95.50 (%)."
    assert lines[7:] == ["", "Seed-to-seed ceiling (test_acc against test_acc_seed1 on 30 cells): Kendall tau 0.610.",
                         "", spread]


def test_fidelity_ceiling_line_needs_a_ceiling_column():
    no_column = {"column": "", "kendall_tau": None, "n": 0, "note": "no numeric column '': the ceiling is unknown"}
    lines = render_readme.render_fidelity(_fidelity(ceiling=no_column, target_spread={}), {})
    assert len(lines) == 7 and not any("ceiling" in line or "spread" in line for line in lines)
    absent = {"column": "test_acc_seed1", "kendall_tau": None, "n": 0,
              "note": "no numeric column 'test_acc_seed1': the seed-to-seed ceiling is unknown"}
    lines = render_readme.render_fidelity(_fidelity(ceiling=absent), {})
    assert lines[8] == ("Seed-to-seed ceiling (test_acc against test_acc_seed1): unknown, no numeric column "
                        "'test_acc_seed1': the seed-to-seed ceiling is unknown.")
    assert lines[10].startswith("Target spread over 40 cells: min 10.00,")


def _memory(rss_increase_kib: int | None = 4096) -> dict:
    """A hand-made ``infonas bench memory`` result (``rss_increase_kib`` of the cell: None off Linux)."""
    def row(kind: str, parameters: int, accounted: int, increase: int | None) -> dict:
        return {"kind": kind, "parameters": parameters, "accounted_bytes": accounted, "rss_increase_kib": increase}

    spos_increase = None if rss_increase_kib is None else 2048
    ratios = {"spos": {"accounted": 0.5}, "mixed": {"accounted": 3.0}}
    if rss_increase_kib is not None:
        ratios["spos"]["rss_increase"], ratios["mixed"]["rss_increase"] = 0.5, 2.25
    return {"settings": {"dataset": "digits", "channels": 4, "num_cells": 2, "batch_size": 16, "steps": 5, "seed": 0},
            "measurements": {"cell": row("cell", 1234, 2 * 2**20, rss_increase_kib),
                             "spos": row("spos", 2000, 2**20, spos_increase),
                             "mixed": row("mixed", 2000, 6 * 2**20, None if rss_increase_kib is None else 9216)},
            "ratio_to_cell": ratios, "meta": META}


def test_memory_rows_show_mib_and_ratios_to_the_cell():
    results = _memory()
    assert render_readme.kind(results) == "memory"
    lines = render_readme.render_memory(results, {})
    assert _cells(lines[0]) == ["training", "parameters", "accounted MiB", "peak RSS increase MiB",
                                "ratio to one cell (accounted / RSS increase)"]
    assert [_cells(line) for line in lines[2:5]] == [
        ["one cell (all nor_conv_3x3)", "1,234", "2.00", "4.00", "1.00 / 1.00"],
        ["single-path supernet (spos)", "2,000", "1.00", "2.00", "0.50 / 0.50"],
        ["mixed-operation supernet", "2,000", "6.00", "9.00", "3.00 / 2.25"]]
    settings = "Settings: dataset digits, 4 channels, 2 cells, batch size 16, 5 training steps, each measured"
    assert lines[5:] == ["", settings + " in a fresh process."]
    unmeasured = [_cells(line) for line in render_readme.render_memory(_memory(None), {})[2:5]]
    assert [row[3:] for row in unmeasured] == [["–", "1.00 / –"], ["–", "0.50 / –"], ["–", "3.00 / –"]]


def test_fidelity_and_memory_files_render_between_markers_with_provenance(tmp_path):
    (tmp_path / "fidelity_x.json").write_text(json.dumps(_fidelity()))
    (tmp_path / "supernet_memory.json").write_text(json.dumps(_memory()))
    readme = "<!-- results:fidelity_x.json -->\nold\n<!-- /results -->\n\n" \
             "<!-- results:supernet_memory.json -->\n<!-- /results -->\n"
    text = render_readme.render(readme, tmp_path)
    assert "old" not in text and render_readme.render(text, tmp_path) == text
    for name, rows in [("fidelity_x.json", 5), ("supernet_memory.json", 3)]:
        block = _block(text, name)
        assert len([line for line in block if line.startswith("| ") and not line.startswith("| signal")
                    and not line.startswith("| training")]) == rows
        assert block[-1] == (f"_From `benchmarks/results/{name}`: `infonas bench fidelity --table t.csv`, commit "
                             "`0123456`, 2026-01-02, 4 cores (2 usable), 1 worker(s), 2 s._")


def test_cost_budgets_render_setup_charged_suggestions_ratios_at_cost_and_front_shares(tmp_path,
                                                                                        synthetic_table_file):
    common = ["--table", synthetic_table_file, "--quiet", "--cheap", "acc_cheap", "--cheap-cost", 0.1]
    invoke("bench", "search", *common, "--objective", "acc", "--methods", "rs", "--seeds", 2, "--budget", 4,
           "--cheap-setup-cost", 1.5, "--unit-seconds", 2.0, "--out", tmp_path / "search_mf.json")
    invoke("bench", "pareto", *common, "--objectives", "acc:max,params:min", "--methods", "rs", "--seeds", 2,
           "--budget", 8, "--out", tmp_path / "pareto_params.json")
    text = render_readme.render("<!-- results:search_mf.json -->\n<!-- /results -->\n"
                                "<!-- results:pareto_params.json -->\n<!-- /results -->\n", tmp_path)
    search = _block(text, "search_mf.json")
    assert "with suggestion time at 2 s per target evaluation" in search[0]
    record = _load(tmp_path, "search_mf.json")["methods"]["rs"]
    (row,) = [line for line in search if line.startswith("| `rs`")]
    assert "setup" not in row  # rs never uses the cheap fidelity, so it pays no setup
    assert f"{percentile(record['suggest_share'], 0.5):.1%}" in row
    pareto = _block(text, "pareto_params.json")
    assert "median at cost 1.92 / 4" in pareto[0]  # the grid points (of 50) nearest a quarter and half
    assert "share of the true front's cells found" in pareto[0]
    record = _load(tmp_path, "pareto_params.json")["methods"]["rs"]
    (row,) = [line for line in pareto if line.startswith("| `rs`")]
    assert f"{statistics.median(record['front_share']):.2f}" in row


def test_the_main_job_renders_time_share_and_the_kill_check(tmp_path):
    summary = {"finished": 150, "cost": 40.0, "setup": {"cost": 23.7, "seconds": 20.0},
               "fidelities": [{"name": "supernet", "evaluations": 145, "seconds": 9.5},
                              {"name": "train", "evaluations": 5, "seconds": 9.0}],
               "suggest": {"share": 0.214}, "hypervolume_ratio": 0.93}
    results = {"search_args": [], "wall_seconds": 100.4, "summary": summary,
               "kills": ["after 3 finished trials", "after 90 finished trials"], "same_trials": True,
               "first_difference": None}
    (tmp_path / "main_job.json").write_text(json.dumps(results))
    block = _block(render_readme.render("<!-- results:main_job.json -->\n<!-- /results -->\n", tmp_path),
                   "main_job.json")
    (row,) = [line for line in block if line.startswith("| 100 s")]
    assert "145 supernet / 5 train" in row and "21.4%" in row and "| 0.930 |" in row and "20.0 s" in row
    assert "after 3 finished trials; after 90 finished trials: same trials" in row
    (tmp_path / "main_job.json").write_text(json.dumps({**results, "same_trials": False}))
    assert "DIFFERENT trials" in render_readme.render("<!-- results:main_job.json -->\n<!-- /results -->\n",
                                                      tmp_path)


def _hinge() -> dict:
    """A hand-made ``infonas bench hinge`` result: a variant over the budget, one at the smallest network."""
    def entry(flops: list[float], accs: list[float], expected: list[float | None]) -> dict:
        return {"arch": ["|...|"] * len(flops), "flops": flops, "params": [1.0] * len(flops),
                "within_budget": [f <= 54550.0 for f in flops], "test_acc": accs, "expected_flops": expected,
                "search_seconds": [30.0, 31.0, 29.0]}
    return {"meta": META, "space": "macro", "data": "mnist1d", "flops_budget": 54550.0, "budget_quantile": 0.25,
            "budget_samples": 2000, "epochs": 10, "seeds": 3, "channels": 8, "training": {"epochs": 3},
            "smallest_flops": 10250.0, "largest_flops": 331530.0,
            "variants": {"darts-1": entry([90000.0, 54550.0, 120000.0], [85.0, 80.0, 88.0], [70000.0, 71000.0, None]),
                         "darts-1[flops_weight=5]": entry([10250.0, 10250.0, 20500.0], [57.0, 57.5, 60.0],
                                                          [60000.0, 62000.0, 61000.0])}}


def test_hinge_rows_show_seeds_within_the_budget_and_at_the_smallest_network(tmp_path):
    results = _hinge()
    assert render_readme.kind(results) == "hinge"
    lines = render_readme.render_hinge(results, {})
    assert _cells(lines[0]) == ["variant", "seeds within B", "seeds at the smallest network", "median exact FLOPs",
                                "FLOPs range", "median test_acc", "median E[FLOPs], last epoch", "median search s"]
    assert [_cells(line) for line in lines[2:4]] == [
        ["`darts-1`", "1/3", "0/3", "90k", "54.55k to 120k", "85.00", "70.5k", "30"],
        ["`darts-1[flops_weight=5]`", "3/3", "2/3", "10.25k", "10.25k to 20.5k", "57.50", "61k", "30"]]
    assert lines[4:] == ["", ("Budget B = 54.55k FLOPs, the 0.25 quantile of the exact FLOPs of 2000 sampled "
                              "architectures; the macro space on mnist1d spans 10.25k to 331.5k FLOPs; 10 search "
                              "epochs, 8 channels; test_acc: the derived network trained from scratch (3 epochs, as "
                              "the table's rows).")]
    given = render_readme.render_hinge({**results, "budget_quantile": None}, {})
    assert given[-1].startswith("Budget B = 54.55k FLOPs; the macro space")
    (tmp_path / "flops_hinge_macro.json").write_text(json.dumps(results))
    block = _block(render_readme.render("<!-- results:flops_hinge_macro.json -->\n<!-- /results -->\n", tmp_path),
                   "flops_hinge_macro.json")
    assert len([line for line in block if line.startswith("| `")]) == 2
    assert block[-1].startswith("_From `benchmarks/results/flops_hinge_macro.json`: `infonas bench fidelity")


def test_executor_rows_and_soak_counts_render_from_their_files(results_dir):
    results = _load(results_dir, "executors.json")
    rows = [line for line in _block(render_readme.render(FIXTURE_README, results_dir), "executors.json")
            if line.startswith("| `")]
    assert [row.split("|")[1].strip() for row in rows] == ["`serial`", "`pool`"]
    assert rows[1].split("|")[4].strip() == f"{results['executors']['pool']['speedup']:.2f}x"
    soak = {"trials": 60, "workers": 4, "sleep": 1.0, "strategy": "bo-ei", "driver_kills": 10, "worker_kills": 9,
            "finished": 61, "complete": 52, "lost": 0, "duplicated": 0, "failures": 9,
            "failures_by_kind": {"worker_lost": 9}, "failures_without_reason": 0, "failures_retried": 8,
            "wall_seconds": 200.0}
    assert render_readme.kind(soak) == "soak"
    lines = render_readme.render_soak(soak, {})
    assert "| worker running an evaluation killed (SIGKILL) | 9 |" in lines
    assert "| failed trials, by kind | 9 (worker_lost 9) |" in lines


def test_live_comparisons_and_scaling_render_their_own_tables():
    live = {"space": "darts", "data": "mnist1d", "budget_seconds": 300, "seeds": 2, "scoring": "retrained",
            "settings": {"retrain_seeds": 2, "retrain_epochs": 10},
            "methods": {"bo-mf": {"test_acc": [97.0, 98.0], "search_seconds": [300.0, 302.0], "flops": [4e5, 5e5],
                                  "params": [3e4, 4e4], "target_evaluations": [2, 5], "evaluations": [90, 150]},
                        "gdas": {"test_acc": [96.0, 96.5], "search_seconds": [305.0, 306.0], "flops": [3e5, 3e5],
                                 "params": [2e4, 2e4], "epochs_done": [19, 33]}}}
    assert render_readme.kind(live) == "compare-live"
    lines = render_readme.render_compare_live(live, {})
    assert "| `bo-mf` | 97.50 | 97.00-98.00 | 301 | 450k | 35.0k | 2-5 trainings, 90-150 evaluations |" in lines
    assert "| `gdas` | 96.25 | 96.00-96.50 | 306 | 300k | 20.0k | 19-33 epochs |" in lines
    point = {"median_seconds": 0.5, "p90_seconds": 0.9, "rss_mb": 700.0, "peak_rss_mb": 720.0}
    scaling = {"space": "darts", "space_size": 9.1e18, "seeds": 1, "window": 5, "observations": 100,
               "checkpoints": [50, 100],
               "methods": {"bo-ei": {"checkpoints": {"50": point, "100": {**point, "median_seconds": 0.7}},
                                     "growth": {"from_observations": 50, "seconds_exponent": 0.49,
                                                "rss_mb_per_100_observations": 12.0}}}}
    assert render_readme.kind(scaling) == "scaling"
    lines = render_readme.render_scaling(scaling, {})
    assert "| `bo-ei` | 100 | 0.70 | 0.90 | 700 | 720 |" in lines and "n^0.49" in lines[-1]
