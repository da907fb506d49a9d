"""Chapter 11 exercises: Perceiver IO's output queries and the query decoder.

As in the earlier chapters, a wrong answer is compared with the typical mistakes (each computed
from the reference with one thing changed) so that the hint names the mistake that was made.
"""
from __future__ import annotations

import torch

from ..model.perceiver_io import PerceiverIODecoder, position_queries
from ..model.position import fourier_features
from .core import Hint, exercise
from .helpers import close, expect_tensor


def _queries_with_mistake(index, shape, num_bands, max_freq, mistake: str):
    h, w = shape
    rows, cols = index // w, index % w
    if mistake == "column_major":
        rows, cols = index % h, index // h
    if mistake == "unit_interval":
        pos = torch.stack([rows / max(h - 1, 1), cols / max(w - 1, 1)], -1)
    elif mistake == "pixel_coords":
        pos = torch.stack([rows, cols], -1).float()
    else:
        pos = torch.stack([-1 + 2 * rows / max(h - 1, 1), -1 + 2 * cols / max(w - 1, 1)], -1)
    if mistake == "swapped":
        pos = pos.flip(-1)
    return fourier_features(pos.float(), num_bands, max_freq, check_range=False)


@exercise("11.1", "Output queries from positions", difficulty=2, chapter=11,
          teaches="a dense output is asked for by the Fourier features of its position, as on the input side")
def check_position_queries(fn):
    mistakes = {
        "swapped": "the coordinates are in the wrong order: the row coordinate comes first, then the column, "
                   "as in position_grid((H, W))",
        "column_major": "the flat index is row-major: pixel (r, c) has index r * W + c, so r = index // W and "
                        "c = index % W",
        "unit_interval": "positions must lie on linspace(-1, 1) along each axis (like the encoder's inputs), "
                         "not in [0, 1]",
        "pixel_coords": "use positions in [-1, 1] (linspace(-1, 1, H) for the rows), not integer pixel coordinates",
    }
    cases = [((5, 7), 3, 4, 6.0), ((28, 28), 2, 50, 28.0), ((4, 9), 1, 3, 9.0)]  # (shape, B, O, max_freq)
    for seed, (shape, b, o, max_freq) in enumerate(cases):
        num_bands = 2 + seed
        index = torch.randint(0, shape[0] * shape[1], (b, o), generator=torch.Generator().manual_seed(seed))
        want = position_queries(index, shape, num_bands, max_freq)
        got = expect_tensor(fn(index.clone(), shape, num_bands, max_freq), "your queries")
        if got.shape != want.shape:
            if got.shape[-1] == 2:
                raise Hint(f"shape (B, O, P) = {tuple(want.shape)} expected, got {tuple(got.shape)}: those are the "
                           f"positions; the queries are their Fourier features (fourier_features(pos, num_bands, max_freq))")
            raise Hint(f"shape (B, O, d(2K+1)) = {tuple(want.shape)} expected for index {tuple(index.shape)}, "
                       f"got {tuple(got.shape)}")
        if close(got, want):
            continue
        for mistake, hint in mistakes.items():
            if close(got, _queries_with_mistake(index, shape, num_bands, max_freq, mistake)):
                raise Hint(hint)
        raise Hint(f"values differ from the Fourier features of the pixels' positions on the (-1, 1) grid "
                   f"(max difference {(got.float() - want).abs().max().item():.3g})")


def _decode_with_mistake(decoder: PerceiverIODecoder, queries, latents, mistake: str | None = None):
    ca = decoder.cross_attend
    if mistake == "roles_swapped":
        queries, latents = latents, queries
    attended = ca.attn(ca.latent_norm(queries), ca.input_norm(latents))  # (B, O, Q)
    x = attended if mistake == "no_residual" else queries + attended
    if mistake != "no_mlp":
        x = x + ca.mlp(x)
    return decoder.out[1](x) if mistake == "no_out_norm" else decoder.out(x)


@exercise("11.2", "Decode: output queries cross-attend to the latents", difficulty=2, chapter=11,
          teaches="the decoder is the encoder's cross-attention with the roles moved: queries from the output "
                  "side, keys and values from the latents")
def check_decode(fn):
    mistakes = {
        "no_residual": "the attention output is added to the queries (queries + attn(...)): the residual carries "
                       "the query's own position to the output head",
        "no_mlp": "after the attention comes the block's MLP with its residual: x + cross_attend.mlp(x)",
        "no_out_norm": "the output head is LayerNorm then Linear: use decoder.out(x), not only its Linear",
    }
    # (B, O, Q, N, D, out): the first case has Q == D so that swapped roles run and can be caught.
    for seed, (b, o, q, n, d, out) in enumerate([(2, 7, 16, 5, 16, 3), (1, 30, 12, 4, 20, 1)]):
        torch.manual_seed(seed)
        decoder = PerceiverIODecoder(q, d, out).eval()
        with torch.no_grad():  # random LayerNorm gains and biases, so that forgetting a norm shows
            for name, p in decoder.named_parameters():
                if "norm" in name or name.startswith("out.0"):
                    p.copy_(1 + 0.5 * torch.randn_like(p) if name.endswith("weight") else 0.5 * torch.randn_like(p))
        g = torch.Generator().manual_seed(100 + seed)
        queries, latents = torch.randn(b, o, q, generator=g), 2 * torch.randn(b, n, d, generator=g) + 1
        with torch.no_grad():
            want = decoder(queries, latents)
            got = expect_tensor(fn(decoder, queries.clone(), latents.clone()), "your decoder output")
            if got.shape != want.shape:
                if got.dim() == 3 and got.shape[1] == n and n != o:
                    raise Hint(f"shape (B, O, out) = {tuple(want.shape)} expected, got {tuple(got.shape)}: one output "
                               f"per query; the queries attend to the latents, not the latents to the queries")
                if got.dim() == 2:
                    raise Hint(f"shape (B, O, out) = {tuple(want.shape)} expected, got {tuple(got.shape)}: keep one "
                               f"output per query, no pooling over the queries")
                raise Hint(f"shape (B, O, out) = {tuple(want.shape)} expected, got {tuple(got.shape)}")
            if close(got, want, atol=1e-4):
                continue
            for mistake, hint in mistakes.items():
                if close(got, _decode_with_mistake(decoder, queries, latents, mistake), atol=1e-4):
                    raise Hint(hint)
        raise Hint(f"your output differs from the decoder's (max difference {(got - want).abs().max().item():.3g}): "
                   f"x = queries + attn(LN(queries), LN(latents)); x = x + MLP(x); decoder.out(x)")
