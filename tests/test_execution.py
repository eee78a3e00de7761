"""Executors (serial, pool, Ray) against the conformance suite; retry and failure-rate policies."""

import pytest

from infonas.exceptions import InvalidArgumentError, StudyError, UnsupportedError
from infonas.execution import (
    EvaluationJob,
    FailureRateLimit,
    PoolExecutor,
    RetryPolicy,
    SerialExecutor,
    build_executor,
)
from infonas.testing.executors import ExecutorConformance
from search_spaces import NB201Space


class TestSerialExecutor(ExecutorConformance):
    @pytest.fixture
    def make_executor(self):
        return lambda workers, trial_timeout=None: SerialExecutor(trial_timeout)


class TestPoolExecutor(ExecutorConformance):
    @pytest.fixture
    def make_executor(self):
        return lambda workers, trial_timeout=None: PoolExecutor(workers, trial_timeout)


def test_build_executor_refuses_what_an_executor_cannot_do():
    assert type(build_executor("serial")).__name__ == "SerialExecutor"
    for kwargs, words in [({"name": "dask"}, "unknown executor 'dask'"),
                          ({"name": "serial", "workers": 4}, "one trial at a time"),
                          ({"name": "serial", "trial_timeout": 5.0}, "cannot stop a trial"),
                          ({"name": "pool", "workers": 0}, "workers >= 1"),
                          ({"name": "pool", "trial_timeout": -1.0}, "trial_timeout"),
                          ({"name": "pool", "ray_address": "auto"}, "ray executor only")]:
        with pytest.raises(InvalidArgumentError, match=words):
            build_executor(**kwargs)


def test_ray_missing_gives_one_line_naming_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(UnsupportedError, match=r"pip install 'infonas\[ray\]'"):
        build_executor("ray", workers=2)


def test_a_pool_whose_workers_cannot_build_the_evaluator_says_why(tmp_path):
    from infonas.evaluators import table_spec
    from infonas.testing.fakes import FakeEvaluator

    space = NB201Space()
    job = EvaluationJob(space.name, table_spec(tmp_path / "gone.csv", "acc"), FakeEvaluator(space))
    executor = PoolExecutor(1)
    with pytest.raises(StudyError, match="could not build the evaluator.*gone.csv"):
        executor.start(job)


def test_retry_policy_and_failure_rate_limit():
    policy = RetryPolicy.parse("timeout=1, error=0")
    assert policy.retries == {"error": 0, "nan": 0, "timeout": 1, "worker_lost": 2}
    assert policy.allows("timeout", 1) and not policy.allows("timeout", 2) and not policy.allows(None, 1)
    for text in ["oom=1", "timeout=x", "timeout=-1"]:
        with pytest.raises(InvalidArgumentError):
            RetryPolicy.parse(text)
    limit = FailureRateLimit(max_rate=0.5, min_failed=5)
    assert not limit.exceeded(failed=4, finished=4) and not limit.exceeded(failed=5, finished=10)
    assert limit.exceeded(failed=6, finished=10)
    with pytest.raises(InvalidArgumentError):
        FailureRateLimit(max_rate=1.5)
