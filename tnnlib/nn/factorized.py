"""Linear layers with a low-rank, Tucker, CP or tensor-ring weight.

Each is a drop-in ``nn.Linear`` (see :class:`tnnlib.nn.base.TensorizedLinear`):
``y = x W^T + b`` with ``W`` of shape ``(out_features, in_features)`` never
stored, only its factors. Like the TT-matrix layer, the tensorized formats read
``W`` as a tensor: with ``out_features = i_1 ... i_p`` (``out_modes``) and
``in_features = j_1 ... j_q`` (``in_modes``),

    W[(i_1..i_p), (j_1..j_q)] = T[i_1, ..., i_p, j_1, ..., j_q],

an order-``(p + q)`` tensor (output modes first, C order) written in a format:

* :class:`LowRankLinear`: ``W = U V``, ``U`` (M, r), ``V`` (r, N) - two thin
  linear maps (the SVD, Eckart-Young).
* :class:`TuckerLinear`: a core ``(s_1..s_p, t_1..t_q)`` times one factor
  matrix per mode. With one mode per side (the default) this is Tucker-2
  ``W = U C V^T`` (Kim et al. 2016, arXiv:1511.06530, for convolutions).
* :class:`CPLinear`: a sum of ``R`` rank-one terms, one factor ``(n_k, R)``
  per mode (Lebedev et al. 2015, arXiv:1412.6553, for convolutions).
* :class:`TRLinear`: a tensor ring of cores ``(r_{k-1}, n_k, r_k)``, the ring
  closed by ``r_0 = r_{p+q}`` (Wang et al. 2018, arXiv:1802.09052).

Each class starts with ``reference_forward(x)``, the computation in a few
plain lines, factor by factor; read it first. ``forward`` has two strategies:
``"factored"`` (apply the factors to the input one after the other, arranged
for speed) and ``"dense"`` (rebuild ``W``, one matrix product); the plan picks
the cheaper by flops, which is almost always "factored". The tests check both
against ``reference_forward``.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..cp import cp_als, khatri_rao
from ..svd import truncated_svd
from ..tr import merge_cores as merge_ring_cores
from ..tr import tr_als, tr_svd
from ..tucker import hooi, hosvd
from ..validation import check_eps, check_max_rank, check_positive_int, check_rank, is_int
from .base import (
    TensorizedLinear,
    apply_to_middle,
    copy_into,
    dense_parts,
    graph_mode,
    linear_modes,
    no_modes,
    working_copy,
)
from .init import cp_std, factor_std, linear_std, normal_, tr_core_std, tucker_std
from .planning import Candidate


def _dense_candidate(rebuild_flops: int, rebuild_moved: int, rebuild_kernels: int, rebuild_kept: int,
                     M: int, N: int, B: int):
    """Rebuild ``W`` then one product: keeps the input, ``W`` and the rebuild's intermediates."""
    return Candidate("dense", rebuild_flops + 2 * B * M * N, rebuild_moved + B * N + M * N + B * M,
                     rebuild_kernels + 1, B * N + M * N + rebuild_kept)


def _with_bias(y, bias):
    return y if bias is None else y + bias.to(y.dtype)


def _mode_limits(modes) -> tuple:
    """The largest useful multilinear rank of each mode: ``min(n_k, prod of the other modes)``."""
    total = math.prod(modes)
    return tuple(min(n, total // n) for n in modes)


# ---------------------------------------------------------------------------
# Low rank
# ---------------------------------------------------------------------------

class LowRankLinear(TensorizedLinear):
    """``W = U V`` of rank ``r``: ``y = (x V^T) U^T + b`` (:meth:`reference_forward`).

    Parameters
    ----------
    in_features, out_features : int
    rank : int (capped at ``min(in_features, out_features)``, the largest useful rank)
    bias : bool
    device, dtype : as for ``nn.Linear``

    Attributes
    ----------
    u : Parameter (out_features, rank)
    v : Parameter (rank, in_features)

    Cost ``r (M + N)`` parameters and ``2 B r (M + N)`` flops, against ``M N``
    and ``2 B M N``: it pays off when ``r < M N / (M + N)``.

    >>> LowRankLinear(256, 128, 16).weight_parameters()
    6144
    """

    def __init__(self, in_features: int, out_features: int, rank: int, *, bias: bool = True, device=None,
                 dtype=None):
        super().__init__(in_features, out_features, bias, device, dtype)
        (self.rank,) = check_rank(check_positive_int(rank, "rank", "LowRankLinear"),
                                  (min(self.in_features, self.out_features),), "LowRankLinear")
        self.u = nn.Parameter(torch.empty(self.out_features, self.rank, device=device, dtype=dtype))
        self.v = nn.Parameter(torch.empty(self.rank, self.in_features, device=device, dtype=dtype))
        self.reset_parameters()

    def reference_forward(self, x):
        """Two thin maps: ``N -> r`` by ``V``, then ``r -> M`` by ``U``."""
        z = x @ self.v.t()                                   # (..., r)
        return _with_bias(z @ self.u.t(), self.bias)          # (..., M)

    def dense_weight(self):
        """``W = U V`` (out_features, in_features)."""
        return self.u @ self.v

    def reset_parameters(self) -> None:
        """``U``, ``V`` from ``N(0, s^2)`` with ``s = (sigma / sqrt(r))^(1/2)``, ``sigma = 1/sqrt(3 N)``."""
        normal_([self.u, self.v], factor_std(linear_std(self.in_features), self.rank, 2))
        self.reset_bias()

    @classmethod
    def from_dense(cls, layer: nn.Linear, *, in_modes=None, out_modes=None, max_rank=None, eps=None):
        """The truncated SVD ``W ~ U_r S_r Vh_r`` (:func:`tnnlib.svd.truncated_svd`), split as
        ``u = U_r S_r^(1/2)``, ``v = S_r^(1/2) Vh_r``. Neither ``max_rank`` nor ``eps``: exact.
        The modes must stay ``None`` (the format has none; the keywords exist so that every
        format's ``from_dense`` takes the same ones)."""
        where = "LowRankLinear.from_dense"
        weight, bias = dense_parts(layer, where=where)
        no_modes(where, in_modes=in_modes, out_modes=out_modes)
        max_rank = check_max_rank(max_rank, (min(weight.shape),), where)
        U, S, Vh = truncated_svd(working_copy(weight), max_rank=None if max_rank is None else max_rank[0],
                                 eps=check_eps(eps, where))
        root = S.sqrt()
        new = cls(layer.in_features, layer.out_features, S.shape[0], bias=bias is not None,
                  device=weight.device, dtype=weight.dtype)
        return copy_into(new, {"u": U * root, "v": root[:, None] * Vh}, bias)

    def _forward(self, x, strategy):
        if strategy == "dense":
            return nn.functional.linear(x, self.dense_weight(), self.bias)
        return nn.functional.linear(nn.functional.linear(x, self.v), self.u, self.bias)

    def candidates(self, batch_size):
        M, N, r, B = self.out_features, self.in_features, self.rank, batch_size
        moved = B * N + N * r + 2 * B * r + r * M + B * M
        return [Candidate("factored", 2 * B * r * (M + N), moved, 2, B * N + B * r),
                _dense_candidate(2 * M * N * r, M * r + r * N + M * N, 1, 0, M, N, B)]

    def _describe(self):
        return f"rank={self.rank}"


# ---------------------------------------------------------------------------
# Tucker
# ---------------------------------------------------------------------------

def _mode_product(state, shape: list, k: int, matrix, graph: bool | None = None):
    """Multiply axis ``k`` of a ``(lead, *shape)`` tensor by ``matrix`` (new, shape[k]).

    Returns the result (flattened as ``(lead, ...)``) and updates ``shape[k]``.
    """
    Q = math.prod(shape[k + 1:])
    out = apply_to_middle(matrix, state.reshape(-1, shape[k], Q), graph)
    shape[k] = matrix.shape[0]
    return out


def _mode_chain_cost(lead: int, shape, new_sizes):
    """Flops, elements moved, kernels and kept elements (a list: each product's input) of
    multiplying axes ``0, 1, ...`` of ``(lead, *shape)`` in turn."""
    shape, flops, moved, kept = list(shape), 0, 0, []
    for k, new in enumerate(new_sizes):
        size = lead * math.prod(shape)
        flops += 2 * size * new
        moved += size + size // shape[k] * new + shape[k] * new
        kept.append(size)
        shape[k] = new
    return flops, moved, len(new_sizes), kept


class TuckerLinear(TensorizedLinear):
    """Linear layer with a Tucker weight: a core times one factor matrix per mode.

    ``W[(i..), (j..)] = sum_{s, t} C[s_1..s_p, t_1..t_q] prod_k U_k[i_k, s_k] prod_k V_k[j_k, t_k]``

    :meth:`reference_forward`: project the input on the ``V_k`` (mode by
    mode), apply the core, expand with the ``U_k``. ``forward`` does the same
    with matrix products arranged for speed.

    Parameters
    ----------
    in_features, out_features : int
    rank : int or sequence of ``p + q`` ints (output modes first)
        An int is used for every mode, capped at the largest useful rank
        ``min(n_k, prod of the other modes)``; a sequence is checked against it.
        ``TuckerLinear(N, M, (s, t))`` is Tucker-2 of the matrix: ``W = U C V^T``.
    in_modes, out_modes : sequences of ints, keyword-only, optional
        Default: one mode per side (Tucker-2). The core has ``prod(rank)``
        entries: keep the number of modes small.
    bias : bool
    device, dtype : as for ``nn.Linear``

    Attributes
    ----------
    core : Parameter (s_1, ..., s_p, t_1, ..., t_q)
    out_factors : ParameterList of (i_k, s_k)
    in_factors : ParameterList of (j_k, t_k)
    rank : tuple, the core's shape

    >>> TuckerLinear(64, 32, 1000).rank               # Tucker-2, capped at the matrix's sizes
    (32, 32)
    """

    def __init__(self, in_features: int, out_features: int, rank, *, in_modes=None, out_modes=None,
                 bias: bool = True, device=None, dtype=None):
        super().__init__(in_features, out_features, bias, device, dtype)
        self.in_modes, self.out_modes = linear_modes(
            self.in_features, self.out_features, in_modes=in_modes, out_modes=out_modes, where="TuckerLinear",
            same_order=False, default="matrix")
        self.rank = check_rank(rank, _mode_limits(self.out_modes + self.in_modes), "TuckerLinear")
        p = len(self.out_modes)
        factory = dict(device=device, dtype=dtype)
        self.core = nn.Parameter(torch.empty(self.rank, **factory))
        self.out_factors = nn.ParameterList(nn.Parameter(torch.empty(i, s, **factory))
                                            for i, s in zip(self.out_modes, self.rank[:p]))
        self.in_factors = nn.ParameterList(nn.Parameter(torch.empty(j, t, **factory))
                                           for j, t in zip(self.in_modes, self.rank[p:]))
        self.reset_parameters()

    def reference_forward(self, x):
        """Input modes ``j_k -> t_k`` one by one, the core ``(t..) -> (s..)``, output modes ``s_k -> i_k``."""
        p, q = len(self.out_modes), len(self.in_modes)
        z = x.reshape(-1, *self.in_modes)                                            # (B, j_1..j_q)
        for k, V in enumerate(self.in_factors):                                      # j_k -> t_k
            z = torch.movedim(torch.tensordot(z, V, dims=([k + 1], [0])), -1, k + 1)
        z = torch.tensordot(z, self.core, dims=(list(range(1, q + 1)), list(range(p, p + q))))  # (B, s_1..s_p)
        for k, U in enumerate(self.out_factors):                                     # s_k -> i_k
            z = torch.movedim(torch.tensordot(z, U, dims=([k + 1], [1])), -1, k + 1)
        return _with_bias(z.reshape(*x.shape[:-1], self.out_features), self.bias)

    def dense_weight(self):
        """``W`` (out_features, in_features): the core times every factor."""
        shape, state = list(self.rank), self.core
        for k, factor in enumerate([*self.out_factors, *self.in_factors]):
            state = _mode_product(state, shape, k, factor)
        return state.reshape(self.out_features, self.in_features)

    def reset_parameters(self) -> None:
        """Core and factors ``N(0, s^2)``, ``s = (sigma / sqrt(prod r))^(1/(n+1))`` for ``n`` factors."""
        normal_([self.core, *self.out_factors, *self.in_factors],
                tucker_std(linear_std(self.in_features), self.rank))
        self.reset_bias()

    @classmethod
    def from_dense(cls, layer: nn.Linear, *, in_modes=None, out_modes=None, max_rank=None, eps=None,
                   n_sweeps: int = 0):
        """Tucker of ``W`` read as a tensor ``(i.., j..)`` by HOSVD (:func:`tnnlib.tucker.hosvd`).

        Parameters
        ----------
        in_modes, out_modes : default one mode per side (Tucker-2 of the matrix)
        max_rank : int or sequence of p + q ints (output modes first), optional
            An int caps every mode (at most its largest useful rank); a sequence is checked.
        eps : float in [0, 1), optional
            Relative error target (HOSVD bound); ``max_rank`` is then a maximum.
        n_sweeps : int
            If > 0, refine with that many HOOI sweeps (:func:`tnnlib.tucker.hooi`).
        """
        where = "TuckerLinear.from_dense"
        weight, bias = dense_parts(layer, where=where)
        in_modes, out_modes = linear_modes(layer.in_features, layer.out_features, in_modes=in_modes,
                                           out_modes=out_modes, where=where, same_order=False, default="matrix")
        modes = out_modes + in_modes
        limits = _mode_limits(modes)                      # (beyond them HOSVD would keep zero singular values)
        max_rank = check_max_rank(max_rank, limits, where) or limits
        tensor = working_copy(weight).reshape(modes)
        tucker = hosvd(tensor, max_rank=max_rank, eps=check_eps(eps, where))
        if n_sweeps > 0:
            tucker = hooi(tensor, tucker.rank, n_sweeps=n_sweeps)
        p = len(out_modes)
        new = cls(layer.in_features, layer.out_features, tucker.rank, in_modes=in_modes, out_modes=out_modes,
                  bias=bias is not None, device=weight.device, dtype=weight.dtype)
        values = {"core": tucker.core}
        values.update({f"out_factors.{k}": f for k, f in enumerate(tucker.factors[:p])})
        values.update({f"in_factors.{k}": f for k, f in enumerate(tucker.factors[p:])})
        return copy_into(new, values, bias)

    @property
    def _core_sizes(self):
        p = len(self.out_modes)
        return math.prod(self.rank[:p]), math.prod(self.rank[p:])

    def _forward(self, x, strategy):
        if strategy == "dense":
            return nn.functional.linear(x, self.dense_weight(), self.bias)
        shape, state, graph = list(self.in_modes), x, graph_mode()
        for k, factor in enumerate(self.in_factors):                 # (B, j..) -> (B, t..)
            state = _mode_product(state, shape, k, factor.t(), graph)
        S, T = self._core_sizes
        state = state.reshape(-1, T) @ self.core.reshape(S, T).t()   # (B, s..)
        shape = list(self.rank[:len(self.out_modes)])
        for k, factor in enumerate(self.out_factors):                # (B, s..) -> (B, i..)
            state = _mode_product(state, shape, k, factor, graph)
        return _with_bias(state.reshape(-1, self.out_features), self.bias)

    def candidates(self, batch_size):
        B, M, N, p = batch_size, self.out_features, self.in_features, len(self.out_modes)
        S, T = self._core_sizes
        f_in, m_in, k_in, kept_in = _mode_chain_cost(B, self.in_modes, self.rank[p:])
        f_out, m_out, k_out, kept_out = _mode_chain_cost(B, self.rank[:p], self.out_modes)
        factored = Candidate("factored", f_in + 2 * B * S * T + f_out, m_in + B * T + S * T + B * S + m_out,
                             k_in + 1 + k_out, sum(kept_in) + B * T + sum(kept_out))
        f_w, m_w, k_w, kept_w = _mode_chain_cost(1, self.rank, self.out_modes + self.in_modes)
        return [factored, _dense_candidate(f_w, m_w, k_w, sum(kept_w[1:]), M, N, B)]

    def _describe(self):
        return f"in_modes={self.in_modes}, out_modes={self.out_modes}, rank={self.rank}"


# ---------------------------------------------------------------------------
# CP
# ---------------------------------------------------------------------------

class CPLinear(TensorizedLinear):
    """Linear layer with a CP weight: ``R`` rank-one terms over the ``p + q`` modes.

    ``W[(i..), (j..)] = sum_r prod_k A_k[i_k, r] prod_k B_k[j_k, r]``

    The Khatri-Rao products (:func:`tnnlib.cp.khatri_rao`)
    ``A = A_1 (.) ... (.) A_p`` (M, R) and ``B = B_1 (.) ... (.) B_q`` (N, R)
    turn it into ``W = A B^T``: :meth:`reference_forward` is
    ``y = (x B) A^T + b``, a rank-``R`` product whose two factors are
    themselves structured (and cost ``R sum n_k`` parameters).

    Parameters
    ----------
    in_features, out_features : int
    rank : int (R; may exceed the mode sizes, never capped)
    in_modes, out_modes : sequences of ints, keyword-only, optional
        Default: balanced factorisations (:func:`tnnlib.nn.base.auto_modes`).
    bias : bool
    device, dtype : as for ``nn.Linear``

    Attributes
    ----------
    out_factors : ParameterList of (i_k, R)
    in_factors : ParameterList of (j_k, R)
    rank : int

    (CP weights ``lambda`` are absorbed in the first output factor.)

    >>> CPLinear(64, 64, 8, in_modes=(8, 8), out_modes=(8, 8)).weight_parameters()
    256
    """

    def __init__(self, in_features: int, out_features: int, rank: int, *, in_modes=None, out_modes=None,
                 bias: bool = True, device=None, dtype=None):
        super().__init__(in_features, out_features, bias, device, dtype)
        self.in_modes, self.out_modes = linear_modes(
            self.in_features, self.out_features, in_modes=in_modes, out_modes=out_modes, where="CPLinear",
            same_order=False)
        self.rank = check_positive_int(rank, "rank", "CPLinear")
        factory = dict(device=device, dtype=dtype)
        self.out_factors = nn.ParameterList(nn.Parameter(torch.empty(i, self.rank, **factory))
                                            for i in self.out_modes)
        self.in_factors = nn.ParameterList(nn.Parameter(torch.empty(j, self.rank, **factory))
                                           for j in self.in_modes)
        self.reset_parameters()

    def reference_forward(self, x):
        """``z = x B`` (the ``R`` input terms), then ``y = z A^T + b`` (the ``R`` output terms)."""
        z = x @ khatri_rao(list(self.in_factors))                     # (..., R)
        return _with_bias(z @ khatri_rao(list(self.out_factors)).t(), self.bias)

    def dense_weight(self):
        """``W = A B^T`` (out_features, in_features)."""
        return khatri_rao(list(self.out_factors)) @ khatri_rao(list(self.in_factors)).t()

    def reset_parameters(self) -> None:
        """Factors ``N(0, s^2)``, ``s = (sigma / sqrt(R))^(1/(p+q))``, ``sigma = 1/sqrt(3 N)``."""
        order = len(self.out_modes) + len(self.in_modes)
        normal_([*self.out_factors, *self.in_factors], cp_std(linear_std(self.in_features), self.rank, order))
        self.reset_bias()

    @classmethod
    def from_dense(cls, layer: nn.Linear, *, rank=None, in_modes=None, out_modes=None, n_sweeps: int = 100,
                   seed: int = 0):
        """CP of ``W`` read as a tensor ``(i.., j..)`` by ALS (:func:`tnnlib.cp.cp_als`, SVD start).

        ``rank`` (keyword) is required: CP has no rank that a tolerance would
        choose cheaply, hence no ``max_rank``/``eps``. Modes default to
        balanced factorisations (:func:`tnnlib.nn.base.auto_modes`). ALS is
        iterative and may degenerate; check the error (``tensorize`` reports it).
        """
        where = "CPLinear.from_dense"
        if rank is None:
            raise TypeError(f"{where}: rank= is required (the number of rank-one terms; CP takes no max_rank/eps)")
        rank = check_positive_int(rank, "rank", where)
        weight, bias = dense_parts(layer, where=where)
        in_modes, out_modes = linear_modes(layer.in_features, layer.out_features, in_modes=in_modes,
                                           out_modes=out_modes, where=where, same_order=False)
        cp = cp_als(working_copy(weight).reshape(out_modes + in_modes), rank, n_sweeps=n_sweeps,
                    init="svd", seed=seed)
        factors = list(cp.factors)
        factors[0] = factors[0] * cp.weights
        p = len(out_modes)
        new = cls(layer.in_features, layer.out_features, cp.rank, in_modes=in_modes, out_modes=out_modes,
                  bias=bias is not None, device=weight.device, dtype=weight.dtype)
        values = {f"out_factors.{k}": f for k, f in enumerate(factors[:p])}
        values.update({f"in_factors.{k}": f for k, f in enumerate(factors[p:])})
        return copy_into(new, values, bias)

    def _forward(self, x, strategy):
        if strategy == "dense":
            return nn.functional.linear(x, self.dense_weight(), self.bias)
        z = x @ khatri_rao(list(self.in_factors))                                 # (B, R)
        return nn.functional.linear(z, khatri_rao(list(self.out_factors)), self.bias)

    def candidates(self, batch_size):
        B, M, N, R = batch_size, self.out_features, self.in_features, self.rank

        def kr(modes):   # flops, kernels, kept partial products (each written once, read once)
            sizes = [math.prod(modes[:k + 1]) * R for k in range(1, len(modes))]
            return sum(sizes), len(sizes), sum(sizes)

        f_a, k_a, kept_a = kr(self.out_modes)
        f_b, k_b, kept_b = kr(self.in_modes)
        build = 2 * (kept_a + kept_b) + R * (M + N)
        factored = Candidate("factored", f_a + f_b + 2 * B * R * (M + N), build + B * N + 2 * B * R + B * M,
                             k_a + k_b + 2, B * N + B * R + kept_a + kept_b)
        return [factored, _dense_candidate(f_a + f_b + 2 * M * N * R, build + M * N, k_a + k_b + 1,
                                           kept_a + kept_b, M, N, B)]

    def _describe(self):
        return f"in_modes={self.in_modes}, out_modes={self.out_modes}, rank={self.rank}"


# ---------------------------------------------------------------------------
# Tensor ring
# ---------------------------------------------------------------------------

def tr_rank(rank, modes, where: str) -> tuple:
    """The ranks ``(r_0, ..., r_{L-1}, r_L = r_0)`` of a ring over ``modes`` (as :attr:`tnnlib.tr.TRTensor.rank`).

    An int ``r`` gives every bond ``min(r, R)``, with ``R`` the largest TT rank
    of the modes (``max_k min(n_1..n_k, n_{k+1}..n_L)``): a ring whose bonds
    are all at least ``R`` holds every tensor of that shape (a tensor train
    padded with zeros), so a larger one is useless. A sequence of ``L`` bonds
    (or ``L + 1`` with ``r_L == r_0``) is checked to be positive integers; a
    ring's bonds have no individual limit (they can trade size between them).
    """
    L = len(modes)
    if is_int(rank):
        largest = max([min(math.prod(modes[:k]), math.prod(modes[k:])) for k in range(1, L)], default=1)
        bonds = check_rank(rank, (largest,) * L, where)
    else:
        if not isinstance(rank, (str, bytes)) and hasattr(rank, "__len__") and len(rank) == L + 1:
            rank = tuple(rank)
            if rank[0] != rank[-1]:
                raise ValueError(f"{where}: rank with L + 1 = {L + 1} entries (r_0, ..., r_L) must close the "
                                 f"ring, r_0 == r_L; got {rank}")
            rank = rank[:-1]
        bonds = check_rank(rank, (None,) * L, where)
    return bonds + bonds[:1]


class TRLinear(TensorizedLinear):
    """Linear layer with a tensor-ring weight (Wang et al. 2018, arXiv:1802.09052).

    ``W[(i..), (j..)] = trace(G_1[:, i_1, :] ... G_p[:, i_p, :] H_1[:, j_1, :] ... H_q[:, j_q, :])``

    :meth:`reference_forward`: merge the input cores into one chain
    ``Z_in`` ``(r_p, N, r_0)`` and the output cores into ``Z_out``
    ``(r_0, M, r_p)`` (:func:`tnnlib.tr.merge_cores`); push the input
    through ``Z_in`` (a ``(B, r_p, r_0)`` result), then close the ring through
    ``Z_out`` (a sum over both bonds). Cost ``2 B r_0 r_p (M + N)`` plus merging.

    Parameters
    ----------
    in_features, out_features : int
    rank : int, or the ``L = p + q`` bonds ``(r_0, ..., r_{L-1})``, or ``L + 1`` with ``r_L == r_0``
        Core ``k`` (output cores first) has shape ``(r_k, n_k, r_{k+1})``. An
        int is capped at the largest useful rank (see :func:`tr_rank`); a
        sequence is checked (positive integers, the ring closed).
    in_modes, out_modes : sequences of ints, keyword-only, optional
        Default: balanced factorisations (:func:`tnnlib.nn.base.auto_modes`).
    bias : bool
    device, dtype : as for ``nn.Linear``

    Attributes
    ----------
    cores : ParameterList, ``p`` output cores then ``q`` input cores
    rank : tuple ``(r_0, ..., r_L)`` with ``r_L == r_0`` (as :attr:`tnnlib.tr.TRTensor.rank`)

    >>> TRLinear(64, 64, 3, in_modes=(8, 8), out_modes=(8, 8)).rank
    (3, 3, 3, 3, 3)
    """

    def __init__(self, in_features: int, out_features: int, rank, *, in_modes=None, out_modes=None,
                 bias: bool = True, device=None, dtype=None):
        super().__init__(in_features, out_features, bias, device, dtype)
        self.in_modes, self.out_modes = linear_modes(
            self.in_features, self.out_features, in_modes=in_modes, out_modes=out_modes, where="TRLinear",
            same_order=False)
        modes = self.out_modes + self.in_modes
        self.rank = tr_rank(rank, modes, "TRLinear")
        self.cores = nn.ParameterList(
            nn.Parameter(torch.empty(self.rank[k], n, self.rank[k + 1], device=device, dtype=dtype))
            for k, n in enumerate(modes))
        self.reset_parameters()

    def reference_forward(self, x):
        """The input through the input half of the ring, then the ring closed through the output half."""
        z_out, z_in = self._halves()                                   # (r0, M, rp), (rp, N, r0)
        t = torch.einsum("bn,pnq->bpq", x.reshape(-1, self.in_features), z_in)      # (B, r_p, r_0)
        y = torch.einsum("bpq,qmp->bm", t, z_out)                                    # trace over both bonds
        return _with_bias(y.reshape(*x.shape[:-1], self.out_features), self.bias)

    def dense_weight(self):
        """``W`` (out_features, in_features): the two halves of the ring, closed."""
        z_out, z_in = self._halves()                               # (r0, M, rp), (rp, N, r0)
        r0, M, rp = z_out.shape
        return z_out.permute(1, 0, 2).reshape(M, r0 * rp) @ z_in.permute(2, 0, 1).reshape(r0 * rp, -1)

    def reset_parameters(self) -> None:
        """Cores ``N(0, s^2)``, ``s = sigma^(1/L) (prod of the L bonds)^(-1/(2L))``."""
        normal_(self.cores, tr_core_std(linear_std(self.in_features), self.rank[:-1]))
        self.reset_bias()

    @classmethod
    def from_dense(cls, layer: nn.Linear, *, in_modes=None, out_modes=None, max_rank=None, eps=None,
                   n_sweeps: int = 0):
        """Tensor ring of ``W`` read as a tensor ``(i.., j..)`` by TR-SVD (:func:`tnnlib.tr.tr_svd`).

        ``max_rank`` (an int or a sequence, see :func:`tnnlib.tr.tr_svd`) and
        ``eps`` bound the ranks; TR-SVD keeps ``r_0 r_1 <= i_1`` (the first
        mode's size) - put a large mode first for a large closing bond. With
        ``n_sweeps > 0``, refine by that many TR-ALS sweeps
        (:func:`tnnlib.tr.tr_als`, started from the TR-SVD).
        """
        where = "TRLinear.from_dense"
        weight, bias = dense_parts(layer, where=where)
        in_modes, out_modes = linear_modes(layer.in_features, layer.out_features, in_modes=in_modes,
                                           out_modes=out_modes, where=where, same_order=False)
        tensor = working_copy(weight).reshape(out_modes + in_modes)
        tr = tr_svd(tensor, max_rank=max_rank, eps=check_eps(eps, where))
        if n_sweeps > 0:
            tr = tr_als(tensor, tr.rank, n_sweeps=n_sweeps, init=tr)
        new = cls(layer.in_features, layer.out_features, tr.rank, in_modes=in_modes,
                  out_modes=out_modes, bias=bias is not None, device=weight.device, dtype=weight.dtype)
        return copy_into(new, {f"cores.{k}": c for k, c in enumerate(tr.cores)}, bias)

    def _halves(self):
        p = len(self.out_modes)
        cores = list(self.cores)                 # (slicing a ParameterList would copy the parameters)
        return merge_ring_cores(cores[:p]), merge_ring_cores(cores[p:])

    def _forward(self, x, strategy):
        if strategy == "dense":
            return nn.functional.linear(x, self.dense_weight(), self.bias)
        z_out, z_in = self._halves()
        r0, M, rp = z_out.shape
        t = x @ z_in.permute(1, 0, 2).reshape(self.in_features, rp * r0)          # (B, rp r0)
        return nn.functional.linear(t, z_out.permute(1, 2, 0).reshape(M, rp * r0), self.bias)

    def candidates(self, batch_size):
        B, M, N = batch_size, self.out_features, self.in_features
        p, modes, r = len(self.out_modes), self.out_modes + self.in_modes, self.rank
        flops = kernels = kept = 0
        for start, stop in ((0, p), (p, len(modes))):             # merging each half
            size = modes[start]
            for k in range(start + 1, stop):
                flops += 2 * r[start] * size * r[k] * modes[k] * r[k + 1]
                size *= modes[k]
                kernels += 1
                kept += r[start] * size * r[k + 1]
        r0, rp = r[0], r[p]
        kept += (M + N) * r0 * rp                                 # the permuted copies
        moved = 3 * kept                                          # merges and copies: written, read
        factored = Candidate("factored", flops + 2 * B * r0 * rp * (M + N), moved + B * N + 2 * B * r0 * rp + B * M,
                             kernels + 4, kept + B * N + B * r0 * rp)
        dense = _dense_candidate(flops + 2 * M * N * r0 * rp, moved + M * N, kernels + 3, kept, M, N, B)
        return [factored, dense]

    def _describe(self):
        return f"in_modes={self.in_modes}, out_modes={self.out_modes}, rank={self.rank}"
