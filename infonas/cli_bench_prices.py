"""``infonas bench prices``: a multi-fidelity chain's prices, read from measured seconds or measured here.

Bad arguments end the command with one line and exit status 2; a failure while measuring, status 1.
"""

from __future__ import annotations

import time

import click

from infonas.cli_common import EXPECTED_ERRORS, POSITIVE_INT, fail, write_json


@click.command("prices")
@click.option("--space", "space_name", type=click.Choice(["nb201", "darts"]), default="nb201", show_default=True,
              help="Whose chain: NB201's prices come from the mnist1d table's build, the DARTS space's from "
                   "benchmarks/data/darts_mnist1d_prices.json (made with --measure).")
@click.option("--epochs", type=POSITIVE_INT, default=3, show_default=True, help="Epochs of one training.")
@click.option("--supernet-epochs", type=POSITIVE_INT, default=100, show_default=True,
              help="Epochs of the supernet training to price (with --measure: epochs to time).")
@click.option("--recalibration-batches", type=POSITIVE_INT, default=10, show_default=True)
@click.option("--measure", is_flag=True, help="Time trainings, supernet epochs and scores on this machine and write "
                                              "them to --out instead of printing prices.")
@click.option("--cells", type=POSITIVE_INT, default=5, show_default=True,
              help="With --measure: random cells trained and scored.")
@click.option("--out", type=click.Path(dir_okay=False), help="With --measure: the JSON file to write.")
def bench_prices_command(space_name: str, epochs: int, supernet_epochs: int, recalibration_batches: int, measure: bool,
                 cells: int, out: str | None) -> None:
    """A chain's measured supernet prices (in trainings) and training seconds, as bench search options;
    with --measure, measure the seconds they come from (for a space without a ground-truth table)."""
    from infonas.evaluators.chain import CHEAP, measured_costs

    if measure:
        _measure_prices(space_name, epochs, supernet_epochs, recalibration_batches, cells, out)
        return
    try:
        prices = measured_costs(epochs, supernet_epochs, recalibration_batches, space=space_name)
    except EXPECTED_ERRORS as error:
        fail(str(error))
    click.echo(f"--cheap-cost {prices['costs'][CHEAP]:.4g} --cheap-setup-cost {prices['setup_cost']:.4g} "
               f"--unit-seconds {prices['training_seconds']:.4g}")


def _measure_prices(space: str, epochs: int, supernet_epochs: int, recalibration_batches: int, cells: int,
                    out: str | None) -> None:
    from infonas.bench.meta import benchmark_meta, command_line
    from infonas.bench.prices import measure_prices
    from infonas.evaluators.chain import CHEAP, measured_costs

    if not out:
        raise click.UsageError("--measure writes its seconds to a file: give --out PATH (e.g. "
                               "benchmarks/data/darts_mnist1d_prices.json)")
    started = time.perf_counter()
    try:
        record = measure_prices(space, cells=cells, epochs=epochs, supernet_epochs=supernet_epochs,
                                recalibration_batches=recalibration_batches,
                                echo=lambda line: click.echo(line, err=True))
    except EXPECTED_ERRORS as error:
        fail(str(error))
    meta = benchmark_meta(command_line(click.get_current_context()), 1, time.perf_counter() - started)
    write_json(out, {"meta": meta, **record})
    prices = measured_costs(epochs, supernet_epochs, recalibration_batches, provenance=out)
    click.echo(f"wrote {out}: one training {prices['training_seconds']:.3g} s, a score "
               f"{prices['costs'][CHEAP]:.3g} trainings, {supernet_epochs} supernet epochs "
               f"{prices['setup_cost']:.3g} trainings")

