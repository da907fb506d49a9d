"""Atomic file writes: the content goes to a temporary file beside the target, which is renamed over
it only once complete, so a failure or an interruption never leaves a partial file or changes the
file that was there.  Used by checkpoints, metrics logs, downloads and data caches."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def new_file_mode() -> int:
    """The permissions a newly created file gets under the current umask (0644 under umask 022)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: str | Path, write: Callable[[str], object], *, suffix: str = ".tmp",
                 mode: int | None = None) -> Path:
    """Call ``write(tmp)`` on a temporary file in ``path``'s folder, then rename it to ``path``.

    ``suffix`` ends the temporary file's name (``np.savez`` wants ``.npz``).  The file gets ``mode``,
    by default the permissions of a new file, not the 0600 of ``mkstemp`` (or of writers that create
    their own file).  If ``write`` raises, the temporary file is removed and ``path`` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, new_file_mode() if mode is None else mode)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


__all__ = ["atomic_write", "new_file_mode"]
