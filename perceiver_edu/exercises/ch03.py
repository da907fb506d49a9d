"""Chapter 3 exercises: aliases, Fourier position features, byte arrays, learned positions, the Fourier kernel.

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
from .helpers import close, expect_number, expect_tensor


# -- 3.1 ---------------------------------------------------------------------------------------
def alias_reference(f: float, num_samples: int) -> float:
    """The band in [0, (μ-1)/2] whose samples on ``position_grid((μ,))`` equal band ``f``'s up to sign."""
    period = num_samples - 1                  # μ - 1 gaps of 2/(μ - 1) between the μ grid points
    r = math.fmod(abs(f), 2 * period)         # bands f and f + 2(μ-1) give identical samples
    if r > period:
        r = 2 * period - r                    # band -g is band g up to sign
    return period - r if r > period / 2 else r   # band (μ-1) - g is band g up to sign


def _grid_gap(f: float, g: float, num_samples: int) -> float:
    """Largest difference, up to sign, between bands f and g on the μ-point grid (sines and cosines)."""
    x = torch.linspace(-1, 1, num_samples, dtype=torch.float64)
    gap = 0.0
    for wave in (torch.sin, torch.cos):
        a, b = wave(f * math.pi * x), wave(g * math.pi * x)
        gap = max(gap, min((a - b).abs().max().item(), (a + b).abs().max().item()))
    return gap


@exercise("3.1", "The alias of a band above Nyquist", difficulty=2, chapter=3,
          teaches="on a grid of μ samples, band f and band (μ-1)-f (and f + 2(μ-1)) give the same samples")
def check_alias_band(fn):
    # (f, μ): below Nyquist, just above, between Nyquist and μ-1, beyond μ-1, beyond 2(μ-1), non-integer.
    for f, mu in [(3.0, 28), (20.0, 28), (14.0, 28), (12.0, 16), (40.0, 16), (50.0, 16),
                  (17.428571, 32), (24.0, 32)]:
        nyquist, period = (mu - 1) / 2, mu - 1
        want = alias_reference(f, mu)
        got = expect_number(fn(f, mu), f"alias_band({f:g}, {mu}), a band,")
        if abs(got - want) < 1e-4:
            continue
        if f <= nyquist:
            raise Hint(f"band {f:g} lies below the Nyquist frequency (μ-1)/2 = {nyquist:g} of a {mu}-point grid: "
                       f"it is its own alias; return it unchanged")
        if abs(got - f) < 1e-4:
            raise Hint(f"band {f:g} lies above the Nyquist frequency (μ-1)/2 = {nyquist:g} of a {mu}-point grid, "
                       f"so on the grid it equals a band below it: return that band, not f")
        if abs(got - abs(mu - f)) < 1e-4:
            raise Hint(f"you reflected about μ = {mu}; the grid has μ-1 = {period} gaps of 2/(μ-1), so the "
                       f"reflection is f -> (μ-1) - f")
        if abs(got - abs(f - period)) < 1e-4 and f > period:
            raise Hint(f"{got:g} is itself above Nyquist ({nyquist:g}): for f beyond μ-1, first reduce f modulo "
                       f"2(μ-1) = {2 * period} (bands f and f + 2(μ-1) give identical samples), then reflect")
        if got < -1e-9 or got > nyquist + 1e-6:
            raise Hint(f"an alias lies in [0, (μ-1)/2] = [0, {nyquist:g}]; alias_band({f:g}, {mu}) returned {got:g}")
        raise Hint(f"on the {mu}-point grid, band {f:g} and your band {got:g} do not give the same samples up to "
                   f"sign (largest difference {_grid_gap(f, got, mu):.2f}); expected band {want:g}")


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


# -- 3.5 ---------------------------------------------------------------------------------------
def _kernel_variant(x, x2, num_bands, max_freq, mistake=None):
    """<φ(x), φ(x')> from the cosines of the differences, optionally with one typical mistake."""
    top = max_freq if mistake == "to_mu" else max_freq / 2
    freqs = torch.linspace(1.0, top, num_bands, dtype=x.dtype)  # (K,)
    scale = 1.0 if mistake == "no_pi" else math.pi
    delta = (x + x2) if mistake == "sum" else (x - x2)  # (..., d)
    per_dim = torch.cos(delta.unsqueeze(-1) * freqs * scale).sum(-1)  # (..., d)
    if mistake != "no_raw":
        per_dim = per_dim + x * x2
    return per_dim if mistake == "no_dim_sum" else per_dim.sum(-1)  # (...)


@exercise("3.5", "The Fourier kernel from cosines of differences", difficulty=2, chapter=3,
          teaches="<φ(x), φ(x')> = Σ_d [Σ_k cos(f_k π (x_d - x'_d)) + x_d x'_d]: a function of the offset")
def check_fourier_kernel(fn):
    mistakes = {
        "no_raw": "the raw coordinates are channels too: add x_d · x'_d for every dimension",
        "sum": "sin a sin b + cos a cos b = cos(a - b): the cosine of the *difference* of the angles, not their sum",
        "no_pi": "missing π: the angles are f_k π x_d",
        "to_mu": "the bands run from 1 to max_freq / 2, not to max_freq",
    }
    g = torch.Generator().manual_seed(35)
    for (shape, num_bands, max_freq) in [((5, 1), 4, 16.0), ((3, 4, 2), 6, 28.0), ((7, 3), 3, 10.0)]:
        x = torch.rand(*shape, generator=g, dtype=torch.float64) * 2 - 1  # (..., d) in [-1, 1]
        x2 = torch.rand(*shape, generator=g, dtype=torch.float64) * 2 - 1
        want = (fourier_features(x, num_bands, max_freq) * fourier_features(x2, num_bands, max_freq)).sum(-1)
        got = expect_tensor(fn(x.clone(), x2.clone(), num_bands, max_freq), "your kernel")
        if got.shape != want.shape:
            if got.shape == x.shape:
                raise Hint(f"one number per pair of positions: sum over the d = {shape[-1]} dimensions too "
                           f"(expected shape {tuple(want.shape)}, got {tuple(got.shape)})")
            raise Hint(f"expected shape {tuple(want.shape)} (the leading axes of x), got {tuple(got.shape)}")
        if close(got.double(), want, atol=1e-6):
            continue
        for mistake, hint in mistakes.items():
            if close(got.double(), _kernel_variant(x, x2, num_bands, max_freq, mistake), atol=1e-6):
                raise Hint(hint)
        raise Hint(f"differs from <φ(x), φ(x')> computed from the features (max difference "
                   f"{(got.double() - want).abs().max().item():.3g}) for x of shape {tuple(shape)}, K={num_bands}, "
                   f"μ={max_freq}")
