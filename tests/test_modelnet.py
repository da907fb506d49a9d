import os
import zipfile

import numpy as np
import pytest
import torch

from perceiver_edu.data import DatasetNotFoundError
from perceiver_edu.data import modelnet
from perceiver_edu.data.checksum import ChecksumError, sha256_of

G = 8  # tiny grids


@pytest.fixture(autouse=True)
def no_user_cache(tmp_path, monkeypatch):
    """Every test reads only what it writes: an empty data cache, no mesh copy given."""
    monkeypatch.setenv("PERCEIVER_EDU_DATA", str(tmp_path / "user-cache"))
    monkeypatch.delenv(modelnet.MESH_ENV_VAR, raising=False)


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
    monkeypatch.setenv("PERCEIVER_EDU_OFFLINE", "1")
    with pytest.raises(DatasetNotFoundError) as info:
        modelnet.load_modelnet10("test", root=tmp_path)
    msg = str(info.value)
    assert "shared" not in msg  # no folder that only the project's CI has
    for part in (modelnet.ENV_VAR, modelnet.FILE, modelnet.SHA256, modelnet.OFFICIAL_URL, modelnet.MESH_URL,
                 modelnet.MESH_SIZE, modelnet.MESH_ENV_VAR, "downloads are disabled", str(tmp_path / "modelnet10")):
        assert part in msg


@pytest.mark.needs_data("modelnet10-voxels")
def test_real_mirror_test_split():
    ds = modelnet.load_modelnet10("test", num_points=256, seed=0, data="voxels")
    assert len(ds) + len(ds.dropped) == 908 and len(ds.dropped) == 1  # the README: 908 test grids, 1 empty
    assert ds.points.shape == (len(ds), 256, 3) and ds.points.abs().max() <= 1
    assert torch.bincount(ds.labels, minlength=10).min() > 0 and ds.labels.max() == 9
    assert (ds.counts > 0).all()


# ---- the official meshes: a tiny synthetic ModelNet10.zip exercises the whole pipeline offline ----

def tetrahedron_off(scale):
    """A tetrahedron (4 triangles) scaled by ``scale``, written as OFF text with one face as a quad split."""
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float) * scale
    return "OFF\n4 4 0\n" + "".join(f"{x:g} {y:g} {z:g}\n" for x, y, z in v) + \
        "3 0 1 2\n3 0 1 3\n3 0 2 3\n3 1 2 3\n"


def write_mesh_zip(path, classes=modelnet.CLASSES, per_class=(2, 1), scale=1.0, stored=False, replace=None):
    """A ModelNet10-shaped zip: ModelNet10/<class>/{train,test}/<class>_NNNN.off, plus macOS debris;
    ``replace`` maps member names to other content."""
    replace = replace or {}
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w", method) as zf:
        zf.writestr("ModelNet10/README.txt", "tiny test copy")
        zf.writestr("__MACOSX/ModelNet10/bathtub/train/._bathtub_0000.off", "junk")
        zf.writestr("ModelNet10/bathtub/train/._bathtub_0000.off", "junk")
        for c, name in enumerate(classes):
            for split, n in zip(("train", "test"), per_class):
                for i in range(n):
                    member = f"ModelNet10/{name}/{split}/{name}_{i:04d}.off"
                    zf.writestr(member, replace.get(member, tetrahedron_off(scale * (c + 1 + i))))
    return path


@pytest.fixture
def tiny_counts(monkeypatch):
    monkeypatch.setattr(modelnet, "EXPECTED_COUNTS", {"train": 20, "test": 10})
    monkeypatch.setenv("PERCEIVER_EDU_OFFLINE", "1")  # file:// and local paths still work


def test_mesh_zip_download_check_sample_and_cache(tmp_path, tiny_counts):
    src = write_mesh_zip(tmp_path / "ModelNet10.zip")
    root = tmp_path / "data"
    dest = modelnet.download_modelnet10_meshes(src.as_uri(), root / "modelnet10" / modelnet.MESH_ZIP)
    assert dest.read_bytes() == src.read_bytes()
    assert (root / "modelnet10" / "ModelNet10.zip.sha256").read_text().split()[0] == sha256_of(src)
    assert sorted(os.listdir(root / "modelnet10")) == ["ModelNet10.zip", "ModelNet10.zip.sha256"]  # no partial file
    assert modelnet.find_local_copy(root) == ("meshes", dest)
    train = modelnet.load_modelnet10("train", num_points=64, seed=0, root=root)
    assert isinstance(train, modelnet.SurfacePointDataset) and "official ModelNet10 meshes" in train.source
    assert train.points.shape == (20, 64, 3) and train.surface.shape == (20, modelnet.SURFACE_POINTS, 3)
    assert train.labels.tolist() == [c for c in range(10) for _ in range(2)]
    radius = train.surface.norm(dim=2)
    torch.testing.assert_close(radius.max(dim=1).values, torch.ones(20))  # each object fills the unit sphere
    assert train.points.abs().max() <= 1
    test = modelnet.load_modelnet10("test", num_points=2048, root=root)
    assert len(test) == 10 and test.points.shape == (10, 2048, 3)
    assert modelnet.find_local_copy(root) == ("surface cache", root / "modelnet10" / modelnet.SURFACE_CACHE)


def test_mesh_cache_is_reused_without_parsing(tmp_path, tiny_counts, monkeypatch):
    root = tmp_path / "data"
    (root / "modelnet10").mkdir(parents=True)
    write_mesh_zip(root / "modelnet10" / "ModelNet10.zip")  # a copy in the cache folder, never recorded
    first = modelnet.load_modelnet10("train", num_points=32, seed=5, root=root)
    cache = root / "modelnet10" / modelnet.SURFACE_CACHE
    stamp = cache.stat().st_mtime_ns

    def no_parsing(*args, **kwargs):
        raise AssertionError("the meshes were parsed again")

    monkeypatch.setattr(modelnet, "parse_off", no_parsing)
    again = modelnet.load_modelnet10("train", num_points=32, seed=5, root=root)
    assert torch.equal(first.points, again.points) and cache.stat().st_mtime_ns == stamp
    other = again.resample(6)
    assert not torch.equal(other.points, again.points) and torch.equal(other.labels, again.labels)
    assert len(again.subset(4, seed=1)) == 4


def test_mesh_folder_given_by_the_variable(tmp_path, tiny_counts, monkeypatch):
    with zipfile.ZipFile(write_mesh_zip(tmp_path / "m.zip")) as zf:
        zf.extractall(tmp_path / "extracted")
    monkeypatch.setenv(modelnet.MESH_ENV_VAR, str(tmp_path / "extracted"))
    root = tmp_path / "data"
    assert modelnet.find_local_copy(root) == ("meshes", tmp_path / "extracted")
    ds = modelnet.load_modelnet10("test", num_points=16, root=root)
    assert len(ds) == 10 and "official ModelNet10 meshes" in ds.source


def test_mesh_download_from_a_local_path_and_wrong_layouts(tmp_path, tiny_counts):
    dest = tmp_path / "out" / "ModelNet10.zip"
    modelnet.download_modelnet10_meshes(write_mesh_zip(tmp_path / "ok.zip"), dest)  # a plain path
    assert dest.is_file()
    nine = write_mesh_zip(tmp_path / "nine.zip", classes=modelnet.CLASSES[:9])
    with pytest.raises(modelnet.ModelNetError, match=r"expected the 10 class folders .* found 9"):
        modelnet.download_modelnet10_meshes(nine, tmp_path / "out2" / "ModelNet10.zip")
    assert not (tmp_path / "out2" / "ModelNet10.zip").exists() and os.listdir(tmp_path / "out2") == []
    few = write_mesh_zip(tmp_path / "few.zip", per_class=(1, 1))
    with pytest.raises(modelnet.ModelNetError, match="expected 20 train and 10 test .off files, found 10 and 10"):
        modelnet.download_modelnet10_meshes(few, tmp_path / "out3" / "ModelNet10.zip")


def test_mesh_zip_crc_failure_is_detected(tmp_path, tiny_counts):
    src = write_mesh_zip(tmp_path / "ModelNet10.zip", stored=True)
    data = bytearray(src.read_bytes())
    at = data.index(b"3 0 1 2")  # inside the first mesh's stored bytes
    data[at] = ord("4")
    src.write_bytes(bytes(data))
    dest = tmp_path / "out" / "ModelNet10.zip"
    with pytest.raises(modelnet.ModelNetError, match="CRC check failed for ModelNet10/bathtub/"):
        modelnet.download_modelnet10_meshes(src, dest)
    assert os.listdir(tmp_path / "out") == []  # nothing partial left


def test_mesh_zip_changed_after_download_is_detected(tmp_path, tiny_counts):
    root = tmp_path / "data"
    dest = modelnet.download_modelnet10_meshes(write_mesh_zip(tmp_path / "a.zip"), root / "modelnet10" / "ModelNet10.zip")
    write_mesh_zip(dest, scale=2.0)  # still a valid zip, but not the bytes that were downloaded
    with pytest.raises(ChecksumError, match=r"ModelNet10\.zip \(sha256 recorded in ModelNet10\.zip\.sha256\)"):
        modelnet.load_modelnet10("train", root=root)


def test_mesh_bad_off_inside_the_zip_names_the_member(tmp_path, tiny_counts):
    src = write_mesh_zip(tmp_path / "ModelNet10.zip",
                         replace={"ModelNet10/chair/train/chair_0000.off": "OFF\n4 4 0\n0 0 0\n"})  # truncated
    with pytest.raises(modelnet.ModelNetError, match="chair_0000.off: .*truncated"):
        modelnet.build_surface_cache(src, tmp_path / "cache.npz")


def test_voxel_alternative_says_so(tmp_path, monkeypatch):
    write_npz(tmp_path / modelnet.FILE)
    monkeypatch.setenv(modelnet.ENV_VAR, str(tmp_path))
    monkeypatch.setenv("PERCEIVER_EDU_OFFLINE", "1")
    ds = modelnet.load_modelnet10("test", num_points=8, path=tmp_path / modelnet.FILE, sha256=None)
    assert ds.source.startswith("voxel-grid alternative (offline)") and ds.resample(1).source == ds.source
    assert modelnet.find_local_copy() == ("voxels", tmp_path / modelnet.FILE)
    with pytest.raises(ValueError, match="data must be 'auto', 'meshes' or 'voxels'"):
        modelnet.load_modelnet10("test", data="grids")


# ---- what chapter 9 calls: load_modelnet10(split, num_points=..., seed=..., data="auto") ----

def chapter_call(split, **kw):
    """The call chapter 9 makes (its quick-mode ``num_points``)."""
    return modelnet.load_modelnet10(split, num_points=256, seed=0 if split == "train" else 1, data="auto", **kw)


def test_modelnet_chapter_call_reads_surface_samples_when_meshes_are_given(tmp_path, tiny_counts, monkeypatch):
    with zipfile.ZipFile(write_mesh_zip(tmp_path / "m.zip")) as zf:
        zf.extractall(tmp_path / "extracted")
    write_npz(tmp_path / modelnet.FILE)  # the voxel alternative is there too: the meshes win
    monkeypatch.setenv(modelnet.ENV_VAR, str(tmp_path))
    monkeypatch.setenv(modelnet.MESH_ENV_VAR, str(tmp_path / "extracted"))
    assert modelnet.auto_source() == "meshes"
    train, test = chapter_call("train"), chapter_call("test")
    assert train.kind == test.kind == "meshes" and "official ModelNet10 meshes" in train.source
    assert train.points.shape == (20, 256, 3) and test.points.shape == (10, 256, 3)
    assert train.points.dtype == torch.float32 and train.labels.tolist() == [c for c in range(10) for _ in range(2)]
    for ds in (train, test):
        radius = ds.surface.norm(dim=2)  # (N, S)
        torch.testing.assert_close(radius.max(dim=1).values, torch.ones(len(ds)))  # farthest sample on the sphere
        assert ds.surface.mean(dim=1).abs().max() < 1e-3  # centred (up to the cache's float16)
        assert ds.points.norm(dim=2).max() <= 1 + 1e-6
        member = (ds.points[:, :, None, :] == ds.surface[:, None, :, :]).all(-1).any(-1)  # (N, P)
        assert member.all()  # every point is one of the object's cached surface samples
        assert all(len(torch.unique(p, dim=0)) == 256 for p in ds.points)  # drawn without repeats


def test_modelnet_chapter_call_offline_reads_the_voxels_and_never_downloads(tmp_path, monkeypatch):
    write_npz(tmp_path / modelnet.FILE)
    monkeypatch.setenv(modelnet.ENV_VAR, str(tmp_path))
    monkeypatch.setenv("PERCEIVER_EDU_OFFLINE", "1")

    def no_network(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(modelnet, "download", no_network)
    monkeypatch.setattr(modelnet, "download_modelnet10_meshes", no_network)
    assert modelnet.auto_source() == "voxels"
    ds = chapter_call("test", sha256=sha256_of(tmp_path / modelnet.FILE))
    assert ds.kind == "voxels" and ds.source.startswith("voxel-grid alternative (offline)")
    assert ds.points.shape == (3, 256, 3) and ds.points.abs().max() <= 1
    monkeypatch.delenv(modelnet.ENV_VAR)  # nothing local at all: a clear error, still no download
    with pytest.raises(DatasetNotFoundError, match="downloads are disabled"):
        chapter_call("test")


def test_modelnet_interior_share_matches_a_naive_count(tmp_path):
    grids = tiny_grids(5, 2)
    grids[1, 1:6, 1:6, 1:6] = 1  # a solid block: its inner 3x3x3 voxels are interior
    grids[3] = 0
    grids[3, 0:4, 0:4, 0:4] = 1  # touching the grid's border: border voxels have no neighbour outside
    write_npz(tmp_path / "t.npz", X_train=grids, y_train=np.arange(5), empty=())
    ds = modelnet.load_modelnet10("train", num_points=8, path=tmp_path / "t.npz", sha256=None)
    interior = total = 0
    for grid in grids:
        for i, j, k in np.argwhere(grid):
            total += 1
            neighbours = [(i + d * (a == 0), j + d * (a == 1), k + d * (a == 2)) for a in range(3) for d in (-1, 1)]
            interior += all(0 <= x < G and 0 <= y < G and 0 <= z < G and grid[x, y, z] for x, y, z in neighbours)
    assert ds.interior_share() == pytest.approx(interior / total) and interior >= 27
