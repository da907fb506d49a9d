"""Every notebook starts with the same install cell, generated from one template."""
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

from perceiver_edu.install_cell import CELL_ID, PIP_REQUIREMENT, REPOSITORY_URL, install_cell_source

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 14


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_starts_with_the_install_cell(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "code" and first.get("id") == CELL_ID
    assert first.source == install_cell_source(), "regenerate it from perceiver_edu.install_cell"
    assert first.source.splitlines()[0] == "# NBVAL_SKIP"  # never installs under nbval
    assert not first.outputs
    assert sum(c.source == install_cell_source() for c in nb.cells) == 1


def _run_install_cell(module_name):
    """Run the cell as IPython would, with ``%pip`` recorded instead of run; returns the magic calls."""
    calls = []

    class FakeShell:
        def run_line_magic(self, name, line):
            calls.append((name, line))

    python = TransformerManager().transform_cell(install_cell_source().replace('"perceiver_edu"', repr(module_name)))
    exec(compile(python, "<install cell>", "exec"), {"get_ipython": FakeShell})
    return calls


def test_install_cell_does_nothing_when_the_package_is_there():
    assert _run_install_cell("perceiver_edu") == []


def test_install_cell_installs_from_the_documented_url_when_missing():
    calls = _run_install_cell("perceiver_edu_not_installed_here")
    assert calls == [("pip", f'install --quiet "{PIP_REQUIREMENT}"')]


def test_readme_shows_the_same_install_command():
    readme = (ROOT / "README.md").read_text()
    assert REPOSITORY_URL in readme and PIP_REQUIREMENT in readme
