"""Grading a student's notebook: run it in a fresh kernel, then report every ``check("id", ...)`` in it.

Each check is passed, wrong (with the checker's hint), not written yet (the stub still raises),
an error (the check cell or a cell above it failed), not run, or missing (its call was deleted
from a student edition).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .conventions import EDITION_KEY, check_ids
from .core import EXERCISES, STARS

# The lines check() in core.py prints and raises: parsed back from a student's executed notebook.
_PASSED_LINE = "✅ Exercise {id} "
_NOT_RIGHT = re.compile(r"Exercise (?P<id>\S+) is not right yet\. Hint: (?P<hint>.*)", re.DOTALL)
_NOT_WRITTEN = re.compile(r"^not written yet(?: \((?P<why>.*)\))?$", re.DOTALL)

PASSED, WRONG, NOT_WRITTEN, ERROR, NOT_RUN, MISSING = (
    "passed", "wrong", "not written yet", "error", "not run", "missing")
_SYMBOL = {PASSED: "✅", WRONG: "❌", NOT_WRITTEN: "📝", ERROR: "💥", NOT_RUN: "➖", MISSING: "❓"}


@dataclass
class CheckResult:
    id: str
    status: str          # passed / wrong / not written yet / error / not run / missing
    message: str         # the hint, or what went wrong
    cell: int            # index of the cell holding the check() call
    points: int | None = None  # what nbgrader would give when it passes (the check cell's nbgrader metadata)


def _one_line(text: str, limit: int = 300) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(text))  # ANSI colours from tracebacks
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _cell_error(cell) -> tuple[str, str] | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return out.get("ename", "Error"), out.get("evalue", "")
    return None


def _cell_stdout(cell) -> str:
    return "".join(out.get("text", "") for out in cell.get("outputs", []) if out.get("output_type") == "stream")


def report_from_cells(cells, timeouts: set[int] = frozenset()) -> list[CheckResult]:
    """Classify every ``check("id", ...)`` call of an executed notebook (``cells``: nbformat cells).

    ``timeouts`` holds the indices of cells stopped for running past the per-cell limit.
    """
    results: list[CheckResult] = []
    earlier_error = None  # (cell index, ename, evalue) of a failing cell since the last check cell
    for i, cell in enumerate(cells):
        if cell.cell_type != "code":
            continue
        ids = check_ids(cell.source)
        error = _cell_error(cell)
        if not ids:
            if error or i in timeouts:
                earlier_error = (i, "timeout" if i in timeouts else error[0], error[1] if error else "")
            continue
        stdout = _cell_stdout(cell)
        ran = cell.get("execution_count") is not None or cell.get("outputs")
        consumed = False
        for ex_id in ids:
            if _PASSED_LINE.format(id=ex_id) in stdout:
                title = EXERCISES[ex_id].title if ex_id in EXERCISES else ""
                results.append(CheckResult(ex_id, PASSED, title, i))
            elif not ran:
                results.append(CheckResult(ex_id, NOT_RUN, "the cell was not executed", i))
            elif consumed or not error:
                results.append(CheckResult(ex_id, NOT_RUN, "an earlier check in the same cell failed" if consumed
                                           else "the check printed nothing (was check() called?)", i))
            else:
                results.append(_classify(ex_id, i, error, earlier_error, i in timeouts))
                consumed = True
        earlier_error = None
    for r in results:
        r.points = _points(r.id, cells[r.cell])
    return results


def _points(ex_id: str, cell) -> int | None:
    """The points of a check: its cell's nbgrader metadata when the cell checks this exercise alone,
    else the exercise's stars (what ``exercises metadata`` writes)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    if meta.get("grade") and check_ids(cell.source) == [ex_id] and "points" in meta:
        return meta["points"]
    return EXERCISES[ex_id].difficulty if ex_id in EXERCISES else None


def _classify(ex_id, i, error, earlier_error, timed_out) -> CheckResult:
    ename, evalue = error
    if timed_out or ename == "CellTimeoutError":
        return CheckResult(ex_id, ERROR, "the check ran past the per-cell time limit (an endless loop?)", i)
    m = _NOT_RIGHT.match(evalue) if ename == "ExerciseError" else None
    if m:
        hint = m["hint"].strip()
        nw = _NOT_WRITTEN.match(hint)
        if nw:
            return CheckResult(ex_id, NOT_WRITTEN, _one_line(nw["why"] or "the stub still raises NotImplementedError"), i)
        return CheckResult(ex_id, WRONG, _one_line(hint), i)
    if ename == "NotImplementedError":
        return CheckResult(ex_id, NOT_WRITTEN, _one_line(evalue or "NotImplementedError"), i)
    if earlier_error is not None:
        j, e_name, e_value = earlier_error
        if e_name == "NotImplementedError":
            return CheckResult(ex_id, NOT_WRITTEN, _one_line(e_value or "the stub still raises NotImplementedError"), i)
        if e_name == "timeout":
            return CheckResult(ex_id, ERROR, f"cell {j} above ran past the per-cell time limit", i)
        return CheckResult(ex_id, ERROR, _one_line(f"cell {j} above raised {e_name}: {e_value}; "
                                                   f"so this check could not run ({ename}: {evalue})"), i)
    if ename == "KeyError" and "no exercise" in evalue:
        return CheckResult(ex_id, ERROR, _one_line(f"unknown exercise id: {evalue}"), i)
    return CheckResult(ex_id, ERROR, _one_line(f"the check cell raised {ename}: {evalue}"), i)


def _current_env_kernel_manager():
    """A kernel manager that starts ipykernel with this very Python (like nbval's --nbval-current-env)."""
    from ipykernel.kernelspec import RESOURCES, get_kernel_dict
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    class CurrentEnvSpecs(KernelSpecManager):
        def get_kernel_spec(self, kernel_name, *args, **kwargs):
            return self.kernel_spec_class(resource_dir=RESOURCES, **get_kernel_dict())

    return AsyncKernelManager(kernel_name="python3", kernel_spec_manager=CurrentEnvSpecs())


KERNEL_ENV = {"PERCEIVER_EDU_MODE": "quick", "PERCEIVER_EDU_DEVICE": "cpu", "MPLBACKEND": "agg",
              "TQDM_MININTERVAL": "5", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}


def execute_notebook(nb, cwd, timeout: int = 600, env: dict | None = None):
    """Run ``nb`` (modified in place) in a fresh kernel, continuing past errors.

    Returns ``(nb, timeouts, fatal)``: indices of cells stopped at the time limit, and the reason
    execution stopped early (a dead kernel), or None.
    """
    try:
        from nbclient import NotebookClient
        from nbclient.exceptions import DeadKernelError
    except ImportError as err:  # pragma: no cover - nbclient comes with jupyterlab
        raise RuntimeError("checking notebooks needs nbclient: pip install nbclient") from err

    timeouts: set[int] = set()
    client = NotebookClient(
        nb, km=_current_env_kernel_manager(), timeout=timeout, allow_errors=True, interrupt_on_timeout=True,
        error_on_timeout={"ename": "CellTimeoutError", "evalue": f"cell ran past {timeout} s", "traceback": []},
        record_timing=False, resources={"metadata": {"path": str(cwd)}},
        extra_arguments=["--IPKernelApp.log_level=ERROR"])  # no transport warnings in the report

    def on_error(cell, cell_index, execute_reply):
        if execute_reply.get("content", {}).get("ename") == "CellTimeoutError":
            timeouts.add(cell_index)
    client.on_cell_error = on_error
    fatal = None
    try:
        client.execute(env={**os.environ, **KERNEL_ENV, **(env or {})})
    except DeadKernelError as err:
        fatal = f"the kernel died ({err}); checks after that were not run"
    return nb, timeouts, fatal


def check_notebook(path, timeout: int = 600, env: dict | None = None, save_executed=None):
    """Execute a student's notebook and return ``(results, fatal)`` (see :func:`report_from_cells`)."""
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:  # a fresh run: stale outputs must not count as passed
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb, timeouts, fatal = execute_notebook(nb, path.resolve().parent, timeout, env)
    if save_executed:
        nbformat.write(nb, save_executed)
    results = report_from_cells(nb.cells, timeouts)
    # The student edition lists its exercises: one whose check() call was deleted is reported too.
    checked = {r.id for r in results}
    for ex_id in nb.metadata.get(EDITION_KEY, {}).get("exercises", []):
        if ex_id not in checked:
            results.append(CheckResult(ex_id, MISSING, f'no check("{ex_id}", ...) call left in the notebook', -1,
                                       EXERCISES[ex_id].difficulty if ex_id in EXERCISES else None))
    return results, fatal


def format_report(results: list[CheckResult], name: str = "notebook") -> str:
    if not results:
        return f"{name}: no check(\"id\", ...) calls found: nothing to report"
    lines = [f"{name}:"]
    w_title = max(len(EXERCISES[r.id].title) if r.id in EXERCISES else 0 for r in results)
    for r in results:
        ex = EXERCISES.get(r.id)
        stars, title = (STARS.get(ex.difficulty, "   "), ex.title) if ex else ("   ", "(unknown exercise)")
        line = f"  {_SYMBOL[r.status]} {r.id:<5} {stars}  {title:<{w_title}}  {r.status}"
        if r.status != PASSED:
            line += f" — {'hint: ' if r.status in (WRONG, NOT_WRITTEN) else ''}{r.message}"
        lines.append(line)
    counts = {s: sum(r.status == s for r in results) for s in _SYMBOL}
    lines.append(f"  {len(results)} exercises: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
    if all(r.points is not None for r in results):
        got = sum(r.points for r in results if r.status == PASSED)
        lines.append(f"  score: {got} of {sum(r.points for r in results)} points (as nbgrader counts them)")
    return "\n".join(lines)
