"""The chapter-13 checker accepts correct chunked attention and names the typical mistakes."""
import pytest
import torch

from perceiver_edu.model.attention import attention
from perceiver_edu.exercises import run_checker
from perceiver_edu.exercises.ch13 import _last_chunk, _size_weighted, _uniform_mean


def online_softmax_attention(q, k, v, chunk_size):
    """A running (max, normaliser, sum) over the chunks: the flash-attention recurrence."""
    scale = q.shape[-1] ** -0.5
    m = torch.full(q.shape[:-1] + (1,), float("-inf"), dtype=q.dtype)
    l = torch.zeros_like(m)
    acc = torch.zeros(q.shape[:-1] + (v.shape[-1],), dtype=q.dtype)
    for k_c, v_c in zip(k.split(chunk_size, -2), v.split(chunk_size, -2)):
        s = q @ k_c.transpose(-2, -1) * scale
        m_new = torch.maximum(m, s.amax(-1, keepdim=True))
        p = (s - m_new).exp()
        acc = acc * (m - m_new).exp() + p @ v_c
        l = l * (m - m_new).exp() + p.sum(-1, keepdim=True)
        m = m_new
    return acc / l


def naive_exp(q, k, v, chunk_size):  # right combination but exp() of raw scores: overflows
    scale = q.shape[-1] ** -0.5
    num = sum(((q @ kc.transpose(-2, -1) * scale).exp() @ vc) for kc, vc in zip(k.split(chunk_size, -2), v.split(chunk_size, -2)))
    den = sum((q @ kc.transpose(-2, -1) * scale).exp().sum(-1, keepdim=True) for kc in k.split(chunk_size, -2))
    return num / den


def test_accepts_reference_and_recurrence():
    assert run_checker("13.1", online_softmax_attention) == (True, run_checker("13.1", online_softmax_attention)[1])
    assert run_checker("13.1", lambda q, k, v, c: attention(q, k, v)[0])[0]


@pytest.mark.parametrize("wrong, expected", [
    (_uniform_mean, "equal weights"),
    (_size_weighted, "number of keys"),
    (_last_chunk, "only the last chunk"),
    (naive_exp, "overflowed"),
    (lambda q, k, v, c: attention(q, k, v)[0][..., :1], "shape"),
    (lambda q, k, v, c: attention(q * q.shape[-1] ** 0.5, k, v)[0], "1/√d"),
])
def test_names_the_mistake(wrong, expected):
    passed, message = run_checker("13.1", wrong)
    assert not passed
    assert expected in message
