"""The ablations of chapter 5 as one figure: a panel per ablation, mean accuracy ± 2 SE per variant, each
panel on its own scale (a shared axis from chance upwards would hide differences of a point or two)."""
from __future__ import annotations

import matplotlib.pyplot as plt


def plot_ablations(run, chance: float = 0.1, title: str | None = None):
    """``run``: an :class:`~perceiver_edu.training.ablations.AblationRun`.  Returns the figure."""
    seeds = len(run.results) // max(1, len(run.summary))
    fig, axes = plt.subplots(1, len(run.ablations), figsize=(13, 3.4))
    for ax, (name, group) in zip(axes, run.ablations.items()):
        rows = [run.summary[v] for v in group]
        y = range(len(rows))
        ax.errorbar([100 * s.mean for s in rows], y, xerr=[200 * s.se for s in rows], fmt="o", capsize=4,
                    color="tab:blue", label=f"mean of {seeds} seeds ± 2 SE")
        for k, s in enumerate(rows):
            ax.plot([100 * a for a in s.accuracies], [k] * len(s.accuracies), "x", color="grey",
                    label="each seed" if k == 0 else None)
        ax.axvline(100 * chance, color="grey", ls="--", lw=1, label=f"chance ({100 * chance:.0f} %)")
        ax.set_yticks(list(y), [s.variant.name for s in rows], fontsize=8)
        ax.set_ylim(-0.6, len(rows) - 0.4)
        ax.set_title(name)
        ax.set_xlabel("test accuracy (%)")
        ax.grid(axis="x", alpha=0.3)
        lo = min(100 * min(min(s.accuracies), s.mean - 2 * s.se) for s in rows)
        hi = max(100 * max(max(s.accuracies), s.mean + 2 * s.se) for s in rows)
        if name == "positions":  # the one panel that shows chance
            lo = min(lo, 100 * chance)
        ax.set_xlim(lo - 3, hi + 3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=8, frameon=False)
    n_test = run.results[0].n_test if run.results else 0
    fig.suptitle(title or f"Ablations on Fashion-MNIST: {run.budget.steps} steps of {run.budget.batch_size} images, "
                          f"{n_test:,} test images (each panel on its own scale)")
    fig.tight_layout(rect=(0, 0.08, 1, 1))  # room for the legend below the panels
    return fig


__all__ = ["plot_ablations"]
