"""The code passes the linter: `ruff check tnnlib tests start.py`, configured in pyproject.toml."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PATHS = ["tnnlib", "tests", "start.py"]


def _ruff():
    """The command that runs ruff: the module of this Python, else a ruff on the PATH."""
    probe = subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True, text=True)
    if probe.returncode == 0:
        return [sys.executable, "-m", "ruff"]
    if shutil.which("ruff"):
        return [shutil.which("ruff")]
    pytest.fail("ruff is not installed; it is a test-time requirement: pip install -r requirements.txt")


def test_ruff_check_passes():
    result = subprocess.run([*_ruff(), "check", "--no-cache", *PATHS], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, (
        f"`ruff check {' '.join(PATHS)}` found problems (fix them, or run `ruff check --fix` for the "
        f"ones marked [*]):\n{result.stdout}{result.stderr}")
