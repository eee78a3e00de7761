"""The collapse benchmark: gradient searches with and without each remedy, judged by a ground truth.

DARTS's known failure is collapse: the argmax cell fills with skip connections (and ``none``)
as the search goes on (on NB201 CIFAR-10, DARTS-V1/V2 end at 54.30% with all-skip cells). Each
variant (a method of ``infonas.gradient.METHODS`` with optional settings, written like a bench
method spec: ``"darts-1[max_skips=2]"``, ``"darts-1[temperature_end=0.1]"``) runs once per seed;
the report holds, per seed, the share of skip and none in the argmax cell after every epoch, the
derived cell, its ground-truth value (looked up in the table, or trained as the table's rows
were: ``GroundTruth``) and the regret against the table's best.

Example:
    >>> results = run_collapse_benchmark(table, ["darts-1", "darts-1[max_skips=2]"], seeds=5, epochs=30)  # doctest: +SKIP
    >>> results["variants"]["darts-1"]["final_skip_share"]  # doctest: +SKIP
    [0.5, 0.33, 0.5, 0.67, 0.5]
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infonas.bench.common import run_jobs, worker_table
from infonas.bench.ground_truth import GroundTruth
from infonas.bench.methods import MethodSpec, parse_method, parse_methods
from infonas.bench.resume import JobLog
from infonas.evaluators.tabular import TabularBenchmark
from infonas.gradient.hardware import network_costs
from infonas.gradient.report import COLLAPSE_SKIPS
from infonas.gradient.search import GradientSearch
from infonas.gradient.settings import METHODS, REMEDY_VARIANTS, GradientSettings, settings_for

__all__ = ["format_collapse_table", "gradient_settings", "run_collapse_benchmark"]

#: Spec options that go to the relaxation (``relaxation_options``), not to ``GradientSettings``.
RELAXATION_KEYS = frozenset({"temperature_start", "temperature_end", "kl_weight", "prior"})


def gradient_settings(spec: MethodSpec, **fields: Any) -> GradientSettings:
    """The settings of a parsed variant: its method's preset, ``fields`` (seed, epochs...), its options."""
    relaxation = {k: v for k, v in spec.options.items() if k in RELAXATION_KEYS}
    options = {k: v for k, v in spec.options.items() if k not in RELAXATION_KEYS}
    if relaxation:
        options["relaxation_options"] = {**METHODS[spec.strategy].get("relaxation_options", {}), **relaxation}
    return settings_for(spec.strategy, **{**fields, **options})


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_")


def run_one_collapse(table: TabularBenchmark, variant: str, seed: int, *, objective: str, epochs: int, data: str,
                     channels: int, work_dir: str | None) -> dict[str, Any]:
    """One seed of one variant: the search (resumed from ``work_dir`` if it was cut short), then
    its cell's ground-truth value."""
    spec = parse_method(variant, METHODS)
    settings = gradient_settings(spec, seed=seed, epochs=epochs, channels=channels)
    checkpoint = Path(work_dir) / _slug(spec.label) / f"seed{seed}" if work_dir else None
    costs = network_costs(data, num_cells=settings.num_cells, channels=settings.channels)
    result = GradientSearch(settings, data, checkpoint_dir=checkpoint, costs=costs).search()
    truth = GroundTruth(table, objective)
    value, looked_up = truth.value(result.arch)
    return {
        "arch": table.space.format(result.arch), objective: value, "looked_up": looked_up, "regret": truth.best - value,
        "flops": costs.value(result.arch, "flops"), "flops_budget": settings.flops_budget,
        "search_seconds": result.search_seconds, "epochs_done": result.epochs_done,
        "stopped_early": result.stopped_early,
        "skip_share": [record["skip_share"] for record in result.history],
        "none_share": [record["none_share"] for record in result.history],
        "supernet_valid_acc": [record["supernet_valid_acc"] for record in result.history],
    }


def _collapse_worker(table_path: str, space_name: str, options: dict[str, Any], variant: str,
                     seed: int) -> dict[str, Any]:
    return run_one_collapse(worker_table(table_path, space_name), variant, seed, **options)


def run_collapse_benchmark(table: TabularBenchmark, variants: Sequence[str] = REMEDY_VARIANTS, seeds: int = 5,
                           epochs: int = 30, *, objective: str = "test_acc", data: str = "mnist1d", channels: int = 8,
                           work_dir: str | None = None, workers: int = 1, progress: bool = False,
                           log: JobLog | None = None) -> dict[str, Any]:
    """Every variant for seeds ``0..seeds-1``: per-epoch skip/none shares, the cell, its regret."""
    labels = [spec.label for spec in parse_methods(",".join(variants), METHODS)]
    for label in labels:  # settings errors before any work
        gradient_settings(parse_method(label, METHODS), epochs=epochs, channels=channels)
    truth = GroundTruth(table, objective)
    options = {"objective": objective, "epochs": epochs, "data": data, "channels": channels, "work_dir": work_dir}
    jobs = [(label, seed) for label in labels for seed in range(seeds)]
    runs = run_jobs(jobs, lambda label, seed: run_one_collapse(table, label, seed, **options), _collapse_worker,
                    (table.source, table.space.name, options), table, workers, progress, "bench collapse", log)
    results: dict[str, Any] = {"objective": objective, "best_in_table": truth.best, "data": data, "epochs": epochs,
                               "channels": channels, "seeds": seeds, "variants": {}}
    for label in labels:
        per_seed = [runs[(label, seed)] for seed in range(seeds)]
        entry = {key: [run[key] for run in per_seed] for key in per_seed[0]}
        entry["final_skip_share"] = [run["skip_share"][-1] for run in per_seed]
        entry["final_none_share"] = [run["none_share"][-1] for run in per_seed]
        results["variants"][label] = entry
    return results


def format_collapse_table(results: dict[str, Any]) -> str:
    """One line per variant: medians of the final skip and none shares, the regret, the seconds."""
    objective = results["objective"]
    lines = [(f"{'variant':<58}{'skip (final)':>13}{'none':>7}{'collapsed':>10}{objective:>10}{'regret':>8}"
              f"{'trained':>8}{'s':>8}")]
    for label, entry in results["variants"].items():
        # Collapsed: the final argmax cell has COLLAPSE_SKIPS (half the cell) or more skip edges.
        collapsed = sum(round(share * 6) >= COLLAPSE_SKIPS for share in entry["final_skip_share"])
        lines.append(f"{label:<58}{statistics.median(entry['final_skip_share']):>13.2f}"
                     f"{statistics.median(entry['final_none_share']):>7.2f}"
                     f"{f'{collapsed}/{len(entry[objective])}':>10}{statistics.median(entry[objective]):>10.2f}"
                     f"{statistics.median(entry['regret']):>8.2f}{sum(not x for x in entry['looked_up']):>8}"
                     f"{statistics.median(entry['search_seconds']):>8.0f}")
    lines.append(f"best {objective} in the table: {results['best_in_table']:.2f}; 'collapsed': seeds whose final cell "
                 f"has {COLLAPSE_SKIPS}+ skip edges of 6; 'trained': seeds whose cell was not in the table and was "
                 "trained with its settings")
    return "\n".join(lines)
