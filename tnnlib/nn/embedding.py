"""TT embeddings: an ``nn.Embedding`` whose table is a TT-matrix, read row by row.

Hrinchuk, Khrulkov et al. 2019, "Tensorized Embedding Layers",
arXiv:1901.10787; TT-Rec (Yin et al. 2021, arXiv:2101.11714) for
recommendation models.

The table ``E`` of shape ``(V, D)`` (vocabulary x embedding size) is a
TT-matrix whose rows are split as ``V = v_1 ... v_d`` (``voc_modes``) and whose
columns as ``D = e_1 ... e_d`` (``emb_modes``); cores ``G_k`` have shape
``(r_{k-1}, v_k, e_k, r_k)``. Row ``n`` has the multi-index
``(n_1, ..., n_d)`` (C order: ``n = ((n_1 v_2 + n_2) v_3 + n_3) ...``) and

    E[n, (c_1..c_d)] = G_1[:, n_1, c_1, :] G_2[:, n_2, c_2, :] ... G_d[:, n_d, c_d, :].

A lookup gathers one slice ``G_k[:, n_k, :, :]`` per core and multiplies the
slices (:meth:`TTEmbedding.reference_forward`, core by core; ``forward`` does
the same with one batched product per core): ``d - 1`` small products per row,
and the ``V x D`` table is never built. The vocabulary may be padded:
``prod(voc_modes) >= V``, the extra rows are never looked up.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..ttm import ttm_svd
from ..validation import check_eps, check_max_rank, check_modes, check_positive_int, is_int
from .base import default_order, graph_mode, split_size, working_copy
from .init import normal_, tt_core_std
from .planning import LayerCost
from .tt_linear import merge_cores, tt_rank, tt_rank_limits


def multi_index(indices: torch.Tensor, modes) -> list:
    """Digits of ``indices`` in the mixed radix ``modes`` (C order: the first digit is the most significant)."""
    digits, rest = [], indices
    for n in reversed(modes):
        digits.append(rest % n)
        rest = torch.div(rest, n, rounding_mode="floor")
    return digits[::-1]


def embedding_modes(num_embeddings: int, embedding_dim: int, *, voc_modes, emb_modes, where: str):
    """``(voc_modes, emb_modes)``: given ones checked, missing ones chosen.

    ``emb_modes`` must multiply to ``embedding_dim``, ``voc_modes`` to at least
    ``num_embeddings``, both with the same number ``d`` of modes. Defaults:
    ``emb_modes`` a balanced split of ``embedding_dim`` (into ``len(voc_modes)``
    factors if those are given, else about one per factor of 8 of the larger
    size), ``voc_modes`` a balanced split of the smallest size
    ``>= num_embeddings`` that splits into as many factors.

    >>> embedding_modes(1000, 64, voc_modes=None, emb_modes=None, where="TTEmbedding")
    ((10, 10, 10), (4, 4, 4))
    """
    if voc_modes is not None:
        voc_modes = check_modes(voc_modes, None, "voc_modes", where)
    if emb_modes is not None:
        emb_modes = check_modes(emb_modes, embedding_dim, "emb_modes", where)
    elif voc_modes is not None:
        emb_modes = split_size(embedding_dim, len(voc_modes))
        if emb_modes is None:
            raise ValueError(f"{where}: embedding_dim {embedding_dim} cannot be split into {len(voc_modes)} modes "
                             f">= 2 to match voc_modes {voc_modes}; pass emb_modes too (a mode may be 1)")
    else:
        d = default_order(max(num_embeddings, embedding_dim))
        emb_modes = next(f for k in range(d, 0, -1) if (f := split_size(embedding_dim, k)) is not None)
    d = len(emb_modes)
    if voc_modes is None:
        padded = next(n for n in range(num_embeddings, 2 * num_embeddings + 2 ** (d + 1))
                      if d == 1 or split_size(n, d) is not None)
        voc_modes = split_size(padded, d)
    if len(voc_modes) != d:
        raise ValueError(f"{where}: voc_modes {voc_modes} and emb_modes {emb_modes} need the same length")
    if math.prod(voc_modes) < num_embeddings:
        raise ValueError(f"{where}: voc_modes {voc_modes} give {math.prod(voc_modes)} rows, fewer than "
                         f"num_embeddings = {num_embeddings}")
    return voc_modes, emb_modes


class TTEmbedding(nn.Module):
    """Embedding table in TT-matrix format (Hrinchuk et al. 2019, arXiv:1901.10787).

    :meth:`reference_forward` shows a lookup core by core; ``forward`` is the
    same, batched over the rows.

    Parameters
    ----------
    num_embeddings, embedding_dim : int
    rank : int, d-1 inner ranks, or d+1 ranks ``(1, ..., 1)``
        An int is capped at the largest useful TT ranks; a sequence is checked.
    voc_modes : sequence of d ints, keyword-only, product ``>= num_embeddings``, optional
    emb_modes : sequence of d ints, keyword-only, product ``== embedding_dim``, optional
        Defaults: see :func:`embedding_modes`.
    padding_idx : int, optional
        As ``nn.Embedding``'s: that row's output is zero and gets no gradient.
        The row cannot be zeroed in the cores (each core slice is shared by
        many rows), so the lookup masks it: the output rows of ``padding_idx``
        are set to zero after the products, which also stops their gradient.
        ``dense_weight()`` and ``to_dense()`` show that row as zeros.
    device, dtype

    Attributes
    ----------
    cores : ParameterList, ``cores[k]`` of shape ``(r_k, v_{k+1}, e_{k+1}, r_{k+1})``
    rank : tuple ``(1, r_1, ..., r_{d-1}, 1)``

    Shapes: integer indices ``(*)`` -> ``(*, embedding_dim)``, like ``nn.Embedding``.
    (No ``max_norm`` or sparse gradients.)

    >>> emb = TTEmbedding(1000, 64, 8, padding_idx=0)
    >>> emb.voc_modes, emb.emb_modes, emb.rank
    ((10, 10, 10), (4, 4, 4), (1, 8, 8, 1))
    >>> emb(torch.tensor([[0, 5]])).shape, bool(emb(torch.tensor([0])).eq(0).all())
    (torch.Size([1, 2, 64]), True)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, rank, *, voc_modes=None, emb_modes=None,
                 padding_idx: int | None = None, device=None, dtype=None):
        super().__init__()
        where = "TTEmbedding"
        self.num_embeddings = check_positive_int(num_embeddings, "num_embeddings", where)
        self.embedding_dim = check_positive_int(embedding_dim, "embedding_dim", where)
        self.voc_modes, self.emb_modes = embedding_modes(self.num_embeddings, self.embedding_dim,
                                                         voc_modes=voc_modes, emb_modes=emb_modes, where=where)
        self.padding_idx = _padding_idx(padding_idx, self.num_embeddings)
        self.rank = tt_rank(rank, out_modes=self.voc_modes, in_modes=self.emb_modes, where=where)
        self.cores = nn.ParameterList(
            nn.Parameter(torch.empty(self.rank[k], v, e, self.rank[k + 1], device=device, dtype=dtype))
            for k, (v, e) in enumerate(zip(self.voc_modes, self.emb_modes)))
        self.reset_parameters()

    def reference_forward(self, indices: torch.Tensor) -> torch.Tensor:
        """Rows ``indices`` the plain way: for every row, the product of one slice per core.

        ``rows`` holds, for each looked-up row, the product of the slices
        ``G_1[:, n_1] ... G_k[:, n_k]`` so far, shape ``(L, e_1 ... e_k, r_k)``.
        """
        flat = indices.reshape(-1)
        rows = self.cores[0].new_ones(flat.shape[0], 1, 1)                       # (L, 1, r_0 = 1)
        for core, digit in zip(self.cores, multi_index(flat, self.voc_modes)):
            piece = core[:, digit]                                                # (r_{k-1}, L, e_k, r_k)
            rows = torch.einsum("lxa,albc->lxbc", rows, piece).flatten(1, 2)      # (L, E e_k, r_k)
        out = rows.reshape(*indices.shape, self.embedding_dim)
        if self.padding_idx is not None:
            out = out.masked_fill((indices == self.padding_idx).unsqueeze(-1), 0)
        return out

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        """Rows ``indices`` (any shape, integers in ``[0, num_embeddings)``) -> ``(*indices.shape, D)``.

        For each row: gather ``G_k[:, n_k]`` of shape ``(r_{k-1}, e_k, r_k)``
        for every core, then multiply left to right; the partial product of
        cores 1..k has shape ``(e_1 ... e_k, r_k)``, and each step is one
        batched product over the rows, ``(L, E, r) @ (L, r, e r')``.
        """
        if indices.dtype.is_floating_point or indices.dtype.is_complex:
            raise TypeError(f"TTEmbedding expects integer indices, got {indices.dtype}")
        flat = indices.reshape(-1)
        L = flat.shape[0]
        if flat.numel() and flat.device.type != "meta" and not graph_mode() and (
                flat.min() < 0 or flat.max() >= self.num_embeddings):
            raise IndexError(f"TTEmbedding: indices must be in [0, {self.num_embeddings}), got "
                             f"[{flat.min().item()}, {flat.max().item()}]")
        rows, E = None, 1
        for core, digit in zip(self.cores, multi_index(flat, self.voc_modes)):
            r0, _, e, r1 = core.shape
            piece = core.permute(1, 0, 2, 3)[digit]                   # (L, r0, e, r1)
            if rows is None:
                rows = piece.reshape(L, e, r1)                         # r0 = 1: (L, e_1, r_1)
            else:
                rows = torch.bmm(rows, piece.reshape(L, r0, e * r1)).reshape(L, E * e, r1)
            E *= e
        out = rows.reshape(*indices.shape, self.embedding_dim)
        if self.padding_idx is not None:
            out = out.masked_fill((indices == self.padding_idx).unsqueeze(-1), 0)
        return out

    def dense_weight(self) -> torch.Tensor:
        """The table ``(num_embeddings, embedding_dim)`` (builds all ``prod(voc_modes)`` rows; differentiable).

        The ``padding_idx`` row is zero, as the lookup returns it.
        """
        table = merge_cores(list(self.cores)).reshape(math.prod(self.voc_modes), self.embedding_dim)
        table = table[: self.num_embeddings]
        if self.padding_idx is not None:
            table = table.index_fill(0, torch.tensor([self.padding_idx], device=table.device), 0)
        return table

    def reset_parameters(self) -> None:
        """Like ``nn.Embedding`` (entries of std 1): cores ``N(0, s^2)``, ``s = (prod r_k)^(-1/(2d))``."""
        normal_(self.cores, tt_core_std(1.0, self.rank))

    @torch.no_grad()
    def to_dense(self) -> nn.Embedding:
        """The equivalent ``nn.Embedding`` (same device, dtype and ``padding_idx``)."""
        p = self.cores[0]
        layer = nn.Embedding(self.num_embeddings, self.embedding_dim, padding_idx=self.padding_idx,
                             device=p.device, dtype=p.dtype)
        layer.weight.copy_(self.dense_weight())
        return layer

    def weight_parameters(self) -> int:
        return sum(p.numel() for p in self.cores)

    @property
    def compression(self) -> float:
        return self.num_embeddings * self.embedding_dim / self.weight_parameters()

    def cost(self, batch_size: int) -> LayerCost:
        """Lookup of ``batch_size`` rows: flops of the slice products and the gathered slices and
        partial products kept; the dense table costs no flops and keeps nothing but indices."""
        flops, kept, E = 0, 0, 1
        for k, (e, r0, r1) in enumerate(zip(self.emb_modes, self.rank[:-1], self.rank[1:])):
            kept += batch_size * r0 * e * r1                         # the gathered slice
            if k > 0:
                flops += 2 * batch_size * E * r0 * e * r1
                kept += batch_size * E * r0                          # the partial product it multiplies
            E *= e
        p = self.cores[0]
        return LayerCost(batch_size, "gather", self.weight_parameters(), flops, kept,
                         self.num_embeddings * self.embedding_dim, 0, 0, p.element_size())

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return (f"{self.num_embeddings}, {self.embedding_dim}, voc_modes={self.voc_modes}, "
                f"emb_modes={self.emb_modes}, rank={self.rank}{pad}, params={self.weight_parameters():,} "
                f"(compression {self.compression:.1f}x)")

    @classmethod
    def from_dense(cls, embedding: nn.Embedding, *, in_modes=None, out_modes=None, max_rank=None, eps=None):
        """TT-SVD of the table (:func:`tnnlib.ttm.ttm_svd`), padded with zero rows to ``prod(voc_modes)``.

        The keywords are those of every linear format's ``from_dense``, so that
        :func:`~tnnlib.nn.tensorize` treats all alike: an embedding maps an
        index (the input side) to a vector (the output side), so
        ``in_modes`` are the ``voc_modes`` and ``out_modes`` the
        ``emb_modes``. Defaults: :func:`embedding_modes`. ``max_rank`` (int,
        capped, or d-1 ints, checked) and ``eps`` as for
        :meth:`tnnlib.nn.TTLinear.from_dense`. ``padding_idx`` is kept.
        """
        where = "TTEmbedding.from_dense"
        if not isinstance(embedding, nn.Embedding):
            raise TypeError(f"{where}: expected an nn.Embedding, got {type(embedding).__name__}")
        V, D = embedding.num_embeddings, embedding.embedding_dim
        voc_modes, emb_modes = embedding_modes(V, D, voc_modes=in_modes, emb_modes=out_modes, where=where)
        max_rank = check_max_rank(max_rank, tt_rank_limits(out_modes=voc_modes, in_modes=emb_modes), where)
        table = working_copy(embedding.weight)
        rows = math.prod(voc_modes)
        if rows > V:
            table = torch.cat([table, table.new_zeros(rows - V, D)])
        ttm = ttm_svd(table, out_modes=voc_modes, in_modes=emb_modes, max_rank=max_rank, eps=check_eps(eps, where))
        new = cls(V, D, ttm.rank, voc_modes=voc_modes, emb_modes=emb_modes, padding_idx=embedding.padding_idx,
                  device=embedding.weight.device, dtype=embedding.weight.dtype)
        with torch.no_grad():
            for param, core in zip(new.cores, ttm.cores):
                param.copy_(core)
        return new


def _padding_idx(padding_idx, num_embeddings: int):
    """``nn.Embedding``'s rule: an int in ``[-num_embeddings, num_embeddings)``, a negative one counted from
    the end; ``None`` for no padding row."""
    if padding_idx is None:
        return None
    if not is_int(padding_idx):
        raise TypeError(f"TTEmbedding: padding_idx must be an int or None, got {padding_idx!r}")
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"TTEmbedding: padding_idx must be within [-{num_embeddings}, {num_embeddings}), "
                         f"got {padding_idx}")
    return int(padding_idx) % num_embeddings
