"""Small plotting helpers shared by the notebooks (figures always titled and labelled)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch


def label_title(i: int, labels, predictions=None, classes=None, sep: str = " ") -> tuple[str, str]:
    """Title and colour for example ``i``: its class, and ``→ predicted`` in red when that is wrong."""
    name = classes[int(labels[i])] if classes is not None else str(int(labels[i]))
    if predictions is None:
        return name, "black"
    pred = classes[int(predictions[i])] if classes is not None else str(int(predictions[i]))
    return f"{name}{sep}→ {pred}", "black" if int(predictions[i]) == int(labels[i]) else "red"


def image_grid(images: torch.Tensor, labels=None, classes=None, ncols: int = 8, title: str = "",
               predictions=None, cmap: str = "gray"):
    """Draw images ``(B, C, H, W)`` or ``(B, H, W)`` in a grid; label each with its class
    (and the prediction, red when wrong).  Returns the figure."""
    images = images.detach().cpu()
    if images.dim() == 4:
        images = images.permute(0, 2, 3, 1)
        if images.shape[-1] == 1:
            images = images[..., 0]
    n = len(images)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.3 * ncols, 1.8 * nrows + 0.4), squeeze=False)  # room for 2-line titles
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i], cmap=cmap)
        if labels is not None:
            text, color = label_title(i, labels, predictions, classes, sep="\n")
            ax.set_title(text, fontsize=7, color=color)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
