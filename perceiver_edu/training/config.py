"""What defines an image training run: :class:`TrainConfig` and the two recipes (chapter 5).

A config holds the model's sizes as well as the optimisation, so that a checkpoint's saved config
rebuilds the same model and a resumed run can check that it continues the same run.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..settings import get_device

DATASETS = ("fashion-mnist", "mnist")


@dataclass
class TrainConfig:
    """Everything that defines a training run (the model's sizes included); saved with checkpoints."""
    dataset: str = "fashion-mnist"
    # model: a Perceiver over raw pixels + Fourier position features
    num_latents: int = 32  # N
    latent_dim: int = 64  # D
    num_cross_attends: int = 2
    self_attends_per_block: int = 2
    self_heads: int = 4
    cross_heads: int = 1
    widening: int = 4
    num_bands: int = 8  # K Fourier bands per image axis
    max_freq: float = 28.0  # μ: the image side, in pixels
    # optimisation
    epochs: int = 3
    batch_size: int = 128
    lr: float = 2e-3  # peak learning rate, reached after the warm-up
    min_lr: float = 1e-5  # end of the cosine decay
    warmup_steps: int = 200
    weight_decay: float = 0.05
    grad_clip: float = 1.0  # max gradient norm; 0 disables clipping
    # light augmentation: random translations of up to max_shift pixels (zero padding, then a
    # 28x28 crop); the position features stay those of the crop, as the paper found necessary
    augment: bool = False
    max_shift: int = 2
    # data
    train_subset: int | None = None  # use a random subset of the training set (quick runs, tests)
    test_subset: int | None = None
    # run
    init_from: str | None = None  # start from this checkpoint's weights (fine-tuning); fresh optimizer and schedule
    seed: int = 0
    device: str | None = None  # None: CUDA when available, else CPU
    amp: bool = True  # bf16 autocast on CUDA (ignored on the CPU)
    compile: bool = False  # torch.compile the model
    num_threads: int | None = None  # CPU threads for torch (None: leave torch's default)
    log_every: int = 25  # steps between training-metric records
    eval_every: int = 0  # steps between test evaluations; 0: at the end of every epoch
    save_every: int = 0  # steps between checkpoints; 0: at the end of every epoch only
    eval_batch_size: int = 500

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"TrainConfig.dataset must be one of {DATASETS}, got {self.dataset!r}")
        for name in ("epochs", "batch_size", "log_every", "eval_batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup_steps", "eval_every", "save_every", "max_shift"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)}")
        if not self.lr > 0 or self.min_lr < 0 or self.min_lr > self.lr:
            raise ValueError(f"need lr > 0 and 0 <= min_lr <= lr, got lr={self.lr}, min_lr={self.min_lr}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}")
        return cls(**d)


# The two recipes.  "cpu" is the laptop recipe, sized for about five minutes of training on a
# 2-core CPU with nproc=2 (two 1-thread processes beat one 2-thread process for a model this
# small), about 86 % Fashion-MNIST test accuracy.  Few, wide latents: the cross-attends cost
# O(M N) and the latent transformer O(N D^2), so 16 latents of 64 train faster and better than
# 32 of 32.  "gpu" is the full recipe for a GPU (bf16): a larger model, more epochs, translations.
PRESETS = {
    "cpu": dict(num_latents=16, latent_dim=64, num_cross_attends=2, self_attends_per_block=2, self_heads=4,
                num_bands=4, epochs=7, batch_size=64, lr=2e-3, warmup_steps=100, num_threads=2),
    "gpu": dict(num_latents=128, latent_dim=256, num_cross_attends=4, self_attends_per_block=4, self_heads=8,
                num_bands=16, epochs=40, batch_size=256, lr=1e-3, warmup_steps=1000, augment=True,
                compile=True),
}


def preset(name: str = "auto", **overrides) -> TrainConfig:
    """The ``"cpu"`` or ``"gpu"`` recipe (``"auto"``: gpu when CUDA is available) with ``overrides``."""
    if name == "auto":
        name = "gpu" if get_device(overrides.get("device")).type == "cuda" else "cpu"
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected 'cpu', 'gpu' or 'auto'")
    return TrainConfig(**{**PRESETS[name], **overrides})


__all__ = ["DATASETS", "PRESETS", "TrainConfig", "preset"]
