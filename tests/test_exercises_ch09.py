"""Each chapter-9 checker accepts the reference answer and names typical mistakes."""
import math

import pytest
import torch

from perceiver_edu.exercises import run_checker
from perceiver_edu.exercises.ch09 import shuffle_points
from perceiver_edu.inputs.points import points_to_bytes
from perceiver_edu.model.position import fourier_features


def hint(id, *answer):
    passed, message = run_checker(id, *answer)
    assert not passed, "the checker accepted a wrong answer"
    return message


# 9.1 points -> byte array -----------------------------------------------------------------------
def by_hand(points, k, mu):
    """Independent loop over points and axes."""
    b, p, _ = points.shape
    out = torch.empty(b, p, 3 * (2 * k + 1))
    freqs = [1 + j * (mu / 2 - 1) / (k - 1) if k > 1 else 1.0 for j in range(k)]
    for i in range(b):
        for n in range(p):
            row = []
            for d in range(3):
                x = points[i, n, d].item()
                row += [math.sin(f * math.pi * x) for f in freqs] + [math.cos(f * math.pi * x) for f in freqs]
            out[i, n] = torch.tensor(row + points[i, n].tolist())
    return out


def test_9_1_accepts_reference_and_a_loop():
    assert run_checker("9.1", points_to_bytes)[0]
    assert run_checker("9.1", lambda x, k, mu: fourier_features(x, k, mu))[0]
    assert run_checker("9.1", by_hand)[0]


def no_raw(x, k, mu):
    return fourier_features(x, k, mu)[..., :-3]


def bands_to_mu(x, k, mu):
    ang = x.unsqueeze(-1) * torch.linspace(1, mu, k) * math.pi
    return torch.cat([torch.cat([ang.sin(), ang.cos()], -1).flatten(-2), x], -1)


def interleaved(x, k, mu):
    ang = x.unsqueeze(-1) * torch.linspace(1, mu / 2, k) * math.pi
    return torch.cat([torch.stack([ang.sin(), ang.cos()], -1).flatten(-3), x], -1)


@pytest.mark.parametrize("wrong, expected", [
    (no_raw, "raw coordinates"),
    (lambda x, k, mu: torch.cat([x, fourier_features(x, k, mu)], -1), "do not put the coordinates in front"),
    (lambda x, k, mu: fourier_features(x[..., :1], k, mu), "all\nthree".replace("\n", " ")),
    (bands_to_mu, "max_freq / 2"),
    (interleaved, "channel order"),
    (lambda x, k, mu: fourier_features(x, k, mu) * 2, "fourier_features(point"),
])
def test_9_1_names_the_mistake(wrong, expected):
    assert expected in hint("9.1", wrong)


# 9.2 shuffle the points --------------------------------------------------------------------------
def test_9_2_accepts_reference():
    assert run_checker("9.2", shuffle_points)[0]
    assert run_checker("9.2", lambda pts, g: torch.stack([s[torch.randperm(len(s), generator=g)] for s in pts]))[0]


def same_perm(pts, g):
    return pts[:, torch.randperm(pts.shape[1], generator=g)]


def per_coordinate(pts, g):
    return torch.stack([torch.stack([s[torch.randperm(len(s), generator=g), d] for d in range(3)], -1) for s in pts])


@pytest.mark.parametrize("wrong, expected", [
    (same_perm, "one permutation per set"),
    (per_coordinate, "got mixed"),
    (lambda pts, g: pts, "original order"),
    (lambda pts, g: pts.flip(0), "same coordinates"),
    (lambda pts, g: pts[:, :-1], "same shape"),
])
def test_9_2_names_the_mistake(wrong, expected):
    assert expected in hint("9.2", wrong)
