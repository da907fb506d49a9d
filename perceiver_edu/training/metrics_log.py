"""A run's metrics log: one JSON object per line in ``<out>/metrics.jsonl`` (chapter 5).

    {"split": "train", "step": 25, "epoch": 0.05, "loss": 1.93, "acc": 0.31, "lr": 0.00025, "grad_norm": 1.2}
    {"split": "test",  "step": 468, "epoch": 1.0, "loss": 0.45, "acc": 0.84}

The trainer appends to it as it goes (rank 0 alone in a data-parallel job), a run started with
``nproc`` follows it for its progress bar, and :mod:`perceiver_edu.plots.training` plots it.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..atomic import atomic_write

METRICS = "metrics.jsonl"


def read_metrics(path: str | Path) -> list[dict]:
    """The records of a metrics log (a run directory or its ``metrics.jsonl``)."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def last_records(path: str | Path, lines: int = 20) -> list[dict]:
    """The complete records among the last ``lines`` lines of a log that another process may be
    writing (its last line may be half written); ``[]`` while there is no log."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()[-lines:] if line.endswith("}")]


class MetricsLog:
    """The records of a run: kept in memory (the run's history) and, when ``writer``, appended to
    ``out_dir/metrics.jsonl``.

    A fresh run (``resume_step=None``) starts a fresh log.  A resumed run keeps the records up to
    ``resume_step``: a run interrupted after its last checkpoint logged steps that the resumed run
    logs again.  Only the writer rewrites the file (atomically, as other processes may read it).
    """

    def __init__(self, out_dir: Path | None, *, writer: bool, resume_step: int | None = None):
        self.path = Path(out_dir) / METRICS if out_dir is not None else None
        self.writer = writer and self.path is not None
        self.records: list[dict] = []
        if self.path is None or not self.path.is_file():
            return
        if resume_step is None:
            if self.writer:
                self.path.unlink()
            return
        self.records = [r for r in read_metrics(self.path) if r["step"] <= resume_step]
        if self.writer:
            text = "".join(json.dumps(r) + "\n" for r in self.records)
            atomic_write(self.path, lambda tmp: Path(tmp).write_text(text))

    def append(self, record: dict) -> None:
        self.records.append(record)
        if self.writer:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")


__all__ = ["METRICS", "MetricsLog", "last_records", "read_metrics"]
