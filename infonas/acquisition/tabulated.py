"""A fitted model's posterior over a finite set of inputs, computed once and looked up by row.

A Monte Carlo acquisition that scores candidates one q-batch at a time asks its model for the
joint posterior of each batch; qLogNEHVI's batches are the pruned baseline plus one candidate, so
a pool of ``C`` candidates makes ``C`` posterior calls over ``b + 1`` points each, and an exact
GP computes the baseline's ``b`` rows (their kernel against the ``n`` training points and their
solves) ``C`` times, in memory ``O(batch x (n + b) x d)``. With every input known in advance
(the evaluated, pending and candidate architectures of one step), the joint posterior of all of
them is one call: ``TabulatedModel`` makes it, and each later ``posterior(X)`` gathers the rows of
``X`` from it. The distribution of every batch is the exact GP posterior the model would have
returned. BoTorch has deterministic and ensemble wrappers but none that tabulates a GP posterior
over a finite input set, hence this class.

Example:
    >>> import torch
    >>> from botorch.models import SingleTaskGP
    >>> X = torch.tensor([[0.0], [0.5], [1.0]], dtype=torch.float64)
    >>> gp = SingleTaskGP(X, torch.tensor([[0.0], [1.0], [0.0]], dtype=torch.float64))
    >>> table = TabulatedModel(gp, X)
    >>> batch = X[[2, 0]].unsqueeze(0)  # 1 x 2 x 1
    >>> bool(torch.allclose(table.posterior(batch).mean, gp.posterior(batch).mean))
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from botorch.models.model import Model
from botorch.posteriors.gpytorch import GPyTorchPosterior
from gpytorch.distributions import MultivariateNormal
from linear_operator import to_linear_operator

from infonas.exceptions import InvalidArgumentError

__all__ = ["RowIndex", "TabulatedModel"]


class RowIndex:
    """Which row of a fixed table each row of a query tensor is (rows compared bit for bit, as float64).

    Example:
        >>> import torch
        >>> index = RowIndex(torch.tensor([[0.0, 1.0], [1.0, 1.0]]))
        >>> index(torch.tensor([[[1.0, 1.0], [0.0, 1.0]]])).tolist()
        [[1, 0]]
    """

    def __init__(self, table: torch.Tensor) -> None:
        rows = self._bytes(table)
        # The first of equal rows: equal inputs have one posterior, so any of them serves.
        self._index: dict[bytes, int] = {}
        for i, row in enumerate(rows):
            self._index.setdefault(row, i)
        self.width = table.shape[-1]

    @staticmethod
    def _bytes(X: torch.Tensor) -> list[bytes]:
        # In float64 whatever the dtype: a float32 row and its float64 copy are one row.
        array = np.ascontiguousarray(X.detach().reshape(-1, X.shape[-1]).to(torch.float64).cpu().numpy())
        return [row.tobytes() for row in array]

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        """Table row of each row of ``X`` (``... x d``): a ``...``-shaped long tensor."""
        if X.shape[-1] != self.width:
            raise InvalidArgumentError(f"query rows must have the table's width {self.width}, got {X.shape[-1]}")
        try:
            rows = [self._index[row] for row in self._bytes(X)]
        except KeyError:
            raise InvalidArgumentError("a queried row is not in the table: a tabulated posterior answers only for "
                                       "the inputs it was built on (build it over every row the acquisition "
                                       "will see)") from None
        return torch.tensor(rows, dtype=torch.long).reshape(X.shape[:-1])


class TabulatedModel(Model):
    """The posterior of one-output ``model`` over the rows of ``X`` (``N x d``), as a BoTorch model.

    ``posterior(Z)`` for ``Z`` (``batch x q x d``, rows of ``X``) is the multivariate normal with
    the tabulated mean ``mu[i]`` and covariance ``Sigma[i, i']`` of those rows: the latent ``f``,
    without observation noise (as qLogNEHVI asks for it). Memory is ``N^2`` floats.
    """

    _num_outputs = 1

    def __init__(self, model: Model, X: torch.Tensor) -> None:
        super().__init__()
        if X.dim() != 2:
            raise InvalidArgumentError(f"a tabulated model is built over an N x d input table, got shape "
                                       f"{tuple(X.shape)}")
        if model.num_outputs != 1:
            raise InvalidArgumentError(f"a tabulated model tabulates one output, got a model of {model.num_outputs}")
        X = X.to(torch.float64)
        self.rows = RowIndex(X)
        with torch.no_grad():
            posterior = model.posterior(X)
            self.mean = posterior.mean.reshape(-1).detach()
            self.covariance = posterior.distribution.covariance_matrix.detach().reshape(len(X), len(X))

    @property
    def num_outputs(self) -> int:
        return 1

    def posterior(self, X: torch.Tensor, output_indices: Any = None, observation_noise: bool | torch.Tensor = False,
                  posterior_transform: Any = None) -> GPyTorchPosterior:
        if observation_noise is not False or posterior_transform is not None:
            raise InvalidArgumentError("a tabulated model gives the latent posterior only: observation_noise=False "
                                       "and no posterior_transform")
        index = self.rows(X)
        mean = self.mean[index]
        covariance = self.covariance[index.unsqueeze(-1), index.unsqueeze(-2)]
        # Lazy, as a GP's own posterior is: a batch that repeats a row has a singular covariance,
        # which linear_operator's root decomposition handles (with jitter) and torch's eager
        # Cholesky refuses.
        return GPyTorchPosterior(MultivariateNormal(mean, to_linear_operator(covariance)))
