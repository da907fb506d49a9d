"""Attention: softmax(Q K^T / sqrt(d)) V, from scratch and as the multi-head module the model uses (chapter 1).

``attention`` is the textbook computation, written out so every step is visible.
``MultiHeadAttention`` is what the Perceiver uses: it projects queries and keys/values (which
may come from different arrays: that is cross-attention), splits heads and calls PyTorch's fused
``scaled_dot_product_attention``.  Asked for them, it also returns the *pre-softmax* scores
Q K^T / sqrt(d) that the paper's Fig. 3 plots; only then does it take the explicit (slower) path.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
              scale: float | None = None):
    """Scaled dot-product attention written out by hand.

    Args:
        q: ``(..., N, d)`` queries;  k: ``(..., M, d)`` keys;  v: ``(..., M, d_v)`` values.
        mask: optional boolean, broadcastable to ``(..., N, M)``; ``False`` keys are ignored.
        scale: multiplies the scores; ``1 / sqrt(d)`` unless given.

    Returns:
        ``(out, weights, scores)``: ``out (..., N, d_v)``, the softmax ``weights (..., N, M)``
        (each row sums to 1 over the M keys) and the pre-softmax ``scores (..., N, M)``.
    """
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = (q * scale) @ k.transpose(-2, -1)  # (..., N, M); scaling q: N d products, not N M
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)  # normalise over the keys
    return weights @ v, weights, scores


class MultiHeadAttention(nn.Module):
    """Multi-head attention of ``queries (B, N, q_dim)`` over ``inputs (B, M, kv_dim)``.

    With ``inputs is queries`` this is self-attention; otherwise cross-attention.
    """

    def __init__(self, q_dim: int, kv_dim: int, num_heads: int = 1, head_dim: int | None = None,
                 out_dim: int | None = None):
        super().__init__()
        head_dim = head_dim or q_dim // num_heads
        if head_dim * num_heads == 0:
            raise ValueError(f"q_dim={q_dim} is too small for num_heads={num_heads}")
        self.num_heads, self.head_dim = num_heads, head_dim
        inner = num_heads * head_dim
        self.to_q = nn.Linear(q_dim, inner)
        self.to_kv = nn.Linear(kv_dim, 2 * inner)  # keys and values in one matmul
        self.to_out = nn.Linear(inner, out_dim or q_dim)

    def _split_heads(self, t: torch.Tensor) -> torch.Tensor:
        b, n, _ = t.shape  # (B, n, H*d) -> (B, H, n, d)
        return t.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)

    def merge_heads(self, out: torch.Tensor) -> torch.Tensor:
        """Per-head results ``(B, H, N, d)`` -> the output projection of their concatenation ``(B, N, out_dim)``."""
        b, _, n, _ = out.shape
        return self.to_out(out.transpose(1, 2).reshape(b, n, self.num_heads * self.head_dim))

    def keys_values(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values ``(B, H, M, d)`` of ``inputs (B, M, kv_dim)``, one matmul for both."""
        k, v = self.to_kv(inputs).chunk(2, dim=-1)
        return self._split_heads(k), self._split_heads(v)

    def forward(self, queries: torch.Tensor, inputs: torch.Tensor, *, return_scores: bool = False,
                input_mask: torch.Tensor | None = None, keys_values: tuple | None = None):
        """Return ``out (B, N, out_dim)``; with ``return_scores`` also ``scores (B, H, N, M)``.

        ``input_mask (B, M)``, optional boolean: ``False`` marks padding elements of ``inputs``
        that no query may attend to.  ``keys_values``: ``self.keys_values(inputs)`` if the caller
        already has it (the Perceiver's shared cross-attend reuses it across repeats).
        """
        q = self._split_heads(self.to_q(queries))  # (B, H, N, d)
        k, v = self.keys_values(inputs) if keys_values is None else keys_values  # (B, H, M, d)
        mask = None
        if input_mask is not None:
            if input_mask.shape != inputs.shape[:2] or input_mask.dtype != torch.bool:
                raise ValueError(f"input_mask must be a bool tensor of shape (B, M) = {tuple(inputs.shape[:2])}, "
                                 f"got {input_mask.dtype} {tuple(input_mask.shape)}")
            mask = input_mask[:, None, None, :]  # (B, 1, 1, M) broadcasts over heads and queries
        if return_scores:
            out, _, scores = attention(q, k, v, mask)
        else:
            out, scores = F.scaled_dot_product_attention(q, k, v, attn_mask=mask), None
        out = self.merge_heads(out)
        return (out, scores) if return_scores else out

