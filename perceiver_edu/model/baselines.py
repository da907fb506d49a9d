"""Baselines for the modality chapters: a small CNN and an MLP (chapter 7).

Both read images ``(B, C, H, W)``.  They differ in what they assume about the input:

* :class:`SmallCNN` assumes *locality*: 3x3 convolutions combine neighbouring pixels, max-pooling
  halves the grid, and a global average pool forgets where a feature was (as in ResNet-50, the
  paper's baseline).  Scramble the pixels and its prior is wrong.
* :class:`MLP` assumes nothing: every pixel has its own weights in the first layer, so a fixed
  permutation of the pixels is just a relabelling of those weights; it loses nothing, but it
  also gets no help from the grid.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .params import count_parameters  # chapter 7 imports it from here


def _check_images(x, channels: int, who: str) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != channels:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{who} expects images of shape (B, {channels}, H, W), got {shape}")


class SmallCNN(nn.Module):
    """``len(widths)`` stages of [3x3 conv -> BatchNorm -> ReLU -> 2x2 max-pool], then a global
    average pool and a linear classifier: images ``(B, C, H, W)`` -> logits ``(B, classes)``."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, widths: Sequence[int] = (16, 32, 32)):
        super().__init__()
        if not widths or any(int(w) < 1 for w in widths) or in_channels < 1 or num_classes < 1:
            raise ValueError(f"need in_channels, num_classes >= 1 and a non-empty list of positive widths, got "
                             f"in_channels={in_channels}, num_classes={num_classes}, widths={tuple(widths)}")
        self.in_channels = in_channels
        layers, c = [], in_channels
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2)]
            c = w
        self.features = nn.Sequential(*layers)  # (B, C, H, W) -> (B, widths[-1], H / 2^s, W / 2^s)
        self.head = nn.Linear(c, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _check_images(images, self.in_channels, "SmallCNN")
        stages = len(self.features) // 4
        if min(images.shape[-2:]) < 2 ** stages:
            raise ValueError(f"images of size {tuple(images.shape[-2:])} are too small for {stages} 2x2 pooling "
                             f"stages: need at least {2 ** stages} x {2 ** stages} pixels")
        return self.head(self.features(images).mean(dim=(-2, -1)))  # global average pool -> (B, classes)


class MLP(nn.Module):
    """Flatten, then ``hidden`` fully connected ReLU layers, then a linear classifier:
    inputs ``(B, ...)`` with ``in_features`` values each -> logits ``(B, classes)``."""

    def __init__(self, in_features: int = 784, num_classes: int = 10, hidden: Sequence[int] = (256, 128)):
        super().__init__()
        if in_features < 1 or num_classes < 1 or any(int(h) < 1 for h in hidden):
            raise ValueError(f"need in_features, num_classes and hidden sizes >= 1, got in_features={in_features}, "
                             f"num_classes={num_classes}, hidden={tuple(hidden)}")
        self.in_features = in_features
        layers, f = [], in_features
        for h in hidden:
            layers += [nn.Linear(f, h), nn.ReLU()]
            f = h
        self.layers = nn.Sequential(*layers, nn.Linear(f, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(len(x), -1) if isinstance(x, torch.Tensor) and x.dim() >= 1 else x  # (B, F)
        if not isinstance(flat, torch.Tensor) or flat.shape[-1] != self.in_features:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"MLP expects inputs (B, ...) with {self.in_features} values each, got shape {shape}")
        return self.layers(flat)


__all__ = ["MLP", "SmallCNN", "count_parameters"]
