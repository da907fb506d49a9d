"""Chapter 4 exercises: the latent transformer, weight sharing and the full Perceiver's forward.

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
@exercise("4.1", "The classification head", difficulty=1, chapter=4,
          teaches="mean over the latents, then LayerNorm and a linear layer")
def check_classify(fn):
    for seed, (b, n, d, classes) in enumerate([(2, 5, 8, 3), (3, 7, 16, 10)]):
        torch.manual_seed(seed)
        head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, classes))
        with torch.no_grad():
            head[0].weight.uniform_(0.5, 1.5)  # a non-trivial LayerNorm, so that skipping it shows
            head[0].bias.normal_()
        latents = randn(b, n, d, seed=seed) * 2 + 1
        with torch.no_grad():
            want = head(latents.mean(dim=1))  # (B, classes)
            got = expect_tensor(fn(latents.clone(), head), "classify(latents, head)")
            if got.shape != want.shape:
                if got.shape == (n, classes):
                    raise Hint("you averaged over the batch (dim=0): average over the latents, dim=1")
                if got.shape == (b, n, classes):
                    raise Hint("one prediction per latent: average over the latents (dim=1) before the head")
                raise Hint(f"logits of shape (B, classes) = {tuple(want.shape)} expected, got {tuple(got.shape)}")
            if close(got, want):
                continue
            if close(got, head(latents[:, 0])):
                raise Hint("you used only the first latent: average over all N latents (latents.mean(dim=1))")
            if close(got, head[1](latents.mean(dim=1))):
                raise Hint("the LayerNorm is missing: apply the whole head (LayerNorm, then Linear) to the mean")
            if close(got, head(latents).mean(dim=1)):
                raise Hint("you applied the head to every latent and then averaged; average the latents first, "
                           "then LayerNorm and Linear (the LayerNorm makes the two orders differ)")
            raise Hint(f"logits differ from head(latents.mean(dim=1)) (max difference "
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
def _forward_variant(model: Perceiver, x, mistake: str | None = None):
    c = model.config
    latents = model.latents.expand(x.shape[0], -1, -1)
    maps = []
    for i in range(c.num_cross_attends):
        if mistake == "share_first":
            cross = model.cross_attends[0]
        elif mistake == "last_for_all":
            cross = model.cross_attends[-1]
        else:
            cross = model.cross_attends[min(i, len(model.cross_attends) - 1)]
        latent_tf = model.latent_transformers[min(i, len(model.latent_transformers) - 1)]
        latents, scores = cross(latents, x, return_scores=True)  # scores (B, H, N, M)
        if mistake == "softmax":
            scores = scores.softmax(-1)
        maps.append(scores[:, 0] if mistake == "first_head" else scores.mean(dim=1))
        if mistake != "no_latent_transformer":
            latents = latent_tf(latents)
    return model.head(latents.mean(dim=1)), maps


@exercise("4.4", "The iterative forward loop with weight sharing and attention maps", difficulty=3, chapter=4,
          teaches="repeat [cross-attend -> latent transformer] with the right (shared) blocks, keep each "
                  "cross-attend's pre-softmax scores, then the head")
def check_forward(fn):
    hints = {
        "share_first": "repeats after the first must use the *second* cross-attention block "
                       "(cross_attends[min(i, len - 1)]); you reused the first one everywhere",
        "last_for_all": "the first repeat has its own cross-attention block cross_attends[0]; only later "
                        "repeats share cross_attends[1]",
        "softmax": "the maps are the *pre-softmax* scores (return_scores=True gives them); don't apply softmax",
        "first_head": "average the scores over the heads (dim=1) rather than taking the first head",
        "no_latent_transformer": "each cross-attend is followed by the latent transformer of that repeat",
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
            want_logits, want_maps = model(x, return_attention=True)
            result = fn(model, x.clone())
            if not isinstance(result, tuple) or len(result) != 2:
                raise Hint("return the pair (logits, maps)")
            logits = expect_tensor(result[0], "logits")
            maps = list(result[1]) if isinstance(result[1], (list, tuple)) else None
            if maps is None:
                raise Hint("maps should be a list with one (B, N, M) tensor per cross-attend")
            if logits.shape != want_logits.shape:
                raise Hint(f"logits of shape (B, classes) = {tuple(want_logits.shape)} expected, got "
                           f"{tuple(logits.shape)}")
            if len(maps) != len(want_maps):
                raise Hint(f"one map per cross-attend: {len(want_maps)} expected ({setting}), got {len(maps)}")
            for m, w in zip(maps, want_maps):
                if expect_tensor(m, "each map").shape != w.shape:
                    raise Hint(f"each map has shape (B, N, M) = {tuple(w.shape)}, got {tuple(m.shape)}")
            ok = close(logits, want_logits, 1e-4) and all(close(m, w, 1e-4) for m, w in zip(maps, want_maps))
            if ok:
                continue
            for mistake, hint in hints.items():
                wl, wm = _forward_variant(model, x, mistake)
                if close(logits, wl, 1e-4) and all(close(m, w, 1e-4) for m, w in zip(maps, wm)):
                    raise Hint(f"{hint} ({setting})")
            if not all(close(m, w, 1e-4) for m, w in zip(maps, want_maps)):
                bad = next(i for i, (m, w) in enumerate(zip(maps, want_maps)) if not close(m, w, 1e-4))
                raise Hint(f"map {bad} (cross-attend {bad + 1}) differs ({setting}): check which block repeat "
                           f"{bad} uses and that the latents carry over from the previous repeat")
            raise Hint(f"the maps are right but the logits differ ({setting}): after the last repeat, "
                       f"head(latents.mean(dim=1))")
