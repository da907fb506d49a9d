"""End to end: the attention explorer in a real JupyterLab, driven by headless Chromium.

nbval proves that the notebooks execute; it cannot see what a student sees.  This test starts
``jupyter lab`` on a free local port, opens the attention-map chapter in Debian's Chromium through
Playwright, runs every cell, moves the explorer's controls and checks that the rendered figure
changed and that no widget error is shown.  Screenshots before/after are written to
``$PERCEIVER_EDU_ARTIFACTS`` (default ``tests/e2e/artifacts/``).

Run it alone:  ``python -m pytest tests/e2e -p no:nbval -v``
Needs: ``apt-get install -y chromium`` and ``pip install playwright`` (no browser download).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 2.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


def _kill_leftovers(runtime_dir: Path) -> list[int]:
    """Kill any process (kernels) still using this server's private runtime dir; return their pids."""
    killed = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="ignore")
        except OSError:
            continue
        if str(runtime_dir) in cmdline:
            try:
                os.kill(int(proc.name), signal.SIGKILL)
                killed.append(int(proc.name))
            except ProcessLookupError:
                pass
    return killed


@pytest.fixture
def jupyter_lab(tmp_path):
    """A JupyterLab server on a free port serving a copy of the notebook; always shut down."""
    root = tmp_path / "lab"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(NOTEBOOK, root / "notebooks")  # the browser's autosave must not touch the repo's copy
    (root / "data").symlink_to(REPO / "data")
    runtime = tmp_path / "runtime"
    # no "Would you like to get notified about Jupyter news?" toast over the figure
    notification = tmp_path / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, PERCEIVER_EDU_MODE="quick", PERCEIVER_EDU_DEVICE="cpu", JUPYTER_RUNTIME_DIR=str(runtime),
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
               PYDEVD_DISABLE_FILE_VALIDATION="1")
    env.pop("MPLBACKEND", None)  # the kernel must use Jupyter's inline backend, as a student's does
    log = open(tmp_path / "jupyter.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--LabApp.expose_app_in_browser=True", "--ServerApp.open_browser=False", "--allow-root"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                _get(f"{base}/api/status?token={token}")
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    raise RuntimeError("jupyter lab did not start:\n" + (tmp_path / "jupyter.log").read_text()[-3000:])
                time.sleep(0.5)
        yield {"base": base, "token": token, "notebook": f"notebooks/{Path(NOTEBOOK).name}", "log": tmp_path / "jupyter.log"}
    finally:
        try:
            req = urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST")
            urllib.request.urlopen(req, timeout=5)
        except OSError:
            pass
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        _kill_leftovers(runtime)
        log.close()
        assert server.poll() is not None, "the JupyterLab server is still running"


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
            _wait_idle(page, 120_000)
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
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
