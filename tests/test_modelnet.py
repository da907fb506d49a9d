import os

import numpy as np
import pytest
import torch

from perceiver_edu.data import DatasetNotFoundError
from perceiver_edu.data import modelnet
from perceiver_edu.data.checksum import ChecksumError, sha256_of

G = 8  # tiny grids


def tiny_grids(n, seed, empty=()):
    """n random 0/1 grids (G, G, G) with 1 to ~200 occupied voxels; the ``empty`` ones have none."""
    rng = np.random.default_rng(seed)
    grids = np.zeros((n, G, G, G), dtype=np.int32)
    for i in range(n):
        if i in empty:
            continue
        k = int(rng.integers(1, 200))
        flat = rng.choice(G ** 3, k, replace=False)
        grids[i].reshape(-1)[flat] = 1
    return grids


def write_npz(path, n_train=6, n_test=3, empty=(2,), **overrides):
    arrays = dict(X_train=tiny_grids(n_train, 0, empty), y_train=np.arange(n_train) % 10,
                  X_test=tiny_grids(n_test, 1), y_test=np.arange(n_test) % 10)
    arrays.update(overrides)
    np.savez_compressed(path, **arrays)
    return arrays


def lattice(points):
    """Grid indices of points produced with jitter=0."""
    return np.rint((np.asarray(points) + 1) * (G - 1) / 2).astype(int)


def test_read_occupied_voxels_matches_argwhere_in_chunks(tmp_path):
    arrays = write_npz(tmp_path / "t.npz", n_train=7)
    voxels, counts, labels, g = modelnet.read_occupied_voxels(tmp_path / "t.npz", "train", chunk=2)
    assert g == G and counts.tolist() == [int(x.sum()) for x in arrays["X_train"]]
    np.testing.assert_array_equal(labels, arrays["y_train"])
    expected = np.concatenate([np.argwhere(x) for x in arrays["X_train"]])
    np.testing.assert_array_equal(voxels, expected)


def test_load_points_drop_empty_and_sample(tmp_path):
    arrays = write_npz(tmp_path / "t.npz")
    kept = [i for i in range(6) if i != 2]
    ds = modelnet.load_modelnet10("train", num_points=64, jitter=0, path=tmp_path / "t.npz", sha256=None)
    assert len(ds) == 5 and ds.dropped == (2,) and ds.labels.tolist() == arrays["y_train"][kept].tolist()
    assert ds.points.shape == (5, 64, 3) and ds.points.dtype == torch.float32
    assert ds.classes == modelnet.CLASSES and ds[0][1] == ds.labels[0]
    for row, i in enumerate(kept):
        grid = arrays["X_train"][i]
        idx = lattice(ds.points[row])
        np.testing.assert_allclose(ds.points[row].numpy(), idx * 2 / (G - 1) - 1, atol=1e-6)  # on the lattice
        assert grid[tuple(idx.T)].all()  # every point is an occupied voxel
        distinct = {tuple(v) for v in idx}
        if grid.sum() >= 64:
            assert len(distinct) == 64  # without replacement
        else:
            assert len(distinct) == grid.sum()  # every voxel at least once, the rest repeats


def test_jitter_stays_in_the_voxel_cell_and_seed_fixes_the_draw(tmp_path):
    write_npz(tmp_path / "t.npz")
    load = lambda **kw: modelnet.load_modelnet10("test", path=tmp_path / "t.npz", sha256=None, **kw)
    a, b = load(num_points=32, jitter=1.0, seed=3), load(num_points=32, jitter=1.0, seed=3)
    assert torch.equal(a.points, b.points)
    c = a.resample(4)
    assert not torch.equal(a.points, c.points) and torch.equal(a.labels, c.labels)
    half_cell = 1.0 / (G - 1)
    dist = (a.points - (torch.from_numpy(lattice(a.points)).float() * 2 / (G - 1) - 1)).abs()
    assert dist.max() <= half_cell + 1e-6 and dist.max() > 0.5 * half_cell
    assert a.points.abs().max() <= 1
    half = load(num_points=32, jitter=0.5, seed=3)
    assert (half.points - (torch.from_numpy(lattice(half.points)).float() * 2 / (G - 1) - 1)).abs().max() \
        <= 0.5 * half_cell + 1e-6
    sub = a.subset(2, seed=0)
    assert len(sub) == 2 and sub.voxels.shape[0] == sub.counts.sum()
    assert sub.resample(1).points.shape == (2, 32, 3)


def test_bad_files_raise_clear_errors(tmp_path):
    write_npz(tmp_path / "nokey.npz")
    arrays = dict(np.load(tmp_path / "nokey.npz"))
    del arrays["y_test"]
    np.savez(tmp_path / "nokey.npz", **arrays)
    with pytest.raises(modelnet.ModelNetError, match="no array 'y_test'"):
        modelnet.load_modelnet10("test", path=tmp_path / "nokey.npz", sha256=None)
    write_npz(tmp_path / "twos.npz", X_test=2 * tiny_grids(3, 1))
    with pytest.raises(modelnet.ModelNetError, match="0/1 occupancy"):
        modelnet.load_modelnet10("test", path=tmp_path / "twos.npz", sha256=None)
    write_npz(tmp_path / "flat.npz", X_test=np.zeros((3, 4, 4, 5), np.int32))
    with pytest.raises(modelnet.ModelNetError, match=r"\(N, G, G, G\)"):
        modelnet.load_modelnet10("test", path=tmp_path / "flat.npz", sha256=None)
    write_npz(tmp_path / "labels.npz", y_test=np.array([0, 1, 10]))
    with pytest.raises(modelnet.ModelNetError, match="class indices"):
        modelnet.load_modelnet10("test", path=tmp_path / "labels.npz", sha256=None)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(modelnet.ModelNetError, match="not a readable npz"):
        modelnet.load_modelnet10("test", path=tmp_path / "junk.npz", sha256=None)
    with pytest.raises(ValueError, match="split"):
        modelnet.load_modelnet10("val", path=tmp_path / "junk.npz", sha256=None)
    write_npz(tmp_path / "ok.npz")
    with pytest.raises(ValueError, match="jitter"):
        modelnet.load_modelnet10("test", jitter=2.0, path=tmp_path / "ok.npz", sha256=None)


def test_mirror_dir_is_checksummed(tmp_path, monkeypatch):
    write_npz(tmp_path / modelnet.FILE)
    monkeypatch.setenv(modelnet.ENV_VAR, str(tmp_path))
    assert modelnet.locate_modelnet10(root=tmp_path / "nothing") == tmp_path / modelnet.FILE
    with pytest.raises(ChecksumError, match=f"{modelnet.FILE}: sha256 .* expected {modelnet.SHA256}"):
        modelnet.load_modelnet10("test")
    own = modelnet.load_modelnet10("test", num_points=8, sha256=sha256_of(tmp_path / modelnet.FILE))
    assert own.points.shape == (3, 8, 3)


def test_data_root_is_used(tmp_path, monkeypatch):
    monkeypatch.delenv(modelnet.ENV_VAR, raising=False)
    (tmp_path / "modelnet10").mkdir()
    write_npz(tmp_path / "modelnet10" / modelnet.FILE)
    assert modelnet.locate_modelnet10(root=tmp_path) == tmp_path / "modelnet10" / modelnet.FILE


def test_missing_dataset_error_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv(modelnet.ENV_VAR, raising=False)
    with pytest.raises(DatasetNotFoundError) as info:
        modelnet.load_modelnet10("test", root=tmp_path)
    msg = str(info.value)
    assert "shared" not in msg  # no folder that only the project's CI has
    for part in (modelnet.ENV_VAR, modelnet.FILE, modelnet.SHA256, modelnet.OFFICIAL_URL, "OFF",
                 str(tmp_path / "modelnet10")):
        assert part in msg


def test_real_mirror_test_split():
    if not os.environ.get(modelnet.ENV_VAR):
        pytest.skip(f"{modelnet.ENV_VAR} is not set (CI points it at ../shared/data/modelnet10)")
    ds = modelnet.load_modelnet10("test", num_points=256, seed=0)
    assert len(ds) + len(ds.dropped) == 908 and len(ds.dropped) == 1  # the README: 908 test grids, 1 empty
    assert ds.points.shape == (len(ds), 256, 3) and ds.points.abs().max() <= 1
    assert torch.bincount(ds.labels, minlength=10).min() > 0 and ds.labels.max() == 9
    assert (ds.counts > 0).all()
