import json
import statistics

import pytest

from infonas.bench.search import format_search_table, run_search_benchmark
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


@pytest.mark.table
def test_local_search_finds_nb201_optimum(nb201_table):
    results = run_search_benchmark(nb201_table, "cifar10_test_200ep", ["ls", "rs"], seeds=5, budget=150,
                                   progress=False)
    ls = results["methods"]["ls"]["queries_to_optimum"]
    assert all(q is not None and q <= 150 for q in ls)
    assert results["optimum"] == pytest.approx(94.3733)
    rs = results["methods"]["rs"]["final_regret"]
    assert statistics.median(rs) > 0
