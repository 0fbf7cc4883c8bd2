"""Runtime helpers every lesson starts with: device, seeds, fast mode, environment.

>>> from tnnlib.runtime import get_device, seed_everything, FAST, pick
>>> seed_everything(0)
>>> n_epochs = pick(fast=1, full=10)   # 1 in CI and tests, 10 for a learner

Fast mode is switched on by the environment variable ``TNN_FAST=1`` (the test
suite and CI set it). Lessons use :func:`pick` to shrink sizes and epochs in fast
mode, so every notebook runs in seconds on a 2-core CPU yet shows the full-size
experiment to a learner.
"""
from __future__ import annotations

import os
import platform
import random
import sys

import numpy as np
import torch

__all__ = ["get_device", "seed_everything", "fast_mode", "FAST", "pick",
           "environment_report", "print_environment_report"]


def fast_mode() -> bool:
    """True when the environment variable ``TNN_FAST`` is set to 1/true/yes/on."""
    return os.environ.get("TNN_FAST", "").strip().lower() in {"1", "true", "yes", "on"}


FAST = fast_mode()


def pick(fast, full):
    """Return ``fast`` in fast mode (tests, CI) and ``full`` otherwise."""
    return fast if fast_mode() else full


def get_device(prefer: str | None = None) -> torch.device:
    """The best available device: CUDA, then Apple MPS, then the CPU.

    Parameters
    ----------
    prefer : str, optional
        Force a device ("cpu", "cuda", "cuda:1", "mps"). Raises ``RuntimeError``
        with an explanation if it is not available. The environment variable
        ``TNN_DEVICE`` does the same without editing a notebook.
    """
    prefer = prefer or os.environ.get("TNN_DEVICE")
    if prefer:
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("CUDA was asked for but torch sees no CUDA GPU "
                               f"(torch {torch.__version__} built for CUDA {torch.version.cuda}); "
                               "see the README, 'Using a GPU'.")
        if device.type == "mps" and not _mps_available():
            raise RuntimeError("Apple MPS was asked for but is not available on this machine.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def seed_everything(seed: int = 0, deterministic: bool = False) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and CUDA).

    With ``deterministic=True`` torch is also asked for deterministic algorithms
    (slower on a GPU; some operations then raise).
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def environment_report() -> dict:
    """What the course runs on: versions, threads, devices and fast mode.

    Returns a dict (printed nicely by :func:`print_environment_report`).
    """
    report = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "torch threads": torch.get_num_threads(),
        "cpu count": os.cpu_count(),
        "cuda available": torch.cuda.is_available(),
        "mps available": _mps_available(),
        "device chosen": str(get_device()),
        "fast mode (TNN_FAST)": fast_mode(),
    }
    if torch.cuda.is_available():
        report["cuda version"] = torch.version.cuda
        report["gpu"] = torch.cuda.get_device_name(0)
    try:
        import matplotlib
        report["matplotlib"] = matplotlib.__version__
    except ImportError:  # pragma: no cover - matplotlib is a requirement
        report["matplotlib"] = "missing"
    return report


def print_environment_report() -> None:
    """Print :func:`environment_report` as an aligned two-column table."""
    report = environment_report()
    width = max(map(len, report))
    for key, value in report.items():
        print(f"{key:<{width}}  {value}")
