"""What the benchmark measures of one training step: its FLOPs, its time, its matrix products.

* :class:`TrainStep`: forward, cross-entropy, backward and AdamW on a fixed batch (optionally
  under ``DistributedDataParallel``), the unit every measurement times;
* :func:`count_flops`: FLOPs of matrix products and attention, by ``FlopCounterMode``;
* :func:`matmul_flops_per_second`, :func:`device_matmul_rate`: the rate of a dense matmul, the
  100 % mark of the comparison;
* :func:`record_matmuls`, :func:`matmuls_alone`: a step's matrix products replayed by themselves;
* :func:`time_steps`: samples per second of a few steps.
"""
from __future__ import annotations

import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ...training import distributed
from ...training.distributed import DistInfo
from .implementations import BenchSpec


class TrainStep:
    """One training step of ``model`` on a fixed batch: forward, cross-entropy, backward, AdamW.

    ``ddp``: the model is wrapped in ``DistributedDataParallel`` (the process group must exist), so
    that ``backward()`` also averages the gradients over the processes, as in ``train --nproc N``.
    """

    def __init__(self, model: nn.Module, spec: BenchSpec, device: torch.device, seed: int = 0, *, ddp: bool = False):
        g = torch.Generator().manual_seed(seed)
        self.model = model.to(device).train()
        self.images = torch.rand(spec.batch_size, 1, spec.image_size, spec.image_size, generator=g).to(device)
        self.labels = torch.randint(0, spec.num_classes, (spec.batch_size,), generator=g).to(device)
        # fused: one kernel updates every parameter (the default on the CPU is a Python loop over
        # parameters, which costs as much as a small model's forward pass); the same for every model.
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-4, fused=True)
        self.forward = self.model
        if ddp:
            self.forward = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[device.index] if device.type == "cuda" else None)
        self.device = device
        self.batch_size = spec.batch_size

    def __call__(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            loss = F.cross_entropy(self.forward(self.images), self.labels)
        loss.backward()
        self.optimizer.step()


def _sdpa_cpu_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_flop_count
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _sdpa_cpu_backward_flops(grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs):
    # PyTorch's formula includes the fused kernel's recomputation of Q K^T (5 matmuls); we count
    # *model* FLOPs, the 4 matmuls of the backward pass, as for the implementations that use bmm.
    from torch.utils.flop_counter import sdpa_backward_flop_count, sdpa_flop_count
    return (sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)
            - sdpa_flop_count(query_shape, key_shape, value_shape) // 2)


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call of ``fn`` (matmuls and attention), by ``FlopCounterMode``.

    PyTorch's counter knows the CUDA attention kernels but not the CPU one that
    ``scaled_dot_product_attention`` calls on the CPU; we register its formula.  On CUDA the fused
    kernels' backward is counted with its recomputation of Q K^T (one matmul more than bmm code).
    """
    from torch.utils.flop_counter import FlopCounterMode

    aten = torch.ops.aten
    mapping = {}
    if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu"):
        mapping[aten._scaled_dot_product_flash_attention_for_cpu] = _sdpa_cpu_flops
        mapping[aten._scaled_dot_product_flash_attention_for_cpu_backward] = _sdpa_cpu_backward_flops
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        fn()
    return counter.get_total_flops()


def matmul_flops_per_second(device: torch.device, n: int = 1024, seconds: float = 1.0) -> float:
    """The rate of a dense ``n x n`` fp32 matmul (bf16 on CUDA) on ``device``: our 100 % mark."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b  # warm-up
    calls, start = 0, time.perf_counter()
    while True:
        a @ b
        calls += 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - start
        if elapsed > seconds / 3 and calls >= 3:
            break
    # best of three short runs (the least disturbed by other processes)
    best = elapsed / calls
    for _ in range(2):
        start = time.perf_counter()
        for _ in range(calls):
            a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, (time.perf_counter() - start) / calls)
    return 2 * n ** 3 / best


def device_matmul_rate(device: torch.device, info: DistInfo = DistInfo()) -> tuple[float, str]:
    """The device's dense matmul rate (our 100 % mark) and how it was reached.

    With several processes (``info``) it is the best of two measurements: every process
    multiplying at once with its own threads (the rates summed), and the first process alone
    with all of them (the others waiting).  All processes must call it."""
    if not info.distributed:
        return matmul_flops_per_second(device), f"one process, {torch.get_num_threads()} threads"
    own = torch.get_num_threads()
    distributed.barrier(info)
    together = distributed.all_reduce_sum([matmul_flops_per_second(device)], info, device)[0]
    alone = 0.0
    distributed.barrier(info)
    if info.is_main:
        torch.set_num_threads(own * info.world_size)
        alone = matmul_flops_per_second(device)
        torch.set_num_threads(own)
    distributed.barrier(info)
    if together >= alone:
        return together, f"{info.world_size} processes x {own} thread(s) at once, summed"
    return alone, f"one process, {own * info.world_size} threads"


_MATMULS = ("mm", "addmm", "bmm", "baddbmm")


def record_matmuls(fn: Callable[[], object]) -> dict:
    """The matrix products one call of ``fn`` makes: ``{(op, shapes, strides, dtype): count}``."""
    from torch.utils._python_dispatch import TorchDispatchMode

    calls: dict = {}

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = func.overloadpacket.__name__
            if name in _MATMULS:
                tensors = tuple((tuple(a.shape), a.stride()) for a in args if isinstance(a, torch.Tensor))
                key = (name, tensors, args[0].dtype)
                calls[key] = calls.get(key, 0) + 1
            return func(*args, **(kwargs or {}))

    with Recorder():
        fn()
    return calls


def matmuls_alone(calls: dict, device: torch.device, repeats: int = 5) -> float:
    """FLOP/s of the recorded matrix products replayed by themselves (fastest of ``repeats``)."""
    flops, seconds = 0, 0.0
    for (name, tensors, dtype), count in calls.items():
        args = [torch.empty_strided(shape, stride, device=device, dtype=dtype).normal_() for shape, stride in tensors]
        op = getattr(torch.ops.aten, name)
        *_, a, b = args  # the two factors (addmm/baddbmm: after the added term)
        flops += count * 2 * a.shape[-2] * a.shape[-1] * b.shape[-1] * (a.shape[0] if a.dim() == 3 else 1)
        op(*args)  # warm-up
        best = float("inf")
        for _ in range(repeats):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            op(*args)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            best = min(best, time.perf_counter() - start)
        seconds += count * best
    return flops / seconds if seconds else float("nan")


def time_steps(step: TrainStep, steps: int, info: DistInfo = DistInfo()) -> float:
    """Samples per second of ``steps`` training steps (with processes: of all of them together)."""
    distributed.barrier(info)  # the processes start together (DDP keeps them in step afterwards)
    if step.device.type == "cuda":
        torch.cuda.synchronize(step.device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if step.device.type == "cuda":
        torch.cuda.synchronize(step.device)
    return steps * step.batch_size * info.world_size / (time.perf_counter() - start)
