"""The three implementations of the benchmark's classifier, built from one :class:`BenchSpec`.

Matching choices (see ``MATCHING_NOTES``): lucidrains' feed-forward is GEGLU with a fixed factor 4
(Linear(D, 8D) -> gate -> Linear(4D, D): 12 D^2 weights), so the others use an MLP widening of 6
(Linear(D, 6D), Linear(6D, D): 12 D^2 weights, the same FLOPs); head dims are set equal
(cross: one head of D; self: D / heads); every implementation mean-pools the latents into
LayerNorm + Linear (transformers' PerceiverModel gets that head from us instead of its
cross-attention decoder).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import torch
from torch import nn

from ...inputs.images import ImagePerceiver, ImagePreprocess
from ...model.fast import FastCrossAttention
from ...model.perceiver import PerceiverConfig
from ...model.position import num_fourier_channels

IMPLEMENTATIONS = ("perceiver_edu", "lucidrains", "transformers")

MATCHING_NOTES = """\
Residual differences between the implementations (with cross_attention="reference", perceiver_edu's
FLOPs equal the others'; the model FLOPs project the inputs once per distinct cross-attend.  Folded,
it executes fewer: no key/value projection of the inputs.  In the repeat structure its shared cross-attend also normalises the inputs once
instead of once per repeat.  Parameter counts differ only where listed):
* lucidrains: no biases on its query and key/value projections (perceiver_edu and transformers
  have them); its GEGLU first layer has 8D outputs (2 x 4D) where the MLP has 6D, so its MLP has
  2D more biases per block; with weight tying it shares everything *but the first layer*, i.e. it
  keeps a second, unshared latent transformer (S self-attention layers) that perceiver_edu shares
  across all repeats (the paper's choice): the parameter count differs by one latent transformer,
  the FLOPs do not.  It recomputes the Fourier position features of the grid at every step.
* transformers: separate key and value projections (same parameters as one fused projection);
  builds an all-ones attention mask for the inputs and adds it to the scores; recomputes the
  Fourier features at every step; the latents are initialised with std 1 (not 0.02), which does
  not change the cost.
"""


@dataclass(frozen=True)
class BenchSpec:
    """One benchmark configuration (the defaults are the MNIST-size model of the tour)."""
    image_size: int = 28  # square single-channel images: M = image_size ** 2
    num_bands: int = 8
    num_latents: int = 32
    latent_dim: int = 64
    num_cross_attends: int = 4  # L
    self_attends_per_block: int = 2  # S
    self_heads: int = 4
    widening: int = 6  # 12 D^2 MLP weights, like lucidrains' GEGLU with factor 4
    num_classes: int = 10
    batch_size: int = 64
    structure: str = "repeat"  # "repeat" (paper: L shared repeats) or "single" (1 cross-attend, L*S self)
    cross_attend_chunk_size: int | None = None
    cross_attention: str | None = None  # perceiver_edu's PerceiverConfig.cross_attention (None: its default)

    @property
    def num_inputs(self) -> int:
        return self.image_size ** 2

    @property
    def input_channels(self) -> int:
        return 1 + num_fourier_channels(2, self.num_bands)


def build_perceiver_edu(spec: BenchSpec) -> nn.Module:
    single = spec.structure == "single"
    kwargs = {}
    if spec.cross_attend_chunk_size is not None:
        kwargs["cross_attend_chunk_size"] = spec.cross_attend_chunk_size
    if spec.cross_attention is not None:
        kwargs["cross_attention"] = spec.cross_attention
    config = PerceiverConfig(
        input_channels=spec.input_channels, num_classes=spec.num_classes, num_latents=spec.num_latents,
        latent_dim=spec.latent_dim, num_cross_attends=1 if single else spec.num_cross_attends,
        self_attends_per_block=spec.num_cross_attends * spec.self_attends_per_block if single
        else spec.self_attends_per_block,
        share_weights=not single, cross_heads=1, self_heads=spec.self_heads, widening=spec.widening, **kwargs)
    pre = ImagePreprocess(image_shape=(1, spec.image_size, spec.image_size), num_bands=spec.num_bands,
                          max_freq=float(spec.image_size))
    return ImagePerceiver(config, pre)


def build_textbook(spec: BenchSpec) -> nn.Module:
    """perceiver_edu computing the structure's textbook FLOPs (the "model FLOPs" of the % matmul column):
    the reference cross-attention, except that a cross-attend applied again to the same inputs projects
    them to keys and values only once (an unfolded :class:`FastCrossAttention`, no chunks)."""
    model = build_perceiver_edu(replace(spec, cross_attention="reference", cross_attend_chunk_size=None))
    blocks = model.perceiver.cross_attends
    for i, block in enumerate(blocks):
        unfolded = FastCrossAttention(spec.latent_dim, spec.input_channels, 1, spec.widening, fold=False)
        unfolded.load_state_dict(block.state_dict())
        blocks[i] = unfolded
    return model


class LucidrainsClassifier(nn.Module):
    """``perceiver_pytorch.Perceiver`` taking images (B, C, H, W) like the others."""

    def __init__(self, spec: BenchSpec):
        super().__init__()
        from perceiver_pytorch import Perceiver as LucidrainsPerceiver

        single = spec.structure == "single"
        self.model = LucidrainsPerceiver(
            num_freq_bands=spec.num_bands, depth=1 if single else spec.num_cross_attends,
            max_freq=float(spec.image_size), input_channels=1, input_axis=2, num_latents=spec.num_latents,
            latent_dim=spec.latent_dim, cross_heads=1, latent_heads=spec.self_heads,
            cross_dim_head=spec.latent_dim, latent_dim_head=spec.latent_dim // spec.self_heads,
            num_classes=spec.num_classes, weight_tie_layers=not single,
            self_per_cross_attn=spec.num_cross_attends * spec.self_attends_per_block if single
            else spec.self_attends_per_block)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images.permute(0, 2, 3, 1))  # it wants channels last (B, H, W, C)


class TransformersClassifier(nn.Module):
    """Hugging Face ``PerceiverModel`` (pixels + Fourier features) with the mean-pool head."""

    def __init__(self, spec: BenchSpec):
        super().__init__()
        if spec.structure != "single":
            raise ValueError("transformers' PerceiverModel has one cross-attend: use structure='single'")
        from transformers import PerceiverConfig as HFConfig
        from transformers import PerceiverModel
        from transformers.models.perceiver.modeling_perceiver import PerceiverImagePreprocessor

        d = spec.latent_dim
        config = HFConfig(num_latents=spec.num_latents, d_latents=d, d_model=spec.input_channels, num_blocks=1,
                          num_self_attends_per_block=spec.num_cross_attends * spec.self_attends_per_block,
                          num_self_attention_heads=spec.self_heads, num_cross_attention_heads=1,
                          qk_channels=d, v_channels=d, cross_attention_widening_factor=spec.widening,
                          self_attention_widening_factor=spec.widening, attention_probs_dropout_prob=0.0,
                          hidden_act="gelu", image_size=spec.image_size)
        pre = PerceiverImagePreprocessor(
            config, prep_type="pixels", spatial_downsample=1, in_channels=1, position_encoding_type="fourier",
            fourier_position_encoding_kwargs=dict(num_bands=spec.num_bands, concat_pos=True, sine_only=False,
                                                  max_resolution=(spec.image_size, spec.image_size)))
        self.model = PerceiverModel(config, input_preprocessor=pre)
        self.head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, spec.num_classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        latents = self.model(images).last_hidden_state  # (B, N, D)
        return self.head(latents.mean(dim=1))


BUILDERS: dict[str, Callable[[BenchSpec], nn.Module]] = {
    "perceiver_edu": build_perceiver_edu, "lucidrains": LucidrainsClassifier, "transformers": TransformersClassifier,
}


def available(name: str) -> bool:
    """Whether implementation ``name`` can be imported here."""
    module = {"perceiver_edu": "perceiver_edu", "lucidrains": "perceiver_pytorch", "transformers": "transformers"}[name]
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def implementations_for(spec: BenchSpec, wanted=IMPLEMENTATIONS) -> list[str]:
    names = [n for n in wanted if available(n)]
    return [n for n in names if not (n == "transformers" and spec.structure != "single")]
