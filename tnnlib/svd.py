"""The truncated SVD: best low-rank approximation of a matrix.

Every matrix ``A`` of shape ``(m, n)`` has a singular value decomposition
``A = U diag(S) Vh`` with orthonormal columns in ``U``, orthonormal rows in
``Vh`` and singular values ``S[0] >= S[1] >= ... >= 0``. Keeping only the first
``r`` terms gives the best rank-``r`` approximation (Eckart-Young theorem), and
its error is exactly what was thrown away:

    min_{rank B <= r} ||A - B||_F  =  ||A - U_r diag(S_r) Vh_r||_F  =  ||S[r:]||.

So the rank needed for a relative error ``eps`` is read off the singular
values: the smallest ``r`` with ``||S[r:]|| <= eps ||S||`` (``||S|| = ||A||_F``).

This module also holds :func:`truncated_split`, the step that the tensor-train
algorithms repeat (``A ~ U @ (S Vh)``, error below an absolute tolerance), with
a fast route for wide matrices through the eigen-decomposition of the Gram
matrix ``A A^H``.

Reference: C. Eckart and G. Young, "The approximation of one matrix by another
of lower rank", Psychometrika 1(3), 1936.
"""
from __future__ import annotations

import math
from itertools import accumulate
from numbers import Real

from .backend import as_tensor, conj_t, dtype_kind, eigh, flip, machine_eps, svd, to_list
from .validation import check_eps, check_max_rank, check_positive_int, check_rank, check_tensor

# --------------------------------------------------------------------------
# Choosing the rank from the singular values
# --------------------------------------------------------------------------


def tail_energies(S) -> list:
    """``tails[r] = S[r]^2 + S[r+1]^2 + ...`` for r = 0..k, with ``tails[k] = 0``.

    ``tails[r]`` is the squared error of the rank-``r`` truncation and
    ``tails[0]`` the squared Frobenius norm of the matrix. ``S`` is a vector
    (array or list) of singular values; the result is a list of floats.
    """
    energies = [float(s) ** 2 for s in (S if isinstance(S, list) else to_list(S))]
    return list(accumulate(reversed(energies)))[::-1] + [0.0]


def smallest_rank(tails, max_rank=None, abs_tol=None) -> int:
    """Smallest r with ``tails[r] <= abs_tol**2``, then at most ``max_rank``, and at least 1.

    ``tails`` is a list from :func:`tail_energies` (or an upper bound of it).
    """
    rank = len(tails) - 1
    if abs_tol is not None:
        rank = next(r for r, tail in enumerate(tails) if tail <= abs_tol**2)  # tails[-1] = 0 qualifies
    if max_rank is not None:
        rank = min(rank, max_rank)
    return max(rank, 1)


def _check_spectrum(S, where: str) -> list:
    """Singular values as a list of floats (they are few; rank choices happen on the host)."""
    S = as_tensor(S, name="S", where=where)
    if S.ndim != 1:
        raise ValueError(f"{where}: S must be a vector of singular values (1-D), got shape {tuple(S.shape)}")
    values = to_list(S)
    if dtype_kind(S) == "complex" or any(s < 0 for s in values):
        raise ValueError(f"{where}: S must hold real, non-negative singular values")
    return [float(s) for s in values]


def rank_for_error(S, eps: float) -> int:
    """Smallest rank ``r`` whose truncation has relative error at most ``eps``.

    Returns the smallest ``r >= 1`` with ``||S[r:]|| <= eps * ||S||``: by
    Eckart-Young, the rank-``r`` truncated SVD of a matrix with singular values
    ``S`` then satisfies ``||A - A_r||_F <= eps ||A||_F``.

    Parameters
    ----------
    S : array, shape (k,)
        Singular values in decreasing order.
    eps : float in [0, 1)
        Relative Frobenius error allowed.

    Returns
    -------
    int, between 1 and k (1 also for an all-zero ``S``: a factorisation keeps one term).

    >>> rank_for_error([4.0, 2.0, 1.0, 0.5, 0.1], eps=0.2)
    3
    """
    tails = tail_energies(_check_spectrum(S, "rank_for_error"))
    eps = check_eps(eps, "rank_for_error")
    if eps is None:
        raise TypeError("rank_for_error: eps must be a real number in [0, 1), got None")
    return smallest_rank(tails, abs_tol=eps * math.sqrt(tails[0]))


def rank_for_tail(S, max_tail: float) -> int:
    """Smallest rank ``r >= 1`` whose discarded tail has norm ``||S[r:]|| <= max_tail``.

    The absolute-error version of :func:`rank_for_error` (Tucker and tensor-ring
    truncations split one error budget across several SVDs).
    """
    return smallest_rank(tail_energies(_check_spectrum(S, "rank_for_tail")), abs_tol=max_tail)


def rank_for_energy(S, energy: float) -> int:
    """Smallest rank ``r`` keeping at least a fraction ``energy`` of ``sum S^2``.

    Returns the smallest ``r >= 1`` with ``sum(S[:r]^2) / sum(S^2) >= energy``.
    Keeping energy ``1 - eps^2`` is the same as a relative error ``eps``.

    Parameters
    ----------
    S : array, shape (k,)
        Singular values in decreasing order.
    energy : float in (0, 1]

    >>> rank_for_energy([4.0, 2.0, 1.0, 0.5, 0.1], energy=0.9)
    2
    """
    if isinstance(energy, bool) or not isinstance(energy, Real) or not 0 < energy <= 1:
        raise ValueError(f"rank_for_energy: energy must be a fraction in (0, 1], got {energy!r}")
    S = _check_spectrum(S, "rank_for_energy")
    kept = [0.0] + list(accumulate(s**2 for s in S))  # kept[r] = S[0]^2 + ... + S[r-1]^2
    # compare kept energies directly (a square root and a square would round the boundary);
    # the factor (1 - 1e-12) absorbs the rounding of the cumulative sum itself
    rank = next(r for r, k in enumerate(kept) if k >= energy * kept[-1] * (1 - 1e-12))
    return max(rank, 1)


# --------------------------------------------------------------------------
# Truncated SVD and the best low-rank approximation
# --------------------------------------------------------------------------


def truncated_svd(matrix, *, max_rank=None, eps=None):
    """Thin SVD truncated to a maximal rank and/or a relative error.

    Steps: compute the thin SVD ``A = U diag(S) Vh`` (LAPACK); choose the rank
    ``r`` (below); keep the first ``r`` singular triplets.

    Rank choice: with ``eps``, the smallest ``r`` with ``||S[r:]|| <= eps ||S||``
    (so ``||A - U diag(S) Vh||_F <= eps ||A||_F``); with ``max_rank``, at most
    ``max_rank``; with both, the smaller of the two ranks (then the error bound
    may not hold); with neither, ``min(m, n)``. A ``max_rank`` above
    ``min(m, n)`` is an upper bound that is never reached: it is capped.

    Parameters
    ----------
    matrix : array, shape (m, n)
        NumPy array or torch tensor, float32/float64 or complex.
    max_rank : int >= 1, optional
    eps : float in [0, 1), optional

    Returns
    -------
    U : array, shape (m, r)
    S : array, shape (r,)  (real)
    Vh : array, shape (r, n)

    >>> import numpy as np
    >>> A = np.diag([4.0, 2.0, 1.0, 0.5])
    >>> U, S, Vh = truncated_svd(A, eps=0.3)
    >>> S.tolist()
    [4.0, 2.0]

    Reference: Eckart & Young, Psychometrika 1(3), 1936.
    """
    A = check_matrix(matrix, "truncated_svd")
    max_rank = check_max_rank(max_rank, [min(A.shape)], "truncated_svd")
    eps = check_eps(eps, "truncated_svd")
    U, S, Vh = svd(A)
    tails = tail_energies(S)
    abs_tol = None if eps is None else eps * math.sqrt(tails[0])
    r = smallest_rank(tails, None if max_rank is None else max_rank[0], abs_tol)
    return U[:, :r], S[:r], Vh[:r]


def low_rank_approx(matrix, rank: int):
    """Best rank-``rank`` approximation ``U_r diag(S_r) Vh_r`` of ``matrix`` (Eckart-Young).

    Parameters
    ----------
    matrix : array, shape (m, n)
    rank : int, 1 <= rank <= min(m, n)
        An int above ``min(m, n)`` is capped (the approximation is then exact).

    Returns
    -------
    array, shape (m, n), of the input's type, device and dtype.
    """
    A = check_matrix(matrix, "low_rank_approx")
    (rank,) = check_rank(rank, [min(A.shape)], "low_rank_approx")
    U, S, Vh = truncated_svd(A, max_rank=rank)
    return (U * S) @ Vh


def low_rank_params(m: int, n: int, r: int) -> int:
    """Number of parameters ``r (m + n)`` of a rank-``r`` factorisation ``A = X @ Y``.

    ``X`` has shape (m, r) and ``Y`` (r, n) (the singular values absorbed in one
    of them). Compare with ``m * n`` for the dense matrix: the factorisation is
    smaller exactly when ``r < m n / (m + n)``.

    >>> low_rank_params(100, 50, 10)
    1500
    """
    m, n = check_positive_int(m, "m", "low_rank_params"), check_positive_int(n, "n", "low_rank_params")
    r = check_positive_int(r, "r", "low_rank_params")
    if r > min(m, n):
        raise ValueError(f"low_rank_params: rank {r} is larger than possible for an {m} x {n} matrix "
                         f"(at most {min(m, n)})")
    return r * (m + n)


def check_matrix(matrix, where: str, name: str = "matrix"):
    """A finite float or complex matrix (2-D array), checked like every decomposition input."""
    matrix = check_tensor(matrix, where, name=name)
    if matrix.ndim != 2:
        raise ValueError(f"{where}: {name} must be a matrix (2-D), got shape {tuple(matrix.shape)}")
    return matrix


# --------------------------------------------------------------------------
# The split step of the tensor-train algorithms
# --------------------------------------------------------------------------


def unit_roundoff(x) -> float:
    """The unit roundoff ``u`` of ``x``'s dtype: half the machine epsilon (1.1e-16 in float64)."""
    return machine_eps(x) / 2


def _svd_split(A, max_rank, abs_tol):
    """LAPACK route: thin SVD, truncate, return ``U, S, diag(S) Vh``."""
    U, S, Vh = svd(A)
    r = smallest_rank(tail_energies(S), max_rank, abs_tol)
    return U[:, :r], S[:r], S[:r, None] * Vh[:r]


def _gram_split(A, max_rank, abs_tol, check: bool):
    """Gram route for a wide ``A`` (m <= n): eigenvectors of ``A A^H`` are the left singular vectors.

    Rounding: the computed Gram matrix is ``A A^H + E`` with ``||E|| <= n u ||A||_F^2``
    (``u`` the unit roundoff), so an eigenvalue - a squared singular value - is
    only known to within ``n u ||A||_F^2``: singular values below
    ``sqrt(n u) ||A||_F`` can be lost (for n = 1e4 that is 1e-6 relative in
    float64, 2e-2 in float32). The *projection* stays accurate: with ``U`` the top-r
    eigenvectors of the computed Gram matrix, ``||A - U U^H A||_F^2`` exceeds
    the thrown-away eigenvalue sum by at most ``slack = (m + 3 r) n u ||A||_F^2``
    (Weyl's and Ky Fan's inequalities). The rank is chosen so that
    ``thrown-away + slack <= abs_tol**2``; with ``check``, the result is
    refused (``None``) unless the slack is below 1% of the thrown-away energy,
    i.e. unless the truncation makes the rounding harmless. (Near a tie at the
    tolerance it may keep one singular value more than an exact SVD would.)
    The singular values returned, ``sqrt(lambda_i)``, are then within 0.5%
    (each kept ``S_i^2 >= 100 ||E||``); ``U`` and ``U^H A`` are what matter.
    """
    m, n = A.shape
    eigenvalues, V = eigh(A @ conj_t(A))               # increasing order, real
    eigenvalues, V = flip(eigenvalues, 0), flip(V, 1)  # decreasing: lambda_i ~ S_i^2
    lam = [max(value, 0.0) for value in to_list(eigenvalues)]
    tails = tail_energies([math.sqrt(value) for value in lam])
    slack = [(m + 3 * r) * n * unit_roundoff(A) * tails[0] for r in range(m + 1)]
    error_bound = [tail + s for tail, s in zip(tails, slack)]
    error_bound[m] = 0.0                               # r = m: U is a full basis, no error
    r = smallest_rank(error_bound, max_rank, abs_tol)
    if check and not _rounding_is_harmless(tails, slack, r, abs_tol):
        return None
    kept = eigenvalues[:r]
    U, S = V[:, :r], (kept * (kept > 0)) ** 0.5
    return U, S, conj_t(U) @ A                         # diag(S) Vh is exactly U^H A


def _rounding_is_harmless(tails, slack, r, abs_tol) -> bool:
    """Whether the Gram route's rank ``r`` and error are as good as an exact SVD's (up to 0.5%)."""
    m = len(tails) - 1
    if r < m:
        return tails[r] >= 100 * slack[r]       # the truncation error dwarfs the rounding
    # r = m keeps a full basis (no error); but if the last singular value is within
    # rounding of abs_tol, an exact SVD might have found a smaller rank
    return abs_tol is None or tails[m - 1] > abs_tol**2 + slack[m - 1]


def truncated_split(matrix, max_rank=None, abs_tol=None, method: str = "auto"):
    """Split ``matrix ~ U @ SVh`` by a truncated SVD, keeping ``SVh = diag(S) Vh`` together.

    This is the step of TT-SVD and TT rounding: ``U`` (orthonormal columns)
    becomes a core and ``SVh`` carries on to the next step. The rank ``r`` is
    the smallest with ``||matrix - U @ SVh||_F <= abs_tol`` (an *absolute*
    tolerance), at most ``max_rank``, and at least 1; with neither, no
    truncation (``r = min(m, n)``).

    ``method`` picks how it is computed:

    * ``"svd"``: LAPACK's thin SVD of ``matrix``. Accurate to machine
      precision; for very wide matrices it is slow (it first reduces the
      matrix with an LQ factorisation and forms the long singular vectors).
    * ``"gram"``: for a wide matrix (m <= n), the eigenvectors of the small
      m x m Gram matrix ``A A^H`` are the left singular vectors, and
      ``SVh = U^H A`` is one matrix product (often 10-40x faster). Squaring
      the matrix squares its condition number: singular values below
      ``sqrt(n u) ||A||_F`` (u = unit roundoff) can be lost - in float64 that
      is 1e-6 relative for n = 1e4; float32 is rarely accurate enough - and
      the error of the split can exceed the optimal one by up to
      ``sqrt((m + 3 r) n u) ||A||_F``.
    * ``"auto"`` (default): the Gram route for a wide matrix, kept only when
      this rounding is below 1% of the energy thrown away - the truncation
      makes it harmless: the split error then stays below ``abs_tol`` and
      within 0.5% of the optimal error. Otherwise (tall matrix, (almost)
      exactly low-rank matrix, tiny ``abs_tol``, float32 with large n) the
      LAPACK route.

    Parameters
    ----------
    matrix : array, shape (m, n)
        Finite (not checked here: callers check their input once).
    max_rank : int, optional
    abs_tol : float, optional
        Absolute Frobenius error allowed.
    method : {"auto", "svd", "gram"}

    Returns
    -------
    U : array, shape (m, r), orthonormal columns
    S : array, shape (r,), the singular values kept (real)
    SVh : array, shape (r, n), ``diag(S) @ Vh`` = ``U^H @ matrix``
    """
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {tuple(matrix.shape)}")
    if method not in ("auto", "svd", "gram"):
        raise ValueError(f"method must be 'auto', 'svd' or 'gram', got {method!r}")
    m, n = matrix.shape
    # "auto" tries the Gram route on wide matrices where its check can pass at all
    # (slack at rank 1 below 1% of ||A||^2: always in float64, small n in float32)
    worth_trying = m <= n and 100 * (m + 3) * n * unit_roundoff(matrix) < 1
    if method == "gram" or (method == "auto" and worth_trying):
        split = _gram_split(matrix, max_rank, abs_tol, check=method == "auto")
        if split is not None:
            return split
    return _svd_split(matrix, max_rank, abs_tol)
