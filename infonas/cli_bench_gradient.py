"""``infonas bench collapse``: gradient searches with and without each remedy (``infonas.bench.collapse``).

``infonas.cli`` adds the command to the ``bench`` group.
"""

from __future__ import annotations

import time

import click

from infonas.cli_bench import _finish_benchmark
from infonas.cli_common import EXPECTED_ERRORS, POSITIVE_INT, fail
from infonas.gradient.settings import REMEDY_VARIANTS


def _variant_specs(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """``--variants`` in canonical form; a usage error for an unknown method or a malformed spec."""
    from infonas.bench.methods import parse_methods
    from infonas.exceptions import InvalidArgumentError
    from infonas.gradient.settings import METHODS

    try:
        return ",".join(spec.label for spec in parse_methods(value, METHODS))
    except InvalidArgumentError as error:
        raise click.BadParameter(str(error), ctx=ctx, param=param) from None


@click.command("collapse")
@click.option("--table", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Ground-truth table (CSV) of the searched network, its build JSON beside it.")
@click.option("--variants", callback=_variant_specs, show_default=True,
              default=",".join(REMEDY_VARIANTS),
              help="Comma-separated gradient methods, each optionally with settings: 'darts-1[max_skips=2]'.")
@click.option("--seeds", type=POSITIVE_INT, default=5, show_default=True)
@click.option("--epochs", type=POSITIVE_INT, default=30, show_default=True)
@click.option("--objective", default="test_acc", show_default=True, help="Table column judging the derived cells.")
@click.option("--data", type=click.Choice(["mnist1d", "digits"]), default="mnist1d", show_default=True)
@click.option("--channels", type=POSITIVE_INT, default=8, show_default=True)
@click.option("--workers", type=POSITIVE_INT, default=1, show_default=True, help="Searches run in this many processes.")
@click.option("--work-dir", type=click.Path(file_okay=False),
              help="Checkpoints of the searches: a rerun resumes an interrupted search where it stopped.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the JSON results here; finished searches are "
              "kept beside it, so a rerun resumes.")
@click.option("--quiet", is_flag=True)
def bench_collapse(table: str, variants: str, seeds: int, epochs: int, objective: str, data: str, channels: int,
                   workers: int, work_dir: str | None, out: str | None, quiet: bool) -> None:
    """DARTS collapse, with and without each remedy: skip and none shares of the argmax cell per epoch,
    and the derived cell's ground-truth regret (cells absent from the table are trained as its rows were)."""
    from infonas.bench.collapse import format_collapse_table, run_collapse_benchmark
    from infonas.bench.methods import parse_methods
    from infonas.bench.resume import open_for_command
    from infonas.evaluators.tabular import TabularBenchmark
    from infonas.gradient.settings import METHODS
    from search_spaces import NB201Space

    started = time.perf_counter()
    try:
        loaded = TabularBenchmark.from_csv(table, NB201Space())
        log = open_for_command(out, "collapse", click.get_current_context().params)
        labels = [spec.label for spec in parse_methods(variants, METHODS)]
        results = run_collapse_benchmark(loaded, labels, seeds, epochs, objective=objective, data=data, channels=channels,
                                         work_dir=work_dir, workers=workers, progress=not quiet, log=log)
    except EXPECTED_ERRORS as error:
        fail(str(error))
    _finish_benchmark(results, started, out, format_collapse_table, log, workers)

