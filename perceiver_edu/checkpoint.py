"""Checkpoints: weights as safetensors plus a JSON config; never pickle (chapter 5).

A checkpoint is a directory holding

* ``model.safetensors``: the weights (safetensors cannot run code when loaded, unlike pickle);
* ``config.json``: the :class:`PerceiverConfig`, the image preprocessing and free-form metadata.

Every file is written to a temporary name and renamed into place, so a crash never leaves a
half-written checkpoint.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .adapters import ImagePerceiver, ImagePreprocess
from .perceiver import PerceiverConfig

FORMAT = "perceiver-edu/1"
WEIGHTS, CONFIG = "model.safetensors", "config.json"


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename the temporary file to ``path`` (atomic on POSIX)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def atomic_write_json(path: Path, obj) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=2) + "\n"))


def save_checkpoint(model: ImagePerceiver, directory: str | Path, metadata: dict | None = None) -> Path:
    """Write ``model`` (weights + config + ``metadata``) into ``directory``; return the directory."""
    directory = Path(directory)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_write(directory / WEIGHTS, lambda tmp: save_file(state, tmp, metadata={"format": FORMAT}))
    atomic_write_json(directory / CONFIG, {
        "format": FORMAT,
        "kind": "image-classifier",
        "model": model.config.to_dict(),
        "preprocess": model.preprocess.to_dict(),
        "metadata": metadata or {},
    })
    return directory


def _checkpoint_dir(path: str | Path) -> Path:
    path = Path(path)
    directory = path.parent if path.is_file() else path
    for name in (WEIGHTS, CONFIG):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory} is not a perceiver-edu checkpoint: {name} is missing "
                                    f"(expected {WEIGHTS} and {CONFIG} side by side)")
    return directory


def read_checkpoint_config(path: str | Path) -> dict:
    """The parsed ``config.json`` of a checkpoint directory (or of one of its files)."""
    config_path = _checkpoint_dir(path) / CONFIG
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{config_path}: not valid JSON ({err})") from err
    if config.get("format") != FORMAT:
        raise ValueError(f"{config_path}: format {config.get('format')!r} is not {FORMAT!r}")
    return config


def load_weights(model: ImagePerceiver, path: str | Path) -> ImagePerceiver:
    """Load a checkpoint's weights into an existing model whose config must be the same."""
    directory = _checkpoint_dir(path)
    saved = read_checkpoint_config(directory)
    ours = {"model": model.config.to_dict(), "preprocess": model.preprocess.to_dict()}
    diffs = [f"{part}.{key}: checkpoint has {saved[part].get(key)!r}, model has {value!r}"
             for part in ("model", "preprocess") for key, value in ours[part].items()
             if saved[part].get(key) != value]
    if diffs:
        raise ValueError(f"checkpoint {directory} does not fit this model's config: " + "; ".join(diffs))
    model.load_state_dict(load_file(directory / WEIGHTS, device="cpu"))
    return model


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> ImagePerceiver:
    """A ready model in eval mode: float images ``(B, C, H, W)`` in [0, 1] -> logits.

    ``path`` is a checkpoint directory or one of its two files.
    """
    config = read_checkpoint_config(path)
    model = ImagePerceiver(PerceiverConfig(**config["model"]), ImagePreprocess(**config["preprocess"]))
    load_weights(model, path)
    model.metadata = config.get("metadata", {})
    return model.to(device).eval()
