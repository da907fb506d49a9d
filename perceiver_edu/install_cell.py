"""The first cell of every notebook: install the workbook when it is missing.

A notebook opened alone (a fresh Colab runtime, a JupyterHub holding only the ``.ipynb``) has no
``perceiver_edu`` to import; its first cell installs it from :data:`REPOSITORY_URL`, the one place
the workbook is installed from (the README shows the same command).  Where the package is already
importable the cell does nothing.  nbval skips the cell (``# NBVAL_SKIP``), so tests never install.
``tests/test_install_cell.py`` checks that every notebook starts with exactly :func:`install_cell_source`.
"""
from __future__ import annotations

REPOSITORY_URL = "https://github.com/perceiver-edu/perceiver-edu"
PIP_REQUIREMENT = f"perceiver-edu @ git+{REPOSITORY_URL}"
CELL_ID = "install-workbook"


def install_cell_source() -> str:
    """The source of the install cell (an IPython cell: ``%pip`` installs into the running kernel)."""
    return ("# NBVAL_SKIP\n"
            "# Opened alone (Colab, a JupyterHub)? This installs the workbook; where it is installed, it does nothing.\n"
            "import importlib.util\n"
            "if importlib.util.find_spec(\"perceiver_edu\") is None:\n"
            f"    %pip install --quiet \"{PIP_REQUIREMENT}\"")


__all__ = ["CELL_ID", "PIP_REQUIREMENT", "REPOSITORY_URL", "install_cell_source"]
