"""The FLOPs-hinge benchmark (``infonas bench hinge``): its budget, its contract, resuming, refusals."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner

from infonas.bench import hinge
from infonas.bench.hinge import budget_at_quantile, flops_range, run_hinge_benchmark, search_costs
from infonas.bench.table import TableSettings
from infonas.cli import main
from infonas.exceptions import InvalidArgumentError
from search_spaces.macro import MacroSpace
from search_spaces.nb201 import NB201Space

#: Tiny searches on the digits (four steps an epoch at batch 256) and a one-epoch training recipe.
FIT = "darts-1[batch_size=256;discretise_within_budget=true]"
PLAIN = "darts-1[batch_size=256]"
TRAINING = TableSettings(dataset="digits", epochs=1, channels=2)
KEYS = {"arch", "flops", "params", "within_budget", "test_acc", "expected_flops", "argmax_flops",
        "expected_flops_history", "derived_flops_history", "search_seconds", "epochs_done", "stopped_early"}


@pytest.fixture(scope="module")
def macro_costs():
    return search_costs("macro", "digits", 2)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    work = tmp_path_factory.mktemp("hinge")
    return run_hinge_benchmark("macro", [PLAIN, FIT], seeds=2, epochs=2, data="digits", budget_quantile=0.25,
                               training=TRAINING, work_dir=str(work))


def test_the_budget_is_a_quantile_of_sampled_architectures_flops(macro_costs):
    rng = np.random.default_rng(0)
    archs = [MacroSpace().sample(rng) for _ in range(2000)]
    values = macro_costs.values(archs, "flops")
    assert budget_at_quantile("macro", macro_costs, 0.25) == pytest.approx(float(np.quantile(values, 0.25)))
    assert budget_at_quantile("macro", macro_costs, 0.1) < budget_at_quantile("macro", macro_costs, 0.9)
    for bad in (0.0, 1.0, -0.5, 1.5):
        with pytest.raises(InvalidArgumentError, match=rf"a budget quantile must lie in \(0, 1\), got {bad}"):
            budget_at_quantile("macro", macro_costs, bad)


def test_the_flops_range_is_the_spaces_exact_extremes(macro_costs):
    smallest, largest = flops_range("macro", macro_costs)
    # Each macro position costs more with each later option: the corners attain the extremes.
    assert smallest == macro_costs.value(MacroSpace().from_categorical([0] * 15), "flops")
    assert largest == macro_costs.value(MacroSpace().from_categorical([2] * 15), "flops")
    sampled = macro_costs.values(np.random.default_rng(1).integers(0, 3, size=(20000, 15)), "flops")
    assert smallest <= sampled.min() and sampled.max() <= largest and smallest < largest
    cells = search_costs("nb201", "digits", 2)
    every = cells.values(list(NB201Space().enumerate()), "flops")
    assert flops_range("nb201", cells) == (float(every.min()), float(every.max()))


def test_the_results_hold_every_key_per_variant_and_seed(results, macro_costs):
    assert {"space", "data", "flops_budget", "budget_quantile", "epochs", "seeds", "variants", "smallest_flops",
            "largest_flops", "training", "channels"} <= set(results)
    assert (results["space"], results["data"], results["budget_quantile"], results["seeds"]) == ("macro", "digits",
                                                                                                  0.25, 2)
    assert results["flops_budget"] == budget_at_quantile("macro", macro_costs, 0.25)
    assert results["training"]["epochs"] == 1 and results["channels"] == 2
    assert list(results["variants"]) == [PLAIN, FIT]
    budget = results["flops_budget"]
    for entry in results["variants"].values():
        assert set(entry) == KEYS and all(len(values) == 2 for values in entry.values())
        for seed in range(2):
            arch = MacroSpace().parse(entry["arch"][seed])
            assert entry["flops"][seed] == macro_costs.value(arch, "flops")
            assert entry["params"][seed] == macro_costs.value(arch, "params")
            assert entry["within_budget"][seed] == (entry["flops"][seed] <= budget)
            assert results["smallest_flops"] <= entry["flops"][seed] <= results["largest_flops"]
            assert entry["derived_flops_history"][seed][-1] == entry["flops"][seed]
            assert len(entry["expected_flops_history"][seed]) == entry["epochs_done"][seed] == 2
            assert entry["expected_flops"][seed] == entry["expected_flops_history"][seed][-1]
            assert 0 <= entry["test_acc"][seed] <= 100
    plain, fit = results["variants"][PLAIN], results["variants"][FIT]
    assert plain["argmax_flops"] == plain["flops"]
    # The fit holds by construction (the smallest network is within the budget); the argmax need not.
    assert results["smallest_flops"] <= budget and fit["within_budget"] == [True, True]
    assert all(argmax >= flops for argmax, flops in zip(fit["argmax_flops"], fit["flops"]))


def test_the_derived_network_is_trained_with_the_tables_recipe(results, monkeypatch):
    seen = []

    class Evaluator:
        def evaluate(self, arch, fidelity):
            seen.append(fidelity)
            return type("Result", (), {"metrics": {"test_accuracy": 12.5}, "error": None})()

    def build(spec, space):
        seen.append(spec)
        return Evaluator()

    monkeypatch.setattr(hinge, "_EVALUATORS", {})
    monkeypatch.setattr(hinge, "_TRAINED", {})
    monkeypatch.setattr("infonas.evaluators.registry.build_evaluator", build)
    arch = MacroSpace().parse(results["variants"][PLAIN]["arch"][0])
    recipe = TableSettings(dataset="digits", epochs=2, channels=3, learning_rate=0.05, seed=4)
    assert hinge.trained_test_accuracy("macro", arch, recipe) == 12.5
    assert hinge.trained_test_accuracy("macro", arch, recipe) == 12.5  # kept, not trained again
    spec, fidelity = seen
    assert fidelity == "full" and spec == {"kind": "training", **recipe.training_options(4)}
    assert (spec["epochs"], spec["channels"], spec["learning_rate"], spec["seed"]) == ({"full": 2}, 3, 0.05, 4)


def invoke(*args):
    return CliRunner().invoke(main, ["bench", "hinge", *map(str, args)])


def test_the_command_resumes_from_its_partial_log(tmp_path, monkeypatch):
    table_json = tmp_path / "table.json"
    table_json.write_text(json.dumps({"settings": dataclasses.asdict(TRAINING)}))
    out = tmp_path / "hinge.json"
    args = ["--space", "macro", "--data", "digits", "--flops-budget", 2e4, "--variants", f"{PLAIN},{FIT}",
            "--seeds", 1, "--epochs", 1, "--table-json", table_json, "--work-dir", tmp_path / "work", "--out", out,
            "--quiet"]
    real, calls = hinge.run_one_hinge, []

    def failing_second(space, variant, seed, **options):
        calls.append(variant)
        if variant == FIT:
            raise InvalidArgumentError("killed")
        return real(space, variant, seed, **options)

    monkeypatch.setattr(hinge, "run_one_hinge", failing_second)
    first = invoke(*args)
    assert first.exit_code == 1 and "killed" in first.output and not out.exists()
    partial = [json.loads(line) for line in (tmp_path / "hinge.json.partial.jsonl").read_text().splitlines()]
    assert [record.get("job") for record in partial[1:]] == [[PLAIN, 0]]
    calls.clear()
    monkeypatch.setattr(hinge, "run_one_hinge", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    again = invoke(*args)
    assert again.exit_code == 0, again.output
    assert calls == [FIT]  # the finished job was read back, not searched again
    written = json.loads(out.read_text())
    assert written["meta"]["resumed_jobs"] == 1 and written["budget_quantile"] is None
    assert written["flops_budget"] == 2e4 and written["training"]["channels"] == 2
    assert written["variants"][FIT]["within_budget"] == [True] and "within B" in again.output
    assert not (tmp_path / "hinge.json.partial.jsonl").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--flops-budget", 0], "Invalid value for '--flops-budget'"),
    (["--flops-budget", -5], "Invalid value for '--flops-budget'"),
    (["--budget-quantile", 0], "Invalid value for '--budget-quantile': 0.0 is not in the range 0<x<1"),
    (["--budget-quantile", 1.5], "Invalid value for '--budget-quantile': 1.5 is not in the range 0<x<1"),
    (["--budget-quantile", 0.5, "--variants", "enas"], "unknown method 'enas'"),
    (["--budget-quantile", 0.5, "--variants", "darts-1[flops_budget=1]"], "sets ['flops_budget'], which the benchmark"),
    (["--budget-quantile", 0.5, "--variants", "darts-1[max_skips=2]"], "max_skips=2 is refused on space 'macro'"),
    (["--budget-quantile", 0.5, "--variants", "darts-1[warp=none]"], "unknown gradient search settings ['warp']"),
    (["--flops-budget", 1e4, "--budget-quantile", 0.5], "give exactly one of --flops-budget"),
    ([], "give exactly one of --flops-budget"),
])
def test_bad_input_is_refused_in_one_line_with_exit_status_2(args, message, tmp_path):
    result = invoke("--data", "digits", "--out", tmp_path / "x.json", *args)
    assert result.exit_code == 2 and message in result.output
    assert [line for line in result.output.splitlines() if line.startswith("Error:")] == \
        [next(line for line in result.output.splitlines() if message in line)]
    assert not (tmp_path / "x.json").exists()


def test_the_library_refuses_a_budget_given_twice_or_not_positive():
    with pytest.raises(InvalidArgumentError, match="give exactly one of flops_budget and budget_quantile"):
        run_hinge_benchmark("macro", [PLAIN], data="digits", flops_budget=1e4, budget_quantile=0.5)
    with pytest.raises(InvalidArgumentError, match="flops_budget must be a finite number > 0, got 0"):
        run_hinge_benchmark("macro", [PLAIN], data="digits", flops_budget=0.0)
    with pytest.raises(InvalidArgumentError, match=r"space must be one of \['macro', 'nb201'\], got 'darts'"):
        run_hinge_benchmark("darts", [PLAIN], data="digits", flops_budget=1e4)


def test_the_command_line_default_variants_are_the_benchmarks() -> None:
    from infonas.bench.hinge import HINGE_VARIANTS
    from infonas.cli_bench_gradient import HINGE_DEFAULT

    assert HINGE_DEFAULT == ",".join(HINGE_VARIANTS)
