"""``infonas gradient``: one gradient search of the DARTS family, its derived cell and collapse report.

The run directory holds the search's per-epoch checkpoint: the same command again resumes it
(nothing left to do once every epoch ran), and a directory holding a search with other settings
is refused in one line. With ``--table`` the derived cell is looked up in a ground-truth table
(by canonical key, so an isomorphic row counts) and its regret against the table's best is shown.
``--space macro`` searches the macro space (per stage a depth, a width and a kernel per block)
instead of the NB201 cell and prints the derived architecture's exact FLOPs and parameters; the
remedies that name skip or none operations are refused there. ``--space darts`` searches the DARTS
normal and reduction cells (the original DARTS setting, CPU-scaled) and prints the derived genotype
as the reference code's ``genotype()`` does (each node's stronger edge first), its exact costs and
per epoch the normal cell's skips; the FLOPs budget's terms are refused there too.

Example (a shell)::

    infonas gradient --method darts-2 --epochs 30 --table benchmarks/data/nb201_mnist1d.csv --json darts2.json
    infonas gradient --method darts-2 --epochs 30 --table benchmarks/data/nb201_mnist1d.csv  # resumes, reprints
    infonas gradient --space macro --method gdas --epochs 10 --flops-budget 2e5 --flops-weight 5
    infonas gradient --space darts --method darts-1 --epochs 10 --data digits
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from infonas.cli_common import (
    EXPECTED_ERRORS,
    NON_NEGATIVE_INT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    OptionError,
    fail,
    write_json,
)
from infonas.exceptions import IncompatibleRunError, InfonasError
from infonas.gradient.settings import METHODS, SPACE_OPTIONS  # imports no torch: every command loads this module

DEFAULT_RUNS_DIR = Path("runs")
#: The table column the derived cell is scored by (benchmarks/data/nb201_mnist1d.csv's test accuracy, %).
TABLE_METRIC = "test_acc"


def parse_temperature(text: str | None) -> dict[str, float]:
    """``--temperature START:END`` as relaxation options (annealed geometrically from START to END).

    Example:
        >>> parse_temperature("10:0.1")
        {'temperature_start': 10.0, 'temperature_end': 0.1}
    """
    if text is None:
        return {}
    start, sep, end = text.partition(":")
    try:
        values = (float(start), float(end))
    except ValueError:
        values = (0.0, 0.0)
    if not sep or not all(0 < v < float("inf") for v in values):
        raise click.BadParameter(f"expected START:END, two positive numbers such as 10:0.1, got {text!r}",
                                 param_hint="'--temperature'")
    return {"temperature_start": values[0], "temperature_end": values[1]}


def build_settings(method: str, epochs: int, seed: int, channels: int | None, max_skips: int | None,
                   stop_at_skips: int | None, l1: float | None, skip_drop_path: float | None,
                   temperature: str | None, flops_budget: float | None, flops_weight: float | None,
                   space: str = "nb201", fit_budget: bool = False) -> Any:
    """``settings_for(method, ...)`` with the options given (the others keep the method's defaults)."""
    from infonas.gradient.relaxation import make_relaxation
    from infonas.gradient.settings import settings_for

    if flops_weight is not None and flops_budget is None:
        raise click.UsageError("--flops-weight weighs the hinge over --flops-budget: give the budget in FLOPs too")
    if flops_budget is not None and flops_weight is None and not fit_budget:
        raise click.UsageError("--flops-budget needs a use: give --flops-weight (the hinge during the search), "
                               "--fit-budget (fit the derived architecture under it), or both")
    if fit_budget and flops_budget is None:
        raise click.UsageError("--fit-budget fits the derived architecture under --flops-budget: give the budget too")
    overrides: dict[str, Any] = {"epochs": epochs, "seed": seed, "space": space}
    if fit_budget:
        overrides["discretise_within_budget"] = True
    given = {"channels": channels, "max_skips": max_skips, "stop_at_skips": stop_at_skips, "l1_weight": l1,
             "skip_drop_path": skip_drop_path, "flops_budget": flops_budget, "flops_weight": flops_weight}
    overrides.update({name: value for name, value in given.items() if value is not None})
    if temperature is not None:
        # settings_for replaces the preset's options wholesale: keep the ones --temperature does not set.
        overrides["relaxation_options"] = {**METHODS[method].get("relaxation_options", {}),
                                           **parse_temperature(temperature)}
    try:
        settings = settings_for(method, **overrides)
        # Built here only to check the options (--temperature on drnas): GradientSearch builds its own.
        make_relaxation(settings.relaxation, **settings.relaxation_options)
    except InfonasError as error:
        raise OptionError(f"{error} (--method {method})") from None
    return settings


def table_score(table: Any, arch: Any) -> tuple[float, float, str] | None:
    """The derived cell's ``TABLE_METRIC``, the table's best and where the value comes from (its
    row, or its canonical class's: ``GroundTruth.lookup``); ``None`` when the table has neither."""
    from infonas.bench.ground_truth import GroundTruth

    truth = GroundTruth(table, TABLE_METRIC)
    found = truth.lookup(arch)
    return None if found is None else (found[0], truth.best, found[1])


@click.command()
@click.option("--method", type=click.Choice(sorted(METHODS)), default="darts-1", show_default=True,
              help="darts-1/darts-2 (first/second order), gdas (hard Gumbel), snas (soft Gumbel), drnas (Dirichlet), "
                   "pdarts (progressive pruning).")
@click.option("--space", type=click.Choice(sorted(SPACE_OPTIONS)), default="nb201", show_default=True,
              help="nb201 (the cell), macro (per stage a depth, a width and a kernel per block) or darts (the "
                   "DARTS normal and reduction cells).")
@click.option("--data", type=click.Choice(["mnist1d", "digits"]), default="mnist1d", show_default=True,
              help="Embedded data set, split into training (weights) and validation (architecture) halves.")
@click.option("--epochs", type=POSITIVE_INT, default=50, show_default=True, help="Search epochs.")
@click.option("--seed", type=NON_NEGATIVE_INT, default=0, show_default=True)
@click.option("--run-dir", type=click.Path(file_okay=False),
              help="Checkpoint directory; the same command again resumes it (default: runs/gradient-METHOD-seedS, "
                   "runs/gradient-SPACE-METHOD-seedS for the macro and darts spaces).")
@click.option("--channels", type=POSITIVE_INT, help="Supernet width (default 8, the table's network).")
@click.option("--table", type=click.Path(dir_okay=False),
              help=f"Ground-truth CSV (e.g. benchmarks/data/nb201_mnist1d.csv): print the cell's {TABLE_METRIC} "
                   "and its regret against the table's best.")
@click.option("--max-skips", type=click.IntRange(0, 6), help="Cap on skip edges when discretising the cell.")
@click.option("--stop-at-skips", type=click.IntRange(0, 6), help="Stop once the argmax cell has this many skips.")
@click.option("--l1", type=click.FloatRange(min=0), help="Weight of the L1 pull of each edge towards one operation.")
@click.option("--skip-drop-path", type=click.FloatRange(0, 1, max_open=True),
              help="Probability of dropping the skip operation's output in weight steps.")
@click.option("--temperature", help="START:END, the relaxation's temperature annealed geometrically (e.g. 10:0.1).")
@click.option("--flops-budget", type=POSITIVE_FLOAT, help="Expected-FLOPs budget of the searched network, in FLOPs.")
@click.option("--flops-weight", type=POSITIVE_FLOAT, help="Weight of the squared hinge over --flops-budget.")
@click.option("--fit-budget", is_flag=True, help="Fit the derived architecture under --flops-budget: from the argmax, "
                                                 "give up the least probability per FLOP saved until within it.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False),
              help="Write settings, cell, seconds, history (and table score) as JSON to this file.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def gradient(method: str, space: str, data: str, epochs: int, seed: int, run_dir: str | None, channels: int | None,
             table: str | None, max_skips: int | None, stop_at_skips: int | None, l1: float | None,
             skip_drop_path: float | None, temperature: str | None, flops_budget: float | None,
             flops_weight: float | None, fit_budget: bool, json_path: str | None, quiet: bool) -> None:
    """Run (or resume) a gradient search and print its derived cell and collapse report.

    Every option is checked, and the table loaded, before the search starts.
    """
    from infonas.datasets import load_splits
    from infonas.gradient.report import format_collapse_report
    from infonas.gradient.search import GradientSearch
    from infonas.gradient.spaces import gradient_space

    settings = build_settings(method, epochs, seed, channels, max_skips, stop_at_skips, l1, skip_drop_path,
                              temperature, flops_budget, flops_weight, space, fit_budget)
    adapter = gradient_space(space)
    try:
        adapter.check_settings(settings)
    except InfonasError as error:
        raise OptionError(str(error)) from None
    prefix = "gradient" if space == "nb201" else f"gradient-{space}"
    run_dir = run_dir or str(DEFAULT_RUNS_DIR / f"{prefix}-{method}-seed{seed}")
    benchmark = None
    if table is not None:
        from infonas.evaluators.tabular import TabularBenchmark

        try:
            benchmark = TabularBenchmark.from_csv(table, adapter.space, required=(TABLE_METRIC,))
        except EXPECTED_ERRORS as error:
            raise OptionError(str(error)) from None
    try:
        splits = load_splits(data)  # loaded once: the cost tables need its input shape too
        # Measuring the cost tables takes seconds: only when the FLOPs term needs them, or to print the
        # macro network's exact costs.
        costs = adapter.costs(data, settings) if flops_budget is not None or space != "nb201" else None
        search = GradientSearch(settings, splits, checkpoint_dir=run_dir, costs=costs)
    except IncompatibleRunError as error:
        raise OptionError(str(error)) from None
    except EXPECTED_ERRORS as error:
        fail(str(error))
    if search.epochs_done:
        left = "nothing left to do" if search.epochs_done >= settings.epochs or search.stopped_early \
            else f"{settings.epochs - search.epochs_done} epochs left"
        click.echo(f"resuming {run_dir}: {search.epochs_done}/{settings.epochs} epochs done, {left}", err=True)
    else:
        click.echo(f"gradient search {method} on {data} (seed {seed}); run directory {run_dir}", err=True)
    try:
        result = search.search(progress=not quiet)
    except EXPECTED_ERRORS as error:
        fail(str(error))
    genotype = _reference_genotype(search) if space == "darts" else None
    payload = _print_result(result, adapter.space, run_dir, benchmark, genotype)
    if space == "nb201":
        click.echo("\n" + format_collapse_report(result.history))
    else:
        payload.update(_print_costs(result.arch, costs, settings.flops_budget))
        click.echo("\n" + (format_darts_history if space == "darts" else format_macro_history)(result.history))
    if json_path is not None:
        try:
            write_json(json_path, {"settings": settings.to_json(), **payload})
        except OSError as error:
            fail(f"cannot write {json_path}: {error}")
        click.echo(f"wrote {json_path}")


def _reference_genotype(search: Any) -> str:
    """The derived genotype as the reference ``genotype()`` prints it: each node's stronger edge first
    (``space.format`` writes the same cells with each node's smaller input first)."""
    from infonas.supernet.darts import derive_genotype
    from search_spaces.darts import format_genotype

    return format_genotype(derive_genotype(search.relaxation.expected_weights(search.alpha, search.mask).detach()))


def _print_result(result: Any, space: Any, run_dir: str, benchmark: Any, genotype: str | None = None
                  ) -> dict[str, Any]:
    """Print the cell, the seconds, the early stop and the table's score; return them for ``--json``
    (with ``genotype``, a DARTS search's genotype in the reference order, printed and kept too)."""
    arch = space.format(result.arch)
    click.echo(f"\nrun directory: {run_dir}")
    if genotype is not None:
        click.echo(f"derived genotype: {genotype}")
    else:
        click.echo(f"derived {'cell' if space.name == 'nb201' else 'architecture'}: {arch}")
    click.echo(f"search seconds: {result.search_seconds:.1f} ({result.epochs_done} epochs)")
    click.echo(f"stopped early: {result.stopped_early or 'no'}")
    payload: dict[str, Any] = {"arch": arch, "search_seconds": result.search_seconds,
                               "epochs_done": result.epochs_done, "stopped_early": result.stopped_early,
                               "history": result.history}
    if genotype is not None:
        payload["genotype"] = genotype
    if benchmark is not None:
        score = table_score(benchmark, result.arch)
        if score is None:
            click.echo(f"table: the cell is not in {benchmark.source} ({len(benchmark)} rows, none isomorphic)")
        else:
            value, best, how = score
            click.echo(f"table {TABLE_METRIC}: {value:.2f} ({how}); regret {best - value:.2f} against the table's "
                       f"best {best:.2f}")
            payload.update(test_acc=value, regret=best - value)
    return payload


def _print_costs(arch: Any, costs: Any, budget: float | None) -> dict[str, Any]:
    """Print the derived network's exact FLOPs and parameters (and the budget's verdict); return them."""
    flops, params = costs.value(arch, "flops"), costs.value(arch, "params")
    verdict = "" if budget is None else f" ({'within' if flops <= budget else 'over'} the budget {budget:.6g})"
    click.echo(f"exact FLOPs: {flops:.0f}{verdict}")
    click.echo(f"exact params: {params:.0f}")
    return {"flops": flops, "params": params}


def format_macro_history(history: Any) -> str:
    """Per epoch of a macro search: the argmax's depth and width per stage, the supernet's validation
    accuracy (%), the expected MFLOPs and the argmax architecture's MFLOPs where measured, and the
    argmax architecture.

    Example:
        >>> print(format_macro_history([{"epoch": 1, "depths": [3, 2, 1], "widths": [1.0, 0.5, 0.75],
        ...                              "supernet_valid_acc": 50.0, "arch": "|...|"}]))
        epoch  depths  widths          valid acc %  E[MFLOPs]  MFLOPs  argmax architecture
            1  3,2,1   1,0.5,0.75            50.00          -       -  |...|
    """
    lines = ["epoch  depths  widths          valid acc %  E[MFLOPs]  MFLOPs  argmax architecture"]
    for record in history:
        depths = ",".join(map(str, record["depths"]))
        widths = ",".join(f"{w:g}" for w in record["widths"])
        expected, derived = (f"{record[key] * 1e-6:.4g}" if key in record else "-"
                             for key in ("expected_flops", "derived_flops"))
        lines.append(f"{record['epoch']:>5}  {depths:<6}  {widths:<14}  {float(record['supernet_valid_acc']):>11.2f}"
                     f"  {expected:>9}  {derived:>6}  {record['arch']}")
    return "\n".join(lines)


def format_darts_history(history: Any) -> str:
    """Per epoch of a DARTS search: the derived genotype's skips and convolutions in the normal cell
    and skips in the reduction cell, the supernet's validation accuracy (%), the mixture's expected
    MFLOPs, and the genotype's exact MFLOPs and parameters where measured.

    Example:
        >>> print(format_darts_history([{"epoch": 1, "normal_skips": 2, "normal_convs": 5, "reduce_skips": 1,
        ...                              "supernet_valid_acc": 50.0, "derived_params": 4010.0}]))
        epoch  normal skips  normal convs  reduce skips  valid acc %  E[MFLOPs]  MFLOPs  params
            1             2             5             1        50.00          -       -    4010
    """
    lines = ["epoch  normal skips  normal convs  reduce skips  valid acc %  E[MFLOPs]  MFLOPs  params"]
    for record in history:
        expected, derived = (f"{record[key] * 1e-6:.4g}" if key in record else "-"
                             for key in ("expected_flops", "derived_flops"))
        params = f"{record['derived_params']:.0f}" if "derived_params" in record else "-"
        lines.append(f"{record['epoch']:>5}  {record['normal_skips']:>12}  {record['normal_convs']:>12}  "
                     f"{record['reduce_skips']:>12}  {float(record['supernet_valid_acc']):>11.2f}  {expected:>9}  "
                     f"{derived:>6}  {params:>6}")
    return "\n".join(lines)
