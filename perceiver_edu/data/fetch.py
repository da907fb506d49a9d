"""Finding dataset files locally and downloading them with checksums when they are missing."""
from __future__ import annotations

import gzip
import hashlib
import os
import urllib.request
from pathlib import Path
from typing import Callable, Iterable, Sequence

from tqdm.auto import tqdm

from ..atomic import atomic_write

OFFLINE_VAR = "PERCEIVER_EDU_OFFLINE"
DATA_VAR = "PERCEIVER_EDU_DATA"


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is neither on disk nor downloadable; the message says how to get it."""


def local_copy(var: str) -> Path | None:
    """The local copy the environment variable ``var`` points at; None when ``var`` is unset.

    A path that does not exist is an error rather than a silent fall-back to the default places,
    so a typo in the variable is found at once."""
    value = os.environ.get(var, "")
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.exists():
        raise DatasetNotFoundError(f"{var} is set to {value!r}, which does not exist: point it at your local "
                                   f"copy of the dataset, or unset it to use the default places and the download")
    return path


def data_root() -> Path:
    """Where the readers cache downloads: ``$PERCEIVER_EDU_DATA``, else the user's cache directory
    (``$XDG_CACHE_HOME/perceiver-edu``, by default ``~/.cache/perceiver-edu``).  Never a folder of
    the source tree: an installed package and a clone cache in the same place."""
    if os.environ.get(DATA_VAR):
        return Path(os.environ[DATA_VAR]).expanduser()
    cache = Path(os.environ["XDG_CACHE_HOME"]).expanduser() if os.environ.get("XDG_CACHE_HOME") else \
        Path.home() / ".cache"
    return cache / "perceiver-edu"


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


def download(url: str, dest: Path, sha256: str | None, timeout: float = 30.0, *, progress: bool = False,
             verify: Callable[[Path], None] | None = None) -> Path:
    """Download ``url`` to ``dest`` atomically; ``sha256`` is of the (decompressed) content.

    The bytes go to a temporary file in the same directory, are verified (``sha256``, then
    ``verify(path)``, which raises on a bad file), and only then renamed into place, so an
    interrupted or corrupt download never leaves a partial file behind.  ``progress`` shows a bar.
    A ``file://`` URL (a local copy) is read even where downloads are disabled.
    """
    if os.environ.get(OFFLINE_VAR, "") not in ("", "0") and not url.startswith("file:"):
        raise OSError(f"downloads are disabled ({OFFLINE_VAR} is set)")
    def fetch_and_check(tmp: str) -> None:
        with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
        if sha256 is not None:
            digest = content_sha256(Path(tmp))
            if digest != sha256:
                raise OSError(f"checksum mismatch for {url}: got {digest}, expected {sha256}")
        if verify is not None:
            verify(Path(tmp))

    atomic_write(dest, fetch_and_check, suffix=".part" + "".join(dest.suffixes))
    return dest
