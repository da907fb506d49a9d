"""Turning data into byte arrays: images (B, C, H, W) -> (B, H*W, C + position features).

The Perceiver itself knows nothing about images; an adapter flattens the pixels into an array of
M = H*W elements and concatenates (not adds) each pixel's Fourier position features.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..model.checks import check_finite
from ..model.perceiver import Perceiver, PerceiverConfig
from ..model.position import grid_fourier_features, num_fourier_channels
from .byte_array import byte_array


def check_images(images, chw: tuple | None = None) -> None:
    """Raise ``ValueError`` naming the expected shape unless ``images`` is ``(B, C, H, W)``
    (with ``(C, H, W) == chw`` when ``chw`` is given)."""
    if isinstance(images, torch.Tensor) and images.dim() == 4 and (chw is None or tuple(images.shape[1:]) == chw):
        return
    expected = "(B, C, H, W)" if chw is None else f"(B, {', '.join(map(str, chw))})"
    shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
    hint = ""
    if not isinstance(images, torch.Tensor):
        hint = " (a torch.Tensor; torch.from_numpy() turns a NumPy array into one)"
    elif chw is not None and tuple(images.shape) == chw:
        hint = "; one image needs a batch axis: images.unsqueeze(0)"
    elif chw is not None and images.dim() == 3 and chw[0] == 1 and tuple(images.shape[1:]) == chw[1:]:
        hint = "; add the channel axis: images.unsqueeze(1)"
    raise ValueError(f"expected images of shape {expected}, got {shape}{hint}")


def checked_images(images, chw: tuple | None = None) -> torch.Tensor:
    """``images`` checked and as floats, ready for a byte array: shape ``(B, C, H, W)`` (see
    :func:`check_images`), uint8 pixels 0-255 divided by 255 into [0, 1] (the range the datasets and
    models use), every value finite.  Other integer or bool dtypes are refused: their scale is not
    known (0-255? 0-1? labels?).  One pass over the values (the finiteness test)."""
    check_images(images, chw)
    if images.dtype == torch.uint8:
        return images.float() / 255  # (B, C, H, W) in [0, 1]
    if not images.is_floating_point():
        raise ValueError(f"expected float images in [0, 1] (or uint8 0-255), got {images.dtype}: convert them "
                         f"with images.float() / 255 if they are 0-255, images.float() if they are 0-1")
    check_finite(images, "the images")
    return images


def flatten_pixels(images: torch.Tensor) -> torch.Tensor:
    """Images ``(B, C, H, W)`` -> pixels ``(B, H*W, C)``, row-major: pixel (r, c) is element ``r * W + c``."""
    b, c, h, w = images.shape
    return images.permute(0, 2, 3, 1).reshape(b, h * w, c)  # (B, M, C)


def image_to_bytes(images: torch.Tensor, num_bands: int, max_freq: float) -> torch.Tensor:
    """Images ``(B, C, H, W)`` -> byte array ``(B, H*W, C + 2*(2K+1))``.

    Float images are used as they are; uint8 images (0-255) become floats in [0, 1] first
    (:func:`checked_images`).

    Each row is one pixel: its C channel values followed by the Fourier features of its
    (row, column) position on a ``linspace(-1, 1)`` grid.
    """
    images = checked_images(images)
    positions = grid_fourier_features(images.shape[2:], num_bands, max_freq, device=images.device,
                                      dtype=images.dtype)  # (M, 2(2K+1))
    return byte_array(flatten_pixels(images), positions)


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
    """Images ``(B, C, H, W)`` in [0, 1] (or uint8 0-255) -> logits: normalise, add positions, run a Perceiver.

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
        positions = grid_fourier_features(preprocess.image_shape[1:], preprocess.num_bands, preprocess.max_freq)
        self.register_buffer("positions", positions.unsqueeze(0), persistent=False)  # (1, M, P)

    @property
    def config(self) -> PerceiverConfig:
        return self.perceiver.config

    def to_bytes(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> byte array ``(B, H*W, C + P)``: normalised pixels, then positions."""
        images = checked_images(images, tuple(self.preprocess.image_shape))
        pixels = (images.to(self.positions.dtype) - self.preprocess.mean) / self.preprocess.std
        return byte_array(flatten_pixels(pixels), self.positions)

    def forward(self, images: torch.Tensor, *, return_attention: bool = False):
        return self.perceiver(self.to_bytes(images), return_attention=return_attention)
