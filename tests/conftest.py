"""Shared fixtures. The NAS-Bench-201 table lives beside the project (../shared), never in it."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TABLE = PROJECT_ROOT.parent / "shared" / "benchmarks" / "nb201" / "nb201_cifar.csv"


def nb201_table_path() -> Path | None:
    path = Path(os.environ.get("INFONAS_NB201_TABLE", DEFAULT_TABLE))
    return path if path.is_file() else None


@pytest.fixture(scope="session")
def nb201_table_file() -> Path:
    """Path of the full NB201 table; skips (or fails, under INFONAS_REQUIRE_TABLE=1) when absent."""
    path = nb201_table_path()
    if path is None:
        reason = (f"NAS-Bench-201 table not found at {DEFAULT_TABLE} "
                  "(set INFONAS_NB201_TABLE to its path to run these tests)")
        if os.environ.get("INFONAS_REQUIRE_TABLE") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def require_extra(module: str, extra: str, variable: str):
    """The optional ``module`` imported; skips where it is not installed, or fails where the
    environment sets ``variable`` to 1 (as CI does for Ray and Ax)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        reason = f"{module} is not installed (pip install 'infonas[{extra}]', which the [dev] extra includes)"
        if os.environ.get(variable) == "1":
            pytest.fail(reason)
        pytest.skip(reason)


def require_ax() -> None:
    """Skip where Ax is not installed, or fail under INFONAS_REQUIRE_AX=1 (as CI sets)."""
    require_extra("ax", "ax", "INFONAS_REQUIRE_AX")


@pytest.fixture(scope="module")
def ax_module():
    """For a module of Ax tests (``pytestmark = pytest.mark.usefixtures("ax_module")``): skips
    without Ax, and holds torch to one thread for the module's own fixtures too (the per-test
    setting does not reach module-scoped fixtures, and Ax's fits are several times slower with
    two threads on the 2-core machine)."""
    require_ax()
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray instance for the session's Ray tests (4 CPU slots, no dashboard), shut down after
    them; skips where Ray is not installed, or fails under INFONAS_REQUIRE_RAY=1 (as CI sets)."""
    ray = require_extra("ray", "ray", "INFONAS_REQUIRE_RAY")
    import logging

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="session")
def nb201_table(nb201_table_file):
    from infonas.evaluators.tabular import TabularBenchmark
    from search_spaces import NB201Space

    return TabularBenchmark.from_csv(nb201_table_file, NB201Space())


@pytest.fixture
def space():
    from search_spaces import NB201Space

    return NB201Space()


@pytest.fixture
def tiny_table_file(tmp_path, space):
    """A small synthetic table over 60 random NB201 cells: accuracy rises with conv count."""
    import numpy as np

    rng = np.random.default_rng(0)
    archs = {space.sample(rng) for _ in range(80)}
    archs = sorted(archs, key=space.format)[:60]
    lines = ["arch,acc_cheap,acc,note"]
    for arch in archs:
        convs = sum(op.startswith("nor_conv") for op in arch.ops)
        acc = 50 + 7 * convs + rng.normal(0, 1)
        lines.append(f"{space.format(arch)},{acc - 5 + rng.normal(0, 2):.4f},{acc:.4f},text")
    path = tmp_path / "tiny.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def synthetic_table_file(tmp_path_factory):
    """Every NB201 cell with a synthetic, seeded accuracy (and a cheaper, noisier version of it)."""
    import numpy as np

    from search_spaces import NB201Space

    space = NB201Space()
    rng = np.random.default_rng(0)
    weights = {"none": 0.0, "skip_connect": 1.0, "nor_conv_1x1": 2.0, "nor_conv_3x3": 3.0, "avg_pool_3x3": 0.5}
    lines = ["arch,acc_cheap,acc"]
    for arch in space.enumerate():
        acc = 50 + sum(weights[op] * (1 + i % 3) for i, op in enumerate(arch.ops)) + rng.normal(0, 0.5)
        lines.append(f"{space.format(arch)},{acc - 5 + rng.normal(0, 2):.4f},{acc:.4f}")
    path = tmp_path_factory.mktemp("tables") / "synthetic.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """GP matrices here are tiny: one thread is fastest, and never oversubscribes a shared machine."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _run_study(space, evaluator, strategy: str, budget: int | None = None, *, objective: str = "acc", seed: int = 0,
               cost: float | None = None, stop=None, **options):
    """An in-memory Study of ``strategy`` (with ``options``) run for ``budget`` evaluations or up to
    ``cost``; ``stop(trial)`` returning true ends it after that trial. Returns the Study: its
    ``finished_trials()`` and its ``strategy`` are what tests look at."""
    from infonas.study import Study

    study = Study.create(None, space, evaluator, objective, strategy=strategy, seed=seed,
                         strategy_options=options or None)

    def stop_when(study, trial) -> None:
        if stop(trial):
            study.stop("the test's stop condition holds")

    return study.optimize(budget, cost=cost, callbacks=[stop_when] if stop is not None else [])


@pytest.fixture(scope="session")
def run_study():
    """``run_study(space, evaluator, strategy, budget, ...)``: drive a strategy through an in-memory Study."""
    return _run_study


#: Hand-made per-operation milliseconds per stage of NB201's CIFAR-10 network (NB201_OPS order);
#: "none" is not the cheapest everywhere, so some increments are negative, as a measured table's can be.
HAND_MADE_OP_MS = ((0.02, 0.01, 0.30, 0.90, 0.25), (0.03, 0.02, 0.20, 0.60, 0.15), (0.05, 0.04, 0.12, 0.35, 0.10))


def costs_with_latency():
    """NB201's exact CIFAR-10 FLOPs and parameters with the latency table ``HAND_MADE_OP_MS`` (base 1.5 ms)."""
    import torch

    from search_spaces import NB201Space
    from search_spaces.nb201 import NB201_OPS
    from search_spaces.nb201.cost_tables import ArchitectureCosts, OperationLatencyTable
    from search_spaces.nb201.network import NetworkConfig

    space, config = NB201Space(), NetworkConfig.for_dataset("cifar10")
    measured = ArchitectureCosts.measure(space, config, latency=False)
    table = OperationLatencyTable(
        ops=NB201_OPS, stages=((16, 32, 32), (32, 16, 16), (64, 8, 8)), cells_per_stage=config.num_cells,
        op_ms=HAND_MADE_OP_MS, base_ms=1.5, batch_size=1, device="cpu", torch_version=torch.__version__,
        num_threads=1, machine={}, config=config.to_json(), repeats=1, warmup=0, rounds=1, seconds=0.0,
    )
    return ArchitectureCosts(space, config, measured.flops_base, measured.flops_increments, measured.params_base,
                             measured.params_increments, table)
