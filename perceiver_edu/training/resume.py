"""Saving a run so that it resumes exactly where it stopped (chapter 5).

A training checkpoint is a model checkpoint (weights + config, :mod:`.checkpoint`) plus the
training state next to it: the optimizer's moments, the random-number-generator states, the step,
the :class:`TrainConfig` and the metrics-log window.  With the batch order and augmentation a
function of the seed and the step (:mod:`.schedule`), that is all a resumed run needs to take the
same steps as an uninterrupted one.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .checkpoint import (has_training_state, load_training_state, load_weights, save_checkpoint, save_training_state,
                         unflatten_optimizer_state)
from .config import TrainConfig

# TrainConfig fields that a resumed run may change: where and how it runs, not what it computes.
MAY_CHANGE_ON_RESUME = ("device", "num_threads", "log_every", "compile")


def rng_tensors() -> dict:
    """The global random-number-generator states (CPU and every GPU), as named tensors."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    return tensors


def restore_rng(tensors: dict) -> None:
    """Set the generators saved by :func:`rng_tensors` (the GPUs' only on as many GPUs)."""
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def save_run(directory: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, config: TrainConfig, *,
             step: int, log_window: list[float], metadata: dict) -> None:
    """Write the model checkpoint (with ``metadata``) and the training state at ``step`` into ``directory``."""
    save_checkpoint(model, directory, metadata=metadata)
    state = {"step": step, "train_config": config.to_dict(), "log_window": log_window,
             "train_seconds": metadata.get("train_seconds", 0.0)}
    save_training_state(directory, optimizer, state, rng_tensors())


def load_run(directory: Path | None, config: TrainConfig, model: torch.nn.Module,
             optimizer: torch.optim.Optimizer) -> tuple[int, list[float], float]:
    """Load the run saved in ``directory`` into ``model``, ``optimizer`` and the global generators;
    return its ``(step, log window, seconds of training so far)``.  ``config`` must be the saved one, up to
    :data:`MAY_CHANGE_ON_RESUME`."""
    if directory is None or not has_training_state(directory):
        raise FileNotFoundError(f"--resume: no training checkpoint in {directory} (expected model.safetensors, "
                                f"config.json and training_state.* written by an earlier run)")
    state, tensors = load_training_state(directory)
    saved = TrainConfig.from_dict(state["train_config"])
    diffs = [f"{k}: saved {v!r}, now {getattr(config, k)!r}" for k, v in saved.to_dict().items()
             if getattr(config, k) != v and k not in MAY_CHANGE_ON_RESUME]
    if diffs:
        raise ValueError(f"cannot resume {directory} with a different config: " + "; ".join(diffs))
    load_weights(model, directory)
    optimizer.load_state_dict(unflatten_optimizer_state(tensors, state["optimizer"]))
    restore_rng(tensors)
    return int(state["step"]), state.get("log_window", [0.0, 0.0, 0.0]), float(state.get("train_seconds", 0.0))


__all__ = ["MAY_CHANGE_ON_RESUME", "load_run", "restore_rng", "rng_tensors", "save_run"]
