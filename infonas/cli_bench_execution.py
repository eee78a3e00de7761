"""``infonas bench executors``: the executors' throughput and worker idle time (``infonas.bench.executors``)."""

from __future__ import annotations

import time

import click

from infonas.cli_common import EXPECTED_ERRORS, NON_NEGATIVE_INT, POSITIVE_INT, fail, parse_list, write_json


@click.command("executors")
@click.option("--sleep", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Seconds each evaluation sleeps before it reads the table.")
@click.option("--trials", type=POSITIVE_INT, default=40, show_default=True, help="Evaluations per executor.")
@click.option("--workers", type=POSITIVE_INT, default=4, show_default=True, help="Workers of pool and ray.")
@click.option("--executors", "names", default="serial,pool,ray", show_default=True,
              help="Executors to measure, comma-separated (serial, pool, ray).")
@click.option("--table", type=click.Path(exists=True, dir_okay=False),
              help="NB201 table each evaluation reads after its sleep (default: ../shared's, else a synthetic score).")
@click.option("--objective", default="cifar10_test_200ep", show_default=True, help="The table column searched.")
@click.option("--strategy", default="bo-ei", show_default=True, help="The search strategy, the same for each executor.")
@click.option("--seed", type=NON_NEGATIVE_INT, default=0, show_default=True)
@click.option("--ray-address", help="Measure Ray on a running cluster instead of a local instance.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the JSON results here.")
def bench_executors_command(sleep: float, trials: int, workers: int, names: str, table: str | None, objective: str,
                            strategy: str, seed: int, ray_address: str | None, out: str | None) -> None:
    """Trials per minute and worker idle fraction of each executor, on the same search with an
    evaluator that sleeps SLEEP seconds (executor start-up reported apart)."""
    from infonas.bench.executors import bench_executors
    from infonas.bench.meta import benchmark_meta, command_line
    from infonas.execution import EXECUTORS

    chosen = parse_list(names)
    unknown = [name for name in chosen if name not in EXECUTORS]
    if not chosen or unknown:
        fail(f"--executors takes names of {list(EXECUTORS)}, comma-separated; got {names!r}")
    table = table or default_table()
    started = time.perf_counter()
    try:
        results = bench_executors(sleep, trials, workers, chosen, table, objective, strategy, seed, ray_address)
    except EXPECTED_ERRORS as error:
        fail(str(error))
    results["meta"] = benchmark_meta(command_line(click.get_current_context()), workers,
                                     time.perf_counter() - started)
    if out:
        write_json(out, {"meta": results["meta"], **results})
    click.echo(f"{'executor':<9}{'workers':>8}{'trials/min':>12}{'idle':>7}{'speedup':>9}{'start s':>9}")
    for name, row in results["executors"].items():
        speedup = f"{row['speedup']:.2f}x" if "speedup" in row else "-"
        click.echo(f"{name:<9}{row['workers']:>8}{row['trials_per_minute']:>12.1f}{row['idle_fraction']:>7.0%}"
                   f"{speedup:>9}{row['start_seconds']:>9.1f}")
    if out:
        click.echo(f"written: {out}")


@click.command("soak")
@click.option("--work-dir", type=click.Path(file_okay=False), required=True,
              help="A new directory for the run, the driver's log and Ray's files.")
@click.option("--trials", type=POSITIVE_INT, default=60, show_default=True)
@click.option("--workers", type=POSITIVE_INT, default=4, show_default=True)
@click.option("--driver-kills", type=NON_NEGATIVE_INT, default=10, show_default=True)
@click.option("--worker-kills", type=NON_NEGATIVE_INT, default=10, show_default=True)
@click.option("--sleep", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Seconds each evaluation sleeps before it reads the table.")
@click.option("--table", type=click.Path(exists=True, dir_okay=False),
              help="NB201 table each evaluation reads (default: ../shared's, else a synthetic score).")
@click.option("--seed", type=NON_NEGATIVE_INT, default=0, show_default=True, help="Seeds the search and the kills.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the JSON results here.")
def bench_soak_command(work_dir: str, trials: int, workers: int, driver_kills: int, worker_kills: int, sleep: float,
                       table: str | None, seed: int, out: str | None) -> None:
    """A Ray search killed with SIGKILL (its driver, then resumed; a worker running an evaluation)
    at random moments: finished results lost, duplicated, and failures without a reason."""
    from infonas.bench.meta import benchmark_meta, command_line
    from infonas.bench.soak import fault_soak
    from infonas.execution.ray_executor import import_ray

    started = time.perf_counter()
    try:
        import_ray()
        results = fault_soak(work_dir, trials=trials, workers=workers, driver_kills=driver_kills,
                             worker_kills=worker_kills, sleep=sleep, table=table or default_table(), seed=seed)
    except EXPECTED_ERRORS as error:
        fail(str(error))
    results["meta"] = benchmark_meta(command_line(click.get_current_context()), workers, time.perf_counter() - started)
    if out:
        write_json(out, {"meta": results["meta"], **results})
    click.echo(f"{results['finished']} trials finished ({results['complete']} complete); driver killed "
               f"{results['driver_kills']}x, workers {results['worker_kills']}x; lost {results['lost']}, duplicated "
               f"{results['duplicated']}, failures {results['failures']} {results['failures_by_kind']}, without a "
               f"reason {results['failures_without_reason']}")
    if out:
        click.echo(f"written: {out}")


def default_table() -> str | None:
    """The NB201 table where tests and benchmarks find it: INFONAS_NB201_TABLE, else beside the checkout."""
    import os
    from pathlib import Path

    found = Path(os.environ.get("INFONAS_NB201_TABLE") or
                 Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "nb201" / "nb201_cifar.csv")
    return str(found) if found.is_file() else None
