"""The comparison table: every implementation of each structure, built, counted and timed.

Throughput is samples per second of full training steps (forward, backward, AdamW step), timed
interleaved (implementation A, B, C, A, B, C, ...) so that a change in machine load hits all of them
alike; the median over rounds is reported.  FLOPs per step are counted by
``torch.utils.flop_counter.FlopCounterMode`` (matrix products and attention only: element-wise
work such as LayerNorm or GELU is not counted).  Two counts are shown:

* ``GFLOP/step``: what each implementation executes (perceiver_edu folds its key/value projection
  into the queries, see :class:`~perceiver_edu.model.fast.FastCrossAttention`, so it executes fewer);
* the *model FLOPs* of the structure: those of the textbook computation (the reference blocks,
  with the inputs projected to keys and values once per distinct cross-attend:
  :func:`~perceiver_edu.tools.bench.implementations.build_textbook`), the same for every
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

import statistics
from dataclasses import dataclass

import torch

from ...model.params import count_parameters
from ...training import distributed
from ...training.distributed import DistInfo
from ..profiling import format_bytes, peak_memory
from .implementations import BUILDERS, IMPLEMENTATIONS, BenchSpec, build_textbook, implementations_for
from .measure import TrainStep, count_flops, matmuls_alone, record_matmuls, time_steps


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


def compare(specs: list[BenchSpec], device: torch.device, rounds: int = 5, steps: int = 5,
            wanted=IMPLEMENTATIONS, *, memory: bool = True, progress: bool = True,
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
        model_flops = world * count_flops(TrainStep(build_textbook(spec), spec, device))
        for name in implementations_for(spec, wanted):
            torch.manual_seed(0)
            step = TrainStep(BUILDERS[name](spec), spec, device, seed=info.rank, ddp=info.distributed)
            step()  # warm-up (allocations, lazy initialisation)
            flops = world * count_flops(step)
            peak = peak_memory(step, device) if memory else None
            calls = record_matmuls(step)
            distributed.barrier(info)  # the processes replay their products at the same time
            alone = distributed.all_reduce_sum([matmuls_alone(calls, device)], info, device)[0]
            params = count_parameters(step.model, trainable_only=False)
            entries.append((spec, name, step, Result(name, spec.structure, params, flops, 0.0, peak,
                                                     spec.batch_size * world, [], model_flops, alone)))
    for _ in tqdm(range(rounds), desc="rounds", disable=not progress or not info.is_main, leave=False):
        for spec, name, step, result in entries:
            result.rounds.append(time_steps(step, steps, info))
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
