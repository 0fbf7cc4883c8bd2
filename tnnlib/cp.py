"""The CP (CANDECOMP/PARAFAC) decomposition and its alternating least squares.

A CP tensor of rank R is a sum of R rank-one tensors (outer products of vectors):

    X  ~  sum_{r=1..R} lambda_r  a^(1)_r o a^(2)_r o ... o a^(d)_r,

    X[i_1, ..., i_d] ~ sum_r lambda_r A_1[i_1, r] A_2[i_2, r] ... A_d[i_d, r],

with weights ``lambda`` of shape ``(R,)`` and factor matrices ``A_k`` of shape
``(n_k, R)`` whose columns are the vectors ``a^(k)_r``. Storing it costs
``R (1 + sum n_k)`` numbers.

Unfolded in mode k (C-order convention of :func:`tnnlib.tensor_ops.unfold`),

    X_(k) = A_k diag(lambda) (A_1 (.) ... (skip k) ... (.) A_d)^T,

where ``(.)`` is the Khatri-Rao product (:func:`khatri_rao`). Fixing every factor
but ``A_k`` makes the fit a linear least-squares problem in ``A_k``: this is the
alternating least squares (ALS) algorithm, :func:`cp_als`.

Unlike the SVD, a best rank-R approximation need not exist (for R >= 2, d >= 3):
ALS can then chase a sequence of ever larger components that nearly cancel each
other ("degeneracy"); :func:`degeneracy_score` measures it.

References
----------
T. G. Kolda and B. W. Bader, "Tensor Decompositions and Applications", SIAM
Review 51(3), 455-500, 2009 (Section 3).

J. D. Carroll and J.-J. Chang, "Analysis of individual differences in
multidimensional scaling via an N-way generalization of Eckart-Young
decomposition", Psychometrika 35, 283-319, 1970.

R. A. Harshman, "Foundations of the PARAFAC procedure: Models and conditions for
an 'explanatory' multi-modal factor analysis", UCLA Working Papers in Phonetics
16, 1-84, 1970.
"""
from __future__ import annotations

from dataclasses import dataclass

from .als import check_sweeps, converged, solve_gram, sweep_error
from .backend import as_like, as_tensor, concatenate, dtype_kind, eye, norm, ones, prod, random_normal
from .tensor_ops import TensorFormat, check_mode
from .tucker import mode_singular_vectors
from .validation import check_arrays, check_modes, check_positive_int, check_tensor

__all__ = [
    "CPTensor",
    "khatri_rao",
    "mttkrp",
    "cp_als",
    "congruence",
    "degeneracy_score",
    "random_cp",
]


@dataclass(eq=False, repr=False)
class CPTensor(TensorFormat):
    """A tensor in CP format: ``X = sum_r weights[r] A_1[:, r] o ... o A_d[:, r]``.

    Parameters
    ----------
    weights : array, shape (R,)
    factors : list of d arrays, ``factors[k]`` of shape (n_k, R)
        All NumPy or all torch, one float or complex dtype, one device.

    Storage: ``R (1 + sum n_k)`` numbers (``n_params``).

    >>> cp = random_cp((4, 5, 6), 3, seed=0)
    >>> cp.shape, cp.rank, cp.n_params, cp.to_dense().shape
    ((4, 5, 6), 3, 48, (4, 5, 6))
    """

    weights: object
    factors: list

    def __post_init__(self):
        self.factors = check_arrays(self.factors, "CPTensor", "factors")
        check_arrays([self.weights] + self.factors, "CPTensor",
                     labels=["weights"] + [f"factors[{k}]" for k in range(len(self.factors))])
        if self.weights.ndim != 1:
            raise ValueError(f"CPTensor: weights must be a vector of shape (R,), got shape {tuple(self.weights.shape)}")
        rank = self.weights.shape[0]
        for k, factor in enumerate(self.factors):
            if factor.ndim != 2 or factor.shape[1] != rank:
                raise ValueError(
                    f"CPTensor: factors[{k}] must have shape (n_{k}, R) with R = {rank} (the number of weights), "
                    f"got {tuple(factor.shape)}"
                )

    @property
    def shape(self) -> tuple:
        """``(n_1, ..., n_d)``, the shape of the full tensor."""
        return tuple(int(factor.shape[0]) for factor in self.factors)

    @property
    def rank(self) -> int:
        """R, the number of rank-one components."""
        return int(self.weights.shape[0])

    def to_dense(self):
        """The full tensor, shape (n_1, ..., n_d).

        Computed as the mode-1 unfolding ``A_1 diag(lambda) (A_2 (.) ... (.) A_d)^T``
        reshaped, which is C-order consistent with :func:`khatri_rao`.
        """
        first = self.factors[0] * self.weights
        if len(self.factors) == 1:
            return first.sum(1)
        return (first @ khatri_rao(self.factors[1:]).T).reshape(self.shape)

    def normalize(self) -> CPTensor:
        """The same tensor with unit-norm factor columns, the norms moved into the weights.

        A zero column keeps its zeros and gets weight 0.
        """
        weights = self.weights
        factors = []
        for factor in self.factors:
            norms = _column_norms(factor)
            weights = weights * norms
            factors.append(factor / (norms + (norms == 0)))
        return CPTensor(weights, factors)

    def __repr__(self):
        return f"CPTensor(shape={self.shape}, rank={self.rank}, dtype={self.dtype}, {self._kind()})"

    def _arrays(self) -> list:
        return [self.weights] + list(self.factors)

    def _with_arrays(self, arrays) -> CPTensor:
        return CPTensor(arrays[0], arrays[1:])


def _column_norms(matrix):
    return ((matrix * matrix.conj()).real.sum(0)) ** 0.5


def random_cp(shape, rank: int, *, seed=None, like=None) -> CPTensor:
    """A random CP tensor: standard-normal factors, unit weights.

    Parameters
    ----------
    shape : sequence of int, ``(n_1, ..., n_d)``
    rank : int >= 1
    seed : int, optional
        Makes the draw reproducible.
    like : array, optional
        The result has its type, device and dtype (default float64 NumPy).
    """
    shape = check_modes(shape, None, "shape", "random_cp")
    rank = check_positive_int(rank, "rank", "random_cp")
    draw = random_normal((sum(shape) * rank,), like=like, seed=seed)  # one draw, cut into the factors
    factors, start = [], 0
    for n in shape:
        factors.append(draw[start:start + n * rank].reshape(n, rank))
        start += n * rank
    return CPTensor(ones((rank,), like=draw), factors)


# ---------------------------------------------------------------------------
# Khatri-Rao product and MTTKRP
# ---------------------------------------------------------------------------

def khatri_rao(matrices):
    """Column-wise Kronecker product of matrices with the same number of columns R.

    ``khatri_rao([B_1, ..., B_m])[:, r] = kron(B_1[:, r], ..., B_m[:, r])``: row
    ``(i_1, ..., i_m)`` in C order (the last index varies fastest) holds
    ``B_1[i_1, r] * ... * B_m[i_m, r]``. This is the order in which
    :func:`tnnlib.tensor_ops.unfold` lays out the columns of ``X_(k)``, so that
    ``X_(k) = A_k diag(lambda) khatri_rao([A_m for m != k]).T`` for a CP tensor.

    Parameters
    ----------
    matrices : list of arrays, ``matrices[j]`` of shape (n_j, R)

    Returns
    -------
    array, shape (prod n_j, R)
    """
    matrices = check_arrays(matrices, "khatri_rao", "matrices")
    rank = matrices[0].shape[-1]
    for j, matrix in enumerate(matrices):
        if matrix.ndim != 2 or matrix.shape[1] != rank:
            raise ValueError(
                f"khatri_rao: needs matrices with the same number of columns ({rank}); "
                f"matrices[{j}] has shape {tuple(matrix.shape)}"
            )
    product = matrices[0]
    for matrix in matrices[1:]:
        product = (product[:, None, :] * matrix[None, :, :]).reshape(-1, rank)
    return product


def mttkrp(tensor, factors, mode: int):
    """Matricised tensor times Khatri-Rao product: ``X_(k) khatri_rao([A_m for m != k])``.

    It is the right-hand side of the ALS update of ``A_k``; entry ``(i, r)`` is
    ``sum X[i_1, .., i, .., i_d] * prod_{m != k} A_m[i_m, r]``: the tensor
    contracted with the r-th column of every other factor.

    The Khatri-Rao product (``prod_{m != k} n_m`` rows) is never formed. Instead
    the tensor is contracted with one factor at a time: first one matrix product
    with the factor of the last mode (the first mode when k is last), which
    shrinks the tensor by a factor of ``n_m / R``, then the other modes, each a
    sum over ``i_m`` of ``T[..., i_m, ..., r] A_m[i_m, r]`` that keeps ``r``.

    Parameters
    ----------
    tensor : array, shape (n_1, ..., n_d)
    factors : list of d arrays, ``factors[m]`` of shape (n_m, R)
        ``factors[mode]`` is not used (it may be None).
    mode : int

    Returns
    -------
    array, shape (n_mode, R)
    """
    tensor = as_tensor(tensor, min_order=2, where="mttkrp")
    d = tensor.ndim
    mode = check_mode(mode, d, "mttkrp")
    if len(factors) != d:
        raise ValueError(f"mttkrp: a tensor of order {d} needs {d} factors (factors[mode] unused), "
                         f"got {len(factors)}")
    others = [m for m in range(d) if m != mode]
    rank = factors[others[0]].shape[-1]
    for m in others:
        if factors[m].ndim != 2 or tuple(factors[m].shape) != (tensor.shape[m], rank):
            raise ValueError(
                f"mttkrp: factors[{m}] must have shape (n_{m}, R) = ({tensor.shape[m]}, {rank}) "
                f"(one R for all factors), got {tuple(factors[m].shape)}"
            )
    factors = [None if m == mode else as_like(f, tensor) for m, f in enumerate(factors)]
    return _mttkrp(tensor, factors, mode)


def _contract_last(tensor, factor):
    """``sum_{i_d} X[..., i_d] A_d[i_d, r]``, shape (n_1, ..., n_{d-1}, R): one matrix product."""
    return tensor.reshape(-1, tensor.shape[-1]) @ factor


def _mttkrp(tensor, factors, mode, partial=None):
    """:func:`mttkrp` without the argument checks (the inner loop of :func:`cp_als`).

    ``partial``, if given, is ``_contract_last(tensor, factors[-1])``, valid for
    every mode but the last: :func:`cp_als` computes it once per sweep.
    """
    shape, last = tuple(tensor.shape), tensor.ndim - 1
    # 1. one matrix product, with the factor of the last mode (of the first, when ``mode`` is the last)
    if mode != last:
        partial = _contract_last(tensor, factors[last]) if partial is None else partial
        modes = list(range(last))  # the modes left in ``partial``; its last axis is r
    else:
        partial = tensor.reshape(shape[0], -1).T @ factors[0]
        modes = list(range(1, last + 1))
    # 2. the other modes one at a time: sum over i_m of partial[.., i_m, .., r] * A_m[i_m, r]
    for m in [m for m in modes if m != mode]:
        j = modes.index(m)
        left, right = prod(shape[n] for n in modes[:j]), prod(shape[n] for n in modes[j + 1:])
        partial = (partial.reshape(left, shape[m], right, -1) * factors[m][None, :, None, :]).sum(1)
        modes.pop(j)
    return partial.reshape(shape[mode], -1)


# ---------------------------------------------------------------------------
# ALS
# ---------------------------------------------------------------------------

def _initial_factors(tensor, rank, init, seed):
    """Starting factor matrices with unit-norm columns."""
    shape = tuple(tensor.shape)
    if isinstance(init, CPTensor):
        if init.shape != shape or init.rank != rank:
            raise ValueError(f"cp_als: init has shape {init.shape} and rank {init.rank}; "
                             f"expected {shape} and rank {rank}")
        factors = [as_like(factor, tensor) for factor in init.factors]
    elif not isinstance(init, str):
        raise ValueError(f"cp_als: unknown init {init!r}: expected 'random', 'svd' or a CPTensor")
    elif init == "random":
        factors = random_cp(shape, rank, seed=seed, like=tensor).factors
    elif init == "svd":
        # leading left singular vectors of each unfolding; random columns where rank > n_k
        factors = []
        extra = random_cp(shape, rank, seed=seed, like=tensor).factors
        for k, n in enumerate(shape):
            U, _ = mode_singular_vectors(tensor, k)
            factors.append(U[:, :rank] if rank <= n else concatenate([U, extra[k][:, n:]], axis=1))
    else:
        raise ValueError(f"cp_als: unknown init {init!r}: expected 'random', 'svd' or a CPTensor")
    return CPTensor(ones((rank,), like=tensor), factors).normalize().factors


def cp_als(tensor, rank: int, *, n_sweeps: int = 100, tol=None, init="random", seed=None,
           return_errors: bool = False):
    """CP decomposition of rank R by alternating least squares (CP-ALS).

    Algorithm (Carroll & Chang 1970; Harshman 1970; Kolda & Bader 2009, Fig. 3.3):

    1. Initialise the factors ``A_1, ..., A_d`` (``init``), unit-norm columns.
    2. One sweep: for k = 1..d (``X`` contracted with ``A_d`` is computed once
       per sweep and shared by the MTTKRPs of k = 1..d-1, since ``A_d`` changes last),

       a. ``V = (A_1^T A_1) * ... (skip k) ... * (A_d^T A_d)``, the Hadamard
          (entry-wise) product of the R x R Gram matrices: it equals
          ``K^T K`` for ``K = khatri_rao([A_m for m != k])``, without forming K;
       b. ``M = mttkrp(X, factors, k)`` ``= X_(k) K``, shape (n_k, R);
       c. ``A_k = M V^{-1}``, the least-squares solution of
          ``min ||X_(k) - A_k K^T||`` (a pseudo-inverse when V is singular);
       d. normalise the columns of ``A_k``; their norms become the weights lambda.

    3. Relative error ``||X - X_cp|| / ||X||`` from the norms, without building
       ``X_cp``: ``||X - X_cp||^2 = ||X||^2 - 2 <M, A_d diag(lambda)> + lambda^T (*_k A_k^T A_k) lambda``.
       The subtraction cancels digits: below ``100 sqrt(machine eps)`` (1.5e-6
       in float64, 3.5e-2 in float32) the error is computed from the full tensor.
    4. Repeat for ``n_sweeps`` sweeps, or until the relative change of the error
       ``|e_{t-1} - e_t| / e_{t-1}`` is below ``tol`` (or the fit is exact: the
       error at rounding level, ``100 eps``).

    The error history shows degeneracy: a slowly creeping error while the weights
    grow and two components approach ``a_r = -a_s`` (see :func:`degeneracy_score`).

    Parameters
    ----------
    tensor : array, shape (n_1, ..., n_d), d >= 2
        Real float32/float64 NumPy array or torch tensor.
    rank : int >= 1
        R, the number of components (it may exceed the n_k).
    n_sweeps : int >= 1
        Maximum number of sweeps.
    tol : float >= 0, optional
        Stopping tolerance on the relative change of the error (step 4;
        default: run all sweeps).
    init : {"random", "svd"} or CPTensor
        "random": standard-normal factors (``seed``); "svd": the leading left
        singular vectors of each unfolding ``X_(k)`` (random columns beyond
        n_k); a CPTensor: its factors.
    seed : int, optional
        Seed of the random initialisation.
    return_errors : bool
        Also return the list of relative errors, one per sweep.

    Returns
    -------
    CPTensor (weights lambda >= 0, unit-norm factor columns), or
    (CPTensor, list of float) with ``return_errors``.

    >>> x = random_cp((6, 7, 8), 3, seed=1).to_dense()
    >>> cp, errors = cp_als(x, 3, n_sweeps=200, init="svd", tol=1e-12, return_errors=True)
    >>> cp.rank, errors[-1] < 1e-6
    (3, True)
    """
    tensor = check_tensor(tensor, "cp_als", min_order=2)
    if dtype_kind(tensor) != "float":
        raise TypeError(f"cp_als: needs real float32 or float64 input, got {tensor.dtype}")
    rank = check_positive_int(rank, "rank", "cp_als")  # never capped: a CP rank may exceed the n_k
    check_sweeps(n_sweeps, tol, "cp_als")
    d = tensor.ndim

    factors = _initial_factors(tensor, rank, init, seed)
    grams = [A.T @ A for A in factors]
    norm_x, last = norm(tensor), d - 1
    errors = []
    for _ in range(n_sweeps):
        shared = _contract_last(tensor, factors[last])  # A_d changes last: shared by the first d - 1 updates
        for k in range(d):
            V = _hadamard([grams[m] for m in range(d) if m != k])
            M = _mttkrp(tensor, factors, k, partial=shared if k < last else None)
            A = solve_gram(V, M)
            weights = _column_norms(A)
            factors[k] = A / (weights + (weights == 0))
            grams[k] = factors[k].T @ factors[k]
        # error of the model [[weights; A_1, ..., A_d]], from M and A of the last mode
        error_sq = norm_x**2 - 2 * float((M * A).sum()) + float(weights @ _hadamard(grams) @ weights)
        errors.append(sweep_error(tensor, norm_x, error_sq, CPTensor(weights, factors)))
        if tol is not None and converged(errors, tol, tensor):
            break

    result = CPTensor(weights, factors)
    return (result, errors) if return_errors else result


def _hadamard(matrices):
    product = matrices[0]
    for matrix in matrices[1:]:
        product = product * matrix
    return product


# ---------------------------------------------------------------------------
# Degeneracy
# ---------------------------------------------------------------------------

def congruence(cp: CPTensor):
    """Congruence matrix of the components, shape (R, R).

    ``C[r, s] = prod_k cos(a^(k)_r, a^(k)_s)``: the cosine between the rank-one
    tensors ``a^(1)_r o ... o a^(d)_r`` and ``a^(1)_s o ... o a^(d)_s``
    (their inner product is the product of the per-mode inner products).
    ``C[r, r] = 1``.
    """
    product = None
    for factor in cp.factors:
        norms = _column_norms(factor)
        unit = factor / (norms + (norms == 0))
        cosines = unit.T @ unit
        product = cosines if product is None else product * cosines
    return product


def degeneracy_score(cp: CPTensor) -> float:
    """The most negative congruence between two components, in [-1, 1].

    ``min_{r != s} C[r, s]`` with C from :func:`congruence`. In a degenerate CP
    fit two components become nearly equal and opposite (``C[r, s] -> -1``)
    while their weights grow without bound and mostly cancel; a score near -1
    together with large weights is its signature (Kolda & Bader 2009, 3.2).
    A healthy fit of well-separated components scores well above -1. Rank 1
    has no pair: the score is 0.
    """
    if cp.rank < 2:
        return 0.0
    C = congruence(cp)
    return float((C + 3 * eye(cp.rank, like=C)).min())  # + 3 on the diagonal: never the minimum
