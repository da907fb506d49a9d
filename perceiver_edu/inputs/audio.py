"""Audio as byte arrays: raw waveforms and log-mel spectrograms (chapter 8).

* A waveform ``(B, T)`` is T elements, one per sample: its amplitude, then the Fourier features of
  its time on ``linspace(-1, 1, T)`` (d = 1): ``1 + (2K+1)`` channels.
* A spectrogram ``(B, F, T)`` is a one-channel image with frequency rows and time columns: F*T
  elements, each a cell's value, then the features of its (frequency, time) position (d = 2):
  ``1 + 2(2K+1)`` channels.
* Patches of P consecutive samples ``(B, T)`` -> ``(B, T // P, P)`` (:func:`audio_patches`) make
  T // P elements of P values each, with the time features of each patch's index:
  ``P + (2K+1)`` channels (:func:`patched_audio_to_bytes`).  A common way to shorten raw audio; the
  paper fed single samples.

For a regular sampling, ``max_freq`` (mu) is the number of samples along an axis, the sampling
rate; its Nyquist frequency, mu / 2, is the top band.  :func:`log_mel_spectrogram` turns waveforms into log-mel spectrograms with
``torch.stft`` and a mel filterbank written here (no audio library needed).
"""
from __future__ import annotations

import torch

from ..model.position import grid_fourier_features, num_fourier_channels
from .byte_array import byte_array, check_float_tensor


# ----------------------------------------------------------------------------------------- waveforms
def audio_byte_channels(num_bands: int) -> int:
    """Channels of :func:`audio_to_bytes`: the sample value plus ``2K + 1`` time features."""
    return 1 + num_fourier_channels(1, num_bands)


def audio_to_bytes(waveforms: torch.Tensor, num_bands: int, max_freq: float) -> torch.Tensor:
    """Waveforms ``(B, T)`` -> byte array ``(B, T, 1 + (2K+1))``.

    Each row is one sample: its amplitude followed by the Fourier features of its time on a
    ``linspace(-1, 1, T)`` axis (``max_freq = T`` resolves neighbouring samples).
    """
    check_float_tensor(waveforms, 2, "(B, T)", "waveforms")
    positions = grid_fourier_features(waveforms.shape[1:], num_bands, max_freq, device=waveforms.device,
                                      dtype=waveforms.dtype)  # (T, 2K+1)
    return byte_array(waveforms.unsqueeze(-1), positions)  # (B, T, 1 + (2K+1))


def audio_patches(waveforms: torch.Tensor, patch: int) -> torch.Tensor:
    """Waveforms ``(B, T)`` -> patches ``(B, T // P, P)`` of ``P = patch`` consecutive samples.

    Patch j holds samples ``j*P ... j*P + P - 1``; the last ``T % P`` samples are dropped.
    """
    check_float_tensor(waveforms, 2, "(B, T)", "waveforms")
    if isinstance(patch, bool) or not isinstance(patch, int) or not 1 <= patch <= waveforms.shape[1]:
        raise ValueError(f"expected patch, the samples per patch, as an int from 1 to T = {waveforms.shape[1]}, "
                         f"got {patch!r}")
    b, t = waveforms.shape
    m = t // patch
    return waveforms[:, :m * patch].reshape(b, m, patch)  # (B, T // P, P)


def patched_audio_byte_channels(patch: int, num_bands: int) -> int:
    """Channels of :func:`patched_audio_to_bytes`: P sample values plus ``2K + 1`` time features."""
    return patch + num_fourier_channels(1, num_bands)


def patched_audio_to_bytes(waveforms: torch.Tensor, patch: int, num_bands: int, max_freq: float) -> torch.Tensor:
    """Waveforms ``(B, T)`` -> byte array ``(B, T // P, P + (2K+1))`` of patches of P samples.

    Each row is one patch (:func:`audio_patches`): its P amplitudes followed by the Fourier
    features of the patch's index on a ``linspace(-1, 1, T // P)`` axis (``max_freq = T // P``
    resolves neighbouring patches).
    """
    patches = audio_patches(waveforms, patch)  # (B, M = T // P, P)
    positions = grid_fourier_features(patches.shape[1:2], num_bands, max_freq, device=waveforms.device,
                                      dtype=waveforms.dtype)  # (M, 2K+1)
    return byte_array(patches, positions)  # (B, M, P + (2K+1))


# -------------------------------------------------------------------------------------- mel scale
def hz_to_mel(f):
    """The HTK mel scale: ``2595 log10(1 + f / 700)``."""
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(f, dtype=torch.float64) / 700.0)


def mel_to_hz(m):
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (torch.as_tensor(m, dtype=torch.float64) / 2595.0) - 1.0)


def mel_filterbank(n_freqs: int, n_mels: int, sample_rate: int, f_min: float = 0.0,
                   f_max: float | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Triangular mel filters ``(n_freqs, n_mels)`` for the bins of a one-sided spectrum.

    Filter m rises linearly from mel point m to m+1 and falls back to zero at m+2, over
    ``n_mels + 2`` points spaced evenly on the mel scale between ``f_min`` and ``f_max`` (default
    Nyquist).  Peak height 1 (no area normalisation).  The bins are ``linspace(0, sr/2, n_freqs)``.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"need 0 <= f_min < f_max <= sample_rate/2 = {sample_rate / 2}, got f_min={f_min}, "
                         f"f_max={f_max}")
    bins = torch.linspace(0, sample_rate / 2, n_freqs, dtype=torch.float64)  # (n_freqs,)
    edges = mel_to_hz(torch.linspace(float(hz_to_mel(f_min)), float(hz_to_mel(f_max)), n_mels + 2,
                                     dtype=torch.float64))  # (n_mels + 2,)
    left, centre, right = edges[:-2], edges[1:-1], edges[2:]  # (n_mels,) each
    up = (bins[:, None] - left) / (centre - left)  # (n_freqs, n_mels)
    down = (right - bins[:, None]) / (right - centre)
    fb = torch.clamp(torch.minimum(up, down), min=0.0)
    empty = (fb.sum(0) == 0).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"mel filters {empty} fall between two frequency bins and are all zero: use fewer mels "
                         f"(n_mels={n_mels}) or a longer FFT (n_freqs={n_freqs})")
    return fb.to(dtype)  # computed in float64


def log_mel_spectrogram(waveforms: torch.Tensor, sample_rate: int = 8000, n_fft: int = 256,
                        hop: int | None = None, n_mels: int = 40, f_min: float = 0.0, f_max: float | None = None,
                        eps: float = 1e-6) -> torch.Tensor:
    """Waveforms ``(B, T)`` -> log-mel spectrograms ``(B, n_mels, 1 + T // hop)``.

    Frames of ``n_fft`` samples every ``hop`` (default ``n_fft // 2``), centred (the signal is
    reflect-padded by ``n_fft // 2`` at both ends), a periodic Hann window, the power ``|X_k|^2``
    of the one-sided DFT, :func:`mel_filterbank`, then ``log(mel + eps)``.  At 8 kHz the defaults
    give 32 ms windows every 16 ms: one second becomes a 40 x 63 image.
    """
    check_float_tensor(waveforms, 2, "(B, T)", "waveforms")
    hop = n_fft // 2 if hop is None else int(hop)
    if n_fft < 2 or hop < 1:
        raise ValueError(f"need n_fft >= 2 and hop >= 1, got n_fft={n_fft}, hop={hop}")
    if waveforms.shape[1] <= n_fft // 2:
        raise ValueError(f"waveforms of shape {tuple(waveforms.shape)} are too short for n_fft={n_fft}: "
                         f"T must exceed n_fft // 2 = {n_fft // 2}")
    window = torch.hann_window(n_fft, device=waveforms.device, dtype=waveforms.dtype)
    stft = torch.stft(waveforms, n_fft, hop_length=hop, window=window, center=True, pad_mode="reflect",
                      return_complex=True)  # (B, n_fft//2 + 1, frames)
    power = stft.real ** 2 + stft.imag ** 2
    fb = mel_filterbank(n_fft // 2 + 1, n_mels, sample_rate, f_min, f_max, power.dtype)  # (n_freqs, n_mels)
    fb = fb.to(power.device)
    mel = torch.einsum("bft,fm->bmt", power, fb)  # (B, n_mels, frames)
    return torch.log(mel + eps)


# ----------------------------------------------------------------------------------- spectrograms
def spectrogram_byte_channels(num_bands: int) -> int:
    """Channels of :func:`spectrogram_to_bytes`: the cell value plus ``2(2K + 1)`` features."""
    return 1 + num_fourier_channels(2, num_bands)


def spectrogram_to_bytes(spec: torch.Tensor, num_bands: int, max_freq: float) -> torch.Tensor:
    """Spectrograms ``(B, F, T)`` -> byte array ``(B, F*T, 1 + 2(2K+1))``.

    A spectrogram is a one-channel image with frequency rows and time columns: element
    ``f * T + t`` holds ``spec[:, f, t]`` followed by the 2-D Fourier features of its (frequency,
    time) position on a ``linspace(-1, 1)`` grid.
    """
    check_float_tensor(spec, 3, "(B, F, T)", "spectrograms")
    b, f, t = spec.shape
    positions = grid_fourier_features((f, t), num_bands, max_freq, device=spec.device,
                                      dtype=spec.dtype)  # (F*T, 2(2K+1))
    return byte_array(spec.reshape(b, f * t, 1), positions)  # (B, F*T, 1 + 2(2K+1))


__all__ = ["audio_byte_channels", "audio_patches", "audio_to_bytes", "hz_to_mel", "log_mel_spectrogram",
           "mel_filterbank", "mel_to_hz", "patched_audio_byte_channels", "patched_audio_to_bytes",
           "spectrogram_byte_channels", "spectrogram_to_bytes"]
