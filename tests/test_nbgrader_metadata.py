"""nbgrader cell metadata is written from the solution markers and check() calls, and stays in line.

The repo's notebooks must carry exactly the metadata `exercises metadata` computes: this test fails
when someone adds, moves or removes an exercise without rerunning the command.
"""
import re

import nbformat
import pytest

from perceiver_edu.exercises import cli, conventions, nbgrader_metadata as meta
from perceiver_edu.exercises.core import EXERCISES, ExerciseError, check, exercise

NBGRADER_ID = re.compile(r"^[a-zA-Z0-9_\-]+$")  # nbgrader's schema v3 pattern (non-empty)


@pytest.fixture(autouse=True)
def toy_exercises():
    """Toy exercises 98.1-98.3 worth 1, 2 and 3 stars (the real ones change as chapters are written)."""
    for k in (1, 2, 3):
        exercise(f"98.{k}", f"Toy {k}", difficulty=k, chapter=98)(lambda value: None)
    yield
    for k in (1, 2, 3):
        EXERCISES.pop(f"98.{k}")


def _cell(source, tags=(), nbgrader=None):
    cell = nbformat.v4.new_code_cell(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    if nbgrader is not None:
        cell.metadata["nbgrader"] = nbgrader
    return cell


def toy():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Toy"),
        _cell("import torch", nbgrader={"grade": True, "grade_id": "stale", "points": 5}),  # stale: removed
        _cell("def scores(q, k):\n    ### BEGIN SOLUTION\n    return q @ k.T\n    ### END SOLUTION", tags=["exercise"]),
        _cell('check("98.1", scores)'),
        _cell("print('demo of the answer')", tags=["solution-only"]),
        _cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", tags=["exercise"]),
        _cell('check("98.3", mha)\ncheck("98.2", latents)'),
        nbformat.v4.new_markdown_cell("Why?\n<!-- BEGIN SOLUTION -->\nBecause.\n<!-- END SOLUTION -->"),
    ]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"c{i}"
    return nb


def test_entries_follow_the_markers_and_the_catalogue():
    nb = toy()
    changes = meta.apply_metadata(nb, "toy")
    got = [c.metadata.get("nbgrader") for c in nb.cells]
    assert got[0] is None and got[1] is None                      # markdown; the stale entry is gone
    assert got[2] == {"grade": False, "grade_id": "exercise-98-1-solution", "locked": False,
                      "schema_version": 3, "solution": True}
    assert got[3] == {"grade": True, "grade_id": "exercise-98-1", "locked": True,
                      "points": 1, "schema_version": 3, "solution": False}
    assert got[4]["solution"] and not got[4]["grade"]              # nbgrader replaces it by a stub
    assert got[5]["grade_id"] == "exercise-98-3-solution"           # the id of the next check() call
    assert got[6]["points"] == 3 + 2 and got[6]["grade_id"] == "exercise-98-3-exercise-98-2"
    assert got[7] == {"grade": True, "grade_id": "answer-c7", "locked": False, "points": 0,  # read, not scored
                      "schema_version": 3, "solution": True}
    assert all(NBGRADER_ID.match(e["grade_id"]) for e in got if e)
    assert [c.cell for c in changes] == ["c1", "c2", "c3", "c4", "c5", "c6", "c7"]
    assert meta.apply_metadata(nb, "toy") == []                    # idempotent


def test_a_moved_exercise_makes_the_metadata_stale(tmp_path):
    path = tmp_path / "01_toy.ipynb"
    nb = toy()
    meta.apply_metadata(nb)
    nb.cells[3].source = 'check("98.2", attention)'                 # the check now names another exercise
    nbformat.write(nb, path)
    before = path.read_bytes()
    changes = meta.sync_notebook(path, check=True)
    assert path.read_bytes() == before                             # --check never writes
    assert {c.cell for c in changes} == {"c2", "c3"}
    assert str(changes[1]) == "cell c3: test 'exercise-98-1', 1 point -> test 'exercise-98-2', 2 points"
    meta.sync_notebook(path)
    assert meta.sync_notebook(path, check=True) == []


@pytest.mark.parametrize("cells, message", [
    ([_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\ncheck('98.1', x)")], "in a cell of its own"),
    ([_cell("check('98.1', f)"), _cell("check('98.1', f)")], "share the nbgrader grade id"),
    ([_cell("check('77.7', f)")], "names no registered exercise"),
])
def test_what_nbgrader_cannot_express_is_refused_with_the_cell_named(cells, message):
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    with pytest.raises(conventions.BuildError, match=message):
        meta.expected_entries(nb, "bad.ipynb")


def test_a_failed_check_is_an_assertion_error_as_nbgrader_expects():
    with pytest.raises(AssertionError) as err:
        check("1.1", lambda q, k: q @ k.transpose(-2, -1))        # forgot the 1/sqrt(d)
    assert isinstance(err.value, ExerciseError) and "Hint:" in str(err.value)


def test_the_notebooks_metadata_matches_their_markers(capsys):
    """Fails when an exercise changed and `python -m perceiver_edu exercises metadata` was not rerun."""
    notebooks = conventions.repo_notebooks()
    assert notebooks
    stale = {p.name: [str(c) for c in meta.sync_notebook(p, check=True)] for p in notebooks}
    assert not {k: v for k, v in stale.items() if v}, "run: python -m perceiver_edu exercises metadata"
    assert cli.cmd_metadata(type("Args", (), {"notebooks": [], "check": True})()) == 0
    assert "in line with its markers" in capsys.readouterr().out


def test_exercises_check_reports_the_points_nbgrader_would_give():
    from perceiver_edu.exercises import grading

    passed = _cell('check("98.3", f)', nbgrader={"grade": True, "grade_id": "exercise-98-3", "points": 4})
    passed.execution_count = 1
    passed.outputs = [nbformat.v4.new_output("stream", name="stdout", text="✅ Exercise 98.3 (★★★) passed: Toy 3\n")]
    wrong = _cell('check("98.2", g)')                                 # no metadata: the stars count
    wrong.execution_count = 2
    wrong.outputs = [nbformat.v4.new_output("error", ename="ExerciseError", traceback=[],
                                            evalue="Exercise 98.2 is not right yet. Hint: off by one")]
    results = grading.report_from_cells([passed, wrong])
    assert [(r.status, r.points) for r in results] == [(grading.PASSED, 4), (grading.WRONG, 2)]
    assert "score: 4 of 6 points (as nbgrader counts them)" in grading.format_report(results, "toy.ipynb")
