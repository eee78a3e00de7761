"""GP surrogates of architecture performance: model construction, fitting and prediction.

A surrogate is a BoTorch ``SingleTaskGP`` whose covariance is injected from a kernel spec
(``infonas.kernels``), with a ``Standardize`` outcome transform, fitted by ``fit_gpytorch_mll``,
in float64 on the CPU. Kernel specs:

* ``"onehot-rbf"`` -- the out-of-the-box BoTorch baseline: ``SingleTaskGP`` with its default
  kernel and priors on one-hot codes.
* ``"hamming"``, ``"wl"``, ``"wl+hamming"`` (and any sum of products of ``hamming`` and ``wl``,
  e.g. ``"wl*hamming"``) -- a sum of ``ScaleKernel`` terms over the input
  ``[categorical columns | WL count columns]``; the WL iteration count ``h`` is chosen among
  ``h_values`` by the marginal likelihood.

``infonas.multi_fidelity.MultiFidelitySurrogate`` is one GP over (architecture, fidelity) built
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

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import gpytorch
import numpy as np
import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.distributions import MultivariateNormal
from gpytorch.kernels import Kernel
from linear_operator.operators import DiagLinearOperator
from gpytorch.mlls import ExactMarginalLogLikelihood

from infonas.kernels import additive_factory, build_kernel, hamming_factory, parse_kernel_spec, wl_factory
from infonas.wl_features import WLFeaturizer, WLVocabulary
from search_spaces.base import Architecture, SearchSpace
from search_spaces.encodings import CategoricalEncoding, OneHotEncoding

__all__ = [
    "KERNEL_SPECS",
    "ArchitectureEncoder",
    "InputLayout",
    "Prediction",
    "Surrogate",
    "fit_many",
]

#: The kernel specs the benchmark compares; any sum of products of ``wl`` and ``hamming`` works.
KERNEL_SPECS = ("onehot-rbf", "hamming", "wl", "wl+hamming")
DTYPE = torch.float64
_MAX_CHOLESKY = 5000


@dataclass(frozen=True)
class Prediction:
    """A predictive distribution per architecture, on the scale of the targets.

    ``mean`` and ``variance`` are its moments (1-D float64 tensors); ``mean, variance =
    prediction`` unpacks them. The distribution itself is Gaussian with ``loc``/``scale``, or,
    for a surrogate fitted with an ``upper_bound`` ``u``, ``y = u - exp(-z)`` with
    ``z ~ N(loc, scale^2)`` (a reflected log-normal); ``log_prob``, ``interval`` and ``median``
    are exact for both.
    """

    mean: torch.Tensor
    variance: torch.Tensor
    loc: torch.Tensor
    scale: torch.Tensor
    upper_bound: float | None = None

    def __iter__(self):
        yield self.mean
        yield self.variance

    def __len__(self) -> int:
        return int(self.mean.shape[0])

    @classmethod
    def gaussian(cls, mean: torch.Tensor, variance: torch.Tensor) -> Prediction:
        variance = variance.clamp_min(0.0)
        return cls(mean, variance, mean, variance.sqrt())

    @classmethod
    def warped(cls, loc: torch.Tensor, variance: torch.Tensor, upper_bound: float) -> Prediction:
        variance = variance.clamp_min(0.0)
        # y = u - exp(-z): E[exp(-z)] = exp(-loc + var/2), Var = exp(-2 loc + var) (exp(var) - 1).
        mean = upper_bound - torch.exp(-loc + variance / 2)
        var_y = torch.exp(-2 * loc + variance) * torch.expm1(variance)
        return cls(mean, var_y, loc, variance.sqrt(), float(upper_bound))

    @property
    def median(self) -> torch.Tensor:
        """The predictive median (the mean for a Gaussian): a monotone point prediction."""
        if self.upper_bound is None:
            return self.loc
        return self.upper_bound - torch.exp(-self.loc)

    def _warp(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``z = w(y)`` and ``log |w'(y)|``."""
        if self.upper_bound is None:
            return y, torch.zeros_like(y)
        gap = (self.upper_bound - y).clamp_min(1e-300)
        return -torch.log(gap), -torch.log(gap)

    def log_prob(self, y) -> torch.Tensor:
        """Log predictive density of observed values ``y`` (one per architecture)."""
        y = torch.as_tensor(y, dtype=DTYPE)
        z, log_jacobian = self._warp(y)
        scale = self.scale.clamp_min(1e-150)
        log_density = -0.5 * ((z - self.loc) / scale) ** 2 - torch.log(scale) - 0.5 * math.log(2 * math.pi)
        if self.upper_bound is not None:
            log_density = torch.where(y < self.upper_bound, log_density, torch.full_like(y, -math.inf))
        return log_density + log_jacobian

    def interval(self, level: float = 0.9) -> tuple[torch.Tensor, torch.Tensor]:
        """The central ``level`` predictive interval ``(lower, upper)``."""
        if not 0 < level < 1:
            raise ValueError(f"level must lie in (0, 1), got {level}")
        z = float(torch.special.ndtri(torch.tensor(0.5 + level / 2, dtype=DTYPE)))
        low, high = self.loc - z * self.scale, self.loc + z * self.scale
        if self.upper_bound is None:
            return low, high
        return self.upper_bound - torch.exp(-low), self.upper_bound - torch.exp(-high)

    def __getitem__(self, index) -> Prediction:
        """The predictions of a subset of the architectures (index: slice, mask or indices)."""
        index = torch.as_tensor(index) if not isinstance(index, slice) else index
        return Prediction(self.mean[index], self.variance[index], self.loc[index], self.scale[index], self.upper_bound)


def _check_bound(values: np.ndarray, upper_bound: float | None) -> None:
    if upper_bound is not None and not np.all(values < upper_bound):
        worst = float(values.max())
        raise ValueError(f"targets must lie below upper_bound={upper_bound} for the log warp, got {worst}")


def _warp_values(values: np.ndarray, upper_bound: float | None) -> np.ndarray:
    return values if upper_bound is None else -np.log(upper_bound - values)


# ----- inputs -----


@dataclass(frozen=True)
class InputLayout:
    """Which columns of a model input hold what.

    ``onehot``: the input is the one-hot encoding (``onehot-rbf``). Otherwise the input is
    ``[categorical (cat_dim columns) | WL columns (vocabulary.dim)]``.
    """

    onehot: bool
    cat_dim: int
    vocabulary: WLVocabulary | None
    num_categories: tuple[int, ...] | None = None

    @property
    def dim(self) -> int:
        return self.cat_dim + (self.vocabulary.dim if self.vocabulary is not None else 0)

    def hamming_dims(self) -> list[int]:
        return list(range(self.cat_dim))

    def wl_dims(self, h: int) -> list[int]:
        if self.vocabulary is None:
            raise ValueError("this layout has no WL columns")
        return [self.cat_dim + c for c in self.vocabulary.columns(h)]


class ArchitectureEncoder:
    """Turns architectures into model inputs; shares its caches between surrogates.

    One encoder per search space is enough: categorical/one-hot codes and WL label counts of
    every architecture are computed once and reused by every surrogate built on the encoder.
    """

    def __init__(self, space: SearchSpace, h_max: int = 2) -> None:
        self.space = space
        self.categorical = CategoricalEncoding(space)
        self.onehot = OneHotEncoding(space)
        self.wl = WLFeaturizer(space, h_max=h_max)
        self._last: dict[bool, tuple[tuple[Architecture, ...], torch.Tensor]] = {}

    def layout(self, vocabulary_archs: Sequence[Architecture] | None, onehot: bool = False) -> InputLayout:
        if onehot:
            return InputLayout(True, self.onehot.dim, None)
        vocabulary = self.wl.vocabulary(vocabulary_archs or [])
        return InputLayout(False, self.categorical.dim, vocabulary, self.categorical.cardinalities)

    def _codes(self, archs: list[Architecture], onehot: bool) -> torch.Tensor:
        """Categorical or one-hot codes; the last batch is kept (a search re-encodes its pool)."""
        key = tuple(archs)
        last = self._last.get(onehot)
        if last is not None and last[0] == key:
            return last[1]
        codes = (self.onehot if onehot else self.categorical)(archs)
        self._last[onehot] = (key, codes)
        return codes

    def encode(self, archs: Sequence[Architecture], layout: InputLayout) -> torch.Tensor:
        archs = list(archs)
        if layout.onehot:
            return self._codes(archs, True).clone()
        return torch.cat([self._codes(archs, False), self.wl.transform(archs, layout.vocabulary)], dim=-1)


# ----- validation -----


def _check_training_data(
    space: SearchSpace, archs: Sequence[Architecture], y: Sequence[float] | np.ndarray | torch.Tensor
) -> tuple[list[Architecture], np.ndarray]:
    archs = list(archs)
    values = np.asarray(y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else y, dtype=np.float64)
    if values.ndim != 1:
        values = values.reshape(-1) if values.ndim == 2 and values.shape[-1] == 1 else values
    if values.ndim != 1:
        raise ValueError(f"targets must be one value per architecture, got an array of shape {values.shape}")
    if len(archs) == 0:
        raise ValueError("cannot fit a surrogate on empty training data (no architectures given)")
    if len(archs) != len(values):
        raise ValueError(f"got {len(archs)} architectures but {len(values)} target values; they must match")
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise ValueError(
            f"targets must be finite; {len(bad)} NaN/inf value(s), first at position {int(bad[0])} "
            f"({archs[int(bad[0])]}); drop failed evaluations before fitting"
        )
    for arch in archs:
        space.validate(arch)
    return archs, values


def deduplicate(
    archs: Sequence[Architecture], values: np.ndarray, groups: Sequence | None = None
) -> tuple[list[Architecture], np.ndarray, list]:
    """Merge architectures with the same canonical key (and group): first representative, mean y."""
    order: dict = {}
    sums: list[float] = []
    counts: list[int] = []
    representatives: list[Architecture] = []
    group_of: list = []
    for i, arch in enumerate(archs):
        group = None if groups is None else groups[i]
        token = (arch.key, group)
        index = order.get(token)
        if index is None:
            index = order[token] = len(representatives)
            representatives.append(arch)
            group_of.append(group)
            sums.append(0.0)
            counts.append(0)
        sums[index] += float(values[i])
        counts[index] += 1
    return representatives, np.asarray(sums) / np.asarray(counts), group_of


# ----- model construction -----


def _arch_kernel(spec: str, layout: InputLayout, h: int) -> Kernel:
    factories = {
        "hamming": hamming_factory(layout.hamming_dims(), layout.num_categories),
        "wl": wl_factory(layout.wl_dims(h)),
        "additive": additive_factory(layout.hamming_dims()),
    }
    return build_kernel(spec, factories)


def _uses_wl(spec: str) -> bool:
    return spec != "onehot-rbf" and any("wl" in factors for factors in parse_kernel_spec(spec))


def _fit(model, maxiter: int | None) -> float:
    """Fit by ``fit_gpytorch_mll`` and return the (per-datum) log marginal likelihood reached."""
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    optimizer_kwargs = {"options": {"maxiter": int(maxiter)}} if maxiter is not None else None
    # Exact Cholesky up to a few thousand points (GPyTorch switches to iterative solves at 800).
    with gpytorch.settings.max_cholesky_size(_MAX_CHOLESKY):
        if maxiter is None or maxiter > 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit_gpytorch_mll(mll, optimizer_kwargs=optimizer_kwargs)
        model.train()
        with torch.no_grad():
            value = float(mll(model(*model.train_inputs), model.train_targets, *model.train_inputs).sum())
    model.eval()
    return value


def _fit_best_h(build, X: torch.Tensor, Y: torch.Tensor, h_values: Sequence[int | None], seed: int,
                maxiter: int | None) -> tuple[int | None, object, dict]:
    """Fit one model per WL iteration count and keep the one of highest marginal likelihood."""
    best = None
    log_marginal_likelihoods = {}
    with torch.random.fork_rng():
        for h_value in h_values:
            torch.manual_seed(seed)
            model = build(X, Y, h_value)
            value = _fit(model, maxiter)
            log_marginal_likelihoods[h_value] = value
            if best is None or value > best[0]:
                best = (value, h_value, model)
    assert best is not None
    return best[1], best[2], log_marginal_likelihoods


def _strip_structure(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Hyperparameters only: drop column selections and data-dependent transform state."""
    return {k: v for k, v in state.items() if "active_dims" not in k and not k.startswith("outcome_transform")}


def _prediction(loc: torch.Tensor, variance: torch.Tensor, upper_bound: float | None) -> Prediction:
    if upper_bound is None:
        return Prediction.gaussian(loc, variance)
    return Prediction.warped(loc, variance, upper_bound)


class _MarginalPredictor:
    """Posterior marginals of a fitted exact GP, computed in batches without the test-test matrix.

    GPyTorch's exact prediction evaluates the dense test x test covariance of every batch even
    when only the variances are wanted; for the 15,625-cell pool that dominates the cost. This
    computes the textbook marginals from the model's own modules, once-factorised:
    ``mu = m(x) + K_x*^T (K + S)^-1 (y - m)``, ``var = k(x, x) - K_x*^T (K + S)^-1 K_x*``
    (``S``: the likelihood's noise), then the model's outcome transform is inverted.
    """

    def __init__(self, model) -> None:
        model.eval()
        self.model = model
        with torch.no_grad():
            train_X = model.train_inputs[0]
            prior = model.forward(train_X)
            noisy = model.likelihood(prior, train_X)
            K = noisy.lazy_covariance_matrix.to_dense()
            jitter = 0.0
            for _ in range(6):
                L, info = torch.linalg.cholesky_ex(K + jitter * torch.eye(K.shape[-1], dtype=K.dtype))
                if int(info) == 0:
                    break
                jitter = max(jitter * 10, 1e-8)
            residual = (model.train_targets - prior.mean).unsqueeze(-1)
            self.train_X = train_X
            self.L = L
            self.alpha = torch.cholesky_solve(residual, L).squeeze(-1)

    def __call__(self, X: torch.Tensor, observation_noise: bool, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        model = self.model
        means, variances = [], []
        with torch.no_grad():
            for start in range(0, X.shape[0], batch_size):
                chunk = X[start : start + batch_size]
                joint = model.forward(torch.cat([chunk, self.train_X], dim=0))
                covariance = joint.lazy_covariance_matrix
                m = len(chunk)
                cross = covariance[..., :m, m:].to_dense()
                prior_variance = covariance[..., :m, :m].diagonal(dim1=-2, dim2=-1)
                mean = joint.mean[:m] + cross @ self.alpha
                v = torch.linalg.solve_triangular(self.L, cross.transpose(-1, -2), upper=False)
                variance = (prior_variance - (v * v).sum(0)).clamp_min(1e-12)
                if observation_noise:
                    marginal = MultivariateNormal(mean, DiagLinearOperator(variance))
                    variance = model.likelihood(marginal, chunk).variance
                if hasattr(model, "outcome_transform"):
                    mean, variance = model.outcome_transform.untransform(
                        mean.unsqueeze(-1), variance.unsqueeze(-1), X=chunk
                    )
                means.append(mean.reshape(-1))
                variances.append(variance.reshape(-1))
        if not means:
            empty = torch.zeros(0, dtype=DTYPE)
            return empty, empty.clone()
        return torch.cat(means), torch.cat(variances).clamp_min(0.0)


def _init_gp_surrogate(surrogate, space: SearchSpace, kernel: str, h_values: Sequence[int],
                       encoder: ArchitectureEncoder | None, maxiter: int | None, seed: int,
                       upper_bound: float | None) -> None:
    """Validate and set what every GP surrogate holds (``Surrogate``, ``MultiFidelitySurrogate``)."""
    if kernel != "onehot-rbf":
        parse_kernel_spec(kernel)
    h_values = tuple(int(h) for h in h_values)
    if not h_values:
        raise ValueError("h_values must name at least one WL iteration count")
    if encoder is None:
        encoder = ArchitectureEncoder(space, h_max=max(h_values))
    if encoder.space is not space and encoder.space.name != space.name:
        raise ValueError("encoder belongs to another search space")
    if max(h_values) > encoder.wl.h_max or min(h_values) < 0:
        raise ValueError(f"h_values must lie in 0..{encoder.wl.h_max} (the encoder's h_max)")
    surrogate.space = space
    surrogate.kernel = kernel
    surrogate.h_values = h_values if _uses_wl(kernel) else (None,)
    surrogate.encoder = encoder
    surrogate.maxiter = maxiter
    surrogate.seed = seed
    surrogate.upper_bound = None if upper_bound is None else float(upper_bound)
    surrogate.model = None
    surrogate._predictor = None
    surrogate.layout = None
    surrogate.h = None
    surrogate.log_marginal_likelihoods = {}


class Surrogate:
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
        _init_gp_surrogate(self, space, kernel, h_values, encoder, maxiter, seed, upper_bound)
        self.train_archs: list[Architecture] = []
        self.train_y: np.ndarray = np.zeros(0)

    # ----- construction -----

    def _build(self, X: torch.Tensor, Y: torch.Tensor, h: int | None) -> SingleTaskGP:
        assert self.layout is not None
        if self.kernel == "onehot-rbf":
            return SingleTaskGP(X, Y, outcome_transform=Standardize(m=1))
        covar = _arch_kernel(self.kernel, self.layout, h if h is not None else 0)
        return SingleTaskGP(X, Y, covar_module=covar, outcome_transform=Standardize(m=1))

    def _prepare(self, archs, y, candidates) -> tuple[torch.Tensor, torch.Tensor]:
        archs, values = _check_training_data(self.space, archs, y)
        _check_bound(values, self.upper_bound)
        archs, values, _ = deduplicate(archs, values)
        vocabulary_archs = archs + list(candidates or [])
        self.layout = self.encoder.layout(vocabulary_archs, onehot=self.kernel == "onehot-rbf")
        self.train_archs, self.train_y = archs, values
        X = self.encoder.encode(archs, self.layout)
        Y = torch.as_tensor(_warp_values(values, self.upper_bound), dtype=DTYPE).unsqueeze(-1)
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

        ``candidates``: architectures to include in the WL vocabulary, making their joint prior
        covariance exact too (marginals are exact without it).
        """
        X, Y = self._prepare(archs, y, candidates)
        h_values = self.h_values if h is None or self.h_values == (None,) else (int(h),)
        self.h, self.model, self.log_marginal_likelihoods = _fit_best_h(
            self._build, X, Y, h_values, self.seed, self.maxiter)
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
        previous = _strip_structure(self.model.state_dict())
        X, Y = self._prepare(archs, y, candidates)
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            model = self._build(X, Y, self.h)
            model.load_state_dict(previous, strict=False)
            value = _fit(model, maxiter)
        self.log_marginal_likelihoods = {self.h: value}
        self.model = model
        return self

    # ----- prediction -----

    def _require_fit(self) -> None:
        if self.model is None:
            raise RuntimeError("the surrogate is not fitted yet; call fit(archs, y) first")

    def encode(self, archs: Sequence[Architecture]) -> torch.Tensor:
        """The model input of ``archs`` (the layout of the last fit)."""
        self._require_fit()
        assert self.layout is not None
        return self.encoder.encode(list(archs), self.layout)

    def predict(
        self, archs: Sequence[Architecture], *, observation_noise: bool = False, batch_size: int = 4096
    ) -> Prediction:
        """Posterior mean and variance at ``archs`` (batched; latent f unless ``observation_noise``)."""
        self._require_fit()
        if self._predictor is None or self._predictor.model is not self.model:
            self._predictor = _MarginalPredictor(self.model)
        loc, variance = self._predictor(self.encode(archs), observation_noise, batch_size)
        return _prediction(loc, variance, self.upper_bound)

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


# ----- multi-fidelity -----
