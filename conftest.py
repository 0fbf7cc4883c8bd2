"""Test-wide settings, for the unit tests and for the notebooks nbval executes.

Set before anything imports numpy or torch, and inherited by the Jupyter kernels
that nbval starts, so the notebooks run in the same conditions as the tests:
one BLAS/OpenMP thread (stable timings on a 2-core machine) and the course's
fast mode (small sizes and few epochs).
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["TNN_FAST"] = "1"
os.environ["TNN_QUIET"] = "1"  # no progress bars in tests or in the kernels nbval starts
os.environ.setdefault("MPLBACKEND", "Agg")
