"""Each chapter-3 checker accepts the reference answer and names typical mistakes."""
import math

import pytest
import torch
from torch import nn

from perceiver_edu.inputs.images import image_to_bytes
from perceiver_edu.exercises import run_checker
from perceiver_edu.model.position import LearnedPositions, fourier_features, position_grid


def hint(id, answer):
    passed, message = run_checker(id, answer)
    assert not passed, "the checker accepted a wrong answer"
    return message


# 3.1 alias of a band ---------------------------------------------------------------------------
def test_3_1_reference_matches_a_brute_force_search_on_the_grid():
    from perceiver_edu.exercises.ch03 import alias_reference
    for f, mu in [(14.0, 28), (20.0, 28), (40.0, 16), (50.0, 16), (17.428571, 32), (3.0, 28)]:
        x = torch.linspace(-1, 1, mu, dtype=torch.float64)
        candidates = torch.linspace(0, (mu - 1) / 2, 20001, dtype=torch.float64)   # every band below Nyquist

        def gap(g):  # largest difference of sines and of cosines, up to sign
            return max(min((w(f * math.pi * x) - s * w(g * math.pi * x)).abs().max().item() for s in (1, -1))
                       for w in (torch.sin, torch.cos))
        best = min(candidates.tolist(), key=gap)
        assert abs(best - alias_reference(f, mu)) < 1e-3 and gap(alias_reference(f, mu)) < 1e-9


def test_3_1_accepts_reference():
    from perceiver_edu.exercises.ch03 import alias_reference
    assert run_checker("3.1", alias_reference)[0]


@pytest.mark.parametrize("wrong, expected", [
    (lambda f, mu: f, "above the Nyquist frequency"),
    (lambda f, mu: abs(mu - f) if f > (mu - 1) / 2 else f, "reflected about μ"),
    (lambda f, mu: abs(f - (mu - 1)) if f > (mu - 1) / 2 else f, "first reduce f modulo"),
    (lambda f, mu: f / 2, "below the Nyquist frequency"),
    (lambda f, mu: torch.tensor([f, mu]), "one number"),
])
def test_3_1_names_the_mistake(wrong, expected):
    assert expected in hint("3.1", wrong)


# 3.2 Fourier features -------------------------------------------------------------------------
def features(pos, k, mu, scale=math.pi, raw=True, freqs=None):
    freqs = torch.linspace(1.0, mu / 2, k) if freqs is None else freqs
    angles = pos.unsqueeze(-1) * freqs * scale
    feats = torch.cat([angles.sin(), angles.cos()], dim=-1).flatten(-2)
    return torch.cat([feats, pos], dim=-1) if raw else feats


def test_3_2_accepts_reference_and_a_naive_loop():
    assert run_checker("3.2", fourier_features)[0]
    assert run_checker("3.2", features)[0]


@pytest.mark.parametrize("wrong, expected", [
    (lambda pos, k, mu: features(pos, k, mu, raw=False), "raw coordinates x_d are missing"),
    (lambda pos, k, mu: features(pos, k, mu, scale=1.0), "missing π"),
    (lambda pos, k, mu: features(pos, k, mu, scale=2 * math.pi), "2π"),
    (lambda pos, k, mu: features(pos, k, mu, freqs=torch.linspace(1.0, mu, k)), "wrong band spacing"),
    (lambda pos, k, mu: features(pos, k, mu, freqs=torch.logspace(0, math.log10(mu / 2), k)), "not logspace"),
    (lambda pos, k, mu: torch.cat([pos, features(pos, k, mu, raw=False)], -1), "raw coordinates *last*"),
    (lambda pos, k, mu: torch.cat([features(pos, k, mu, raw=False)[..., :-1], pos], -1), "wrong channel count"),
])
def test_3_2_names_the_mistake(wrong, expected):
    assert expected in hint("3.2", wrong)


# 3.3 image -> bytes ---------------------------------------------------------------------------
def added_not_concatenated(images, k, mu):
    b, c, h, w = images.shape
    pos = fourier_features(position_grid((h, w)), k, mu).reshape(1, h * w, -1)
    pixels = images.permute(0, 2, 3, 1).reshape(b, h * w, c)
    return pixels.mean(-1, keepdim=True) + pos  # broadcast add: (B, M, P)


def column_major(images, k, mu):
    b, c, h, w = images.shape
    pos = fourier_features(position_grid((h, w)), k, mu).reshape(1, h * w, -1).expand(b, -1, -1)
    return torch.cat([images.permute(0, 3, 2, 1).reshape(b, h * w, c), pos], dim=-1)


def test_3_3_accepts_reference():
    assert run_checker("3.3", image_to_bytes)[0]


@pytest.mark.parametrize("wrong, expected", [
    (added_not_concatenated, "Concatenate"),
    (column_major, "column-major"),
    (lambda images, k, mu: image_to_bytes(images, k, 2 * mu), "position channels are not"),
    (lambda images, k, mu: images, "flatten the grid"),
])
def test_3_3_names_the_mistake(wrong, expected):
    assert expected in hint("3.3", wrong)


# 3.4 learned positions ------------------------------------------------------------------------
class PlainTensor(nn.Module):  # not a parameter: never trained
    def __init__(self, m, p):
        super().__init__()
        self.table = torch.randn(m, p) * 0.02

    def forward(self, x):
        return self.table.expand(x.shape[0], -1, -1)


class NoBatch(LearnedPositions):
    def forward(self, x):
        super().forward(x)
        return self.positions


class UnitStd(LearnedPositions):
    def __init__(self, m, p):
        super().__init__(m, p)
        nn.init.normal_(self.positions)


class Untruncated(LearnedPositions):
    def __init__(self, m, p):
        super().__init__(m, p)
        nn.init.trunc_normal_(self.positions, std=0.02)  # torch's default cut is at ±2 (absolute), i.e. ±100σ


class NoSizeCheck(LearnedPositions):
    def forward(self, x):
        return self.positions[: x.shape[1]].expand(x.shape[0], -1, -1)


def test_3_4_accepts_reference():
    assert run_checker("3.4", LearnedPositions)[0]


@pytest.mark.parametrize("wrong, expected", [
    (PlainTensor, "nn.Parameter"),
    (NoBatch, "broadcast the table over the batch"),
    (UnitStd, "too large"),
    (Untruncated, "truncated"),
    (NoSizeCheck, "raise a ValueError"),
])
def test_3_4_names_the_mistake(wrong, expected):
    assert expected in hint("3.4", wrong)


# 3.5 the Fourier kernel -------------------------------------------------------------------------
def kernel(x, x2, k, mu, raw=True, dim_sum=True, sign=-1):
    freqs = torch.linspace(1.0, mu / 2, k, dtype=x.dtype)
    per_dim = torch.cos((x + sign * x2).unsqueeze(-1) * freqs * math.pi).sum(-1) + (x * x2 if raw else 0)
    return per_dim.sum(-1) if dim_sum else per_dim


def test_3_5_accepts_reference_and_the_features_dot_product():
    assert run_checker("3.5", kernel)[0]
    assert run_checker("3.5", lambda x, x2, k, mu: (fourier_features(x, k, mu) * fourier_features(x2, k, mu)).sum(-1))[0]


@pytest.mark.parametrize("wrong, expected", [
    (lambda x, x2, k, mu: kernel(x, x2, k, mu, raw=False), "add x_d · x'_d"),
    (lambda x, x2, k, mu: kernel(x, x2, k, mu, sign=1), "*difference*"),
    (lambda x, x2, k, mu: kernel(x, x2, k, mu, dim_sum=False), "sum over the d"),
    (lambda x, x2, k, mu: kernel(x, x2, k, 2 * mu), "not to max_freq"),
])
def test_3_5_names_the_mistake(wrong, expected):
    assert expected in hint("3.5", wrong)
