"""Reader for the IDX format of MNIST and Fashion-MNIST (gzipped or not), with validation.

Layout: 2 zero bytes, a type code (0x08 = unsigned byte), the number of dimensions n, then n
big-endian uint32 sizes, then the data.  A corrupt or truncated file raises ``IDXError``.
"""
from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
           0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class IDXError(ValueError):
    """The file is not a valid IDX file (bad magic number, dimensions or length)."""


def read_idx_bytes(path: str | Path) -> bytes:
    """The raw (decompressed) content of an IDX file; ``.gz`` files are decompressed."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise IDXError(f"{path}: cannot read IDX file ({err}); the file is corrupt or truncated") from err


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX content into a NumPy array, validating the header against the length."""
    if len(raw) < 4:
        raise IDXError(f"{name}: {len(raw)} bytes is too short for an IDX header (need at least 4)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise IDXError(f"{name}: bad magic number {raw[:4].hex()}; expected 0000 followed by a type code "
                       f"in {sorted(hex(t) for t in _DTYPES)} and the number of dimensions")
    ndim = raw[3]
    if ndim == 0:
        raise IDXError(f"{name}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(f"{name}: truncated header: {ndim} dimensions need {header} bytes, file has {len(raw)}")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_DTYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        kind = "truncated" if len(raw) < expected else "has trailing bytes"
        raise IDXError(f"{name}: file {kind}: header says shape {shape} of {dtype} = {expected} bytes "
                       f"in all, file has {len(raw)}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx(path: str | Path, sha256: str | None = None) -> np.ndarray:
    """Read an IDX file; if ``sha256`` is given, the decompressed content must match it."""
    raw = read_idx_bytes(path)
    if sha256 is not None:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != sha256:
            raise IDXError(f"{path}: sha256 of the content is {digest}, expected {sha256}; "
                           f"the file is corrupt or not the official one: delete it and fetch it again")
    return parse_idx(raw, str(path))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (gzipped if the name ends in .gz); used by tests."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    raw = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes() + array.tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)
