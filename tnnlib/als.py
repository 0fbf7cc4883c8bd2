"""What the iterative decompositions share: HOOI (Tucker), CP-ALS and TR-ALS.

Each sweeps over the factors or cores, updating one while the others stay
fixed, records the relative error after every sweep, and stops after
``n_sweeps`` or, with a tolerance, when the error stops improving.
"""
from __future__ import annotations

from numbers import Real

from .backend import conj_t, eigh, machine_eps, norm
from .validation import check_positive_int


def check_sweeps(n_sweeps, tol, where: str) -> None:
    """``n_sweeps`` must be an integer >= 1 and ``tol`` None or a real number >= 0."""
    check_positive_int(n_sweeps, "n_sweeps", where)
    if tol is not None and (isinstance(tol, bool) or not isinstance(tol, Real) or not tol >= 0):
        raise ValueError(f"{where}: tol must be None or a number >= 0, got {tol!r}")


def sweep_error(tensor, norm_x: float, error_sq: float, model) -> float:
    """``||X - model|| / ||X||`` from a cheap formula for the squared error.

    The algorithms get ``error_sq = ||X||^2 - 2 <X, model> + ||model||^2`` from
    small quantities of the sweep, without rebuilding the tensor. Near an exact
    fit the subtraction loses all its digits; then the error is computed from
    ``model.to_dense()`` instead.
    """
    if error_sq < 1e4 * machine_eps(tensor) * norm_x**2:
        error_sq = norm(tensor - model.to_dense()) ** 2
    return error_sq**0.5 / norm_x if norm_x > 0 else 0.0


def converged(errors, tol, tensor) -> bool:
    """Stop when the relative change of the error is below ``tol``, or the fit is exact (rounding level)."""
    if errors[-1] <= 100 * machine_eps(tensor):
        return True
    return len(errors) > 1 and abs(errors[-2] - errors[-1]) <= tol * errors[-2]


def solve_gram(gram, rhs):
    """``X`` with ``X @ gram = rhs`` for a symmetric positive semi-definite ``gram`` (m x m).

    Through ``gram = Q diag(w) Q^T``: ``X = rhs Q diag(1/w) Q^T``, dropping
    eigenvalues below ``m eps max(w)``, which makes it the least-squares
    (pseudo-inverse) solution when ``gram`` is singular, as it is when the ranks
    are larger than the tensor needs.
    """
    w, Q = eigh(gram)
    keep = w > gram.shape[0] * machine_eps(gram) * w.max()
    inverse = keep / (w + (w == 0))  # 1/w, or 0 for the dropped eigenvalues
    return ((rhs @ Q) * inverse) @ conj_t(Q)
