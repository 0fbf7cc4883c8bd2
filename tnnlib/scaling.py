"""Scaling of tensorized networks: what a TT layer costs, and dense against TT at a matched budget.

The concept. A TT-matrix layer (:class:`tnnlib.nn.TTLinear`) with output modes
``i_1..i_d``, input modes ``j_1..j_d`` and ranks ``(1, r_1, ..., r_{d-1}, 1)``
stores

    params = sum_k r_{k-1} i_k j_k r_k                       (:func:`tt_linear_params`)

numbers instead of ``M N = prod i_k * prod j_k``: about ``d n^2 r^2`` for ``d``
modes of size ``n`` on each side, linear in ``d`` where the dense count grows
like ``n^(2d)``. Contracting a batch of ``B`` inputs core by core, the last
core first (the ``"sequential"`` order of the layer's planner), core ``k``
reads the ``B P_k Q_k`` states of size ``r_k j_k`` and writes states of size
``r_{k-1} i_k``, with ``P_k = j_1..j_{k-1}`` the input modes not read yet and
``Q_k = i_{k+1}..i_d`` the output modes already written:

    flops = sum_k 2 B (j_1..j_{k-1}) r_{k-1} i_k j_k r_k (i_{k+1}..i_d)     (:func:`tt_linear_flops`)

The tests check both against the layers' own reports (``weight_parameters()``,
``cost(batch_size, strategy="sequential").flops``). A trained layer runs the
order its planner finds cheapest, so what a network *does* cost is read from
the layers themselves: :func:`forward_flops_per_example` and
:func:`train_flops_per_example`.

Comparing a dense and a tensorized network is fair only at a matched budget:
the same parameters, or the same FLOPs. :func:`dense_mlp` and :func:`tt_mlp`
build the course's multilayer perceptrons ``784 -> H -> H -> 10`` (lesson 08),
:func:`width_for` finds the dense width that matches a budget, and
:func:`sweep` trains a family of models with :func:`tnnlib.train.fit` and
reports accuracy against parameters and training FLOPs.

Inductive bias. A TT layer reads its input as a tensor with modes ``j_1..j_d``
(for an image, ``784 = 4 * 7 * 7 * 4``: coarse row, fine row, coarse column,
fine column); a dense layer treats the pixels as an unordered set.
:func:`permute_pixels` applies a fixed permutation of the pixels, and
:func:`mode_order` the permutation that reorders the modes of the pixel index.

>>> tt_linear_params(out_modes=(4, 8, 8, 4), in_modes=(4, 8, 8, 4), rank=(1, 8, 8, 8, 1))
8448
>>> tt_linear_flops(out_modes=(2, 2), in_modes=(3, 3), rank=(1, 4, 1), batch_size=1)
240

References: A. Novikov et al., arXiv:1509.06569, 2015 (TT layers and their
cost); M. Hamreras, S. Singh, R. Orus, arXiv:2505.20132, 2025 (scaling,
inductive bias, open problems); S. Qiu et al., arXiv:2406.06248, 2024
(structured layers need structure-aware initialisation and learning rates).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .nn import TTLinear
from .nn.tt_linear import tt_rank
from .runtime import seed_everything
from .train import fit
from .validation import check_modes, check_positive_int, is_int

__all__ = ["tt_linear_params", "tt_linear_flops", "dense_mlp", "tt_mlp", "count_parameters",
           "forward_flops_per_example", "train_flops_per_example", "width_for", "Run", "sweep", "permute_pixels",
           "mode_order"]

#: The input modes of the course's 28 x 28 images: 784 = 4 * 7 * 7 * 4 (row = 7 j_1 + j_2, column = 4 j_3 + j_4).
IMAGE_MODES = (4, 7, 7, 4)


# --------------------------------------------------------------------------
# Formulas
# --------------------------------------------------------------------------

def _shape(out_modes, in_modes, rank, where: str):
    """Checked modes, and the ranks ``(1, r_1, ..., 1)`` as ``TTLinear`` reads them (an int is capped)."""
    out_modes = check_modes(out_modes, None, "out_modes", where)
    in_modes = check_modes(in_modes, None, "in_modes", where)
    if len(in_modes) != len(out_modes):
        raise ValueError(f"{where}: out_modes {out_modes} and in_modes {in_modes} must have the same length")
    return out_modes, in_modes, tt_rank(rank, out_modes=out_modes, in_modes=in_modes, where=where)


def tt_linear_params(*, out_modes, in_modes, rank) -> int:
    """Numbers in the cores of a TT-matrix layer: ``sum_k r_{k-1} i_k j_k r_k`` (the bias not counted).

    ``rank``: an int (every inner bond, capped at what the bond can use, as ``TTLinear`` does) or
    ``(1, r_1, ..., r_{d-1}, 1)``.

    >>> tt_linear_params(out_modes=(4, 4, 4, 4), in_modes=(4, 7, 7, 4), rank=8)
    3840
    """
    out_modes, in_modes, rank = _shape(out_modes, in_modes, rank, "tt_linear_params")
    return sum(rank[k] * i * j * rank[k + 1] for k, (i, j) in enumerate(zip(out_modes, in_modes)))


def tt_linear_flops(*, out_modes, in_modes, rank, batch_size: int) -> int:
    """Forward FLOPs of a TT-matrix layer contracted core by core, the last core first (module docstring).

    This is what :meth:`TTLinear.cost` reports for ``strategy="sequential"``;
    ``nn.Linear`` does ``2 B M N``.

    >>> tt_linear_flops(out_modes=(4, 4, 4, 4), in_modes=(4, 7, 7, 4), rank=8, batch_size=64)
    44630016
    """
    out_modes, in_modes, rank = _shape(out_modes, in_modes, rank, "tt_linear_flops")
    batch_size = check_positive_int(batch_size, "batch_size", "tt_linear_flops")
    flops, rest_in, done_out = 0, math.prod(in_modes), 1
    for k in reversed(range(len(in_modes))):
        i, j = out_modes[k], in_modes[k]
        rest_in //= j
        flops += 2 * batch_size * rest_in * rank[k] * i * j * rank[k + 1] * done_out
        done_out *= i
    return flops


# --------------------------------------------------------------------------
# The course's MLPs, and what they cost
# --------------------------------------------------------------------------

def dense_mlp(width: int, *, in_features: int = 784, n_classes: int = 10) -> nn.Sequential:
    """``Flatten, Linear(in, width), ReLU, Linear(width, width), ReLU, Linear(width, n_classes)`` (lesson 08).

    >>> count_parameters(dense_mlp(32))
    26506
    """
    width = check_positive_int(width, "width", "dense_mlp")
    return nn.Sequential(nn.Flatten(), nn.Linear(in_features, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                         nn.Linear(width, n_classes))


def tt_mlp(hidden_modes, rank, *, in_modes=IMAGE_MODES, n_classes: int = 10) -> nn.Sequential:
    """:func:`dense_mlp` with its two hidden layers :class:`~tnnlib.nn.TTLinear` (lesson 08).

    The width is ``prod(hidden_modes)``; the first layer reads ``in_modes``
    (default the image's ``(4, 7, 7, 4)``). ``rank``: what ``TTLinear`` takes
    (an int or a rank tuple) for both hidden layers, or a pair of rank tuples,
    one per layer (e.g. from :func:`tnnlib.bonds.allocate_ranks`). The layers keep their structure-aware
    initialisation (:mod:`tnnlib.nn.init`); the last layer is an ``nn.Linear``.

    >>> model = tt_mlp((4, 4, 4, 4), 8)
    >>> model[1].rank, model[3].rank, count_parameters(model)
    ((1, 8, 8, 8, 1), (1, 8, 8, 8, 1), 9226)
    """
    hidden_modes = check_modes(hidden_modes, None, "hidden_modes", "tt_mlp")
    in_modes = check_modes(in_modes, None, "in_modes", "tt_mlp")
    width = math.prod(hidden_modes)
    if isinstance(rank, (list, tuple)) and len(rank) == 2 and all(isinstance(r, (list, tuple)) for r in rank):
        first, second = rank                                  # one rank tuple per hidden layer
    else:
        first = second = rank
    return nn.Sequential(nn.Flatten(),
                         TTLinear(math.prod(in_modes), width, first, in_modes=in_modes, out_modes=hidden_modes),
                         nn.ReLU(),
                         TTLinear(width, width, second, in_modes=hidden_modes, out_modes=hidden_modes), nn.ReLU(),
                         nn.Linear(width, n_classes))


def count_parameters(model: nn.Module) -> int:
    """All parameters of ``model``, biases included."""
    return sum(p.numel() for p in model.parameters())


def _layer_flops(model: nn.Module, batch_size: int, *, backward: bool, training: bool, where: str) -> int:
    """Summed FLOPs of the layers, forward only or forward + backward; ``training``: which plans are priced."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"{where}: expected an nn.Module, got {type(model).__name__}")
    batch_size = check_positive_int(batch_size, "batch_size", where)
    if not isinstance(training, bool):
        raise TypeError(f"{where}: training must be True or False, got {training!r}")
    total = 0
    for layer in model.modules():
        if isinstance(layer, nn.Linear):
            total += (6 if backward else 2) * batch_size * layer.in_features * layer.out_features
        elif hasattr(layer, "cost") and hasattr(layer, "plan"):
            cost = layer.cost(batch_size, training=training)
            total += cost.train_flops if backward else cost.flops
    return total


def forward_flops_per_example(model: nn.Module, batch_size: int = 128, *, training: bool = False) -> float:
    """FLOPs of one forward pass per example: ``2 in out`` per ``nn.Linear``, the planned cost of tensorized layers.

    The tensorized layers are priced at ``batch_size`` (their plan depends on
    it) with the plan they run for inference (``training=False``) or the one
    they train with (``training=True``: the forward part of a training step,
    ``cost(batch_size, training=True).flops``, as lesson 08 counts it).

    >>> forward_flops_per_example(dense_mlp(32))
    52864.0
    >>> forward_flops_per_example(dense_mlp(32), training=True)      # nn.Linear has one plan
    52864.0
    """
    return _layer_flops(model, batch_size, backward=False, training=training,
                        where="forward_flops_per_example") / batch_size


def train_flops_per_example(model: nn.Module, batch_size: int = 128) -> float:
    """FLOPs of one training step (forward + backward) per example, with the plans the layers train with.

    ``nn.Linear``: ``6 in out`` (the product and its two gradients);
    tensorized layers: their ``cost(batch_size, training=True).train_flops``.

    >>> train_flops_per_example(dense_mlp(32))
    158592.0
    """
    return _layer_flops(model, batch_size, backward=True, training=True, where="train_flops_per_example") / batch_size


def width_for(target: float, measure, *, max_width: int = 65536) -> int:
    """The width ``h`` in ``1..max_width`` whose ``measure(h)`` is closest to ``target`` (``measure`` increasing).

    Bisection, then the closer of the two neighbours; ``measure`` should be
    cheap (a formula, not a model built at every width).

    >>> width_for(26506, lambda h: h * h + 796 * h + 10)     # the parameters of dense_mlp(h)
    32
    """
    if not callable(measure):
        raise TypeError(f"width_for: measure must be a function of the width, got {type(measure).__name__}")
    lo, hi = 1, check_positive_int(max_width, "max_width", "width_for")
    if measure(hi) < target:
        raise ValueError(f"width_for: even width {hi} gives {measure(hi):g} < target {target:g}; raise max_width")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if measure(mid) < target else (lo, mid)
    return min((lo, hi), key=lambda h: (abs(measure(h) - target), h))


# --------------------------------------------------------------------------
# A sweep: train a family of models, report accuracy against their cost
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    """One trained model of a :func:`sweep`.

    ``train_flops``: forward + backward FLOPs of the whole training run
    (per example x examples x epochs); ``forward_flops``: per example.
    """

    name: str
    seed: int
    params: int
    forward_flops: float
    train_flops: float
    accuracy: float
    seconds: float


def sweep(builders: dict, train_data, test_data, *, epochs: int, batch_size: int = 128, lr: float = 3e-3,
          seeds=(0,), **fit_kwargs) -> list:
    """Train every model of ``builders`` (``{name: function() -> model}``) once per seed; one :class:`Run` each.

    For each seed, ``seed_everything(seed)`` is called before the model is
    built (its initialisation) and ``fit(..., seed=seed)`` fixes the order of
    the examples, so the models of one seed see the same batches. Every model
    trains with the course's loop, :func:`tnnlib.train.fit` (Adam, learning
    rate ``lr``, cross-entropy), ``fit_kwargs`` passed on; the accuracy is
    measured on ``test_data`` after the last epoch.

    >>> from tnnlib.data import load_fashion_mnist
    >>> data = load_fashion_mnist("train", n=256)
    >>> runs = sweep({"dense 16": lambda: dense_mlp(16)}, data, data, epochs=1, progress=False)
    >>> runs[0].name, runs[0].params
    ('dense 16', 13002)
    """
    if not isinstance(builders, dict) or not builders:
        raise TypeError("sweep: builders must be a non-empty dict {name: function returning a model}")
    epochs = check_positive_int(epochs, "epochs", "sweep")
    n_examples = len(train_data[0]) if isinstance(train_data, (tuple, list)) else len(train_data.dataset)
    runs = []
    for seed in seeds:
        for name, build in builders.items():
            seed_everything(seed)
            model = build()
            start = time.perf_counter()
            history = fit(model, train_data, epochs=epochs, batch_size=batch_size, lr=lr, val_data=test_data,
                          seed=seed, **fit_kwargs)
            seconds = time.perf_counter() - start
            model.train()
            runs.append(Run(name, seed, count_parameters(model), forward_flops_per_example(model, batch_size),
                            train_flops_per_example(model, batch_size) * n_examples * epochs,
                            float(history.val_accuracy[-1]), seconds))
    return runs


# --------------------------------------------------------------------------
# Pixel orders
# --------------------------------------------------------------------------

def permute_pixels(images, permutation):
    """The images with their pixels in a fixed new order: pixel ``k`` of the result is pixel ``permutation[k]``.

    ``images``: ``(N, H, W)`` or ``(N, P)``, NumPy or torch; the result has the
    same shape and kind (``images.reshape(N, -1)[:, permutation]``, reshaped back).

    >>> permute_pixels(np.arange(6).reshape(1, 2, 3), [5, 4, 3, 2, 1, 0]).tolist()
    [[[5, 4, 3], [2, 1, 0]]]
    """
    n = images.shape[0]
    flat = images.reshape(n, -1)
    perm = np.asarray(permutation.cpu() if isinstance(permutation, torch.Tensor) else permutation)
    if perm.ndim != 1 or perm.dtype.kind not in "iu" or not np.array_equal(np.sort(perm), np.arange(flat.shape[1])):
        raise ValueError(f"permute_pixels: permutation must hold each of 0..{flat.shape[1] - 1} once "
                         f"(the images have {flat.shape[1]} pixels), got {len(perm)} entries")
    index = torch.as_tensor(perm, device=flat.device) if isinstance(flat, torch.Tensor) else perm
    return flat[:, index].reshape(images.shape)


def mode_order(modes, order) -> np.ndarray:
    """The pixel permutation that reorders the modes of the pixel index: axes ``modes`` permuted by ``order``.

    With it, ``permute_pixels(x, mode_order(modes, order))`` equals
    ``x.reshape(N, *modes).permute(0, *(1 + o for o in order)).reshape(N, -1)``:
    the new mode ``m`` is the old mode ``order[m]``. For 28 x 28 images and
    ``modes = (4, 7, 7, 4)`` (coarse row, fine row, coarse column, fine
    column), ``order = (0, 2, 1, 3)`` puts the coarse modes first.

    >>> mode_order((2, 3), (1, 0)).tolist()
    [0, 3, 1, 4, 2, 5]
    """
    modes = check_modes(modes, None, "modes", "mode_order")
    order = tuple(order)
    if sorted(order) != list(range(len(modes))) or not all(is_int(o) for o in order):
        raise ValueError(f"mode_order: order must be a permutation of 0..{len(modes) - 1}, got {order}")
    return np.arange(math.prod(modes)).reshape(modes).transpose(order).reshape(-1)
