"""Point sets as byte arrays (chapter 9).

A point set ``(B, P, 3)`` in [-1, 1]^3 is P elements, each described by the 3-D Fourier features
of its own coordinates.  Unlike a grid's positions, these differ from one example to the next, so
they are computed per example, ``(B, P, 3(2K+1))``.  ``max_freq`` (mu) is the resolution the
features should resolve (e.g. 30 for points from a 30^3 grid).
"""
from __future__ import annotations

import torch

from ..model.position import fourier_features, num_fourier_channels
from .byte_array import byte_array, check_float_tensor


def point_byte_channels(num_bands: int, *, constant: bool = False) -> int:
    """Channels of :func:`points_to_bytes`: ``3(2K + 1)``, plus one with ``constant=True``."""
    return num_fourier_channels(3, num_bands) + int(constant)


def points_to_bytes(points: torch.Tensor, num_bands: int, max_freq: float, *,
                    constant: bool = False) -> torch.Tensor:
    """Point sets ``(B, P, 3)`` in [-1, 1] -> byte array ``(B, P, 3(2K+1))``.

    A point *is* its position, so its byte holds only the 3-D Fourier features of its
    coordinates (which end with the raw x, y, z).  ``constant=True`` puts a channel of ones first:
    the "value" of every point, as if each pixel of an image had brightness 1, for symmetry with
    the other adapters.  It is not free: the cross-attention's input LayerNorm normalises over all
    channels, so a constant channel changes every normalised byte.  The order of the points does not
    matter to the Perceiver.
    """
    check_float_tensor(points, 3, "(B, P, 3)", "points")
    if points.shape[-1] != 3:
        raise ValueError(f"expected points of shape (B, P, 3), got {tuple(points.shape)}")
    positions = fourier_features(points, num_bands, max_freq)  # (B, P, 3(2K+1)); refuses points outside [-1, 1]^3
    if not constant:
        return positions
    return byte_array(torch.ones_like(points[..., :1]), positions)  # (B, P, 1 + 3(2K+1))


__all__ = ["point_byte_channels", "points_to_bytes"]
