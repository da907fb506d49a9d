"""Chapter 1: the attention playground.

One query against a handful of keys: pick the query, the head width d, whether the scores are
divided by √d, and a temperature T; the figure shows the softmax weights over the keys and how their
entropy (nats) falls as the softmax sharpens.  Without the √d the spread of q·k grows with d and the
weights collapse onto one key; with it, the width of the head no longer decides how sharp they are.

    playground = AttentionPlayground()
    playground.update(d=1024, scaled=False)
    playground.state["entropy"]           # close to 0: one key takes (almost) all the weight
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ...model.attention import attention
from .toolkit import Interactive, choice, slider

TEMPERATURES = np.geomspace(0.1, 10.0, 41)  # the curve drawn in the right panel


def entropy(weights: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of distributions ``(..., M)``; 0·log 0 counts as 0."""
    w = weights.double()
    return -(w * w.clamp_min(1e-300).log()).sum(-1)


class AttentionPlayground(Interactive):
    """Softmax weights of one query over ``num_keys`` keys (see the module docstring)."""

    css_name = "attention-playground"

    def __init__(self, num_queries: int = 4, num_keys: int = 8, dims=(4, 16, 64, 256, 1024), seed: int = 0):
        if num_queries < 1 or num_keys < 2 or not dims:
            raise ValueError(f"need num_queries >= 1, num_keys >= 2 and at least one head width, got "
                             f"num_queries={num_queries}, num_keys={num_keys}, dims={tuple(dims)}")
        g = torch.Generator().manual_seed(seed)
        # standard-normal queries and keys, as the chapter's √d experiment: one pair per head width d
        self.qk = {int(d): (torch.randn(num_queries, d, generator=g), torch.randn(num_keys, d, generator=g))
                   for d in dims}
        self.num_keys = num_keys
        self._build({
            "query": slider("int", 0, 0, num_queries - 1, 1, "query"),
            "d": choice([int(d) for d in dims], 64 if 64 in self.qk else int(dims[0]), "head width d"),
            "scaled": choice([("÷ √d", True), ("no scaling", False)], True, "scores", buttons=True),
            "temperature": slider("log", 1.0, -1, 1, 0.05, "temperature T"),
        })

    def scale(self, d: int, scaled: bool, temperature: float) -> float:
        """What multiplies q·k: 1/(√d·T) or 1/T."""
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        return (1 / math.sqrt(d) if scaled else 1.0) / temperature

    def compute(self, *, query, d, scaled, temperature) -> dict:
        q, k = self.qk[d]
        _, weights, scores = attention(q[query:query + 1], k, k, scale=self.scale(d, scaled, temperature))
        curve = [entropy(attention(q[query:query + 1], k, k, scale=self.scale(d, scaled, t))[1][0]).item()
                 for t in TEMPERATURES]
        h = entropy(weights[0]).item()
        return {"scores": scores[0].numpy(), "weights": weights[0].numpy(), "entropy": h,
                "max_entropy": math.log(self.num_keys), "effective_keys": math.exp(h),
                "max_weight": weights.max().item(), "entropy_curve": np.array(curve)}

    def draw(self, fig, state, *, query, d, scaled, temperature) -> None:
        fig.set_size_inches(10, 3.4)
        left, right = fig.subplots(1, 2)
        keys = np.arange(self.num_keys)
        left.bar(keys, state["weights"], color="tab:blue")
        left.set_ylim(0, 1)
        left.set_xticks(keys)
        left.set_xlabel("key")
        left.set_ylabel("softmax weight")
        left.set_title(f"query {query}: weights over {self.num_keys} keys\nentropy {state['entropy']:.2f} nats "
                       f"(≈ {state['effective_keys']:.1f} keys), largest weight {state['max_weight']:.2f}", fontsize=9)
        right.semilogx(TEMPERATURES, state["entropy_curve"], color="tab:blue", label=f"d = {d}, "
                       + ("÷ √d" if scaled else "no scaling"))
        right.plot([temperature], [state["entropy"]], "o", color="tab:red", label=f"T = {temperature:.2g}")
        right.axhline(state["max_entropy"], color="grey", ls=":", label=f"uniform: ln {self.num_keys}")
        right.set_ylim(0, state["max_entropy"] * 1.1)
        right.set_xlabel("temperature T (log scale)")
        right.set_ylabel("entropy of the weights (nats)")
        right.set_title("higher T: flatter weights, higher entropy", fontsize=9)
        right.legend(fontsize=8, loc="lower right")
        fig.suptitle(f"softmax(q·k {'/ √d' if scaled else ''} / T), head width d = {d}", fontsize=10)
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.15, top=0.78, wspace=0.25)
