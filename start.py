"""Install the course and open it in JupyterLab: ``python start.py``.

1. PyTorch first, the right build for this machine, unless torch is already
   installed (a CUDA build you installed yourself is kept):
   - Linux without an NVIDIA GPU: the CPU-only build (about 200 MB instead of
     several GB of CUDA libraries), from a local wheel if pip's configuration
     points at one, else from PyTorch's CPU package index;
   - Linux with an NVIDIA GPU, macOS and Windows: the default build from PyPI
     (CUDA on Linux, Apple MPS on macOS; see the README for CUDA on Windows).
2. ``requirements.txt`` (numpy, matplotlib, JupyterLab, ipywidgets, pytest,
   nbval, and ``tnnlib`` itself as an editable install).
3. JupyterLab on ``lessons/00_orientation.ipynb`` (skipped with ``--no-lab``).

Options: ``--no-lab`` only installs; ``--cpu`` / ``--gpu`` force the torch build.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

TORCH_VERSION = "2.13.0"  # the version the course is tested with
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PYPI = "https://pypi.org/simple"
REPO = Path(__file__).resolve().parent


def pip(*args: str) -> int:
    command = [sys.executable, "-m", "pip", "install", *args]
    print("$", " ".join(command), flush=True)
    return subprocess.call(command)


def has_nvidia_gpu() -> bool:
    if shutil.which("nvidia-smi") is None:
        return False
    return subprocess.call(["nvidia-smi", "-L"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0


def install_torch(build: str) -> None:
    if importlib.util.find_spec("torch") is not None:
        print("torch is already installed; keeping it.")
        return
    wanted = f"torch=={TORCH_VERSION}"
    if build == "cpu" and platform.system() == "Linux":
        # "+cpu" names the CPU-only build: found at once where pip's configuration points at a
        # local wheel (find-links); PyPI has none, so elsewhere this fails fast and we use
        # PyTorch's CPU-only index (with PyPI for torch's own dependencies).
        if pip(f"{wanted}+cpu") == 0 or pip(wanted, "--index-url", CPU_INDEX, "--extra-index-url", PYPI) == 0:
            return
        sys.exit("Could not install the CPU build of torch; see the README, 'Installing PyTorch yourself'.")
    if pip(wanted) != 0:
        sys.exit("Could not install torch; see the README, 'Installing PyTorch yourself'.")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-lab", action="store_true", help="install only; do not start JupyterLab")
    build = parser.add_mutually_exclusive_group()
    build.add_argument("--cpu", action="store_const", const="cpu", dest="build", help="CPU-only torch")
    build.add_argument("--gpu", action="store_const", const="gpu", dest="build", help="default (CUDA) torch build")
    args = parser.parse_args(argv)
    os.chdir(REPO)
    install_torch(args.build or ("gpu" if has_nvidia_gpu() else "cpu"))
    if pip("-r", "requirements.txt") != 0:
        return 1
    if args.no_lab:
        print("Installed. Start the course with: python start.py   Run the tests with: python -m pytest")
        return 0
    command = [sys.executable, "-m", "jupyter", "lab", "lessons/00_orientation.ipynb"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers and cloud machines often run as root
    print("$", " ".join(command), flush=True)
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
