"""Attention maps: what the latents look at (paper Fig. 3, chapter 6).

``model(images, return_attention=True)`` returns, for each cross-attend, the *pre-softmax* scores
``q·k/√d`` of every latent over every input element, a ``(B, N, M)`` tensor per cross-attend.
For an image, each latent's row of M = H·W scores reshapes to an H×W map.

Measures (plain functions on tensors, checked against naive loops in ``tests/test_viz.py``):

* :func:`softmax_weights`: the attention weights, softmax of the scores over the M inputs;
* :func:`attention_center_of_mass`: where a latent's weights sit on the pixel grid;
* :func:`map_image_correlation`: Pearson correlation of each map with its image's pixels;
* :func:`position_explained_variance`: the share of a map's variance that a least-squares fit on
  the Fourier position features explains (the map's energy "at the Fourier frequencies");
* :func:`map_power_spectrum`, :func:`axis_power_fraction`: the maps' 2-D spectrum, and how much of
  it lies on pure row / pure column frequencies (where a lattice of sinusoids puts it).

Figures (each returns the matplotlib ``Figure``; pass ``fig=`` to draw into an existing one):
:func:`plot_attention_grid`, :func:`plot_latent_grid`, :func:`overlay_weights`,
:func:`plot_centers_of_mass`.
"""
from __future__ import annotations

import math
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

SCORES_CMAP, WEIGHTS_CMAP = "viridis", "inferno"


# ---------------------------------------------------------------------------------------------
# Getting the maps
# ---------------------------------------------------------------------------------------------
@torch.no_grad()
def attention_maps(model, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run ``model(images, return_attention=True)`` without gradients; return ``(logits, maps)``
    on the CPU: ``logits (B, num_classes)`` and one ``(B, N, M)`` score tensor per cross-attend."""
    device = next(model.parameters()).device
    logits, maps = model(images.to(device), return_attention=True)
    return logits.float().cpu(), [m.float().cpu() for m in maps]


def softmax_weights(scores: torch.Tensor) -> torch.Tensor:
    """Attention weights from pre-softmax scores ``(..., N, M)``: softmax over the M inputs, so each
    latent's weights sum to 1.  (With several heads, the model's maps are head-averaged scores and
    this is the softmax of that average, not the average of the heads' weights.)"""
    return scores.softmax(dim=-1)


def _image_shape(m: int, shape: Sequence[int] | None = None) -> tuple[int, int]:
    """``(H, W)`` for maps of M elements: ``shape`` checked against M, or the square root of M."""
    if shape is None:
        side = math.isqrt(m)
        if side * side != m:
            raise ValueError(f"maps have M={m} elements, not a square image: pass shape=(H, W)")
        return side, side
    h, w = (int(s) for s in shape)
    if h * w != m:
        raise ValueError(f"shape={tuple(shape)} has {h * w} pixels but the maps have M={m} elements")
    return h, w


# ---------------------------------------------------------------------------------------------
# Measures
# ---------------------------------------------------------------------------------------------
def attention_center_of_mass(maps: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Centre of mass of attention weights on the pixel grid.

    Args:
        maps: ``(..., M)`` non-negative weights, e.g. :func:`softmax_weights` of the scores
            (pre-softmax scores can be negative and have no centre of mass).
        shape: ``(H, W)`` with ``H * W = M``; pixel m sits at row ``m // W``, column ``m % W``.

    Returns:
        ``(..., 2)``: (row, column) in pixels, 0 at the top-left pixel's centre.
    """
    h, w = _image_shape(maps.shape[-1], shape)
    if (maps < 0).any():
        raise ValueError("attention_center_of_mass needs non-negative weights (..., M); these maps have "
                         "negative entries (pre-softmax scores?): apply softmax_weights(scores) first")
    total = maps.sum(dim=-1)  # (...)
    if (total <= 0).any():
        raise ValueError("a map sums to zero: its centre of mass is undefined")
    grid = maps.reshape(*maps.shape[:-1], h, w)  # (..., H, W)
    rows = torch.arange(h, dtype=maps.dtype, device=maps.device)
    cols = torch.arange(w, dtype=maps.dtype, device=maps.device)
    row = (grid.sum(dim=-1) * rows).sum(dim=-1) / total  # mass of each row times its index
    col = (grid.sum(dim=-2) * cols).sum(dim=-1) / total
    return torch.stack([row, col], dim=-1)


def _pixels_like(maps: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Images to ``(..., M)`` grey values matching ``maps (..., N, M)``: channels averaged."""
    m = maps.shape[-1]
    lead = maps.shape[:-2]
    if images.numel() % (max(1, math.prod(lead)) * m):
        raise ValueError(f"images of shape {tuple(images.shape)} do not match maps of shape {tuple(maps.shape)}: "
                         f"expected (B, C, H, W) with H·W = {m} for maps (B, N, M), or (C, H, W) / (H, W) "
                         f"for maps (N, M)")
    return images.reshape(*lead, -1, m).mean(dim=-2).to(maps.dtype)  # (..., M)


def map_image_correlation(maps: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Pearson correlation between each latent's map and its image, over the M pixels.

    Args:
        maps: ``(B, N, M)`` (or ``(N, M)``) scores or weights.
        images: ``(B, C, H, W)`` (or ``(C, H, W)`` / ``(H, W)``) with H·W = M; channels are averaged.

    Returns:
        ``(B, N)`` (or ``(N,)``) correlations in [-1, 1]; NaN where a map or an image is constant.
    """
    pixels = _pixels_like(maps, images).unsqueeze(-2)  # (..., 1, M)
    a = maps - maps.mean(dim=-1, keepdim=True)
    b = pixels - pixels.mean(dim=-1, keepdim=True)
    return (a * b).sum(dim=-1) / ((a * a).sum(dim=-1) * (b * b).sum(dim=-1)).sqrt()


def position_explained_variance(maps: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """R²: the share of each map's variance that a least-squares fit on the position features explains.

    A map that is a linear combination of the Fourier features (the sines and cosines of rows and
    columns at the K bands, plus the raw coordinates) has R² = 1: all its energy sits at the Fourier
    frequencies.  A map that follows the image's content, which the positions cannot predict,
    has R² near 0.

    Args:
        maps: ``(..., M)``.
        positions: ``(M, P)`` the position features of the M inputs (e.g. ``model.positions[0]``).

    Returns:
        ``(...)`` values in [0, 1]; NaN for a constant map.
    """
    m = maps.shape[-1]
    positions = positions.reshape(-1, positions.shape[-1])
    if positions.shape[0] != m:
        raise ValueError(f"positions must be (M, P) with M={m} like the maps, got {tuple(positions.shape)}")
    x = torch.cat([torch.ones(m, 1, dtype=torch.float64), positions.detach().cpu().double()], dim=1)  # (M, P+1)
    projection = x @ torch.linalg.pinv(x)  # (M, M): orthogonal projection onto the features' span
    y = maps.detach().cpu().double()
    residual = y - y @ projection.T
    centred = y - y.mean(dim=-1, keepdim=True)
    r2 = 1 - (residual ** 2).sum(dim=-1) / (centred ** 2).sum(dim=-1)
    return r2.to(maps.dtype)


def map_power_spectrum(maps: torch.Tensor, shape: Sequence[int] | None = None) -> torch.Tensor:
    """Mean 2-D power spectrum of the maps ``(..., M)`` on their ``(H, W)`` grid: ``(H, W)``.

    Each map's mean is removed, ``|FFT2|²`` is averaged over all leading axes, and the result is
    ``fftshift``-ed so that frequency 0 sits at index ``(H // 2, W // 2)``; entry ``(i, j)`` is the
    power at ``i - H // 2`` cycles per image height and ``j - W // 2`` cycles per image width.
    A lattice made of row and column sinusoids, ``g(row) + h(col)``, puts all its power on the
    two axes through the centre (the row ``H // 2`` and the column ``W // 2``).
    """
    h, w = _image_shape(maps.shape[-1], shape)
    grid = maps.detach().cpu().double().reshape(-1, h, w)  # (K, H, W)
    grid = grid - grid.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(grid).abs().pow(2).mean(dim=0)  # (H, W)
    return torch.fft.fftshift(power).to(maps.dtype)


def axis_power_fraction(spectrum: torch.Tensor, min_cycles: int = 0) -> float:
    """Share of a centred power spectrum ``(H, W)`` lying on its two axes (pure row or pure column
    frequencies) at ``min_cycles`` or more cycles per image (either sign).  With ``min_cycles=0``:
    1.0 for a separable lattice ``g(row) + h(col)``, about (H + W) / (H·W) for noise.  With a high
    ``min_cycles``: the high-frequency part of such a lattice, where smooth images put little power
    and the upper Fourier bands put theirs."""
    h, w = spectrum.shape
    if not 0 <= min_cycles <= max(h, w) // 2:
        raise ValueError(f"min_cycles must be in 0..{max(h, w) // 2} for a {h}x{w} spectrum, got {min_cycles}")
    rows = (torch.arange(h) - h // 2).abs() >= min_cycles  # (H,) on the column axis: pure row frequencies
    cols = (torch.arange(w) - w // 2).abs() >= min_cycles  # (W,)
    cols[w // 2] = False  # frequency 0 lies on both axes: count it once
    on_axes = spectrum[rows, w // 2].sum() + spectrum[h // 2, cols].sum()
    return float(on_axes / spectrum.sum())


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------
def _new_figure(fig: Figure | None, figsize) -> Figure:
    if fig is None:
        return plt.figure(figsize=figsize)
    fig.clear()
    fig.set_size_inches(*figsize)
    return fig


def _one(t: torch.Tensor, index: int, dims: int) -> torch.Tensor:
    """Select image ``index`` when ``t`` has a batch axis (``dims + 1`` axes)."""
    t = t.detach().float().cpu()
    return t[index] if t.dim() == dims + 1 else t


def _grey(image: torch.Tensor, index: int = 0) -> np.ndarray:
    """An image (B, C, H, W) / (C, H, W) / (H, W) -> an (H, W) array (channels averaged)."""
    image = image.detach().float().cpu()
    if image.dim() == 4:
        image = image[index]
    if image.dim() == 3:
        image = image.mean(dim=0)
    if image.dim() != 2:
        raise ValueError(f"expected an image (C, H, W) or (H, W), got shape {tuple(image.shape)}")
    return image.numpy()


def _show_image(ax, grey: np.ndarray, title: str = "input image"):
    ax.imshow(grey, cmap="gray", interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("column (pixels)", fontsize=8)
    ax.set_ylabel("row (pixels)", fontsize=8)
    ax.tick_params(labelsize=7)


def _resolve(indices, n: int, what: str) -> list[int]:
    out = []
    for i in indices:
        j = int(i) + n if int(i) < 0 else int(i)
        if not 0 <= j < n:
            raise IndexError(f"{what} {i} out of range: there are {n}")
        out.append(j)
    return out


def plot_attention_grid(image: torch.Tensor, maps: Sequence[torch.Tensor], cross_attends=(0, 1, -1),
                        latents=(0, 1, 2, 3, 4, 5), index: int = 0, *, weights: bool = False,
                        shape: Sequence[int] | None = None, title: str | None = None,
                        fig: Figure | None = None) -> Figure:
    """Paper Fig. 3: one row per cross-attend, one column per latent, the input image on the left.

    Args:
        image: ``(C, H, W)`` / ``(H, W)``, or a batch ``(B, C, H, W)`` of which ``index`` is drawn.
        maps: the list returned by ``model(..., return_attention=True)``: ``(B, N, M)`` or ``(N, M)`` each.
        cross_attends, latents: which to draw (0-based; negative counts from the end).
        weights: draw softmax weights instead of the pre-softmax scores.
        shape: ``(H, W)`` of the maps; by default the image's.

    Each small map has its own colour scale (as in the paper): compare patterns, not values.
    """
    if not isinstance(maps, (list, tuple)) or not maps:
        raise ValueError("maps must be the non-empty list of per-cross-attend (B, N, M) tensors")
    rows = _resolve(cross_attends, len(maps), "cross-attend")
    per_image = [_one(m, index, 2) for m in maps]  # (N, M) each
    n, m = per_image[0].shape
    cols = _resolve(latents, n, "latent")
    grey = _grey(image, index)
    h, w = _image_shape(m, shape or grey.shape)
    fig = _new_figure(fig, (1.6 + 1.25 * len(cols), 0.4 + 1.3 * len(rows)))
    grid = fig.add_gridspec(len(rows), len(cols) + 1, width_ratios=[1.6] + [1] * len(cols))
    _show_image(fig.add_subplot(grid[:, 0]), grey)
    for r, ca in enumerate(rows):
        data = softmax_weights(per_image[ca]) if weights else per_image[ca]
        for c, lat in enumerate(cols):
            ax = fig.add_subplot(grid[r, c + 1])
            ax.imshow(data[lat].reshape(h, w).numpy(), cmap=WEIGHTS_CMAP if weights else SCORES_CMAP,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"latent {lat}", fontsize=8)
            if c == 0:
                ax.set_ylabel(f"cross-attend {ca + 1}", fontsize=8)
    kind = "softmax weights" if weights else "pre-softmax scores q·k/√d"
    fig.suptitle(title or f"Attention {kind} of individual latents over the {h}×{w} image "
                          f"(each map on its own colour scale)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_latent_grid(image: torch.Tensor, maps: torch.Tensor, latents=None, index: int = 0,
                     *, weights: bool = False, ncols: int = 8, shape: Sequence[int] | None = None,
                     title: str | None = None, fig: Figure | None = None) -> Figure:
    """Every latent's map for one cross-attend (``maps (B, N, M)`` or ``(N, M)``), wrapped in rows of
    ``ncols``, with the input image on the left."""
    data = _one(maps, index, 2)  # (N, M)
    n, m = data.shape
    latents = list(range(n)) if latents is None else _resolve(latents, n, "latent")
    grey = _grey(image, index)
    h, w = _image_shape(m, shape or grey.shape)
    if weights:
        data = softmax_weights(data)
    ncols = min(ncols, len(latents))
    nrows = math.ceil(len(latents) / ncols)
    fig = _new_figure(fig, (2.2 + 1.0 * ncols, 1.0 + 1.05 * nrows))
    grid = fig.add_gridspec(nrows, ncols + 1, width_ratios=[2.2] + [1] * ncols)
    _show_image(fig.add_subplot(grid[:min(nrows, 3), 0]), grey)
    for k, lat in enumerate(latents):
        ax = fig.add_subplot(grid[k // ncols, k % ncols + 1])
        ax.imshow(data[lat].reshape(h, w).numpy(), cmap=WEIGHTS_CMAP if weights else SCORES_CMAP,
                  interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"latent {lat}", fontsize=7, pad=2)
    kind = "softmax weights" if weights else "pre-softmax scores"
    fig.suptitle(title or f"{kind.capitalize()} of {len(latents)} latents (rows: latents in order; "
                          f"each map on its own colour scale)", fontsize=10)
    fig.tight_layout()
    return fig


def _overlay(ax, grey: np.ndarray, weights_hw: np.ndarray, max_alpha: float = 0.85):
    """Grey image with the weights as a heat map whose opacity grows with the weight."""
    ax.imshow(grey, cmap="gray", interpolation="nearest")
    peak = float(weights_hw.max())
    alpha = max_alpha * weights_hw / peak if peak > 0 else np.zeros_like(weights_hw)
    ax.imshow(weights_hw, cmap=WEIGHTS_CMAP, alpha=np.clip(alpha, 0, 1), interpolation="nearest")


def overlay_weights(image: torch.Tensor, weights: torch.Tensor, latents=(0, 1, 2, 3), index: int = 0,
                    shape: Sequence[int] | None = None, *, mark_center: bool = True, title: str | None = None,
                    fig: Figure | None = None) -> Figure:
    """Softmax weights of some latents drawn over the image (opacity ∝ weight), one panel each,
    with each latent's centre of mass marked ``+``.

    Args:
        weights: ``(B, N, M)`` or ``(N, M)`` non-negative weights of one cross-attend
            (``softmax_weights(maps[i])``).
    """
    data = _one(weights, index, 2)  # (N, M)
    n, m = data.shape
    if (data < 0).any():
        raise ValueError("overlay_weights draws softmax weights; got negative values (scores?): "
                         "pass softmax_weights(scores)")
    cols = _resolve(latents, n, "latent")
    grey = _grey(image, index)
    h, w = _image_shape(m, shape or grey.shape)
    fig = _new_figure(fig, (0.3 + 2.1 * len(cols), 2.8))
    axes = fig.subplots(1, len(cols), squeeze=False)[0]
    centres = attention_center_of_mass(data[cols], (h, w))  # (len(cols), 2)
    for ax, lat, (row, col) in zip(axes, cols, centres.tolist()):
        _overlay(ax, grey, data[lat].reshape(h, w).numpy())
        if mark_center:
            ax.plot(col, row, "+", color="cyan", markersize=12, markeredgewidth=2)
        ax.set_title(f"latent {lat}\nmax weight {data[lat].max().item():.3f}", fontsize=8)
        ax.set_xlabel("column (pixels)", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0].set_ylabel("row (pixels)", fontsize=7)
    fig.suptitle(title or "Softmax attention weights over the image (opacity ∝ weight, + = centre of mass)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def plot_centers_of_mass(centres: dict, spread: dict | None = None, shape: Sequence[int] = (28, 28),
                         image: torch.Tensor | None = None, *, label_latents: bool = True,
                         title: str | None = None, fig: Figure | None = None) -> Figure:
    """Where each latent looks, on average: one panel per entry of ``centres``.

    Args:
        centres: ``{panel title: (N, 2) tensor}`` of (row, column) centres of mass in pixels.
        spread: optional ``{panel title: (N,) tensor}``, e.g. the std over images of each latent's
            centre (pixels); drawn as circles of that radius.
        image: optional background (e.g. the mean image of the data set).
        label_latents: write each latent's index beside its point, except where it would overlap
            a label already drawn (within 1.5 pixels).
    """
    if not isinstance(centres, dict) or not centres:
        raise ValueError("centres must be a non-empty dict {panel title: (N, 2) tensor}")
    h, w = (int(s) for s in shape)
    fig = _new_figure(fig, (0.5 + 4.2 * len(centres), 4.4))
    axes = fig.subplots(1, len(centres), squeeze=False)[0]
    for ax, (name, xy) in zip(axes, centres.items()):
        xy = xy.detach().float().cpu()
        if image is not None:
            ax.imshow(_grey(image), cmap="gray", alpha=0.35, extent=(-0.5, w - 0.5, h - 0.5, -0.5))
        colours = plt.get_cmap("tab20")(np.arange(len(xy)) % 20)
        if spread is not None and name in spread:
            for (r, c), s, colour in zip(xy.tolist(), spread[name].tolist(), colours):
                ax.add_patch(plt.Circle((c, r), s, fill=False, color=colour, alpha=0.5, lw=1))
        ax.scatter(xy[:, 1], xy[:, 0], c=colours, s=25, edgecolors="black", linewidths=0.5, zorder=3)
        if label_latents:  # a label only where it does not collide with one already drawn
            labelled: list[tuple[float, float]] = []
            for i, (r, c) in enumerate(xy.tolist()):
                if all((r - r0) ** 2 + (c - c0) ** 2 >= 1.5 ** 2 for r0, c0 in labelled):
                    ax.annotate(str(i), (c, r), fontsize=6, xytext=(3, 3), textcoords="offset points")
                    labelled.append((r, c))
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(h - 0.5, -0.5)  # row 0 at the top, like the image
        ax.set_aspect("equal")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("column (pixels)")
        ax.set_ylabel("row (pixels)")
    fig.suptitle(title or "Each latent's attention centre of mass, averaged over images", fontsize=10)
    fig.tight_layout()
    return fig
