"""GP surrogates of architecture performance: model construction, fitting and prediction.

A surrogate is a BoTorch ``SingleTaskGP`` whose covariance is injected from a kernel spec
(``infonas.surrogates.kernels``), with a ``Standardize`` outcome transform, fitted by ``fit_gpytorch_mll``,
in float64 on the CPU. Kernel specs:

* ``"onehot-rbf"`` -- the out-of-the-box BoTorch baseline: ``SingleTaskGP`` with its default
  kernel and priors on one-hot codes.
* ``"hamming"``, ``"wl"``, ``"wl+hamming"`` (and any sum of products of ``hamming`` and ``wl``,
  e.g. ``"wl*hamming"``) -- a sum of ``ScaleKernel`` terms over the input
  ``[categorical columns | WL count columns]``; the WL iteration count ``h`` is chosen among
  ``h_values`` by the marginal likelihood.

``infonas.surrogates.multi_fidelity.MultiFidelitySurrogate`` is one GP over (architecture, fidelity) built
from the same pieces.

Objectives known exactly from the architecture (FLOPs, parameter counts) are computed, never
modelled: fit one ``Surrogate`` per *measured* objective (``fit_many``).

Example:
    >>> import numpy as np
    >>> from search_spaces import NB201Space
    >>> space = NB201Space()
    >>> rng = np.random.default_rng(0)
    >>> archs = [space.sample(rng) for _ in range(12)]
    >>> y = [arch.ops.count("nor_conv_3x3") + 0.1 * rng.standard_normal() for arch in archs]
    >>> surrogate = Surrogate(space, "wl+hamming").fit(archs, y)
    >>> mean, variance = surrogate.predict(archs[:3])
    >>> tuple(mean.shape), bool((variance > 0).all())
    ((3,), True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize

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

__all__ = ["KERNEL_SPECS", "Prediction", "Surrogate", "fit_many"]

#: The kernel specs the benchmark compares; any sum of products of ``wl`` and ``hamming`` works.
KERNEL_SPECS = ("onehot-rbf", "hamming", "wl", "wl+hamming")


class Surrogate(GPSurrogateBase):
    """A GP surrogate of one objective over a search space's architectures.

    Args:
        space: the search space.
        kernel: a kernel spec (``KERNEL_SPECS`` or any sum of products of ``wl`` / ``hamming``).
        h_values: WL iteration counts to choose from by marginal likelihood.
        encoder: an ``ArchitectureEncoder`` to share feature caches with other surrogates.
        maxiter: L-BFGS iterations of a full fit (``None``: BoTorch's default).
        seed: seeds hyperparameter initialisation and fitting restarts (runs are reproducible).
        upper_bound: optional known upper bound ``u`` of the objective (100 for an accuracy in
            percent): the GP then models ``z = -log(u - y)``, which tames the heavy lower tail of
            accuracies (untrainable cells at 10%); predictions are mapped back exactly
            (``Prediction`` is then a reflected log-normal). ``posterior`` stays in ``z``.

    ``fit`` dedupes the training data by canonical key (averaging targets), builds the
    input layout (WL vocabulary over the training cells, plus ``candidates`` if given), fits a
    model per ``h`` and keeps the one of highest marginal likelihood. ``refit`` is the cheap path
    of a search loop: it keeps ``h``, starts from the previous hyperparameters and runs few
    optimiser iterations. ``predict`` returns the posterior of the latent function (with
    ``observation_noise=True`` the predictive distribution of a new measurement).
    """

    def __init__(
        self,
        space: SearchSpace,
        kernel: str = "wl+hamming",
        *,
        h_values: Sequence[int] = (0, 1, 2),
        encoder: ArchitectureEncoder | None = None,
        maxiter: int | None = 50,
        seed: int = 0,
        upper_bound: float | None = None,
    ) -> None:
        super().__init__(space, kernel, h_values=h_values, encoder=encoder, maxiter=maxiter, seed=seed,
                         upper_bound=upper_bound)
        self.train_archs: list[Architecture] = []
        self.train_y: np.ndarray = np.zeros(0)

    # ----- construction -----

    def _build(self, X: torch.Tensor, Y: torch.Tensor, h: int | None) -> SingleTaskGP:
        assert self.layout is not None
        if self.kernel == "onehot-rbf":
            return SingleTaskGP(X, Y, outcome_transform=Standardize(m=1))
        covar = architecture_kernel(self.kernel, self.layout, h if h is not None else 0)
        return SingleTaskGP(X, Y, covar_module=covar, outcome_transform=Standardize(m=1))

    def _prepare(self, archs, y, candidates) -> tuple[torch.Tensor, torch.Tensor]:
        archs, values = check_training_data(self.space, archs, y)
        check_bound(values, self.upper_bound)
        archs, values, _ = deduplicate(archs, values)
        vocabulary_archs = archs + list(candidates or [])
        self.layout = self.encoder.layout(vocabulary_archs, onehot=self.kernel == "onehot-rbf")
        self.train_archs, self.train_y = archs, values
        X = self.encoder.encode(archs, self.layout)
        Y = torch.as_tensor(warp_values(values, self.upper_bound), dtype=DTYPE).unsqueeze(-1)
        return X, Y

    # ----- fitting -----

    def fit(
        self,
        archs: Sequence[Architecture],
        y: Sequence[float] | np.ndarray | torch.Tensor,
        *,
        candidates: Sequence[Architecture] | None = None,
        h: int | None = None,
    ) -> Surrogate:
        """Fit on ``(archs, y)``; choose ``h`` by marginal likelihood unless given.

        ``candidates``: architectures to include in the WL vocabulary. The kernel is exact for
        every cell with or without them (labels outside the vocabulary travel in slot columns,
        ``infonas.encodings.wl``); they only trade slots for count columns.
        """
        X, Y = self._prepare(archs, y, candidates)
        self._fit_model(X, Y, h)
        return self

    def refit(
        self,
        archs: Sequence[Architecture],
        y: Sequence[float] | np.ndarray | torch.Tensor,
        *,
        candidates: Sequence[Architecture] | None = None,
        maxiter: int = 25,
    ) -> Surrogate:
        """Cheap refit on new data: same ``h``, warm-started hyperparameters, ``maxiter`` steps.

        Falls back to ``fit`` when nothing was fitted before. ``maxiter=0`` only conditions the
        previous hyperparameters on the new data.
        """
        if self.model is None:
            return self.fit(archs, y, candidates=candidates)
        previous = hyperparameters(self.model.state_dict())
        X, Y = self._prepare(archs, y, candidates)
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            model = self._build(X, Y, self.h)
            model.load_state_dict(previous, strict=False)
            value = fit_mll(model, maxiter)
        self.log_marginal_likelihoods = {self.h: value}
        self.model = model
        return self

    def condition(self, archs: Sequence[Architecture], y: Sequence[float] | np.ndarray | torch.Tensor, *,
                  h: int | None, hyperparameters: dict[str, torch.Tensor],
                  candidates: Sequence[Architecture] | None = None) -> Surrogate:
        """The GP of WL depth ``h`` and ``fitted_hyperparameters()`` (of an earlier fit) conditioned
        on ``(archs, y)``, exactly and without optimisation: one Cholesky factor, no fitting."""
        X, Y = self._prepare(archs, y, candidates)
        self._condition_model(X, Y, h, hyperparameters)
        return self

    # ----- prediction -----

    def encode(self, archs: Sequence[Architecture]) -> torch.Tensor:
        """The model input of ``archs`` (the layout of the last fit)."""
        self._require_fit()
        assert self.layout is not None
        return self.encoder.encode(list(archs), self.layout)

    def predict(
        self, archs: Sequence[Architecture], *, observation_noise: bool = False, batch_size: int = 4096
    ) -> Prediction:
        """Posterior mean and variance at ``archs`` (batched; latent f unless ``observation_noise``)."""
        loc, variance = self._marginals()(self.encode(archs), observation_noise, batch_size)
        return prediction(loc, variance, self.upper_bound)

    def posterior(self, archs: Sequence[Architecture], *, observation_noise: bool = False):
        """BoTorch posterior (joint over ``archs``) of the targets (of ``z`` with ``upper_bound``)."""
        self._require_fit()
        return self.model.posterior(self.encode(archs), observation_noise=observation_noise)

    @property
    def noise_variance(self) -> float:
        """Inferred observation noise variance, on the scale of the (warped, if ``upper_bound``) targets."""
        self._require_fit()
        noise = float(self.model.likelihood.noise.detach().mean())
        return noise * float(self.model.outcome_transform.stdvs.pow(2).mean())

    def __repr__(self) -> str:
        state = "unfitted" if self.model is None else f"n={len(self.train_archs)}, h={self.h}"
        return f"Surrogate({self.kernel!r}, {state})"


def fit_many(
    space: SearchSpace,
    archs: Sequence[Architecture],
    targets: Mapping[str, Sequence[float] | np.ndarray],
    kernel: str = "wl+hamming",
    **kwargs,
) -> dict[str, Surrogate]:
    """One surrogate per measured objective, sharing one encoder (feature caches).

    Objectives computable from the architecture (FLOPs, params) should be computed, not passed
    here. Each objective may drop its own failed (NaN) evaluations: they are removed per objective.
    """
    encoder = kwargs.pop("encoder", None) or ArchitectureEncoder(space, h_max=max(kwargs.get("h_values", (0, 1, 2))))
    if not targets:
        raise ValueError("fit_many needs at least one objective")
    result = {}
    archs = list(archs)
    for name, values in targets.items():
        values = np.asarray(values, dtype=np.float64)
        if len(values) != len(archs):
            raise ValueError(f"objective {name!r}: {len(values)} values for {len(archs)} architectures")
        keep = np.isfinite(values)
        result[name] = Surrogate(space, kernel, encoder=encoder, **kwargs).fit(
            [a for a, k in zip(archs, keep) if k], values[keep]
        )
    return result
