"""``tensorize``: replace chosen layers of a trained model by factorised ones.

    new_model, report = tensorize(model, ["fc1"], method="tt", max_rank=16)
    print(report)                 # one row per layer: rank, parameters, error

Each chosen layer is decomposed with its class's ``from_dense`` (a truncated
decomposition of the trained weight, no training), and put in its place. As
for torch's model transforms, the model is left alone and a changed deep copy
is returned, unless ``inplace=True``. Which class handles what:

==============  ==========================================================
``nn.Linear``   ``"tt"`` :class:`TTLinear`, ``"tucker"`` :class:`TuckerLinear`,
                ``"cp"`` :class:`CPLinear`, ``"tr"`` :class:`TRLinear`,
                ``"lowrank"`` :class:`LowRankLinear`
``nn.Conv2d``   ``"cp"`` :class:`CPConv2d`, ``"tucker"`` :class:`TuckerConv2d`
``nn.Embedding`` ``"tt"`` :class:`TTEmbedding`
==============  ==========================================================

Every class takes the same keywords in ``from_dense``: ``in_modes``,
``out_modes`` (not the convolutions), and ``max_rank``, ``eps`` - or ``rank``
for CP, whose rank no tolerance chooses. ``tensorize`` passes them on as given.

A truncated decomposition of a densely trained weight loses accuracy (trained
weights are not low-rank); fine-tuning the new layers ("healing") recovers
most of it.
"""
from __future__ import annotations

import copy
import inspect

import torch
from torch import nn

from ..bench import format_table
from .conv import CPConv2d, TuckerConv2d
from .embedding import TTEmbedding
from .factorized import CPLinear, LowRankLinear, TRLinear, TuckerLinear
from .tt_linear import TTLinear

FORMATS = {
    nn.Linear: {"tt": TTLinear, "tucker": TuckerLinear, "cp": CPLinear, "tr": TRLinear, "lowrank": LowRankLinear},
    nn.Conv2d: {"cp": CPConv2d, "tucker": TuckerConv2d},
    nn.Embedding: {"tt": TTEmbedding},
}
METHODS = sorted({m for formats in FORMATS.values() for m in formats})
SUPPORTED = "nn.Linear (tt, tucker, cp, tr, lowrank), nn.Conv2d (cp, tucker), nn.Embedding (tt)"
COLUMNS = ["layer", "type", "shape", "modes", "rank", "params_before", "params_after", "compression", "rel_error"]


class TensorizeReport(list):
    """The rows (dicts) of a :func:`tensorize` call; ``print`` shows them as a table."""

    def __str__(self):
        return format_table(list(self), COLUMNS)

    def _repr_markdown_(self):
        return str(self)


def _find_targets(model: nn.Module, targets) -> list:
    """The modules to replace, each once: ``[(module, [every name it is reachable under])]``.

    ``targets``: a name, a list of names, a layer type or a tuple/list of
    types. A module reachable under several names (shared) is one target.
    """
    modules = dict(model.named_modules(remove_duplicate=False))
    names_of = {}
    for name, module in modules.items():
        if name:
            names_of.setdefault(id(module), []).append(name)
    if isinstance(targets, (str, type)):
        targets = [targets]
    chosen = {}
    for target in targets:
        if isinstance(target, type):
            found = [m for n, m in modules.items() if n and type(m) is target]
            if not found:
                raise ValueError(f"no layer of type {target.__name__} in the model")
        elif isinstance(target, str):
            if not target or target not in modules:
                layers = ", ".join(n for n in dict(model.named_modules()) if n)
                raise ValueError(f"no layer named {target!r} in the model; its layers are: {layers}")
            found = [modules[target]]
        else:
            raise TypeError(f"targets must be layer names or layer types, got {target!r}")
        for module in found:
            chosen.setdefault(id(module), module)
    return [(module, names_of[key]) for key, module in chosen.items()]


def _check_tied(model: nn.Module, module: nn.Module, names: list) -> None:
    """A clear error if ``module``'s weight is also a parameter of another module (tied weights)."""
    weight = getattr(module, "weight", None)
    if weight is None:
        return
    others = [name for name, p in model.named_parameters(remove_duplicate=False)
              if p is weight and name.rpartition(".")[0] not in names]
    if others:
        raise ValueError(
            f"its weight is tied to {', '.join(others)} (one shared Parameter). Tensorizing it would untie "
            f"them: the factors would replace the weight here while {others[0]} keeps the dense tensor, so the "
            f"model would hold more parameters, not fewer. Untie it first if that is what you want "
            f"(layer.weight = nn.Parameter(layer.weight.detach().clone())), or tensorize the other owner")


def _per_layer(value, names: list):
    """A keyword given once for all layers, or as a dict by layer name (any of a shared layer's names)."""
    if isinstance(value, dict):
        return next((value[n] for n in names if n in value), None)
    return value


def _convert(layer: nn.Module, method: str, options: dict):
    """The replacement of one layer, by its class's ``from_dense`` with the keywords given."""
    kind = next((k for k in FORMATS if isinstance(layer, k)), None)
    if kind is None:
        raise TypeError(f"a {type(layer).__name__} cannot be tensorized; tensorize handles {SUPPORTED}")
    if method not in FORMATS[kind]:
        raise ValueError(f"{kind.__name__} cannot be tensorized with method {method!r}; "
                         f"use {' or '.join(repr(m) for m in FORMATS[kind])}")
    cls = FORMATS[kind][method]
    accepted = inspect.signature(cls.from_dense).parameters
    for key in [k for k, v in options.items() if v is not None and k not in accepted]:
        hint = ("CP takes rank= (the number of rank-one terms), not max_rank/eps" if "rank" in accepted
                else "it takes max_rank/eps, not rank (rank is CP's)" if key == "rank"
                else "it has no modes")
        raise ValueError(f"method {method!r} on a {kind.__name__} ({cls.__name__}) does not take {key}: {hint}")
    return cls.from_dense(layer, **{k: v for k, v in options.items() if v is not None})


def _relative_error(old: torch.Tensor, new: torch.Tensor) -> float:
    old, new = old.detach().double(), new.detach().double().reshape(old.shape)
    return float(torch.linalg.vector_norm(old - new) / torch.linalg.vector_norm(old).clamp_min(1e-300))


def _keep_state(new: nn.Module, layer: nn.Module) -> nn.Module:
    """The new layer in the old one's mode (train/eval), its factors frozen if the weight was, its bias as the bias."""
    new.train(layer.training)
    weight_grad = layer.weight.requires_grad
    bias_grad = layer.bias.requires_grad if getattr(layer, "bias", None) is not None else weight_grad
    for name, p in new.named_parameters():
        p.requires_grad_(bias_grad if name == "bias" else weight_grad)
    return new


def _modes_text(new: nn.Module) -> str:
    if hasattr(new, "in_modes"):
        return f"{new.in_modes} -> {new.out_modes}"
    if hasattr(new, "voc_modes"):
        return f"{new.voc_modes} x {new.emb_modes}"
    return ""


def tensorize(model: nn.Module, targets, method: str = "tt", *, max_rank=None, eps=None, rank=None,
              in_modes=None, out_modes=None, inplace: bool = False):
    """Replace the chosen layers of ``model`` by tensorized ones; return the model and a report.

    Parameters
    ----------
    model : nn.Module
    targets : str, type, or a list of them
        Layer names as in ``model.named_modules()`` (``"fc1"``,
        ``"features.3"``), or layer types (``nn.Linear``: every such layer).
        A layer reachable under several names is replaced under all of them
        (by one new layer, so it stays shared).
    method : {"tt", "tucker", "cp", "tr", "lowrank"}
        Format for linear layers; convolutions take "cp" or "tucker",
        embeddings "tt".
    max_rank : int or sequence, optional
        Cap on the ranks (an int is capped at the largest useful ranks; a
        sequence is one entry per bond or mode, checked). Not for "cp".
    eps : float in [0, 1), optional
        Relative error target of the decomposition. Not for "cp".
        Neither ``max_rank`` nor ``eps``: an exact decomposition.
    rank : int, optional
        The CP rank, required for "cp" (and only there).
    in_modes, out_modes : sequence of ints, or dict {layer name: modes}, optional
        How to reshape the weights (embeddings: ``in_modes`` are the
        vocabulary's modes, ``out_modes`` the embedding's); ``None``: the
        class's default (balanced factorisations; Tucker: one mode per side).
        Not for convolutions and "lowrank".
    inplace : bool
        ``False`` (default): change a deep copy and leave ``model`` alone;
        ``True``: change ``model`` itself.

    Returns
    -------
    (nn.Module, TensorizeReport)
        The changed model (the copy, or ``model``), and one dict per layer
        (``layer``, ``type``, ``shape``, ``modes``, ``rank``,
        ``params_before``, ``params_after`` (weights only), ``compression``,
        ``rel_error`` = ``||W - W_new|| / ||W||``); ``print(report)`` shows a
        table. Each new layer keeps the old one's training mode and
        ``requires_grad`` flags (factors as the weight, bias as the bias).

    Raises
    ------
    ValueError, TypeError
        Unknown layer names, layer types that cannot be tensorized, keywords a
        format does not take, modes that do not match a layer, ranks or eps
        out of range, a layer whose weight is tied to another module's
        (tensorizing it would add parameters, not remove them) - naming the
        layer. Nothing is replaced unless every layer converts.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    >>> new, report = tensorize(net, "0", max_rank=4)
    >>> type(new[0]).__name__, type(net[0]).__name__, report[0]["rank"]
    ('TTLinear', 'Linear', '(1, 4, 1)')
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    if not inplace:
        model = copy.deepcopy(model)
    targets = _find_targets(model, targets)
    replacements, report = [], TensorizeReport()
    for layer, names in targets:
        try:
            _check_tied(model, layer, names)
            options = dict(max_rank=max_rank, eps=eps, rank=rank, in_modes=_per_layer(in_modes, names),
                           out_modes=_per_layer(out_modes, names))
            new = _keep_state(_convert(layer, method, options), layer)
        except (ValueError, TypeError) as error:
            raise type(error)(f"layer {names[0]!r} ({layer}): {error}") from error
        with torch.no_grad():
            rel_error = _relative_error(layer.weight, new.dense_weight())
        before, after = layer.weight.numel(), new.weight_parameters()
        report.append({"layer": ", ".join(names), "type": f"{type(layer).__name__} -> {type(new).__name__}",
                       "shape": "x".join(map(str, layer.weight.shape)), "modes": _modes_text(new),
                       "rank": str(new.rank), "params_before": before, "params_after": after,
                       "compression": before / after, "rel_error": rel_error})
        replacements.append((layer, new))
    new_of = {id(layer): new for layer, new in replacements}
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if id(child) in new_of:
                setattr(parent, child_name, new_of[id(child)])
    return model, report
