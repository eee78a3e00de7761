"""Two evaluators as two fidelities of one: a cheap estimate (a supernet's score) and the target (training).

``FidelityChain(cheap, target, costs=..., setup_cost=...)`` answers fidelity ``"supernet"`` (level 0)
with ``cheap`` and ``"train"`` (level 1) with ``target``, renames their metrics to one vocabulary
(``valid_accuracy`` -> ``valid_acc``, ``test_accuracy`` -> ``test_acc``, as the project's tables
name their columns) and reports, as a trial's ``cost``, a fixed price per fidelity in units of one
target evaluation; the measured seconds go into the metric ``seconds``.

Why fixed costs: a multi-fidelity strategy decides by the costs it has seen and a cost budget stops
the run, so measured seconds would make two runs with the same seed diverge (and a resumed run
differ from an uninterrupted one). The fixed prices come from measurements made once
(``measured_costs``: the provenance of the ground-truth table) and are stored in the run's spec.

Example:
    >>> from infonas.testing.fakes import FakeEvaluator
    >>> from search_spaces import NB201Space
    >>> space = NB201Space()
    >>> chain = FidelityChain(FakeEvaluator(space), FakeEvaluator(space), costs={"supernet": 0.1, "train": 1.0})
    >>> result = chain.evaluate(space.make(["nor_conv_3x3"] * 6), "supernet")
    >>> result.cost, sorted(chain.fidelities), chain.target_fidelity
    (0.1, ['supernet', 'train'], 'train')
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infonas.evaluators.base import Evaluator, Fidelity
from infonas.exceptions import InvalidArgumentError
from infonas.trials import EvaluationResult, TrialStatus
from search_spaces.base import Architecture

__all__ = ["CHEAP", "DEFAULT_RENAME", "PRICE_FILES", "PROVENANCE", "TARGET", "FidelityChain", "measured_costs",
           "price_file"]

logger = logging.getLogger(__name__)

#: The chain's fidelity names, cheapest first.
CHEAP, TARGET = "supernet", "train"

#: Metric renames (whole names and prefixes: ``valid_accuracy_ep2`` -> ``valid_acc_ep2``).
DEFAULT_RENAME: dict[str, str] = {"valid_accuracy": "valid_acc", "test_accuracy": "test_acc"}

#: The provenance of the mnist1d ground-truth table: its ``phases`` hold the seconds measured
#: while building it on the project's 2-core machine (one torch thread per process).
PROVENANCE = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "nb201_mnist1d.json"

#: Where each space's chain prices are measured: NB201's in its ground-truth table's build, the
#: DARTS space's by ``infonas bench prices --space darts --measure`` (no table exists to build).
PRICE_FILES: dict[str, Path] = {"nb201": PROVENANCE, "darts": PROVENANCE.with_name("darts_mnist1d_prices.json")}

#: MNIST-1D's validation signals (4,000 training signals split 3,200 / 800) and the batch size
#: of the recalibration batches: what a BN mode's share of the scoring time depends on.
_VALID_SIGNALS, _BATCH = 800, 64


def _recorded_seconds(path: Path) -> tuple[dict[str, float], str]:
    """Seconds per training epoch, per supernet epoch and per scored cell, and where they come from.

    A score's seconds are returned with what they covered: ``score_batches`` recalibration
    batches and ``score_modes`` passes over the validation signals (the table scored each cell in
    its three BN modes; a prices file scores once, recalibrated, and says so in its phase).
    """
    try:
        data = json.loads(path.read_text())
        phases, settings = data["phases"], data["settings"]
        train, supernet, scores = phases["train-seed0"], phases["supernet-spos"], phases["scores-spos"]
        return {"train_seconds_per_epoch": train["seconds"] / train["finished"] / settings["epochs"],
                "supernet_seconds_per_epoch": supernet["seconds"] / supernet["epochs_done"],
                "score_seconds": scores["seconds"] / scores["finished"],
                "score_batches": float(settings["recalibration_batches"]),
                "score_modes": float(scores.get("batch_norm_modes", 3))}, str(path)
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError) as error:
        raise InvalidArgumentError(
            f"the chain's prices come from the measured seconds in {path}, which could not be read ({error}); "
            "run from a checkout of the repository (pip install -e .), measure them (infonas bench prices "
            "--measure), or pass costs and setup_cost explicitly") from None


def price_file(space: str) -> Path:
    """The file a space's chain prices are read from (``PRICE_FILES``), or a clear error."""
    if space not in PRICE_FILES:
        raise InvalidArgumentError(f"chain prices are measured for the spaces {sorted(PRICE_FILES)}, got {space!r}: "
                                   "pass costs and setup_cost explicitly")
    return PRICE_FILES[space]


def measured_costs(epochs: int, supernet_epochs: int, recalibration_batches: int = 10,
                   provenance: str | Path | None = None, *, space: str = "nb201") -> dict[str, Any]:
    """Fixed prices, in units of one ``epochs``-epoch training, of a supernet evaluation and of the
    supernet's ``supernet_epochs``-epoch training, from measured seconds (``provenance``, by
    default ``space``'s file in ``PRICE_FILES``).

    ``cost(train) = 1``; ``cost(supernet) = s_cell * share / (e * s_epoch)``;
    ``setup = E * s_sn / (e * s_epoch)``, with ``s_epoch`` the seconds of one training epoch
    (trainings scale linearly in epochs), ``s_sn`` those of one supernet epoch and ``s_cell`` those
    of one measured score: ``K0`` recalibration batches of 64 and ``m`` passes over the V = 800
    validation signals (the table: its three BN modes, ``m = 3``; a prices file: ``m = 1``). A
    default (recalibrated) score with ``K`` batches is ``share = (64 K + V) / (64 K0 + m V)`` of it
    (0.47 for the table's K = K0 = 10).

    Example:
        >>> prices = measured_costs(epochs=3, supernet_epochs=30)
        >>> round(prices["costs"]["supernet"], 3), round(prices["setup_cost"], 1), prices["costs"]["train"]
        (0.045, 23.7, 1.0)
    """
    if epochs < 1 or supernet_epochs < 1 or recalibration_batches < 1:
        raise InvalidArgumentError(f"epochs, supernet_epochs and recalibration_batches must be >= 1 to price a "
                                   f"chain, got {epochs}, {supernet_epochs} and {recalibration_batches}: give "
                                   "positive counts")
    seconds, source = _recorded_seconds(Path(provenance) if provenance is not None else price_file(space))
    training = seconds["train_seconds_per_epoch"] * epochs
    share = ((_BATCH * recalibration_batches + _VALID_SIGNALS)
             / (_BATCH * seconds["score_batches"] + seconds["score_modes"] * _VALID_SIGNALS))
    return {"costs": {CHEAP: seconds["score_seconds"] * share / training, TARGET: 1.0},
            "setup_cost": seconds["supernet_seconds_per_epoch"] * supernet_epochs / training,
            "training_seconds": training, "cost_source": source}


def _renamed(name: str, rename: Mapping[str, str]) -> str:
    for old, new in rename.items():
        if name == old or name.startswith(old + "_"):
            return new + name[len(old):]
    return name


class FidelityChain(Evaluator):
    """``cheap`` at fidelity ``"supernet"`` (level 0) and ``target`` at ``"train"`` (level 1).

    Each inner evaluator is asked at its own target fidelity. ``costs`` maps both names to the
    fixed price of one evaluation (``"train"`` is the unit, usually 1.0); a trial's cost is that
    price whatever the seconds measured (kept as the metric ``seconds``), failed trials included.
    ``setup_cost`` is the fixed price of preparing ``cheap`` (training the supernet), charged once
    the cheap evaluator has started preparing (``cheap.setup_cost() > 0``): a search that never
    asks for the cheap fidelity never pays for it. ``metric_names`` are the renamed metrics both
    evaluators report (``valid_acc``); the target's others (``test_acc``, ``train_loss``) come as
    extras at ``"train"``.
    """

    def __init__(self, cheap: Evaluator, target: Evaluator, *, costs: Mapping[str, float], setup_cost: float = 0.0,
                 rename: Mapping[str, str] | None = None) -> None:
        if set(costs) != {CHEAP, TARGET} or any(not float(c) > 0 for c in costs.values()):
            raise InvalidArgumentError(f"costs must give a positive price for {CHEAP!r} and {TARGET!r}, got "
                                       f"{dict(costs)}: e.g. {{'{CHEAP}': 0.1, '{TARGET}': 1.0}}")
        if not setup_cost >= 0:
            raise InvalidArgumentError(f"setup_cost must be >= 0 (a price in target evaluations), got {setup_cost}")
        if float(costs[CHEAP]) >= float(costs[TARGET]):
            logger.warning("the cheap fidelity costs %s, no less than the target's %s", costs[CHEAP], costs[TARGET])
        self.cheap, self.target = cheap, target
        self.rename = dict(DEFAULT_RENAME if rename is None else rename)
        self.fidelities = {CHEAP: Fidelity(CHEAP, float(costs[CHEAP]), 0),
                           TARGET: Fidelity(TARGET, float(costs[TARGET]), 1)}
        self.fixed_setup_cost = float(setup_cost)
        shared = {_renamed(name, self.rename) for name in cheap.metric_names}
        self.metric_names = tuple(name for name in (_renamed(n, self.rename) for n in target.metric_names)
                                  if name in shared)
        if not self.metric_names:
            raise InvalidArgumentError(f"the cheap evaluator's metrics {list(cheap.metric_names)} and the target's "
                                       f"{list(target.metric_names)} share none after renaming by {self.rename}: "
                                       "a chain needs one metric measured at both fidelities")
        self._inner = {CHEAP: cheap, TARGET: target}

    def prepare(self, progress: bool = False) -> None:
        """Prepare the cheap evaluator (train or resume the supernet) if it needs it."""
        prepare = getattr(self.cheap, "prepare", None)
        if prepare is not None:
            prepare(progress=progress)

    def setup_seconds(self) -> float:
        """The measured seconds of the cheap evaluator's setup (its own ``setup_cost``)."""
        return float(self.cheap.setup_cost())

    def setup_cost(self) -> float:
        """The fixed setup price once the cheap evaluator has started its setup, else 0."""
        return self.fixed_setup_cost if self.setup_seconds() > 0 else 0.0

    def _evaluate(self, arch: Architecture, fidelity: str) -> EvaluationResult:
        inner = self._inner[fidelity]
        result = inner.evaluate(arch, inner.target_fidelity)
        price = self.fidelities[fidelity].cost
        assert price is not None
        if result.status is not TrialStatus.COMPLETE:
            return EvaluationResult({}, price, result.status, result.error)
        metrics = {_renamed(name, self.rename): value for name, value in result.metrics.items()}
        return EvaluationResult({**metrics, "seconds": float(result.cost)}, price)
