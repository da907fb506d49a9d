"""nbgrader cell metadata, written from the exercise markers: one source of truth for both routes.

nbgrader's ``generate_assignment`` and ``autograde`` read a ``"nbgrader"`` entry in each cell's
metadata.  Here that entry is never edited by hand: it is computed from what the notebook already
says (see :mod:`.conventions`) and written by ``python -m perceiver_edu exercises metadata``:

* a code cell holding a ``### BEGIN SOLUTION`` region is an autograded answer (``solution: true``),
  graded id ``exercise-N-K-solution``, where ``N.K`` is the id of the next ``check()`` call;
* a cell tagged ``solution-only`` is a solution cell too (nbgrader replaces it whole by a stub);
* a markdown cell holding a ``<!-- BEGIN SOLUTION -->`` span is a manually graded answer worth
  0 points, grade id ``answer-<cell id>`` (nbgrader puts ``YOUR ANSWER HERE`` in place of the span
  and lists the student's text in its formgrader);
* a code cell calling ``check("N.K", ...)`` is a read-only test cell (``grade: true, locked: true``)
  with grade id ``exercise-N-K`` and :func:`points` points: the exercise's difficulty in stars;
* every other cell carries no nbgrader entry (a stale one is removed).

Rerunning the command changes nothing; ``--check`` reports the cells whose metadata disagrees
with the markers without writing.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_write
from .conventions import MARKDOWN_MARKER, SOLUTION_ONLY_TAG, BuildError, check_ids, solution_regions
from .core import EXERCISES
from .student_edition import exercise_id_after

SCHEMA_VERSION = 3
ANSWER_POINTS = 0  # a written answer in prose is read by the instructor, not scored automatically
KEY = "nbgrader"


def grade_id(exercise_id: str, *, solution: bool = False) -> str:
    """nbgrader's id of an exercise's test cell (or of its solution cell): ``"1.2"`` -> ``"exercise-1-2"``.

    nbgrader allows letters, digits, ``-`` and ``_`` only."""
    base = "exercise-" + "-".join(exercise_id.replace("_", "-").split("."))
    return base + "-solution" if solution else base


def points(exercise_id: str) -> int:
    """Points of an exercise in nbgrader: its difficulty (★☆☆ 1, ★★☆ 2, ★★★ 3)."""
    if exercise_id not in EXERCISES:
        raise BuildError(f'check("{exercise_id}", ...) names no registered exercise; known: {sorted(EXERCISES)}')
    return EXERCISES[exercise_id].difficulty


def _solution_entry(gid: str) -> dict:
    return {"grade": False, "grade_id": gid, "locked": False, "schema_version": SCHEMA_VERSION, "solution": True}


def _answer_entry(gid: str) -> dict:
    # nbgrader's "manually graded answer": the only kind of markdown solution cell it accepts.
    return {"grade": True, "grade_id": gid, "locked": False, "points": ANSWER_POINTS, "schema_version": SCHEMA_VERSION,
            "solution": True}


def _test_entry(gid: str, pts: int) -> dict:
    return {"grade": True, "grade_id": gid, "locked": True, "points": pts, "schema_version": SCHEMA_VERSION,
            "solution": False}


def expected_entries(nb, name: str = "notebook") -> list[dict | None]:
    """The ``nbgrader`` metadata each cell of ``nb`` should carry (None: no entry), from its markers."""
    entries: list[dict | None] = []
    for i, cell in enumerate(nb.cells):
        where = f"{name}, cell {cell.get('id', i)}"
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type != "code":
            entries.append(_answer_entry(f"answer-{cell.get('id', i)}")
                           if cell.cell_type == "markdown" and MARKDOWN_MARKER.search(cell.source) else None)
            continue
        regions = solution_regions(cell.source, where)
        ids = check_ids(cell.source)
        if (regions or SOLUTION_ONLY_TAG in tags) and ids:
            raise BuildError(f"{where}: holds both a solution and check({ids[0]!r}, ...); nbgrader needs the "
                             "check() call in a cell of its own (a read-only test cell)")
        if regions:
            ex_id = exercise_id_after(nb.cells, i, regions[-1].end)
            entries.append(_solution_entry(grade_id(ex_id, solution=True) if ex_id else f"solution-{cell.get('id', i)}"))
        elif SOLUTION_ONLY_TAG in tags:
            entries.append(_solution_entry(f"solution-only-{cell.get('id', i)}"))
        elif ids:
            entries.append(_test_entry("-".join(grade_id(x) for x in ids), sum(points(x) for x in ids)))
        else:
            entries.append(None)
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        if entry is not None:
            if entry["grade_id"] in seen:
                raise BuildError(f"{name}: cells {seen[entry['grade_id']]} and {i} would share the nbgrader grade id "
                                 f"{entry['grade_id']!r} (one exercise checked twice?)")
            seen[entry["grade_id"]] = i
    return entries


@dataclass
class Change:
    cell: str            # the cell's id
    old: dict | None
    new: dict | None

    def __str__(self) -> str:
        def show(e):
            if e is None:
                return "none"
            kind = "solution" if e.get("solution") else "test" if e.get("grade") else "other"
            pts = f", {e['points']} point{'s' * (e['points'] != 1)}" if e.get("grade") else ""
            return f"{kind} {e.get('grade_id')!r}{pts}"
        return f"cell {self.cell}: {show(self.old)} -> {show(self.new)}"


def apply_metadata(nb, name: str = "notebook") -> list[Change]:
    """Set every cell's ``nbgrader`` metadata to what its markers say (in place); return what changed."""
    changes = []
    for i, (cell, new) in enumerate(zip(nb.cells, expected_entries(nb, name))):
        old = cell.get("metadata", {}).get(KEY)
        if old == new:
            continue
        changes.append(Change(str(cell.get("id", i)), old, new))
        if new is None:
            cell.metadata.pop(KEY)
        else:
            cell.metadata[KEY] = new
    return changes


def sync_notebook(path, *, check: bool = False) -> list[Change]:
    """Bring ``path``'s nbgrader metadata in line with its markers; with ``check``, only report.

    The file is rewritten (atomically) only when something changed."""
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    changes = apply_metadata(nb, path.name)
    if changes and not check:
        nbformat.validate(nb)
        atomic_write(path, lambda tmp: nbformat.write(nb, tmp), suffix=".ipynb.tmp",
                     mode=os.stat(path).st_mode & 0o777)  # the notebook keeps its permissions
    return changes
