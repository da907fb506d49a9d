"""Build the package's wheel from a copy of the source (so the build leaves nothing in the checkout)."""
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]


def build_wheel(tmp_path: Path) -> Path:
    """The wheel of ``perceiver_edu`` built in ``tmp_path`` (no dependencies, no build isolation)."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "perceiver_edu", src / "perceiver_edu", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run(PIP + ["wheel", str(src), "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "whl")],
                   check=True, capture_output=True)
    (wheel,) = (tmp_path / "whl").glob("perceiver_edu-*.whl")
    return wheel
