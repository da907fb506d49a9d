"""The ``bench`` command (usage in the package docs): the comparison table and its plot, or ``--scaling``."""
from __future__ import annotations

import datetime
import os
import sys
from dataclasses import replace
from pathlib import Path

import torch

from ...training import distributed
from ...training.distributed import DistInfo
from ..profiling import hardware_summary
from .compare import compare, format_table
from .implementations import IMPLEMENTATIONS, MATCHING_NOTES, BenchSpec, available
from .measure import device_matmul_rate
from .scaling import SCALING_SIDES, ScalingPoint, format_scaling, plot, scaling


def _load() -> str:
    try:
        return "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "load average unknown"


def cmd_bench(args) -> int:
    from ...settings import get_device

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
        return _report_scaling(points, f"throughput and memory vs M (batch {args.plot_batch_size}):",
                               out / "bench.png", f"{hardware_summary(device)}; batch {args.plot_batch_size}")

    spec = replace(base, batch_size=args.scaling_batch_size)
    sides = [int(s) for s in args.sides.split(",")]
    points = scaling(spec, device, sides=sides, chunk_size=args.chunk_size, wanted=wanted,
                     max_others=args.max_others, structures=("repeat",))
    return _report_scaling(
        points, f"\nmemory and time of one training step vs M (batch {spec.batch_size}, chunk size {args.chunk_size}):",
        out / "scaling.png", f"{hardware_summary(device)}; batch {spec.batch_size}")


def _report_scaling(points: list[ScalingPoint], heading: str, path: Path, title: str) -> int:
    """Print the sweep's table under ``heading`` and save its plot at ``path`` (one process only)."""
    print(heading)
    print(format_scaling(points))
    plot(points, path, title)
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
