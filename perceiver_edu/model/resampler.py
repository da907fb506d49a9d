"""The Perceiver resampler of Flamingo (Alayrac et al., 2022) and IDEFICS2 (chapter 12).

A vision encoder gives a *variable* number T of feature tokens (B, T, D); a language model wants a
*fixed* number.  A small set of learned latents (64 in Flamingo) cross-attends to them and returns
(B, num_latents, D) whatever T is.  Differences from the original Perceiver:

* keys/values come from the concatenation [inputs; latents], so latents also see each other;
* no position features (Flamingo adds a learned per-frame time embedding to video features);
* shallow (a few layers) and no weight sharing; several heads; no latent self-attention block.
"""
from __future__ import annotations

import torch
from torch import nn

from .attention import MultiHeadAttention
from .blocks import FeedForward


def pad_tokens(sequences: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch feature-token sequences of different lengths: ``[(T_i, D), ...]`` ->
    ``(padded (B, T_max, D), mask (B, T_max))``.

    Each sequence is copied to the start of its row and followed by zeros; ``mask`` is a bool tensor,
    True on real tokens and False on padding, the ``input_mask`` that :class:`PerceiverResampler` takes.
    """
    if not sequences or any(not isinstance(s, torch.Tensor) or s.dim() != 2 for s in sequences):
        raise ValueError("expected a non-empty list of (T_i, D) tensors")
    dim = sequences[0].shape[1]
    if any(s.shape[1] != dim for s in sequences):
        raise ValueError(f"all sequences must have the same width D, got {[tuple(s.shape) for s in sequences]}")
    t_max = max(len(s) for s in sequences)
    padded = sequences[0].new_zeros(len(sequences), t_max, dim)  # (B, T_max, D)
    mask = torch.zeros(len(sequences), t_max, dtype=torch.bool, device=sequences[0].device)  # (B, T_max)
    for i, s in enumerate(sequences):
        padded[i, :len(s)] = s
        mask[i, :len(s)] = True
    return padded, mask


class ResamplerLayer(nn.Module):
    """latents (B, N, D) attend to [inputs (B, T, D); latents]; residual; MLP; residual."""

    def __init__(self, dim: int, num_heads: int = 8, widening: int = 4):
        super().__init__()
        self.input_norm = nn.LayerNorm(dim)
        self.latent_norm = nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, dim, num_heads=num_heads)
        self.mlp = FeedForward(dim, widening)

    def forward(self, latents: torch.Tensor, inputs: torch.Tensor, input_mask: torch.Tensor | None = None):
        normed = self.latent_norm(latents)
        kv = torch.cat([self.input_norm(inputs), normed], dim=1)  # (B, T + N, D)
        mask = None
        if input_mask is not None:  # the latents themselves are never masked
            mask = torch.cat([input_mask, input_mask.new_ones(latents.shape[:2])], dim=1)
        latents = latents + self.attn(normed, kv, input_mask=mask)
        return latents + self.mlp(latents)


class PerceiverResampler(nn.Module):
    """Feature tokens ``(B, T, dim)`` (any T) -> ``(B, num_latents, dim)``."""

    def __init__(self, dim: int, num_latents: int = 64, depth: int = 2, num_heads: int = 8, widening: int = 4):
        super().__init__()
        self.latents = nn.Parameter(torch.empty(num_latents, dim))
        nn.init.trunc_normal_(self.latents, std=0.02, a=-0.04, b=0.04)
        self.layers = nn.ModuleList([ResamplerLayer(dim, num_heads, widening) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)

    def forward(self, inputs: torch.Tensor, input_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``input_mask (B, T)`` bool, optional: False marks padding tokens (see :func:`pad_tokens`)."""
        dim = self.latents.shape[1]
        if inputs.dim() != 3 or inputs.shape[-1] != dim:
            raise ValueError(f"expected feature tokens of shape (B, T, {dim}), got {tuple(inputs.shape)}")
        if input_mask is not None and (input_mask.dtype != torch.bool or input_mask.shape != inputs.shape[:2]):
            raise ValueError(f"input_mask must be a bool tensor of shape (B, T) = {tuple(inputs.shape[:2])}, True on "
                             f"real tokens, got {input_mask.dtype} {tuple(input_mask.shape)}")
        latents = self.latents.expand(inputs.shape[0], -1, -1)  # (B, N, D)
        for layer in self.layers:
            latents = layer(latents, inputs, input_mask)
        return self.norm(latents)
