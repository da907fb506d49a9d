"""Chapter 10 exercises: fuse the byte arrays of two modalities into one (10.1); one cross-attention
head or four for the fused model, predicted, then measured (10.2).

The 10.1 checker runs the learner's function on seeded random byte arrays of several shapes, compares
it with :func:`perceiver_edu.inputs.multimodal.fuse_byte_arrays` and, when it differs, rebuilds
typical mistakes to name the one made.  The 10.2 checker compares the prediction with what the
learner measured (a paired sign test on the same test pairs) and, when they differ, says why.
"""
from __future__ import annotations

import math

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


# -- 10.2 --------------------------------------------------------------------------------------
HEAD_OUTCOMES = ("lower", "about the same", "higher")


def paired_outcome(right_before, right_after, sigmas: float = 2.0) -> tuple[str, int, int]:
    """Compare two models on the same test examples: ``right_*`` are ``(N,)`` booleans (example i right or
    not).  Returns (outcome of *after* against *before*, examples only *before* gets right, examples
    only *after* gets right).  Were the two equally good, ``only_after - only_before`` would be
    0 ± sqrt(only_before + only_after) (the sign test on the examples where they disagree); the
    outcome is "lower" or "higher" when it is more than ``sigmas`` of those away, else "about the same"."""
    only_before = int((right_before & ~right_after).sum())
    only_after = int((right_after & ~right_before).sum())
    margin = sigmas * math.sqrt(only_before + only_after)
    gain = only_after - only_before
    outcome = "higher" if gain > margin else "lower" if -gain > margin else "about the same"
    return outcome, only_before, only_after


def _right(x, what: str, n: int | None = None) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 1 or x.numel() == 0:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise Hint(f"{what}: a 1-D tensor with one True/False per test pair expected (logits.argmax(-1) == labels), "
                   f"got {shape}")
    if x.dtype != torch.bool:
        if not bool(((x == 0) | (x == 1)).all()):
            raise Hint(f"{what}: True/False per test pair expected (predictions == labels), not predictions or "
                       f"logits; got values such as {x[:3].tolist()}")
        x = x.bool()
    if n is not None and len(x) != n:
        raise Hint(f"{what}: {len(x)} entries, but the four-head model was scored on {n} pairs: score both models "
                   f"on the same test pairs")
    return x


_WHY = {
    "lower": "with one head, each latent spreads a single softmax over the spectrogram cells and the pixels "
             "together, so the more weight it gives one modality the less it has for the other; with four "
             "heads a latent can give the sound one head and the image another",
    "about the same": "even with one head each, the 32 latents and their repeated cross-attends are many "
                      "softmaxes: different latents can read different modalities, so one head per latent need "
                      "not cost accuracy that this many test pairs can resolve",
    "higher": "the paired test puts the one-head model ahead beyond noise; one difference besides the count: "
              "a single head compares a latent with an element on all of its query/key channels, where four "
              "heads split them four ways",
}


@exercise("10.2", "Predict, then measure: one cross-attention head or four for the fused model", difficulty=2,
          chapter=10, teaches="a single softmax per latent makes the two modalities compete for its attention; "
                              "whether that costs accuracy is measured with a paired comparison on the same "
                              "test pairs, not guessed")
def check_one_head(predicted, right_four_heads, right_one_head):
    """``predicted``: one of :data:`HEAD_OUTCOMES`, the one-head model's test accuracy against the four-head
    model's; ``right_*``: ``(N,)`` booleans, whether each model is right on each test pair."""
    if predicted not in HEAD_OUTCOMES:
        raise Hint(f"predicted should be one of {HEAD_OUTCOMES}, got {predicted!r}")
    four = _right(right_four_heads, "right_four_heads")
    one = _right(right_one_head, "right_one_head", len(four))
    if torch.equal(four, one):
        raise Hint("the two models are right on exactly the same pairs: did you score the four-head model twice? "
                   "Train a new model with cross_heads=1 and score it")
    truth, only_four, only_one = paired_outcome(four, one)
    if predicted == truth:
        return
    raise Hint(f"one head {100 * one.float().mean():.1f} % against four heads {100 * four.float().mean():.1f} % on "
               f"the same {len(four)} pairs: {only_four} pairs only four heads get right, {only_one} only one head; "
               f"their difference {only_one - only_four:+d} against two standard errors "
               f"±{2 * math.sqrt(only_four + only_one):.1f} says '{truth}', not '{predicted}'. Why: {_WHY[truth]}")
