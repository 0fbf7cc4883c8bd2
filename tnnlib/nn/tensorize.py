"""``tensorize``: replace chosen layers of a trained model by factorised ones.

    report = tensorize(model, ["fc1"], method="tt", max_rank=16)
    print(report)                 # one row per layer: ranks, parameters, error

Each chosen layer is decomposed with its class's ``from_dense`` (a truncated
decomposition of the trained weight, no training), and put in its place.
Which class handles what:

==============  ==========================================================
``nn.Linear``   ``"tt"`` :class:`TTLinear`, ``"tucker"`` :class:`TuckerLinear`,
                ``"cp"`` :class:`CPLinear`, ``"tr"`` :class:`TRLinear`,
                ``"lowrank"`` :class:`LowRankLinear`
``nn.Conv2d``   ``"cp"`` :class:`CPConv2d`, ``"tucker"`` :class:`TuckerConv2d`
``nn.Embedding`` ``"tt"`` :class:`TTEmbedding`
==============  ==========================================================

A truncated decomposition of a densely trained weight loses accuracy (trained
weights are not low-rank); fine-tuning the new layers ("healing") recovers
most of it.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from .conv import CPConv2d, TuckerConv2d
from .embedding import TTEmbedding
from .factorized import CPLinear, LowRankLinear, TRLinear, TuckerLinear
from .tt_linear import TTLinear

LINEAR = {"tt": TTLinear, "tucker": TuckerLinear, "cp": CPLinear, "tr": TRLinear, "lowrank": LowRankLinear}
CONV = {"cp": CPConv2d, "tucker": TuckerConv2d}
EMBEDDING = {"tt": TTEmbedding}
SUPPORTED = "nn.Linear (tt, tucker, cp, tr, lowrank), nn.Conv2d (cp, tucker), nn.Embedding (tt)"
COLUMNS = ["layer", "type", "shape", "modes", "ranks", "params_before", "params_after", "compression", "rel_error"]


class TensorizeReport(list):
    """The rows (dicts) of a :func:`tensorize` call; ``print`` shows them as a table.

    ``report.model`` is the model that was changed (the input, or its copy).
    """

    model: nn.Module | None = None

    def __str__(self):
        from ..bench import format_table

        return format_table(list(self), COLUMNS)

    def _repr_markdown_(self):
        return str(self)


def _find_targets(model: nn.Module, targets) -> list:
    """Names of the layers to replace: a name, a list of names, a layer type or a tuple/list of types."""
    modules = dict(model.named_modules())
    if isinstance(targets, (str, type)):
        targets = [targets]
    names = []
    for target in targets:
        if isinstance(target, type):
            found = [n for n, m in modules.items() if n and type(m) is target]
            if not found:
                raise ValueError(f"no layer of type {target.__name__} in the model")
            names += found
        elif isinstance(target, str):
            if not target or target not in modules:
                layers = ", ".join(n for n in modules if n)
                raise ValueError(f"no layer named {target!r} in the model; its layers are: {layers}")
            names.append(target)
        else:
            raise TypeError(f"targets must be layer names or layer types, got {target!r}")
    return list(dict.fromkeys(names))                 # unique, in order


def _layer_modes(modes, name: str):
    """The modes for one layer: ``None``, one ``(in_modes, out_modes)`` for all, or a dict by name."""
    if isinstance(modes, dict):
        modes = modes.get(name)
    if modes is None:
        return None, None
    if len(modes) != 2:
        raise ValueError("modes must be a pair (in_modes, out_modes) (for an embedding: (voc_modes, emb_modes))")
    return tuple(modes[0]), tuple(modes[1])


def _check_options(method: str, max_rank, eps, names):
    where = f" (tensorizing {', '.join(repr(n) for n in names)})"
    try:
        _check_values(method, max_rank, eps)
    except ValueError as error:
        raise ValueError(f"{error}{where}") from None


def _check_values(method: str, max_rank, eps):
    if method not in LINEAR:
        raise ValueError(f"unknown method {method!r}; choose from {sorted(LINEAR)}")
    if max_rank is not None and (isinstance(max_rank, bool) or not isinstance(max_rank, int) or max_rank < 1):
        raise ValueError(f"max_rank must be a positive integer, got {max_rank!r}")
    if eps is not None and not (isinstance(eps, (int, float)) and 0 < eps < 1):
        raise ValueError(f"eps must be a number in (0, 1), got {eps!r}")
    if method == "cp" and max_rank is None:
        raise ValueError("method 'cp' needs max_rank (the CP rank R); eps cannot choose a CP rank")
    if method == "cp" and eps is not None:
        raise ValueError("method 'cp' takes max_rank only, not eps")


def _convert(layer: nn.Module, method: str, max_rank, eps, in_modes, out_modes):
    """The replacement of one layer, and its old weight (to measure the error)."""
    if isinstance(layer, nn.Linear):
        cls = LINEAR[method]
        if cls is LowRankLinear:
            if in_modes is not None:
                raise ValueError("method 'lowrank' takes no modes")
            return cls.from_dense(layer, max_rank=max_rank, eps=eps), layer.weight
        if cls is CPLinear:
            return cls.from_dense(layer, in_modes, out_modes, rank=max_rank), layer.weight
        return cls.from_dense(layer, in_modes, out_modes, max_rank=max_rank, eps=eps), layer.weight
    if isinstance(layer, nn.Conv2d):
        if method not in CONV:
            raise ValueError(f"nn.Conv2d cannot be tensorized with method {method!r}; use 'cp' or 'tucker'")
        if in_modes is not None:
            raise ValueError("convolutions take no modes")
        if method == "cp":
            return CPConv2d.from_dense(layer, rank=max_rank), layer.weight
        return TuckerConv2d.from_dense(layer, max_rank=max_rank, eps=eps), layer.weight
    if isinstance(layer, nn.Embedding):
        if method not in EMBEDDING:
            raise ValueError(f"nn.Embedding can only be tensorized with method 'tt', not {method!r}")
        return TTEmbedding.from_dense(layer, in_modes, out_modes, max_rank=max_rank, eps=eps), layer.weight
    raise TypeError(f"a {type(layer).__name__} cannot be tensorized; tensorize handles {SUPPORTED}")


def _rebuilt(new: nn.Module) -> torch.Tensor:
    if isinstance(new, TTEmbedding):
        return new.full_table()
    if isinstance(new, (CPConv2d, TuckerConv2d)):
        return new.full_kernel()
    return new.full_weight()


def _describe(new: nn.Module) -> tuple:
    modes = ""
    if hasattr(new, "in_modes"):
        modes = f"{new.in_modes} -> {new.out_modes}"
    elif hasattr(new, "voc_modes"):
        modes = f"{new.voc_modes} x {new.emb_modes}"
    ranks = getattr(new, "ranks", None) or getattr(new, "rank", None)
    return modes, str(ranks)


def tensorize(model: nn.Module, targets, method: str = "tt", max_rank: int | None = None, eps: float | None = None,
              modes=None, inplace: bool = True) -> TensorizeReport:
    """Replace the chosen layers of ``model`` by tensorized ones; return a report.

    Parameters
    ----------
    model : nn.Module
    targets : str, type, or a list of them
        Layer names as in ``model.named_modules()`` (``"fc1"``,
        ``"features.3"``), or layer types (``nn.Linear``: every such layer).
    method : {"tt", "tucker", "cp", "tr", "lowrank"}
        Format for linear layers; convolutions take "cp" or "tucker",
        embeddings "tt".
    max_rank : int, optional
        Largest rank (the CP rank for "cp", where it is required).
    eps : float in (0, 1), optional
        Relative error target of the decomposition (not for "cp").
        Neither ``max_rank`` nor ``eps``: an exact decomposition.
    modes : None, (in_modes, out_modes), or dict {name: (in_modes, out_modes)}
        How to reshape the weights (embeddings: ``(voc_modes, emb_modes)``);
        ``None``: the class's default (balanced factorisations; Tucker: none).
    inplace : bool
        ``True`` (default) changes ``model``; ``False`` changes a deep copy,
        available as ``report.model``; the input is left alone.

    Returns
    -------
    TensorizeReport
        A list of dicts, one per layer (``layer``, ``type``, ``shape``,
        ``modes``, ``ranks``, ``params_before``, ``params_after`` (weights
        only), ``compression``, ``rel_error`` = ``||W - W_new|| / ||W||``);
        ``print(report)`` shows a table.

    Raises
    ------
    ValueError, TypeError
        Unknown layer names, layer types that cannot be tensorized, modes
        that do not match a layer, ranks or eps out of range - naming the
        layer. Nothing is replaced unless every layer converts.
    """
    names = _find_targets(model, targets)
    _check_options(method, max_rank, eps, names)
    if not inplace:
        model = copy.deepcopy(model)
    replacements, report = {}, TensorizeReport()
    for name in names:
        layer = model.get_submodule(name)
        try:
            in_modes, out_modes = _layer_modes(modes, name)
            new, old_weight = _convert(layer, method, max_rank, eps, in_modes, out_modes)
        except (ValueError, TypeError) as error:
            raise type(error)(f"layer {name!r} ({layer}): {error}") from error
        with torch.no_grad():
            old = old_weight.detach().double()
            error = float(torch.linalg.vector_norm(old - _rebuilt(new).detach().double().reshape(old.shape))
                          / torch.linalg.vector_norm(old).clamp_min(1e-300))
        shown_modes, ranks = _describe(new)
        report.append({"layer": name, "type": f"{type(layer).__name__} -> {type(new).__name__}",
                       "shape": "x".join(map(str, old.shape)), "modes": shown_modes, "ranks": ranks,
                       "params_before": old.numel(), "params_after": new.weight_parameters(),
                       "compression": old.numel() / new.weight_parameters(), "rel_error": error})
        replacements[name] = new
    for name, new in replacements.items():
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, new)
    report.model = model
    return report
