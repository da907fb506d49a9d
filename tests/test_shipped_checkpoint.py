"""The shipped Fashion-MNIST model: inside the package, found from anywhere, scores what its README claims."""
import json
import os
import re
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

import pytest
import torch

import perceiver_edu as pe
from perceiver_edu.data import load_fashion_mnist
from perceiver_edu.shipped import PRETRAINED, pretrained_files
from wheel_build import PIP, build_wheel

SHIPPED = Path(str(pretrained_files("fashion-mnist")))
ROOT = Path(__file__).resolve().parents[1]


def recorded_accuracy() -> str:
    """``metadata.test_accuracy`` as config.json records it, printed the way Python prints it."""
    return str(json.loads((SHIPPED / "config.json").read_text())["metadata"]["test_accuracy"])


def readme_accuracy() -> float:
    """The accuracy (%) claimed in the README's line 'Test accuracy: **NN.NN %**'."""
    text = (SHIPPED / "README.md").read_text()
    match = re.search(r"Test accuracy:\s*\*\*([0-9.]+)\s*%\*\*", text)
    assert match, "the README must state 'Test accuracy: **NN.NN %**'"
    return float(match.group(1))


def test_shipped_checkpoint_is_small_and_pickle_free():
    files = sorted(p.name for p in SHIPPED.iterdir())
    assert files == ["README.md", "config.json", "model.safetensors"]
    assert (SHIPPED / "model.safetensors").stat().st_size < 5_000_000
    meta = json.loads((SHIPPED / "config.json").read_text())["metadata"]
    assert meta["dataset"] == "fashion-mnist" and meta["test_examples"] == 10_000
    assert meta["command"].startswith("python -m perceiver_edu train")
    assert meta["command"] in (SHIPPED / "README.md").read_text()  # README gives the exact command
    assert abs(100 * meta["test_accuracy"] - readme_accuracy()) < 0.01  # README and config agree


def test_shipped_files_resolve_through_importlib_resources():
    files = resources.files("perceiver_edu") / "checkpoints" / "fashion_mnist"
    for name in ("model.safetensors", "config.json", "README.md"):
        assert files.joinpath(name).is_file(), name
    assert SHIPPED == Path(pe.__file__).resolve().parent / "checkpoints" / "fashion_mnist"
    assert set(PRETRAINED) == {"fashion-mnist"}


def test_pretrained_works_from_another_directory(tmp_path):
    code = ("import perceiver_edu as pe, torch; m = pe.pretrained('fashion-mnist'); "
            "print(m.training, tuple(m(torch.rand(2, 1, 28, 28)).shape), m.metadata['test_accuracy'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "(2,", "10)", recorded_accuracy()]


def test_pretrained_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"no shipped model named 'mnist'.*\['fashion-mnist'\]"):
        pe.pretrained("mnist")


def test_a_wheel_installed_elsewhere_carries_and_loads_the_model(tmp_path):
    """Build a wheel of the package, install it into a folder outside the repository, and load the
    shipped model from there, run from yet another folder."""
    pytest.importorskip("setuptools")
    wheel = build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("model.safetensors", "config.json", "README.md"):
        assert f"perceiver_edu/checkpoints/fashion_mnist/{name}" in names
    subprocess.run(PIP + ["install", "--no-deps", "--target", str(tmp_path / "site"), str(wheel)],
                   check=True, capture_output=True)
    code = ("import perceiver_edu as pe; m = pe.pretrained('fashion-mnist'); "
            "print(pe.__file__); print(m.metadata['test_accuracy'])")
    (tmp_path / "elsewhere").mkdir()
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path / "elsewhere", capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(tmp_path / "site")})
    where, accuracy = out.stdout.split()
    assert Path(where).is_relative_to(tmp_path / "site") and accuracy == recorded_accuracy()


@pytest.mark.needs_data("fashion-mnist")
def test_shipped_checkpoint_scores_its_claimed_accuracy():
    model = pe.pretrained("fashion-mnist")
    assert not model.training
    test = load_fashion_mnist("test")
    with torch.no_grad():
        logits = torch.cat([model(test.images[i:i + 1000]) for i in range(0, len(test), 1000)])
    assert logits.shape == (10_000, 10)
    accuracy = 100 * (logits.argmax(-1) == test.labels).float().mean().item()
    assert accuracy == pytest.approx(readme_accuracy(), abs=0.2)


def test_shipped_checkpoint_meets_its_target():
    """At least 88 % on the test set (re-measured above) with at least 4 cross-attends whose weights
    are shared after the first, as in the paper's Fig. 3 model."""
    model = pe.pretrained("fashion-mnist")
    assert readme_accuracy() >= 88.0
    assert model.config.num_cross_attends >= 4 and model.config.share_weights
    assert len(model.perceiver.cross_attends) == 2  # the first, and one shared by all the others
