"""Benchmark: training-step throughput, FLOPs and peak memory against two other implementations.

    python -m perceiver_edu bench                 # the comparison table (+ plot in runs/bench/)
    python -m perceiver_edu bench --scaling       # memory and time of a training step vs input size M
    python -m perceiver_edu bench --nproc 2       # the table, each model trained data parallel in 2 processes

Three implementations of the same classifier, configured to be as identical as their designs allow
(the script prints parameter counts and FLOPs side by side so you can check):

* ``perceiver_edu``  this package's :class:`~perceiver_edu.inputs.images.ImagePerceiver`;
* ``lucidrains``     ``perceiver_pytorch.Perceiver`` (PyPI ``perceiver-pytorch``);
* ``transformers``   Hugging Face's ``PerceiverModel`` with its pixel + Fourier preprocessor.

The two others are optional (``pip install -r requirements-bench.txt``); a missing one is skipped.
Their designs differ, so two model *structures* are compared:

* ``repeat``: the paper's classifier: ``L`` cross-attends, each followed by ``S`` self-attention
  layers, weights shared after the first repeat.  perceiver_edu vs lucidrains (transformers'
  PerceiverModel has a single cross-attend and cannot express it).
* ``single``: one cross-attend followed by ``L*S`` self-attention layers, nothing shared: all three.

Matching choices (see ``MATCHING_NOTES``): lucidrains' feed-forward is GEGLU with a fixed factor 4
(Linear(D, 8D) -> gate -> Linear(4D, D): 12 D^2 weights), so the others use an MLP widening of 6
(Linear(D, 6D), Linear(6D, D): 12 D^2 weights, the same FLOPs); head dims are set equal
(cross: one head of D; self: D / heads); every implementation mean-pools the latents into
LayerNorm + Linear (transformers' PerceiverModel gets that head from us instead of its
cross-attention decoder).

Throughput is samples per second of full training steps (forward, backward, AdamW step), timed
interleaved (implementation A, B, C, A, B, C, ...) so that a change in machine load hits all of them
alike; the median over rounds is reported.  FLOPs per step are counted by
``torch.utils.flop_counter.FlopCounterMode`` (matrix products and attention only: element-wise
work such as LayerNorm or GELU is not counted).  Two counts are shown:

* ``GFLOP/step``: what each implementation executes (perceiver_edu folds its key/value projection
  into the queries, see :class:`~perceiver_edu.model.blocks.CrossAttention`, so it executes fewer);
* the *model FLOPs* of the structure: those of the textbook computation (perceiver_edu with
  ``fold_kv=False``: keys and values projected once per distinct cross-attend), the same for every
  implementation.  ``% matmul`` is model FLOPs per second against a dense matmul timed in the same
  run on the same device (what is called model FLOPs utilisation): a faster implementation of the
  same model scores higher, one that does needless work lower.

``mm alone`` is a ceiling: every matrix product of one step (``mm``, ``addmm``, ``bmm``, with their
shapes and memory layouts) replayed by itself, back to back, with nothing else in between; it is the
rate those products reach on this machine, as % of the dense matmul.  Thin products (the others'
key/value projection of the inputs: 50,176 x 35 by 35 x 128) stay well below the rate of a
1024 x 1024 one however they are called.
"""
from __future__ import annotations

import datetime
import os
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..training import distributed
from ..inputs.images import ImagePerceiver, ImagePreprocess
from ..training.distributed import DistInfo
from ..model.perceiver import PerceiverConfig
from ..model.position import num_fourier_channels
from .profiling import format_bytes, hardware_summary, peak_memory

IMPLEMENTATIONS = ("perceiver_edu", "lucidrains", "transformers")

MATCHING_NOTES = """\
Residual differences between the implementations (with fold_kv=False, perceiver_edu's FLOPs equal
the others' in the single structure: the model FLOPs.  Folded, it executes fewer: no key/value
projection of the inputs.  In the repeat structure its shared cross-attend also normalises or
projects the inputs once instead of once per repeat.  Parameter counts differ only where listed):
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
    fold_kv: bool | None = None  # perceiver_edu's folded key/value projection (None: its default rule)

    @property
    def num_inputs(self) -> int:
        return self.image_size ** 2

    @property
    def input_channels(self) -> int:
        return 1 + num_fourier_channels(2, self.num_bands)


# ------------------------------------------------------------------------------------------------
# The three implementations, built from one spec
# ------------------------------------------------------------------------------------------------
def build_perceiver_edu(spec: BenchSpec) -> nn.Module:
    single = spec.structure == "single"
    kwargs = {}
    if spec.cross_attend_chunk_size is not None:
        kwargs["cross_attend_chunk_size"] = spec.cross_attend_chunk_size
    if spec.fold_kv is not None:
        kwargs["fold_kv"] = spec.fold_kv
    config = PerceiverConfig(
        input_channels=spec.input_channels, num_classes=spec.num_classes, num_latents=spec.num_latents,
        latent_dim=spec.latent_dim, num_cross_attends=1 if single else spec.num_cross_attends,
        self_attends_per_block=spec.num_cross_attends * spec.self_attends_per_block if single
        else spec.self_attends_per_block,
        share_weights=not single, cross_heads=1, self_heads=spec.self_heads, widening=spec.widening, **kwargs)
    pre = ImagePreprocess(image_shape=(1, spec.image_size, spec.image_size), num_bands=spec.num_bands,
                          max_freq=float(spec.image_size))
    return ImagePerceiver(config, pre)


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


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------------------------------------
# Measuring
# ------------------------------------------------------------------------------------------------
class TrainStep:
    """One training step of ``model`` on a fixed batch: forward, cross-entropy, backward, AdamW.

    ``ddp``: the model is wrapped in ``DistributedDataParallel`` (the process group must exist), so
    that ``backward()`` also averages the gradients over the processes, as in ``train --nproc N``.
    """

    def __init__(self, model: nn.Module, spec: BenchSpec, device: torch.device, seed: int = 0, ddp: bool = False):
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


@dataclass
class Result:
    name: str
    structure: str
    params: int
    flops: int  # executed per training step
    samples_per_s: float
    peak_bytes: int | None
    batch_size: int
    rounds: list[float]
    model_flops: int | None = None  # the structure's textbook FLOPs per step (None: ``flops``)
    matmul_alone: float | None = None  # FLOP/s of the step's matrix products replayed alone

    @property
    def flops_per_s(self) -> float:
        """Model FLOPs per second."""
        return (self.model_flops or self.flops) * self.samples_per_s / self.batch_size


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


def _time_steps(step: TrainStep, steps: int, info: DistInfo = DistInfo()) -> float:
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


def compare(specs: list[BenchSpec], device: torch.device, rounds: int = 5, steps: int = 5,
            wanted=IMPLEMENTATIONS, memory: bool = True, progress: bool = True,
            info: DistInfo = DistInfo()) -> list[Result]:
    """Build every (spec, implementation), then time them interleaved for ``rounds`` rounds.

    With several processes (``info``; every process calls this with the same arguments) each
    trains on ``spec.batch_size`` samples under DDP, and the results are those of the whole
    step: samples/s and FLOPs of all processes, peak memory of one (the first).
    """
    from tqdm.auto import tqdm

    world = info.world_size
    entries = []
    for spec in specs:
        torch.manual_seed(0)
        model_flops = world * count_flops(TrainStep(build_perceiver_edu(replace(spec, fold_kv=False)), spec, device))
        for name in implementations_for(spec, wanted):
            torch.manual_seed(0)
            step = TrainStep(BUILDERS[name](spec), spec, device, seed=info.rank, ddp=info.distributed)
            step()  # warm-up (allocations, lazy initialisation)
            flops = world * count_flops(step)
            peak = peak_memory(step, device) if memory else None
            calls = record_matmuls(step)
            distributed.barrier(info)  # the processes replay their products at the same time
            alone = distributed.all_reduce_sum([matmuls_alone(calls, device)], info, device)[0]
            entries.append((spec, name, step, Result(name, spec.structure, num_params(step.model), flops, 0.0, peak,
                                                     spec.batch_size * world, [], model_flops, alone)))
    for _ in tqdm(range(rounds), desc="rounds", disable=not progress or not info.is_main, leave=False):
        for spec, name, step, result in entries:
            result.rounds.append(_time_steps(step, steps, info))
    for *_, result in entries:
        result.samples_per_s = statistics.median(result.rounds)
    return [e[-1] for e in entries]


def format_table(results: list[Result], matmul_rate: float) -> str:
    """The comparison as plain text; ``ours is`` is how many times faster perceiver_edu is."""
    ours = {r.structure: r for r in results if r.name == "perceiver_edu"}
    head = (f"{'structure':<9} {'implementation':<15} {'params':>9} {'GFLOP/step':>10} {'samples/s':>10} "
            f"{'ours is':>8} {'% matmul':>9} {'mm alone':>9} {'peak mem':>10}")
    rows = [head, "-" * len(head)]
    for r in results:
        ref = ours.get(r.structure)
        speed = f"{ref.samples_per_s / r.samples_per_s:.2f}x" if ref and r is not ref else ""
        peak = "-" if r.peak_bytes is None else format_bytes(r.peak_bytes)
        alone = "-" if r.matmul_alone is None else f"{100 * r.matmul_alone / matmul_rate:.0f}%"
        rows.append(f"{r.structure:<9} {r.name:<15} {r.params:>9,} {r.flops / 1e9:>10.3f} {r.samples_per_s:>10.0f} "
                    f"{speed:>8} {100 * r.flops_per_s / matmul_rate:>8.0f}% {alone:>9} {peak:>10}")
    models = {r.structure: r.model_flops for r in results if r.model_flops}
    if models:
        rows.append("model FLOPs per step (the % matmul column): " + ", ".join(
            f"{k} {v / 1e9:.3f} G" for k, v in models.items()))
    return "\n".join(rows)


# ------------------------------------------------------------------------------------------------
# Memory and time against the input size M
# ------------------------------------------------------------------------------------------------
SCALING_SIDES = (32, 64, 128, 256, 448)  # M = side**2: 1,024 ... 200,704 inputs


@dataclass
class ScalingPoint:
    name: str
    num_inputs: int
    samples_per_s: float
    peak_bytes: int


def scaling(spec: BenchSpec, device: torch.device, sides=SCALING_SIDES, chunk_size: int | None = 4096,
            wanted=IMPLEMENTATIONS, max_others: int = 128, steps: int = 2, progress: bool = True,
            structures=("repeat", "single")) -> list[ScalingPoint]:
    """Training-step throughput and peak memory at growing image sizes (batch ``spec.batch_size``).

    Every implementation runs in the ``structures`` it supports (see the module docs);
    perceiver_edu also with ``cross_attend_chunk_size=chunk_size`` (unless None).
    The other implementations only run up to side ``max_others``.
    """
    from tqdm.auto import tqdm

    runs = []  # (label, implementation, spec at side 1)
    for structure in structures:
        s = replace(spec, structure=structure)
        for name in implementations_for(s, wanted):
            runs.append((f"{name} ({structure})", name, s))
            if name == "perceiver_edu" and chunk_size is not None:
                runs.append((f"{name} ({structure}, chunked)", name, replace(s, cross_attend_chunk_size=chunk_size)))
    points = []
    for side in tqdm(sides, desc="input sizes", disable=not progress, leave=False):
        for label, name, s in runs:
            if name != "perceiver_edu" and side > max_others:
                continue
            s = replace(s, image_size=side)
            torch.manual_seed(0)
            step = TrainStep(BUILDERS[name](s), s, device)
            peak = peak_memory(step, device)  # also the warm-up
            rate = _time_steps(step, steps)
            points.append(ScalingPoint(label, s.num_inputs, rate, peak))
            del step
    return points


def format_scaling(points: list[ScalingPoint]) -> str:
    from .profiling import fit_power_law

    names = list(dict.fromkeys(p.name for p in points))
    sizes = sorted({p.num_inputs for p in points})
    rows = [f"{'implementation (structure)':<38} {'M':>9} {'samples/s':>10} {'peak memory':>12}"]
    for n in names:
        for m in sizes:
            p = next((p for p in points if p.name == n and p.num_inputs == m), None)
            if p is not None:
                rows.append(f"{n:<38} {m:>9,} {p.samples_per_s:>10.2f} {format_bytes(p.peak_bytes):>12}")
    fits = []
    for n in names:
        pts = [p for p in points if p.name == n]
        if len(pts) >= 3:
            exponent = fit_power_law([p.num_inputs for p in pts[-3:]], [p.peak_bytes for p in pts[-3:]])[0]
            fits.append(f"  {n}: peak memory ~ M^{exponent:.2f}")
    return "\n".join(rows + ["power law fitted on the three largest sizes:"] + fits)


def plot(results_points: list[ScalingPoint], path: Path, title: str) -> None:
    import matplotlib
    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg") and not os.environ.get("DISPLAY"):
        matplotlib.use("agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for name in dict.fromkeys(p.name for p in results_points):
        pts = [p for p in results_points if p.name == name]
        ms = [p.num_inputs for p in pts]
        ax1.plot(ms, [p.samples_per_s for p in pts], "o-", label=name)
        ax2.plot(ms, [p.peak_bytes / 2**20 for p in pts], "o-", label=name)
    for ax, label in ((ax1, "training throughput (samples/s)"), (ax2, "peak memory of a training step (MiB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("input size M (pixels)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------
def _load() -> str:
    try:
        return "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "load average unknown"


def cmd_bench(args) -> int:
    from ..settings import get_device

    if args.nproc < 1:
        raise SystemExit(f"--nproc must be >= 1, got {args.nproc}")
    if args.nproc > 1 and args.scaling:
        raise SystemExit("--scaling runs in one process: leave out --nproc")
    if args.nproc > 1 and args.batch_size % args.nproc:
        raise SystemExit(f"--batch-size {args.batch_size} cannot be split over {args.nproc} processes: "
                         f"use a multiple of {args.nproc}")
    if args.nproc > 1 and not distributed.env_info().distributed:
        return distributed.relaunch_with_torchrun(args.nproc, "bench", args.command_line or sys.argv[1:])
    device = get_device(args.device)
    info, device = distributed.setup(device)
    try:
        code = _bench(args, device, info)
    finally:
        distributed.cleanup(info)
    if info.distributed:
        distributed.exit_worker(code)
    return code


def _bench(args, device: torch.device, info: DistInfo) -> int:
    say = print if info.is_main else (lambda *a, **k: None)
    if args.threads:
        torch.set_num_threads(args.threads)
    wanted = tuple(args.impl.split(",")) if args.impl else IMPLEMENTATIONS
    unknown = set(wanted) - set(IMPLEMENTATIONS)
    if unknown:
        raise SystemExit(f"unknown implementation(s) {sorted(unknown)}; choose from {', '.join(IMPLEMENTATIONS)}")
    missing = [n for n in wanted if not available(n)]
    world = info.world_size
    base = BenchSpec(batch_size=args.batch_size // world)
    out = Path(args.out)
    say(f"perceiver_edu benchmark, {datetime.datetime.now():%Y-%m-%d %H:%M}")
    say(f"hardware: {hardware_summary(device)}")
    if device.type == "cpu":
        say("device: CPU (no CUDA GPU visible); fp32")
    else:
        say(f"device: {device} with bf16 autocast")
    if info.distributed:
        say(f"processes: {world} x {torch.get_num_threads()} thread(s), data parallel (DDP over {info.backend}, "
            f"as `train --nproc {world}`): each trains on {base.batch_size} of the batch's {args.batch_size} "
            f"samples and the gradients are averaged in backward()")
    say(_load() + " (timings are only comparable on an otherwise idle machine)")
    for name in missing:
        say(f"skipped {name}: not installed (pip install -r requirements-bench.txt)")

    if not args.scaling:
        specs = [base, replace(base, structure="single")]
        s = base
        per_process = f" ({s.batch_size} per process)" if info.distributed else ""
        say(f"\nconfig: {s.image_size}x{s.image_size} images (M={s.num_inputs}, C={s.input_channels} with "
            f"{s.num_bands} bands), N={s.num_latents} latents, D={s.latent_dim}, L={s.num_cross_attends} "
            f"cross-attends x S={s.self_attends_per_block} self-attends, {s.self_heads} self heads, 1 cross "
            f"head, MLP widening {s.widening}, batch {args.batch_size}{per_process}")
        say("structures: repeat = L cross-attends, weights shared after the first (the paper);"
            "\n            single = 1 cross-attend + L*S self-attends, no sharing (transformers' layout)")
        rate, how = device_matmul_rate(device, info)
        results = compare(specs, device, rounds=args.rounds, steps=args.steps, wanted=wanted, info=info)
        rate_after, how_after = device_matmul_rate(device, info)  # measured before and after: keep the best
        rate, how = max((rate, how), (rate_after, how_after))
        say(f"\ndense matmul (1024x1024, {'bf16' if device.type == 'cuda' else 'fp32'}): {rate / 1e9:.1f} GFLOP/s "
            f"({how}) = 100 % in the table")
        say(f"training steps: forward + backward + AdamW, median of {args.rounds} interleaved rounds of "
            f"{args.steps} steps\n")
        say(format_table(results, rate))
        say("\n" + MATCHING_NOTES)
        if info.distributed:
            say("peak memory: of one process.  No plot with --nproc (run without it for runs/bench/bench.png)")
            return 0
        out.mkdir(parents=True, exist_ok=True)
        sides = [int(v) for v in args.plot_sides.split(",")]
        points = scaling(replace(base, batch_size=args.plot_batch_size), device, sides=sides, chunk_size=None,
                         wanted=wanted, max_others=max(sides))
        say(f"throughput and memory vs M (batch {args.plot_batch_size}):")
        say(format_scaling(points))
        path = out / "bench.png"
        plot(points, path, f"{hardware_summary(device)}; batch {args.plot_batch_size}")
        say(f"\nplot: {path}")
        say(_load() + " (at the end)")
        return 0

    spec = replace(base, batch_size=args.scaling_batch_size)
    sides = [int(s) for s in args.sides.split(",")]
    points = scaling(spec, device, sides=sides, chunk_size=args.chunk_size, wanted=wanted,
                     max_others=args.max_others, structures=("repeat",))
    print(f"\nmemory and time of one training step vs M (batch {spec.batch_size}, chunk size {args.chunk_size}):")
    print(format_scaling(points))
    path = out / "scaling.png"
    plot(points, path, f"{hardware_summary(device)}; batch {spec.batch_size}")
    print(f"\nplot: {path}")
    print(_load() + " (at the end)")
    return 0


def register_cli(subparsers) -> None:
    p = subparsers.add_parser("bench", help="benchmark training throughput, FLOPs and memory against other "
                                            "Perceiver implementations")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available)")
    p.add_argument("--impl", default="", help=f"comma-separated subset of {','.join(IMPLEMENTATIONS)}")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds (median reported)")
    p.add_argument("--steps", type=int, default=5, help="training steps per round")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    p.add_argument("--nproc", type=int, default=1,
                   help="train data parallel in N processes, as `train --nproc N` (default: 1)")
    p.add_argument("--scaling", action="store_true", help="memory and time vs input size M instead")
    p.add_argument("--sides", default=",".join(map(str, SCALING_SIDES)), help="image sides for --scaling")
    p.add_argument("--scaling-batch-size", type=int, default=1)
    p.add_argument("--chunk-size", type=int, default=4096, help="cross_attend_chunk_size of the chunked run")
    p.add_argument("--max-others", type=int, default=128, help="largest image side for the other implementations")
    p.add_argument("--plot-sides", default="16,28,56", help="image sides of the plot's sweep (default run)")
    p.add_argument("--plot-batch-size", type=int, default=16)
    p.add_argument("--out", default="runs/bench", help="folder for the plot")
    p.set_defaults(func=cmd_bench, command_line=None)
