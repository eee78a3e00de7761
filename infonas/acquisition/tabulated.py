"""A fitted model's posterior over a finite set of inputs, computed once and addressed by row number.

A Monte Carlo acquisition that scores candidates one q-batch at a time asks its model for the
joint posterior of each batch; qLogNEHVI's batches are the pruned baseline plus one candidate, so
a pool of ``C`` candidates makes ``C`` posterior calls over ``b + 1`` points each, and an exact
GP computes the baseline's ``b`` rows (their kernel against the ``n`` training points and their
solves) ``C`` times, in memory ``O(batch x (n + b) x d)``. With every input known in advance
(the evaluated, pending and candidate architectures of one step), the joint posterior of all of
them is one call: ``TabulatedModel`` makes it. The acquisition is then handed row numbers
(``TabulatedModel.rows``, one column) in place of the encodings, and each ``posterior(Z)``
gathers the rows ``Z`` names. The distribution of every batch is the exact GP posterior the model
would have returned for those inputs. BoTorch has deterministic and ensemble wrappers but none
that tabulates a GP posterior over a finite input set, hence this class.

Example:
    >>> import torch
    >>> from botorch.models import SingleTaskGP
    >>> X = torch.tensor([[0.0], [0.5], [1.0]], dtype=torch.float64)
    >>> gp = SingleTaskGP(X, torch.tensor([[0.0], [1.0], [0.0]], dtype=torch.float64))
    >>> table = TabulatedModel(gp, X)
    >>> batch = table.rows[[2, 0]].unsqueeze(0)  # 1 x 2 x 1: rows 2 and 0
    >>> bool(torch.allclose(table.posterior(batch).mean, gp.posterior(X[[2, 0]].unsqueeze(0)).mean))
    True
"""

from __future__ import annotations

from typing import Any

import torch
from botorch.models.model import Model
from botorch.posteriors.gpytorch import GPyTorchPosterior
from gpytorch.distributions import MultivariateNormal
from linear_operator import to_linear_operator

from infonas.exceptions import InvalidArgumentError

__all__ = ["TabulatedModel", "row_numbers"]


def row_numbers(Z: torch.Tensor, num_rows: int) -> torch.Tensor:
    """The row numbers that ``Z`` (``... x 1``, as ``TabulatedModel.rows`` holds them) names, checked.

    Example:
        >>> row_numbers(torch.tensor([[2.0], [0.0]]), 3).tolist()
        [2, 0]
    """
    if Z.shape[-1] != 1:
        raise InvalidArgumentError(f"a tabulated model is addressed by row numbers (one column), got inputs of "
                                   f"width {Z.shape[-1]}: pass rows of TabulatedModel.rows, not encodings")
    index = Z[..., 0].round().long()
    if bool(((index < 0) | (index >= num_rows) | (index != Z[..., 0])).any()):
        raise InvalidArgumentError(f"row numbers must be whole numbers from 0 to {num_rows - 1}: a tabulated model "
                                   "answers only for the inputs it was built on")
    return index


class TabulatedModel(Model):
    """The posterior of one-output ``model`` over the rows of ``X`` (``N x d``), as a BoTorch model
    addressed by row number.

    ``posterior(Z)`` for ``Z`` (``batch x q x 1``, row numbers from ``rows``) is the multivariate
    normal with the tabulated mean ``mu[i]`` and covariance ``Sigma[i, i']`` of those rows: the
    latent ``f``, without observation noise (as qLogNEHVI asks for it). Memory is ``N^2`` floats.
    """

    def __init__(self, model: Model, X: torch.Tensor) -> None:
        super().__init__()
        if X.dim() != 2:
            raise InvalidArgumentError(f"a tabulated model is built over an N x d input table, got shape "
                                       f"{tuple(X.shape)}")
        if model.num_outputs != 1:
            raise InvalidArgumentError(f"a tabulated model tabulates one output, got a model of {model.num_outputs}")
        with torch.no_grad():
            posterior = model.posterior(X.to(torch.float64))
            self.mean = posterior.mean.reshape(-1).detach()
            self.covariance = posterior.distribution.covariance_matrix.detach().reshape(len(X), len(X))
        #: The inputs to hand an acquisition in place of ``X``: row ``i`` is the number ``i``.
        self.rows = torch.arange(len(X), dtype=torch.float64).unsqueeze(-1)

    @property
    def num_outputs(self) -> int:
        return 1

    def posterior(self, X: torch.Tensor, output_indices: Any = None, observation_noise: bool | torch.Tensor = False,
                  posterior_transform: Any = None) -> GPyTorchPosterior:
        if observation_noise is not False or posterior_transform is not None:
            raise InvalidArgumentError("a tabulated model gives the latent posterior only: observation_noise=False "
                                       "and no posterior_transform")
        index = row_numbers(X, len(self.mean))
        mean = self.mean[index]
        covariance = self.covariance[index.unsqueeze(-1), index.unsqueeze(-2)]
        # Lazy, as a GP's own posterior is: a batch that repeats a row has a singular covariance,
        # which linear_operator's root decomposition handles (with jitter) and torch's eager
        # Cholesky refuses.
        return GPyTorchPosterior(MultivariateNormal(mean, to_linear_operator(covariance)))
