"""Write the text a full-mode run of a chapter printed, for docs/full-mode.md to quote.

    PERCEIVER_EDU_MODE=full jupyter nbconvert --to notebook --execute --output run.ipynb notebooks/07_permuted_pixels.ipynb
    python docs/full_mode_outputs.py run.ipynb docs/full-mode/07_permuted_pixels.txt --hardware "..."

The file holds every code cell's printed output (streams, text results, errors) with the seconds
the cell ran, read from the timestamps Jupyter records; images and progress bars are left out.  docs/full-mode.md
quotes only numbers found in these files or in the chapters' committed quick-mode outputs (a
test checks that).
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from perceiver_edu.exercises.catalogue import cell_seconds


PROGRESS_BAR = re.compile(r"^.*\|[^|]*\|\s*\d+/\d+ \[.*\]\s*$")  # a tqdm line: "name:  40%|####  | 4/10 [00:01<...]"


def cell_texts(notebook: dict):
    """(index, id, seconds, printed text) of each code cell, in order."""
    index = 0
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        index += 1
        parts = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append("".join(out["text"]))
            elif out.get("output_type") == "error":
                parts.append(f"ERROR {out['ename']}: {out['evalue']}\n")
            elif "text/plain" in out.get("data", {}) and "image/png" not in out["data"]:
                parts.append("".join(out["data"]["text/plain"]) + "\n")
        lines = "".join(parts).replace("\r", "\n").splitlines(keepends=True)
        yield index, cell.get("id", "?"), cell_seconds(cell), "".join(x for x in lines if not PROGRESS_BAR.match(x))


def render(notebook: dict, name: str, hardware: str) -> str:
    cells = list(cell_texts(notebook))
    total = sum(s for _, _, s, _ in cells if s)
    errors = sum("ERROR " in t for *_, t in cells)
    lines = [f"# {name}, full mode (PERCEIVER_EDU_MODE=full)",
             f"# hardware: {hardware}",
             f"# {len(cells)} code cells, {total:.0f} s in all, {errors} with an error", ""]
    for index, cell_id, seconds, text in cells:
        took = f"{seconds:.1f} s" if seconds is not None else "not run"
        lines.append(f"--- code cell {index} (id {cell_id}), {took}")
        lines.append(text.rstrip("\n"))
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("executed", type=Path, help="a notebook executed in full mode")
    parser.add_argument("out", type=Path, help="the text file to write")
    parser.add_argument("--hardware", required=True, help="the machine it ran on, in words")
    args = parser.parse_args(argv)
    notebook = json.loads(args.executed.read_text())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(notebook, args.out.stem, args.hardware))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
