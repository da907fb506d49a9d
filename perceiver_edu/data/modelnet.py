"""ModelNet10 as point sets: surface samples of the official meshes, or the voxel-grid alternative.

ModelNet10 (Wu et al., "3D ShapeNets", CVPR 2015; Princeton, academic research use) holds CAD
models of 10 furniture classes, official split 3,991 train / 908 test.  :func:`load_modelnet10`
reads one of two sources and says which in ``dataset.source``:

**The official meshes** (``ModelNet10.zip``, about 450 MB, OFF files; :data:`MESH_URL`).  As in the
paper (and PointNet), 2,048 points are sampled uniformly over each object's surface
(:mod:`perceiver_edu.data.off_mesh`) and normalised to the unit sphere; the sampled sets of both
splits are cached in one file, ``<data>/modelnet10/modelnet10_surface2048.npz`` (float16, about
60 MB), so only the first run parses the meshes.  Where the zip is looked for, in order:
``$PERCEIVER_EDU_MODELNET10_MESHES`` (a local copy of the zip, or the folder it extracts to),
``<data>/modelnet10/ModelNet10.zip``; otherwise it is downloaded there (with a progress bar,
atomically), its CRCs and layout are checked (10 class folders, 3,991 train and 908 test ``.off``
files), and its sha256 is recorded beside it so that a later read detects corruption.

**The voxel-grid alternative, for offline use**: ``modelnet10_vox30.npz``, ``X_train``
(3991, 30, 30, 30) and ``X_test`` (908, 30, 30, 30) int 0/1 occupancy grids (each model voxelised
at 24^3, padded to 30^3), labels ``y_train``/``y_test`` int 0-9 in the order of :data:`CLASSES`;
a preprocessed copy with no public download, looked for in ``$PERCEIVER_EDU_MODELNET10_DIR``, then
``<data>/modelnet10``; its sha256 is checked.  ``<data>`` is :func:`~perceiver_edu.data.fetch.data_root`.

Which one: local meshes (or their cache) first, then a local voxel file, then a download of the
meshes (:func:`auto_source` says which, reading nothing); ``data="meshes"`` or ``data="voxels"``
forces one.  Offline (``PERCEIVER_EDU_OFFLINE`` set) with neither, nothing is downloaded: a
:class:`~perceiver_edu.data.fetch.DatasetNotFoundError` says how to get the data.  A dataset's
``kind`` is ``"meshes"`` or ``"voxels"``, the value of ``data`` that reads it.

From grids to point sets: the Perceiver sees an object as an unordered set of ``num_points``
points (x, y, z) in [-1, 1]^3:

* voxel index i in 0..G-1 along an axis becomes the coordinate ``2 i / (G - 1) - 1``, the same
  convention as :func:`perceiver_edu.model.position.position_grid`; the objects fill indices 3..26, so
  the points lie within about [-0.8, 0.8];
* ``num_points`` voxels are drawn at random: without replacement when the object has at least
  that many occupied voxels, otherwise every voxel once plus random repeats (with replacement);
* ``jitter`` moves each point uniformly within ``jitter`` times its voxel's cell (1.0: anywhere
  in the cell, turning the lattice into a continuous cloud; 0: exactly on the lattice).

Objects have 0 to 12,010 occupied voxels (median 1,462 in train).  8 grids are empty (train: 5
bathtubs, 1 sofa, 1 toilet; test: 1 desk) and are dropped, leaving 3,984 train / 907 test
objects; ``dataset.dropped`` lists their indices in the file.  The grids are solid, not hollow:
voxels inside an object are occupied too, so the points fill its volume where surface samples lie
on its surface (:meth:`PointCloudDataset.interior_share` measures how much).
"""
from __future__ import annotations

import contextlib
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..atomic import atomic_write
from .checksum import sha256_of, verify_sha256
from .fetch import OFFLINE_VAR, DatasetNotFoundError, data_root, download, find_file, local_copy
from .off_mesh import OFFError, normalize_unit_sphere, parse_off, sample_surface

ENV_VAR = "PERCEIVER_EDU_MODELNET10_DIR"
SUBDIR = "modelnet10"
FILE = "modelnet10_vox30.npz"
SHA256 = "85fb9d01bbaa1913cde8cd385557b31e05cb179585c572298151f54f1e1373fb"
CLASSES = ("bathtub", "bed", "chair", "desk", "dresser", "monitor", "night_stand", "sofa", "table", "toilet")
OFFICIAL_URL = "http://modelnet.cs.princeton.edu/"
MESH_URL = "http://3dvision.princeton.edu/projects/2014/3DShapeNets/ModelNet10.zip"
MESH_ZIP = "ModelNet10.zip"
MESH_ENV_VAR = "PERCEIVER_EDU_MODELNET10_MESHES"
MESH_SIZE = "about 450 MB"
EXPECTED_COUNTS = {"train": 3991, "test": 908}
SURFACE_POINTS = 2048
SURFACE_CACHE = f"modelnet10_surface{SURFACE_POINTS}.npz"
_MESH_MEMBER = re.compile(r"(?:^|/)ModelNet10/([^/]+)/(train|test)/([^/]+\.off)$")


class ModelNetError(ValueError):
    """The npz file does not hold ModelNet-style occupancy grids (missing key, bad shape or values)."""


def locate_modelnet10(root: Path | None = None) -> Path:
    """Path of ``modelnet10_vox30.npz``; :class:`DatasetNotFoundError` saying how to get it otherwise."""
    local = (Path(root) if root is not None else data_root()) / SUBDIR
    dirs = [local_copy(ENV_VAR), local]
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

    kind = "voxels"

    def __init__(self, voxels, counts, labels, grid_size: int, num_points: int = 1024, jitter: float = 1.0,
                 seed: int = 0, classes=CLASSES, name: str = "", dropped=(), source: str = ""):
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
        self.source = source  # which data, in words
        self.points = torch.from_numpy(sample_points(self.voxels, self.counts, self.grid_size, self.num_points,
                                                     self.jitter, seed))  # (N, P, 3)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.points[i], self.labels[i]

    def resample(self, seed: int) -> "PointCloudDataset":
        """The same objects with a new draw of points (subsets and jitter) fixed by ``seed``."""
        return PointCloudDataset(self.voxels, self.counts, self.labels, self.grid_size, self.num_points,
                                 self.jitter, seed, self.classes, self.name, self.dropped, self.source)

    def subset(self, n: int, seed: int = 0) -> "PointCloudDataset":
        """A random subset of ``n`` objects (fixed by ``seed``), with the same points."""
        idx = np.sort(np.random.default_rng(seed).permutation(len(self))[:n])
        offsets = np.concatenate([[0], np.cumsum(self.counts)])
        voxels = np.concatenate([self.voxels[offsets[i]:offsets[i + 1]] for i in idx]) if len(idx) else \
            np.zeros((0, 3), np.uint8)
        out = PointCloudDataset.__new__(PointCloudDataset)
        out.voxels, out.counts, out.labels = voxels, self.counts[idx], self.labels[torch.from_numpy(idx)]
        out.grid_size, out.num_points, out.jitter, out.seed = self.grid_size, self.num_points, self.jitter, self.seed
        out.classes, out.name, out.dropped, out.source = self.classes, self.name, self.dropped, self.source
        out.points = self.points[torch.from_numpy(idx)]
        return out

    def interior_share(self) -> float:
        """Share of all occupied voxels whose 6 face neighbours are occupied too: 0 for hollow shells
        (every voxel on the surface), close to 1 for large solid blocks."""
        g = self.grid_size
        object_id = np.repeat(np.arange(len(self.counts)), self.counts)  # (V,)
        flat = ((object_id * g + self.voxels[:, 0]) * g + self.voxels[:, 1]) * g + self.voxels[:, 2]  # (V,) int64
        occupied = np.zeros(len(self.counts) * g ** 3, dtype=bool)
        occupied[flat] = True
        occupied = occupied.reshape(-1, g, g, g)  # (N, G, G, G)
        interior = np.zeros_like(occupied)
        interior[:, 1:-1, 1:-1, 1:-1] = occupied[:, 1:-1, 1:-1, 1:-1]
        for axis in (1, 2, 3):
            for step in (1, -1):
                interior[:, 1:-1, 1:-1, 1:-1] &= np.roll(occupied, step, axis=axis)[:, 1:-1, 1:-1, 1:-1]
        return float(interior.sum() / max(len(self.voxels), 1))

    def __repr__(self) -> str:
        return (f"PointCloudDataset({self.name}, n={len(self)}, points per object={self.num_points}, "
                f"jitter={self.jitter:g}, grid={self.grid_size}^3)")


# ---- the official meshes: listing, checks, download, surface-sample cache ----

def mesh_listing(names) -> dict[str, list[tuple[str, str]]]:
    """``{split: [(class, member name), ...]}`` of the ``ModelNet10/<class>/<split>/*.off`` names, sorted."""
    out = {"train": [], "test": []}
    for name in names:
        m = _MESH_MEMBER.search(name)
        if m and not name.startswith("__MACOSX") and not m[3].startswith("._"):  # no macOS resource forks
            out[m[2]].append((m[1], name))
    return {split: sorted(entries) for split, entries in out.items()}


def check_mesh_listing(listing, where: str) -> None:
    """Raise :class:`ModelNetError` unless the listing has the 10 class folders and 3,991 / 908 files."""
    classes = sorted({c for entries in listing.values() for c, _ in entries})
    if classes != sorted(CLASSES):
        raise ModelNetError(f"{where}: expected the {len(CLASSES)} class folders {', '.join(CLASSES)} under "
                            f"ModelNet10/, found {len(classes)}: {', '.join(classes) or 'none'}")
    counts = {split: len(entries) for split, entries in listing.items()}
    if counts != EXPECTED_COUNTS:
        raise ModelNetError(f"{where}: expected {EXPECTED_COUNTS['train']} train and {EXPECTED_COUNTS['test']} "
                            f"test .off files, found {counts['train']} and {counts['test']}")


def verify_mesh_zip(path: str | Path) -> None:
    """Check a ``ModelNet10.zip``: every member's CRC, the class folders and the file counts."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as err:
        raise ModelNetError(f"{path}: not a readable zip file ({err})") from err
    if bad is not None:
        raise ModelNetError(f"{path}: CRC check failed for {bad}: the zip is corrupt; delete it and download it again")
    check_mesh_listing(mesh_listing(names), str(path))


def _sha256_record(zip_path: Path) -> Path:
    return zip_path.with_name(zip_path.name + ".sha256")


def download_modelnet10_meshes(source: str | Path = MESH_URL, dest: str | Path | None = None) -> Path:
    """Download ``ModelNet10.zip`` (a URL, a ``file://`` URL or a local path) to ``dest``, check it, and
    record its sha256 in ``dest.sha256``.  Default ``dest``: ``<data>/modelnet10/ModelNet10.zip``."""
    dest = Path(dest) if dest is not None else data_root() / SUBDIR / MESH_ZIP
    url = str(source) if "://" in str(source) else Path(source).resolve().as_uri()
    download(url, dest, None, timeout=60.0, progress=True, verify=verify_mesh_zip)
    _sha256_record(dest).write_text(f"{sha256_of(dest)}  {dest.name}\n")
    return dest


def _check_recorded_sha256(zip_path: Path) -> None:
    """Raise :class:`ChecksumError` when a zip whose sha256 was recorded at download has changed since."""
    record = _sha256_record(zip_path)
    if record.is_file():
        verify_sha256(zip_path, record.read_text().split()[0], f"{zip_path} (sha256 recorded in {record.name})")


def find_local_copy(root: Path | None = None) -> tuple[str, Path] | None:
    """The first local ModelNet10 source, as ``(kind, path)`` with kind ``"surface cache"``, ``"meshes"``
    (a zip or a folder) or ``"voxels"`` (the voxel-grid alternative); None when there is none."""
    local = (Path(root) if root is not None else data_root()) / SUBDIR
    if (local / SURFACE_CACHE).is_file():
        return "surface cache", local / SURFACE_CACHE
    given = local_copy(MESH_ENV_VAR)
    if given is not None:
        return "meshes", given
    if (local / MESH_ZIP).is_file():
        return "meshes", local / MESH_ZIP
    voxels = find_file([FILE], [local_copy(ENV_VAR), local])
    return ("voxels", voxels) if voxels is not None else None


@contextlib.contextmanager
def _open_meshes(source: Path):
    """``(listing, read)``: the mesh listing of a zip or an extracted folder, and ``read(name) -> text``."""
    if source.is_file():
        _check_recorded_sha256(source)
        with zipfile.ZipFile(source) as zf:
            yield mesh_listing(zf.namelist()), lambda name: zf.read(name).decode("ascii", errors="replace")
        return
    base = source / "ModelNet10" if (source / "ModelNet10").is_dir() else source
    names = ["ModelNet10/" + p.relative_to(base).as_posix() for p in base.glob("*/*/*.off")]
    yield mesh_listing(names), lambda name: (base / name[len("ModelNet10/"):]).read_text(encoding="ascii",
                                                                                         errors="replace")


def build_surface_cache(source: str | Path, dest: str | Path, num_points: int = SURFACE_POINTS,
                        seed: int = 0) -> Path:
    """Sample ``num_points`` surface points of every mesh of a zip or folder, normalised to the unit
    sphere, into one npz at ``dest`` (written atomically): ``points_<split>`` (N, P, 3) float16,
    ``y_<split>`` (N,) int64, ``files_<split>`` the member names."""
    source, dest = Path(source), Path(dest)
    rng = np.random.default_rng(seed)
    arrays = {}
    with _open_meshes(source) as (listing, read):
        check_mesh_listing(listing, str(source))
        for split, entries in listing.items():
            points = np.empty((len(entries), num_points, 3), dtype=np.float16)
            for i, (cls, name) in enumerate(tqdm(entries, desc=f"ModelNet10 {split}: sampling surfaces")):
                try:
                    vertices, faces = parse_off(read(name), f"{source}:{name}")
                    points[i] = normalize_unit_sphere(sample_surface(vertices, faces, num_points, rng))
                except (OFFError, ValueError) as err:
                    raise ModelNetError(f"{source}: {name}: {err}") from err
            arrays[f"points_{split}"] = points
            arrays[f"y_{split}"] = np.array([CLASSES.index(c) for c, _ in entries], dtype=np.int64)
            arrays[f"files_{split}"] = np.array([name for _, name in entries])
    atomic_write(dest, lambda tmp: np.savez(tmp, **arrays), suffix=".part.npz")  # savez wants .npz
    return dest


def surface_cache(root: Path | None = None) -> Path:
    """Path of the surface-sample cache, built first from local meshes or a download when missing."""
    local = (Path(root) if root is not None else data_root()) / SUBDIR
    if (local / SURFACE_CACHE).is_file():
        return local / SURFACE_CACHE
    found = find_local_copy(root)
    if found is not None and found[0] == "meshes":
        return build_surface_cache(found[1], local / SURFACE_CACHE)
    try:
        zip_path = download_modelnet10_meshes(MESH_URL, local / MESH_ZIP)
    except OSError as err:
        raise DatasetNotFoundError(_not_found_message(local, err)) from err
    return build_surface_cache(zip_path, local / SURFACE_CACHE)


def _not_found_message(local: Path, err) -> str:
    return (f"ModelNet10 was not found and could not be downloaded ({err}).\nTo get it: with internet, run this "
            f"again (it downloads {MESH_URL}, {MESH_SIZE}, into {local}); or download that file yourself and set "
            f"{MESH_ENV_VAR} to it (or to the folder it extracts to).  Offline alternative: set {ENV_VAR} to a "
            f"folder holding the voxel grids {FILE} (sha256 {SHA256}), a preprocessed copy with no public "
            f"download.  Official page: {OFFICIAL_URL}")


class SurfacePointDataset(Dataset):
    """Surface samples of ModelNet10 meshes; items are ``(points, label)`` like :class:`PointCloudDataset`.

    ``surface`` (N, S, 3) float32 holds all S cached samples per object on the unit sphere;
    ``points`` (N, P, 3) is a random subset of P of them per object (fixed by ``seed``), and
    :meth:`resample` draws another subset.
    """

    jitter = 0.0
    dropped = ()
    kind = "meshes"

    def __init__(self, surface, labels, num_points: int = 1024, seed: int = 0, classes=CLASSES, name: str = "",
                 source: str = ""):
        self.surface = torch.as_tensor(surface, dtype=torch.float32)
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        if self.surface.ndim != 3 or self.surface.shape[2] != 3 or len(self.surface) != len(self.labels):
            raise ValueError(f"surface must be (N, S, 3) with N = {len(self.labels)} labels, got "
                             f"{tuple(self.surface.shape)}")
        if not 1 <= num_points <= self.surface.shape[1]:
            raise ValueError(f"num_points must be in 1..{self.surface.shape[1]} (the cached samples per object), "
                             f"got {num_points}")
        self.num_points, self.seed, self.classes, self.name, self.source = int(num_points), seed, tuple(classes), \
            name, source
        g = torch.Generator().manual_seed(seed)
        pick = torch.rand(self.surface.shape[:2], generator=g).argsort(dim=1)[:, :self.num_points]  # (N, P)
        self.points = torch.gather(self.surface, 1, pick[..., None].expand(-1, -1, 3))  # (N, P, 3)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.points[i], self.labels[i]

    def resample(self, seed: int) -> "SurfacePointDataset":
        """The same objects with another random subset of their surface samples."""
        return SurfacePointDataset(self.surface, self.labels, self.num_points, seed, self.classes, self.name,
                                   self.source)

    def subset(self, n: int, seed: int = 0) -> "SurfacePointDataset":
        """A random subset of ``n`` objects (fixed by ``seed``), with the same points."""
        idx = torch.from_numpy(np.sort(np.random.default_rng(seed).permutation(len(self))[:n]))
        out = SurfacePointDataset.__new__(SurfacePointDataset)
        out.__dict__.update(self.__dict__)
        out.surface, out.labels, out.points = self.surface[idx], self.labels[idx], self.points[idx]
        return out

    def __repr__(self) -> str:
        return f"SurfacePointDataset({self.name}, n={len(self)}, points per object={self.num_points})"


def load_surface_points(split: str, path: str | Path, num_points: int = 1024, seed: int = 0) -> SurfacePointDataset:
    """``split`` of a surface-sample cache written by :func:`build_surface_cache`."""
    path = Path(path)
    try:
        with np.load(path) as f:
            surface, labels = f[f"points_{split}"], f[f"y_{split}"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise ModelNetError(f"{path}: not a readable ModelNet10 surface cache ({err}); delete it to rebuild it") \
            from err
    surface = surface.astype(np.float32)
    surface /= np.linalg.norm(surface, axis=2).max(axis=1)[:, None, None]  # undo float16 rounding of the radius
    source = (f"official ModelNet10 meshes: {surface.shape[1]:,} points sampled uniformly on each surface, "
              f"unit sphere ({path.name})")
    return SurfacePointDataset(surface, labels, num_points, seed, CLASSES, f"ModelNet10 {split}", source)


def _auto_kind(found) -> str:
    """``data="auto"``'s choice given :func:`find_local_copy`'s answer: the voxel file only when it is
    the local copy found, the meshes otherwise (their cache, local meshes, or a download)."""
    return "voxels" if found is not None and found[0] == "voxels" else "meshes"


def auto_source(root: Path | None = None) -> str:
    """What ``load_modelnet10(data="auto")`` reads here, without reading or downloading anything:
    ``"meshes"`` (a surface cache, local meshes, or a download of them) or ``"voxels"``."""
    return _auto_kind(find_local_copy(root))


def load_modelnet10(split: str = "train", num_points: int = 1024, jitter: float = 1.0, seed: int = 0,
                    root: Path | None = None, path: str | Path | None = None,
                    sha256: str | None = SHA256, data: str = "auto"):
    """ModelNet10 ``split`` ('train' or 'test') as point sets; ``dataset.source`` says which data.

    Args:
        num_points: points per object (P).
        jitter: voxel grids only: fraction of a voxel cell each point moves at most (uniform).
        seed: fixes the random subsets (and the jitter).
        root: the data directory (default :func:`~perceiver_edu.data.fetch.data_root`).
        path: read this voxel-grid npz instead of looking for ``modelnet10_vox30.npz``.
        sha256: the expected sha256 of the voxel file (None: do not check, for files of your own).
        data: ``"auto"`` (local meshes or their cache, else a local voxel file, else download the
            meshes), ``"meshes"`` (surface samples, downloading if needed) or ``"voxels"``.

    Returns:
        :class:`SurfacePointDataset` or :class:`PointCloudDataset` (the voxel-grid alternative).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if data not in ("auto", "meshes", "voxels"):
        raise ValueError(f"data must be 'auto', 'meshes' or 'voxels', got {data!r}")
    if path is None and data != "voxels":
        found = find_local_copy(root)
        if data == "meshes" or _auto_kind(found) == "meshes":
            if found is None and os.environ.get(OFFLINE_VAR, "") not in ("", "0"):
                local = (Path(root) if root is not None else data_root()) / SUBDIR
                raise DatasetNotFoundError(_not_found_message(local, f"downloads are disabled: {OFFLINE_VAR} is set"))
            return load_surface_points(split, surface_cache(root), num_points, seed)
    return _load_voxels(split, num_points, jitter, seed, root, path, sha256)


def _load_voxels(split: str, num_points: int, jitter: float, seed: int, root: Path | None,
                 path: str | Path | None, sha256: str | None) -> PointCloudDataset:
    """The voxel-grid alternative: ``split`` of ``modelnet10_vox30.npz`` (or ``path``) as point sets."""
    path = Path(path) if path is not None else locate_modelnet10(root)
    if sha256 is not None:
        verify_sha256(path, sha256, str(path))
    try:
        voxels, counts, labels, g = read_occupied_voxels(path, split)
    except (zipfile.BadZipFile, EOFError) as err:
        raise ModelNetError(f"{path}: not a readable npz file ({err})") from err
    empty = np.flatnonzero(counts == 0)  # nothing to sample from: drop (documented above)
    keep = counts > 0
    source = (f"voxel-grid alternative (offline): occupied voxels of {g}^3 occupancy grids"
              f"{', jittered within their cells' if jitter > 0 else ''} ({path.name})")
    return PointCloudDataset(voxels, counts[keep], labels[keep], g, num_points, jitter, seed, CLASSES,
                             f"ModelNet10 {split}", dropped=empty, source=source)


__all__ = ["CLASSES", "MESH_URL", "ModelNetError", "PointCloudDataset", "SurfacePointDataset", "auto_source",
           "build_surface_cache",
           "check_mesh_listing", "download_modelnet10_meshes", "find_local_copy", "load_modelnet10",
           "load_surface_points", "locate_modelnet10", "mesh_listing", "read_occupied_voxels", "sample_points",
           "surface_cache", "verify_mesh_zip"]
