"""Supernet training: determinism, resume equivalence, crash safety, modes and settings.

Tiny: 128 digits, 2 channels, batches of 32, 1-2 epochs (30 in the kill test, on 64 samples).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from infonas.datasets import load_splits
from infonas.exceptions import IncompatibleRunError, InvalidArgumentError
from infonas.supernet import SupernetSettings, SupernetTrainer
from infonas.supernet.training import CHECKPOINT_NAME, STATE_NAME
from infonas.testing.processes import sigkill_when

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TINY = {"channels": 2, "batch_size": 32, "epochs": 2}


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor]:
    train, _, _ = load_splits("digits", 0)
    return train.tensors[0][:128], train.tensors[1][:128]


def _states_equal(a: SupernetTrainer, b: SupernetTrainer) -> bool:
    sa, sb = a.supernet.state_dict(), b.supernet.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


class _Crash(Exception):
    """Stands for the process dying right after a checkpoint."""


def _train_until_crash(trainer: SupernetTrainer, epochs: int) -> None:
    """Train ``trainer`` and stop it once ``epochs`` epochs are checkpointed, as a crash would."""
    save = trainer._save

    def save_then_crash() -> None:
        save()
        if trainer.epochs_done >= epochs:
            raise _Crash

    trainer._save = save_then_crash  # type: ignore[method-assign]
    with pytest.raises(_Crash):
        trainer.train()


def test_training_is_deterministic_for_a_seed(data) -> None:
    x, y = data
    settings = SupernetSettings(**TINY, seed=3)
    a = SupernetTrainer(settings, x, y).train()
    b = SupernetTrainer(settings, x, y).train()
    assert a.epochs_done == b.epochs_done == 2 and a.done
    assert _states_equal(a, b) and a.last_loss == b.last_loss
    assert math.isfinite(a.last_loss) and a.last_loss > 0
    other = SupernetTrainer(SupernetSettings(**TINY, seed=4), x, y).train()
    assert not _states_equal(a, other)


def test_training_leaves_global_random_state_alone(data) -> None:
    x, y = data
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    SupernetTrainer(SupernetSettings(**TINY), x, y).train()
    assert torch.equal(torch.rand(3), expected)


def test_resume_equals_an_uninterrupted_run(data, tmp_path) -> None:
    x, y = data
    settings = SupernetSettings(**TINY)
    straight = SupernetTrainer(settings, x, y, tmp_path / "straight").train()
    first = SupernetTrainer(settings, x, y, tmp_path / "resumed")
    _train_until_crash(first, 1)
    del first
    state = json.loads((tmp_path / "resumed" / STATE_NAME).read_text())
    assert state["epochs_done"] == 1 and state["done"] is False
    resumed = SupernetTrainer(settings, x, y, tmp_path / "resumed")
    assert resumed.epochs_done == 1 and resumed.seconds > 0
    resumed.train()
    assert resumed.epochs_done == 2
    assert _states_equal(straight, resumed)
    assert resumed.last_loss == straight.last_loss
    # The optimizer's momentum buffers and the schedule came back too, not only the weights.
    assert resumed.optimizer.param_groups[0]["lr"] == straight.optimizer.param_groups[0]["lr"]
    # A finished checkpoint trains nothing more.
    again = SupernetTrainer(settings, x, y, tmp_path / "resumed")
    assert again.done and again.epochs_done == 2
    assert _states_equal(again.train(), straight)
    assert again.seconds == resumed.seconds == SupernetTrainer.saved_seconds(tmp_path / "resumed")


def test_checkpoint_of_other_settings_is_refused(data, tmp_path) -> None:
    x, y = data
    SupernetTrainer(SupernetSettings(**TINY), x, y, tmp_path).train()
    for changed in ({"seed": 1}, {"mode": "mixed"}, {"channels": 3}, {"epochs": 3}):
        settings = SupernetSettings(**{**TINY, **changed})
        with pytest.raises(IncompatibleRunError, match=str(tmp_path)):
            SupernetTrainer(settings, x, y, tmp_path)


def test_saved_seconds_without_a_checkpoint(tmp_path) -> None:
    assert SupernetTrainer.saved_seconds(None) == 0.0
    assert SupernetTrainer.saved_seconds(tmp_path / "missing") == 0.0


_KILLED_SCRIPT = textwrap.dedent("""
    import sys, time
    from infonas.datasets import load_splits
    from infonas.supernet import SupernetSettings, SupernetTrainer

    train, _, _ = load_splits("digits", 0)
    trainer = SupernetTrainer(SupernetSettings(channels=2, batch_size=32, epochs=30), train.tensors[0][:64],
                              train.tensors[1][:64], sys.argv[1])
    forward = trainer.forward

    def slow_forward(x, step):
        # Slowed so that the parent kills this run long before its 30 epochs end.
        time.sleep(0.1)
        return forward(x, step)

    trainer.forward = slow_forward
    trainer.train()
""")


def _epochs_done(directory: Path) -> int:
    try:
        return int(json.loads((directory / STATE_NAME).read_text())["epochs_done"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


def test_kill_9_resumes_from_the_last_checkpoint(tmp_path) -> None:
    directory = tmp_path / "supernet"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    process = subprocess.Popen([sys.executable, "-c", _KILLED_SCRIPT, str(directory)], cwd=PROJECT_ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sigkill_when(process, lambda: _epochs_done(directory) >= 2)
    assert _epochs_done(directory) >= 2
    assert process.returncode == -signal.SIGKILL
    # Both files load whole after the kill: the checkpoint is replaced atomically.
    checkpoint = torch.load(directory / CHECKPOINT_NAME, weights_only=True)
    state = json.loads((directory / STATE_NAME).read_text())
    assert checkpoint["epochs_done"] >= state["epochs_done"] >= 2
    train, _, _ = load_splits("digits", 0)
    x, y = train.tensors[0][:64], train.tensors[1][:64]
    settings = SupernetSettings(channels=2, batch_size=32, epochs=30)
    resumed = SupernetTrainer(settings, x, y, directory)
    assert resumed.epochs_done == checkpoint["epochs_done"] >= 2
    resumed.train()
    assert resumed.done and resumed.epochs_done == 30
    assert json.loads((directory / STATE_NAME).read_text())["done"] is True
    # Killed and resumed, the run ends where an uninterrupted one does.
    assert _states_equal(resumed, SupernetTrainer(settings, x, y).train())


def test_both_modes_train(data) -> None:
    x, y = data
    for mode in ("spos", "mixed"):
        settings = SupernetSettings(**{**TINY, "epochs": 1}, mode=mode)
        initial = SupernetTrainer(settings, x, y)
        trained = SupernetTrainer(settings, x, y).train()
        assert _states_equal(initial, SupernetTrainer(settings, x, y)), "initialisation depends on the seed only"
        assert math.isfinite(trained.last_loss) and trained.last_loss > 0
        assert not _states_equal(initial, trained)
        # The mixed operation trains every convolution of every edge; one path per step does not.
        moved = [not torch.equal(before.weight, after.weight)
                 for before, after in zip(initial.supernet.modules(), trained.supernet.modules())
                 if isinstance(before, torch.nn.Conv2d) and before.weight.shape[-1] in (1, 3)]
        if mode == "mixed":
            assert all(moved)
        else:
            assert any(moved) and not all(moved)


def test_path_dropout_and_string_sampling_train(data) -> None:
    x, y = data
    plain = SupernetTrainer(SupernetSettings(**TINY), x, y).train()
    dropped = SupernetTrainer(SupernetSettings(**TINY, path_dropout=0.3), x, y).train()
    again = SupernetTrainer(SupernetSettings(**TINY, path_dropout=0.3), x, y).train()
    assert math.isfinite(dropped.last_loss) and _states_equal(dropped, again)
    assert not _states_equal(plain, dropped)
    strings = SupernetTrainer(SupernetSettings(**TINY, sampling="strings"), x, y).train()
    assert math.isfinite(strings.last_loss) and not _states_equal(plain, strings)


def test_mnist1d_shaped_signals_train() -> None:
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 1, 40, generator=generator), torch.randint(0, 4, (64,), generator=generator)
    trainer = SupernetTrainer(SupernetSettings(**TINY), x, y, num_classes=10).train()
    assert trainer.config.spatial_dims == 1 and trainer.supernet.classifier.out_features == 10
    assert math.isfinite(trainer.last_loss)


@pytest.mark.parametrize("bad", [{"mode": "darts"}, {"epochs": 0}, {"channels": 0}, {"batch_size": 1},
                                 {"path_dropout": 1.0}, {"path_dropout": -0.1}, {"sampling": "edges"},
                                 {"mode": "mixed", "sampling": "edges"}])
def test_bad_settings_are_refused(bad) -> None:
    with pytest.raises(InvalidArgumentError, match=repr(list(bad.values())[-1]).strip("'")):
        SupernetSettings(**bad)


def test_too_few_samples_are_refused(data) -> None:
    x, y = data
    with pytest.raises(InvalidArgumentError, match="at least 2 training samples, got 1"):
        SupernetTrainer(SupernetSettings(**TINY), x[:1], y[:1])
    # Three samples in batches of two: the lone last sample is left out, the first two train.
    trainer = SupernetTrainer(SupernetSettings(**{**TINY, "batch_size": 2, "epochs": 1}), x[:3], y[:3]).train()
    assert math.isfinite(trainer.last_loss)


def test_divergence_is_an_error(data) -> None:
    x, y = data
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(InvalidArgumentError, match="diverged"):
        SupernetTrainer(SupernetSettings(**TINY), bad, y).train()
