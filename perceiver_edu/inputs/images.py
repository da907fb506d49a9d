"""Turning data into byte arrays: images (B, C, H, W) -> (B, H*W, C + position features).

The Perceiver itself knows nothing about images; an adapter flattens the pixels into an array of
M = H*W elements and concatenates (not adds) each pixel's Fourier position features.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..model.perceiver import Perceiver, PerceiverConfig
from ..model.position import fourier_features, num_fourier_channels, position_grid


def image_to_bytes(images: torch.Tensor, num_bands: int, max_freq: float) -> torch.Tensor:
    """Images ``(B, C, H, W)`` -> byte array ``(B, H*W, C + 2*(2K+1))``.

    Each row is one pixel: its C channel values followed by the Fourier features of its
    (row, column) position on a ``linspace(-1, 1)`` grid.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"expected images of shape (B, C, H, W), got {shape}")
    b, c, h, w = images.shape
    pos = fourier_features(position_grid((h, w), device=images.device, dtype=images.dtype),
                           num_bands, max_freq)  # (H, W, 2*(2K+1))
    pixels = images.permute(0, 2, 3, 1).reshape(b, h * w, c)  # (B, M, C)
    return torch.cat([pixels, pos.reshape(1, h * w, -1).expand(b, -1, -1)], dim=-1)


@dataclass
class ImagePreprocess:
    """Everything needed to turn raw images into the model's byte array; saved with checkpoints."""
    image_shape: tuple = (1, 28, 28)  # (C, H, W)
    num_bands: int = 8
    max_freq: float = 28.0
    mean: float = 0.0
    std: float = 1.0

    @property
    def byte_channels(self) -> int:
        return self.image_shape[0] + num_fourier_channels(2, self.num_bands)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["image_shape"] = list(self.image_shape)
        return d


class ImagePerceiver(nn.Module):
    """Images ``(B, C, H, W)`` in [0, 1] -> logits: normalise, add positions, run a Perceiver.

    The position features are computed once and kept as a buffer (not saved: they are a function
    of the config).
    """

    def __init__(self, config: PerceiverConfig, preprocess: ImagePreprocess | dict | None = None):
        super().__init__()
        if preprocess is None:
            preprocess = ImagePreprocess()
        elif isinstance(preprocess, dict):
            preprocess = ImagePreprocess(**preprocess)
        preprocess.image_shape = tuple(preprocess.image_shape)
        if config.input_channels != preprocess.byte_channels:
            raise ValueError(f"PerceiverConfig.input_channels={config.input_channels} does not match the "
                             f"image preprocessing, which produces {preprocess.byte_channels} channels")
        self.preprocess = preprocess
        self.perceiver = Perceiver(config)
        _, h, w = preprocess.image_shape
        pos = fourier_features(position_grid((h, w)), preprocess.num_bands, preprocess.max_freq)
        self.register_buffer("positions", pos.reshape(1, h * w, -1), persistent=False)  # (1, M, P)

    @property
    def config(self) -> PerceiverConfig:
        return self.perceiver.config

    def to_bytes(self, images: torch.Tensor) -> torch.Tensor:
        expected = tuple(self.preprocess.image_shape)
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or tuple(images.shape[1:]) != expected:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"expected images of shape (B, {', '.join(map(str, expected))}), got {shape}")
        b, c, h, w = images.shape
        pixels = (images.to(self.positions.dtype) - self.preprocess.mean) / self.preprocess.std
        pixels = pixels.permute(0, 2, 3, 1).reshape(b, h * w, c)  # (B, M, C)
        return torch.cat([pixels, self.positions.expand(b, -1, -1)], dim=-1)

    def forward(self, images: torch.Tensor, return_attention: bool = False):
        return self.perceiver(self.to_bytes(images), return_attention=return_attention)
