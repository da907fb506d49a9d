"""The GPU check's reports: ``gpucheck.json`` (everything measured) and ``gpucheck.md`` (for people).

Both are written atomically (a temporary file renamed into place), after every stage, so an
interrupted check leaves complete reports of the stages it finished.  An existing report is only
replaced with ``--force``: :func:`check_can_write` refuses before any work starts.
"""
from __future__ import annotations

from pathlib import Path

from ...atomic import atomic_write
from ...training.checkpoint import atomic_write_json

REPORT_JSON, REPORT_MD = "gpucheck.json", "gpucheck.md"
FORMAT = "perceiver-edu-gpucheck/1"


def check_can_write(out: Path, *, force: bool) -> None:
    """Raise ``SystemExit`` (a clear message) unless ``out`` can take the reports."""
    if out.exists() and not out.is_dir():
        raise SystemExit(f"--out {out}: expected a directory for the reports, found a file")
    existing = [out / name for name in (REPORT_JSON, REPORT_MD) if (out / name).exists()]
    if existing and not force:
        raise SystemExit(f"{' and '.join(map(str, existing))} already exist{'s' if len(existing) == 1 else ''} "
                         f"(the report of an earlier check): pass --force to replace it, or choose another --out")


def write_reports(out: Path, report: dict) -> None:
    """Write ``report`` as JSON and as Markdown into ``out`` (each file atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / REPORT_JSON, report)
    text = to_markdown(report)
    atomic_write(out / REPORT_MD, lambda tmp: Path(tmp).write_text(text))


def _percent(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f} %"


def format_rate(flops_per_s: float) -> str:
    """``7.1e14`` -> ``"710.0 TFLOP/s"``; below 1 TFLOP/s in GFLOP/s."""
    return f"{flops_per_s / 1e12:.1f} TFLOP/s" if flops_per_s >= 1e12 else f"{flops_per_s / 1e9:.2f} GFLOP/s"


def summary(stage: dict) -> str:
    """One line of what a stage found (its table cell)."""
    r, name = stage["result"], stage["name"]
    if not r:
        return "-"
    if name == "environment":
        return f"{r.get('gpu', r['hardware'])}; torch {r['torch']}, CUDA {r['cuda']}, cuDNN {r['cudnn']}"
    if name == "matmul":
        return "; ".join(f"{n}x{n} {format_rate(rate)}" for n, rate in r["flops_per_s"].items()) + f" ({r['dtype']})"
    if name == "bench":
        return "; ".join(f"{x['structure']} {x['name']} {x['samples_per_s']:.0f} samples/s" for x in r["results"])
    steps = f"{r['steps_done']} of {r['steps_planned']} steps, {r['seconds']} s"
    if r["final_test_accuracy"] is None:
        return f"no test evaluation yet ({steps})"
    text = f"test accuracy {_percent(r['final_test_accuracy'])} at epoch {r['final_epoch']:g} ({steps})"
    if "target_accuracy" in r:
        reached = (f"after {r['seconds_to_target']} s (epoch {r['epoch_of_target']:g})"
                   if r["seconds_to_target"] is not None else "not reached")
        text += f"; {_percent(r['target_accuracy'])} {reached}"
    return text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(report: dict) -> str:
    """The report for people: a table of the stages, then the benchmark table and the training curves."""
    lines = ["# perceiver-edu GPU check", "",
             f"- started {report['started']}; ran {report['seconds']} s after start-up (the stages' budgets add up to "
             f"{report['budget_seconds']} s)",
             f"- command: `{report['command']}`", f"- device: {report['device']}"]
    if report["dry_run"]:
        lines.append("- **dry run**: every stage on the CPU at a tiny size; the numbers check the command, "
                     "not a GPU")
    lines += ["", "| stage | status | seconds | budget (s) | result | note |", "|---|---|---|---|---|---|"]
    for s in report["stages"]:
        lines.append(f"| {s['name']} | {s['status']} | {s['seconds']} | {s['budget_seconds']} | {_cell(summary(s))} | "
                     f"{_cell(s['note']) or '-'} |")
    for s in report["stages"]:
        r = s["result"]
        if s["name"] == "bench" and r:
            lines += ["", "## bench", "", f"{r['rounds']} round(s) of {r['steps']} step(s); "
                      f"not installed: {', '.join(r['not_installed']) or 'none'}", "", "```text", r["table"], "```"]
        if r.get("test_curve"):
            lines += ["", f"## {s['name']}: test accuracy per epoch", "",
                      "| epoch | step | test accuracy | test loss | seconds |", "|---|---|---|---|---|"]
            lines += [f"| {p['epoch']:g} | {p['step']} | {_percent(p['acc'])} | {p['loss']:.4f} | {p['seconds']} |"
                      for p in r["test_curve"]]
            lines += ["", "seconds: from the stage's call of `train()` to the end of the training step after which "
                          "the accuracy was measured (data staging, compilation and earlier evaluations included)."]
    return "\n".join(lines) + "\n"

