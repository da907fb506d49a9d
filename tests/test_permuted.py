"""Permuted pixels: the permutation itself, positions that follow it, learned positions."""
import pytest
import torch

import perceiver_edu as pe
from perceiver_edu.inputs.permuted import (LearnedPositionImagePerceiver, permute_pixels, permute_positions,
                                           random_permutation)


def naive_permute(images, perm):
    out = torch.empty_like(images)
    b, c, h, w = images.shape
    for m in range(h * w):
        src = int(perm[m])
        out[:, :, m // w, m % w] = images[:, :, src // w, src % w]
    return out


@pytest.mark.parametrize("shape", [(2, 1, 5, 7), (3, 3, 4, 4), (1, 2, 1, 6)])
def test_permute_pixels_matches_a_loop(shape):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(*shape, generator=g)
    perm = random_permutation(shape[2] * shape[3], seed=2)
    assert torch.equal(permute_pixels(x, perm), naive_permute(x, perm))
    assert torch.equal(permute_pixels(permute_pixels(x, perm), perm.argsort()), x)  # inverse undoes it


def test_random_permutation_is_a_reproducible_permutation():
    p = random_permutation(784, seed=5)
    assert torch.equal(p.sort().values, torch.arange(784))
    assert torch.equal(p, random_permutation(784, seed=5)) and not torch.equal(p, random_permutation(784, seed=6))


@pytest.mark.parametrize("perm, match", [
    (torch.arange(10), "permutation of range"),
    (torch.zeros(20, dtype=torch.long), "repeats"),
    (torch.arange(20).float(), "integer"),
])
def test_bad_permutations_are_clear_errors(perm, match):
    with pytest.raises(ValueError, match=match):
        permute_pixels(torch.rand(1, 1, 4, 5), perm)


def small_config(channels=35):
    return pe.PerceiverConfig(input_channels=channels, num_classes=10, num_latents=8, latent_dim=32,
                              num_cross_attends=2, self_heads=4)


def test_fourier_positions_that_follow_the_pixels_give_the_same_logits():
    torch.manual_seed(0)
    x, perm = torch.rand(3, 1, 28, 28), random_permutation(784, 0)
    model = pe.ImagePerceiver(small_config())
    with torch.no_grad():
        before = model(x)
        scrambled = model(permute_pixels(x, perm))  # positions left in place: a different input
        after = permute_positions(model, perm)(permute_pixels(x, perm))
    assert torch.allclose(before, after, atol=1e-5)
    assert not torch.allclose(before, scrambled, atol=1e-3)
    # element m of the byte array now holds pixel perm[m] *and* its original position
    assert torch.allclose(model.to_bytes(permute_pixels(x, perm)), pe.image_to_bytes(x, 8, 28.0)[:, perm], atol=1e-6)
    with pytest.raises(TypeError, match="ImagePerceiver"):
        permute_positions(torch.nn.Linear(2, 2), perm)


def test_learned_position_perceiver():
    torch.manual_seed(0)
    model = LearnedPositionImagePerceiver(small_config(1 + 34), position_dim=34, mean=0.5, std=0.25)
    x = torch.rand(2, 1, 28, 28)
    bytes_ = model.to_bytes(x)
    assert bytes_.shape == (2, 784, 35)
    assert torch.allclose(bytes_[..., 0], ((x - 0.5) / 0.25).reshape(2, 784))
    assert torch.equal(bytes_[0, :, 1:], model.positions.positions)  # the same learned vectors for every image
    assert model(x).shape == (2, 10)
    names = [n for n, _ in model.named_parameters()]
    assert "positions.positions" in names  # trained with the rest
    with pytest.raises(ValueError, match="C \\+ position_dim"):
        LearnedPositionImagePerceiver(small_config(35), position_dim=16)
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        model(torch.rand(2, 1, 14, 14))
