"""byte_array, and every adapter built on it giving the bytes of its formula written out."""
import pytest
import torch

import perceiver_edu as pe
from perceiver_edu.inputs.audio import audio_to_bytes, spectrogram_to_bytes
from perceiver_edu.inputs.byte_array import byte_array
from perceiver_edu.inputs.images import image_to_bytes
from perceiver_edu.inputs.multimodal import Modality, MultimodalPerceiver, pack
from perceiver_edu.inputs.permuted import LearnedPositionImagePerceiver
from perceiver_edu.inputs.points import points_to_bytes
from perceiver_edu.model.perceiver_io import position_queries
from perceiver_edu.model.position import fourier_features, position_grid


def naive_byte_array(values, positions):
    """Element by element: row (b, m) is values[b, m] then the positions of (b, m)."""
    b, m, cv = values.shape
    per_example = positions if positions.dim() == 3 else positions.reshape(1, m, -1)
    out = torch.empty(b, m, cv + per_example.shape[-1], dtype=values.dtype)
    for i in range(b):
        for j in range(m):
            out[i, j, :cv] = values[i, j]
            out[i, j, cv:] = per_example[i if len(per_example) == b else 0, j]
    return out


@pytest.mark.parametrize("positions_shape", [(5, 3), (1, 5, 3), (2, 5, 3)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_byte_array_against_a_loop(positions_shape, dtype):
    g = torch.Generator().manual_seed(0)
    values = torch.randn(2, 5, 4, generator=g).to(dtype)
    positions = torch.randn(*positions_shape, generator=g).to(dtype)
    out = byte_array(values, positions)
    assert out.shape == (2, 5, 4 + 3) and out.dtype == dtype
    assert torch.equal(out, naive_byte_array(values, positions))


def test_shared_positions_get_the_gradient_of_every_example():
    positions = torch.zeros(4, 2, requires_grad=True)
    byte_array(torch.zeros(3, 4, 1), positions).sum().backward()
    assert torch.equal(positions.grad, torch.full((4, 2), 3.0))  # one count per example of the batch


@pytest.mark.parametrize("values, positions, match", [
    (torch.zeros(5, 4), torch.zeros(5, 3), r"values of shape \(B, M, C_v\), got \(5, 4\)"),
    ([[0.0]], torch.zeros(5, 3), r"values of shape \(B, M, C_v\), got list"),
    (torch.zeros(2, 5, 4), torch.zeros(5), r"positions of shape \(M, P\) or \(B, M, P\), got \(5,\)"),
    (torch.zeros(2, 5, 4), torch.zeros(6, 3), r"\(6, 3\) do not fit values of shape \(2, 5, 4\): expected \(5, P\)"),
    (torch.zeros(2, 5, 4), torch.zeros(3, 5, 3), r"expected \(5, P\), \(1, 5, P\) or \(2, 5, P\)"),
])
def test_byte_array_names_what_it_expected_and_what_came(values, positions, match):
    with pytest.raises(ValueError, match=match):
        byte_array(values, positions)


# Each adapter's byte array as it was written before byte_array existed: values, then positions.
def old_image_to_bytes(images, k, mu):
    b, c, h, w = images.shape
    pos = fourier_features(position_grid((h, w), dtype=images.dtype), k, mu)  # (H, W, P)
    pixels = images.permute(0, 2, 3, 1).reshape(b, h * w, c)
    return torch.cat([pixels, pos.reshape(1, h * w, -1).expand(b, -1, -1)], dim=-1)


def old_audio_to_bytes(waves, k, mu):
    pos = fourier_features(position_grid((waves.shape[1],), dtype=waves.dtype), k, mu)  # (T, P)
    return torch.cat([waves.unsqueeze(-1), pos.unsqueeze(0).expand(len(waves), -1, -1)], dim=-1)


def old_spectrogram_to_bytes(spec, k, mu):
    b, f, t = spec.shape
    pos = fourier_features(position_grid((f, t), dtype=spec.dtype), k, mu)  # (F, T, P)
    return torch.cat([spec.reshape(b, f * t, 1), pos.reshape(1, f * t, -1).expand(b, -1, -1)], dim=-1)


def old_points_with_constant(points, k, mu):
    return torch.cat([torch.ones_like(points[..., :1]), fourier_features(points, k, mu)], dim=-1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("new, old, shape", [
    (image_to_bytes, old_image_to_bytes, (3, 2, 5, 7)),
    (audio_to_bytes, old_audio_to_bytes, (3, 50)),
    (spectrogram_to_bytes, old_spectrogram_to_bytes, (3, 4, 9)),
    (lambda x, k, mu: points_to_bytes(x, k, mu, constant=True), old_points_with_constant, (3, 11, 3)),
])
def test_adapters_give_the_bytes_of_their_formula(new, old, shape, dtype):
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(1), dtype=dtype) * 2 - 1
    got = new(x, 3, 9.0)
    assert got.dtype == dtype and torch.equal(got, old(x, 3, 9.0))


def test_models_give_the_bytes_of_their_formula():
    cfg = dict(num_classes=10, num_latents=4, latent_dim=16, num_cross_attends=1, self_heads=2)
    images = torch.rand(2, 1, 6, 5, generator=torch.Generator().manual_seed(2))
    model = pe.ImagePerceiver(pe.PerceiverConfig(input_channels=1 + 2 * 7, **cfg),
                              dict(image_shape=(1, 6, 5), num_bands=3, max_freq=6.0, mean=0.5, std=0.25))
    assert torch.equal(model.to_bytes(images), old_image_to_bytes((images - 0.5) / 0.25, 3, 6.0))

    learned = LearnedPositionImagePerceiver(pe.PerceiverConfig(input_channels=1 + 4, **cfg), (1, 6, 5), 4, 0.5, 0.25)
    pixels = ((images - 0.5) / 0.25).permute(0, 2, 3, 1).reshape(2, 30, 1)
    want = torch.cat([pixels, learned.positions.positions.expand(2, -1, -1)], dim=-1)
    assert torch.equal(learned.to_bytes(images), want)

    mods = [Modality("audio", (4, 6), 3, 6), Modality("wave", (13,), 2, 13)]
    multi = MultimodalPerceiver(pe.PerceiverConfig(input_channels=MultimodalPerceiver.input_channels(mods, 3), **cfg),
                                mods, embed_dim=3)
    spec, wave = torch.randn(2, 4, 6), torch.randn(2, 13)
    got = multi.byte_arrays(pack(spec, wave))
    assert torch.equal(got[0], old_spectrogram_to_bytes(spec, 3, 6))
    assert torch.equal(got[1], old_audio_to_bytes(wave, 2, 13))


def test_position_queries_give_the_features_of_their_formula():
    index = torch.tensor([[0, 6, 7, 34], [12, 12, 3, 20]])
    want = fourier_features(position_grid((5, 7)), 3, 7.0).reshape(35, -1)[index]
    assert torch.equal(position_queries(index, (5, 7), 3, 7.0), want)
