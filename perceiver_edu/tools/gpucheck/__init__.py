"""A one-shot check of a CUDA GPU: ``python -m perceiver_edu gpucheck --out DIR`` (docs/gpu.md).

On a machine with one CUDA GPU and no internet it runs five stages, each with a time budget, so
that the whole check ends within ``--minutes`` (default 8) even on a slow GPU:

    environment    the GPU's name and memory, the torch, CUDA and cuDNN versions
    matmul         the rate of a dense bf16 matmul (the benchmark's helper), at two sizes
    bench          the benchmark's comparison table on CUDA (bf16 autocast), against the other
                   implementations that are installed
    mnist          the trainer's GPU preset on MNIST: time to reach 99 % test accuracy, final accuracy
    fashion-mnist  the GPU preset on Fashion-MNIST: test accuracy and time

and writes ``gpucheck.json`` and ``gpucheck.md`` into ``DIR`` (after every stage, atomically).
``--dry-run`` runs every stage on the CPU at a tiny size, to check the command itself.

    stages.py  the stages, their budgets and the loop that runs them
    report.py  the JSON and Markdown reports, written without overwriting a user's report
    cli.py     the ``gpucheck`` command: its checks of the command line, the datasets
"""
from .report import REPORT_JSON, REPORT_MD, check_can_write, to_markdown, write_reports
from .stages import STAGE_SECONDS, STAGES, Context, StageReport, run_stages

__all__ = ["REPORT_JSON", "REPORT_MD", "STAGES", "STAGE_SECONDS", "Context", "StageReport", "check_can_write",
           "run_stages", "to_markdown", "write_reports"]
