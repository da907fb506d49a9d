"""Perceiver IO decoding: an output *query* array cross-attends to the latents (chapter 11).

The Perceiver maps an input of any size M to a fixed latent array (N, D).  Perceiver IO
(Jaegle et al., 2022) adds a decoder: O output queries (B, O, Q) cross-attend to the latents and each
produces one output.  The queries say *what* to output:

* classification: one learned query -> one logit vector;
* dense outputs (pixels, flow, audio samples): the Fourier features of each output position.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .blocks import CrossAttention
from .perceiver import Perceiver, PerceiverConfig
from .position import grid_fourier_features


def position_queries(index: torch.Tensor, shape: tuple[int, ...], num_bands: int, max_freq: float) -> torch.Tensor:
    """Output queries for grid positions: the Fourier features of the elements ``index`` points to.

    Args:
        index: ``(B, O)`` integer indices into the row-major flattened grid of ``shape``
            (for a 28x28 image, pixel (row r, column c) has index ``r * 28 + c``).
        shape: the grid, e.g. ``(H, W)``.
        num_bands, max_freq: as in :func:`~perceiver_edu.model.position.fourier_features`.

    Returns:
        ``(B, O, d * (2 * num_bands + 1))``: exactly the position features the encoder's input
        carries for the same elements, so a query asks "what is at this position?".
    """
    size = math.prod(int(s) for s in shape)
    if not isinstance(index, torch.Tensor) or index.dim() != 2 or index.dtype.is_floating_point:
        shape_ = tuple(index.shape) if isinstance(index, torch.Tensor) else type(index).__name__
        raise ValueError(f"expected an integer index of shape (B, O), got {shape_}")
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= size):
        raise ValueError(f"index values must lie in [0, {size}) for a grid of shape {tuple(shape)}, "
                         f"got [{int(index.min())}, {int(index.max())}]")
    return grid_fourier_features(shape, num_bands, max_freq, device=index.device)[index]  # (B, O, P)


class PerceiverIODecoder(nn.Module):
    """Queries ``(B, O, Q)`` attend to latents ``(B, N, D)`` -> outputs ``(B, O, out_dim)``."""

    def __init__(self, query_dim: int, latent_dim: int, out_dim: int, num_heads: int = 1, widening: int = 4):
        super().__init__()
        # The queries play the role the latents play in the encoder's cross-attention.
        self.cross_attend = CrossAttention(query_dim, latent_dim, num_heads, widening)
        self.out = nn.Sequential(nn.LayerNorm(query_dim), nn.Linear(query_dim, out_dim))

    def forward(self, queries: torch.Tensor, latents: torch.Tensor, *, return_scores: bool = False):
        """``return_scores`` also gives the pre-softmax scores ``(B, H, O, N)`` of each query over the latents."""
        if queries.dim() != 3 or latents.dim() != 3 or queries.shape[0] != latents.shape[0]:
            raise ValueError(f"expected queries (B, O, Q) and latents (B, N, D) with the same B, got "
                             f"{tuple(queries.shape)} and {tuple(latents.shape)}")
        q_dim = self.cross_attend.latent_norm.normalized_shape[0]
        d_dim = self.cross_attend.input_norm.normalized_shape[0]
        if queries.shape[-1] != q_dim or latents.shape[-1] != d_dim:
            raise ValueError(f"the decoder was built for queries (B, O, {q_dim}) and latents (B, N, {d_dim}), got "
                             f"{tuple(queries.shape)} and {tuple(latents.shape)}")
        out = self.cross_attend(queries, latents, return_scores=return_scores)
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

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Byte array ``(B, M, C)`` -> latents ``(B, N, D)``: all the decoder will ever see of ``x``."""
        return self.encoder.encode(x)

    def decode(self, latents: torch.Tensor, queries: torch.Tensor | None = None, *, return_scores: bool = False):
        """Latents ``(B, N, D)`` + queries ``(B, O, Q)`` (or the learned ones) -> ``(B, O, out_dim)``.

        Encode once, decode many times: the outputs can be asked for in chunks, or a few at a time
        during training, because each output depends only on its own query and the latents.
        """
        if queries is None:
            if self.queries is None:
                raise ValueError("no queries given and the model has no learned queries (num_learned_queries=0)")
            queries = self.queries.expand(latents.shape[0], -1, -1)  # (B, O, Q)
        return self.decoder(queries, latents, return_scores=return_scores)

    def forward(self, x: torch.Tensor, queries: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(self.encode(x), queries)  # (B, O, out_dim)
