"""The tensor-train (TT) format, also called matrix product state (MPS).

A tensor ``A`` of order ``d`` and shape ``(n_1, ..., n_d)`` is stored as ``d``
*cores* ``G_k`` of shape ``(r_{k-1}, n_k, r_k)`` with ``r_0 = r_d = 1``; each
element is a product of matrices, one slice per core:

    A[i_1, ..., i_d] = G_1[:, i_1, :] @ G_2[:, i_2, :] @ ... @ G_d[:, i_d, :].

The ``r_k`` are the bond dimensions (TT ranks). Storage is
``sum_k r_{k-1} n_k r_k`` numbers instead of ``n_1 ... n_d``: linear in ``d``
instead of exponential.

Contents, in the order of the lesson:

* :class:`TTTensor` - the cores, with ``to_dense``, element access, norm,
  addition (ranks add) and scaling;
* :func:`inner` - the inner product of two TT tensors without forming them;
* :func:`tt_svd` - TT-SVD: a full tensor to TT by sequential truncated SVDs,
  with the error bound ``||A - TT||_F <= eps ||A||_F``;
* :func:`orthogonalize` (and the left/right sweeps) - the mixed canonical
  form by QR sweeps;
* :func:`tt_round` - TT rounding: recompress a TT (e.g. a sum) to lower ranks;
* :func:`bond_spectra` and :func:`entanglement_entropy` - the singular values
  across each bond;
* :func:`random_tt` - a random TT of given ranks.

Rank rules (the same everywhere in this module): ``r_k`` can never usefully
exceed ``min(n_1 ... n_k, n_{k+1} ... n_d)`` (:func:`max_tt_ranks`). A single
integer rank means "at most this everywhere" and is capped there silently; a
list of ranks is a request bond by bond, and an entry above the maximum is an
error.

Reference: I. V. Oseledets, "Tensor-Train Decomposition", SIAM J. Sci. Comput.
33(5), 2295-2317, 2011.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from numbers import Number

from .backend import (
    as_tensor,
    concatenate,
    conj_t,
    dtype_kind,
    eye,
    is_torch,
    norm,
    ones,
    prod,
    qr,
    random_normal,
    to_list,
    zeros,
)
from .svd import truncated_split, unit_roundoff
from .tensor_ops import TensorFormat
from .validation import check_arrays, check_eps, check_max_rank, check_modes, check_rank, check_tensor, is_int

# --------------------------------------------------------------------------
# The TT tensor
# --------------------------------------------------------------------------


@dataclass(eq=False, repr=False)
class TTTensor(TensorFormat):
    """A tensor in tensor-train format.

    Parameters
    ----------
    cores : list of d arrays
        ``cores[k]`` has shape ``(r_k, n_{k+1}, r_{k+1})`` (0-based ``k``; in
        the lessons' 1-based words, core ``G_k`` has shape
        ``(r_{k-1}, n_k, r_k)``) with ``r_0 = r_d = 1``. All NumPy or all
        torch, one float or complex dtype, one device. Stored as given (no copy).

    Examples
    --------
    >>> tt = random_tt((4, 5, 6), 3, seed=0)
    >>> tt.shape, tt.rank
    ((4, 5, 6), (1, 3, 3, 1))
    >>> x = tt.to_dense()
    >>> bool(abs(tt[1, 2, 3] - x[1, 2, 3]) < 1e-12)
    True
    """

    cores: list

    def __post_init__(self):
        self.cores = check_cores(self.cores, order=3, where="TTTensor")

    # --- description ---------------------------------------------------------------------------
    @property
    def order(self) -> int:
        """The order ``d`` (number of modes)."""
        return len(self.cores)

    @property
    def shape(self) -> tuple:
        """Mode sizes ``(n_1, ..., n_d)``."""
        return tuple(int(core.shape[1]) for core in self.cores)

    @property
    def rank(self) -> tuple:
        """Bond dimensions ``(r_0, r_1, ..., r_d)`` with ``r_0 = r_d = 1``."""
        return (1,) + tuple(int(core.shape[2]) for core in self.cores)

    @property
    def n_params(self) -> int:
        """Numbers stored: ``sum_k r_{k-1} n_k r_k``."""
        return sum(prod(core.shape) for core in self.cores)

    def __repr__(self):
        return f"TTTensor(shape={self.shape}, rank={self.rank}, dtype={self.dtype}, {self._kind()})"

    def _arrays(self) -> list:
        return list(self.cores)

    def _with_arrays(self, arrays) -> TTTensor:
        return TTTensor(arrays)

    # --- back to a full tensor, elements, norm ----------------------------------------------------
    def to_dense(self):
        """The full tensor of shape ``(n_1, ..., n_d)`` (costs ``n_1 ... n_d`` memory).

        Contracts the cores left to right: after core ``k`` the partial product
        is a matrix of shape ``(n_1 ... n_k, r_k)``.
        """
        partial = self.cores[0].reshape(self.shape[0], -1)          # (n_1, r_1)
        for core in self.cores[1:]:
            r, n, r_next = core.shape
            partial = (partial @ core.reshape(r, n * r_next)).reshape(-1, r_next)
        return partial.reshape(self.shape)

    def element(self, index):
        """One element ``A[i_1, ..., i_d] = G_1[:, i_1, :] @ ... @ G_d[:, i_d, :]``.

        Costs ``O(d r^2)``; the full tensor is never formed. ``index`` is a full
        tuple of ``d`` integers (negative ones count from the end).
        Returns a scalar of the cores' type (NumPy scalar or 0-d tensor).
        """
        index = self._check_index(index)
        row = self.cores[0][:, index[0], :]                          # (1, r_1)
        for core, i in zip(self.cores[1:], index[1:]):
            row = row @ core[:, i, :]                                # (1, r_k)
        return row[0, 0]

    def __getitem__(self, index):
        return self.element(index)

    def _check_index(self, index) -> tuple:
        index = index if isinstance(index, tuple) else (index,)
        if len(index) != self.order:
            raise IndexError(f"a TTTensor of order {self.order} needs a full index of {self.order} "
                             f"integers, got {len(index)}; use to_dense() for slicing")
        checked = []
        for k, (i, n) in enumerate(zip(index, self.shape)):
            try:
                i = operator.index(i)
            except TypeError:
                raise TypeError(f"TTTensor indices must be integers (no slices); index {k} is {i!r}; "
                                "use to_dense() for slicing") from None
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of range for mode {k} of size {n}")
            checked.append(i % n)
        return tuple(checked)

    def norm(self) -> float:
        """Frobenius norm ``||A||_F`` as a Python float, without the full tensor.

        Left-orthogonalize: then all the norm sits in the last core. (Through
        ``sqrt(inner(A, A))`` rounding can make a tiny norm negative.)
        """
        return norm(left_orthogonalize(self).cores[-1])

    # --- arithmetic ---------------------------------------------------------------------------------
    def __add__(self, other):
        """TT addition: cores become block-diagonal, ranks add.

        ``(A + B)[i] = [G_1 H_1] [[G_2 0] [0 H_2]] ... [[G_d] [H_d]]`` (slices
        at ``i_k``): first cores side by side, middle cores block-diagonal, last
        cores stacked. Ranks ``r_k + s_k``; :func:`tt_round` recompresses.
        """
        if not isinstance(other, TTTensor):
            return NotImplemented
        _check_compatible(self, other, "TT addition")
        if self.order == 1:
            return TTTensor([self.cores[0] + other.cores[0]])
        cores = [concatenate([self.cores[0], other.cores[0]], axis=2)]
        for a, b in zip(self.cores[1:-1], other.cores[1:-1]):
            top = concatenate([a, zeros((a.shape[0], a.shape[1], b.shape[2]), like=a)], axis=2)
            bottom = concatenate([zeros((b.shape[0], b.shape[1], a.shape[2]), like=a), b], axis=2)
            cores.append(concatenate([top, bottom], axis=0))
        cores.append(concatenate([self.cores[-1], other.cores[-1]], axis=0))
        return TTTensor(cores)

    def __mul__(self, scalar):
        """Multiplication by a scalar: scale the first core."""
        if not _is_scalar(scalar):
            return NotImplemented
        return TTTensor([self.cores[0] * scalar] + list(self.cores[1:]))

    __rmul__ = __mul__

    def __truediv__(self, scalar):
        if not _is_scalar(scalar):
            return NotImplemented
        return TTTensor([self.cores[0] / scalar] + list(self.cores[1:]))

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        if not isinstance(other, TTTensor):
            return NotImplemented
        return self + (-other)


def _is_scalar(x) -> bool:
    return isinstance(x, Number) or (hasattr(x, "ndim") and x.ndim == 0)


# --------------------------------------------------------------------------
# Checks: cores, ranks, compatibility
# --------------------------------------------------------------------------


def check_cores(cores, order: int, where: str) -> list:
    """Cores of a TT (``order`` 3) or TT-matrix (``order`` 4): a non-empty list of arrays of one
    kind, dtype and device (:func:`tnnlib.validation.check_arrays`), each with ``order`` axes,
    whose ranks chain (last axis of one = first axis of the next) and start and end at 1."""
    cores = check_arrays(cores, where, "cores")
    for k, core in enumerate(cores):
        if core.ndim != order:
            raise ValueError(f"{where}: each core has {order} axes, cores[{k}] has shape {tuple(core.shape)}")
        if k > 0 and core.shape[0] != cores[k - 1].shape[-1]:
            raise ValueError(f"{where}: ranks do not chain: cores[{k - 1}] ends with rank {cores[k - 1].shape[-1]} "
                             f"but cores[{k}] starts with rank {core.shape[0]}")
    if cores[0].shape[0] != 1 or cores[-1].shape[-1] != 1:
        raise ValueError(f"{where}: boundary ranks must be r_0 = r_d = 1, got {cores[0].shape[0]} "
                         f"and {cores[-1].shape[-1]}")
    return cores


def max_tt_ranks(shape) -> tuple:
    """Largest meaningful TT ranks ``(1, r_1, ..., r_{d-1}, 1)`` for a tensor of ``shape``.

    ``r_k = min(n_1 ... n_k, n_{k+1} ... n_d)``: the rank of the k-th unfolding
    (rows ``(i_1..i_k)``, columns ``(i_{k+1}..i_d)``) cannot be larger. An
    exact TT with these ranks exists for every tensor.

    >>> max_tt_ranks((2, 3, 4, 5))
    (1, 2, 6, 5, 1)
    """
    shape = check_modes(shape, None, "shape", "max_tt_ranks")
    return (1,) + tuple(min(prod(shape[:k]), prod(shape[k:])) for k in range(1, len(shape))) + (1,)


def check_tt_ranks(value, shape, where: str, name: str = "max_rank", required: bool = False):
    """The ``d-1`` inner ranks of a TT of ``shape`` from ``max_rank`` or ``rank``.

    The rules of :func:`tnnlib.validation.check_max_rank` against
    :func:`max_tt_ranks`: an int is capped bond by bond, a sequence of ``d-1``
    ranks is checked (it may also give all ``d+1`` ranks with ``r_0 = r_d = 1``,
    like ``TTTensor.rank``). ``None`` (not ``required``) means no limit: ``d-1`` Nones.
    """
    limits = max_tt_ranks(shape)[1:-1]
    d = len(limits) + 1
    if value is None and not required:
        return [None] * (d - 1)
    if isinstance(value, (list, tuple)) and len(value) == d + 1:
        value = list(value)
        if value[0] != 1 or value[-1] != 1:
            raise ValueError(f"{where}: {name} with d+1 = {d + 1} entries must start and end with 1 "
                             f"(r_0 = r_d = 1), got {value}")
        value = value[1:-1]
    check = check_rank if required else check_max_rank
    return list(check(value, limits, where, name))


def _step_tolerance(eps, norm_of_tensor: float, d: int, like) -> float:
    """Absolute error allowed per truncation step: ``delta = eps ||A|| / sqrt(d - 1)``.

    Without ``eps`` (a checked float or None), ``eps`` = 100 machine epsilons of
    the dtype: only what is at the rounding level is dropped, so the ranks are
    the numerical ranks.
    """
    eps = 100 * 2 * unit_roundoff(like) if eps is None else eps
    return eps * norm_of_tensor / math.sqrt(max(d - 1, 1))


def check_tt(tt, where: str, name: str = "tt") -> TTTensor:
    """``tt`` itself, if it is a :class:`TTTensor`."""
    if not isinstance(tt, TTTensor):
        raise TypeError(f"{where}: {name} must be a TTTensor, got {type(tt).__name__}")
    return tt


def _check_compatible(a: TTTensor, b: TTTensor, what: str) -> None:
    """Two TT tensors of one shape, kind (NumPy/torch), dtype and device."""
    if a.shape != b.shape:
        raise ValueError(f"{what} needs TT tensors of equal shapes, got {a.shape} and {b.shape}")
    x, y = a.cores[0], b.cores[0]
    if is_torch(x) != is_torch(y) or x.dtype != y.dtype or (is_torch(x) and x.device != y.device):
        raise TypeError(f"{what} needs TT tensors of one kind, dtype and device, got {a!r} and {b!r}")


def inner(a: TTTensor, b: TTTensor):
    """Inner product ``<a, b> = sum_i conj(a[i]) b[i]`` of two TT tensors, without full tensors.

    Sweep left to right carrying ``M_k`` of shape ``(ra_k, rb_k)``, the
    contraction of everything left of bond ``k``:

        M_k = sum_{i_k} G_k[:, i_k, :]^H  M_{k-1}  H_k[:, i_k, :],   M_0 = [[1]].

    Each step is two matrix products, ``O(n r^3)`` for ranks ``r``, so the
    whole costs ``O(d n r^3)`` instead of ``O(n^d)``.

    Returns a scalar of the cores' type (NumPy scalar or 0-d tensor).
    """
    if not isinstance(a, TTTensor) or not isinstance(b, TTTensor):
        raise TypeError(f"inner needs two TTTensors, got {type(a).__name__} and {type(b).__name__}")
    _check_compatible(a, b, "the inner product")
    M = ones((1, 1), like=a.cores[0])
    for G, H in zip(a.cores, b.cores):
        ra, n, ra_next = G.shape
        rb, _, rb_next = H.shape
        MH = (M @ H.reshape(rb, n * rb_next)).reshape(ra * n, rb_next)   # (ra n, rb')
        M = conj_t(G.reshape(ra * n, ra_next)) @ MH                       # (ra', rb')
    return M[0, 0]


# --------------------------------------------------------------------------
# TT-SVD
# --------------------------------------------------------------------------


def tt_svd(tensor, *, max_rank=None, eps=None, method: str = "auto") -> TTTensor:
    """TT-SVD: decompose a full tensor into a TT by sequential truncated SVDs (Oseledets 2011).

    Steps, for ``k = 1, ..., d-1``:

    1. reshape the remainder ``C`` to the unfolding of shape ``(r_{k-1} n_k, n_{k+1} ... n_d)``
       (``C = A`` at the start);
    2. truncated SVD ``C ~ U diag(S) Vh`` with error at most ``delta`` and rank
       ``r_k`` at most ``max_rank``;
    3. core ``G_k = reshape(U, (r_{k-1}, n_k, r_k))``, and ``C = diag(S) Vh`` carries on;

    and the last core is ``G_d = reshape(C, (r_{d-1}, n_d, 1))``.

    Error bound: the step errors are orthogonal to each other, so
    ``||A - TT||_F^2 <= sum of squared step errors``. With
    ``delta = eps ||A||_F / sqrt(d - 1)`` this gives
    ``||A - TT||_F <= eps ||A||_F``, with ranks at most the ``eps``-ranks
    of the unfoldings (Oseledets 2011, Theorem 2.2).

    Parameters
    ----------
    tensor : array, shape (n_1, ..., n_d)
        NumPy array or torch tensor; float32/float64 or complex.
    max_rank : int or list of int, optional
        An int bounds every ``r_k`` and is capped silently at the largest
        possible rank (:func:`max_tt_ranks`). A list gives ``d-1`` ranks
        (or ``d+1`` with ``r_0 = r_d = 1``); an entry above the largest
        possible rank raises ``ValueError``.
    eps : float in [0, 1), optional
        Relative Frobenius error allowed. With both ``eps`` and ``max_rank``,
        each rank is the smaller of the two, and the bound holds only if
        ``max_rank`` did not cut further.
    method : {"auto", "svd", "gram"}
        How each truncated SVD is computed (:func:`tnnlib.svd.truncated_split`).
        ``"auto"`` uses the fast Gram route on wide unfoldings only where
        the truncation makes its rounding harmless.

    Returns
    -------
    TTTensor with ``shape == tensor.shape``. Without ``eps``, singular values
    are dropped only at the rounding level (``eps`` = 100 machine epsilons):
    without ``max_rank`` either, the TT is exact up to rounding and its ranks
    are the numerical ranks of the unfoldings.

    >>> import numpy as np
    >>> x = random_tt((4, 5, 6), 2, seed=0).to_dense()
    >>> tt_svd(x).rank
    (1, 2, 2, 1)
    >>> tt_svd(x + 1e-3 * np.ones(x.shape), eps=1e-2).rank
    (1, 2, 2, 1)

    Reference: I. V. Oseledets, SIAM J. Sci. Comput. 33(5), 2011, Algorithm 1.
    """
    A = check_tensor(tensor, "tt_svd")
    shape = tuple(A.shape)
    d = len(shape)
    max_ranks = check_tt_ranks(max_rank, shape, "tt_svd")
    delta = _step_tolerance(check_eps(eps, "tt_svd"), norm(A), d, like=A)
    cores, C, r = [], A, 1
    for k in range(d - 1):
        C = C.reshape(r * shape[k], -1)                           # unfolding (r_{k-1} n_k, rest)
        U, _, C = truncated_split(C, max_ranks[k], delta, method)  # C <- diag(S) Vh
        cores.append(U.reshape(r, shape[k], -1))
        r = U.shape[1]
    cores.append(C.reshape(r, shape[-1], 1))
    return TTTensor(cores)


# --------------------------------------------------------------------------
# Orthogonalization: the mixed canonical form
# --------------------------------------------------------------------------


def _make_left_orthogonal(cores: list, k: int) -> None:
    """QR of core ``k`` as a (r_{k-1} n_k, r_k) matrix; ``Q`` stays, ``R`` moves into core ``k+1``."""
    r, n, r_next = cores[k].shape
    Q, R = qr(cores[k].reshape(r * n, r_next))
    cores[k] = Q.reshape(r, n, -1)
    following = cores[k + 1]
    cores[k + 1] = (R @ following.reshape(r_next, -1)).reshape(R.shape[0], *following.shape[1:])


def _make_right_orthogonal(cores: list, k: int) -> None:
    """LQ of core ``k`` as a (r_{k-1}, n_k r_k) matrix; ``Q`` stays, ``L`` moves into core ``k-1``.

    LQ from QR: ``core^H = Q R`` gives ``core = R^H Q^H``.
    """
    r, n, r_next = cores[k].shape
    Q, R = qr(conj_t(cores[k].reshape(r, n * r_next)))
    cores[k] = conj_t(Q).reshape(-1, n, r_next)
    previous = cores[k - 1]
    cores[k - 1] = (previous.reshape(-1, r) @ conj_t(R)).reshape(*previous.shape[:2], -1)


def orthogonalize(tt: TTTensor, center: int) -> TTTensor:
    """Mixed canonical form with orthogonality center ``center`` (0-based), by QR sweeps.

    Steps: for ``k = 0, ..., center-1`` make core ``k`` left-orthogonal (QR,
    push ``R`` right); for ``k = d-1, ..., center+1`` make core ``k``
    right-orthogonal (LQ, push ``L`` left). The tensor is unchanged and all
    its norm then sits in core ``center``; an SVD of that core gives the
    singular values of the unfolding at its bonds. Ranks may shrink where
    they exceed ``r_{k-1} n_k`` (or ``n_k r_k``). Cost ``O(d n r^3)``.

    Returns a new TTTensor; ``tt`` is unchanged.
    """
    tt = check_tt(tt, "orthogonalize")
    d = tt.order
    if not is_int(center) or not -d <= center < d:
        raise ValueError(f"orthogonalize: center must be an integer core index in [0, {d - 1}], got {center!r}")
    center = int(center) % d
    cores = list(tt.cores)
    for k in range(center):
        _make_left_orthogonal(cores, k)
    for k in range(d - 1, center, -1):
        _make_right_orthogonal(cores, k)
    return TTTensor(cores)


def left_orthogonalize(tt: TTTensor) -> TTTensor:
    """All cores but the last left-orthogonal: ``orthogonalize(tt, center=d-1)``."""
    return orthogonalize(tt, check_tt(tt, "left_orthogonalize").order - 1)


def right_orthogonalize(tt: TTTensor) -> TTTensor:
    """All cores but the first right-orthogonal: ``orthogonalize(tt, center=0)``."""
    return orthogonalize(tt, 0)


def _default_tol(core) -> float:
    return 1e3 * 2 * unit_roundoff(core)              # 1e3 machine epsilons


def _is_orthonormal_columns(Q, tol) -> bool:
    gram = conj_t(Q) @ Q
    return norm(gram - eye(Q.shape[1], like=Q)) <= (_default_tol(Q) if tol is None else tol)


def is_left_orthogonal(core, tol=None) -> bool:
    """True when the core, as a ``(r_{k-1} n_k, r_k)`` matrix ``Q``, has orthonormal columns.

    Checks ``||Q^H Q - I||_F <= tol`` (default ``1e3`` machine epsilons of the dtype).
    """
    r, n, r_next = core.shape
    return _is_orthonormal_columns(core.reshape(r * n, r_next), tol)


def is_right_orthogonal(core, tol=None) -> bool:
    """True when the core, as a ``(r_{k-1}, n_k r_k)`` matrix ``Q``, has orthonormal rows.

    Checks ``||Q Q^H - I||_F <= tol`` (default ``1e3`` machine epsilons of the dtype).
    """
    r, n, r_next = core.shape
    return _is_orthonormal_columns(conj_t(core.reshape(r, n * r_next)), tol)


# --------------------------------------------------------------------------
# Rounding and bond spectra
# --------------------------------------------------------------------------


def _truncation_sweep(tt: TTTensor, max_ranks, delta, method):
    """Right-orthogonalize, then split core by core left to right (``C = U @ SVh``, SVh into the next core).

    Core ``k`` is then the orthogonality center, so the singular values of its
    ``(r_{k-1} n_k, r_k)`` matrix are those of the whole tensor's unfolding at
    bond ``k``, and truncating them costs exactly their tail in the tensor's
    norm. Returns the new cores and the singular values kept at each bond.
    """
    cores = list(right_orthogonalize(tt).cores)
    spectra = []
    for k in range(tt.order - 1):
        r, n, _ = cores[k].shape
        U, S, SVh = truncated_split(cores[k].reshape(r * n, -1), max_ranks[k], delta, method)
        cores[k] = U.reshape(r, n, -1)
        following = cores[k + 1]
        cores[k + 1] = (SVh @ following.reshape(following.shape[0], -1)).reshape(SVh.shape[0], *following.shape[1:])
        spectra.append(S)
    return cores, spectra


def tt_round(tt: TTTensor, *, max_rank=None, eps=None, method: str = "auto") -> TTTensor:
    """TT rounding: recompress a TT tensor to smaller ranks (Oseledets 2011, Algorithm 2).

    Steps:

    1. right-orthogonalize (QR sweep right to left), so ``||tt|| = ||G_1||``;
    2. sweep left to right: truncated SVD of core ``k`` as an
       ``(r_{k-1} n_k, r_k)`` matrix with error at most
       ``delta = eps ||tt|| / sqrt(d - 1)``; ``U`` is the new core, ``diag(S) Vh``
       is multiplied into core ``k+1``.

    Because the cores right of ``k`` are right-orthogonal, each step's error is
    the error in the whole tensor, and ``||tt - rounded||_F <= eps ||tt||_F``
    as for :func:`tt_svd`. Cost ``O(d n r^3)``: no full tensor is formed. The
    typical use: ``tt_round(a + b, eps=1e-10)`` brings the added ranks back.

    Parameters
    ----------
    tt : TTTensor
    max_rank : int or list of int, optional
        As for :func:`tt_svd`.
    eps : float in [0, 1), optional
        Default: 100 machine epsilons, so ``tt_round(tt)`` removes only
        redundancy (e.g. ``tt_round(a + a).rank == a.rank``).
    method : {"auto", "svd", "gram"}

    Returns a new TTTensor.

    >>> a = random_tt((3, 4, 5), 2, seed=0)
    >>> (a + a).rank, tt_round(a + a).rank
    ((1, 4, 4, 1), (1, 2, 2, 1))
    """
    tt = check_tt(tt, "tt_round")
    max_ranks = check_tt_ranks(max_rank, tt.shape, "tt_round")
    delta = _step_tolerance(check_eps(eps, "tt_round"), tt.norm(), tt.order, like=tt.cores[0])
    cores, _ = _truncation_sweep(tt, max_ranks, delta, method)
    return TTTensor(cores)


def bond_spectra(tt: TTTensor) -> list:
    """Singular values across each bond: the spectra of the unfoldings ``A_<k>``, k = 1..d-1.

    ``A_<k>`` is the tensor as a matrix with rows ``(i_1..i_k)`` and columns
    ``(i_{k+1}..i_d)``. Computed in the mixed canonical form (no full tensor):
    with the cores left of ``k`` left-orthogonal and right of it
    right-orthogonal, the SVD of the center core gives them.

    Returns a list of ``d-1`` real vectors (of the cores' type), entry ``k-1``
    holding the ``min(r_{k-1} n_k, r_k)`` singular values at bond ``k`` in
    decreasing order (zeros included when the TT is not minimal).
    """
    tt = check_tt(tt, "bond_spectra")
    _, spectra = _truncation_sweep(tt, [None] * (tt.order - 1), None, "svd")
    return spectra


def entanglement_entropy(spectrum) -> float:
    """Entanglement entropy ``-sum p log p`` of a bond, with ``p = s^2 / sum s^2`` (in nats).

    ``spectrum`` holds the singular values ``s`` at the bond (from
    :func:`bond_spectra`). Zero for a rank-1 bond, ``log r`` for ``r`` equal
    singular values; terms with ``p = 0`` count as 0.
    """
    s = as_tensor(spectrum, name="spectrum", where="entanglement_entropy")
    values = to_list(s)
    if s.ndim != 1 or dtype_kind(s) == "complex" or any(v < 0 for v in values):
        raise ValueError(f"entanglement_entropy: spectrum must be a vector of non-negative singular values, "
                         f"got shape {tuple(s.shape)}")
    energies = [float(v) ** 2 for v in values]
    total = sum(energies)
    if total == 0:
        raise ValueError("entanglement_entropy: spectrum is all zeros: the entropy of a zero tensor is undefined")
    return -sum(p * math.log(p) for p in (e / total for e in energies) if p > 0)


# --------------------------------------------------------------------------
# Random TT tensors
# --------------------------------------------------------------------------


def random_tt(shape, rank, *, seed=None, like=None) -> TTTensor:
    """A TT tensor with standard-normal cores, scaled so that the full tensor's entries have variance 1.

    Core ``k`` is divided by ``sqrt(r_k)``: an entry of the full tensor is a
    sum over the bonds of products of independent unit-variance numbers, whose
    variance is ``r_1 ... r_{d-1}``.

    Parameters
    ----------
    shape : sequence of int, (n_1, ..., n_d)
    rank : int or list of int
        An int is capped at the largest possible ranks (:func:`max_tt_ranks`);
        a list gives ``d-1`` (or ``d+1``, with ones at the ends) ranks, each at
        most the largest possible.
    seed : int, optional
        For a reproducible draw (no global random state is touched).
    like : array, optional
        The cores get its type, device and dtype; default float64 NumPy.

    >>> random_tt((2, 3, 4, 5), 3, seed=0).rank       # capped at max_tt_ranks: (1, 2, 6, 5, 1)
    (1, 2, 3, 3, 1)
    """
    shape = check_modes(shape, None, "shape", "random_tt")
    ranks = [1] + check_tt_ranks(rank, shape, "random_tt", name="rank", required=True) + [1]
    core_shapes = [(ranks[k], n, ranks[k + 1]) for k, n in enumerate(shape)]
    numbers = random_normal((sum(prod(s) for s in core_shapes),), like=like, seed=seed)
    cores, start = [], 0
    for k, core_shape in enumerate(core_shapes):
        size = prod(core_shape)
        cores.append(numbers[start:start + size].reshape(core_shape) / math.sqrt(ranks[k + 1]))
        start += size
    return TTTensor(cores)
