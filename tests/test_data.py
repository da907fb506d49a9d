import gzip

import numpy as np
import pytest
import torch

from perceiver_edu.data import DatasetNotFoundError, IDXError, parse_idx, read_idx, write_idx
from perceiver_edu.data import mnist as mnist_mod


def test_idx_roundtrip_plain_and_gzip(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("a-idx3-ubyte", "a-idx3-ubyte.gz"):
        write_idx(tmp_path / name, arr)
        np.testing.assert_array_equal(read_idx(tmp_path / name), arr)


def test_idx_rejects_bad_magic_truncation_and_trailing_bytes(tmp_path):
    arr = np.zeros((4, 5), dtype=np.uint8)
    write_idx(tmp_path / "ok", arr)
    raw = (tmp_path / "ok").read_bytes()
    with pytest.raises(IDXError, match="magic"):
        parse_idx(b"\x01\x00" + raw[2:])
    with pytest.raises(IDXError, match="magic"):
        parse_idx(raw[:2] + b"\x07" + raw[3:])
    with pytest.raises(IDXError, match="truncated"):
        parse_idx(raw[:-3])
    with pytest.raises(IDXError, match="truncated header"):
        parse_idx(raw[:6])
    with pytest.raises(IDXError, match="trailing"):
        parse_idx(raw + b"\x00")
    with pytest.raises(IDXError, match="too short"):
        parse_idx(b"\x00")


def test_idx_rejects_truncated_gzip_and_wrong_checksum(tmp_path):
    write_idx(tmp_path / "x.gz", np.ones((50, 50), dtype=np.uint8))
    data = (tmp_path / "x.gz").read_bytes()
    (tmp_path / "cut.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(IDXError, match="corrupt or truncated"):
        read_idx(tmp_path / "cut.gz")
    with pytest.raises(IDXError, match="sha256"):
        read_idx(tmp_path / "x.gz", sha256="0" * 64)


def make_fake_split(directory, n=6):
    rng = np.random.default_rng(0)
    write_idx(directory / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
    write_idx(directory / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, n))


def test_missing_dataset_error_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PERCEIVER_EDU_OFFLINE", "1")
    monkeypatch.delenv("PERCEIVER_EDU_MNIST_DIR", raising=False)
    with pytest.raises(DatasetNotFoundError) as info:
        mnist_mod.load_mnist("test", root=tmp_path)
    msg = str(info.value)
    assert "PERCEIVER_EDU_MNIST_DIR" in msg and "t10k-images-idx3-ubyte.gz" in msg and str(tmp_path / "mnist") in msg
    # Fashion-MNIST's message names the Debian package
    spec = mnist_mod.FASHION_MNIST.__class__(**{**mnist_mod.FASHION_MNIST.__dict__, "system_dirs": ()})
    monkeypatch.delenv(spec.env_var, raising=False)
    with pytest.raises(DatasetNotFoundError, match="dataset-fashion-mnist"):
        mnist_mod.locate(spec, "t10k-images-idx3-ubyte", root=tmp_path)


def test_mirror_directory_is_used_and_checksummed(tmp_path, monkeypatch):
    make_fake_split(tmp_path)
    monkeypatch.setenv("PERCEIVER_EDU_MNIST_DIR", str(tmp_path))
    assert mnist_mod.locate(mnist_mod.MNIST, "t10k-images-idx3-ubyte") == tmp_path / "t10k-images-idx3-ubyte.gz"
    with pytest.raises(IDXError, match="sha256"):  # not the official content
        mnist_mod.load_mnist("test")


def test_download_is_atomic_and_verified(tmp_path, monkeypatch):
    from perceiver_edu.data import fetch as dl
    src = tmp_path / "src.gz"
    with gzip.open(src, "wb") as f:
        f.write(b"hello")
    monkeypatch.delenv("PERCEIVER_EDU_OFFLINE", raising=False)
    import hashlib
    good = hashlib.sha256(b"hello").hexdigest()
    dest = tmp_path / "out" / "file.gz"
    with pytest.raises(OSError, match="checksum"):
        dl.download(src.as_uri(), dest, "0" * 64)
    assert not dest.exists() and list((tmp_path / "out").iterdir()) == []  # nothing partial left
    dl.download(src.as_uri(), dest, good)
    assert gzip.open(dest).read() == b"hello"


@pytest.mark.parametrize("loader", [pytest.param(mnist_mod.load_fashion_mnist, marks=pytest.mark.needs_data("fashion-mnist")),
                                    pytest.param(mnist_mod.load_mnist, marks=pytest.mark.needs_data("mnist"))])
def test_real_test_split_loads(loader):
    ds = loader("test")
    assert len(ds) == 10_000 and ds.images.shape == (10_000, 1, 28, 28)
    assert ds.images.dtype == torch.float32 and 0 <= ds.images.min() and ds.images.max() <= 1
    assert torch.bincount(ds.labels).tolist() == [1000] * 10 or ds.name.startswith("MNIST")
