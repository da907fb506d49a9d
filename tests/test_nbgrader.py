"""The nbgrader round trip, with the real nbgrader, as an instructor runs it on a course.

A course folder in tmp_path holds chapters 4 and 13 (the committed instructor notebooks; among the
cheapest to execute in quick mode) as one assignment.  ``nbgrader generate_assignment`` must leave
no line of a solution in either student version.  Then three students hand in chapter 4 (three
notebook executions keep the test short): the reference solutions, the untouched stubs, and the
reference with one wrong answer (exercise 4.1 averages the latents before the head instead of after).
``nbgrader autograde`` must give chapter 4 full points, zero, and full points less exercise 4.1's;
``nbgrader generate_feedback`` must show the checker's hint to the student who got it wrong and
"not written yet" to the one who wrote nothing.
"""
import html
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from perceiver_edu.exercises.conventions import repo_notebooks, solution_lines
from perceiver_edu.exercises.core import run_checker
from perceiver_edu.exercises.nbgrader_metadata import grade_id, points
from perceiver_edu.exercises.student_edition import stub_source

pytest.importorskip("nbgrader", reason="pip install -r requirements.txt (nbgrader)")

ASSIGNMENT = "perceiver"
CHAPTERS = ("04_latent_transformer.ipynb", "13_scaling_inputs.ipynb")
WRONG_ID = "4.1"
# Appended to the reference solution of 4.1: the likely mistake, the package's order (average, then the head).
WRONG_ANSWER = "\n\ndef project_then_average(latents, head):  # one wrong answer\n    return head(latents.mean(dim=1))\n"
CONFIG = """from perceiver_edu.exercises.nbgrader_preprocessor import configure

c = get_config()
configure(c)
c.CourseDirectory.course_id = "perceiver-edu"
c.CourseDirectory.root = {root!r}
c.Execute.timeout = 300
"""
ENV = {"PERCEIVER_EDU_MODE": "quick", "PERCEIVER_EDU_DEVICE": "cpu", "MPLBACKEND": "agg", "TQDM_MININTERVAL": "5",
       "PYDEVD_DISABLE_FILE_VALIDATION": "1"}


def nbgrader(course: Path, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True, text=True,
                          env={**os.environ, **ENV}, timeout=600)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def _by_grade_id(nb) -> dict:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}


def _hand_in(course: Path, student: str, notebooks: dict) -> None:
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    for name, nb in notebooks.items():
        nbformat.write(nb, folder / name)
    (folder / "timestamp.txt").write_text("2026-01-05 10:00:00.000000 UTC")


def _bare(line: str) -> str:
    """A line of code without its indentation and trailing comment."""
    return re.sub(r"(^|\s+)#.*$", "", line).strip()


def _page_text(path: Path) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8"))).split())


def test_nbgrader_generate_autograde_feedback_round_trip(tmp_path):
    start = time.perf_counter()
    course = tmp_path / "course"
    (course / "source" / ASSIGNMENT).mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(CONFIG.format(root=str(course)))
    sources = {p.name: p for p in repo_notebooks() if p.name in CHAPTERS}
    assert sorted(sources) == sorted(CHAPTERS)
    for name, path in sources.items():
        shutil.copy(path, course / "source" / ASSIGNMENT / name)

    nbgrader(course, "generate_assignment", ASSIGNMENT, "--create", "--force")

    # The student version: every solution line gone, the stubs and the locked checks in place.
    released, reference = {}, {}
    for name in CHAPTERS:
        source = nbformat.read(sources[name], as_version=4)
        student = nbformat.read(course / "release" / ASSIGNMENT / name, as_version=4)
        code = [c.source for c in source.cells if c.cell_type == "code"]
        inside = {_bare(line) for src in code for line in solution_lines(src)}
        outside = {_bare(line) for src in code for line in stub_source(src, None).splitlines()}  # shown anyway
        secret = {line for line in inside - outside if len(line) > 12}
        assert secret, name
        student_code = "\n".join(c.source for c in student.cells if c.cell_type == "code")
        assert not secret & {_bare(line) for line in student_code.splitlines()}, f"{name}: solution lines left"
        assert "BEGIN SOLUTION" not in student_code and "raise NotImplementedError(\"Exercise " in student_code
        assert not any(c.get("outputs") for c in student.cells if c.cell_type == "code")
        src_cells, stu_cells = _by_grade_id(source), _by_grade_id(student)
        assert src_cells.keys() == stu_cells.keys()
        released[name] = student
        ref = nbformat.from_dict(student)
        for gid, cell in _by_grade_id(ref).items():
            if cell.metadata["nbgrader"]["solution"]:
                cell.source = src_cells[gid].source
        reference[name] = ref
    graded = CHAPTERS[0]
    wrong = nbformat.from_dict(reference[graded])
    _by_grade_id(wrong)[grade_id(WRONG_ID, solution=True)].source += WRONG_ANSWER

    _hand_in(course, "reference", {graded: reference[graded]})
    _hand_in(course, "stubs", {graded: released[graded]})
    _hand_in(course, "one-wrong", {graded: wrong})
    nbgrader(course, "autograde", ASSIGNMENT, "--create")
    nbgrader(course, "generate_feedback", ASSIGNMENT)

    from nbgrader.api import Gradebook
    notebook_id = graded.removesuffix(".ipynb")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "perceiver-edu") as gb:
        scores = {s: gb.find_submission_notebook(notebook_id, ASSIGNMENT, s).score
                  for s in ("reference", "stubs", "one-wrong")}
        max_score = gb.find_notebook(notebook_id, ASSIGNMENT).max_score
    print(f"nbgrader scores of {graded} out of {max_score}: {scores} ({time.perf_counter() - start:.0f} s)")
    assert max_score > points(WRONG_ID) > 0
    assert scores == {"reference": max_score, "stubs": 0, "one-wrong": max_score - points(WRONG_ID)}

    # The feedback shows the checker's hint for the wrong answer (found by running it here too).
    namespace = {}
    exec(WRONG_ANSWER, namespace)
    passed, hint = run_checker(WRONG_ID, namespace["project_then_average"])
    assert not passed
    feedback = _page_text(course / "feedback" / "one-wrong" / ASSIGNMENT / f"{notebook_id}.html")
    assert f"Exercise {WRONG_ID} is not right yet. Hint: {' '.join(hint.split())}" in feedback
    assert "not written yet" in _page_text(course / "feedback" / "stubs" / ASSIGNMENT / f"{notebook_id}.html")
