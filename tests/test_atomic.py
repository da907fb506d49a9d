"""Atomic writes (checkpoints, logs, downloads, caches, notebooks): all or nothing, with the usual
permissions of a new file."""
import os
import stat
from pathlib import Path

import pytest

from perceiver_edu.atomic import atomic_write, new_file_mode


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_gets_the_umask_permissions_and_no_temporary_is_left(tmp_path, umask_022):
    assert new_file_mode() == 0o644
    seen = []
    atomic_write(tmp_path / "a" / "x.npz", lambda tmp: (seen.append(tmp), Path(tmp).write_text("one")), suffix=".part.npz")
    assert seen[0].endswith(".part.npz") and Path(seen[0]).parent == tmp_path / "a"
    assert (tmp_path / "a" / "x.npz").read_text() == "one" and mode_of(tmp_path / "a" / "x.npz") == 0o644
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["x.npz"]
    atomic_write(tmp_path / "a" / "x.npz", lambda tmp: Path(tmp).write_text("two"), mode=0o600)
    assert (tmp_path / "a" / "x.npz").read_text() == "two" and mode_of(tmp_path / "a" / "x.npz") == 0o600


def test_a_failed_write_leaves_the_old_file_as_it_was(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")

    def fails(tmp):
        Path(tmp).write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, fails)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_downloads_keep_the_usual_permissions(tmp_path, monkeypatch, umask_022):
    from perceiver_edu.data import fetch

    monkeypatch.delenv("PERCEIVER_EDU_OFFLINE", raising=False)
    src = tmp_path / "src.bin"
    src.write_bytes(b"data")
    dest = fetch.download(src.as_uri(), tmp_path / "cache" / "file.bin", None)
    assert dest.read_bytes() == b"data" and mode_of(dest) == 0o644  # not mkstemp's 0600
