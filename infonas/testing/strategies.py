"""Conformance suite for search strategies: reproducible, duplicate-free and resumable, on a fake.

Every strategy runs inside a ``Study`` on ``FakeEvaluator`` over NAS-Bench-201 (microseconds
per evaluation) and must satisfy the ``Strategy`` contract:

* the same seed gives the same trajectory, and another seed a different one (the same one for a
  strategy that ignores its seed by design, ``StrategyCase(seeded=False)``, e.g. a fixed list);
* no canonical key is asked twice at the target fidelity, and pending trials are never re-asked;
* a study stopped after ``k`` trials and loaded from its run directory, or one that crashed after
  an ``ask`` (a trial journalled without its result), continues exactly as an uninterrupted one.

A test class subclasses ``StrategyConformance`` and provides a class-scoped ``case`` fixture.

Example:
    >>> import pytest
    >>> class TestMyStrategy(StrategyConformance):  # doctest: +SKIP
    ...     @pytest.fixture(scope="class")
    ...     def case(self):
    ...         return StrategyCase("my-strategy", SINGLE_OBJECTIVE, options={"n_init": 4})
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from infonas.study import Study
from infonas.testing.fakes import FakeEvaluator
from infonas.trials import Trial
from search_spaces.nb201.space import NB201Space

__all__ = ["MULTI_FIDELITY", "MULTI_OBJECTIVE", "SINGLE_OBJECTIVE", "StrategyCase", "StrategyConformance",
           "trajectory"]

SINGLE_OBJECTIVE = "single-objective"
#: The fake's metric at two fidelities: a cheap one (cost 0.1) and the target (cost 1).
MULTI_FIDELITY = "multi-fidelity"
#: The fake's metric (maximised) and the exact FLOPs of the cell (``flops``, minimised).
MULTI_OBJECTIVE = "multi-objective"
PROBLEMS = (SINGLE_OBJECTIVE, MULTI_FIDELITY, MULTI_OBJECTIVE)


@dataclass(frozen=True)
class StrategyCase:
    """A registered strategy, the problem it solves, its (fast) options and the test budgets.

    ``budget`` trials are run uninterrupted; the interrupted run stops cleanly after ``stop_at``
    trials and crashes after asking trial ``crash_at``. ``seeded=False`` declares a strategy whose
    proposals do not depend on the seed (a designed experiment): another seed must then give the
    same trajectory instead of a different one.
    """

    strategy: str
    problem: str = SINGLE_OBJECTIVE
    options: dict[str, Any] = field(default_factory=dict)
    budget: int = 12
    stop_at: int = 5
    crash_at: int = 8
    seeded: bool = True

    def __post_init__(self) -> None:
        if self.problem not in PROBLEMS:
            raise ValueError(f"problem must be one of {PROBLEMS}, got {self.problem!r}")
        if not 0 < self.stop_at < self.crash_at < self.budget:
            raise ValueError(f"need 0 < stop_at < crash_at < budget, got {self.stop_at}, {self.crash_at}, "
                             f"{self.budget}")


class Problem:
    """The space, evaluator and study arguments of one kind of problem (built once per case)."""

    def __init__(self, case: StrategyCase) -> None:
        self.case = case
        self.space = NB201Space()
        self.evaluator = FakeEvaluator(self.space, cheap_cost=0.1 if case.problem == MULTI_FIDELITY else None)
        self.arguments: dict[str, Any] = {"objective": "acc"}
        if case.problem == MULTI_OBJECTIVE:
            from search_spaces.nb201.cost_tables import ArchitectureCosts  # deferred: builds networks
            from search_spaces.nb201.network import NetworkConfig

            costs = ArchitectureCosts.measure(self.space, NetworkConfig.for_dataset("cifar10"), latency=False)
            # The fake's values lie far above 0: a reference point no front can fail to dominate.
            self.arguments = {"objectives": "acc:max,flops:min", "computed": costs, "reference_point": {"acc": 0.0}}

    def create(self, run_dir: Path | None, seed: int) -> Study:
        return Study.create(run_dir, self.space, self.evaluator, strategy=self.case.strategy, seed=seed,
                            strategy_options=dict(self.case.options), **self.arguments)

    def load(self, run_dir: Path) -> Study:
        return Study.load(run_dir, self.evaluator)


def trajectory(study: Study) -> list[tuple[Any, ...]]:
    """What a study did, comparable across runs: number, arch, fidelity, status and metrics of each trial."""
    return [(t.number, study.space.format(t.arch), t.fidelity, t.status.value, t.metrics)
            for t in study.finished_trials()]


@dataclass
class Interrupted:
    """The trajectories of the interrupted run at each stage, and the trial asked before the crash."""

    after_stop: list[tuple[Any, ...]]
    after_resume: list[tuple[Any, ...]]
    crashed: Trial
    pending_after_load: list[Trial]
    final: list[tuple[Any, ...]]
    run_dir: Path


class StrategyConformance:
    """The strategy contract, checked for the ``case`` fixture a subclass provides."""

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def _one_torch_thread(cls) -> Iterator[None]:
        # GP matrices here are tiny: one thread is fastest and never oversubscribes a shared machine.
        import torch

        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(previous)

    @pytest.fixture(scope="class")
    @classmethod
    def problem(cls, case: StrategyCase) -> Problem:
        return Problem(case)

    @pytest.fixture(scope="class")
    @classmethod
    def reference(cls, case: StrategyCase, problem: Problem) -> Study:
        """The uninterrupted run: seed 0, ``budget`` trials, in memory."""
        return problem.create(None, seed=0).optimize(case.budget)

    @pytest.fixture(scope="class")
    @classmethod
    def interrupted(cls, case: StrategyCase, problem: Problem, tmp_path_factory: pytest.TempPathFactory) -> Interrupted:
        """Seed 0 in a run directory: stop at ``stop_at``, load, run to ``crash_at``, ask, crash, load, finish."""
        run_dir = tmp_path_factory.mktemp(f"strategy-{case.strategy}") / "run"
        after_stop = trajectory(problem.create(run_dir, seed=0).optimize(case.stop_at))
        resumed = problem.load(run_dir).optimize(case.crash_at)
        after_resume = trajectory(resumed)
        (crashed,) = resumed.ask()  # journalled as asked; the process "dies" before telling it
        del resumed
        loaded = problem.load(run_dir)
        pending = loaded.pending
        final = trajectory(loaded.optimize(case.budget))
        return Interrupted(after_stop, after_resume, crashed, pending, final, run_dir)

    def test_same_seed_same_trajectory(self, case: StrategyCase, problem: Problem, reference: Study) -> None:
        again = problem.create(None, seed=0).optimize(case.budget)
        assert trajectory(again) == trajectory(reference), f"{case.strategy}: seed 0 gave two trajectories"

    def test_another_seed_differs(self, case: StrategyCase, problem: Problem, reference: Study) -> None:
        other = problem.create(None, seed=1).optimize(case.stop_at)
        asked = [(t.arch, t.fidelity) for t in other.finished_trials()]
        expected = [(t.arch, t.fidelity) for t in reference.finished_trials()[: case.stop_at]]
        if not case.seeded:
            assert asked == expected, f"{case.strategy} is declared seed-free, yet seeds 0 and 1 asked different trials"
            return
        assert asked != expected, f"{case.strategy}: seeds 0 and 1 asked the same first {case.stop_at} trials"

    def test_no_duplicate_keys_at_target(self, case: StrategyCase, reference: Study) -> None:
        target = reference.evaluator.target_fidelity
        keys = [t.arch.key for t in reference.finished_trials() if t.fidelity == target]
        assert len(keys) == len(set(keys)), f"{case.strategy} asked a canonical key twice at the target fidelity"
        assert len(reference.finished_trials()) == case.budget

    def test_pending_trials_are_never_asked_again(self, case: StrategyCase, problem: Problem,
                                                  interrupted: Interrupted) -> None:
        study = problem.load(interrupted.run_dir)
        target = study.evaluator.target_fidelity
        seen = {t.arch.key for t in study.finished_trials() if t.fidelity == target}
        first, second = study.ask(), study.ask(2)  # the second ask sees the first as pending
        asked = [(t.arch.key, t.fidelity) for t in [*first, *second]]
        assert len(asked) == len(set(asked)), f"{case.strategy} re-asked a pending trial: {asked}"
        assert not {key for key, fidelity in asked if fidelity == target} & seen, (
            f"{case.strategy} asked again at the target fidelity a key already evaluated there")

    def test_stop_and_resume_equals_uninterrupted(self, case: StrategyCase, reference: Study,
                                                  interrupted: Interrupted) -> None:
        expected = trajectory(reference)
        assert interrupted.after_stop == expected[: case.stop_at]
        assert interrupted.after_resume == expected[: case.crash_at], (
            f"{case.strategy}: loading a run stopped after {case.stop_at} trials changed what came next")

    def test_crash_after_ask_equals_uninterrupted(self, case: StrategyCase, reference: Study,
                                                  interrupted: Interrupted) -> None:
        expected = reference.finished_trials()[case.crash_at]
        assert [t.number for t in interrupted.pending_after_load] == [case.crash_at]
        assert (interrupted.crashed.arch, interrupted.crashed.fidelity) == (expected.arch, expected.fidelity)
        assert interrupted.final == trajectory(reference), (
            f"{case.strategy}: a run that crashed after asking trial {case.crash_at} diverged after loading")
