"""Position without convolutions: Fourier position features (paper §3.2, chapter 3).

The Perceiver sees its input as an unordered set of M elements.  To tell it *where* each
element is, every element is concatenated with features of its position x in [-1, 1]^d:

    [sin(f_k * pi * x_d), cos(f_k * pi * x_d)]  for k = 1..K,   plus the raw x_d,

with K frequencies f_k spaced linearly from 1 to max_freq / 2 (max_freq = mu is the sampling rate,
the number of samples along an axis; mu / 2 is its Nyquist frequency).  That is d * (2K + 1) channels.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch


POSITION_TOLERANCE = 1e-4  # how far outside [-1, 1] a coordinate may stray (rounding), in absolute terms


def check_positions(pos) -> None:
    """Raise ``ValueError`` unless ``pos`` is a float tensor ``(..., d)`` of finite coordinates in [-1, 1]
    (up to :data:`POSITION_TOLERANCE`).  One pass over ``pos``: its largest absolute value."""
    if not isinstance(pos, torch.Tensor) or not pos.is_floating_point():
        got = f"a tensor of {pos.dtype}" if isinstance(pos, torch.Tensor) else type(pos).__name__
        raise ValueError(f"expected positions as a float tensor of shape (..., d), got {got}")
    if pos.dim() < 1:
        raise ValueError("pos must have shape (..., d), got a scalar tensor")
    if pos.numel() == 0:
        return
    largest = pos.detach().abs().amax().item()  # NaN if any coordinate is NaN
    if not largest <= 1 + POSITION_TOLERANCE:
        what = "non-finite coordinates (NaN or inf)" if not math.isfinite(largest) else f"|x| up to {largest:.4g}"
        d = pos.shape[-1]
        cube = "[-1, 1]" if d == 1 else f"[-1, 1]^{d}"
        raise ValueError(f"positions must lie in {cube} (the Fourier features' sampling assumes it), got {what} "
                         f"in a tensor of shape {tuple(pos.shape)}: rescale them, e.g. torch.linspace(-1, 1, T) for T "
                         f"evenly spaced samples, position_grid(shape) for a grid")


def fourier_features(pos: torch.Tensor, num_bands: int, max_freq: float, *, check_range: bool = True) -> torch.Tensor:
    """Fourier features of positions.

    Args:
        pos: ``(..., d)`` positions, each coordinate in [-1, 1].
        num_bands: K, the number of frequency bands per dimension.
        max_freq: mu; the bands run linearly from 1 to ``max_freq / 2``.
        check_range: refuse positions outside [-1, 1] or non-finite (``ValueError``); ``False``
            computes the formula for any positions (the exercise checkers use it to reproduce a
            learner's mistake).

    Returns:
        ``(..., d * (2K + 1))``: for each dimension d its K sines, then its K cosines;
        after all dimensions, the d raw coordinates.
    """
    if check_range:
        check_positions(pos)
    elif pos.dim() < 1:
        raise ValueError("pos must have shape (..., d), got a scalar tensor")
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


def grid_fourier_features(shape: Sequence[int], num_bands: int, max_freq: float, *, device=None,
                          dtype=torch.float32) -> torch.Tensor:
    """Fourier features of every point of a :func:`position_grid`, flattened row-major.

    ``shape=(H, W)`` gives ``(H*W, 2(2K+1))``, row ``r * W + c`` the features of pixel (r, c);
    ``shape=(T,)`` gives ``(T, 2K+1)``.  These are the positions of a grid's byte array.
    """
    grid = position_grid(shape, device=device, dtype=dtype)  # (*shape, d)
    return fourier_features(grid, num_bands, max_freq).flatten(0, -2)  # (M, d(2K+1))


class LearnedPositions(torch.nn.Module):
    """The alternative to Fourier features: one learned vector per input position.

    An ``nn.Parameter`` of shape ``(M, P)`` initialised from a truncated normal (std 0.02, cut at
    two standard deviations, like the latent array).  ``forward(x)`` takes a batch whose first two
    axes are ``(B, M)`` (the byte array ``(B, M, C)``) and returns the positions ``(B, M, P)``,
    ready to be concatenated to it.  Unlike Fourier features they are tied to one input size M and
    know nothing of the grid: neighbouring pixels only become similar by training.
    """

    def __init__(self, num_positions: int, dim: int, init_std: float = 0.02):
        super().__init__()
        if int(num_positions) < 1 or int(dim) < 1:
            raise ValueError(f"num_positions and dim must be >= 1, got num_positions={num_positions}, dim={dim}")
        self.num_positions, self.dim = int(num_positions), int(dim)
        self.positions = torch.nn.Parameter(torch.empty(self.num_positions, self.dim))  # (M, P)
        torch.nn.init.trunc_normal_(self.positions, std=init_std, a=-2 * init_std, b=2 * init_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Positions ``(B, M, P)`` for a batch ``x`` of shape ``(B, M, ...)``."""
        if not isinstance(x, torch.Tensor) or x.dim() < 2:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"expected a batch of shape (B, M, ...) with M={self.num_positions}, got {shape}")
        if x.shape[1] != self.num_positions:
            raise ValueError(f"LearnedPositions was built for M={self.num_positions} positions but the batch has "
                             f"M={x.shape[1]} elements (shape {tuple(x.shape)}); learned positions do not "
                             f"transfer to another input size, Fourier features do")
        return self.positions.expand(x.shape[0], -1, -1)  # (B, M, P), no copy

    def extra_repr(self) -> str:
        return f"num_positions={self.num_positions}, dim={self.dim}"
