"""The student edition of a notebook: every solution replaced by a stub, nothing of it left behind.

Each ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region (see :mod:`.conventions`) becomes
``# YOUR CODE HERE`` and ``raise NotImplementedError("<hint>")`` at the marker's indentation; the
hint is the ``### HINT:`` text if there is one, else the title of the exercise registered under
the id of the next ``check(...)`` call.  Cells tagged ``solution-only`` and markdown between
``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->`` are removed, and every output and
execution count is cleared.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .conventions import (BEGIN_MARKER, EDITION_KEY, END_MARKER, EXERCISE_TAG, MARKDOWN_MARKER, SOLUTION_ONLY_TAG,
                          BuildError, check_ids, id_key, solution_regions)
from .core import EXERCISES

STUB_COMMENT = "# YOUR CODE HERE"


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
    for m in MARKDOWN_MARKER.finditer(source):
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


def exercise_id_after(cells, index: int, region_end_line: int) -> str | None:
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
                ex_id = exercise_id_after(cells, i, regions[-1].end)
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
                                "exercises": sorted({i for i in stats.stubs if i != "?"}, key=id_key)}
    # Belt and braces: nothing that looks like a marker may survive.
    for cell in nb.cells:
        lines = cell.source.splitlines()
        if any(BEGIN_MARKER.match(l) or END_MARKER.match(l) for l in lines) or MARKDOWN_MARKER.search(cell.source):
            raise BuildError(f"{name}: a solution marker survived the build (cell {cell.get('id', '?')})")
    return nb, stats


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
