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
slices: ``d - 1`` small batched products per row, and the ``V x D`` table is
never built. The vocabulary may be padded: ``prod(voc_modes) >= V``, the extra
rows are never looked up.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .base import check_modes, working_copy
from .init import normal_, tt_core_std
from .planning import LayerCost
from .tt_linear import _tt_ranks, merge_cores


def multi_index(indices: torch.Tensor, modes) -> list:
    """Digits of ``indices`` in the mixed radix ``modes`` (C order: the first digit is the most significant)."""
    digits, rest = [], indices
    for n in reversed(modes):
        digits.append(rest % n)
        rest = torch.div(rest, n, rounding_mode="floor")
    return digits[::-1]


class TTEmbedding(nn.Module):
    """Embedding table in TT-matrix format (Hrinchuk et al. 2019, arXiv:1901.10787).

    Parameters
    ----------
    num_embeddings, embedding_dim : int
    voc_modes : sequence of d ints, product ``>= num_embeddings``
    emb_modes : sequence of d ints, product ``== embedding_dim``
    ranks : int, d-1 inner ranks, or d+1 ranks ``(1, ..., 1)``
    device, dtype

    Attributes
    ----------
    cores : ParameterList, ``cores[k]`` of shape ``(r_k, v_{k+1}, e_{k+1}, r_{k+1})``

    Shapes: integer indices ``(*)`` -> ``(*, embedding_dim)``, like ``nn.Embedding``.
    (No ``padding_idx``, ``max_norm`` or sparse gradients.)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, voc_modes, emb_modes, ranks,
                 device=None, dtype=None):
        super().__init__()
        voc_modes = check_modes(voc_modes, None, "voc_modes", "TTEmbedding")
        emb_modes = check_modes(emb_modes, embedding_dim, "emb_modes", "TTEmbedding")
        if len(voc_modes) != len(emb_modes):
            raise ValueError(f"TTEmbedding: voc_modes {voc_modes} and emb_modes {emb_modes} need the same length")
        if math.prod(voc_modes) < num_embeddings:
            raise ValueError(f"TTEmbedding: voc_modes {voc_modes} give {math.prod(voc_modes)} rows, fewer than "
                             f"num_embeddings = {num_embeddings}")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.voc_modes, self.emb_modes = voc_modes, emb_modes
        self.ranks = _tt_ranks(ranks, len(voc_modes))
        self.cores = nn.ParameterList(
            nn.Parameter(torch.empty(self.ranks[k], v, e, self.ranks[k + 1], device=device, dtype=dtype))
            for k, (v, e) in enumerate(zip(voc_modes, emb_modes)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Like ``nn.Embedding`` (entries of std 1): cores ``N(0, s^2)``, ``s = (prod r_k)^(-1/(2d))``."""
        normal_(self.cores, tt_core_std(1.0, self.ranks))

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        """Rows ``indices`` (any shape, integers in ``[0, num_embeddings)``) -> ``(*indices.shape, D)``.

        For each row: gather ``G_k[:, n_k]`` of shape ``(r_{k-1}, e_k, r_k)``
        for every core, then multiply left to right; the partial product of
        cores 1..k has shape ``(e_1 ... e_k, r_k)``, and each step is one
        batched product over the rows, ``(L, E, r) @ (L, r, e r') ``.
        """
        if indices.dtype.is_floating_point or indices.dtype.is_complex:
            raise TypeError(f"TTEmbedding expects integer indices, got {indices.dtype}")
        flat = indices.reshape(-1)
        if flat.numel() and (flat.min() < 0 or flat.max() >= self.num_embeddings):
            raise IndexError(f"TTEmbedding: indices must be in [0, {self.num_embeddings}), got "
                             f"[{flat.min().item()}, {flat.max().item()}]")
        digits = multi_index(flat, self.voc_modes)
        rows = None
        for core, digit in zip(self.cores, digits):
            r0, _, e, r1 = core.shape
            piece = core.permute(1, 0, 2, 3)[digit]                   # (L, r0, e, r1)
            if rows is None:
                rows = piece.reshape(-1, e, r1)                        # r0 = 1: (L, e_1, r_1)
            else:
                rows = torch.bmm(rows, piece.reshape(-1, r0, e * r1)).reshape(flat.shape[0], -1, r1)
        return rows.reshape(*indices.shape, self.embedding_dim)

    def full_table(self) -> torch.Tensor:
        """The table ``(num_embeddings, embedding_dim)`` (builds all ``prod(voc_modes)`` rows)."""
        table = merge_cores(list(self.cores)).reshape(math.prod(self.voc_modes), self.embedding_dim)
        return table[: self.num_embeddings]

    @torch.no_grad()
    def to_dense(self) -> nn.Embedding:
        """The equivalent ``nn.Embedding`` (same device and dtype)."""
        p = self.cores[0]
        layer = nn.Embedding(self.num_embeddings, self.embedding_dim, device=p.device, dtype=p.dtype)
        layer.weight.copy_(self.full_table())
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
        for k, (e, r0, r1) in enumerate(zip(self.emb_modes, self.ranks[:-1], self.ranks[1:])):
            kept += batch_size * r0 * e * r1                         # the gathered slice
            if k > 0:
                flops += 2 * batch_size * E * r0 * e * r1
                kept += batch_size * E * r0                          # the partial product it multiplies
            E *= e
        p = self.cores[0]
        return LayerCost(batch_size, "gather", self.weight_parameters(), flops, kept,
                         self.num_embeddings * self.embedding_dim, 0, 0, p.element_size())

    def extra_repr(self) -> str:
        return (f"{self.num_embeddings}, {self.embedding_dim}, voc_modes={self.voc_modes}, "
                f"emb_modes={self.emb_modes}, ranks={self.ranks}, params={self.weight_parameters():,} "
                f"(compression {self.compression:.1f}x)")

    @classmethod
    def from_dense(cls, embedding: nn.Embedding, voc_modes=None, emb_modes=None, max_rank=None, eps=None, d=None):
        """TT-SVD of the table (:func:`tnnlib.ttm.ttm_svd`), padded with zero rows to ``prod(voc_modes)``.

        Default modes: ``emb_modes`` a balanced split of ``embedding_dim`` and
        ``voc_modes`` a balanced split of the smallest size ``>= num_embeddings``
        that splits into as many factors.
        """
        from ..ttm import factorize_dim, ttm_svd
        from .base import auto_modes, default_order

        if not isinstance(embedding, nn.Embedding):
            raise TypeError(f"expected an nn.Embedding, got {type(embedding).__name__}")
        V, D = embedding.num_embeddings, embedding.embedding_dim
        if emb_modes is None:
            emb_modes = auto_modes(D, D, d or default_order(max(V, D)))[0]
        if voc_modes is None:
            k = len(emb_modes)
            padded = next(n for n in range(V, 2 * V + 2 ** (k + 1)) if _splits(n, k, factorize_dim))
            voc_modes = factorize_dim(padded, k) if k > 1 else (padded,)
        table = working_copy(embedding.weight)
        rows = math.prod(voc_modes)
        if rows > V:
            table = torch.cat([table, table.new_zeros(rows - V, D)])
        ttm = ttm_svd(table, emb_modes, voc_modes, max_rank=max_rank, eps=eps)
        new = cls(V, D, voc_modes, emb_modes, ttm.ranks, device=embedding.weight.device,
                  dtype=embedding.weight.dtype)
        with torch.no_grad():
            for param, core in zip(new.cores, ttm.cores):
                param.copy_(core)
        return new


def _splits(n: int, k: int, factorize_dim) -> bool:
    if k == 1:
        return True
    try:
        factorize_dim(n, k)
        return True
    except ValueError:
        return False
