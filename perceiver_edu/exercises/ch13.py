"""Chapter 13 exercises: attention over a huge input, a chunk at a time.

The learner writes ``chunked_attention(q, k, v, chunk_size)``: softmax attention of the queries over
M keys, computed ``chunk_size`` keys at a time and combined with the *online softmax*, so that no
(N, M) weight matrix is ever needed at once.  The checker compares with
:func:`perceiver_edu.model.attention.attention` and recognises the usual mistakes.
"""
from __future__ import annotations

import torch

from ..model.attention import attention
from .core import Hint, exercise
from .helpers import close, randn


def _per_chunk(q, k, v, chunk_size):
    """Each chunk's own softmax output and its normaliser's log, ``(outs, lses)``."""
    outs, lses = [], []
    for k_c, v_c in zip(k.split(chunk_size, dim=-2), v.split(chunk_size, dim=-2)):
        s = q @ k_c.transpose(-2, -1) / q.shape[-1] ** 0.5
        lses.append(s.logsumexp(-1, keepdim=True))
        outs.append(s.softmax(-1) @ v_c)
    return outs, lses


def _uniform_mean(q, k, v, chunk_size):  # every chunk weighted alike
    outs, _ = _per_chunk(q, k, v, chunk_size)
    return sum(outs) / len(outs)


def _size_weighted(q, k, v, chunk_size):  # weighted by the number of keys in the chunk
    outs, _ = _per_chunk(q, k, v, chunk_size)
    sizes = [min(chunk_size, k.shape[-2] - i) for i in range(0, k.shape[-2], chunk_size)]
    return sum(o * n for o, n in zip(outs, sizes)) / k.shape[-2]


def _last_chunk(q, k, v, chunk_size):  # the running result overwritten instead of combined
    outs, _ = _per_chunk(q, k, v, chunk_size)
    return outs[-1]


def _unscaled(q, k, v, chunk_size):
    return attention(q * q.shape[-1] ** 0.5, k, v)[0]


# (q, k, v) shapes and chunk sizes that do not divide M; the last case has large scores
CASES = [((3, 4), (10, 4), (10, 2), 4, 1.0), ((2, 5, 8), (2, 17, 8), (2, 17, 3), 5, 1.0),
         ((2, 2, 3, 4), (2, 2, 9, 4), (2, 2, 9, 6), 2, 1.0), ((2, 3, 8), (2, 12, 8), (2, 12, 3), 5, 400.0)]


@exercise("13.1", "Attention over the inputs a chunk at a time (online softmax)", difficulty=3, chapter=13,
          teaches="combining per-chunk softmax results with their log-sum-exp weights, so memory stays bounded")
def check_chunked_attention(fn):
    mistakes = {
        _uniform_mean: "you averaged the chunks' outputs with equal weights: a chunk whose keys match the query "
                       "better must count more. Weight chunk j by its share of the softmax mass, "
                       "exp(lse_j - lse) with lse_j = logsumexp of the chunk's scores and lse = logsumexp_j lse_j",
        _size_weighted: "you weighted each chunk by its number of keys: the right weight is its share of the "
                        "softmax mass, exp(lse_j - lse), not its size",
        _last_chunk: "only the last chunk counts in your result: combine every chunk's output (keep a running "
                     "result and rescale it when a new chunk arrives)",
        _unscaled: "forgot the 1/√d scaling of the scores",
    }
    for seed, (qs, ks, vs, chunk, scale) in enumerate(CASES):
        q = randn(*qs, seed=seed, scale=scale, dtype=torch.float64)
        k, v = randn(*ks, seed=10 + seed, dtype=torch.float64), randn(*vs, seed=20 + seed, dtype=torch.float64)
        want = attention(q, k, v)[0]
        got = fn(q.clone(), k.clone(), v.clone(), chunk)
        if not isinstance(got, torch.Tensor):
            raise Hint(f"return the output tensor (..., N, d_v), got {type(got).__name__}")
        if got.shape != want.shape:
            raise Hint(f"shape (..., N, d_v) = {tuple(want.shape)} expected for q {qs}, v {vs}, got {tuple(got.shape)}")
        if torch.isnan(got).any() or torch.isinf(got).any():
            raise Hint("NaN or inf when the scores are large: exp() overflowed. Work with log-sum-exp "
                       "(torch.logsumexp) or subtract each chunk's maximum score before exp()")
        if close(got, want, atol=1e-6, rtol=1e-5):
            continue
        for wrong, hint in mistakes.items():
            if close(got, wrong(q, k, v, chunk), atol=1e-6, rtol=1e-5):
                raise Hint(hint)
        raise Hint(f"your output differs from softmax(q kᵀ/√d) v over all M keys (max difference "
                   f"{(got.double() - want).abs().max().item():.3g}) with M={ks[-2]}, chunk_size={chunk}")
