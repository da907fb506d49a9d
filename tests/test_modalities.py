import math

import numpy as np
import pytest
import torch

from perceiver_edu.inputs.audio import (audio_byte_channels, audio_patches, audio_to_bytes, hz_to_mel,
                                        log_mel_spectrogram, mel_filterbank, mel_to_hz, patched_audio_byte_channels,
                                        patched_audio_to_bytes, spectrogram_byte_channels, spectrogram_to_bytes)
from perceiver_edu.inputs.points import point_byte_channels, points_to_bytes


def naive_features(coords, num_bands, max_freq):
    """Fourier features of one position written out: per dim K sines, K cosines; then the raw coords."""
    freqs = np.linspace(1.0, max_freq / 2, num_bands)
    out = []
    for x in coords:
        out += [math.sin(f * math.pi * x) for f in freqs] + [math.cos(f * math.pi * x) for f in freqs]
    return np.array(out + list(coords))


def test_audio_to_bytes_against_naive():
    torch.manual_seed(0)
    wave = torch.randn(2, 7, dtype=torch.float64)
    out = audio_to_bytes(wave, num_bands=3, max_freq=7)
    assert out.shape == (2, 7, 1 + 2 * 3 + 1) and out.shape[-1] == audio_byte_channels(3)
    for b in range(2):
        for t in range(7):
            x = -1 + 2 * t / 6
            assert out[b, t, 0] == wave[b, t]
            np.testing.assert_allclose(out[b, t, 1:].numpy(), naive_features([x], 3, 7), atol=1e-12)


@pytest.mark.parametrize("t, patch", [(12, 4), (13, 4), (7, 7), (5, 1)])
def test_audio_patches_against_a_naive_loop(t, patch):
    wave = torch.randn(3, t, dtype=torch.float64, generator=torch.Generator().manual_seed(t))
    out = audio_patches(wave, patch)
    assert out.shape == (3, t // patch, patch)
    for b in range(3):
        for j in range(t // patch):
            for i in range(patch):
                assert out[b, j, i] == wave[b, j * patch + i]  # consecutive samples; the last t % patch dropped


def test_patched_audio_to_bytes_against_naive():
    wave = torch.randn(2, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    out = patched_audio_to_bytes(wave, 3, num_bands=2, max_freq=3)  # 3 patches of 3 samples, 1 dropped
    assert out.shape == (2, 3, 3 + 2 * 2 + 1) and out.shape[-1] == patched_audio_byte_channels(3, 2)
    for b in range(2):
        for j in range(3):
            assert torch.equal(out[b, j, :3], wave[b, 3 * j:3 * j + 3])
            np.testing.assert_allclose(out[b, j, 3:].numpy(), naive_features([-1 + j], 2, 3), atol=1e-12)
    assert torch.equal(patched_audio_to_bytes(wave, 1, 2, 10.0), audio_to_bytes(wave, 2, 10.0))  # P = 1: samples


@pytest.mark.parametrize("patch", [0, 11, 2.5, True])
def test_audio_patches_refuse_a_bad_patch_size(patch):
    with pytest.raises(ValueError, match="samples per patch"):
        audio_patches(torch.zeros(2, 10), patch)


def test_spectrogram_to_bytes_against_naive():
    spec = torch.arange(2 * 3 * 5, dtype=torch.float64).reshape(2, 3, 5)
    out = spectrogram_to_bytes(spec, num_bands=2, max_freq=5)
    assert out.shape == (2, 15, 1 + 2 * (2 * 2 + 1)) and out.shape[-1] == spectrogram_byte_channels(2)
    for f in range(3):
        for t in range(5):
            row = out[1, f * 5 + t]
            assert row[0] == spec[1, f, t]
            np.testing.assert_allclose(row[1:].numpy(), naive_features([-1 + f, -1 + t / 2], 2, 5), atol=1e-12)


def test_points_to_bytes_against_naive_and_permutation():
    torch.manual_seed(0)
    pts = torch.rand(2, 6, 3, dtype=torch.float64) * 2 - 1
    out = points_to_bytes(pts, num_bands=4, max_freq=30)
    assert out.shape == (2, 6, 3 * 9) and out.shape[-1] == point_byte_channels(4)
    for b in range(2):
        for p in range(6):
            np.testing.assert_allclose(out[b, p].numpy(), naive_features(pts[b, p].tolist(), 4, 30), atol=1e-12)
    perm = torch.randperm(6)
    assert torch.equal(points_to_bytes(pts[:, perm], 4, 30), out[:, perm])  # a set: order only permutes rows
    with_one = points_to_bytes(pts, 4, 30, constant=True)
    assert with_one.shape[-1] == point_byte_channels(4, constant=True) == 28
    assert (with_one[..., 0] == 1).all() and torch.equal(with_one[..., 1:], out)
    with pytest.raises(TypeError):
        points_to_bytes(pts, 4, 30, True)  # constant is keyword-only


@pytest.mark.parametrize("fn, bad, expected", [
    (audio_to_bytes, torch.zeros(8), r"\(B, T\)"),
    (audio_to_bytes, torch.zeros(2, 3, 8), r"\(B, T\)"),
    (audio_to_bytes, torch.zeros(2, 8, dtype=torch.int16), r"\(B, T\)"),
    (spectrogram_to_bytes, torch.zeros(4, 5), r"\(B, F, T\)"),
    (points_to_bytes, torch.zeros(2, 5, 2), r"\(B, P, 3\)"),
    (points_to_bytes, torch.zeros(5, 3), r"\(B, P, 3\)"),
    (points_to_bytes, np.zeros((2, 5, 3)), r"\(B, P, 3\)"),
])
def test_adapters_name_the_expected_shape(fn, bad, expected):
    with pytest.raises(ValueError, match=expected):
        fn(bad, 4, 16)


def test_points_outside_the_unit_cube_are_refused():
    with pytest.raises(ValueError, match=r"\[-1, 1\]\^3"):
        points_to_bytes(torch.full((1, 2, 3), 1.5), 4, 16)


def test_mel_scale_roundtrip():
    f = torch.tensor([0.0, 100.0, 1000.0, 4000.0], dtype=torch.float64)
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(f)).numpy(), f.numpy(), atol=1e-9)
    assert abs(float(hz_to_mel(1000.0)) - 1000.0) < 1.0  # the mel scale's anchor: 1000 Hz ~ 1000 mel


def naive_filterbank(n_freqs, n_mels, sr, f_min=0.0, f_max=None):
    f_max = sr / 2 if f_max is None else f_max
    mel = lambda f: 2595 * math.log10(1 + f / 700)
    inv = lambda m: 700 * (10 ** (m / 2595) - 1)
    pts = [inv(mel(f_min) + (mel(f_max) - mel(f_min)) * i / (n_mels + 1)) for i in range(n_mels + 2)]
    fb = np.zeros((n_freqs, n_mels))
    for k in range(n_freqs):
        f = k * (sr / 2) / (n_freqs - 1)
        for m in range(n_mels):
            lo, c, hi = pts[m], pts[m + 1], pts[m + 2]
            if lo <= f <= c:
                fb[k, m] = (f - lo) / (c - lo)
            elif c < f <= hi:
                fb[k, m] = (hi - f) / (hi - c)
    return fb


@pytest.mark.parametrize("n_freqs, n_mels, f_min, f_max", [(129, 40, 0.0, None), (33, 8, 100.0, 3000.0)])
def test_mel_filterbank_against_naive(n_freqs, n_mels, f_min, f_max):
    fb = mel_filterbank(n_freqs, n_mels, 8000, f_min, f_max)
    assert fb.shape == (n_freqs, n_mels) and fb.dtype == torch.float32
    np.testing.assert_allclose(fb.numpy(), naive_filterbank(n_freqs, n_mels, 8000, f_min, f_max), atol=1e-6)


def test_mel_filterbank_refuses_empty_filters_and_bad_range():
    with pytest.raises(ValueError, match="all zero"):
        mel_filterbank(129, 128, 8000)
    with pytest.raises(ValueError, match="f_max"):
        mel_filterbank(129, 10, 8000, f_max=5000)


def naive_log_mel(x, sr, n_fft, hop, n_mels, eps):
    """Centred frames (reflect padding), periodic Hann window, the DFT as an explicit sum."""
    padded = np.pad(x, n_fft // 2, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    frames = 1 + len(x) // hop
    n = np.arange(n_fft)
    power = np.zeros((n_fft // 2 + 1, frames))
    for t in range(frames):
        seg = padded[t * hop: t * hop + n_fft] * window
        for k in range(n_fft // 2 + 1):
            re = np.sum(seg * np.cos(2 * np.pi * k * n / n_fft))
            im = -np.sum(seg * np.sin(2 * np.pi * k * n / n_fft))
            power[k, t] = re * re + im * im
    return np.log(naive_filterbank(n_fft // 2 + 1, n_mels, sr).T @ power + eps)


def test_log_mel_spectrogram_against_naive_dft():
    rng = np.random.default_rng(0)
    t = np.arange(150) / 8000
    x = np.stack([np.sin(2 * np.pi * 700 * t) + 0.1 * rng.standard_normal(150), rng.standard_normal(150)])
    out = log_mel_spectrogram(torch.from_numpy(x), sample_rate=8000, n_fft=32, hop=8, n_mels=6, eps=1e-6)
    assert out.shape == (2, 6, 1 + 150 // 8) and out.dtype == torch.float64
    for b in range(2):
        np.testing.assert_allclose(out[b].numpy(), naive_log_mel(x[b], 8000, 32, 8, 6, 1e-6), rtol=1e-9, atol=1e-9)


def test_log_mel_spectrogram_finds_a_tone():
    t = torch.arange(8000) / 8000
    spec = log_mel_spectrogram(torch.sin(2 * math.pi * 1000 * t).unsqueeze(0))  # defaults: (1, 40, 63)
    assert spec.shape == (1, 40, 63)
    centres = mel_to_hz(torch.linspace(0, float(hz_to_mel(4000.0)), 42))[1:-1]
    assert abs(centres[spec[0].mean(1).argmax()] - 1000) < 100  # the loudest band is the one at 1 kHz


def test_log_mel_spectrogram_errors():
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        log_mel_spectrogram(torch.zeros(1000))
    with pytest.raises(ValueError, match="too short"):
        log_mel_spectrogram(torch.zeros(1, 100), n_fft=256)
    with pytest.raises(ValueError, match="hop"):
        log_mel_spectrogram(torch.zeros(1, 1000), hop=0)
