"""The full Perceiver: a latent array that iteratively cross-attends to the input (chapter 4, Fig. 1).

    latents (N, D) --cross-attend--> latent transformer --cross-attend--> latent transformer ...
                        ^ inputs (M, C)                      ^ inputs (M, C)

``num_cross_attends`` repeats of [cross-attend -> ``self_attends_per_block`` self-attention
layers].  With ``share_weights=True`` (the paper's choice) every repeat after the first reuses
one cross-attend block, and every repeat reuses one latent transformer, so the model is an RNN
unrolled in depth whose parameter count stops growing after the second cross-attend.
The logits are a linear layer on the mean over latents; this head normalises the mean first
(a LayerNorm before the linear layer, which the paper's §3 does not mention).
``PerceiverConfig.cross_attention`` picks how the cross-attends are computed: the reference blocks
of :mod:`~perceiver_edu.model.blocks`, or the faster paths of :mod:`~perceiver_edu.model.fast`
(the default; same parameters, same results).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .blocks import CrossAttention, LatentTransformer
from .checks import autocast_enabled, check_finite
from .fast import CROSS_ATTENTION_PATHS, FastCrossAttention, reuse_input_work


@dataclass
class PerceiverConfig:
    input_channels: int  # C: channels of each byte-array element, position features included
    num_classes: int
    num_latents: int = 64  # N
    latent_dim: int = 128  # D
    num_cross_attends: int = 4
    self_attends_per_block: int = 2
    share_weights: bool = True
    cross_heads: int = 1
    self_heads: int = 8
    widening: int = 4  # MLP hidden size = widening * D
    cross_attention: str = "auto"  # "reference" (blocks.py), "folded" or "auto" (fast.py): same results
    cross_attend_chunk_size: int | None = None  # attend to the inputs this many at a time (huge M; fast.py)

    # Fields that choose how the model computes, not what: checkpoints load across them.
    COMPUTATION_ONLY = ("cross_attention", "cross_attend_chunk_size")

    def __post_init__(self):
        for name in ("input_channels", "num_classes", "num_latents", "latent_dim", "num_cross_attends",
                     "cross_heads", "self_heads", "widening"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"PerceiverConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.self_attends_per_block < 0:
            raise ValueError(f"self_attends_per_block must be >= 0, got {self.self_attends_per_block}")
        if self.latent_dim % self.self_heads:
            raise ValueError(f"latent_dim={self.latent_dim} must be divisible by self_heads={self.self_heads}")
        if self.latent_dim % self.cross_heads:
            raise ValueError(f"latent_dim={self.latent_dim} must be divisible by cross_heads={self.cross_heads}")
        if self.cross_attend_chunk_size is not None and self.cross_attend_chunk_size < 1:
            raise ValueError(f"cross_attend_chunk_size must be None or >= 1, got {self.cross_attend_chunk_size}")
        if self.cross_attention not in CROSS_ATTENTION_PATHS:
            raise ValueError(f"cross_attention must be one of {CROSS_ATTENTION_PATHS}, got {self.cross_attention!r}")
        if self.cross_attention == "reference" and self.cross_attend_chunk_size is not None:
            raise ValueError("cross_attend_chunk_size needs a fast path: cross_attention='auto' or 'folded', "
                             "not 'reference'")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "PerceiverConfig":
        """The config saved by :meth:`to_dict`; also reads older files that had ``fold_kv``
        (None, True, False: ``cross_attention`` "auto", "folded", "reference")."""
        d = dict(d)
        if "fold_kv" in d:
            d.setdefault("cross_attention", {None: "auto", True: "folded", False: "reference"}[d.pop("fold_kv")])
        return cls(**d)


class Perceiver(nn.Module):
    """Perceiver classifier: byte array ``(B, M, C)`` -> logits ``(B, num_classes)``."""

    def __init__(self, config: PerceiverConfig):
        super().__init__()
        self.config = c = config
        self.latents = nn.Parameter(torch.empty(c.num_latents, c.latent_dim))  # (N, D)
        nn.init.trunc_normal_(self.latents, std=0.02, a=-0.04, b=0.04)

        def cross():  # the reference block, or a faster computation of it (same parameters: model/fast.py)
            if c.cross_attention == "reference":
                return CrossAttention(c.latent_dim, c.input_channels, c.cross_heads, c.widening)
            return FastCrossAttention(c.latent_dim, c.input_channels, c.cross_heads, c.widening,
                                      fold=True if c.cross_attention == "folded" else None,
                                      chunk_size=c.cross_attend_chunk_size)

        def latent_transformer():
            return LatentTransformer(c.latent_dim, c.self_attends_per_block, c.self_heads, c.widening)

        # Shared: [first cross-attend, the one used by every later repeat]; one latent transformer.
        n_cross = min(c.num_cross_attends, 2) if c.share_weights else c.num_cross_attends
        n_latent = 1 if c.share_weights else c.num_cross_attends
        self.cross_attends = nn.ModuleList([cross() for _ in range(n_cross)])
        self.latent_transformers = nn.ModuleList([latent_transformer() for _ in range(n_latent)])
        self.head = nn.Sequential(nn.LayerNorm(c.latent_dim), nn.Linear(c.latent_dim, c.num_classes))

    def block(self, i: int) -> tuple[nn.Module, LatentTransformer]:
        """The (cross-attend, latent transformer) pair used by repeat ``i`` (0-based)."""
        return (self.cross_attends[min(i, len(self.cross_attends) - 1)],
                self.latent_transformers[min(i, len(self.latent_transformers) - 1)])

    def check_inputs(self, x: torch.Tensor, input_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` in the parameters' dtype, after raising ``ValueError`` (``TypeError`` for a non-tensor)
        unless ``x`` is a byte array ``(B, M, input_channels)`` of finite floats and ``input_mask``, if
        given, a boolean ``(B, M)`` that keeps at least one input of each example.  Another float dtype
        (float64 from numpy, say) is converted: its meaning is the same; under autocast it is left
        alone.  Integer byte arrays are refused, not converted: a byte array holds Fourier features
        in [-1, 1], which integers cannot, so integers mean a missing step (image_to_bytes)."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"expected a torch.Tensor byte array (B, M, C), got {type(x).__name__}")
        if not x.is_floating_point():
            raise ValueError(f"expected a float byte array (B, M, C) (values + position features), got {x.dtype} "
                             f"of shape {tuple(x.shape)}; build it with image_to_bytes() or byte_array()")
        if x.dim() != 3:
            raise ValueError(f"expected a byte array of shape (B, M, C) with 3 dimensions, got shape "
                             f"{tuple(x.shape)}; use image_to_bytes() for images (B, C, H, W)")
        if x.shape[-1] != self.config.input_channels:
            raise ValueError(f"byte array has {x.shape[-1]} channels but the model expects "
                             f"input_channels={self.config.input_channels} (shape {tuple(x.shape)})")
        if x.shape[1] == 0:
            raise ValueError("byte array has M=0 elements; the model needs at least one input")
        check_finite(x, "the byte array")
        if x.dtype != self.latents.dtype and not autocast_enabled(x.device.type):
            x = x.to(self.latents.dtype)  # e.g. float64 -> float32
        if input_mask is None:
            return x
        if not isinstance(input_mask, torch.Tensor) or input_mask.dtype != torch.bool \
                or input_mask.shape != x.shape[:2]:
            got = (f"{input_mask.dtype} {tuple(input_mask.shape)}" if isinstance(input_mask, torch.Tensor)
                   else type(input_mask).__name__)
            raise ValueError(f"input_mask must be a bool tensor of shape (B, M) = {tuple(x.shape[:2])}, True on "
                             f"real inputs and False on padding; got {got}")
        empty = (~input_mask.any(dim=1)).nonzero().flatten().tolist()
        if empty:
            raise ValueError(f"input_mask masks out every input of example(s) {empty[:10]}: each example needs at "
                             f"least one real (True) input")
        return x

    def encode(self, x: torch.Tensor, *, return_attention: bool = False, input_mask: torch.Tensor | None = None):
        """The final latent array ``(B, N, D)`` (and the per-cross-attend score maps if asked).

        ``input_mask (B, M)``, optional boolean: ``False`` marks padding, so that examples with
        different numbers of inputs can share a batch; padded inputs are never attended to, and
        the result for each example is that of its real inputs alone (tested)."""
        x = self.check_inputs(x, input_mask)  # (B, M, C) in the parameters' dtype
        latents = self.latents.expand(x.shape[0], -1, -1)  # (B, N, D), no copy
        maps = []
        with reuse_input_work(self.cross_attends):  # no-op for reference blocks; fast ones reuse work on x
            for i in range(self.config.num_cross_attends):
                cross_attend, latent_transformer = self.block(i)
                if return_attention:
                    latents, scores = cross_attend(latents, x, return_scores=True, input_mask=input_mask)
                    maps.append(scores.mean(dim=1))  # (B, N, M), averaged over heads; -inf on padding
                else:
                    latents = cross_attend(latents, x, input_mask=input_mask)
                latents = latent_transformer(latents)
        return (latents, maps) if return_attention else latents

    def forward(self, x: torch.Tensor, *, return_attention: bool = False, input_mask: torch.Tensor | None = None):
        """Logits ``(B, num_classes)``; with ``return_attention`` also a list of
        ``num_cross_attends`` pre-softmax score maps, each ``(B, N, M)``.  ``input_mask``: see
        :meth:`encode`."""
        out = self.encode(x, return_attention=return_attention, input_mask=input_mask)
        latents, maps = out if return_attention else (out, None)
        logits = self.head(latents.mean(dim=1))  # average over latents
        return (logits, maps) if return_attention else logits
