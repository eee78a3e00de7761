"""What every GP surrogate of infonas shares, and the contract a new one fulfils.

A GP surrogate (``Surrogate``: one objective; ``MultiFidelitySurrogate``: one objective at
several fidelities) is a BoTorch model over architecture encodings, in float64 on the CPU, fitted
by ``fit_gpytorch_mll``. Subclasses of ``GPSurrogateBase`` implement one method:

* ``_build(X, Y, h) -> model``: the BoTorch model for inputs ``X`` (the encoder's layout, plus
  whatever columns the subclass appends), targets ``Y`` (``n x 1``, warped if ``upper_bound``)
  and WL depth ``h``.

and get, from the base: argument validation, the shared ``ArchitectureEncoder``, the choice of
``h`` by marginal likelihood (``_fit_model``), batched posterior marginals without the
test-test covariance (``_marginals``), and the fitted state (``model``, ``h``, ``layout``,
``log_marginal_likelihoods``). The model is never pickled: a resumed search refits it from the
journal, and the fixed seeds make the refit identical.
"""

from __future__ import annotations

import abc
import logging
import re
import warnings
from collections.abc import Mapping, Sequence
from functools import partial

import gpytorch
import numpy as np
import torch
from botorch.exceptions.errors import ModelFittingError
from botorch.exceptions.warnings import OptimizationWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models.model import Model
from gpytorch.distributions import MultivariateNormal
from gpytorch.kernels import Kernel
from gpytorch.mlls import ExactMarginalLogLikelihood
from linear_operator.operators import DiagLinearOperator
from linear_operator.utils.errors import NanError, NotPSDError
from linear_operator.utils.warnings import NumericalWarning as LinearOperatorNumericalWarning

from infonas.encodings.inputs import ArchitectureEncoder, InputLayout
from infonas.exceptions import NumericalError, NumericalWarning
from infonas.linalg import jittered_cholesky
from infonas.surrogates.kernels import KERNELS, build_kernel, parse_kernel_spec
from infonas.surrogates.prediction import DTYPE
from search_spaces.base import Architecture, SearchSpace

__all__ = ["GPSurrogateBase", "MarginalPredictor", "architecture_kernel", "check_training_data", "deduplicate",
           "fit_best_h", "fit_mll", "hyperparameters"]

_MAX_CHOLESKY = 5000

logger = logging.getLogger(__name__)

#: L-BFGS-B stopping at ``maxiter`` (or at its evaluation budget): refits run few iterations on
#: purpose. BoTorch >= 0.12 reports it at debug level itself; a version that warns is held to that.
_ITERATION_LIMIT = re.compile(r"TOTAL NO\. (of|OF) (ITERATIONS REACHED LIMIT|(f AND g|F,G) EVALUATIONS EXCEEDS LIMIT)")
_JITTER = re.compile(r"jitter of ([0-9.eE+-]+)")

#: Warnings registry of the fit warnings passed on: a repeated one shows once, as warnings.warn's would.
_PASSED_ON: dict = {}


def check_training_data(
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


def architecture_kernel(spec: str, layout: InputLayout, h: int) -> Kernel:
    """The kernel of ``spec`` over inputs laid out by ``layout``, WL terms at depth ``h``."""
    used = {name for factors in parse_kernel_spec(spec) for name in factors}
    return build_kernel(spec, {name: partial(KERNELS[name], layout, h) for name in used})


def uses_wl(spec: str) -> bool:
    return spec != "onehot-rbf" and any("wl" in factors for factors in parse_kernel_spec(spec))


def fit_mll(model, maxiter: int | None) -> float:
    """Fit by ``fit_gpytorch_mll`` and return the (per-datum) log marginal likelihood reached.

    Of the fit's warnings, L-BFGS-B reaching ``maxiter`` is logged at debug level (a small
    ``maxiter`` is deliberate) and GPyTorch's jitter warnings become one infonas
    ``NumericalWarning``; every other warning is passed on. A fit that fails in every attempt
    (a training covariance not positive definite, NaN) raises ``NumericalError``.
    """
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    optimizer_kwargs = {"options": {"maxiter": int(maxiter)}} if maxiter is not None else None
    n = int(model.train_targets.shape[-1])
    caught: list[warnings.WarningMessage] = []
    try:
        # Exact Cholesky up to a few thousand points (GPyTorch switches to iterative solves at 800).
        # Sparse invariant checks off, as by default, but said: linear_operator builds its sparse
        # interpolation matrices (multi-fidelity kernels) from indices it computed, and torch warns
        # once per process until the choice is explicit.
        with (gpytorch.settings.max_cholesky_size(_MAX_CHOLESKY),
              torch.sparse.check_sparse_tensor_invariants(enable=False),
              warnings.catch_warnings(record=True) as caught):
            warnings.simplefilter("always")
            if maxiter is None or maxiter > 0:
                fit_gpytorch_mll(mll, optimizer_kwargs=optimizer_kwargs)
            model.train()
            with torch.no_grad():
                value = float(mll(model(*model.train_inputs), model.train_targets, *model.train_inputs).sum())
    except (ModelFittingError, NotPSDError, NanError) as error:
        raise NumericalError(
            f"fitting a GP on {n} training points must succeed in at least one attempt, but failed ({error}); "
            "its training covariance is singular or not finite at every hyperparameter value tried: check "
            "the targets for extreme outliers (or pass upper_bound to warp them) and the kernel spec") from error
    finally:
        _pass_on(caught, n)
    model.eval()
    return value


def _pass_on(caught: list[warnings.WarningMessage], n: int) -> None:
    """Resolve the warnings recorded during a fit (``fit_mll``'s docstring says how)."""
    jitters = []
    for record in caught:
        text = str(record.message)
        if issubclass(record.category, OptimizationWarning) and _ITERATION_LIMIT.search(text):
            logger.debug("GP fit stopped at its iteration limit: %s", text)
        elif issubclass(record.category, LinearOperatorNumericalWarning) and _JITTER.search(text):
            jitters.append(float(_JITTER.search(text).group(1)))
        else:
            warnings.warn_explicit(record.message, record.category, record.filename, record.lineno,
                                   registry=_PASSED_ON)
    if jitters:
        warnings.warn(
            f"fitting a GP on {n} points: its training covariance needed a jitter of up to {max(jitters):.1e} "
            f"in {len(jitters)} factorisation(s); hyperparameters the optimiser tried made it singular, and "
            "the fit went on with the jittered matrix", NumericalWarning, stacklevel=3)


def fit_best_h(build, X: torch.Tensor, Y: torch.Tensor, h_values: Sequence[int | None], seed: int,
                maxiter: int | None) -> tuple[int | None, object, dict]:
    """Fit one model per WL iteration count and keep the one of highest marginal likelihood."""
    best = None
    log_marginal_likelihoods = {}
    with torch.random.fork_rng():
        for h_value in h_values:
            torch.manual_seed(seed)
            model = build(X, Y, h_value)
            value = fit_mll(model, maxiter)
            log_marginal_likelihoods[h_value] = value
            if best is None or value > best[0]:
                best = (value, h_value, model)
    assert best is not None
    return best[1], best[2], log_marginal_likelihoods


def hyperparameters(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Hyperparameters only: drop column selections and data-dependent transform state."""
    return {k: v for k, v in state.items() if "active_dims" not in k and not k.startswith("outcome_transform")}


class MarginalPredictor:
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
            # A failed factor would give silently wrong predictions: NumericalError instead.
            L = jittered_cholesky(K, relative_jitter=0.0, max_tries=6, name="the GP's training covariance K + noise")
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


class GPSurrogateBase(abc.ABC):
    """Shared state and fitting of GP surrogates over a search space (see the module docstring).

    Args:
        space: the search space.
        kernel: a kernel spec: any sum of products of ``wl``, ``hamming`` and ``additive``
            (``"wl+hamming+additive"``), or ``"onehot-rbf"`` (BoTorch's default on one-hot codes).
        h_values: WL iteration counts to choose from by marginal likelihood.
        encoder: an ``ArchitectureEncoder`` to share feature caches with other surrogates.
        maxiter: L-BFGS iterations of a full fit (``None``: BoTorch's default).
        seed: seeds hyperparameter initialisation and fitting (fits are reproducible).
        upper_bound: optional known upper bound ``u`` of the objective: the GP then models
            ``z = -log(u - y)``.
    """

    model: Model | None

    def __init__(self, space: SearchSpace, kernel: str, *, h_values: Sequence[int] = (0, 1, 2),
                 encoder: ArchitectureEncoder | None = None, maxiter: int | None = 50, seed: int = 0,
                 upper_bound: float | None = None) -> None:
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
        self.space = space
        self.kernel = kernel
        self.h_values: tuple[int | None, ...] = h_values if uses_wl(kernel) else (None,)
        self.encoder = encoder
        self.maxiter = maxiter
        self.seed = seed
        self.upper_bound = None if upper_bound is None else float(upper_bound)
        self.model = None
        self.layout: InputLayout | None = None
        self.h: int | None = None
        self.log_marginal_likelihoods: dict[int | None, float] = {}
        self._predictor: MarginalPredictor | None = None

    @abc.abstractmethod
    def _build(self, X: torch.Tensor, Y: torch.Tensor, h: int | None) -> Model:
        """The (unfitted) BoTorch model of inputs ``X``, targets ``Y`` and WL depth ``h``."""

    def _fit_model(self, X: torch.Tensor, Y: torch.Tensor, h: int | None) -> None:
        """Fit ``_build`` for each candidate ``h`` (or the given one); keep the best by marginal likelihood."""
        h_values = self.h_values if h is None or self.h_values == (None,) else (int(h),)
        self.h, self.model, self.log_marginal_likelihoods = fit_best_h(
            self._build, X, Y, h_values, self.seed, self.maxiter)
        self._predictor = None

    def _condition_model(self, X: torch.Tensor, Y: torch.Tensor, h: int | None,
                         hyperparameters: Mapping[str, torch.Tensor]) -> None:
        """Make the model of ``X, Y`` at WL depth ``h`` with given hyperparameters the fitted state,
        without optimisation (the shared step of every surrogate's ``condition``)."""
        model = self._build(X, Y, h)
        model.load_state_dict(dict(hyperparameters), strict=False)
        model.eval()
        self.h, self.model, self._predictor, self.log_marginal_likelihoods = h, model, None, {}

    def fitted_hyperparameters(self) -> dict[str, torch.Tensor]:
        """A copy of the fitted hyperparameters (no data-dependent state), for ``condition``."""
        self._require_fit()
        return {k: v.detach().clone() for k, v in hyperparameters(self.model.state_dict()).items()}

    def _require_fit(self) -> None:
        if self.model is None:
            raise RuntimeError(f"the {type(self).__name__} is not fitted yet; call fit(...) first")

    def _marginals(self) -> MarginalPredictor:
        """Posterior marginals of the fitted model (factorised once per fit)."""
        self._require_fit()
        if self._predictor is None or self._predictor.model is not self.model:
            self._predictor = MarginalPredictor(self.model)
        return self._predictor
