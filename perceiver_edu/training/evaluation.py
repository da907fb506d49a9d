"""Scoring a classifier: batched logits, accuracy and test loss (chapter 5; chapters 7-10 through ``fit``).

One inference loop, :func:`predict_logits`, serves the image trainer, its evaluation split over the
processes of a data-parallel job and :mod:`perceiver_edu.training.fit`: batch by batch, without
gradients, in eval mode (the caller's mode restored afterwards), on the model's device, optionally
under bf16 autocast on CUDA, logits returned as float32 on the CPU.
"""
from __future__ import annotations

import contextlib
from typing import Callable

import torch
import torch.nn.functional as F

from . import distributed
from ..data import ImageDataset


def autocast(device: torch.device, *, enabled: bool):
    """bf16 autocast on CUDA when ``enabled``; a context that changes nothing otherwise."""
    if not (enabled and device.type == "cuda"):
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows of ``logits (B, classes)`` whose arg-max is the label ``(B,)``."""
    return (logits.argmax(dim=-1) == labels).float().mean().item()


@torch.no_grad()
def predict_logits(model: torch.nn.Module, inputs: torch.Tensor, batch_size: int = 256, *,
                   transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                   amp: bool = False) -> torch.Tensor:
    """Logits ``(N, classes)`` (float32, on the CPU) of ``model`` for ``inputs (N, ...)``, batch by batch.

    ``transform`` is applied to each batch on the model's device before the model (as in
    :func:`~perceiver_edu.training.fit.fit`); ``amp``: bf16 autocast on CUDA.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(inputs), batch_size):
        x = inputs[start:start + batch_size].to(device, non_blocking=True)
        if transform is not None:
            x = transform(x)
        with autocast(device, enabled=amp):
            out.append(model(x).float().cpu())  # (B, classes)
    model.train(was_training)
    return torch.cat(out)


def evaluate(model: torch.nn.Module, dataset: ImageDataset, batch_size: int = 500, *, amp: bool = True) -> dict:
    """Test loss, accuracy and predictions ``(N,)`` of ``model`` on ``dataset``."""
    logits = predict_logits(model, dataset.images, batch_size, amp=amp)
    return {"loss": F.cross_entropy(logits, dataset.labels).item(),
            "acc": accuracy(logits, dataset.labels),
            "predictions": logits.argmax(dim=-1)}


def evaluate_sharded(model: torch.nn.Module, dataset: ImageDataset, info: distributed.DistInfo,
                     device: torch.device, batch_size: int = 500, *, amp: bool = True) -> dict:
    """Test loss and accuracy of :func:`evaluate`, split over the processes of a job: each scores
    every ``world_size``-th example and the sums are added up (one process scores all)."""
    mine = distributed.shard_range(len(dataset), info)
    logits = predict_logits(model, dataset.images[mine], batch_size, amp=amp)
    labels = dataset.labels[mine]
    loss_sum, correct, count = distributed.all_reduce_sum(
        [F.cross_entropy(logits, labels, reduction="sum").item(), (logits.argmax(dim=-1) == labels).sum().item(),
         len(labels)], info, device)
    return {"loss": loss_sum / count, "acc": correct / count}


__all__ = ["accuracy", "autocast", "evaluate", "evaluate_sharded", "predict_logits"]
