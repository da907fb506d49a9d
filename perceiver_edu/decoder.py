"""Perceiver IO decoding: an output *query* array cross-attends to the latents (chapter 11).

The Perceiver maps an input of any size M to a fixed latent array (N, D).  Perceiver IO
(Jaegle et al., 2022) adds a decoder: O output queries (B, O, Q) cross-attend to the latents and each
produces one output.  The queries say *what* to output:

* classification: one learned query -> one logit vector;
* dense outputs (pixels, flow, audio samples): the Fourier features of each output position.
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import CrossAttention
from .perceiver import Perceiver, PerceiverConfig


class PerceiverIODecoder(nn.Module):
    """Queries ``(B, O, Q)`` attend to latents ``(B, N, D)`` -> outputs ``(B, O, out_dim)``."""

    def __init__(self, query_dim: int, latent_dim: int, out_dim: int, num_heads: int = 1, widening: int = 4):
        super().__init__()
        # The queries play the role the latents play in the encoder's cross-attention.
        self.cross_attend = CrossAttention(query_dim, latent_dim, num_heads, widening)
        self.out = nn.Sequential(nn.LayerNorm(query_dim), nn.Linear(query_dim, out_dim))

    def forward(self, queries: torch.Tensor, latents: torch.Tensor, return_scores: bool = False):
        if queries.dim() != 3 or latents.dim() != 3 or queries.shape[0] != latents.shape[0]:
            raise ValueError(f"expected queries (B, O, Q) and latents (B, N, D) with the same B, got "
                             f"{tuple(queries.shape)} and {tuple(latents.shape)}")
        out = self.cross_attend(queries, latents, return_scores)
        out, scores = out if return_scores else (out, None)
        return (self.out(out), scores) if return_scores else self.out(out)


class PerceiverIO(nn.Module):
    """Encoder (a :class:`Perceiver` without its classification head) + query decoder.

    ``forward(x (B, M, C), queries (B, O, Q) or None)``; with ``num_learned_queries`` > 0 the
    model owns that many learned queries, used when ``queries`` is None (classification: 1).
    """

    def __init__(self, config: PerceiverConfig, query_dim: int, out_dim: int, num_learned_queries: int = 0,
                 decoder_heads: int = 1):
        super().__init__()
        self.encoder = Perceiver(config)
        self.encoder.head = nn.Identity()  # the decoder replaces the mean-pool classifier
        self.decoder = PerceiverIODecoder(query_dim, config.latent_dim, out_dim, decoder_heads, config.widening)
        self.queries = None
        if num_learned_queries:
            self.queries = nn.Parameter(torch.empty(num_learned_queries, query_dim))
            nn.init.trunc_normal_(self.queries, std=0.02, a=-0.04, b=0.04)

    def forward(self, x: torch.Tensor, queries: torch.Tensor | None = None) -> torch.Tensor:
        latents = self.encoder.encode(x)  # (B, N, D)
        if queries is None:
            if self.queries is None:
                raise ValueError("no queries given and the model has no learned queries (num_learned_queries=0)")
            queries = self.queries.expand(x.shape[0], -1, -1)  # (B, O, Q)
        return self.decoder(queries, latents)  # (B, O, out_dim)
