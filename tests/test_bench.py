import json
import re

import numpy as np
import pytest

import infonas.bench.search as bench_search
from infonas.bench.methods import MethodSpec, parse_method, parse_methods, parse_value
from infonas.bench.search import format_search_table, run_one_search, run_search_benchmark
from infonas.evaluators.tabular import TabularBenchmark, TabularEvaluator
from infonas.exceptions import InvalidArgumentError
from infonas.study import Study


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


def test_regret_curves_match_a_replay(synthetic_table_file, space):
    """Each regret curve is the optimum minus the best accuracy so far, recomputed from a replay of
    the same method and seed (a seed that reaches the optimum stops there, padded with zeros)."""
    table = TabularBenchmark.from_csv(synthetic_table_file, space)
    optimum = float(table.column("acc").max())
    results = run_search_benchmark(table, "acc", ["rs", "ls"], seeds=2, budget=40, progress=False)
    for method, record in results["methods"].items():
        for seed, curve in enumerate(record["regret_curves"]):
            study = Study.create(None, table.space, TabularEvaluator(table, "acc"), "acc", strategy=method, seed=seed)
            best, expected = float("-inf"), []
            for trial in study.optimize(40, progress=False).finished_trials():
                best = max(best, trial.metrics["acc"])
                expected.append(optimum - best)
            assert curve == pytest.approx(expected, abs=1e-12)
            assert record["final_regret"][seed] == curve[-1]
            assert curve[-1] < curve[0]  # the searches improve: these curves are not flat


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


def test_setup_cost_is_charged_up_front_to_multi_fidelity_methods_only(tiny_table_file, space):
    table = TabularBenchmark.from_csv(tiny_table_file, space)
    results = run_search_benchmark(table, "acc", ["rs", "bo-mf[n_init=4;n_init_target=1]"], seeds=1, budget=6.0,
                                   progress=False, cheap="acc_cheap", cheap_cost=0.1, cheap_setup_cost=2.5,
                                   stop_at_optimum=False)
    assert results["cheap_setup_cost"] == 2.5
    rs, mf = results["methods"]["rs"], results["methods"]["bo-mf[n_init=4;n_init_target=1]"]
    assert rs["setup_cost"] == 0.0 and rs["cost_curves"][0][0] == 1.0  # rs never uses the cheap column
    assert mf["setup_cost"] == 2.5
    curve = mf["cost_curves"][0]
    assert curve[0] == pytest.approx(2.6) and curve[-2] < 6.0 <= curve[-1] + 1e-9
    with pytest.raises(ValueError, match="leaves nothing of the budget"):
        run_search_benchmark(table, "acc", ["bo-mf"], seeds=1, budget=2.0, progress=False, cheap="acc_cheap",
                             cheap_cost=0.1, cheap_setup_cost=2.5)
    with pytest.raises(ValueError, match="give cheap and cheap_cost too"):
        run_search_benchmark(table, "acc", ["rs"], seeds=1, budget=2.0, progress=False, cheap_setup_cost=2.5)


def test_rows_without_the_objective_or_cheap_value_are_not_searched(tmp_path, tiny_table_file, space):
    lines = tiny_table_file.read_text().splitlines()
    # Blank the objective of the best row and the cheap value of another: neither may be proposed.
    table = TabularBenchmark.from_csv(tiny_table_file, space)
    best_row = int(np.argmax(table.column("acc"))) + 1
    header, rows = lines[0], lines[1:]
    fields = rows[best_row - 1].split(",")
    fields[2] = ""
    rows[best_row - 1] = ",".join(fields)
    other = 0 if best_row != 1 else 1
    fields = rows[other].split(",")
    fields[1] = ""
    rows[other] = ",".join(fields)
    path = tmp_path / "holes.csv"
    path.write_text("\n".join([header] + rows) + "\n")
    holes = TabularBenchmark.from_csv(path, space)
    results = run_search_benchmark(holes, "acc", ["rs"], seeds=1, budget=100.0, progress=False, cheap="acc_cheap",
                                   cheap_cost=0.1, stop_at_optimum=False)
    assert results["candidates"] == 58
    assert results["optimum"] == np.nanmax(np.delete(table.column("acc"), [best_row - 1, other]))
    # rs evaluates each canonical class of the 58 searchable rows once (isomorphic rows share one).
    searchable = holes.measured("acc", "acc_cheap").archs
    assert results["methods"]["rs"]["target_evaluations"] == [len({arch.key for arch in searchable})]


def test_search_workers_match_serial(tiny_table_file, space):
    table = TabularBenchmark.from_csv(tiny_table_file, space)
    methods = ["rea", "rea[population_size=4]"]  # a spec's options reach the worker processes too
    serial = run_search_benchmark(table, "acc", methods, seeds=2, budget=20, progress=False)
    parallel = run_search_benchmark(table, "acc", methods, seeds=2, budget=20, progress=False, workers=2)
    for method in methods:
        assert parallel["methods"][method]["regret_curves"] == serial["methods"][method]["regret_curves"]
    assert serial["methods"]["rea"]["regret_curves"] != serial["methods"]["rea[population_size=4]"]["regret_curves"]


@pytest.mark.table
def test_local_search_finds_nb201_optimum(nb201_table):
    results = run_search_benchmark(nb201_table, "cifar10_test_200ep", ["ls", "rs"], seeds=5, budget=150,
                                   progress=False)
    # Local search reaches the optimum on every seed (seen: after 28-74 queries on seeds 0-9);
    # random search, which needs thousands of queries on average, on none.
    assert all(q is not None for q in results["methods"]["ls"]["queries_to_optimum"])
    assert results["optimum"] == pytest.approx(94.3733)
    assert results["methods"]["rs"]["queries_to_optimum"] == [None] * 5
    assert min(results["methods"]["rs"]["final_regret"]) > 0


# ----- method specs: a strategy with constructor options, keyed by its text -----


def test_method_specs_are_parsed_to_a_strategy_options_and_a_canonical_label():
    spec = parse_method(" gp-onehot[ warp = copula ; maxiter=50 ; n_init=5.5 ; flag=TRUE ; s=x1 ]")
    assert spec.strategy == "gp-onehot"
    assert spec.options == {"warp": "copula", "maxiter": 50, "n_init": 5.5, "flag": True, "s": "x1"}
    assert [type(v) for v in spec.options.values()] == [str, int, float, bool, str]
    assert spec.label == "gp-onehot[warp=copula;maxiter=50;n_init=5.5;flag=TRUE;s=x1]"
    assert parse_method("bo-ei") == MethodSpec("bo-ei", "bo-ei", {})
    assert [s.label for s in parse_methods("bo-ei, bo-ei[warp=none],gp-onehot[warp=copula]")] == [
        "bo-ei", "bo-ei[warp=none]", "gp-onehot[warp=copula]"]
    assert parse_value("false") is False and parse_value("-3") == -3 and parse_value("nan") == "nan"


@pytest.mark.parametrize("text, says", [
    ("magic", "unknown method 'magic'"),
    ("magic[warp=none]", "unknown method 'magic' in 'magic[warp=none]'"),
    ("bo-ei[warp=none", "must be written NAME or NAME[KEY=VALUE;KEY=VALUE]"),
    ("bo-ei]", "must be written"),
    ("bo ei", "must be written"),
    ("bo-ei[]", "must be KEY=VALUE"),
    ("bo-ei[warp]", "got 'warp'"),
    ("bo-ei[=none]", "must be KEY=VALUE"),
    ("bo-ei[warp=]", "must be KEY=VALUE"),
    ("bo-ei[1x=2]", "KEY an identifier"),
    ("bo-ei[warp=none,maxiter=5]", "options separated by ';'"),
    ("bo-ei[warp=none;warp=copula]", "option 'warp' is given twice"),
    ("bo-ei[warp=none],bo-ei[ warp=none ]", "listed twice"),
    ("rea[population_size=5;sample_size=2],rea[sample_size=2;population_size=5]", "listed twice"),
    (" , ", "give at least one method"),
])
def test_malformed_method_specs_are_refused(text, says):
    with pytest.raises(InvalidArgumentError, match=re.escape(says)):
        parse_methods(text)


def test_options_reach_the_strategy_and_results_are_keyed_by_the_spec(tiny_table_file, space, monkeypatch):
    from infonas.strategies.bayesian import WARPS, copula_warp

    table = TabularBenchmark.from_csv(tiny_table_file, space)
    built = {}
    create = Study.create

    def spy(*args, strategy_options=None, **kwargs):
        study = create(*args, strategy_options=strategy_options, **kwargs)
        built[(kwargs["strategy"], str(strategy_options))] = study.strategy
        return study

    monkeypatch.setattr(bench_search.Study, "create", spy)
    methods = ["gp-onehot", "gp-onehot[warp=copula;maxiter=7]", "rea[population_size=4]"]
    results = run_search_benchmark(table, "acc", methods, seeds=1, budget=6, progress=False)
    plain = built[("gp-onehot", "None")]
    varied = built[("gp-onehot", str({"warp": "copula", "maxiter": 7}))]
    assert plain.warp is WARPS["none"] and plain.maxiter == 25 and plain.kernel == "onehot-rbf"
    assert varied.warp is copula_warp and varied.maxiter == 7 and varied.kernel == "onehot-rbf"
    assert built[("rea", str({"population_size": 4}))].population_size == 4
    assert list(results["methods"]) == methods
    assert results["methods"]["gp-onehot[warp=copula;maxiter=7]"]["strategy"] == "gp-onehot"
    assert results["methods"]["gp-onehot[warp=copula;maxiter=7]"]["options"] == {"warp": "copula", "maxiter": 7}
    assert results["methods"]["gp-onehot"]["options"] == {}
    json.dumps(results)
    table_text = format_search_table(results)
    rows = table_text.splitlines()[2:]
    assert [row.split()[0] for row in rows] == methods
    assert len({row.index("/") for row in rows}) == 1  # the columns stay aligned after a long label


def test_an_option_equal_to_the_default_changes_nothing(tiny_table_file, space):
    table = TabularBenchmark.from_csv(tiny_table_file, space)
    results = run_search_benchmark(table, "acc", ["bo-ei", "bo-ei[warp=copula]", "bo-ei[warp=none]"], seeds=2,
                                   budget=12, progress=False, stop_at_optimum=False)
    curves = {name: record["regret_curves"] for name, record in results["methods"].items()}
    assert curves["bo-ei[warp=copula]"] == curves["bo-ei"]
    # The strategy really got the option: an unwarped GP proposes other cells on this table.
    assert curves["bo-ei[warp=none]"] != curves["bo-ei"]


@pytest.mark.parametrize("spec, says", [
    ("bo-ei[warp=foo]", "unknown warp 'foo'"),
    ("bo-ei[foo=1]", "unexpected keyword argument 'foo'"),
    ("rea[population_size=x]", "RegularizedEvolution takes (max_mutation_tries, population_size, sample_size)"),
    ("ls[depth=2]", "takes (it takes none)"),
    ("rs[seed=3]", "'seed'"),
])
def test_an_option_the_strategy_rejects_fails_before_any_job(tiny_table_file, space, monkeypatch, spec, says):
    table = TabularBenchmark.from_csv(tiny_table_file, space)
    monkeypatch.setattr(bench_search, "run_one_search", lambda *a, **k: pytest.fail("a job ran"))
    with pytest.raises(InvalidArgumentError, match=re.escape(says)) as caught:
        run_search_benchmark(table, "acc", ["rs", spec], seeds=1, budget=5, progress=False)
    assert f"method {spec!r}" in str(caught.value) and "rejects the options" in str(caught.value)


def test_the_cli_takes_method_specs(tmp_path, tiny_table_file):
    from click.testing import CliRunner

    from infonas.cli import main

    def invoke(*args):
        return CliRunner().invoke(main, ["bench", "search", "--table", str(tiny_table_file), "--objective", "acc",
                                         "--seeds", "1", "--budget", "6", "--quiet", *map(str, args)])

    out = tmp_path / "specs.json"
    result = invoke("--methods", "rs, rea[ population_size = 4 ]", "--out", out)
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert list(payload["methods"]) == ["rs", "rea[population_size=4]"]
    assert "--methods 'rs,rea[population_size=4]'" in payload["meta"]["command"]  # quoted for the shell
    for methods, code, says in [("rs,bo-ei[warp=none", 2, "Invalid value for '--methods': a method must be"),
                                ("rs,magic", 2, "unknown method 'magic'"),
                                ("rea[population_size=x]", 1, "rejects the options")]:
        result = invoke("--methods", methods, "--out", tmp_path / "bad.json")
        errors = [line for line in result.output.splitlines() if line.startswith("Error")]
        assert result.exit_code == code and len(errors) == 1 and says in errors[0], result.output
        assert not (tmp_path / "bad.json").exists()


def test_unit_seconds_charge_the_suggestion_time(tiny_table_file, space):
    table = TabularBenchmark.from_csv(tiny_table_file, space)
    results = run_search_benchmark(table, "acc", ["bo-mf[n_init=4;n_init_target=1]"], seeds=2, budget=8.0,
                                   progress=False, cheap="acc_cheap", cheap_cost=0.1, unit_seconds=0.5)
    record = results["methods"]["bo-mf[n_init=4;n_init_target=1]"]
    for seed, (charged, share) in enumerate(zip(record["charged_cost_to_optimum"], record["suggest_share"])):
        seconds, hit = record["suggest_seconds"][seed], record["queries_to_optimum"][seed]
        if hit is not None:
            assert charged == pytest.approx(record["cost_to_optimum"][seed] + sum(seconds[:hit]) / 0.5)
        spent = record["cost_curves"][seed][-1]
        assert share == pytest.approx(sum(seconds) / (sum(seconds) + 0.5 * spent))
        assert 0 < share < 1
    assert "with suggestion time charged at 0.5 s" in format_search_table(results)
    with pytest.raises(ValueError, match="unit_seconds must be positive"):
        run_search_benchmark(table, "acc", ["rs"], seeds=1, budget=5, progress=False, unit_seconds=0.0)
