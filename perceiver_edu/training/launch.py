"""``train(config, nproc=N)``: the ``train`` command started under torchrun in N processes, and
watched through its metrics log (chapter 5).

The processes load ``config.dataset`` themselves and write their checkpoint and log to the run
directory; this process draws the progress bar from the log as it grows, passes Ctrl-C on to them
and, once they have finished, loads what they saved.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from tqdm.auto import tqdm

from . import distributed
from .checkpoint import load_checkpoint
from .config import TrainConfig
from .metrics_log import METRICS, last_records, read_metrics
from ..inputs.images import ImagePerceiver
from ..settings import get_device


def train_in_processes(config: TrainConfig, nproc: int, out_dir: str | Path | None, *, resume: bool, progress: bool,
                       stop_at_step: int | None) -> tuple[ImagePerceiver, list[dict]]:
    """Run ``python -m perceiver_edu train`` for ``config`` under torchrun in ``nproc`` processes;
    return the model they saved (its metadata holds the step and training time) and their log.
    ``out_dir``: the run directory (``None``: a temporary one)."""
    if config.batch_size % nproc:
        raise ValueError(f"batch_size={config.batch_size} must be a multiple of nproc={nproc}: each process takes "
                         f"an equal share of every batch")
    with contextlib.ExitStack() as stack:
        run_dir = Path(out_dir) if out_dir is not None else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        config_file = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "train_config.json"
        config_file.write_text(json.dumps(config.to_dict()))
        argv = ["train", "--config", str(config_file), "--out", str(run_dir), "--no-progress"]
        argv += ["--resume"] if resume else []
        argv += ["--stop-at-step", str(stop_at_step)] if stop_at_step is not None else []
        cmd, env = distributed.torchrun_command(nproc, argv)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)  # its own process group, for Ctrl-C below
        output: list[str] = []
        reader = threading.Thread(target=lambda: output.extend(proc.stdout), daemon=True)
        reader.start()
        total = (config.train_subset or 60_000) // config.batch_size * config.epochs  # both datasets: 60,000
        bar = tqdm(total=total, desc=f"train {config.dataset} ({nproc} processes)", disable=not progress,
                   unit="step", dynamic_ncols=True)
        try:
            while proc.poll() is None:
                time.sleep(0.5)
                _show_progress(bar, run_dir / METRICS)
            reader.join()
        except KeyboardInterrupt:  # what Ctrl-C does in a terminal: every process gets SIGINT; rank 0 saves
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait()
            raise
        finally:
            _show_progress(bar, run_dir / METRICS)
            bar.close()
        if proc.returncode != 0:
            raise RuntimeError(_failure_message(proc.returncode, nproc, cmd, output))
        return load_checkpoint(run_dir, device=get_device(config.device)), read_metrics(run_dir)


def _show_progress(bar, metrics: Path) -> None:
    """Move ``bar`` to the last train record of a metrics log that another process is writing."""
    train_records = [r for r in last_records(metrics) if r["split"] == "train"]
    if train_records:
        last = train_records[-1]
        bar.update(last["step"] - bar.n)
        bar.set_postfix(loss=f"{last['loss']:.3f}", acc=f"{last['acc']:.3f}")


def _failure_message(returncode: int, nproc: int, cmd: list[str], output: list[str]) -> str:
    """What the processes raised (the first exception line of their output), then where to read more."""
    errors = [m.group(1).strip() for m in (re.match(r"(?:\[rank\d+\]:\s*)?([\w.]*(?:Error|Exception)\b.*)", line)
                                           for line in output) if m and "ChildFailedError" not in m.group(1)]
    return (f"training in {nproc} processes failed (exit code {returncode}): "
            + (errors[0] if errors else "see their output below")
            + f"\ncommand: {' '.join(cmd)}\nlast lines of its output:\n" + "".join(output[-40:]))


__all__ = ["train_in_processes"]
