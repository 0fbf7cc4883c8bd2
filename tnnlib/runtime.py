"""Runtime helpers every lesson starts with: device, seeds, threads, fast mode, environment.

>>> from tnnlib.runtime import get_device, seed_everything, FAST, pick
>>> seed_everything(0)                 # also caps torch's threads, see set_threads
>>> n_epochs = pick(fast=1, full=10)   # 1 in CI and tests, 10 for a learner

Fast mode is switched on by the environment variable ``TNN_FAST=1`` (the test
suite and CI set it). Lessons use :func:`pick` to shrink sizes and epochs in fast
mode, so every notebook runs in seconds on a 2-core CPU yet shows the full-size
experiment to a learner.

Environment variables: ``TNN_FAST`` (fast mode), ``TNN_DEVICE`` (force a device,
:func:`get_device`), ``TNN_THREADS`` (CPU threads per kernel, :func:`set_threads`).
"""
from __future__ import annotations

import os
import platform
import random
import sys

import matplotlib
import numpy as np
import torch

try:  # optional: lets set_threads cap NumPy's BLAS too
    from threadpoolctl import threadpool_limits
except ImportError:
    threadpool_limits = None

__all__ = ["get_device", "seed_everything", "set_threads", "default_threads", "usable_cores", "fast_mode", "FAST",
           "pick", "environment_report", "print_environment_report"]

MAX_DEFAULT_THREADS = 4
_BLAS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_threads_chosen: int | None = None  # what set_threads last applied in this process


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
                               "see lesson 00, 'Using a GPU', and the README, 'PyTorch: CPU or GPU'.")
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


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one, e.g. a container's cpuset)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no sched_getaffinity
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """``min(4, usable cores)``: the thread count :func:`set_threads` picks when nothing is configured.

    Why 4: torch and the BLAS libraries start one thread per core in *every* kernel. On a
    class server with 32 cores and 20 learners that is 640 busy threads fighting for 32
    cores, and every lesson gets slower for everyone. The course's CPU work (matrices of at
    most a few thousand rows, batches of a few hundred, a small CNN) gains little beyond 4
    threads, so a laptop loses little and a shared server stays usable. On the 2-core
    reference machine it is 2, the count torch picks by itself: results do not change.
    """
    return min(MAX_DEFAULT_THREADS, usable_cores())


def set_threads(n: int | None = None) -> int:
    """Set how many CPU threads torch (and NumPy's BLAS, where possible) use in this process.

    Parameters
    ----------
    n : int, optional
        The thread count. Without it: the environment variable ``TNN_THREADS`` (a positive
        integer, or ``all`` for every usable core); else, when ``OMP_NUM_THREADS`` (or
        ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``) is set, that setting is left alone
        (the test suite sets it to 1); else :func:`default_threads`, ``min(4, cores)``.

    Returns
    -------
    int
        The number of threads torch now uses.

    Notes
    -----
    :func:`seed_everything` calls this once per process, so every lesson is capped without a
    line of its own; an explicit call (``set_threads(8)``) wins and stays. NumPy's BLAS reads
    its thread count when NumPy is imported; it is capped here only if ``threadpoolctl`` is
    installed. On a shared server, also set ``OMP_NUM_THREADS`` in the kernels' environment.
    The thread count changes speed, not the algorithms; float results may differ in the last
    bits because sums are split differently across threads.
    """
    global _threads_chosen
    if n is None:
        value = os.environ.get("TNN_THREADS", "").strip().lower()
        if value == "all":
            n = usable_cores()
        elif value:
            try:
                n = int(value)
            except ValueError:
                n = 0
            if n < 1:
                raise ValueError(f"TNN_THREADS must be a positive integer or 'all', got {value!r}")
        elif any(os.environ.get(var, "").strip() for var in _BLAS_ENV):
            _threads_chosen = torch.get_num_threads()
            return _threads_chosen
        else:
            n = default_threads()
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of threads must be a positive integer, got {n!r}")
    torch.set_num_threads(n)
    if threadpool_limits is not None:
        threadpool_limits(limits=n, user_api="blas")
    _threads_chosen = torch.get_num_threads()
    return _threads_chosen


def seed_everything(seed: int = 0, deterministic: bool = False) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and CUDA).

    With ``deterministic=True`` torch is also asked for deterministic algorithms
    (slower on a GPU; some operations then raise). The first call in a process also
    applies :func:`set_threads` (``TNN_THREADS``, default ``min(4, cores)``), unless
    ``set_threads`` was already called.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if _threads_chosen is None:
        set_threads()
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
        "usable cores": usable_cores(),
        "cuda available": torch.cuda.is_available(),
        "mps available": _mps_available(),
        "device chosen": str(get_device()),
        "fast mode (TNN_FAST)": fast_mode(),
    }
    if torch.cuda.is_available():
        report["cuda version"] = torch.version.cuda
        report["gpu"] = torch.cuda.get_device_name(0)
    report["matplotlib"] = matplotlib.__version__
    return report


def print_environment_report() -> None:
    """Print :func:`environment_report` as an aligned two-column table."""
    report = environment_report()
    width = max(map(len, report))
    for key, value in report.items():
        print(f"{key:<{width}}  {value}")
