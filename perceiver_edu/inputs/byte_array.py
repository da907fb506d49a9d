"""The byte array (B, M, C): the one input format of the Perceiver, whatever the modality.

Every adapter lists the M elements of its input (pixels, samples, time-frequency cells, points),
keeps their values as channels and concatenates (not adds) features of where each element is
(paper §3.2): row m of example b is ``values[b, m]`` followed by ``positions[m]``.
:func:`byte_array` is that concatenation; the adapters differ only in how they list the
elements and compute the positions (for a regular grid,
:func:`~perceiver_edu.model.position.grid_fourier_features`).
"""
from __future__ import annotations

import torch


def describe(x) -> str:
    """How an argument looks, for error messages: ``(2, 3) of torch.float32``, or its type's name."""
    return f"{tuple(x.shape)} of {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__


def check_float_tensor(x, ndim: int, expected: str, what: str) -> None:
    """Raise ``ValueError`` naming ``expected`` (e.g. ``"(B, T)"``) unless ``x`` is a float tensor of ``ndim`` axes."""
    if not isinstance(x, torch.Tensor) or x.dim() != ndim or not x.is_floating_point():
        got = f"shape {describe(x)}" if isinstance(x, torch.Tensor) else describe(x)
        raise ValueError(f"expected {what} as a float tensor of shape {expected}, got {got}")


def byte_array(values: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Values ``(B, M, C_v)`` and position features -> byte array ``(B, M, C_v + P)``.

    Args:
        values: ``(B, M, C_v)``, the C_v value channels of each of the M elements.
        positions: ``(M, P)`` or ``(1, M, P)``, the same for every example (broadcast over the
            batch without a copy), or ``(B, M, P)``, one set per example (points, whose
            position depends on the example).

    Returns:
        ``(B, M, C_v + P)``: each element's values first, then its position features.
    """
    if not isinstance(values, torch.Tensor) or values.dim() != 3:
        raise ValueError(f"expected values of shape (B, M, C_v), got {describe(values)}")
    b, m, _ = values.shape
    if not isinstance(positions, torch.Tensor) or positions.dim() not in (2, 3):
        raise ValueError(f"expected positions of shape (M, P) or (B, M, P), got {describe(positions)}")
    batched = positions if positions.dim() == 3 else positions.unsqueeze(0)  # (1 or B, M, P)
    if batched.shape[1] != m or batched.shape[0] not in (1, b):
        raise ValueError(f"positions of shape {tuple(positions.shape)} do not fit values of shape "
                         f"{tuple(values.shape)}: expected ({m}, P), (1, {m}, P) or ({b}, {m}, P)")
    return torch.cat([values, batched.expand(b, -1, -1)], dim=-1)  # (B, M, C_v + P)


__all__ = ["byte_array", "check_float_tensor", "describe"]
