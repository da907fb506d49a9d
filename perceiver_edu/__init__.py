"""perceiver-edu: the Perceiver (Jaegle et al., ICML 2021) built piece by piece, in paper order.

    model/      what the chapters teach: positions, attention, the reference blocks, the
                Perceiver, its fast cross-attention paths, Perceiver IO, the resampler (ch. 1-4, 11-13)
    inputs/     images, audio, point sets and several modalities -> byte arrays      (ch. 4, 7-10)
    data/       dataset readers, checked downloads                                   (ch. 0, 8, 9)
    training/   config and schedule, trainer, evaluation, checkpoints, launch        (ch. 5, 7-10)
    plots/      attention maps and the explorer, training curves, other figures     (ch. 5-10)
    tools/      time and memory measurement, the benchmark                           (ch. 1, 2, 13)
    exercises/  one checker per exercise, the student edition                        (all)

``pretrained("fashion-mnist")`` is the model shipped inside the package (shipped.py, checkpoints/).
The names below are the public API; code outside this repository imports them from here.
"""
from .inputs.images import ImagePerceiver, ImagePreprocess, image_to_bytes
from .model.attention import MultiHeadAttention, attention
from .model.blocks import FeedForward, CrossAttention, LatentTransformer, SelfAttention
from .training.checkpoint import load_checkpoint, save_checkpoint
from .model.perceiver_io import PerceiverIO, PerceiverIODecoder
from .model.perceiver import Perceiver, PerceiverConfig
from .plots.images import image_grid
from .model.position import LearnedPositions, fourier_features, num_fourier_channels, position_grid
from .model.resampler import PerceiverResampler
from .settings import get_device, is_quick, run_mode, seed_everything
from .shipped import pretrained

__version__ = "0.1.0"

__all__ = [
    "fourier_features", "num_fourier_channels", "position_grid", "LearnedPositions",
    "attention", "MultiHeadAttention",
    "FeedForward", "CrossAttention", "SelfAttention", "LatentTransformer",
    "PerceiverConfig", "Perceiver",
    "image_to_bytes", "ImagePreprocess", "ImagePerceiver",
    "save_checkpoint", "load_checkpoint", "pretrained",
    "PerceiverIO", "PerceiverIODecoder", "PerceiverResampler",
    "image_grid",
    "get_device", "is_quick", "run_mode", "seed_everything",
]
