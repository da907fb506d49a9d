"""How the workbook's notebooks mark their exercises: solution regions, ``check()`` calls, exercise ids.

The committed notebooks are the single source of truth.  An exercise cell (tag ``exercise``) holds
its solution between two marker lines, the nbgrader convention::

    def scores(q, k):
        ### BEGIN SOLUTION
        ### HINT: multiply q by the transpose of k, then scale       (optional)
        return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        ### END SOLUTION

followed (in the same cell or a later one) by ``check("1.1", scores)``.  Cells tagged
``solution-only`` are the instructor's alone, and so is markdown between
``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SOLUTION_ONLY_TAG = "solution-only"
EXERCISE_TAG = "exercise"
EDITION_KEY = "perceiver_edu"  # notebook metadata key marking a student edition

# "### BEGIN SOLUTION" (also accepted: any number of '#', any spacing, so that a typo never leaks a solution)
BEGIN_MARKER = re.compile(r"^\s*#+\s*BEGIN\s+SOLUTION\s*$", re.IGNORECASE)
END_MARKER = re.compile(r"^\s*#+\s*END\s+SOLUTION\s*$", re.IGNORECASE)
HINT_MARKER = re.compile(r"^\s*#+\s*HINT\s*:\s*(?P<text>.*?)\s*$", re.IGNORECASE)
MARKDOWN_MARKER = re.compile(r"<!--\s*(?P<which>BEGIN|END)\s+SOLUTION\s*-->", re.IGNORECASE)
# check("1.2", ...) or check('1.2', ...), also exercises.check(...)
CHECK_CALL = re.compile(r"""(?<![\w])check\(\s*(?P<q>['"])(?P<id>[^'"\n]+)(?P=q)""")


class BuildError(ValueError):
    """A source notebook does not follow the exercise conventions (message says where and how)."""


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
        if BEGIN_MARKER.match(line):
            if open_at is not None:
                raise BuildError(f"{where}, line {i + 1}: BEGIN SOLUTION inside the region opened on line {open_at + 1}")
            open_at = i
        elif END_MARKER.match(line):
            if open_at is None:
                raise BuildError(f"{where}, line {i + 1}: END SOLUTION without a BEGIN SOLUTION above it")
            indent = lines[open_at][: len(lines[open_at]) - len(lines[open_at].lstrip())]
            hints = [m["text"] for m in map(HINT_MARKER.match, lines[open_at + 1:i]) if m and m["text"]]
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


def id_key(exercise_id: str):
    """Sort key of an exercise id: "2.10" after "2.9", numbers before letters."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.\-]", exercise_id))


def repo_notebooks() -> list[Path]:
    """The workbook's notebooks (``notebooks/*.ipynb`` beside the package in a source checkout)."""
    folder = Path(__file__).resolve().parents[2] / "notebooks"
    return sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
