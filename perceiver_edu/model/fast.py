"""Faster ways to compute the reference cross-attention of :mod:`~perceiver_edu.model.blocks`
(chapter 13).  Same parameters, same ``state_dict``, the same function: tested equal, values,
gradients and attention maps.  ``PerceiverConfig(cross_attention=...)`` chooses:

* ``"reference"``: :class:`~perceiver_edu.model.blocks.CrossAttention`, the code the chapters teach.
* ``"folded"``: :class:`FastCrossAttention` with the key/value projection folded (below).
* ``"auto"`` (the default): :class:`FastCrossAttention`, folded when the inputs have fewer channels
  than a head (C < D / heads, e.g. a pixel and its position features).

What :class:`FastCrossAttention` does differently from the reference:

1. **Fold the key/value projection.**  Write the input LayerNorm as ``g * x̂ + β`` (x̂: the inputs
   normalised to mean 0, variance 1) and one head's keys and values as ``W x + b``.  Every step from
   x̂ to a key or a value is linear, so a query q (d,) scores input m with

       q · (W_k (g * x̂_m + β) + b_k) = (W_k diag(g))^T q · x̂_m  +  q · (W_k β + b_k)

   and the second term, the same for every input, is ignored by the softmax (it is added back to
   the scores that are returned, so the maps are still Q K^T / sqrt(d)).  Since the weights w_m sum
   to 1, the weighted sum of the values is ``W_v diag(g) (sum_m w_m x̂_m) + W_v β + b_v``.  So the
   head attends to x̂ itself, with the query mapped into the C input channels, and applies the value
   projection once per latent afterwards: no (B, M, 2D) keys and values are made and nothing of
   size M needs a gradient.
2. **Plain products when they are cheaper.**  Training on data (only the queries need a gradient),
   ``softmax(q x̂^T) x̂`` as two products and a softmax is cheaper than the fused kernel, whose
   backward also computes gradients for x̂; used when the kept weights (B, H, N, M) are no larger
   than x̂ (H N <= C).
3. **Work on the inputs done once per forward pass.**  Inside :func:`reuse_input_work` (the
   Perceiver's ``encode`` opens it), x̂, or the keys and values of a cross-attend applied again to
   the same inputs, are computed once and reused by every repeat (not when chunked).
4. **Chunks** (``chunk_size``): an online softmax over chunks of the inputs
   (:func:`chunked_attention`), so that memory stays bounded for very large M.
"""
from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
import torch.utils.checkpoint

from .attention import attention
from .blocks import CrossAttention

CROSS_ATTENTION_PATHS = ("auto", "reference", "folded")


def normalise(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """LayerNorm without scale and shift over the last dimension: x̂ = (x - mean) / sqrt(var + eps).

    Written out rather than ``F.layer_norm``, which is 2-3 times slower on a CPU when the normalised
    dimension is as short as a pixel's channels (C = 19 or 35).  The variance comes from a norm and,
    when no gradient flows, the scaling is done in place: no temporary as large as x is made."""
    centred = x - x.mean(dim=-1, keepdim=True)
    variance = torch.linalg.vector_norm(centred, dim=-1, keepdim=True).square() / x.shape[-1]
    inv_std = torch.rsqrt(variance + eps)
    return centred * inv_std if centred.requires_grad else centred.mul_(inv_std)


def chunked_attention(q: torch.Tensor, inputs: torch.Tensor, keys_values, chunk_size: int, *,
                      return_scores: bool = False, scale: float | None = None,
                      input_mask: torch.Tensor | None = None):
    """Attention of ``q (B, H, N, d)`` over ``inputs (B, M, C)``, ``chunk_size`` inputs at a time.

    ``keys_values(chunk)`` maps an input chunk ``(B, m, C)`` to its keys and values ``(B, H, m, d)``
    (or ``(B, 1, m, d)``, shared by all heads).  ``scale``: ``1 / sqrt(d)`` unless given.
    Each chunk j gives its own softmax-normalised output ``o_j`` and the log of its normaliser,
    ``lse_j = logsumexp_m(scores)``.  The full softmax over all M keys is the mix
    ``out = sum_j exp(lse_j - lse) o_j`` with ``lse = logsumexp_j(lse_j)``: the *online softmax*.
    When gradients are needed each chunk runs under ``torch.utils.checkpoint``: its keys, values
    and weights are recomputed in the backward pass instead of being stored, so memory no longer
    grows with M * D, only with the inputs themselves (and the scores, if asked for).
    ``input_mask (B, M)``, optional boolean: ``False`` inputs are ignored.  A chunk may hold only
    ignored inputs (padding at the end): its scores are then the dtype's lowest finite value, not
    -inf, so that its ``lse_j`` stays finite and its share of the mix comes out as exactly 0.
    Returns ``out (B, H, N, d)`` and, with ``return_scores``, the pre-softmax ``scores (B, H, N, M)``
    (-inf where masked).
    """
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale

    def one_chunk(q, chunk, mask):
        k, v = keys_values(chunk)  # (B, H, m, d)
        scores = q @ k.transpose(-2, -1) * scale  # (B, H, N, m)
        if mask is not None:
            scores = scores.masked_fill(~mask[:, None, None, :], torch.finfo(scores.dtype).min)
        lse = scores.logsumexp(dim=-1, keepdim=True)  # (B, H, N, 1)
        return (scores - lse).exp() @ v, lse, scores

    masks = [None] * math.ceil(inputs.shape[1] / chunk_size) if input_mask is None else input_mask.split(chunk_size, 1)
    outs, lses, all_scores = [], [], []
    for chunk, mask in zip(inputs.split(chunk_size, dim=1), masks):
        if torch.is_grad_enabled() and not return_scores:
            o, lse, _ = torch.utils.checkpoint.checkpoint(one_chunk, q, chunk, mask, use_reentrant=False)
        else:
            o, lse, s = one_chunk(q, chunk, mask)
            if return_scores:
                all_scores.append(s if mask is None else s.masked_fill(~mask[:, None, None, :], float("-inf")))
        outs.append(o)
        lses.append(lse)
    lse = torch.cat(lses, dim=-1)  # (B, H, N, num_chunks)
    mix = (lse - lse.logsumexp(dim=-1, keepdim=True)).exp()  # each chunk's share of the softmax mass
    out = sum(mix[..., j:j + 1] * o for j, o in enumerate(outs))  # (B, H, N, d)
    return (out, torch.cat(all_scores, dim=-1)) if return_scores else out


class FastCrossAttention(CrossAttention):
    """:class:`~perceiver_edu.model.blocks.CrossAttention` computed faster (see the module doc).

    ``fold``: fold the key/value projection (``None``: when C < D / num_heads).
    ``chunk_size``: attend to the inputs this many at a time (``None``: all at once)."""

    def __init__(self, latent_dim: int, input_channels: int, num_heads: int = 1, widening: int = 4, *,
                 fold: bool | None = None, chunk_size: int | None = None):
        super().__init__(latent_dim, input_channels, num_heads, widening)
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be None or >= 1, got {chunk_size}")
        self.chunk_size = chunk_size
        self.fold = input_channels < latent_dim // num_heads if fold is None else fold
        self.shared_work = None  # a dict while inside reuse_input_work()

    def keys_values(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values ``(B, H, M, d)`` of the normalised inputs ``(B, M, C)``; folded, the inputs
        normalised without scale and shift, ``x̂ (B, 1, M, C)``, serve as both."""
        if self.fold:
            x = normalise(inputs, self.input_norm.eps).unsqueeze(1)
            return x, x
        return self.attn.keys_values(self.input_norm(inputs))

    def _reused_keys_values(self, inputs: torch.Tensor):
        """``keys_values(inputs)``, computed once per :func:`reuse_input_work`: folded cross-attends all
        attend to the same x̂, whichever module; an unfolded one reuses its own keys and values."""
        if self.shared_work is None:
            return self.keys_values(inputs)
        key = "x̂" if self.fold else id(self)
        if key not in self.shared_work:
            self.shared_work[key] = self.keys_values(inputs)
        return self.shared_work[key]

    def forward(self, latents: torch.Tensor, inputs: torch.Tensor, *, return_scores: bool = False,
                input_mask: torch.Tensor | None = None):
        queries = self.latent_norm(latents)
        chunked = self.chunk_size is not None and inputs.shape[1] > self.chunk_size
        if self.fold or chunked:
            attended = self._attend(queries, inputs, return_scores, chunked, input_mask)
        else:
            attended = self.attn(queries, inputs, return_scores=return_scores, input_mask=input_mask,
                                 keys_values=self._reused_keys_values(inputs))
        attended, scores = attended if return_scores else (attended, None)
        latents = latents + attended  # residual
        latents = latents + self.mlp(latents)
        return (latents, scores) if return_scores else latents

    def _folded_projection(self):
        """Key and value weights ``(H, d, C)`` and biases ``(H, d)`` acting on x̂ (see the module doc)."""
        w, b = self.attn.to_kv.weight, self.attn.to_kv.bias  # (2 H d, C), (2 H d)
        w, b = w * self.input_norm.weight, b + w @ self.input_norm.bias  # W diag(g), W β + b
        h, d = self.attn.num_heads, self.attn.head_dim
        (w_k, w_v), (b_k, b_v) = w.view(2, h, d, -1), b.view(2, h, d)
        return w_k, w_v, b_k, b_v

    def _attend(self, queries: torch.Tensor, inputs: torch.Tensor, return_scores: bool, chunked: bool,
                input_mask: torch.Tensor | None):
        """``self.attn(queries, input_norm(inputs))``, folded and/or over chunks of the inputs."""
        attn = self.attn
        q = attn._split_heads(attn.to_q(queries))  # (B, H, N, d)
        scale = 1 / math.sqrt(attn.head_dim)
        if self.fold:
            w_k, w_v, b_k, b_v = self._folded_projection()
            q_in = torch.einsum("bhnd,hdc->bhnc", q, w_k)  # (B, H, N, C): the queries in input space
        else:
            q_in = q
        scores = None
        mask = None if input_mask is None else input_mask[:, None, None, :]  # (B, 1, 1, M)
        if chunked:
            out = chunked_attention(q_in, inputs, self.keys_values, self.chunk_size, return_scores=return_scores,
                                    scale=scale, input_mask=input_mask)
            out, scores = out if return_scores else (out, None)
        else:
            k, v = self._reused_keys_values(inputs)  # folded: (B, 1, M, C)
            k, v = k.expand(-1, attn.num_heads, -1, -1), v.expand(-1, attn.num_heads, -1, -1)
            if return_scores:
                out, _, scores = attention(q_in, k, v, mask, scale=scale)
            elif torch.is_grad_enabled() and not k.requires_grad and q_in.shape[1] * q_in.shape[2] <= k.shape[-1]:
                out = attention(q_in, k, v, mask, scale=scale)[0]  # plain products (point 2 of the module doc)
            else:
                out = F.scaled_dot_product_attention(q_in, k, v, attn_mask=mask, scale=scale)
        if self.fold:
            out = torch.einsum("bhnc,hdc->bhnd", out, w_v) + b_v[:, None]  # (B, H, N, d)
            if return_scores:  # the term the softmax ignores, so that the scores are Q K^T / sqrt(d)
                scores = scores + q @ b_k[..., None] * scale
        out = attn.merge_heads(out)  # (B, N, D)
        return (out, scores) if return_scores else out


@contextlib.contextmanager
def reuse_input_work(modules):
    """Within the block, the :class:`FastCrossAttention` among ``modules`` share the work they do on
    the inputs (x̂, or keys and values) instead of redoing it in every repeat.  The inputs must stay
    the same tensor inside the block (one forward pass).  Reference blocks are left alone, and so are
    chunked ones (they recompute each chunk's keys and values to keep memory bounded)."""
    fast = [m for m in modules if isinstance(m, FastCrossAttention) and m.chunk_size is None]
    shared: dict = {}
    for m in fast:
        m.shared_work = shared
    try:
        yield
    finally:
        for m in fast:
            m.shared_work = None
