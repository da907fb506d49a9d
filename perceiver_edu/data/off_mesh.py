"""OFF triangle meshes and uniform sampling of points on their surface.

OFF (Object File Format, as in the ModelNet release): a header line ``OFF``, then a line
``num_vertices num_faces num_edges``, then one vertex per line (``x y z``) and one face per line
(``n i_1 ... i_n``: n vertex indices, counted from 0; anything after them, e.g. a colour, is
ignored).  ``#`` starts a comment; blank lines are ignored.  Some ModelNet files glue the counts
to the keyword (``OFF490 518 0``); that is read too.  Faces with more than 3 vertices are split
into a fan of triangles (a quad ``a b c d`` gives ``a b c`` and ``a c d``).

Sampling (as in PointNet and the Perceiver's ModelNet40 experiment): a triangle is picked with
probability proportional to its area, then a point uniformly inside it: with r1, r2 ~ U(0, 1),
reflected to r1 + r2 <= 1, the point is ``a + r1 (b - a) + r2 (c - a)``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


class OFFError(ValueError):
    """An OFF file that cannot be read; the message names the file and what is wrong."""


def _content_lines(text: str) -> list[str]:
    lines = text.splitlines()
    if "#" in text:
        lines = [line.split("#", 1)[0] for line in lines]
    return [line for line in map(str.strip, lines) if line]


def parse_off(text: str, name: str = "<OFF text>") -> tuple[np.ndarray, np.ndarray]:
    """Vertices ``(V, 3)`` float64 and triangles ``(F, 3)`` int64 of an OFF mesh given as text."""
    lines = _content_lines(text)
    if not lines or not lines[0].startswith("OFF"):
        first = lines[0][:40] if lines else "(empty file)"
        raise OFFError(f"{name}: not an OFF file: expected the header 'OFF', found {first!r}")
    counts = lines[0][3:].split() or (lines[1].split() if len(lines) > 1 else [])
    body = lines[1:] if lines[0][3:].strip() else lines[2:]
    try:
        num_vertices, num_faces = int(counts[0]), int(counts[1])
    except (IndexError, ValueError):
        raise OFFError(f"{name}: malformed header: expected 'num_vertices num_faces num_edges' after 'OFF', "
                       f"found {' '.join(counts)!r}") from None
    if num_vertices < 0 or num_faces < 0:
        raise OFFError(f"{name}: malformed header: negative counts {num_vertices} vertices, {num_faces} faces")
    if len(body) < num_vertices + num_faces:
        raise OFFError(f"{name}: truncated: the header declares {num_vertices} vertices and {num_faces} faces, "
                       f"the file has {len(body)} lines after it")
    try:
        flat = np.array(" ".join(body[:num_vertices]).split(), dtype=np.float64)  # fast path: x y z per line
    except ValueError:
        flat = np.zeros(0)
    if flat.size == 3 * num_vertices:
        vertices = flat.reshape(num_vertices, 3)
    else:
        vertices = np.zeros((num_vertices, 3))
        for k, line in enumerate(body[:num_vertices]):
            try:
                vertices[k] = [float(v) for v in line.split()[:3]]
            except ValueError:
                raise OFFError(f"{name}: vertex {k} needs three coordinates x y z, got {line[:60]!r}") from None
    face_lines = body[num_vertices:num_vertices + num_faces]
    try:
        flat = np.array(" ".join(face_lines).split(), dtype=np.int64)
    except ValueError:
        flat = np.zeros(0, np.int64)  # the slow path below names the bad face
    if flat.size == 4 * num_faces and (flat[::4] == 3).all():  # fast path: only triangles
        faces = flat.reshape(num_faces, 4)[:, 1:]
    else:
        faces = _fan_triangulate(face_lines, name)
    if len(faces) and (faces.min() < 0 or faces.max() >= num_vertices):
        bad = faces.max() if faces.max() >= num_vertices else faces.min()
        raise OFFError(f"{name}: a face refers to vertex {bad}, outside 0..{num_vertices - 1}")
    return vertices, faces


def _fan_triangulate(face_lines: list[str], name: str) -> np.ndarray:
    """``(F, 3)`` triangles of faces with any number of vertices (each split into a fan)."""
    triangles = []
    for k, line in enumerate(face_lines):
        try:
            values = [int(v) for v in line.split()]
        except ValueError:
            raise OFFError(f"{name}: face {k} is not integers: {line[:60]!r}") from None
        n = values[0] if values else 0
        if n < 3 or len(values) < n + 1:
            raise OFFError(f"{name}: face {k} must list n >= 3 vertex indices after n, got {line[:60]!r}")
        idx = values[1:n + 1]
        triangles.extend((idx[0], idx[j], idx[j + 1]) for j in range(1, n - 1))  # a fan
    return np.array(triangles, dtype=np.int64).reshape(-1, 3)


def read_off(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices ``(V, 3)`` and triangles ``(F, 3)`` of the OFF file at ``path``."""
    path = Path(path)
    return parse_off(path.read_text(encoding="ascii", errors="replace"), str(path))


def triangle_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``(F,)`` areas of the triangles: half the norm of the cross product of two edges."""
    a, b, c = (vertices[faces[:, i]] for i in range(3))  # each (F, 3)
    return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)


def sample_surface(vertices: np.ndarray, faces: np.ndarray, num_points: int,
                   rng: np.random.Generator) -> np.ndarray:
    """``(num_points, 3)`` points uniform over the mesh surface (triangle by area, then uniform inside)."""
    if num_points < 1:
        raise ValueError(f"num_points must be >= 1, got {num_points}")
    areas = triangle_areas(vertices, faces)
    total = areas.sum()
    if not total > 0:
        raise ValueError(f"the mesh has no surface to sample ({len(faces)} triangles, total area {total})")
    tri = rng.choice(len(faces), size=num_points, p=areas / total)  # (P,)
    r = rng.random((num_points, 2))
    flip = r.sum(axis=1) > 1
    r[flip] = 1 - r[flip]  # reflect into the lower triangle r1 + r2 <= 1: uniform over the triangle
    a, b, c = (vertices[faces[tri, i]] for i in range(3))  # each (P, 3)
    return a + r[:, :1] * (b - a) + r[:, 1:] * (c - a)


def normalize_unit_sphere(points: np.ndarray) -> np.ndarray:
    """Points centred on their mean and scaled so the farthest lies on the unit sphere."""
    centred = points - points.mean(axis=0)
    radius = np.linalg.norm(centred, axis=1).max()
    return centred / radius if radius > 0 else centred


__all__ = ["OFFError", "normalize_unit_sphere", "parse_off", "read_off", "sample_surface", "triangle_areas"]
