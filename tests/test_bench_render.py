"""README benchmark tables rendered from result files (``benchmarks/render_readme.py``), and the
medians, tail percentiles and model-based suggestion times they print (``infonas.bench.stats``)."""

from __future__ import annotations

import importlib.util
import json
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
                             ("surrogate.json", "surrogate", 1)]:
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
