"""``infonas bench scaling``: seconds per suggestion and memory as observations grow
(``infonas.bench.scaling``), on tiny settings: the JSON's structure, refusals of bad input in one
line with exit status 2, and the same seed asking the same architectures."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from infonas.bench.scaling import check_checkpoints, growth, run_scaling_benchmark, run_scaling_job
from infonas.cli import main
from infonas.exceptions import InvalidArgumentError

TINY = ["--observations", "12", "--checkpoints", "6,12", "--window", "1", "--quiet"]


def invoke(*args: object):
    return CliRunner().invoke(main, ["bench", "scaling", *map(str, args)], catch_exceptions=False)


def test_the_command_writes_seconds_and_memory_at_each_checkpoint(tmp_path):
    out = tmp_path / "scaling.json"
    # Each job in a fresh process, as the real benchmark runs; a small pool keeps the DARTS steps fast.
    result = invoke("--space", "darts", "--methods", "bo-ei[pool_budget=100],rs", *TINY, "--out", out)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["meta"]["command"].startswith("infonas bench scaling --space darts")
    assert data["space"] == "darts" and data["space_size"] > 10**18 and data["checkpoints"] == [6, 12]
    bo = data["methods"]["bo-ei[pool_budget=100]"]
    assert bo["pool"] == "sampled" and bo["objectives"] == ["score:max"] and list(bo["fidelities"]) == ["score"]
    run, = bo["runs"]
    assert len(run["seconds"]) == len(run["cpu_seconds"]) == len(run["model_based"]) == len(run["rss_mb"]) == 12 + 1 + 1
    assert run["torch_threads"] == 1 and run["target_evaluations"] == 14
    assert sum(run["model_based"]) == 14 - 5  # the 5 cells of the initial design fit no model
    for n in ("6", "12"):
        row = bo["checkpoints"][n]
        assert row["steps"] == 3 and 0 < row["median_seconds"] <= row["p90_seconds"] and row["median_cpu_seconds"] > 0
        assert row["rss_mb"] > 0 and row["peak_rss_mb"] >= row["rss_mb"]
        assert row["cached_architectures"] >= int(n)  # at least every observed cell is encoded
    assert bo["growth"]["from_observations"] == 6 and bo["growth"]["seconds_points"] == 7
    assert data["methods"]["rs"]["checkpoints"]["6"]["cached_architectures"] is None
    assert "bo-ei[pool_budget=100]" in result.output and "seconds ~ n^" in result.output
    assert not (tmp_path / "scaling.json.partial.jsonl").exists()


def test_multi_fidelity_and_pareto_strategies_get_what_they_need():
    results = run_scaling_benchmark("nb201", ["bo-mf[n_init=3;n_init_target=1]", "bo-mesmo[n_init=3]"],
                                    observations=6, checkpoints=[6], window=0, subprocess=False)
    mf, pareto = results["methods"]["bo-mf[n_init=3;n_init_target=1]"], results["methods"]["bo-mesmo[n_init=3]"]
    assert mf["fidelities"] == {"score": 1.0, "score_cheap": 0.1} and mf["objectives"] == ["score:max"]
    assert pareto["objectives"] == ["score:max", "flops:min"] and list(pareto["fidelities"]) == ["score"]
    assert pareto["pool"] == "enumerate"


def test_the_same_seed_asks_the_same_architectures_and_another_seed_does_not():
    def job(seed: int) -> dict:
        return run_scaling_job("darts", "bo-ei[pool_budget=50;n_init=3]", seed, observations=6, checkpoints=[6],
                               window=0)

    first, again, other = job(0), job(0), job(1)
    assert first["trajectory_digest"] == again["trajectory_digest"] and first["best"] == again["best"]
    assert other["trajectory_digest"] != first["trajectory_digest"]


@pytest.mark.parametrize("args, message", [
    (("--observations", 100, "--checkpoints", "50,200"), "checkpoints must be at most --observations (100), got 200"),
    (("--methods", "bo-ei,bo-nope"), "unknown method 'bo-nope'"),
    (("--space", "cifar"), "unknown search space 'cifar'"),
    (("--checkpoints", "0,10"), "give observation counts >= 1"),
])
def test_bad_input_is_refused_in_one_line_with_status_2(args, message, tmp_path):
    result = invoke(*args, "--out", tmp_path / "x.json", "--quiet")
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0], result.output
    assert not any(tmp_path.iterdir())


def test_checkpoints_and_growth_fits():
    assert check_checkpoints([12, 6, 12], 12) == [6, 12]
    with pytest.raises(InvalidArgumentError, match=r"checkpoints must be observation counts in 1\.\.10"):
        check_checkpoints([5, 11], 10)
    # seconds = 0.01 t^2 and RSS = 100 + 0.5 t over t = 0..20: the fits recover exponent 2 and +50 MB per 100.
    run = {"seconds": [0.01 * t**2 for t in range(21)], "model_based": [0] + [1] * 20,
           "rss_mb": [100 + 0.5 * t for t in range(21)]}
    fit = growth([run], 20)
    assert fit["seconds_exponent"] == pytest.approx(2.0) and fit["rss_mb_per_100_observations"] == pytest.approx(50.0)
    assert fit["seconds_points"] == 11
    assert growth([{"seconds": [0.0, 1.0], "model_based": [0, 1], "rss_mb": [1.0, 2.0]}], 1)["seconds_exponent"] is None


def test_a_job_stops_once_its_rss_passes_the_limit():
    # Any Python process holding torch is past 1 MiB: the job stops after its first suggestion.
    results = run_scaling_benchmark("nb201", ["rs"], observations=6, checkpoints=[3, 6], window=0,
                                    subprocess=False, max_rss_mb=1)
    record = results["methods"]["rs"]
    assert record["stopped_at"] == [0] and len(record["runs"][0]["rss_mb"]) == 1
    assert record["checkpoints"]["3"] == {"median_seconds": None, "p90_seconds": None, "steps": 0,
                                          "median_cpu_seconds": None, "rss_mb": None, "peak_rss_mb": None,
                                          "cached_architectures": None, "seeds": 0}
    with pytest.raises(InvalidArgumentError, match="max_rss_mb must be a positive number"):
        run_scaling_benchmark("nb201", ["rs"], observations=6, checkpoints=[6], max_rss_mb=0)
