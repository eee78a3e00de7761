"""TabulatedModel: a GP posterior over a finite input set, looked up by row; and qLogNEHVI on it."""

from __future__ import annotations

import pytest
import torch

from infonas.acquisition.pareto import log_nehvi
from infonas.acquisition.tabulated import TabulatedModel, row_numbers
from infonas.exceptions import InvalidArgumentError

F64 = torch.float64


def _gp(seed: int = 0, n: int = 8, d: int = 3):
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.outcome import Standardize

    generator = torch.Generator().manual_seed(seed)
    X = torch.randint(0, 4, (n, d), generator=generator).to(F64)
    y = torch.randn(n, 1, generator=generator, dtype=F64)
    return SingleTaskGP(X, y, outcome_transform=Standardize(m=1)).eval(), X


def test_every_batch_gets_the_models_joint_posterior():
    model, X_train = _gp()
    table = torch.cat([X_train, torch.tensor([[0.5, 1.5, 2.5], [3.0, 0.0, 1.0]], dtype=F64)])
    tabulated = TabulatedModel(model, table)
    rows = torch.tensor([[9, 0, 3], [1, 8, 1]])  # a row repeated in the second batch
    got, expected = tabulated.posterior(tabulated.rows[rows]), model.posterior(table[rows])
    assert got.mean.shape == expected.mean.shape == (2, 3, 1)
    assert torch.allclose(got.mean, expected.mean, atol=1e-10)
    assert torch.allclose(got.distribution.covariance_matrix, expected.distribution.covariance_matrix, atol=1e-10)


def test_rows_outside_the_table_and_other_posteriors_are_refused():
    model, X_train = _gp()
    tabulated = TabulatedModel(model, X_train)
    with pytest.raises(InvalidArgumentError, match="row numbers \\(one column\\)"):
        tabulated.posterior(X_train[:2].unsqueeze(0))  # encodings, not row numbers
    for wrong in (8.0, -1.0, 0.5):
        with pytest.raises(InvalidArgumentError, match="whole numbers from 0 to 7"):
            tabulated.posterior(torch.tensor([[[wrong]]], dtype=F64))
    with pytest.raises(InvalidArgumentError, match="latent posterior only"):
        tabulated.posterior(tabulated.rows[:2].unsqueeze(0), observation_noise=True)
    with pytest.raises(InvalidArgumentError, match="N x d"):
        TabulatedModel(model, X_train.unsqueeze(0))
    assert row_numbers(torch.tensor([[[3.0], [0.0]]]), 4).tolist() == [[3, 0]]


def _log_nehvi_on_the_model(gps, X, num_baseline, observed, known, seed, num_samples, num_pending=0):
    """qLogNEHVI as log_nehvi computed it before tabulation: the GP asked for each batch itself."""
    from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
    from botorch.models.deterministic import GenericDeterministicModel
    from botorch.models.model import ModelList
    from botorch.sampling import ListSampler
    from botorch.sampling.get_sampler import get_sampler

    low, high = known.min(dim=0).values, known.max(dim=0).values
    known = (known - low) / torch.where(high > low, high - low, torch.ones_like(high))
    row_of = {tuple(row.tolist()): i for i, row in reversed(list(enumerate(X)))}

    def lookup(Z):
        return known[torch.tensor([row_of[tuple(row.tolist())] for row in Z.reshape(-1, Z.shape[-1])])].reshape(
            *Z.shape[:-1], known.shape[-1])

    models = [*gps, GenericDeterministicModel(lookup, num_outputs=known.shape[-1])]
    observed = torch.cat([observed, known[:num_baseline]], dim=-1)
    span = observed.max(dim=0).values - observed.min(dim=0).values
    reference = observed.min(dim=0).values - 0.1 * span.clamp_min(1e-6)
    seed = int(torch.randint(2**31, (1,), generator=torch.Generator().manual_seed(seed)))
    X_pending = X[num_baseline:num_baseline + num_pending] if num_pending else None
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        acquisition = qLogNoisyExpectedHypervolumeImprovement(
            model=ModelList(*models), ref_point=reference.tolist(), X_baseline=X[:num_baseline],
            X_pending=X_pending, prune_baseline=True, cache_root=False,
            sampler=ListSampler(*[get_sampler(m.posterior(X[:1]), torch.Size([num_samples]), seed=seed + i)
                                  for i, m in enumerate(models)]))
        with torch.no_grad():
            return acquisition(X[num_baseline + num_pending:].unsqueeze(1))


@pytest.mark.parametrize(("num_pending", "modelled"), [(0, 1), (2, 1), (1, 2)])
def test_log_nehvi_scores_as_botorch_does_on_the_gps_themselves(num_pending, modelled):
    gps = [_gp(seed=3 + j, n=10)[0] for j in range(modelled)]
    X_train = _gp(seed=3, n=10)[1]
    for gp in gps[1:]:  # one set of inputs, another outcome each
        gp.set_train_data(X_train, gp.train_targets, strict=False)
    generator = torch.Generator().manual_seed(4)
    extra = torch.randint(0, 4, (6, 3), generator=generator).to(F64) + 0.5  # pending, then candidates
    X = torch.cat([X_train, extra])
    observed = torch.cat([gp.outcome_transform.untransform(gp.train_targets.unsqueeze(-1))[0] for gp in gps], dim=-1)
    known = torch.randn(len(X), 1, generator=generator, dtype=F64)
    got = log_nehvi(gps, X, 10, observed, known, torch.Generator().manual_seed(9), num_samples=32,
                    num_pending=num_pending)
    expected = _log_nehvi_on_the_model(gps, X, 10, observed, known, 9, 32, num_pending)
    assert got.shape == (6 - num_pending,)
    assert torch.allclose(got, expected.to(F64), atol=1e-6)
