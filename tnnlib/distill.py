"""Healing a compressed model by distillation, and measuring how close it stays to the original.

A model whose layers were truncated (:func:`tnnlib.nn.tensorize`) is a worse
copy of the original, the *teacher*. Healing trains the compressed model, the
*student*, to give the teacher's outputs again, on inputs that need no labels:

* **layer-wise distillation** (:func:`record_inputs`, :func:`distill_layer`):
  each new layer alone learns to give the original layer's outputs on the
  inputs that layer saw in the teacher. Cheap (one small regression per layer)
  and independent from layer to layer;
* **end-to-end distillation** (:func:`cosine_distance`, with
  :func:`tnnlib.train.fit`): the whole student learns to give the teacher's
  final outputs, here unit sentence embeddings; the errors of all layers are
  corrected together.

For sentence embeddings "close" is measured by the cosine similarity to the
original embedding of the same sentence (:func:`cosine_similarities`: mean and
worst over held-out sentences), and by whether a search with the compressed
model finds the same nearest sentences (:func:`neighbour_agreement`).

>>> import torch
>>> reference = torch.eye(3, dtype=torch.float64)
>>> cosine_similarities(reference, 2 * reference).tolist()   # the length does not count
[1.0, 1.0, 1.0]
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .train import History, fit
from .validation import check_positive_int

__all__ = ["cosine_similarities", "cosine_distance", "top_k_neighbours", "neighbour_agreement",
           "record_inputs", "distill_layer", "trainable_only"]


def _pair_of_matrices(reference, approx, where):
    for name, x in (("reference", reference), ("approx", approx)):
        if not isinstance(x, torch.Tensor) or x.dim() != 2:
            raise ValueError(f"{where}: {name} must be a 2-D tensor (one row per sentence), got "
                             f"{type(x).__name__}{tuple(x.shape) if isinstance(x, torch.Tensor) else ''}")
    if reference.shape != approx.shape:
        raise ValueError(f"{where}: reference {tuple(reference.shape)} and approx {tuple(approx.shape)} "
                         "must have the same shape")


def cosine_similarities(reference: torch.Tensor, approx: torch.Tensor) -> torch.Tensor:
    """Row by row, the cosine of the angle between ``reference[i]`` and ``approx[i]``: a tensor ``(N,)``.

    Rows need not be unit vectors. 1 means the same direction, 0 orthogonal.
    """
    _pair_of_matrices(reference, approx, "cosine_similarities")
    return (F.normalize(reference, dim=1) * F.normalize(approx, dim=1)).sum(1)


def cosine_distance(embeddings: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``mean(1 - cos(embeddings[i], targets[i]))``: the loss of end-to-end distillation (0 when they agree).

    >>> cosine_distance(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 3.0]])).item()
    1.0
    """
    return (1 - cosine_similarities(targets, embeddings)).mean()


def top_k_neighbours(embeddings: torch.Tensor, k: int) -> torch.Tensor:
    """For every row, the indices of the ``k`` other rows of largest cosine, most similar first: ``(N, k)``.

    A row is never its own neighbour.

    >>> e = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> top_k_neighbours(e, 1).flatten().tolist()
    [1, 0, 3, 2]
    """
    k = check_positive_int(k, "k", "top_k_neighbours")
    if not isinstance(embeddings, torch.Tensor) or embeddings.dim() != 2:
        raise ValueError("top_k_neighbours: embeddings must be a 2-D tensor (one row per sentence)")
    if k >= len(embeddings):
        raise ValueError(f"top_k_neighbours: k ({k}) must be smaller than the number of rows ({len(embeddings)})")
    unit = F.normalize(embeddings, dim=1)
    similarity = unit @ unit.T
    similarity.fill_diagonal_(-float("inf"))
    return similarity.topk(k, dim=1).indices


def neighbour_agreement(reference: torch.Tensor, approx: torch.Tensor, k: int) -> float:
    """Mean over rows of the fraction of ``reference``'s ``k`` nearest neighbours that ``approx`` also finds.

    The order within the top ``k`` does not count. 1.0: every search gives the same sentences.

    >>> e = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> neighbour_agreement(e, e, 1), neighbour_agreement(e, e[[0, 2, 1, 3]], 1)
    (1.0, 0.0)
    """
    _pair_of_matrices(reference, approx, "neighbour_agreement")
    ref, got = top_k_neighbours(reference, k), top_k_neighbours(approx, k)
    shared = (ref[:, :, None] == got[:, None, :]).any(2).sum(1)
    return float(shared.double().mean() / k)


@torch.no_grad()
def record_inputs(model: nn.Module, names, run, *, keep=None) -> dict:
    """The inputs the layers ``names`` of ``model`` receive while ``run(model)`` executes.

    Returns ``{name: tensor (rows, in_features)}``: every call's input,
    flattened to rows. ``keep(rows_tensor)`` may select rows (e.g. the real
    tokens, not the padding); by default all rows are kept.
    """
    modules = dict(model.named_modules())
    missing = [n for n in names if n not in modules]
    if missing:
        raise ValueError(f"record_inputs: no layer named {missing[0]!r} in the model")
    seen = {name: [] for name in names}

    def hook(name):
        def save(module, inputs, output):
            x = inputs[0].detach()
            seen[name].append(x.reshape(-1, x.shape[-1]) if keep is None else keep(x))
        return save

    handles = [modules[name].register_forward_hook(hook(name)) for name in names]
    try:
        run(model)
    finally:
        for handle in handles:
            handle.remove()
    empty = [n for n, v in seen.items() if not v]
    if empty:
        raise ValueError(f"record_inputs: run(model) never called {empty[0]!r}")
    return {name: torch.cat(values) for name, values in seen.items()}


def distill_layer(student: nn.Module, teacher: nn.Module, inputs: torch.Tensor, *, steps: int,
                  batch_size: int = 512, lr: float = 1e-3, seed: int = 0) -> History:
    """Train ``student`` (a layer) to give ``teacher``'s outputs on ``inputs``: layer-wise distillation.

    The loss is the mean squared error between the two layers' outputs, with
    :func:`tnnlib.train.fit` (Adam, ``steps`` steps of ``batch_size`` rows).
    All of the student's parameters are trained; the teacher is not touched.
    Returns fit's :class:`History`.
    """
    steps = check_positive_int(steps, "steps", "distill_layer")
    with torch.no_grad():
        targets = teacher(inputs)
    for p in student.parameters():
        p.requires_grad_(True)
    return fit(student, (inputs, targets), epochs=None, max_steps=steps, batch_size=batch_size, lr=lr,
               loss_fn=F.mse_loss, seed=seed, progress=False)


def trainable_only(model: nn.Module, names) -> int:
    """Freeze every parameter of ``model`` except those of the modules ``names``; return how many are trainable."""
    modules = dict(model.named_modules())
    missing = [n for n in names if n not in modules]
    if missing:
        raise ValueError(f"trainable_only: no module named {missing[0]!r} in the model")
    for p in model.parameters():
        p.requires_grad_(False)
    for name in names:
        for p in modules[name].parameters():
            p.requires_grad_(True)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
