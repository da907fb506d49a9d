import math

import pytest
import torch
import torch.nn.functional as F

from perceiver_edu import MultiHeadAttention, attention


def loop_attention(q, k, v):
    """Attention with explicit loops over queries and keys (independent of matrix code)."""
    n, m = q.shape[0], k.shape[0]
    out = torch.zeros(n, v.shape[1], dtype=q.dtype)
    for i in range(n):
        s = [float((q[i] @ k[j]).detach()) / math.sqrt(q.shape[1]) for j in range(m)]
        mx = max(s)
        e = [math.exp(x - mx) for x in s]
        z = sum(e)
        for j in range(m):
            out[i] += e[j] / z * v[j]
    return out


def test_attention_matches_loops_and_sdpa():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(s, generator=g, dtype=torch.float64) for s in [(5, 8), (7, 8), (7, 3)])
    out, weights, scores = attention(q, k, v)
    torch.testing.assert_close(out, loop_attention(q, k, v))
    torch.testing.assert_close(weights.sum(-1), torch.ones(5, dtype=torch.float64))
    torch.testing.assert_close(scores, q @ k.T / math.sqrt(8))
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q[None], k[None], v[None])[0])


@pytest.mark.parametrize("heads", [1, 4])
def test_module_fast_path_equals_explicit_path(heads):
    torch.manual_seed(0)
    mha = MultiHeadAttention(q_dim=16, kv_dim=12, num_heads=heads).double()
    queries, inputs = torch.randn(2, 5, 16).double(), torch.randn(2, 9, 12).double()
    fast = mha(queries, inputs)
    slow, scores = mha(queries, inputs, return_scores=True)
    torch.testing.assert_close(fast, slow)
    assert scores.shape == (2, heads, 5, 9)
    # scores are the pre-softmax Q K^T / sqrt(d) of the projected heads
    q = mha.to_q(queries).view(2, 5, heads, -1).transpose(1, 2)
    k = mha.to_kv(inputs)[..., : heads * mha.head_dim].view(2, 9, heads, -1).transpose(1, 2)
    torch.testing.assert_close(scores, q @ k.transpose(-1, -2) / math.sqrt(mha.head_dim))


def test_module_matches_naive_per_head_computation():
    torch.manual_seed(1)
    mha = MultiHeadAttention(q_dim=8, kv_dim=8, num_heads=2).double()
    x = torch.randn(1, 6, 8).double()
    q = mha.to_q(x)[0]
    k, v = mha.to_kv(x)[0].chunk(2, -1)
    heads = [loop_attention(q[:, h * 4:(h + 1) * 4], k[:, h * 4:(h + 1) * 4], v[:, h * 4:(h + 1) * 4]) for h in range(2)]
    expected = mha.to_out(torch.cat(heads, -1))
    torch.testing.assert_close(mha(x, x)[0], expected)
