"""The README and docs/ stay true to the tree: links resolve, the package map names every module,
nothing user-facing points at a folder only the project's CI has, and the README stays short."""
import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _check_links():
    spec = importlib.util.spec_from_file_location("check_links", ROOT / "docs" / "check_links.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_relative_link_resolves(tmp_path):
    check_links = _check_links()
    assert [b for f in check_links.markdown_files() for b in check_links.broken_links(f)] == []
    bad = tmp_path / "bad.md"  # and the checker does catch a broken one
    bad.write_text("[gone](nowhere.md) [here](#no-such-heading)\n# A heading\n")
    check_links.ROOT = tmp_path
    assert len(check_links.broken_links(bad)) == 2


def test_readme_package_map_names_every_module():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    package_map = text[text.index("perceiver_edu/\n"):]
    package_map = package_map[:package_map.index("```")]
    missing = []
    for path in sorted((ROOT / "perceiver_edu").rglob("*.py")):
        rel = path.relative_to(ROOT / "perceiver_edu")
        if path.name == "__init__.py" and len(rel.parts) > 1 or re.fullmatch(r"ch\d\d\.py", path.name):
            continue  # a subpackage's __init__; the chapters' checkers are named as chNN.py
        name = path.name if path.name != "__init__.py" else "perceiver_edu/"
        if len(rel.parts) > 2:  # tools/bench/measure.py is listed as bench/ (..., measure, ...)
            name = rel.parts[-1][:-3]
        if name not in package_map:
            missing.append(str(rel))
    assert missing == [], f"modules the README's package map does not name: {missing}"


def test_readme_is_a_front_door():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").split()) <= 1200


def test_no_user_facing_text_mentions_the_ci_only_data_folder():
    files = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "docs" / "full-mode").glob("*.txt"),
             *(ROOT / "notebooks").glob("*.ipynb"),
             *(ROOT / "perceiver_edu").rglob("*.py"), *(ROOT / "perceiver_edu").rglob("*.md")]
    offending = [str(f.relative_to(ROOT)) for f in files if "shared/data" in f.read_text(encoding="utf-8")]
    assert offending == []
