"""What an optimizer step uses besides the weights, as a function of the seed and the step alone:
its learning rate, the order of its epoch's examples and its augmentation generator.

Nothing here depends on what ran before, so the same seed gives the same run, and a resumed run
sees exactly the learning rates and batches that the interrupted one would have seen.  The image
trainer and :func:`~perceiver_edu.training.fit.fit` both use them.
"""
from __future__ import annotations

import math

import torch


def lr_at(step: int, total_steps: int, lr: float, warmup_steps: int, min_lr: float = 0.0) -> float:
    """Learning rate for optimizer step ``step`` (0-based): linear warm-up from ``lr/warmup_steps``
    to ``lr`` over ``warmup_steps`` steps, then cosine decay to ``min_lr`` at ``total_steps``."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    progress = min(1.0, progress)
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled order ``(n,)`` of the examples in ``epoch``: a function of ``seed`` and ``epoch`` only."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator for ``step``'s augmentation (again a function of seed and step only)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + 7_919 * (step + 1))


__all__ = ["epoch_order", "lr_at", "step_generator"]
