"""Counting a model's parameters: the one counter of the package (chapters 4 and 7, the benchmark)."""
from __future__ import annotations

from torch import nn


def count_parameters(model: nn.Module, *, trainable_only: bool = True) -> int:
    """Number of parameters of ``model``, each shared tensor once; ``trainable_only``: only those
    with ``requires_grad`` (those an optimizer would update)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


__all__ = ["count_parameters"]
