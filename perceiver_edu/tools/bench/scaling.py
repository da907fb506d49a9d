"""Memory and time of a training step against the input size M (``bench --scaling``, and the plot)."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ..profiling import fit_power_law, format_bytes, peak_memory
from .implementations import BUILDERS, IMPLEMENTATIONS, BenchSpec, implementations_for
from .measure import TrainStep, time_steps

SCALING_SIDES = (32, 64, 128, 256, 448)  # M = side**2: 1,024 ... 200,704 inputs


@dataclass
class ScalingPoint:
    name: str
    num_inputs: int
    samples_per_s: float
    peak_bytes: int


def scaling(spec: BenchSpec, device: torch.device, sides=SCALING_SIDES, chunk_size: int | None = 4096,
            wanted=IMPLEMENTATIONS, max_others: int = 128, steps: int = 2, *, progress: bool = True,
            structures=("repeat", "single")) -> list[ScalingPoint]:
    """Training-step throughput and peak memory at growing image sizes (batch ``spec.batch_size``).

    Every implementation runs in the ``structures`` it supports (see the module docs);
    perceiver_edu also with ``cross_attend_chunk_size=chunk_size`` (unless None).
    The other implementations only run up to side ``max_others``.
    """
    from tqdm.auto import tqdm

    runs = []  # (label, implementation, spec at side 1)
    for structure in structures:
        s = replace(spec, structure=structure)
        for name in implementations_for(s, wanted):
            runs.append((f"{name} ({structure})", name, s))
            if name == "perceiver_edu" and chunk_size is not None:
                runs.append((f"{name} ({structure}, chunked)", name, replace(s, cross_attend_chunk_size=chunk_size)))
    points = []
    for side in tqdm(sides, desc="input sizes", disable=not progress, leave=False):
        for label, name, s in runs:
            if name != "perceiver_edu" and side > max_others:
                continue
            s = replace(s, image_size=side)
            torch.manual_seed(0)
            step = TrainStep(BUILDERS[name](s), s, device)
            peak = peak_memory(step, device)  # also the warm-up
            rate = time_steps(step, steps)
            points.append(ScalingPoint(label, s.num_inputs, rate, peak))
            del step
    return points


def format_scaling(points: list[ScalingPoint]) -> str:
    names = list(dict.fromkeys(p.name for p in points))
    sizes = sorted({p.num_inputs for p in points})
    rows = [f"{'implementation (structure)':<38} {'M':>9} {'samples/s':>10} {'peak memory':>12}"]
    for n in names:
        for m in sizes:
            p = next((p for p in points if p.name == n and p.num_inputs == m), None)
            if p is not None:
                rows.append(f"{n:<38} {m:>9,} {p.samples_per_s:>10.2f} {format_bytes(p.peak_bytes):>12}")
    fits = []
    for n in names:
        pts = [p for p in points if p.name == n]
        if len(pts) >= 3:
            exponent = fit_power_law([p.num_inputs for p in pts[-3:]], [p.peak_bytes for p in pts[-3:]])[0]
            fits.append(f"  {n}: peak memory ~ M^{exponent:.2f}")
    return "\n".join(rows + ["power law fitted on the three largest sizes:"] + fits)


def plot(results_points: list[ScalingPoint], path: Path, title: str) -> None:
    import matplotlib
    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg") and not os.environ.get("DISPLAY"):
        matplotlib.use("agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for name in dict.fromkeys(p.name for p in results_points):
        pts = [p for p in results_points if p.name == name]
        ms = [p.num_inputs for p in pts]
        ax1.plot(ms, [p.samples_per_s for p in pts], "o-", label=name)
        ax2.plot(ms, [p.peak_bytes / 2**20 for p in pts], "o-", label=name)
    for ax, label in ((ax1, "training throughput (samples/s)"), (ax2, "peak memory of a training step (MiB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("input size M (pixels)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)

