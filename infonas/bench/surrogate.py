"""Surrogate benchmark: how well each kernel ranks and covers unseen cells of a tabular benchmark.

For every seed and training-set size ``N``: draw ``N`` random cells, fit each model on them,
predict every cell of the table (the timed ``fit_predict_seconds`` covers the fit and the
prediction of all cells) and score the predictions on all the *other* cells:

* ``kendall_tau``, ``spearman`` -- rank correlation of the predictive mean (median, for a
  warped model) with the truth (``scipy.stats``), median over seeds;
* ``nlpd`` -- mean negative log predictive density of the truth under the predictive
  distribution of a new measurement (latent variance plus inferred noise), averaged over cells,
  then over seeds;
* ``coverage_90`` -- fraction of cells inside the central 90% predictive interval, mean over seeds.

With ``cheap`` values, the multi-fidelity model (``MultiFidelitySurrogate``) is also fitted on the
same ``N`` expensive cells plus ``cheap_factor * N`` other random cells observed at the cheap
fidelity, and scored on the same test cells at the expensive fidelity.

Input is plain data (architectures and numpy arrays), so this module does not depend on how the
table is read. Example (a tiny synthetic table)::

    >>> import numpy as np
    >>> from search_spaces import NB201Space
    >>> space = NB201Space()
    >>> archs = [space.sample(np.random.default_rng(i)) for i in range(60)]
    >>> y = np.array([a.ops.count("nor_conv_3x3") for a in archs], dtype=float)
    >>> result = run_surrogate_benchmark(archs, y, "convs", train_sizes=[10], seeds=1,
    ...                                  models=["hamming"], progress=False)
    >>> sorted(result["results"][0])
    ['coverage_90', 'fit_predict_seconds', 'kendall_tau', 'model', 'nlpd', 'spearman', 'train_size']
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

import numpy as np
import torch
from scipy import stats
from tqdm.auto import tqdm

from infonas.bench.resume import JobLog
from infonas.encodings.inputs import ArchitectureEncoder
from infonas.surrogates.gp import KERNEL_SPECS, Surrogate
from infonas.surrogates.multi_fidelity import MultiFidelitySurrogate
from infonas.surrogates.prediction import Prediction
from search_spaces import get_space
from search_spaces.base import Architecture, SearchSpace

__all__ = ["multifidelity_name", "run_surrogate_benchmark", "score_predictions"]


def multifidelity_name(kernel: str) -> str:
    """The model name under which the multi-fidelity results are reported."""
    return f"multifidelity:{kernel}"


def score_predictions(y: np.ndarray, prediction: Prediction) -> dict[str, float]:
    """Kendall tau and Spearman rho of the predictive median (the mean of a Gaussian) against
    ``y``, mean negative log predictive density of ``y`` and coverage of the central 90% interval."""
    y = np.asarray(y, dtype=np.float64)
    point = prediction.median.numpy()
    tau = stats.kendalltau(point, y).statistic
    rho = stats.spearmanr(point, y).statistic
    low, high = prediction.interval(0.9)
    inside = (y >= low.numpy()) & (y <= high.numpy())
    return {
        "kendall_tau": float(np.nan_to_num(tau)),
        "spearman": float(np.nan_to_num(rho)),
        "nlpd": float(-prediction.log_prob(y).mean()),
        "coverage_90": float(np.mean(inside)),
    }


def _check_inputs(archs, values, cheap) -> tuple[list[Architecture], np.ndarray, np.ndarray | None]:
    archs = list(archs)
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if not archs:
        raise ValueError("the benchmark needs at least one architecture")
    if len(values) != len(archs):
        raise ValueError(f"{len(archs)} architectures but {len(values)} objective values")
    if not np.all(np.isfinite(values)):
        raise ValueError("objective values must be finite (drop failed rows first)")
    if cheap is not None:
        cheap = np.asarray(cheap, dtype=np.float64).reshape(-1)
        if len(cheap) != len(archs):
            raise ValueError(f"{len(archs)} architectures but {len(cheap)} cheap values")
        if not np.all(np.isfinite(cheap)):
            raise ValueError("cheap values must be finite (drop failed rows first)")
    return archs, values, cheap


def run_surrogate_benchmark(
    archs: Sequence[Architecture],
    values: Sequence[float] | np.ndarray,
    objective: str,
    cheap: Sequence[float] | np.ndarray | None = None,
    *,
    train_sizes: Sequence[int] = (10, 25, 50, 100, 200),
    seeds: int | Sequence[int] = 10,
    models: Sequence[str] = KERNEL_SPECS,
    multifidelity_kernel: str = "wl+hamming",
    cheap_factor: int = 5,
    space: SearchSpace | None = None,
    upper_bound: float | None = None,
    threads: int | None = 1,
    progress: bool = True,
    log: JobLog | None = None,
) -> dict:
    """Run the surrogate benchmark and return its JSON-ready summary.

    Args:
        archs: every cell of the table (the pool that is predicted).
        values: the objective column, one value per cell.
        objective: the objective's name (reported as ``"objective"``).
        cheap: optional cheap-fidelity column; adds the multi-fidelity model.
        train_sizes: training-set sizes ``N`` (each must be smaller than the table).
        seeds: number of seeds (``0..seeds-1``) or the seeds themselves; training cells for
            seed ``s`` and size ``N`` are drawn by ``numpy.random.default_rng([s, N])``, shared
            by all models.
        models: kernel specs of single-fidelity models (``"onehot-rbf"`` is BoTorch's default GP).
        multifidelity_kernel: architecture kernel of the multi-fidelity model.
        cheap_factor: cheap cells per expensive training cell for the multi-fidelity model.
        space: the search space (default: looked up from the architectures' space name).
        upper_bound: optional known upper bound of the objective (and cheap) values, e.g. 100 for
            accuracies in percent: every model then fits ``-log(upper_bound - y)`` (see
            ``Surrogate``); scores are computed with the exact back-transformed predictive.
        threads: torch threads while running (restored after); 1 is fastest for these small
            matrices and immune to oversubscription on a shared 2-core machine. None: unchanged.
        progress: print one line per (model, size) to stderr.
        log: finished (size, seed) rounds of an interrupted run of the same benchmark, reused;
            each new round is added as it finishes (``infonas.bench.resume``).

    Returns:
        ``{"objective": objective, "results": [{"model", "train_size", "kendall_tau",
        "spearman", "nlpd", "coverage_90", "fit_predict_seconds"}, ...]}``.
    """
    archs, values, cheap = _check_inputs(archs, values, cheap)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list:
        raise ValueError("seeds must name at least one seed")
    sizes = [int(n) for n in train_sizes]
    if not sizes or min(sizes) < 1 or max(sizes) >= len(archs):
        raise ValueError(f"train sizes must lie in 1..{len(archs) - 1}, got {sizes}")
    max_cheap = max(sizes) * (1 + cheap_factor)
    if cheap is not None and max_cheap > len(archs):
        raise ValueError(f"the table is too small for {cheap_factor}x cheap cells at N={max(sizes)}")
    models = list(models)
    for name in models:
        Surrogate(space or get_space(archs[0].space), name)  # validates the spec early
    space = space or get_space(archs[0].space)

    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        started = time.perf_counter()
        encoder = ArchitectureEncoder(space)
        encoder.wl.vocabulary(archs)  # WL label counts of every cell, once
        encoder.categorical(archs)
        encoder.onehot(archs)
        if progress:
            tqdm.write(
                f"[bench surrogate] features of {len(archs)} cells computed in "
                f"{time.perf_counter() - started:.1f}s (once, not timed per model)",
                file=sys.stderr,
            )
        runs: dict[tuple[str, int], list[dict[str, float]]] = {}
        names = models + ([multifidelity_name(multifidelity_kernel)] if cheap is not None else [])
        log = log if log is not None else JobLog(None, "surrogate", {})
        for n in sizes:
            for seed in seed_list:
                scores = log.done.get((n, seed))
                if scores is None:
                    scores = _one_round(space, encoder, archs, values, cheap, n, seed, models, multifidelity_kernel,
                                        cheap_factor, upper_bound)
                    log.record((n, seed), scores)
                for name in names:
                    runs.setdefault((name, n), []).append(scores[name])
            if progress:
                for name in names:
                    summary = _summarise(name, n, runs[(name, n)])
                    tqdm.write(
                        f"[bench surrogate] {name:>24s} N={n:<4d} tau={summary['kendall_tau']:.3f} "
                        f"rho={summary['spearman']:.3f} nlpd={summary['nlpd']:.3f} "
                        f"cov90={summary['coverage_90']:.3f} t={summary['fit_predict_seconds']:.2f}s",
                        file=sys.stderr,
                    )
        results = [_summarise(name, n, runs[(name, n)]) for name in names for n in sizes]
    finally:
        if threads is not None:
            torch.set_num_threads(previous_threads)
    return {"objective": objective, "results": results}


def _one_round(space: SearchSpace, encoder: ArchitectureEncoder, archs: list[Architecture], values: np.ndarray,
               cheap: np.ndarray | None, n: int, seed: int, models: list[str], multifidelity_kernel: str,
               cheap_factor: int, upper_bound: float | None) -> dict[str, dict[str, float]]:
    """Every model's scores for one training-set size and seed (its training cells drawn by
    ``default_rng([seed, n])``, shared by all models)."""
    rng = np.random.default_rng([seed, n])
    order = rng.permutation(len(archs))
    train = order[:n]
    test = np.sort(order[n:])
    train_archs = [archs[i] for i in train]
    scores: dict[str, dict[str, float]] = {}
    for name in models:
        start = time.perf_counter()
        surrogate = Surrogate(space, name, encoder=encoder, seed=seed, upper_bound=upper_bound)
        surrogate.fit(train_archs, values[train])
        prediction = surrogate.predict(archs, observation_noise=True)
        seconds = time.perf_counter() - start
        scores[name] = {**score_predictions(values[test], prediction[test]), "fit_predict_seconds": seconds}
    if cheap is not None:
        cheap_cells = order[n : n + cheap_factor * n]
        mf_archs = train_archs + [archs[i] for i in cheap_cells]
        mf_values = np.concatenate([values[train], cheap[cheap_cells]])
        fidelity = np.concatenate([np.ones(n, dtype=int), np.zeros(len(cheap_cells), dtype=int)])
        start = time.perf_counter()
        surrogate = MultiFidelitySurrogate(
            space, multifidelity_kernel, encoder=encoder, seed=seed, upper_bound=upper_bound
        ).fit(mf_archs, mf_values, fidelity)
        prediction = surrogate.predict(archs, observation_noise=True)
        seconds = time.perf_counter() - start
        scores[multifidelity_name(multifidelity_kernel)] = {**score_predictions(values[test], prediction[test]),
                                                            "fit_predict_seconds": seconds}
    return scores


def _summarise(name: str, n: int, scores: list[dict[str, float]]) -> dict:
    def column(key: str) -> np.ndarray:
        return np.asarray([s[key] for s in scores], dtype=np.float64)

    return {
        "model": name,
        "train_size": int(n),
        "kendall_tau": float(np.median(column("kendall_tau"))),
        "spearman": float(np.median(column("spearman"))),
        "nlpd": float(np.mean(column("nlpd"))),
        "coverage_90": float(np.mean(column("coverage_90"))),
        "fit_predict_seconds": float(np.median(column("fit_predict_seconds"))),
    }
