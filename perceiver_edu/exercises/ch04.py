"""Chapter 4 exercises: the latent transformer, weight sharing, the full Perceiver's forward and its
parameter count.

Each checker runs the learner's answer on seeded models and inputs of several shapes, compares it
with the package (:mod:`perceiver_edu.model.blocks`, :mod:`perceiver_edu.model.perceiver`) and, when it
differs, rebuilds the typical mistakes one by one so that the hint can name the one made.
"""
from __future__ import annotations

import torch
from torch import nn

from ..model.blocks import CrossAttention, LatentTransformer, SelfAttention
from ..model.params import count_parameters
from ..model.perceiver import Perceiver, PerceiverConfig
from .core import Hint, exercise
from .helpers import close, expect_tensor, randn


# -- 4.1 ---------------------------------------------------------------------------------------
@exercise("4.1", "Project, then average: does the order matter?", difficulty=1, chapter=4,
          teaches="the head applied to every latent, then the mean over the latents; a Linear head commutes "
                  "with the mean, a LayerNorm in front of it does not")
def check_project_then_average(fn):
    for seed, (b, n, d, classes) in enumerate([(2, 5, 8, 3), (3, 7, 16, 10)]):
        torch.manual_seed(seed)
        head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, classes))
        with torch.no_grad():
            head[0].weight.uniform_(0.5, 1.5)  # a non-trivial LayerNorm, so that skipping it shows
            head[0].bias.normal_()
        latents = randn(b, n, d, seed=seed) * 2 + 1
        with torch.no_grad():
            want = head(latents).mean(dim=1)  # (B, N, classes) -> (B, classes)
            got = expect_tensor(fn(latents.clone(), head), "project_then_average(latents, head)")
            if got.shape != want.shape:
                if got.shape == (n, classes):
                    raise Hint("you averaged over the batch (dim=0): average over the latents, dim=1")
                if got.shape == (b, n, classes):
                    raise Hint("you projected every latent but did not average: take the mean over the latents "
                               "(dim=1) of the (B, N, classes) logits")
                raise Hint(f"logits of shape (B, classes) = {tuple(want.shape)} expected, got {tuple(got.shape)}")
            if close(got, want):
                continue
            if close(got, head(latents.mean(dim=1))):
                raise Hint("you averaged first and then applied the head (the package's order); this exercise asks "
                           "for the other order: the head on every latent, (B, N, classes), then the mean over dim=1")
            if close(got, head(latents).sum(dim=1)):
                raise Hint("you summed over the latents: average them (mean over dim=1)")
            if close(got, head(latents[:, 0])):
                raise Hint("you used only the first latent: apply the head to all N latents, then average")
            if close(got, head[1](latents).mean(dim=1)):
                raise Hint("the LayerNorm is missing: apply the whole head (LayerNorm, then Linear) to every latent")
            raise Hint(f"logits differ from head(latents).mean(dim=1) (max difference "
                       f"{(got - want).abs().max().item():.3g})")


# -- 4.2 ---------------------------------------------------------------------------------------
def _self_attention_variant(layer: SelfAttention, latents, mistake: str):
    x = layer.norm(latents)
    if mistake == "post_ln":  # GPT-1 / original Transformer order
        h = layer.norm(latents + layer.attn(latents, latents))
        return h + layer.mlp(h)
    if mistake == "no_norm":
        h = latents + layer.attn(latents, latents)
        return h + layer.mlp(h)
    if mistake == "no_attn_residual":
        h = layer.attn(x, x)
        return h + layer.mlp(h)
    if mistake == "no_mlp_residual":
        h = latents + layer.attn(x, x)
        return layer.mlp(h)
    if mistake == "residual_from_normed":
        h = x + layer.attn(x, x)
        return h + layer.mlp(h)
    if mistake == "mlp_from_before_attn":
        return latents + layer.attn(x, x) + layer.mlp(latents)
    if mistake == "norm_before_mlp":  # layer.norm reused in front of an MLP that has its own LayerNorm
        h = latents + layer.attn(x, x)
        return h + layer.mlp(layer.norm(h))
    raise ValueError(mistake)


@exercise("4.2", "One latent self-attention layer", difficulty=2, chapter=4,
          teaches="GPT-2 style pre-LayerNorm: x + attn(LN(x)), then x + MLP(x), both with residuals")
def check_self_attention(fn):
    hints = {
        "post_ln": "you normalised after the residual (post-LN); the Perceiver uses pre-LN like GPT-2: "
                   "latents + attn(norm(latents)), the residual stream itself is never normalised",
        "no_norm": "the LayerNorm is missing: attention reads layer.norm(latents)",
        "no_attn_residual": "the residual around the attention is missing: latents = latents + attn(...)",
        "no_mlp_residual": "the residual around the MLP is missing: latents = latents + layer.mlp(latents)",
        "residual_from_normed": "the residual adds the attention output to the *un-normalised* latents, "
                                "not to norm(latents)",
        "mlp_from_before_attn": "the MLP reads the latents *after* the attention update, not before",
        "norm_before_mlp": "layer.mlp starts with its own LayerNorm: pass it the latents as they are, "
                           "not layer.norm(latents) (layer.norm belongs to the attention)",
    }
    for seed, (b, n, d, heads) in enumerate([(2, 4, 8, 2), (3, 6, 16, 4)]):
        torch.manual_seed(seed)
        layer = SelfAttention(d, num_heads=heads).eval()
        with torch.no_grad():
            layer.norm.weight.uniform_(0.5, 1.5)
            layer.norm.bias.normal_()
        latents = randn(b, n, d, seed=10 + seed) * 3 + 1
        with torch.no_grad():
            want = layer(latents)
            got = expect_tensor(fn(layer, latents.clone()), "your layer's output")
            if got.shape != want.shape:
                raise Hint(f"the layer keeps the latent shape (B, N, D) = {tuple(want.shape)}, got {tuple(got.shape)}")
            if close(got, want, atol=1e-4):
                continue
            for mistake, hint in hints.items():
                if close(got, _self_attention_variant(layer, latents, mistake), atol=1e-4):
                    raise Hint(hint)
        raise Hint(f"output differs from SelfAttention's (max difference {(got - want).abs().max().item():.3g})")


# -- 4.3 ---------------------------------------------------------------------------------------
CONFIGS_4_3 = [
    dict(input_channels=35, num_classes=10, num_latents=16, latent_dim=32, num_cross_attends=4,
         self_attends_per_block=2, self_heads=4, share_weights=True),
    dict(input_channels=35, num_classes=10, num_latents=16, latent_dim=32, num_cross_attends=4,
         self_attends_per_block=2, self_heads=4, share_weights=False),
    dict(input_channels=7, num_classes=3, num_latents=8, latent_dim=16, num_cross_attends=1,
         self_attends_per_block=3, self_heads=2, share_weights=True),
    dict(input_channels=11, num_classes=5, num_latents=4, latent_dim=24, num_cross_attends=6,
         self_attends_per_block=1, self_heads=3, cross_heads=2, share_weights=True),
]


@exercise("4.3", "Parameter count with and without weight sharing", difficulty=2, chapter=4,
          teaches="which blocks exist once and which are reused: first cross-attend unshared, the rest shared")
def check_parameter_count(fn):
    for kwargs in CONFIGS_4_3:
        c = PerceiverConfig(**kwargs)
        want = count_parameters(Perceiver(c))
        got = fn(c)
        if not isinstance(got, int) and not (isinstance(got, torch.Tensor) and got.numel() == 1):
            raise Hint(f"return the count as an int, got {type(got).__name__}")
        got = int(got)
        if got == want:
            continue
        cross = count_parameters(CrossAttention(c.latent_dim, c.input_channels, c.cross_heads, c.widening))
        latent = count_parameters(LatentTransformer(c.latent_dim, c.self_attends_per_block, c.self_heads, c.widening))
        latents, head = c.num_latents * c.latent_dim, 2 * c.latent_dim + c.latent_dim * c.num_classes + c.num_classes
        r = c.num_cross_attends
        setting = (f"num_cross_attends={r}, share_weights={c.share_weights}")
        if got == want - latents:
            raise Hint(f"the latent array itself is a parameter: N·D = {latents} ({setting})")
        if got == want - head:
            raise Hint(f"the classification head is missing: LayerNorm (2·D) + Linear (D·classes + classes) "
                       f"= {head} ({setting})")
        if c.share_weights and r > 1:
            if got == latents + head + r * (cross + latent):
                raise Hint(f"with share_weights=True the repeats reuse blocks: there are only "
                           f"min(num_cross_attends, 2) cross-attends and one latent transformer ({setting})")
            if got == latents + head + cross + latent:
                raise Hint(f"with sharing there are *two* cross-attention blocks when num_cross_attends > 1: the "
                           f"first is not shared, the second serves every later repeat ({setting})")
            if got == latents + head + 2 * (cross + latent):
                raise Hint(f"with sharing all repeats use one latent transformer; only the cross-attends come in two "
                           f"({setting})")
        if not c.share_weights and got == latents + head + min(r, 2) * cross + latent:
            raise Hint(f"without sharing every repeat has its own cross-attend and latent transformer ({setting})")
        if c.share_weights and r == 1 and got == latents + head + 2 * cross + latent:
            raise Hint(f"with a single cross-attend there is only one cross-attention block ({setting})")
        raise Hint(f"expected {want:,} parameters for {setting}, got {got:,}")


# -- 4.4 ---------------------------------------------------------------------------------------
def _per_repeat_variant(model: Perceiver, x, mistake: str | None = None):
    latents = model.latents.expand(x.shape[0], -1, -1)
    out = []
    for i in range(model.config.num_cross_attends):
        if mistake == "share_first":
            cross = model.cross_attends[0]
        elif mistake == "last_for_all":
            cross = model.cross_attends[-1]
        else:
            cross = model.cross_attends[min(i, len(model.cross_attends) - 1)]
        latent_tf = model.latent_transformers[min(i, len(model.latent_transformers) - 1)]
        latents = cross(latents, x)
        if mistake == "before_latent_transformer":
            out.append(model.head(latents.mean(dim=1)))
        if mistake != "no_latent_transformer":
            latents = latent_tf(latents)
        if mistake != "before_latent_transformer":
            out.append(model.head(latents.mean(dim=1)))
        if mistake == "restart":
            latents = model.latents.expand(x.shape[0], -1, -1)
    return out


@exercise("4.4", "Logits after every repeat: the forward loop written out", difficulty=3, chapter=4,
          teaches="repeat [cross-attend -> latent transformer] with the right (shared) blocks, carrying the "
                  "latents over; the head can read them after any repeat")
def check_forward(fn):
    hints = {
        "share_first": "repeats after the first must use the *second* cross-attention block "
                       "(cross_attends[min(i, len - 1)]); you reused the first one everywhere",
        "last_for_all": "the first repeat has its own cross-attention block cross_attends[0]; only later "
                        "repeats share cross_attends[1]",
        "no_latent_transformer": "each cross-attend is followed by the latent transformer of that repeat",
        "before_latent_transformer": "read the logits after the repeat's latent transformer, not between the "
                                     "cross-attend and the latent transformer",
        "restart": "each repeat continues from the latents the previous repeat produced; you restarted from "
                   "the learned initial latents",
    }
    cases = [dict(num_cross_attends=3, share_weights=True, cross_heads=1),
             dict(num_cross_attends=3, share_weights=False, cross_heads=2),
             dict(num_cross_attends=1, share_weights=True, cross_heads=1),
             dict(num_cross_attends=4, share_weights=True, cross_heads=2)]
    for seed, kw in enumerate(cases):
        torch.manual_seed(seed)
        model = Perceiver(PerceiverConfig(input_channels=6, num_classes=4, num_latents=5, latent_dim=16,
                                          self_attends_per_block=1, self_heads=2, **kw)).eval()
        x = randn(2, 9, 6, seed=100 + seed)
        setting = f"num_cross_attends={kw['num_cross_attends']}, share_weights={kw['share_weights']}"
        with torch.no_grad():
            want = _per_repeat_variant(model, x)
            result = fn(model, x.clone())
            if isinstance(result, torch.Tensor):
                raise Hint("return a list with one (B, classes) tensor of logits per repeat, not one tensor")
            result = list(result)
            if len(result) != len(want):
                raise Hint(f"one logits tensor per repeat: {len(want)} expected ({setting}), got {len(result)}")
            for got, w in zip(result, want):
                got = expect_tensor(got, "each repeat's logits")
                if got.shape != w.shape:
                    if got.dim() == 3:
                        raise Hint("average the latents (dim=1) before the head: logits are (B, classes), "
                                   f"got {tuple(got.shape)}")
                    raise Hint(f"each repeat's logits have shape (B, classes) = {tuple(w.shape)}, got {tuple(got.shape)}")
            if all(close(g, w, 1e-4) for g, w in zip(result, want)):
                if not close(want[-1], model(x), 1e-4):  # the package's own forward is the last entry
                    raise Hint("internal check failed: the last repeat's logits should be model(x)")
                continue
            for mistake, hint in hints.items():
                if all(close(g, w, 1e-4) for g, w in zip(result, _per_repeat_variant(model, x, mistake))):
                    raise Hint(f"{hint} ({setting})")
            bad = next(i for i, (g, w) in enumerate(zip(result, want)) if not close(g, w, 1e-4))
            raise Hint(f"the logits after repeat {bad + 1} differ ({setting}): check which blocks repeat {bad + 1} "
                       f"uses and that the latents carry over from the previous repeat")


# -- 4.5 ---------------------------------------------------------------------------------------
PAPER_SIZES = dict(input_channels=3 + 2 * (2 * 64 + 1), num_classes=1000, num_latents=512, latent_dim=1024,
                   num_cross_attends=8, self_attends_per_block=6, self_heads=8, cross_heads=1, share_weights=True)


def _formula(widening: int, mistake: str | None = None) -> int:
    s = PAPER_SIZES
    d, c, w = s["latent_dim"], s["input_channels"], widening
    self_attend = (4 + 2 * w) * d * d + (9 + w) * d  # LN, q/k/v/out projections, LN + MLP d -> wd -> d
    cross_w = 4 if mistake == "cross_mlp_fixed" else w
    cross = (2 + 2 * cross_w) * d * d + 2 * c * d + (9 + cross_w) * d + 2 * c
    if mistake == "no_biases":
        self_attend, cross = (4 + 2 * w) * d * d, (2 + 2 * w) * d * d + 2 * c * d
    latent_transformer = s["self_attends_per_block"] * self_attend
    head = 2 * d + d * s["num_classes"] + s["num_classes"]
    n_cross, n_latent = {"unshared": (8, 8), "one_cross": (1, 1), "latent_per_repeat": (2, 8)}.get(mistake, (2, 1))
    latents = 0 if mistake == "no_latents" else s["num_latents"] * d
    return latents + n_cross * cross + n_latent * latent_transformer + (0 if mistake == "no_head" else head)


@exercise("4.5", "Predict, then count: the paper-sized model at another MLP widening", difficulty=2, chapter=4,
          teaches="the parameter formula of every block as a function of the MLP widening w, and which blocks "
                  "weight sharing keeps")
def check_widening_count(fn):
    hints = {
        "cross_mlp_fixed": "the cross-attend's MLP widens too: it has 2·w·D² weights, like the self-attends'",
        "latent_per_repeat": "with sharing, all 8 repeats use *one* latent transformer",
        "unshared": "with sharing there are two cross-attention blocks and one latent transformer, not one per repeat",
        "one_cross": "with sharing there are *two* cross-attention blocks: the first is not shared",
        "no_head": "the head is missing: LayerNorm (2·D) + Linear (D·classes + classes)",
        "no_latents": "the learned latent array is a parameter too: N·D",
        "no_biases": "the weights are right; the biases and LayerNorm parameters are missing",
    }
    for widening in (2, 1, 3, 4):
        with torch.device("meta"):  # shapes only: no memory
            want = count_parameters(Perceiver(PerceiverConfig(widening=widening, **PAPER_SIZES)))
        got = fn(widening)
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            raise Hint(f"return the number of parameters, got {type(got).__name__}")
        if got == want:
            continue
        for mistake, hint in hints.items():
            if got == _formula(widening, mistake):
                raise Hint(f"{hint} (widening={widening}: {want:,} expected, got {got:,.0f})")
        if abs(got - want) / want < 0.01:
            raise Hint(f"within 1 % but not exact at widening={widening} ({got:,.0f} vs {want:,}): count the biases "
                       f"and the LayerNorms' scale and bias too")
        if widening != 4 and got == _formula(4):
            raise Hint(f"that is the count at widening 4 (chapter 4's table); the MLPs' size depends on the widening "
                       f"w: Linear(D, w·D) and Linear(w·D, D)")
        raise Hint(f"at widening={widening} the package counts {want:,} parameters, you predicted {got:,.0f}")
