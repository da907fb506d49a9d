"""Finding dataset files locally and downloading them with checksums when they are missing."""
from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path
from typing import Iterable, Sequence

OFFLINE_VAR = "PERCEIVER_EDU_OFFLINE"
DATA_VAR = "PERCEIVER_EDU_DATA"


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is neither on disk nor downloadable; the message says how to get it."""


def data_root() -> Path:
    """Where the readers cache downloads: ``$PERCEIVER_EDU_DATA``, else the checkout's ``data/``
    when the package runs from a source checkout, else ``~/.cache/perceiver_edu``."""
    if os.environ.get(DATA_VAR):
        return Path(os.environ[DATA_VAR]).expanduser()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").exists() and (checkout / "data").is_dir():
        return checkout / "data"
    return Path.home() / ".cache" / "perceiver_edu"


def content_sha256(path: Path) -> str:
    """sha256 of a file's content, decompressed first if it is gzip (so recompressed mirrors match)."""
    opener = gzip.open if path.suffix == ".gz" else open
    h = hashlib.sha256()
    with opener(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def find_file(names: Sequence[str], directories: Iterable[Path | None]) -> Path | None:
    """The first existing ``directory/name`` over the directories (in order) and names."""
    for directory in directories:
        if directory is None:
            continue
        for name in names:
            candidate = Path(directory).expanduser() / name
            if candidate.is_file():
                return candidate
    return None


def download(url: str, dest: Path, sha256: str | None, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest`` atomically; ``sha256`` is of the (decompressed) content.

    The bytes go to a temporary file in the same directory, are verified, and only then renamed
    into place, so an interrupted or corrupt download never leaves a partial file behind.
    """
    if os.environ.get(OFFLINE_VAR, "") not in ("", "0"):
        raise OSError(f"downloads are disabled ({OFFLINE_VAR} is set)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part" + "".join(dest.suffixes))
    tmp = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                out.write(chunk)
        if sha256 is not None:
            digest = content_sha256(tmp)
            if digest != sha256:
                raise OSError(f"checksum mismatch for {url}: got {digest}, expected {sha256}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest
