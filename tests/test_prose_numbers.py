"""The prose-against-outputs guard: a number a chapter's text states must come from that chapter.

Every measured-looking number in a markdown cell (a decimal such as ``82.51``, a percentage, a
number with a unit such as ``19 channels`` or ``129 MiB``, or any number of 1,000 or more) must
appear in the same notebook's code or outputs, at the precision the text gives (``82.5 %`` matches
an output ``0.8251``; ``129 MiB`` an output of bytes).  A number typed from an earlier run, or left
behind when a checkpoint or preset changed, fails here.  Years and references (§3.1, Table 2,
exercise 7.3, chapter 5) are not measurements and are skipped; so is math (``$...$``), whose
numbers are symbols of a formula, and link targets.  A sentence that cites a paper's table or
section ("Table 3", "§4.2") or its authors ("Wu et al., 2015") quotes that paper: its numbers are checked against the paper by a
reader, not here.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

UNITS = (r"%|channels?|features?|latents?|ms|s\b|MiB|MB|GiB|GB|KiB|KB|parameters|params|steps|epochs?|images|"
         r"points|samples|seconds|minutes|bands|inputs|pixels|elements|FLOPs|GFLOP/s|×")
PROSE_NUMBER = re.compile(r"(?<![\w.\-/^_])(\d{1,3}(?:,\d{3})+|\d+\.\d+|\d+)(?:\s?(" + UNITS + r"))?")
REFERENCE = re.compile(r"(§|section|sections|table|tables|fig\.|figure|figures|exercise|exercises|chapter|chapters|"
                       r"eq\.|equation|arxiv:?|cell|cells|part|step|sec\.|\bv)\s*$", re.IGNORECASE)
CITES = re.compile(r"\b(Table|Tables)\s+\d|§\s?\d|\bSec\.\s?\d|\bsection\s+\d|\bet al\.", re.IGNORECASE)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z*(])|\n\s*\n|\n[-*] ")
ANY_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][-+]?\d+)?")


def stated_numbers(markdown: str):
    """(text, value, decimals) of each number in ``markdown`` that states a measurement."""
    text = re.sub(r"\$\$.*?\$\$|\$[^$\n]*\$", " ", markdown, flags=re.S)  # math
    text = re.sub(r"\]\([^)]*\)", "]", text)  # link targets
    text = re.sub(r"`[^`]*`", " ", text)  # inline code: names such as fold_kv, not numbers
    text = " ".join(" " * len(part) if CITES.search(part) else part for part in SENTENCE_END.split(text))
    for m in PROSE_NUMBER.finditer(text):
        digits, unit = m.group(1), m.group(2)
        value = float(digits.replace(",", ""))
        if REFERENCE.search(text[max(0, m.start() - 12):m.start()]):
            continue
        if text[max(0, m.start() - 1):m.start()] in ("×", "x"):
            continue  # the second factor of a shape such as 56×56
        if unit == "×" and re.match(r"\s?\d", text[m.end():]):
            unit = None  # a shape such as 56×56: its factors are small counts
        if "." not in digits and "," not in digits and not unit and value < 1000:
            continue  # a small count ("2 cross-attends") is not checked
        if "." not in digits and not unit and 1900 <= value <= 2099:
            continue  # a year
        yield m.group(0), value, len(digits.split(".")[1]) if "." in digits else 0


def produced_numbers(notebook: dict) -> list[float]:
    """Every number in the notebook's code cells and their text outputs."""
    found = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        texts = ["".join(cell["source"])]
        for out in cell.get("outputs", []):
            texts.append("".join(out.get("text", "")))
            for mime, data in out.get("data", {}).items():
                if mime in ("text/plain", "text/markdown", "text/html"):
                    texts.append("".join(data))
        for t in texts:
            found += [float(n.replace(",", "")) for n in ANY_NUMBER.findall(t)]
    return found


def matches(value: float, decimals: int, produced: list[float]) -> bool:
    """Whether some produced number, as is, as a percentage, or in MiB/millions, rounds to ``value``."""
    tolerance = 0.5 * 10 ** -decimals + 1e-9
    return any(abs(x - value) <= tolerance
               for p in produced for x in (p, 100 * p, p / 2 ** 20, p / 1e6, p / 2 ** 30, p / 1e9))


def unsupported_numbers(notebook: dict) -> list[str]:
    produced = produced_numbers(notebook)
    bad = []
    for i, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "markdown":
            bad += [f"cell {i}: {text!r}" for text, value, decimals in stated_numbers("".join(cell["source"]))
                    if not matches(value, decimals, produced)]
    return bad


def test_the_guard_catches_a_stale_number_and_passes_a_produced_one():
    def notebook(prose, output):
        return {"cells": [{"cell_type": "code", "source": ["print(acc)"], "outputs": [{"text": [output]}]},
                          {"cell_type": "markdown", "source": [prose]}]}
    assert unsupported_numbers(notebook("It scores 82.5 % on 19 channels.", "acc 0.8251, 19 channels")) == []
    assert unsupported_numbers(notebook("It scores 81 %.", "acc 0.8251")) == ["cell 1: '81 %'"]
    assert unsupported_numbers(notebook("It has 35 channels.", "19 channels")) == ["cell 1: '35 channels'"]
    assert unsupported_numbers(notebook("See §3.1, Table 2 and exercise 7.3 (2021); $0.02$, `lr=3e-3`.", "")) == []
    assert unsupported_numbers(notebook("It uses 129 MiB.", "135266304 bytes")) == []
    assert unsupported_numbers(notebook("The paper reaches 78.0 % (Table 1). We reach 81.2 %.", "acc 0.8251")) \
        == ["cell 1: '81.2 %'"]  # a cited sentence is the paper's; the next one is ours


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_number_in_the_prose_is_produced_by_the_notebook(path):
    bad = unsupported_numbers(json.loads(path.read_text()))
    assert not bad, (f"{path.name}: numbers in the text that no code cell or output of the notebook produces "
                     f"(print them, format them into the text from code, or remove them): {bad}")


def full_mode_page_unsupported(page: str, recorded: list[str], notebooks: list[dict]) -> list[str]:
    """Numbers docs/full-mode.md states that neither a recorded full-mode output nor a chapter produced."""
    produced = [float(n.replace(",", "")) for text in recorded for n in ANY_NUMBER.findall(text)]
    for notebook in notebooks:
        produced += produced_numbers(notebook)
    return [text for text, value, decimals in stated_numbers(page) if not matches(value, decimals, produced)]


def test_full_mode_guard_catches_a_number_no_run_printed():
    recorded = ["test accuracy: 91.2 %  (907 objects)"]
    assert full_mode_page_unsupported("Full mode reaches 91.2 % on 907 objects.", recorded, []) == []
    assert full_mode_page_unsupported("Full mode reaches 93.4 %.", recorded, []) == ["93.4 %"]


def test_full_mode_page_quotes_only_recorded_outputs():
    docs = Path(__file__).resolve().parents[1] / "docs"
    recorded = [p.read_text() for p in sorted((docs / "full-mode").glob("*.txt"))]
    assert len(recorded) == 6, "one recorded full-mode run per chapter 7-12"
    notebooks = [json.loads(p.read_text()) for p in NOTEBOOKS]
    bad = full_mode_page_unsupported((docs / "full-mode.md").read_text(), recorded, notebooks)
    assert not bad, f"docs/full-mode.md states numbers no recorded run printed: {bad}"
