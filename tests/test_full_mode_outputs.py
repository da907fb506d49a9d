"""docs/full_mode_outputs.py: the printed text of an executed notebook, with each cell's seconds."""
import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "full_mode_outputs.py"
spec = importlib.util.spec_from_file_location("full_mode_outputs", SCRIPT)
full_mode_outputs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(full_mode_outputs)


def _cell(outputs, start=None, end=None):
    timing = {"iopub.execute_input": start, "shell.execute_reply": end} if start else {}
    return {"cell_type": "code", "id": "x", "source": "", "metadata": {"execution": timing}, "outputs": outputs}


def test_render_keeps_text_drops_images_and_counts_errors_and_seconds(tmp_path):
    notebook = {"cells": [
        {"cell_type": "markdown", "source": "# title"},
        _cell([{"output_type": "stream", "text": ["fit:  40%|####      | 4/10 [00:01<00:02, 3.1step/s]\r"
                                                  "fit: 100%|##########| 10/10 [00:03<00:00, 3.2step/s]\n"]},
               {"output_type": "stream", "text": ["accuracy 0.912\n"]}],
              "2026-01-01T00:00:00.000Z", "2026-01-01T00:01:30.500Z"),
        _cell([{"output_type": "display_data", "data": {"image/png": "AAAA", "text/plain": "<Figure>"}},
               {"output_type": "display_data", "data": {"text/plain": "fit:   0%|          | 0/10 [00:00<?, ?step/s]"}}]),
        _cell([{"output_type": "error", "ename": "AssertionError", "evalue": "too low", "traceback": []}],
              "2026-01-01T00:02:00Z", "2026-01-01T00:02:02Z"),
    ]}
    text = full_mode_outputs.render(notebook, "07_x", "a test machine")
    assert "accuracy 0.912" in text and "<Figure>" not in text and "step/s" not in text
    assert "--- code cell 1 (id x), 90.5 s" in text and "--- code cell 2 (id x), not run" in text
    assert "ERROR AssertionError: too low" in text
    assert "3 code cells, 92 s in all, 1 with an error" in text
    assert "# hardware: a test machine" in text
