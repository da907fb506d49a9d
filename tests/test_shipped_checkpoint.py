"""The shipped Fashion-MNIST checkpoint loads and scores what its README claims (within 0.2 points)."""
import json
import re
from pathlib import Path

import pytest
import torch

import perceiver_edu as pe
from perceiver_edu.data import load_fashion_mnist

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "checkpoints" / "fashion-mnist"


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


def test_shipped_checkpoint_scores_its_claimed_accuracy():
    model = pe.load_checkpoint(SHIPPED)
    assert not model.training
    test = load_fashion_mnist("test")
    with torch.no_grad():
        logits = torch.cat([model(test.images[i:i + 1000]) for i in range(0, len(test), 1000)])
    assert logits.shape == (10_000, 10)
    accuracy = 100 * (logits.argmax(-1) == test.labels).float().mean().item()
    assert accuracy == pytest.approx(readme_accuracy(), abs=0.2)
