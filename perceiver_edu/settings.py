"""Run-time settings shared by the package and the notebooks: quick/full mode, device, seed.

One switch selects how much work a notebook does:

* ``PERCEIVER_EDU_MODE=quick``  small configs, few steps (CI, a laptop CPU);
* ``PERCEIVER_EDU_MODE=full``   longer runs, where the trends are clear (chapters 7-12: about 10 to 30
  minutes a chapter on one CPU thread; results in docs/full-mode.md);
* unset or ``auto``             full when CUDA is available, quick otherwise.

``PERCEIVER_EDU_DEVICE`` (``cpu``, ``cuda``, ``cuda:1``...) overrides the device choice.
The test suite sets ``quick`` and ``cpu`` so that nbval never depends on a GPU.
"""
from __future__ import annotations

import os
import random

import numpy as np
import torch

MODE_VAR = "PERCEIVER_EDU_MODE"
DEVICE_VAR = "PERCEIVER_EDU_DEVICE"


def run_mode() -> str:
    """Return ``"quick"`` or ``"full"`` according to ``PERCEIVER_EDU_MODE``."""
    mode = os.environ.get(MODE_VAR, "auto").strip().lower() or "auto"
    if mode == "auto":
        return "full" if torch.cuda.is_available() else "quick"
    if mode not in ("quick", "full"):
        raise ValueError(f"{MODE_VAR} must be 'quick', 'full' or 'auto', got {mode!r}")
    return mode


def is_quick() -> bool:
    """True in quick mode (see :func:`run_mode`)."""
    return run_mode() == "quick"


def get_device(requested: str | None = None) -> torch.device:
    """The device to compute on: ``requested``, else ``PERCEIVER_EDU_DEVICE``, else CUDA if present.

    Asking for CUDA on a machine without it is a clear error rather than a crash later on.
    """
    name = requested or os.environ.get(DEVICE_VAR) or ("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {name!r} was requested but this PyTorch build sees no CUDA GPU "
            f"(torch {torch.__version__}); use --device cpu or unset {DEVICE_VAR}"
        )
    return device


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch; return a ``torch.Generator`` seeded the same way."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
