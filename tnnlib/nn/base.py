"""What every factorised linear layer shares.

A factorised layer computes ``y = x W^T + b`` like ``torch.nn.Linear``, but
``W`` (shape ``(out_features, in_features)``) is the product of small factors,
the layer's only weight parameters. :class:`TensorizedLinear` holds the part
that does not depend on the format:

* the shapes and the bias (initialised like ``nn.Linear``'s);
* planning: ``plan(batch_size)`` prices the ways to evaluate the layer
  (:mod:`tnnlib.nn.planning`) and caches the answer per batch-size bucket,
  device and dtype; ``forward`` runs the chosen one. ``layer.strategy`` forces
  a strategy instead (``"auto"`` by default);
* ``cost(batch_size)``, ``to_dense()``, ``extra_repr``.

A subclass defines its parameters, ``reset_parameters``, ``full_weight()``
(rebuild ``W``), ``candidates(batch_size)`` (the strategies with their costs),
``_forward(x, strategy)`` and ``_describe()`` (modes and ranks for the repr).

Helpers used by several formats live here too: :func:`apply_to_middle` (apply a
matrix to the middle index of a 3-index tensor), :func:`auto_modes`,
:func:`dense_parts` and :func:`working_copy`.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .init import bias_uniform_
from .planning import LayerCost, batch_bucket, cost_model_for, dense_linear_cost, make_plan, step_kind


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
    """

    strategies = ("factored", "dense")

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        if bias:
            self.bias = nn.Parameter(torch.empty(self.out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self._plans = {}
        self._strategy = "auto"
        self._forced = None

    # -- to be defined by a subclass --------------------------------------
    def full_weight(self) -> torch.Tensor:
        """The weight ``W``, shape ``(out_features, in_features)``, rebuilt from the factors."""
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

    def plan(self, batch_size: int):
        """The strategies for this batch size, priced and sorted, cheapest first (cached).

        Plans are made for the bucket ``batch_bucket(batch_size)`` (the next
        power of two) and cached per (bucket, device type, dtype).
        """
        p = next(self.parameters())
        bucket = batch_bucket(batch_size)
        key = (bucket, p.device.type, p.dtype)
        plan = self._plans.get(key)
        if plan is None:
            plan = make_plan(bucket, self.candidates(bucket), cost_model_for(p.device.type))
            self._plans[key] = plan
        return plan

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"{type(self).__name__} expects inputs with last dimension {self.in_features}, "
                             f"got shape {tuple(x.shape)}")
        x2 = x.reshape(-1, self.in_features)
        if self._forced is not None:
            key = self._forced
        else:
            chosen = self.plan(x2.shape[0]).chosen
            key = chosen.groups if chosen.groups is not None else chosen.name
        y = self._forward(x2, key)
        return y.reshape(*x.shape[:-1], self.out_features)

    def cost(self, batch_size: int, strategy: str | None = None) -> LayerCost:
        """Parameters, forward flops and kept activations for a batch, against ``nn.Linear``.

        ``strategy`` defaults to the one the layer would run (forced, or planned).
        """
        if strategy is None:
            strategy = self.strategy if self.strategy != "auto" else self.plan(batch_size).strategy
        name = self._name_of(self._strategy_key(strategy))
        by_name = {c.name: c for c in self.candidates(batch_size)}
        c = by_name[name]
        dense_params, dense_flops, dense_kept = dense_linear_cost(self.in_features, self.out_features, batch_size)
        p = next(self.parameters())
        return LayerCost(batch_size, name, self.weight_parameters(), c.flops, c.activations,
                         dense_params, dense_flops, dense_kept, p.element_size())

    @torch.no_grad()
    def to_dense(self) -> nn.Linear:
        """The equivalent ``nn.Linear`` (same device and dtype), with ``W = full_weight()``."""
        p = next(self.parameters())
        layer = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None,
                          device=p.device, dtype=p.dtype)
        layer.weight.copy_(self.full_weight())
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

def apply_to_middle(matrix: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
    """``out[p] = matrix @ state[p]``: shapes ``(R, K)``, ``(P, K, Q)`` -> ``(P, R, Q)``.

    Run as :func:`tnnlib.nn.planning.step_kind` says:

    * ``"mm"`` (``P`` or ``Q`` is 1): one matrix product;
    * ``"bmm"``: ``P`` products with the matrix broadcast (no copy of it).
      When the matrix needs a gradient, ``P`` is folded into the rows of one
      product instead (a copy of the state), so that the backward pass does
      not build a ``(P, R, K)`` gradient only to sum it;
    * ``"permute"`` (many tiny products): copy the state to ``(K, P Q)``, one
      product, copy back.
    """
    P, K, Q = state.shape
    R = matrix.shape[0]
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


def check_modes(modes, size: int, name: str, layer: str = "layer") -> tuple:
    """``modes`` as a tuple of positive ints multiplying to ``size`` (clear error otherwise)."""
    try:
        modes = tuple(int(m) for m in modes)
    except (TypeError, ValueError):
        raise TypeError(f"{layer}: {name} must be a sequence of positive integers, got {modes!r}") from None
    if not modes or any(m < 1 for m in modes):
        raise ValueError(f"{layer}: {name} must be non-empty positive integers, got {modes}")
    if size is not None and math.prod(modes) != size:
        raise ValueError(f"{layer}: {name} {modes} multiply to {math.prod(modes)}, but the layer has "
                         f"{size} features on that side; the modes must multiply to {size}")
    return modes


def default_order(n: int) -> int:
    """How many modes to split a size into by default: about one per factor of 8 (at least 2)."""
    return max(2, round(math.log(max(n, 2)) / math.log(8)))


def auto_modes(in_features: int, out_features: int, d: int | None = None, same_order: bool = True):
    """Balanced modes ``(in_modes, out_modes)`` for a layer, with :func:`tnnlib.ttm.factorize_dim`.

    ``d`` defaults to :func:`default_order` of the larger size. When a size
    cannot be split into ``d`` factors >= 2 (a prime, say), fewer modes are
    tried, down to one. With ``same_order=True`` (TT-matrix layers) both sides
    get the same number of modes.
    """
    from ..ttm import factorize_dim

    def split(n, k):
        for order in range(k, 0, -1):
            try:
                return factorize_dim(n, order)
            except ValueError:
                continue
        return (n,)

    d = d or default_order(max(in_features, out_features))
    if not same_order:
        return split(in_features, d), split(out_features, d)
    for order in range(d, 0, -1):
        try:
            return factorize_dim(in_features, order), factorize_dim(out_features, order)
        except ValueError:
            continue
    return (in_features,), (out_features,)


def dense_parts(layer, kind=nn.Linear):
    """``(weight, bias)`` of a dense layer, checking its type."""
    if not isinstance(layer, kind):
        raise TypeError(f"expected a {kind.__name__}, got {type(layer).__name__}")
    return layer.weight, layer.bias


def working_copy(t: torch.Tensor) -> torch.Tensor:
    """A detached copy for decompositions: float64 on the CPU, float32 elsewhere (never half precision).

    Decompositions (SVDs) in half precision are inaccurate or unsupported;
    ``from_dense`` works in this copy and casts the factors back to the
    layer's dtype at the end.
    """
    dtype = torch.float64 if t.device.type == "cpu" else torch.float32
    return t.detach().to(dtype)
