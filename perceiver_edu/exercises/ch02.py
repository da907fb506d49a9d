"""Chapter 2 exercises: cross-attention and the latent bottleneck.

As in chapter 1, a wrong answer is compared with the typical mistakes (each computed from the
reference with one thing changed) so that the hint names the mistake that was made.
"""
from __future__ import annotations

import math

import torch

from ..model.blocks import CrossAttention
from .core import Hint, exercise
from .helpers import close, expect_number, expect_tensor, randn


def crossover_reference(num_latents: int, num_layers: int) -> int:
    """Smallest M at which L self-attention layers over M inputs have more score entries (L·M²) than one
    cross-attend from N latents plus L latent self-attention layers (N·M + L·N²)."""
    n, layers = num_latents, num_layers
    root = n * (1 + math.sqrt(1 + 4 * layers**2)) / (2 * layers)  # L M² = N M + L N²
    m = math.floor(root)
    while layers * m * m <= n * m + layers * n * n:  # the first whole M strictly past the root
        m += 1
    return m


def _smallest(cost_self, cost_perceiver) -> int:
    m = 1
    while cost_self(m) <= cost_perceiver(m):
        m += 1
    return m


@exercise("2.1", "Predict, then measure: when cross-attention pays off", difficulty=2, chapter=2,
          teaches="counting score entries: L·M² for a Transformer on the inputs, N·M + L·N² for the Perceiver")
def check_crossover(fn):
    for n, layers in [(64, 4), (128, 1), (512, 6), (10, 3)]:
        want = crossover_reference(n, layers)
        got_value = expect_number(fn(n, layers), f"crossover_inputs({n}, {layers}), the number of inputs M,")
        if got_value == want:
            continue
        wrong = {
            "no_latent_layers": (_smallest(lambda m: layers * m * m, lambda m: n * m),
                                 "the Perceiver also runs its L latent self-attention layers: L·N² more score entries"),
            "no_cross_attend": (_smallest(lambda m: layers * m * m, lambda m: layers * n * n),
                                "the Perceiver's cross-attend has N·M score entries of its own"),
            "one_self_layer": (_smallest(lambda m: m * m, lambda m: n * m + layers * n * n),
                               "the Transformer on the inputs has L layers too: L·M² score entries"),
            "equal": (want - 1, "strictly cheaper: at the M you returned both cost the same or the Perceiver costs more"),
        }
        for value, hint in wrong.values():
            if got_value == value:
                raise Hint(hint)
        if got_value != round(got_value) and abs(got_value - want) < 1:
            raise Hint(f"{got_value:g} is where the two costs are equal; return the smallest whole number of inputs "
                       f"M at which the Perceiver is strictly cheaper")
        raise Hint(f"for N = {n} latents and L = {layers} layers expected M = {want} (L·M² > N·M + L·N² first holds "
                   f"there), got {got_value:g}")


def _cross_attend_reference(latents, inputs, w_q, w_k, w_v, mistake: str | None = None):
    q, k, v = latents @ w_q, inputs @ w_k, inputs @ w_v  # (B, N, d), (B, M, d), (B, M, d_v)
    scale = {"no_scale": 1.0, "latent_width": math.sqrt(latents.shape[-1])}.get(mistake, math.sqrt(q.shape[-1]))
    scores = q @ k.transpose(-2, -1) / scale  # (B, N, M)
    return scores.softmax(dim=-2 if mistake == "softmax_over_latents" else -1) @ v


@exercise("2.2", "Cross-attention of latents over inputs", difficulty=2, chapter=2,
          teaches="queries from the latents, keys and values from the inputs: an (N, M) attention")
def check_cross_attend(fn):
    mistakes = {
        "no_scale": "forgot the scaling: divide the scores by √d",
        "latent_width": "scale by √d with d the width of the projected queries and keys (w_q.shape[1]), "
                        "not the width D of the latent array",
        "softmax_over_latents": "each latent's attention weights must sum to 1 over the inputs: "
                                "softmax over the last axis (dim=-1), not over the latents",
    }
    # (B, N, D, M, C, d, d_v): N != M, D != d, C != D so that mix-ups show.
    for seed, (b, n, dl, m, c, d, dv) in enumerate([(2, 3, 12, 7, 5, 4, 6), (1, 8, 16, 30, 3, 8, 8)]):
        latents, inputs = randn(b, n, dl, seed=seed), randn(b, m, c, seed=10 + seed)
        w_q, w_k, w_v = randn(dl, d, seed=20 + seed), randn(c, d, seed=30 + seed), randn(c, dv, seed=40 + seed)
        want = _cross_attend_reference(latents, inputs, w_q, w_k, w_v)
        got = expect_tensor(fn(latents.clone(), inputs.clone(), w_q, w_k, w_v), "cross_attend(...)")
        if got.shape != want.shape:
            if got.shape[:2] == (b, m):
                raise Hint(f"shape (B, N, d_v) = {tuple(want.shape)} expected (one row per latent), got "
                           f"{tuple(got.shape)}: the queries come from the latents, the keys and values from the inputs")
            raise Hint(f"shape (B, N, d_v) = {tuple(want.shape)} expected, got {tuple(got.shape)}")
        if close(got, want, atol=1e-4):
            continue
        for mistake, hint in mistakes.items():
            if close(got, _cross_attend_reference(latents, inputs, w_q, w_k, w_v, mistake), atol=1e-4):
                raise Hint(hint)
        raise Hint(f"values differ from softmax(q kᵀ/√d) v with q = latents @ w_q, k = inputs @ w_k, "
                   f"v = inputs @ w_v (max difference {(got - want).abs().max().item():.3g})")


def _block_reference(block: CrossAttention, latents, inputs, mistake: str | None = None):
    x_latents = latents if mistake == "no_latent_norm" else block.latent_norm(latents)   # (B, N, D)
    x_inputs = inputs if mistake == "no_input_norm" else block.input_norm(inputs)         # (B, M, C)
    attended = block.attn(x_latents, x_inputs)                                            # (B, N, D)
    if mistake == "no_attn_residual":
        z = attended
    elif mistake == "residual_of_normed":
        z = x_latents + attended
    else:
        z = latents + attended
    if mistake == "no_mlp_residual":
        return block.mlp(z)
    if mistake == "mlp_on_latents":
        return z + block.mlp(latents)
    return z + block.mlp(z)


@exercise("2.3", "The cross-attention block: pre-LN, residual, MLP", difficulty=3, chapter=2,
          teaches="LayerNorm before attention on both arrays, the two residual connections")
def check_cross_block(fn):
    mistakes = {
        "no_attn_residual": "forgot the residual around the attention? latents + attn(...): the block adds "
                            "what it read to the latents, it does not replace them",
        "no_mlp_residual": "forgot the residual around the MLP? z + block.mlp(z)",
        "residual_of_normed": "the residual adds the attention output to the latents *before* LayerNorm: "
                              "normalise a copy for the attention, keep the original for the sum",
        "no_input_norm": "normalise the inputs too (block.input_norm) before the attention: pre-LN on both arrays",
        "no_latent_norm": "normalise the latents (block.latent_norm) before they become queries (pre-LN)",
        "mlp_on_latents": "the MLP reads the latents *after* the attention residual, not the block's input",
    }
    for seed, (b, n, d, m, c, heads) in enumerate([(2, 4, 16, 9, 6, 1), (1, 8, 8, 20, 3, 2)]):
        torch.manual_seed(seed)
        block = CrossAttention(latent_dim=d, input_channels=c, num_heads=heads).eval()
        with torch.no_grad():  # random LayerNorm gains and biases, so that forgetting a norm shows
            for name, p in block.named_parameters():
                if "norm" in name:
                    p.copy_(1 + 0.5 * torch.randn_like(p) if name.endswith("weight") else 0.5 * torch.randn_like(p))
        latents, inputs = randn(b, n, d, seed=seed), 3 * randn(b, m, c, seed=10 + seed) + 1
        with torch.no_grad():
            want = block(latents, inputs)
            got = expect_tensor(fn(block, latents.clone(), inputs.clone()), "your block output")
            if got.shape != want.shape:
                raise Hint(f"shape (B, N, D) = {tuple(want.shape)} expected (the updated latents), got {tuple(got.shape)}")
            if close(got, want, atol=1e-4):
                continue
            for mistake, hint in mistakes.items():
                if close(got, _block_reference(block, latents, inputs, mistake), atol=1e-4):
                    raise Hint(hint)
        raise Hint(f"your output differs from CrossAttention's (max difference "
                   f"{(got - want).abs().max().item():.3g}): latents + attn(LN(latents), LN(inputs)), then + MLP")
