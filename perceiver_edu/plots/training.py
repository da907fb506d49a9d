"""Reading a training run: loss/accuracy curves, the confusion matrix, misclassified examples (chapter 5).

The trainer (:mod:`perceiver_edu.training.trainer`) writes one JSON object per line to ``metrics.jsonl``::

    {"split": "train", "step": 25, "epoch": 0.05, "loss": 1.93, "acc": 0.31, "lr": 0.00025, "grad_norm": 1.2}
    {"split": "test",  "step": 468, "epoch": 1.0, "loss": 0.45, "acc": 0.84}

Every function here takes those records (a list, or the path of a run / of its log).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import torch

from .images import image_grid


def _records(history) -> list[dict]:
    if isinstance(history, (str, Path)):
        from ..training.metrics_log import read_metrics
        return read_metrics(history)
    return list(history)


def plot_curves(history, title: str = "Training curves", hardware: str = ""):
    """Loss (left) and accuracy (right) against the optimizer step, train and test.

    Train points average the steps since the previous record; test points are whole-test-set
    evaluations.  Returns the figure.
    """
    records = _records(history)
    if not records:
        raise ValueError("no metrics records to plot (is the metrics log empty?)")
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    for split, style in (("train", dict(lw=1.2, alpha=0.8)), ("test", dict(marker="o", lw=2))):
        rows = [r for r in records if r["split"] == split]
        if not rows:
            continue
        steps = [r["step"] for r in rows]
        ax_loss.plot(steps, [r["loss"] for r in rows], label=split, **style)
        ax_acc.plot(steps, [100 * r["acc"] for r in rows], label=split, **style)
    ax_loss.set(title="cross-entropy loss", xlabel="optimizer step", ylabel="loss (nats)")
    ax_acc.set(title="accuracy", xlabel="optimizer step", ylabel="accuracy (%)")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title + (f" ({hardware})" if hardware else ""))
    fig.tight_layout()
    return fig


def plot_lr(history, title: str = "Learning rate: linear warm-up, then cosine decay"):
    """The learning rate the trainer used at each logged step.  Returns the figure."""
    rows = [r for r in _records(history) if r["split"] == "train"]
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot([r["step"] for r in rows], [r["lr"] for r in rows])
    ax.set(title=title, xlabel="optimizer step", ylabel="learning rate")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def confusion_matrix(labels: torch.Tensor, predictions: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts ``(num_classes, num_classes)``: row = true class, column = predicted class."""
    labels, predictions = torch.as_tensor(labels).long().cpu(), torch.as_tensor(predictions).long().cpu()
    if labels.shape != predictions.shape or labels.dim() != 1:
        raise ValueError(f"labels and predictions must be 1-d of the same length, got {tuple(labels.shape)} "
                         f"and {tuple(predictions.shape)}")
    flat = labels * num_classes + predictions
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def plot_confusion(matrix: torch.Tensor, classes, title: str = "Confusion matrix (test set)"):
    """The confusion matrix as row-normalised percentages, counts written in each cell."""
    matrix = torch.as_tensor(matrix)
    percent = 100 * matrix / matrix.sum(dim=1, keepdim=True).clamp(min=1)
    k = len(classes)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    im = ax.imshow(percent, cmap="Blues", vmin=0, vmax=100)
    for i in range(k):
        for j in range(k):
            if matrix[i, j]:
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if percent[i, j] > 60 else "black")
    ax.set_xticks(range(k), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.set(title=title, xlabel="predicted class", ylabel="true class")
    fig.colorbar(im, ax=ax, label="colour: % of the true class (numbers: counts)")
    fig.tight_layout()
    return fig


def misclassified(labels: torch.Tensor, predictions: torch.Tensor, n: int = 16) -> torch.Tensor:
    """Indices of the first ``n`` examples whose prediction is wrong."""
    return torch.nonzero(torch.as_tensor(predictions) != torch.as_tensor(labels)).flatten()[:n]


def plot_misclassified(images: torch.Tensor, labels: torch.Tensor, predictions: torch.Tensor, classes,
                       n: int = 16, title: str = "Misclassified test images (true → predicted)"):
    """A grid of the first ``n`` misclassified images, each titled true → predicted."""
    idx = misclassified(labels, predictions, n)
    return image_grid(images[idx], labels[idx], classes, ncols=8, title=title, predictions=predictions[idx])
