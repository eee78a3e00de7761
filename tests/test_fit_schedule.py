"""FitSchedule: hyperparameter fits at refit points only, h chosen at every h_every-th fit, and the
single-objective surrogate conditioned (not fitted) in between."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

from infonas import Study, TabularEvaluator
from infonas.strategies.fit_schedule import FitSchedule
from infonas.surrogates.gp import Surrogate
from infonas.testing.fakes import fake_table


@dataclass
class FakeFit:
    h: int | None
    point: int
    calls: list = field(default_factory=list)

    def fitted_hyperparameters(self) -> dict[str, torch.Tensor]:
        return {"point": torch.tensor(float(self.point))}


def recorder(calls: list):
    def fit(point: int, h: int | None, seed: int) -> FakeFit:
        calls.append((point, h, seed))
        return FakeFit(h=point % 3 if h is None else h, point=point)

    return fit


def test_fits_happen_at_refit_points_only_and_are_kept():
    calls: list = []
    schedule = FitSchedule(start=4, growth=0.5, seed_for=lambda point: 100 + point, h_every=2)
    assert schedule.points(20) == [4, 6, 9, 13, 19]
    fit = recorder(calls)
    for n in range(4, 21):
        _, state = schedule.hyperparameters(n, fit)
        assert state["point"].item() == schedule.points(n)[-1]  # the last refit point <= n serves n
    # One fit per point, each seeded by its point; h chosen (None) at every second point of the
    # schedule and kept at the others (6 keeps 4's h, 13 keeps 9's).
    assert calls == [(4, None, 104), (6, 4 % 3, 106), (9, None, 109), (13, 9 % 3, 113), (19, None, 119)]


def test_a_resumed_schedule_replays_the_same_fits():
    first: list = []
    whole = FitSchedule(start=4, growth=0.5, seed_for=lambda point: point, h_every=2)
    for n in range(4, 16):
        whole.hyperparameters(n, recorder(first))
    resumed: list = []
    fresh = FitSchedule(start=4, growth=0.5, seed_for=lambda point: point, h_every=2)
    fresh.hyperparameters(15, recorder(resumed))
    # A fresh schedule at 15 observations needs 13's fit and the fit at 9 that chose its h: both as before.
    assert set(resumed) <= set(first) and resumed[-1] == first[-1]


@pytest.mark.parametrize("bad", [{"start": 0}, {"growth": 0.0}, {"h_every": 0}])
def test_bad_schedules_are_refused(bad):
    options = {"start": 5, "growth": 0.1, "seed_for": int, "h_every": 3, **bad}
    with pytest.raises(ValueError, match="fit schedule"):
        FitSchedule(**options)


def test_condition_reuses_hyperparameters_exactly(space):
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(14)]
    y = np.array([arch.ops.count("nor_conv_3x3") + 0.1 * rng.standard_normal() for arch in archs])
    fitted = Surrogate(space, "wl+hamming", seed=0).fit(archs, y, h=1)
    conditioned = Surrogate(space, "wl+hamming").condition(archs, y, h=1, hyperparameters=fitted.fitted_hyperparameters())
    test = [space.sample(rng) for _ in range(5)]
    a, b = fitted.predict(test), conditioned.predict(test)
    assert torch.allclose(a.mean, b.mean) and torch.allclose(a.variance, b.variance)
    # On more data the same hyperparameters condition exactly: the training points are interpolated.
    more = archs + test
    more_y = np.concatenate([y, [arch.ops.count("nor_conv_3x3") for arch in test]])
    grown = Surrogate(space, "wl+hamming").condition(more, more_y, h=1, hyperparameters=fitted.fitted_hyperparameters())
    assert grown.h == 1 and grown.log_marginal_likelihoods == {}
    assert torch.allclose(grown.predict(test).mean, torch.as_tensor(more_y[-5:], dtype=torch.float64), atol=0.5)


def test_a_bayesian_search_fits_only_at_refit_points(space, monkeypatch):
    table = fake_table(space)
    fits: list[int] = []
    original = Surrogate.fit

    def counting_fit(self, archs, y, **kwargs):
        fits.append(len(archs))
        return original(self, archs, y, **kwargs)

    monkeypatch.setattr(Surrogate, "fit", counting_fit)
    options = {"n_init": 4, "refit_growth": 0.5, "h_values": (1,)}
    Study.create(None, space, TabularEvaluator(table, "acc"), "acc", strategy="bo-ei", seed=0,
                 strategy_options=options).optimize(16, progress=False)
    # 12 model steps at 4..15 observations; fits only at the refit points 4, 6, 9 and 13.
    assert fits == [4, 6, 9, 13]
