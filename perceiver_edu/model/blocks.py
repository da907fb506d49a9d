"""The two blocks the Perceiver is built from, as the paper describes them (chapters 2 and 4).

* ``CrossAttention``: the latent array (B, N, D) attends to the byte array (B, M, C).
  Pre-LayerNorm on both, one head by default, residual, then an MLP with its own residual.
  Its cost is O(M N): linear in the input size M.
* ``SelfAttention``: one GPT-2 style layer of the latent transformer (pre-LN attention + MLP),
  O(N^2) in the number of latents and independent of M.
No dropout, as in the paper.  This is the reference: :mod:`~perceiver_edu.model.fast` computes
the same cross-attention faster, with the same parameters (tested equal).
"""
from __future__ import annotations

import torch
from torch import nn

from .attention import MultiHeadAttention


class FeedForward(nn.Module):
    """The MLP of every block: LayerNorm -> Linear(D, widening*D) -> GELU -> Linear(widening*D, D)."""

    def __init__(self, dim: int, widening: int = 4):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, widening * dim), nn.GELU(),
                                 nn.Linear(widening * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CrossAttention(nn.Module):
    """Latents (B, N, D) attend to inputs (B, M, C); returns updated latents (B, N, D)."""

    def __init__(self, latent_dim: int, input_channels: int, num_heads: int = 1, widening: int = 4):
        super().__init__()
        self.latent_norm = nn.LayerNorm(latent_dim)
        self.input_norm = nn.LayerNorm(input_channels)
        self.attn = MultiHeadAttention(latent_dim, input_channels, num_heads=num_heads)
        self.mlp = FeedForward(latent_dim, widening)

    def forward(self, latents: torch.Tensor, inputs: torch.Tensor, *, return_scores: bool = False,
                input_mask: torch.Tensor | None = None):
        """With ``return_scores`` also the pre-softmax scores ``(B, H, N, M)`` (the paper's Fig. 3).
        ``input_mask (B, M)``, optional boolean: ``False`` marks padding that no latent attends to."""
        queries = self.latent_norm(latents)  # (B, N, D)
        x = self.input_norm(inputs)  # (B, M, C): keys and values are projected from these
        attended = self.attn(queries, x, return_scores=return_scores, input_mask=input_mask)
        attended, scores = attended if return_scores else (attended, None)  # (B, N, D)
        latents = latents + attended  # residual
        latents = latents + self.mlp(latents)  # MLP, residual
        return (latents, scores) if return_scores else latents


class SelfAttention(nn.Module):
    """One latent-transformer layer: latents (B, N, D) -> (B, N, D)."""

    def __init__(self, latent_dim: int, num_heads: int = 8, widening: int = 4):
        super().__init__()
        self.norm = nn.LayerNorm(latent_dim)
        self.attn = MultiHeadAttention(latent_dim, latent_dim, num_heads=num_heads)
        self.mlp = FeedForward(latent_dim, widening)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        x = self.norm(latents)
        latents = latents + self.attn(x, x)
        return latents + self.mlp(latents)


class LatentTransformer(nn.Sequential):
    """A stack of ``depth`` :class:`SelfAttention` layers over the latent array."""

    def __init__(self, latent_dim: int, depth: int, num_heads: int = 8, widening: int = 4):
        super().__init__(*[SelfAttention(latent_dim, num_heads, widening) for _ in range(depth)])
