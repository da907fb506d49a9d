"""Position without convolutions: Fourier position features (paper section 2.2, chapter 3).

The Perceiver sees its input as an unordered set of M elements.  To tell it *where* each
element is, every element is concatenated with features of its position x in [-1, 1]^d:

    [sin(f_k * pi * x_d), cos(f_k * pi * x_d)]  for k = 1..K,   plus the raw x_d,

with K frequencies f_k spaced linearly from 1 to max_freq / 2 (max_freq = mu is the Nyquist
frequency of the sampling: the number of samples along an axis).  That is d * (2K + 1) channels.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch


def fourier_features(pos: torch.Tensor, num_bands: int, max_freq: float) -> torch.Tensor:
    """Fourier features of positions.

    Args:
        pos: ``(..., d)`` positions, each coordinate in [-1, 1].
        num_bands: K, the number of frequency bands per dimension.
        max_freq: mu; the bands run linearly from 1 to ``max_freq / 2``.

    Returns:
        ``(..., d * (2K + 1))``: for each dimension d its K sines, then its K cosines;
        after all dimensions, the d raw coordinates.
    """
    if pos.dim() < 1:
        raise ValueError(f"pos must have shape (..., d), got a scalar tensor")
    if num_bands < 1:
        raise ValueError(f"num_bands must be >= 1, got {num_bands}")
    if max_freq < 2:
        raise ValueError(f"max_freq must be >= 2 so that the bands 1..max_freq/2 exist, got {max_freq}")
    freqs = torch.linspace(1.0, max_freq / 2, num_bands, dtype=pos.dtype, device=pos.device)  # (K,)
    angles = pos.unsqueeze(-1) * freqs * math.pi  # (..., d, K)
    feats = torch.cat([angles.sin(), angles.cos()], dim=-1)  # (..., d, 2K)
    return torch.cat([feats.flatten(-2), pos], dim=-1)  # (..., d*2K + d)


def num_fourier_channels(num_dims: int, num_bands: int) -> int:
    """Channels produced by :func:`fourier_features`: ``d * (2K + 1)``."""
    return num_dims * (2 * num_bands + 1)


def position_grid(shape: Sequence[int], device=None, dtype=torch.float32) -> torch.Tensor:
    """Positions of a regular grid, ``linspace(-1, 1)`` along each axis.

    ``shape=(H, W)`` gives ``(H, W, 2)`` (row coordinate first); ``shape=(T,)`` gives ``(T, 1)``.
    """
    shape = tuple(int(s) for s in shape)
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"shape must be a non-empty tuple of positive sizes, got {shape}")
    axes = [torch.linspace(-1.0, 1.0, s, device=device, dtype=dtype) for s in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)  # (*shape, d)
