"""Chapter 3 exercises: Fourier position features, byte arrays, learned positions.

Each checker calls the learner's answer on seeded random inputs of several shapes, compares it
with the package's reference (:mod:`perceiver_edu.model.position`, :mod:`perceiver_edu.inputs.images`) and,
when it differs, rebuilds the typical mistakes one by one so that the hint can name the one made.
"""
from __future__ import annotations

import math

import torch

from ..inputs.images import image_to_bytes
from ..model.position import fourier_features, num_fourier_channels
from .core import Hint, exercise
from .helpers import close, expect_tensor


# -- 3.1 ---------------------------------------------------------------------------------------
def _wrong_bands(num_bands: int, max_freq: float) -> dict[str, tuple[torch.Tensor, str]]:
    k = num_bands
    return {
        "to_mu": (torch.linspace(1.0, max_freq, k),
                  "your bands end at max_freq; they should end at max_freq / 2 (the paper's Nyquist frequency)"),
        "from_zero": (torch.linspace(0.0, max_freq / 2, k),
                      "your bands start at 0; the lowest band is f = 1 (one full period across [-1, 1])"),
        "geometric": (torch.logspace(0.0, math.log10(max_freq / 2), k),
                      "your bands are spaced geometrically (logspace); the paper spaces them linearly "
                      "(torch.linspace)"),
        "arange": (torch.arange(1, k + 1, dtype=torch.float32),
                   "your bands are 1, 2, 3, ...; spread K bands evenly from 1 to max_freq / 2 instead"),
    }


@exercise("3.1", "The frequency bands f_k", difficulty=1, chapter=3,
          teaches="K bands spaced linearly from 1 to the Nyquist frequency μ/2")
def check_band_frequencies(fn):
    for num_bands, max_freq in [(4, 28.0), (6, 64.0), (3, 10.0)]:
        want = torch.linspace(1.0, max_freq / 2, num_bands)  # (K,)
        got = expect_tensor(fn(num_bands, max_freq), f"band_frequencies({num_bands}, {max_freq})")
        if got.shape != want.shape:
            raise Hint(f"expected K = {num_bands} bands, shape {tuple(want.shape)}, got {tuple(got.shape)}")
        got = got.float()
        if close(got, want):
            continue
        for wrong, hint in _wrong_bands(num_bands, max_freq).values():
            if close(got, wrong):
                raise Hint(hint)
        raise Hint(f"for K={num_bands}, μ={max_freq} expected {want.tolist()}, got {got.tolist()}")


# -- 3.2 ---------------------------------------------------------------------------------------
def _fourier_variant(pos, num_bands, max_freq, freqs=None, scale=math.pi, raw="last", layout="sin_then_cos"):
    """fourier_features with one ingredient changed, to recognise typical mistakes."""
    if freqs is None:
        freqs = torch.linspace(1.0, max_freq / 2, num_bands, dtype=pos.dtype)
    angles = pos.unsqueeze(-1) * freqs.to(pos.dtype) * scale  # (..., d, K)
    if layout == "sin_then_cos":
        feats = torch.cat([angles.sin(), angles.cos()], dim=-1).flatten(-2)  # (..., d*2K)
    elif layout == "interleaved":  # sin f1, cos f1, sin f2, ...
        feats = torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-3)
    elif layout == "all_sines_first":  # every dimension's sines, then every dimension's cosines
        feats = torch.cat([angles.sin().flatten(-2), angles.cos().flatten(-2)], dim=-1)
    elif layout == "sin_only":
        feats = angles.sin().flatten(-2)
    if raw == "last":
        return torch.cat([feats, pos], dim=-1)
    if raw == "first":
        return torch.cat([pos, feats], dim=-1)
    return feats


def _diagnose_fourier(got, pos, num_bands, max_freq):
    variants = [
        (dict(raw=None), "the raw coordinates x_d are missing: append `pos` after the sines and cosines "
                         "(d·(2K+1) channels in all)"),
        (dict(scale=1.0), "missing π: the angle is f_k · π · x_d"),
        (dict(scale=2 * math.pi), "you used 2π; the paper's angle is f_k · π · x_d (x in [-1, 1] spans 2 units)"),
        (dict(freqs=torch.linspace(1.0, max_freq, num_bands)),
         "wrong band spacing: the bands end at max_freq / 2, not max_freq"),
        (dict(freqs=torch.linspace(0.0, max_freq / 2, num_bands)), "wrong band spacing: the bands start at 1, not 0"),
        (dict(freqs=torch.logspace(0.0, math.log10(max_freq / 2), num_bands)),
         "wrong band spacing: use linearly spaced bands (torch.linspace(1, max_freq / 2, K)), not logspace"),
        (dict(freqs=torch.arange(1, num_bands + 1, dtype=torch.float32)),
         "wrong band spacing: spread the K bands from 1 to max_freq / 2 (torch.linspace)"),
        (dict(raw="first"), "put the raw coordinates *last*, after all the sines and cosines"),
        (dict(layout="interleaved"), "order of channels: for each dimension all K sines, then all K cosines "
                                     "(torch.cat([sin, cos], dim=-1)), not sin/cos interleaved band by band"),
        (dict(layout="all_sines_first"), "order of channels: per dimension [K sines, K cosines], dimension after "
                                         "dimension; you put every dimension's sines before all the cosines"),
    ]
    for kwargs, hint in variants:
        wrong = _fourier_variant(pos, num_bands, max_freq, **kwargs)
        if close(got, wrong, atol=1e-4):
            raise Hint(hint)


@exercise("3.2", "Fourier position features", difficulty=2, chapter=3,
          teaches="[sin(f_k π x_d), cos(f_k π x_d)] for K linear bands, plus the raw x_d: d(2K+1) channels")
def check_fourier_features(fn):
    g = torch.Generator().manual_seed(3)
    cases = [((5, 1), 4, 16.0), ((3, 4, 2), 6, 28.0), ((2, 3, 4, 3), 3, 10.0)]  # (pos shape, K, μ)
    for shape, num_bands, max_freq in cases:
        pos = torch.rand(*shape, generator=g) * 2 - 1  # (..., d) in [-1, 1]
        want = fourier_features(pos, num_bands, max_freq)
        got = expect_tensor(fn(pos.clone(), num_bands, max_freq), "your features")
        d = shape[-1]
        if got.shape != want.shape:
            if got.shape[:-1] != want.shape[:-1]:
                raise Hint(f"keep the leading axes of pos: expected shape {tuple(want.shape)}, got {tuple(got.shape)}")
            if got.shape[-1] == d * 2 * num_bands:
                raise Hint(f"wrong channel count {got.shape[-1]} = d·2K: the raw coordinates x_d are missing; "
                           f"append `pos` (d·(2K+1) = {want.shape[-1]} channels in all)")
            if got.shape[-1] == d * num_bands or got.shape[-1] == d * (num_bands + 1):
                raise Hint(f"wrong channel count {got.shape[-1]}: each band needs both a sine and a cosine")
            raise Hint(f"wrong channel count: d·(2K+1) = {d}·(2·{num_bands}+1) = {want.shape[-1]} expected "
                       f"for pos {tuple(shape)}, got {got.shape[-1]}")
        if close(got, want, atol=1e-4):
            continue
        _diagnose_fourier(got, pos, num_bands, max_freq)
        raise Hint(f"values differ from the paper's features (max difference {(got - want).abs().max().item():.3g}) "
                   f"for pos of shape {tuple(shape)}, K={num_bands}, μ={max_freq}")


# -- 3.3 ---------------------------------------------------------------------------------------
@exercise("3.3", "Images to byte arrays, positions concatenated", difficulty=2, chapter=3,
          teaches="flattening pixels row-major and concatenating (not adding) their position features")
def check_image_to_bytes(fn):
    g = torch.Generator().manual_seed(33)
    for (b, c, h, w), num_bands, max_freq in [((2, 1, 4, 5), 3, 8.0), ((3, 3, 6, 4), 4, 12.0)]:
        images = torch.rand(b, c, h, w, generator=g)
        want = image_to_bytes(images, num_bands, max_freq)  # (B, H*W, C + P)
        got = expect_tensor(fn(images.clone(), num_bands, max_freq), "your byte array")
        p = num_fourier_channels(2, num_bands)
        if got.shape != want.shape:
            if got.shape == (b, h * w, p):
                raise Hint("your byte array has only the position channels: the pixel values were added to "
                           "them (or dropped). Concatenate: torch.cat([pixels, positions], dim=-1)")
            if got.dim() == 4:
                raise Hint(f"flatten the grid: (B, C, H, W) -> (B, H·W, C + {p}), got {tuple(got.shape)}")
            raise Hint(f"shape (B, H·W, C + 2·(2K+1)) = {tuple(want.shape)} expected, got {tuple(got.shape)}")
        if close(got, want):
            continue
        pos = want[0, :, c:]  # (M, P)
        pixels_cm = images.permute(0, 3, 2, 1).reshape(b, h * w, c)  # column-major: a common slip
        if close(got, torch.cat([pixels_cm, pos.expand(b, -1, -1)], dim=-1)):
            raise Hint("the pixels are in column-major order: permute (B, C, H, W) -> (B, H, W, C) before "
                       "reshaping so that pixel m = row * W + column, as in position_grid((H, W))")
        if close(got, torch.cat([pos.expand(b, -1, -1), want[..., :c]], dim=-1)):
            raise Hint("put the pixel values first, then the position features")
        if close(got[..., :c], want[..., :c]):
            raise Hint("the pixel channels are right but the position channels are not: use "
                       "fourier_features(position_grid((H, W)), num_bands, max_freq), flattened to (H·W, P)")
        raise Hint(f"values differ from image_to_bytes (max difference {(got - want).abs().max().item():.3g})")


# -- 3.4 ---------------------------------------------------------------------------------------
@exercise("3.4", "Learned positions module", difficulty=3, chapter=3,
          teaches="an nn.Parameter table (M, P), truncated-normal init, broadcast over the batch, checked M")
def check_learned_positions(cls):
    import torch.nn as nn

    for m, p in [(12, 5), (784, 8)]:
        torch.manual_seed(0)
        try:
            module = cls(m, p)
        except TypeError as err:
            raise Hint(f"the constructor should take (num_positions M, dim P): {err}")
        if not isinstance(module, nn.Module):
            raise Hint(f"make it a subclass of nn.Module (got {type(module).__name__})")
        params = list(module.parameters())
        if not params:
            raise Hint("the module has no parameters: wrap the table in nn.Parameter so that the optimiser "
                       "can learn it (a plain tensor attribute is never trained)")
        n = sum(q.numel() for q in params)
        if n != m * p:
            raise Hint(f"expected one table of M·P = {m}·{p} = {m * p} parameters, found {n}")
        table = next(q for q in params if q.numel() == m * p).detach()
        if table.shape != (m, p):
            raise Hint(f"the table should have shape (M, P) = ({m}, {p}), got {tuple(table.shape)}")
        if table.abs().max() == 0:
            raise Hint("the table is all zeros: initialise it, e.g. nn.init.trunc_normal_(t, std=0.02, "
                       "a=-0.04, b=0.04), or every position starts identical")
        if m * p >= 1000:
            std = table.std().item()
            if std > 0.05:
                raise Hint(f"initial std {std:.3g} is too large: the paper's learned arrays start small, a "
                           f"truncated normal with std 0.02")
            if table.abs().max().item() > 0.0401:
                raise Hint("initialise from a *truncated* normal (nn.init.trunc_normal_ with a=-2·std, b=2·std): "
                           f"found a value {table.abs().max().item():.3g} beyond two standard deviations")
        x = torch.randn(3, m, 2)
        out = expect_tensor(module(x), "the module's output")
        if out.shape != (3, m, p):
            if out.shape == (m, p):
                raise Hint(f"broadcast the table over the batch: (M, P) -> (B, M, P), e.g. "
                           f".expand(x.shape[0], -1, -1); got {tuple(out.shape)}")
            raise Hint(f"output shape (B, M, P) = (3, {m}, {p}) expected, got {tuple(out.shape)}")
        if not all(torch.equal(out[i].detach(), table) for i in range(3)):
            raise Hint("every element of the batch should get the same table, unchanged")
        if not out.requires_grad:
            raise Hint("the output carries no gradient: return the parameter itself (expanded), not a copy "
                       "made under no_grad or with .detach()")
        try:
            module(torch.randn(2, m + 3, 2))
        except ValueError as err:
            if str(m) not in str(err):
                raise Hint(f"good, a ValueError; make its message name the expected M={m} (got: {err})")
        except Exception as err:  # noqa: BLE001
            raise Hint(f"a batch with the wrong M should raise ValueError naming M={m}, got "
                       f"{type(err).__name__}: {err}")
        else:
            raise Hint(f"a batch with M={m + 3} elements went through a table built for M={m}: raise a "
                       f"ValueError that names both sizes")
