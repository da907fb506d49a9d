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


# 1.1 scores -----------------------------------------------------------------------------------
def test_1_1_accepts_reference():
    assert run_checker("1.1", lambda q, k: q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]))[0]


@pytest.mark.parametrize("wrong, expected", [
    (lambda q, k: q @ k.transpose(-2, -1), "forgot the scaling"),
    (lambda q, k: q @ k.transpose(-2, -1) / q.shape[-1], "instead of √d"),
    (lambda q, k: k @ q.transpose(-2, -1) / math.sqrt(q.shape[-1]), "not k @ qᵀ"),
    (lambda q, k: (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-1), "before* the softmax"),
])
def test_1_1_names_the_mistake(wrong, expected):
    assert expected in hint("1.1", wrong)


# 1.2 attention --------------------------------------------------------------------------------
def reference_attention(q, k, v):
    out, weights, _ = attention(q, k, v)
    return out, weights


def naive_softmax_attention(q, k, v):  # exp without subtracting the max: overflows
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    w = s.exp() / s.exp().sum(-1, keepdim=True)
    return w @ v, w


def test_1_2_accepts_reference():
    assert run_checker("1.2", reference_attention)[0]


@pytest.mark.parametrize("wrong, expected", [
    (lambda q, k, v: ((w := (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-2)) @ v, w),
     "softmax over the last axis"),
    (lambda q, k, v: ((w := (q @ k.transpose(-2, -1)).softmax(-1)) @ v, w), "forgot the scaling"),
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
