"""Chapter 7 exercises: permuting pixels, with their positions (7.2) and without them (7.3).

Each checker runs the learner's function on seeded random images of several shapes, compares it
with :mod:`perceiver_edu.inputs.permuted` / :mod:`perceiver_edu.inputs.images` and, when it differs,
rebuilds typical mistakes to name the one made.
"""
from __future__ import annotations

import torch

from ..inputs.images import image_to_bytes
from ..inputs.permuted import permute_pixels
from .core import Hint, exercise
from .helpers import expect_tensor


def _same(a, b, atol: float = 1e-6) -> bool:
    return isinstance(a, torch.Tensor) and a.shape == b.shape and torch.allclose(a.double(), b.double(), atol=atol)


CASES = [(2, 1, 5, 7), (3, 3, 4, 4), (1, 2, 6, 3), (4, 1, 28, 28)]  # (B, C, H, W)


# -- 7.1 ---------------------------------------------------------------------------------------
@exercise("7.1", "Permute the pixels of images", difficulty=1, chapter=7,
          teaches="one fixed permutation of the H*W pixel indices, applied to every image and every "
                  "channel: output pixel m is input pixel perm[m] (a gather)")
def check_permute_pixels(fn):
    g = torch.Generator().manual_seed(7)
    for shape in CASES:
        b, c, h, w = shape
        images = torch.rand(*shape, generator=g)
        perm = torch.randperm(h * w, generator=g)
        original = images.clone()
        want = permute_pixels(images, perm)
        got = expect_tensor(fn(images, perm), "your permuted images")
        if not torch.equal(images, original):
            raise Hint("your function changed its input in place: return a new tensor and leave `images` as it was")
        if got.shape != want.shape:
            if got.shape == (b, c, h * w):
                raise Hint(f"return images of the input's shape (B, C, H, W) = {tuple(want.shape)}: reshape the "
                           f"flat (B, C, H*W) result back")
            raise Hint(f"expected the input's shape (B, C, H, W) = {tuple(want.shape)}, got {tuple(got.shape)} "
                       f"for images {shape}")
        if _same(got, want):
            continue
        flat = images.reshape(b, c, h * w)
        if _same(got, flat[:, :, perm.argsort()].reshape(shape)):
            raise Hint("you applied the inverse permutation: output pixel m must be input pixel perm[m] "
                       "(out = flat[..., perm], a gather), not out[..., perm] = flat (a scatter)")
        if c > 1 and _same(got, images.permute(0, 2, 3, 1).reshape(b, h * w, c)[:, perm].reshape(shape)):
            raise Hint("the channels got mixed into the pixel axis: keep the layout (B, C, H*W) and permute "
                       "the last axis, then reshape to (B, C, H, W)")
        if c > 1 and not _same(got[:, 1:], want[:, 1:]) and _same(got[:, :1], want[:, :1]):
            raise Hint("the first channel is right but not the others: permute every channel with the same perm")
        if not torch.equal(got.reshape(b, -1).sort(dim=-1).values, images.reshape(b, -1).sort(dim=-1).values):
            raise Hint("the output should contain exactly the input's pixel values, only moved (check the indexing)")
        raise Hint(f"the pixels are not where they should be for images of shape {shape}: pixel m (row m // W, "
                   f"column m % W) of the output is pixel perm[m] of the input, in every channel and every image")


# -- 7.2 ---------------------------------------------------------------------------------------
def _byte_cases(seed: int):
    """Seeded (images, perm, num_bands, max_freq) cases for the byte-array exercises 7.2 and 7.3."""
    g = torch.Generator().manual_seed(seed)
    for shape, num_bands, max_freq in [((2, 1, 5, 7), 3, 7.0), ((3, 2, 4, 4), 2, 4.0), ((2, 1, 28, 28), 8, 28.0)]:
        images = torch.rand(*shape, generator=g)
        yield images, torch.randperm(shape[2] * shape[3], generator=g), num_bands, max_freq


def _check_byte_shape(got, want, c: int) -> None:
    if got.shape != want.shape:
        if got.shape[:2] == want.shape[:2] and got.shape[-1] == want.shape[-1] - c:
            raise Hint(f"{got.shape[-1]} channels, expected C + 2(2K+1) = {want.shape[-1]}: concatenate the "
                       f"pixel values and the position features, do not add them")
        raise Hint(f"expected a byte array (B, H*W, C + 2(2K+1)) = {tuple(want.shape)}, got {tuple(got.shape)}")


@exercise("7.2", "A permuted byte array that keeps its positions", difficulty=2, chapter=7,
          teaches="Fourier features belong to the pixel, not to the slot: computed from the original "
                  "(row, column) and moved with the pixel, the byte array is only reordered")
def check_permuted_bytes(fn):
    for images, perm, num_bands, max_freq in _byte_cases(72):
        shape, c = tuple(images.shape), images.shape[1]
        reference = image_to_bytes(images, num_bands, max_freq)  # (B, M, C + P)
        want = reference[:, perm]
        got = expect_tensor(fn(images, perm, num_bands, max_freq), "your byte array")
        _check_byte_shape(got, want, c)
        if _same(got, want, 1e-5):
            continue
        if _same(got, image_to_bytes(permute_pixels(images, perm), num_bands, max_freq), 1e-5):
            raise Hint("the pixels moved but their position features stayed in place: each pixel now claims the "
                       "position of another one, and the model sees a scrambled image (what a CNN sees). "
                       "Move the position features with the pixels")
        if _same(got, torch.cat([reference[..., :c], reference[:, perm, c:]], dim=-1), 1e-5):
            raise Hint("you moved the position features but left the pixel values in place: permute whole rows "
                       "of the byte array (value and positions together)")
        if _same(got, reference[:, perm.argsort()], 1e-5):
            raise Hint("you applied the inverse permutation: row m must be original pixel perm[m]")
        if _same(got, reference, 1e-5):
            raise Hint("this is the unpermuted byte array: reorder its rows with perm")
        raise Hint(f"row m should be original pixel perm[m]: its C values, then the Fourier features of its "
                   f"original (row, column) (max difference {(got - want).abs().max().item():.3g} for images {shape})")


# -- 7.3 ---------------------------------------------------------------------------------------
@exercise("7.3", "Leave the positions in place while the pixels move", difficulty=2, chapter=7,
          teaches="with Fourier features computed on the permuted grid, each feature describes a slot, not "
                  "the pixel in it: the byte array is no longer a reordering of the original one")
def check_slot_bytes(fn):
    for images, perm, num_bands, max_freq in _byte_cases(73):
        shape, c = tuple(images.shape), images.shape[1]
        original = images.clone()
        want = image_to_bytes(permute_pixels(images, perm), num_bands, max_freq)  # (B, M, C + P)
        reference = image_to_bytes(images, num_bands, max_freq)
        got = expect_tensor(fn(images, perm, num_bands, max_freq), "your byte array")
        if not torch.equal(images, original):
            raise Hint("your function changed its input in place: return a new tensor and leave `images` as it was")
        _check_byte_shape(got, want, c)
        if _same(got, want, 1e-5):
            continue
        if _same(got, reference[:, perm], 1e-5):
            raise Hint("you moved the position features with the pixels: that is exercise 7.2's byte array, a mere "
                       "reordering the Perceiver cannot tell from the original. Here the features stay with the "
                       "slots: permute the images first, then compute the features of the permuted grid")
        if _same(got, torch.cat([reference[..., :c], reference[:, perm, c:]], dim=-1), 1e-5):
            raise Hint("you moved the position features and left the pixels in place: it is the pixels that move, "
                       "the features stay where they are")
        if _same(got, image_to_bytes(permute_pixels(images, perm.argsort()), num_bands, max_freq), 1e-5):
            raise Hint("you applied the inverse permutation: slot m must hold original pixel perm[m] "
                       "(permute_pixels(images, perm))")
        if _same(got, reference, 1e-5):
            raise Hint("this is the unpermuted byte array: move the pixels with perm first")
        raise Hint(f"row m should be the C values of original pixel perm[m], then the Fourier features of slot m's "
                   f"(row, column) (max difference {(got - want).abs().max().item():.3g} for images {shape})")
