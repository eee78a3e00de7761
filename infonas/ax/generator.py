"""infonas's architecture GP inside Ax: a BoTorch model for Ax's modular BoTorch generator.

``AxArchitectureGP`` is a ``SingleTaskGP`` whose inputs are Ax's model-space rows and whose
covariance is an infonas kernel spec (``"wl+hamming+additive"`` by default) on the *cells* those
rows stand for:

.. math::
    k_{Ax}(x, x') = k_{spec}(\\phi(\\mathrm{decode}(x)), \\phi(\\mathrm{decode}(x')))

``decode`` (``infonas.ax.decoding.ChoiceDecoder``) maps a row to the choice indices of the space,
``phi`` is infonas's own input (``ArchitectureEncoder``: categorical codes | WL label counts over a
vocabulary of the training cells), and the kernel is ``infonas.surrogates.base.architecture_kernel``:
the very modules ``infonas.surrogates.gp.Surrogate`` fits, so equal hyperparameters give equal
posteriors (tested). Ax constructs it from a ``ModelConfig`` (``infonas_model_config``) and fits it
with ``fit_gpytorch_mll`` like any model; the WL depth ``h`` is chosen as infonas does, by the
marginal likelihood of one short fit per candidate ``h`` (in ``construct_inputs``, which hands Ax
the winner's hyperparameters as the starting point of its own fit), or fixed (``h=1``: one fit).

Why decoding in the model, and why ``infonas_generation_strategy`` asks Ax for categorical inputs:
under Ax's default transforms the model sees relaxed one-hot columns and Ax optimises the
acquisition with ``optimize_acqf`` (L-BFGS on the continuous relaxation, argmax-rounded at the
end). A kernel on cells is piecewise constant in such inputs: its gradient is zero, so that
optimiser keeps its best raw sample (1,024 Sobol points, each decoded to its argmax cell) -- a
documented approximation this model supports (``forward`` keeps a zero-gradient path so L-BFGS
runs) but does not need. ``infonas_generation_strategy`` instead gives its BoTorch node Ax's
categorical transforms (``Mixed_transforms``, those of ``Generators.BO_MIXED``: one integer column
per position, declared categorical): Ax then optimises over valid cells only
(``optimize_acqf_discrete`` up to 10,000 cells, ``optimize_acqf_discrete_local_search`` above,
e.g. NB201's 15,625), avoiding the observed ones, and every X the model sees decodes exactly.

Example (Ax installed):
    >>> from search_spaces import NB201Space
    >>> strategy = infonas_generation_strategy(NB201Space(), seed=0, n_init=5)  # doctest: +SKIP
    >>> client.set_generation_strategy(strategy)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from botorch.models import SingleTaskGP
from botorch.utils.types import DEFAULT
from gpytorch.distributions import MultivariateNormal

from infonas.ax.decoding import ChoiceDecoder
from infonas.ax.parameters import require_ax
from infonas.encodings.inputs import ArchitectureEncoder
from infonas.exceptions import InvalidArgumentError
from infonas.surrogates.base import architecture_kernel, fit_best_h, hyperparameters, uses_wl
from infonas.surrogates.kernels import parse_kernel_spec
from search_spaces import get_space
from search_spaces.base import SearchSpace

if TYPE_CHECKING:
    from ax.generation_strategy.generation_strategy import GenerationStrategy
    from ax.generators.torch.botorch_modular.utils import ModelConfig

__all__ = ["DEFAULT_KERNEL", "AxArchitectureGP", "infonas_generation_strategy", "infonas_model_config",
           "register_ax_storage"]

#: The kernel spec of the Ax integration (``infonas.surrogates.kernels``).
DEFAULT_KERNEL = "wl+hamming+additive"

#: L-BFGS iterations of each per-``h`` fit that chooses ``h`` (as ``Surrogate``'s default).
_SELECTION_MAXITER = 50


class AxArchitectureGP(SingleTaskGP):
    """A ``SingleTaskGP`` over Ax model-space rows with an infonas kernel on the decoded cells.

    Args:
        train_X: ``n x d`` Ax model-space inputs (columns named by ``feature_names``).
        train_Y: ``n x 1`` targets (one outcome; Ax fits one model per outcome).
        train_Yvar: optional observed noise variances (a fixed-noise likelihood then).
        likelihood, outcome_transform: as ``SingleTaskGP`` (Ax passes ``outcome_transform=None``:
            its ``StandardizeY`` transform has standardised Y already).
        input_transform: must be ``None``: the decoder reads Ax's raw columns.
        space: the infonas search space of the experiment.
        feature_names: Ax's names of X's columns (``SupervisedDataset.feature_names``).
        kernel: an infonas kernel spec (sum of products of ``wl``, ``hamming``, ``additive``).
        h: WL depth of the ``wl`` terms.
        ax_values: optional Ax value order per parameter (``ChoiceDecoder``).
        initial_state: optional hyperparameters to start from (``construct_inputs`` passes the
            winner of the choice of ``h``).
    """

    def __init__(
        self,
        train_X: torch.Tensor,
        train_Y: torch.Tensor,
        train_Yvar: torch.Tensor | None = None,
        likelihood=None,
        outcome_transform=DEFAULT,
        input_transform=None,
        *,
        space: SearchSpace,
        feature_names: Sequence[str],
        kernel: str = DEFAULT_KERNEL,
        h: int = 1,
        ax_values: Mapping[str, Sequence[str]] | None = None,
        encoder: ArchitectureEncoder | None = None,
        initial_state: Mapping[str, torch.Tensor] | None = None,
    ) -> None:
        if input_transform is not None:
            raise InvalidArgumentError(
                "AxArchitectureGP reads Ax's model-space columns as they are, got "
                f"input_transform={input_transform!r}; "
                "build the ModelConfig with input_transform_classes=None (infonas_model_config does)")
        if train_Y.shape[-1] != 1:
            raise InvalidArgumentError(
                f"AxArchitectureGP models one outcome, got train_Y of shape {tuple(train_Y.shape)}; "
                "use SurrogateSpec(allow_batched_models=False) so that Ax fits one model per outcome")
        parse_kernel_spec(kernel)
        self.decoder = ChoiceDecoder(space, feature_names, ax_values)
        self.space = space
        self.kernel_spec = kernel
        self.h = int(h)
        self.encoder = encoder if encoder is not None else ArchitectureEncoder(space, h_max=max(self.h, 0))
        if self.h > self.encoder.wl.h_max:
            raise InvalidArgumentError(f"h={h} exceeds the encoder's h_max={self.encoder.wl.h_max}")
        # The WL vocabulary of the training cells, as Surrogate builds it (cells outside it are
        # exact through slot columns, infonas.encodings.wl).
        self.layout = self.encoder.layout(self.decoder.architectures(train_X))
        covar = architecture_kernel(kernel, self.layout, self.h)
        super().__init__(train_X, train_Y, train_Yvar, likelihood=likelihood, covar_module=covar,
                         outcome_transform=outcome_transform)
        if initial_state is not None:
            self.load_state_dict(dict(initial_state), strict=False)

    def model_input(self, X: torch.Tensor) -> torch.Tensor:
        """``(..., n, d)`` Ax rows -> ``(..., n, layout.dim)`` infonas inputs of their cells."""
        codes = self.decoder.decode(X)
        flat = codes.reshape(-1, codes.shape[-1])
        unique, inverse = torch.unique(flat, dim=0, return_inverse=True)
        archs = [self.space.from_categorical(row) for row in unique.tolist()]
        encoded = self.encoder.encode(archs, self.layout).to(device=X.device, dtype=X.dtype)
        Z = encoded[inverse].reshape(*X.shape[:-1], self.layout.dim)
        if X.requires_grad:
            # The kernel is piecewise constant in relaxed one-hot inputs: a zero-gradient path lets
            # a gradient optimiser run (and keep its starting points) instead of failing.
            Z = Z + 0.0 * X.sum(-1, keepdim=True)
        return Z

    def forward(self, x: torch.Tensor) -> MultivariateNormal:
        z = self.model_input(x)
        return MultivariateNormal(self.mean_module(z), self.covar_module(z))

    @classmethod
    def construct_inputs(
        cls,
        training_data,
        *,
        space: SearchSpace | str,
        kernel: str = DEFAULT_KERNEL,
        h: int | None = None,
        h_values: Sequence[int] = (0, 1, 2),
        ax_values: Mapping[str, Sequence[str]] | None = None,
        seed: int = 0,
        categorical_features: Sequence[int] | None = None,  # Ax's digest; the decoder reads names instead
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Ax's hook: model kwargs from a ``SupervisedDataset``; chooses ``h`` unless given.

        With ``h=None`` and a spec with ``wl``, one model per ``h`` in ``h_values`` is fitted
        (``_SELECTION_MAXITER`` L-BFGS steps, seeded) and the one of highest marginal likelihood
        wins, as ``Surrogate.fit`` does; its hyperparameters become the ``initial_state`` of the
        model Ax builds and fits. ``space`` may be a registered space's name (``get_space``).
        """
        if kwargs:
            raise InvalidArgumentError(f"AxArchitectureGP got unexpected model options {sorted(kwargs)}")
        if isinstance(space, str):
            space = get_space(space)
        X, Y = training_data.X, training_data.Y
        Yvar = getattr(training_data, "Yvar", None)
        h_values = tuple(int(v) for v in h_values)
        if not h_values or min(h_values) < 0:
            raise InvalidArgumentError(f"h_values must be non-negative WL depths, got {h_values}")
        encoder = ArchitectureEncoder(space, h_max=max(h_values + ((h,) if h is not None else ())))
        inputs: dict[str, Any] = {
            "train_X": X, "train_Y": Y, "space": space, "feature_names": list(training_data.feature_names),
            "kernel": kernel, "ax_values": ax_values, "encoder": encoder,
        }
        if Yvar is not None:
            inputs["train_Yvar"] = Yvar
        if h is None and (not uses_wl(kernel) or len(h_values) == 1):
            h = h_values[0]
        if h is None:
            def build(X_: torch.Tensor, Y_: torch.Tensor, h_: int) -> AxArchitectureGP:
                return cls(X_, Y_, Yvar, outcome_transform=None, space=space, encoder=encoder,
                           feature_names=inputs["feature_names"], kernel=kernel, h=h_, ax_values=ax_values)

            h, model, _ = fit_best_h(build, X, Y, h_values, seed, _SELECTION_MAXITER)
            inputs["initial_state"] = hyperparameters(model.state_dict())
        inputs["h"] = int(h)
        return inputs


def infonas_model_config(
    space: SearchSpace,
    kernel: str = DEFAULT_KERNEL,
    *,
    h: int | None = None,
    h_values: Sequence[int] = (0, 1, 2),
    ax_values: Mapping[str, Sequence[str]] | None = None,
    seed: int = 0,
) -> ModelConfig:
    """An Ax ``ModelConfig`` of ``AxArchitectureGP`` (no input transform, Ax's default outcome handling).

    A registered space whose default instance has the same choices is stored by name, so that the
    config can be saved in Ax's JSON snapshots (after ``register_ax_storage()``).
    """
    require_ax("infonas_model_config")
    from ax.generators.torch.botorch_modular.utils import ModelConfig

    parse_kernel_spec(kernel)
    options = {"space": _by_name_if_registered(space), "kernel": kernel, "h": h, "h_values": tuple(h_values),
               "ax_values": ax_values, "seed": int(seed)}
    return ModelConfig(botorch_model_class=AxArchitectureGP, model_options=options, input_transform_classes=None,
                       name=f"infonas:{kernel}")


def _by_name_if_registered(space: SearchSpace) -> SearchSpace | str:
    try:
        registered = get_space(space.name)
    except InvalidArgumentError:
        return space
    return space.name if registered.choices == space.choices and type(registered) is type(space) else space


def register_ax_storage() -> None:
    """Let Ax's JSON/SQL storage save and load experiments whose strategy uses ``AxArchitectureGP``.

    Adds the class to Ax's registry of BoTorch models (``ax.storage.botorch_modular_registry``),
    a process-wide registry of Ax's: call it before ``Client.save_to_json_file`` or
    ``Client.load_from_json_file``. Idempotent.
    """
    require_ax("register_ax_storage")
    from ax.storage.botorch_modular_registry import register_model

    register_model(AxArchitectureGP)


def infonas_generation_strategy(
    space: SearchSpace, seed: int, n_init: int = 5, kernel: str = DEFAULT_KERNEL, *, h: int | None = None
) -> GenerationStrategy:
    """Sobol for ``n_init`` trials (seeded), then Ax's modular BoTorch generator with ``AxArchitectureGP``.

    The BoTorch node uses Ax's default acquisition (``qLogNoisyExpectedImprovement`` for one
    objective; ``qLogNoisyExpectedHypervolumeImprovement`` for several, over a ``ModelListGP`` of
    one ``AxArchitectureGP`` per objective, as ``allow_batched_models=False`` asks) and Ax's
    categorical transforms (module docstring: the model sees integer choice columns, Ax
    optimises over valid cells). Trials repeat exactly for a fixed ``seed``
    when the ``Client`` is seeded too (``Client(random_seed=seed)``): Ax draws the acquisition
    optimiser's random starts from torch's global generator, which the Client seeds per call.
    ``h``: a fixed WL depth (default ``None``: chosen among 0, 1, 2 by marginal likelihood at
    every fit, which costs three extra short fits per suggestion).
    """
    require_ax("infonas_generation_strategy")
    from ax.adapter.registry import Generators, Mixed_transforms, Y_trans
    from ax.core.trial_status import TrialStatus
    from ax.generation_strategy.dispatch_utils import get_derelativize_config
    from ax.generation_strategy.generation_node import GenerationNode
    from ax.generation_strategy.generation_strategy import GenerationStrategy
    from ax.generation_strategy.generator_spec import GeneratorSpec
    from ax.generation_strategy.transition_criterion import MaxTrialsAwaitingData, MinTrials
    from ax.generators.torch.botorch_modular.surrogate import SurrogateSpec

    if isinstance(n_init, bool) or int(n_init) != n_init or n_init < 1:
        raise InvalidArgumentError(f"n_init must be a positive number of initial trials, got {n_init!r}")
    n_init = int(n_init)
    model_node = f"infonas:{kernel}"
    unfinished = [TrialStatus.FAILED, TrialStatus.ABANDONED]
    sobol = GenerationNode(
        name="Sobol",
        generator_specs=[GeneratorSpec(generator_enum=Generators.SOBOL, generator_kwargs={"seed": int(seed)})],
        # As Ax's own initialisation node: n_init trials that did not fail, at least half observed.
        transition_criteria=[
            MinTrials(threshold=n_init, transition_to=model_node, use_all_trials_in_exp=True,
                      not_in_statuses=unfinished),
            MinTrials(threshold=max(1, n_init // 2), transition_to=model_node, use_all_trials_in_exp=True,
                      only_in_statuses=[TrialStatus.COMPLETED], count_only_trials_with_data=True),
        ],
        pausing_criteria=[MaxTrialsAwaitingData(threshold=n_init, not_in_statuses=unfinished,
                                                use_all_trials_in_exp=True)],
        should_deduplicate=True,
    )
    surrogate_spec = SurrogateSpec(model_configs=[infonas_model_config(space, kernel, h=h, seed=seed)],
                                   allow_batched_models=False)
    model = GenerationNode(
        name=model_node,
        generator_specs=[GeneratorSpec(
            generator_enum=Generators.BOTORCH_MODULAR,
            generator_kwargs={
                "surrogate_spec": surrogate_spec,
                "transforms": [*Mixed_transforms, *Y_trans],
                "transform_configs": get_derelativize_config(derelativize_with_raw_status_quo=True),
            },
        )],
        should_deduplicate=True,
    )
    return GenerationStrategy(name=f"Sobol+{model_node}", nodes=[sobol, model])
