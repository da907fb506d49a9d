"""Chapter 8 exercises: a waveform as a byte array, the frames of a spectrogram, patches of samples.

Each checker runs the learner's function on seeded random signals of several lengths, compares it
with the reference and, when it differs, rebuilds typical mistakes to name the one made.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..inputs.audio import audio_patches, audio_to_bytes
from ..model.position import fourier_features
from .core import Hint, exercise
from .helpers import expect_tensor


def _same(a, b, atol: float = 1e-5) -> bool:
    return isinstance(a, torch.Tensor) and a.shape == b.shape and torch.allclose(a.double(), b.double(), atol=atol)


# -- 8.1 ---------------------------------------------------------------------------------------
@exercise("8.1", "A waveform as a byte array with 1-D Fourier features", difficulty=2, chapter=8,
          teaches="one element per sample: its amplitude, then the Fourier features of its time "
                  "on linspace(-1, 1, T); 1 + (2K+1) channels")
def check_waveform_bytes(fn):
    g = torch.Generator().manual_seed(8)
    for b, t, num_bands, max_freq in [(2, 50, 4, 50.0), (3, 17, 2, 17.0), (1, 400, 8, 400.0), (2, 64, 3, 16.0)]:
        waves = torch.randn(b, t, generator=g) * 0.3
        want = audio_to_bytes(waves, num_bands, max_freq)  # (B, T, 1 + 2K + 1)
        got = expect_tensor(fn(waves.clone(), num_bands, max_freq), "your byte array")
        k = num_bands
        if got.shape != want.shape:
            if got.shape[:2] == (b, t) and got.shape[-1] == 2 * k + 1:
                if torch.allclose(got[..., 0].double(), waves.double(), atol=1e-5):
                    raise Hint(f"{got.shape[-1]} channels, expected 1 + (2K+1) = {2 * k + 2}: after the K sines and K "
                               f"cosines the features end with the raw time itself (fourier_features does it)")
                raise Hint(f"{got.shape[-1]} channels, expected 1 + (2K+1) = {2 * k + 2}: the sample value must be "
                           f"concatenated as channel 0, not added to the features (or left out)")
            raise Hint(f"expected a byte array (B, T, 1 + (2K+1)) = {tuple(want.shape)}, got {tuple(got.shape)}")
        if _same(got, want):
            continue
        if _same(got, torch.cat([want[..., 1:], want[..., :1]], dim=-1)):
            raise Hint("put the sample value first (channel 0), then the position features")
        for name, pos in [("torch.arange(T) (sample indices)", torch.arange(t, dtype=torch.float32)),
                          ("linspace(0, 1, T)", torch.linspace(0, 1, t)),
                          ("arange(T) / T", torch.arange(t, dtype=torch.float32) / t)]:
            wrong_pos = fourier_features(pos[:, None], k, max_freq, check_range=False)  # the mistaken times
            wrong = torch.cat([waves.unsqueeze(-1), wrong_pos.expand(b, -1, -1)], -1)
            if _same(got, wrong):
                raise Hint(f"the times must lie on linspace(-1, 1, T) like every other position in the Perceiver; "
                           f"you used {name}")
        if _same(got[..., 1:], want[..., 1:]):
            raise Hint("the position features are right but channel 0 is not the sample value waveforms[b, t]")
        raise Hint(f"element t should be [waveforms[b, t], fourier_features(time_t)] with time_t = "
                   f"linspace(-1, 1, T)[t] (max difference {(got - want).abs().max().item():.3g} for T={t}, K={k})")


# -- 8.2 ---------------------------------------------------------------------------------------
def frame_signal(waveforms: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """Reference framing of ``torch.stft(center=True, pad_mode='reflect')``: waveforms ``(B, T)`` ->
    frames ``(B, 1 + T // hop, n_fft)``; frame k is centred on sample ``k * hop``."""
    padded = F.pad(waveforms.unsqueeze(1), (n_fft // 2, n_fft // 2), mode="reflect").squeeze(1)  # (B, T + n_fft)
    return padded.unfold(-1, n_fft, hop)  # (B, frames, n_fft)


@exercise("8.2", "Cut a waveform into the frames of a spectrogram", difficulty=2, chapter=8,
          teaches="frames of n_fft samples every hop samples, centred: reflect-pad n_fft//2 at both "
                  "ends, giving 1 + T // hop frames (what torch.stft(center=True) does)")
def check_frames(fn):
    g = torch.Generator().manual_seed(82)
    for b, t, n_fft, hop in [(2, 100, 16, 8), (1, 257, 32, 10), (3, 64, 8, 4), (2, 800, 256, 128)]:
        waves = torch.randn(b, t, generator=g)
        want = frame_signal(waves, n_fft, hop)
        got = expect_tensor(fn(waves.clone(), n_fft, hop), "your frames")
        if got.shape != want.shape:
            if got.shape == (b, n_fft, want.shape[1]):
                raise Hint(f"one frame per row: shape (B, frames, n_fft) = {tuple(want.shape)}, you returned "
                           f"(B, n_fft, frames); transpose")
            if got.dim() == 3 and got.shape[-1] == n_fft and got.shape[1] == 1 + (t - n_fft) // hop:
                raise Hint(f"{got.shape[1]} frames, expected 1 + T // hop = {want.shape[1]}: centre the frames by "
                           f"padding n_fft // 2 samples at both ends first (torch.stft's center=True), so that "
                           f"frame k is centred on sample k * hop")
            if got.dim() == 3 and got.shape[-1] == n_fft and got.shape[1] in (t // n_fft, 1 + t // n_fft):
                raise Hint(f"{got.shape[1]} frames: they must overlap, starting every hop = {hop} samples, "
                           f"not every n_fft = {n_fft}")
            raise Hint(f"expected frames (B, 1 + T // hop, n_fft) = {tuple(want.shape)}, got {tuple(got.shape)} "
                       f"for T={t}, n_fft={n_fft}, hop={hop}")
        if _same(got, want):
            continue
        zero = F.pad(waves, (n_fft // 2, n_fft // 2)).unfold(-1, n_fft, hop)
        if _same(got, zero):
            raise Hint("the first and last frames differ: pad by reflection (mode='reflect', as torch.stft does), "
                       "not with zeros")
        if _same(got[:, 1:-1], want[:, 1:-1]):
            raise Hint("the inner frames are right but not the edges: reflect-pad n_fft // 2 samples at both ends")
        raise Hint(f"frame k should be the samples k*hop - n_fft//2 ... k*hop + n_fft//2 - 1 of the reflect-padded "
                   f"signal (T={t}, n_fft={n_fft}, hop={hop})")


# -- 8.3 ---------------------------------------------------------------------------------------
@exercise("8.3", "Cut a waveform into patches of consecutive samples", difficulty=1, chapter=8,
          teaches="T // P non-overlapping patches of P consecutive samples (the last T % P dropped): M shrinks "
                  "P times and each element carries P values")
def check_patches(fn):
    g = torch.Generator().manual_seed(83)
    for b, t, patch in [(2, 12, 4), (3, 50, 10), (1, 4000, 40), (2, 103, 8)]:
        waves = torch.randn(b, t, generator=g)
        original = waves.clone()
        want = audio_patches(waves, patch)  # (B, T // P, P)
        got = expect_tensor(fn(waves, patch), "your patches")
        if not torch.equal(waves, original):
            raise Hint("your function changed its input in place: return a new tensor and leave `waveforms` as it was")
        m = t // patch
        if got.shape != want.shape:
            if got.shape == (b, patch, m):
                raise Hint(f"one patch per row: shape (B, T // P, P) = {tuple(want.shape)}, you returned "
                           f"(B, P, T // P)")
            if got.dim() == 3 and got.shape[-1] == patch and got.shape[1] == -(-t // patch):
                raise Hint(f"{got.shape[1]} patches for T={t}, P={patch}: drop the last T % P = {t % patch} samples "
                           f"(keep T // P = {m} whole patches) rather than padding")
            if got.dim() == 3 and got.shape[-1] == patch and got.shape[1] == t - patch + 1:
                raise Hint(f"{got.shape[1]} patches: they must not overlap; a new patch starts every P = {patch} "
                           f"samples, not every sample")
            raise Hint(f"expected patches (B, T // P, P) = {tuple(want.shape)}, got {tuple(got.shape)} for T={t}, "
                       f"P={patch}")
        if _same(got, want):
            continue
        if _same(got, waves[:, :m * patch].reshape(b, patch, m).transpose(1, 2)):
            raise Hint("each patch holds every (T // P)-th sample, spread over the whole recording: a patch is P "
                       "*consecutive* samples (reshape to (B, T // P, P) directly, without a transpose)")
        if _same(got, waves[:, t - m * patch:].reshape(b, m, patch)):
            raise Hint("you dropped the first T % P samples: keep the start of the recording, drop its end")
        raise Hint(f"patch j should be samples j*P ... j*P + P - 1 (T={t}, P={patch})")
