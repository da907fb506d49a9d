"""Chapter 9 exercises: a point set as a byte array, and checking that order does not matter.

Each checker runs the learner's function on seeded random point sets of several sizes, compares it
with the package's reference and, when it differs, rebuilds typical mistakes to name the one made.
"""
from __future__ import annotations

import math

import torch

from ..inputs.points import points_to_bytes
from .core import Hint, exercise


def _same(a, b, atol: float = 1e-5) -> bool:
    return isinstance(a, torch.Tensor) and a.shape == b.shape and torch.allclose(a.double(), b.double(), atol=atol)


def _points(g, b, p):
    return torch.rand(b, p, 3, generator=g) * 1.8 - 0.9  # inside [-1, 1]^3


# -- 9.1 ---------------------------------------------------------------------------------------
@exercise("9.1", "Points to a byte array with 3-D Fourier features", difficulty=2, chapter=9,
          teaches="a point is its position: its byte is the Fourier features of x, y and z (K sines and K "
                  "cosines per axis, bands 1..mu/2), then the raw coordinates: 3(2K+1) channels")
def check_point_bytes(fn):
    g = torch.Generator().manual_seed(9)
    for b, p, k, mu in [(2, 50, 4, 30.0), (1, 7, 2, 8.0), (3, 128, 6, 30.0), (2, 33, 3, 12.0)]:
        pts = _points(g, b, p)
        want = points_to_bytes(pts, k, mu)  # (B, P, 3(2K+1))
        got = fn(pts.clone(), k, mu)
        if not isinstance(got, torch.Tensor):
            raise Hint(f"return a torch.Tensor byte array (B, P, 3(2K+1)), got {type(got).__name__}")
        if got.shape != want.shape:
            if got.shape[:2] == (b, p) and got.shape[-1] == 3 * 2 * k:
                raise Hint(f"{got.shape[-1]} channels, expected 3(2K+1) = {3 * (2 * k + 1)}: after the sines and "
                           f"cosines of every axis the byte ends with the raw coordinates x, y, z")
            if got.shape[:2] == (b, p) and got.shape[-1] == 3 + 3 * (2 * k + 1):
                raise Hint(f"{got.shape[-1]} channels, expected 3(2K+1) = {3 * (2 * k + 1)}: a point's value *is* its "
                           f"position, so do not put the coordinates in front again (fourier_features already ends "
                           f"with them)")
            if got.shape[:2] == (b, p) and got.shape[-1] == 2 * k + 1:
                raise Hint(f"{got.shape[-1]} channels: Fourier features are taken per axis; a 3-D point needs all "
                           f"three, 3(2K+1) = {3 * (2 * k + 1)} channels")
            raise Hint(f"expected a byte array (B, P, 3(2K+1)) = {tuple(want.shape)}, got {tuple(got.shape)} "
                       f"for P={p}, K={k}")
        if _same(got, want):
            continue
        freqs = torch.linspace(1.0, mu / 2, k)
        for name, f in [("the bands must run from 1 to max_freq / 2, not to max_freq", torch.linspace(1.0, mu, k)),
                        ("forgot the factor pi in sin(f_k * pi * x)", freqs / math.pi)]:
            ang = pts.unsqueeze(-1) * f * math.pi
            wrong = torch.cat([torch.cat([ang.sin(), ang.cos()], -1).flatten(-2), pts], -1)
            if _same(got, wrong):
                raise Hint(name)
        ang = pts.unsqueeze(-1) * freqs * math.pi  # (B, P, 3, K)
        interleaved = torch.cat([torch.stack([ang.sin(), ang.cos()], -1).flatten(-3), pts], -1)
        by_function = torch.cat([ang.sin().flatten(-2), ang.cos().flatten(-2), pts], -1)
        if _same(got, interleaved) or _same(got, by_function):
            raise Hint("the channel order differs from fourier_features: for each axis its K sines then its K "
                       "cosines (x's, then y's, then z's), and the raw x, y, z at the end")
        if _same(got[..., -3:], pts) is False and _same(got[..., :-3], want[..., :-3]):
            raise Hint("the sines and cosines are right; the last three channels must be the raw x, y, z")
        raise Hint(f"each point's byte should be fourier_features(point, K, max_freq) (max difference "
                   f"{(got - want).abs().max().item():.3g} for P={p}, K={k})")


# -- 9.2 ---------------------------------------------------------------------------------------
def shuffle_points(points: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Reference: the same sets with their points in a new random order, one order per set (B, P, 3)."""
    perms = torch.stack([torch.randperm(points.shape[1], generator=generator) for _ in range(len(points))])
    return torch.gather(points, 1, perms.unsqueeze(-1).expand_as(points))


@exercise("9.2", "Shuffle the points of each set", difficulty=1, chapter=9,
          teaches="a point set is unordered: shuffling reorders whole points (all three coordinates together), "
                  "independently per set, and keeps every point")
def check_shuffle(fn):
    g = torch.Generator().manual_seed(92)
    for b, p in [(4, 64), (2, 9), (3, 256)]:
        pts = _points(g, b, p)
        got = fn(pts.clone(), torch.Generator().manual_seed(1))
        if not isinstance(got, torch.Tensor) or got.shape != pts.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise Hint(f"return the shuffled sets with the same shape (B, P, 3) = {tuple(pts.shape)}, got {shape}")
        # every set must hold exactly its own points (as whole rows)
        for i in range(b):
            mine = torch.sort(pts[i], dim=0).values
            theirs = torch.sort(got[i], dim=0).values
            if not torch.allclose(mine, theirs):
                raise Hint(f"set {i} does not hold the same coordinates any more: shuffle along the point axis "
                           f"(dim 1) only, within each set")
            rows = {tuple(r) for r in pts[i].tolist()}
            if any(tuple(r) not in rows for r in got[i].tolist()):
                raise Hint("the coordinates of different points got mixed: move whole points (rows of 3), e.g. with "
                           "the same permutation for x, y and z")
        if torch.equal(got, pts):
            raise Hint("the points are still in their original order: apply a random permutation")
        if b > 1 and all(torch.equal(got[i], pts[i][_order(pts[0], got[0])]) for i in range(b)):
            raise Hint("every set got the same permutation: draw one permutation per set")


def _order(original: torch.Tensor, shuffled: torch.Tensor) -> torch.Tensor:
    """The permutation taking ``original (P, 3)`` to ``shuffled``."""
    index = {tuple(r): j for j, r in enumerate(original.tolist())}
    return torch.tensor([index[tuple(r)] for r in shuffled.tolist()])
