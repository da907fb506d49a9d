"""The two blocks the Perceiver is built from (chapters 2 and 4).

* ``CrossAttention``: the latent array (B, N, D) attends to the byte array (B, M, C).
  Pre-LayerNorm on both, one head by default, residual, then an MLP with its own residual.
  Its cost is O(M N): linear in the input size M.  With ``chunk_size`` it attends to the inputs
  ``chunk_size`` at a time (online softmax, :func:`~perceiver_edu.model.attention.chunked_attention`),
  so that memory stays bounded for very large M (chapter 13).
  When the inputs have fewer channels than a head (C < D / heads: a pixel and its position features)
  it *folds* the input LayerNorm's scale and shift and the key/value projection into the queries
  and the outputs (``fold_kv``): the same function, computed without the (B, M, 2D) keys and values.
* ``SelfAttention``: one GPT-2 style layer of the latent transformer (pre-LN attention + MLP),
  O(N^2) in the number of latents and independent of M.
No dropout, as in the paper.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .attention import MultiHeadAttention, attention, chunked_attention


def normalise(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """LayerNorm without scale and shift over the last dimension: x̂ = (x - mean) / sqrt(var + eps).

    Written out rather than ``F.layer_norm``, which is 2-3 times slower on a CPU when the normalised
    dimension is as short as a pixel's channels (C = 19 or 35).  The variance comes from a norm and,
    when no gradient flows, the scaling is done in place: no temporary as large as x is made."""
    centred = x - x.mean(dim=-1, keepdim=True)
    variance = torch.linalg.vector_norm(centred, dim=-1, keepdim=True).square() / x.shape[-1]
    inv_std = torch.rsqrt(variance + eps)
    return centred * inv_std if centred.requires_grad else centred.mul_(inv_std)


class MLP(nn.Module):
    """LayerNorm -> Linear(D, widening*D) -> GELU -> Linear(widening*D, D)."""

    def __init__(self, dim: int, widening: int = 4):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, widening * dim), nn.GELU(),
                                 nn.Linear(widening * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CrossAttention(nn.Module):
    """Latents (B, N, D) attend to inputs (B, M, C); returns updated latents (B, N, D).

    ``fold_kv`` (default: when C < D / num_heads).  Write the input LayerNorm as ``g * x̂ + β``
    (x̂: the inputs normalised to mean 0, variance 1) and one head's keys and values as ``W x + b``.
    Every step from x̂ to a key or a value is linear, so a query q (d,) scores input m with

        q · (W_k (g * x̂_m + β) + b_k) = (W_k diag(g))^T q · x̂_m  +  q · (W_k β + b_k)

    and the second term, the same for every input, is ignored by the softmax.  The weighted sum of
    the values is ``W_v diag(g) (sum_m w_m x̂_m) + W_v β + b_v`` since the weights w_m sum to 1.
    So the head attends to x̂ itself, with the query mapped into the C input channels, and applies
    the value projection once per latent afterwards.  Same parameters, same result (tested), but no
    (B, M, 2D) keys and values are made and nothing of size M needs a gradient.
    """

    def __init__(self, latent_dim: int, input_channels: int, num_heads: int = 1, widening: int = 4,
                 chunk_size: int | None = None, fold_kv: bool | None = None):
        super().__init__()
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be None or >= 1, got {chunk_size}")
        self.chunk_size = chunk_size
        self.fold_kv = input_channels < latent_dim // num_heads if fold_kv is None else fold_kv
        self.latent_norm = nn.LayerNorm(latent_dim)
        self.input_norm = nn.LayerNorm(input_channels)
        self.attn = MultiHeadAttention(latent_dim, input_channels, num_heads=num_heads)
        self.mlp = MLP(latent_dim, widening)

    def keys_values(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values ``(B, H, M, d)`` of the normalised inputs ``(B, M, C)``; with ``fold_kv``
        the inputs normalised without scale and shift, ``x̂ (B, 1, M, C)``, serve as both."""
        if self.fold_kv:
            x = normalise(inputs, self.input_norm.eps).unsqueeze(1)
            return x, x
        return self.attn.keys_values(self.input_norm(inputs))

    def forward(self, latents: torch.Tensor, inputs: torch.Tensor, return_scores: bool = False,
                keys_values: tuple | None = None, input_mask: torch.Tensor | None = None):
        """``keys_values``: ``self.keys_values(inputs)`` if already computed (it only depends on
        the inputs and this block's weights, so a block applied again to the same inputs reuses it).
        ``input_mask (B, M)``, optional boolean: ``False`` marks padding inputs, which no latent
        attends to (their scores are -inf)."""
        queries = self.latent_norm(latents)
        chunked = self.chunk_size is not None and inputs.shape[1] > self.chunk_size
        if self.fold_kv or chunked:
            attended = self._attend(queries, inputs, return_scores, keys_values, chunked, input_mask)
        else:
            kv = self.keys_values(inputs) if keys_values is None else keys_values
            attended = self.attn(queries, inputs, return_scores, input_mask=input_mask, keys_values=kv)
        attended, scores = attended if return_scores else (attended, None)
        latents = latents + attended  # residual
        latents = latents + self.mlp(latents)
        return (latents, scores) if return_scores else latents

    def _folded_projection(self):
        """Key and value weights ``(H, d, C)`` and biases ``(H, d)`` acting on x̂ (see the class doc)."""
        w, b = self.attn.to_kv.weight, self.attn.to_kv.bias  # (2 H d, C), (2 H d)
        w, b = w * self.input_norm.weight, b + w @ self.input_norm.bias  # W diag(g), W β + b
        h, d = self.attn.num_heads, self.attn.head_dim
        (w_k, w_v), (b_k, b_v) = w.view(2, h, d, -1), b.view(2, h, d)
        return w_k, w_v, b_k, b_v

    def _attend(self, queries: torch.Tensor, inputs: torch.Tensor, return_scores: bool,
                keys_values: tuple | None, chunked: bool, input_mask: torch.Tensor | None = None):
        """``self.attn(queries, input_norm(inputs))``, folded (``fold_kv``) and/or over chunks of the inputs."""
        attn = self.attn
        q = attn._split_heads(attn.to_q(queries))  # (B, H, N, d)
        scale = 1 / math.sqrt(attn.head_dim)
        if self.fold_kv:
            w_k, w_v, b_k, b_v = self._folded_projection()
            q_in = torch.einsum("bhnd,hdc->bhnc", q, w_k)  # (B, H, N, C): the queries in input space
        else:
            q_in = q
        scores = None
        mask = None if input_mask is None else input_mask[:, None, None, :]  # (B, 1, 1, M)
        if chunked:
            out = chunked_attention(q_in, inputs, self.keys_values, self.chunk_size, return_scores, scale, input_mask)
            out, scores = out if return_scores else (out, None)
        else:
            k, v = self.keys_values(inputs) if keys_values is None else keys_values  # folded: (B, 1, M, C)
            k, v = k.expand(-1, attn.num_heads, -1, -1), v.expand(-1, attn.num_heads, -1, -1)
            if return_scores:
                out, _, scores = attention(q_in, k, v, mask, scale=scale)
            elif (self.fold_kv and torch.is_grad_enabled() and not k.requires_grad
                  and q_in.shape[1] * q_in.shape[2] <= k.shape[-1]):
                # Training on plain inputs: only the queries need a gradient.  Two small products
                # and a softmax are then cheaper than the fused kernel, whose backward also computes
                # (and zero-fills) gradients for the (B, M, C) x̂.  They keep the (B, H, N, M)
                # weights for the backward, so only when those are no larger than x̂ (H N <= C).
                out = attention(q_in, k, v, mask, scale=scale)[0]
            else:
                out = F.scaled_dot_product_attention(q_in, k, v, attn_mask=mask, scale=scale)
        if self.fold_kv:
            out = torch.einsum("bhnc,hdc->bhnd", out, w_v) + b_v[:, None]  # (B, H, N, d)
            if return_scores:  # the term the softmax ignores, so that the scores are Q K^T / sqrt(d)
                scores = scores + q @ b_k[..., None] * scale
        out = attn.merge_heads(out)  # (B, N, D)
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
