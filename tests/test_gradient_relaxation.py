"""The DARTS family's mixing-weight relaxations, the discretisation and the op shares.

Seeded and tiny: alpha is NB201's (6, 5); every random draw comes from a seeded ``torch.Generator``.
"""

from __future__ import annotations

import math

import pytest
import torch

from infonas.exceptions import InvalidArgumentError
from infonas.gradient.relaxation import (
    RELAXATIONS,
    DirichletRelaxation,
    GumbelSoftmaxRelaxation,
    Relaxation,
    SoftmaxRelaxation,
    derive_choices,
    geometric_temperature,
    make_relaxation,
    op_shares,
)
from search_spaces.nb201 import NB201_OPS

EDGES, OPS = 6, len(NB201_OPS)
SKIP, NONE = NB201_OPS.index("skip_connect"), NB201_OPS.index("none")
NAMES = sorted(RELAXATIONS)


def _alpha(seed: int = 0, scale: float = 1.0) -> torch.Tensor:
    return (scale * torch.randn(EDGES, OPS, generator=torch.Generator().manual_seed(seed))).requires_grad_()


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _mask() -> torch.Tensor:
    """Edge 0 keeps only conv 3x3; edge 3 loses none and skip; the others keep every op."""
    mask = torch.ones(EDGES, OPS, dtype=torch.bool)
    mask[0] = False
    mask[0, NB201_OPS.index("nor_conv_3x3")] = True
    mask[3, [NONE, SKIP]] = False
    return mask


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("progress", [0.0, 0.4, 1.0])
def test_weights_are_distributions_over_ops(name: str, progress: float) -> None:
    relaxation = make_relaxation(name)
    weights = relaxation.weights(_alpha(1, scale=2.0), progress=progress, generator=_generator(2))
    assert weights.shape == (EDGES, OPS)
    assert bool((weights >= 0).all()) and bool(torch.isfinite(weights).all())
    torch.testing.assert_close(weights.sum(-1), torch.ones(EDGES), atol=1e-6, rtol=0)
    expected = relaxation.expected_weights(_alpha(1, scale=2.0))
    torch.testing.assert_close(expected.sum(-1), torch.ones(EDGES), atol=1e-6, rtol=0)
    torch.testing.assert_close(expected, relaxation.expected_weights(_alpha(1, scale=2.0)), atol=0, rtol=0)


@pytest.mark.parametrize("name", ["softmax", "gumbel-soft", "dirichlet"])
def test_mask_gives_exact_zeros_and_renormalises(name: str) -> None:
    relaxation, alpha, mask = make_relaxation(name), _alpha(3), _mask()
    masked = relaxation.weights(alpha, progress=0.5, generator=_generator(4), mask=mask)
    full = relaxation.weights(alpha, progress=0.5, generator=_generator(4))
    assert bool((masked[~mask] == 0).all())
    # With the same draw, pruning and renormalising equals the relaxation over the kept ops alone.
    kept = torch.where(mask, full, torch.zeros_like(full))
    torch.testing.assert_close(masked, kept / kept.sum(-1, keepdim=True), atol=1e-6, rtol=1e-5)
    assert masked[0, NB201_OPS.index("nor_conv_3x3")].item() == pytest.approx(1.0)
    expected = relaxation.expected_weights(alpha, mask=mask)
    assert bool((expected[~mask] == 0).all())
    torch.testing.assert_close(expected.sum(-1), torch.ones(EDGES), atol=1e-6, rtol=0)


def test_mask_on_hard_gumbel_picks_a_kept_op() -> None:
    mask = _mask()
    for seed in range(20):
        weights = make_relaxation("gumbel-hard").weights(_alpha(seed, 3.0), progress=0.9, generator=_generator(seed),
                                                         mask=mask)
        assert bool((weights[~mask] == 0).all())
        assert bool(mask[torch.arange(EDGES), weights.detach().argmax(-1)].all())


def test_softmax_expected_weights_follow_the_mask() -> None:
    alpha, mask = _alpha(5), _mask()
    expected = SoftmaxRelaxation().expected_weights(alpha, mask=mask)
    kept = alpha.detach()[3, 2:].softmax(-1)
    torch.testing.assert_close(expected[3, 2:].detach(), kept)


def test_annealing_endpoints_are_exact() -> None:
    annealed = SoftmaxRelaxation(temperature_start=5.0, temperature_end=0.5)
    assert annealed.temperature(0.0) == 5.0 and annealed.temperature(1.0) == 0.5
    assert annealed.temperature(0.5) == pytest.approx(math.sqrt(2.5))
    gdas = GumbelSoftmaxRelaxation()
    assert (gdas.temperature(0.0), gdas.temperature(1.0)) == (10.0, 0.1)
    assert geometric_temperature(10.0, 0.1, 0.25) == pytest.approx(10.0 * 0.01**0.25)
    alpha = _alpha(6)
    torch.testing.assert_close(annealed.weights(alpha, progress=1.0), torch.softmax(alpha / 0.5, -1))
    torch.testing.assert_close(annealed.weights(alpha, progress=0.0), torch.softmax(alpha / 5.0, -1))
    constant = SoftmaxRelaxation()
    torch.testing.assert_close(constant.weights(alpha, progress=0.7), torch.softmax(alpha, -1))


def test_annealing_sharpens_the_soft_gumbel_sample() -> None:
    snas, alpha = make_relaxation("gumbel-soft"), _alpha(7)
    early = snas.weights(alpha, progress=0.0, generator=_generator(8)).detach()
    late = snas.weights(alpha, progress=1.0, generator=_generator(8)).detach()
    assert bool((late.max(-1).values > early.max(-1).values).all())  # same noise, tau 10 -> 0.1


def test_hard_rows_are_one_hot_with_the_soft_gradient() -> None:
    gdas, snas = make_relaxation("gumbel-hard"), make_relaxation("gumbel-soft")
    assert gdas.hard() and not snas.hard()
    assert not SoftmaxRelaxation().hard() and not DirichletRelaxation().hard()
    alpha, target = _alpha(9), torch.randn(EDGES, OPS, generator=_generator(10))
    hard = gdas.weights(alpha, progress=0.3, generator=_generator(11))
    values = hard.detach()
    assert bool(((values == 0) | ((values - 1).abs() < 1e-6)).all())
    torch.testing.assert_close(values.sum(-1), torch.ones(EDGES), atol=1e-6, rtol=0)
    (hard * target).sum().backward()
    hard_gradient, alpha.grad = alpha.grad.clone(), None
    soft = snas.weights(alpha, progress=0.3, generator=_generator(11))  # same noise, same tau
    assert torch.equal(values.argmax(-1), soft.detach().argmax(-1))
    (soft * target).sum().backward()
    torch.testing.assert_close(hard_gradient, alpha.grad)  # straight-through: the soft sample's gradient
    assert bool((hard_gradient.abs().sum(-1) > 0).all())


@pytest.mark.parametrize("name", ["gumbel-hard", "gumbel-soft", "dirichlet"])
def test_same_seed_same_weights_and_global_rng_untouched(name: str) -> None:
    relaxation, alpha = make_relaxation(name), _alpha(12)
    state = torch.get_rng_state()
    first = relaxation.weights(alpha, progress=0.5, generator=_generator(13))
    again = relaxation.weights(alpha, progress=0.5, generator=_generator(13))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first, again)
    other = [relaxation.weights(alpha, progress=0.5, generator=_generator(seed)) for seed in range(14, 18)]
    assert any(not torch.equal(first, weights) for weights in other)
    torch.manual_seed(0)  # without a generator: the global RNG, as torch's samplers use it
    unseeded = relaxation.weights(alpha, progress=0.5)
    torch.testing.assert_close(unseeded.sum(-1), torch.ones(EDGES), atol=1e-6, rtol=0)


def test_dirichlet_mean_approaches_its_expected_weights() -> None:
    relaxation, alpha = DirichletRelaxation(), torch.tensor([[2.0, 0.0, -0.5, 1.0, 3.0]] * 2)
    generator = _generator(19)
    draws = torch.stack([relaxation.weights(alpha, progress=0.0, generator=generator) for _ in range(3000)])
    expected = relaxation.expected_weights(alpha)
    torch.testing.assert_close(draws.mean(0), expected, atol=0.02, rtol=0)
    beta = torch.nn.functional.elu(alpha) + 1
    torch.testing.assert_close(expected, beta / beta.sum(-1, keepdim=True))
    assert (expected - torch.softmax(alpha, -1)).abs().max() > 0.1  # the test tells the two apart


def test_dirichlet_sample_is_pathwise_differentiable() -> None:
    alpha = _alpha(20)
    weights = DirichletRelaxation().weights(alpha, progress=0.0, generator=_generator(21))
    (weights[:, 3]).sum().backward()
    assert alpha.grad is not None and bool((alpha.grad.abs().sum(-1) > 0).all())


@pytest.mark.parametrize("prior", [1.0, 2.5, 0.4])
def test_kl_is_zero_at_the_prior_and_positive_elsewhere(prior: float) -> None:
    at_prior = torch.full((EDGES, OPS), prior - 1.0 if prior >= 1 else math.log(prior))  # ELU^-1(prior - 1)
    relaxation = DirichletRelaxation(prior=prior)
    torch.testing.assert_close(relaxation.concentration(at_prior), torch.full((EDGES, OPS), prior))
    assert abs(relaxation.regulariser(at_prior).item()) < 1e-4
    alpha = _alpha(22)
    kl = relaxation.regulariser(alpha)
    assert kl.dim() == 0 and kl.item() > 0.01
    kl.backward()
    assert alpha.grad is not None and alpha.grad.abs().sum() > 0
    assert DirichletRelaxation(kl_weight=3.0, prior=prior).regulariser(alpha).item() == pytest.approx(3 * kl.item())
    assert DirichletRelaxation(kl_weight=0.0, prior=prior).regulariser(alpha).item() == 0.0


def test_regulariser_is_zero_without_one() -> None:
    for name in ["softmax", "gumbel-hard", "gumbel-soft"]:
        assert make_relaxation(name).regulariser(_alpha(23)).item() == 0.0


def test_registry_and_options() -> None:
    assert set(RELAXATIONS) == {"softmax", "gumbel-hard", "gumbel-soft", "dirichlet"}
    for name in RELAXATIONS:
        relaxation = make_relaxation(name)
        assert isinstance(relaxation, Relaxation) and relaxation.name == name
    gdas = make_relaxation("gumbel-hard", temperature_start=4.0, temperature_end=0.2)
    assert isinstance(gdas, GumbelSoftmaxRelaxation) and gdas.hard() and gdas.temperature(1.0) == 0.2
    assert not make_relaxation("gumbel-soft").hard()
    assert make_relaxation("dirichlet", kl_weight=0.5).kl_weight == 0.5
    assert "temperature_start=4.0" in repr(gdas) and "hard=True" in repr(gdas)
    with pytest.raises(InvalidArgumentError, match="relaxation must be one of .*'dirichlet'.*got 'gdas'"):
        make_relaxation("gdas")
    with pytest.raises(InvalidArgumentError, match="takes the options .* got \\['hard'\\]"):
        make_relaxation("gumbel-hard", hard=False)
    with pytest.raises(InvalidArgumentError, match="got \\['tau'\\]"):
        make_relaxation("softmax", tau=2.0)


def test_derive_choices_argmax_and_none_exclusion() -> None:
    weights = torch.tensor([
        [0.50, 0.20, 0.10, 0.15, 0.05],  # none wins; skip next
        [0.10, 0.60, 0.10, 0.10, 0.10],
        [0.05, 0.05, 0.70, 0.10, 0.10],
        [0.10, 0.10, 0.10, 0.10, 0.60],
        [0.40, 0.05, 0.05, 0.05, 0.45],
        [0.20, 0.20, 0.20, 0.20, 0.20],  # a tie: the lower index
    ])
    assert derive_choices(weights) == (0, 1, 2, 4, 4, 0)
    assert derive_choices(weights, exclude_none=True) == (1, 1, 2, 4, 4, 1)
    assert derive_choices(weights.log()) == (0, 1, 2, 4, 4, 0)  # alpha works as well as weights


def test_derive_choices_caps_skips() -> None:
    weights = torch.tensor([
        [0.10, 0.50, 0.30, 0.05, 0.05],  # skip 0.50, then conv 1x1
        [0.05, 0.90, 0.01, 0.02, 0.02],  # skip 0.90
        [0.10, 0.70, 0.05, 0.10, 0.05],  # skip 0.70, then none and conv 3x3 tie: none
        [0.10, 0.05, 0.10, 0.60, 0.15],
        [0.05, 0.40, 0.05, 0.05, 0.45],  # not a skip edge though skip is large
        [0.05, 0.60, 0.05, 0.10, 0.20],  # skip 0.60, then avg pool
    ])
    assert derive_choices(weights) == (1, 1, 1, 3, 4, 1)
    assert derive_choices(weights, max_skips=4) == (1, 1, 1, 3, 4, 1)
    assert derive_choices(weights, max_skips=2) == (2, 1, 1, 3, 4, 4)
    assert derive_choices(weights, max_skips=1) == (2, 1, 0, 3, 4, 4)
    assert derive_choices(weights, max_skips=0) == (2, 0, 0, 3, 4, 4)
    assert derive_choices(weights, max_skips=1, exclude_none=True) == (2, 1, 3, 3, 4, 4)
    # Another op as "skip": conv 3x3, edge 3's pick, capped at 0 gives way to avg pool.
    assert derive_choices(weights, max_skips=0, skip_index=3) == (1, 1, 1, 4, 4, 1)


def test_op_shares() -> None:
    shares = op_shares((1, 1, 0, 3, 1, 4))
    assert list(shares) == list(NB201_OPS)
    assert shares == {"none": 1 / 6, "skip_connect": 0.5, "nor_conv_1x1": 0.0, "nor_conv_3x3": 1 / 6,
                      "avg_pool_3x3": 1 / 6}
    assert sum(shares.values()) == pytest.approx(1.0)
    assert op_shares(derive_choices(torch.eye(EDGES, OPS)))["none"] == pytest.approx(2 / 6)


BAD_CALLS = {
    "alpha 1-D": lambda: SoftmaxRelaxation().weights(torch.zeros(5), progress=0.0),
    "alpha integer": lambda: SoftmaxRelaxation().weights(torch.zeros(6, 5, dtype=torch.long), progress=0.0),
    "alpha not a tensor": lambda: SoftmaxRelaxation().expected_weights([[0.0] * 5] * 6),
    "alpha NaN": lambda: DirichletRelaxation().regulariser(torch.full((6, 5), float("nan"))),
    "progress below 0": lambda: SoftmaxRelaxation().weights(torch.zeros(6, 5), progress=-0.1),
    "progress above 1": lambda: GumbelSoftmaxRelaxation().weights(torch.zeros(6, 5), progress=1.5),
    "progress NaN": lambda: DirichletRelaxation().weights(torch.zeros(6, 5), progress=float("nan")),
    "progress bool": lambda: SoftmaxRelaxation().weights(torch.zeros(6, 5), progress=True),
    "temperature 0": lambda: SoftmaxRelaxation(temperature_start=0.0),
    "temperature negative": lambda: GumbelSoftmaxRelaxation(temperature_end=-0.1),
    "temperature inf": lambda: SoftmaxRelaxation(temperature_end=math.inf),
    "geometric temperature 0": lambda: geometric_temperature(1.0, 0.0, 0.5),
    "hard not bool": lambda: GumbelSoftmaxRelaxation(hard="yes"),
    "kl_weight negative": lambda: DirichletRelaxation(kl_weight=-1.0),
    "prior 0": lambda: DirichletRelaxation(prior=0.0),
    "mask float": lambda: SoftmaxRelaxation().weights(torch.zeros(6, 5), progress=0.0, mask=torch.ones(6, 5)),
    "mask shape": lambda: SoftmaxRelaxation().weights(torch.zeros(6, 5), progress=0.0,
                                                      mask=torch.ones(6, 4, dtype=torch.bool)),
    "mask empty edge": lambda: DirichletRelaxation().expected_weights(
        torch.zeros(6, 5), mask=torch.ones(6, 5, dtype=torch.bool).index_fill(0, torch.tensor([2]), False)),
    "derive 1-D": lambda: derive_choices(torch.zeros(5)),
    "derive max_skips negative": lambda: derive_choices(torch.zeros(6, 5), max_skips=-1),
    "derive max_skips bool": lambda: derive_choices(torch.zeros(6, 5), max_skips=True),
    "derive skip_index out of range": lambda: derive_choices(torch.zeros(6, 5), skip_index=5),
    "derive nothing left": lambda: derive_choices(torch.zeros(6, 2), max_skips=0, exclude_none=True),
    "shares out of range": lambda: op_shares((0, 5)),
    "shares empty": lambda: op_shares(()),
}


@pytest.mark.parametrize("call", list(BAD_CALLS.values()), ids=list(BAD_CALLS))
def test_bad_inputs_raise_with_rule_value_and_fix(call) -> None:
    with pytest.raises(InvalidArgumentError, match=r"must .*got .*; \w+") as caught:
        call()
    assert isinstance(caught.value, ValueError)


def test_cost_weights_follow_the_annealed_softmax_but_the_categorical_for_gumbel_and_dirichlet() -> None:
    alpha = torch.tensor([[0.3, 0.1, -0.2], [0.0, 0.05, 0.0]])
    annealed = make_relaxation("softmax", temperature_start=1.0, temperature_end=0.1)
    assert torch.allclose(annealed.cost_weights(alpha, progress=1.0), torch.softmax(alpha / 0.1, -1))
    assert torch.allclose(annealed.cost_weights(alpha, progress=0.0), annealed.expected_weights(alpha))
    # Sharper as tau falls: the expected cost tends to the argmax cell's.
    sharp, flat = (annealed.cost_weights(alpha, progress=p).max(-1).values for p in (1.0, 0.0))
    assert bool((sharp > flat).all())
    for name in ("gumbel-hard", "gumbel-soft", "dirichlet"):
        relaxation = make_relaxation(name)
        assert torch.equal(relaxation.cost_weights(alpha, progress=1.0), relaxation.expected_weights(alpha))
