"""Tensorized PyTorch layers: drop-in replacements for ``nn.Linear``, ``nn.Embedding`` and ``nn.Conv2d``.

Every layer is a plain ``nn.Module`` whose factors are ``nn.Parameter``s, so
``state_dict``, ``.to(device)``, autocast, ``torch.compile``, ``torch.jit.trace``
and DDP work as for the dense layers. Constructors follow the dense layers'
(``TTLinear(in_features, out_features, rank, *, in_modes=None, out_modes=None,
bias=True, device=None, dtype=None)``), and every layer exposes ``rank``.

To learn how a layer computes, read its ``reference_forward(x)``: a few lines,
one factor or core after the other (``TTLinear.reference_forward`` is
:meth:`tnnlib.ttm.TTMatrix.matvec`). ``forward`` computes the same numbers in
the order its planner finds fastest, and the tests check it against the
reference. Each layer also has ``from_dense(layer, *, in_modes=None,
out_modes=None, max_rank=None, eps=None)`` (decompose a trained layer; CP:
``rank=``), ``to_dense()`` (the equivalent dense module), ``dense_weight()``
(the rebuilt weight, differentiable), ``cost(batch_size)`` (parameters, flops
and activation memory against the dense layer) and an ``extra_repr`` with
modes, rank and compression.

Modules (one idea each):

* :mod:`~tnnlib.nn.tt_linear` - :class:`TTLinear`, the TT-matrix (MPO) layer;
* :mod:`~tnnlib.nn.planning` - choosing the contraction order by a cost model;
* :mod:`~tnnlib.nn.factorized` - :class:`LowRankLinear`, :class:`TuckerLinear`,
  :class:`CPLinear`, :class:`TRLinear`;
* :mod:`~tnnlib.nn.embedding` - :class:`TTEmbedding`;
* :mod:`~tnnlib.nn.conv` - :class:`CPConv2d`, :class:`TuckerConv2d`;
* :mod:`~tnnlib.nn.init` - initialisation that preserves the rebuilt weight's variance;
* :mod:`~tnnlib.nn.tensorize` - :func:`tensorize`, replace layers of (a copy of) a model;
* :mod:`~tnnlib.nn.base` - what the linear layers share.
"""
from .base import TensorizedLinear
from .conv import CPConv2d, TuckerConv2d
from .embedding import TTEmbedding
from .factorized import CPLinear, LowRankLinear, TRLinear, TuckerLinear
from .planning import CostModel, LayerCost, Plan, plan_tt
from .tensorize import TensorizeReport, tensorize
from .tt_linear import TTLinear

__all__ = [
    "TTLinear", "TuckerLinear", "CPLinear", "TRLinear", "LowRankLinear", "TTEmbedding", "CPConv2d",
    "TuckerConv2d", "TensorizedLinear", "tensorize", "TensorizeReport", "LayerCost", "Plan", "plan_tt", "CostModel",
]
