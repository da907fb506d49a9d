"""sha256 checks shared by the dataset readers."""
from __future__ import annotations

import hashlib
from pathlib import Path


class ChecksumError(ValueError):
    """A file's content is not the official one (corrupt, truncated or another version)."""


def sha256_of(data: bytes | str | Path) -> str:
    """sha256 (hex) of bytes, or of a file's bytes."""
    h = hashlib.sha256()
    if isinstance(data, (bytes, bytearray, memoryview)):
        h.update(data)
    else:
        with open(data, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def verify_sha256(data: bytes | str | Path, expected: str, name: str) -> None:
    """Raise :class:`ChecksumError` naming ``name`` unless ``data`` has the sha256 ``expected``."""
    digest = sha256_of(data)
    if digest != expected:
        raise ChecksumError(f"{name}: sha256 of the content is {digest}, expected {expected}; the file is corrupt "
                            f"or not the official one: delete it and fetch it again")
