"""Chapter 1 exercises: attention from scratch.

Each checker calls the learner's function on seeded random inputs of several shapes, compares
with the package's reference (:mod:`perceiver_edu.model.attention`) and, when the answer is wrong, tries
the typical mistakes one by one so that the hint can name the one that was made.
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from ..model.attention import MultiHeadAttention, attention
from .core import Hint, exercise
from .helpers import close, expect_tensor, randn


def query_gradient_norms_reference(q, k, c, *, scaled: bool, mistake: str | None = None):
    """Per-query norm of dL/dq for L = sum(softmax(q kᵀ [/ √d]) * c), optionally with one typical mistake."""
    q = q.detach().clone().requires_grad_(True)  # (N, d)
    scores = q @ k.transpose(-2, -1)  # (N, M)
    if mistake == "flipped":
        scaled = not scaled
    if scaled:
        scores = scores / (q.shape[-1] if mistake == "by_d" else math.sqrt(q.shape[-1]))
    weights = scores.softmax(dim=0 if mistake == "softmax_over_queries" else -1)
    (grad,) = torch.autograd.grad((weights * c).sum(), q)  # (N, d)
    return grad.norm(dim=-1)  # (N,)


@exercise("1.1", "Predict, then measure: softmax gradients with and without 1/√d", difficulty=2, chapter=1,
          teaches="autograd through the softmax; without the 1/√d most queries get almost no gradient")
def check_query_gradient_norms(fn):
    mistakes = {
        "flipped": "scaled=True must divide the scores q kᵀ by √d, and scaled=False must leave them as they are",
        "by_d": "divided by d instead of √d",
        "softmax_over_queries": "the softmax runs over the keys (the last axis, dim=-1), not over the queries",
    }
    for seed, (n, m, d) in enumerate([(5, 7, 4), (6, 3, 16), (4, 9, 9)]):
        q, k, c = randn(n, d, seed=seed, scale=2.0), randn(m, d, seed=10 + seed), randn(n, m, seed=20 + seed)
        for scaled in (True, False):
            want = query_gradient_norms_reference(q, k, c, scaled=scaled)
            got = expect_tensor(fn(q.clone(), k.clone(), c.clone(), scaled=scaled),
                                f"query_gradient_norms(q, k, c, scaled={scaled})").detach()
            if got.shape != want.shape:
                if got.numel() == 1:
                    raise Hint(f"one norm per query: shape (N,) = ({n},) expected, got {tuple(got.shape)}; "
                               f"take the norm of each row of the gradient, grad.norm(dim=-1)")
                if got.shape == (n, m):
                    raise Hint(f"shape (N, M) = {(n, m)}: that is a gradient with respect to the scores or weights; "
                               f"take it with respect to the queries q (shape (N, d)), then one norm per row")
                if got.shape == (n, d):
                    raise Hint(f"you returned the gradient itself, shape (N, d) = {(n, d)}; return the norm of each "
                               f"of its rows, shape (N,)")
                raise Hint(f"shape (N,) = ({n},) expected for q {(n, d)}, got {tuple(got.shape)}")
            if close(got, want, atol=1e-5):
                continue
            for mistake, hint in mistakes.items():
                if close(got, query_gradient_norms_reference(q, k, c, scaled=scaled, mistake=mistake), atol=1e-5):
                    raise Hint(hint)
            raise Hint(f"with scaled={scaled} your norms differ from those of dL/dq for L = Σ softmax(scores) · c "
                       f"(max difference {(got - want).abs().max().item():.3g})")


@contextmanager
def library_softmax_off():
    """While the learner's code runs, torch's softmax (and the fused attention) raise a Hint."""
    def refuse(*args, **kwargs):
        raise Hint("write the softmax yourself, with exp(): torch's softmax and scaled_dot_product_attention are "
                   "switched off while this exercise is checked (it is about the numerically safe softmax)")
    switched = [(torch, "softmax"), (torch.Tensor, "softmax"), (F, "softmax"), (torch.special, "softmax"),
                (F, "scaled_dot_product_attention")]
    saved = [getattr(owner, name) for owner, name in switched]
    try:
        for owner, name in switched:
            setattr(owner, name, refuse)
        yield
    finally:
        for (owner, name), original in zip(switched, saved):
            setattr(owner, name, original)


@exercise("1.2", "Attention: softmax(Q Kᵀ / √d) V", difficulty=2, chapter=1,
          teaches="a softmax of your own from exp(), safe for large scores, over the keys; the weighted sum of the values")
def check_attention(fn):
    # (q, k, v) shapes: d_v != d and N != M so that mix-ups show in the shapes.
    cases = [((3, 8), (5, 8), (5, 4), 1.0), ((2, 4, 16), (2, 6, 16), (2, 6, 3), 1.0),
             ((2, 4, 16), (2, 6, 16), (2, 6, 3), 30.0)]  # the last one: large scores
    for seed, (qs, ks, vs, scale) in enumerate(cases):
        q, k, v = randn(*qs, seed=seed, scale=scale), randn(*ks, seed=10 + seed, scale=scale), randn(*vs, seed=20 + seed)
        want_out, want_w, _ = attention(q, k, v)
        with library_softmax_off():
            result = fn(q.clone(), k.clone(), v.clone())
        if not isinstance(result, tuple) or len(result) != 2:
            raise Hint("return the pair (out, weights)")
        out, w = expect_tensor(result[0], "out"), expect_tensor(result[1], "weights")
        if w.shape != want_w.shape:
            raise Hint(f"weights: shape (..., N, M) = {tuple(want_w.shape)} expected (queries × keys), "
                       f"got {tuple(w.shape)}")
        if torch.isnan(w).any() or torch.isinf(w).any():
            raise Hint("NaN or inf in your weights when the scores are large: exp() overflowed. Subtract each "
                       "row's maximum before exp(), or use .softmax(dim=-1), which does it for you")
        if not torch.allclose(w.sum(-1), torch.ones(()), atol=1e-4):
            if torch.allclose(w.sum(-2), torch.ones(()), atol=1e-4):
                raise Hint("your attention weights do not sum to 1 over the keys but over the queries: "
                           "softmax over the last axis (dim=-1)?")
            raise Hint("your attention weights do not sum to 1 over the keys: apply a softmax over the last axis")
        if not close(w, want_w):
            d = q.shape[-1]
            raw = q @ k.transpose(-2, -1)
            if close(w, raw.softmax(-1)):
                raise Hint("forgot the scaling: the softmax is of q @ kᵀ / √d")
            if close(w, (raw / d).softmax(-1)):
                raise Hint("divided by d instead of √d")
            raise Hint(f"weights differ from softmax(q kᵀ/√d) (max difference {(w - want_w).abs().max().item():.3g})")
        if out.shape != want_out.shape:
            raise Hint(f"out: shape (..., N, d_v) = {tuple(want_out.shape)} expected (one value-sized row per "
                       f"query), got {tuple(out.shape)}: out = weights @ v")
        if not close(out, want_out, atol=1e-4):
            raise Hint("the weights are right but out is not: out = weights @ v")


def _mha_reference_parts(mha: MultiHeadAttention, queries, inputs, mistake: str | None = None):
    """The multi-head forward written out, optionally with one typical mistake."""
    b, n, _ = queries.shape
    m = inputs.shape[1]
    h, d = mha.num_heads, mha.head_dim
    q = mha.to_q(queries)  # (B, N, H*d)
    k, v = mha.to_kv(inputs).chunk(2, dim=-1)  # (B, M, H*d) each
    if mistake == "kv_swapped":
        k, v = v, k
    if mistake == "no_split":
        out = attention(q, k, v)[0]  # one head of width H*d
    else:
        if mistake == "split_no_transpose":
            q, k, v = q.reshape(b, h, n, d), k.reshape(b, h, m, d), v.reshape(b, h, m, d)
        else:
            q, k, v = (t.reshape(b, -1, h, d).transpose(1, 2) for t in (q, k, v))  # (B, H, n, d)
        out = attention(q, k, v)[0]  # (B, H, N, d)
        if mistake == "merge_no_transpose":
            out = out.reshape(b, n, h * d)
        else:
            out = out.transpose(1, 2).reshape(b, n, h * d)
    return out if mistake == "no_out" else mha.to_out(out)


@exercise("1.3", "Multi-head attention, forward by hand", difficulty=3, chapter=1,
          teaches="projections, splitting into heads, attention per head, merging heads, output projection")
def check_multi_head(fn):
    cases = [(1, 8, 8), (2, 8, 6), (4, 16, 12)]  # (heads, q_dim, kv_dim)
    mistakes = {
        "no_split": "you computed one head of width H·d: split q, k, v into heads, (B, n, H·d) → (B, H, n, d), "
                    "so that each head has its own softmax (and its own √d with d = head_dim)",
        "split_no_transpose": "splitting heads: reshape (B, n, H·d) → (B, n, H, d), then transpose(1, 2) to "
                              "(B, H, n, d); reshaping straight to (B, H, n, d) mixes positions and heads",
        "merge_no_transpose": "merging heads: transpose (B, H, N, d) → (B, N, H, d) before reshaping to (B, N, H·d)",
        "kv_swapped": "mha.to_kv(inputs).chunk(2, dim=-1) gives keys first, then values",
        "no_out": "forgot the output projection mha.to_out",
    }
    torch.manual_seed(0)
    for seed, (heads, q_dim, kv_dim) in enumerate(cases):
        torch.manual_seed(seed)
        mha = MultiHeadAttention(q_dim, kv_dim, num_heads=heads).eval()
        queries, inputs = randn(2, 3, q_dim, seed=seed), randn(2, 5, kv_dim, seed=50 + seed)
        with torch.no_grad():
            want = mha(queries, inputs)
            got = expect_tensor(fn(mha, queries.clone(), inputs.clone()), "your output")
            if got.shape != want.shape:
                raise Hint(f"shape (B, N, D) = {tuple(want.shape)} expected (one row per query), got {tuple(got.shape)}")
            if close(got, want, atol=1e-5):
                continue
            for mistake, hint in mistakes.items():
                wrong = _mha_reference_parts(mha, queries, inputs, mistake)
                if wrong.shape == got.shape and close(got, wrong):
                    raise Hint(hint)
        raise Hint(f"with {heads} heads your output differs from MultiHeadAttention's "
                   f"(max difference {(got - want).abs().max().item():.3g})")
