"""NSGA2Strategy on a synthetic problem: accuracy and FLOPs computed from the cell's operations."""

import zlib

import networkx as nx
import numpy as np
import pytest
from pymoo.core.population import Population
from pymoo.core.problem import Problem
from pymoo.indicators.hv import HV

from infonas.evaluators.base import Evaluator, Fidelity
from infonas.objectives import parse_objectives
from infonas.strategies import STRATEGIES, RandomSearch
from infonas.strategies.nsga2 import BAD_VALUE, CanonicalDuplicateElimination, CategoricalMutation, NSGA2Strategy
from infonas.study import Study
from infonas.trials import EvaluationResult, Trial, TrialStatus
from search_spaces.base import SearchSpace

ACC_FLOPS = parse_objectives("acc:max,flops:min")


def synthetic_metrics(arch):
    """acc rewards convolutions (3x3 more than 1x1) plus a small noise fixed per cell; FLOPs punish them
    (3x3 much more): a Pareto front that random sampling reaches only at its cheap end."""
    c3 = sum(op == "nor_conv_3x3" for op in arch.ops)
    c1 = sum(op == "nor_conv_1x1" for op in arch.ops)
    pools = sum(op == "avg_pool_3x3" for op in arch.ops)
    noise = np.random.default_rng(zlib.crc32(arch.key.encode())).normal(0.0, 0.1)
    return {"acc": c3 + 0.5 * c1 + noise, "flops": 9.0 * c3 + c1 + 0.5 * pools}


def evaluate(number, arch, fails=lambda number, arch: False):
    trial = Trial(number, arch, "full")
    if fails(number, arch):
        return trial.finished(EvaluationResult.failed("boom"))
    return trial.finished(EvaluationResult(metrics=synthetic_metrics(arch), cost=1.0))


def drive(strategy, numbers, trials=None, fails=lambda number, arch: False):
    """Suggest -> evaluate -> observe, one trial at a time; returns every trial so far."""
    trials = [] if trials is None else trials
    for number in numbers:
        (suggestion,) = strategy.suggest([number])
        trials.append(evaluate(number, suggestion.arch, fails))
        strategy.observe([trials[-1]])
    return trials


def nsga2(space, seed=0, objectives=ACC_FLOPS, **options):
    return NSGA2Strategy(space, "acc", seed=seed, objectives=objectives, **options)


def test_suggestions_never_repeat_a_canonical_key(space):
    trials = drive(nsga2(space, seed=1), range(120))
    keys = [t.arch.key for t in trials]
    assert len(set(keys)) == 120
    for t in trials:
        space.validate(t.arch)


def test_same_seed_same_sequence_other_seed_other_sequence(space):
    runs = [[t.arch for t in drive(nsga2(space, seed=seed), range(60))] for seed in (5, 5, 6)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


@pytest.mark.parametrize("objectives", [ACC_FLOPS, parse_objectives("acc")], ids=["two", "one"])
def test_resumed_strategy_suggests_what_an_uninterrupted_one_would(space, objectives):
    fails = lambda number, arch: number % 11 == 3  # noqa: E731 - failures are replayed too
    uninterrupted = nsga2(space, seed=2, objectives=objectives)
    trials = drive(uninterrupted, range(47), fails=fails)
    resumed = nsga2(space, seed=2, objectives=objectives)
    resumed.observe(trials)
    for number in range(47, 77):  # 77 trials span several generations of 20
        (expected,) = uninterrupted.suggest([number])
        assert resumed.suggest([number]) == [expected]
        trial = evaluate(number, expected.arch, fails)
        uninterrupted.observe([trial])
        resumed.observe([trial])


class SyntheticEvaluator(Evaluator):
    fidelities = {"full": Fidelity("full", 1.0)}
    metric_names = ("acc", "flops")

    def _evaluate(self, arch, fidelity):
        return EvaluationResult(synthetic_metrics(arch), 1.0)


def test_study_crashed_mid_batch_resumes_like_an_uninterrupted_one(tmp_path, space, monkeypatch):
    monkeypatch.setitem(STRATEGIES, "nsga2", NSGA2Strategy)
    evaluator = SyntheticEvaluator()

    def create(name):
        return Study.create(tmp_path / name, space, evaluator, "acc", strategy="nsga2", seed=4, batch_size=3,
                            strategy_options={"population_size": 10})

    def trajectory(study):
        return [(t.number, t.arch, t.metrics) for t in study.finished_trials()]

    whole = create("whole").optimize(72, progress=False)
    part = create("part").optimize(42, progress=False)
    asked = part.ask(3)
    part.tell(asked[0], evaluator.evaluate(asked[0].arch))  # then the process dies: two trials in flight
    resumed = Study.load(part.store.path, evaluator)
    assert [t.number for t in resumed.pending] == [43, 44]
    resumed.optimize(72, progress=False)
    assert trajectory(resumed) == trajectory(whole)
    assert len({t.arch.key for t in whole.finished_trials()}) == 72


def test_failed_and_incomplete_trials_are_told_as_very_bad(space):
    fails = lambda number, arch: number % 4 == 1 or arch.ops[0] == "avg_pool_3x3"  # noqa: E731
    strategy = nsga2(space, seed=3)
    trials = drive(strategy, range(90), fails=fails)
    assert sum(not t.is_complete for t in trials) > 20
    assert len({t.arch.key for t in trials}) == 90

    arch = trials[0].arch
    infeasible = Trial(0, arch, "full").finished(
        EvaluationResult(metrics={}, cost=0.0, status=TrialStatus.INFEASIBLE))
    missing = Trial(0, arch, "full").finished(EvaluationResult(metrics={"acc": 1.0}, cost=1.0))
    complete = Trial(0, arch, "full").finished(EvaluationResult(metrics={"acc": 2.0, "flops": 5.0}, cost=1.0))
    for trial in (trials[1], infeasible, missing):
        assert strategy.pymoo_values(trial).tolist() == [BAD_VALUE, BAD_VALUE]
    assert strategy.pymoo_values(complete).tolist() == [-2.0, 5.0]  # pymoo minimises: acc negated


def test_single_objective_ga_beats_random_search(space):
    for seed in range(3):
        ga = drive(NSGA2Strategy(space, "acc", seed=seed), range(100))
        rs = drive(RandomSearch(space, "acc", seed=seed), range(100))
        accs = {name: np.array([t.metrics["acc"] for t in run]) for name, run in (("ga", ga), ("rs", rs))}
        assert accs["ga"].max() > accs["rs"].max()
        # After the random first generation the GA breeds good cells: random search averages
        # 1.8 per cell (about 0.1 standard error over 50), the GA's children well over 3.
        assert accs["ga"][50:].mean() > accs["rs"][50:].mean() + 1.0


def test_multi_objective_hypervolume_beats_random_search(space):
    hypervolume = HV(ref_point=np.array([0.0, 60.0]))  # in pymoo's minimised (-acc, flops) space

    def front_volume(trials):
        return hypervolume(np.array([[-t.metrics["acc"], t.metrics["flops"]] for t in trials]))

    gaps = []
    for seed in range(3):
        ga = front_volume(drive(nsga2(space, seed=seed), range(200)))
        rs = front_volume(drive(RandomSearch(space, "acc", seed=seed), range(200)))
        assert ga > rs
        gaps.append(ga - rs)
    # Random search stays near 210 of the true front's 258; NSGA-II closes most of the gap.
    assert np.mean(gaps) > 10.0


def test_batches_with_pending_are_distinct_and_reproducible(space):
    strategy = nsga2(space, seed=7, population_size=6)
    first = [s.arch for s in strategy.suggest(list(range(4)))]
    second = [s.arch for s in strategy.suggest([4, 5, 6, 7], pending=first)]
    keys = [a.key for a in first + second]
    assert len(set(keys)) == 8
    # Generation 0 (6 members) is all handed out but has no results: the rest are random unseen.
    exclude = set(keys[:6])
    fallback = strategy.sample_unseen(strategy.rng_for(6), exclude)
    assert second[2] == fallback
    # Another strategy given the same history and pending work proposes the same.
    again = nsga2(space, seed=7, population_size=6)
    assert [s.arch for s in again.suggest([4, 5, 6, 7], pending=first)] == second

    trials = [evaluate(n, a) for n, a in enumerate(first + second)]
    strategy.observe(trials[:5])
    third = [s.arch for s in strategy.suggest([8, 9, 10], pending=[t.arch for t in trials[5:]])]
    seen = {t.arch.key for t in trials}
    assert len({a.key for a in third}) == 3 and not {a.key for a in third} & seen


@pytest.mark.parametrize("max_stale", [50, 1])
def test_a_tiny_space_is_enumerated_without_repeats(max_stale):
    space = TinySpace()

    def strategy():
        s = NSGA2Strategy(space, "acc", seed=0, population_size=6, objectives=parse_objectives("acc"))
        s.max_stale_generations = max_stale
        return s

    uninterrupted = strategy()
    trials = drive(uninterrupted, range(space.size - 1))
    resumed = strategy()
    resumed.observe(trials)
    assert resumed.suggest([26]) == uninterrupted.suggest([26])
    drive(uninterrupted, [26], trials)
    assert sorted(t.arch.key for t in trials) == sorted(a.key for a in space.enumerate())
    # White-box: with max_stale=1 a generation of old cells ends the GA and random search takes over.
    assert uninterrupted._replay.exhausted is (max_stale == 1)


def test_categorical_mutation_always_moves_to_another_category():
    n_choices = [5, 3, 2, 1]
    mutation = CategoricalMutation(n_choices, prob_var=1.0)
    problem = Problem(n_var=4, n_obj=1, xl=0, xu=np.array(n_choices) - 1, vtype=int)
    X = np.zeros((4000, 4), dtype=int)
    Y = mutation(problem, Population.new("X", X), random_state=np.random.default_rng(0)).get("X")
    assert (Y[:, :3] != 0).all() and (Y[:, 3] == 0).all()
    assert np.bincount(Y[:, 0], minlength=5)[1:].min() > 900  # the 4 others equally likely
    rare = CategoricalMutation(n_choices, prob_var=0.1)
    Y = rare(problem, Population.new("X", X), random_state=np.random.default_rng(0)).get("X")
    assert 0.07 < (Y[:, :3] != 0).mean() < 0.13


def test_duplicates_are_canonical_not_literal(space):
    key_of = lambda x: space.from_categorical(x).key  # noqa: E731
    # Both cells feed only `none` into the output node: different ops, the same (empty) function.
    dead = [[3, 3, 3, 0, 0, 0], [2, 1, 4, 0, 0, 0], [3, 3, 3, 3, 3, 3]]
    assert key_of(dead[0]) == key_of(dead[1])
    kept = CanonicalDuplicateElimination(key_of).do(Population.new("X", np.array(dead)))
    assert len(kept) == 2 and {key_of(x) for x in kept.get("X")} == {key_of(dead[0]), key_of(dead[2])}


def test_options_are_checked(space):
    assert NSGA2Strategy.name == "nsga2" and NSGA2Strategy.multi_objective
    assert nsga2(space).mutation_probability == pytest.approx(1 / 6)
    with pytest.raises(ValueError, match="population_size"):
        nsga2(space, population_size=1)
    with pytest.raises(ValueError, match="mutation_probability"):
        nsga2(space, mutation_probability=1.5)
    with pytest.raises(ValueError, match="crossover_probability"):
        nsga2(space, crossover_probability=-0.1)


class TinySpace(SearchSpace):
    """27 cells: three positions of three options, every cell its own key."""

    name = "tiny"

    @property
    def choices(self):
        return (("a", "b", "c"),) * 3

    def canonical_key(self, ops):
        return "".join(ops)

    def parse(self, text):
        return self.make(tuple(text))

    def format(self, arch):
        return "".join(arch.ops)

    def to_graph(self, arch, prune=True):
        graph = nx.DiGraph()
        graph.add_node(0, op="input")
        return graph
