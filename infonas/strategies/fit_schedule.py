"""When a Bayesian strategy fits GP hyperparameters, and what its steps in between reuse.

A hyperparameter fit costs tens of optimiser iterations, each a pass through the ``n x n``
kernel and its gradient, so a fit at every step makes a suggestion grow like ``n^2``-``n^3``
(``benchmarks/results/search_scaling_before_schedule.json``: bo-ei at 3.3 s per suggestion at
500 observations, and growing). Hyperparameters move slowly as data accumulate, so they are fitted
only at ``refit_points`` of the data count (geometric: ``O(log n)`` fits in a search of ``n``
observations), and a step in between conditions the GP on *all* its data with the last fit's
hyperparameters, exactly (one Cholesky factor, no optimisation).

Which fit serves a step is a function of the data count alone, and a fit at point ``p`` sees the
first ``p`` observations and is seeded by ``p``, so a resumed run replays the same fits.

Example:
    >>> schedule = FitSchedule(start=5, growth=0.1, seed_for=lambda point: point)
    >>> schedule.points(40)
    [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17, 19, 21, 23, 25, 27, 30, 33, 36, 40]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from infonas.surrogates.incremental import refit_points

__all__ = ["FitSchedule", "Fitted"]

#: ``(h, hyperparameters)`` of one fit: the WL depth and a state dict for ``condition``.
Fitted = tuple[int | None, dict[str, torch.Tensor]]


class FittedSurrogate(Protocol):
    h: int | None

    def fitted_hyperparameters(self) -> dict[str, torch.Tensor]: ...


class FitSchedule:
    """Hyperparameters of a GP surrogate, fitted at ``refit_points`` of the data count.

    A step at ``n`` observations uses the fit at the last refit point ``p <= n``: a fresh fit on
    the first ``p`` observations, seeded by ``seed_for(p)``, at the WL depth ``h`` chosen by
    marginal likelihood (over every ``h``) at every ``h_every``-th point and kept in between.
    Points that no step needs (inside a batch) are never fitted. No fit warm-starts from the one
    before: for the multi-fidelity GP such chains converged to fidelity correlations under which
    cheap looks kept winning over every target look (2 trainings in 150 evaluations of the main job).

    Args:
        start: the first refit point (the initial design's size).
        growth: a fit when the data count has grown by this fraction since the last one.
        seed_for: the seed of the fit at a point.
        h_every: fits between two choices of ``h`` by marginal likelihood.
    """

    def __init__(self, start: int, growth: float, seed_for: Callable[[int], int], h_every: int = 3) -> None:
        if start < 1 or not growth > 0 or h_every < 1:
            raise ValueError(f"a fit schedule needs start >= 1, growth > 0 and h_every >= 1; got start={start}, "
                             f"growth={growth}, h_every={h_every}: use e.g. the initial design's size, 0.1 and 3")
        self.start, self.growth, self.seed_for, self.h_every = int(start), float(growth), seed_for, int(h_every)
        self._fits: dict[int, Fitted] = {}

    def points(self, n: int) -> list[int]:
        """The refit points up to ``n`` observations."""
        return refit_points(self.start, n, self.growth)

    def hyperparameters(self, n: int, fit: Callable[[int, int | None, int], FittedSurrogate]) -> Fitted:
        """``(h, hyperparameters)`` serving a step at ``n`` observations.

        ``fit(point, h, seed)`` fits a fresh surrogate on the first ``point`` observations at WL
        depth ``h`` (``None``: choose it by marginal likelihood), seeded by ``seed``.
        """
        points = self.points(n)
        return self._fit(points, len(points) - 1, fit)

    def _fit(self, points: list[int], k: int, fit: Callable[[int, int | None, int], FittedSurrogate]) -> Fitted:
        """The fit at ``points[k]``: over every ``h`` at every ``h_every``-th point, else at the ``h``
        chosen there (a fraction of the fitting, and only one earlier fit ever needed)."""
        point = points[k]
        if point not in self._fits:
            h = None if k % self.h_every == 0 else self._fit(points, k - k % self.h_every, fit)[0]
            fitted = fit(point, h, self.seed_for(point))
            self._fits[point] = (fitted.h, fitted.fitted_hyperparameters())
        return self._fits[point]
