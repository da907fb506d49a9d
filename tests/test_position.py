import math

import pytest
import torch

from perceiver_edu import fourier_features, num_fourier_channels, position_grid
from perceiver_edu.model.position import grid_fourier_features


def naive_fourier(pos, num_bands, max_freq):
    """The paper's formula, one scalar at a time."""
    *lead, d = pos.shape
    flat = pos.reshape(-1, d).tolist()
    freqs = [1 + k * (max_freq / 2 - 1) / (num_bands - 1) for k in range(num_bands)] if num_bands > 1 else [1.0]
    rows = []
    for p in flat:
        row = []
        for x in p:
            row += [math.sin(f * math.pi * x) for f in freqs] + [math.cos(f * math.pi * x) for f in freqs]
        rows.append(row + list(p))
    return torch.tensor(rows, dtype=torch.float64).reshape(*lead, -1)


@pytest.mark.parametrize("d,num_bands,max_freq", [(1, 4, 10.0), (2, 6, 28.0), (3, 3, 16.0)])
def test_fourier_features_match_formula(d, num_bands, max_freq):
    pos = torch.rand(5, 7, d, dtype=torch.float64) * 2 - 1
    feats = fourier_features(pos, num_bands, max_freq)
    assert feats.shape == (5, 7, d * (2 * num_bands + 1)) == (5, 7, num_fourier_channels(d, num_bands))
    torch.testing.assert_close(feats, naive_fourier(pos, num_bands, max_freq))


def test_bands_span_one_to_half_max_freq():
    # at x = 0.5 the sine of band f is sin(f*pi/2): 1 for f = 1, and for f = mu/2 = 4 it is 0
    feats = fourier_features(torch.tensor([[0.5]]), num_bands=4, max_freq=8.0)[0]
    sines = feats[:4]
    torch.testing.assert_close(sines, torch.sin(torch.tensor([1.0, 2.0, 3.0, 4.0]) * math.pi / 2))
    assert feats[-1] == 0.5  # raw coordinate last


def test_fourier_features_bad_arguments():
    with pytest.raises(ValueError, match="num_bands"):
        fourier_features(torch.zeros(3, 2), 0, 10.0)
    with pytest.raises(ValueError, match="max_freq"):
        fourier_features(torch.zeros(3, 2), 4, 1.0)


def test_position_grid_2d_and_1d():
    grid = position_grid((3, 4))
    assert grid.shape == (3, 4, 2)
    torch.testing.assert_close(grid[:, 0, 0], torch.tensor([-1.0, 0.0, 1.0]))  # rows
    torch.testing.assert_close(grid[0, :, 1], torch.linspace(-1, 1, 4))  # columns
    assert (grid[:, :, 0] == grid[:, :1, 0]).all()  # row coordinate constant along a row
    assert position_grid((5,)).shape == (5, 1)
    with pytest.raises(ValueError, match="shape"):
        position_grid((0, 3))


@pytest.mark.parametrize("shape, num_bands, max_freq", [((3, 4), 2, 4.0), ((6,), 3, 6.0), ((2, 3, 2), 1, 3.0)])
def test_grid_fourier_features_row_major_against_formula(shape, num_bands, max_freq):
    got = grid_fourier_features(shape, num_bands, max_freq, dtype=torch.float64)
    assert got.shape == (math.prod(shape), num_fourier_channels(len(shape), num_bands)) and got.dtype == torch.float64
    for m in range(math.prod(shape)):
        index, rest = [], m
        for size in reversed(shape):  # row-major: the last axis varies fastest
            index.insert(0, rest % size)
            rest //= size
        x = torch.tensor([[-1 + 2 * i / (s - 1) for i, s in zip(index, shape)]], dtype=torch.float64)
        torch.testing.assert_close(got[m], naive_fourier(x, num_bands, max_freq)[0])
