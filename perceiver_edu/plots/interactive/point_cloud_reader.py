"""Chapter 9: which points does a latent read?  A rotatable point cloud.

One forward pass of a point-cloud Perceiver gives, per cross-attend, the softmax weights ``(N, P)`` of
its N latents over the P points.  Choose a latent and how many of its most-weighted points to
highlight, and turn the cloud with the elevation and azimuth sliders; the right panel says what share
of the latent's attention those points hold, against a uniform spread.

    reader = PointCloudReader(model, points, transform=to_bytes)
    reader.update(latent=3, top=20, azimuth=90)
    reader.state["top_indices"], reader.state["top_share"]
"""
from __future__ import annotations

import numpy as np
import torch

from ..attention_maps import softmax_weights
from .toolkit import Interactive, choice, slider


class PointCloudReader(Interactive):
    """The points each latent of ``model`` weighs most, on one rotatable cloud ``points (P, 3)``."""

    css_name = "point-cloud-reader"

    def __init__(self, model, points: torch.Tensor, *, transform=None, object_name: str = "", top: int = 20):
        if not isinstance(points, torch.Tensor) or points.dim() != 2 or points.shape[1] != 3:
            raise ValueError(f"points must be a tensor (P, 3), got "
                             f"{tuple(points.shape) if isinstance(points, torch.Tensor) else type(points).__name__}")
        self.points, self.object_name = points.detach().float().cpu(), object_name
        device = next(model.parameters()).device
        x = points.unsqueeze(0)  # (1, P, 3)
        x = transform(x) if transform is not None else x
        with torch.no_grad():
            _, maps = model.eval()(x.to(device), return_attention=True)
        self.weights = [softmax_weights(m[0].float().cpu()).numpy() for m in maps]  # per cross-attend (N, P)
        n_latents, n_points = self.weights[0].shape
        controls = {"latent": slider("int", 0, 0, n_latents - 1, 1, "latent")}
        if len(self.weights) > 1:
            controls["cross_attend"] = choice([(str(i + 1), i) for i in range(len(self.weights))], 0, "cross-attend")
        self._build({
            **controls,
            "top": slider("int", min(top, n_points), 1, n_points, 1, "points highlighted"),
            "elevation": slider("int", 20, -90, 90, 5, "elevation (°)"),
            "azimuth": slider("int", -60, -180, 180, 5, "azimuth (°)"),
        })

    def compute(self, *, latent, top, elevation, azimuth, cross_attend=0) -> dict:
        w = self.weights[cross_attend][latent]  # (P,)
        order = np.argsort(-w, kind="stable")
        return {"weights": w, "top_indices": order[:top], "top_share": float(w[order[:top]].sum()),
                "uniform_share": top / len(w), "effective_points": float(1 / (w ** 2).sum()),
                "cumulative": np.cumsum(w[order])}

    def draw(self, fig, state, *, latent, top, elevation, azimuth, cross_attend=0) -> None:
        fig.set_size_inches(10, 4.2)
        ax = fig.add_subplot(1, 2, 1, projection="3d")
        p = self.points.numpy()
        rest = np.setdiff1d(np.arange(len(p)), state["top_indices"])
        # as plot_point_clouds: ModelNet's first coordinate is "up", drawn as the vertical axis
        ax.scatter(p[rest, 1], p[rest, 2], p[rest, 0], s=3, color="lightgrey", depthshade=False)
        hi = state["top_indices"]
        sc = ax.scatter(p[hi, 1], p[hi, 2], p[hi, 0], s=18, c=100 * state["weights"][hi], cmap="inferno",
                        vmin=0, depthshade=False)
        ax.view_init(elev=elevation, azim=azimuth)
        ax.set_xlabel("coordinate 2")
        ax.set_ylabel("coordinate 3")
        ax.set_zlabel("coordinate 1 (up)")
        ax.set_box_aspect((1, 1, 1))
        for setter in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
            setter(-1, 1)
        fig.colorbar(sc, ax=ax, shrink=0.6, pad=0.1, label="attention weight (%)")
        ax.set_title(f"latent {latent}: its {top} most-weighted points", fontsize=9)
        cum = fig.add_subplot(1, 2, 2)
        ranks = np.arange(1, len(state["cumulative"]) + 1)
        cum.plot(ranks, 100 * state["cumulative"], color="tab:blue", label=f"latent {latent}")
        cum.plot(ranks, 100 * ranks / len(ranks), color="grey", ls=":", label="uniform weights")
        cum.plot([top], [100 * state["top_share"]], "o", color="tab:red",
                 label=f"top {top}: {100 * state['top_share']:.1f} % (uniform {100 * state['uniform_share']:.1f} %)")
        cum.set_xlabel("points, most-weighted first")
        cum.set_ylabel("share of the latent's attention (%)")
        cum.set_ylim(0, 105)
        cum.legend(fontsize=7, loc="lower right")
        cum.set_title(f"effective number of points read: {state['effective_points']:.0f} of {len(ranks)}", fontsize=9)
        what = f" on a {self.object_name}" if self.object_name else ""
        fig.suptitle(f"Which points latent {latent} reads{what} (cross-attend {cross_attend + 1})", fontsize=10)
        fig.subplots_adjust(left=0.02, right=0.97, bottom=0.12, top=0.86, wspace=0.25)
