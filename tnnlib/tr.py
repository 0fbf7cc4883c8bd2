"""The tensor-ring (TR) decomposition: TR-SVD and TR-ALS.

A tensor ring writes an order-d tensor ``X`` of shape ``(n_1, ..., n_d)`` with d
third-order cores ``G_k`` of shape ``(r_{k-1}, n_k, r_k)``, closed into a ring
(``r_0 = r_d``, the closing bond):

    X[i_1, ..., i_d] = trace( G_1[:, i_1, :] G_2[:, i_2, :] ... G_d[:, i_d, :] ).

Each entry is the trace of a product of matrices, one slice per core. With
``r_0 = r_d = 1`` it is a tensor train; the ring lets the first and the last core
exchange information directly and has no privileged first mode. The cores store
``sum_k r_{k-1} n_k r_k`` numbers. The ranks are ``(r_0, r_1, ..., r_d)``, d + 1
numbers with ``r_0 = r_d``.

Two algorithms:

* :func:`tr_svd`: one pass of truncated SVDs, like TT-SVD, except that the first
  SVD is split into the two bonds ``r_0`` and ``r_1`` of the first core;
* :func:`tr_als`: alternating least squares, one core at a time, each the best
  one given the others.

Reference
---------
Q. Zhao, G. Zhou, S. Xie, L. Zhang, A. Cichocki, "Tensor Ring Decomposition",
arXiv:1606.05535, 2016 (Algorithms 1 and 2).
"""
from __future__ import annotations

from dataclasses import dataclass

from .als import check_sweeps, converged, solve_gram, sweep_error
from .backend import as_like, conj_t, dtype_kind, einsum, norm, prod, qr_r, random_normal, svd, transpose
from .svd import rank_for_tail
from .tensor_ops import TensorFormat
from .validation import check_arrays, check_eps, check_max_rank, check_modes, check_rank, check_tensor, is_int

__all__ = ["TRTensor", "tr_svd", "tr_als", "random_tr", "merge_cores"]


@dataclass(eq=False, repr=False)
class TRTensor(TensorFormat):
    """A tensor in tensor-ring format.

    Parameters
    ----------
    cores : list of d arrays; ``cores[k - 1]`` is ``G_k`` of shape (r_{k-1}, n_k, r_k)
        (Python counts from 0), and the last core's r_d equals the first core's r_0.
        All NumPy or all torch, one float or complex dtype, one device.

    >>> tr = random_tr((4, 5, 6), (2, 3, 4, 2), seed=0)
    >>> tr.shape, tr.rank, tr.to_dense().shape
    ((4, 5, 6), (2, 3, 4, 2), (4, 5, 6))
    """

    cores: list

    def __post_init__(self):
        self.cores = check_arrays(self.cores, "TRTensor", "cores")
        for k, core in enumerate(self.cores):
            if core.ndim != 3:
                raise ValueError(f"TRTensor: cores[{k}] must have 3 axes (r_left, n, r_right), "
                                 f"got shape {tuple(core.shape)}")
        d = len(self.cores)
        for k in range(d):
            right, left = self.cores[k].shape[2], self.cores[(k + 1) % d].shape[0]
            if right != left:
                raise ValueError(
                    f"TRTensor: the bond between cores[{k}] and cores[{(k + 1) % d}] does not match: "
                    f"{tuple(self.cores[k].shape)} then {tuple(self.cores[(k + 1) % d].shape)}"
                    + (" (the closing bond r_d = r_0)" if k == d - 1 else "")
                )

    @property
    def shape(self) -> tuple:
        """``(n_1, ..., n_d)``, the shape of the full tensor."""
        return tuple(int(core.shape[1]) for core in self.cores)

    @property
    def rank(self) -> tuple:
        """``(r_0, r_1, ..., r_d)``, d + 1 bond sizes with ``r_0 = r_d``."""
        return (int(self.cores[0].shape[0]),) + tuple(int(core.shape[2]) for core in self.cores)

    @property
    def n_params(self) -> int:
        """Numbers stored: ``sum_k r_{k-1} n_k r_k``."""
        return sum(prod(core.shape) for core in self.cores)

    def to_dense(self):
        """The full tensor, shape (n_1, ..., n_d).

        The cores ``G_1 ... G_{d-1}`` are merged into one chain of shape
        ``(r_0, n_1 ... n_{d-1}, r_{d-1})``; the last core closes the ring, the
        trace ``sum_{a, b} chain[a, I, b] G_d[b, i_d, a]``.
        """
        if len(self.cores) == 1:
            return einsum("aia->i", self.cores[0])
        chain, last = merge_cores(self.cores[:-1]), self.cores[-1]
        r0, rest, r = chain.shape
        closed = transpose(chain, (1, 2, 0)).reshape(rest, r * r0) @ transpose(last, (0, 2, 1)).reshape(r * r0, -1)
        return closed.reshape(self.shape)

    def element(self, index):
        """One entry ``trace(G_1[:, i_1, :] ... G_d[:, i_d, :])`` without building the tensor.

        Costs d small matrix products instead of ``prod(n_k)`` numbers.
        """
        index = tuple(index)
        if len(index) != len(self.cores):
            raise IndexError(f"a tensor ring of order {len(self.cores)} needs {len(self.cores)} indices, got {index}")
        for k, (i, n) in enumerate(zip(index, self.shape)):
            if not is_int(i) or not -n <= i < n:
                raise IndexError(f"index {i!r} of mode {k} is out of range for size {n} (integers only)")
        product = self.cores[0][:, index[0], :]
        for core, i in zip(self.cores[1:], index[1:]):
            product = product @ core[:, i, :]
        return product.diagonal().sum()

    def __getitem__(self, index):
        """``tr[i_1, ..., i_d]``, one entry (see :meth:`element`)."""
        return self.element(index if isinstance(index, tuple) else (index,))

    def __repr__(self):
        return f"TRTensor(shape={self.shape}, rank={self.rank}, dtype={self.dtype}, {self._kind()})"

    def _arrays(self) -> list:
        return list(self.cores)

    def _with_arrays(self, arrays) -> TRTensor:
        return TRTensor(arrays)


def merge_cores(cores):
    """Merge consecutive cores into one: shapes (r_a, n_1, .), ..., (., n_m, r_b) -> (r_a, n_1 ... n_m, r_b).

    ``merged[a, (i_1..i_m), b] = (G_1[:, i_1, :] ... G_m[:, i_m, :])[a, b]``: a
    stretch of a ring (or a train) as one core; closing it with a trace over
    ``a = b`` gives the tensor (see :meth:`TRTensor.to_dense`).
    """
    chain = cores[0]
    for core in cores[1:]:
        r_left = chain.shape[0]
        chain = (chain.reshape(-1, core.shape[0]) @ core.reshape(core.shape[0], -1)).reshape(r_left, -1, core.shape[2])
    return chain


# ---------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------

def check_tr_ranks(value, d: int, where: str, name: str = "rank", required: bool = True):
    """TR ranks as a tuple ``(r_0, ..., r_d)`` of d + 1 positive ints with r_0 == r_d.

    ``value`` is an int (every bond), the ``d`` bonds ``(r_0, ..., r_{d-1})``, or
    all ``d + 1`` ranks with ``r_0 == r_d`` (like ``TRTensor.rank``); checked with
    :mod:`tnnlib.validation`. A ring bond has no simple largest useful size, so
    nothing is capped here (:func:`tr_svd` stops at what its unfoldings allow,
    :func:`tr_als` checks its least-squares problems). ``None`` (not ``required``)
    passes through.
    """
    if value is None and not required:
        return None
    if isinstance(value, (list, tuple)) and len(value) == d + 1:
        if value[0] != value[-1]:
            raise ValueError(f"{where}: the closing bond needs r_0 == r_d, got r_0 = {value[0]} and "
                             f"r_d = {value[-1]} in {name} = {value!r}")
        value = value[:-1]
    check = check_rank if required else check_max_rank
    ranks = check(value, [None] * d, where, name)
    return ranks + ranks[:1]


def _check_input(tensor, where: str, real: bool):
    tensor = check_tensor(tensor, where, min_order=2)
    if real and dtype_kind(tensor) != "float":
        raise TypeError(f"{where}: needs real float32 or float64 input, got {tensor.dtype}")
    return tensor


def random_tr(shape, rank, *, seed=None, like=None) -> TRTensor:
    """A random tensor ring with Gaussian cores.

    Core ``G_k`` has independent normal entries of variance ``1 / sqrt(r_{k-1} r_k)``,
    which makes the entries of the full tensor of variance about 1.

    Parameters
    ----------
    shape : sequence of int, ``(n_1, ..., n_d)``
    rank : int, d bonds ``(r_0, ..., r_{d-1})`` or d + 1 ranks ``(r_0, ..., r_d)`` with r_0 == r_d
    seed : int, optional
    like : array, optional
        The result has its type, device and dtype (default float64 NumPy).
    """
    shape = check_modes(shape, None, "shape", "random_tr")
    ranks = check_tr_ranks(rank, len(shape), "random_tr")
    sizes = [(ranks[k], n, ranks[k + 1]) for k, n in enumerate(shape)]
    draw = random_normal((sum(prod(s) for s in sizes),), like=like, seed=seed)  # one draw, cut into the cores
    cores, start = [], 0
    for r_left, n, r_right in sizes:
        block = draw[start:start + r_left * n * r_right].reshape(r_left, n, r_right)
        cores.append(block * (r_left * r_right) ** -0.25)
        start += r_left * n * r_right
    return TRTensor(cores)


# ---------------------------------------------------------------------------
# TR-SVD
# ---------------------------------------------------------------------------

def _svd_left(matrix):
    """Thin SVD without V: ``U``, ``S`` and ``S V^H = U^H matrix``.

    TR-SVD (like TT-SVD) only needs the left singular vectors and the product
    ``S V^H``. For a wide matrix (m < n) they come from the small m x m factor R
    of a QR decomposition of ``matrix^H = Q R``: ``matrix = R^H Q^H``, so
    ``matrix`` and ``R^H`` have the same singular values and left singular
    vectors. This is as accurate as a full SVD and several times faster, since
    the n x m matrix V is never formed.
    """
    m, n = matrix.shape
    if m >= n:
        U, S, Vh = svd(matrix)
        return U, S, S[:, None] * Vh
    R = qr_r(conj_t(matrix))
    U, S, _ = svd(conj_t(R))
    return U, S, conj_t(U) @ matrix


def _split_closing_rank(target: int, limit: int, max_r0: int, max_r1: int):
    """Choose the two bonds ``(r_0, r_1)`` of the first core.

    The first SVD keeps ``r_0 r_1`` singular triplets; ``target`` is how many we
    want, ``limit`` how many there are. For each ``r_0``, ``r_1 = ceil(target / r_0)``
    is the smallest bond that keeps at least ``target``; of these pairs take the
    most balanced (``r_0 <= r_1`` on a tie), then the one keeping fewest.
    Where the maximum ranks or ``limit`` forbid reaching ``target``, keep as
    many triplets as allowed, again most balanced.
    """
    best = None
    for r0 in range(1, min(max_r0, limit) + 1):
        r1 = -(-target // r0)  # ceil(target / r0)
        if r1 <= max_r1 and r0 * r1 <= limit:
            key = (0, abs(r0 - r1), r0 * r1)  # reaches the target
        else:
            r1 = min(max_r1, limit // r0)  # falls short: as many as allowed
            key = (1, -r0 * r1, abs(r0 - r1))
        if r1 >= 1 and (best is None or key < best[0]):
            best = (key, r0, r1)
    return best[1], best[2]


def tr_svd(tensor, *, max_rank=None, eps=None) -> TRTensor:
    """Tensor-ring decomposition by sequential truncated SVDs (TR-SVD).

    Algorithm (Zhao et al. 2016, Algorithm 1), for ``X`` of shape (n_1, ..., n_d):

    1. SVD of the first unfolding ``X_<1>`` (shape ``(n_1, n_2 ... n_d)``); keep
       ``r_0 r_1`` singular triplets. The left vectors, reshaped to
       ``(n_1, r_0, r_1)``, are ``G_1`` (axes reordered to ``(r_0, n_1, r_1)``);
       the rest ``S V^H``, reshaped to ``(r_0, r_1, n_2 ... n_d)``, moves its
       ``r_0`` axis to the end: ``W`` of shape ``(r_1, n_2 ... n_d, r_0)``.
    2. For k = 2..d-1, as in TT-SVD: SVD of ``W`` reshaped to
       ``(r_{k-1} n_k, rest)``; keep r_k triplets; ``G_k`` = the left vectors
       reshaped to ``(r_{k-1}, n_k, r_k)``; ``W = S V^H``.
    3. ``G_d = W`` reshaped to ``(r_{d-1}, n_d, r_0)``: the ring closes.

    The choice of ``r_0``: the first SVD only fixes the product ``r_0 r_1``
    (the number of triplets kept); the paper leaves its split open. Here the
    target R is all the triplets (up to ``max_r0 * max_r1``), or with ``eps``
    the fewest that meet the error bound. Splitting exactly ``r_0 r_1 = R``,
    as the paper suggests, gives ``r_0 = 1`` (a tensor train) for a prime R;
    instead we take the most balanced ``r_0 <= r_1`` with
    ``R <= r_0 r_1 < R + r_0`` (keeping a few more triplets never hurts the
    error), within the maximum ranks (see :func:`_split_closing_rank`). E.g.
    R = 7 gives ``(2, 4)``; 8 triplets with maximum rank 6 give ``(2, 4)``.
    Note ``r_0 r_1 <= n_1``: put a large mode first to allow large bonds.

    Error bound with ``eps`` (as in the paper): the first SVD discards at most
    ``delta_1 = sqrt(2) eps ||X|| / sqrt(d)``, each later one at most
    ``delta = eps ||X|| / sqrt(d)`` (in Frobenius norm), so that
    ``||X - X_tr||^2 <= delta_1^2 + (d - 2) delta^2 = eps^2 ||X||^2``.

    TR-SVD is exact (up to rounding) when nothing is truncated; it does not in
    general find the smallest ranks: the bonds it returns may be larger than
    those of a ring the tensor came from.

    Parameters
    ----------
    tensor : array, shape (n_1, ..., n_d), d >= 2
        float32/float64 or complex, NumPy or torch.
    max_rank : int or sequence of d (or d + 1) ints, optional
        Maximum ranks ``(r_0, ..., r_d)``, r_0 == r_d (an int: the same for
        every bond). Each rank is also capped by the size of its unfolding.
    eps : float in [0, 1), optional
        Target relative error (see above); the maximum ranks win over it.
        With neither ``max_rank`` nor ``eps``, nothing is truncated (exact, large ranks).

    Returns
    -------
    TRTensor

    >>> from tnnlib import relative_error
    >>> x = random_tr((8, 3, 4, 5), 2, seed=0).to_dense()
    >>> tr = tr_svd(x, eps=1e-8)
    >>> tr.shape, relative_error(x, tr) < 1e-8
    ((8, 3, 4, 5), True)
    """
    tensor = _check_input(tensor, "tr_svd", real=False)
    shape, d = tuple(tensor.shape), tensor.ndim
    max_ranks = check_tr_ranks(max_rank, d, "tr_svd", name="max_rank", required=False) or (prod(shape),) * (d + 1)
    eps = check_eps(eps, "tr_svd")
    delta = None if eps is None else eps * norm(tensor) / d**0.5

    # 1. the first unfolding: keep r_0 r_1 triplets, split them into the bonds r_0 and r_1
    U, S, SVh = _svd_left(tensor.reshape(shape[0], -1))
    wanted = len(S) if delta is None else rank_for_tail(S, 2**0.5 * delta)
    r0, r1 = _split_closing_rank(min(wanted, max_ranks[0] * max_ranks[1]), len(S), max_ranks[0], max_ranks[1])
    cores = [transpose(U[:, : r0 * r1].reshape(shape[0], r0, r1), (1, 0, 2))]
    rest = transpose(SVh[: r0 * r1].reshape(r0, r1, -1), (1, 2, 0))  # (r_1, n_2 ... n_d, r_0)

    # 2. the middle cores, as in TT-SVD
    r_left = r1
    for k in range(1, d - 1):
        U, S, SVh = _svd_left(rest.reshape(r_left * shape[k], -1))
        r = min(len(S) if delta is None else rank_for_tail(S, delta), max_ranks[k + 1])
        cores.append(U[:, :r].reshape(r_left, shape[k], r))
        rest, r_left = SVh[:r], r

    # 3. the last core closes the ring
    cores.append(rest.reshape(r_left, shape[-1], r0))
    return TRTensor(cores)


# ---------------------------------------------------------------------------
# TR-ALS
# ---------------------------------------------------------------------------

def _transfer_matrix(core):
    """``E[(b, b'), (c, c')] = sum_i G[b, i, c] G[b', i, c']``, shape (r_left^2, r_right^2).

    The Gram matrix of a chain of cores is the product of their transfer matrices.
    """
    r_left, n, r_right = core.shape
    slices = transpose(core, (0, 2, 1)).reshape(r_left * r_right, n)  # row (b, c) holds G[b, :, c]
    E = (slices @ slices.T).reshape(r_left, r_right, r_left, r_right)
    return transpose(E, (0, 2, 1, 3)).reshape(r_left * r_left, r_right * r_right)


def _subchain_gram(transfers, r_left: int, r_right: int):
    """Gram matrix of the subchain unfolding, from the transfer matrices of its cores.

    The core being updated has bonds ``(r_left, n, r_right)``; its subchain
    ``S[b, J, a]`` starts with bond b (size r_right) and ends with bond a (size
    r_left), J running over all its physical indices. Returns
    ``Gamma[(a, b), (a', b')] = sum_J S[b, J, a] S[b', J, a']``, of shape
    (r_left r_right, r_left r_right).
    """
    T = transfers[0]
    for E in transfers[1:]:
        T = T @ E  # T[(b, b'), (a, a')]
    T = T.reshape(r_right, r_right, r_left, r_left)
    return transpose(T, (2, 0, 3, 1)).reshape(r_left * r_right, r_left * r_right)


def _cyclic_unfolding(tensor, k: int):
    """``X`` with modes in ring order k, k+1, ..., d, 1, ..., k-1, as a matrix (n_k, N / n_k)."""
    d = tensor.ndim
    order = [(k + j) % d for j in range(d)]
    return transpose(tensor, order).reshape(tensor.shape[k], -1)


def _initial_ring(tensor, ranks, init, seed):
    shape = tuple(tensor.shape)
    if isinstance(init, TRTensor):
        if init.shape != shape or init.rank != ranks:
            raise ValueError(f"tr_als: init has shape {init.shape} and rank {init.rank}; "
                             f"expected {shape} and {ranks}")
        return [as_like(core, tensor) for core in init.cores]
    if isinstance(init, str) and init == "random":
        return random_tr(shape, ranks, seed=seed, like=tensor).cores
    if isinstance(init, str) and init == "tr_svd":
        start = tr_svd(tensor, max_rank=ranks)
        # TR-SVD may return smaller bonds: embed its cores, the new entries small random numbers
        noise = random_tr(shape, ranks, seed=seed, like=tensor).cores
        cores = []
        for core, extra in zip(start.cores, noise):
            scale = 1e-3 * norm(core) / prod(core.shape) ** 0.5
            padded = extra * scale
            padded[: core.shape[0], :, : core.shape[2]] = core
            cores.append(padded)
        return cores
    raise ValueError(f"tr_als: unknown init {init!r}: expected 'random', 'tr_svd' or a TRTensor")


def tr_als(tensor, rank, *, n_sweeps: int = 20, tol=None, init="random", seed=None, return_errors: bool = False):
    """Tensor-ring decomposition by alternating least squares (TR-ALS).

    Fixing every core but ``G_k``, the ring is linear in ``G_k``: with the
    *subchain* ``S_k = G_{k+1} ... G_d G_1 ... G_{k-1}`` (merged, shape
    ``(r_k, prod_{m != k} n_m, r_{k-1})``, modes in ring order),

        X[i_k, J] = sum_{a, b} G_k[a, i_k, b] S_k[b, J, a],

    i.e. ``X_[k] = G_k,(2) B_k^T`` with ``B_k[J, (a, b)] = S_k[b, J, a]`` and
    ``X_[k]`` the unfolding with the other modes in ring order (Zhao et al.
    2016, Algorithm 2). One ALS sweep, for k = 1..d:

    1. build the subchain ``S_k`` from the current cores;
    2. right-hand side ``H = X_[k] B_k``, shape ``(n_k, r_{k-1} r_k)``;
    3. Gram matrix ``Gamma = B_k^T B_k``, shape ``(r_{k-1} r_k)^2``, from the
       small *transfer matrices* ``E_m = sum_i G_m[:, i, :] (x) G_m[:, i, :]``
       of the subchain's cores (``Gamma`` is their product, rearranged), never
       from the tall matrix ``B_k``;
    4. ``G_k`` from the normal equations ``G_k,(2) Gamma = H``.

    Costs and choices: the transfer matrices are cached and recomputed only for
    the core just updated. The subchain itself is rebuilt for each core: caching
    partial products (left and right parts of the ring) would save little, as
    the last product, of the size of ``S_k``, dominates either way. The
    unfolding ``X_[k]`` is one transposed copy of the tensor per update.

    The relative error after each sweep comes from the last update,
    ``||X - X_tr||^2 = ||X||^2 - 2 <G_d, H> + <G_d Gamma, G_d>``; the subtraction
    cancels digits, so below ``100 sqrt(machine eps)`` (1.5e-6 in float64,
    3.5e-2 in float32) the error is computed from the full ring instead. Every
    update is an exact least-squares solve, so the error does not increase (up
    to rounding).

    Parameters
    ----------
    tensor : array, shape (n_1, ..., n_d), d >= 2
        Real float32/float64 NumPy array or torch tensor.
    rank : int or sequence of d (or d + 1) ints
        ``(r_0, ..., r_d)``, r_0 == r_d; each ``r_{k-1} r_k`` at most
        ``prod_{m != k} n_m`` (the rows of the least-squares problem).
    n_sweeps : int >= 1
        Maximum number of sweeps.
    tol : float >= 0, optional
        Stop when ``|e_{t-1} - e_t| <= tol * e_{t-1}`` or ``e_t <= 100 eps``
        (an exact fit). Default: run all sweeps.
    init : {"random", "tr_svd"} or TRTensor
        "random": :func:`random_tr` cores; "tr_svd": :func:`tr_svd` with these
        ranks as maxima, its cores padded with small random entries where its
        bonds came out smaller; a TRTensor of the right shape and ranks.
    seed : int, optional
        Seed of the random initialisation.
    return_errors : bool
        Also return the list of relative errors, one per sweep.

    Returns
    -------
    TRTensor, or (TRTensor, list of float) with ``return_errors``.

    >>> x = random_tr((4, 5, 6), 2, seed=0).to_dense()
    >>> tr, errors = tr_als(x, 2, n_sweeps=30, seed=1, return_errors=True)
    >>> tr.rank, errors[-1] < errors[0]
    ((2, 2, 2, 2), True)
    """
    tensor = _check_input(tensor, "tr_als", real=True)
    shape, d = tuple(tensor.shape), tensor.ndim
    ranks = check_tr_ranks(rank, d, "tr_als")
    for k in range(d):
        if ranks[k] * ranks[k + 1] > prod(shape) // shape[k]:
            raise ValueError(
                f"tr_als: rank too large for shape {shape}: core {k} has r_{k} r_{k + 1} = {ranks[k] * ranks[k + 1]} "
                f"unknowns per slice, more than the {prod(shape) // shape[k]} equations of its least-squares problem"
            )
    check_sweeps(n_sweeps, tol, "tr_als")

    cores = _initial_ring(tensor, ranks, init, seed)
    transfers = [_transfer_matrix(core) for core in cores]
    norm_x = norm(tensor)
    errors = []
    for _ in range(n_sweeps):
        for k in range(d):
            others = [(k + j) % d for j in range(1, d)]  # the ring after core k: k+1, ..., d-1, 0, ..., k-1
            subchain = merge_cores([cores[m] for m in others])  # (ranks[k + 1], J, ranks[k]), 0-based k
            H = transpose(_cyclic_unfolding(tensor, k) @ subchain, (1, 2, 0)).reshape(shape[k], -1)
            gram = _subchain_gram([transfers[m] for m in others], ranks[k], ranks[k + 1])
            G = solve_gram(gram, H)  # (n_k, ranks[k] ranks[k + 1])
            cores[k] = transpose(G.reshape(shape[k], ranks[k], ranks[k + 1]), (1, 0, 2))
            transfers[k] = _transfer_matrix(cores[k])
        error_sq = norm_x**2 - 2 * float((G * H).sum()) + float(((G @ gram) * G).sum())
        errors.append(sweep_error(tensor, norm_x, error_sq, TRTensor(cores)))
        if tol is not None and converged(errors, tol, tensor):
            break

    result = TRTensor(cores)
    return (result, errors) if return_errors else result
