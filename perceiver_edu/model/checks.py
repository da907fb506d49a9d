"""Checks on tensors at the model's boundary, cheap enough to run on every forward pass."""
from __future__ import annotations

import torch


def all_finite(x: torch.Tensor) -> bool:
    """Whether every value of ``x`` is finite, by a reduction that allocates no tensor of ``x``'s
    size (``torch.isfinite(x)`` would, which the chunked cross-attention exists to avoid): the
    minimum and maximum are NaN or infinite exactly when some value is."""
    if x.numel() == 0:
        return True
    low, high = torch.aminmax(x.detach())
    return bool(torch.isfinite(low) & torch.isfinite(high))


def check_finite(x: torch.Tensor, what: str) -> None:
    """Raise ``ValueError`` naming the examples (first axis) of ``x`` that hold a NaN or infinity."""
    if not all_finite(x):
        bad = (~torch.isfinite(x)).flatten(1).any(dim=1).nonzero().flatten().tolist()
        raise ValueError(f"NaN or infinite values in {what} (example(s) {bad[:10]} of {x.shape[0]}); "
                         f"the logits would be NaN")


def autocast_enabled(device_type: str) -> bool:
    """Whether autocast is on for ``device_type`` (any torch >= 2.1)."""
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4: no device argument
        return torch.is_autocast_enabled() or torch.is_autocast_cpu_enabled()
