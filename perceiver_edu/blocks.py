"""The two blocks the Perceiver is built from (chapters 2 and 4).

* ``CrossAttention``: the latent array (B, N, D) attends to the byte array (B, M, C).
  Pre-LayerNorm on both, one head by default, residual, then an MLP with its own residual.
  Its cost is O(M N): linear in the input size M.  With ``chunk_size`` it attends to the inputs
  ``chunk_size`` at a time (online softmax, :func:`~perceiver_edu.attention.chunked_attention`),
  so that memory stays bounded for very large M (chapter 13).
* ``SelfAttention``: one GPT-2 style layer of the latent transformer (pre-LN attention + MLP),
  O(N^2) in the number of latents and independent of M.
No dropout, as in the paper.
"""
from __future__ import annotations

import torch
from torch import nn

from .attention import MultiHeadAttention, chunked_attention


class MLP(nn.Module):
    """LayerNorm -> Linear(D, widening*D) -> GELU -> Linear(widening*D, D)."""

    def __init__(self, dim: int, widening: int = 4):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, widening * dim), nn.GELU(),
                                 nn.Linear(widening * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CrossAttention(nn.Module):
    """Latents (B, N, D) attend to inputs (B, M, C); returns updated latents (B, N, D)."""

    def __init__(self, latent_dim: int, input_channels: int, num_heads: int = 1, widening: int = 4,
                 chunk_size: int | None = None):
        super().__init__()
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be None or >= 1, got {chunk_size}")
        self.chunk_size = chunk_size
        self.latent_norm = nn.LayerNorm(latent_dim)
        self.input_norm = nn.LayerNorm(input_channels)
        self.attn = MultiHeadAttention(latent_dim, input_channels, num_heads=num_heads)
        self.mlp = MLP(latent_dim, widening)

    def keys_values(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values ``(B, H, M, d)`` of the normalised inputs ``(B, M, C)``."""
        return self.attn.keys_values(self.input_norm(inputs))

    def forward(self, latents: torch.Tensor, inputs: torch.Tensor, return_scores: bool = False,
                keys_values: tuple | None = None):
        """``keys_values``: ``self.keys_values(inputs)`` if already computed (it only depends on
        the inputs and this block's weights, so a block applied again to the same inputs reuses it)."""
        if self.chunk_size is not None and inputs.shape[1] > self.chunk_size:
            attended = self._chunked_attend(self.latent_norm(latents), inputs, return_scores)
        else:
            kv = self.keys_values(inputs) if keys_values is None else keys_values
            attended = self.attn(self.latent_norm(latents), inputs, return_scores, keys_values=kv)
        attended, scores = attended if return_scores else (attended, None)
        latents = latents + attended  # residual
        latents = latents + self.mlp(latents)
        return (latents, scores) if return_scores else latents

    def _chunked_attend(self, queries: torch.Tensor, inputs: torch.Tensor, return_scores: bool):
        """``self.attn(queries, input_norm(inputs))`` computed over the inputs in chunks."""
        attn = self.attn
        q = attn._split_heads(attn.to_q(queries))  # (B, H, N, d)
        out = chunked_attention(q, inputs, self.keys_values, self.chunk_size, return_scores)
        out, scores = out if return_scores else (out, None)
        b, _, n, _ = out.shape
        out = attn.to_out(out.transpose(1, 2).reshape(b, n, attn.num_heads * attn.head_dim))
        return (out, scores) if return_scores else out


class SelfAttention(nn.Module):
    """One latent-transformer layer: latents (B, N, D) -> (B, N, D)."""

    def __init__(self, latent_dim: int, num_heads: int = 8, widening: int = 4):
        super().__init__()
        self.norm = nn.LayerNorm(latent_dim)
        self.attn = MultiHeadAttention(latent_dim, latent_dim, num_heads=num_heads)
        self.mlp = MLP(latent_dim, widening)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        x = self.norm(latents)
        latents = latents + self.attn(x, x)
        return latents + self.mlp(latents)


class LatentTransformer(nn.Sequential):
    """A stack of ``depth`` :class:`SelfAttention` layers over the latent array."""

    def __init__(self, latent_dim: int, depth: int, num_heads: int = 8, widening: int = 4):
        super().__init__(*[SelfAttention(latent_dim, num_heads, widening) for _ in range(depth)])
