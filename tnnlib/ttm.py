"""The TT-matrix format, also called matrix product operator (MPO).

A weight matrix ``W`` of shape ``(M, N) = (out_features, in_features)`` - the
layout of ``torch.nn.Linear.weight`` - with ``M = i_1 ... i_d`` and
``N = j_1 ... j_d`` is read as a tensor: its row index is the C-order
multi-index ``(i_1, ..., i_d)`` (output modes) and its column index
``(j_1, ..., j_d)`` (input modes). The TT-matrix stores ``d`` cores ``G_k`` of
shape ``(r_{k-1}, i_k, j_k, r_k)``, ``r_0 = r_d = 1``:

    W[(i_1..i_d), (j_1..j_d)] = G_1[:, i_1, j_1, :] @ ... @ G_d[:, i_d, j_d, :].

It is a TT of the tensor whose k-th mode is the pair ``(i_k, j_k)`` (size
``i_k j_k``): :meth:`TTMatrix.to_tt`; :meth:`TTMatrix.to_dense` gives ``W``. A matrix-vector product works core by
core and never forms ``W`` (:meth:`TTMatrix.matvec`) - the forward pass of a
TT layer.

Contents: :class:`TTMatrix`, :func:`ttm_svd` (matrix -> TT-matrix by TT-SVD),
:func:`factorize_dim` (choose the modes), :func:`random_ttm`.

References: I. V. Oseledets, "Approximation of 2^d x 2^d matrices using tensor
decomposition", SIAM J. Matrix Anal. Appl. 31(4), 2010; A. Novikov,
D. Podoprikhin, A. Osokin and D. Vetrov, "Tensorizing Neural Networks",
NeurIPS 2015, arXiv:1509.06569.
"""
from __future__ import annotations

from dataclasses import dataclass

from .backend import as_like, is_torch, prod, transpose
from .svd import check_matrix
from .tensor_ops import TensorFormat
from .tt import TTTensor, check_cores, check_tt_ranks, random_tt, tt_svd
from .validation import check_eps, check_modes, check_positive_int


def _check_mode_pair(out_modes, in_modes, where: str, rows=None, columns=None) -> tuple:
    """``out_modes`` and ``in_modes``: positive ints of one length d, multiplying to ``rows`` and ``columns``."""
    out_modes = check_modes(out_modes, None, "out_modes", where)
    in_modes = check_modes(in_modes, None, "in_modes", where)
    if len(out_modes) != len(in_modes):
        raise ValueError(f"{where}: out_modes {out_modes} and in_modes {in_modes} must have the same length d "
                         "(pad the shorter with 1s)")
    for name, modes, size, what in (("out_modes", out_modes, rows, "rows (out_features)"),
                                    ("in_modes", in_modes, columns, "columns (in_features)")):
        if size is not None and prod(modes) != size:
            swapped = rows != columns and prod(out_modes) == columns and prod(in_modes) == rows
            hint = (" - out_modes and in_modes look swapped: out_modes go with the rows of W (out, in)"
                    if swapped else f" (see factorize_dim({size}, {len(modes)}))")
            raise ValueError(f"{where}: {name} {modes} multiply to {prod(modes)}, but the matrix has {size} "
                             f"{what}; the modes must multiply to {size}{hint}")
    return out_modes, in_modes


@dataclass(eq=False, repr=False)
class TTMatrix(TensorFormat):
    """A matrix in TT-matrix (MPO) format.

    Parameters
    ----------
    cores : list of d arrays
        ``cores[k]`` has shape ``(r_k, i_{k+1}, j_{k+1}, r_{k+1})`` (0-based
        ``k``): output mode ``i``, input mode ``j``; ``r_0 = r_d = 1``. All
        NumPy or all torch, one float or complex dtype, one device. Stored as
        given (no copy).

    The matrix has shape ``(prod i_k, prod j_k) = (out_features, in_features)``.

    >>> W = random_ttm(out_modes=(2, 3), in_modes=(4, 5), rank=3, seed=0)
    >>> W.shape, W.rank, W.to_dense().shape
    ((6, 20), (1, 3, 1), (6, 20))
    """

    cores: list

    def __post_init__(self):
        self.cores = check_cores(self.cores, order=4, where="TTMatrix")

    @property
    def order(self) -> int:
        """Number of cores ``d``."""
        return len(self.cores)

    @property
    def out_modes(self) -> tuple:
        """Output (row) modes ``(i_1, ..., i_d)``."""
        return tuple(int(core.shape[1]) for core in self.cores)

    @property
    def in_modes(self) -> tuple:
        """Input (column) modes ``(j_1, ..., j_d)``."""
        return tuple(int(core.shape[2]) for core in self.cores)

    @property
    def rank(self) -> tuple:
        """Bond dimensions ``(r_0, ..., r_d)``, ``r_0 = r_d = 1``."""
        return (1,) + tuple(int(core.shape[3]) for core in self.cores)

    @property
    def shape(self) -> tuple:
        """``(out_features, in_features) = (prod i_k, prod j_k)``."""
        return prod(self.out_modes), prod(self.in_modes)

    @property
    def n_params(self) -> int:
        """Numbers stored: ``sum_k r_{k-1} i_k j_k r_k`` (compare ``M N`` for the dense matrix)."""
        return sum(prod(core.shape) for core in self.cores)

    def __repr__(self):
        return (f"TTMatrix(out_modes={self.out_modes}, in_modes={self.in_modes}, rank={self.rank}, "
                f"dtype={self.dtype}, {self._kind()})")

    def _arrays(self) -> list:
        return list(self.cores)

    def _with_arrays(self, arrays) -> TTMatrix:
        return TTMatrix(arrays)

    def norm(self) -> float:
        """Frobenius norm ``||W||_F``, from the TT of the interleaved tensor (``W`` never formed)."""
        return self.to_tt().norm()

    def to_tt(self) -> TTTensor:
        """The TT of the interleaved tensor of shape ``(i_1 j_1, ..., i_d j_d)`` (the cores, reshaped)."""
        return TTTensor([core.reshape(core.shape[0], -1, core.shape[3]) for core in self.cores])

    def to_dense(self):
        """The dense matrix of shape ``(prod i_k, prod j_k)`` (costs ``M N`` memory).

        Interleaved tensor ``(i_1 j_1, ..., i_d j_d)`` -> axes
        ``(i_1, j_1, ..., i_d, j_d)`` -> ``(i_1, ..., i_d, j_1, ..., j_d)`` -> matrix.
        """
        d = self.order
        pairs = self.to_tt().to_dense().reshape([n for i, j in zip(self.out_modes, self.in_modes) for n in (i, j)])
        rows_then_columns = transpose(pairs, list(range(0, 2 * d, 2)) + list(range(1, 2 * d, 2)))
        return rows_then_columns.reshape(self.shape)

    def matvec(self, x):
        """``W @ x`` for one vector or a batch of row vectors, core by core (``W`` never formed).

        Parameters
        ----------
        x : array, shape (in_features,) or (B, in_features) (or (..., in_features))
            Same kind (NumPy/torch), dtype and device as the cores.

        Returns
        -------
        array, shape (out_features,) or (B, out_features): each row is
        ``W @ x_row``, i.e. ``x @ W.T`` - what ``torch.nn.Linear`` computes.

        Algorithm. Keep the partial result ``Z`` as a matrix whose rows are
        the indices the next core contracts, ``(r_{k-1}, j_k)``, and whose
        columns are the rest in the order ``(j_{k+1}..j_d, b, i_1..i_{k-1})``.
        Start with ``Z = x^T`` (rows ``(j_1..j_d)``, ``r_0 = 1``). For each core:

        1. ``Z <- G_k' @ Z`` with ``G_k'`` the core permuted and reshaped to
           ``(i_k r_k, r_{k-1} j_k)``: one matrix product;
        2. move ``i_k`` from the front of the rows to the end of the columns
           (a transpose of a ``(i_k, rest)`` matrix), so the rows start with
           ``(r_k, j_{k+1})`` for the next core.

        After core ``d``, ``Z`` is ``(b, i_1..i_d)``: the output.

        Cost: core ``k`` costs ``2 B r_{k-1} r_k i_1..i_k j_k..j_d`` flops;
        with all modes ``n`` and ranks ``r`` that is ``O(B d r^2 n^{d+1})``
        against ``2 B n^{2d}`` for the dense product, and memory
        ``O(B r n^d)`` instead of ``n^{2d}`` for ``W``.

        Reference: Novikov et al. 2015 (arXiv:1509.06569), Section 4.
        """
        x = self._check_input(x)
        M, N = self.shape
        batch_shape = tuple(x.shape[:-1])
        Z = transpose(x.reshape(-1, N), (1, 0))                            # (j_1..j_d, b)
        for core in self.cores:
            r, i, j, r_next = core.shape
            core_matrix = transpose(core, (1, 3, 0, 2)).reshape(i * r_next, r * j)
            Z = core_matrix @ Z.reshape(r * j, -1)                         # (i_k r_k, rest)
            Z = transpose(Z.reshape(i, -1), (1, 0))                        # (r_k rest, i_k)
        return Z.reshape(*batch_shape, M)

    def __matmul__(self, x):
        """``W @ x``: the same as :meth:`matvec` (a 2-D ``x`` is a batch of rows, ``(B, in_features)``)."""
        return self.matvec(x)

    def _check_input(self, x):
        core = self.cores[0]
        if is_torch(core) != is_torch(x):
            if is_torch(core) or not isinstance(x, (list, tuple)):
                kind = "a torch tensor" if is_torch(core) else "a NumPy array"
                raise TypeError(f"TTMatrix.matvec: x must be {kind} like the TT-matrix cores, "
                                f"got {type(x).__name__}")
            x = as_like(x, core)
        if x.ndim == 0 or x.shape[-1] != self.shape[1]:
            raise ValueError(f"TTMatrix.matvec: x must have shape (in_features,) or (B, in_features) with "
                             f"in_features = {self.shape[1]}, got shape {tuple(x.shape)}")
        if is_torch(x) and (x.dtype != core.dtype or x.device != core.device):
            raise TypeError(f"TTMatrix.matvec: x is {x.dtype} on {x.device} but the TT-matrix cores are "
                            f"{core.dtype} on {core.device}; convert one of them (e.g. x.to(cores[0]))")
        return x


def ttm_svd(matrix, *, out_modes, in_modes, max_rank=None, eps=None, method: str = "auto") -> TTMatrix:
    """Compress a matrix into a TT-matrix by TT-SVD.

    Steps:

    1. reshape ``W`` (M, N) to the tensor ``(i_1, ..., i_d, j_1, ..., j_d)``;
    2. interleave the axes to ``(i_1, j_1, i_2, j_2, ..., i_d, j_d)`` and merge
       each pair: a tensor of shape ``(i_1 j_1, ..., i_d j_d)``;
    3. TT-SVD of it (:func:`tnnlib.tt.tt_svd`);
    4. split each core's middle index back into ``(i_k, j_k)``.

    Steps 1-2 only permute entries, so the error bound of TT-SVD carries over:
    with ``eps``, ``||W - TTM||_F <= eps ||W||_F``.

    Parameters
    ----------
    matrix : array, shape (M, N) = (out_features, in_features)
    out_modes : sequence of d ints, product M (keyword-only: output before input, like W)
    in_modes : sequence of d ints, product N (keyword-only)
    max_rank : int or list of d-1 ints, optional
        As for :func:`tnnlib.tt.tt_svd` (an int is capped at the largest
        possible ranks of the interleaved tensor; a list entry above it is an error).
    eps : float in [0, 1), optional
    method : {"auto", "svd", "gram"}
        How the truncated SVDs are computed (:func:`tnnlib.svd.truncated_split`).

    Returns
    -------
    TTMatrix with ``out_modes``, ``in_modes``.

    >>> W = random_ttm(out_modes=(2, 3), in_modes=(4, 5), rank=2, seed=0).to_dense()
    >>> ttm_svd(W, out_modes=(2, 3), in_modes=(4, 5)).rank
    (1, 2, 1)

    References: Oseledets, SIAM J. Matrix Anal. Appl. 31(4), 2010;
    Novikov et al., arXiv:1509.06569, 2015.
    """
    W = check_matrix(matrix, "ttm_svd")
    out_modes, in_modes = _check_mode_pair(out_modes, in_modes, "ttm_svd", rows=W.shape[0], columns=W.shape[1])
    d = len(out_modes)
    tensor = W.reshape(out_modes + in_modes)                                   # (i_1..i_d, j_1..j_d)
    interleaved = [axis for k in range(d) for axis in (k, d + k)]              # i_1, j_1, i_2, j_2, ...
    pairs = transpose(tensor, interleaved).reshape([i * j for i, j in zip(out_modes, in_modes)])
    max_rank = check_tt_ranks(max_rank, pairs.shape, "ttm_svd")
    tt = tt_svd(pairs, max_rank=None if None in max_rank else max_rank, eps=check_eps(eps, "ttm_svd"), method=method)
    return TTMatrix([core.reshape(core.shape[0], i, j, core.shape[2])
                     for core, i, j in zip(tt.cores, out_modes, in_modes)])


def random_ttm(*, out_modes, in_modes, rank, seed=None, like=None) -> TTMatrix:
    """A TT-matrix with random cores; the matrix's entries have variance 1.

    Built as :func:`tnnlib.tt.random_tt` of shape ``(i_1 j_1, ..., i_d j_d)``
    with the cores' middle index split into ``(i_k, j_k)``; ``rank``,
    ``seed`` and ``like`` as there. (A layer would rescale it, e.g. by
    ``1 / sqrt(in_features)``.)

    >>> random_ttm(out_modes=(2, 3), in_modes=(4, 5), rank=100, seed=0).rank   # capped: min(2*4, 3*5)
    (1, 8, 1)
    """
    out_modes, in_modes = _check_mode_pair(out_modes, in_modes, "random_ttm")
    tt = random_tt([i * j for i, j in zip(out_modes, in_modes)], rank, seed=seed, like=like)
    return TTMatrix([core.reshape(core.shape[0], i, j, core.shape[2])
                     for core, i, j in zip(tt.cores, out_modes, in_modes)])


# --------------------------------------------------------------------------
# Choosing the modes
# --------------------------------------------------------------------------


def _factorizations(n: int, d: int, smallest: int):
    """All non-decreasing tuples of ``d`` integers ``>= smallest`` whose product is ``n``."""
    if d == 1:
        if n >= smallest:
            yield (n,)
        return
    factor = smallest
    while factor**d <= n:
        if n % factor == 0:
            for rest in _factorizations(n // factor, d - 1, factor):
                yield (factor,) + rest
        factor += 1


def _most_balanced(n: int, d: int):
    """The factorisation of ``n`` into ``d`` factors >= 2 with the smallest largest factor
    (ties: the largest smallest factor), or None."""
    return min(_factorizations(n, d, 2), key=lambda f: (f[-1], -f[0]), default=None)


def factorize_dim(n: int, d: int) -> tuple:
    """``d`` factors of ``n``, as balanced as possible, in increasing order.

    Among all ways to write ``n = n_1 ... n_d`` with every ``n_k >= 2``, the
    one whose largest factor is smallest (ties: whose smallest factor is
    largest). Found by exhaustive search over the factorisations (fast for
    layer sizes). Examples: ``factorize_dim(1024, 5) == (4, 4, 4, 4, 4)``,
    ``factorize_dim(784, 4) == (4, 4, 7, 7)``.

    Raises
    ------
    ValueError
        When ``n`` has fewer than ``d`` prime factors (e.g. ``n`` prime): a
        factor 1 would add a useless mode. The message suggests a slightly
        larger size that factors well, to pad the layer to.
    """
    n, d = check_positive_int(n, "n", "factorize_dim"), check_positive_int(d, "d", "factorize_dim")
    if d == 1:
        return (n,)
    best = _most_balanced(n, d)
    if best is None:
        padded = next(m for m in range(n + 1, 4 * n + 2 ** (d + 1))
                      if (f := _most_balanced(m, d)) is not None and f[-1] <= 2 * f[0])
        raise ValueError(f"{n} cannot be split into {d} factors >= 2 (it has fewer than {d} prime factors); "
                         f"pad the dimension to {padded} = {' x '.join(map(str, _most_balanced(padded, d)))}, "
                         "or use fewer modes")
    return best
