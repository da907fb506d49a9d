"""Each chapter-6 checker accepts the reference answer and names typical mistakes."""
import math

import pytest
import torch

from perceiver_edu.exercises import run_checker
from perceiver_edu.plots.attention_maps import attention_center_of_mass, map_image_correlation, softmax_weights


def hint(id, *answer):
    passed, message = run_checker(id, *answer)
    assert not passed, "the checker accepted a wrong answer"
    return message


# 6.1 softmax weights ----------------------------------------------------------------------------
def manual_softmax(scores):
    shifted = scores - scores.max(dim=-1, keepdim=True).values
    return shifted.exp() / shifted.exp().sum(dim=-1, keepdim=True)


def test_6_1_accepts_reference_and_a_manual_softmax():
    assert run_checker("6.1", softmax_weights)[0]
    assert run_checker("6.1", manual_softmax)[0]


@pytest.mark.parametrize("wrong, expected", [
    (lambda s: s.softmax(dim=-2), "wrong axis"),
    (lambda s: s.exp() / s.exp().sum(dim=-1, keepdim=True), "exp overflows"),
    (lambda s: s / s.sum(dim=-1, keepdim=True), "exponentiate first"),
    (lambda s: (s / math.sqrt(s.shape[-1])).softmax(dim=-1), "no extra scaling"),
    (lambda s: s.softmax(dim=-1)[..., 0], "shape"),
    (lambda s: s.exp(), "did not normalise"),
])
def test_6_1_names_the_mistake(wrong, expected):
    assert expected in hint("6.1", wrong)


# 6.2 centre of mass -----------------------------------------------------------------------------
def loop_center_of_mass(weights, shape):
    h, w = shape
    flat = weights.reshape(-1, h * w)
    out = torch.zeros(len(flat), 2, dtype=weights.dtype)
    for i, row in enumerate(flat):
        for m in range(h * w):
            out[i] += row[m] * torch.tensor([m // w, m % w], dtype=weights.dtype)
        out[i] /= row.sum()
    return out.reshape(*weights.shape[:-1], 2)


def test_6_2_accepts_reference_and_a_loop():
    assert run_checker("6.2", attention_center_of_mass)[0]
    assert run_checker("6.2", loop_center_of_mass)[0]


def unnormalised(weights, shape):
    return attention_center_of_mass(weights, shape) * weights.sum(dim=-1, keepdim=True)


def column_major(weights, shape):
    h, w = shape
    m = torch.arange(h * w, dtype=weights.dtype)
    total = weights.sum(-1)
    return torch.stack([(weights * (m % h)).sum(-1) / total, (weights * (m // h)).sum(-1) / total], -1)


@pytest.mark.parametrize("wrong, expected", [
    (lambda w, s: attention_center_of_mass(w, s).flip(-1), "(column, row)"),
    (lambda w, s: attention_center_of_mass(w, s) + 1, "start at 0"),
    (unnormalised, "divide by the total weight"),
    (column_major, "row by row"),
    (lambda w, s: attention_center_of_mass(w, s).reshape(-1, 2), "one (row, column) pair per map"),
])
def test_6_2_names_the_mistake(wrong, expected):
    assert expected in hint("6.2", wrong)


# 6.3 correlation --------------------------------------------------------------------------------
def loop_correlation(maps, images):
    b, n, m = maps.shape
    out = torch.zeros(b, n)
    for i in range(b):
        pixels = images[i].flatten()
        for j in range(n):
            out[i, j] = torch.corrcoef(torch.stack([maps[i, j], pixels]))[0, 1]
    return out


def cosine(maps, images):
    pixels = images.flatten(1).unsqueeze(1)
    return (maps * pixels).sum(-1) / (maps.norm(dim=-1) * pixels.norm(dim=-1))


def covariance(maps, images):
    pixels = images.flatten(1).unsqueeze(1)
    return ((maps - maps.mean(-1, keepdim=True)) * (pixels - pixels.mean(-1, keepdim=True))).mean(-1)


def test_6_3_accepts_reference_and_a_loop():
    assert run_checker("6.3", map_image_correlation)[0]
    assert run_checker("6.3", loop_correlation)[0]


@pytest.mark.parametrize("wrong, expected", [
    (cosine, "cosine similarity"),
    (covariance, "covariance"),
    (lambda maps, images: map_image_correlation(maps, images).mean(-1), "shape (B, N)"),
    (lambda maps, images: map_image_correlation(maps, images.transpose(-1, -2)), "correlations differ"),
])
def test_6_3_names_the_mistake(wrong, expected):
    assert expected in hint("6.3", wrong)
