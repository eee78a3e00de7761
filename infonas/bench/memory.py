"""Memory of training one cell against training a supernet (single path or mixed operation) and
against gradient search over it (a DARTS step, first or second order).

Two measures for each of ``cell`` (the stand-alone network of the largest cell, every edge a
3x3 convolution), ``spos`` and ``mixed`` (the supernet's two training modes), ``darts-1`` and
``darts-2`` (a ``GradientSearch`` step: the architecture step, first order or through the
unrolled weight step, then the weight step):

* **accounted bytes**: parameters + gradients + optimizer state + the tensors autograd saves
  for the backward pass (peak over the steps, counted once per storage through
  ``torch.autograd.graph.saved_tensors_hooks``): the memory training needs, independent of the
  allocator and of what else the process holds;
* **peak RSS**: each measurement runs in a fresh process; the kernel's peak resident set
  (``VmHWM``) is reset after set-up (``/proc/self/clear_refs``) and read after the steps, so the
  increase is what the training steps themselves added. Linux only; ``None`` elsewhere.

Example:
    >>> result = measure("spos", dataset="digits", channels=2, batch_size=16, steps=2, subprocess=False)
    >>> result["accounted_bytes"] > result["parameter_bytes"] > 0
    True
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["KINDS", "measure", "memory_benchmark"]

KINDS: tuple[str, ...] = ("cell", "spos", "mixed", "darts-1", "darts-2")
#: Kinds that are a step of gradient search: an architecture step (first order, or through the
#: unrolled weight step) and a weight step of the mixed-operation supernet.
SEARCH_KINDS: tuple[str, ...] = ("darts-1", "darts-2")


def _proc_kib(field: str) -> int | None:
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # "5" resets VmHWM to the current RSS
    except OSError:
        return False
    return True


def measure(kind: str, *, dataset: str = "mnist1d", channels: int = 8, num_cells: int = 1, batch_size: int = 64,
            steps: int = 20, seed: int = 0, subprocess: bool = True) -> dict[str, Any]:
    """The memory of ``steps`` training steps of ``kind`` (``KINDS``); in a fresh process by default."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
    options = {"dataset": dataset, "channels": channels, "num_cells": num_cells, "batch_size": batch_size,
               "steps": steps, "seed": seed}
    if not subprocess:
        return _measure(kind, options)
    # A fresh process per measurement: the peak RSS of one must not include another's.
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_measure, (kind, options))


@contextmanager
def saved_tensor_bytes() -> Iterator[dict[int, int]]:
    """Within the block, the bytes of every storage autograd saves for backward, by storage (each once)."""
    import torch

    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        yield storages


def _measure(kind: str, options: dict[str, Any]) -> dict[str, Any]:
    import torch
    from torch import nn

    from infonas.datasets import load_splits
    from infonas.evaluators.training import sgd_with_cosine
    from infonas.supernet.training import SupernetSettings, SupernetTrainer
    from search_spaces.nb201 import NB201Space
    from search_spaces.nb201.network import NetworkConfig

    torch.set_num_threads(1)
    torch.manual_seed(options["seed"])
    train, _, _ = load_splits(options["dataset"], options["seed"])
    x_all, y_all = train.tensors[0], train.tensors[1]
    config = NetworkConfig.for_input(tuple(x_all.shape[1:]), options["num_cells"], options["channels"],
                                     int(y_all.max()) + 1)
    if kind in SEARCH_KINDS:
        return _measure_search(kind, options)
    if kind == "cell":
        model: nn.Module = config.build(NB201Space().make(["nor_conv_3x3"] * 6))
        optimizer, _ = sgd_with_cosine(model.parameters(), 0.1, 0.9, 5e-4, options["steps"])

        def forward(x: torch.Tensor, step: int) -> torch.Tensor:
            return model(x)
    else:
        # The supernet's own trainer: what is measured is exactly a step of its training.
        trainer = SupernetTrainer(SupernetSettings(mode=kind, channels=options["channels"],
                                                   num_cells=options["num_cells"], batch_size=options["batch_size"],
                                                   seed=options["seed"]), x_all, y_all)
        model, optimizer, forward = trainer.supernet, trainer.optimizer, trainer.forward
    loss_fn = nn.CrossEntropyLoss()
    batch = options["batch_size"]
    rss_before = _proc_kib("VmRSS")
    peak_reset = _reset_peak()
    saved_peak = 0
    for step in range(options["steps"]):
        start = (step * batch) % max(1, len(x_all) - batch)
        x, y = x_all[start: start + batch], y_all[start: start + batch]
        with saved_tensor_bytes() as storages:
            loss = loss_fn(forward(x, step), y)
        saved_peak = max(saved_peak, sum(storages.values()))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    rss_peak = _proc_kib("VmHWM")
    return _record(kind, list(model.parameters()), (optimizer,), saved_peak, rss_before,
                   rss_peak if peak_reset else None)


def _measure_search(kind: str, options: dict[str, Any]) -> dict[str, Any]:
    """``_measure`` for a gradient-search step: the search's own arch and weight steps, tensors
    saved for backward counted over both (the unrolled step's copies included)."""

    from infonas.datasets import load_splits
    from infonas.gradient.search import GradientSearch
    from infonas.gradient.settings import settings_for

    splits = load_splits(options["dataset"], options["seed"])
    search = GradientSearch(settings_for(kind, channels=options["channels"], num_cells=options["num_cells"],
                                         batch_size=options["batch_size"], seed=options["seed"], epochs=1), splits)
    batch = options["batch_size"]
    rss_before = _proc_kib("VmRSS")
    peak_reset = _reset_peak()
    saved_peak = 0
    for step in range(options["steps"]):
        start = (step * batch) % max(1, len(search.train_x) - batch)
        train = (search.train_x[start: start + batch], search.train_y[start: start + batch])
        valid_start = (step * batch) % max(1, len(search.valid_x) - batch)
        valid = (search.valid_x[valid_start: valid_start + batch], search.valid_y[valid_start: valid_start + batch])
        # The two steps' graphs are never alive together: the peak is the larger phase's. Within
        # the unrolled step the passes are counted together, an upper bound of its peak.
        phases = ((search._arch_step, (train, valid, step)), (search._weight_step, (*train, step)))
        for phase, arguments in phases:
            with saved_tensor_bytes() as storages:
                phase(*arguments)
            saved_peak = max(saved_peak, sum(storages.values()))
    rss_peak = _proc_kib("VmHWM")
    parameters = [*search.supernet.parameters(), search.alpha]
    optimizers = (search.weight_optimizer, search.arch_optimizer)
    return _record(kind, parameters, optimizers, saved_peak, rss_before, rss_peak if peak_reset else None)


def _record(kind: str, parameters: list[Any], optimizers: tuple[Any, ...], saved_peak: int, rss_before: int | None,
            rss_peak: int | None) -> dict[str, Any]:
    import torch

    parameter_bytes = sum(p.numel() * p.element_size() for p in parameters)
    gradient_bytes = sum(p.grad.numel() * p.grad.element_size() for p in parameters if p.grad is not None)
    optimizer_bytes = sum(t.numel() * t.element_size() for optimizer in optimizers
                          for state in optimizer.state.values() for t in state.values() if isinstance(t, torch.Tensor))
    return {
        "kind": kind, "parameters": sum(p.numel() for p in parameters),
        "parameter_bytes": parameter_bytes, "gradient_bytes": gradient_bytes, "optimizer_bytes": optimizer_bytes,
        "saved_activation_bytes": saved_peak,
        "accounted_bytes": parameter_bytes + gradient_bytes + optimizer_bytes + saved_peak,
        "rss_before_kib": rss_before, "rss_peak_kib": rss_peak,
        "rss_increase_kib": (rss_peak - rss_before) if rss_peak is not None and rss_before else None,
    }


def memory_benchmark(*, dataset: str = "mnist1d", channels: int = 8, num_cells: int = 1, batch_size: int = 64,
                     steps: int = 20, seed: int = 0) -> dict[str, Any]:
    """``measure`` for every kind, and each supernet mode's ratios to the single cell."""
    results = {kind: measure(kind, dataset=dataset, channels=channels, num_cells=num_cells, batch_size=batch_size,
                             steps=steps, seed=seed) for kind in KINDS}
    cell = results["cell"]
    ratios = {}
    for mode in KINDS[1:]:
        ratios[mode] = {"accounted": results[mode]["accounted_bytes"] / cell["accounted_bytes"]}
        if cell["rss_peak_kib"] and results[mode]["rss_peak_kib"]:
            ratios[mode]["rss_peak"] = results[mode]["rss_peak_kib"] / cell["rss_peak_kib"]
            if cell["rss_increase_kib"] and results[mode]["rss_increase_kib"] is not None:
                ratios[mode]["rss_increase"] = results[mode]["rss_increase_kib"] / cell["rss_increase_kib"]
    return {"settings": {"dataset": dataset, "channels": channels, "num_cells": num_cells, "batch_size": batch_size,
                         "steps": steps, "seed": seed},
            "measurements": results, "ratio_to_cell": ratios}
