"""Chapter 6 exercises: reading attention maps.

Each checker runs the learner's function on seeded random inputs of several shapes, compares it
with :mod:`perceiver_edu.plots.attention_maps` and, when it differs, rebuilds typical mistakes to name the one made.
"""
from __future__ import annotations

import math

import torch

from ..plots.attention_maps import attention_center_of_mass, attention_maps, map_image_correlation, softmax_weights
from .core import Hint, exercise
from .helpers import answer_key_off, close, expect_tensor


# -- 6.1 ---------------------------------------------------------------------------------------
SHIFT_OUTCOMES = ("with the image", "part of the way", "does not follow")


def _shift_right(images: torch.Tensor, shift: int, *, circular: bool = False, dim: int = -1) -> torch.Tensor:
    if circular:
        return torch.roll(images, shifts=shift, dims=dim)
    out = torch.zeros_like(images)
    if dim == -1:
        out[..., shift:] = images[..., :-shift]
    else:
        out[..., shift:, :] = images[..., :-shift, :]
    return out


def _centre_shift(model, images, shift, *, circular=False, dim=-1, axis=1, sign=1.0):
    _, before = attention_maps(model, images)
    _, after = attention_maps(model, _shift_right(images, shift, circular=circular, dim=dim))
    h, w = images.shape[-2:]
    return [sign * (attention_center_of_mass(softmax_weights(b), (h, w))
                    - attention_center_of_mass(softmax_weights(a), (h, w)))[..., axis].mean().item()
            for a, b in zip(before, after)]


def shift_outcome(moved: float, shift: float) -> str:
    """Which of :data:`SHIFT_OUTCOMES` a mean centre movement ``moved`` is, for an image moved by ``shift``."""
    r = moved / shift
    return "with the image" if r >= 2 / 3 else "part of the way" if r >= 1 / 3 else "does not follow"


@exercise("6.1", "Predict, then measure: where do the latents look after the image moves?", difficulty=2,
          chapter=6, teaches="in the first cross-attend the queries are fixed and the position features weigh "
                             "heavily, so where a latent looks need not follow the garment")
def check_centre_shift(fn, predicted=None, measured=None, shift=None):
    from ..inputs.images import ImagePerceiver, ImagePreprocess  # a tiny random model to test fn on
    from ..model.perceiver import PerceiverConfig

    torch.manual_seed(61)
    pre = ImagePreprocess(image_shape=(1, 8, 8), num_bands=2, max_freq=8.0)
    model = ImagePerceiver(PerceiverConfig(input_channels=pre.byte_channels, num_classes=3, num_latents=4,
                                           latent_dim=16, num_cross_attends=2, self_attends_per_block=1,
                                           self_heads=2), pre).eval()
    g = torch.Generator().manual_seed(610)
    images = torch.rand(5, 1, 8, 8, generator=g) ** 3 * 4
    want = _centre_shift(model, images, 2)
    got = fn(model, images.clone(), 2)
    if isinstance(got, torch.Tensor):
        got = got.tolist()
    if not isinstance(got, (list, tuple)) or len(got) != len(want):
        raise Hint(f"return a list with one number per cross-attend ({len(want)} here), got {got!r:.60}")
    got = [float(v) for v in got]
    if not all(math.isclose(a, b, abs_tol=1e-4) for a, b in zip(got, want)):
        mistakes = {
            "you used torch.roll: pixels pushed off the right edge came back on the left. Fill the first "
            "`shift` columns with zeros (the background) instead": dict(circular=True),
            "you moved the image down (rows); move it right: along the last axis, the columns": dict(dim=-2),
            "you measured the change of the row; the image moved along the columns: take the centre's "
            "column, [..., 1]": dict(axis=0),
            "the sign is reversed: return the centre after the shift minus the centre before": dict(sign=-1.0),
        }
        for hint, kw in mistakes.items():
            if all(math.isclose(a, b, abs_tol=1e-4) for a, b in zip(got, _centre_shift(model, images, 2, **kw))):
                raise Hint(hint)
        raise Hint(f"centre movements {[round(v, 3) for v in got]} expected {[round(v, 3) for v in want]} on a test "
                   f"model: softmax the scores of each cross-attend, take the centres of mass before and after, "
                   f"and average the change of their column over images and latents")
    if predicted is None:
        return
    if predicted not in SHIFT_OUTCOMES:
        raise Hint(f"predicted should be one of {SHIFT_OUTCOMES}, got {predicted!r}")
    truth = shift_outcome(float(measured[0]), float(shift))
    if predicted != truth:
        raise Hint(f"the image moved {shift} pixels right and the first cross-attend's attention centres moved "
                   f"{float(measured[0]):+.2f} pixels on average: '{truth}', not '{predicted}'. Why: its queries "
                   f"are the same for every image, and most of a map's variance is explained by the position "
                   f"features (the table of section 'Checking by numbers'), which do not move with the garment; "
                   f"only the pixel-value part of each key does"
                   + (". The centres even moved left, against the image: most latents score the background above the "
                      "garment (the row-by-row table), and the shift uncovers background on the left"
                      if float(measured[0]) < 0 else ""))


# -- 6.2 ---------------------------------------------------------------------------------------
@exercise("6.2", "Centre of mass of an attention map", difficulty=2, chapter=6,
          teaches="pixel m sits at row m // W, column m % W; the centre is the weighted mean position")
def check_center_of_mass(fn):
    g = torch.Generator().manual_seed(62)
    for lead, (h, w) in [((3,), (5, 7)), ((2, 4), (28, 28)), ((), (6, 4))]:
        weights = torch.rand(*lead, h * w, generator=g) ** 4  # peaked, not normalised
        weights = weights / weights.sum(dim=-1, keepdim=True) * (1 + torch.rand(*lead, 1, generator=g))
        want = attention_center_of_mass(weights, (h, w))  # (..., 2)
        with answer_key_off(fn, attention_center_of_mass):
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
        with answer_key_off(fn, map_image_correlation):
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
