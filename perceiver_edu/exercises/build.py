"""Classroom tooling: build the student edition, list the exercises, check a student's notebook.

The committed notebooks are the single source of truth.  An exercise cell (tag ``exercise``) holds
its solution between two marker lines, the nbgrader convention::

    def scores(q, k):
        ### BEGIN SOLUTION
        ### HINT: multiply q by the transpose of k, then scale       (optional)
        return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        ### END SOLUTION

followed (in the same cell or a later one) by ``check("1.1", scores)``.  The student edition
replaces each region by ``# YOUR CODE HERE`` and ``raise NotImplementedError("<hint>")`` at the
marker's indentation; the hint is the ``### HINT:`` text if there is one, else the title of the
exercise registered under the id of the next ``check(...)`` call.  It also removes cells tagged
``solution-only`` and markdown between ``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->``,
and clears every output and execution count.

Command line (``python -m perceiver_edu exercises ...``)::

    build --out DIR [NOTEBOOK ...]     student editions into DIR (default: all of notebooks/)
    list [--markdown]                  the exercises: id, chapter, difficulty, title, what it teaches
    check STUDENT.ipynb [...]          run a student's notebook in a fresh kernel (quick mode, CPU)
                                       and report every check("id", ...) in it; exit 1 unless all pass
"""
from __future__ import annotations

import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .core import EXERCISES, STARS

SOLUTION_ONLY_TAG = "solution-only"
EXERCISE_TAG = "exercise"
STUB_COMMENT = "# YOUR CODE HERE"
EDITION_KEY = "perceiver_edu"  # notebook metadata key marking a student edition

# "### BEGIN SOLUTION" (also accepted: any number of '#', any spacing, so that a typo never leaks a solution)
_BEGIN = re.compile(r"^\s*#+\s*BEGIN\s+SOLUTION\s*$", re.IGNORECASE)
_END = re.compile(r"^\s*#+\s*END\s+SOLUTION\s*$", re.IGNORECASE)
_HINT = re.compile(r"^\s*#+\s*HINT\s*:\s*(?P<text>.*?)\s*$", re.IGNORECASE)
_MD_MARK = re.compile(r"<!--\s*(?P<which>BEGIN|END)\s+SOLUTION\s*-->", re.IGNORECASE)
# check("1.2", ...) or check('1.2', ...), also exercises.check(...)
CHECK_CALL = re.compile(r"""(?<![\w])check\(\s*(?P<q>['"])(?P<id>[^'"\n]+)(?P=q)""")

# The lines check() in core.py prints and raises: parsed back from a student's executed notebook.
_PASSED_LINE = "✅ Exercise {id} "
_NOT_RIGHT = re.compile(r"Exercise (?P<id>\S+) is not right yet\. Hint: (?P<hint>.*)", re.DOTALL)
_NOT_WRITTEN = re.compile(r"^not written yet(?: \((?P<why>.*)\))?$", re.DOTALL)

# Rough time a student spends, used by ``exercises list --markdown`` (stated with the table).
MINUTES_PER_DIFFICULTY = {1: 5, 2: 15, 3: 30}
PROSE_WORDS_PER_MINUTE = 120   # technical prose with equations
CODE_LINES_PER_MINUTE = 10     # reading a code cell, running it, looking at its output


class BuildError(ValueError):
    """A source notebook does not follow the exercise conventions (message says where and how)."""


# ----------------------------------------------------------------------------------------------
# Student edition
# ----------------------------------------------------------------------------------------------

@dataclass
class Region:
    begin: int            # line index of the BEGIN marker
    end: int              # line index of the END marker
    indent: str           # the BEGIN marker's indentation, reused for the stub
    hints: list[str]      # text of ### HINT: lines inside the region


def solution_regions(source: str, where: str = "cell") -> list[Region]:
    """Find the ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` regions of a code cell's source."""
    regions, open_at = [], None
    lines = source.splitlines()
    for i, line in enumerate(lines):
        if _BEGIN.match(line):
            if open_at is not None:
                raise BuildError(f"{where}, line {i + 1}: BEGIN SOLUTION inside the region opened on line {open_at + 1}")
            open_at = i
        elif _END.match(line):
            if open_at is None:
                raise BuildError(f"{where}, line {i + 1}: END SOLUTION without a BEGIN SOLUTION above it")
            indent = lines[open_at][: len(lines[open_at]) - len(lines[open_at].lstrip())]
            hints = [m["text"] for m in map(_HINT.match, lines[open_at + 1:i]) if m and m["text"]]
            regions.append(Region(open_at, i, indent, hints))
            open_at = None
    if open_at is not None:
        raise BuildError(f"{where}, line {open_at + 1}: BEGIN SOLUTION is never closed by END SOLUTION")
    return regions


def solution_lines(source: str) -> list[str]:
    """The lines strictly inside the solution regions (what must never reach a student)."""
    lines = source.splitlines()
    return [line for r in solution_regions(source) for line in lines[r.begin + 1:r.end]]


def check_ids(source: str) -> list[str]:
    """Exercise ids of the ``check("id", ...)`` calls in a cell's source, in order."""
    return [m["id"] for m in CHECK_CALL.finditer(source)]


def stub_hint(exercise_id: str | None, hints: list[str]) -> str:
    """The message of the stub's ``NotImplementedError``."""
    prefix = f"Exercise {exercise_id}: " if exercise_id else ""
    if hints:
        return prefix + " ".join(hints)
    if exercise_id in EXERCISES:
        return prefix + EXERCISES[exercise_id].title
    return prefix + "write your solution here" if prefix else "write your solution here"


def stub_source(source: str, exercise_id: str | None, where: str = "cell") -> str:
    """Replace every solution region of ``source`` by ``# YOUR CODE HERE`` + ``raise NotImplementedError``."""
    lines = source.splitlines()
    out, last = [], 0
    for r in solution_regions(source, where):
        out += lines[last:r.begin]
        message = json.dumps(stub_hint(exercise_id, r.hints), ensure_ascii=False)  # a valid Python literal
        out += [f"{r.indent}{STUB_COMMENT}", f"{r.indent}raise NotImplementedError({message})"]
        last = r.end + 1
    out += lines[last:]
    return "\n".join(out)


def strip_markdown_solutions(source: str, where: str = "cell") -> tuple[str, int]:
    """Remove ``<!-- BEGIN SOLUTION -->`` ... ``<!-- END SOLUTION -->`` spans; return (text, count)."""
    pieces, pos, opened, count = [], 0, None, 0
    for m in _MD_MARK.finditer(source):
        if m["which"].upper() == "BEGIN":
            if opened is not None:
                raise BuildError(f"{where}: <!-- BEGIN SOLUTION --> inside another solution span")
            pieces.append(source[pos:m.start()])
            opened = m
        else:
            if opened is None:
                raise BuildError(f"{where}: <!-- END SOLUTION --> without a BEGIN above it")
            pos, opened, count = m.end(), None, count + 1
    if opened is not None:
        raise BuildError(f"{where}: <!-- BEGIN SOLUTION --> is never closed by <!-- END SOLUTION -->")
    pieces.append(source[pos:])
    text = re.sub(r"\n{3,}", "\n\n", "".join(pieces)).strip("\n")
    return text, count


@dataclass
class BuildStats:
    stubs: list[str] = field(default_factory=list)  # exercise id (or "?") of each stubbed region
    removed_cells: int = 0
    markdown_spans: int = 0


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _exercise_id_after(cells, index: int, region_end_line: int) -> str | None:
    """The id of the first check() call after a region: later in its own cell, else in the cells
    that follow, up to the next cell holding a solution region of its own."""
    own = cells[index].source.splitlines()[region_end_line + 1:]
    ids = check_ids("\n".join(own))
    if ids:
        return ids[0]
    for cell in cells[index + 1:]:
        if cell.cell_type != "code":
            continue
        ids = check_ids(cell.source)
        if ids:
            return ids[0]
        if solution_regions(cell.source):
            return None
    return None


def student_edition(nb, name: str = "notebook"):
    """Return ``(student_nb, BuildStats)`` for a source notebook (``nbformat.NotebookNode``); ``nb`` is not modified."""
    import copy

    nb = copy.deepcopy(nb)
    stats = BuildStats()
    cells = nb.cells
    kept = []
    for i, cell in enumerate(cells):
        where = f"{name}, cell {i}"
        if SOLUTION_ONLY_TAG in _tags(cell):
            stats.removed_cells += 1
            continue
        if cell.cell_type == "code":
            regions = solution_regions(cell.source, where)
            if regions:
                ex_id = _exercise_id_after(cells, i, regions[-1].end)
                cell.source = stub_source(cell.source, ex_id, where)
                stats.stubs += [ex_id or "?"] * len(regions)
            elif EXERCISE_TAG in _tags(cell):
                raise BuildError(f"{where} is tagged '{EXERCISE_TAG}' but has no ### BEGIN SOLUTION region")
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
        elif cell.cell_type in ("markdown", "raw"):
            cell.source, n = strip_markdown_solutions(cell.source, where)
            stats.markdown_spans += n
            cell.pop("attachments", None) if n else None
        kept.append(cell)
    nb.cells = kept
    nb.metadata.pop("widgets", None)
    nb.metadata[EDITION_KEY] = {"edition": "student", "built_from": name,
                                "exercises": sorted({i for i in stats.stubs if i != "?"}, key=_id_key)}
    # Belt and braces: nothing that looks like a marker may survive.
    for cell in nb.cells:
        if any(_BEGIN.match(l) or _END.match(l) for l in cell.source.splitlines()) or _MD_MARK.search(cell.source):
            raise BuildError(f"{name}: a solution marker survived the build (cell {cell.get('id', '?')})")
    return nb, stats


def repo_notebooks() -> list[Path]:
    """The workbook's notebooks (``notebooks/*.ipynb`` beside the package in a source checkout)."""
    folder = Path(__file__).resolve().parents[2] / "notebooks"
    return sorted(folder.glob("*.ipynb")) if folder.is_dir() else []


def build(notebooks, out_dir) -> list[tuple[Path, Path, BuildStats]]:
    """Write the student edition of each notebook into ``out_dir``; never overwrites a source notebook."""
    import nbformat

    out_dir = Path(out_dir).resolve()
    sources = [Path(p).resolve() for p in notebooks]
    if not sources:
        raise BuildError("no notebooks given (and no notebooks/ folder found beside the package)")
    for src in sources:
        if not src.is_file():
            raise BuildError(f"{src}: no such notebook")
        if src.parent == out_dir:
            raise BuildError(f"--out {out_dir} is the folder of the source notebook {src.name}: "
                             "choose another folder (the sources are never overwritten)")
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise BuildError(f"two notebooks share a file name: {sorted(n for n in names if names.count(n) > 1)}")
    built = []
    for src in sources:  # read and convert all first: a bad notebook leaves nothing half-written
        nb = nbformat.read(src, as_version=4)
        student, stats = student_edition(nb, src.name)
        built.append((src, out_dir / src.name, student, stats))
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for src, dst, student, stats in built:
        if dst.exists():
            if dst.samefile(src):
                raise BuildError(f"{dst} is the source notebook itself")
            old = nbformat.read(dst, as_version=4)
            if old.metadata.get(EDITION_KEY, {}).get("edition") != "student":
                raise BuildError(f"{dst} exists and is not a student edition built by this tool: not overwriting it")
        nbformat.validate(student)
        nbformat.write(student, dst)
        results.append((src, dst, stats))
    return results


# ----------------------------------------------------------------------------------------------
# Exercise list and time estimates
# ----------------------------------------------------------------------------------------------

def _id_key(exercise_id: str):
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.\-]", exercise_id))


def exercises_in_notebooks(notebooks=None) -> dict[str, list[str]]:
    """Map exercise id -> names of the notebooks whose cells call ``check("id", ...)``."""
    import nbformat

    where: dict[str, list[str]] = {}
    for path in notebooks if notebooks is not None else repo_notebooks():
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                for ex_id in check_ids(cell.source):
                    if Path(path).name not in where.setdefault(ex_id, []):
                        where[ex_id].append(Path(path).name)
    return where


def _chapter_of(path: Path) -> int | None:
    m = re.match(r"(\d+)_", Path(path).name)
    return int(m.group(1)) if m else None


def _cell_seconds(cell) -> float | None:
    """Execution time of a committed cell, from the timestamps nbclient records in its metadata."""
    from datetime import datetime

    ex = cell.get("metadata", {}).get("execution", {})
    try:
        start = datetime.fromisoformat(ex["iopub.execute_input"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(ex["shell.execute_reply"].replace("Z", "+00:00"))
    except (KeyError, ValueError, AttributeError):
        return None
    return max(0.0, (end - start).total_seconds())


def chapter_estimates(notebooks=None) -> list[dict]:
    """Estimated student time per chapter notebook (minutes): reading and running its cells, waiting
    for them (as timed when the notebook was committed), and writing its exercises."""
    import nbformat

    rows = []
    for path in notebooks if notebooks is not None else repo_notebooks():
        nb = nbformat.read(path, as_version=4)
        words = sum(len(c.source.split()) for c in nb.cells if c.cell_type == "markdown")
        code = [c for c in nb.cells if c.cell_type == "code"]
        code_lines = sum(1 for c in code for line in c.source.splitlines() if line.strip())
        code_lines -= sum(1 for c in code for line in solution_lines(c.source) if line.strip())  # written, not read
        seconds = [_cell_seconds(c) for c in code]
        compute_minutes = sum(t for t in seconds if t) / 60 if any(t is not None for t in seconds) else None
        ids = sorted({i for c in code for i in check_ids(c.source)}, key=_id_key)
        ex_minutes = sum(MINUTES_PER_DIFFICULTY.get(EXERCISES[i].difficulty, 15) for i in ids if i in EXERCISES)
        read_minutes = words / PROSE_WORDS_PER_MINUTE + code_lines / CODE_LINES_PER_MINUTE
        total = max(5, 5 * round((read_minutes + (compute_minutes or 0) + ex_minutes) / 5))
        rows.append(dict(notebook=Path(path).name, chapter=_chapter_of(path), words=words, code_lines=code_lines,
                         exercises=ids, read_minutes=read_minutes, compute_minutes=compute_minutes,
                         exercise_minutes=ex_minutes, total_minutes=total))
    return rows


def _fmt_minutes(m: float) -> str:
    if 0 < m < 0.5:
        return "< 1 min"
    m = int(round(m))
    return f"{m // 60} h {m % 60:02d} min" if m >= 60 else f"{m} min"


def exercise_rows() -> list[dict]:
    where = exercises_in_notebooks()
    return [dict(id=e.id, chapter=e.chapter, stars=STARS.get(e.difficulty, "?"), title=e.title,
                 teaches=e.teaches, notebooks=where.get(e.id, []))
            for e in sorted(EXERCISES.values(), key=lambda e: _id_key(e.id))]


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def format_list(markdown: bool = False) -> str:
    """The exercise table (plain text, or Markdown with the per-chapter time estimate)."""
    rows = exercise_rows()
    if not markdown:
        if not rows:
            return "no exercises registered"
        w_title = max(len("title"), *(len(r["title"]) for r in rows))
        lines = [f"{'id':<6} {'ch':>2}  {'level':<5}  {'title':<{w_title}}  teaches",
                 f"{'-' * 6} {'-' * 2}  {'-' * 5}  {'-' * w_title}  {'-' * 7}"]
        lines += [f"{r['id']:<6} {r['chapter']:>2}  {r['stars']:<5}  {r['title']:<{w_title}}  {r['teaches']}"
                  for r in rows]
        lines.append(f"{len(rows)} exercises; ★☆☆ a line or two, ★★☆ a function, ★★★ a whole block")
        return "\n".join(lines)
    out = ["| id | chapter | difficulty | title | what it teaches | notebook |",
           "|---|---|---|---|---|---|"]
    out += [f"| {r['id']} | {r['chapter']} | {r['stars']} | {_md_cell(r['title'])} | {_md_cell(r['teaches'])} | "
            f"{', '.join(f'`{n}`' for n in r['notebooks']) or '(not in a notebook yet)'} |" for r in rows]
    out += ["", f"{len(rows)} exercises.  ★☆☆ a line or two, ★★☆ a function, ★★★ a whole block.", ""]
    out += ["| chapter notebook | exercises | reading | waiting for cells (quick mode) | writing the exercises "
            "| estimated total |",
            "|---|---|---|---|---|---|"]
    est = chapter_estimates()
    for r in est:
        out.append(f"| `{r['notebook']}` | {', '.join(r['exercises']) or '—'} | "
                   f"{_fmt_minutes(r['read_minutes'])} | "
                   f"{'?' if r['compute_minutes'] is None else _fmt_minutes(r['compute_minutes'])} | "
                   f"{_fmt_minutes(r['exercise_minutes'])} | "
                   f"**{_fmt_minutes(r['total_minutes'])}** |")
    if est:
        out.append(f"| **all chapters** | {sum(len(r['exercises']) for r in est)} | | | | "
                   f"**{_fmt_minutes(sum(r['total_minutes'] for r in est))}** |")
    out += ["", f"Estimates: reading counts prose at {PROSE_WORDS_PER_MINUTE} words/min and code at "
            f"{CODE_LINES_PER_MINUTE} non-blank lines/min (read it, run it, look at the output); waiting is the "
            "cells' run time recorded in the committed notebook (quick mode, CPU, on the authoring machine: "
            "2 cores shared with other jobs, so a free laptop is usually faster; full mode on a GPU differs); "
            "writing counts " + ", ".join(f"{STARS[d]} {m} min" for d, m in MINUTES_PER_DIFFICULTY.items())
            + " per exercise.  Totals rounded to 5 min."]
    return "\n".join(out)


# ----------------------------------------------------------------------------------------------
# Checking a student's notebook
# ----------------------------------------------------------------------------------------------

PASSED, WRONG, NOT_WRITTEN, ERROR, NOT_RUN, MISSING = (
    "passed", "wrong", "not written yet", "error", "not run", "missing")
_SYMBOL = {PASSED: "✅", WRONG: "❌", NOT_WRITTEN: "📝", ERROR: "💥", NOT_RUN: "➖", MISSING: "❓"}


@dataclass
class CheckResult:
    id: str
    status: str          # passed / wrong / not written yet / error / not run / missing
    message: str         # the hint, or what went wrong
    cell: int            # index of the cell holding the check() call


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
    return results


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
            results.append(CheckResult(ex_id, MISSING, f'no check("{ex_id}", ...) call left in the notebook', -1))
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
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------

def cmd_build(args) -> int:
    notebooks = args.notebooks or repo_notebooks()
    try:
        results = build(notebooks, args.out)
    except BuildError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for src, dst, stats in results:
        ids = ", ".join(stats.stubs) if stats.stubs else "none"
        print(f"{src.name}: {len(stats.stubs)} exercise stub(s) ({ids}), {stats.removed_cells} solution-only "
              f"cell(s) removed, {stats.markdown_spans} markdown solution span(s) removed -> {dst}")
    print(f"student edition of {len(results)} notebook(s) in {Path(args.out).resolve()}")
    return 0


GENERATED_BEGIN = "<!-- BEGIN GENERATED: python -m perceiver_edu exercises list --markdown -->"
GENERATED_END = "<!-- END GENERATED -->"


def update_generated(path, table: str) -> bool:
    """Replace the text between the GENERATED markers of ``path`` by ``table``; True if it changed."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if text.count(GENERATED_BEGIN) != 1 or text.count(GENERATED_END) != 1:
        raise BuildError(f"{path} must hold the two lines {GENERATED_BEGIN} and {GENERATED_END} once each")
    head, rest = text.split(GENERATED_BEGIN)
    _, tail = rest.split(GENERATED_END)
    new = f"{head}{GENERATED_BEGIN}\n{table.strip()}\n{GENERATED_END}{tail}"
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def cmd_list(args) -> int:
    table = format_list(markdown=args.markdown or bool(args.update))
    if not args.update:
        print(table)
        return 0
    try:
        changed = update_generated(args.update, table)
    except BuildError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{args.update}: {'updated' if changed else 'already up to date'} ({len(EXERCISES)} exercises)")
    return 0


def cmd_check(args) -> int:
    if args.save_executed and len(args.notebooks) > 1:
        print("error: --save-executed takes one notebook at a time", file=sys.stderr)
        return 2
    failed = 0
    for path in args.notebooks:
        if not Path(path).is_file():
            print(f"error: {path}: no such notebook", file=sys.stderr)
            return 2
        print(f"running {path} in a fresh kernel (quick mode, CPU, {args.timeout} s per cell)...", flush=True)
        start = time.perf_counter()
        results, fatal = check_notebook(path, timeout=args.timeout, save_executed=args.save_executed)
        print(format_report(results, Path(path).name))
        if fatal:
            print(f"  stopped early: {fatal}")
        print(f"  ({time.perf_counter() - start:.0f} s)")
        failed += sum(r.status != PASSED for r in results) + bool(fatal)
    return 1 if failed else 0


def register_cli(subparsers) -> None:
    parser = subparsers.add_parser("exercises", help="student editions, exercise list, check a student's notebook",
                                   description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="exercises_command", required=True)

    p = sub.add_parser("build", help="write the student edition of notebooks into a folder")
    p.add_argument("--out", required=True, help="folder for the student edition (not the notebooks' own folder)")
    p.add_argument("notebooks", nargs="*", help="source notebooks (default: every notebooks/*.ipynb)")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("list", help="table of the exercises: id, chapter, difficulty, title, what it teaches")
    p.add_argument("--markdown", action="store_true", help="Markdown tables, with per-chapter time estimates")
    p.add_argument("--update", metavar="FILE", help="write the Markdown tables between the GENERATED markers "
                   "of FILE (exercises/README.md) instead of printing them")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("check", help="execute a student's notebook and report each exercise")
    p.add_argument("notebooks", nargs="+", metavar="STUDENT_NOTEBOOK", help="the student's .ipynb file(s)")
    p.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default 600)")
    p.add_argument("--save-executed", metavar="PATH", help="also write the executed notebook here")
    p.set_defaults(func=cmd_check)
