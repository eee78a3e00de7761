"""Render the README's benchmark tables from the result files in ``benchmarks/results/``.

Each table sits between two markers naming its results file (options after the name)::

    <!-- results:search_bayesian.json -->
    (generated: the table and a line naming the command, commit, date and cores)
    <!-- /results -->

The table's shape follows the file: a search benchmark (``infonas bench search``), a
multi-fidelity one (``--cheap``), a Pareto one (``infonas bench pareto``), a surrogate one
(``infonas bench surrogate``), the rank quality of cheap signals (``infonas bench fidelity``: one
row per signal, then the seed-to-seed ceiling and the target's spread), training memory
(``infonas bench memory``) or a FLOPs budget's hold on gradient searches (``infonas bench
hinge``). Options: ``labels=off`` prints bare method names;
``columns=kendall_tau,coverage_90`` picks the columns of a surrogate table; ``steps=all`` adds to a
search table every step's seconds and how many steps after the initial design took no model (a
strategy whose model could not propose, such as Ax falling back to Sobol, pays for the fit anyway).

Usage::

    python benchmarks/render_readme.py            # rewrite README.md in place
    python benchmarks/render_readme.py --check    # exit 1 if README.md differs from its results

Medians and percentiles are those of ``infonas.bench.stats.percentile``: a seed that never
reached the optimum counts as never, and the 90th percentile is the bad tail (for hypervolume
ratios, where larger is better, that is the 10th percentile: 90% of seeds did at least as well).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from infonas.bench.stats import percentile  # noqa: E402 (after the path insert: the script runs from a checkout)

RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"

#: ``<!-- results:FILE [key=value ...] -->`` ... ``<!-- /results -->``; the body is regenerated.
BLOCK = re.compile(r"(<!-- results:(?P<spec>[^>]*?) -->\n)(?P<body>.*?)(<!-- /results -->)", re.DOTALL)

#: What each method is, for readers of the tables (``labels=off`` leaves them out).
LABELS = {
    "bo-ei": "WL+Hamming+additive GP, copula-warped targets, LogEI",
    "bo-mes": "WL+Hamming+additive GP, max-value entropy search",
    "bo-ts": "WL+Hamming+additive GP, Thompson sampling",
    "gp-onehot": "BoTorch defaults on one-hot codes, LogEI",
    # The ablation of kernel and warp (item 13 of issue 10): each changes one of the two.
    "bo-ei[warp=none]": "ablation: bo-ei's GP on targets that are not warped",
    "gp-onehot[warp=copula]": "ablation: the one-hot GP on copula-warped targets",
    "bo-ei[acquisition=log-aei]": "bo-ei with augmented EI, which discounts looks by the learned noise",
    "ls": "first-improvement local search",
    "rea": "regularized evolution",
    "rs": "random search",
    "bo-mf": "MF-MES per unit cost",
    "bo-ehvi": "BoTorch qLogNEHVI",
    "bo-mesmo": "information gain about the front",
    "nsga2": "pymoo, population 20",
    "ax": "Ax 1.3.1's default generation strategy: one-hot codes, BoTorch's GP, qLogNEI",
    "ax-infonas": "Ax with bo-ei's WL+Hamming+additive GP as its model, qLogNEI",
}
SURROGATE_COLUMNS = {"kendall_tau": "Kendall tau", "spearman": "Spearman rho", "nlpd": "NLPD (mean)",
                     "coverage_90": "90% coverage", "fit_predict_seconds": "fit + predict s"}

#: What each cheap signal of a fidelity table is; ``supernet_<mode>_<bn>`` and ``valid_acc_ep<k>``
#: are composed by ``signal_label``, and a column named nowhere here shows its name only.
SIGNAL_LABELS = {"params": "parameter count (the trivial predictor)", "flops": "FLOPs"}
SUPERNET_MODES = {"spos": "single-path supernet", "mixed": "mixed-operation supernet"}
SUPERNET_BN = {"recal": "BN recalibrated", "norecal": "its own running BN statistics",
               "batchstats": "batch statistics at evaluation"}
MEMORY_ROWS = {"cell": "one cell (all nor_conv_3x3)", "spos": "single-path supernet (spos)",
               "mixed": "mixed-operation supernet", "darts-1": "DARTS search step, first order",
               "darts-2": "DARTS search step, second order (unrolled)"}


class RenderError(Exception):
    """A README block that cannot be rendered (missing file, unclosed marker, unknown option)."""


def _number(value: float | None, spec: str = "g", never: str = "never") -> str:
    return never if value is None else format(value, spec)


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}" if value >= 0.095 else f"{value:.4f}"


def _median_p(values: list[float | None], q: float, spec: str = "g") -> str:
    return f"{_number(percentile(values, 0.5), spec)} ({_number(percentile(values, q), spec)})"


def _name(method: str, options: dict[str, str]) -> str:
    label = LABELS.get(method) if options.get("labels", "on") != "off" else None
    return f"`{method}`" + (f" ({label})" if label else "")


def _bold_best(cells: list[str], keys: list[float | None], larger_is_better: bool) -> list[str]:
    """Bold the cells whose key is the best one (when there is a best among two or more)."""
    known = [k for k in keys if k is not None]
    if len(cells) < 2 or not known:
        return cells
    best = max(known) if larger_is_better else min(known)
    return [f"**{c}**" if k == best else c for c, k in zip(cells, keys)]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def _timing_points(results: dict[str, Any]) -> list[str]:
    """Observation counts at which some method made a timed suggestion (others are left out)."""
    records = [r.get("model_step_seconds") for r in results["methods"].values()]
    points = next((list(r["at_observations"]) for r in records if r), [])
    return [p for p in points if any(r and r["at_observations"][p]["count"] for r in records)]


def _timing_header(points: list[str]) -> str:
    at = f", then at {' / '.join(points)} observations" if points else ""
    return f"s per model-based suggestion, median (p90): all steps{at}"


def _timing_cell(record: dict[str, Any], points: list[str]) -> str:
    summary = record.get("model_step_seconds")
    if not summary:
        return "not recorded"
    cells = [summary["model_based"]] + [summary["at_observations"][p] for p in points]
    text = " / ".join(f"{_seconds(c['median'])} ({_seconds(c['p90'])})" if c["count"] else "–" for c in cells)
    return text + (" (no model: every step)" if summary["steps"] != "model-based" else "")


def _sorted_costs(costs: list[float | None]) -> str:
    """Every seed's cost, sorted; beyond 10 seeds the bulk as a range, then the worst 20% in full."""
    ordered = sorted(costs, key=lambda c: float("inf") if c is None else c)
    shown = ["never" if c is None else f"{c:.3g}" for c in ordered]
    if len(shown) <= 10:
        return ", ".join(shown)
    bulk = -(-len(shown) * 8 // 10)
    return f"{shown[0]} ... {shown[bulk - 1]}, then {', '.join(shown[bulk:])}"


def render_search(results: dict[str, Any], options: dict[str, str]) -> list[str]:
    methods = results["methods"]
    points = _timing_points(results)
    queries = [r["queries_to_optimum"] for r in methods.values()]
    reached = [f"{sum(q is not None for q in qs)}/{len(qs)}" for qs in queries]
    quality = _bold_best([_median_p(qs, 0.9) for qs in queries], [percentile(qs, 0.5) for qs in queries], False)
    rows = [[_name(m, options), reached[i], quality[i], _timing_cell(r, points)] for i, (m, r) in
            enumerate(methods.items())]
    header = ["method", "seeds reaching the optimum", "median queries to the optimum (p90)", _timing_header(points)]
    if options.get("steps") == "all":
        for row, record in zip(rows, methods.values()):
            row.extend(_every_step_cells(record))
        header += ["s per suggestion, every step: median (p90)",
                   "steps after the initial design that took no model (all seeds)"]
    return _table(header, rows)


def _every_step_cells(record: dict[str, Any]) -> list[str]:
    """Seconds over every step, pooled over seeds; and the steps after a seed's first model-based
    one that were not model-based, as a count and a share of those steps."""
    seconds = [s for run in record["suggest_seconds"] for s in run]
    after_design = model_free = 0
    for flags in record["model_based_steps"]:
        first = next((i for i, flag in enumerate(flags) if flag), len(flags))
        after_design += len(flags) - first
        model_free += sum(not flag for flag in flags[first:])
    share = f"{model_free} of {after_design} ({model_free / after_design:.0%})" if after_design else "no model"
    return [f"{_seconds(percentile(seconds, 0.5))} ({_seconds(percentile(seconds, 0.9))})", share]


def render_multi_fidelity(results: dict[str, Any], options: dict[str, str]) -> list[str]:
    methods = results["methods"]
    points = _timing_points(results)
    costs = [r["cost_to_optimum"] for r in methods.values()]
    quality = _bold_best([_median_p(c, 0.9, ".3g") for c in costs], [percentile(c, 0.5) for c in costs], False)
    charged = results.get("unit_seconds") is not None
    rows = []
    for i, (method, record) in enumerate(methods.items()):
        evaluations = [len(curve) for curve in record["cost_curves"]]
        setup = record.get("setup_cost") or 0.0
        row = [_name(method, options) + (f" (+{setup:.3g} setup)" if setup else ""),
               f"{sum(c is not None for c in costs[i])}/{len(costs[i])}", quality[i], _sorted_costs(costs[i]),
               f"{statistics.median(evaluations):g} ({statistics.median(record['target_evaluations']):g})"]
        if charged:
            row.append(f"{_median_p(record['charged_cost_to_optimum'], 0.9, '.3g')}; "
                       f"{percentile(record['suggest_share'], 0.5):.1%}")
        rows.append(row + [_timing_cell(record, points)])
    header = ["method", "seeds reaching the optimum", "median cost to the optimum (p90)", "cost per seed (sorted)",
              "median evaluations (target-fidelity ones)"]
    if charged:
        header.append(f"with suggestion time at {results['unit_seconds']:g} s per target evaluation: median cost "
                      "(p90); share of wall-clock suggesting")
    return _table(header + [_timing_header(points)], rows)


def render_pareto(results: dict[str, Any], options: dict[str, str]) -> list[str]:
    methods = results["methods"]
    points = _timing_points(results)
    early = [max(1, results["budget"] // 4), max(1, results["budget"] // 2)]
    ratios = [r["hv_ratio"] for r in methods.values()]
    quality = _bold_best([_median_p(r, 0.1, ".5f") for r in ratios], [percentile(r, 0.5) for r in ratios], True)
    by_cost = "cost_grid" in results
    if by_cost:  # the budget counts cost: ratios at a quarter and half of it, from the median curve on the grid
        grid = results["cost_grid"]
        early = [min(range(len(grid)), key=lambda i, q=q: abs(grid[i] - results["budget"] * q)) for q in (0.25, 0.5)]
    shares = "front_share" in next(iter(methods.values()), {})
    rows = []
    for i, (method, record) in enumerate(methods.items()):
        if by_cost:
            after = [record["hv_at_cost"][n] for n in early]
        else:
            after = [statistics.median(curve[n - 1] for curve in record["hv_curves"]) for n in early]
        setup = record.get("setup_cost") or 0.0
        row = [_name(method, options) + (f" (+{setup:.3g} setup)" if setup else ""), quality[i],
               f"{min(ratios[i]):.5f}", f"{max(ratios[i]):.5f}", " / ".join(f"{a:.5f}" for a in after)]
        if shares:
            row.append(f"{statistics.median(record['front_share']):.2f}")
        rows.append(row + [_timing_cell(record, points)])
    when = (f"median at cost {grid[early[0]]:g} / {grid[early[1]]:g}" if by_cost
            else f"median after {early[0]} / {early[1]} evaluations")
    header = ["method", "median hypervolume ratio (p10)", "min", "max", when]
    if shares:
        header.append("median share of the true front's cells found")
    return _table(header + [_timing_header(points)], rows)


def render_surrogate(results: dict[str, Any], options: dict[str, str]) -> list[str]:
    columns = options.get("columns", ",".join(SURROGATE_COLUMNS)).split(",")
    unknown = [c for c in columns if c not in SURROGATE_COLUMNS]
    if unknown:
        raise RenderError(f"columns={','.join(unknown)} is not a surrogate column; choose from "
                          f"{','.join(SURROGATE_COLUMNS)}")
    models: dict[str, list[dict[str, Any]]] = {}
    for row in results["results"]:
        models.setdefault(row["model"], []).append(row)
    rows = []
    for model, per_size in models.items():
        per_size = sorted(per_size, key=lambda row: row["train_size"])
        cells = [" / ".join(f"{row[c]:.2f}" if c == "fit_predict_seconds" else f"{row[c]:.3f}" for row in per_size)
                 for c in columns]
        rows.append([f"`{model}`"] + cells)
    return _table(["model"] + [SURROGATE_COLUMNS[c] for c in columns], rows)


def signal_label(name: str) -> str:
    """What the fidelity signal ``name`` is, in words; ``""`` for a column without a label."""
    supernet = re.fullmatch(r"supernet_(\w+?)_(\w+)", name)
    if supernet and supernet[1] in SUPERNET_MODES and supernet[2] in SUPERNET_BN:
        return f"{SUPERNET_MODES[supernet[1]]}, {SUPERNET_BN[supernet[2]]}"
    epochs = re.fullmatch(r"valid_acc_ep(\d+)", name)
    if epochs:
        k = int(epochs[1])
        return f"validation accuracy after {k} epoch{'' if k == 1 else 's'} of the same training run"
    return SIGNAL_LABELS.get(name, "")


def render_fidelity(results: dict[str, Any], options: dict[str, str]) -> list[str]:
    """One row per signal in file order (no ranking: "–" and its note), then the ceiling and the spread."""
    def cell(value: float | None, spec: str = ".3f") -> str:
        return "–" if value is None else format(value, spec)

    rows = []
    for name, score in results["signals"].items():
        label = signal_label(name)
        if score.get("note"):  # why its statistics are missing, next to what it is
            label = f"{label}; no ranking: {score['note']}" if label else f"no ranking: {score['note']}"
        interval = score.get("kendall_tau_ci90")
        span = "–" if not interval else f"{interval[0]:.3f} to {interval[1]:.3f}"
        rows.append([f"`{name}`", label, cell(score["kendall_tau"]), span, cell(score["spearman"]),
                     cell(score["precision_top5"], ".0%"), cell(score["precision_top10"], ".0%"), str(score["n"])])
    lines = _table(["signal", "what it is", "Kendall tau", "tau, 90% bootstrap interval", "Spearman", "P@top 5%",
                    "P@top 10%", "cells"], rows)
    ceiling = results["ceiling"]
    against = f"{results['target']} against {ceiling.get('column')}"
    if ceiling["kendall_tau"] is not None:
        lines += ["", (f"Seed-to-seed ceiling ({against} on {ceiling['n']} cells): Kendall tau "
                       f"{ceiling['kendall_tau']:.3f}.")]
    elif ceiling.get("column"):  # named but unusable; an empty name asked for no ceiling at all
        lines += ["", f"Seed-to-seed ceiling ({against}): unknown, {ceiling.get('note', 'not measured')}."]
    spread = results.get("target_spread")
    if spread:
        values = ", ".join(f"{word} {spread[key]:.2f}" for word, key in
                           [("min", "p0"), ("p10", "p10"), ("median", "p50"), ("p90", "p90"), ("max", "p100")])
        lines += ["", f"Target spread over {results['n']} cells: {values} (%)."]
    return lines


def render_memory(results: dict[str, Any], options: dict[str, str]) -> list[str]:
    """One row per kind of training (the cell first: the unit of the ratios), then the settings."""
    def mib(value: float | None, unit: int) -> str:
        return "–" if value is None else f"{value * unit / 2**20:.2f}"

    measured, ratios = results["measurements"], results["ratio_to_cell"]
    rows = []
    for mode, label in MEMORY_ROWS.items():
        if mode not in measured:  # measured before that kind existed
            continue
        row = measured[mode]
        # The cell is the unit of both ratios; its RSS ratio needs its own RSS increase.
        ratio = ratios.get(mode) or {"accounted": 1.0, "rss_increase": 1.0 if row["rss_increase_kib"] else None}
        rows.append([label, f"{row['parameters']:,}", mib(row["accounted_bytes"], 1),
                     mib(row["rss_increase_kib"], 1024),
                     f"{ratio['accounted']:.2f} / {_number(ratio.get('rss_increase'), '.2f', '–')}"])
    settings = results["settings"]
    cells = settings.get("num_cells", 1)
    line = (f"Settings: dataset {settings['dataset']}, {settings['channels']} channels, {cells} cell"
            f"{'' if cells == 1 else 's'}, batch size {settings['batch_size']}, {settings['steps']} training steps, "
            "each measured in a fresh process.")
    return _table(["training", "parameters", "accounted MiB", "peak RSS increase MiB",
                   "ratio to one cell (accounted / RSS increase)"], rows) + ["", line]


def render_main_job(results: dict[str, Any], options: dict[str, str]) -> list[str]:
    summary = results["summary"]
    fidelities = {f["name"]: f for f in summary.get("fidelities") or []}
    evaluations = " / ".join(f"{f['evaluations']} {name}" for name, f in fidelities.items())
    seconds = " / ".join(f"{f['seconds']:.1f} s" for f in fidelities.values())
    suggest = summary.get("suggest") or {}
    ratio = summary.get("hypervolume_ratio")
    kills = "; ".join(results["kills"]) or "none"
    row = [f"{results['wall_seconds']:.0f} s", evaluations, seconds,
           f"{(summary.get('setup') or {}).get('seconds', 0.0):.1f} s",
           f"{suggest['share']:.1%}" if suggest.get("share") is not None else "n/a",
           f"{ratio:.3f}" if ratio is not None else "n/a",
           f"{kills}: {'same trials' if results['same_trials'] else 'DIFFERENT trials'}"]
    return _table(["wall-clock", "evaluations", "seconds evaluating", "supernet training",
                   "share of working time suggesting", "hypervolume ratio (of the box reference-ideal)",
                   "killed with SIGKILL and resumed"], [row])


def render_collapse(results: dict[str, Any], options: dict[str, str]) -> list[str]:
    """One row per gradient variant: skip edges of the final cell per seed, collapsed seeds, the
    ground truth of the cells (median), how many were trained because the table lacked them."""
    objective = results["objective"]
    rows = []
    for label, entry in results["variants"].items():
        skips = [round(share * 6) for share in entry["final_skip_share"]]
        nones = [round(share * 6) for share in entry["final_none_share"]]
        stopped = sum(reason is not None for reason in entry["stopped_early"])
        flops = entry.get("flops")
        budget = (entry.get("flops_budget") or [None])[0]
        within = (f" ({sum(f <= budget for f in flops)}/{len(flops)} within {budget / 1e3:g}k)"
                  if flops and budget else "")
        rows.append([f"`{label}`", ", ".join(map(str, skips)), ", ".join(map(str, nones)),
                     f"{sum(k >= 3 for k in skips)}/{len(skips)}",
                     (f"{statistics.median(flops) / 1e3:.0f}k" if flops else "–") + within,
                     f"{statistics.median(entry[objective]):.2f}", f"{statistics.median(entry['regret']):.2f}",
                     f"{sum(not x for x in entry['looked_up'])}", f"{stopped}",
                     f"{statistics.median(entry['search_seconds']):.0f}"])
    return _table(["variant", "skip edges of the final cell, per seed", "none edges, per seed",
                   "collapsed (3+ skips)", "median FLOPs of the cell", f"median {objective}", "median regret",
                   "cells trained (not in table)",
                   "stopped early", "median search s"], rows) + [
        "", (f"Best {objective} in the table: {results['best_in_table']:.2f}; {results['epochs']} epochs, "
            f"{results['channels']} channels, data {results['data']}.")]


def render_hinge(results: dict[str, Any], options: dict[str, str]) -> list[str]:
    """One row per variant of ``infonas bench hinge``: seeds whose derived network is within the
    budget, seeds that derived the space's smallest network, the median and range of the exact
    FLOPs, the median test accuracy, the median expected FLOPs at the last epoch, the seconds."""
    smallest = results["smallest_flops"]
    rows = []
    for label, entry in results["variants"].items():
        flops, count = entry["flops"], len(entry["flops"])
        expected = [value for value in entry.get("expected_flops", []) if value is not None]
        rows.append([f"`{label}`", f"{sum(entry['within_budget'])}/{count}",
                     f"{sum(value == smallest for value in flops)}/{count}",
                     f"{statistics.median(flops) / 1e3:.4g}k", f"{min(flops) / 1e3:.4g}k to {max(flops) / 1e3:.4g}k",
                     f"{statistics.median(entry['test_acc']):.2f}",
                     f"{statistics.median(expected) / 1e3:.4g}k" if expected else "–",
                     f"{statistics.median(entry['search_seconds']):.0f}"])
    quantile = results.get("budget_quantile")
    where = (f", the {quantile:g} quantile of the exact FLOPs of {results.get('budget_samples')} sampled architectures"
             if quantile is not None else "")
    training = results.get("training") or {}
    trained = f" ({training['epochs']} epochs, as the table's rows)" if "epochs" in training else ""
    return _table(["variant", "seeds within B", "seeds at the smallest network", "median exact FLOPs", "FLOPs range",
                   "median test_acc", "median E[FLOPs], last epoch", "median search s"], rows) + [
        "", (f"Budget B = {results['flops_budget'] / 1e3:.4g}k FLOPs{where}; the {results['space']} space on "
             f"{results['data']} spans {smallest / 1e3:.4g}k to {results['largest_flops'] / 1e3:.4g}k FLOPs; "
             f"{results['epochs']} search epochs, {results['channels']} channels; test_acc: the derived network "
             f"trained from scratch{trained}.")]


def render_compare(results: dict[str, Any], options: dict[str, str]) -> list[str]:
    """One row per method: medians over seeds of the ground truth, regret, seconds, FLOPs and skips."""
    rows = []
    for method, entry in results["methods"].items():
        rows.append([f"`{method}`", entry.get("clock", "–"), f"{statistics.median(entry['test_acc']):.2f}",
                     f"{statistics.median(entry['regret']):.2f}", f"{statistics.median(entry['search_seconds']):.0f}",
                     f"{statistics.median(entry['flops']) / 1e3:.0f}k", f"{statistics.median(entry['skip_share']):.2f}",
                     f"{sum(not x for x in entry.get('looked_up', []))}"])
    return _table(["method", "clock", "median test_acc", "median regret", "median search s", "median FLOPs",
                   "median skip share", "cells trained (not in table)"], rows) + [
        "", (f"Best test_acc in the table: {results['best_in_table']:.2f}; {results['seeds']} seeds, "
            f"{results['budget_seconds']:g} s of search per method and seed.")]


def render_compare_live(results: dict[str, Any], options: dict[str, str]) -> list[str]:
    """One row per method of a comparison without a table: medians over seeds of the retrained test
    accuracy (and its range), search seconds, FLOPs, parameters and the method's own work."""
    rows = []
    for method, entry in results["methods"].items():
        if "target_evaluations" in entry:
            work = (f"{min(entry['target_evaluations'])}-{max(entry['target_evaluations'])} trainings, "
                    f"{min(entry['evaluations'])}-{max(entry['evaluations'])} evaluations")
        else:
            work = f"{min(entry['epochs_done'])}-{max(entry['epochs_done'])} epochs"
        rows.append([f"`{method}`", f"{statistics.median(entry['test_acc']):.2f}",
                     f"{min(entry['test_acc']):.2f}-{max(entry['test_acc']):.2f}",
                     f"{statistics.median(entry['search_seconds']):.0f}",
                     f"{statistics.median(entry['flops']) / 1e3:.0f}k",
                     f"{statistics.median(entry['params']) / 1e3:.1f}k", work])
    settings = results["settings"]
    return _table(["method", "median test_acc", "test_acc range", "median search s", "median FLOPs", "median params",
                   "search work (range over seeds)"], rows) + [
        "", (f"{results['seeds']} seeds, {results['budget_seconds']:g} s of search per method and seed; each final "
            f"genotype trained from scratch {settings['retrain_seeds']} times for {settings['retrain_epochs']} "
            "epochs (test_acc: their mean).")]


def render_scaling(results: dict[str, Any], options: dict[str, str]) -> list[str]:
    """One row per method and checkpoint of ``infonas bench scaling``: seconds per suggestion and RSS."""
    rows = []
    for method, entry in results["methods"].items():
        for point, cell in entry["checkpoints"].items():
            rows.append([f"`{method}`", point, f"{cell['median_seconds']:.2f}", f"{cell['p90_seconds']:.2f}",
                         f"{cell['rss_mb']:.0f}", f"{cell['peak_rss_mb']:.0f}"])
    growth = "; ".join(f"`{m}`: seconds ~ n^{e['growth']['seconds_exponent']:.2f}, RSS +"
                       f"{e['growth']['rss_mb_per_100_observations']:.0f} MB per 100 observations"
                       for m, e in results["methods"].items())
    return _table(["method", "observations", "median s per suggestion", "p90 s", "RSS MB", "peak RSS MB"], rows) + [
        "", (f"{results['space']} space ({results['space_size']:.2g} cells), {results['seeds']} seed(s), seconds "
            f"within +-{results['window']} steps of each point; growth over observations "
            f"{next(iter(results['methods'].values()))['growth']['from_observations']}-{results['observations']}: "
            f"{growth}.")]


def render_executors(results: dict[str, Any], options: dict[str, str]) -> list[str]:
    """One row per executor of ``infonas bench executors``: throughput, idle fraction, speed-up, start-up."""
    rows = []
    for name, entry in results["executors"].items():
        speedup = f"{entry['speedup']:.2f}x" if "speedup" in entry else "–"
        rows.append([f"`{name}`", str(entry["workers"]), f"{entry['trials_per_minute']:.1f}", speedup,
                     f"{entry['idle_fraction']:.0%}", f"{entry['suggest_seconds']:.1f}",
                     f"{entry['start_seconds']:.1f}"])
    return _table(["executor", "workers", "trials per minute", "speed-up over serial", "worker idle fraction",
                   "suggestion s (sum)", "start-up s (apart)"], rows) + [
        "", (f"{results['trials']} trials of `{results['strategy']}` (seed {results['seed']}), each evaluation "
            f"sleeping {results['sleep']:g} s then reading the table.")]


def render_soak(results: dict[str, Any], options: dict[str, str]) -> list[str]:
    """The counts of ``infonas bench soak``: kills, resumes, results lost or duplicated, failures."""
    kinds = ", ".join(f"{kind} {count}" for kind, count in results["failures_by_kind"].items()) or "none"
    rows = [["driver killed (SIGKILL), then resumed", str(results["driver_kills"])],
            ["worker running an evaluation killed (SIGKILL)", str(results["worker_kills"])],
            ["trials finished (complete)", f"{results['finished']} ({results['complete']})"],
            ["finished results lost", str(results["lost"])],
            ["results journalled twice", str(results["duplicated"])],
            ["failed trials, by kind", f"{results['failures']} ({kinds})"],
            ["failures without a kind and reason", str(results["failures_without_reason"])],
            ["failures retried", str(results["failures_retried"])]]
    return _table(["what", "count"], rows) + [
        "", (f"{results['trials']} trials of `{results['strategy']}` on {results['workers']} Ray workers, each "
            f"evaluation sleeping {results['sleep']:g} s; {results['wall_seconds']:.0f} s in all.")]


def kind(results: dict[str, Any]) -> str:
    """Which benchmark wrote ``results``: ``executors``, ``soak``, ``fidelity``, ``hinge``, ``collapse``,
    ``compare``, ``main-job``, ``memory``, ``surrogate``, ``pareto``, ``multi-fidelity`` or ``search``."""
    if "executors" in results and "sleep" in results:
        return "executors"
    if "space_size" in results and "checkpoints" in results:
        return "scaling"
    if "driver_kills" in results and "lost" in results:
        return "soak"
    if "signals" in results and "ceiling" in results:
        return "fidelity"
    if "variants" in results and "smallest_flops" in results and "flops_budget" in results:
        return "hinge"
    if "variants" in results and "best_in_table" in results:
        return "collapse"
    if "budget_seconds" in results and "best_in_table" in results:
        return "compare"
    if "budget_seconds" in results and "scoring" in results:
        return "compare-live"
    if "same_trials" in results and "summary" in results:
        return "main-job"
    if "measurements" in results and "ratio_to_cell" in results:
        return "memory"
    if "results" in results:
        return "surrogate"
    if "true_hypervolume" in results:
        return "pareto"
    if "optimum" in results and "methods" in results:
        return "multi-fidelity" if results.get("cheap") else "search"
    raise RenderError("this file is not the JSON of an infonas bench command (search, pareto, surrogate, fidelity, "
                      "memory, main-job, collapse, hinge, executors, soak) or of infonas compare (its keys: "
                      f"{', '.join(sorted(results)[:8])}); name a benchmark's results file in the marker")


RENDERERS: dict[str, Callable[[dict[str, Any], dict[str, str]], list[str]]] = {
    "search": render_search, "multi-fidelity": render_multi_fidelity, "pareto": render_pareto,
    "surrogate": render_surrogate, "fidelity": render_fidelity, "memory": render_memory,
    "main-job": render_main_job, "collapse": render_collapse, "compare": render_compare, "hinge": render_hinge,
    "compare-live": render_compare_live, "scaling": render_scaling,
    "executors": render_executors, "soak": render_soak,
}


def provenance(name: str, results: dict[str, Any]) -> str:
    """The line under a table: which file, made by which command, at which commit, when, on how many cores."""
    meta = results.get("meta")
    if not meta:
        return f"_From `benchmarks/results/{name}` (no provenance recorded)._"
    commit = (meta["commit"] or "")[:7]
    code = (f"commit `{commit}`" + (" with local changes" if meta.get("dirty") else "")) if commit else "no git commit"
    cores = f"{meta['cpu_count']} cores ({meta['cores_used']} usable), {meta['workers']} worker(s)"
    seconds = f"{meta['wall_seconds']:,.0f} s"
    if meta.get("resumed_jobs"):
        seconds += f" in its last run, which resumed {meta['resumed_jobs']} of {meta['total_jobs']} finished jobs"
    sizes = ""
    if "results" in results:
        sizes = "; each cell lists N = " + " / ".join(
            str(n) for n in sorted({row["train_size"] for row in results["results"]}))
    return (f"_From `benchmarks/results/{name}`: `{meta['command']}`, {code}, {meta['date'][:10]}, {cores}, "
            f"{seconds}{sizes}._")


def render_block(spec: str, results_dir: Path) -> str:
    """The generated body of one marked block: the table, a blank line, the provenance line."""
    name, *pairs = spec.split()
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in ("labels", "columns", "steps"):
            raise RenderError(f"marker option {pair!r} of {name} is not labels=on|off, columns=A,B or steps=all; "
                              "fix the marker")
        options[key] = value
    path = results_dir / name
    if not path.is_file():
        raise RenderError(f"the README names {path}, which does not exist; run the benchmark that writes it "
                          "(benchmarks/README.md lists the commands) or remove the marker")
    results = json.loads(path.read_text())
    return "\n".join(RENDERERS[kind(results)](results, options) + ["", provenance(name, results)]) + "\n"


def render(text: str, results_dir: Path = RESULTS) -> str:
    """``text`` with the body of every marked block regenerated from its results file."""
    if text.count("<!-- results:") != text.count("<!-- /results -->"):
        raise RenderError("every <!-- results:FILE --> marker needs a closing <!-- /results -->; fix the README")
    return BLOCK.sub(lambda m: m.group(1) + render_block(m.group("spec"), results_dir) + m.group(4), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the README differs from its results")
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    text = args.readme.read_text()
    try:
        rendered = render(text, args.results)
    except (RenderError, OSError, ValueError, KeyError) as error:
        print(f"render_readme: {error}", file=sys.stderr)
        return 2
    if args.check:
        if rendered != text:
            print(f"render_readme: {args.readme} differs from its results in {args.results}; run "
                  "python benchmarks/render_readme.py to update it", file=sys.stderr)
            return 1
        return 0
    if rendered != text:
        args.readme.write_text(rendered)
    return 0


if __name__ == "__main__":
    sys.exit(main())
