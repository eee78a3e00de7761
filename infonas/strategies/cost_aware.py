"""Multi-fidelity Bayesian search: which architecture to evaluate, and how cheaply.

Each step fits one GP over (architecture, fidelity) (``MultiFidelitySurrogate``) and picks the
pair maximising information gained about the target fidelity's optimum per unit cost,

    ``alpha(x, j) = I(y_j(x); f*) / cost_j``  (multi-fidelity MES, Takeno et al., ICML 2020),

so cheap evaluations are bought while they still say something about where the optimum is,
and an expensive one once an architecture's cheap result is known (its cheap information is
then spent). Randomness for trial ``n`` comes from ``(seed, n)``, as for every strategy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from infonas.acquisition.candidates import candidate_pool
from infonas.acquisition.multi_fidelity import greedy_fidelity_batch
from infonas.acquisition.single import PoolPosterior, max_value_samples
from infonas.exceptions import SpaceExhaustedError, UnsupportedError
from infonas.strategies.bayesian import BayesianStrategy
from infonas.strategies.fidelity_plans import FidelityPlanning
from infonas.surrogates.incremental import PoolBelief, refit_points, screen_pool
from infonas.surrogates.multi_fidelity import MultiFidelitySurrogate
from search_spaces.base import Architecture, SearchSpace


class MultiFidelityStrategy(FidelityPlanning, BayesianStrategy):
    """Cost-aware information gain over (architecture, fidelity) pairs (``bo-mf``).

    Args:
        n_init: architectures of a balanced design (``balanced_design``) evaluated at the cheapest
            fidelity before the first model.
        n_init_target: then, the best of those by their cheap result are evaluated at the target
            fidelity (the model needs target data to learn how the fidelities correlate).
        num_max_samples: draws of the target optimum ``f*``.
        cheap_batch: how many cheap pairs one model step may propose, chosen jointly (each
            conditioned on the earlier ones); ``round_size`` asks ``Study.optimize`` for them.
            1 (the default) proposes one pair per step. A round cut short (by an evaluation
            budget, or an ``ask`` of fewer trials) is not continued after a resume: the next
            step plans afresh, so only uncut rounds replay exactly.
        refit_growth: hyperparameters are fitted when the number of observations has grown by
            this fraction since the last fit (``infonas.surrogates.incremental.refit_points``);
            the steps between condition the GP on all data with them, exactly. ``h`` is chosen
            afresh (by marginal likelihood) at every ``H_EVERY_FITS``-th fit.
        cheap_random_share: the probability that a trial after the initial design is a random
            unseen cell at the cheapest fidelity instead of a model step (SMAC's interleaving;
            ``FidelityPlanning._interleaved`` says why). 0 makes every trial a model step.
        screen_keep, screen_extras: exact moments and acquisition run over the ``screen_keep``
            pool cells of highest screening bound plus ``screen_extras`` random others
            (``screen_pool``).
        Other arguments are ``BayesianStrategy``'s (kernel, warp, h_values, maxiter, pool, pool_budget; a
            sampled pool starts from the best target results).

    Costs are the evaluator's fixed costs, or, for a fidelity whose cost is measured per
    evaluation (seconds of training), the mean cost observed at it so far. A pending
    architecture is not proposed again at any fidelity, and every pick conditions on the pending
    pairs and the batch's earlier picks by the kriging believer: each counts as observed at the
    posterior mean of its fidelity, hyperparameters kept. ``pending`` items are ``Suggestion``
    (architecture and fidelity) or bare architectures, which, like a suggestion without a
    fidelity, stand for the target fidelity.

    Example:
        >>> from infonas.evaluators.base import Fidelity
        >>> from search_spaces import NB201Space
        >>> fidelities = [Fidelity("valid_12ep", 0.06, 0), Fidelity("test_200ep", 1.0, 1)]
        >>> strategy = MultiFidelityStrategy(NB201Space(), "test_200ep", seed=0, fidelities=fidelities)
        >>> strategy.suggest([0])[0].fidelity
        'valid_12ep'
    """

    name = "bo-mf"
    multi_fidelity = True
    #: Fits between two fresh choices of ``h`` (about a doubling of the data at ``refit_growth=0.15``).
    H_EVERY_FITS = 5

    def __init__(self, space: SearchSpace, objective: str, seed: int = 0, maximize: bool = True, *,
                 n_init: int = 10, n_init_target: int = 2, num_max_samples: int = 32, cheap_batch: int = 1,
                 refit_growth: float = 0.15, screen_keep: int = 1024, screen_extras: int = 256,
                 cheap_random_share: float = 0.1, **options: Any) -> None:
        options.setdefault("acquisition", "mf-mes")
        super().__init__(space, objective, seed, maximize, n_init=n_init, **options)
        if len(self.fidelities) < 2:
            raise UnsupportedError(f"strategy {self.name!r} needs an evaluator with two or more fidelities (a cheap "
                                   f"one and the target); got {[f.name for f in self.fidelities]}: give the "
                                   "evaluator a cheap fidelity, or use a single-fidelity strategy such as 'bo-mes'")
        if n_init_target < 1:
            raise ValueError(f"n_init_target must be at least 1, got {n_init_target}")
        if cheap_batch < 1 or refit_growth <= 0 or screen_keep < 1 or screen_extras < 0:
            raise ValueError(f"cheap_batch and screen_keep must be at least 1, refit_growth positive and screen_extras "
                             f"non-negative; got cheap_batch={cheap_batch}, refit_growth={refit_growth}, "
                             f"screen_keep={screen_keep}, screen_extras={screen_extras}")
        self.n_init_target = n_init_target
        self.cheap_random_share = float(cheap_random_share)
        self.num_max_samples = num_max_samples
        self.cheap_batch, self.refit_growth = int(cheap_batch), float(refit_growth)
        self.screen_keep, self.screen_extras = int(screen_keep), int(screen_extras)
        # Per-process caches of pure functions of the journal: fits by data count, the last plan.
        self._fits: dict[int, tuple[int | None, dict[str, torch.Tensor]]] = {}
        self._init_fidelity_planning()
        self.surrogate: MultiFidelitySurrogate | None = None

    def _modelled_metric(self) -> tuple[str, float]:
        return self.objective, 1.0 if self.maximize else -1.0

    def _cheap_initial(self, number: int, exclude: set[str]) -> Architecture:
        # The balanced design (``BayesianStrategy._initial``), as bo-mes's, not random cells: the
        # additive kernel learns a main effect from its first witnesses, and an op on an edge
        # with none or only bad ones (NB201's skip on edge 0->3, which the best cells share) is
        # then rarely looked at again, at either fidelity. Balance gives every choice its share.
        return self._initial(number, self.rng_for(number), exclude)

    def _acquire_pairs(self, number: int, taken: set[str],
                       pending: list[tuple[Architecture, int]]) -> list[tuple[Architecture, int]]:
        rng = self.rng_for(number)
        archs, values, fidelities = self.fidelity_data()
        target = self.target_index
        warped = self.warp_per_fidelity(values, fidelities)
        h, state = self._hyperparameters(archs, values, fidelities)
        surrogate = self._new_surrogate(0).condition(archs, warped, fidelities, h=h, hyperparameters=state)
        believe_pending(surrogate, archs, warped, fidelities, pending)
        self.surrogate = surrogate
        universe = self._universe(rng, surrogate, archs, values, fidelities, taken)
        if not universe:
            raise SpaceExhaustedError(f"bo-mf proposes architectures not yet evaluated at the target fidelity; none of "
                                      f"{self.space.name!r} is left outside the evaluated and the {len(taken)} pending: "
                                      "stop the search, or search a larger space")
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        X = surrogate.encode(universe, target)
        kept = screen_pool(surrogate, X, self.screen_keep, self.screen_extras, generator)
        universe = [universe[int(i)] for i in kept]
        belief = PoolBelief(surrogate, X[kept])
        observed, observed_fidelity = surrogate.standardised_targets()
        # The incumbent is the best real observation: believed ones follow them in the model's data.
        real = len({(arch.key, int(j)) for arch, j in zip(archs, fidelities)})
        at_target = observed[:real][observed_fidelity[:real] == target]
        best = float(at_target.max()) if at_target.numel() else float("-inf")

        def joint(indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return surrogate.target_joint([universe[int(i)] for i in indices])

        admissible = torch.ones(len(self.fidelities), len(universe), dtype=torch.bool)
        for j in range(len(self.fidelities)):
            # A pair already evaluated (or an architecture already known at the target) is not
            # worth buying; pending architectures wait for their result.
            done = self.seen_at[target] | taken | (self.seen_at[j] if j != target else set())
            admissible[j] = torch.tensor([a.key not in done for a in universe])
        if not bool(admissible.any()):
            raise SpaceExhaustedError(
                f"bo-mf proposes architectures not yet evaluated at the target fidelity; all {len(universe)} "
                f"screened candidates of {self.space.name!r} are evaluated there or pending ({len(taken)} pending): "
                "stop the search, or search a larger space")
        moments = belief.moments
        posterior = PoolPosterior(moments.mean[target], moments.variance[target].sqrt(), joint)
        f_star = max_value_samples(posterior, best, generator, self.num_max_samples)
        picks = greedy_fidelity_batch(belief, target, f_star, self.costs(), admissible, self.cheap_batch)
        return [(universe[i], j) for i, j in picks]

    def _universe(self, rng: np.random.Generator, surrogate: MultiFidelitySurrogate, archs: list[Architecture],
                  values: np.ndarray, fidelities: np.ndarray, taken: set[str]) -> list[Architecture]:
        """The candidates of a step: every canonical key (the admissibility mask then rules out what
        is evaluated or pending), or a sampled pool of keys neither evaluated at the target nor
        pending, from the best target results, guided by the target's ``mu + 3 sigma`` (what
        ``screen_pool`` ranks by, on the same scale up to an affine map)."""
        target = self.target_index
        at_target = np.flatnonzero(fidelities == target)
        incumbents = [archs[i] for i in at_target[np.argsort(-values[at_target], kind="stable")[:5]]]

        def guide(batch: list[Architecture]) -> torch.Tensor:
            prediction = surrogate.predict(batch, fidelity=target)
            return prediction.mean + 3 * prediction.variance.clamp_min(0).sqrt()

        exclude = set() if self.pool == "enumerate" else self.seen_at[target] | taken
        return candidate_pool(self.space, exclude, rng, incumbents, pool=self.pool, score=guide,
                              budget=self.pool_budget)

    def _hyperparameters(self, archs: list[Architecture], values: np.ndarray,
                         fidelities: np.ndarray) -> tuple[int | None, dict[str, torch.Tensor]]:
        """``(h, hyperparameters)`` fitted at the last refit point of the data count (a function of
        the journal alone: each fit sees the data prefix up to its point, warm-started from the
        fit before it, so a resumed run replays the same chain of fits)."""
        start = self.n_init + self.n_init_target
        previous = None
        for k, point in enumerate(refit_points(start, len(archs), self.refit_growth)):
            if point not in self._fits:
                self._fits[point] = self._fit_at(point, k, previous, archs, values, fidelities)
            previous = self._fits[point]
        assert previous is not None
        return previous

    def _fit_at(self, point: int, k: int, previous: tuple[int | None, dict[str, torch.Tensor]] | None,
                archs: list[Architecture], values: np.ndarray,
                fidelities: np.ndarray) -> tuple[int | None, dict[str, torch.Tensor]]:
        """The fit on the first ``point`` observations: warm-started from ``previous``, and at every
        ``H_EVERY_FITS``-th point also fresh for each ``h``; the best by marginal likelihood wins."""
        prefix = slice(0, point)
        data = (archs[prefix], self.warp_per_fidelity(values[prefix], fidelities[prefix]), fidelities[prefix])
        seed = int(self.rng_for(point).integers(2**31))
        candidates = []
        if previous is not None:
            warm = self._new_surrogate(seed).condition(*data, h=previous[0], hyperparameters=previous[1])
            candidates.append(warm.refit(*data, maxiter=self.maxiter))
        if previous is None or k % self.H_EVERY_FITS == 0:
            candidates.append(self._new_surrogate(seed).fit(*data))
        best = max(candidates, key=lambda c: c.log_marginal_likelihoods[c.h])
        return best.h, best.fitted_hyperparameters()


def believe_pending(surrogate: MultiFidelitySurrogate, archs: list[Architecture], values: np.ndarray,
                    fidelities: np.ndarray, pending: Sequence[tuple[Architecture, int]]) -> None:
    """Kriging believer over (architecture, fidelity) pairs: ``y_j(x) := E[f_j(x) | data]`` for each
    pending pair not yet observed, then the same hyperparameters conditioned on data and beliefs.

    Believed rows follow the real ones in the refitted model (``deduplicate`` keeps first appearances).
    """
    observed = {(arch.key, int(j)) for arch, j in zip(archs, fidelities)}
    fresh: dict[tuple[str, int], tuple[Architecture, int]] = {}
    for arch, j in pending:
        if (arch.key, j) not in observed:
            fresh.setdefault((arch.key, j), (arch, j))
    if not fresh:
        return
    pairs = list(fresh.values())
    believed = [float(surrogate.predict([arch], fidelity=j).mean[0]) for arch, j in pairs]
    surrogate.refit(archs + [arch for arch, _ in pairs], np.concatenate([values, believed]),
                    np.concatenate([fidelities, [j for _, j in pairs]]).astype(np.int64), maxiter=0)
