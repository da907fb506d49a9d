"""Multimodal fusion: one Perceiver reading audio and images at once (chapter 10).

The Perceiver needs no fusion architecture: give it one byte array that holds the elements of
every modality and it cross-attends to all of them.  Two things must be settled (paper section
4.2, AudioSet, audio + video):

* **A common channel count.**  Each modality's byte array ``(B, M_i, C_i)`` has its own C_i (its
  own value channels and Fourier bands).  They are padded with zeros to one width C.
* **Which modality an element comes from.**  A learned per-modality embedding of E channels is
  appended to every element of that modality, so the model can tell a spectrogram cell at
  (0.1, 0.3) from a pixel at (0.1, 0.3).  (The paper pads each modality *with* its learned
  modality-specific encoding up to the common width; here the zero padding and the embedding
  are separate channels, which keeps the two ideas visible.  Both give every element of a
  modality the same learned code.)

:func:`fuse_byte_arrays` does exactly that: ``[(B, M_1, C_1), (B, M_2, C_2)]`` ->
``(B, M_1 + M_2, C + E)``, the modalities one after the other along the element axis.

The data set, AV-MNIST, is read by :mod:`perceiver_edu.data.av_mnist`.

**Modality dropout** (the idea behind the paper's video dropout; Neverova et al. 2015 for
"ModDrop"): while training, a random modality is removed from the byte array now and then, so
the model cannot lean on one modality alone and still works when one is missing at test time.
Here the whole batch drops the same modality and its rows are simply left out of the byte array
(the Perceiver accepts any M), which needs no attention mask.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from contextlib import contextmanager
from typing import Sequence

import torch
from torch import nn

from ..model.perceiver import Perceiver, PerceiverConfig
from ..model.position import grid_fourier_features, num_fourier_channels
from .byte_array import byte_array


# --------------------------------------------------------------------------------- fusing arrays
def fuse_byte_arrays(byte_arrays: Sequence[torch.Tensor], modality_embeddings: torch.Tensor,
                     width: int | None = None) -> torch.Tensor:
    """Concatenate the byte arrays of several modalities into one.

    Args:
        byte_arrays: one ``(B, M_i, C_i)`` tensor per modality (same B, any M_i and C_i).
        modality_embeddings: ``(num_modalities, E)``, row i the learned code of modality i.
        width: the common channel count C before the embedding (default ``max(C_i)``).

    Returns:
        ``(B, sum M_i, C + E)``: modality i's elements, zero-padded from C_i to C channels, each
        followed by embedding i; modality 0's elements first, then modality 1's, ...
    """
    if not isinstance(byte_arrays, (list, tuple)) or not byte_arrays:
        raise ValueError("byte_arrays must be a non-empty list of (B, M_i, C_i) tensors, one per modality")
    for i, x in enumerate(byte_arrays):
        if not isinstance(x, torch.Tensor) or x.dim() != 3:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"byte array {i} must have shape (B, M_i, C_i), got {shape}")
    b = byte_arrays[0].shape[0]
    if any(x.shape[0] != b for x in byte_arrays):
        raise ValueError(f"all byte arrays need the same batch size, got {[tuple(x.shape) for x in byte_arrays]}")
    if not isinstance(modality_embeddings, torch.Tensor) or modality_embeddings.dim() != 2 \
            or modality_embeddings.shape[0] != len(byte_arrays):
        shape = tuple(modality_embeddings.shape) if isinstance(modality_embeddings, torch.Tensor) else None
        raise ValueError(f"modality_embeddings must have shape (num_modalities, E) = ({len(byte_arrays)}, E), "
                         f"got {shape}")
    widest = max(x.shape[-1] for x in byte_arrays)
    width = widest if width is None else int(width)
    if width < widest:
        raise ValueError(f"width={width} is smaller than the widest byte array ({widest} channels)")
    parts = []
    for x, embedding in zip(byte_arrays, modality_embeddings):
        padded = nn.functional.pad(x, (0, width - x.shape[-1]))  # (B, M_i, C): zeros after the channels
        code = embedding.to(x.dtype).expand(b, x.shape[1], -1)  # (B, M_i, E), no copy
        parts.append(torch.cat([padded, code], dim=-1))  # (B, M_i, C + E)
    return torch.cat(parts, dim=1)  # (B, sum M_i, C + E)


def modality_slices(lengths: Sequence[int]) -> list[slice]:
    """Where each modality sits along the element axis of a fused array: ``[slice(0, M_1), ...]``."""
    out, start = [], 0
    for m in lengths:
        out.append(slice(start, start + int(m)))
        start += int(m)
    return out


# ----------------------------------------------------------------------------------- modalities
@dataclass
class Modality:
    """One modality given as a grid of values: ``shape`` e.g. ``(40, 63)`` mel bands x frames, or
    ``(28, 28)`` pixels.  Its byte array has one element per grid cell: the value, then the
    Fourier features (``num_bands``, ``max_freq``) of the cell's position on a ``linspace(-1, 1)``
    grid: ``1 + d(2K+1)`` channels (for d = 2 the same as ``image_to_bytes`` of a one-channel
    image and ``spectrogram_to_bytes``)."""
    name: str
    shape: tuple
    num_bands: int
    max_freq: float

    def __post_init__(self):
        self.shape = tuple(int(s) for s in self.shape)

    @property
    def num_elements(self) -> int:
        return math.prod(self.shape)

    @property
    def byte_channels(self) -> int:
        return 1 + num_fourier_channels(len(self.shape), self.num_bands)


def pack(*values: torch.Tensor) -> torch.Tensor:
    """Flatten each modality's values ``(N, *shape_i)`` and put them side by side: ``(N, sum prod(shape_i))``.
    One tensor per example is what :func:`perceiver_edu.training.fit.fit` batches; :meth:`MultimodalPerceiver.unpack`
    splits it again."""
    n = len(values[0])
    if any(len(v) != n for v in values):
        raise ValueError(f"every modality needs the same number of examples, got {[len(v) for v in values]}")
    return torch.cat([v.reshape(n, -1).float() for v in values], dim=1)


class MultimodalPerceiver(nn.Module):
    """A Perceiver over several modalities: packed values ``(B, sum M_i)`` -> logits.

    Each modality becomes a byte array (value + its own Fourier features), the arrays are fused by
    :func:`fuse_byte_arrays` with learned ``modality_embeddings (num_modalities, embed_dim)``, and
    one :class:`~perceiver_edu.model.perceiver.Perceiver` reads the result.  ``config.input_channels``
    must be ``max(byte_channels) + embed_dim`` (:meth:`input_channels` computes it).

    Which modalities the model sees:

    * ``present``: the names it reads (default all); :meth:`only` sets it for a ``with`` block,
      e.g. to test with the audio missing.  Missing modalities are left out of the byte array.
    * ``modality_dropout`` = p: in training mode, with probability p per batch, one modality
      chosen uniformly is left out for the whole batch (never all of them).
    """

    def __init__(self, config: PerceiverConfig, modalities: Sequence[Modality], embed_dim: int = 8,
                 modality_dropout: float = 0.0, init_std: float = 0.02):
        super().__init__()
        self.modalities = [m if isinstance(m, Modality) else Modality(**m) for m in modalities]
        names = [m.name for m in self.modalities]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"need at least one modality and distinct names, got {names}")
        if not 0 <= modality_dropout <= 1:
            raise ValueError(f"modality_dropout must be a probability in [0, 1], got {modality_dropout}")
        self.embed_dim, self.modality_dropout = int(embed_dim), float(modality_dropout)
        self.width = max(m.byte_channels for m in self.modalities)
        expected = self.input_channels(self.modalities, self.embed_dim)
        if config.input_channels != expected:
            raise ValueError(f"PerceiverConfig.input_channels={config.input_channels}, but the fused byte array has "
                             f"max(byte_channels) + embed_dim = {self.width} + {self.embed_dim} = {expected} channels")
        self.perceiver = Perceiver(config)
        self.modality_embeddings = nn.Parameter(torch.empty(len(self.modalities), self.embed_dim))  # (n, E)
        nn.init.trunc_normal_(self.modality_embeddings, std=init_std, a=-2 * init_std, b=2 * init_std)
        for i, m in enumerate(self.modalities):
            positions = grid_fourier_features(m.shape, m.num_bands, m.max_freq)  # (M_i, d(2K+1))
            self.register_buffer(f"positions_{i}", positions, persistent=False)
        self.present = tuple(names)
        self.generator = torch.Generator().manual_seed(0)  # draws of modality dropout; reseed to replay

    @staticmethod
    def input_channels(modalities: Sequence[Modality], embed_dim: int) -> int:
        """Channels of the fused byte array: the widest modality plus the embedding."""
        return max(m.byte_channels for m in modalities) + int(embed_dim)

    @property
    def config(self) -> PerceiverConfig:
        return self.perceiver.config

    @property
    def names(self) -> tuple:
        return tuple(m.name for m in self.modalities)

    @contextmanager
    def only(self, *names: str):
        """``with model.only("image"): ...`` -- the model reads just these modalities inside the block."""
        unknown = [n for n in names if n not in self.names]
        if unknown or not names:
            raise ValueError(f"unknown or no modality names {list(names)}; the model has {list(self.names)}")
        saved, self.present = self.present, tuple(names)
        try:
            yield self
        finally:
            self.present = saved

    def unpack(self, packed: torch.Tensor) -> list[torch.Tensor]:
        """Packed values ``(B, sum M_i)`` -> one ``(B, M_i)`` tensor per modality."""
        total = sum(m.num_elements for m in self.modalities)
        if not isinstance(packed, torch.Tensor) or packed.dim() != 2 or packed.shape[1] != total:
            shape = tuple(packed.shape) if isinstance(packed, torch.Tensor) else type(packed).__name__
            raise ValueError(f"expected packed values (B, {total}) = (B, "
                             f"{' + '.join(str(m.num_elements) for m in self.modalities)}) from pack(), got {shape}")
        return list(packed.split([m.num_elements for m in self.modalities], dim=1))

    def byte_arrays(self, packed: torch.Tensor) -> list[torch.Tensor]:
        """One byte array ``(B, M_i, 1 + d_i(2K_i+1))`` per modality."""
        out = []
        for i, values in enumerate(self.unpack(packed)):  # (B, M_i)
            positions = getattr(self, f"positions_{i}")  # (M_i, P_i)
            out.append(byte_array(values.to(positions.dtype).unsqueeze(-1), positions))
        return out

    def kept_modalities(self) -> list[int]:
        """Indices of the modalities this forward pass reads (``present``, minus a dropped one in training)."""
        keep = [i for i, m in enumerate(self.modalities) if m.name in self.present]
        if self.training and self.modality_dropout > 0 and len(keep) > 1:
            if torch.rand((), generator=self.generator).item() < self.modality_dropout:
                drop = keep[int(torch.randint(len(keep), (), generator=self.generator))]
                keep = [i for i in keep if i != drop]
        return keep

    def fuse(self, packed: torch.Tensor, keep: Sequence[int] | None = None) -> torch.Tensor:
        """The fused byte array ``(B, sum of the kept M_i, C + E)`` (all modalities by default)."""
        arrays = self.byte_arrays(packed)
        keep = range(len(arrays)) if keep is None else keep
        width = self.width  # fixed, so that the channels mean the same whatever is kept
        return fuse_byte_arrays([arrays[i] for i in keep], self.modality_embeddings[list(keep)], width)

    def forward(self, packed: torch.Tensor, *, return_attention: bool = False):
        return self.perceiver(self.fuse(packed, self.kept_modalities()), return_attention=return_attention)

    def extra_repr(self) -> str:
        parts = [f"{m.name}: {m.shape} -> {m.num_elements} x {m.byte_channels}" for m in self.modalities]
        return f"modalities=[{'; '.join(parts)}], embed_dim={self.embed_dim}, modality_dropout={self.modality_dropout}"


__all__ = ["Modality", "MultimodalPerceiver", "fuse_byte_arrays", "modality_slices", "pack"]
