"""The multi-fidelity surrogate: one GP over (architecture, fidelity) with learned correlations.

``k((x, i), (x', j)) = k_arch(x, x') * B[i, j]``: the architecture kernel of ``Surrogate`` times
a learned positive index kernel over the discrete fidelities (intrinsic coregionalisation,
BoTorch's ``MultiTaskGP``), so cheap observations inform the prediction at the target fidelity.
``fidelity_correlation()`` is the learned ``B_ij / sqrt(B_ii B_jj)``.

``pool_moments`` gives what multi-fidelity acquisition needs over a whole candidate pool in one
pass: per fidelity the posterior mean and variance, the posterior covariance with the target
fidelity at the same architecture, and each fidelity's noise variance.

Example:
    >>> import numpy as np
    >>> from search_spaces import NB201Space
    >>> space = NB201Space()
    >>> rng = np.random.default_rng(0)
    >>> archs = [space.sample(rng) for _ in range(16)]
    >>> truth = np.array([arch.ops.count("nor_conv_3x3") for arch in archs], dtype=float)
    >>> fidelities = np.arange(16) % 2
    >>> y = truth + 0.3 * fidelities * rng.standard_normal(16)
    >>> surrogate = MultiFidelitySurrogate(space, "hamming").fit(archs, y, fidelities)
    >>> surrogate.fidelity_correlation().shape
    (2, 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from botorch.models import MultiTaskGP
from botorch.models.transforms.outcome import StratifiedStandardize
from gpytorch.distributions import MultivariateNormal
from gpytorch.means import ConstantMean, MultitaskMean
from linear_operator.operators import DiagLinearOperator

from infonas.encodings.inputs import ArchitectureEncoder
from infonas.surrogates.base import (
    GPSurrogateBase,
    architecture_kernel,
    check_training_data,
    deduplicate,
    fit_mll,
    hyperparameters,
)
from infonas.surrogates.prediction import DTYPE, Prediction, check_bound, prediction, warp_values
from search_spaces.base import Architecture, SearchSpace

__all__ = ["MultiFidelitySurrogate", "PoolMoments"]


@dataclass(frozen=True)
class PoolMoments:
    """Posterior moments over a pool, in the model's standardised units of each fidelity.

    ``mean[j]``, ``variance[j]``: of ``f_j(x)`` (noise-free); ``target_covariance[j]``:
    ``Cov(f_target(x), f_j(x))``; ``noise[j]``: the observation noise variance of fidelity ``j``.
    Tensors of shape ``num_fidelities x n`` (``noise``: ``num_fidelities``).
    """

    mean: torch.Tensor
    variance: torch.Tensor
    target_covariance: torch.Tensor
    noise: torch.Tensor


class MultiFidelitySurrogate(GPSurrogateBase):
    """One GP over (architecture, fidelity index): ``k_arch(x, x') * B[f, f']``.

    ``B`` is a learned positive index kernel over the ``num_fidelities`` discrete fidelities
    (BoTorch ``MultiTaskGP``, intrinsic coregionalisation; ``rank`` defaults to full), targets
    are standardised per fidelity and noise is inferred per fidelity. Fidelity ``f`` is an integer
    ``0..num_fidelities-1``; ``target_fidelity`` (default: the last) is what ``predict`` returns.
    """

    def __init__(
        self,
        space: SearchSpace,
        kernel: str = "wl+hamming",
        *,
        num_fidelities: int = 2,
        target_fidelity: int | None = None,
        rank: int | None = None,
        h_values: Sequence[int] = (0, 1, 2),
        encoder: ArchitectureEncoder | None = None,
        maxiter: int | None = 50,
        seed: int = 0,
        upper_bound: float | None = None,
    ) -> None:
        if kernel == "onehot-rbf":
            raise ValueError("the multi-fidelity surrogate takes a 'wl'/'hamming' kernel spec")
        if num_fidelities < 2:
            raise ValueError("a multi-fidelity surrogate needs num_fidelities >= 2")
        target = num_fidelities - 1 if target_fidelity is None else int(target_fidelity)
        if not 0 <= target < num_fidelities:
            raise ValueError(f"target_fidelity must lie in 0..{num_fidelities - 1}, got {target_fidelity}")
        super().__init__(space, kernel, h_values=h_values, encoder=encoder, maxiter=maxiter, seed=seed,
                         upper_bound=upper_bound)
        self.num_fidelities = int(num_fidelities)
        self.target_fidelity = target
        self.rank = rank
        self.model: MultiTaskGP | None = None

    def _build(self, X: torch.Tensor, Y: torch.Tensor, h: int | None) -> MultiTaskGP:
        assert self.layout is not None
        covar = architecture_kernel(self.kernel, self.layout, h if h is not None else 0)
        fidelities = torch.arange(self.num_fidelities, dtype=DTYPE)
        return MultiTaskGP(
            X,
            Y,
            task_feature=-1,
            covar_module=covar,
            output_tasks=[self.target_fidelity],
            all_tasks=list(range(self.num_fidelities)),
            rank=self.rank,
            outcome_transform=StratifiedStandardize(stratification_idx=X.shape[-1] - 1, all_task_values=fidelities),
        )

    def fit(
        self,
        archs: Sequence[Architecture],
        y: Sequence[float] | np.ndarray | torch.Tensor,
        fidelities: Sequence[int] | np.ndarray,
        *,
        candidates: Sequence[Architecture] | None = None,
        h: int | None = None,
    ) -> MultiFidelitySurrogate:
        """Fit on observations ``y[i]`` of ``archs[i]`` at fidelity ``fidelities[i]``.

        Each fidelity needs at least two observations of distinct value: the targets are
        standardised per fidelity.
        """
        X, Y = self._prepare(archs, y, fidelities, candidates)
        self._fit_model(X, Y, h)
        return self

    def refit(self, archs: Sequence[Architecture], y: Sequence[float] | np.ndarray | torch.Tensor,
              fidelities: Sequence[int] | np.ndarray, *, candidates: Sequence[Architecture] | None = None,
              maxiter: int = 25) -> MultiFidelitySurrogate:
        """Cheap refit on new data: same ``h``, warm-started hyperparameters, ``maxiter`` steps.

        Falls back to ``fit`` when nothing was fitted before. ``maxiter=0`` only conditions the
        previous hyperparameters on the new data (a kriging believer's fantasies, for one).
        """
        if self.model is None:
            return self.fit(archs, y, fidelities, candidates=candidates)
        previous = hyperparameters(self.model.state_dict())
        X, Y = self._prepare(archs, y, fidelities, candidates)
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            model = self._build(X, Y, self.h)
            model.load_state_dict(previous, strict=False)
            value = fit_mll(model, maxiter)
        self.log_marginal_likelihoods = {self.h: value}
        self.model, self._predictor = model, None
        return self

    def condition(self, archs: Sequence[Architecture], y: Sequence[float] | np.ndarray | torch.Tensor,
                  fidelities: Sequence[int] | np.ndarray, *, h: int | None,
                  hyperparameters: dict[str, torch.Tensor]) -> MultiFidelitySurrogate:
        """The GP of WL depth ``h`` and ``fitted_hyperparameters()`` conditioned on the data, not fitted."""
        X, Y = self._prepare(archs, y, fidelities, None)
        self._condition_model(X, Y, h, hyperparameters)
        return self

    def _prepare(self, archs, y, fidelities, candidates) -> tuple[torch.Tensor, torch.Tensor]:
        """Checked, deduplicated model inputs ``[encoding | fidelity]`` and targets (layout set)."""
        archs, values = check_training_data(self.space, archs, y)
        check_bound(values, self.upper_bound)
        fidelity = np.asarray(fidelities)
        if fidelity.shape != (len(archs),):
            raise ValueError(f"got {len(archs)} architectures but {fidelity.size} fidelity indices; they must match")
        if not np.all(np.equal(np.mod(fidelity, 1), 0)) or fidelity.min() < 0 or fidelity.max() >= self.num_fidelities:
            raise ValueError(f"fidelity indices must be integers in 0..{self.num_fidelities - 1}")
        fidelity = fidelity.astype(np.int64)
        archs, values, groups = deduplicate(archs, values, fidelity.tolist())
        self.layout = self.encoder.layout(archs + list(candidates or []))
        X = torch.cat(
            [self.encoder.encode(archs, self.layout), torch.as_tensor(groups, dtype=DTYPE).unsqueeze(-1)], dim=-1
        )
        Y = torch.as_tensor(warp_values(values, self.upper_bound), dtype=DTYPE).unsqueeze(-1)
        return X, Y

    def encode(self, archs: Sequence[Architecture], fidelity: int | None = None) -> torch.Tensor:
        """Model input of ``archs`` at ``fidelity`` (default: the target fidelity)."""
        self._require_fit()
        fidelity = self.target_fidelity if fidelity is None else int(fidelity)
        if not 0 <= fidelity < self.num_fidelities:
            raise ValueError(f"fidelity must lie in 0..{self.num_fidelities - 1}, got {fidelity}")
        X = self.encoder.encode(list(archs), self.layout)
        return torch.cat([X, torch.full((X.shape[0], 1), float(fidelity), dtype=DTYPE)], dim=-1)

    def predict(
        self,
        archs: Sequence[Architecture],
        fidelity: int | None = None,
        *,
        observation_noise: bool = False,
        batch_size: int = 4096,
    ) -> Prediction:
        """Posterior mean and variance at ``archs`` and ``fidelity`` (default: the target)."""
        X = self.encode(archs, fidelity)
        loc, variance = self._marginals()(X, observation_noise, batch_size)
        return prediction(loc, variance, self.upper_bound)

    # ----- pool moments for multi-fidelity acquisition -----

    def _kernels(self):
        data_kernel, task_kernel = self.model.covar_module.kernels
        return data_kernel, task_kernel

    def _prior_means(self) -> torch.Tensor:
        """The prior mean of each fidelity (constant in ``x`` for BoTorch's default mean modules)."""
        mean_module = self.model.mean_module
        constant = (isinstance(mean_module, ConstantMean)
                    or (isinstance(mean_module, MultitaskMean)
                        and all(isinstance(m, ConstantMean) for m in mean_module.base_means)))
        if not constant:
            raise TypeError(f"pool_moments needs a constant prior mean per fidelity, got {type(mean_module).__name__}")
        with torch.no_grad():
            return self.model.forward(self._one_input_per_fidelity()).mean

    def _one_input_per_fidelity(self) -> torch.Tensor:
        """A training architecture at every fidelity: where per-fidelity constants are read off."""
        X = self.model.train_inputs[0][:1].repeat(self.num_fidelities, 1)
        X[:, -1] = torch.arange(self.num_fidelities, dtype=DTYPE)
        return X

    def noise_variances(self) -> torch.Tensor:
        """The learned observation noise variance of each fidelity (standardised units)."""
        self._require_fit()
        zero = torch.zeros(self.num_fidelities, dtype=DTYPE)
        with torch.no_grad():
            prior = MultivariateNormal(zero, DiagLinearOperator(torch.full_like(zero, 1e-300)))
            return self.model.likelihood(prior, self._one_input_per_fidelity()).variance.reshape(-1)

    def pool_moments(self, archs: Sequence[Architecture], batch_size: int = 2048) -> PoolMoments:
        """Posterior moments of every fidelity at ``archs`` (see ``PoolMoments``), in batches."""
        self._require_fit()
        X = self.encode(archs, self.target_fidelity)
        parts = [self.moment_parts(X[start : start + batch_size])[:3] for start in range(0, X.shape[0], batch_size)]
        return PoolMoments(*(torch.cat([part[k] for part in parts], dim=1) for k in range(3)), self.noise_variances())

    def moment_parts(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Mean, variance, target covariance (``F x m``) at inputs ``X``; ``L^-1 K(X_train, (X, j))`` per ``j``.

        With ``K_a`` the architecture kernel and ``B`` the fidelity kernel, the cross-covariance
        of ``f_j(x)`` with the training data is ``K_a(x, X) * B[j, t(X)]``; one architecture
        kernel evaluation serves every fidelity, instead of one GP posterior call per fidelity.
        """
        self._require_fit()
        predictor = self._marginals()
        data_kernel, task_kernel = self._kernels()
        train_X = predictor.train_X
        train_tasks = train_X[:, -1].long()
        target = self.target_fidelity
        with torch.no_grad():
            B = task_kernel.covar_matrix.to_dense()
            prior_mean = self._prior_means()
            cross_arch = data_kernel(X, train_X).to_dense()
            diag_arch = data_kernel(X, X, diag=True)
            cross = [cross_arch * B[j, train_tasks].unsqueeze(0) for j in range(self.num_fidelities)]
            solved = [torch.linalg.solve_triangular(predictor.L, c.T, upper=False) for c in cross]
            mean = torch.stack([prior_mean[j] + cross[j] @ predictor.alpha for j in range(self.num_fidelities)])
            variance = torch.stack([diag_arch * B[j, j] - (solved[j] ** 2).sum(0) for j in range(self.num_fidelities)])
            covariance = torch.stack([diag_arch * B[target, j] - (solved[target] * solved[j]).sum(0)
                                      for j in range(self.num_fidelities)])
        return mean, variance.clamp_min(1e-12), covariance, solved

    def target_joint(self, archs: Sequence[Architecture]) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean vector and covariance matrix of ``f_target`` at ``archs`` (standardised units)."""
        self._require_fit()
        predictor = self._marginals()
        data_kernel, task_kernel = self._kernels()
        train_X = predictor.train_X
        target = self.target_fidelity
        with torch.no_grad():
            B = task_kernel.covar_matrix.to_dense()
            X = self.encode(archs, target)
            cross = data_kernel(X, train_X).to_dense() * B[target, train_X[:, -1].long()].unsqueeze(0)
            solved = torch.linalg.solve_triangular(predictor.L, cross.T, upper=False)
            mean = self._prior_means()[target] + cross @ predictor.alpha
            covariance = data_kernel(X, X).to_dense() * B[target, target] - solved.T @ solved
        return mean, covariance

    def standardised_targets(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The training targets in the model's standardised units, and their fidelity indices."""
        self._require_fit()
        return self.model.train_targets.clone(), self.model.train_inputs[0][:, -1].long().clone()

    def fidelity_covariance(self) -> np.ndarray:
        """The learned ``num_fidelities x num_fidelities`` index-kernel matrix ``B``."""
        self._require_fit()
        task_kernel = self.model.covar_module.kernels[-1]
        with torch.no_grad():
            return task_kernel.covar_matrix.detach().cpu().numpy().copy()

    def fidelity_correlation(self) -> np.ndarray:
        """The learned inter-fidelity correlation ``B_ij / sqrt(B_ii B_jj)``."""
        covariance = self.fidelity_covariance()
        scale = np.sqrt(np.clip(np.diag(covariance), 1e-300, None))
        correlation = covariance / np.outer(scale, scale)
        np.fill_diagonal(correlation, 1.0)
        return correlation

    def __repr__(self) -> str:
        state = "unfitted" if self.model is None else f"h={self.h}"
        return f"MultiFidelitySurrogate({self.kernel!r}, fidelities={self.num_fidelities}, {state})"
