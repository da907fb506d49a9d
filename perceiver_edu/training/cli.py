"""The ``train`` command: ``python -m perceiver_edu train ...`` (chapter 5).

    python -m perceiver_edu train --dataset fashion-mnist            # CPU or GPU preset, picked for you
    python -m perceiver_edu train --dataset mnist --preset gpu --epochs 30 --augment
    python -m perceiver_edu train --out runs/fmnist --resume         # continue an interrupted run
    python -m perceiver_edu train --nproc 2 --export models/fmnist   # 2 processes; the model alone, for sharing

Every :class:`~.config.TrainConfig` field is a flag (``--latent-dim 64``, ``--no-amp``); they
override ``--preset`` or ``--config FILE``.  The command is :func:`~.trainer.train` with printing:
under torchrun, rank 0 alone reports and exports.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from dataclasses import fields
from pathlib import Path

import torch

from . import distributed
from .checkpoint import save_checkpoint
from .config import DATASETS, TrainConfig, preset
from .trainer import TrainResult, train
from ..settings import get_device


def hardware() -> str:
    """One line naming what the run computes on (for the exported metadata and reports)."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    cpu = platform.processor() or platform.machine()
    return f"CPU {cpu}, {torch.get_num_threads()} threads, {os.cpu_count()} cores visible"


def export(result: TrainResult, directory: str | Path, command: str = "") -> Path:
    """Write the trained model alone (weights + config, no optimizer state) to ``directory``, with
    its test accuracy and the training recipe in the config's metadata (machine-readable)."""
    meta = {"dataset": result.config.dataset, "test_accuracy": round(result.test_accuracy, 4),
            "test_examples": result.config.test_subset or 10_000, "step": result.step,
            "epochs": result.config.epochs, "train_seconds": round(result.train_seconds, 1),
            "hardware": hardware(), "torch": torch.__version__, "command": command,
            "train_config": result.config.to_dict()}
    return save_checkpoint(result.model, directory, metadata=meta)


def _config_from_args(args) -> TrainConfig:
    overrides = {f.name: getattr(args, f.name) for f in fields(TrainConfig)
                 if getattr(args, f.name, None) is not None}
    if args.config is not None:
        path = Path(args.config)
        if not path.is_file():
            raise SystemExit(f"--config: no file {path} (expected a TrainConfig as JSON)")
        return TrainConfig.from_dict({**json.loads(path.read_text()), **overrides})
    return preset(args.preset, **overrides)


def cmd_train(args) -> int:
    if args.nproc is not None and args.nproc < 1:
        raise SystemExit(f"--nproc must be >= 1, got {args.nproc}")
    if args.nproc and args.nproc > 1 and not distributed.env_info().distributed:
        return distributed.relaunch_with_torchrun(args.nproc, "train", args.command_line or sys.argv[1:])
    config = _config_from_args(args)
    out = args.out or f"runs/{config.dataset}"
    device = get_device(config.device)
    job = distributed.env_info()  # several processes when started by torchrun
    say = print if job.is_main else (lambda *a, **k: None)
    if config.num_threads and not job.distributed:
        torch.set_num_threads(config.num_threads)
    where = hardware() if device.type == "cpu" else torch.cuda.get_device_name(device)
    say(f"training on {device} ({where})" + (f", {job.world_size} processes" if job.distributed else ""))
    say(json.dumps(config.to_dict()))
    try:
        result = train(config, out, resume=args.resume, progress=not args.no_progress,
                       stop_at_step=args.stop_at_step)
    except KeyboardInterrupt:
        return 130
    if job.is_main:
        print(f"test accuracy {result.test_accuracy:.4f} after {result.step} steps "
              f"({result.train_seconds:.0f} s of training); checkpoint in {out}")
        if args.export:
            command = "python -m perceiver_edu " + " ".join(args.command_line or sys.argv[1:])
            export(result, args.export, command)
            print(f"exported the model to {args.export}")
    if job.distributed:
        distributed.exit_worker(0)
    return 0


def register_cli(subparsers) -> None:
    p = subparsers.add_parser("train", help="train an image Perceiver on Fashion-MNIST or MNIST",
                              description="Train an image Perceiver; checkpoints and metrics.jsonl go to --out. "
                                          "Ctrl-C saves a checkpoint; --resume continues from it.")
    p.add_argument("--dataset", choices=DATASETS, default=None)
    p.add_argument("--preset", choices=("auto", "cpu", "gpu"), default="auto",
                   help="recipe to start from: gpu when CUDA is available, else cpu (default: auto)")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="start from this TrainConfig (JSON) instead of --preset; the other flags override it")
    p.add_argument("--out", default=None, help="run directory (default runs/<dataset>)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--export", default=None, help="also write the final model alone (weights + config) here")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--nproc", type=int, default=None, metavar="N",
                   help="train data-parallel in N processes on this machine (runs the command under torchrun; "
                        "on a CPU, 2 processes of 1 thread beat 1 process of 2 threads for small models)")
    p.add_argument("--stop-at-step", type=int, default=None, metavar="STEP",
                   help="stop with a checkpoint after STEP optimizer steps; --resume continues later")
    flags = {"augment": "random translations of up to --max-shift pixels", "compile": "torch.compile the model",
             "amp": "bf16 autocast on CUDA"}
    helps = {"init_from": "start from the weights of this checkpoint (a run or --export directory) with a new "
                          "optimizer and learning-rate schedule: fine-tuning; the model flags must match it"}
    for f in fields(TrainConfig):
        if f.name in ("dataset", "device"):
            continue
        opt = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            p.add_argument(opt, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=flags.get(f.name))
        else:
            kind = {"int": int, "float": float, "int | None": int, "str | None": str}.get(str(f.type), float)
            p.add_argument(opt, dest=f.name, type=kind, default=None, metavar=f.name.upper(),
                           help=helps.get(f.name))
    p.set_defaults(func=cmd_train, command_line=None)


def main(argv=None) -> int:
    """``python -m perceiver_edu.training.cli ...``: the ``train`` command on its own."""
    parser = argparse.ArgumentParser(prog="python -m perceiver_edu")
    register_cli(parser.add_subparsers(dest="command", required=True))
    argv = ["train", *(sys.argv[1:] if argv is None else argv)]
    args = parser.parse_args(argv)
    args.command_line = argv
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
