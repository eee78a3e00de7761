"""The DARTS supernet as the cheap fidelity: single-path training, resume, scoring, specs and a bo-mf Study.

Tiny: 64-128 digits, 2-4 channels, batches of 32, 1-6 epochs. NB201's behaviour is held by its own
tests (test_supernet_training, test_evaluators_supernet, test_golden); here only what ``space``
adds, and that NB201's saved settings read as before.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from infonas.datasets import load_splits
from infonas.evaluators import build_evaluator, chain_spec, supernet_spec, training_spec
from infonas.evaluators.chain import FidelityChain
from infonas.evaluators.supernet import SupernetEvaluator
from infonas.exceptions import InvalidArgumentError
from infonas.study import Study
from infonas.supernet import SupernetSettings, SupernetTrainer, batch_norm_state
from infonas.supernet.darts import EDGES_PER_CELL, DartsSupernet
from infonas.supernet.training import CHECKPOINT_NAME, STATE_NAME, SpaceSampler
from infonas.testing.evaluators import EvaluatorConformance
from infonas.testing.processes import sigkill_when
from infonas.trials import TrialStatus
from search_spaces import NB201Space
from search_spaces.darts import DARTS_V2, DartsSpace

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SPACE = DartsSpace()
TINY = {"channels": 2, "batch_size": 32, "epochs": 2, "space": "darts"}
EVALUATOR = {"epochs": 1, "channels": 4, "batch_size": 32, "recalibration_batches": 2, "space": "darts"}
ARCHS = [SPACE.parse(DARTS_V2), *(SPACE.sample(np.random.default_rng(seed)) for seed in range(3))]


def _head(dataset: TensorDataset, n: int) -> TensorDataset:
    return TensorDataset(*(tensor[:n] for tensor in dataset.tensors))


@pytest.fixture(scope="module")
def digits() -> tuple[TensorDataset, TensorDataset, TensorDataset]:
    train, valid, test = load_splits("digits", 0)
    return _head(train, 128), _head(valid, 64), _head(test, 64)


@pytest.fixture(scope="module")
def data(digits) -> tuple[torch.Tensor, torch.Tensor]:
    return digits[0].tensors[0][:64], digits[0].tensors[1][:64]


def _states_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_settings_name_their_space_and_nb201_saves_what_it_saved() -> None:
    darts = SupernetSettings(space="darts")
    assert darts.sampling == "strings" and darts.to_json()["space"] == "darts"
    # NB201's saved settings keep their old keys (no "space"), so its checkpoints resume as they were.
    old_keys = {"mode", "epochs", "channels", "num_cells", "batch_size", "learning_rate", "momentum", "weight_decay",
                "seed", "path_dropout", "sampling"}
    assert set(SupernetSettings().to_json()) == old_keys and SupernetSettings().sampling == "classes"
    assert SupernetSettings() == SupernetSettings(sampling="classes", space="nb201")
    for bad, match in (({"space": "macro"}, "'macro'"), ({"space": "darts", "sampling": "classes"}, "'classes'"),
                       ({"space": "darts", "path_dropout": 0.2}, "0.2")):
        with pytest.raises(InvalidArgumentError, match=match):
            SupernetSettings(**bad)


def test_an_nb201_checkpoint_saved_without_a_space_resumes(data, tmp_path) -> None:
    x, y = data
    settings = SupernetSettings(mode="mixed", channels=2, batch_size=32, epochs=1)  # mixed: no sampler to build
    SupernetTrainer(settings, x, y, tmp_path).train()
    saved = json.loads((tmp_path / STATE_NAME).read_text())["settings"]
    assert "space" not in saved and saved["sampling"] == "classes"
    assert SupernetTrainer(settings, x, y, tmp_path).done


def test_a_step_trains_only_the_sampled_genotype(data) -> None:
    x, y = data
    settings = SupernetSettings(**{**TINY, "epochs": 1, "batch_size": 64})  # one step
    initial, trained = SupernetTrainer(settings, x, y), SupernetTrainer(settings, x, y).train()
    assert isinstance(trained.supernet, DartsSupernet) and trained.config.num_cells == 1
    choices = SpaceSampler().choices(np.random.default_rng([settings.seed, 0]))  # the trainer's draw for step 0
    active = DartsSupernet.active_edges(SPACE.from_categorical(list(choices)))
    for cell_before, cell_after in zip(initial.supernet.cells, trained.supernet.cells):
        for edge in range(EDGES_PER_CELL):
            for op, (before, after) in enumerate(zip(cell_before.edges[edge].ops, cell_after.edges[edge].ops)):
                weights = [(p, q) for p, q in zip(before.parameters(), after.parameters()) if p.requires_grad]
                if not weights:
                    continue  # a pool, none, or a stride-1 skip: nothing to train
                moved = any(not torch.equal(p, q) for p, q in weights)
                assert moved == (active[int(cell_before.reduction)].get(edge) == op), (edge, op)


def test_training_is_deterministic_and_resumes_exactly(data, tmp_path) -> None:
    x, y = data
    settings = SupernetSettings(**TINY)
    straight = SupernetTrainer(settings, x, y).train()
    assert _states_equal(straight.supernet, SupernetTrainer(settings, x, y).train().supernet)
    assert not _states_equal(straight.supernet, SupernetTrainer(SupernetSettings(**TINY, seed=1), x, y).train().supernet)
    first = SupernetTrainer(settings, x, y, tmp_path)
    save = first._save

    def save_then_stop() -> None:
        save()
        raise KeyboardInterrupt  # the process dies right after the first checkpoint

    first._save = save_then_stop  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        first.train()
    assert json.loads((tmp_path / STATE_NAME).read_text())["settings"]["space"] == "darts"
    resumed = SupernetTrainer(settings, x, y, tmp_path)
    assert resumed.epochs_done == 1
    assert _states_equal(resumed.train().supernet, straight.supernet) and resumed.last_loss == straight.last_loss
    with pytest.raises(Exception, match="holds a supernet trained with"):
        SupernetTrainer(SupernetSettings(channels=2, batch_size=32, epochs=2), x, y, tmp_path)  # NB201's


def test_mixed_mode_trains_every_operation(data) -> None:
    x, y = data
    settings = SupernetSettings(**{**TINY, "epochs": 1}, mode="mixed")
    initial, trained = SupernetTrainer(settings, x, y), SupernetTrainer(settings, x, y).train()
    convs = [(a.weight, b.weight) for a, b in zip(initial.supernet.modules(), trained.supernet.modules())
             if isinstance(a, torch.nn.Conv2d) and a.groups > 1]  # the separable and dilated convolutions
    assert convs and all(not torch.equal(a, b) for a, b in convs)


_KILLED_SCRIPT = textwrap.dedent("""
    import sys, time
    from infonas.datasets import load_splits
    from infonas.supernet import SupernetSettings, SupernetTrainer

    train, _, _ = load_splits("digits", 0)
    trainer = SupernetTrainer(SupernetSettings(channels=2, batch_size=32, epochs=4, space="darts"),
                              train.tensors[0][:64], train.tensors[1][:64], sys.argv[1])
    forward = trainer.forward

    def slow_forward(x, step):
        # Stalled after the first checkpoint, so that the parent kills it mid-epoch however loaded the machine.
        time.sleep(60 if trainer.epochs_done else 0)
        return forward(x, step)

    trainer.forward = slow_forward
    trainer.train()
""")


def _epochs_done(directory: Path) -> int:
    try:
        return int(json.loads((directory / STATE_NAME).read_text())["epochs_done"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


def test_kill_9_resumes_from_the_last_checkpoint(data, tmp_path) -> None:
    directory = tmp_path / "supernet"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    process = subprocess.Popen([sys.executable, "-c", _KILLED_SCRIPT, str(directory)], cwd=PROJECT_ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sigkill_when(process, lambda: _epochs_done(directory) >= 1)
    assert process.returncode == -signal.SIGKILL
    checkpoint = torch.load(directory / CHECKPOINT_NAME, weights_only=True)
    x, y = data
    settings = SupernetSettings(channels=2, batch_size=32, epochs=4, space="darts")
    resumed = SupernetTrainer(settings, x, y, directory)
    assert 1 <= resumed.epochs_done == checkpoint["epochs_done"] < 4
    resumed.train()
    assert resumed.done and _states_equal(resumed.supernet, SupernetTrainer(settings, x, y).train().supernet)


class TestDartsSupernetEvaluator(EvaluatorConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def evaluator(cls):
        train, valid, test = load_splits("digits", 0)
        return SupernetEvaluator((_head(train, 128), _head(valid, 64), _head(test, 64)), **EVALUATOR)

    @pytest.fixture
    def archs(self):
        return ARCHS[:2]


def test_scores_recalibrate_per_path_and_leave_the_supernet_alone(digits, tmp_path) -> None:
    evaluator = SupernetEvaluator(digits, checkpoint_dir=tmp_path, ablations=True, **EVALUATOR)
    supernet = evaluator.prepare().supernet
    before, weights = batch_norm_state(supernet), {k: v.clone() for k, v in supernet.state_dict().items()}
    scores = [evaluator.evaluate(arch).metrics for arch in ARCHS]
    assert all(0 <= s["valid_accuracy"] <= 100 and s["valid_accuracy"] == s["valid_accuracy_recal"] for s in scores)
    assert any(s["valid_accuracy_recal"] != s["valid_accuracy_norecal"] for s in scores)
    assert len({s["valid_accuracy_recal"] for s in scores}) > 1, "every path its own score"
    after = supernet.state_dict()
    assert after.keys() == weights.keys() and all(torch.equal(v, after[k]) for k, v in weights.items())
    assert all(torch.equal(a, b) for x, y in zip(batch_norm_state(supernet), before) for a, b in zip(x, y))
    again = SupernetEvaluator(digits, checkpoint_dir=tmp_path, ablations=True, **EVALUATOR)  # from the checkpoint
    assert again.evaluate(ARCHS[1]).metrics == scores[1]
    wrong = evaluator.evaluate(NB201Space().make(["nor_conv_3x3"] * 6))
    assert wrong.status is TrialStatus.FAILED and "space='nb201'" in (wrong.error or "")


def test_bo_mf_study_over_a_darts_chain_resumes_from_its_spec(tmp_path) -> None:
    cheap = supernet_spec(tmp_path / "supernet", dataset="digits", **{**EVALUATOR, "channels": 2})
    with pytest.raises(InvalidArgumentError, match="space='nb201'"):
        build_evaluator(cheap, NB201Space())
    spec = json.loads(json.dumps(chain_spec(cheap, training_spec(epochs=1, channels=2, batch_size=64),
                                            {"supernet": 0.05, "train": 1.0}, 1.0)))
    chain = build_evaluator(spec, SPACE)
    assert isinstance(chain, FidelityChain) and chain.cheap.settings.space == "darts"
    options = {"n_init": 3, "n_init_target": 1, "maxiter": 10, "num_max_samples": 8, "cheap_batch": 1, "pool_budget": 200,
               "h_values": (1,)}
    study = Study.create(tmp_path / "run", SPACE, chain, "valid_acc", strategy="bo-mf", seed=0,
                         strategy_options=options, evaluator_spec=spec)
    study.optimize(evaluations=5)
    trials = study.finished_trials()
    assert [t.fidelity for t in trials[:4]] == ["supernet"] * 3 + ["train"]
    assert all(t.status is TrialStatus.COMPLETE and t.arch.space == "darts" for t in trials)
    loaded = Study.load(tmp_path / "run")
    assert loaded.evaluator.cheap.settings.space == "darts" and len(loaded.finished_trials()) == 5
    loaded.optimize(evaluations=6)  # counted over the study's life
    assert len(loaded.finished_trials()) == 6
