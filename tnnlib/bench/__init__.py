"""Benchmarks of the course library: ``python -m tnnlib.bench [SUITE ...]``.

Each suite is a module of this package with a ``run(args)`` function that
returns a list of rows (dicts) and prints nothing itself; ``__main__`` prints
them as one table per suite. Timings are medians of several repeats after a
warm-up, measured with :func:`median_time`; they are numbers to *report*, never
assertions in the test suite (timing tests are flaky on shared machines). Errors
are :func:`tnnlib.relative_error` of the result against the exact input.
"""
from __future__ import annotations

import statistics
import time


def median_time(fn, repeats: int = 5, warmup: int = 1, sync=None) -> float:
    """Median wall-clock time of ``fn()`` in seconds.

    Parameters
    ----------
    fn : callable with no arguments
    repeats : number of timed calls
    warmup : untimed calls first (caches, lazy initialisation, JIT)
    sync : optional callable run after each call before the clock stops
        (``torch.cuda.synchronize`` for GPU work)
    """
    for _ in range(warmup):
        fn()
        if sync:
            sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def format_table(rows, columns=None) -> str:
    """Render a list of dicts as a Markdown table (floats to 4 significant digits)."""
    if not rows:
        return "(no rows)"
    columns = columns or list(rows[0])

    def cell(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
