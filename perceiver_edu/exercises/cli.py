"""Classroom tooling: build the student edition, list the exercises, check a student's notebook.

Command line (``python -m perceiver_edu exercises ...``)::

    build --out DIR [NOTEBOOK ...]     student editions into DIR (default: all of notebooks/)
    list [--markdown]                  the exercises: id, chapter, difficulty, title, what it teaches
    check STUDENT.ipynb [...]          run a student's notebook in a fresh kernel (quick mode, CPU)
                                       and report every check("id", ...) in it; exit 1 unless all pass
    metadata [--check] [NOTEBOOK ...]  write nbgrader's cell metadata from the solution markers and
                                       check() calls (--check: only report a disagreement, exit 1)

The work is done by :mod:`.student_edition`, :mod:`.catalogue`, :mod:`.grading` and :mod:`.nbgrader_metadata`.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from .catalogue import format_list, update_generated
from .conventions import BuildError, repo_notebooks
from .core import EXERCISES
from .grading import PASSED, check_notebook, format_report
from .nbgrader_metadata import sync_notebook
from .student_edition import build


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


def cmd_metadata(args) -> int:
    notebooks = args.notebooks or repo_notebooks()
    if not notebooks:
        print("error: no notebooks given (and no notebooks/ folder found beside the package)", file=sys.stderr)
        return 2
    stale = 0
    for path in notebooks:
        if not Path(path).is_file():
            print(f"error: {path}: no such notebook", file=sys.stderr)
            return 2
        try:
            changes = sync_notebook(path, check=args.check)
        except BuildError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        stale += bool(changes)
        verb = "disagrees with its markers" if args.check else "updated"
        print(f"{Path(path).name}: " + (f"{verb} ({len(changes)} cell(s))" if changes else "in line with its markers"))
        for change in changes:
            print(f"  {change}")
    if args.check and stale:
        print(f"{stale} notebook(s) out of date: run `python -m perceiver_edu exercises metadata`", file=sys.stderr)
        return 1
    return 0


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
                   "of FILE (docs/instructors.md) instead of printing them")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("check", help="execute a student's notebook and report each exercise")
    p.add_argument("notebooks", nargs="+", metavar="STUDENT_NOTEBOOK", help="the student's .ipynb file(s)")
    p.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default 600)")
    p.add_argument("--save-executed", metavar="PATH", help="also write the executed notebook here")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("metadata", help="write nbgrader's cell metadata from the solution markers and check() calls")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a notebook's metadata is stale")
    p.add_argument("notebooks", nargs="*", help="notebooks (default: every notebooks/*.ipynb)")
    p.set_defaults(func=cmd_metadata)
