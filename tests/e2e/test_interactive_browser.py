"""End to end: every interactive walkthrough (chapters 1, 2, 3, 5, 7, 9) in a real JupyterLab.

One small generated notebook holds every chapter's widget, each built on tiny synthetic inputs so
that the notebook runs in seconds in one kernel; it is opened in the session's JupyterLab server
(shared with the explorer's test, ``conftest.py``) in headless Chromium.  Every control is moved as a student would
(typing into a slider's read-out, a key on a slider's handle, a click, a choice in a dropdown; the
live training is started, left to redraw twice by itself, and stopped); after each move the figure
must change, and no widget error may appear.  One screenshot per chapter goes to
``$PERCEIVER_EDU_ARTIFACTS`` (default ``tests/e2e/artifacts/``): ``interactive_chNN.png``.

Run it alone:  ``python -m pytest tests/e2e -p no:nbval -k interactive_browser -v``
"""
from __future__ import annotations

import nbformat

from test_explorer_browser import ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS, WIDGET_ERRORS, _run_all_cells, _wait_idle, \
    playwright_api

SETUP = "import torch\nimport perceiver_edu as pe\nfrom perceiver_edu.plots import interactive as ia\n"
TINY_IMAGE_PERCEIVER = """pre = pe.ImagePreprocess(image_shape=(1, 12, 10), num_bands=4, max_freq=10.0)
cfg = pe.PerceiverConfig(input_channels=pre.byte_channels, num_classes=10, num_latents=6, latent_dim=16,
                         num_cross_attends=1, self_attends_per_block=1, self_heads=2)
torch.manual_seed(0)
images, labels = torch.rand(128, 1, 12, 10), torch.randint(0, 10, (128,))
"""
# chapter -> (CSS name of the element, code building it as `element`, the moves: (control, how, what))
CHAPTERS = {
    "ch01": ("attention-playground", "element = ia.AttentionPlayground()",
             [("temperature", "type", "3"), ("d", "select", -1), ("scaled", "toggle", None), ("query", "type", "2")]),
    "ch02": ("cost-explorer", "element = ia.CostExplorer(measured_sizes=(128, 256))",
             [("M", "key", "ArrowRight"), ("N", "key", "ArrowRight"), ("D", "key", "ArrowRight")]),
    "ch03": ("fourier-explorer", "element = ia.FourierExplorer()",
             [("resolution", "type", "16"), ("max_freq", "type", "40"), ("num_bands", "type", "4"),
              ("band", "type", "1")]),
    "ch05": ("live-training", TINY_IMAGE_PERCEIVER + "element = ia.LiveTraining(pe.ImagePerceiver(cfg, pre), images, "
             "labels, batch_size=16, chunk=2)",
             [("smooth", "type", "3"), ("lr", "type", "0.003"), ("run", "click", None), ("run", "wait", None),
              ("run", "wait", None), ("run", "click", None)]),
    "ch07": ("permutation-toggle", TINY_IMAGE_PERCEIVER + "from perceiver_edu.model.baselines import SmallCNN\n"
             "element = ia.PermutationToggle(pe.ImagePerceiver(cfg, pre), images[:32], labels[:32], "
             "cnn=SmallCNN(widths=(4, 8)), seeds=(0, 1))",
             [("image", "type", "3"), ("pixels", "toggle", None), ("seed", "select", -1), ("positions", "toggle", None)]),
    "ch09": ("point-cloud-reader", "from perceiver_edu.inputs.points import point_byte_channels, points_to_bytes\n"
             "cfg = pe.PerceiverConfig(input_channels=point_byte_channels(4), num_classes=10, num_latents=8, "
             "latent_dim=16, num_cross_attends=2, self_attends_per_block=1, self_heads=2)\ntorch.manual_seed(0)\n"
             "element = ia.PointCloudReader(pe.Perceiver(cfg), torch.rand(128, 3) * 2 - 1, "
             "transform=lambda p: points_to_bytes(p, 4, 8.0))",
             [("latent", "type", "3"), ("cross_attend", "select", -1), ("top", "type", "40"),
              ("elevation", "type", "60"), ("azimuth", "type", "90")]),
}


NOTEBOOK = "interactive/walkthroughs.ipynb"


def _write_notebook(root) -> None:
    """A setup cell, then per chapter a cell building ``element_chNN`` and a cell showing it."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP)]
    for chapter, (_, build, _) in CHAPTERS.items():
        nb.cells += [nbformat.v4.new_code_cell(build.replace("element =", f"element_{chapter} =")),
                     nbformat.v4.new_code_cell(f"element_{chapter}")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (root / "interactive").mkdir(exist_ok=True)
    nbformat.write(nb, root / NOTEBOOK)


def _move(page, box: str, control: str, how: str, what) -> None:
    target = page.locator(f"{box} .pe-{control.replace('_', '-')}").first
    if how == "type":  # a slider's editable read-out, as a student types a number
        target.locator(".widget-readout").first.click()
        page.keyboard.press("Control+A")
        page.keyboard.type(str(what))
        page.keyboard.press("Enter")
    elif how == "key":  # a selection slider: focus its handle, press a key
        target.locator(".noUi-handle").first.focus()
        page.keyboard.press(what)
    elif how == "select":
        select = target.locator("select").first
        select.select_option(index=select.locator("option").count() - 1 if what == -1 else what)
    elif how == "toggle":  # toggle buttons: press the one not pressed
        target.locator("button:not(.mod-active)").first.click()
    elif how == "click":
        target.click()
    elif how == "wait":  # nothing to move: the figure changes by itself (training in the background)
        pass
    else:  # pragma: no cover
        raise ValueError(how)


def test_walkthroughs_in_a_real_browser(jupyter_lab, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    lab = jupyter_lab
    _write_notebook(lab["root"])
    with playwright_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000})
        page = context.pages[0] if context.pages else context.new_page()
        chapter = "start"
        try:
            page.goto(f"{lab['base']}/lab/tree/{NOTEBOOK}?token={lab['token']}")
            page.wait_for_selector(".jp-Notebook", timeout=120_000)
            _run_all_cells(page, NOTEBOOK)
            for chapter, (css, _, _) in CHAPTERS.items():
                page.wait_for_selector(f".pe-{css} img.pe-figure", state="attached", timeout=180_000)
            _wait_idle(page, 180_000)  # every cell has run
            for chapter, (css, _, moves) in CHAPTERS.items():
                box, figure = f".pe-{css}", f".pe-{css} img.pe-figure"
                page.locator(box).first.scroll_into_view_if_needed()
                src = first = page.locator(figure).first.get_attribute("src")
                for control, how, what in moves:
                    _move(page, box, control, how, what)
                    page.wait_for_function(
                        "([sel, old]) => { const i = document.querySelector(sel); "
                        "return i && i.getAttribute('src') !== old; }", arg=[figure, src], timeout=60_000)
                    src = page.locator(figure).first.get_attribute("src")
                _wait_idle(page, 60_000)
                assert src != first, f"{chapter}: the figure did not change"
                page.locator(box).first.screenshot(path=str(ARTIFACTS / f"interactive_{chapter}.png"))
            text = page.locator("body").inner_text()
            for error in WIDGET_ERRORS:
                assert error not in text, f"the page shows a widget error: {error!r}"
        except Exception:
            page.screenshot(path=str(ARTIFACTS / f"interactive_failure_{chapter}.png"), full_page=True)
            raise
        finally:
            context.close()
