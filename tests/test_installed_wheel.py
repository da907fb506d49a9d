"""Installed, not cloned (``pytest -k installed_wheel``): the wheel in a fresh virtual environment runs
two chapters under nbval from a temporary folder, with nothing read from the source tree."""
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from wheel_build import PIP, build_wheel

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ("00_tour", "01_attention")  # the first reads Fashion-MNIST, the second no data


def _site_packages(prefix: Path) -> Path:
    return Path(sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)}))


@pytest.mark.needs_data("fashion-mnist")
def test_installed_wheel_runs_two_chapters_outside_the_source_tree(tmp_path):
    pytest.importorskip("setuptools")
    wheel = build_wheel(tmp_path)

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = _site_packages(env_dir)
    subprocess.run(PIP + ["install", "--no-deps", "--target", str(site), str(wheel)], check=True, capture_output=True)
    # torch, Jupyter and nbval from this environment, after the new one's own site-packages; this
    # environment's editable install of perceiver_edu is a .pth file there, which a path entry does not run
    (site / "zz_dependencies.pth").write_text(str(_site_packages(Path(sys.prefix))) + "\n")

    work = tmp_path / "elsewhere"
    work.mkdir()
    for stem in CHAPTERS:
        shutil.copy(ROOT / "notebooks" / f"{stem}.ipynb", work)
    shutil.copy(ROOT / "notebooks" / "sanitize.cfg", work)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PERCEIVER_EDU_MODE="quick", PERCEIVER_EDU_DEVICE="cpu", TQDM_MININTERVAL="5",
               PERCEIVER_EDU_DATA=str(tmp_path / "cache"))

    where = subprocess.run([str(python), "-c", "import perceiver_edu; print(perceiver_edu.__file__)"], cwd=work,
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(env_dir), f"perceiver_edu imported from {where}, not the new environment"

    run = subprocess.run([str(python), "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=", "-q",
                          "--nbval", "--nbval-current-env", "--nbval-sanitize-with", "sanitize.cfg",
                          *[f"{stem}.ipynb" for stem in CHAPTERS]],
                         cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout
