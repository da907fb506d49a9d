"""Build the workbook as a static HTML book from the committed, executed notebooks (nothing is re-run).

    python docs/book/build.py [--out build/book]

The landing page is the README, then the chapters in order, the guides in docs/, and one page per
module of the package (autodoc).  Everything is staged in a temporary folder, so the build never
writes into the repository except its output folder (default ``build/book``, ignored by git).
Offline: MathJax is bundled (``sphinx-mathjax-offline``), the widget JavaScript is left out.
Open ``OUT/index.html``.
"""
from __future__ import annotations

import argparse
import json
import pkgutil
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONF_DIR = Path(__file__).resolve().parent
SKIP_MODULES = ("__main__",)
INSTALL_CELL_ID = "install-workbook"


def public_modules() -> list[str]:
    """The package and every public module in it, alphabetically."""
    import perceiver_edu

    names = [m.name for m in pkgutil.walk_packages(perceiver_edu.__path__, "perceiver_edu.")
             if not m.name.rsplit(".", 1)[-1].startswith("_") and m.name.rsplit(".", 1)[-1] not in SKIP_MODULES]
    return ["perceiver_edu"] + sorted(names)


def _api_pages(src: Path) -> list[str]:
    api = src / "api"
    api.mkdir()
    pages = []
    for name in public_modules():
        page = name.replace(".", "_")
        (api / f"{page}.md").write_text(f"# `{name}`\n\n```{{eval-rst}}\n.. automodule:: {name}\n```\n",
                                        encoding="utf-8")
        pages.append(page)
    toc = "\n".join(pages)
    (api / "index.md").write_text("# The package's API\n\nOne page per module, from its docstrings.\n\n"
                                  f"```{{toctree}}\n:maxdepth: 1\n\n{toc}\n```\n", encoding="utf-8")
    return pages


LINK = re.compile(r"\]\((?![a-z]+:|#)(?P<path>[^)\s#]+)")


def _stage_linked_files(src: Path, pages) -> None:
    """Copy the repository files the pages link to (a checkpoint's README, a test) into the book,
    at the same relative place, so that their links resolve (MyST turns them into pages or downloads)."""
    for original, staged in pages:
        for m in LINK.finditer(original.read_text(encoding="utf-8")):
            target = (original.parent / m["path"]).resolve()
            if not target.is_file() or REPO not in target.parents:
                continue
            copy = src / target.relative_to(REPO)
            if target.name == "README.md" and target.parent == REPO:
                continue
            if not copy.exists():
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(target, copy)


def stage(src: Path) -> None:
    """Copy what the book shows into ``src`` and write its tables of contents."""
    (src / "notebooks").mkdir(parents=True)
    chapters = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not chapters:
        raise SystemExit(f"no chapter notebooks found in {REPO / 'notebooks'}")
    for nb in chapters:  # the install cell is for a notebook opened alone, not for a reader: hidden
        data = json.loads(nb.read_text(encoding="utf-8"))
        for cell in data["cells"]:
            if cell.get("id") == INSTALL_CELL_ID:
                cell.setdefault("metadata", {}).setdefault("tags", []).append("remove-cell")
        (src / "notebooks" / nb.name).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    shutil.copytree(REPO / "docs", src / "docs", ignore=shutil.ignore_patterns("book", "*.py", "__pycache__"))
    guides = sorted(p.stem for p in (src / "docs").glob("*.md"))
    for guide in (src / "docs").glob("*.md"):  # their "← README" links lead to the landing page
        guide.write_text(guide.read_text(encoding="utf-8").replace("](../README.md", "](../index.md"), encoding="utf-8")
    _api_pages(src)
    _stage_linked_files(src, [(REPO / "README.md", src / "index.md")]
                        + [(REPO / "docs" / f"{g}.md", src / "docs" / f"{g}.md") for g in guides])
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    toc = lambda caption, items: f"\n```{{toctree}}\n:hidden:\n:caption: {caption}\n\n" + "\n".join(items) + "\n```\n"
    readme += toc("Chapters", [f"notebooks/{nb.stem}" for nb in chapters])
    readme += toc("Guides", [f"docs/{g}" for g in guides])
    readme += toc("Package", ["api/index"])
    (src / "index.md").write_text(readme, encoding="utf-8")


def build(out: Path, *, quiet: bool = True) -> int:
    """Build the book into ``out``; return Sphinx's exit status."""
    from sphinx.cmd.build import build_main

    out = Path(out).resolve()
    with tempfile.TemporaryDirectory(prefix="perceiver-book-") as tmp:
        src = Path(tmp) / "src"
        stage(src)
        args = ["-b", "html", "-c", str(CONF_DIR), "-d", str(Path(tmp) / "doctrees"), str(src), str(out)]
        return build_main(args + (["-q"] if quiet else []))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "build" / "book"), help="output folder (default: build/book)")
    parser.add_argument("--verbose", action="store_true", help="Sphinx's progress messages too")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    status = build(Path(args.out), quiet=not args.verbose)
    if status == 0:
        print(f"book built in {time.perf_counter() - start:.0f} s: open {Path(args.out).resolve() / 'index.html'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
