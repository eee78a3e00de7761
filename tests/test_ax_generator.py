"""infonas's GP inside Ax (infonas.ax.generator, infonas.ax.decoding), checked through Ax's own machinery.

Ax-encoded inputs come from Ax's adapters on a real ``Client`` experiment (never a hand-made
one-hot), so a change in Ax's encoding fails here. Skips without Ax unless INFONAS_REQUIRE_AX=1.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from conftest import require_ax

from infonas.exceptions import InvalidArgumentError
from search_spaces import NB201Space

KERNEL = "wl+hamming+additive"


@pytest.fixture(scope="module", autouse=True)
def _ax_quietly():
    require_ax()
    import logging

    # Ax logs every trial at INFO and warns about its own defaults; neither is under test here.
    logger = logging.getLogger("ax")
    level = logger.level
    logger.setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    logger.setLevel(level)


def _client(space, seed: int = 0):
    from infonas.ax.strategy import ax_client

    return ax_client(space, "score", maximize=True, seed=seed)


def _objective(arch, rng) -> float:
    return arch.ops.count("nor_conv_3x3") + 0.1 * float(rng.standard_normal())


def _distinct_cells(space, n: int, seed: int):
    rng = np.random.default_rng(seed)
    cells: dict = {}
    while len(cells) < n:
        arch = space.sample(rng)
        cells.setdefault(arch.key, arch)
    return list(cells.values())


@pytest.fixture(scope="module")
def observed():
    """An NB201 Client experiment with 8 observed distinct cells, and 3 more cells to predict at."""
    from infonas.ax.parameters import to_parameterization

    space = NB201Space()
    cells = _distinct_cells(space, 11, seed=3)
    train, test = cells[:8], cells[8:]
    rng = np.random.default_rng(0)
    y = np.array([_objective(arch, rng) for arch in train])
    client = _client(space)
    for arch, value in zip(train, y):
        index = client.attach_trial(to_parameterization(space, arch))
        client.complete_trial(index, raw_data={"score": float(value)})
    return space, client, train, test, y


def _fitted_adapter(space, client, transforms, kernel: str = "wl", h: int = 1):
    """Ax's modular BoTorch adapter over the client's data with the infonas model, fitted by Ax."""
    from ax.adapter.registry import Generators
    from ax.generators.torch.botorch_modular.surrogate import SurrogateSpec

    from infonas.ax.generator import infonas_model_config

    experiment = client._experiment
    spec = SurrogateSpec(model_configs=[infonas_model_config(space, kernel, h=h)], allow_batched_models=False)
    return Generators.BOTORCH_MODULAR(experiment=experiment, data=experiment.lookup_data(), surrogate_spec=spec,
                                      transforms=transforms)


def _ax_inputs(adapter, space, archs) -> torch.Tensor:
    """The model-space X Ax's transforms give ``archs`` (rows in ``archs``' order)."""
    from ax.core.observation import ObservationFeatures

    from infonas.ax.parameters import to_parameterization

    return adapter.transform_observation_features(
        [ObservationFeatures(parameters=to_parameterization(space, arch)) for arch in archs])


# ----- (a) decoding Ax's encodings -----

def test_one_hot_infix_is_axs():
    from ax.adapter.transforms.one_hot import OH_PARAM_INFIX

    from infonas.ax.decoding import ONE_HOT_INFIX

    assert ONE_HOT_INFIX == OH_PARAM_INFIX


@pytest.mark.parametrize("encoding", ["one-hot", "categorical"])
def test_ax_encoded_inputs_decode_to_the_same_cells(observed, encoding):
    from ax.adapter.registry import MBM_X_trans, Mixed_transforms, Y_trans

    space, client, train, test, _ = observed
    x_transforms = MBM_X_trans if encoding == "one-hot" else Mixed_transforms
    adapter = _fitted_adapter(space, client, [*x_transforms, *Y_trans])
    model = adapter.generator.surrogate.model
    names = adapter.generator.surrogate.training_data[0].feature_names
    # What Ax does with the choice parameters under each set of transforms (NB201: 6 x 5 options).
    if encoding == "one-hot":
        assert len(names) == 30 and names[1] == "choice_00_OH_PARAM_1"
    else:
        assert names == [f"choice_{i:02d}" for i in range(6)]
    # The model Ax built and fitted decodes its own training inputs to the observed cells ...
    assert {arch.ops for arch in model.decoder.architectures(model.train_inputs[0])} == {arch.ops for arch in train}
    # ... and Ax's encoding of any cell, row by row.
    X = _ax_inputs(adapter, space, train + test)
    assert [arch.ops for arch in model.decoder.architectures(X)] == [arch.ops for arch in train + test]


def test_relaxed_one_hot_decodes_to_the_argmax_cell():
    from infonas.ax.decoding import ChoiceDecoder

    space = NB201Space()
    names = [f"choice_{i:02d}_OH_PARAM_{j}" for i in range(6) for j in range(5)]
    decoder = ChoiceDecoder(space, names)
    X = torch.full((1, 30), 0.1, dtype=torch.float64)
    for i, j in enumerate([4, 0, 2, 2, 1, 3]):
        X[0, 5 * i + j] = 0.6
    assert decoder.decode(X).tolist() == [[4, 0, 2, 2, 1, 3]]
    # Ax's values in another order map back to the space's order.
    reordered = ChoiceDecoder(space, names, ax_values={"choice_00": list(reversed(space.choices[0]))})
    assert reordered.decode(X).tolist() == [[0, 0, 2, 2, 1, 3]]


def test_decoder_rejects_inputs_of_another_experiment():
    from infonas.ax.decoding import ChoiceDecoder

    space = NB201Space()
    with pytest.raises(InvalidArgumentError, match="no column for 'choice_05'"):
        ChoiceDecoder(space, [f"choice_{i:02d}" for i in range(5)])
    with pytest.raises(InvalidArgumentError, match="belong to no decision position"):
        ChoiceDecoder(space, [f"choice_{i:02d}" for i in range(6)] + ["learning_rate"])


# ----- (b) the model inside Ax is infonas's kernel on the cells -----

def test_ax_side_posterior_equals_infonas_surrogate(observed):
    from ax.adapter.registry import Mixed_transforms, Y_trans
    from botorch.models.transforms.outcome import Standardize

    from infonas.ax.generator import AxArchitectureGP
    from infonas.surrogates.base import hyperparameters
    from infonas.surrogates.gp import Surrogate

    space, client, train, test, y = observed
    adapter = _fitted_adapter(space, client, [*Mixed_transforms, *Y_trans])
    names = adapter.generator.surrogate.training_data[0].feature_names
    reference = Surrogate(space, KERNEL, h_values=(1,), maxiter=20, seed=0).fit(train, y)
    X_train, X_test = _ax_inputs(adapter, space, train), _ax_inputs(adapter, space, test)
    Y = torch.as_tensor(y, dtype=torch.float64).unsqueeze(-1)

    def ax_side(**options) -> AxArchitectureGP:
        model = AxArchitectureGP(X_train, Y, outcome_transform=Standardize(m=1), space=space, feature_names=names,
                                 kernel=KERNEL, h=1, **options)
        model.load_state_dict(hyperparameters(reference.model.state_dict()), strict=False)
        return model.eval()

    expected = reference.posterior(test)
    with torch.no_grad():
        got = ax_side().posterior(X_test)
        torch.testing.assert_close(got.mean, expected.mean, rtol=1e-8, atol=1e-10)
        torch.testing.assert_close(got.covariance_matrix, expected.covariance_matrix, rtol=1e-8, atol=1e-10)
        # The comparison can fail: the same model reading the choices in a wrong order differs.
        wrong = ax_side(ax_values={"choice_00": list(reversed(space.choices[0]))}).posterior(X_test)
        assert not torch.allclose(wrong.mean, expected.mean, rtol=1e-4)


def test_axs_fitted_model_has_the_infonas_covariance(observed):
    from ax.adapter.registry import Mixed_transforms, Y_trans

    from infonas.surrogates.gp import Surrogate

    space, client, train, test, y = observed
    adapter = _fitted_adapter(space, client, [*Mixed_transforms, *Y_trans], kernel=KERNEL, h=1)
    model = adapter.generator.surrogate.model
    reference = Surrogate(space, KERNEL, h_values=(model.h,), maxiter=0).fit(train, y)
    reference.model.covar_module.load_state_dict(model.covar_module.state_dict())
    X = _ax_inputs(adapter, space, test + train)
    with torch.no_grad():
        got = model.covar_module(model.model_input(X)).to_dense()
        expected = reference.model.covar_module(reference.encode(test + train)).to_dense()
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


# ----- (c, d) end to end in a Client -----

def _run(seed: int, trials: int, n_init: int) -> list[tuple[str, dict]]:
    from infonas.ax.generator import infonas_generation_strategy
    from infonas.ax.parameters import from_parameterization

    space = NB201Space()
    client = _client(space, seed)
    client.set_generation_strategy(infonas_generation_strategy(space, seed=seed, n_init=n_init, kernel=KERNEL, h=1))
    rng = np.random.default_rng(seed)
    history = []
    for _ in range(trials):
        for index, parameters in client.get_next_trials(max_trials=1).items():
            arch = space.validate(from_parameterization(space, parameters))
            client.complete_trial(index, raw_data={"score": _objective(arch, rng)})
            node = client._experiment.trials[index].generator_runs[0]._generation_node_name
            history.append((node, dict(parameters)))
    return history


@pytest.fixture(scope="module")
def two_runs():
    # The second run stops after its first model-based trial: that is the one seeding must fix.
    return _run(seed=7, trials=6, n_init=4), _run(seed=7, trials=5, n_init=4)


def test_client_runs_the_infonas_node_after_sobol(two_runs):
    history, _ = two_runs
    assert [node for node, _ in history] == ["Sobol"] * 4 + [f"infonas:{KERNEL}"] * 2
    # Valid (checked in _run), new cells: the model's suggestions avoid what was observed.
    assert len({tuple(sorted(p.items())) for _, p in history}) == len(history)


def test_same_seed_same_trials(two_runs):
    first, second = two_runs
    assert second[-1][0] == f"infonas:{KERNEL}"
    assert first[: len(second)] == second


def test_generation_strategy_arguments_are_checked():
    from infonas.ax.generator import infonas_generation_strategy

    with pytest.raises(InvalidArgumentError, match="n_init"):
        infonas_generation_strategy(NB201Space(), seed=0, n_init=0)
    with pytest.raises(InvalidArgumentError, match="unknown base kernel"):
        infonas_generation_strategy(NB201Space(), seed=0, kernel="wl+rbf?")


def test_strategy_survives_an_ax_json_snapshot(tmp_path):
    from ax.api.client import Client

    from infonas.ax.generator import infonas_generation_strategy, register_ax_storage
    from infonas.ax.parameters import from_parameterization

    space = NB201Space()
    register_ax_storage()
    client = _client(space)
    client.set_generation_strategy(infonas_generation_strategy(space, seed=0, n_init=1, h=1))
    for index in client.get_next_trials(max_trials=1):
        client.complete_trial(index, raw_data={"score": 1.0})
    client.save_to_json_file(str(tmp_path / "snapshot.json"))
    loaded = Client.load_from_json_file(str(tmp_path / "snapshot.json"))
    options = loaded._generation_strategy._nodes[1].generator_specs[0].generator_kwargs["surrogate_spec"] \
        .model_configs[0].model_options
    assert options["space"] == "nb201"  # stored by name, resolved by get_space when Ax builds the model
    (index, parameters), = loaded.get_next_trials(max_trials=1).items()
    assert loaded._experiment.trials[index].generator_runs[0]._generation_node_name == f"infonas:{KERNEL}"
    space.validate(from_parameterization(space, parameters))
