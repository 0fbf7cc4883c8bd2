"""What every factorised linear layer shares.

A factorised layer computes ``y = x W^T + b`` like ``torch.nn.Linear``, but
``W`` (shape ``(out_features, in_features)``) is the product of small factors,
the layer's only weight parameters. Every layer has a short
``reference_forward(x)``, the idea in a few lines (one factor or core after
the other); ``forward`` computes the same numbers in a faster order.
:class:`TensorizedLinear` holds the part that does not depend on the format:

* the shapes and the bias (initialised like ``nn.Linear``'s);
* planning: ``plan(batch_size, training=None)`` prices the ways to evaluate
  the layer (:mod:`tnnlib.nn.planning`), for a training step (forward +
  backward: the module in training mode with gradients enabled) or for
  inference (``eval()`` or ``torch.no_grad()``: forward only), and caches the
  answer per batch-size bucket, device, dtype and training; ``forward`` runs
  the chosen one. ``layer.strategy`` forces
  a strategy instead (``"auto"`` by default). While ``torch.compile`` or
  ``torch.jit.trace`` records the forward pass (:func:`graph_mode`), the
  layer runs one plan for every batch size, so that the recorded graph does
  not depend on it (see :meth:`TensorizedLinear.graph_strategy`);
* ``cost(batch_size, training=None)``, ``to_dense()``, ``extra_repr``.

A subclass defines its parameters, ``reset_parameters``, ``reference_forward``,
``dense_weight()`` (rebuild ``W``), ``candidates(batch_size)`` (the strategies
with their costs), ``_forward(x, strategy)`` and ``_describe()`` (modes and
ranks for the repr).

Helpers used by several formats live here too: :func:`apply_to_middle` (apply a
matrix to the middle index of a 3-index tensor), :func:`auto_modes`,
:func:`linear_modes`, :func:`dense_parts` and :func:`working_copy`.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..ttm import factorize_dim
from ..validation import check_modes, check_positive_int
from .init import bias_uniform_
from .planning import LayerCost, batch_bucket, cost_model_for, dense_linear_cost, make_plan, step_kind


def graph_mode() -> bool:
    """True while ``torch.compile`` (Dynamo) or ``torch.jit.trace`` records a forward pass.

    The layers then avoid Python decisions that depend on the batch size (the
    plan, blocks of rows, the kind of a product), so that one recorded graph
    serves every batch size, as for ``nn.Linear``.
    """
    return torch.jit.is_tracing() or torch.compiler.is_compiling()


class TensorizedLinear(nn.Module):
    """Base class of the factorised drop-in replacements for ``nn.Linear``.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
    device, dtype : as for ``nn.Linear``

    Attributes
    ----------
    strategy : str
        ``"auto"`` (use :meth:`plan`) or the name of a candidate strategy.
    graph_batch_size : int
        The batch size whose plan a recorded graph uses (:meth:`graph_strategy`).
    """

    strategies = ("factored", "dense")
    graph_batch_size = 128

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        where = type(self).__name__
        self.in_features = check_positive_int(in_features, "in_features", where)
        self.out_features = check_positive_int(out_features, "out_features", where)
        if bias:
            self.bias = nn.Parameter(torch.empty(self.out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self._plans = {}
        self._strategy = "auto"
        self._forced = None

    # -- to be defined by a subclass --------------------------------------
    def reference_forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x W^T + b`` the plain way, factor by factor (the idea; ``forward`` is faster)."""
        raise NotImplementedError

    def dense_weight(self) -> torch.Tensor:
        """The weight ``W``, shape ``(out_features, in_features)``, rebuilt from the factors (differentiable)."""
        raise NotImplementedError

    def candidates(self, batch_size: int) -> list:
        """The strategies (:class:`~tnnlib.nn.planning.Candidate`) for a batch of ``batch_size`` rows."""
        raise NotImplementedError

    def _forward(self, x: torch.Tensor, strategy) -> torch.Tensor:
        """``x`` (B, in_features) -> (B, out_features) with the given strategy key."""
        raise NotImplementedError

    def _describe(self) -> str:
        raise NotImplementedError

    def _strategy_key(self, name: str):
        """How ``_forward`` wants a strategy name (TT layers turn it into group sizes)."""
        if name not in self.strategies:
            raise ValueError(f"{type(self).__name__} has strategies {self.strategies} (or 'auto'), got {name!r}")
        return name

    # -- shared --------------------------------------------------------------
    @property
    def strategy(self) -> str:
        return self._strategy

    @strategy.setter
    def strategy(self, value):
        if value == "auto":
            self._strategy, self._forced = "auto", None
        else:
            key = self._strategy_key(value)
            self._strategy, self._forced = self._name_of(key), key

    def _name_of(self, key) -> str:
        return key if isinstance(key, str) else str(key)

    def _key_of(self, candidate):
        return candidate.groups if candidate.groups is not None else candidate.name

    def reset_bias(self) -> None:
        """``nn.Linear``'s default bias, ``U(-1/sqrt(in_features), 1/sqrt(in_features))``."""
        bias_uniform_(self.bias, self.in_features)

    def weight_parameters(self) -> int:
        """Numbers in the factors of ``W`` (bias excluded)."""
        return sum(p.numel() for name, p in self.named_parameters() if name != "bias")

    @property
    def compression(self) -> float:
        """``in_features * out_features / weight_parameters()``."""
        return self.in_features * self.out_features / self.weight_parameters()

    def is_training_step(self) -> bool:
        """What the layer would be priced for now: a training step (``self.training`` and gradients
        enabled) or inference (``eval()`` or ``torch.no_grad()``)."""
        return self.training and torch.is_grad_enabled()

    def plan(self, batch_size: int, training: bool | None = None):
        """The strategies for this batch size, priced and sorted, cheapest first (cached).

        ``training``: price a training step, forward + backward (True), or the
        forward pass alone (False); ``None`` (default): what the layer would do
        now, :meth:`is_training_step`. Plans are made for the bucket
        ``batch_bucket(batch_size)`` (the next power of two) and cached per
        (bucket, device type, dtype, training) (``self._plans[(bucket, device
        type, dtype)][training]``); ``forward`` looks them up and never
        re-plans.
        """
        training = self.is_training_step() if training is None else bool(training)
        p = next(self.parameters())
        bucket = batch_bucket(batch_size)
        plans = self._plans.setdefault((bucket, p.device.type, p.dtype), {})    # {training: plan}
        plan = plans.get(training)
        if plan is None:
            plan = plans[training] = make_plan(bucket, self.candidates(bucket), cost_model_for(p.device.type),
                                               training)
        return plan

    def graph_strategy(self, training: bool | None = None) -> str:
        """The strategy a recorded graph (``torch.compile``, ``torch.jit.trace``) runs for every batch size.

        A compiled ``nn.Linear`` is one graph for all batch sizes (after the
        first one, Dynamo marks the batch dimension dynamic). A planned layer
        would pick its strategy from the concrete batch size and so be
        recompiled for each new one; while a graph is recorded it runs instead
        the plan for ``graph_batch_size`` rows (128), made without the cache
        (no state changes inside the graph). Force another one with
        ``layer.strategy``, which compiled and traced graphs honour too.
        ``training`` defaults to the module's mode (``self.training``) alone,
        not to whether gradients are enabled: ``torch.jit.trace`` checks its
        trace by running it again without gradients, and both runs must take
        the same plan.
        """
        training = self.training if training is None else bool(training)
        p = next(self.parameters())
        bucket = batch_bucket(self.graph_batch_size)
        return make_plan(bucket, self.candidates(bucket), cost_model_for(p.device.type), training).strategy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_tracing() and x.shape[-1] != self.in_features:   # (a trace checks the shapes itself)
            raise ValueError(f"{type(self).__name__} expects inputs with last dimension {self.in_features}, "
                             f"got shape {tuple(x.shape)}")
        x2 = x.reshape(-1, self.in_features)
        if self._forced is not None:
            key = self._forced
        elif graph_mode():
            key = self._strategy_key(self.graph_strategy())          # one plan for every batch size
        else:
            key = self._key_of(self.plan(x2.shape[0]).chosen)
        y = self._forward(x2, key)
        return y.reshape(*x.shape[:-1], self.out_features)

    def cost(self, batch_size: int, strategy: str | None = None, *, training: bool | None = None) -> LayerCost:
        """Parameters, forward and backward flops and kept activations for a batch, against ``nn.Linear``.

        ``strategy`` defaults to the one the layer would run (forced, or
        planned for ``training``: None = what the layer would do now, see
        :meth:`plan`).
        """
        training = self.is_training_step() if training is None else bool(training)
        if strategy is None:
            strategy = self.strategy if self.strategy != "auto" else self.plan(batch_size, training).strategy
        name = self._name_of(self._strategy_key(strategy))
        p = next(self.parameters())
        plan = make_plan(batch_size, self.candidates(batch_size), cost_model_for(p.device.type), training)
        c = {c.name: c for c in plan.candidates}[name]
        dense_params, dense_flops, dense_kept = dense_linear_cost(self.in_features, self.out_features, batch_size)
        return LayerCost(batch_size, name, self.weight_parameters(), c.flops, c.activations,
                         dense_params, dense_flops, dense_kept, p.element_size(),
                         backward_flops=c.backward_flops, dense_backward_flops=2 * dense_flops,
                         training=training, workspace=c.workspace)

    @torch.no_grad()
    def to_dense(self) -> nn.Linear:
        """The equivalent ``nn.Linear`` (same device and dtype), with ``W = dense_weight()``."""
        p = next(self.parameters())
        layer = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None,
                          device=p.device, dtype=p.dtype)
        layer.weight.copy_(self.dense_weight())
        if self.bias is not None:
            layer.bias.copy_(self.bias)
        return layer

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, {self._describe()}, "
                f"bias={self.bias is not None}, params={self.weight_parameters():,} "
                f"(compression {self.compression:.1f}x), strategy={self.strategy}")


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def apply_to_middle(matrix: torch.Tensor, state: torch.Tensor, graph: bool | None = None) -> torch.Tensor:
    """``out[p] = matrix @ state[p]``: shapes ``(R, K)``, ``(P, K, Q)`` -> ``(P, R, Q)``.

    Run as :func:`tnnlib.nn.planning.step_kind` says:

    * ``"mm"`` (``P`` or ``Q`` is 1): one matrix product;
    * ``"bmm"``: ``P`` products with the matrix broadcast (no copy of it).
      When the matrix needs a gradient, ``P`` is folded into the rows of one
      product instead (a copy of the state), so that the backward pass does
      not build a ``(P, R, K)`` gradient only to sum it;
    * ``"permute"`` (many tiny products): copy the state to ``(K, P Q)``, one
      product, copy back.

    While a graph is recorded (:func:`graph_mode`) ``P`` and ``Q`` may hold
    the batch size, so the choice may not depend on them: one broadcast
    product, or the folded one for a matrix that needs a gradient, serves
    every shape. ``torch.jit.trace`` always gets the folded one: it checks its
    trace by running it again without gradients, and the two must agree.
    (``graph``: :func:`graph_mode`, if the caller knows it already.)
    """
    P, K, Q = state.shape
    R = matrix.shape[0]
    if graph_mode() if graph is None else graph:
        if matrix.requires_grad or torch.jit.is_tracing():
            return (state.transpose(1, 2).reshape(-1, K) @ matrix.t()).reshape(P, Q, R).transpose(1, 2)
        return torch.matmul(matrix, state)
    kind = step_kind(P, Q)
    if kind == "mm":
        if P == 1:
            return (matrix @ state[0]).unsqueeze(0)
        return (state.reshape(P, K) @ matrix.t()).unsqueeze(-1)
    if kind == "bmm":
        if matrix.requires_grad and torch.is_grad_enabled():
            folded = state.transpose(1, 2).reshape(P * Q, K) @ matrix.t()        # (P Q, R)
            return folded.reshape(P, Q, R).transpose(1, 2)
        return torch.bmm(matrix.expand(P, R, K), state)
    flat = state.transpose(0, 1).reshape(K, P * Q)
    return (matrix @ flat).reshape(R, P, Q).transpose(0, 1)


def default_order(n: int) -> int:
    """How many modes to split a size into by default: about one per factor of 8 (at least 2)."""
    return max(2, round(math.log(max(n, 2)) / math.log(8)))


def split_size(n: int, d: int):
    """``n`` as ``d`` balanced factors (:func:`tnnlib.ttm.factorize_dim`), or None if it has too few."""
    try:
        return tuple(factorize_dim(n, d))
    except ValueError:
        return None


def auto_modes(in_features: int, out_features: int, d: int | None = None, same_order: bool = True):
    """Balanced modes ``(in_modes, out_modes)`` for a layer, with :func:`tnnlib.ttm.factorize_dim`.

    ``d`` defaults to :func:`default_order` of the larger size. When a size
    cannot be split into ``d`` factors >= 2 (a prime, say), fewer modes are
    tried, down to one. With ``same_order=True`` (TT-matrix layers) both sides
    get the same number of modes.

    >>> auto_modes(1024, 512)
    ((8, 8, 16), (8, 8, 8))
    """
    d = d or default_order(max(in_features, out_features))

    def split(n, k):
        return next(f for order in range(k, 0, -1) if (f := split_size(n, order)) is not None)

    if not same_order:
        return split(in_features, d), split(out_features, d)
    for order in range(d, 0, -1):
        pair = split_size(in_features, order), split_size(out_features, order)
        if None not in pair:
            return pair
    return (in_features,), (out_features,)


def linear_modes(in_features: int, out_features: int, *, in_modes, out_modes, where: str, same_order: bool,
                 default: str = "auto"):
    """The modes of a layer: given ones checked (their product must be the features), missing ones chosen.

    Neither given: ``default="auto"`` gives :func:`auto_modes`, ``"matrix"``
    one mode per side. One given: the other side is split into as many modes
    when ``same_order`` (TT-matrix), else by :func:`auto_modes`.
    """
    if in_modes is not None:
        in_modes = check_modes(in_modes, in_features, "in_modes", where)
    if out_modes is not None:
        out_modes = check_modes(out_modes, out_features, "out_modes", where)
    if in_modes is None and out_modes is None:
        if default == "matrix":
            return (in_features,), (out_features,)
        return auto_modes(in_features, out_features, same_order=same_order)
    if in_modes is None or out_modes is None:
        given, size, missing = ((in_modes, out_features, "out_modes") if out_modes is None
                                else (out_modes, in_features, "in_modes"))
        if same_order:
            found = split_size(size, len(given))
            if found is None:
                raise ValueError(f"{where}: {size} cannot be split into {len(given)} modes >= 2 to match "
                                 f"{given}; pass {missing} too (a mode may be 1)")
        else:
            found = auto_modes(size, size, same_order=False)[0]
        in_modes, out_modes = (in_modes, found) if out_modes is None else (found, out_modes)
    if same_order and len(in_modes) != len(out_modes):
        raise ValueError(f"{where}: in_modes {in_modes} and out_modes {out_modes} must have the same "
                         "length d (pad the shorter with 1s)")
    return in_modes, out_modes


def dense_parts(layer, kind=nn.Linear, where: str = "from_dense"):
    """``(weight, bias)`` of a dense layer, checking its type."""
    if not isinstance(layer, kind):
        raise TypeError(f"{where}: expected an {kind.__name__}, got {type(layer).__name__}")
    return layer.weight, layer.bias


def no_modes(where: str, *, in_modes, out_modes) -> None:
    """For formats without modes (low rank): a clear error if modes were given."""
    if in_modes is not None or out_modes is not None:
        raise ValueError(f"{where}: this format takes no modes (it factors the weight as a matrix); "
                         f"got in_modes={in_modes}, out_modes={out_modes}")


def working_copy(t: torch.Tensor) -> torch.Tensor:
    """A detached copy for decompositions: float64 on the CPU, float32 elsewhere (never half precision).

    Decompositions (SVDs) in half precision are inaccurate or unsupported;
    ``from_dense`` works in this copy and casts the factors back to the
    layer's dtype at the end.
    """
    dtype = torch.float64 if t.device.type == "cpu" else torch.float32
    return t.detach().to(dtype)


def copy_into(new: nn.Module, values: dict, bias) -> nn.Module:
    """Copy decomposition results (``{parameter name: tensor}``) and the bias into ``new``; return it."""
    params = dict(new.named_parameters())
    with torch.no_grad():
        for name, value in values.items():
            params[name].copy_(value)
        if bias is not None:
            new.bias.copy_(bias)
    return new
