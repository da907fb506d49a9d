"""The ``gpucheck`` command (docs/gpu.md): checks the command line, finds the datasets (never
downloading), runs the stages and writes the reports after each."""
from __future__ import annotations

import contextlib
import datetime
import os
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from ...data.fetch import OFFLINE_VAR, DatasetNotFoundError, find_file
from ...data.mnist import FASHION_MNIST, MNIST, load_dataset
from ..profiling import hardware_summary
from .report import FORMAT, REPORT_MD, check_can_write, write_reports
from .stages import DRY_SUBSETS, STAGE_SECONDS, Context, run_stages

# dataset -> (its spec, the flag naming its directory)
DATASET_FLAGS = {"mnist": (MNIST, "--mnist-dir"), "fashion-mnist": (FASHION_MNIST, "--fashion-mnist-dir")}
FULL_MINUTES, DRY_MINUTES = 8.0, 2.0


def _device(args) -> torch.device:
    name = args.device or ("cpu" if args.dry_run else "cuda")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SystemExit(f"--device {name!r}: expected cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"gpucheck needs a CUDA GPU, and this PyTorch (torch {torch.__version__}, CUDA build "
                         f"{torch.version.cuda}) sees none.  --dry-run runs every stage on the CPU at a tiny "
                         f"size, to check the command itself.")
    if device.type != "cuda" and not args.dry_run:
        raise SystemExit(f"--device {name}: gpucheck measures a CUDA GPU; only --dry-run runs on {name}")
    return device


def _dataset_variables(args) -> dict[str, str]:
    """The dataset variables that ``--mnist-dir`` / ``--fashion-mnist-dir`` set, each directory checked."""
    variables = {}
    for spec, flag in DATASET_FLAGS.values():
        directory = getattr(args, flag[2:].replace("-", "_"))
        if directory is None:
            continue
        path = Path(directory).expanduser()
        if not path.is_dir():
            raise SystemExit(f"{flag} {directory}: expected a directory holding the {spec.name} files, "
                             f"found {'a file' if path.exists() else 'nothing'}")
        missing = [stem + ".gz" for stem in spec.sha256 if find_file([stem + ".gz", stem], [path]) is None]
        if missing:
            raise SystemExit(f"{flag} {directory}: expected the four {spec.name} files "
                             f"{', '.join(s + '.gz' for s in spec.sha256)} (gzipped or not); "
                             f"missing {', '.join(missing)}")
        variables[spec.env_var] = str(path)
    return variables


@contextlib.contextmanager
def _variables(values: dict[str, str]):
    """Set environment variables for the duration of the block, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _load_data(*, dry_run: bool) -> dict:
    """``{dataset: (train, test)}``, from local files only (downloads are off); subsets when ``dry_run``."""
    data = {}
    for name, (spec, flag) in DATASET_FLAGS.items():
        try:
            train_set, test_set = load_dataset(name, "train"), load_dataset(name, "test")
        except DatasetNotFoundError as err:
            raise SystemExit(f"{err}\ngpucheck never downloads: pass {flag} DIR or set {spec.env_var}.") from None
        if dry_run:
            train_set, test_set = train_set.subset(DRY_SUBSETS[0]), test_set.subset(DRY_SUBSETS[1])
        data[name] = (train_set, test_set)
    return data


def cmd_gpucheck(args) -> int:
    minutes = args.minutes if args.minutes is not None else DRY_MINUTES if args.dry_run else FULL_MINUTES
    if not minutes > 0:
        raise SystemExit(f"--minutes must be > 0, got {args.minutes}")
    out = Path(args.out).expanduser()
    check_can_write(out, force=args.force)
    device = _device(args)
    start = time.perf_counter()
    scale = minutes / FULL_MINUTES
    report = {"format": FORMAT, "dry_run": args.dry_run,
              "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "command": "python -m perceiver_edu " + shlex.join(args.command_line or sys.argv[1:]),
              "device": hardware_summary(device), "minutes": minutes,
              "budget_seconds": round(sum(STAGE_SECONDS.values()) * scale, 1), "seconds": 0.0, "stages": []}

    def save(reports) -> None:
        report.update(seconds=round(time.perf_counter() - start, 1), stages=[asdict(r) for r in reports])
        write_reports(out, report)

    with _variables({OFFLINE_VAR: "1", **_dataset_variables(args)}):
        ctx = Context(device=device, data=_load_data(dry_run=args.dry_run), dry_run=args.dry_run,
                      progress=not args.no_progress)
        reports = run_stages(ctx, scale, after_each=save)
    print(f"\n{'dry run ' if args.dry_run else ''}finished in {report['seconds']} s: "
          + ", ".join(f"{r.name} {r.status}" for r in reports) + f"\nreport: {out / REPORT_MD}")
    return 1 if any(r.status == "failed" for r in reports) else 0


def register_cli(subparsers) -> None:
    p = subparsers.add_parser(
        "gpucheck", help="one-shot check of a CUDA GPU: matmul rate, benchmark, MNIST and Fashion-MNIST training",
        description="Measure a CUDA GPU within --minutes (default 8): versions, dense bf16 matmul rate, the "
                    "benchmark table, the GPU training preset on MNIST and Fashion-MNIST; JSON and Markdown "
                    "reports go to --out.  Datasets are read from local directories only.")
    p.add_argument("--out", default="runs/gpucheck", help="folder for gpucheck.json and gpucheck.md "
                                                          "(default runs/gpucheck)")
    p.add_argument("--force", action="store_true", help="replace the reports of an earlier check in --out")
    p.add_argument("--dry-run", action="store_true",
                   help="every stage on the CPU at a tiny size (checks the command, measures nothing)")
    p.add_argument("--device", default=None, help="cuda, cuda:1 ... (default cuda; cpu with --dry-run)")
    p.add_argument("--mnist-dir", default=None, metavar="DIR", help=f"the MNIST files (default: ${MNIST.env_var} "
                                                                    f"or the usual places)")
    p.add_argument("--fashion-mnist-dir", default=None, metavar="DIR",
                   help=f"the Fashion-MNIST files (default: ${FASHION_MNIST.env_var} or the usual places)")
    p.add_argument("--minutes", type=float, default=None,
                   help=f"time for the whole check (default {FULL_MINUTES:g}; {DRY_MINUTES:g} with --dry-run)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_gpucheck, command_line=None)
