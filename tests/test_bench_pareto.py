"""Multi-objective benchmark: objective matrices, hypervolume ratios and their JSON on a synthetic table."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from infonas.bench.pareto import format_pareto_table, objective_matrix, run_pareto_benchmark
from infonas.evaluators.tabular import TabularBenchmark, TabularEvaluator
from infonas.objectives import parse_objectives
from infonas.pareto import pareto_mask, unit_normaliser
from infonas.study import Study
from search_spaces import NB201Space
from search_spaces.nb201.cost_tables import ArchitectureCosts
from search_spaces.nb201.network import NetworkConfig

SPACE = NB201Space()
OBJECTIVES = parse_objectives("acc:max,flops:min")


@pytest.fixture(scope="module")
def costs() -> ArchitectureCosts:
    return ArchitectureCosts.measure(SPACE, NetworkConfig.for_dataset("cifar10"), latency=False)


@pytest.fixture(scope="module")
def table(synthetic_table_file) -> TabularBenchmark:
    return TabularBenchmark.from_csv(synthetic_table_file, SPACE)


@pytest.fixture(scope="module")
def results(table, costs) -> dict:
    return run_pareto_benchmark(table, OBJECTIVES, ["rs", "nsga2"], seeds=2, budget=25, costs=costs, progress=False)


def _check_method(record: dict, seeds: int, budget: int) -> None:
    assert len(record["hv_ratio"]) == len(record["hv_curves"]) == seeds
    for curve, ratio in zip(record["hv_curves"], record["hv_ratio"]):
        assert len(curve) == budget
        assert all(b >= a for a, b in itertools.pairwise(curve))  # the found front only grows
        assert curve[-1] == pytest.approx(ratio, abs=1e-12) and ratio <= 1.0 + 1e-9


def test_objective_matrix_signs(table, costs) -> None:
    Y = objective_matrix(table, parse_objectives("acc:max,flops:min,acc_cheap:min,params:max"), costs)
    assert Y.shape == (len(table), 4) and Y.dtype == np.float64
    np.testing.assert_array_equal(Y[:, 0], table.column("acc"))
    np.testing.assert_array_equal(Y[:, 1], -costs.values(table.archs, "flops"))
    np.testing.assert_array_equal(Y[:, 2], -table.column("acc_cheap"))
    np.testing.assert_array_equal(Y[:, 3], costs.values(table.archs, "params"))
    assert (Y[:, 1] < 0).all() and (Y[:, 3] > 0).all()


def test_objective_matrix_unknown_names(table, costs) -> None:
    with pytest.raises(ValueError, match="'latency_ms' is neither"):
        objective_matrix(table, parse_objectives("acc,latency_ms:min"), costs)
    with pytest.raises(ValueError, match="'nope' is neither"):
        objective_matrix(table, parse_objectives("nope"), costs)
    # Without costs, computed metrics are unknown too.
    with pytest.raises(ValueError, match="'flops' is neither"):
        objective_matrix(table, parse_objectives("acc,flops:min"), None)


def test_pareto_benchmark_json_shape(results, table, costs) -> None:
    assert results["objectives"] == ["acc:max", "flops:min"]
    assert results["reference_point"] == [-0.01, -0.01]
    assert results["budget"] == 25 and results["seeds"] == 2
    assert list(results["methods"]) == ["rs", "nsga2"]
    for record in results["methods"].values():
        assert {"hv_ratio", "hv_curves"} <= set(record)
        assert isinstance(record["seconds_per_suggestion"], float)
        _check_method(record, seeds=2, budget=25)
    Y = unit_normaliser(objective_matrix(table, OBJECTIVES, costs))(objective_matrix(table, OBJECTIVES, costs))
    assert 0 < results["true_hypervolume"] <= 1.01 ** 2
    assert results["true_front_size"] == int(pareto_mask(Y).sum()) >= 2
    restored = json.loads(json.dumps(results))
    assert restored["methods"]["nsga2"]["hv_ratio"] == results["methods"]["nsga2"]["hv_ratio"]


def _hypervolume_2d(points: np.ndarray, reference: tuple[float, float]) -> float:
    """Area dominated by ``points`` (maximised) above ``reference``: a sweep in decreasing first objective."""
    volume, top = 0.0, reference[1]
    for x, y in sorted(map(tuple, points), key=lambda p: -p[0]):
        if x > reference[0] and y > top:
            volume += (x - reference[0]) * (y - top)
            top = y
    return volume


def test_hypervolume_ratios_match_a_direct_computation(results, table, costs) -> None:
    """The benchmark's numbers, recomputed without ``infonas.pareto`` from the table and a replay of
    each rs trajectory.

    Each objective is signed (accuracy up, FLOPs down) and scaled to [0, 1] over the table; the
    reference point is -0.01 in both; ``hv_curves[seed][t]`` is the area dominated by the first
    ``t + 1`` trials over the table's. A wrong sign, scale, reference or trial prefix fails here.
    """
    signed = np.stack([table.column("acc"), -costs.values(table.archs, "flops")], axis=-1)
    low, high = signed.min(axis=0), signed.max(axis=0)
    reference = (-0.01, -0.01)
    true_volume = _hypervolume_2d((signed - low) / (high - low), reference)
    assert results["true_hypervolume"] == pytest.approx(true_volume, rel=1e-12)
    for seed, curve in enumerate(results["methods"]["rs"]["hv_curves"]):
        study = Study.create(None, SPACE, TabularEvaluator(table, "acc"), strategy="rs", seed=seed,
                             objectives=OBJECTIVES, computed=costs).optimize(25, progress=False)
        found = np.array([[t.metrics["acc"], -t.metrics["flops"]] for t in study.finished_trials()])
        found = (found - low) / (high - low)
        expected = [_hypervolume_2d(found[: t + 1], reference) / true_volume for t in range(25)]
        assert curve == pytest.approx(expected, rel=1e-9, abs=1e-12)
        assert expected[0] < expected[-1] < 1.0  # the curve rises and stays below the true front's


def test_pareto_benchmark_is_seeded(results, table, costs) -> None:
    again = run_pareto_benchmark(table, OBJECTIVES, ["rs"], seeds=2, budget=25, costs=costs, progress=False)
    assert again["methods"]["rs"]["hv_curves"] == results["methods"]["rs"]["hv_curves"]
    rs = results["methods"]["rs"]["hv_curves"]
    assert rs[0] != rs[1]  # different seeds search differently


def test_format_pareto_table(results) -> None:
    text = format_pareto_table(results)
    assert "acc:max, flops:min" in text and "budget 25" in text
    for name, record in results["methods"].items():
        (line,) = [line for line in text.splitlines() if line.startswith(name + " ")]
        assert f"{min(record['hv_ratio']):.5f}" in line and f"{max(record['hv_ratio']):.5f}" in line


def test_pareto_benchmark_needs_a_measured_objective(table, costs) -> None:
    with pytest.raises(ValueError, match="measured"):
        run_pareto_benchmark(table, parse_objectives("flops:min,params:min"), ["rs"], seeds=1, budget=3,
                             costs=costs, progress=False)
    with pytest.raises(ValueError, match="two or more"):
        run_pareto_benchmark(table, parse_objectives("acc"), ["rs"], seeds=1, budget=3, costs=costs, progress=False)
    with pytest.raises(ValueError, match="first objective must be a table column"):
        run_pareto_benchmark(table, parse_objectives("flops:min,acc:max"), ["rs"], seeds=1, budget=3, costs=costs,
                             progress=False)


def test_pareto_benchmark_bo_mesmo(table, costs) -> None:
    results = run_pareto_benchmark(table, OBJECTIVES, ["bo-mesmo"], seeds=1, budget=14, costs=costs, progress=False)
    record = results["methods"]["bo-mesmo"]
    _check_method(record, seeds=1, budget=14)  # a smoke test: the numbers are checked above, on rs
    json.dumps(results)


def test_pareto_benchmark_workers_match_serial(results, table, costs) -> None:
    parallel = run_pareto_benchmark(table, OBJECTIVES, ["rs", "nsga2"], seeds=2, budget=25, costs=costs,
                                    progress=False, workers=2)
    for name in ("rs", "nsga2"):
        assert parallel["methods"][name]["hv_curves"] == results["methods"][name]["hv_curves"]


def test_pareto_benchmark_workers_need_a_file(table, costs) -> None:
    archs = table.archs[:50]
    in_memory = TabularBenchmark(SPACE, archs, {"acc": np.array([table.value(a, "acc") for a in archs])})
    with pytest.raises(ValueError, match="loaded from a file"):
        run_pareto_benchmark(in_memory, OBJECTIVES, ["rs"], seeds=1, budget=3, costs=costs, progress=False, workers=2)


def test_pareto_benchmark_states_its_bounds_in_natural_units(results, table, costs) -> None:
    """Added fields (the existing ones are contracts, checked above): the reference point and the
    objectives' bounds in natural units, and a summary of each method's hypervolume ratios."""
    flops = costs.values(table.archs, "flops")
    acc = table.column("acc")
    bounds = results["objective_bounds"]
    assert bounds["acc"] == {"worst": acc.min(), "best": acc.max(), "unit": "%", "scale": 1.0}
    assert bounds["flops"] == {"worst": flops.max(), "best": flops.min(), "unit": "MFLOPs", "scale": 1e-6}
    natural = results["reference_point_natural"]
    # -0.01 in the normalised objectives: 1% of the range beyond the worst value, shown in % and MFLOPs.
    assert natural["acc"] == {"value": pytest.approx(acc.min() - 0.01 * (acc.max() - acc.min())), "unit": "%"}
    assert natural["flops"]["unit"] == "MFLOPs"
    assert natural["flops"]["value"] == pytest.approx(1e-6 * (flops.max() + 0.01 * (flops.max() - flops.min())))
    for record in results["methods"].values():
        summary = record["hypervolume_ratio"]
        assert summary["min"] == min(record["hv_ratio"]) and summary["max"] == max(record["hv_ratio"])
        assert summary["min"] <= summary["p10"] <= summary["median"] <= summary["max"] <= 1.0
    text = format_pareto_table(results)
    assert "reference point 1% of the range beyond the low end" in text and "MFLOPs" in text
    # Results written before these fields existed still print.
    old = {k: v for k, v in results.items() if k not in ("reference_point_natural", "objective_bounds")}
    assert "reference point" not in format_pareto_table(old)


@pytest.fixture(scope="module")
def small_table(table) -> TabularBenchmark:
    """300 cells of the synthetic table, the cheap value of the first 20 not measured."""
    rows = np.random.default_rng(0).choice(len(table), size=300, replace=False)
    archs = [table.archs[i] for i in sorted(rows)]
    cheap = np.array([table.value(a, "acc_cheap") for a in archs])
    cheap[:20] = np.nan
    return TabularBenchmark(SPACE, archs, {"acc": np.array([table.value(a, "acc") for a in archs]), "acc_cheap": cheap},
                            source=str(table.source))


def test_front_normalisation_scales_between_the_true_fronts_nadir_and_ideal(small_table, costs) -> None:
    results = run_pareto_benchmark(small_table, OBJECTIVES, ["rs"], seeds=2, budget=30, costs=costs, progress=False,
                                   normalisation="front")
    signed = objective_matrix(small_table, OBJECTIVES, costs)
    front = signed[pareto_mask(signed).numpy()]
    low, high = front.min(axis=0), front.max(axis=0)
    true_volume = _hypervolume_2d((front - low) / (high - low), (-0.01, -0.01))
    assert results["true_hypervolume"] == pytest.approx(true_volume, rel=1e-12)
    assert results["normalisation_name"] == "front" and "nadir" in results["normalisation"]
    for seed, (curve, share) in enumerate(zip(results["methods"]["rs"]["hv_curves"],
                                              results["methods"]["rs"]["front_share"])):
        study = Study.create(None, SPACE, TabularEvaluator(small_table, "acc"), strategy="rs", seed=seed,
                             objectives=OBJECTIVES, computed=costs).optimize(30, progress=False)
        found = np.array([[t.metrics["acc"], -t.metrics["flops"]] for t in study.finished_trials()])
        expected = [_hypervolume_2d((found[: t + 1] - low) / (high - low), (-0.01, -0.01)) / true_volume
                    for t in range(30)]
        assert curve == pytest.approx(expected, rel=1e-9, abs=1e-12)
        front_keys = {small_table.archs[i].key for i in np.flatnonzero(pareto_mask(signed).numpy())}
        assert share == len(front_keys & {t.arch.key for t in study.finished_trials()}) / len(front_keys)
    # Scaled over the front, a cell beyond the nadir adds nothing: the table scale credits it.
    by_table = run_pareto_benchmark(small_table, OBJECTIVES, ["rs"], seeds=2, budget=30, costs=costs, progress=False)
    assert by_table["methods"]["rs"]["hv_ratio"] != results["methods"]["rs"]["hv_ratio"]


def test_cheap_budget_counts_cost_and_ratios_are_reported_against_cost(small_table, costs) -> None:
    results = run_pareto_benchmark(small_table, OBJECTIVES, ["rs"], seeds=2, budget=12.0, costs=costs,
                                   progress=False, cheap="acc_cheap", cheap_cost=0.1, cheap_setup_cost=3.0,
                                   cost_points=12)
    assert results["budget_unit"] == "cost" and results["candidates"] == 280
    record = results["methods"]["rs"]
    assert record["setup_cost"] == 0.0  # rs never evaluates the cheap column, so never pays for it
    assert [len(curve) for curve in record["cost_curves"]] == [12, 12]
    assert results["cost_grid"] == pytest.approx(list(range(13)))
    median_final = float(np.median([curve[-1] for curve in record["hv_curves"]]))
    assert record["hv_at_cost"][0] == 0.0 and record["hv_at_cost"][-1] == pytest.approx(median_final)
    assert record["hv_at_cost"] == sorted(record["hv_at_cost"])
    assert "cheap acc_cheap at cost 0.1 + 3 setup" in format_pareto_table(results)


def test_ratio_at_costs_and_a_table_column_that_disagrees_with_the_computed_one(small_table, costs) -> None:
    from infonas.bench.pareto import check_computed_columns, ratio_at_costs
    from infonas.exceptions import InvalidArgumentError

    assert ratio_at_costs([0.2, 0.4], [1.0, 2.0], [0.5, 1.0, 1.99, 2.0, 9.0]) == [0.0, 0.2, 0.2, 0.4, 0.4]
    flops = costs.values(small_table.archs, "flops")
    agreeing = TabularBenchmark(SPACE, small_table.archs, {**small_table.metrics, "flops": flops})
    check_computed_columns(agreeing, OBJECTIVES, costs)
    wrong = TabularBenchmark(SPACE, small_table.archs, {**small_table.metrics, "flops": flops * 2})
    with pytest.raises(InvalidArgumentError, match="differs from the flops computed for the network"):
        check_computed_columns(wrong, OBJECTIVES, costs)
