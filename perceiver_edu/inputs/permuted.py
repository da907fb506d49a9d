"""Permuted pixels: what a model knows about the grid (paper section 4.1, Table 2; chapter 7).

Scramble the pixels of every image with one fixed random permutation.  A CNN's prior (neighbouring
pixels belong together) is now wrong.  A Perceiver has no such prior: it reads a *set* of pixels,
each carrying its own position, so

* with **Fourier features** computed from each pixel's original (row, column) and moved along with
  it (:func:`permute_positions`), the permuted byte array is the original one with its rows
  reordered, and attention does not care about the order: the same logits, by construction;
* with **learned positions** (:class:`LearnedPositionImagePerceiver`), one vector per input index
  learned from scratch, the permutation only relabels which vector goes with which pixel: nothing
  to lose either (but also no grid structure given for free).
"""
from __future__ import annotations

import torch
from torch import nn

from ..model.perceiver import Perceiver, PerceiverConfig
from ..model.position import LearnedPositions
from .byte_array import byte_array
from .images import ImagePerceiver, check_images, flatten_pixels


def random_permutation(num_pixels: int, seed: int = 0) -> torch.Tensor:
    """A fixed random permutation of ``range(num_pixels)`` (int64), reproducible from ``seed``."""
    if int(num_pixels) < 1:
        raise ValueError(f"num_pixels must be >= 1, got {num_pixels}")
    return torch.randperm(int(num_pixels), generator=torch.Generator().manual_seed(seed))


def _check_perm(perm, m: int) -> torch.Tensor:
    if not isinstance(perm, torch.Tensor) or perm.dim() != 1 or perm.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"perm must be a 1-D integer tensor, got "
                         f"{tuple(perm.shape) if isinstance(perm, torch.Tensor) else type(perm).__name__}")
    if len(perm) != m or not torch.equal(perm.sort().values.cpu(), torch.arange(m)):
        raise ValueError(f"perm must be a permutation of range({m}) (one index per pixel), got {len(perm)} "
                         f"indices{'' if len(perm) != m else ' with repeats or out-of-range values'}")
    return perm.long()


def permute_pixels(images: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """Scramble the pixels of images ``(B, C, H, W)`` with ``perm`` ``(H*W,)``.

    Pixel ``m`` (row-major: row ``m // W``, column ``m % W``) of the output is pixel ``perm[m]``
    of the input, in every channel; the result has the input's shape.
    """
    check_images(images)
    b, c, h, w = images.shape
    perm = _check_perm(perm, h * w).to(images.device)
    return images.reshape(b, c, h * w)[:, :, perm].reshape(b, c, h, w)


def permute_positions(model: ImagePerceiver, perm: torch.Tensor) -> ImagePerceiver:
    """Make ``model``'s Fourier position features follow ``perm`` (in place; returns ``model``).

    After this, element ``m`` of the byte array carries the position of original pixel
    ``perm[m]``: exactly the pixel that :func:`permute_pixels` puts there.  So
    ``permute_positions(model, perm)(permute_pixels(x, perm)) == model(x)`` up to rounding.
    """
    if not isinstance(model, ImagePerceiver):
        raise TypeError(f"permute_positions expects an ImagePerceiver (Fourier features), got {type(model).__name__}")
    perm = _check_perm(perm, model.positions.shape[1]).to(model.positions.device)
    model.positions = model.positions[:, perm]  # (1, M, P), rows reordered
    return model


class LearnedPositionImagePerceiver(nn.Module):
    """Images ``(B, C, H, W)`` -> logits, with a learned position vector per pixel index.

    The byte array is the normalised pixel values concatenated with :class:`LearnedPositions`
    ``(M, position_dim)``; ``config.input_channels`` must be ``C + position_dim``.
    """

    def __init__(self, config: PerceiverConfig, image_shape=(1, 28, 28), position_dim: int = 34,
                 mean: float = 0.0, std: float = 1.0):
        super().__init__()
        c, h, w = (int(s) for s in image_shape)
        if config.input_channels != c + position_dim:
            raise ValueError(f"PerceiverConfig.input_channels={config.input_channels} must be C + position_dim = "
                             f"{c} + {position_dim} = {c + position_dim}")
        self.image_shape, self.mean, self.std = (c, h, w), float(mean), float(std)
        self.positions = LearnedPositions(h * w, position_dim)  # (M, P) parameters
        self.perceiver = Perceiver(config)

    @property
    def config(self) -> PerceiverConfig:
        return self.perceiver.config

    def to_bytes(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> byte array ``(B, H*W, C + P)``: normalised pixels, then the learned positions."""
        check_images(images, self.image_shape)
        pixels = flatten_pixels((images - self.mean) / self.std)  # (B, M, C)
        return byte_array(pixels, self.positions(pixels))  # (B, M, C + P)

    def forward(self, images: torch.Tensor, *, return_attention: bool = False):
        return self.perceiver(self.to_bytes(images), return_attention=return_attention)


__all__ = ["LearnedPositionImagePerceiver", "permute_pixels", "permute_positions", "random_permutation"]
