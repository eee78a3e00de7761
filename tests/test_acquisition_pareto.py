"""Acquisitions for Pareto fronts: screening, PFES (against a brute-force loop), qLogNEHVI."""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import norm

from infonas.acquisition.gaussian import joint_draws
from infonas.acquisition.pareto import log_nehvi, pareto_front_entropy, screen_for_front

F64 = torch.float64


def test_screen_keeps_only_candidates_that_could_join_the_front():
    mean = torch.tensor([[1.0], [0.0], [2.0]], dtype=F64)
    std = torch.full((3, 1), 0.1, dtype=F64)
    known = torch.tensor([[-5.0], [-6.0], [-7.0]], dtype=F64)  # signed flops: larger is cheaper
    # Candidate 1 is costlier and surely worse than candidate 0: it cannot join the front; 2 is
    # costlier still but better, so it may.
    assert sorted(screen_for_front(mean, std, known).tolist()) == [0, 2]
    assert screen_for_front(mean, std, known, limit=1).tolist() == [0]  # the larger margin first
    # With a second modelled objective in which 1 may beat 0, it stays.
    mean2 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]], dtype=F64)
    assert sorted(screen_for_front(mean2, torch.full((3, 2), 0.1, dtype=F64), known).tolist()) == [0, 1, 2]


def test_pfes_matches_a_brute_force_loop():
    generator = torch.Generator().manual_seed(0)
    n, m, samples = 5, 8, 32
    mean = torch.randn(n, generator=generator, dtype=F64)
    std = 0.5 + torch.rand(n, generator=generator, dtype=F64)
    known = torch.randn(n, 2, generator=generator, dtype=F64)
    front_known = torch.cat([known, torch.randn(m - n, 2, generator=generator, dtype=F64)])
    root = torch.randn(m, m, generator=generator, dtype=F64)
    front_mean, front_covariance = torch.randn(m, generator=generator, dtype=F64), root @ root.T / m
    got = pareto_front_entropy(mean, std, known, front_mean, front_covariance, front_known,
                               torch.Generator().manual_seed(5), samples)
    draws = joint_draws(front_mean, front_covariance, torch.Generator().manual_seed(5), samples).numpy()
    expected = np.zeros(n)
    for x in range(n):
        for s in range(samples):
            caps = [draws[p, s] for p in range(m) if bool((front_known[p] >= known[x]).all())]
            if caps:  # x covers itself, so never empty here
                g = (max(caps) - float(mean[x])) / float(std[x])
                expected[x] += (g * norm.pdf(g) / (2 * norm.cdf(g)) - norm.logcdf(g)) / samples
    assert torch.allclose(got, torch.as_tensor(expected), atol=1e-9)


def test_pfes_gives_nothing_where_no_front_point_covers():
    mean, std = torch.zeros(1, dtype=F64), torch.ones(1, dtype=F64)
    front_known = torch.tensor([[0.0]], dtype=F64)
    score = pareto_front_entropy(mean, std, torch.tensor([[1.0]], dtype=F64), torch.zeros(1, dtype=F64),
                                 torch.eye(1, dtype=F64), front_known, torch.Generator().manual_seed(0), 8)
    assert score.tolist() == [0.0]


def test_log_nehvi_prefers_a_candidate_that_extends_the_front():
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.input import Normalize

    X = torch.tensor([[0, 0], [1, 1], [2, 2], [3, 3], [0, 3], [3, 0]], dtype=F64)
    y = torch.tensor([[0.0], [1.0], [2.0], [3.0]], dtype=F64)
    baseline = 4
    model = SingleTaskGP(X[:baseline], y, input_transform=Normalize(d=2)).eval()
    # Signed cost: the baseline trades accuracy for cost; candidate 4 (accurate and cheap) extends
    # the front, candidate 5 (inaccurate and costly) does not.
    known = torch.tensor([[3.0], [2.0], [1.0], [0.0], [2.5], [-1.0]], dtype=F64)
    run = lambda seed: log_nehvi([model], X, baseline, y, known,
                                 torch.Generator().manual_seed(seed), num_samples=16)
    scores = run(0)
    assert scores.shape == (2,) and bool(torch.isfinite(scores).all())
    assert scores[0] > scores[1]
    assert torch.equal(scores, run(0))



def test_log_nehvi_credits_a_candidate_only_what_pending_points_leave():
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.input import Normalize

    # Rows 0-3 evaluated; 4 and its twin 5 (as cheap, and near it in the model) extend the front,
    # 6 does not.
    X = torch.tensor([[0, 0], [1, 1], [2, 2], [3, 3], [0, 3], [1, 3], [3, 0]], dtype=F64)
    y = torch.tensor([[0.0], [1.0], [2.0], [3.0]], dtype=F64)
    model = SingleTaskGP(X[:4], y, input_transform=Normalize(d=2)).eval()
    known = torch.tensor([[3.0], [2.0], [1.0], [0.0], [2.5], [2.5], [-1.0]], dtype=F64)

    def scores(rows, num_pending=0):
        return log_nehvi([model], X[rows], 4, y, known[rows], torch.Generator().manual_seed(0),
                         num_samples=16, num_pending=num_pending)

    alone = scores([0, 1, 2, 3, 5, 6])
    with_twin_pending = scores([0, 1, 2, 3, 4, 5, 6], num_pending=1)
    assert with_twin_pending.shape == (2,) and bool(torch.isfinite(with_twin_pending).all())
    # With row 4 pending, the twin adds only what it may beat row 4's jointly sampled value by
    # (seen: about half the improvement, 0.7 less in log).
    assert with_twin_pending[0] < alone[0] - 0.5
    # A pending copy of a candidate leaves it nothing (seen: -13.4 against -0.8 in log).
    free = scores([0, 1, 2, 3, 4, 6])
    copy_pending = scores([0, 1, 2, 3, 4, 4, 6], num_pending=1)
    assert copy_pending[0] < free[0] - 5.0
