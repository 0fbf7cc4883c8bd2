"""How long each lesson takes to run, top to bottom: ``python -m tnnlib.bench notebooks``.

Each notebook of ``solutions/`` (all exercises solved) runs in a fresh Jupyter kernel, as a
learner's "Run All" would, and the wall-clock time from kernel start to the last cell is
reported, with the thread count the kernel used and the machine's load average before and
after (a busy machine makes every number larger; report it with the times).

Options of ``python -m tnnlib.bench notebooks``:

- ``--full``: full size (``TNN_FAST=0``); default fast mode (``TNN_FAST=1``, what CI runs);
- ``--threads N``: the kernel's thread count (``TNN_THREADS=N``); without it, the course's
  default, ``min(4, cores)`` (:func:`tnnlib.runtime.set_threads`);
- ``--only lesson=07`` (or ``lesson=07+08``): some lessons only;
- ``--keep DIR``: also write each executed notebook, with its outputs, to ``DIR`` (to read the
  numbers a full-size run printed next to the ones the lesson's prose quotes).

This is a measurement, never a test: timings on a shared machine move by tens of percent.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

#: Where the notebooks that are timed live (the solutions: every exercise done).
SOLUTIONS = Path(__file__).resolve().parents[2] / "solutions"
#: Environment variables that pin BLAS/OpenMP threads; cleared so that ``TNN_THREADS`` decides.
BLAS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: Longest time one notebook may take, in seconds (full-size lessons take tens of minutes).
TIMEOUT = 3 * 3600


def kernel_environment(*, fast: bool, threads: int | None) -> dict:
    """The environment a timed kernel starts with: fast mode on or off, threads as asked, no progress bars."""
    env = {k: v for k, v in os.environ.items() if k not in BLAS_ENV and k != "TNN_THREADS"}
    env["TNN_FAST"] = "1" if fast else "0"
    env["TNN_QUIET"] = "1"
    env.setdefault("MPLBACKEND", "Agg")
    if threads is not None:
        env["TNN_THREADS"] = str(threads)
    return env


def time_notebook(path: Path, *, fast: bool, threads: int | None, timeout: float = TIMEOUT,
                  keep: Path | None = None) -> dict:
    """Run one notebook in a fresh kernel; a row with its wall time, or the error that stopped it.

    ``keep``: a folder to write the executed notebook to (same name), outputs included.
    """
    import nbformat  # noqa: PLC0415 (only this suite needs Jupyter)
    from nbclient import NotebookClient  # noqa: PLC0415

    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    status = "ok"
    try:
        client.execute(env=kernel_environment(fast=fast, threads=threads))
    except Exception as error:  # a failing cell, a timeout, a dead kernel: report it, time what ran
        first_line = (str(error).strip().splitlines() or [""])[-1]
        status = f"{type(error).__name__}: {first_line[:80]}"
    seconds = time.perf_counter() - start
    if keep is not None:
        Path(keep).mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, Path(keep) / path.name)
    return {"lesson": path.stem, "mode": "fast" if fast else "full", "threads": threads or "default",
            "seconds": round(seconds, 1), "load_before": round(load_before, 2),
            "load_after": round(os.getloadavg()[0], 2), "status": status}


def select(names: list[str], only: str | None) -> list[str]:
    """Notebook names kept by ``--only lesson=07+08`` (lesson numbers or name prefixes)."""
    if not only:
        return names
    key, _, value = only.partition("=")
    if key.strip() != "lesson" or not value:
        raise ValueError(f"notebooks suite: --only takes lesson=NN (or lesson=NN+MM), got {only!r}")
    wanted = [v.strip() for v in value.split("+") if v.strip()]
    return [n for n in names if any(n.startswith(w) for w in wanted)]


def run(args) -> list:
    names = sorted(p.name for p in SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))
    fast = not getattr(args, "full", False)
    threads = getattr(args, "threads", None)
    rows = []
    for name in select(names, getattr(args, "only", None)):
        rows.append(time_notebook(SOLUTIONS / name, fast=fast, threads=threads, keep=getattr(args, "keep", None)))
        print(f"  {rows[-1]['lesson']}: {rows[-1]['seconds']} s ({rows[-1]['status']})", file=sys.stderr, flush=True)
    return rows
