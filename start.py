"""Install the course and open it in JupyterLab: ``python start.py``.

1. PyTorch first, the right build for this machine, unless torch is already
   installed (a CUDA build you installed yourself is kept):
   - Linux without an NVIDIA GPU: the CPU-only build ``torch==2.13.0+cpu`` (about
     200 MB instead of several GB of CUDA libraries), from a local wheel if pip's
     configuration points at one, else with PyTorch's CPU package index added to
     pip's own index (``--extra-index-url``);
   - Linux with an NVIDIA GPU, macOS and Windows: the default build from pip's
     index (CUDA on Linux, Apple MPS on macOS; see the README for CUDA on Windows).
2. ``requirements.txt`` (numpy, matplotlib, JupyterLab, ipywidgets, pytest,
   nbval, and ``tnnlib`` itself as an editable install).
3. Your own copy of the lessons, ``my-lessons/`` (ignored by git): created from
   ``lessons/`` the first time; later, only lessons new in ``lessons/`` are
   copied in, and a file already in ``my-lessons/`` is never overwritten.
4. JupyterLab on ``my-lessons/00_orientation.ipynb``.

Options: ``--no-lab`` only installs (steps 1-2); ``--cpu`` / ``--gpu`` force the torch build.
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
REPO = Path(__file__).resolve().parent
WORKSPACE = "my-lessons"  # the learner's copy of lessons/; tnnlib.workspace.WORKSPACE_NAME
FIRST_LESSON = "00_orientation.ipynb"


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
        # "+cpu" names the CPU-only build. First with pip's own configuration: found at once where
        # it points at a local wheel (find-links); PyPI has no "+cpu" build, so elsewhere this fails
        # in seconds. Then with PyTorch's CPU index *added* to pip's index: the "+cpu" wheel comes
        # from there, torch's dependencies from wherever pip is configured to look (PyPI or a mirror).
        if pip(f"{wanted}+cpu") == 0 or pip(f"{wanted}+cpu", "--extra-index-url", CPU_INDEX) == 0:
            return
        sys.exit("Could not install the CPU build of torch; see the README, 'Installing PyTorch yourself'.")
    if pip(wanted) != 0:
        sys.exit("Could not install torch; see the README, 'Installing PyTorch yourself'.")


def prepare_workspace() -> str:
    """Create or complete ``my-lessons/`` from ``lessons/`` (never overwriting a file); a summary."""
    # tnnlib/workspace.py uses only the standard library: load that file alone, not the package
    # (which imports torch), so that this step takes milliseconds.
    spec = importlib.util.spec_from_file_location("tnnlib_workspace", REPO / "tnnlib" / "workspace.py")
    workspace = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = workspace  # dataclasses look their module up there
    spec.loader.exec_module(workspace)
    return workspace.sync_workspace(REPO / "lessons", REPO / WORKSPACE).summary()


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
    print(prepare_workspace(), flush=True)
    command = [sys.executable, "-m", "jupyter", "lab", f"{WORKSPACE}/{FIRST_LESSON}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers and cloud machines often run as root
    print("$", " ".join(command), flush=True)
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
