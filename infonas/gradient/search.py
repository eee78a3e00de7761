"""Gradient NAS: the bilevel search of the DARTS family over the supernet's mixed operations.

Alternating steps on two splits (Liu et al., DARTS, ICLR 2019):

* architecture step on a validation batch: ``alpha <- Adam(grad_alpha L_val(w, alpha) + R(alpha))``,
  first order, or second order through the unrolled weight step ``w' = w - xi grad_w L_train``
  (``unrolled_hypergradient``, its Hessian-vector product by finite differences);
* weight step on a training batch: ``w <- SGD(grad_w L_train(w, alpha))``, the edges mixing their
  operations by the relaxation's weights (softmax, hard or soft Gumbel, Dirichlet samples).

``R`` holds the relaxation's own regulariser (DrNAS's KL), the remedies and the hardware terms
of ``GradientSettings``. Every epoch ends with a checkpoint (model, alpha, optimisers, history),
written atomically, so a killed search resumes where it stopped; randomness is a function of
``(seed, epoch)`` and ``(seed, step)``, so the resumed search continues as the uninterrupted one.
The history is the collapse report: per epoch the argmax cell and its share of skip and none
(NB201) or its depth and width per stage (the macro space); ``infonas.gradient.spaces`` adapts
the search to each space (``GradientSettings.space``).

Example:
    >>> from infonas.gradient.settings import settings_for
    >>> search = GradientSearch(settings_for("darts-1", epochs=1, channels=2, batch_size=256), "mnist1d")
    >>> result = search.search()
    >>> result.epochs_done, len(result.arch.ops)
    (1, 6)
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from infonas.datasets import Splits, load_splits
from infonas.evaluators.training import batch_starts, stable_seed, torch_threads
from infonas.exceptions import InvalidArgumentError
from infonas.gradient.checkpoint import load_checkpoint, save_checkpoint
from infonas.gradient.hardware import ConflictCounter, hinge_squared_penalty, pcgrad, weighted_cost_term
from infonas.gradient.hypergradient import dominant_hessian_eigenvalue, unrolled_hypergradient
from infonas.gradient.relaxation import make_relaxation
from infonas.gradient.settings import GradientSettings
from infonas.gradient.spaces import gradient_space
from search_spaces.base import Architecture

__all__ = ["GradientResult", "GradientSearch"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class GradientResult:
    """A finished (or early-stopped) gradient search: the derived cell and what it cost.

    ``history``: one dict per epoch (``epoch``, ``train_loss``, ``arch``, the space's figures:
    ``skip_share`` and ``none_share`` (NB201) or ``depths`` and ``widths`` (macro),
    ``supernet_valid_acc``, and ``expected_flops``/``eigenvalue``/``conflict_fraction`` where
    measured; with cost tables also ``derived_flops``, the derived architecture's exact FLOPs, and
    under ``discretise_within_budget`` ``argmax_flops``, the argmax's before the fit);
    ``stopped_early``: the reason, or ``None``.
    """

    arch: Architecture
    search_seconds: float
    epochs_done: int
    stopped_early: str | None
    history: list[dict[str, Any]]
    alpha: list[list[float]]


class GradientSearch:
    """One gradient search on an embedded data set (``"mnist1d"``, ``"digits"``) or given splits, in
    ``settings.space``; ``costs`` (the space's cost tables of the network: ``ArchitectureCosts``,
    ``MacroCosts``; ``self.adapter.costs(data, settings)``) feed the cost terms and the history."""

    def __init__(self, settings: GradientSettings, data: str | Splits = "mnist1d", *,
                 checkpoint_dir: str | Path | None = None, costs: Any = None, data_seed: int = 0,
                 num_threads: int | None = 1) -> None:
        self.settings = settings
        train, valid, _ = load_splits(data, data_seed) if isinstance(data, str) else data
        self.train_x, self.train_y = train.tensors[0].float(), train.tensors[1].long()
        self.valid_x, self.valid_y = valid.tensors[0].float(), valid.tensors[1].long()
        classes = int(max(self.train_y.max(), self.valid_y.max())) + 1
        self.adapter = gradient_space(settings.space)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(stable_seed(settings.seed, "gradient-init"))
            self.supernet = self.adapter.supernet(tuple(self.train_x.shape[1:]), settings, classes)
            # DARTS initialises alpha near zero: every operation equally weighted at first.
            self.alpha = nn.Parameter(1e-3 * torch.randn(*self.adapter.alpha_shape))
        self.config = self.supernet.config
        self.relaxation = make_relaxation(settings.relaxation, **settings.relaxation_options)
        self._starts = batch_starts(len(self.train_x), settings.batch_size)
        if not self._starts or len(self.valid_x) < 2:
            raise InvalidArgumentError(f"a gradient search needs at least 2 training and 2 validation samples, got "
                                       f"{len(self.train_x)} and {len(self.valid_x)}: pass more data")
        self.total_steps = settings.epochs * len(self._starts)
        self.weight_optimizer = torch.optim.SGD(self.supernet.parameters(), lr=settings.weight_lr,
                                                momentum=settings.momentum, weight_decay=settings.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.weight_optimizer, T_max=self.total_steps,
                                                                    eta_min=settings.weight_lr_min)
        self.arch_optimizer = torch.optim.Adam([self.alpha], lr=settings.arch_lr, betas=settings.arch_betas,
                                               weight_decay=settings.arch_weight_decay)
        self.mask = torch.ones(*self.adapter.alpha_shape, dtype=torch.bool)
        self.costs = costs
        self.expected_flops = self.adapter.expected_cost(costs, "flops") if costs is not None else None
        self.expected_latency = self.adapter.expected_cost(costs, "latency") if settings.latency_weight > 0 else None
        if (settings.flops_weight > 0 or settings.discretise_within_budget) and self.expected_flops is None:
            raise InvalidArgumentError("a FLOPs budget (its hinge term, discretise_within_budget) needs the network's "
                                       f"cost tables: pass costs={self.adapter.costs_hint} to GradientSearch")
        self.num_threads, self.checkpoint_dir = num_threads, None if checkpoint_dir is None else Path(checkpoint_dir)
        self.epochs_done, self.seconds = 0, 0.0
        self.history: list[dict[str, Any]] = []
        self.stopped_early: str | None = None
        self.first_eigenvalue: float | None = None
        self.conflicts = ConflictCounter()  # architecture steps where PCGrad found the gradients conflicting
        if self.checkpoint_dir is not None:
            load_checkpoint(self)

    # ----- one step of each kind -----

    def _mixing(self, alpha: torch.Tensor, step: int, purpose: str) -> torch.Tensor:
        """The relaxation's weights for ``step``: the same draw whenever asked for the same step and purpose."""
        generator = torch.Generator().manual_seed(stable_seed(self.settings.seed, purpose, step))
        return self.relaxation.weights(alpha, progress=min(1.0, step / self.total_steps), generator=generator,
                                       mask=self.mask)

    def _logits(self, x: torch.Tensor, weights: torch.Tensor, params: dict[str, torch.Tensor] | None = None
                ) -> torch.Tensor:
        selected = weights.argmax(-1).tolist() if self.relaxation.hard() else None
        if params is None:
            return self.supernet(x, weights=weights, selected=selected)
        return functional_call(self.supernet, params, (x,), {"weights": weights, "selected": selected})

    def _arch_gradient(self, train: tuple[torch.Tensor, torch.Tensor], valid: tuple[torch.Tensor, torch.Tensor],
                       step: int) -> torch.Tensor:
        """``grad_alpha L_val``: first order, or through the unrolled weight step (``order=2``)."""
        loss_fn = nn.CrossEntropyLoss()
        if self.settings.order == 1:
            loss = loss_fn(self._logits(valid[0], self._mixing(self.alpha, step, "arch")), valid[1])
            return torch.autograd.grad(loss, self.alpha)[0]
        # Scratch copies of the batch-norm buffers: the virtual steps must not move the real ones.
        buffers = {name: b.clone() for name, b in self.supernet.named_buffers()}

        def loss_on(batch: tuple[torch.Tensor, torch.Tensor]):
            def loss(params: dict[str, torch.Tensor], alpha: torch.Tensor) -> torch.Tensor:
                return loss_fn(self._logits(batch[0], self._mixing(alpha, step, "arch"), {**params, **buffers}),
                               batch[1])
            return loss

        params = {name: p.detach() for name, p in self.supernet.named_parameters()}
        return unrolled_hypergradient(loss_on(train), loss_on(valid), params, self.alpha.detach(),
                                      xi=self.scheduler.get_last_lr()[0], weight_decay=self.settings.weight_decay)

    def _penalty_gradient(self, step: int) -> torch.Tensor | None:
        """``grad_alpha`` of the regulariser, the L1 remedy and the hardware terms (``None`` when all are off);
        the hardware terms price the relaxation's ``cost_weights`` at this step."""
        settings = self.settings
        alpha = self.alpha
        expected = self.relaxation.expected_weights(alpha, self.mask)
        priced = self.relaxation.cost_weights(alpha, progress=min(1.0, step / self.total_steps), mask=self.mask)
        total = self.relaxation.regulariser(alpha)
        if settings.l1_weight > 0:
            # L1 distance of each edge's weights to the nearest one-hot row, halved: 1 - max_o w_eo.
            total = total + settings.l1_weight * (1.0 - expected.max(-1).values).sum()
        if settings.flops_weight > 0:
            assert self.expected_flops is not None and settings.flops_budget is not None
            total = total + hinge_squared_penalty(self.expected_flops(priced), settings.flops_budget,
                                                  settings.flops_weight)
        if settings.latency_weight > 0:
            assert self.expected_latency is not None
            uniform = self.expected_latency(torch.full_like(priced, 1.0 / priced.shape[-1]))
            total = total + weighted_cost_term(self.expected_latency(priced), float(uniform), settings.latency_weight)
        if not torch.is_tensor(total) or not total.requires_grad:
            return None
        return torch.autograd.grad(total, alpha)[0]

    def _arch_step(self, train: tuple[torch.Tensor, torch.Tensor], valid: tuple[torch.Tensor, torch.Tensor],
                   step: int) -> None:
        task = self._arch_gradient(train, valid, step)
        cost, conflicted = self._penalty_gradient(step), False
        if cost is None:
            combined = task
        elif self.settings.pcgrad:
            flat, conflicted = pcgrad(task.flatten(), cost.flatten())
            combined = flat.view_as(task)
        else:
            combined = task + cost
        self.conflicts.record(conflicted)
        self.arch_optimizer.zero_grad(set_to_none=True)
        self.alpha.grad = combined.detach().masked_fill(~self.mask, 0.0)
        self.arch_optimizer.step()

    def _weight_step(self, x: torch.Tensor, y: torch.Tensor, step: int) -> float:
        weights = self._mixing(self.alpha.detach(), step, "weights")
        if self.settings.skip_drop_path > 0:
            generator = torch.Generator().manual_seed(stable_seed(self.settings.seed, "skip-drop", step))
            weights = self.adapter.drop_skips(weights, self.settings.skip_drop_path, generator)
        loss = nn.functional.cross_entropy(self._logits(x, weights), y)
        self.weight_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.weight_optimizer.step()
        self.scheduler.step()
        return float(loss.detach())

    # ----- epochs -----

    def _prune(self, epoch: int) -> None:
        """P-DARTS: at a stage boundary keep each edge's ``keep`` best operations by expected weight."""
        settings = self.settings
        if epoch not in settings.prune_at:
            return
        keep = settings.prune_keep[settings.prune_at.index(epoch)]
        with torch.no_grad():
            best = self.relaxation.expected_weights(self.alpha, self.mask).masked_fill(~self.mask, -1.0).topk(keep).indices
        self.mask = torch.zeros_like(self.mask).scatter(1, best, True)
        logger.info("epoch %d: pruned to %d operations per edge", epoch, keep)

    def _run_epoch(self) -> dict[str, Any]:
        settings = self.settings
        epoch = self.epochs_done
        self._prune(epoch)
        order = torch.randperm(len(self.train_x), generator=torch.Generator().manual_seed(
            stable_seed(settings.seed, "order", epoch)))
        valid_order = torch.randperm(len(self.valid_x), generator=torch.Generator().manual_seed(
            stable_seed(settings.seed, "valid-order", epoch)))
        self.supernet.train()
        total, seen = 0.0, 0
        for index_in_epoch, start in enumerate(self._starts):
            step = epoch * len(self._starts) + index_in_epoch
            index = order[start: start + settings.batch_size]
            batch = (self.train_x[index], self.train_y[index])
            if epoch >= settings.warmup_epochs:
                offset = (index_in_epoch * settings.batch_size) % max(1, len(self.valid_x) - settings.batch_size + 1)
                valid_index = valid_order[offset: offset + settings.batch_size]
                self._arch_step(batch, (self.valid_x[valid_index], self.valid_y[valid_index]), step)
            total += self._weight_step(*batch, step) * len(index)
            seen += len(index)
        return self._epoch_record(epoch, total / seen)

    def _epoch_record(self, epoch: int, train_loss: float) -> dict[str, Any]:
        if not math.isfinite(train_loss):
            raise InvalidArgumentError(f"gradient search diverged in epoch {epoch + 1} (loss {train_loss}): lower "
                                       f"weight_lr {self.settings.weight_lr}")
        expected, arch = self.relaxation.expected_weights(self.alpha, self.mask).detach(), self.derived()
        record: dict[str, Any] = {"epoch": epoch + 1, "train_loss": train_loss, "arch": self.adapter.space.format(arch),
                                  **self.adapter.figures(arch), "supernet_valid_acc": self._valid_accuracy(expected, arch)}
        if self.expected_flops is not None:
            record["expected_flops"] = float(self.expected_flops(expected))
            record.update(self.adapter.cost_figures(expected, arch, self.costs, self.settings))
        if self.conflicts.steps and self.settings.pcgrad:
            record["conflict_fraction"] = self.conflicts.fraction
        if self.settings.eigenvalue_every and (epoch + 1) % self.settings.eigenvalue_every == 0:
            record["eigenvalue"] = self._eigenvalue()
        return record

    def _valid_accuracy(self, expected: torch.Tensor, arch: Architecture) -> float:
        """At the expected weights; at the derived cell for hard relaxations, which train one path."""
        hard = self.relaxation.hard()
        return valid_accuracy(self.supernet, self.valid_x, self.valid_y, None if hard else expected,
                              self.adapter.space.to_categorical(arch) if hard else None)

    def _eigenvalue(self) -> float:
        """R-DARTS's signal on a fixed validation batch (``validation_eigenvalue``)."""
        size = self.settings.batch_size
        generator = torch.Generator().manual_seed(stable_seed(self.settings.seed, "eigen", self.epochs_done))
        return validation_eigenvalue(self.supernet, lambda a: self.relaxation.expected_weights(a, self.mask),
                                     self.alpha.detach(), self.valid_x[:size], self.valid_y[:size], generator)

    def _stop_reason(self, record: dict[str, Any]) -> str | None:
        settings = self.settings
        # stop_at_skips is refused on spaces without skips (GradientSettings): the record has a skip share.
        skips = None if settings.stop_at_skips is None else round(record["skip_share"] * len(self.alpha))
        if skips is not None and skips >= settings.stop_at_skips:
            return f"the argmax cell has {skips} skip edges (stop_at_skips={settings.stop_at_skips})"
        if settings.stop_eigenvalue_ratio is not None and "eigenvalue" in record:
            if self.first_eigenvalue is None:
                self.first_eigenvalue = record["eigenvalue"]
            elif record["eigenvalue"] > settings.stop_eigenvalue_ratio * max(self.first_eigenvalue, 1e-12):
                return (f"the dominant Hessian eigenvalue grew from {self.first_eigenvalue:.4g} to "
                        f"{record['eigenvalue']:.4g} (stop_eigenvalue_ratio={settings.stop_eigenvalue_ratio})")
        return None

    def search(self, progress: bool = False, max_epochs: int | None = None,
               max_seconds: float | None = None) -> GradientResult:
        """Run the epochs left (checkpointing after each), or at most ``max_epochs`` of them now, ending
        after the epoch at which the search's seconds (resumed runs included) reach ``max_seconds``."""
        from tqdm.auto import tqdm

        settings, limit = self.settings, math.inf if max_seconds is None else max_seconds
        with torch_threads(self.num_threads), tqdm(total=settings.epochs, initial=self.epochs_done,
                                                   desc=f"gradient search ({settings.method})", unit="epoch",
                                                   disable=not progress, dynamic_ncols=True) as bar:
            last = settings.epochs if max_epochs is None else min(settings.epochs, self.epochs_done + max_epochs)
            while self.epochs_done < last and self.stopped_early is None and self.seconds < limit:
                started = time.perf_counter()
                record = self._run_epoch()
                self.epochs_done += 1
                self.stopped_early = self._stop_reason(record)
                self.seconds += time.perf_counter() - started
                record["seconds"] = self.seconds
                self.history.append(record)
                if self.checkpoint_dir is not None:
                    save_checkpoint(self)
                bar.update(1)
                bar.set_postfix_str(f"{self.adapter.progress_text(record)} acc {record['supernet_valid_acc']:.1f}",
                                    refresh=False)
                if self.stopped_early:
                    logger.info("gradient search stopped early: %s", self.stopped_early)
        return GradientResult(self.derived(), self.seconds, self.epochs_done, self.stopped_early, list(self.history),
                              self.alpha.detach().tolist())

    def derived(self) -> Architecture:
        """The discretised architecture (``GradientSpace.derive``: NB201 heeds ``max_skips``, ``exclude_none``;
        ``discretise_within_budget`` fits it under the FLOPs budget)."""
        with torch.no_grad():
            expected = self.relaxation.expected_weights(self.alpha, self.mask)
        return self.adapter.derive(expected, self.settings, self.costs)


def validation_eigenvalue(supernet: nn.Module, mixing: Any, alpha: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                          generator: torch.Generator) -> float:
    """The dominant eigenvalue of ``d^2 L_val / d alpha^2`` at the mixing weights ``mixing(alpha)``
    (R-DARTS, Zela et al. 2020: it grows as DARTS heads for a sharp, skip-heavy solution)."""
    buffers = {name: b.clone() for name, b in supernet.named_buffers()}
    params = {name: p.detach() for name, p in supernet.named_parameters()}

    def loss(p: dict[str, torch.Tensor], a: torch.Tensor) -> torch.Tensor:
        logits = functional_call(supernet, {**p, **buffers}, (x,), {"weights": mixing(a)})
        return nn.functional.cross_entropy(logits, y)

    return dominant_hessian_eigenvalue(loss, params, alpha, generator=generator)


def valid_accuracy(supernet: nn.Module, x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None,
                   choices: tuple[int, ...] | None) -> float:
    """Accuracy (%) of the supernet on ``(x, y)`` in eval mode, mixed by ``weights`` or along ``choices``."""
    was_training = supernet.training
    supernet.eval()
    with torch.no_grad():
        logits = supernet(x, weights=weights, choices=choices)
    supernet.train(was_training)
    return 100.0 * float((logits.argmax(-1) == y).float().mean())
