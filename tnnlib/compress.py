"""Compress a trained network, then heal it: the experiments of lesson 07.

A densely trained weight is not low-rank, so a truncated decomposition
(:func:`tnnlib.nn.tensorize`) loses accuracy. *Healing* - a short fine-tuning
of the new factors only, everything else frozen (Tomut et al. 2024,
CompactifAI, arXiv:2401.14109) - recovers most of it. This module holds the
steps, each small and reusable:

* :func:`energy_rank` -- the rank that keeps a fraction of a layer's
  spectral energy (a rank chosen from the singular values);
* :func:`factor_parameters`, :func:`freeze_all_but_factors` -- which
  parameters healing trains;
* :func:`heal` -- the fine-tuning loop (Adam, cosine learning rate, seeded
  mini-batches), on the labels or, better on a small healing set, on the
  uncompressed model's outputs (:func:`distillation_loss`, Hinton et al. 2015);
* :func:`compress_and_heal` -- one setting: tensorize a copy, evaluate, heal,
  evaluate; :func:`compression_sweep` -- many settings;
* :class:`ClassifierHead`, :func:`cached_features` -- the speed trick for
  compressing layers of the reference CNN's classifier: the convolutional
  part is frozen, so its output is computed once and healing and evaluation
  only run the two fully connected layers;
* :func:`truncate_layer`, :func:`layer_sensitivity` -- truncate one layer at a
  time to the rank that keeps a fraction of its energy, and measure the drop.

Accuracy is measured with :func:`tnnlib.models.accuracy` (a fraction in [0, 1]).
"""
from __future__ import annotations

import copy
import time

import torch
from torch import nn
from torch.nn import functional as F

from .models import accuracy
from .nn import CPConv2d, LowRankLinear, TensorizedLinear, TTEmbedding, TuckerConv2d, tensorize
from .svd import rank_for_energy
from .train import fit

__all__ = ["TENSORIZED_LAYERS", "energy_rank", "factor_parameters", "freeze_all_but_factors", "heal",
           "distillation_loss", "logits_of", "weight_matrix",
           "ClassifierHead", "cached_features", "compress_and_heal", "compression_sweep", "truncate_layer",
           "layer_sensitivity",
           "count_parameters"]

#: Layer classes whose parameters (bias excluded) are the factors of a tensorized weight.
TENSORIZED_LAYERS = (TensorizedLinear, CPConv2d, TuckerConv2d, TTEmbedding)


# ---------------------------------------------------------------------------
# Choosing ranks
# ---------------------------------------------------------------------------

def weight_matrix(layer: nn.Module) -> torch.Tensor:
    """A layer's weight as a matrix ``(out, everything else)``: ``nn.Linear`` as is, a conv kernel
    ``(S, C, h, w)`` as ``(S, C h w)``, an embedding table as is."""
    weight = layer.weight if hasattr(layer, "weight") else None
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"{type(layer).__name__} has no dense weight to take the spectrum of")
    return weight.detach().reshape(weight.shape[0], -1)


def energy_rank(weight, energy: float) -> int:
    """Smallest rank ``r`` with ``sum(s[:r]^2) >= energy * sum(s^2)`` for the singular values ``s`` of ``weight``.

    Parameters
    ----------
    weight : tensor or array, shape (m, n) (higher orders are reshaped to ``(shape[0], -1)``)
    energy : float in (0, 1]

    By Eckart-Young the rank-``r`` truncation then has relative error at most
    ``sqrt(1 - energy)`` (:func:`tnnlib.svd.rank_for_energy`).
    """
    w = torch.as_tensor(weight).detach().double()
    w = w.reshape(w.shape[0], -1)
    s = torch.linalg.svdvals(w).cpu().numpy()
    return int(rank_for_energy(s, energy))


# ---------------------------------------------------------------------------
# Which parameters heal
# ---------------------------------------------------------------------------

def factor_parameters(model: nn.Module) -> dict:
    """``{name: parameter}`` of the factors of every tensorized layer of ``model`` (biases excluded)."""
    out = {}
    for prefix, module in model.named_modules():
        if isinstance(module, TENSORIZED_LAYERS):
            for name, p in module.named_parameters():
                if name != "bias" and not name.endswith(".bias"):
                    out[f"{prefix}.{name}" if prefix else name] = p
    return out


def freeze_all_but_factors(model: nn.Module) -> list:
    """Make only the factors of tensorized layers trainable (``requires_grad``); return their names, sorted.

    Everything else - dense layers, biases (also those of tensorized layers) - is frozen.
    """
    factors = factor_parameters(model)
    chosen = {id(p) for p in factors.values()}
    for p in model.parameters():
        p.requires_grad_(id(p) in chosen)
    return sorted(factors)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``model`` (all, or those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


# ---------------------------------------------------------------------------
# Healing
# ---------------------------------------------------------------------------

def distillation_loss(student_logits, teacher_logits, labels, alpha: float = 0.9, temperature: float = 2.0):
    """Knowledge distillation (Hinton, Vinyals, Dean 2015, arXiv:1503.02531).

    ``(1 - alpha) * CE(student, labels) + alpha * T^2 * KL(p_teacher || p_student)`` where
    ``p = softmax(logits / T)`` and the KL divergence is summed over classes and averaged over the
    batch. The factor ``T^2`` keeps the gradients of the soft term at the scale of the hard one.
    With ``alpha = 0`` it is the plain cross-entropy.
    """
    hard = F.cross_entropy(student_logits, labels)
    if alpha == 0:
        return hard
    T = float(temperature)
    soft = F.kl_div(F.log_softmax(student_logits / T, dim=1), F.log_softmax(teacher_logits / T, dim=1),
                    reduction="batchmean", log_target=True)
    return (1 - alpha) * hard + alpha * T * T * soft


def heal(model: nn.Module, inputs, labels, steps: int = 300, batch_size: int = 64, lr: float = 1e-3,
         seed: int = 0, teacher_logits=None, alpha: float = 0.9, temperature: float = 2.0,
         schedule: str = "cosine") -> list:
    """Fine-tune the trainable parameters of ``model`` for ``steps`` mini-batches; return the losses.

    Adam on the parameters with ``requires_grad`` (freeze the rest first,
    e.g. with :func:`freeze_all_but_factors`), mini-batches of
    ``batch_size`` drawn without replacement from a seeded permutation (a new
    one each epoch). The loss is the cross-entropy with ``labels``, or, given
    ``teacher_logits`` (the uncompressed model's logits on ``inputs``), the
    :func:`distillation_loss` with ``alpha`` and ``temperature``. The model
    is in training mode during the loop and goes back to the mode it was in.

    Parameters
    ----------
    model : nn.Module, inputs -> logits
    inputs : tensor or array (N, ...)
    labels : tensor or array (N,) of class indices
    steps, batch_size : int
    lr : float, Adam's learning rate (the peak, with ``schedule="cosine"``)
    seed : int, for the order of the mini-batches
    teacher_logits : tensor (N, classes), optional
    alpha, temperature : float, for the distillation loss
    schedule : ``"cosine"`` (lr decays to 0 over the steps) or ``"constant"``

    Returns
    -------
    list of float: the training loss of each step.
    """
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("heal: the model has no trainable parameter (call freeze_all_but_factors first?)")
    if schedule not in ("cosine", "constant"):
        raise ValueError(f"schedule must be 'cosine' or 'constant', got {schedule!r}")
    if steps == 0:
        return []
    data, loss_fn = (inputs, labels), F.cross_entropy
    if teacher_logits is not None:
        teacher_logits = torch.as_tensor(teacher_logits)
        if teacher_logits.shape[0] != len(inputs):
            raise ValueError(f"teacher_logits has {teacher_logits.shape[0]} rows for {len(inputs)} inputs")
        data = (inputs, labels, teacher_logits)

        def loss_fn(logits, labels, teacher):
            return distillation_loss(logits, teacher, labels, alpha, temperature)
    optimizer = None
    if lr == 0:  # fit wants lr > 0; heal(lr=0) (losses along the batches, nothing moves) works as before
        lr, optimizer = 1.0, (lambda params, lr: torch.optim.Adam(params, lr=0.0))
    history = fit(model, data, epochs=None, max_steps=steps, batch_size=batch_size, lr=lr, loss_fn=loss_fn,
                  optimizer=optimizer, scheduler="cosine" if schedule == "cosine" else None, seed=seed,
                  drop_last=batch_size <= len(inputs), progress=False)
    return history.step_loss


@torch.no_grad()
def _in_eval_batches(model: nn.Module, fn, inputs, batch_size: int) -> torch.Tensor:
    """``fn(inputs)`` batch by batch, with ``model`` in eval mode, its mode restored afterwards."""
    p = next(model.parameters())
    inputs = torch.as_tensor(inputs)
    was_training = model.training
    model.eval()
    out = torch.cat([fn(inputs[i:i + batch_size].to(p.device, p.dtype)) for i in range(0, len(inputs), batch_size)])
    model.train(was_training)
    return out


def logits_of(model: nn.Module, inputs, batch_size: int = 1000) -> torch.Tensor:
    """``model(inputs)`` in eval mode, in batches (e.g. the teacher's logits for :func:`heal`)."""
    return _in_eval_batches(model, model, inputs, batch_size)


# ---------------------------------------------------------------------------
# The reference CNN's classifier on cached features
# ---------------------------------------------------------------------------

class ClassifierHead(nn.Module):
    """``fc2(relu(fc1(features)))`` of a :class:`tnnlib.models.ReferenceCNN`, sharing its layers.

    The layers are the model's own modules (not copies): replacing
    ``head.fc1`` does not change the model, but training ``head`` trains the
    model's layers. :meth:`attach` puts the head's layers back into a model.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.fc1, self.fc2 = model.fc1, model.fc2

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(features)))

    def attach(self, model: nn.Module) -> nn.Module:
        """Put this head's ``fc1`` and ``fc2`` into ``model`` (in place); return the model."""
        model.fc1, model.fc2 = self.fc1, self.fc2
        return model


def cached_features(model: nn.Module, images, batch_size: int = 1000) -> torch.Tensor:
    """``model.features(images)`` (the input of ``fc1``), computed in eval mode, in batches."""
    return _in_eval_batches(model, model.features, images, batch_size)


# ---------------------------------------------------------------------------
# Experiments
# ---------------------------------------------------------------------------

def compress_and_heal(model: nn.Module, layers, method: str, train, test, *, max_rank=None, eps=None, rank=None,
                      in_modes=None, out_modes=None, steps: int = 1000, batch_size: int = 128, lr: float = 1e-2,
                      seed: int = 0, distill: bool = True, alpha: float = 0.9, temperature: float = 2.0,
                      teacher_logits=None) -> tuple:
    """Tensorize ``layers`` of a copy of ``model``, evaluate, heal the factors, evaluate again.

    Parameters
    ----------
    model : nn.Module (left unchanged)
    layers, method, max_rank, eps, rank, in_modes, out_modes : as for :func:`tnnlib.nn.tensorize`
        (``rank`` is the CP rank, for ``method="cp"``)
    train, test : pairs ``(inputs, labels)`` the model reads (images, or cached features for a
        :class:`ClassifierHead`)
    steps, batch_size, lr, seed : as for :func:`heal` (``steps=0``: no healing)
    distill : bool
        Heal with :func:`distillation_loss` against the uncompressed ``model``'s logits on the
        training inputs (``alpha``, ``temperature``), instead of the labels alone.
    teacher_logits : tensor, optional
        Those logits, if already computed (saves one pass over the training inputs per call).

    Returns
    -------
    (new_model, row) where ``row`` is a dict: ``method``, ``layers``, ``rank`` (of each layer),
    ``max_rank``, ``eps``, ``cp_rank`` (the settings),
    ``params_before``, ``params_after`` (weights of the tensorized layers),
    ``compression``, ``rel_error`` (of the weights, the largest over the
    layers), ``acc_truncated``, ``acc_healed`` (fractions; equal when
    ``steps=0``), ``seconds`` (healing time).
    """
    new, report = tensorize(model, layers, method=method, max_rank=max_rank, eps=eps, rank=rank,
                            in_modes=in_modes, out_modes=out_modes)
    before = sum(r["params_before"] for r in report)
    after = sum(r["params_after"] for r in report)
    acc_truncated = accuracy(new, *test)
    seconds, acc_healed = 0.0, acc_truncated
    if steps > 0:
        freeze_all_but_factors(new)
        if distill and teacher_logits is None:
            teacher_logits = logits_of(model, train[0])
        start = time.perf_counter()
        heal(new, *train, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
             teacher_logits=teacher_logits if distill else None, alpha=alpha, temperature=temperature)
        seconds = time.perf_counter() - start
        acc_healed = accuracy(new, *test)
    row = {"method": method, "layers": ", ".join(r["layer"] for r in report),
           "rank": "; ".join(r["rank"] for r in report), "max_rank": max_rank, "eps": eps, "cp_rank": rank,
           "params_before": before, "params_after": after, "compression": before / after,
           "rel_error": max(r["rel_error"] for r in report),
           "acc_truncated": acc_truncated, "acc_healed": acc_healed, "seconds": seconds}
    return new, row


def compression_sweep(model: nn.Module, layer: str, settings, train, test, steps: int = 1000,
                      batch_size: int = 128, lr: float = 1e-2, seed: int = 0, distill: bool = True,
                      teacher_logits=None, log=None) -> list:
    """:func:`compress_and_heal` for each setting; returns the rows (see there).

    ``settings`` is a list of dicts of keyword arguments of :func:`tensorize`
    (``method`` and ``max_rank`` / ``eps`` / ``rank`` / ``in_modes`` / ``out_modes``), e.g.
    ``[{"method": "tt", "max_rank": r} for r in (2, 4, 8)]``.
    ``log`` (e.g. ``print``) gets one line per setting. The teacher's logits
    (for ``distill``) are computed once, unless given.
    """
    rows = []
    if distill and steps > 0 and teacher_logits is None:
        teacher_logits = logits_of(model, train[0])
    for setting in settings:
        setting = dict(setting)
        method = setting.pop("method")
        _, row = compress_and_heal(model, layer, method, train, test, steps=steps, batch_size=batch_size,
                                   lr=lr, seed=seed, distill=distill, teacher_logits=teacher_logits, **setting)
        rows.append(row)
        if log is not None:
            log(f"{method:7s} rank {row['rank']:>22s} {row['params_after']:>8,d} params "
                f"({row['compression']:6.1f}x)  truncated {100 * row['acc_truncated']:6.2f}%  "
                f"healed {100 * row['acc_healed']:6.2f}%")
    return rows


def truncate_layer(layer: nn.Module, rank: int) -> nn.Module:
    """The best rank-``rank`` approximation of a layer's weight matrix (:func:`weight_matrix`), as a layer.

    ``nn.Linear`` -> :class:`~tnnlib.nn.LowRankLinear` (truncated SVD);
    ``nn.Conv2d`` with kernel ``(S, C, h, w)`` -> :class:`~tnnlib.nn.TuckerConv2d` with rank
    ``(rank, C)``: a ``h x w`` convolution to ``rank`` channels, then a 1x1 convolution to ``S``,
    which is exactly the truncated SVD of the ``(S, C h w)`` matrix. A ``rank`` above the
    largest useful one is capped.
    """
    if isinstance(layer, nn.Linear):
        return LowRankLinear.from_dense(layer, max_rank=rank)
    if isinstance(layer, nn.Conv2d):
        s_out, c_in, kh, kw = layer.weight.shape
        return TuckerConv2d.from_dense(layer, max_rank=(min(rank, s_out, c_in * kh * kw), min(c_in, s_out * kh * kw)))
    raise TypeError(f"truncate_layer handles nn.Linear and nn.Conv2d, got {type(layer).__name__}")


def layer_sensitivity(model: nn.Module, layers, energies, test) -> dict:
    """Accuracy drop (in points) when one layer at a time keeps only a fraction of its spectral energy.

    For each layer and each ``energy``, the rank is :func:`energy_rank` of the
    layer's weight matrix and the layer is replaced by :func:`truncate_layer`
    in a copy of the model (no healing).

    Parameters
    ----------
    model : nn.Module (left unchanged)
    layers : list of layer names (``nn.Linear`` or ``nn.Conv2d``)
    energies : list of fractions in (0, 1]
    test : (inputs, labels)

    Returns
    -------
    (table, rows): ``table[layer][energy]`` is the drop in points (``100 * (baseline - accuracy)``);
    ``rows`` has one dict per (layer, energy): ``layer``, ``energy``, ``rank``, ``params_before``,
    ``params_after``, ``compression``, ``accuracy``.
    """
    baseline = accuracy(model, *test)
    table, rows = {}, []
    for name in layers:
        layer = model.get_submodule(name)
        w = weight_matrix(layer)
        table[name] = {}
        for energy in energies:
            rank = energy_rank(w, energy)
            new_model = copy.deepcopy(model)
            parent, _, child = name.rpartition(".")
            new_layer = truncate_layer(layer, rank)
            setattr(new_model.get_submodule(parent), child, new_layer)
            acc = accuracy(new_model, *test)
            table[name][energy] = 100 * (baseline - acc)
            rows.append({"layer": name, "energy": energy, "rank": rank, "params_before": w.numel(),
                         "params_after": new_layer.weight_parameters(),
                         "compression": w.numel() / new_layer.weight_parameters(), "accuracy": acc})
    return table, rows
