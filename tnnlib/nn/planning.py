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
side below 40, are charged more, since BLAS runs them far below peak), plus
the elements it reads and writes, plus a fixed price per kernel call. Flops
alone are not time: counting flops only, the planner would contract a rank-4
4096 x 4096 layer at batch 512 core by core, which runs twice as slowly as
two halves. The constants were fitted on the course's 2-core CPU; the
benchmark ``python -m tnnlib.bench layers`` shows, for each point of its grid,
the chosen plan next to the fastest one measured. A layer asks
:func:`plan_tt` once per (batch-size bucket, device, dtype, training) and
caches the answer; the forward pass only looks the plan up.

Training. A layer in training mode with gradients enabled is priced for a
training step, forward + backward (``layer.plan(batch, training=None)``
decides from ``module.training and torch.is_grad_enabled()``; under
``eval()`` or ``torch.no_grad()`` the forward pass alone). With ``B`` rows,
``W`` of shape ``(M, N)`` and the chain's steps ``s`` (groups from last to
first), each step a product ``out[p] = A_s S_s[p]`` of the group's matrix
``A_s`` ``(r_start I_g, J_g r_end)`` with its input state ``S_s``
``(P, K, Q)``, costing ``f_s = 2 P (r_start I_g) (J_g r_end) Q`` flops:

* ``nn.Linear``: forward ``2 B M N``; backward ``4 B M N`` (``dx = dy W``
  and ``dW = dy^T x``); it keeps ``x``, ``B N`` elements.
* a grouping: forward ``sum_s f_s`` + merging; backward
  ``2 sum_s f_s`` (``dA_s = sum_p dout[p] S_s[p]^T`` and
  ``dS_s[p] = A_s^T dout[p]``, the first step's ``dS`` being ``dx``) +
  twice the merging flops (both factors of each merge) + the recomputation
  below. Two halves of a square layer, ``(1, sqrt M, sqrt N, r)`` and
  ``(r, sqrt M, sqrt N, 1)``: ``f_1 = f_2 = 2 B r N sqrt(M)``, so a training
  step costs ``12 B r N sqrt(M)`` (``14`` with recomputation) against
  ``6 B M N``: ``2 r / sqrt(M)`` (``7/3 r / sqrt(M)``) of ``nn.Linear``;
  0.5 (0.58) at 4096 x 4096, rank 16, and 1.0 (1.17) at 1024 x 1024.
* memory: autograd keeps ``x``, the merged cores (and the merges'
  intermediates) and, if they fit in ``keep_elements`` (:class:`CostModel`),
  the states the weight gradients need, ``sum_{s>=1} |S_s|`` over all
  blocks (``r`` times ``B N`` for two halves); otherwise the backward pass recomputes them block by block, one more
  ``f_s`` for every step but the last (:func:`keep_states`). Inference needs
  only the largest states of one block (``workspace``).
* "dense": forward ``2 M N r_h`` (rebuild ``W`` from the two halves, bond
  ``r_h``) + ``2 B M N``; backward ``4 B M N + 4 M N r_h``; keeps ``x``,
  ``W`` and the halves.

The training plan can differ from the inference plan: a grouping whose
forward is a little cheaper than rebuilding ``W`` pays twice that forward
again (and its recomputation) in the backward pass, while the rebuild's
price does not grow with the batch (4096 x 4096, rank 32, batch 512: merged
halves for inference, "dense" for training). The choice is cached per
(batch bucket, device, dtype, training); a recorded graph (``torch.compile``,
``torch.jit.trace``) uses one fixed plan, that of the module's mode.

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
from dataclasses import asdict, dataclass, replace
from itertools import combinations

# ---------------------------------------------------------------------------
# The cost model
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class CostModel:
    """Price of one contraction plan, in flop-equivalents (the time the flops would take).

    ``score = flops + element_flops * moved + kernel_flops * kernels``:

    * ``flops``: multiply-adds count 2. A product whose matrices have a side
      ``n`` below ``narrow`` (40) is charged ``narrow / n`` times its flops:
      BLAS runs such narrow products (``K = 8`` in a rank-4 core...) far
      below full speed (40: fitted, with the backward prices, to forward and
      training-step timings of every grouping on the course machine, one
      thread: 1024 x 1024 and 4096 x 4096, ranks 4 to 32, batches 1 to 512;
      the plan then costs at most 9% over the fastest grouping, 1% on average,
      outside sub-millisecond calls);
    * ``moved``: elements read and written by the products and copies. A big
      square product does many flops per element it touches; the skinny
      products of a tensor network do few, and then memory, not arithmetic,
      sets the pace. Each element costs ``element_flops`` (8 on a CPU: fitted
      to timings on the 2-core course machine, where it is what separates,
      e.g., rebuilding ``W`` from two halves at 1024 x 1024, rank 16);
    * ``kernels``: each call (a product, a copy) has a fixed overhead
      (``kernel_flops`` = 5e5, i.e. a few microseconds).

    ``chunk_elements``: on a CPU, large batches are contracted in blocks of
    rows whose largest intermediate has at most this many elements (2^19
    floats = 2 MB, about what one core's cache holds next to the products'
    other operands), see :func:`chunk_rows`; ``None`` (GPUs) contracts the
    whole batch at once.

    ``keep_elements``: in training, the intermediate states of a TT
    contraction are kept for the backward pass when all blocks' together
    have at most this many elements (2^22 floats = 16 MB), else the backward
    pass recomputes them block by block (one more forward product per step
    but the last); ``None``: always kept.
    """

    element_flops: float = 8.0
    kernel_flops: float = 5e5
    chunk_elements: int | None = 2 ** 19
    narrow: int = 40
    keep_elements: int | None = 2 ** 22

    def score(self, flops: int, moved: int, kernels: float) -> float:
        """``flops`` here are already the narrow-adjusted ones (:meth:`product_flops`)."""
        return flops + self.element_flops * moved + self.kernel_flops * kernels

    def product_flops(self, flops: int, *sides: int) -> float:
        """Flops of a product, charged ``narrow / n`` times more when its smallest side ``n`` is narrow."""
        return flops * max(1.0, self.narrow / max(1, min(sides)))


CPU_COST_MODEL = CostModel(element_flops=8.0, kernel_flops=5e5, chunk_elements=2 ** 19, keep_elements=2 ** 22)
# A GPU: tens of Tflop/s, a few TB/s, a launch costs ~5 us (untested guesses, see the benchmark).
CUDA_COST_MODEL = CostModel(element_flops=8.0, kernel_flops=1e8, chunk_elements=None, keep_elements=None)


def cost_model_for(device_type: str) -> CostModel:
    """The cost model for a device type (``"cpu"``, ``"cuda"``, ...)."""
    return CUDA_COST_MODEL if device_type == "cuda" else CPU_COST_MODEL


@dataclass(frozen=True)
class Candidate:
    """One way to evaluate a layer for a given batch size, with the price of its forward and backward passes.

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
        Training memory: elements autograd keeps for the backward pass (the
        input, the intermediates a gradient needs, merged cores).
    score : float
        The cost model's price (lower is better): ``forward_score`` for
        inference, ``forward_score + backward_score`` for training
        (:func:`make_plan`).
    groups : tuple of int or None
        For TT layers: the sizes of the groups of neighbouring cores.
    work : float or None
        The flops as the cost model charges them (narrow products cost more,
        :meth:`CostModel.product_flops`); ``None``: the flops.
    backward_flops, backward_moved, backward_kernels, backward_work
        The same for the backward pass: the input's gradient, the weight
        gradients, the backward of merging cores and any recomputation.
        ``backward_flops=None`` (a format that does not price its backward
        pass): twice the forward, each product having two gradient products.
    workspace : int
        Inference memory: elements of the largest temporaries alive at once
        in the forward pass (0: none beyond the output).
    forward_score, backward_score : float
        The two prices, filled by :func:`make_plan`.
    """

    name: str
    flops: int
    moved: int
    kernels: int
    activations: int
    score: float = 0.0
    groups: tuple | None = None
    work: float | None = None
    backward_flops: int | None = None
    backward_moved: int | None = None
    backward_kernels: int | None = None
    backward_work: float | None = None
    workspace: int = 0
    forward_score: float = 0.0
    backward_score: float = 0.0

    @property
    def train_flops(self) -> int:
        """Flops of one training step of the layer: forward + backward."""
        return self.flops + self.backward_flops


@dataclass(frozen=True)
class Plan:
    """The candidates for one batch size, cheapest first; ``chosen`` is the first.

    ``training``: priced for a training step (forward + backward) or for
    inference (forward only).
    """

    batch_size: int
    candidates: tuple
    training: bool = False

    @property
    def chosen(self) -> Candidate:
        return self.candidates[0]

    @property
    def strategy(self) -> str:
        return self.chosen.name

    def rows(self) -> list:
        """The candidates as a list of dicts (for a table); memory in elements."""
        return [{"strategy": c.name, "Mflop": c.flops / 1e6, "bwd Mflop": c.backward_flops / 1e6,
                 "train Mflop": c.train_flops / 1e6, "moved (M elements)": c.moved / 1e6, "kernels": c.kernels,
                 "score (Mflop-eq)": c.score / 1e6, "activations": c.activations, "workspace": c.workspace,
                 "chosen": c is self.chosen} for c in self.candidates]

    def __str__(self):
        mode = "training (forward + backward)" if self.training else "inference (forward only)"
        memory = "kept" if self.training else "temp"
        lines = [f"plan for batch {self.batch_size}, {mode}: {self.strategy}",
                 f"   {'strategy':<16} {'fwd Mflop':>11} {'bwd Mflop':>11} {'M moved':>9} {'kernels':>7} "
                 f"{'score':>11} {memory + ' (elements)':>16}"]
        for c in self.candidates:
            mark = "*" if c is self.chosen else " "
            moved = c.moved + (c.backward_moved if self.training else 0)
            kernels = c.kernels + (c.backward_kernels if self.training else 0)
            lines.append(f" {mark} {c.name:<16} {c.flops / 1e6:11.2f} {c.backward_flops / 1e6:11.2f} "
                         f"{moved / 1e6:9.2f} {kernels:7d} {c.score / 1e6:11.2f} "
                         f"{c.activations if self.training else c.workspace:16,d}")
        return "\n".join(lines)


def make_plan(batch_size: int, candidates, model: CostModel = None, training: bool = False) -> Plan:
    """Score the candidates with ``model`` and sort them, cheapest first (ties: fewer kernels).

    ``training=False``: the forward price; ``True``: forward + backward. A
    candidate without a backward price (``backward_flops=None``) is charged
    twice its forward for the backward pass.
    """
    model = model or CPU_COST_MODEL
    scored = []
    for c in candidates:
        bf = 2 * c.flops if c.backward_flops is None else c.backward_flops
        bm = 2 * c.moved if c.backward_moved is None else c.backward_moved
        bk = 2 * c.kernels if c.backward_kernels is None else c.backward_kernels
        bw = (2 * c.work if c.work is not None else None) if c.backward_flops is None else c.backward_work
        forward = model.score(c.flops if c.work is None else c.work, c.moved, c.kernels)
        backward = model.score(bf if bw is None else bw, bm, bk)
        scored.append(replace(c, backward_flops=int(bf), backward_moved=int(bm), backward_kernels=int(round(bk)),
                              backward_work=bw, forward_score=forward, backward_score=backward,
                              score=forward + backward if training else forward))
    return Plan(batch_size, tuple(sorted(scored, key=lambda c: (c.score, c.kernels))), bool(training))


def batch_bucket(batch_size: int) -> int:
    """The smallest power of two ``>= batch_size``: plans are made and cached per bucket."""
    return 1 << max(0, int(batch_size) - 1).bit_length()


# ---------------------------------------------------------------------------
# Cost report of a layer
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerCost:
    """What a layer costs for one forward pass (and one backward pass), next to its dense equivalent.

    ``params`` counts the weight's numbers only (the bias is the same in both);
    ``activations`` are elements kept for the backward pass, the layer's input
    included (a dense layer keeps just its input): the training memory;
    ``workspace``: elements of the largest temporaries of the forward pass
    (the inference memory; 0 where not priced); bytes use ``element_bytes``.
    ``backward_flops``: the input's and the weights' gradients (``nn.Linear``:
    ``4 B M N``); ``training``: which price chose ``strategy``.
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
    backward_flops: int = 0
    dense_backward_flops: int = 0
    training: bool = False
    workspace: int = 0

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
    def train_flops(self) -> int:
        """Flops of a training step: forward + backward."""
        return self.flops + self.backward_flops

    @property
    def dense_train_flops(self) -> int:
        return self.dense_flops + self.dense_backward_flops

    @property
    def train_flop_ratio(self) -> float:
        """``train_flops / dense_train_flops``."""
        return self.train_flops / self.dense_train_flops if self.dense_train_flops else math.inf

    @property
    def activation_bytes(self) -> int:
        return self.activations * self.element_bytes

    @property
    def dense_activation_bytes(self) -> int:
        return self.dense_activations * self.element_bytes

    def as_dict(self) -> dict:
        out = asdict(self)
        out.update(compression=self.compression, flop_ratio=self.flop_ratio,
                   activation_bytes=self.activation_bytes, dense_activation_bytes=self.dense_activation_bytes,
                   train_flops=self.train_flops, dense_train_flops=self.dense_train_flops,
                   train_flop_ratio=self.train_flop_ratio)
        return out

    def __str__(self):
        mode = "training step" if self.training else "inference"
        lines = [f"batch {self.batch_size}, strategy {self.strategy} (planned for {mode})",
                 f"  parameters  {self.params:>14,d}  (dense {self.dense_params:,d}: compression "
                 f"{self.compression:.1f}x)",
                 f"  forward     {self.flops / 1e6:>14,.2f} Mflop (dense {self.dense_flops / 1e6:,.2f}: "
                 f"ratio {self.flop_ratio:.3f})"]
        if self.dense_backward_flops or self.backward_flops:
            lines += [f"  backward    {self.backward_flops / 1e6:>14,.2f} Mflop (dense "
                      f"{self.dense_backward_flops / 1e6:,.2f})",
                      f"  fwd+bwd     {self.train_flops / 1e6:>14,.2f} Mflop (dense "
                      f"{self.dense_train_flops / 1e6:,.2f}: ratio {self.train_flop_ratio:.3f})"]
        lines.append(f"  activations {self.activation_bytes / 2**20:>14,.2f} MiB  "
                     f"(dense {self.dense_activation_bytes / 2**20:,.2f} MiB), kept for the backward pass")
        return "\n".join(lines)


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


def states_per_row(*, out_modes, in_modes, rank, groups) -> int:
    """Elements per batch row of the states a training step's weight gradients need: the input of every
    contraction step but the first (whose input is ``x``)."""
    total, rest_in, produced = 0, math.prod(in_modes), 1
    shapes = merged_shapes(out_modes=out_modes, in_modes=in_modes, rank=rank, groups=groups)
    for r0, I, J, _ in reversed(shapes[1:]):                        # every step but the last: its output
        rest_in //= J
        produced *= I
        total += rest_in * r0 * produced
    return total


def keep_states(per_row: int, batch_size: int, rows: int | None, keep_elements: int | None) -> bool:
    """Whether a training step keeps the states (:func:`states_per_row`) rather than recomputing them:
    one block of rows, or all blocks' states within ``keep_elements``."""
    return rows is None or rows >= batch_size or keep_elements is None or per_row * batch_size <= keep_elements


def chunk_rows(per_row: int, chunk_elements: int | None) -> int | None:
    """Rows per block so that an intermediate of ``per_row`` elements per row stays under
    ``chunk_elements`` (at least 8 rows; ``None``: no blocks)."""
    if chunk_elements is None or per_row == 0:
        return None
    return max(8, chunk_elements // per_row)


def weight_grad_kind(P: int, R: int, K: int, Q: int) -> str:
    """How the backward pass sums a step's weight gradient ``sum_p dout[p] S[p]^T``
    (``dout`` ``(P, R, Q)``, ``S`` ``(P, K, Q)``), as :func:`tnnlib.nn.tt_linear.GroupedContraction` runs it:

    * ``"mm"``: one matrix product (``P`` or ``Q`` is 1);
    * ``"loop"``: ``P <= 64`` large products accumulated in place;
    * ``"fold"``: copy both to ``(P Q, .)``, one product, when the copies
      (``P Q (R + K)``) are smaller than a batched product's ``(P, R, K)``;
    * ``"bmm"``: otherwise a batched product and a sum over ``P``.
    """
    if P == 1 or Q == 1:
        return "mm"
    if P <= 64 and R * K * Q >= 2 ** 15:
        return "loop"
    return "fold" if Q * (R + K) <= R * K else "bmm"


def _merge_costs(out_modes, in_modes, rank, start: int, stop: int, model: CostModel):
    """``(flops, work, moved, kernels, kept)`` of merging cores ``start..stop-1`` left to right
    (:func:`tnnlib.nn.tt_linear.merge_cores`); ``kept``: the merged results autograd keeps."""
    flops, work, moved, kernels, kept = 0, 0.0, 0, 0, 0
    r0, I, J = rank[start], out_modes[start], in_modes[start]
    for m in range(start + 1, stop):
        i, j, r1, r2 = out_modes[m], in_modes[m], rank[m], rank[m + 1]
        f = 2 * r0 * I * J * r1 * i * j * r2
        flops += f
        work += model.product_flops(f, r0 * I * J, r1, i * j * r2)
        moved += r0 * I * J * r1 + r1 * i * j * r2 + 3 * r0 * I * J * i * j * r2
        I, J = I * i, J * j
        kernels += 2
        kept += r0 * I * J * r2
    return flops, work, moved, kernels, kept


def _dense_tt_candidate(out_modes, in_modes, rank, B: int, model: CostModel) -> Candidate:
    """Rebuild ``W`` as :meth:`tnnlib.nn.TTLinear.dense_weight` does (merge each half of the chain, then the
    two halves: one product and a permutation of ``M N`` elements), then ``F.linear``; its backward is
    ``nn.Linear``'s (``dx``, ``dW``: ``4 B M N``) plus the rebuild's (twice its flops)."""
    d = len(out_modes)
    M, N = math.prod(out_modes), math.prod(in_modes)
    half = d // 2
    parts = [(0, half), (half, d)] if half else [(0, d)]
    flops, work, moved, kernels, kept = 0, 0.0, 0, 0, 0
    for start, stop in parts:
        f, w, m, k, kp = _merge_costs(out_modes, in_modes, rank, start, stop, model)
        flops, work, moved, kernels, kept = flops + f, work + w, moved + m, kernels + k, kept + kp
    if half:                                                            # the two halves
        rh = rank[half]
        left, right = math.prod(out_modes[:half]) * math.prod(in_modes[:half]), M * N // (
            math.prod(out_modes[:half]) * math.prod(in_modes[:half]))
        f = 2 * M * N * rh
        flops += f
        work += model.product_flops(f, left, rh, right)
        moved += rh * (left + right) + 3 * M * N                       # product, then the permutation
        kernels += 2
        kept += rh * (left + right)                                    # the halves, kept by the product
    rebuild = (flops, work, moved, kernels)
    product = 2 * B * M * N
    fwd = Candidate("dense", flops + product, moved + B * N + M * N + 2 * B * M, kernels + 2,
                    B * N + M * N + kept, groups=(d,), work=work + model.product_flops(product, B, M, N),
                    workspace=2 * M * N)
    backward_flops = 2 * product + 2 * rebuild[0]
    backward_work = 2 * model.product_flops(product, B, M, N) + 2 * rebuild[1]
    backward_moved = 3 * B * M + 2 * B * N + 2 * M * N + 2 * rebuild[2]
    return replace(fwd, backward_flops=backward_flops, backward_work=backward_work, backward_moved=backward_moved,
                   backward_kernels=3 + 2 * rebuild[3])


def tt_candidate(*, out_modes, in_modes, rank, groups, batch_size: int, model: CostModel = None) -> Candidate:
    """Price of one grouping for ``batch_size`` rows: forward and backward flops, elements moved,
    kernel calls, training memory (``activations``) and inference memory (``workspace``).

    Merging a group, one core at a time: ``(r0, I, J, r1) x (r1, i, j, r2)``
    costs ``2 r0 I J r1 i j r2`` flops, a matrix product plus a copy (2 kernels);
    the copy is kept for the backward pass, which costs twice the flops (the
    gradients of both factors). A single group (``"dense"``) rebuilds ``W``
    the way ``dense_weight`` does, see :func:`_dense_tt_candidate`.

    Contracting: the state is ``(P, K, Q)`` with ``P`` = the input modes of
    the groups not done yet, ``K = J r_end`` the indices the group contracts
    and ``Q`` = the output modes done so far, the batch in front of ``P``
    (two groups or fewer) or at the end of ``Q``. A group costs
    ``2 P (r_start I) K Q`` flops, reads the state and writes the next one,
    takes one (batched) product per block of rows (:func:`chunk_rows`,
    :func:`step_kind`). Finally the blocks are joined and the bias added (two
    passes over ``y``).

    Backward (:class:`tnnlib.nn.tt_linear.GroupedContraction`): each step
    has two products of its forward flops, the weight gradient
    (:func:`weight_grad_kind`) and the gradient of its input (for the first
    step: the layer's input gradient, always priced). The states the weight
    gradients need are kept when they fit in ``model.keep_elements`` (all
    blocks together), else recomputed block by block in the backward pass:
    the forward flops of every step but the last, once more.
    """
    model = model or CPU_COST_MODEL
    groups = tuple(groups)
    if len(groups) == 1:
        return _dense_tt_candidate(out_modes, in_modes, rank, batch_size, model)
    M, N, B = math.prod(out_modes), math.prod(in_modes), batch_size
    flops, work, moved, kernels, merged_kept = 0, 0.0, 0, 0.0, 0
    k = 0
    for g in groups:                                                  # merging
        f, w, m, kn, kp = _merge_costs(out_modes, in_modes, rank, k, k + g, model)
        flops, work, moved, kernels, merged_kept = flops + f, work + w, moved + m, kernels + kn, merged_kept + kp
        k += g
    bflops, bwork, bmoved, bkernels = 2 * flops, 2 * work, 2 * moved, 1.5 * kernels   # their backward
    per_row = intermediate_per_row(out_modes=out_modes, in_modes=in_modes, rank=rank, groups=groups)
    rows = chunk_rows(per_row, model.chunk_elements)
    blocks = 1 if rows is None else math.ceil(B / rows)
    block = B if rows is None else min(rows, B)
    batch_first = len(groups) <= 2                                    # see contract_chunk
    shapes = merged_shapes(out_modes=out_modes, in_modes=in_modes, rank=rank, groups=groups)
    steps, rest_in, produced = [], N, 1
    for r0, I, J, r1 in reversed(shapes):                             # contracting
        rest_in //= J
        before, after = B * rest_in * J * r1 * produced, B * rest_in * r0 * I * produced
        P, Q = (block * rest_in, produced) if batch_first else (rest_in, produced * block)
        steps.append((2 * B * rest_in * (r0 * I) * (J * r1) * produced, r0 * I, J * r1, before, after, P, Q))
        produced *= I
    states = B * states_per_row(out_modes=out_modes, in_modes=in_modes, rank=rank, groups=groups)
    keep = keep_states(states // B, B, rows, model.keep_elements)
    workspace = 0
    for n, (step, R, K, before, after, P, Q) in enumerate(steps):
        kind = step_kind(P, Q)
        w = model.product_flops(step, R, K)
        m = (before + after) * (2 if kind == "permute" else 1) + blocks * R * K
        kn = blocks * step_kernels(kind, P)
        flops, work, moved, kernels = flops + step, work + w, moved + m, kernels + kn
        workspace = max(workspace, (before + after) * block // B)
        # backward: the weight gradient and the input gradient
        wkind = weight_grad_kind(P, R, K, Q)
        extra = {"fold": 2 * P * Q * (R + K), "bmm": 2 * P * R * K, "loop": P * R * K}.get(wkind, 0)
        bflops += 2 * step
        bwork += 2 * w
        bmoved += 2 * after + 2 * before + blocks * (extra + 2 * R * K) + (before + after if kind == "permute" else 0)
        bkernels += blocks * ({"mm": 1, "loop": P, "fold": 3, "bmm": 2}[wkind] + step_kernels(kind, P))
        if not keep and n < len(steps) - 1:                           # recomputed in the backward pass
            bflops, bwork, bmoved, bkernels = bflops + step, bwork + w, bmoved + m, bkernels + kn
    moved += 4 * B * M                                                # join the blocks, add the bias
    bmoved += 2 * B * M + 2 * B * N                                   # the bias's gradient, dx's blocks
    merged_size = sum(r0 * I * J * r1 for (r0, I, J, r1), g in zip(shapes, groups) if g > 1)
    kept = B * N + merged_kept + (states if keep else 0)              # x, merged cores, states
    return Candidate(strategy_name(groups), int(flops), int(moved), round(kernels) + 2, int(kept),
                     groups=groups, work=work, backward_flops=int(bflops), backward_moved=int(bmoved),
                     backward_kernels=round(bkernels) + 2, backward_work=bwork,
                     workspace=int(workspace + merged_size))


def plan_tt(*, out_modes, in_modes, rank, batch_size: int, model: CostModel = CPU_COST_MODEL,
            training: bool = False) -> Plan:
    """Price every grouping of the cores (:func:`compositions`) and sort them, cheapest first.

    ``rank`` is the TT-matrix's ``(1, r_1, ..., r_{d-1}, 1)``; the modes are keyword-only (output first,
    as the cores ``(r, i_k, j_k, r')``), so that swapping them is an error. ``training``: price a
    training step (forward + backward) instead of the forward pass.

    >>> plan_tt(out_modes=(8, 8, 8, 8), in_modes=(8, 8, 8, 8), rank=(1, 16, 16, 16, 1), batch_size=512).strategy
    'merge(2+2)'
    """
    candidates = [tt_candidate(out_modes=out_modes, in_modes=in_modes, rank=rank, groups=groups,
                               batch_size=batch_size, model=model)
                  for groups in compositions(len(in_modes))]
    return make_plan(batch_size, candidates, model, training)
