"""``infonas bench scaling``: seconds per suggestion and memory of Bayesian strategies as their
observations grow, on a space too large to enumerate (``infonas.bench.scaling``).

``infonas.cli`` adds the command to the ``bench`` group.
"""

from __future__ import annotations

import time

import click

from infonas.cli_bench import _finish_benchmark, _method_specs
from infonas.cli_common import EXPECTED_ERRORS, NON_NEGATIVE_INT, POSITIVE_INT, fail


def _space_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A registered search space's name; a usage error (one line, exit status 2) for any other."""
    from search_spaces import SPACES

    if value not in SPACES:
        raise click.BadParameter(f"unknown search space {value!r}; choose one of {', '.join(sorted(SPACES))}",
                                 ctx=ctx, param=param)
    return value


def _checkpoints(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """``--checkpoints`` as sorted whole numbers >= 1, comma-separated (the text the resume log keeps)."""
    try:
        numbers = sorted({int(item) for item in value.split(",") if item.strip()})
    except ValueError:
        numbers = []
    if not numbers or numbers[0] < 1:
        raise click.BadParameter(f"give observation counts >= 1, comma-separated (e.g. 50,100,200), got {value!r}",
                                 ctx=ctx, param=param)
    return ",".join(map(str, numbers))


@click.command("scaling")
@click.option("--space", "space_name", default="darts", show_default=True, callback=_space_name,
              help="Search space (darts, 9.1e18 cells, scores a sampled pool; nb201 is enumerated).")
@click.option("--methods", default="bo-ei,bo-mf,bo-ehvi", show_default=True, callback=_method_specs,
              help="Comma-separated strategies, each optionally with options: 'bo-ei,bo-ei[pool_budget=500]'. "
                   "Multi-fidelity ones get a cheap fidelity, Pareto ones the exact FLOPs as a second objective.")
@click.option("--observations", type=POSITIVE_INT, default=500, show_default=True,
              help="Observations (finished trials) the study grows to, one suggestion at a time.")
@click.option("--checkpoints", default="50,100,200,300,400,500", show_default=True, callback=_checkpoints,
              help="Observation counts where seconds and memory are reported (each at most --observations).")
@click.option("--window", type=NON_NEGATIVE_INT, default=5, show_default=True,
              help="Suggestions each side of a checkpoint pooled for its median and p90 seconds.")
@click.option("--seeds", type=POSITIVE_INT, default=1, show_default=True)
@click.option("--pool", type=click.Choice(["enumerate", "sampled"]),
              help="Candidate pool of every strategy taking one (default: sampled beyond 100,000 cells).")
@click.option("--max-rss-mb", type=click.FloatRange(min=0, min_open=True),
              help="Stop a job once its RSS passes this many MiB (a guard on a shared machine); default: no limit.")
@click.option("--out", type=click.Path(dir_okay=False),
              help="Write the JSON results here; finished jobs are kept beside it, so a rerun resumes.")
@click.option("--quiet", is_flag=True, help="No per-job progress bar.")
def bench_scaling_command(space_name: str, methods: str, observations: int, checkpoints: str, window: int, seeds: int,
                          pool: str | None, max_rss_mb: float | None, out: str | None, quiet: bool) -> None:
    """Seconds per suggestion and the process's memory (RSS) of each method as a study on a synthetic
    objective grows to OBSERVATIONS, each (method, seed) in a fresh process, one after another."""
    from infonas.bench.resume import open_for_command
    from infonas.bench.scaling import format_scaling_table, run_scaling_benchmark

    points = [int(n) for n in checkpoints.split(",")]
    if points[-1] > observations:
        raise click.BadParameter(f"checkpoints must be at most --observations ({observations}), got {points[-1]}: "
                                 "lower the checkpoints or raise --observations", param_hint="'--checkpoints'")
    started = time.perf_counter()
    try:
        log = open_for_command(out, "scaling", click.get_current_context().params)
        # The callback left canonical specs, whose values hold no ',' (infonas.bench.methods).
        results = run_scaling_benchmark(space_name, methods.split(","), observations, points, seeds, window, pool,
                                        progress=not quiet, log=log, max_rss_mb=max_rss_mb)
    except EXPECTED_ERRORS as error:
        fail(str(error))
    _finish_benchmark(results, started, out, format_scaling_table, log)
