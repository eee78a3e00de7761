"""NSGA-II (Deb et al., IEEE TEC 2002) as a search strategy, driven through pymoo's ask/tell interface.

pymoo runs the genetic algorithm on the categorical encoding of the space; this strategy turns
its generations into suggestions and the trials' results back into pymoo's objective values. The
algorithm's state is a memo of a deterministic replay: it depends only on the seed and on the
results of the trials passed to ``observe``, so a resumed study proposes what an uninterrupted
one would.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.duplicate import ElementwiseDuplicateElimination
from pymoo.core.individual import Individual
from pymoo.core.mutation import Mutation
from pymoo.core.population import Population
from pymoo.core.problem import Problem
from pymoo.core.termination import NoTermination
from pymoo.operators.crossover.ux import UniformCrossover
from pymoo.operators.sampling.rnd import IntegerRandomSampling

from infonas.strategies.base import Strategy, Suggestion
from infonas.trials import Trial
from search_spaces.base import Architecture, SearchSpace

__all__ = ["NSGA2Strategy"]

#: The objective value pymoo is told for a failed or infeasible trial, or one missing a metric:
#: finite (pymoo's sorting and crowding need finite values) and worse than any real result.
BAD_VALUE = 1e30


class CategoricalMutation(Mutation):
    """Each variable moves, with probability ``prob_var``, to a *different* category, uniformly.

    pymoo's own ``ChoiceRandomMutation`` (``pymoo.operators.mutation.rm``) resamples from the
    whole choice set, so a "mutation" keeps the same value with probability 1/k, and it needs
    a mixed-variable problem (``problem.vars``); ``PM`` and ``GaussianMutation`` perturb real
    values, ``BitflipMutation`` flips booleans and ``InversionMutation`` reverses permutations.
    Hence this small operator on integer-coded categories.
    """

    def __init__(self, n_choices: Sequence[int], prob_var: float) -> None:
        super().__init__(prob=1.0, prob_var=prob_var)
        self.n_choices = np.asarray(n_choices, dtype=np.int64)

    def _do(self, problem: Problem, X: np.ndarray, random_state: np.random.Generator | None = None,
            **kwargs: Any) -> np.ndarray:
        if random_state is None:  # pymoo < 0.6.2 drew from numpy's global state: not reproducible here
            raise RuntimeError("NSGA2Strategy needs pymoo >= 0.6.2, whose operators get the algorithm's generator")
        X = np.asarray(X).astype(np.int64, copy=True)
        prob_var = self.get_prob_var(problem, size=(len(X), 1))
        move = (random_state.random(X.shape) < prob_var) & (self.n_choices > 1)
        # A shift of 1..k-1 modulo k reaches every other category with equal probability.
        shift = random_state.integers(1, np.maximum(self.n_choices, 2), size=X.shape)
        return np.where(move, (X + shift) % np.maximum(self.n_choices, 1), X)


class CanonicalDuplicateElimination(ElementwiseDuplicateElimination):
    """Two individuals are duplicates when their architectures share a canonical key."""

    def __init__(self, key_of: Any) -> None:
        super().__init__()
        self.key_of = key_of

    def is_equal(self, a: Individual, b: Individual) -> bool:
        return self.key_of(a.X) == self.key_of(b.X)


class _ArchitectureProblem(Problem):
    """One integer variable per categorical position; values come from trials, never from here."""

    def __init__(self, space: SearchSpace, n_obj: int) -> None:
        n_choices = np.array([len(c) for c in space.choices])
        super().__init__(n_var=len(n_choices), n_obj=n_obj, xl=np.zeros(len(n_choices)), xu=n_choices - 1,
                         vtype=int)

    def _evaluate(self, x: np.ndarray, out: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("NSGA2Strategy tells pymoo the results of trials; it never evaluates")


@dataclass
class _Replay:
    """Where the deterministic replay of the algorithm stands: the generation asked, not yet told."""

    algorithm: NSGA2
    population: Population | None = None
    members: list[Architecture] = field(default_factory=list)
    #: Keys of every member pymoo has asked for so far (to tell a stale generation from a new one).
    produced: set[str] = field(default_factory=set)
    stale_generations: int = 0
    #: pymoo produced nothing new for too long, or nothing at all: suggestions are random from now on.
    exhausted: bool = False


class NSGA2Strategy(Strategy):
    """NSGA-II: non-dominated sorting and crowding select parents; uniform crossover and mutation breed.

    Works for one objective too (then it is a plain genetic algorithm). Members of pymoo's
    generations are suggested in order; a member whose canonical key was already evaluated is not
    proposed again, pymoo is told the known result instead. When every member of the current
    generation has been handed out but some results are still pending, the next generation
    cannot be bred yet: those suggestions are random unseen architectures from ``rng_for(n)``
    (so a batch never waits, and stays reproducible). Once pymoo has produced only architectures
    it had produced before for ``max_stale_generations`` generations in a row (it has converged),
    every later suggestion is random unseen in the same way.

    Example:
        >>> from search_spaces import NB201Space
        >>> from infonas.objectives import parse_objectives
        >>> strategy = NSGA2Strategy(NB201Space(), objective="acc", seed=0, population_size=10,
        ...                          objectives=parse_objectives("acc:max,flops:min"))
        >>> len(strategy.suggest([0, 1, 2]))
        3
    """

    name = "nsga2"
    multi_objective = True
    #: Generations in a row without a new architecture after which the search falls back to random.
    max_stale_generations: int = 50

    def __init__(self, space: SearchSpace, objective: str, seed: int = 0, maximize: bool = True, *,
                 population_size: int = 20, mutation_probability: float | None = None,
                 crossover_probability: float = 0.9, **context: Any) -> None:
        """``mutation_probability`` is per variable (default ``1 / number of positions``);
        ``crossover_probability`` is per pair of parents."""
        super().__init__(space, objective, seed, maximize, **context)
        if population_size < 2:
            raise ValueError(f"population_size must be at least 2, got {population_size}")
        n_var = len(space.choices)
        if mutation_probability is None:
            mutation_probability = 1.0 / n_var
        if not 0.0 <= mutation_probability <= 1.0:
            raise ValueError(f"mutation_probability must lie in [0, 1], got {mutation_probability}")
        if not 0.0 <= crossover_probability <= 1.0:
            raise ValueError(f"crossover_probability must lie in [0, 1], got {crossover_probability}")
        self.population_size = int(population_size)
        self.mutation_probability = float(mutation_probability)
        self.crossover_probability = float(crossover_probability)
        # pymoo's objective vector of every key evaluated at the target fidelity. The first result
        # of a key wins, so a key's value never changes: that is what lets the replay be memoised.
        self._values: dict[str, np.ndarray] = {}
        self._archs: dict[tuple[int, ...], Architecture] = {}
        self._replay: _Replay | None = None

    # ----- observations -----

    def _observe(self, trial: Trial) -> None:
        if self.at_target(trial) and trial.arch.key not in self._values:
            self._values[trial.arch.key] = self.pymoo_values(trial)

    def pymoo_values(self, trial: Trial) -> np.ndarray:
        """The objective vector pymoo minimises for ``trial``: ``-sign * metric`` per objective.

        Failed and infeasible trials, and those missing an objective or holding a non-finite one,
        get ``BAD_VALUE`` everywhere: dominated by every real result, yet finite for pymoo.
        An objective absent from the metrics is taken from ``computed`` when that provides it.
        """
        bad = np.full(len(self.objectives), BAD_VALUE)
        if not trial.is_complete:
            return bad
        values = []
        for objective in self.objectives:
            value = trial.metrics.get(objective.name)
            if value is None and self.computed is not None and objective.name in self.computed.names:
                value = self.computed.values([trial.arch], objective.name)[0]
            if value is None or not math.isfinite(float(value)):
                return bad
            values.append(-objective.sign * float(value))
        return np.array(values, dtype=np.float64)

    # ----- suggestions -----

    def suggest(self, trial_numbers: Sequence[int], pending: Sequence[Architecture] = ()) -> list[Suggestion]:
        exclude = self.seen_keys | {a.key for a in pending}
        suggestions = []
        for number in trial_numbers:
            arch = self._next_member(exclude)
            if arch is None:  # waiting for pending results, or pymoo has nothing new to offer
                arch = self.sample_unseen(self.rng_for(number), exclude)
            exclude.add(arch.key)
            suggestions.append(Suggestion(arch))
        return suggestions

    def _next_member(self, exclude: set[str]) -> Architecture | None:
        """The first member of the current generation neither evaluated nor handed out, if any.

        Generations whose members all have results are told to pymoo and the next one asked,
        until one has a member left to propose. Every step depends only on the seed and the
        results of the members, so a fresh strategy replaying the same trials reaches the same
        generation with the same random state as one that ran uninterrupted.
        """
        replay = self._replay if self._replay is not None else self._start()
        while not replay.exhausted:
            waiting = [m for m in replay.members if m.key not in self._values]
            if not waiting:
                self._advance(replay)
                continue
            for member in waiting:
                if member.key not in exclude:
                    return member
            return None  # the whole generation is handed out; its results are not all in
        return None

    def _start(self) -> _Replay:
        problem = _ArchitectureProblem(self.space, len(self.objectives))
        algorithm = NSGA2(
            pop_size=self.population_size,
            sampling=IntegerRandomSampling(),
            crossover=UniformCrossover(prob=self.crossover_probability),
            mutation=CategoricalMutation([len(c) for c in self.space.choices], self.mutation_probability),
            eliminate_duplicates=CanonicalDuplicateElimination(self._key_of),
        )
        # The strategy, not pymoo, decides when a search ends; pymoo's default criterion would also
        # cost a convergence measure every generation.
        algorithm.termination = NoTermination()
        # Its own stream, apart from the per-trial ones of rng_for(n) = default_rng([seed, n]).
        pymoo_seed = int(np.random.SeedSequence([self.seed, 2002]).generate_state(1)[0])
        algorithm.setup(problem, seed=pymoo_seed, verbose=False)
        self._replay = _Replay(algorithm)
        self._receive(self._replay, algorithm.ask())
        return self._replay

    def _advance(self, replay: _Replay) -> None:
        """Tell pymoo the results of the current generation and ask for the next one."""
        assert replay.population is not None
        replay.population.set("F", np.stack([self._values[m.key] for m in replay.members]))
        replay.algorithm.tell(infills=replay.population)
        self._receive(replay, replay.algorithm.ask())

    def _receive(self, replay: _Replay, population: Population | None) -> None:
        if population is None or len(population) == 0:  # mating found no offspring that is not a duplicate
            replay.exhausted = True
            return
        replay.population = population
        replay.members = [self._arch_of(x) for x in population.get("X")]
        keys = {m.key for m in replay.members}
        # Novelty is judged against pymoo's own earlier members, not against every evaluated key:
        # which keys were evaluated when a generation was asked depends on timing, this does not.
        replay.stale_generations = 0 if keys - replay.produced else replay.stale_generations + 1
        replay.produced |= keys
        if replay.stale_generations >= self.max_stale_generations:
            replay.exhausted = True

    def _arch_of(self, x: np.ndarray) -> Architecture:
        # Memoised: duplicate elimination compares keys of every pair of individuals.
        indices = tuple(int(i) for i in x)
        arch = self._archs.get(indices)
        if arch is None:
            arch = self._archs[indices] = self.space.from_categorical(indices)
        return arch

    def _key_of(self, x: np.ndarray) -> str:
        return self._arch_of(x).key
