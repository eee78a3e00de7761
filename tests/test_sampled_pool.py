"""Sampled candidate pools: acquisition optimisation by local search within a budget of scored
candidates, for every Bayesian strategy (``pool="sampled"``), and the ``pool`` option itself."""

from __future__ import annotations

import json

import numpy as np
import pytest

from infonas.acquisition import candidates
from infonas.acquisition.candidates import candidate_pool, front_gain, pool_mode
from infonas.evaluators.base import EvaluationResult, Fidelity
from infonas.evaluators.tabular import TabularBenchmark, TabularEvaluator
from infonas.exceptions import InvalidArgumentError
from infonas.objectives import parse_objectives
from infonas.strategies import bayesian, cost_aware, make_strategy, mf_pareto, multi_objective
from infonas.study import Study
from infonas.testing.fakes import FakeEvaluator
from infonas.trials import Trial
from search_spaces import NB201Space
from search_spaces.macro import MacroSpace
from search_spaces.nb201.cost_tables import ArchitectureCosts
from search_spaces.nb201.network import NetworkConfig

SPACE = NB201Space()
BUDGET = 120
#: Small fits: these tests are about pools, not models.
FAST = {"maxiter": 5, "h_values": [1], "pool": "sampled", "pool_budget": BUDGET}
FIDELITIES = [Fidelity("acc_cheap", 0.1, 0), Fidelity("acc", 1.0, 1)]
OBJECTIVES = parse_objectives("acc:max,flops:min")
FAKE = FakeEvaluator(SPACE, seed=5)


def convs(batch):
    return [sum(op == "nor_conv_3x3" for op in arch.ops) for arch in batch]


@pytest.fixture(scope="module")
def costs():
    """Exact-form cost tables with made-up per-edge increments: no network is built."""
    increments = {"none": 0, "skip_connect": 0, "avg_pool_3x3": 1_000, "nor_conv_1x1": 20_000, "nor_conv_3x3": 70_000}
    return ArchitectureCosts(SPACE, NetworkConfig.for_dataset("cifar10"), 8_000, increments, 70_000,
                             {op: value // 10 for op, value in increments.items()})


# ----- the pool itself -----


def test_a_sampled_pool_scores_at_most_its_budget_and_refines_towards_the_best():
    scored: list[int] = []
    best = SPACE.make(["nor_conv_3x3"] * 6)
    sampler = np.random.default_rng(0)
    excluded = {SPACE.sample(sampler).key for _ in range(3000)} - {best.key}

    def spy(batch):
        scored.append(len(batch))
        return convs(batch)

    rng = np.random.default_rng(1)
    state = rng.bit_generator.state
    incumbent = SPACE.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|")
    pool = candidate_pool(SPACE, excluded, rng, [incumbent], pool="sampled", score=spy, budget=400)
    keys = [arch.key for arch in pool]
    assert sum(scored) == len(pool) == 400 and len(scored) > 2  # the initial set, then refinement rounds
    assert len(set(keys)) == len(keys) and not excluded & set(keys)
    assert {n.key for n in SPACE.neighbours(incumbent)} - excluded <= set(keys)  # local moves of the incumbent
    # The refinement climbs: the best-scored cells come late, from neighbours of the best.
    first, refined = convs(pool[:200]), convs(pool[200:])
    assert max(first) < 6 == max(refined) and np.mean(refined) > np.mean(first) + 1
    # Drawn from a stream of its own: the caller's generator is left as it was (as an enumeration leaves it).
    assert rng.bit_generator.state == state
    candidate_pool(SPACE, excluded, rng, [incumbent])
    assert rng.bit_generator.state == state
    again = candidate_pool(SPACE, excluded, np.random.default_rng(1), [incumbent], pool="sampled", score=convs,
                           budget=400)
    assert [a.key for a in again] == keys


def test_a_sampled_pool_offers_each_class_as_the_enumerated_pools_twin():
    rng = np.random.default_rng(2)
    enumerated = {arch.key: arch for arch in candidate_pool(SPACE, set(), rng)}
    pool = candidate_pool(SPACE, set(), rng, [SPACE.sample(rng)], pool="sampled", score=convs, budget=500)
    assert len(pool) == 500 and all(enumerated[arch.key] == arch for arch in pool)
    # Raw draws are often other twins: the pool would differ without the representatives.
    draws = [SPACE.sample(rng) for _ in range(200)]
    assert any(enumerated[arch.key] != arch for arch in draws)


def test_a_small_space_stops_when_nothing_is_left_to_score():
    from search_spaces.subset import SubsetSpace

    rng = np.random.default_rng(0)
    subset = SubsetSpace(SPACE, [SPACE.sample(rng) for _ in range(80)])
    keys = {arch.key for arch in subset.members}
    seen = set(sorted(keys)[:5])
    pool = candidate_pool(subset, seen, rng, [subset.members[0]], pool="sampled", score=convs, budget=10_000)
    assert len(pool) == len({a.key for a in pool}) == len(keys - seen)


def test_the_pool_option_is_checked():
    assert pool_mode(SPACE) == "enumerate" and pool_mode(MacroSpace()) == "sampled"
    with pytest.raises(InvalidArgumentError, match="one of \\['enumerate', 'sampled'\\], got pool='all'"):
        pool_mode(SPACE, "all")
    with pytest.raises(InvalidArgumentError, match="pool_budget .* got 0: use e.g. 2000"):
        make_strategy("bo-ei", SPACE, "acc", pool_budget=0)


def test_enumerating_the_macro_space_is_refused_with_one_clear_error():
    evaluator = FakeEvaluator(MacroSpace(), seed=3)
    with pytest.raises(InvalidArgumentError) as caught:
        Study.create(None, MacroSpace(), evaluator, "acc", strategy="bo-ei", strategy_options={"pool": "enumerate"})
    message = str(caught.value)
    assert "pool='enumerate'" in message and "100,000" in message and f"{MacroSpace().size:,}" in message
    assert "use pool='sampled'" in message  # fix


def test_front_gain_ranks_vectors_beyond_the_front_first():
    import torch

    observed = torch.tensor([[0.0, -10.0], [1.0, -30.0], [-1.0, -40.0]], dtype=torch.float64)
    gains = front_gain(torch.tensor([[2.0, -5.0], [0.5, -20.0], [0.0, -35.0]], dtype=torch.float64), observed)
    assert gains[0] > gains[1] > 0 > gains[2]


# ----- every Bayesian strategy on NB201 -----


def make(name: str, costs, **options):
    context = {"fidelities": FIDELITIES} if name in ("bo-mf", "bo-mf-pareto") else {}
    if name in ("bo-ehvi", "bo-mf-pareto"):
        context.update(objectives=OBJECTIVES, computed=costs)
    return make_strategy(name, SPACE, "acc", seed=0, **context, **{**FAST, **options})


def finished(number: int, arch, fidelity: str = "acc", value: float | None = None) -> Trial:
    value = FAKE.value(arch) - (5.0 if fidelity == "acc_cheap" else 0.0) if value is None else value
    return Trial(number, arch, fidelity).finished(EvaluationResult({"acc": value}, 0.1 if fidelity == "acc_cheap" else 1))


MODULES = {"bo-ei": bayesian, "bo-mf": cost_aware, "bo-ehvi": multi_objective, "bo-mf-pareto": mf_pareto}


@pytest.fixture
def spied(monkeypatch):
    """Each pool a strategy builds: its exclusions, incumbents, the candidates its guide scored, and the pool."""
    calls: list[dict] = []
    real = candidates.candidate_pool

    def recorded(space, exclude, rng, incumbents=(), *, score=None, **options):
        call = {"exclude": set(exclude), "incumbents": list(incumbents), "scored": 0}

        def counted(batch):
            call["scored"] += len(batch)
            return score(batch)

        call["pool"] = real(space, exclude, rng, incumbents, score=counted, **options)
        calls.append(call)
        return call["pool"]

    for module in MODULES.values():
        monkeypatch.setattr(module, "candidate_pool", recorded)
    return calls


@pytest.mark.parametrize("name", list(MODULES))
def test_sampled_pools_never_propose_evaluated_or_pending_keys(name, costs, spied):
    strategy = make(name, costs, n_init=4, **({"n_init_target": 2, "cheap_batch": 1} if "mf" in name else {}))
    rng = np.random.default_rng(0)
    cells = [SPACE.sample(rng) for _ in range(9)]
    trials = [finished(i, arch, "acc_cheap") for i, arch in enumerate(cells[:4])] if "mf" in name else []
    trials += [finished(len(trials) + i, arch) for i, arch in enumerate(cells[4:])]
    strategy.observe(trials)
    number, pending_keys = len(trials), []
    for _ in range(3):
        pending = SPACE.sample(np.random.default_rng(number))
        pending_keys.append(pending.key)
        suggestions = strategy.suggest([number, number + 1], pending=[pending])
        at_target = {t.arch.key for t in strategy.trials if t.fidelity == "acc"}
        for suggestion in suggestions:
            assert suggestion.arch.key != pending.key
            if suggestion.fidelity in (None, "acc"):
                assert suggestion.arch.key not in at_target
        assert suggestions[0].arch.key != suggestions[1].arch.key
        strategy.observe([finished(number + i, s.arch, s.fidelity or "acc") for i, s in enumerate(suggestions)])
        number += 2
    assert len(spied) >= 3
    for call in spied:
        keys = {arch.key for arch in call["pool"]}
        assert call["scored"] == len(call["pool"]) <= BUDGET and len(keys) == len(call["pool"])
        assert not keys & call["exclude"]
    # Evaluated (at the target) and pending keys are excluded from the pools themselves.
    assert all(any(key in call["exclude"] for call in spied) for key in pending_keys)
    assert {t.arch.key for t in trials if t.fidelity == "acc"} <= spied[0]["exclude"]


@pytest.mark.parametrize("name", list(MODULES))
def test_incumbents_are_the_best_target_results_not_the_latest(name, costs, spied):
    strategy = make(name, costs, n_init=4, **({"n_init_target": 1, "cheap_batch": 1, "cheap_random_share": 0.0}
                                                if "mf" in name else {}))
    rng = np.random.default_rng(3)
    cells = list({arch.key: arch for arch in (SPACE.sample(rng) for _ in range(20))}.values())[:12]
    flops = np.array([costs.value(arch, "flops") for arch in cells])
    cheapest, dearest = cells[int(flops.argmin())], cells[int(flops.argmax())]
    others = [arch for arch in cells if arch not in (cheapest, dearest)][:7]
    # Target results: the best (and cheapest) first, the worst (and dearest) last; a cheap look that
    # beats them all is no incumbent.
    trials = [finished(0, cheapest, value=95.0)]
    trials += [finished(1 + i, arch, value=60.0 + i) for i, arch in enumerate(others)]
    trials.append(finished(len(trials), dearest, value=10.0))
    if "mf" in name:
        cheap_star = next(arch for arch in cells if arch not in trials_archs(trials))
        trials += [finished(len(trials) + i, arch, "acc_cheap", value=99.0) for i, arch in
                   enumerate([cheap_star, *others[:3]])]
    strategy.observe(trials)
    strategy.suggest([len(trials)])
    incumbents = [arch.key for arch in spied[-1]["incumbents"]]
    assert incumbents[0] == cheapest.key and dearest.key not in incumbents
    if "mf" in name:
        assert cheap_star.key not in incumbents
    if name == "bo-ei" or name == "bo-mf":
        assert len(incumbents) == 5  # the five best target results
    else:
        assert incumbents == [cheapest.key]  # the front: the best is the cheapest too


def trials_archs(trials):
    return [t.arch for t in trials]


def test_a_bayesian_study_with_a_sampled_pool_is_seeded_and_reproducible(costs):
    table = TabularBenchmark(SPACE, list(SPACE.enumerate())[:3000:7],
                             {"acc": np.array([FAKE.value(a) for a in list(SPACE.enumerate())[:3000:7]])})

    def run():
        study = Study.create(None, table.space, TabularEvaluator(table, "acc"), "acc", strategy="bo-ei", seed=4,
                             strategy_options={**FAST, "n_init": 4})
        return [t.arch.key for t in study.optimize(7).finished_trials()]

    first = run()
    assert run() == first and len(set(first)) == 7


# ----- bench search --pool -----


def test_bench_search_pool_option_reaches_every_bayesian_method(tmp_path, tiny_table_file):
    from click.testing import CliRunner

    from infonas.cli import main

    out = tmp_path / "pool.json"
    result = CliRunner().invoke(main, ["bench", "search", "--table", str(tiny_table_file), "--objective", "acc",
                                       "--methods", "rs,bo-ei[n_init=4;maxiter=5]", "--seeds", "1", "--budget", "6",
                                       "--pool", "sampled", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["pool"] == "sampled" and "--pool sampled" in payload["meta"]["command"]
    assert list(payload["methods"]) == ["rs", "bo-ei[n_init=4;maxiter=5;pool=sampled]"]
    record = payload["methods"]["bo-ei[n_init=4;maxiter=5;pool=sampled]"]
    assert record["pool"] == "sampled" and record["options"] == {"n_init": 4, "maxiter": 5, "pool": "sampled"}
    assert payload["methods"]["rs"]["pool"] is None and payload["methods"]["rs"]["options"] == {}


def test_bench_search_records_the_default_pool_and_a_spec_s_own_pool_wins(tiny_table_file, space):
    from infonas.bench.search import run_search_benchmark

    table = TabularBenchmark.from_csv(tiny_table_file, space)
    methods = ["bo-ei[n_init=4;maxiter=5]", "bo-ei[n_init=4;maxiter=5;pool=sampled]"]
    results = run_search_benchmark(table, "acc", methods, seeds=1, budget=5, progress=False)
    assert results["pool"] is None and [r["pool"] for r in results["methods"].values()] == ["enumerate", "sampled"]
    with pytest.raises(InvalidArgumentError, match="listed twice"):
        run_search_benchmark(table, "acc", methods, seeds=1, budget=5, progress=False, pool="sampled")
