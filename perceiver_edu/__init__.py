"""perceiver-edu: the Perceiver (Jaegle et al., ICML 2021) built piece by piece, in paper order.

    position.py    Fourier position features                       (chapter 3)
    attention.py   attention from scratch, multi-head module       (chapter 1)
    blocks.py      cross-attention and latent self-attention       (chapters 2, 4)
    perceiver.py   PerceiverConfig, Perceiver                      (chapter 4)
    adapters.py    images -> byte arrays                           (chapter 4)
    data/          dataset readers                                 (chapters 0, 8, 9)
    train.py       the trainer and ``train`` command               (chapter 5)
    checkpoint.py  safetensors + JSON checkpoints                  (chapter 5)
    viz.py         attention-map figures; widgets.py the explorer  (chapter 6)
    decoder.py     Perceiver IO; resampler.py the resampler        (chapters 11, 12)
"""
from .inputs.images import ImagePerceiver, ImagePreprocess, image_to_bytes
from .model.attention import MultiHeadAttention, attention
from .model.blocks import MLP, CrossAttention, LatentTransformer, SelfAttention
from .training.checkpoint import load_checkpoint, save_checkpoint
from .model.perceiver_io import PerceiverIO, PerceiverIODecoder
from .model.perceiver import Perceiver, PerceiverConfig
from .plots.images import image_grid
from .model.position import LearnedPositions, fourier_features, num_fourier_channels, position_grid
from .model.resampler import PerceiverResampler
from .settings import get_device, is_quick, run_mode, seed_everything

__version__ = "0.1.0"

__all__ = [
    "fourier_features", "num_fourier_channels", "position_grid", "LearnedPositions",
    "attention", "MultiHeadAttention",
    "MLP", "CrossAttention", "SelfAttention", "LatentTransformer",
    "PerceiverConfig", "Perceiver",
    "image_to_bytes", "ImagePreprocess", "ImagePerceiver",
    "save_checkpoint", "load_checkpoint",
    "PerceiverIO", "PerceiverIODecoder", "PerceiverResampler",
    "image_grid",
    "get_device", "is_quick", "run_mode", "seed_everything",
]
