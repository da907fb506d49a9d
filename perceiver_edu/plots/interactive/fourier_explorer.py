"""Chapter 3: the Fourier-feature explorer: bands, resolution and aliasing.

:func:`~perceiver_edu.model.position.fourier_features` gives K bands f_k, linear from 1 to μ/2, and
samples sin(f_k·π·x) and cos(f_k·π·x) at the pixel positions.  On an n-pixel axis ``linspace(-1, 1, n)``
(spacing 2/(n − 1)) the highest frequency the grid can represent is its Nyquist frequency (n − 1)/2;
a band above it *aliases*: its samples are those of the band ``abs(f − (n − 1)·round(f / (n − 1)))``
below Nyquist (up to sign).  Choose K, μ, the resolution n and one band; the figure shows that band's
feature image, its samples against the continuous sine, all bands against Nyquist, and the
similarity of the centre pixel's code to every other pixel's.

    fourier = FourierExplorer()
    fourier.update(max_freq=64, resolution=28)
    fourier.state["aliased"]        # True for the bands above (28 − 1)/2 = 13.5
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ...model.position import fourier_features, position_grid
from .toolkit import Interactive, slider


def grid_nyquist(resolution: int) -> float:
    """The Nyquist frequency (cycles per unit of x) of ``linspace(-1, 1, resolution)``: (n − 1)/2."""
    return (resolution - 1) / 2


def alias_frequency(freq, resolution: int):
    """The frequency in [0, Nyquist] whose samples on the n-pixel grid equal those of ``freq`` up to sign."""
    period = resolution - 1  # f and f + (n − 1) give the same samples up to sign
    return np.abs(np.asarray(freq) - period * np.round(np.asarray(freq) / period))


class FourierExplorer(Interactive):
    """Fourier position features against the grid's resolution (see the module docstring)."""

    css_name = "fourier-explorer"
    per_row = 4

    def __init__(self, num_bands: int = 8, max_freq: int = 28, resolution: int = 28):
        self._build({
            "num_bands": slider("int", num_bands, 1, 16, 1, "bands K"),
            "max_freq": slider("int", max_freq, 2, 64, 1, "max_freq μ"),
            "resolution": slider("int", resolution, 4, 64, 1, "pixels n"),
            "band": slider("int", num_bands - 1, 0, num_bands - 1, 1, "band shown"),
        })

    def adjust(self, name: str) -> None:
        if name == "num_bands":  # the band slider offers only the bands that exist
            self.band.max = self.num_bands.value - 1

    def compute(self, *, num_bands, max_freq, resolution, band) -> dict:
        band = min(band, num_bands - 1)
        n = resolution
        feats = fourier_features(position_grid((n, n), dtype=torch.float64), num_bands, max_freq)  # (n, n, 2(2K+1))
        freqs = np.linspace(1.0, max_freq / 2, num_bands)  # the K bands, as fourier_features spaces them
        nyquist = grid_nyquist(n)
        column_sin = feats[..., 2 * num_bands + band].numpy()  # (n, n): sin of band k along the columns
        flat = feats.reshape(n * n, -1)  # (n², C)
        centre = (n // 2) * n + n // 2
        similarity = (flat @ flat[centre] / (flat[centre] @ flat[centre])).reshape(n, n).numpy()
        return {"freqs": freqs, "nyquist": nyquist, "aliased": freqs > nyquist + 1e-9,
                "alias_of": alias_frequency(freqs, n), "band": band, "feature_image": column_sin,
                "samples": column_sin[0], "similarity": similarity, "centre": (n // 2, n // 2)}

    def draw(self, fig, state, *, num_bands, max_freq, resolution, band) -> None:
        fig.set_size_inches(11, 6.2)
        (img_ax, wave_ax), (band_ax, sim_ax) = fig.subplots(2, 2)
        k, n = state["band"], resolution
        f = state["freqs"][k]
        im = img_ax.imshow(state["feature_image"], cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        img_ax.set_title(f"feature image: sin({f:.3g}·π·column) on the {n}×{n} grid", fontsize=9)
        img_ax.set_xlabel("column (pixels)")
        img_ax.set_ylabel("row (pixels)")
        fig.colorbar(im, ax=img_ax, fraction=0.046, label="feature value")

        fine = np.linspace(-1, 1, 600)
        x = np.linspace(-1, 1, n)
        wave_ax.plot(fine, np.sin(f * math.pi * fine), color="tab:blue", lw=0.8, label=f"sin({f:.3g}·π·x)")
        wave_ax.plot(x, state["samples"], "o", color="black", ms=3, label=f"{n} samples")
        if state["aliased"][k]:
            fa = state["alias_of"][k]
            sign = np.sign(np.dot(state["samples"], np.sin(fa * math.pi * x))) or 1.0  # the alias up to sign
            wave_ax.plot(fine, sign * np.sin(fa * math.pi * fine),
                         color="tab:red", lw=1, ls="--", label=f"alias: ±sin({fa:.3g}·π·x)")
        wave_ax.set_xlabel("position x")
        wave_ax.set_ylabel("feature value")
        wave_ax.set_title(f"band {k}: {'ALIASED, above' if state['aliased'][k] else 'below'} Nyquist "
                          f"{state['nyquist']:g}", fontsize=9, color="tab:red" if state["aliased"][k] else "black")
        wave_ax.legend(fontsize=7, loc="upper right", ncol=3)
        wave_ax.set_ylim(-1.2, 1.6)

        colors = ["tab:red" if a else "tab:blue" for a in state["aliased"]]
        band_ax.bar(np.arange(num_bands), state["freqs"], color=colors)
        band_ax.axhline(state["nyquist"], color="black", ls="--", label=f"Nyquist (n − 1)/2 = {state['nyquist']:g}")
        band_ax.set_xticks(np.arange(num_bands))
        band_ax.set_xlabel("band k")
        band_ax.set_ylabel("frequency f_k (cycles per unit)")
        band_ax.set_title(f"{int(state['aliased'].sum())} of {num_bands} bands above Nyquist (red)", fontsize=9)
        band_ax.legend(fontsize=7, loc="upper left")

        im = sim_ax.imshow(state["similarity"], cmap="viridis", interpolation="nearest")
        row, col = state["centre"]
        sim_ax.plot(col, row, "+", color="red", ms=10)
        sim_ax.set_title("similarity of each pixel's code to the centre's (+)", fontsize=9)
        sim_ax.set_xlabel("column (pixels)")
        sim_ax.set_ylabel("row (pixels)")
        fig.colorbar(im, ax=sim_ax, fraction=0.046, label="dot product / centre's")
        fig.suptitle(f"Fourier features: K = {num_bands} bands from 1 to μ/2 = {max_freq / 2:g}, "
                     f"on an axis of n = {n} pixels", fontsize=10)
        fig.subplots_adjust(left=0.06, right=0.97, bottom=0.08, top=0.9, wspace=0.45, hspace=0.4)
