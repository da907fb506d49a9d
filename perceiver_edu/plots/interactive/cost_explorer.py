"""Chapter 2: the cost explorer, self- vs cross-attention.

Counted, for one head and one example: self-attention over M inputs forms an M × M score matrix,
cross-attention from N latents an N × M one.  Each costs 2·rows·M·D multiply-adds for q·kᵀ and as
many for weights·V (FLOPs = 2 × multiply-adds), and holds two float32 matrices of that size at once
(the scores and their softmax).  Sliders for M, N and D move the formula; the points are *measured*
peak memory of the package's :func:`~perceiver_edu.model.attention.attention` on this machine
(:mod:`perceiver_edu.tools.profiling`), taken once when the explorer is built.

    costs = CostExplorer()
    costs.update(M=2 * costs.M.value)       # cross-attention FLOPs ×2, self-attention ×4
"""
from __future__ import annotations

import numpy as np
import torch

from ...model.attention import attention
from ...tools.profiling import fit_power_law, format_bytes, peak_memory, torch_threads
from .toolkit import Interactive, selection

POWERS_OF_TWO = [2 ** p for p in range(5, 19)]  # 32 ... 262,144
BYTES_PER_FLOAT = 4


def attention_flops(queries: int, keys: int, dim: int) -> int:
    """FLOPs of one attention head: q·kᵀ and weights·V, each ``queries·keys·dim`` multiply-adds."""
    return 2 * 2 * queries * keys * dim


def attention_bytes(queries: int, keys: int) -> int:
    """Bytes of the float32 scores and softmax weights ``(queries, keys)``, both alive at once."""
    return 2 * BYTES_PER_FLOAT * queries * keys


def measure_attention(sizes, num_latents: int, dim: int) -> dict:
    """Measured peak memory (bytes, :func:`~perceiver_edu.tools.profiling.peak_memory`) of self- and
    cross-attention at each M: what the call allocated on top of its inputs, its output included."""
    out = {"sizes": list(sizes), "num_latents": num_latents, "dim": dim}
    g = torch.Generator().manual_seed(0)
    with torch_threads(1):
        for kind in ("self", "cross"):
            peaks = []
            for m in sizes:
                x = torch.randn(1, m, dim, generator=g)  # (1, M, D) inputs: keys and values
                q = x if kind == "self" else torch.randn(1, num_latents, dim, generator=g)  # (1, M or N, D)
                peaks.append(peak_memory(lambda: attention(q, x, x)))
            out[kind] = {"peak_bytes": peaks}
    return out


class CostExplorer(Interactive):
    """FLOPs and memory of self- vs cross-attention as M, N and D change (see the module docstring)."""

    css_name = "cost-explorer"

    def __init__(self, measured_sizes=(256, 512, 1024, 2048), num_latents: int = 64, dim: int = 64,
                 measured: dict | None = None):
        for name, value in (("num_latents", num_latents), ("dim", dim)):
            if value not in POWERS_OF_TWO:
                raise ValueError(f"{name} must be a power of two in {POWERS_OF_TWO[0]}..{POWERS_OF_TWO[-1]}, got {value}")
        self.measured = measured if measured is not None else measure_attention(measured_sizes, num_latents, dim)
        self.slopes = {kind: fit_power_law(self.measured["sizes"], self.measured[kind]["peak_bytes"])[0]
                       for kind in ("self", "cross")}
        self._build({
            "M": selection(POWERS_OF_TWO, 4096, "inputs M"),
            "N": selection(POWERS_OF_TWO[:-6], num_latents, "latents N"),
            "D": selection(POWERS_OF_TWO[:-8], dim, "width D"),
        })

    def compute(self, *, M, N, D) -> dict:
        return {"flops_self": attention_flops(M, M, D), "flops_cross": attention_flops(N, M, D),
                "bytes_self": attention_bytes(M, M), "bytes_cross": attention_bytes(N, M),
                "ratio": M / N}

    def draw(self, fig, state, *, M, N, D) -> None:
        fig.set_size_inches(10, 3.6)
        left, right = fig.subplots(1, 2)
        ms = np.array(POWERS_OF_TWO, dtype=float)
        left.loglog(ms, attention_flops(ms, ms, D), color="tab:red", label="self-attention: 4·M²·D")
        left.loglog(ms, attention_flops(N, ms, D), color="tab:blue", label=f"cross-attention: 4·N·M·D (N = {N})")
        left.plot([M, M], [state["flops_cross"], state["flops_self"]], "o", color="black")
        left.set_xlabel("inputs M (log scale)")
        left.set_ylabel("FLOPs per head (log scale)")
        left.set_title(f"at M = {M:,}: self {state['flops_self']:.2e}, cross {state['flops_cross']:.2e} FLOPs\n"
                       f"ratio M/N = {state['ratio']:g}", fontsize=9)
        right.loglog(ms, attention_bytes(ms, ms), color="tab:red", label="self: 2·4·M² bytes (formula)")
        right.loglog(ms, attention_bytes(N, ms), color="tab:blue", label=f"cross: 2·4·N·M bytes, N = {N} (formula)")
        sizes, n0 = self.measured["sizes"], self.measured["num_latents"]
        right.plot(sizes, self.measured["self"]["peak_bytes"], "s", color="tab:red", mfc="none",
                   label=f"self, measured (slope {self.slopes['self']:.2f})")
        right.plot(sizes, self.measured["cross"]["peak_bytes"], "s", color="tab:blue", mfc="none",
                   label=f"cross, measured at N = {n0} (slope {self.slopes['cross']:.2f})")
        if N != n0:  # the formula where the squares were measured, to compare like with like
            right.loglog(ms, attention_bytes(n0, ms), color="tab:blue", ls=":", lw=1, label=f"cross formula, N = {n0}")
        right.plot([M, M], [state["bytes_cross"], state["bytes_self"]], "o", color="black")
        right.set_xlabel("inputs M (log scale)")
        right.set_ylabel("memory (bytes, log scale)")
        right.set_title(f"at M = {M:,}: self {format_bytes(state['bytes_self'])}, "
                        f"cross {format_bytes(state['bytes_cross'])}", fontsize=9)
        for ax in (left, right):
            ax.legend(fontsize=7, loc="upper left")
            ax.minorticks_off()  # hundreds of minor tick lines cost more to draw than the rest
        fig.suptitle(f"One attention head, one example, width D = {D}: the formula (lines) and, for memory, "
                     f"measurements on this machine (squares)", fontsize=9)
        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.14, top=0.8, wspace=0.28)
