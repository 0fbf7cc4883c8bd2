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

The cost model is the number of floating-point operations (2 per
multiply-add) of merging and of contracting, plus a fixed price per kernel
call, expressed in flops (``CostModel.kernel_flops``): tiny products are
dominated by the call, not the arithmetic. A layer asks :func:`plan_tt` once
per (batch-size bucket, device, dtype) and caches the answer; the forward pass
only looks the plan up.

The execution (:func:`contract_groups` in :mod:`tnnlib.nn.tt_linear`) keeps
the intermediate result as a 3-index tensor ``(P, K, Q)`` whose middle index
``K`` is exactly what the next merged core contracts; a step is then one
(batched) matrix product and never needs a transpose.
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
    """Price of one contraction plan, in flop-equivalents.

    ``score = flops + kernel_flops * kernels``: each kernel call (a matrix
    product, a copy) costs a fixed overhead, here the flops the machine could
    have done meanwhile (about 10 microseconds on a CPU core at 50 Gflop/s).
    """

    kernel_flops: float = 5e5

    def score(self, flops: int, kernels: int) -> float:
        return flops + self.kernel_flops * kernels


CPU_COST_MODEL = CostModel(kernel_flops=5e5)
CUDA_COST_MODEL = CostModel(kernel_flops=2e8)   # a kernel launch (~5 us) at tens of Tflop/s


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
    kernels : int
        Kernel calls (matrix products and copies) of one forward pass.
    activations : int
        Elements kept for the backward pass: the input, every intermediate
        result a later product reads, and merged cores.
    score : float
        The cost model's price (lower is better).
    groups : tuple of int or None
        For TT layers: the sizes of the groups of neighbouring cores.
    """

    name: str
    flops: int
    kernels: int
    activations: int
    score: float = 0.0
    groups: tuple | None = None


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
        return [{"strategy": c.name, "Mflop": c.flops / 1e6, "kernels": c.kernels,
                 "activations": c.activations, "chosen": c is self.chosen} for c in self.candidates]

    def __str__(self):
        lines = [f"plan for batch {self.batch_size}: {self.strategy}"]
        for c in self.candidates:
            mark = "*" if c is self.chosen else " "
            lines.append(f" {mark} {c.name:<22} {c.flops / 1e6:12.3f} Mflop {c.kernels:4d} kernels "
                         f"{c.activations:>12,d} activations")
        return "\n".join(lines)


def make_plan(batch_size: int, candidates, model: CostModel = CPU_COST_MODEL) -> Plan:
    """Score the candidates with ``model`` and sort them, cheapest first (ties: fewer kernels)."""
    scored = [Candidate(c.name, c.flops, c.kernels, c.activations, model.score(c.flops, c.kernels), c.groups)
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
                f"  parameters  {self.params:>14,d}  (dense {self.dense_params:,d}: compression {self.compression:.1f}x)\n"
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


def merged_shapes(in_modes, out_modes, ranks, groups):
    """Shapes ``(r_start, I_group, J_group, r_end)`` of the merged cores of each group."""
    shapes, k = [], 0
    for g in groups:
        shapes.append((ranks[k], math.prod(out_modes[k:k + g]), math.prod(in_modes[k:k + g]), ranks[k + g]))
        k += g
    return shapes


def tt_candidate(in_modes, out_modes, ranks, groups, batch_size: int) -> Candidate:
    """Flops, kernel calls and kept activations of one grouping for a batch of ``batch_size``.

    Merging a group, one core at a time: ``(r0, I, J, r1) x (r1, i, j, r2)``
    costs ``2 r0 I J r1 i j r2`` flops, a matrix product plus a copy (2 kernels);
    the copy is kept for the backward pass.

    Contracting: the state is ``(P, K, Q)`` with ``P`` the input modes of the
    groups not done yet, ``K = J r_end`` the indices the group contracts and
    ``Q`` = the output modes done so far times the batch. A group costs
    ``2 P (r_start I) K Q`` flops and one (batched) product, and the state it
    reads is kept.
    """
    d = len(in_modes)
    flops, kernels, kept = 0, 0, batch_size * math.prod(in_modes)      # the input is kept
    k = 0
    for g in groups:                                                  # merging
        r0, I, J = ranks[k], out_modes[k], in_modes[k]
        for m in range(k + 1, k + g):
            i, j, r1, r2 = out_modes[m], in_modes[m], ranks[m], ranks[m + 1]
            flops += 2 * r0 * I * J * r1 * i * j * r2
            I, J = I * i, J * j
            kernels += 2
            kept += r0 * I * J * r2
        k += g
    rest_in, trailing = math.prod(in_modes), batch_size
    for r0, I, J, r1 in reversed(merged_shapes(in_modes, out_modes, ranks, groups)):   # contracting
        rest_in //= J
        flops += 2 * rest_in * (r0 * I) * (J * r1) * trailing
        kernels += 1
        if rest_in > 1:                                               # the output feeds the next step
            kept += rest_in * r0 * I * trailing
        trailing *= I
    assert k == d
    return Candidate(strategy_name(groups), int(flops), kernels, int(kept), groups=tuple(groups))


def plan_tt(in_modes, out_modes, ranks, batch_size: int, model: CostModel = CPU_COST_MODEL) -> Plan:
    """Price every grouping of the cores (:func:`compositions`) and sort them, cheapest first."""
    candidates = [tt_candidate(in_modes, out_modes, ranks, groups, batch_size)
                  for groups in compositions(len(in_modes))]
    return make_plan(batch_size, candidates, model)
