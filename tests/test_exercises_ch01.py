"""Each chapter-1 checker accepts the reference answer and names typical mistakes."""
import math

import pytest
import torch

from perceiver_edu.model.attention import attention
from perceiver_edu.exercises import run_checker


def hint(id, answer):
    passed, message = run_checker(id, answer)
    assert not passed, "the checker accepted a wrong answer"
    return message


# 1.1 gradients through the softmax -----------------------------------------------------------
def grad_norms(q, k, c, *, scaled):
    q = q.detach().clone().requires_grad_(True)
    scores = q @ k.T / (math.sqrt(q.shape[-1]) if scaled else 1.0)
    (scores.softmax(-1) * c).sum().backward()
    return q.grad.norm(dim=-1)


def test_1_1_reference_matches_the_softmax_jacobian_by_hand():
    from perceiver_edu.exercises.ch01 import query_gradient_norms_reference
    g = torch.Generator().manual_seed(0)
    q, k, c = (torch.randn(*s, generator=g, dtype=torch.float64) for s in ((5, 8), (7, 8), (5, 7)))
    for scaled in (True, False):
        scale = 1 / math.sqrt(8) if scaled else 1.0
        w = (q @ k.T * scale).softmax(-1)                         # (N, M)
        dscores = w * (c - (w * c).sum(-1, keepdim=True))         # dL/ds = w (c - <w, c>) row by row
        by_hand = (dscores @ k * scale).norm(dim=-1)              # dL/dq = dL/ds · k · scale
        assert torch.allclose(query_gradient_norms_reference(q, k, c, scaled=scaled), by_hand)


def test_1_1_accepts_reference():
    assert run_checker("1.1", grad_norms)[0]


@pytest.mark.parametrize("wrong, expected", [
    (lambda q, k, c, *, scaled: grad_norms(q, k, c, scaled=not scaled), "must divide the scores"),
    (lambda q, k, c, *, scaled: grad_norms(q, k, c, scaled=scaled).sum(), "one norm per query"),
    (lambda q, k, c, *, scaled: grad_norms(q, k, c, scaled=scaled)[:, None].expand(-1, c.shape[1]), "with respect to the queries"),
    (lambda q, k, c, *, scaled: grad_norms(q, k, c, scaled=scaled)[:, None].expand(-1, q.shape[1]), "the gradient itself"),
])
def test_1_1_names_the_mistake(wrong, expected):
    assert expected in hint("1.1", wrong)


# 1.2 attention --------------------------------------------------------------------------------
def softmax_by_hand(s, dim=-1):  # numerically safe: exp() of values <= 0
    e = (s - s.amax(dim=dim, keepdim=True)).exp()
    return e / e.sum(dim=dim, keepdim=True)


def reference_attention(q, k, v):
    w = softmax_by_hand(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]))
    return w @ v, w


def naive_softmax_attention(q, k, v):  # exp without subtracting the max: overflows
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    w = s.exp() / s.exp().sum(-1, keepdim=True)
    return w @ v, w


def test_1_2_accepts_reference():
    assert run_checker("1.2", reference_attention)[0]


def test_1_2_switches_the_library_softmax_back_on_afterwards():
    hint("1.2", lambda q, k, v: attention(q, k, v)[:2])
    s = torch.randn(3, 4)
    assert torch.allclose(s.softmax(-1), softmax_by_hand(s)) and torch.allclose(torch.softmax(s, -1), softmax_by_hand(s))


@pytest.mark.parametrize("wrong, expected", [
    (lambda q, k, v: attention(q, k, v)[:2], "write the softmax yourself"),
    (lambda q, k, v: ((w := (q @ k.transpose(-2, -1)).softmax(-1)) @ v, w), "write the softmax yourself"),
    (lambda q, k, v: ((w := softmax_by_hand(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), -2)) @ v, w),
     "softmax over the last axis"),
    (lambda q, k, v: ((w := softmax_by_hand(q @ k.transpose(-2, -1))) @ v, w), "forgot the scaling"),
    (lambda q, k, v: reference_attention(q, k, v)[1], "return the pair"),
    (lambda q, k, v: (reference_attention(q, k, v)[1] @ k, reference_attention(q, k, v)[1]), "weights @ v"),
    (naive_softmax_attention, "overflowed"),
])
def test_1_2_names_the_mistake(wrong, expected):
    assert expected in hint("1.2", wrong)


# 1.3 multi-head -------------------------------------------------------------------------------
def reference_multi_head(mha, queries, inputs):
    b, n, _ = queries.shape
    h, d = mha.num_heads, mha.head_dim
    q = mha.to_q(queries)
    k, v = mha.to_kv(inputs).chunk(2, dim=-1)
    q, k, v = (t.reshape(b, -1, h, d).transpose(1, 2) for t in (q, k, v))
    out = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d), dim=-1) @ v
    return mha.to_out(out.transpose(1, 2).reshape(b, n, h * d))


def test_1_3_accepts_reference():
    assert run_checker("1.3", reference_multi_head)[0]


def one_wide_head(mha, queries, inputs):
    q = mha.to_q(queries)
    k, v = mha.to_kv(inputs).chunk(2, dim=-1)
    return mha.to_out(attention(q, k, v)[0])


def merge_without_transpose(mha, queries, inputs):
    b, n, _ = queries.shape
    h, d = mha.num_heads, mha.head_dim
    q = mha.to_q(queries)
    k, v = mha.to_kv(inputs).chunk(2, dim=-1)
    q, k, v = (t.reshape(b, -1, h, d).transpose(1, 2) for t in (q, k, v))
    return mha.to_out(attention(q, k, v)[0].reshape(b, n, h * d))


def keys_and_values_swapped(mha, queries, inputs):
    b, n, _ = queries.shape
    h, d = mha.num_heads, mha.head_dim
    v, k = mha.to_kv(inputs).chunk(2, dim=-1)
    q, k, v = (t.reshape(b, -1, h, d).transpose(1, 2) for t in (mha.to_q(queries), k, v))
    return mha.to_out(attention(q, k, v)[0].transpose(1, 2).reshape(b, n, h * d))


@pytest.mark.parametrize("wrong, expected", [
    (one_wide_head, "one head of width H·d"),
    (merge_without_transpose, "merging heads"),
    (keys_and_values_swapped, "keys first, then values"),
    (lambda mha, queries, inputs: reference_multi_head(mha, queries, inputs)[:, :1], "shape (B, N, D)"),
    (lambda mha, queries, inputs: reference_multi_head(mha, queries, inputs) * 1.1, "differs"),
])
def test_1_3_names_the_mistake(wrong, expected):
    assert expected in hint("1.3", wrong)
