"""Which datasets each notebook needs, and whether they can be had here (no download is started).

A dataset can be had when a local copy is found where its reader looks first, or when downloads
are allowed (``PERCEIVER_EDU_OFFLINE`` unset).  The test suite (``conftest.py``) skips, with the
reason, the notebooks and tests whose data cannot be had; ``PERCEIVER_EDU_REQUIRE_DATA=1`` (CI,
offline with local copies given) turns every such skip into a failure.
"""
from __future__ import annotations

import os
from pathlib import Path

from . import fsdd, mnist, modelnet
from .fetch import OFFLINE_VAR, data_root, find_file

REQUIRE_DATA_VAR = "PERCEIVER_EDU_REQUIRE_DATA"

# notebook (file stem) -> the datasets it reads; the one place this is written down
NOTEBOOK_DATASETS: dict[str, tuple[str, ...]] = {
    "00_tour": ("fashion-mnist",),
    "01_attention": (),
    "02_cross_attention": ("fashion-mnist",),
    "03_fourier_features": ("fashion-mnist",),
    "04_latent_transformer": ("fashion-mnist",),
    "05_training": ("fashion-mnist",),
    "06_attention_maps": ("fashion-mnist",),
    "07_permuted_pixels": ("mnist",),
    "08_audio": ("fsdd",),
    "09_point_clouds": ("modelnet10",),
    "10_multimodal": ("mnist", "fsdd"),
    "11_perceiver_io": ("fashion-mnist",),
    "12_resampler": ("fashion-mnist",),
    "13_scaling_inputs": (),
}


def offline() -> bool:
    return os.environ.get(OFFLINE_VAR, "") not in ("", "0")


def require_data() -> bool:
    """True where a dataset that cannot be had must fail the tests instead of skipping them."""
    return os.environ.get(REQUIRE_DATA_VAR, "") not in ("", "0")


def _idx_local_copy(spec) -> Path | None:
    dirs = [os.environ.get(spec.env_var) or None, *spec.system_dirs, data_root() / spec.subdir]
    for d in dirs:
        if d is not None and all(find_file([s + ".gz", s], [d]) for s in spec.sha256):
            return Path(d)
    return None


def _fsdd_local_copy() -> Path | None:
    names = list(fsdd.pinned_checksums())
    dirs = [Path(os.environ[fsdd.ENV_VAR]).expanduser() if os.environ.get(fsdd.ENV_VAR) else None,
            data_root() / fsdd.SUBDIR]
    for d in dirs:
        if d is not None and all((d / "recordings" / n).is_file() for n in names):
            return d
    return None


def local_copy(name: str) -> Path | None:
    """Where a local copy of dataset ``name`` is, or None (nothing is downloaded)."""
    if name == "fashion-mnist":
        return _idx_local_copy(mnist.FASHION_MNIST)
    if name == "mnist":
        return _idx_local_copy(mnist.MNIST)
    if name == "fsdd":
        return _fsdd_local_copy()
    if name == "modelnet10":
        found = modelnet.find_local_copy()
        return found[1] if found else None
    if name == "modelnet10-voxels":
        found = modelnet.find_local_copy()
        return found[1] if found and found[0] == "voxels" else None
    raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(HOW_TO_GET)}")


HOW_TO_GET = {
    "fashion-mnist": f"install the Debian package dataset-fashion-mnist or set {mnist.FASHION_MNIST.env_var}",
    "mnist": f"set {mnist.MNIST.env_var} to a folder with the four IDX files",
    "fsdd": f"set {fsdd.ENV_VAR} to a clone of {fsdd.REPOSITORY}",
    "modelnet10": f"set {modelnet.MESH_ENV_VAR} to ModelNet10.zip or its extracted folder, or {modelnet.ENV_VAR} "
                  f"to a folder holding the voxel-grid alternative {modelnet.FILE}",
    "modelnet10-voxels": f"set {modelnet.ENV_VAR} to a folder holding {modelnet.FILE}",
}
DOWNLOADABLE = ("fashion-mnist", "mnist", "fsdd", "modelnet10")  # the voxel grids have no public download


def missing_reason(name: str) -> str | None:
    """Why dataset ``name`` cannot be had here, or None when it can (a local copy, or downloads allowed)."""
    if local_copy(name) is not None or (name in DOWNLOADABLE and not offline()):
        return None
    if name not in DOWNLOADABLE:
        return f"{name} is not on this machine and has no public download ({HOW_TO_GET[name]})"
    return f"{name} is not on this machine and {OFFLINE_VAR} forbids downloading it ({HOW_TO_GET[name]})"


def notebook_missing_data(stem: str) -> list[str]:
    """Reasons why notebook ``stem`` cannot get its data here (empty: it can run)."""
    if stem not in NOTEBOOK_DATASETS:
        raise KeyError(f"notebook {stem!r} is not in NOTEBOOK_DATASETS; add the datasets it reads there")
    return [r for r in map(missing_reason, NOTEBOOK_DATASETS[stem]) if r]


__all__ = ["NOTEBOOK_DATASETS", "REQUIRE_DATA_VAR", "local_copy", "missing_reason", "notebook_missing_data",
           "offline", "require_data"]
