"""Chapter 12 exercises: the Perceiver resampler's concatenated keys/values and padding masks.

As in the earlier chapters, a wrong answer is compared with the typical mistakes (each computed
from the reference with one thing changed) so that the hint names the mistake that was made.
"""
from __future__ import annotations

import torch

from ..model.resampler import ResamplerLayer, pad_tokens
from .core import Hint, exercise
from .helpers import close


def _layer_with_mistake(layer: ResamplerLayer, latents, inputs, mistake: str | None = None):
    normed = layer.latent_norm(latents)  # (B, N, D)
    x = inputs if mistake == "no_input_norm" else layer.input_norm(inputs)  # (B, T, D)
    if mistake == "inputs_only":
        kv = x
    elif mistake == "raw_latents_in_kv":
        kv = torch.cat([x, latents], dim=1)
    else:
        kv = torch.cat([x, normed], dim=1)  # (B, T + N, D)
    attended = layer.attn(normed, kv)
    z = attended if mistake == "no_residual" else latents + attended
    return layer.mlp(z) if mistake == "no_mlp_residual" else z + layer.mlp(z)


@exercise("12.1", "The resampler layer: keys and values from [inputs; latents]", difficulty=3, chapter=12,
          teaches="the latents attend to the concatenation of the feature tokens and themselves")
def check_resampler_layer(fn):
    mistakes = {
        "inputs_only": "keys and values come from the concatenation [inputs; latents] along the token axis "
                       "(torch.cat(..., dim=1)), not from the inputs alone: that is the original Perceiver's "
                       "cross-attend",
        "raw_latents_in_kv": "concatenate the *normalised* latents (layer.latent_norm(latents)), the same array "
                             "that gives the queries",
        "no_input_norm": "normalise the feature tokens (layer.input_norm) before concatenating them",
        "no_residual": "forgot the residual? latents + attn(...): the layer adds what it read to the latents",
        "no_mlp_residual": "forgot the residual around the MLP? z + layer.mlp(z)",
    }
    for seed, (b, n, t, d, heads) in enumerate([(2, 4, 9, 16, 4), (1, 6, 1, 8, 2), (3, 3, 20, 12, 1)]):
        torch.manual_seed(seed)
        layer = ResamplerLayer(d, num_heads=heads).eval()
        with torch.no_grad():  # random LayerNorm gains and biases, so that forgetting a norm shows
            for name, p in layer.named_parameters():
                if "norm" in name:
                    p.copy_(1 + 0.5 * torch.randn_like(p) if name.endswith("weight") else 0.5 * torch.randn_like(p))
        g = torch.Generator().manual_seed(100 + seed)
        latents, inputs = torch.randn(b, n, d, generator=g), 2 * torch.randn(b, t, d, generator=g) + 1
        with torch.no_grad():
            want = layer(latents, inputs)
            got = fn(layer, latents.clone(), inputs.clone())
            if not isinstance(got, torch.Tensor):
                raise Hint(f"return the updated latents as a torch.Tensor, got {type(got).__name__}")
            if got.shape != want.shape:
                if got.dim() == 3 and got.shape[1] in (t, t + n) and t != n:
                    raise Hint(f"shape (B, N, D) = {tuple(want.shape)} expected, got {tuple(got.shape)}: the queries "
                               f"are the latents only; the concatenation gives the keys and values")
                raise Hint(f"shape (B, N, D) = {tuple(want.shape)} expected (the updated latents), got {tuple(got.shape)}")
            if close(got, want, atol=1e-4):
                continue
            for mistake, hint in mistakes.items():
                if close(got, _layer_with_mistake(layer, latents, inputs, mistake), atol=1e-4):
                    raise Hint(hint)
        raise Hint(f"your output differs from ResamplerLayer's (max difference {(got - want).abs().max().item():.3g}): "
                   f"normed = LN(latents); kv = cat([LN(inputs), normed], 1); latents + attn(normed, kv); then + MLP")


@exercise("12.2", "A padded batch of token sequences and its mask", difficulty=2, chapter=12,
          teaches="batches of mixed lengths: pad to the longest, and mark the real tokens True")
def check_pad_tokens(fn):
    for seed, lengths in enumerate([(3, 7, 1), (5,), (2, 2, 6, 4)]):
        g = torch.Generator().manual_seed(seed)
        d = 3 + seed
        seqs = [torch.randn(t, d, generator=g) for t in lengths]
        want_x, want_mask = pad_tokens(seqs)
        got = fn([s.clone() for s in seqs])
        if not (isinstance(got, tuple) and len(got) == 2):
            raise Hint("return a pair (padded (B, T_max, D), mask (B, T_max))")
        x, mask = got
        if not isinstance(x, torch.Tensor) or x.shape != want_x.shape:
            raise Hint(f"padded should have shape (B, T_max, D) = {tuple(want_x.shape)}, got "
                       f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}: pad every sequence "
                       f"to the longest one")
        if not isinstance(mask, torch.Tensor) or mask.shape != want_mask.shape:
            shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise Hint(f"mask should have shape (B, T_max) = {tuple(want_mask.shape)}, one flag per token, got {shape}")
        if mask.dtype != torch.bool:
            raise Hint(f"the mask must be a bool tensor (True/False), got {mask.dtype}: attention treats a float "
                       f"mask as numbers added to the scores")
        if torch.equal(mask, ~want_mask) and not want_mask.all():
            raise Hint("the mask is inverted: True marks the real tokens (the ones attention may read), "
                       "False the padding")
        if mask.sum(1).tolist() != list(lengths):
            raise Hint(f"each row of the mask must have as many True as its sequence has tokens: "
                       f"{list(lengths)}, got {mask.sum(1).tolist()}")
        if not torch.equal(x[mask], torch.cat(seqs)):
            raise Hint("the tokens marked True must be each sequence's tokens, in order")
