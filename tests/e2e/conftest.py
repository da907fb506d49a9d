"""One JupyterLab server for every browser test of the session (the explorer's, the walkthroughs').

The server serves a private copy of the workbook's root (``notebooks/`` holds a copy of the explorer's
chapter; tests add their own notebooks under it), uses private runtime, config and settings
directories, and is always shut down, kernels included.
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


@pytest.fixture(scope="session")
def jupyter_lab(tmp_path_factory):
    """A JupyterLab server on a free port serving a copy of the notebook; always shut down."""
    tmp_path = tmp_path_factory.mktemp("jupyter-lab")
    root = tmp_path / "lab"
    (root / "notebooks").mkdir(parents=True)
    if Path(NOTEBOOK).exists():
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
        yield {"base": base, "token": token, "root": root, "notebook": f"notebooks/{Path(NOTEBOOK).name}",
               "log": tmp_path / "jupyter.log"}
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
