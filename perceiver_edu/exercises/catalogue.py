"""The exercise catalogue: which exercises exist, where the notebooks check them, how long a chapter takes.

``exercises list`` prints :func:`format_list`; ``exercises list --update docs/instructors.md``
writes its Markdown form between that file's GENERATED markers (:func:`update_generated`).
"""
from __future__ import annotations

import re
from pathlib import Path

from .conventions import BuildError, check_ids, id_key, repo_notebooks, solution_lines
from .core import EXERCISES, STARS

# Rough time a student spends, used by ``exercises list --markdown`` (stated with the table).
MINUTES_PER_DIFFICULTY = {1: 5, 2: 15, 3: 30}
PROSE_WORDS_PER_MINUTE = 120   # technical prose with equations
CODE_LINES_PER_MINUTE = 10     # reading a code cell, running it, looking at its output

# The two lines around the generated tables of docs/instructors.md
GENERATED_BEGIN = "<!-- BEGIN GENERATED: python -m perceiver_edu exercises list --markdown -->"
GENERATED_END = "<!-- END GENERATED -->"


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


def chapter_of(path: Path) -> int | None:
    m = re.match(r"(\d+)_", Path(path).name)
    return int(m.group(1)) if m else None


def cell_seconds(cell) -> float | None:
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
        seconds = [cell_seconds(c) for c in code]
        compute_minutes = sum(t for t in seconds if t) / 60 if any(t is not None for t in seconds) else None
        ids = sorted({i for c in code for i in check_ids(c.source)}, key=id_key)
        ex_minutes = sum(MINUTES_PER_DIFFICULTY.get(EXERCISES[i].difficulty, 15) for i in ids if i in EXERCISES)
        read_minutes = words / PROSE_WORDS_PER_MINUTE + code_lines / CODE_LINES_PER_MINUTE
        total = max(5, 5 * round((read_minutes + (compute_minutes or 0) + ex_minutes) / 5))
        rows.append(dict(notebook=Path(path).name, chapter=chapter_of(path), words=words, code_lines=code_lines,
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
            for e in sorted(EXERCISES.values(), key=lambda e: id_key(e.id))]


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def format_list(*, markdown: bool = False) -> str:
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
