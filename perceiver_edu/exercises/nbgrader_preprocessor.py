"""The student edition inside nbgrader: ``generate_assignment`` clears solutions the workbook's way.

nbgrader's own ``ClearSolutions`` cuts from any line that *mentions* ``BEGIN SOLUTION``, prose
included, so a chapter that explains its markers in markdown stops its build; and its stubs say
only ``raise NotImplementedError()``.  :class:`StudentEdition` puts :func:`.student_edition` (the
same code as ``exercises build``) in its place: marker lines only in code cells, the exercise's
hint in each stub, ``solution-only`` cells and markdown solution spans removed.  Add to the
course's ``nbgrader_config.py``::

    from perceiver_edu.exercises.nbgrader_preprocessor import configure
    configure(c)
"""
from __future__ import annotations

from nbgrader.converters import GenerateAssignment
from nbgrader.preprocessors import ClearSolutions, NbGraderPreprocessor

from .conventions import BuildError
from .student_edition import student_edition

ANSWER_STUB = "YOUR ANSWER HERE"  # what nbgrader writes in place of a written answer


class StudentEdition(NbGraderPreprocessor):
    """An nbgrader preprocessor doing what ``exercises build`` does (see :mod:`.student_edition`)."""

    def preprocess(self, nb, resources):
        name = f"{resources.get('unique_key', 'notebook')}.ipynb"
        try:
            student, _ = student_edition(nb, name)
        except BuildError as err:
            self.log.error(str(err))
            raise
        before = {c.get("id"): c.source for c in nb.cells}
        for cell in student.cells:  # a manually graded answer emptied by the build: say where to write
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "markdown" and meta.get("solution") and cell.source != before.get(cell.get("id")):
                cell.source = f"{cell.source}\n\n{ANSWER_STUB}".strip()
        return student, resources


def configure(c) -> None:
    """Use :class:`StudentEdition` instead of nbgrader's ``ClearSolutions`` in ``generate_assignment``."""
    steps = list(GenerateAssignment.class_traits()["preprocessors"].default())
    if ClearSolutions not in steps:  # pragma: no cover - a future nbgrader with another pipeline
        raise RuntimeError(f"nbgrader's generate_assignment has no ClearSolutions step to replace: {steps}")
    c.GenerateAssignment.preprocessors = [StudentEdition if step is ClearSolutions else step for step in steps]
