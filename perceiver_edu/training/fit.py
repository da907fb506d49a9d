"""A small, model-agnostic supervised trainer for the modality chapters (7-10).

Chapter 5's :func:`perceiver_edu.training.trainer.train` is the full image trainer (checkpoints, resume,
metrics log, command line).  Here the job is smaller: train *any* classifier (a Perceiver over
pixels, waveforms or points, a CNN, an MLP) on tensors held in memory, the same way for all of
them, so that their accuracies can be compared fairly::

    history = fit(model, train_x, train_y, epochs=2, batch_size=64, lr=1e-3, seed=0)
    acc = evaluate_accuracy(model, test_x, test_y)

* **AdamW**, a linear **warm-up** then **cosine decay** of the learning rate, gradient clipping:
  the image trainer's schedule (:mod:`.schedule`), and its prediction loop and accuracy
  (:mod:`.evaluation`), so that both score a model the same way.
* **Deterministic**: the weights are whatever the caller built (seed before building the model);
  the batch order of every epoch comes from a generator seeded with ``seed`` and the epoch, and
  the global torch generator is seeded with ``seed`` (dropout, random transforms), so the same
  seed gives the same loss curve on the same machine.
* ``transform``: a function applied to every batch of inputs before the model (on the device):
  e.g. waveforms -> byte array, pixels -> permuted pixels.  Inputs are kept as given (often
  compact) and only each batch is expanded, so a dataset of 8,000-sample waveforms never has to
  exist as a (N, 8000, C) byte array in memory.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .evaluation import accuracy, predict_logits
from .schedule import epoch_order, lr_at
from ..settings import get_device


@dataclass
class History:
    """What :func:`fit` measured: one entry per optimizer step, and the wall time."""
    losses: list = field(default_factory=list)  # training loss of each step's batch
    accuracies: list = field(default_factory=list)  # training accuracy of each step's batch
    lrs: list = field(default_factory=list)  # learning rate used at each step
    epochs: float = 0.0  # passes over the training set
    seconds: float = 0.0  # wall time of the training loop

    @property
    def steps(self) -> int:
        return len(self.losses)

    def smoothed(self, window: int = 20) -> torch.Tensor:
        """Running mean of the losses over ``window`` steps (``(steps - window + 1,)``)."""
        losses = torch.tensor(self.losses, dtype=torch.float64)
        window = max(1, min(int(window), len(losses)))
        return losses.unfold(0, window, 1).mean(dim=1)

    def __repr__(self) -> str:
        last = f", final loss {sum(self.losses[-20:]) / len(self.losses[-20:]):.3f}" if self.losses else ""
        return f"History({self.steps} steps, {self.epochs:g} epochs{last})"


def _check_data(inputs, labels, what: str) -> None:
    if not isinstance(inputs, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise TypeError(f"{what}: expected tensors (inputs (N, ...), labels (N,)), got "
                        f"{type(inputs).__name__} and {type(labels).__name__}")
    if labels.dim() != 1 or len(inputs) != len(labels):
        raise ValueError(f"{what}: expected inputs (N, ...) and integer labels (N,) with the same N, got "
                         f"inputs {tuple(inputs.shape)} and labels {tuple(labels.shape)}")
    if len(labels) == 0:
        raise ValueError(f"{what}: no examples")


def fit(model: torch.nn.Module, train_inputs: torch.Tensor, train_labels: torch.Tensor, *,
        epochs: float = 1, steps: int | None = None, batch_size: int = 64, lr: float = 1e-3,
        weight_decay: float = 0.01, warmup: int | float = 0.1, min_lr: float = 0.0, grad_clip: float = 1.0,
        seed: int = 0, device: str | torch.device | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        progress: bool = True, desc: str = "train") -> History:
    """Train ``model`` to classify ``train_inputs (N, ...)`` as ``train_labels (N,)``; return its :class:`History`.

    Args:
        epochs: passes over the data (a fraction is allowed); ignored when ``steps`` is given.
        steps: the number of optimizer steps (overrides ``epochs``).
        batch_size: examples per step (the last, smaller batch of an epoch is dropped).
        lr, min_lr: peak and final learning rate of the warm-up + cosine schedule (:func:`lr_at`).
        weight_decay: AdamW's decoupled weight decay.
        warmup: warm-up steps; a float below 1 is a fraction of all steps.
        grad_clip: maximum gradient norm (0: no clipping).
        seed: fixes the batch order and the global torch generator.
        device: where to train (default: :func:`~perceiver_edu.settings.get_device`); the model is
            moved there and left there, in eval mode.
        transform: applied to each batch of inputs on the device before the model.
        progress: show a tqdm progress bar with the running loss.
    """
    _check_data(train_inputs, train_labels, "fit")
    if batch_size < 1 or not lr > 0 or not 0 <= min_lr <= lr:
        raise ValueError(f"need batch_size >= 1, lr > 0 and 0 <= min_lr <= lr; got batch_size={batch_size}, "
                         f"lr={lr}, min_lr={min_lr}")
    n = len(train_labels)
    batch_size = min(int(batch_size), n)
    per_epoch = n // batch_size
    total = int(steps) if steps is not None else max(1, round(epochs * per_epoch))
    if total < 1:
        raise ValueError(f"need at least one step, got steps={steps}, epochs={epochs}")
    warmup_steps = round(warmup * total) if isinstance(warmup, float) and warmup < 1 else int(warmup)

    device = get_device(device) if not isinstance(device, torch.device) else device
    model.to(device)
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    history = History()
    order = torch.empty(0, dtype=torch.long)
    model.train()
    start = time.perf_counter()
    bar = tqdm(range(total), desc=desc, disable=not progress, unit="step", leave=True)
    for step in bar:
        epoch, index = divmod(step, per_epoch)
        if index == 0:  # a new shuffle, a function of (seed, epoch) only
            order = epoch_order(n, seed, epoch)
        idx = order[index * batch_size:(index + 1) * batch_size]
        x = train_inputs[idx].to(device, non_blocking=True)
        y = train_labels[idx].to(device, non_blocking=True)
        if transform is not None:
            x = transform(x)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, total, lr, warmup_steps, min_lr)
        logits = model(x)  # (B, classes)
        loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        value = loss.item()
        if not math.isfinite(value):
            raise FloatingPointError(f"the loss became {value} at step {step}: lower the learning rate (lr={lr})")
        history.losses.append(value)
        history.accuracies.append(accuracy(logits, y))
        history.lrs.append(optimizer.param_groups[0]["lr"])
        if progress and (step % 10 == 0 or step == total - 1):
            bar.set_postfix(loss=f"{sum(history.losses[-20:]) / len(history.losses[-20:]):.3f}")
    bar.close()
    history.seconds = time.perf_counter() - start
    history.epochs = total / per_epoch
    model.eval()
    return history


def evaluate_accuracy(model: torch.nn.Module, inputs: torch.Tensor, labels: torch.Tensor, batch_size: int = 256,
                      transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> float:
    """Fraction of ``inputs`` that ``model`` classifies as ``labels`` (``transform`` as in :func:`fit`)."""
    _check_data(inputs, labels, "evaluate_accuracy")
    return accuracy(predict_logits(model, inputs, batch_size, transform=transform), labels.cpu())


__all__ = ["History", "evaluate_accuracy", "fit", "lr_at", "predict_logits"]
