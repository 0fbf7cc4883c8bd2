"""Contraction planning: price every way to evaluate a layer, run the cheapest.

A tensorized layer computes ``y = x W^T`` without storing ``W``; the same
numbers can be contracted in many orders (the "stack view" of a tensor
network), and their costs differ by orders of magnitude. For a TT-matrix layer
(cores ``G_k`` of shape ``(r_{k-1}, i_k, j_k, r_k)``) this module considers one
simple family that contains the classic choices:

    cut the chain of d cores into contiguous groups, merge the cores of each
    group into one bigger core, then contract the input with the merged cores,
    one group at a time, from the last group to the first.

With 4 cores there are 2^3 = 8 ways to cut the chain:

* ``(1, 1, 1, 1)``, "sequential": core by core (Novikov et al. 2015,
  arXiv:1509.06569). Cheap at batch 1, but its intermediates carry a rank
  index: at large batch it costs as much as the dense product, or more.
* ``(4,)``, "dense": rebuild ``W`` (about ``2 M N r`` flops, independent of
  the batch) then one matrix product. Wins when the batch is huge.
* ``(2, 2)``, "merge(2+2)": two halves, each an ``(r, sqrt(M), sqrt(N))``
  block; two big matrix products of ``2 B r N sqrt(M)`` flops each - about
  ``2 r / sqrt(M)`` of the dense cost. Usually the best at large batch.
* the rest, e.g. ``(1, 3)`` or ``(1, 2, 1)``, which are rarely best.

The cost model (:class:`CostModel`) prices a candidate in flop-equivalents:
its floating-point operations (2 per multiply-add; narrow products, with a
side below 64, are charged more, since BLAS runs them far below peak), plus
the elements it reads and writes, plus a fixed price per kernel call. Flops
alone are not time: counting flops only, the planner would contract a rank-4
4096 x 4096 layer at batch 512 core by core, which runs twice as slowly as
two halves. The constants were fitted on the course's 2-core CPU; the
benchmark ``python -m tnnlib.bench layers`` shows, for each point of its grid,
the chosen plan next to the fastest one measured. A layer asks
:func:`plan_tt` once per (batch-size bucket, device, dtype) and caches the
answer; the forward pass only looks the plan up.

The execution (:func:`~tnnlib.nn.tt_linear.contract_groups`) keeps the
intermediate result as a 3-index tensor ``(P, K, Q)`` whose middle index ``K``
is exactly what the next merged core contracts; a step is then one (batched)
matrix product (:func:`step_kind`) and needs no transpose. Two facts of real
machines shape the execution: the intermediates carry a rank index and
outgrow the cache at large batch, so on a CPU the batch is contracted in
blocks of rows (:func:`chunk_rows`); and a batched product of many tiny
matrices costs about a microsecond per matrix (:func:`step_kernels`), so the
batch index rides with the output modes when there are middle steps.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from itertools import combinations

# ---------------------------------------------------------------------------
# The cost model
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class CostModel:
    """Price of one contraction plan, in flop-equivalents (the time the flops would take).

    ``score = flops + element_flops * moved + kernel_flops * kernels``:

    * ``flops``: multiply-adds count 2. A product whose matrices have a side
      ``n`` below ``narrow`` (64) is charged ``narrow / n`` times its flops:
      BLAS runs such narrow products (``K = 8`` in a rank-4 core...) far
      below full speed;
    * ``moved``: elements read and written by the products and copies. A big
      square product does many flops per element it touches; the skinny
      products of a tensor network do few, and then memory, not arithmetic,
      sets the pace. Each element costs ``element_flops`` (8 on a CPU: fitted
      to timings on the 2-core course machine, where it is what separates,
      e.g., rebuilding ``W`` from two halves at 1024 x 1024, rank 16);
    * ``kernels``: each call (a product, a copy) has a fixed overhead
      (``kernel_flops`` = 5e5, i.e. a few microseconds).

    ``chunk_elements``: on a CPU, large batches are contracted in blocks of
    rows whose largest intermediate has at most this many elements (2^21
    floats = 8 MB, about a cache's worth), see :func:`chunk_rows`; ``None``
    (GPUs) contracts the whole batch at once.
    """

    element_flops: float = 8.0
    kernel_flops: float = 5e5
    chunk_elements: int | None = 2 ** 21
    narrow: int = 64

    def score(self, flops: int, moved: int, kernels: float) -> float:
        """``flops`` here are already the narrow-adjusted ones (:meth:`product_flops`)."""
        return flops + self.element_flops * moved + self.kernel_flops * kernels

    def product_flops(self, flops: int, *sides: int) -> float:
        """Flops of a product, charged ``narrow / n`` times more when its smallest side ``n`` is narrow."""
        return flops * max(1.0, self.narrow / max(1, min(sides)))


CPU_COST_MODEL = CostModel(element_flops=8.0, kernel_flops=5e5, chunk_elements=2 ** 21)
# A GPU: tens of Tflop/s, a few TB/s, a launch costs ~5 us (untested guesses, see the benchmark).
CUDA_COST_MODEL = CostModel(element_flops=8.0, kernel_flops=1e8, chunk_elements=None)


def cost_model_for(device_type: str) -> CostModel:
    """The cost model for a device type (``"cpu"``, ``"cuda"``, ...)."""
    return CUDA_COST_MODEL if device_type == "cuda" else CPU_COST_MODEL


@dataclass(frozen=True)
class Candidate:
    """One way to evaluate a layer for a given batch size.

    Attributes
    ----------
    name : str
        ``"dense"``, ``"sequential"``, ``"merge(2+2)"``, ``"factored"``...
    flops : int
        Floating-point operations of one forward pass (merging included).
    moved : int
        Elements read and written by its products and copies.
    kernels : int
        Kernel calls (matrix products and copies) of one forward pass.
    activations : int
        Elements kept for the backward pass: the input, every intermediate
        result a later product reads, and merged cores.
    score : float
        The cost model's price (lower is better).
    groups : tuple of int or None
        For TT layers: the sizes of the groups of neighbouring cores.
    work : float or None
        The flops as the cost model charges them (narrow products cost more,
        :meth:`CostModel.product_flops`); ``None``: the flops.
    """

    name: str
    flops: int
    moved: int
    kernels: int
    activations: int
    score: float = 0.0
    groups: tuple | None = None
    work: float | None = None


@dataclass(frozen=True)
class Plan:
    """The candidates for one batch size, cheapest first; ``chosen`` is the first."""

    batch_size: int
    candidates: tuple

    @property
    def chosen(self) -> Candidate:
        return self.candidates[0]

    @property
    def strategy(self) -> str:
        return self.chosen.name

    def rows(self) -> list:
        """The candidates as a list of dicts (for a table)."""
        return [{"strategy": c.name, "Mflop": c.flops / 1e6, "moved (M elements)": c.moved / 1e6,
                 "kernels": c.kernels, "score (Mflop-eq)": c.score / 1e6, "activations": c.activations,
                 "chosen": c is self.chosen} for c in self.candidates]

    def __str__(self):
        lines = [f"plan for batch {self.batch_size}: {self.strategy}",
                 f"   {'strategy':<16} {'Mflop':>11} {'M moved':>9} {'kernels':>7} {'score':>11} {'kept':>12}"]
        for c in self.candidates:
            mark = "*" if c is self.chosen else " "
            lines.append(f" {mark} {c.name:<16} {c.flops / 1e6:11.2f} {c.moved / 1e6:9.2f} {c.kernels:7d} "
                         f"{c.score / 1e6:11.2f} {c.activations:12,d}")
        return "\n".join(lines)


def make_plan(batch_size: int, candidates, model: CostModel = CPU_COST_MODEL) -> Plan:
    """Score the candidates with ``model`` and sort them, cheapest first (ties: fewer kernels)."""
    scored = [Candidate(c.name, c.flops, c.moved, c.kernels, c.activations,
                        model.score(c.flops if c.work is None else c.work, c.moved, c.kernels), c.groups, c.work)
              for c in candidates]
    return Plan(batch_size, tuple(sorted(scored, key=lambda c: (c.score, c.kernels))))


def batch_bucket(batch_size: int) -> int:
    """The smallest power of two ``>= batch_size``: plans are made and cached per bucket."""
    return 1 << max(0, int(batch_size) - 1).bit_length()


# ---------------------------------------------------------------------------
# Cost report of a layer
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerCost:
    """What a layer costs for one forward pass, next to its dense equivalent.

    ``params`` counts the weight's numbers only (the bias is the same in both);
    ``activations`` are elements kept for the backward pass, the layer's input
    included (a dense layer keeps just its input); bytes use ``element_bytes``.
    """

    batch_size: int
    strategy: str
    params: int
    flops: int
    activations: int
    dense_params: int
    dense_flops: int
    dense_activations: int
    element_bytes: int = 4

    @property
    def compression(self) -> float:
        """``dense_params / params``."""
        return self.dense_params / self.params

    @property
    def flop_ratio(self) -> float:
        """``flops / dense_flops`` (below 1: fewer operations than the dense layer; inf if the
        dense layer needs none, like a table lookup)."""
        return self.flops / self.dense_flops if self.dense_flops else math.inf

    @property
    def activation_bytes(self) -> int:
        return self.activations * self.element_bytes

    @property
    def dense_activation_bytes(self) -> int:
        return self.dense_activations * self.element_bytes

    def as_dict(self) -> dict:
        out = asdict(self)
        out.update(compression=self.compression, flop_ratio=self.flop_ratio,
                   activation_bytes=self.activation_bytes, dense_activation_bytes=self.dense_activation_bytes)
        return out

    def __str__(self):
        return (f"batch {self.batch_size}, strategy {self.strategy}\n"
                f"  parameters  {self.params:>14,d}  "
                f"(dense {self.dense_params:,d}: compression {self.compression:.1f}x)\n"
                f"  forward     {self.flops / 1e6:>14,.2f} Mflop (dense {self.dense_flops / 1e6:,.2f}: "
                f"ratio {self.flop_ratio:.3f})\n"
                f"  activations {self.activation_bytes / 2**20:>14,.2f} MiB  "
                f"(dense {self.dense_activation_bytes / 2**20:,.2f} MiB)")


def dense_linear_cost(in_features: int, out_features: int, batch_size: int):
    """``(params, flops, activations)`` of ``nn.Linear``: ``M N``, ``2 B M N``, its input ``B N``."""
    return in_features * out_features, 2 * batch_size * in_features * out_features, batch_size * in_features


# ---------------------------------------------------------------------------
# TT-matrix layers: groups of neighbouring cores
# ---------------------------------------------------------------------------

def compositions(d: int):
    """All ways to cut a chain of ``d`` cores into contiguous groups, as tuples of group sizes.

    There are ``2^(d-1)`` of them (choose which of the ``d-1`` bonds to cut):
    ``compositions(3) == [(3,), (1, 2), (2, 1), (1, 1, 1)]``.
    """
    out = []
    for n_cuts in range(d):
        for cuts in combinations(range(1, d), n_cuts):
            edges = (0,) + cuts + (d,)
            out.append(tuple(b - a for a, b in zip(edges, edges[1:])))
    return out


def strategy_name(groups) -> str:
    """``(4,)`` -> ``"dense"``, ``(1, 1, 1, 1)`` -> ``"sequential"``, ``(2, 2)`` -> ``"merge(2+2)"``."""
    groups = tuple(groups)
    if len(groups) == 1:
        return "dense"
    if all(g == 1 for g in groups):
        return "sequential"
    return "merge(" + "+".join(map(str, groups)) + ")"


def parse_strategy(strategy, d: int) -> tuple:
    """Group sizes from a strategy: a name (``"dense"``, ``"sequential"``, ``"merge(2+2)"``, ``"2+2"``)
    or a tuple of positive group sizes adding up to ``d``."""
    if isinstance(strategy, str):
        name = strategy.strip()
        if name == "dense":
            return (d,)
        if name == "sequential":
            return (1,) * d
        if name.startswith("merge(") and name.endswith(")"):
            name = name[len("merge("):-1]
        try:
            groups = tuple(int(g) for g in name.split("+"))
        except ValueError:
            raise ValueError(f"unknown strategy {strategy!r}: use 'auto', 'dense', 'sequential', "
                             f"'merge(a+b+...)' or a tuple of group sizes adding up to {d}") from None
    else:
        groups = tuple(int(g) for g in strategy)
    if not groups or any(g < 1 for g in groups) or sum(groups) != d:
        raise ValueError(f"strategy {strategy!r}: group sizes must be positive and add up to the "
                         f"number of cores d = {d}")
    return groups


def merged_shapes(*, out_modes, in_modes, rank, groups):
    """Shapes ``(r_start, I_group, J_group, r_end)`` of the merged cores of each group."""
    shapes, k = [], 0
    for g in groups:
        shapes.append((rank[k], math.prod(out_modes[k:k + g]), math.prod(in_modes[k:k + g]), rank[k + g]))
        k += g
    return shapes


def step_kind(P: int, Q: int) -> str:
    """How a contraction step ``(R, K) x (P, K, Q) -> (P, R, Q)`` is run.

    * ``"mm"``: one matrix product, when ``P == 1`` or ``Q == 1``;
    * ``"bmm"``: a batched product over ``P``, when each of its products is
      large enough (``Q >= 16``);
    * ``"permute"``: otherwise (many tiny products, which a CPU's batched
      product runs at about a microsecond each): copy the state to
      ``(K, P Q)``, one matrix product, copy back.
    """
    if P == 1 or Q == 1:
        return "mm"
    return "bmm" if Q >= 16 else "permute"


def step_kernels(kind: str, P: int) -> float:
    """Kernel calls of a step, for the cost model: a batched product of ``P`` matrices
    costs about ``P / 16`` calls more than one product."""
    return {"mm": 1, "permute": 3}.get(kind, 1 + P / 16)


def intermediate_per_row(*, out_modes, in_modes, rank, groups) -> int:
    """Elements per batch row of the largest intermediate state (0 for a single group)."""
    largest, rest_in, produced = 0, math.prod(in_modes), 1
    shapes = merged_shapes(out_modes=out_modes, in_modes=in_modes, rank=rank, groups=groups)
    for r0, I, J, _ in reversed(shapes[1:]):                        # every step but the last
        rest_in //= J
        produced *= I
        largest = max(largest, rest_in * r0 * produced)
    return largest


def chunk_rows(per_row: int, chunk_elements: int | None) -> int | None:
    """Rows per block so that an intermediate of ``per_row`` elements per row stays under
    ``chunk_elements`` (at least 8 rows; ``None``: no blocks)."""
    if chunk_elements is None or per_row == 0:
        return None
    return max(8, chunk_elements // per_row)


def tt_candidate(*, out_modes, in_modes, rank, groups, batch_size: int, model: CostModel = None) -> Candidate:
    """Flops, elements moved, kernel calls and kept activations of one grouping for ``batch_size`` rows.

    Merging a group, one core at a time: ``(r0, I, J, r1) x (r1, i, j, r2)``
    costs ``2 r0 I J r1 i j r2`` flops, a matrix product plus a copy (2 kernels);
    the copy is kept for the backward pass.

    Contracting: the state is ``(P, K, Q)`` with ``P`` = the input modes of
    the groups not done yet, ``K = J r_end`` the indices the group contracts
    and ``Q`` = the output modes done so far, the batch in front of ``P``
    (two groups or fewer) or at the end of ``Q``. A group costs
    ``2 P (r_start I) K Q`` flops, reads the state and writes the next one,
    takes one (batched) product per block of rows (:func:`chunk_rows`,
    :func:`step_kind`), and the state it reads is kept for the backward pass.
    Finally the blocks are joined and the bias added (two passes over ``y``).
    """
    model = model or CPU_COST_MODEL
    M, N = math.prod(out_modes), math.prod(in_modes)
    flops, work, moved, kernels, kept = 0, 0.0, 0, 0.0, batch_size * N   # the input is kept
    k = 0
    for g in groups:                                                  # merging
        r0, I, J = rank[k], out_modes[k], in_modes[k]
        for m in range(k + 1, k + g):
            i, j, r1, r2 = out_modes[m], in_modes[m], rank[m], rank[m + 1]
            flops += 2 * r0 * I * J * r1 * i * j * r2
            work += model.product_flops(2 * r0 * I * J * r1 * i * j * r2, r0 * I * J, r1, i * j * r2)
            moved += r0 * I * J * r1 + r1 * i * j * r2 + 3 * r0 * I * J * i * j * r2
            I, J = I * i, J * j
            kernels += 2
            kept += r0 * I * J * r2
        k += g
    rows = chunk_rows(intermediate_per_row(out_modes=out_modes, in_modes=in_modes, rank=rank, groups=groups),
                      model.chunk_elements)
    blocks = 1 if rows is None else math.ceil(batch_size / rows)
    rest_in, produced = N, 1
    block = batch_size if rows is None else min(rows, batch_size)
    batch_first = len(groups) <= 2                                    # see contract_chunk
    for r0, I, J, r1 in reversed(merged_shapes(out_modes=out_modes, in_modes=in_modes, rank=rank,
                                               groups=groups)):                      # contracting
        rest_in //= J
        before, after = batch_size * rest_in * J * r1 * produced, batch_size * rest_in * r0 * I * produced
        step = 2 * batch_size * rest_in * (r0 * I) * (J * r1) * produced
        flops += step
        work += model.product_flops(step, r0 * I, J * r1)
        P, Q = (block * rest_in, produced) if batch_first else (rest_in, produced * block)
        kind = step_kind(P, Q)
        moved += (before + after) * (2 if kind == "permute" else 1) + blocks * r0 * I * J * r1
        kernels += blocks * step_kernels(kind, P)
        if rest_in > 1:                                               # the output feeds the next step
            kept += after
        produced *= I
    moved += 4 * batch_size * M                                       # join the blocks, add the bias
    return Candidate(strategy_name(groups), int(flops), int(moved), round(kernels) + 2, int(kept),
                     groups=tuple(groups), work=work)


def plan_tt(*, out_modes, in_modes, rank, batch_size: int, model: CostModel = CPU_COST_MODEL) -> Plan:
    """Price every grouping of the cores (:func:`compositions`) and sort them, cheapest first.

    ``rank`` is the TT-matrix's ``(1, r_1, ..., r_{d-1}, 1)``; the modes are keyword-only (output first,
    as the cores ``(r, i_k, j_k, r')``), so that swapping them is an error.

    >>> plan_tt(out_modes=(8, 8, 8, 8), in_modes=(8, 8, 8, 8), rank=(1, 16, 16, 16, 1), batch_size=512).strategy
    'merge(2+2)'
    """
    candidates = [tt_candidate(out_modes=out_modes, in_modes=in_modes, rank=rank, groups=groups,
                               batch_size=batch_size, model=model)
                  for groups in compositions(len(in_modes))]
    return make_plan(batch_size, candidates, model)
