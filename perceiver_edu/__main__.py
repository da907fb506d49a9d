"""Command line: ``python -m perceiver_edu <command>``.  ``info`` prints the environment."""
from __future__ import annotations

import argparse
import sys


def cmd_info(args) -> int:
    import torch

    from . import __version__
    from .data import data_root
    from .settings import get_device, run_mode
    print(f"perceiver_edu {__version__}, torch {torch.__version__}")
    print(f"mode: {run_mode()}   device: {get_device()}   data: {data_root()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m perceiver_edu", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="print versions, run mode, device and data directory").set_defaults(func=cmd_info)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
