"""Small tensor helpers that the chapters' checkers share."""
from __future__ import annotations

import sys
from contextlib import contextmanager

import torch

from .core import Hint


def randn(*shape, seed: int, scale: float = 1.0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Reproducible test data: ``scale * N(0, 1)`` of ``shape`` from its own generator."""
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def close(a, b: torch.Tensor, atol: float = 1e-5, rtol: float = 1e-4, *, equal_nan: bool = False) -> bool:
    """Whether ``a`` is a tensor of ``b``'s shape with ``b``'s values (compared in float64)."""
    return (isinstance(a, torch.Tensor) and a.shape == b.shape
            and torch.allclose(a.double(), b.double(), atol=atol, rtol=rtol, equal_nan=equal_nan))


def expect_tensor(x, what: str) -> torch.Tensor:
    """``x`` itself if it is a tensor; otherwise a :class:`Hint` naming ``what`` was expected."""
    if not isinstance(x, torch.Tensor):
        raise Hint(f"{what} should be a torch.Tensor, got {type(x).__name__}")
    return x


def expect_number(x, what: str) -> float:
    """``x`` as a float if it is one number (a Python number or a one-element tensor); otherwise a
    :class:`Hint` naming ``what`` was expected."""
    try:
        return float(x)
    except (TypeError, ValueError, RuntimeError):
        raise Hint(f"{what} should be one number, got {type(x).__name__}") from None


@contextmanager
def answer_key_off(fn, *answers):
    """While the learner's ``fn`` runs, the package functions ``answers`` (which would answer the
    exercise) raise a :class:`Hint` naming them wherever ``fn`` can reach them: as names in ``fn``'s
    globals (a notebook's ``from perceiver_edu... import``) and as attributes of the package's modules."""
    hint = (f"write it yourself: the package's {' and '.join(a.__name__ for a in answers)} is this exercise's "
            f"answer, so it is switched off while your function is checked")
    if any(fn is answer for answer in answers):
        raise Hint(hint)

    def refuse(*args, **kwargs):
        raise Hint(hint)
    namespaces = [vars(module) for name, module in list(sys.modules.items())
                  if name == "perceiver_edu" or name.startswith("perceiver_edu.")]
    namespaces.append(getattr(fn, "__globals__", {}))
    saved = [(space, name, value) for space in namespaces for name, value in list(space.items())
             if any(value is answer for answer in answers)]
    try:
        for space, name, _ in saved:
            space[name] = refuse
        yield
    finally:
        for space, name, value in saved:
            space[name] = value
