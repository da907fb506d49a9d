"""An interactive attention-map explorer for Jupyter (chapter 6).

    explorer = attention_explorer(model, images, labels, classes)
    explorer                     # shows the controls and the figure in JupyterLab

Choose an image (and perturb it with noise or a black square over its centre), a cross-attend,
one latent or all of them, and pre-softmax scores or softmax weights; the figure redraws.

For tests and scripts the explorer is a plain object: its controls are attributes (``image``,
``noise``, ``occlusion``, ``cross_attend``, ``latent``, ``mode``), each with a ``description`` and
a stable CSS class (``pe-image``, ``pe-noise``, ``pe-occlusion``, ``pe-cross-attend``,
``pe-latent``, ``pe-mode``) that a browser test can select; setting a control's ``value``
redraws ``explorer.figure`` (a matplotlib ``Figure``) and ``explorer.shown`` (the array drawn).
"""
from __future__ import annotations

import io

import ipywidgets as widgets
import numpy as np
import torch
from IPython.display import Image, display
from matplotlib.figure import Figure

from .attention_maps import (_image_shape, _overlay, _show_image, attention_center_of_mass, attention_maps,
                  plot_latent_grid, softmax_weights, SCORES_CMAP, WEIGHTS_CMAP)

ALL_LATENTS = -1


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    return get_ipython() is not None


def perturb(image: torch.Tensor, noise: float = 0.0, occlusion: int = 0, seed: int = 0) -> torch.Tensor:
    """A copy of ``image (C, H, W)`` in [0, 1] with Gaussian noise of std ``noise`` (seeded, so the
    same settings give the same image) and a black ``occlusion``×``occlusion`` square at its centre."""
    out = image.detach().float().cpu().clone()
    if noise > 0:
        g = torch.Generator().manual_seed(seed)
        out = (out + noise * torch.randn(out.shape, generator=g)).clamp(0, 1)
    if occlusion > 0:
        _, h, w = out.shape
        top, left = (h - occlusion) // 2, (w - occlusion) // 2
        out[:, max(top, 0):top + occlusion, max(left, 0):left + occlusion] = 0.0
    return out


class AttentionExplorer:
    """The explorer behind :func:`attention_explorer`; see the module docstring."""

    def __init__(self, model, images: torch.Tensor, labels=None, classes=None, ncols: int = 8):
        if not isinstance(images, torch.Tensor) or images.dim() != 4:
            raise ValueError(f"images must be a tensor (B, C, H, W), got "
                             f"{tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__}")
        self.model, self.images = model, images.detach().cpu()
        self.labels = None if labels is None else [int(y) for y in labels]
        self.classes = classes
        self.ncols = ncols
        self.shape = _image_shape(images.shape[-2] * images.shape[-1], images.shape[-2:])
        n_cross, n_latents = model.config.num_cross_attends, model.config.num_latents
        style = {"description_width": "initial"}

        self.image = widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="image",
                                       continuous_update=False, style=style)
        self.noise = widgets.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05, description="noise std",
                                         continuous_update=False, style=style)
        self.occlusion = widgets.IntSlider(value=0, min=0, max=min(self.shape), description="occlusion (px)",
                                           continuous_update=False, style=style)
        self.cross_attend = widgets.Dropdown(options=[(str(i + 1), i) for i in range(n_cross)], value=0,
                                             description="cross-attend", style=style)
        self.latent = widgets.Dropdown(options=[("all latents", ALL_LATENTS)] + [(str(i), i) for i in range(n_latents)],
                                       value=0, description="latent", style=style)
        self.mode = widgets.ToggleButtons(options=[("scores", "scores"), ("weights", "weights")], value="scores",
                                          description="show", style=style)
        self.controls = {"image": self.image, "noise": self.noise, "occlusion": self.occlusion,
                         "cross_attend": self.cross_attend, "latent": self.latent, "mode": self.mode}
        for name, control in self.controls.items():
            control.add_class("pe-" + name.replace("_", "-"))
            control.observe(lambda change: self.update(), names="value")

        self.output = widgets.Output()
        self.output.add_class("pe-figure")
        self.widget = widgets.VBox([widgets.HBox([self.image, self.noise, self.occlusion]),
                                    widgets.HBox([self.cross_attend, self.latent, self.mode]),
                                    self.output])
        self.widget.add_class("pe-attention-explorer")
        self.figure = Figure()
        self.shown: np.ndarray | None = None  # the map(s) drawn last: (M,) or (N, M)
        self._cache: dict = {}
        self.update()

    # -- computing ---------------------------------------------------------------------------
    def current_input(self) -> torch.Tensor:
        """The selected image after perturbation, ``(C, H, W)``."""
        return perturb(self.images[self.image.value], self.noise.value, self.occlusion.value,
                       seed=self.image.value)

    def _forward(self):
        key = (self.image.value, round(self.noise.value, 4), self.occlusion.value)
        if key not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            image = self.current_input()
            logits, maps = attention_maps(self.model, image.unsqueeze(0))
            self._cache[key] = image, logits[0].softmax(-1), [m[0] for m in maps]  # maps (N, M) each
        return self._cache[key]

    def _caption(self, probs: torch.Tensor) -> str:
        name = (lambda k: self.classes[k] if self.classes is not None else str(k))
        pred = int(probs.argmax())
        text = f"image {self.image.value}"
        if self.labels is not None:
            text += f" ({name(self.labels[self.image.value])})"
        return text + f" → predicted {name(pred)}, p = {probs[pred].item():.2f}"

    # -- drawing -----------------------------------------------------------------------------
    def update(self) -> Figure:
        """Redraw :attr:`figure` for the controls' current values (and refresh the output widget)."""
        image, probs, maps = self._forward()
        ca, lat, weights = self.cross_attend.value, self.latent.value, self.mode.value == "weights"
        data = softmax_weights(maps[ca]) if weights else maps[ca]  # (N, M)
        caption = self._caption(probs)
        kind = "softmax weights" if weights else "pre-softmax scores"
        if lat == ALL_LATENTS:
            self.shown = data.numpy()
            plot_latent_grid(image, maps[ca], weights=weights, ncols=self.ncols, shape=self.shape, fig=self.figure,
                             title=f"{caption}\n{kind} of every latent, cross-attend {ca + 1}")
        else:
            self.shown = data[lat].numpy()
            self._draw_one(image, maps[ca], lat, weights, f"{caption}\nlatent {lat}, cross-attend {ca + 1}")
        if _in_kernel():  # outside IPython (tests, scripts) there is nowhere to display
            self.output.clear_output(wait=True)
            with self.output:
                display(self.png())
        return self.figure

    def png(self, dpi: int = 80) -> Image:
        """The current figure as a PNG (drawn with Agg, whatever matplotlib backend is active)."""
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=dpi)
        return Image(data=buffer.getvalue(), format="png")

    def _draw_one(self, image, scores, lat, weights, title):
        fig, (h, w) = self.figure, self.shape
        fig.clear()
        fig.set_size_inches(10, 3.6)
        axes = fig.subplots(1, 3)
        grey = image.mean(dim=0).numpy()
        _show_image(axes[0], grey, "input (after perturbation)")
        data = (softmax_weights(scores) if weights else scores)[lat].reshape(h, w).numpy()
        im = axes[1].imshow(data, cmap=WEIGHTS_CMAP if weights else SCORES_CMAP, interpolation="nearest")
        axes[1].set_title("softmax weights" if weights else "pre-softmax scores q·k/√d", fontsize=9)
        axes[1].set_xlabel("column (pixels)", fontsize=8)
        axes[1].set_ylabel("row (pixels)", fontsize=8)
        fig.colorbar(im, ax=axes[1], label="weight" if weights else "score", fraction=0.046)
        weights_map = softmax_weights(scores)[lat]
        _overlay(axes[2], grey, weights_map.reshape(h, w).numpy())
        row, col = attention_center_of_mass(weights_map, (h, w)).tolist()
        axes[2].plot(col, row, "+", color="cyan", markersize=12, markeredgewidth=2)
        axes[2].set_title("weights on the image\n(+ = centre of mass)", fontsize=9)
        axes[2].set_xlabel("column (pixels)", fontsize=8)
        fig.suptitle(title, fontsize=10)
        fig.tight_layout()

    def _ipython_display_(self):
        display(self.widget)

    def __repr__(self) -> str:
        values = ", ".join(f"{k}={c.value!r}" for k, c in self.controls.items())
        return f"AttentionExplorer({values})"


def attention_explorer(model, images: torch.Tensor, labels=None, classes=None, ncols: int = 8) -> AttentionExplorer:
    """An :class:`AttentionExplorer` over ``images (B, C, H, W)`` (in [0, 1]) for an image model
    ``model(images, return_attention=True) -> (logits, maps)``; display it in a notebook cell."""
    return AttentionExplorer(model, images, labels, classes, ncols)
