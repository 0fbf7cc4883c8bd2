"""JupyterLab starts headless, serves the lessons, and has the ipywidgets front end."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def free_loopback_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture
def lab(tmp_path):
    port = free_loopback_port()
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={REPO}",
           "--ServerApp.port_retries=0", "--allow-root",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg")}
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                get_json(f"{base}/api/status")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read().decode(errors="replace") if process.poll() is not None else ""
                    pytest.fail(f"JupyterLab did not start on port {port}:\n{output[-2000:]}")
                time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def test_lab_serves_the_lessons_with_widgets(lab):
    listing = get_json(f"{lab}/api/contents/lessons")
    names = {item["name"] for item in listing["content"]}
    assert {"00_orientation.ipynb", "01_tensors.ipynb"} <= names
    with urllib.request.urlopen(f"{lab}/lab", timeout=10) as response:
        assert response.status == 200 and b"JupyterLab" in response.read()
    extensions = {ext["name"] for ext in get_json(f"{lab}/lab/api/extensions")}
    # JupyterLab lists the federated extension @jupyter-widgets/jupyterlab-manager by its normalised name
    assert any("jupyter-widgets" in name and "jupyterlab-manager" in name for name in extensions), \
        f"the ipywidgets front end is not installed; JupyterLab has {sorted(extensions)}"
