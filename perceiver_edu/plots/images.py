"""Small plotting helpers shared by the notebooks (figures always titled and labelled)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch


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
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.3 * ncols, 1.5 * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i], cmap=cmap)
        if labels is not None:
            name = classes[int(labels[i])] if classes is not None else str(int(labels[i]))
            if predictions is not None:
                pred = classes[int(predictions[i])] if classes is not None else str(int(predictions[i]))
                ok = int(predictions[i]) == int(labels[i])
                ax.set_title(f"{name}\n→ {pred}", fontsize=7, color="black" if ok else "red")
            else:
                ax.set_title(name, fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
