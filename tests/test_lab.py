"""The book's environment runs the chapters as notebooks: a Jupyter server opens a chapter .md as a notebook."""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import jupytext

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import dev  # noqa: E402


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str, token: str):
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_jupyter_server_opens_a_chapter_as_a_notebook(tmp_path):
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}  # the environment's config only, not the user's
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}",
         "--allow-root"],  # CI runs as root
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(f"{base}/api/status", token)
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, server.stderr.read().decode()[-3000:]
                assert time.monotonic() < deadline, "the Jupyter server did not answer within 60 s"
                time.sleep(0.3)
        chapter = "chapters/01_optimization_mystery.md"
        model = _get(f"{base}/api/contents/{chapter}?type=notebook&content=1", token)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    assert model["type"] == "notebook" and model["format"] == "json"
    served = [(cell["cell_type"], cell["source"]) for cell in model["content"]["cells"]]
    expected = [(cell.cell_type, cell.source) for cell in jupytext.read(ROOT / chapter).cells]
    assert served == expected
    tags = [cell["metadata"].get("tags", []) for cell in model["content"]["cells"]]
    assert any("parameters" in cell_tags for cell_tags in tags)


def test_lab_settings_open_markdown_as_notebooks(tmp_path):
    written = dev.install_lab_settings(tmp_path)
    viewers = json.loads(written.read_text())["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers == {"markdown": "Jupytext Notebook", "myst": "Jupytext Notebook"}
    assert written == tmp_path / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    assert "jupyterlab-overrides.json" in (ROOT / "binder" / "postBuild").read_text()  # Binder uses the same file


def test_binder_installs_the_same_pins_with_cpu_torch():
    lines = (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    entries = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert "-r ../requirements.txt" in entries  # the book's own pins, the library included
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in entries
    torch_pin = [line for line in (ROOT / "requirements.txt").read_text().splitlines()
                 if line.startswith("torch==")]
    assert torch_pin and "+" not in torch_pin[0]  # ==2.13.0 also matches the CPU wheel 2.13.0+cpu
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == "python-3.11"
