"""Chapter 6 exercises: reading attention maps.

Each checker runs the learner's function on seeded random inputs of several shapes, compares it
with :mod:`perceiver_edu.plots.attention_maps` and, when it differs, rebuilds typical mistakes to name the one made.
"""
from __future__ import annotations

import math

import torch

from ..plots.attention_maps import attention_center_of_mass, map_image_correlation, softmax_weights
from .core import Hint, exercise
from .helpers import close, expect_tensor


# -- 6.1 ---------------------------------------------------------------------------------------
@exercise("6.1", "Softmax weights from the pre-softmax scores", difficulty=1, chapter=6,
          teaches="each latent's weights are a softmax of its scores over the M inputs; the scores "
                  "already include 1/√d; subtract the max for numerical safety")
def check_softmax_weights(fn):
    g = torch.Generator().manual_seed(6)
    for shape, scale in [((2, 3, 7), 1.0), ((4, 5), 3.0), ((1, 2, 4, 9), 1.0), ((2, 3, 6), 120.0)]:
        scores = torch.randn(*shape, generator=g) * scale  # (..., N, M)
        want = softmax_weights(scores)
        got = expect_tensor(fn(scores.clone()), "your weights")
        if got.shape != want.shape:
            raise Hint(f"the weights have the scores' shape (..., N, M) = {tuple(want.shape)}; got {tuple(got.shape)}")
        if close(got, want, equal_nan=True):
            continue
        if torch.isnan(got).any() or torch.isinf(got).any():
            raise Hint(f"NaN or inf for scores as large as {scores.abs().max().item():.0f}: exp overflows. "
                       f"Subtract each row's maximum before exp (softmax is unchanged by that shift)")
        if close(got, scores.softmax(dim=-2), equal_nan=True):
            raise Hint("softmax over the wrong axis: normalise over the M inputs (dim=-1), so that each "
                       "latent's weights sum to 1, not over the latents")
        if close(got, scores.exp(), equal_nan=True):
            raise Hint("you took exp but did not normalise: divide by the sum over the M inputs")
        if close(got, scores / scores.sum(dim=-1, keepdim=True), equal_nan=True):
            raise Hint("normalising the raw scores is not a softmax (and scores can be negative): exponentiate first")
        if any(close(got, (scores * factor).softmax(dim=-1), equal_nan=True)
               for d in (shape[-1], 2, 16, 32, 64) for factor in (1 / math.sqrt(d), math.sqrt(d), 1 / d)):
            raise Hint("no extra scaling: the model's scores are already q·k/√d, just take their softmax")
        raise Hint(f"values differ from softmax(scores, dim=-1) (max difference "
                   f"{(got.double() - want.double()).abs().max().item():.3g}) for scores of shape {tuple(shape)}")


# -- 6.2 ---------------------------------------------------------------------------------------
@exercise("6.2", "Centre of mass of an attention map", difficulty=2, chapter=6,
          teaches="pixel m sits at row m // W, column m % W; the centre is the weighted mean position")
def check_center_of_mass(fn):
    g = torch.Generator().manual_seed(62)
    for lead, (h, w) in [((3,), (5, 7)), ((2, 4), (28, 28)), ((), (6, 4))]:
        weights = torch.rand(*lead, h * w, generator=g) ** 4  # peaked, not normalised
        weights = weights / weights.sum(dim=-1, keepdim=True) * (1 + torch.rand(*lead, 1, generator=g))
        want = attention_center_of_mass(weights, (h, w))  # (..., 2)
        got = expect_tensor(fn(weights.clone(), (h, w)), "your centres")
        if got.shape != want.shape:
            raise Hint(f"one (row, column) pair per map: shape {tuple(want.shape)} expected for maps of shape "
                       f"{tuple(weights.shape)}, got {tuple(got.shape)}")
        if close(got, want, atol=1e-4, equal_nan=True):
            continue
        if close(got, want.flip(-1), atol=1e-4, equal_nan=True):
            raise Hint("you returned (column, row): return (row, column), the order of the image's axes (H, W)")
        if close(got, want + 1, atol=1e-4, equal_nan=True):
            raise Hint("coordinates start at 0: the top-left pixel is (0, 0), use torch.arange(H) not arange(1, H+1)")
        total = weights.sum(dim=-1, keepdim=True)
        if close(got, want * total, atol=1e-4, equal_nan=True):
            raise Hint("divide by the total weight of the map: these maps do not sum exactly to 1")
        m = torch.arange(h * w, dtype=weights.dtype)
        col_major = torch.stack([(weights * (m % h)).sum(-1), (weights * (m // h)).sum(-1)], -1) / total
        if close(got, col_major, atol=1e-4, equal_nan=True):
            raise Hint("pixels are stored row by row: pixel m is at row m // W and column m % W (you used H)")
        raise Hint(f"centres differ from the reference (max difference "
                   f"{(got.double() - want.double()).abs().max().item():.3g} pixels) for maps on a {h}×{w} grid")


# -- 6.3 ---------------------------------------------------------------------------------------
@exercise("6.3", "Does a map follow the image? Pearson correlation", difficulty=2, chapter=6,
          teaches="centre both the map and the image over the M pixels, then normalise by both norms")
def check_map_image_correlation(fn):
    g = torch.Generator().manual_seed(63)
    for b, n, (h, w) in [(2, 3, (4, 5)), (3, 8, (28, 28)), (1, 1, (6, 6))]:
        images = torch.rand(b, 1, h, w, generator=g)
        mix = torch.rand(b, n, 1, generator=g) * 2 - 1
        maps = mix * images.reshape(b, 1, h * w) + torch.randn(b, n, h * w, generator=g) + 2.0  # (B, N, M)
        want = map_image_correlation(maps, images)  # (B, N)
        got = expect_tensor(fn(maps.clone(), images.clone()), "your correlations")
        if got.shape != want.shape:
            raise Hint(f"one correlation per latent and image: shape (B, N) = {tuple(want.shape)} expected, "
                       f"got {tuple(got.shape)}")
        if close(got, want, atol=1e-4, equal_nan=True):
            continue
        pixels = images.reshape(b, 1, h * w)
        cosine = (maps * pixels).sum(-1) / (maps.norm(dim=-1) * pixels.norm(dim=-1))
        if close(got, cosine, atol=1e-4, equal_nan=True):
            raise Hint("that is the cosine similarity: subtract each map's mean and the image's mean over the "
                       "pixels first (Pearson correlation is the cosine of the centred vectors)")
        a, p = maps - maps.mean(-1, keepdim=True), pixels - pixels.mean(-1, keepdim=True)
        for unnorm in ((a * p).sum(-1), (a * p).mean(-1), (a * p).sum(-1) / (h * w - 1)):
            if close(got, unnorm, atol=1e-4, equal_nan=True):
                raise Hint("that is the covariance: divide by the product of the two norms (or standard "
                           "deviations) so that the result lies in [-1, 1]")
        if got.abs().max() > 1 + 1e-5:
            raise Hint(f"a correlation lies in [-1, 1]; yours reaches {got.abs().max().item():.3g}")
        raise Hint(f"correlations differ from the reference (max difference "
                   f"{(got.double() - want.double()).abs().max().item():.3g}) for maps of shape {(b, n, h * w)}")
