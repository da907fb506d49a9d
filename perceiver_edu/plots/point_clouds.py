"""Figures and checks for point clouds (chapter 9): 3-D scatters, attention over points, order invariance.

Every figure function returns its matplotlib figure, titled and with labelled axes (coordinates
are the dimensionless [-1, 1] positions the byte array uses).
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .images import label_title


def _scatter3d(ax, points: np.ndarray, colors=None, cmap: str = "viridis", size: float = 4.0, vmin=None, vmax=None):
    # ModelNet grids have "up" along their first index; draw it as the vertical z axis of the figure
    sc = ax.scatter(points[:, 1], points[:, 2], points[:, 0], c=colors if colors is not None else points[:, 0],
                    cmap=cmap, s=size, depthshade=False, vmin=vmin, vmax=vmax, linewidths=0)
    ax.set_xlim(-1, 1)
    ax.set_ylim(-1, 1)
    ax.set_zlim(-1, 1)
    ax.set_box_aspect((1, 1, 1))
    ax.view_init(elev=20, azim=-60)
    ax.tick_params(labelsize=5, pad=0)
    return sc


def plot_point_clouds(points: torch.Tensor, labels=None, classes=None, predictions=None, ncols: int = 5,
                      title: str = "", size: float = 3.0):
    """3-D scatters of point sets ``(B, P, 3)`` in [-1, 1]^3, one panel each, coloured by height;
    titled with the class (and ``label → prediction``, red when wrong)."""
    points = torch.as_tensor(points).detach().cpu()
    if points.dim() != 3 or points.shape[-1] != 3:
        raise ValueError(f"expected point sets of shape (B, P, 3), got {tuple(points.shape)}")
    n = len(points)
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    fig = plt.figure(figsize=(2.4 * ncols, 2.5 * nrows + 0.4))
    for i in range(n):
        ax = fig.add_subplot(nrows, ncols, i + 1, projection="3d")
        _scatter3d(ax, points[i].numpy(), size=size)
        if labels is not None:
            text, color = label_title(i, labels, predictions, classes)
            ax.set_title(text, fontsize=8, color=color)
        if i == 0:
            ax.set_xlabel("y", fontsize=7, labelpad=-8)
            ax.set_ylabel("z", fontsize=7, labelpad=-8)
            ax.set_zlabel("x (up)", fontsize=7, labelpad=-8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_point_attention(points: torch.Tensor, weights: torch.Tensor, latents: Sequence[int], title: str = "",
                         object_name: str = "", size: float = 5.0):
    """Where latents look on one object: one 3-D panel per latent, each point coloured by the share of
    that latent's attention weight it gets.

    Args:
        points: ``(P, 3)`` one point set.
        weights: ``(N, P)`` attention weights (softmax over the points) of the N latents.
        latents: which latents to draw.
    """
    points = torch.as_tensor(points).detach().cpu()
    weights = torch.as_tensor(weights).detach().cpu()
    if points.dim() != 2 or points.shape[-1] != 3 or weights.dim() != 2 or weights.shape[1] != len(points):
        raise ValueError(f"expected points (P, 3) and weights (N, P), got {tuple(points.shape)} and "
                         f"{tuple(weights.shape)}")
    latents = list(latents)
    fig = plt.figure(figsize=(2.6 * len(latents) + 0.8, 2.9))
    for j, n in enumerate(latents):
        ax = fig.add_subplot(1, len(latents), j + 1, projection="3d")
        w = weights[n].numpy()
        order = np.argsort(w)  # draw the most attended points last (on top)
        sc = _scatter3d(ax, points.numpy()[order], colors=w[order] * 100, cmap="inferno", size=size, vmin=0)
        ax.set_title(f"latent {n}\n(max {100 * w.max():.1f}% on one point)", fontsize=8)
        fig.colorbar(sc, ax=ax, shrink=0.55, pad=0.08).set_label("attention weight (%)", fontsize=7)
    fig.suptitle(title or f"Attention weights of a few latents over the points{' of a ' + object_name if object_name else ''}")
    fig.tight_layout()
    return fig


@torch.no_grad()
def permutation_invariance(model, inputs: torch.Tensor, transform=None, seed: int = 0) -> dict:
    """Run ``model`` on a batch of sets ``(B, P, ...)`` and on the same sets with their elements shuffled
    (a different random order per set); report how much the outputs moved.

    Returns ``{"max_abs_logit_diff": float, "same_predictions": float (fraction), "permutations": (B, P)}``.
    """
    g = torch.Generator().manual_seed(seed)
    perms = torch.stack([torch.randperm(inputs.shape[1], generator=g) for _ in range(len(inputs))])  # (B, P)
    shuffled = torch.gather(inputs, 1, perms.view(*perms.shape, *([1] * (inputs.dim() - 2))).expand_as(inputs))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    run = (lambda x: model(transform(x.to(device)))) if transform is not None else (lambda x: model(x.to(device)))
    a, b = run(inputs).float().cpu(), run(shuffled).float().cpu()
    model.train(was_training)
    return {"max_abs_logit_diff": (a - b).abs().max().item(),
            "same_predictions": (a.argmax(-1) == b.argmax(-1)).float().mean().item(),
            "permutations": perms}


__all__ = ["permutation_invariance", "plot_point_attention", "plot_point_clouds"]
