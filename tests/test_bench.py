import json
import statistics

import pytest

from infonas.bench.search import format_search_table, run_one_search, run_search_benchmark
from infonas.evaluators.tabular import TabularBenchmark


def test_search_benchmark_json_shape(tiny_table_file, space):
    table = TabularBenchmark.from_csv(tiny_table_file, space)
    results = run_search_benchmark(table, "acc", ["rs", "ls"], seeds=2, budget=60, progress=False)
    assert results["optimum"] == table.column("acc").max()
    for record in results["methods"].values():
        assert len(record["queries_to_optimum"]) == len(record["final_regret"]) == 2
        for curve, final in zip(record["regret_curves"], record["final_regret"]):
            assert len(curve) == 60 and curve[-1] == final
            known = [r for r in curve if r is not None]
            assert known == sorted(known, reverse=True)  # regret never increases
    assert isinstance(results["methods"]["rs"]["seconds_per_suggestion"], float)
    json.dumps(results)
    assert "rs" in format_search_table(results)


def test_a_seed_stops_at_the_optimum(synthetic_table_file, space):
    table = TabularBenchmark.from_csv(synthetic_table_file, space)
    run = run_one_search(table, "acc", "ls", seed=0, budget=100)
    hit = run["queries_to_optimum"]
    assert hit is not None and len(run["cost_curve"]) == run["target_evaluations"] == hit  # nothing after it
    assert run["regret_curve"][hit - 1:] == [0.0] * (100 - hit + 1) and run["cost_to_optimum"] == hit
    assert len(run["seconds"]) == hit and all(s >= 0 for s in run["seconds"])


def test_cheap_fidelity_budget_counts_cost(tiny_table_file, space):
    table = TabularBenchmark.from_csv(tiny_table_file, space)
    results = run_search_benchmark(table, "acc", ["rs"], seeds=2, budget=5.0, progress=False, cheap="acc_cheap",
                                   cheap_cost=0.1)
    assert results["budget_unit"] == "cost"
    record = results["methods"]["rs"]
    for curve, regret in zip(record["cost_curves"], record["regret_curves"]):
        assert len(curve) == len(regret) and curve == sorted(curve)
        # The loop stops once the cost is spent, or at the optimum before that.
        assert curve[-1] >= 5.0 - 1e-9 or regret[-1] == 0.0
        assert curve[-2] < 5.0
    with pytest.raises(ValueError, match="positive cheap_cost"):
        run_search_benchmark(table, "acc", ["rs"], seeds=1, budget=5.0, progress=False, cheap="acc_cheap")


def test_search_workers_match_serial(tiny_table_file, space):
    table = TabularBenchmark.from_csv(tiny_table_file, space)
    serial = run_search_benchmark(table, "acc", ["rea"], seeds=2, budget=20, progress=False)
    parallel = run_search_benchmark(table, "acc", ["rea"], seeds=2, budget=20, progress=False, workers=2)
    assert parallel["methods"]["rea"]["regret_curves"] == serial["methods"]["rea"]["regret_curves"]


@pytest.mark.table
def test_local_search_finds_nb201_optimum(nb201_table):
    results = run_search_benchmark(nb201_table, "cifar10_test_200ep", ["ls", "rs"], seeds=5, budget=150,
                                   progress=False)
    ls = results["methods"]["ls"]["queries_to_optimum"]
    assert all(q is not None and q <= 150 for q in ls)
    assert results["optimum"] == pytest.approx(94.3733)
    rs = results["methods"]["rs"]["final_regret"]
    assert statistics.median(rs) > 0
