"""Classic NAS baselines: random search, regularized evolution and local search.

Each keeps no state beyond what ``observe`` derives from the trials, and draws its randomness
for trial ``n`` from ``rng_for(n)``: replaying the same trials reproduces the same suggestions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from infonas.exceptions import InvalidArgumentError, SpaceExhaustedError
from infonas.strategies.base import Strategy, Suggestion
from infonas.trials import Trial
from search_spaces.base import Architecture, SearchSpace


class RandomSearch(Strategy):
    """Uniform samples of architectures whose canonical key has not been seen.

    Example:
        >>> from search_spaces import NB201Space
        >>> strategy = RandomSearch(NB201Space(), objective="acc", seed=0)
        >>> len(strategy.suggest([0, 1]))
        2
    """

    name = "rs"
    multi_objective = True  # it ignores the objectives, so it is the baseline for any number of them

    def suggest(self, trial_numbers: Sequence[int], pending: Sequence[Architecture] = ()) -> list[Suggestion]:
        exclude = self.seen_keys | {a.key for a in pending}
        suggestions = []
        for number in trial_numbers:
            arch = self.sample_unseen(self.rng_for(number), exclude)
            exclude.add(arch.key)
            suggestions.append(Suggestion(arch))
        return suggestions


class RegularizedEvolution(Strategy):
    """Aging evolution (Real et al., AAAI 2019).

    The population is the last ``population_size`` complete trials; a child is a mutation of the
    best of ``sample_size`` members drawn at random. The first ``population_size`` trials are
    random samples.
    """

    name = "rea"

    def __init__(self, space: SearchSpace, objective: str, seed: int = 0, maximize: bool = True,
                 population_size: int = 10, sample_size: int = 3, max_mutation_tries: int = 100,
                 **context: Any) -> None:
        super().__init__(space, objective, seed, maximize, **context)
        if not 1 <= sample_size <= population_size:
            raise ValueError(f"need 1 <= sample_size <= population_size, got {sample_size}, {population_size}")
        self.population_size = population_size
        self.sample_size = sample_size
        self.max_mutation_tries = max_mutation_tries

    def population(self) -> list[Trial]:
        complete = [t for t in self.trials if self.score(t) is not None]
        return complete[-self.population_size:]

    def suggest(self, trial_numbers: Sequence[int], pending: Sequence[Architecture] = ()) -> list[Suggestion]:
        exclude = self.seen_keys | {a.key for a in pending}
        population = self.population()
        suggestions = []
        for number in trial_numbers:
            rng = self.rng_for(number)
            arch = None
            if len(population) >= self.population_size:
                picks = rng.choice(len(population), size=self.sample_size, replace=False)
                parent = max((population[i] for i in picks), key=self.score).arch
                for _ in range(self.max_mutation_tries):
                    child = self.space.mutate(parent, rng)
                    if child.key not in exclude:
                        arch = child
                        break
            if arch is None:  # warm-up, or every tried mutation was already seen
                arch = self.sample_unseen(rng, exclude)
            exclude.add(arch.key)
            suggestions.append(Suggestion(arch))
        return suggestions


class LocalSearch(Strategy):
    """First-improvement hill climbing over the one-edit neighbourhood, restarting at random.

    From the current architecture, unseen neighbours are tried in random order; the first that
    beats the current one becomes current. When every neighbour has been seen without
    improvement (a local optimum), the next suggestion is a random restart.
    """

    name = "ls"

    def __init__(self, space: SearchSpace, objective: str, seed: int = 0, maximize: bool = True,
                 **context: Any) -> None:
        super().__init__(space, objective, seed, maximize, **context)
        self.current: Trial | None = None

    def _observe(self, trial: Trial) -> None:
        score = self.score(trial)
        if score is None:
            return
        if self.current is None:
            self.current = trial
        elif score > self.score(self.current) and trial.arch.key in self._neighbour_keys(self.current.arch):
            self.current = trial
        if self.current is not None and self._unseen_neighbours(self.current.arch, set()) == []:
            self.current = None  # local optimum: the next complete trial starts a new climb

    def _neighbour_keys(self, arch: Architecture) -> set[str]:
        return {n.key for n in self.space.neighbours(arch)}

    def _unseen_neighbours(self, arch: Architecture, pending_keys: set[str]) -> list[Architecture]:
        exclude = self.seen_keys | pending_keys
        unseen, keys = [], set()
        for neighbour in self.space.neighbours(arch):
            if neighbour.key not in exclude and neighbour.key not in keys:
                keys.add(neighbour.key)
                unseen.append(neighbour)
        return unseen

    def suggest(self, trial_numbers: Sequence[int], pending: Sequence[Architecture] = ()) -> list[Suggestion]:
        pending_keys = {a.key for a in pending}
        suggestions = []
        for number in trial_numbers:
            rng = self.rng_for(number)
            candidates = self._unseen_neighbours(self.current.arch, pending_keys) if self.current else []
            if candidates:
                arch = candidates[int(rng.integers(len(candidates)))]
            else:
                arch = self.sample_unseen(rng, self.seen_keys | pending_keys)
            pending_keys.add(arch.key)
            suggestions.append(Suggestion(arch))
        return suggestions


class GivenOrder(Strategy):
    """The architectures of a fixed list, in order: a designed experiment, not a search.

    ``cells`` are architecture strings of the space. Each suggestion is the first cell that is
    neither finished nor pending, so a resumed study continues the list where it stopped; when
    every cell has been asked, ``suggest`` raises ``SpaceExhaustedError`` and the study ends.
    Used to build ground-truth tables (``infonas bench table``) as journalled, resumable studies.

    Example:
        >>> from search_spaces import NB201Space
        >>> cells = ["|none~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|",
        ...          "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"]
        >>> strategy = GivenOrder(NB201Space(), objective="acc", cells=cells)
        >>> [NB201Space().format(s.arch) == c for s, c in zip(strategy.suggest([0, 1]), cells)]
        [True, True]
    """

    name = "list"
    multi_objective = True  # it ignores the objectives

    def __init__(self, space: SearchSpace, objective: str, seed: int = 0, maximize: bool = True, *,
                 cells: Sequence[str] = (), **options: Any) -> None:
        super().__init__(space, objective, seed, maximize, **options)
        if isinstance(cells, str) or not cells:
            raise InvalidArgumentError(f"strategy 'list' needs a non-empty list of architecture strings in "
                                       f"cells=..., got {cells!r}")
        self.cells = [space.parse(text) for text in cells]
        self._finished: set[Architecture] = set()

    def _observe(self, trial: Trial) -> None:
        self._finished.add(trial.arch)

    def suggest(self, trial_numbers: Sequence[int], pending: Sequence[Architecture] = ()) -> list[Suggestion]:
        taken = self._finished | set(pending)
        remaining = (arch for arch in self.cells if arch not in taken)
        suggestions = [Suggestion(arch) for _, arch in zip(trial_numbers, remaining)]
        if len(suggestions) < len(trial_numbers):
            raise SpaceExhaustedError(f"all {len(self.cells)} cells of the list have been asked; nothing is left")
        return suggestions
