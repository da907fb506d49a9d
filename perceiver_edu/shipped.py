"""The models shipped inside the package: ``pretrained("fashion-mnist")`` (chapters 5, 6 and 12).

Each lives in ``perceiver_edu/checkpoints/<directory>/`` as a checkpoint (``model.safetensors`` +
``config.json``) with a README giving the command that trained it and its test accuracy.  They are
read through :mod:`importlib.resources`, so they are found wherever the package is installed
(editable, from a wheel, run from any directory).  Checkpoints of your own:
:func:`~perceiver_edu.training.checkpoint.load_checkpoint`.
"""
from __future__ import annotations

from importlib import resources

import torch

from .inputs.images import ImagePerceiver
from .training.checkpoint import CONFIG, WEIGHTS, model_from_files

# name -> directory under perceiver_edu/checkpoints/
PRETRAINED = {"fashion-mnist": "fashion_mnist"}


def pretrained_files(name: str):
    """The directory of shipped model ``name`` as an :mod:`importlib.resources` Traversable
    (holding ``model.safetensors``, ``config.json`` and ``README.md``)."""
    if name not in PRETRAINED:
        raise ValueError(f"no shipped model named {name!r}; the shipped models are {sorted(PRETRAINED)}")
    return resources.files(__package__).joinpath("checkpoints", PRETRAINED[name])


def pretrained(name: str = "fashion-mnist", device: str | torch.device = "cpu") -> ImagePerceiver:
    """The shipped model ``name``, ready and in eval mode: images ``(B, C, H, W)`` in [0, 1] -> logits.

    ``model.metadata`` holds what its ``config.json`` records (test accuracy, the training command).
    """
    files = pretrained_files(name)
    if not all(files.joinpath(f).is_file() for f in (WEIGHTS, CONFIG)):
        raise FileNotFoundError(f"the shipped model {name!r} is missing from this installation of perceiver_edu "
                                f"({files}); reinstall the package")
    return model_from_files(files.joinpath(CONFIG).read_text(), files.joinpath(WEIGHTS).read_bytes(),
                            str(files), device)


__all__ = ["PRETRAINED", "pretrained", "pretrained_files"]
