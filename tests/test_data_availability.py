"""Notebooks and tests whose data cannot be had are skipped with the reason; CI turns that into failures."""
import dataclasses
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from perceiver_edu.data import availability, fetch, fsdd, mnist, modelnet

ROOT = Path(__file__).resolve().parents[1]
DATA_VARS = (mnist.FASHION_MNIST.env_var, mnist.MNIST.env_var, fsdd.ENV_VAR, modelnet.ENV_VAR, modelnet.MESH_ENV_VAR)


@pytest.fixture
def bare_machine(tmp_path, monkeypatch):
    """Offline, no local copy anywhere, an empty cache."""
    for var in DATA_VARS + (availability.REQUIRE_DATA_VAR,):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(fetch.OFFLINE_VAR, "1")
    monkeypatch.setenv(fetch.DATA_VAR, str(tmp_path / "empty-cache"))
    monkeypatch.setattr(mnist, "FASHION_MNIST", dataclasses.replace(mnist.FASHION_MNIST, system_dirs=()))
    return tmp_path


def test_every_notebook_is_in_the_map():
    stems = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert stems == sorted(availability.NOTEBOOK_DATASETS)
    known = set(availability.HOW_TO_GET)
    assert all(set(names) <= known for names in availability.NOTEBOOK_DATASETS.values())


def test_offline_without_copies_every_dataset_is_missing_with_a_reason(bare_machine):
    for name in availability.HOW_TO_GET:
        reason = availability.missing_reason(name)
        assert reason.startswith(f"{name} is not on this machine") and "shared" not in reason
    assert availability.notebook_missing_data("01_attention") == []
    assert len(availability.notebook_missing_data("10_multimodal")) == 2
    with pytest.raises(KeyError, match="NOTEBOOK_DATASETS"):
        availability.notebook_missing_data("99_new")


def test_online_everything_but_the_voxel_grids_can_be_downloaded(bare_machine, monkeypatch):
    monkeypatch.delenv(fetch.OFFLINE_VAR)
    assert [n for n in availability.HOW_TO_GET if availability.missing_reason(n)] == ["modelnet10-voxels"]


def test_a_local_copy_counts_offline(bare_machine, monkeypatch):
    monkeypatch.setenv(modelnet.MESH_ENV_VAR, str(bare_machine))  # a folder said to hold the meshes
    assert availability.missing_reason("modelnet10") is None


def test_data_required_here_is_all_here():
    """Where the switch is set (CI), every dataset of every notebook is on the machine: nothing is skipped."""
    if not availability.require_data():
        pytest.skip(f"{availability.REQUIRE_DATA_VAR} is not set")
    names = {n for names in availability.NOTEBOOK_DATASETS.values() for n in names} | {"modelnet10-voxels"}
    assert {n: availability.missing_reason(n) for n in sorted(names)} == {n: None for n in sorted(names)}


def _run_pytest(folder, env):
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=", "-rsf",
                           "--nbval", "--nbval-current-env", "--rootdir", str(folder), str(folder)],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def test_missing_data_skips_with_the_reason_and_fails_under_the_switch(bare_machine):
    folder = bare_machine / "suite"
    folder.mkdir()
    shutil.copy(ROOT / "conftest.py", folder / "conftest.py")
    (folder / "test_x.py").write_text(textwrap.dedent('''
        import pytest

        @pytest.mark.needs_data("modelnet10")
        def test_needs_meshes():
            raise AssertionError("must not run without its data")

        def test_needs_nothing():
            pass
        '''))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("raise AssertionError('must not run')")])
    nbformat.write(nb, folder / "09_point_clouds.ipynb")
    env = {k: v for k, v in os.environ.items() if k not in DATA_VARS + (availability.REQUIRE_DATA_VAR,)}
    env.update({fetch.OFFLINE_VAR: "1", fetch.DATA_VAR: str(bare_machine / "empty-cache")})
    run = _run_pytest(folder, env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed, 2 skipped" in run.stdout
    assert run.stdout.count("data missing: modelnet10 is not on this machine and PERCEIVER_EDU_OFFLINE forbids") == 2
    run = _run_pytest(folder, {**env, availability.REQUIRE_DATA_VAR: "1"})
    assert run.returncode == 1 and "1 passed, 2 errors" in run.stdout, run.stdout + run.stderr  # fail in setup
    assert "PERCEIVER_EDU_REQUIRE_DATA is set and data is missing: modelnet10" in run.stdout
