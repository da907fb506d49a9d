"""The classroom loop: source notebook -> student edition -> student's answers -> check report.

A small synthetic notebook with toy exercises (ids 99.x, registered here and, in the kernel, by
importing the same toy module) exercises every rule of the builder; two tests start a kernel.
The last tests run the builder over the repo's real notebooks.
"""
import argparse
import ast
import importlib.util
import os
import re

import nbformat
import pytest

from perceiver_edu.exercises import catalogue, cli, conventions, grading, student_edition
from perceiver_edu.exercises.core import EXERCISES

TOY_MODULE = '''
from perceiver_edu.exercises.core import EXERCISES, Hint, exercise

if "99.1" not in EXERCISES:
    @exercise("99.1", "The answer to everything", difficulty=1, chapter=99, teaches="assigning a value")
    def check_answer(value):
        if value != 42:
            raise Hint(f"the answer is six times seven, not {value}")

    @exercise("99.2", "Double a number", difficulty=2, chapter=99, teaches="writing a function")
    def check_double(fn):
        for x in (0, 1, 5):
            if fn(x) != 2 * x:
                raise Hint(f"double({x}) should be {2 * x}, got {fn(x)}: multiply by 2, don't add 2")

    @exercise("99.3", "Triple a number", difficulty=3, chapter=99, teaches="a check in the same cell")
    def check_triple(fn):
        if fn(2) != 6:
            raise Hint("triple(2) should be 6")

    @exercise("99.4", "Say hello", difficulty=1, chapter=99, teaches="a string")
    def check_hello(text):
        if text != "hello":
            raise Hint("say hello")
'''
TOY_IDS = ("99.1", "99.2", "99.3", "99.4")
SECRETS = ("SECRET-1", "SECRET-2", "SECRET-3", "SECRET-4", "SECRET-MD")


@pytest.fixture
def toy_exercises(tmp_path):
    """Register the toy exercises in this process; return the path of the module for the kernel."""
    path = tmp_path / "toy_exercises.py"
    path.write_text(TOY_MODULE)
    spec = importlib.util.spec_from_file_location("toy_exercises", path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    yield path
    for ex_id in TOY_IDS:
        EXERCISES.pop(ex_id, None)


def _code(source, tags=(), outputs=True):
    cell = nbformat.v4.new_code_cell(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    if outputs:  # as in a committed notebook: executed, with outputs
        cell.execution_count = 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="SECRET-OUTPUT\n")]
    return cell


def toy_notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Toy chapter"),
        _code("import toy_exercises\nfrom perceiver_edu.exercises import check", outputs=False),
        nbformat.v4.new_markdown_cell("### Exercise 99.1\nAssign the answer.\n<!-- BEGIN SOLUTION -->\n"
                                      "It is 42 (SECRET-MD).\n<!-- END SOLUTION -->\nThen run the check."),
        _code("### BEGIN SOLUTION\nanswer = 6 * 7  # SECRET-1\n### END SOLUTION", tags=["exercise"]),
        _code('check("99.1", answer)'),
        _code("def double(x):\n    ### BEGIN SOLUTION\n    ### HINT: return x times two\n"
              "    return x * 2  # SECRET-2\n    ### END SOLUTION", tags=["exercise"]),
        _code("check('99.2', double)"),
        _code("print('SECRET-3: the instructor demo')", tags=["solution-only"]),
        _code('def triple(x):\n    ### BEGIN SOLUTION\n    return 3 * x  # SECRET-4\n    ### END SOLUTION\n\n\n'
              'check("99.3", triple)', tags=["exercise"]),
        _code("### BEGIN SOLUTION\ngreeting = 'hello'\n### END SOLUTION", tags=["exercise"]),
        _code('check("99.4", greeting)'),
    ]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"c{i}"
    return nb


@pytest.fixture
def student(tmp_path, toy_exercises):
    """Build the student edition of the toy notebook; return (source path, source bytes, student path)."""
    src_dir, out_dir = tmp_path / "src", tmp_path / "student"
    src_dir.mkdir()
    src = src_dir / "99_toy.ipynb"
    nbformat.write(toy_notebook(), src)
    before = src.read_bytes()
    assert run_cli("exercises", "build", "--out", str(out_dir), str(src)) == 0
    (out_dir / "toy_exercises.py").write_text(toy_exercises.read_text())  # the kernel imports it
    return src, before, out_dir / "99_toy.ipynb"


def run_cli(*argv):
    """The exercises command alone (``perceiver_edu.__main__`` adds the same sub-parser)."""
    parser = argparse.ArgumentParser()
    cli.register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_student_edition_has_stubs_and_no_solutions(student):
    src, before, out = student
    assert src.read_bytes() == before, "the source notebook must stay untouched"
    text = out.read_text()
    for secret in SECRETS + ("SECRET-OUTPUT", "BEGIN SOLUTION", "END SOLUTION", "HINT"):
        assert secret not in text
    nb = nbformat.read(out, as_version=4)
    nbformat.validate(nb)
    assert len(nb.cells) == len(toy_notebook().cells) - 1  # the solution-only cell is gone
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert code[1].source == '# YOUR CODE HERE\nraise NotImplementedError("Exercise 99.1: The answer to everything")'
    assert code[3].source == ('def double(x):\n    # YOUR CODE HERE\n'
                              '    raise NotImplementedError("Exercise 99.2: return x times two")')
    assert code[5].source.startswith('def triple(x):\n    # YOUR CODE HERE\n    raise NotImplementedError('
                                     '"Exercise 99.3: Triple a number")\n')
    assert code[5].source.endswith('check("99.3", triple)')
    for cell in code:
        ast.parse(cell.source)  # the stubs are valid Python
    md = nb.cells[2].source
    assert "Assign the answer." in md and "Then run the check." in md and "42" not in md
    assert nb.metadata["perceiver_edu"]["edition"] == "student"


def _kernel_run(nb, cwd, allow_errors):
    from nbclient import NotebookClient
    client = NotebookClient(nb, km=grading._current_env_kernel_manager(), timeout=120, allow_errors=allow_errors,
                            resources={"metadata": {"path": str(cwd)}},
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])
    return client.execute(env={**os.environ, **grading.KERNEL_ENV})


def test_running_the_student_edition_stops_at_the_first_stub_with_its_hint(student):
    pytest.importorskip("nbclient")
    from nbclient.exceptions import CellExecutionError
    _, _, out = student
    nb = nbformat.read(out, as_version=4)
    with pytest.raises(CellExecutionError, match="NotImplementedError") as err:
        _kernel_run(nb, out.parent, allow_errors=False)
    assert "Exercise 99.1: The answer to everything" in str(err.value)
    ran = [c.execution_count is not None for c in nb.cells if c.cell_type == "code"]
    assert ran == [True, True] + [False] * 6  # setup, then the first stub; nothing after


def answer(nb, marker, new_lines):
    """Replace the stub of the cell whose source contains ``marker`` (as a student would)."""
    cell = next(c for c in nb.cells if c.cell_type == "code" and marker in c.source)
    cell.source = re.sub(r"( *)# YOUR CODE HERE\n *raise NotImplementedError\(.*\)",
                         lambda m: "\n".join(m[1] + line for line in new_lines), cell.source)


def test_check_reports_passed_wrong_and_not_written(student, capsys):
    pytest.importorskip("nbclient")
    _, _, out = student
    nb = nbformat.read(out, as_version=4)
    answer(nb, "Exercise 99.1", ["answer = 42"])            # right
    answer(nb, "def double", ["return x + 2"])              # wrong: the checker's hint must come back
    # 99.3 left as handed out; 99.4's check cell deleted
    nb.cells = [c for c in nb.cells if 'check("99.4"' not in c.source]
    handed_in = out.parent / "alice.ipynb"
    nbformat.write(nb, handed_in)

    assert run_cli("exercises", "check", "--timeout", "120", str(handed_in)) == 1
    report = capsys.readouterr().out
    lines = {ex_id: next(line for line in report.splitlines() if f" {ex_id} " in line) for ex_id in TOY_IDS}
    assert "passed" in lines["99.1"]
    assert "wrong" in lines["99.2"] and "double(0) should be 0, got 2: multiply by 2, don't add 2" in lines["99.2"]
    assert "not written yet" in lines["99.3"] and "Exercise 99.3: Triple a number" in lines["99.3"]
    assert "missing" in lines["99.4"] and 'no check("99.4", ...) call left' in lines["99.4"]
    assert "Traceback" not in report and "1 passed, 1 wrong, 1 not written yet, 1 missing" in report
    assert "SECRET" not in handed_in.read_text()


# ----- the report, from hand-made executed cells (no kernel) --------------------------------------

def _executed(source, stdout="", error=None):
    cell = nbformat.v4.new_code_cell(source)
    cell.execution_count = 1
    if stdout:
        cell.outputs.append(nbformat.v4.new_output("stream", name="stdout", text=stdout))
    if error:
        cell.outputs.append(nbformat.v4.new_output("error", ename=error[0], evalue=error[1], traceback=["..."]))
    return cell


def test_report_explains_failures_upstream_of_the_check(toy_exercises):
    cells = [
        _executed("answer = ", error=("SyntaxError", "invalid syntax")),
        _executed('check("99.1", answer)', error=("NameError", "name 'answer' is not defined")),
        _executed("def double(x):\n    raise NotImplementedError('Exercise 99.2: go')"),
        _executed("check('99.2', double)\ncheck('99.3', double)",
                  error=("ExerciseError", "Exercise 99.2 is not right yet. Hint: not written yet (Exercise 99.2: go)")),
        nbformat.v4.new_code_cell('check("99.1", 42)'),  # never executed
        _executed('check("99.1", 42)', stdout="✅ Exercise 99.1 (★☆☆) passed: The answer to everything\n"),
    ]
    got = [(r.id, r.status, r.message) for r in grading.report_from_cells(cells, timeouts=set())]
    assert got[0][:2] == ("99.1", "error") and "cell 0 above raised SyntaxError" in got[0][2]
    assert got[1] == ("99.2", "not written yet", "Exercise 99.2: go")
    assert got[2][:2] == ("99.3", "not run")
    assert got[3][:2] == ("99.1", "not run")
    assert got[4][:2] == ("99.1", "passed")
    timed_out = grading.report_from_cells([_executed("check('99.1', f())", error=("CellTimeoutError", "x"))], {0})
    assert timed_out[0].status == "error" and "time limit" in timed_out[0].message


# ----- builder rules and refusals ----------------------------------------------------------------

def test_unbalanced_markers_are_clear_errors():
    with pytest.raises(conventions.BuildError, match="never closed"):
        conventions.solution_regions("### BEGIN SOLUTION\nx = 1")
    with pytest.raises(conventions.BuildError, match="without a BEGIN"):
        conventions.solution_regions("x = 1\n### END SOLUTION")
    with pytest.raises(conventions.BuildError, match="never closed"):
        student_edition.strip_markdown_solutions("text <!-- BEGIN SOLUTION --> secret")


def test_marker_variants_never_leak():
    src = "def f():\n    #   begin solution\n    return 1\n    #END SOLUTION\n    pass"
    assert student_edition.stub_source(src, None) == ('def f():\n    # YOUR CODE HERE\n'
                                                      '    raise NotImplementedError("write your solution here")\n'
                                                      '    pass')


def test_build_refuses_to_overwrite_sources(tmp_path):
    src = tmp_path / "01_x.ipynb"
    nbformat.write(toy_notebook(), src)
    before = src.read_bytes()
    with pytest.raises(conventions.BuildError, match="never overwritten"):
        student_edition.build([src], tmp_path)
    other = tmp_path / "out"
    other.mkdir()
    (other / "01_x.ipynb").write_bytes(before)  # an instructor's copy, not a student edition
    with pytest.raises(conventions.BuildError, match="not a student edition"):
        student_edition.build([src], other)
    assert src.read_bytes() == before and (other / "01_x.ipynb").read_bytes() == before
    assert run_cli("exercises", "build", "--out", str(tmp_path), str(src)) == 2


def test_exercise_cell_without_region_is_an_error():
    nb = nbformat.v4.new_notebook()
    nb.cells = [_code("x = 1", tags=["exercise"])]
    with pytest.raises(conventions.BuildError, match="no ### BEGIN SOLUTION"):
        student_edition.student_edition(nb, "bad.ipynb")


def test_list_shows_every_exercise(toy_exercises, capsys):
    assert run_cli("exercises", "list") == 0
    plain = capsys.readouterr().out
    assert run_cli("exercises", "list", "--markdown") == 0
    markdown = capsys.readouterr().out
    for ex in EXERCISES.values():
        assert ex.id in plain and ex.title in plain
        assert f"| {ex.id} | {ex.chapter} | " in markdown
    assert "| 99.2 | 99 | ★★☆ | Double a number | writing a function |" in markdown


def test_command_is_registered_in_the_main_cli(capsys):
    from perceiver_edu.__main__ import main
    assert main(["exercises", "list"]) == 0
    assert "id" in capsys.readouterr().out


# ----- the repo's real notebooks -------------------------------------------------------------------

REAL = conventions.repo_notebooks()


def test_real_notebooks_build_without_leaking_solutions(tmp_path):
    if not REAL:
        pytest.skip("no notebooks/ folder beside the package")
    results = student_edition.build(REAL, tmp_path)
    for src, dst, stats in results:
        assert "?" not in stats.stubs, f"{src.name}: a solution region with no check(\"id\", ...) after it"
        source = nbformat.read(src, as_version=4)
        student = nbformat.read(dst, as_version=4)
        for cell in student.cells:  # (prose may name the markers; no code cell may hold one)
            if cell.cell_type == "code":
                assert not conventions.solution_regions(cell.source) and "BEGIN SOLUTION" not in cell.source
        # A solution line may appear in the student edition only as often as outside the regions.
        secret, public = [], []
        for cell in source.cells:
            if conventions.SOLUTION_ONLY_TAG not in cell.metadata.get("tags", []):
                s, p = _secret_and_public(cell)
                secret, public = secret + s, public + p
        student_lines = [line.strip() for c in student.cells for line in c.source.splitlines()]
        for line in set(secret) - {""}:
            assert student_lines.count(line) <= public.count(line), f"{src.name}: solution line survived: {line!r}"


def _secret_and_public(cell):
    """A source cell's stripped lines: (inside solution regions or spans, everywhere else)."""
    lines = [line.strip() for line in cell.source.splitlines()]
    if cell.cell_type == "code":
        secret = [line.strip() for line in conventions.solution_lines(cell.source)]
    else:
        spans = re.findall(r"<!--\s*BEGIN SOLUTION\s*-->(.*?)<!--\s*END SOLUTION\s*-->", cell.source, re.S | re.I)
        secret = [line.strip() for span in spans for line in span.splitlines()]
    public = list(lines)
    for line in secret:
        if line in public:
            public.remove(line)
    return secret, public


def test_every_check_is_registered_and_every_exercise_is_checked():
    where = catalogue.exercises_in_notebooks(REAL)
    unknown = sorted(set(where) - set(EXERCISES), key=conventions.id_key)
    assert not unknown, f"check() calls with no registered exercise: {unknown} in {[where[i] for i in unknown]}"
    chapters_with_notebook = {catalogue.chapter_of(p) for p in REAL}
    # Only chapters whose notebook has landed: a checker may be written before its notebook.
    unchecked = sorted((e.id for e in EXERCISES.values()
                        if e.chapter in chapters_with_notebook and e.id not in where), key=conventions.id_key)
    assert not unchecked, f"registered exercises no notebook checks: {unchecked}"


def test_list_update_rewrites_only_the_generated_part(tmp_path, toy_exercises):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{catalogue.GENERATED_BEGIN}\nold table\n{catalogue.GENERATED_END}\noutro\n")
    assert run_cli("exercises", "list", "--update", str(readme)) == 0
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith(f"{catalogue.GENERATED_END}\noutro\n")
    assert "old table" not in text and "| 99.3 | 99 | ★★★ | Triple a number |" in text
    assert not catalogue.update_generated(readme, catalogue.format_list(markdown=True))  # idempotent
    (tmp_path / "bare.md").write_text("no markers")
    assert run_cli("exercises", "list", "--update", str(tmp_path / "bare.md")) == 2
