"""The stages of the GPU check, their time budgets and the loop that runs them.

Budgets follow a schedule: stage ``i`` must end by the start plus the budgets of stages ``0..i``,
so time a stage leaves unused passes to the next ones and the total never exceeds their sum.  A
stage checks its deadline between units of work (a matmul size, a benchmark structure, a training
step) and stops there, keeping what it has: its status is then ``cut short``.  A stage that finds
no time left is ``skipped``; one that raises is ``failed`` (its error is recorded) and the next
stage runs all the same.
"""
from __future__ import annotations

import platform
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch

from ...data import ImageDataset
from ...training.config import preset
from ...training.metrics_log import METRICS, read_metrics
from ...training.trainer import train
from ..bench import BenchSpec, available, compare, format_table, implementations_for
from ..bench.implementations import IMPLEMENTATIONS
from ..bench.measure import matmul_flops_per_second
from ..profiling import hardware_summary
from .report import format_rate

STAGES = ("environment", "matmul", "bench", "mnist", "fashion-mnist")
# Seconds per stage at --minutes 8 (scaled in proportion otherwise); the 40 s left over are for
# starting Python, loading the datasets and the last step or evaluation that a deadline lets finish.
STAGE_SECONDS = {"environment": 5, "matmul": 15, "bench": 60, "mnist": 180, "fashion-mnist": 180}
MNIST_TARGET = 0.99  # the test accuracy whose time the mnist stage reports

# --dry-run: every stage at a tiny size on the CPU
DRY_MATMUL_SIZES = (64, 128)
MATMUL_SIZES = (1024, 8192)  # 1024: the benchmark's 100 % mark; 8192: close to the device's peak
DRY_BENCH = BenchSpec(image_size=8, num_bands=2, num_latents=4, latent_dim=16, num_cross_attends=2,
                      self_attends_per_block=1, self_heads=2, batch_size=2)
DRY_TRAIN = dict(num_latents=8, latent_dim=16, num_cross_attends=1, self_attends_per_block=1, self_heads=2,
                 num_bands=2, epochs=2, batch_size=64, warmup_steps=2, compile=False, eval_batch_size=100)
DRY_SUBSETS = (256, 200)  # training and test images


@dataclass
class Context:
    """What the stages share: the device, the datasets ``{name: (train, test)}``, the matmul rate."""
    device: torch.device
    data: dict[str, tuple[ImageDataset, ImageDataset]]
    dry_run: bool = False
    progress: bool = True
    matmul_rate: float | None = None  # FLOP/s of the benchmark's 100 % mark, set by the matmul stage


@dataclass
class StageReport:
    """One stage's entry in the reports."""
    name: str
    status: str = "pending"  # pending, done, cut short, skipped, failed
    seconds: float = 0.0
    budget_seconds: float = 0.0
    note: str = ""
    result: dict = field(default_factory=dict)


class OutOfTime(Exception):
    """Raised by a stage past its deadline; ``args``: why, and the result it has so far."""


def environment(ctx: Context, deadline: float) -> dict:
    cuda = ctx.device.type == "cuda"
    result = {"device": str(ctx.device), "hardware": hardware_summary(ctx.device), "torch": torch.__version__,
              "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if cuda else None,
              "python": platform.python_version()}
    if cuda:
        props = torch.cuda.get_device_properties(ctx.device)
        result.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                      compute_capability=f"{props.major}.{props.minor}", multiprocessors=props.multi_processor_count)
    print(f"device: {result.get('gpu', result['hardware'])}\ntorch {result['torch']}, CUDA {result['cuda']}, "
          f"cuDNN {result['cudnn']}")
    return result


def matmul(ctx: Context, deadline: float) -> dict:
    sizes = DRY_MATMUL_SIZES if ctx.dry_run else MATMUL_SIZES
    result = {"dtype": "bfloat16" if ctx.device.type == "cuda" else "float32", "flops_per_s": {},
              "benchmark_mark_size": sizes[0]}
    for n in sizes:
        if time.perf_counter() >= deadline:
            raise OutOfTime(f"size {n} not measured", result)
        rate = matmul_flops_per_second(ctx.device, n=n, seconds=0.2 if ctx.dry_run else 1.0)
        result["flops_per_s"][str(n)] = rate
        print(f"dense {result['dtype']} matmul {n}x{n}: {format_rate(rate)}")
    ctx.matmul_rate = result["flops_per_s"][str(sizes[0])]
    return result


def bench(ctx: Context, deadline: float) -> dict:
    base = DRY_BENCH if ctx.dry_run else BenchSpec()
    rounds, steps = (1, 1) if ctx.dry_run else (5, 5)
    if ctx.matmul_rate is None:  # the matmul stage did not finish: the 100 % mark alone
        ctx.matmul_rate = matmul_flops_per_second(ctx.device, n=(DRY_MATMUL_SIZES if ctx.dry_run else MATMUL_SIZES)[0])
    results, note = [], ""
    for spec in (base, replace(base, structure="single")):
        if time.perf_counter() >= deadline:
            note = f"structure {spec.structure!r} not measured"
            break
        results += compare([spec], ctx.device, rounds=rounds, steps=steps, progress=False)
    table = format_table(results, ctx.matmul_rate)
    print(table)
    result = {"spec": asdict(base), "rounds": rounds, "steps": steps, "matmul_rate": ctx.matmul_rate,
              "measured": [n for n in IMPLEMENTATIONS if n in implementations_for(replace(base, structure="single"))],
              "not_installed": [n for n in IMPLEMENTATIONS if not available(n)],
              "results": [{**asdict(r), "flops_per_s": r.flops_per_s} for r in results], "table": table}
    if note:
        raise OutOfTime(note, result)
    return result


class StepClock:
    """``train``'s ``on_step``: when each step ended (seconds since the clock was made); raises
    :class:`OutOfTime` after the first step that ends past ``deadline``."""

    def __init__(self, deadline: float):
        self.deadline, self.start, self.seconds_at = deadline, time.perf_counter(), {}

    def __call__(self, step: int, info: dict) -> None:
        now = time.perf_counter()
        self.seconds_at[step] = now - self.start
        if now >= self.deadline:
            raise OutOfTime(f"stopped after step {step}")


def training(dataset: str, target: float | None = None) -> Callable[[Context, float], dict]:
    """The stage that trains the GPU preset on ``dataset`` (``target``: report when the test
    accuracy first reached it)."""

    def stage(ctx: Context, deadline: float) -> dict:
        train_set, test_set = ctx.data[dataset]
        config = preset("gpu", dataset=dataset, device=str(ctx.device), **(DRY_TRAIN if ctx.dry_run else {}))
        clock, finished, note = StepClock(deadline), None, ""
        with tempfile.TemporaryDirectory(prefix="perceiver-edu-gpucheck-") as run_dir:
            try:
                finished = train(config, run_dir, progress=ctx.progress, on_step=clock, data=(train_set, test_set))
            except OutOfTime as stop:
                note = str(stop)
            log = Path(run_dir) / METRICS  # written from the first record on
            records = read_metrics(log) if log.is_file() else []
        curve = [{"epoch": r["epoch"], "step": r["step"], "acc": r["acc"], "loss": r["loss"],
                  "seconds": round(clock.seconds_at[r["step"]], 2)} for r in records if r["split"] == "test"]
        steps = max(clock.seconds_at, default=0)
        result = {"config": config.to_dict(), "train_examples": len(train_set), "test_examples": len(test_set),
                  "steps_done": steps, "steps_planned": len(train_set) // config.batch_size * config.epochs,
                  "seconds": round(clock.seconds_at.get(steps, 0.0), 2),
                  "train_seconds": None if finished is None else round(finished.train_seconds, 2),
                  "final_test_accuracy": curve[-1]["acc"] if curve else None,
                  "final_epoch": curve[-1]["epoch"] if curve else None, "test_curve": curve}
        if target is not None:
            reached = next((p for p in curve if p["acc"] >= target), None)
            result.update(target_accuracy=target, seconds_to_target=None if reached is None else reached["seconds"],
                          epoch_of_target=None if reached is None else reached["epoch"])
        print(f"{dataset}: test accuracy {result['final_test_accuracy']} after {steps} of "
              f"{result['steps_planned']} steps, {result['seconds']} s" + (f" ({note})" if note else ""))
        if note:
            raise OutOfTime(note, result)
        return result

    return stage


STAGE_FUNCTIONS = {"environment": environment, "matmul": matmul, "bench": bench,
                   "mnist": training("mnist", MNIST_TARGET), "fashion-mnist": training("fashion-mnist")}


def run_stages(ctx: Context, scale: float = 1.0,
               after_each: Callable[[list[StageReport]], None] | None = None) -> list[StageReport]:
    """Run every stage on its budget (``STAGE_SECONDS`` times ``scale``); ``after_each(reports)``
    is called after each stage (the reports so far, pending ones included)."""
    reports = [StageReport(name, budget_seconds=round(STAGE_SECONDS[name] * scale, 1)) for name in STAGES]
    start, planned = time.perf_counter(), 0.0
    for report in reports:
        planned += report.budget_seconds
        deadline, began = start + planned, time.perf_counter()
        if began >= deadline:
            report.status, report.note = "skipped", "no time left in the schedule"
        else:
            print(f"\n== {report.name} (to end by {deadline - start:.0f} s of the "
                  f"{sum(r.budget_seconds for r in reports):.0f} s schedule)")
            try:
                report.result = STAGE_FUNCTIONS[report.name](ctx, deadline)
                report.status = "done"
            except OutOfTime as stop:
                report.status, report.note = "cut short", stop.args[0]
                report.result = stop.args[1] if len(stop.args) > 1 else {}
            except Exception as err:  # recorded; the other stages still run
                report.status, report.note = "failed", f"{type(err).__name__}: {err}"
                traceback.print_exc()
                print(f"{report.name} failed: {report.note}", file=sys.stderr)
            report.seconds = round(time.perf_counter() - began, 2)
        if after_each is not None:
            after_each(reports)
    return reports
