"""Chapter 10 exercise: fuse the byte arrays of two modalities into one.

The checker runs the learner's function on seeded random byte arrays of several shapes, compares it
with :func:`perceiver_edu.inputs.multimodal.fuse_byte_arrays` and, when it differs, rebuilds typical
mistakes to name the one made.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..inputs.multimodal import fuse_byte_arrays
from .core import Hint, exercise


def _same(a, b, atol: float = 1e-6) -> bool:
    return isinstance(a, torch.Tensor) and a.shape == b.shape and torch.allclose(a.double(), b.double(), atol=atol)


@exercise("10.1", "Fuse two modalities: pad the channels, append a modality embedding", difficulty=2, chapter=10,
          teaches="zero-pad every byte array to the widest channel count, concatenate (not add) each modality's "
                  "learned embedding to all its elements, then join the modalities along the element axis M")
def check_fuse(fn):
    g = torch.Generator().manual_seed(10)
    for b, shapes, e in [(2, [(5, 7), (3, 4)], 3), (1, [(6, 4), (2, 9)], 2), (3, [(4, 5), (4, 5)], 4),
                         (2, [(3, 6), (5, 2), (2, 4)], 3)]:
        arrays = [torch.randn(b, m, c, generator=g) for m, c in shapes]
        emb = torch.randn(len(arrays), e, generator=g)
        want = fuse_byte_arrays(arrays, emb)  # (B, sum M, C + E)
        got = fn([a.clone() for a in arrays], emb.clone())
        if not isinstance(got, torch.Tensor):
            raise Hint(f"return one torch.Tensor (B, sum M_i, C + E), got {type(got).__name__}")
        width = max(c for _, c in shapes)
        total_m = sum(m for m, _ in shapes)
        if got.shape != want.shape:
            if got.shape == (b, total_m, width):
                raise Hint(f"{width} channels, expected C + E = {width + e}: the modality embedding is concatenated "
                           f"as extra channels (appended), not added to the values")
            if got.dim() == 3 and got.shape[1] == max(m for m, _ in shapes):
                raise Hint("the modalities must be joined along the element axis (dim 1, M), one after the other, "
                           "not along the channels")
            if got.shape == (b, total_m, sum(c for _, c in shapes) + e):
                raise Hint(f"pad every byte array with zeros to the widest channel count C = {width}, so modality "
                           f"channels line up; do not give each modality its own block of channels")
            raise Hint(f"expected shape (B, sum M_i, C + E) = {tuple(want.shape)}, got {tuple(got.shape)}")
        if _same(got, want):
            continue
        front = torch.cat([torch.cat([F.pad(a, (width - a.shape[-1], 0)), em.expand(b, a.shape[1], -1)], -1)
                           for a, em in zip(arrays, emb)], 1)
        if _same(got, front):
            raise Hint("pad with zeros *after* each array's own channels (F.pad(x, (0, C - C_i))), not before")
        emb_first = torch.cat([torch.cat([em.expand(b, a.shape[1], -1), F.pad(a, (0, width - a.shape[-1]))], -1)
                               for a, em in zip(arrays, emb)], 1)
        if _same(got, emb_first):
            raise Hint("put the padded byte array first and the modality embedding last in each element's channels")
        swapped = fuse_byte_arrays(arrays, emb.flip(0))
        if _same(got, swapped):
            raise Hint("modality i must get embedding row i (modality_embeddings[i]); yours are in the wrong order")
        if _same(got[..., :width], want[..., :width]):
            raise Hint("the padded values are right but the last E channels must be the modality's embedding, the "
                       "same vector for every element of that modality")
        raise Hint(f"element values differ from the reference (max difference {(got - want).abs().max().item():.3g} "
                   f"for shapes {shapes}, E={e})")
