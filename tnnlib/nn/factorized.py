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

Each layer has two strategies: ``"factored"`` (apply the factors to the input
one after the other) and ``"dense"`` (rebuild ``W``, one matrix product); the
plan picks the cheaper by flops, which is almost always "factored".
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .base import TensorizedLinear, apply_to_middle, auto_modes, check_modes, dense_parts, working_copy
from .init import cp_std, factor_std, linear_std, normal_, tr_core_std, tucker_std
from .planning import Candidate


def _as_modes(modes, name: str, layer: str) -> tuple:
    """An int ``n`` means one mode ``(n,)``."""
    return (int(modes),) if isinstance(modes, int) else check_modes(modes, None, name, layer)


def _dense_candidate(rebuild_flops: int, rebuild_moved: int, rebuild_kernels: int, rebuild_kept: int,
                     M: int, N: int, B: int):
    """Rebuild ``W`` then one product: keeps the input, ``W`` and the rebuild's intermediates."""
    return Candidate("dense", rebuild_flops + 2 * B * M * N, rebuild_moved + B * N + M * N + B * M,
                     rebuild_kernels + 1, B * N + M * N + rebuild_kept)


def _modes_from_layer(layer, in_modes, out_modes, default: str):
    """Modes for ``from_dense``: given, or ``"matrix"`` (one per side), or ``"auto"`` (balanced)."""
    if in_modes is None or out_modes is None:
        if default == "matrix":
            auto_in, auto_out = (layer.in_features,), (layer.out_features,)
        else:
            auto_in, auto_out = auto_modes(layer.in_features, layer.out_features, same_order=False)
        in_modes, out_modes = in_modes or auto_in, out_modes or auto_out
    name = "from_dense"
    return (check_modes(in_modes, layer.in_features, "in_modes", name),
            check_modes(out_modes, layer.out_features, "out_modes", name))


def _finish(new, factors: dict, bias):
    """Copy decomposition results (``{parameter name: tensor}``) and the bias into ``new``."""
    params = dict(new.named_parameters())
    with torch.no_grad():
        for name, value in factors.items():
            params[name].copy_(value)
        if bias is not None:
            new.bias.copy_(bias)
    return new


# ---------------------------------------------------------------------------
# Low rank
# ---------------------------------------------------------------------------

class LowRankLinear(TensorizedLinear):
    """``W = U V`` of rank ``r``: ``y = (x V^T) U^T + b``.

    Parameters
    ----------
    in_features, out_features : int
    rank : int
    bias : bool

    Attributes
    ----------
    u : Parameter (out_features, rank)
    v : Parameter (rank, in_features)

    Cost ``r (M + N)`` parameters and ``2 B r (M + N)`` flops, against ``M N``
    and ``2 B M N``: it pays off when ``r < M N / (M + N)``.
    """

    def __init__(self, in_features: int, out_features: int, rank: int, bias: bool = True, device=None, dtype=None):
        super().__init__(in_features, out_features, bias, device, dtype)
        if int(rank) < 1:
            raise ValueError(f"LowRankLinear: rank must be >= 1, got {rank}")
        self.rank = int(rank)
        self.u = nn.Parameter(torch.empty(self.out_features, self.rank, device=device, dtype=dtype))
        self.v = nn.Parameter(torch.empty(self.rank, self.in_features, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``U``, ``V`` from ``N(0, s^2)`` with ``s = (sigma / sqrt(r))^(1/2)``, ``sigma = 1/sqrt(3 N)``."""
        normal_([self.u, self.v], factor_std(linear_std(self.in_features), self.rank, 2))
        self.reset_bias()

    def full_weight(self):
        return self.u @ self.v

    def _forward(self, x, strategy):
        if strategy == "dense":
            return nn.functional.linear(x, self.full_weight(), self.bias)
        return nn.functional.linear(nn.functional.linear(x, self.v), self.u, self.bias)

    def candidates(self, batch_size):
        M, N, r, B = self.out_features, self.in_features, self.rank, batch_size
        moved = B * N + N * r + 2 * B * r + r * M + B * M
        return [Candidate("factored", 2 * B * r * (M + N), moved, 2, B * N + B * r),
                _dense_candidate(2 * M * N * r, M * r + r * N + M * N, 1, 0, M, N, B)]

    def _describe(self):
        return f"rank={self.rank}"

    @classmethod
    def from_dense(cls, layer: nn.Linear, max_rank=None, eps=None):
        """The truncated SVD ``W ~ U_r S_r Vh_r`` (:func:`tnnlib.svd.truncated_svd`), split as
        ``u = U_r S_r^(1/2)``, ``v = S_r^(1/2) Vh_r``. Neither ``max_rank`` nor ``eps``: exact."""
        from ..svd import truncated_svd

        weight, bias = dense_parts(layer)
        U, S, Vh = truncated_svd(working_copy(weight), max_rank=max_rank, eps=eps)
        root = S.sqrt()
        new = cls(layer.in_features, layer.out_features, S.shape[0], bias=bias is not None,
                  device=weight.device, dtype=weight.dtype)
        return _finish(new, {"u": U * root, "v": root[:, None] * Vh}, bias)


# ---------------------------------------------------------------------------
# Tucker
# ---------------------------------------------------------------------------

def _mode_product(state, lead: int, shape: list, k: int, matrix):
    """Multiply axis ``k`` of a ``(lead, *shape)`` tensor by ``matrix`` (new, shape[k]).

    Returns the result (flattened as ``(lead, ...)``) and updates ``shape[k]``.
    """
    P, Q = lead * math.prod(shape[:k]), math.prod(shape[k + 1:])
    out = apply_to_middle(matrix, state.reshape(P, shape[k], Q))
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

    Parameters
    ----------
    in_modes, out_modes : int or sequence of ints (an int is a single mode)
        ``TuckerLinear(N, M, (s, t))`` is Tucker-2 of the matrix: ``W = U C V^T``.
    ranks : int or sequence of ``p + q`` ints (output modes first)
        An int is used for every mode, capped at the mode's size.
    bias : bool

    Attributes
    ----------
    core : Parameter (s_1, ..., s_p, t_1, ..., t_q)
    out_factors : ParameterList of (i_k, s_k)
    in_factors : ParameterList of (j_k, t_k)

    Forward ("factored"): project the input on the ``V_k`` (mode by mode),
    apply the core as a ``(S, T)`` matrix, expand with the ``U_k``.
    The core has ``prod(ranks)`` entries: keep the number of modes small.
    """

    def __init__(self, in_modes, out_modes, ranks, bias: bool = True, device=None, dtype=None):
        in_modes = _as_modes(in_modes, "in_modes", "TuckerLinear")
        out_modes = _as_modes(out_modes, "out_modes", "TuckerLinear")
        super().__init__(math.prod(in_modes), math.prod(out_modes), bias, device, dtype)
        self.in_modes, self.out_modes = in_modes, out_modes
        modes = out_modes + in_modes
        if isinstance(ranks, int):
            ranks = tuple(min(ranks, n) for n in modes)
        ranks = tuple(int(r) for r in ranks)
        if len(ranks) != len(modes) or any(r < 1 for r in ranks):
            raise ValueError(f"TuckerLinear: need {len(modes)} positive ranks (output modes {out_modes} "
                             f"then input modes {in_modes}), got {ranks}")
        self.ranks = ranks
        p = len(out_modes)
        factory = dict(device=device, dtype=dtype)
        self.core = nn.Parameter(torch.empty(ranks, **factory))
        self.out_factors = nn.ParameterList(nn.Parameter(torch.empty(i, s, **factory))
                                            for i, s in zip(out_modes, ranks[:p]))
        self.in_factors = nn.ParameterList(nn.Parameter(torch.empty(j, t, **factory))
                                           for j, t in zip(in_modes, ranks[p:]))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Core and factors ``N(0, s^2)``, ``s = (sigma / sqrt(prod r))^(1/(n+1))`` for ``n`` factors."""
        normal_([self.core, *self.out_factors, *self.in_factors],
                tucker_std(linear_std(self.in_features), self.ranks))
        self.reset_bias()

    @property
    def _core_sizes(self):
        p = len(self.out_modes)
        return math.prod(self.ranks[:p]), math.prod(self.ranks[p:])

    def full_weight(self):
        shape, state = list(self.ranks), self.core
        for k, factor in enumerate([*self.out_factors, *self.in_factors]):
            state = _mode_product(state, 1, shape, k, factor)
        return state.reshape(self.out_features, self.in_features)

    def _forward(self, x, strategy):
        if strategy == "dense":
            return nn.functional.linear(x, self.full_weight(), self.bias)
        batch = x.shape[0]
        shape, state = list(self.in_modes), x
        for k, factor in enumerate(self.in_factors):                 # (B, j..) -> (B, t..)
            state = _mode_product(state, batch, shape, k, factor.t())
        S, T = self._core_sizes
        state = state.reshape(batch, T) @ self.core.reshape(S, T).t()  # (B, s..)
        shape = list(self.ranks[:len(self.out_modes)])
        for k, factor in enumerate(self.out_factors):                # (B, s..) -> (B, i..)
            state = _mode_product(state, batch, shape, k, factor)
        y = state.reshape(batch, self.out_features)
        return y if self.bias is None else y + self.bias.to(y.dtype)

    def candidates(self, batch_size):
        B, M, N, p = batch_size, self.out_features, self.in_features, len(self.out_modes)
        S, T = self._core_sizes
        f_in, m_in, k_in, kept_in = _mode_chain_cost(B, self.in_modes, self.ranks[p:])
        f_out, m_out, k_out, kept_out = _mode_chain_cost(B, self.ranks[:p], self.out_modes)
        factored = Candidate("factored", f_in + 2 * B * S * T + f_out, m_in + B * T + S * T + B * S + m_out,
                             k_in + 1 + k_out, sum(kept_in) + B * T + sum(kept_out))
        f_w, m_w, k_w, kept_w = _mode_chain_cost(1, self.ranks, self.out_modes + self.in_modes)
        return [factored, _dense_candidate(f_w, m_w, k_w, sum(kept_w[1:]), M, N, B)]

    def _describe(self):
        return f"in_modes={self.in_modes}, out_modes={self.out_modes}, ranks={self.ranks}"

    @classmethod
    def from_dense(cls, layer: nn.Linear, in_modes=None, out_modes=None, ranks=None, max_rank=None,
                   eps=None, n_sweeps: int = 0):
        """Tucker of ``W`` read as a tensor ``(i.., j..)`` by HOSVD (:func:`tnnlib.tucker.hosvd`).

        Parameters
        ----------
        in_modes, out_modes : default one mode per side (Tucker-2 of the matrix)
        ranks : int or sequence of p + q ints, optional (each at most its mode size)
        max_rank : int, optional
            The same cap for every mode (capped at the mode sizes).
        eps : float, optional
            Relative error target (HOSVD bound); ``ranks``/``max_rank`` are then maxima.
        n_sweeps : int
            If > 0, refine with that many HOOI sweeps (:func:`tnnlib.tucker.hooi`).
        """
        from ..tucker import hooi, hosvd

        weight, bias = dense_parts(layer)
        in_modes, out_modes = _modes_from_layer(layer, in_modes, out_modes, "matrix")
        modes = out_modes + in_modes
        if ranks is None and max_rank is not None:
            ranks = tuple(min(int(max_rank), n) for n in modes)
        tensor = working_copy(weight).reshape(modes)
        tucker = hosvd(tensor, ranks=ranks, eps=eps)
        if n_sweeps > 0:
            tucker = hooi(tensor, tucker.ranks, n_sweeps=n_sweeps)
        p = len(out_modes)
        new = cls(in_modes, out_modes, tucker.ranks, bias=bias is not None, device=weight.device, dtype=weight.dtype)
        values = {"core": tucker.core}
        values.update({f"out_factors.{k}": f for k, f in enumerate(tucker.factors[:p])})
        values.update({f"in_factors.{k}": f for k, f in enumerate(tucker.factors[p:])})
        return _finish(new, values, bias)


# ---------------------------------------------------------------------------
# CP
# ---------------------------------------------------------------------------

def khatri_rao(factors):
    """Column-wise Kronecker product: ``(n_1, R), ..., (n_m, R)`` -> ``(n_1 ... n_m, R)``, C order."""
    product = factors[0]
    for factor in factors[1:]:
        product = (product[:, None, :] * factor[None, :, :]).reshape(-1, factor.shape[1])
    return product


class CPLinear(TensorizedLinear):
    """Linear layer with a CP weight: ``R`` rank-one terms over the ``p + q`` modes.

    ``W[(i..), (j..)] = sum_r prod_k A_k[i_k, r] prod_k B_k[j_k, r]``

    The Khatri-Rao products ``A = A_1 (.) ... (.) A_p`` (M, R) and
    ``B = B_1 (.) ... (.) B_q`` (N, R) turn it into ``W = A B^T``: the forward
    pass is ``y = (x B) A^T + b``, a rank-``R`` product whose two factors are
    themselves structured (and cost ``R sum n_k`` parameters).

    Parameters
    ----------
    in_modes, out_modes : int or sequence of ints
    rank : int (R; may exceed the mode sizes)
    bias : bool

    Attributes
    ----------
    out_factors : ParameterList of (i_k, R)
    in_factors : ParameterList of (j_k, R)

    (CP weights ``lambda`` are absorbed in the first output factor.)
    """

    def __init__(self, in_modes, out_modes, rank: int, bias: bool = True, device=None, dtype=None):
        in_modes = _as_modes(in_modes, "in_modes", "CPLinear")
        out_modes = _as_modes(out_modes, "out_modes", "CPLinear")
        super().__init__(math.prod(in_modes), math.prod(out_modes), bias, device, dtype)
        if int(rank) < 1:
            raise ValueError(f"CPLinear: rank must be >= 1, got {rank}")
        self.in_modes, self.out_modes, self.rank = in_modes, out_modes, int(rank)
        factory = dict(device=device, dtype=dtype)
        self.out_factors = nn.ParameterList(nn.Parameter(torch.empty(i, self.rank, **factory)) for i in out_modes)
        self.in_factors = nn.ParameterList(nn.Parameter(torch.empty(j, self.rank, **factory)) for j in in_modes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Factors ``N(0, s^2)``, ``s = (sigma / sqrt(R))^(1/(p+q))``, ``sigma = 1/sqrt(3 N)``."""
        order = len(self.out_modes) + len(self.in_modes)
        normal_([*self.out_factors, *self.in_factors], cp_std(linear_std(self.in_features), self.rank, order))
        self.reset_bias()

    def full_weight(self):
        return khatri_rao(list(self.out_factors)) @ khatri_rao(list(self.in_factors)).t()

    def _forward(self, x, strategy):
        if strategy == "dense":
            return nn.functional.linear(x, self.full_weight(), self.bias)
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

    @classmethod
    def from_dense(cls, layer: nn.Linear, in_modes=None, out_modes=None, rank=None, max_rank=None,
                   n_sweeps: int = 100, seed: int = 0):
        """CP of ``W`` read as a tensor ``(i.., j..)`` by ALS (:func:`tnnlib.cp.cp_als`, SVD start).

        ``rank`` (or its alias ``max_rank``) is required: CP has no rank
        that a tolerance would choose cheaply. Modes default to balanced
        factorisations (:func:`tnnlib.nn.base.auto_modes`). ALS is iterative
        and may degenerate; check the error (``tensorize`` reports it).
        """
        from ..cp import cp_als

        rank = rank if rank is not None else max_rank
        if rank is None:
            raise ValueError("CPLinear.from_dense needs rank= (or max_rank=): the number of rank-one terms")
        weight, bias = dense_parts(layer)
        in_modes, out_modes = _modes_from_layer(layer, in_modes, out_modes, "auto")
        cp = cp_als(working_copy(weight).reshape(out_modes + in_modes), int(rank), n_sweeps=n_sweeps,
                    init="svd", seed=seed)
        factors = list(cp.factors)
        factors[0] = factors[0] * cp.weights
        p = len(out_modes)
        new = cls(in_modes, out_modes, cp.rank, bias=bias is not None, device=weight.device, dtype=weight.dtype)
        values = {f"out_factors.{k}": f for k, f in enumerate(factors[:p])}
        values.update({f"in_factors.{k}": f for k, f in enumerate(factors[p:])})
        return _finish(new, values, bias)


# ---------------------------------------------------------------------------
# Tensor ring
# ---------------------------------------------------------------------------

def merge_ring_cores(cores):
    """Merge consecutive tensor-ring cores: ``(a, n_1, .), ..., (., n_m, b)`` -> ``(a, n_1 ... n_m, b)``.

    One matrix product per core; no permutation is needed because the merged
    mode index ``(n_1 .. n_k)`` sits between the two bonds.
    """
    merged = cores[0]
    for core in cores[1:]:
        a, n, r = merged.shape
        merged = (merged.reshape(a * n, r) @ core.reshape(r, -1)).reshape(a, -1, core.shape[2])
    return merged


def _tr_ranks(ranks, L: int) -> tuple:
    """``(r_0, ..., r_{L-1}, r_0)`` from an int, ``L`` bonds, or ``L + 1`` with ``r_0 == r_L``."""
    if isinstance(ranks, int):
        ranks = (ranks,) * L
    ranks = tuple(int(r) for r in ranks)
    if len(ranks) == L:
        ranks = ranks + ranks[:1]
    if len(ranks) != L + 1 or ranks[0] != ranks[-1] or any(r < 1 for r in ranks):
        raise ValueError(f"TRLinear: need an int, {L} bond sizes, or {L + 1} ranks (r_0, ..., r_L) with "
                         f"r_0 == r_L, all positive; got {ranks}")
    return ranks


class TRLinear(TensorizedLinear):
    """Linear layer with a tensor-ring weight (Wang et al. 2018, arXiv:1802.09052).

    ``W[(i..), (j..)] = trace(G_1[:, i_1, :] ... G_p[:, i_p, :] H_1[:, j_1, :] ... H_q[:, j_q, :])``

    Parameters
    ----------
    in_modes, out_modes : int or sequence of ints
    ranks : int, or ``L = p + q`` bond sizes, or ``(r_0, ..., r_L)`` with ``r_0 == r_L``
        Core ``k`` (output cores first) has shape ``(r_k, n_k, r_{k+1})``.
    bias : bool

    Attributes
    ----------
    cores : ParameterList, ``p`` output cores then ``q`` input cores

    Forward ("factored", as in the paper): merge the input cores into
    ``Z_in`` ``(r_p, N, r_0)`` and the output cores into ``Z_out``
    ``(r_0, M, r_p)``; ``t = x Z_in`` over ``N`` gives ``(B, r_p r_0)``, and
    ``y = t Z_out`` over both bonds. Cost ``2 B r_0 r_p (M + N)`` plus merging.
    """

    def __init__(self, in_modes, out_modes, ranks, bias: bool = True, device=None, dtype=None):
        in_modes = _as_modes(in_modes, "in_modes", "TRLinear")
        out_modes = _as_modes(out_modes, "out_modes", "TRLinear")
        super().__init__(math.prod(in_modes), math.prod(out_modes), bias, device, dtype)
        self.in_modes, self.out_modes = in_modes, out_modes
        modes = out_modes + in_modes
        self.ranks = _tr_ranks(ranks, len(modes))
        self.cores = nn.ParameterList(
            nn.Parameter(torch.empty(self.ranks[k], n, self.ranks[k + 1], device=device, dtype=dtype))
            for k, n in enumerate(modes))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Cores ``N(0, s^2)``, ``s = sigma^(1/L) (prod of the L bonds)^(-1/(2L))``."""
        normal_(self.cores, tr_core_std(linear_std(self.in_features), self.ranks[:-1]))
        self.reset_bias()

    def _halves(self):
        p = len(self.out_modes)
        cores = list(self.cores)                 # (slicing a ParameterList would copy the parameters)
        return merge_ring_cores(cores[:p]), merge_ring_cores(cores[p:])

    def full_weight(self):
        z_out, z_in = self._halves()                               # (r0, M, rp), (rp, N, r0)
        r0, M, rp = z_out.shape
        return z_out.permute(1, 0, 2).reshape(M, r0 * rp) @ z_in.permute(2, 0, 1).reshape(r0 * rp, -1)

    def _forward(self, x, strategy):
        if strategy == "dense":
            return nn.functional.linear(x, self.full_weight(), self.bias)
        z_out, z_in = self._halves()
        r0, M, rp = z_out.shape
        t = x @ z_in.permute(1, 0, 2).reshape(self.in_features, rp * r0)          # (B, rp r0)
        return nn.functional.linear(t, z_out.permute(1, 2, 0).reshape(M, rp * r0), self.bias)

    def candidates(self, batch_size):
        B, M, N = batch_size, self.out_features, self.in_features
        p, modes, r = len(self.out_modes), self.out_modes + self.in_modes, self.ranks
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
        return f"in_modes={self.in_modes}, out_modes={self.out_modes}, ranks={self.ranks}"

    @classmethod
    def from_dense(cls, layer: nn.Linear, in_modes=None, out_modes=None, ranks=None, max_rank=None,
                   eps=None, n_sweeps: int = 0):
        """Tensor ring of ``W`` read as a tensor ``(i.., j..)`` by TR-SVD (:func:`tnnlib.tr.tr_svd`).

        ``ranks`` (or the int ``max_rank``) are maxima; TR-SVD keeps
        ``r_0 r_1 <= i_1`` (the first mode's size) - put a large mode first for
        a large closing bond. With ``n_sweeps > 0``, refine by that many
        TR-ALS sweeps (:func:`tnnlib.tr.tr_als`, started from the TR-SVD).
        """
        from ..tr import tr_als, tr_svd

        weight, bias = dense_parts(layer)
        in_modes, out_modes = _modes_from_layer(layer, in_modes, out_modes, "auto")
        tensor = working_copy(weight).reshape(out_modes + in_modes)
        tr = tr_svd(tensor, ranks=ranks if ranks is not None else max_rank, eps=eps)
        if n_sweeps > 0:
            tr = tr_als(tensor, tr.ranks, n_sweeps=n_sweeps, init=tr)
        new = cls(in_modes, out_modes, tr.ranks, bias=bias is not None, device=weight.device, dtype=weight.dtype)
        return _finish(new, {f"cores.{k}": c for k, c in enumerate(tr.cores)}, bias)
