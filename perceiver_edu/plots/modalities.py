"""Figures for the modality chapters (7-10): accuracy comparisons, loss curves, audio + attention.

Every function returns its matplotlib figure, titled and with labelled axes (units included).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch


def accuracy_bars(results: Mapping[str, Mapping[str, float]], title: str = "Test accuracy",
                  chance: float | None = None, ylabel: str = "test accuracy (%)"):
    """Grouped bars: ``results[model][condition]`` accuracies in [0, 1], e.g.
    ``{"CNN": {"raw": 0.85, "permuted": 0.6}, ...}``; one group per model, one bar per condition,
    each bar labelled with its value in %.  ``chance`` draws a dashed line at chance level."""
    models = list(results)
    if not models:
        raise ValueError("results is empty: expected {model: {condition: accuracy}}")
    conditions = list(dict.fromkeys(c for m in models for c in results[m]))
    width = 0.8 / len(conditions)
    x = np.arange(len(models))
    fig, ax = plt.subplots(figsize=(3.2 + 1.5 * len(models), 3.6))
    for j, cond in enumerate(conditions):
        values = [100 * results[m].get(cond, float("nan")) for m in models]
        bars = ax.bar(x + (j - (len(conditions) - 1) / 2) * width, values, width, label=cond)
        ax.bar_label(bars, fmt="%.1f", fontsize=8, padding=2)
    if chance is not None:
        ax.axhline(100 * chance, color="gray", ls="--", lw=1, label="chance")
    ax.set_xticks(x, models)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 105)
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)  # outside the axes: never over a bar
    fig.tight_layout()
    return fig


def loss_curves(histories: Mapping[str, object], window: int = 20, title: str = "Training loss"):
    """Running-mean training loss of several :class:`~perceiver_edu.training.fit.History` runs against the
    optimizer step."""
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    for name, h in histories.items():
        smooth = h.smoothed(window)
        ax.plot(np.arange(len(smooth)) + min(window, h.steps), smooth.numpy(), label=name)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(f"cross-entropy (running mean of {window} steps)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def before_after_images(images: torch.Tensor, transformed: torch.Tensor, labels=None, classes=None,
                        rows: Sequence[str] = ("original", "permuted"), title: str = ""):
    """Two rows of images ``(B, 1, H, W)``: the originals above, the transformed ones below."""
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(1.35 * n + 0.8, 3.2), squeeze=False)
    for row, batch in enumerate((images, transformed)):
        for i in range(n):
            ax = axes[row, i]
            ax.imshow(batch[i].detach().cpu().reshape(batch.shape[-2], batch.shape[-1]).numpy(), cmap="gray")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0 and labels is not None:
                ax.set_title(classes[int(labels[i])] if classes is not None else str(int(labels[i])), fontsize=8)
        axes[row, 0].set_ylabel(rows[row])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def audio_attention_figure(waveforms: torch.Tensor, spectrograms: torch.Tensor, attention: Sequence[torch.Tensor],
                           sample_rate: int, names: Sequence[str], attention_labels: Sequence[str] = (),
                           title: str = "", spectrogram_label: str = "mel band"):
    """One column per recording: waveform, spectrogram, and attention over time.

    Args:
        waveforms: ``(R, T)`` samples.
        spectrograms: ``(R, F, frames)`` (e.g. log-mel) spanning the same ``T / sample_rate`` seconds.
        attention: curves ``(R, L)``, each over its own ``L`` evenly spaced times spanning the
            recording, as a density: the share of a cross-attend's weight on each sample (or
            frame) divided by its duration in seconds, so that curves of different resolutions
            share one scale; one curve per entry, labelled by ``attention_labels``.
        names: one title per recording.
    """
    r, t = waveforms.shape
    seconds = t / sample_rate
    fig, axes = plt.subplots(3, r, figsize=(3.2 * r, 6.6), squeeze=False, sharex="col")
    for i in range(r):
        time_axis = np.arange(t) / sample_rate
        axes[0, i].plot(time_axis, waveforms[i].cpu().numpy(), lw=0.5)
        axes[0, i].set_title(names[i], fontsize=9)
        axes[1, i].imshow(spectrograms[i].cpu().numpy(), origin="lower", aspect="auto", cmap="magma",
                          extent=(0, seconds, 0, spectrograms.shape[1]))
        for j, curve in enumerate(attention):
            c = curve[i].detach().cpu().numpy()
            axes[2, i].plot(np.linspace(0, seconds, len(c)), c, lw=1,
                            label=attention_labels[j] if j < len(attention_labels) else None)
        axes[2, i].set_xlabel("time (s)")
    axes[0, 0].set_ylabel("amplitude")
    axes[1, 0].set_ylabel(spectrogram_label)
    axes[2, 0].set_ylabel("attention weight\nper second (1/s)")
    if len(attention_labels):
        axes[2, 0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


__all__ = ["accuracy_bars", "audio_attention_figure", "before_after_images", "loss_curves"]
