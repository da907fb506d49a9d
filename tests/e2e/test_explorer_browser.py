"""End to end: the attention explorer in a real JupyterLab, driven by headless Chromium.

nbval proves that the notebooks execute; it cannot see what a student sees.  This test starts
``jupyter lab`` on a free local port, opens the attention-map chapter in Debian's Chromium through
Playwright, runs every cell, moves the explorer's controls and checks that the rendered figure
changed and that no widget error is shown.  Screenshots before/after are written to
``$PERCEIVER_EDU_ARTIFACTS`` (default ``tests/e2e/artifacts/``).  The server is the session's
(``conftest.py``), shared with the walkthroughs' browser test.

Run it alone:  ``python -m pytest tests/e2e -p no:nbval -v``
Needs: ``apt-get install -y chromium`` and ``pip install playwright`` (no browser download).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = os.environ.get("PERCEIVER_EDU_E2E_NOTEBOOK", str(REPO / "notebooks" / "06_attention_maps.ipynb"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("PERCEIVER_EDU_ARTIFACTS", REPO / "tests" / "e2e" / "artifacts"))
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-quic"]
WIDGET_ERRORS = ["Error displaying widget", "Failed to load model class", "Error creating widget"]

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
if not Path(CHROMIUM).exists():
    pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)", allow_module_level=True)
if not Path(NOTEBOOK).exists():
    pytest.skip(f"{NOTEBOOK} does not exist yet", allow_module_level=True)


EXPLORER = ".pe-attention-explorer"
FIGURE = ".pe-attention-explorer .pe-figure img"


def _wait_figure_changed(page, old_src: str, timeout_ms: int = 60_000) -> str:
    """Wait until the explorer shows a new figure (its PNG data changes); return the new src."""
    page.wait_for_function(
        "([selector, old]) => { const i = document.querySelector(selector); return i && i.getAttribute('src') !== old; }",
        arg=[FIGURE, old_src], timeout=timeout_ms)
    return page.locator(FIGURE).first.get_attribute("src")


def _wait_idle(page, timeout_ms: int):
    page.wait_for_function(
        """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                   const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
                   return k && k.status === 'idle'; }""", timeout=timeout_ms)


def _run_all_cells(page, path: str) -> None:
    """Run every cell of the notebook at ``path`` once it is the current tab and its kernel idles.

    JupyterLab may still be restoring the tabs of an earlier test when the page loads; a run-all
    sent then goes nowhere, so it is sent again until the notebook's prompts change."""
    page.wait_for_function("(p) => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget; "
                           "return w && w.context && w.context.path === p; }", arg=path, timeout=120_000)
    _wait_idle(page, 120_000)
    prompts = ("() => Array.from(window.jupyterapp.shell.currentWidget.node.querySelectorAll('.jp-InputPrompt'))"
               ".map(e => e.textContent).join('|')")
    before = page.evaluate(prompts)  # a saved notebook shows its old counts: any change means it ran
    for _ in range(4):
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        try:
            page.wait_for_function(f"(old) => ({prompts})() !== old", arg=before, timeout=30_000)
            return
        except playwright_api.TimeoutError:
            continue
    raise AssertionError(f"JupyterLab did not run the cells of {path}")


def test_explorer_updates_in_a_real_browser(jupyter_lab, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    lab = jupyter_lab
    with playwright_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000})
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.goto(f"{lab['base']}/lab/tree/{lab['notebook']}?token={lab['token']}")
            page.wait_for_selector(".jp-Notebook", timeout=120_000)
            _run_all_cells(page, lab["notebook"])
            explorer = page.locator(EXPLORER).first
            explorer.wait_for(state="visible", timeout=300_000)
            page.wait_for_selector(FIGURE, timeout=120_000)
            _wait_idle(page, 300_000)  # every cell has run
            explorer.scroll_into_view_if_needed()
            src = first_src = page.locator(FIGURE).first.get_attribute("src")
            before = explorer.screenshot()
            (ARTIFACTS / "explorer_before.png").write_bytes(before)

            # 1. the image slider, through its editable read-out, as a student would type a number
            readout = page.locator(".pe-image .widget-readout").first
            readout.click()
            page.keyboard.press("Control+A")
            page.keyboard.type("3")
            page.keyboard.press("Enter")
            src = _wait_figure_changed(page, src)
            # 2. one latent instead of the grid of all latents, 3. the last cross-attend
            for selector in (".pe-latent select", ".pe-cross-attend select"):
                select = page.locator(selector).first
                select.select_option(index=select.locator("option").count() - 1)
                src = _wait_figure_changed(page, src)
            _wait_idle(page, 60_000)
            after = explorer.screenshot()
            (ARTIFACTS / "explorer_after.png").write_bytes(after)
            page.screenshot(path=str(ARTIFACTS / "explorer_page.png"))

            assert src != first_src and before != after, "the explorer's figure did not change when its controls moved"
            text = page.locator("body").inner_text()
            for error in WIDGET_ERRORS:
                assert error not in text, f"the page shows a widget error: {error!r}"
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "explorer_failure.png"), full_page=True)
            (ARTIFACTS / "explorer_failure.html").write_text(page.content())
            raise
        finally:
            context.close()
