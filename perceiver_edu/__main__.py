"""Command line: ``python -m perceiver_edu <command>``.

Each command lives in the module that implements it; the module defines ``register_cli(subparsers)``
which adds its sub-parser and sets ``func``.  ``info`` is defined here.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# Modules that contribute commands (a module not written yet is simply skipped).
COMMAND_MODULES = ["perceiver_edu.training.cli", "perceiver_edu.training.ablations_cli", "perceiver_edu.exercises.cli", "perceiver_edu.tools.bench.cli",
                   "perceiver_edu.tools.gpucheck.cli"]


def cmd_info(args) -> int:
    import torch

    from . import __version__
    from .data import data_root
    from .settings import get_device, run_mode
    print(f"perceiver_edu {__version__}, torch {torch.__version__}")
    print(f"mode: {run_mode()}   device: {get_device()}   data: {data_root()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m perceiver_edu", description="perceiver-edu command line")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="print versions, run mode, device and data directory").set_defaults(func=cmd_info)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:  # a real missing dependency inside the module: report it
                raise
            continue
        module.register_cli(sub)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    if getattr(args, "command_line", "") is None:  # commands that may relaunch themselves (--nproc)
        args.command_line = argv
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
