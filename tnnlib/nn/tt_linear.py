"""The TT-matrix (MPO) layer: a drop-in ``nn.Linear`` whose weight is a tensor train.

Novikov et al. 2015, "Tensorizing Neural Networks", arXiv:1509.06569.

The idea. Split ``in_features = j_1 ... j_d`` and ``out_features = i_1 ... i_d``;
the weight ``W`` of shape ``(M, N)`` (``nn.Linear.weight``'s layout) is

    W[(i_1..i_d), (j_1..j_d)] = G_1[:, i_1, j_1, :] @ G_2[:, i_2, j_2, :] @ ... @ G_d[:, i_d, j_d, :]

with cores ``G_k`` of shape ``(r_{k-1}, i_k, j_k, r_k)``, ``r_0 = r_d = 1``
(the row index is the C-order multi-index of the output modes, as in
:class:`tnnlib.ttm.TTMatrix`). Parameters: ``sum_k r_{k-1} i_k j_k r_k``
instead of ``M N``. The forward pass never needs ``W``: it contracts the input
with one core after the other, :meth:`TTLinear.reference_forward` (six lines,
the algorithm of :meth:`tnnlib.ttm.TTMatrix.matvec`). Read it first.

The speed. The same numbers can be contracted in other orders. ``forward``
groups neighbouring cores, merges each group (:func:`merge_cores`) and
contracts the input with the groups from the last to the first
(:func:`contract_groups`); which grouping is cheapest depends on the batch
size, and :meth:`TTLinear.plan` picks it with the cost model of
:mod:`tnnlib.nn.planning` (flops, memory traffic, calls), for inference or
for a training step. In training the contraction runs in
:class:`GroupedContraction`, whose backward pass computes each weight
gradient as a few large products and recomputes block by block the states
it does not keep. The tests check every grouping, and its gradients, against
:meth:`TTLinear.reference_forward`.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from ..ttm import ttm_svd
from ..validation import check_eps, check_max_rank, check_positive_int, check_rank, is_int
from .base import TensorizedLinear, apply_to_middle, dense_parts, graph_mode, linear_modes, working_copy
from .init import linear_std, normal_, tt_core_std
from .planning import (
    chunk_rows,
    compositions,
    cost_model_for,
    intermediate_per_row,
    keep_states,
    parse_strategy,
    states_per_row,
    step_kind,
    strategy_name,
    tt_candidate,
)


class TTLinear(TensorizedLinear):
    """Linear layer with a TT-matrix (MPO) weight (Novikov et al. 2015, arXiv:1509.06569).

    :meth:`reference_forward` shows the computation core by core; ``forward``
    gives the same result in the order its planner finds fastest.

    Parameters
    ----------
    in_features, out_features : int
    rank : int, or the d-1 inner ranks, or all d+1 ranks ``(1, r_1, ..., 1)``
        An int is capped, bond by bond, at the largest useful rank
        ``min(prod_{m<=k} i_m j_m, prod_{m>k} i_m j_m)``; a sequence is checked
        against it (a clear error if an entry is larger).
    in_modes, out_modes : sequences of d ints, keyword-only, optional
        Products ``in_features`` and ``out_features``. Default: balanced
        factorisations (:func:`tnnlib.nn.base.auto_modes`); one given, the
        other side is split into as many modes.
    bias : bool
    device, dtype : as for ``nn.Linear``

    Attributes
    ----------
    cores : nn.ParameterList
        ``cores[k]`` of shape ``(r_k, i_{k+1}, j_{k+1}, r_{k+1})`` (0-based k).
    rank : tuple ``(1, r_1, ..., r_{d-1}, 1)``
    strategy : ``"auto"`` (planned per batch size) or a grouping:
        ``"sequential"``, ``"dense"``, ``"merge(2+2)"``, a tuple of group sizes.

    Shapes: input ``(..., in_features)`` -> output ``(..., out_features)``.

    Examples
    --------
    >>> layer = TTLinear(1024, 1024, 8, in_modes=(4, 8, 8, 4), out_modes=(4, 8, 8, 4))
    >>> layer.rank, layer.weight_parameters(), round(layer.compression, 1)
    ((1, 8, 8, 8, 1), 8448, 124.1)
    >>> x = torch.randn(3, 1024)
    >>> torch.allclose(layer(x), layer.reference_forward(x), atol=1e-5)
    True
    >>> TTLinear(16, 16, 1000, in_modes=(4, 4), out_modes=(4, 4)).rank    # capped: W is 16 x 16
    (1, 16, 1)
    >>> print(layer.plan(512))                                    # doctest: +SKIP
    """

    def __init__(self, in_features: int, out_features: int, rank, *, in_modes=None, out_modes=None,
                 bias: bool = True, device=None, dtype=None):
        super().__init__(in_features, out_features, bias, device, dtype)
        self.in_modes, self.out_modes = linear_modes(
            self.in_features, self.out_features, in_modes=in_modes, out_modes=out_modes, where="TTLinear",
            same_order=True)
        self.rank = tt_rank(rank, out_modes=self.out_modes, in_modes=self.in_modes, where="TTLinear")
        self._chunks = {}
        pairs = zip(self.out_modes, self.in_modes)
        shapes = [(self.rank[k], i, j, self.rank[k + 1]) for k, (i, j) in enumerate(pairs)]
        self.cores = nn.ParameterList(nn.Parameter(torch.empty(s, device=device, dtype=dtype)) for s in shapes)
        self.reset_parameters()

    def reference_forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x W^T + b``, one core after the other (``W`` is never formed).

        The partial result ``z`` is a matrix whose rows are what the next core
        contracts, ``(r_{k-1}, j_k)``, and whose columns are the rest. Each
        core is one matrix product; then its output mode ``i_k`` moves from the
        rows to the end of the columns. Starts from ``x^T``, ends with
        ``(batch, i_1..i_d)``: the output.
        """
        z = x.reshape(-1, self.in_features).t()                            # (j_1..j_d, batch)
        for core in self.cores:
            r, i, j, r_next = core.shape
            z = core.permute(1, 3, 0, 2).reshape(i * r_next, r * j) @ z.reshape(r * j, -1)   # (i_k r_k, rest)
            z = z.reshape(i, -1).t()                                       # (r_k rest, i_k)
        y = z.reshape(*x.shape[:-1], self.out_features)
        return y if self.bias is None else y + self.bias

    def dense_weight(self) -> torch.Tensor:
        """``W`` (out_features, in_features), rebuilt from the cores (differentiable)."""
        # merge each half first: merging left to right would pass through an intermediate
        # r_{d-1} times the size of W (16x at rank 16); two halves never exceed W's size
        cores, half = list(self.cores), len(self.cores) // 2
        halves = [merge_cores(cores[:half]), merge_cores(cores[half:])] if half else [merge_cores(cores)]
        return merge_cores(halves).reshape(self.out_features, self.in_features)

    def reset_parameters(self) -> None:
        """Cores ``N(0, s^2)`` with ``s = sigma^(1/d) (prod r_k)^(-1/(2d))``, ``sigma = 1/sqrt(3 N)``.

        The rebuilt ``W`` then has the standard deviation of ``nn.Linear``'s
        default weight (:mod:`tnnlib.nn.init`); the bias is ``nn.Linear``'s.
        """
        normal_(self.cores, tt_core_std(linear_std(self.in_features), self.rank))
        self.reset_bias()

    @classmethod
    def from_dense(cls, layer: nn.Linear, *, in_modes=None, out_modes=None, max_rank=None, eps=None):
        """A TTLinear approximating ``layer`` by TT-SVD (:func:`tnnlib.ttm.ttm_svd`).

        Parameters
        ----------
        layer : nn.Linear
        in_modes, out_modes : sequences of d ints, optional
            Default: balanced factorisations (:func:`tnnlib.nn.base.auto_modes`).
        max_rank : int or sequence of d-1 ints, optional
            Cap on the TT ranks (an int is also capped at the largest useful ranks;
            a sequence is checked against them).
        eps : float in [0, 1), optional
            Relative error target ``||W - W_tt||_F <= eps ||W||_F``.
            With neither, the TT is exact (full ranks).

        The SVDs run in float64 (float32 on a GPU), whatever the layer's
        dtype; the cores are cast back to it. The bias is copied.
        """
        where = "TTLinear.from_dense"
        weight, bias = dense_parts(layer, where=where)
        in_modes, out_modes = linear_modes(layer.in_features, layer.out_features, in_modes=in_modes,
                                           out_modes=out_modes, where=where, same_order=True)
        max_rank = check_max_rank(max_rank, tt_rank_limits(out_modes=out_modes, in_modes=in_modes), where)
        eps = check_eps(eps, where)
        ttm = ttm_svd(working_copy(weight), out_modes=out_modes, in_modes=in_modes, max_rank=max_rank, eps=eps)
        new = cls(layer.in_features, layer.out_features, ttm.rank, in_modes=in_modes, out_modes=out_modes,
                  bias=bias is not None, device=weight.device, dtype=weight.dtype)
        with torch.no_grad():
            for param, core in zip(new.cores, ttm.cores):
                param.copy_(core)
            if bias is not None:
                new.bias.copy_(bias)
        return new

    def _describe(self) -> str:
        return f"in_modes={self.in_modes}, out_modes={self.out_modes}, rank={self.rank}"

    # -- planning and fast execution ----------------------------------------------
    @property
    def strategies(self):
        return tuple(strategy_name(g) for g in compositions(len(self.in_modes)))

    def _strategy_key(self, name):
        return parse_strategy(name, len(self.cores))

    def _name_of(self, key) -> str:
        return strategy_name(key)

    def candidates(self, batch_size: int) -> list:
        model = cost_model_for(self.cores[0].device.type)
        return [tt_candidate(out_modes=self.out_modes, in_modes=self.in_modes, rank=self.rank, groups=groups,
                             batch_size=batch_size, model=model)
                for groups in compositions(len(self.cores))]

    def chunk_rows(self, groups, device_type: str = "cpu") -> int | None:
        """Rows per block when contracting with ``groups`` (see :func:`tnnlib.nn.planning.chunk_rows`)."""
        return self._execution(groups, device_type)[0]

    def _execution(self, groups, device_type):
        """``(rows per block, states per row)`` for ``groups``, cached."""
        key = (tuple(groups), device_type)
        if key not in self._chunks:
            shape = dict(out_modes=self.out_modes, in_modes=self.in_modes, rank=self.rank, groups=groups)
            rows = chunk_rows(intermediate_per_row(**shape), cost_model_for(device_type).chunk_elements)
            self._chunks[key] = rows, states_per_row(**shape)
        return self._chunks[key]

    def merged_cores(self, groups) -> list:
        """The cores merged group by group (``groups`` = sizes, e.g. ``(2, 2)``)."""
        cores, merged, k = list(self.cores), [], 0       # (slicing a ParameterList would copy the parameters)
        for g in groups:
            merged.append(merge_cores(cores[k:k + g]))
            k += g
        return merged

    def _forward(self, x, groups):
        if len(groups) == 1:  # "dense": rebuild W, then one fused product with the bias (as nn.Linear)
            return nn.functional.linear(x, self.dense_weight(), self.bias)
        graph = graph_mode()
        if graph:
            return contract_groups(x, self.merged_cores(groups), self.bias, None, graph)
        rows, per_row = self._execution(groups, x.device.type)
        keep = keep_states(per_row, x.shape[0], rows, cost_model_for(x.device.type).keep_elements)
        return contract_groups(x, self.merged_cores(groups), self.bias, rows, graph, keep)


# ---------------------------------------------------------------------------
# TT ranks
# ---------------------------------------------------------------------------

def tt_rank_limits(*, out_modes, in_modes) -> tuple:
    """The largest useful rank of each inner bond: ``min(prod_{m<=k} i_m j_m, prod_{m>k} i_m j_m)``.

    A larger bond cannot represent anything more (the unfolding of ``W`` at
    that bond has no higher rank).

    >>> tt_rank_limits(out_modes=(4, 8, 8, 4), in_modes=(4, 8, 8, 4))
    (16, 1024, 16)
    """
    sizes = [i * j for i, j in zip(out_modes, in_modes)]
    return tuple(min(math.prod(sizes[:k]), math.prod(sizes[k:])) for k in range(1, len(sizes)))


def tt_rank(rank, *, out_modes, in_modes, where: str) -> tuple:
    """``(1, r_1, ..., r_{d-1}, 1)`` from an int (capped at :func:`tt_rank_limits`), the d-1 inner
    ranks or all d+1 (checked against the limits)."""
    d = len(out_modes)
    limits = tt_rank_limits(out_modes=out_modes, in_modes=in_modes)
    if is_int(rank):
        check_positive_int(rank, "rank", where)
    elif not isinstance(rank, (str, bytes)) and hasattr(rank, "__len__"):
        rank = tuple(rank)
        if len(rank) == d + 1:
            if not (is_int(rank[0]) and is_int(rank[-1]) and rank[0] == 1 and rank[-1] == 1):
                raise ValueError(f"{where}: rank with d+1 = {d + 1} entries must start and end with 1, got {rank}")
            rank = rank[1:-1]
        elif len(rank) != d - 1:
            raise ValueError(f"{where}: a TT-matrix with d = {d} cores needs an int, d-1 = {d - 1} inner ranks or "
                             f"d+1 = {d + 1} ranks (1, ..., 1), got {len(rank)}: {rank}")
    return (1,) + (check_rank(rank, limits, where) if d > 1 else ()) + (1,)


# ---------------------------------------------------------------------------
# Fast execution: merged groups of cores, contracted in blocks of rows
# ---------------------------------------------------------------------------

def merge_cores(cores) -> torch.Tensor:
    """Merge neighbouring TT-matrix cores into one.

    Shapes: cores ``(r_0, i_1, j_1, r_1), ..., (r_{g-1}, i_g, j_g, r_g)`` ->
    ``(r_0, i_1 ... i_g, j_1 ... j_g, r_g)``. One pair at a time: sum over the
    shared bond (a matrix product), then bring the output modes together and
    the input modes together (a permutation).
    """
    merged = cores[0]
    for core in cores[1:]:
        r0, I, J, r1 = merged.shape
        _, i, j, r2 = core.shape
        pair = merged.reshape(r0 * I * J, r1) @ core.reshape(r1, i * j * r2)       # (r0, I, J, i, j, r2)
        merged = pair.reshape(r0, I, J, i, j, r2).permute(0, 1, 3, 2, 4, 5).reshape(r0, I * i, J * j, r2)
    return merged


def contract_chunk(x: torch.Tensor, merged, graph: bool | None = None) -> torch.Tensor:
    """``x W^T`` for one block of rows, ``W`` given as a chain of (merged) cores; ``W`` is never formed.

    Parameters
    ----------
    x : tensor, shape (B, N)
    merged : list of tensors ``(r_start, I_g, J_g, r_end)``, the chain's groups
        (``prod I_g = M``, ``prod J_g = N``, first ``r_start`` and last ``r_end`` 1)

    Returns
    -------
    tensor, shape (B, M)

    Algorithm. The state is a 3-index tensor ``(P, K, Q)``: ``K`` = what the
    next group contracts (its input modes and its right bond), ``P`` = the
    input modes not contracted yet, ``Q`` = the output modes produced so far;
    the batch index rides along in front of ``P`` or at the end of ``Q``
    (below). For the groups from last to first: view the state as
    ``(P, J_g r_end, Q)`` and apply the group's matrix
    ``(r_start I_g, J_g r_end)`` to the middle index
    (:func:`~tnnlib.nn.base.apply_to_middle`: one matrix product, batched
    over ``P``). The result ``(P, r_start I_g, Q)`` is already laid out for
    the next group: its middle index begins with ``r_start``, which the
    previous group contracts together with its input modes, the last of the
    ``P`` indices. No transpose is ever needed.

    Where the batch goes: with at most two groups, in front (start from
    ``x`` = ``(B J_1 .., J_d)``; the last product is batched over the rows
    and leaves ``y`` in place, ``(B, I_1, I_2 ..)``). With three or more, at
    the end (start from ``x^T``, a view; the middle products then have the
    batch among their columns, ``Q = I_{g+1}.. B``, instead of many tiny
    products, one per row; ``y^T`` comes out, a transposed view).
    """
    return _run_chain(x, merged, None, graph)


def _run_chain(x, merged, states, graph=None, last: bool = True, scratch: dict | None = None, out=None):
    """:func:`contract_chunk`; if ``states`` is a list, the input ``(P, K, Q)`` of every step is appended to it
    (``last=False``: only the states, the last step is not run and None is returned).

    Without gradients only: ``scratch`` (a dict) reuses the intermediates' memory from block to block
    (:func:`_scratch`); ``out`` receives the result of a batch-first chain, ``(B, M)`` contiguous.
    """
    batch, rest_in = x.shape
    batch_first = len(merged) <= 2
    state, produced = (x if batch_first else x.t()), 1
    for step, core in enumerate(reversed(merged)):
        r0, I, J, r1 = core.shape
        rest_in //= J
        if batch_first:
            state = state.reshape(batch * rest_in, J * r1, produced)                 # (B P, J r1, Q)
        else:
            state = state.reshape(rest_in, J * r1, produced * batch)                 # (P, J r1, Q B)
        if states is not None:
            states.append(state)
            if not last and step == len(merged) - 1:
                return None
        matrix = core.reshape(r0 * I, J * r1)
        if step < len(merged) - 1:
            buffer = _scratch(scratch, step, (state.shape[0], r0 * I, state.shape[2]), x)
        else:
            buffer = out if batch_first else None
        state = _product(matrix, state, buffer, graph)                                # (.., r0 I, ..)
        produced *= I
    return state.reshape(batch, produced) if batch_first else state.reshape(produced, batch).t()


def _scratch(scratch: dict | None, key, shape, like):
    """A tensor of ``shape`` whose memory is reused for ``key`` from one block of rows to the next (a new
    one if ``scratch`` is None): intermediates that stay in the cache instead of fresh memory each block."""
    if scratch is None:
        return None
    size = math.prod(shape)
    flat = scratch.get(key)
    if flat is None or flat.numel() < size:
        flat = scratch[key] = like.new_empty(size)
    return flat[:size].view(shape)


def _product(matrix, state, out, graph=None):
    """:func:`~tnnlib.nn.base.apply_to_middle`, into ``out`` ``(P, R, Q)`` when given (no gradients)."""
    P, K, Q = state.shape
    R = matrix.shape[0]
    kind = step_kind(P, Q)
    if out is None or kind == "permute":
        return apply_to_middle(matrix, state, graph)
    if kind == "bmm":
        return torch.bmm(matrix.expand(P, R, K), state, out=out.view(P, R, Q))
    if P == 1:
        return torch.mm(matrix, state[0], out=out.view(R, Q)).view(1, R, Q)
    return torch.mm(state.reshape(P, K), matrix.t(), out=out.view(P, R)).view(P, R, 1)


def _chain_backward(grad_y, merged, states, grads, need_input: bool, scratch: dict | None = None):
    """Backward of :func:`_run_chain` for one block: add the cores' gradients to ``grads`` (transposed
    matrices ``(J r_end, r_start I)``, or None) and return the input's gradient (or None).

    Step ``s`` computed ``out[p] = A @ S[p]`` (``A`` the group's matrix ``(R, K)``, ``S`` its input
    ``(P, K, Q)``); its backward is ``dA += sum_p dout[p] @ S[p]^T`` and ``dS[p] = A^T @ dout[p]``,
    each as one matrix product where ``P`` or ``Q`` is 1 (the steps of two groups mostly are), else as
    :func:`_sum_of_products` and a batched product. ``scratch``: see :func:`_scratch` (the input's
    gradient is never in it).
    """
    batch, M = grad_y.shape
    batch_first = len(merged) <= 2
    g = grad_y if batch_first else grad_y.t()
    n = len(merged)
    for s in reversed(range(n)):                      # the steps in reverse; step s used merged[n - 1 - s]
        k = n - 1 - s
        core, S = merged[k], states[s]
        P, K, Q = S.shape
        R = core.shape[0] * core.shape[1]
        dout = g.reshape(P, R, Q)
        A = core.reshape(R, K)
        if grads[k] is not None:
            _sum_of_products(grads[k], dout, S)
        if s == 0 and not need_input:
            return None
        if Q == 1:
            g = dout.reshape(P, R) @ A                                             # (P, K)
        elif P == 1:
            g = A.t() @ dout[0]                                                   # (K, Q)
        elif step_kind(P, Q) == "bmm":                # (not matmul: it would fold P into the rows, transposed)
            buffer = _scratch(scratch, ("grad", s), (P, K, Q), g) if s > 0 else None
            g = torch.bmm(A.t().contiguous().expand(P, K, R), dout, out=buffer)    # (P, K, Q), contiguous
        else:                                                                     # many tiny products
            g = (A.t() @ dout.transpose(0, 1).reshape(R, P * Q)).reshape(K, P, Q).transpose(0, 1)
    N = S.shape[0] * S.shape[1] * S.shape[2] // batch
    return g.reshape(batch, N) if batch_first else g.reshape(N, batch).t()


def _sum_of_products(acc, dout, S) -> None:
    """``acc += sum_p S[p] @ dout[p]^T`` (shapes ``(K, R)``, ``(P, R, Q)``, ``(P, K, Q)``), in place: the
    transposed gradient of a step's matrix (BLAS runs this orientation faster on the course's CPU).
    ``acc`` in float32 for half-precision inputs: one rounding per block, summed in float32.

    One product where ``P`` or ``Q`` is 1; a few large ones (``P <= 64``) one after the other, accumulated
    in place; else one product after copying both to ``(P Q, .)`` or a batched product and a sum,
    whichever moves fewer elements.
    """
    P, R, Q = dout.shape
    K = S.shape[1]
    if acc.dtype != dout.dtype:                     # half precision: each block's sum rounded once, then added
        if Q == 1 or P == 1:
            acc.add_(S.reshape(P, K).t() @ dout.reshape(P, R) if Q == 1 else S[0] @ dout[0].t())
        else:
            acc.add_(torch.bmm(S, dout.transpose(1, 2)).sum(0, dtype=acc.dtype))
    elif Q == 1:
        acc.addmm_(S.reshape(P, K).t(), dout.reshape(P, R))
    elif P == 1:
        acc.addmm_(S[0], dout[0].t())
    elif P <= 64 and R * K * Q >= 2 ** 15:
        for p in range(P):
            acc.addmm_(S[p], dout[p].t())
    elif Q * (R + K) <= R * K:
        acc.addmm_(S.transpose(1, 2).reshape(P * Q, K).t(), dout.transpose(1, 2).reshape(P * Q, R))
    else:
        acc.add_(torch.bmm(S, dout.transpose(1, 2)).sum(0))


def _autocast(x) -> bool:
    """Whether autocast is on for ``x``'s device (products then change dtype: no reused buffers)."""
    return torch.is_autocast_enabled(x.device.type)


def _blocks(x, merged, rows: int, states=None):
    """``x W^T`` (``x`` (B, N)) by :func:`_run_chain`, ``rows`` rows at a time, into one result ``(B, M)``;
    without gradients. The intermediates reuse their memory from block to block unless ``states`` (a list)
    keeps them."""
    y, scratch = None, None if states is not None or _autocast(x) else {}
    for start in range(0, x.shape[0], rows):
        target = None if y is None or scratch is None else y[start:start + rows]
        block = _run_chain(x[start:start + rows], merged, states, scratch=scratch, out=target)
        if y is None:
            y = block.new_empty(x.shape[0], block.shape[1])          # (the result's dtype, under autocast too)
        if target is None or block.data_ptr() != target.data_ptr():
            y[start:start + rows] = block
    return y


class GroupedContraction(torch.autograd.Function):
    """``x W^T`` by :func:`contract_chunk`, block by block, with a backward pass of its own.

    Autograd through the blocks would keep every block's intermediate states (``r`` times the input,
    for two halves) and then run many small products. This function keeps only ``x`` and the merged
    cores (``keep=False``) and in the backward pass recomputes one block's states at a time (one extra
    forward product per step but the last), then computes the gradients of that block, each as one
    large product (:func:`_chain_backward`); ``keep=True`` keeps the states instead (no recomputation,
    more memory). First-order gradients only (``once_differentiable``).

    ``apply(x, rows, keep, *merged)``: ``x`` (B, N); ``rows`` rows per block or None (one block).
    """

    @staticmethod
    def forward(ctx, x, rows, keep, *merged):
        batch = x.shape[0]
        single = rows is None or rows >= batch                              # one block
        rows = max(1, batch if single else rows)
        ctx.rows, ctx.single, ctx.keep, ctx.n = rows, single, keep, len(merged)
        states = [] if keep else None
        if single:
            y = _run_chain(x, merged, states).contiguous()
        else:
            y = _blocks(x, merged, rows, states)
        ctx.save_for_backward(x, *merged, *(states or ()))
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y):
        saved, n, rows = ctx.saved_tensors, ctx.n, ctx.rows
        x, merged, kept = saved[0], saved[1:1 + n], saved[1 + n:]
        need_input = ctx.needs_input_grad[0]
        wide = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype    # accumulate in
        grads = [x.new_zeros(c.shape[2] * c.shape[3], c.shape[0] * c.shape[1], dtype=wide)   # float32 at least
                 if ctx.needs_input_grad[3 + k] else None for k, c in enumerate(merged)]  # transposed: (J r1, r0 I)
        grad_x = torch.empty_like(x) if need_input and not ctx.single else None
        if x.shape[0] == 0:
            grad_x = torch.zeros_like(x) if need_input else None
        scratch = None if ctx.single or _autocast(x) else {}
        for block, start in enumerate(range(0, x.shape[0], rows)):
            if ctx.keep:
                states = kept[block * n:(block + 1) * n]
            else:                                                       # recompute this block's states
                states = []
                _run_chain(x[start:start + rows], merged, states, last=False, scratch=scratch)
            g = _chain_backward(grad_y[start:start + rows].contiguous(), merged, states, grads, need_input, scratch)
            if ctx.single:
                grad_x = g
            elif need_input:
                grad_x[start:start + rows] = g
        return (grad_x, None, None) + tuple(None if g is None else g.t().reshape(c.shape).to(c.dtype)
                                            for g, c in zip(grads, merged))


def contract_groups(x: torch.Tensor, merged, bias: torch.Tensor | None = None, chunk_rows: int | None = None,
                    graph: bool | None = None, keep: bool = True):
    """``y = x W^T + b`` by :func:`contract_chunk`, ``chunk_rows`` rows at a time.

    Why chunks: flops are not time. The intermediate states carry a rank
    index and are many times larger than ``x`` (``r`` times, for two halves);
    for a large batch they no longer fit in the CPU's cache, and the products
    then wait for memory. Cutting the batch into blocks whose intermediates
    fit in the cache does the same flops in about half the time (4096 x 4096,
    rank 16, batch 512, two halves, on the course's 2-core CPU: 95 ms in one
    piece, 50 ms in blocks of 32 rows; ``nn.Linear``: 80 ms). Without
    gradients the blocks' intermediates reuse one buffer (:func:`_blocks`).

    When a gradient is needed (and no graph is being recorded) the blocks run
    in :class:`GroupedContraction`: ``keep=False`` makes its backward pass
    recompute one block's intermediates at a time instead of keeping them
    all (the layer decides with :func:`tnnlib.nn.planning.keep_states`).

    Shapes: ``x`` (B, N), ``bias`` (M,) or None -> (B, M), contiguous. Under
    autocast the bias is cast to the result's dtype, as ``nn.Linear`` does.
    ``graph``: :func:`~tnnlib.nn.base.graph_mode`, if the caller knows it already.
    """
    graph = graph_mode() if graph is None else graph
    if (not graph and torch.is_grad_enabled()
            and (x.requires_grad or any(m.requires_grad for m in merged))):
        device = x.device.type
        if torch.is_autocast_enabled(device):       # as autocast runs products: in its dtype (differentiable casts)
            dtype = torch.get_autocast_dtype(device)
            with torch.autocast(device, enabled=False):
                y = GroupedContraction.apply(x.to(dtype), chunk_rows, keep, *(m.to(dtype) for m in merged))
        else:
            y = GroupedContraction.apply(x, chunk_rows, keep, *merged)
    elif chunk_rows is None or chunk_rows >= x.shape[0]:
        y = contract_chunk(x, merged, graph).contiguous()
    elif torch.is_grad_enabled() and not graph:                     # (gradients for none of the inputs)
        y = torch.cat([contract_chunk(chunk, merged, graph) for chunk in x.split(chunk_rows)])
    else:
        y = _blocks(x, merged, chunk_rows)
    return y if bias is None else y + bias.to(y.dtype)
