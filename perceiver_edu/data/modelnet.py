"""ModelNet10 as point sets: the occupied voxels of 30x30x30 occupancy grids.

ModelNet10 (Wu et al., "3D ShapeNets", CVPR 2015; Princeton, academic research use) holds CAD
models of 10 furniture classes, official split 3,991 train / 908 test.  This reader uses a
voxelised copy, ``modelnet10_vox30.npz``: ``X_train`` (3991, 30, 30, 30) and ``X_test``
(908, 30, 30, 30) int 0/1 occupancy grids (each model voxelised at 24^3, padded to 30^3), labels
``y_train``/``y_test`` int 0-9 in the order of :data:`CLASSES`.

Where the file is looked for, in order: ``$PERCEIVER_EDU_MODELNET10_DIR`` (a directory holding a local
copy), then ``<data>/modelnet10`` (``<data>`` is
:func:`~perceiver_edu.data.fetch.data_root`).  Its sha256 is checked.  There is no download: the
official release (modelnet.cs.princeton.edu, ``ModelNet10.zip``) is OFF meshes, not grids, and
voxelising them ourselves would give different grids from this file's; the error message says how
to obtain the file.

From grids to point sets (chapter 9): the Perceiver sees an object as an unordered set of
``num_points`` points (x, y, z) in [-1, 1]^3:

* voxel index i in 0..G-1 along an axis becomes the coordinate ``2 i / (G - 1) - 1``, the same
  convention as :func:`perceiver_edu.model.position.position_grid`; the objects fill indices 3..26, so
  the points lie within about [-0.8, 0.8];
* ``num_points`` voxels are drawn at random: without replacement when the object has at least
  that many occupied voxels, otherwise every voxel once plus random repeats (with replacement);
* ``jitter`` moves each point uniformly within ``jitter`` times its voxel's cell (1.0: anywhere
  in the cell, turning the lattice into a continuous cloud; 0: exactly on the lattice).

Objects have 0 to 12,010 occupied voxels (median 1,462 in train).  8 grids are empty (train: 5
bathtubs, 1 sofa, 1 toilet; test: 1 desk) and are dropped, leaving 3,984 train / 907 test
objects; ``dataset.dropped`` lists their indices in the file.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .checksum import verify_sha256
from .fetch import DatasetNotFoundError, data_root, find_file

ENV_VAR = "PERCEIVER_EDU_MODELNET10_DIR"
SUBDIR = "modelnet10"
FILE = "modelnet10_vox30.npz"
SHA256 = "85fb9d01bbaa1913cde8cd385557b31e05cb179585c572298151f54f1e1373fb"
CLASSES = ("bathtub", "bed", "chair", "desk", "dresser", "monitor", "night_stand", "sofa", "table", "toilet")
OFFICIAL_URL = "http://modelnet.cs.princeton.edu/"


class ModelNetError(ValueError):
    """The npz file does not hold ModelNet-style occupancy grids (missing key, bad shape or values)."""


def locate_modelnet10(root: Path | None = None) -> Path:
    """Path of ``modelnet10_vox30.npz``; :class:`DatasetNotFoundError` saying how to get it otherwise."""
    local = (Path(root) if root is not None else data_root()) / SUBDIR
    dirs = [Path(os.environ[ENV_VAR]).expanduser() if os.environ.get(ENV_VAR) else None, local]
    found = find_file([FILE], dirs)
    if found is not None:
        return found
    looked = ", ".join(str(d) for d in dirs if d is not None)
    raise DatasetNotFoundError(
        f"ModelNet10 grids {FILE} were not found (looked in: {looked}).\nThis file is not downloaded automatically: "
        f"the official ModelNet10 release ({OFFICIAL_URL}, ModelNet10.zip) is 3D meshes in OFF format, not "
        f"occupancy grids.  To get it: copy {FILE} (sha256 {SHA256}; X_train (3991, 30, 30, 30), y_train, "
        f"X_test (908, 30, 30, 30), y_test), a preprocessed copy with no public download, into {local} if you "
        f"have it, or set {ENV_VAR} to the directory that holds it."
    )


def _read_npy_member(zf: zipfile.ZipFile, key: str, path: Path):
    """Open ``key``.npy inside the npz without loading it: ``(file object, shape, dtype)``."""
    member = key + ".npy"
    if member not in zf.namelist():
        raise ModelNetError(f"{path}: no array {key!r} in the file (it has {sorted(n[:-4] for n in zf.namelist())}); "
                            f"expected X_train, y_train, X_test, y_test")
    f = zf.open(member)
    version = np.lib.format.read_magic(f)
    reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = reader(f)
    if fortran or dtype.hasobject:
        f.close()
        raise ModelNetError(f"{path}: array {key!r} is {'Fortran-ordered' if fortran else 'of Python objects'}; "
                            f"expected a plain C-ordered numeric array")
    return f, shape, dtype


def read_occupied_voxels(path: str | Path, split: str, chunk: int = 256):
    """Occupied voxel indices of every grid of ``split`` in an npz of occupancy grids.

    The grids are streamed from the zip in chunks (the whole train split is 431 MB as int32).

    Returns:
        ``voxels`` (V, 3) uint8 indices of all occupied voxels, object after object;
        ``counts`` (N,) int64 occupied voxels per object; ``labels`` (N,) int64; ``grid_size`` G.
    """
    path = Path(path)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    with zipfile.ZipFile(path) as zf:
        f, shape, dtype = _read_npy_member(zf, "y_" + split, path)
        with f:
            labels = np.frombuffer(f.read(), dtype=dtype)
        if labels.shape != tuple(shape) or len(shape) != 1 or dtype.kind not in "iu":
            raise ModelNetError(f"{path}: y_{split} must be 1-D integers, got shape {shape} of {dtype}")
        f, shape, dtype = _read_npy_member(zf, "X_" + split, path)
        with f:
            if len(shape) != 4 or not (shape[1] == shape[2] == shape[3]) or shape[0] != len(labels):
                raise ModelNetError(f"{path}: X_{split} must have shape (N, G, G, G) with N = {len(labels)} labels, "
                                    f"got {shape}")
            n, g = shape[0], shape[1]
            per_grid = g ** 3 * dtype.itemsize
            voxels, counts = [], []
            for start in range(0, n, chunk):
                m = min(chunk, n - start)
                raw = f.read(m * per_grid)
                if len(raw) != m * per_grid:
                    raise ModelNetError(f"{path}: X_{split} is truncated (grid {start + len(raw) // per_grid} of {n})")
                grids = np.frombuffer(raw, dtype=dtype).reshape(m, g, g, g)
                if grids.min() < 0 or grids.max() > 1:
                    raise ModelNetError(f"{path}: X_{split} must hold 0/1 occupancy, found values in "
                                        f"[{grids.min()}, {grids.max()}]")
                idx = np.argwhere(grids)  # (V_chunk, 4): object, i, j, k in C order
                counts.append(np.bincount(idx[:, 0], minlength=m))
                voxels.append(idx[:, 1:].astype(np.uint8))
    labels = labels.astype(np.int64)
    if len(labels) and (labels.min() < 0 or labels.max() >= len(CLASSES)):
        raise ModelNetError(f"{path}: y_{split} must be class indices 0-{len(CLASSES) - 1}, found "
                            f"[{labels.min()}, {labels.max()}]")
    voxels = np.concatenate(voxels) if voxels else np.zeros((0, 3), np.uint8)
    counts = np.concatenate(counts).astype(np.int64) if counts else np.zeros(0, np.int64)
    return voxels, counts, labels, g


def sample_points(voxels: np.ndarray, counts: np.ndarray, grid_size: int, num_points: int, jitter: float,
                  seed: int) -> np.ndarray:
    """``(N, num_points, 3)`` float32 point sets in [-1, 1] from occupied voxel indices (see the module doc)."""
    if num_points < 1:
        raise ValueError(f"num_points must be >= 1, got {num_points}")
    if not 0 <= jitter <= 1:
        raise ValueError(f"jitter must be in [0, 1] (a fraction of the voxel cell), got {jitter}")
    if (counts < 1).any():
        raise ValueError("every object needs at least one occupied voxel (drop the empty ones first)")
    rng = np.random.default_rng(seed)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    picks = np.empty((len(counts), num_points), dtype=np.int64)
    for i, n in enumerate(counts):
        if n >= num_points:
            pick = rng.choice(n, num_points, replace=False)
        else:  # every voxel once, then repeats drawn with replacement, in random order
            pick = rng.permutation(np.concatenate([np.arange(n), rng.integers(0, n, num_points - n)]))
        picks[i] = offsets[i] + pick
    spacing = 2.0 / (grid_size - 1)
    points = voxels[picks].astype(np.float32) * spacing - 1.0  # (N, P, 3)
    if jitter > 0:
        points += (rng.random(points.shape, dtype=np.float32) - 0.5) * (jitter * spacing)
    return np.clip(points, -1.0, 1.0)


class PointCloudDataset(Dataset):
    """Point sets ``(num_points, 3)`` in [-1, 1] with labels; items are ``(points, label)``.

    ``points`` (N, P, 3) float32 is one random draw (fixed by ``seed``); :meth:`resample` draws
    again (new subsets and jitter: data augmentation between epochs).  The occupied voxels stay
    in memory (``voxels`` (V, 3) uint8, ``counts`` (N,)).
    """

    def __init__(self, voxels, counts, labels, grid_size: int, num_points: int = 1024, jitter: float = 1.0,
                 seed: int = 0, classes=CLASSES, name: str = "", dropped=()):
        self.voxels = np.asarray(voxels, dtype=np.uint8)
        self.counts = np.asarray(counts, dtype=np.int64)
        if self.voxels.ndim != 2 or self.voxels.shape[1] != 3 or self.counts.sum() != len(self.voxels):
            raise ValueError(f"voxels must be (V, 3) with V = sum(counts) = {self.counts.sum()}, "
                             f"got {self.voxels.shape}")
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        if len(self.labels) != len(self.counts):
            raise ValueError(f"{len(self.labels)} labels for {len(self.counts)} objects")
        self.grid_size, self.num_points, self.jitter, self.seed = int(grid_size), int(num_points), float(jitter), seed
        self.classes, self.name, self.dropped = tuple(classes), name, tuple(int(i) for i in dropped)
        self.points = torch.from_numpy(sample_points(self.voxels, self.counts, self.grid_size, self.num_points,
                                                     self.jitter, seed))  # (N, P, 3)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.points[i], self.labels[i]

    def resample(self, seed: int) -> "PointCloudDataset":
        """The same objects with a new draw of points (subsets and jitter) fixed by ``seed``."""
        return PointCloudDataset(self.voxels, self.counts, self.labels, self.grid_size, self.num_points,
                                 self.jitter, seed, self.classes, self.name, self.dropped)

    def subset(self, n: int, seed: int = 0) -> "PointCloudDataset":
        """A random subset of ``n`` objects (fixed by ``seed``), with the same points."""
        idx = np.sort(np.random.default_rng(seed).permutation(len(self))[:n])
        offsets = np.concatenate([[0], np.cumsum(self.counts)])
        voxels = np.concatenate([self.voxels[offsets[i]:offsets[i + 1]] for i in idx]) if len(idx) else \
            np.zeros((0, 3), np.uint8)
        out = PointCloudDataset.__new__(PointCloudDataset)
        out.voxels, out.counts, out.labels = voxels, self.counts[idx], self.labels[torch.from_numpy(idx)]
        out.grid_size, out.num_points, out.jitter, out.seed = self.grid_size, self.num_points, self.jitter, self.seed
        out.classes, out.name, out.dropped = self.classes, self.name, self.dropped
        out.points = self.points[torch.from_numpy(idx)]
        return out

    def __repr__(self) -> str:
        return (f"PointCloudDataset({self.name}, n={len(self)}, points per object={self.num_points}, "
                f"jitter={self.jitter:g}, grid={self.grid_size}^3)")


def load_modelnet10(split: str = "train", num_points: int = 1024, jitter: float = 1.0, seed: int = 0,
                    root: Path | None = None, path: str | Path | None = None,
                    sha256: str | None = SHA256) -> PointCloudDataset:
    """ModelNet10 ``split`` ('train' or 'test') as a :class:`PointCloudDataset`.

    Args:
        num_points: points per object (P).
        jitter: fraction of a voxel cell each point moves at most (uniform); 0 keeps the lattice.
        seed: fixes the random subsets and the jitter.
        root: the data directory (default :func:`~perceiver_edu.data.fetch.data_root`).
        path: read this npz file instead of looking for ``modelnet10_vox30.npz``.
        sha256: the expected sha256 of the file (None: do not check, for files of your own).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    path = Path(path) if path is not None else locate_modelnet10(root)
    if sha256 is not None:
        verify_sha256(path, sha256, str(path))
    try:
        voxels, counts, labels, g = read_occupied_voxels(path, split)
    except (zipfile.BadZipFile, EOFError) as err:
        raise ModelNetError(f"{path}: not a readable npz file ({err})") from err
    empty = np.flatnonzero(counts == 0)  # nothing to sample from: drop (documented above)
    keep = counts > 0
    return PointCloudDataset(voxels, counts[keep], labels[keep], g, num_points, jitter, seed, CLASSES,
                             f"ModelNet10 {split}", dropped=empty)


__all__ = ["CLASSES", "ModelNetError", "PointCloudDataset", "load_modelnet10", "locate_modelnet10",
           "read_occupied_voxels", "sample_points"]
