"""Each chapter-8 checker accepts the reference answer and names typical mistakes; the reference
framing is torch.stft's."""
import math

import pytest
import torch
import torch.nn.functional as F

from perceiver_edu.exercises import run_checker
from perceiver_edu.exercises.ch08 import frame_signal
from perceiver_edu.inputs.audio import audio_patches, audio_to_bytes
from perceiver_edu.model.position import fourier_features


def hint(id, *answer):
    passed, message = run_checker(id, *answer)
    assert not passed, "the checker accepted a wrong answer"
    return message


# 8.1 waveform -> byte array ------------------------------------------------------------------------
def by_hand(waves, k, mu):
    b, t = waves.shape
    x = torch.linspace(-1, 1, t)
    freqs = torch.linspace(1, mu / 2, k)
    ang = x[:, None] * freqs * math.pi  # (T, K)
    pos = torch.cat([ang.sin(), ang.cos(), x[:, None]], dim=-1)  # (T, 2K + 1)
    return torch.cat([waves[..., None], pos.expand(b, -1, -1)], dim=-1)


def test_8_1_accepts_reference_and_a_hand_written_one():
    assert run_checker("8.1", audio_to_bytes)[0]
    assert run_checker("8.1", by_hand)[0]


def with_positions(waves, k, mu, pos):
    return torch.cat([waves[..., None], fourier_features(pos[:, None], k, mu).expand(len(waves), -1, -1)], dim=-1)


@pytest.mark.parametrize("wrong, expected", [
    (lambda w, k, mu: with_positions(w, k, mu, torch.arange(w.shape[1]).float()), "linspace(-1, 1, T)"),
    (lambda w, k, mu: with_positions(w, k, mu, torch.linspace(0, 1, w.shape[1])), "you used linspace(0, 1, T)"),
    (lambda w, k, mu: audio_to_bytes(w, k, mu)[..., 1:] + w[..., None], "not added"),
    (lambda w, k, mu: by_hand(w, k, mu)[..., :-1], "raw time"),
    (lambda w, k, mu: audio_to_bytes(w, k, mu).roll(-1, dims=-1), "sample value first"),
    (lambda w, k, mu: torch.cat([torch.zeros_like(w)[..., None], audio_to_bytes(w, k, mu)[..., 1:]], -1), "channel 0"),
])
def test_8_1_names_the_mistake(wrong, expected):
    assert expected in hint("8.1", wrong)


# 8.2 framing -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("t, n_fft, hop", [(100, 16, 8), (257, 32, 10), (8000, 256, 128)])
def test_reference_frames_are_those_of_torch_stft(t, n_fft, hop):
    waves = torch.randn(2, t, generator=torch.Generator().manual_seed(t), dtype=torch.float64)
    window = torch.hann_window(n_fft, dtype=torch.float64)
    ours = torch.fft.rfft(frame_signal(waves, n_fft, hop) * window, dim=-1)  # (B, frames, n_fft//2 + 1)
    theirs = torch.stft(waves, n_fft, hop_length=hop, window=window, center=True, pad_mode="reflect",
                        return_complex=True)  # (B, n_fft//2 + 1, frames)
    assert torch.allclose(ours.transpose(1, 2), theirs, atol=1e-9)


def test_8_2_accepts_reference():
    assert run_checker("8.2", frame_signal)[0]


@pytest.mark.parametrize("wrong, expected", [
    (lambda w, n, h: w.unfold(-1, n, h), "centre the frames"),
    (lambda w, n, h: F.pad(w, (n // 2, n // 2)).unfold(-1, n, h), "not with zeros"),
    (lambda w, n, h: frame_signal(w, n, h).transpose(1, 2), "transpose"),
    (lambda w, n, h: F.pad(w.unsqueeze(1), (n // 2, n // 2), mode="reflect").squeeze(1).unfold(-1, n, n), "overlap"),
])
def test_8_2_names_the_mistake(wrong, expected):
    assert expected in hint("8.2", wrong)


# 8.3 patches of samples ------------------------------------------------------------------------------
def patches_by_hand(waves, patch):
    b, t = waves.shape
    return torch.stack([torch.stack([waves[i, j * patch:(j + 1) * patch] for j in range(t // patch)])
                        for i in range(b)])


def test_8_3_accepts_reference_and_a_loop():
    assert run_checker("8.3", audio_patches)[0]
    assert run_checker("8.3", patches_by_hand)[0]


def strided(w, p):
    m = w.shape[1] // p
    return w[:, :m * p].reshape(len(w), p, m).transpose(1, 2)


def padded(w, p):
    return F.pad(w, (0, -w.shape[1] % p)).reshape(len(w), -1, p)


@pytest.mark.parametrize("wrong, expected", [
    (strided, "consecutive"),
    (lambda w, p: audio_patches(w, p).transpose(1, 2), "one patch per row"),
    (padded, "drop the last"),
    (lambda w, p: w.unfold(-1, p, 1), "must not overlap"),
    (lambda w, p: w[:, w.shape[1] % p:].reshape(len(w), -1, p), "first T % P"),
])
def test_8_3_names_the_mistake(wrong, expected):
    assert expected in hint("8.3", wrong)
