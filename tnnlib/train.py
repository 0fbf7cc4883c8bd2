"""A small training loop: :func:`fit` a model to data, :func:`evaluate` it.

The loop every lesson uses, written to be read. One step is::

    outputs = model(inputs)
    loss = loss_fn(outputs, labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

and :func:`fit` repeats it over shuffled mini-batches for some epochs,
recording what happened in a :class:`History`. Everything else is optional
and off by default: a validation set, a learning-rate schedule, gradient
clipping, bfloat16 autocast, ``torch.compile``, callbacks (which can watch
the model or stop training) and a progress bar.

Data is a tuple of tensors or NumPy arrays ``(inputs, labels)`` - or
``(inputs, labels, *extras)``, the extras going to the loss after the labels
(e.g. a teacher's logits for distillation) - or a ``torch.utils.data.DataLoader``
that yields such tuples.

Under ``torchrun`` (:mod:`tnnlib.distributed`) the same call trains with
DistributedDataParallel: when ``torch.distributed`` is initialised, :func:`fit`
wraps the model in ``DistributedDataParallel`` and gives each process its own
share of every epoch's shuffled examples.

Example
-------
>>> import torch
>>> from torch import nn
>>> from tnnlib.train import fit, evaluate
>>> _ = torch.manual_seed(0)
>>> x = torch.randn(512, 2)
>>> y = (x[:, 0] * x[:, 1] > 0).long()          # which diagonal quadrants: not linearly separable
>>> model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2))
>>> history = fit(model, (x, y), epochs=20, lr=1e-2, batch_size=64, progress=False)
>>> len(history.step_loss), len(history.train_loss)   # 8 steps per epoch, 20 epochs
(160, 20)
>>> history.train_loss[-1] < 0.5 * history.train_loss[0]
True
>>> evaluate(model, (x, y))["accuracy"] > 0.9
True
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import numbers
import os
import sys
import time
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from .validation import check_positive_int

__all__ = ["fit", "evaluate", "History", "TrainState", "progress_enabled"]

#: Tuple data up to this size is moved to the device once, before training; larger data batch by batch.
MOVE_ONCE_BYTES = 512 * 2**20

#: The methods a callback may have (each optional); a plain function is an ``on_epoch_end``.
CALLBACK_HOOKS = ("on_train_begin", "on_step_end", "on_epoch_end", "on_train_end")


# ---------------------------------------------------------------------------
# What fit returns and what callbacks see
# ---------------------------------------------------------------------------

@dataclasses.dataclass
class History:
    """What happened during :func:`fit`: plain lists, easy to plot.

    Per step (one entry per optimizer step):

    * ``step_loss`` - the mini-batch loss (under DDP: this process's batch);
    * ``lr`` - the learning rate the step used (of the first parameter group).

    Per epoch (one entry per epoch, the last one possibly cut short by ``max_steps`` or a callback):

    * ``epoch`` - 1, 2, ...;
    * ``epoch_step`` - steps done at the end of the epoch (to draw epoch values on the step axis);
    * ``train_loss``, ``train_accuracy`` - mean over the epoch's training examples, measured on the
      fly in training mode (under DDP: over all processes);
    * ``val_loss``, ``val_accuracy`` - :func:`evaluate` on ``val_data`` after the epoch (None without it);
    * ``epoch_seconds`` - time of the epoch's training steps (validation not included);
    * ``peak_memory_mb`` - peak memory allocated by tensors on the GPU during the epoch, in MiB
      (None on a CPU, where torch does not measure it).

    An accuracy is None when the task is not a classification (labels that are not class indices).

    >>> h = History()
    >>> sorted(h.as_dict())[:3]
    ['epoch', 'epoch_seconds', 'epoch_step']
    """

    step_loss: list = dataclasses.field(default_factory=list)
    lr: list = dataclasses.field(default_factory=list)
    epoch: list = dataclasses.field(default_factory=list)
    epoch_step: list = dataclasses.field(default_factory=list)
    train_loss: list = dataclasses.field(default_factory=list)
    train_accuracy: list = dataclasses.field(default_factory=list)
    val_loss: list = dataclasses.field(default_factory=list)
    val_accuracy: list = dataclasses.field(default_factory=list)
    epoch_seconds: list = dataclasses.field(default_factory=list)
    peak_memory_mb: list = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict:
        """``{name: list}``, a copy (e.g. for ``json.dump`` or ``pandas.DataFrame``)."""
        return {f.name: list(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def __repr__(self) -> str:
        text = f"History({len(self.epoch)} epochs, {len(self.step_loss)} steps"
        for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
            values = getattr(self, name)
            if values and values[-1] is not None:
                text += f", {name} {values[-1]:.4f}"
        return text + ")"


@dataclasses.dataclass
class TrainState:
    """What a callback sees. Set ``stop = True`` to end training after the current step.

    ``model`` is the model being trained (never the DistributedDataParallel or
    ``torch.compile`` wrapper around it); ``epoch`` counts from 1 and is the
    epoch in progress (in ``on_epoch_end``: the one just finished); ``step``
    counts the optimizer steps done; ``loss`` is the last step's loss.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    history: History
    epoch: int = 0
    step: int = 0
    loss: float | None = None
    stop: bool = False
    rank: int = 0
    world_size: int = 1


# ---------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------

def fit(model: nn.Module, train_data, *, epochs: int | None = 1, max_steps: int | None = None,
        batch_size: int = 128, lr: float = 1e-3, optimizer=None, scheduler=None,
        loss_fn=F.cross_entropy, val_data=None, device=None, amp=False, compile=False,
        grad_clip: float | None = None, drop_last: bool = False, seed: int | None = 0,
        callbacks=(), progress: bool | None = None) -> History:
    """Train ``model`` on ``train_data`` with mini-batch gradient descent; return the :class:`History`.

    Parameters
    ----------
    model : nn.Module
        Trained in place. Only parameters with ``requires_grad`` are optimised
        (freeze others first). It is in training mode during the loop and goes
        back to the mode it was in.
    train_data : tuple ``(inputs, labels, *extras)`` of tensors or arrays, or a DataLoader
        Inputs and labels of the same length N >= 1 (first dimension). Floating
        tensors are cast to the model's dtype and everything goes to its device:
        at once when the data is small (under 512 MiB), else batch by batch. A
        DataLoader must yield ``(inputs, labels, *extras)`` tuples; it does its
        own shuffling.
    epochs : int >= 1, or None
        Passes over the data. None: as many as ``max_steps`` needs.
    max_steps : int >= 1, optional
        Stop after this many optimizer steps (even in the middle of an epoch).
    batch_size : int
        Examples per step (per process under DDP). Ignored for a DataLoader.
    lr : float
        Learning rate of the default optimizer (and of an optimizer class given as ``optimizer``).
    optimizer : None, a ``torch.optim.Optimizer``, or a callable
        None: ``torch.optim.Adam(trainable parameters, lr=lr)``. A callable
        (``torch.optim.SGD``, ``functools.partial(torch.optim.SGD, momentum=0.9)``)
        is called as ``optimizer(trainable parameters, lr=lr)``.
    scheduler : None, ``"cosine"``, a learning-rate scheduler, or a callable
        Stepped after every optimizer step (not every epoch). ``"cosine"``:
        the learning rate decays from ``lr`` to 0 along a half cosine over the
        whole run. A callable is called as ``scheduler(optimizer)`` and must
        return a scheduler (handy with the default optimizer).
    loss_fn : callable
        ``loss_fn(outputs, labels, *extras)`` -> the mean loss over the batch (a scalar tensor).
    val_data : optional, like ``train_data``
        Evaluated with :func:`evaluate` after every epoch.
    device : optional
        Where to train; the model is moved there (``model.to(device)``).
        Default: where the model's parameters are.
    amp : False or ``"bf16"``
        ``"bf16"``: run the forward pass and the loss under bfloat16 autocast
        (``torch.autocast``; parameters and gradients stay float32). On a CPU
        it works but is rarely faster.
    compile : bool or dict
        True: train ``torch.compile(model)``; a dict: ``torch.compile(model, **compile)``,
        e.g. ``{"backend": "eager"}``. Validation runs the model uncompiled.
    grad_clip : float, optional
        Clip the gradients' total norm to this value before each step.
    drop_last : bool
        Skip the last mini-batch of an epoch when it has fewer than ``batch_size``
        examples (tuple data only; there must be at least one full batch).
    seed : int or None
        Seeds the order of the examples (a ``torch.Generator`` of its own) and,
        for the duration of ``fit``, torch's global generator (dropout); the
        global generator's state is restored afterwards. Same seed, same model,
        same data: same history. None: draw from torch's global generator.
    callbacks : sequence
        Objects with any of the methods ``on_train_begin(state)``,
        ``on_step_end(state)``, ``on_epoch_end(state)``, ``on_train_end(state)``
        (``state`` a :class:`TrainState`), or plain functions, called as
        ``on_epoch_end``. Setting ``state.stop = True`` stops training.
    progress : bool or None
        Show a progress bar (``tqdm.auto``: a widget in Jupyter, text in a terminal).
        None: see :func:`progress_enabled`. Only process 0 shows one under DDP.

    Returns
    -------
    History

    Notes
    -----
    Under DDP (``torch.distributed`` initialised with more than one process),
    ``fit`` wraps the model in ``DistributedDataParallel`` (which makes every
    replica start from process 0's parameters and averages the gradients) and
    each process trains on its own share of each epoch's seeded permutation,
    padded so that all processes run the same number of steps, as
    ``DistributedSampler`` does. Give a DataLoader a ``DistributedSampler``
    yourself; ``fit`` calls its ``set_epoch``. Every process evaluates the
    whole validation set.
    """
    # -- check the arguments -------------------------------------------------
    if not isinstance(model, nn.Module):
        raise TypeError(f"fit: model must be a torch.nn.Module, got {type(model).__name__}")
    if epochs is None and max_steps is None:
        raise ValueError("fit: give epochs, max_steps or both (epochs=None needs max_steps)")
    epochs = None if epochs is None else check_positive_int(epochs, "epochs", "fit")
    max_steps = None if max_steps is None else check_positive_int(max_steps, "max_steps", "fit")
    batch_size = check_positive_int(batch_size, "batch_size", "fit")
    lr = _positive_real(lr, "lr")
    grad_clip = None if grad_clip is None else _positive_real(grad_clip, "grad_clip")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
        raise ValueError(f"fit: seed must be a non-negative integer or None, got {seed!r}")
    if not callable(loss_fn):
        raise TypeError(f"fit: loss_fn must be callable, got {type(loss_fn).__name__}")
    _check_amp(amp, "fit")
    hooks = _callback_hooks(callbacks)
    rank, world = _rank_and_world()
    if world > 1 and seed is None:
        raise ValueError("fit: under DDP give an integer seed (every process must shuffle the same way)")

    # -- the model, its device, the data ---------------------------------------
    if device is not None:
        model.to(device)
    device, dtype = _device_and_dtype(model)
    _check_amp_device(amp, device)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("fit: the model has no trainable parameter (all have requires_grad=False)")
    generator = None if seed is None else torch.Generator().manual_seed(int(seed))
    train = _batches(train_data, "train_data", batch_size, device, dtype, shuffle=True, generator=generator,
                     rank=rank, world=world, drop_last=drop_last)
    if val_data is not None:  # check it now, not after an epoch; move tuple data to the device once
        val = _batches(val_data, "val_data", batch_size, device, dtype, shuffle=False)
        val_data = val.loader if isinstance(val, _LoaderBatches) else tuple(val.tensors)
    if epochs is None:
        epochs = math.inf
    total_steps = _total_steps(epochs, train.steps_per_epoch, max_steps)

    # -- optimizer, schedule, wrappers ----------------------------------------
    optimizer = _make_optimizer(optimizer, params, lr)
    scheduler = _make_scheduler(scheduler, optimizer, total_steps)
    runner = model
    if world > 1 and not isinstance(model, nn.parallel.DistributedDataParallel):
        ids = [device.index if device.index is not None else torch.cuda.current_device()] \
            if device.type == "cuda" else None
        runner = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if compile:
        runner = torch.compile(runner, **(compile if isinstance(compile, dict) else {}))
    plain = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model

    history = History()
    state = TrainState(plain, optimizer, scheduler, history, rank=rank, world_size=world)
    show = progress_enabled() if progress is None else bool(progress)
    bar = _progress_bar(total_steps, show and rank == 0)
    was_training = model.training
    cuda_devices = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []

    with torch.random.fork_rng(devices=cuda_devices, enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(int(seed) + rank)        # dropout: other masks on each process
        _call(hooks, "on_train_begin", state)
        try:
            while state.epoch < epochs and not state.stop and (max_steps is None or state.step < max_steps):
                state.epoch += 1
                runner.train()
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                start = time.perf_counter()
                loss_sum, correct, seen = 0.0, 0, 0
                for inputs, labels, *extras in train.epoch(state.epoch):
                    # -- one step: forward, loss, backward, update ----------------
                    with _autocast(device, amp):
                        outputs = runner(inputs)
                        loss = loss_fn(outputs, labels, *extras)
                    _check_scalar(loss)
                    history.lr.append(optimizer.param_groups[0]["lr"])
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if grad_clip is not None:
                        nn.utils.clip_grad_norm_(params, grad_clip)
                    optimizer.step()
                    if scheduler is not None:
                        scheduler.step()
                    # -- bookkeeping ------------------------------------------------
                    state.step += 1
                    state.loss = loss.item()
                    history.step_loss.append(state.loss)
                    n = len(labels)
                    loss_sum, seen = loss_sum + state.loss * n, seen + n
                    correct = _add_correct(correct, outputs, labels)
                    bar.update(1)
                    bar.set_postfix(epoch=state.epoch, loss=f"{state.loss:.4f}", refresh=False)
                    _call(hooks, "on_step_end", state)
                    _agree_on_stop(state, hooks, device)
                    if state.stop or (max_steps is not None and state.step >= max_steps):
                        break
                seconds = time.perf_counter() - start
                loss_sum, correct, seen = _sum_over_processes([loss_sum, correct, seen], device, world)
                if seen == 0:
                    raise ValueError("fit: train_data gave no batch in this epoch")
                history.epoch.append(state.epoch)
                history.epoch_step.append(state.step)
                history.train_loss.append(loss_sum / seen)
                history.train_accuracy.append(None if correct is None else correct / seen)
                history.epoch_seconds.append(seconds)
                history.peak_memory_mb.append(
                    torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None)
                if val_data is not None:
                    result = evaluate(plain, val_data, loss_fn=loss_fn, batch_size=max(batch_size, 1000),
                                      device=device, amp=amp)
                    history.val_loss.append(result["loss"])
                    history.val_accuracy.append(result["accuracy"])
                    bar.set_postfix(epoch=state.epoch, loss=f"{state.loss:.4f}",
                                    val_loss=f"{result['loss']:.4f}", refresh=True)
                else:
                    history.val_loss.append(None)
                    history.val_accuracy.append(None)
                _call(hooks, "on_epoch_end", state)
                _agree_on_stop(state, hooks, device)
            _call(hooks, "on_train_end", state)
        finally:
            bar.close()
            model.train(was_training)
    return history


@torch.no_grad()
def evaluate(model: nn.Module, data, *, loss_fn=F.cross_entropy, batch_size: int = 1000, device=None,
             amp=False) -> dict:
    """Mean loss and accuracy of ``model`` on ``data``, in eval mode, without gradients.

    Parameters
    ----------
    model : nn.Module
        Put in eval mode for the evaluation, then back in the mode it was in.
    data : tuple ``(inputs, labels, *extras)`` of tensors or arrays, or a DataLoader
        As for :func:`fit` (not shuffled).
    loss_fn : callable, ``loss_fn(outputs, labels, *extras)`` -> mean loss of a batch
    batch_size : int
    device : optional
        Where the batches go; default: where the model's parameters are (the model is not moved).
    amp : False or ``"bf16"``, as for :func:`fit`

    Returns
    -------
    dict with ``loss`` (mean over the examples), ``accuracy`` (fraction of
    ``argmax(outputs, 1) == labels``; None unless the labels are class indices)
    and ``examples`` (how many).

    >>> import torch
    >>> from torch import nn
    >>> model = nn.Linear(3, 2)
    >>> result = evaluate(model, (torch.randn(10, 3), torch.zeros(10, dtype=torch.long)))
    >>> sorted(result), result["examples"], model.training
    (['accuracy', 'examples', 'loss'], 10, True)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"evaluate: model must be a torch.nn.Module, got {type(model).__name__}")
    batch_size = check_positive_int(batch_size, "batch_size", "evaluate")
    _check_amp(amp, "evaluate")
    model_device, dtype = _device_and_dtype(model)
    device = model_device if device is None else torch.device(device)
    batches = _batches(data, "data", batch_size, device, dtype, shuffle=False, where="evaluate")
    was_training = model.training
    model.eval()
    try:
        loss_sum, correct, seen = 0.0, 0, 0
        for inputs, labels, *extras in batches.epoch(1):
            with _autocast(device, amp):
                outputs = model(inputs)
                loss = loss_fn(outputs, labels, *extras)
            _check_scalar(loss, "evaluate")
            n = len(labels)
            loss_sum, seen = loss_sum + loss.item() * n, seen + n
            correct = _add_correct(correct, outputs, labels)
    finally:
        model.train(was_training)
    if seen == 0:
        raise ValueError("evaluate: data is empty")
    return {"loss": loss_sum / seen, "accuracy": None if correct is None else correct / seen, "examples": seen}


def progress_enabled() -> bool:
    """Whether ``fit(progress=None)`` shows a progress bar. The rule:

    no bar when the environment variable ``TNN_QUIET`` is 1/true/yes/on or
    when pytest is running (it sets ``PYTEST_CURRENT_TEST``); otherwise a bar
    when the code runs in Jupyter or standard error is a terminal.
    """
    if os.environ.get("TNN_QUIET", "").strip().lower() in {"1", "true", "yes", "on"}:
        return False
    if "PYTEST_CURRENT_TEST" in os.environ:
        return False
    return _in_jupyter() or bool(getattr(sys.stderr, "isatty", lambda: False)())


# ---------------------------------------------------------------------------
# Data: mini-batches of a tuple of tensors, or of a DataLoader
# ---------------------------------------------------------------------------

class _TensorBatches:
    """Mini-batches of a tuple of tensors: a seeded permutation per epoch, this process's share of it."""

    def __init__(self, tensors, batch_size, device, dtype, shuffle, generator, rank, world, drop_last, where):
        self.tensors, self.batch_size, self.device, self.dtype = tensors, batch_size, device, dtype
        self.shuffle, self.generator, self.rank, self.world = shuffle, generator, rank, world
        n = len(tensors[0])
        self.per_process = math.ceil(n / world)
        if drop_last and self.per_process < batch_size:
            raise ValueError(f"{where}: drop_last=True with batch_size {batch_size} leaves no batch "
                             f"({self.per_process} examples per process)")
        self.steps_per_epoch = (self.per_process // batch_size if drop_last
                                else math.ceil(self.per_process / batch_size))
        if sum(t.numel() * t.element_size() for t in tensors) <= MOVE_ONCE_BYTES:
            self.tensors = [_to_device(t, device, dtype) for t in tensors]

    def epoch(self, epoch):
        n = len(self.tensors[0])
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        order = shard(order, self.rank, self.world)
        for b in range(self.steps_per_epoch):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield tuple(_to_device(t[idx.to(t.device)], self.device, self.dtype) for t in self.tensors)


class _LoaderBatches:
    """The batches of a DataLoader, moved to the device."""

    def __init__(self, loader, device, dtype, where):
        self.loader, self.device, self.dtype, self.where = loader, device, dtype, where
        try:
            self.steps_per_epoch = len(loader)
        except TypeError:                      # an IterableDataset without a length
            self.steps_per_epoch = None
        if self.steps_per_epoch == 0:
            raise ValueError(f"{where}: the DataLoader is empty")

    def epoch(self, epoch):
        if hasattr(self.loader.sampler, "set_epoch"):
            self.loader.sampler.set_epoch(epoch)   # DistributedSampler: a new order each epoch
        for batch in self.loader:
            if not isinstance(batch, (tuple, list)) or len(batch) < 2:
                raise TypeError(f"{self.where}: a DataLoader must yield (inputs, labels, ...) tuples, "
                                f"got {type(batch).__name__}")
            yield tuple(_to_device(torch.as_tensor(t), self.device, self.dtype) for t in batch)


def shard(order: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """This process's share of a permutation, as ``DistributedSampler`` does it.

    The order is padded with its own beginning to a multiple of ``world``,
    then process ``rank`` takes every ``world``-th element from ``rank`` on:
    every process gets the same number of examples, and together they see all.

    >>> shard(torch.arange(5), 0, 2).tolist(), shard(torch.arange(5), 1, 2).tolist()
    ([0, 2, 4], [1, 3, 0])
    """
    if world == 1:
        return order
    padded = math.ceil(len(order) / world) * world
    order = torch.cat([order, order[:padded - len(order)]])
    return order[rank::world]


def _batches(data, name, batch_size, device, dtype, shuffle, generator=None, rank=0, world=1, drop_last=False,
             where="fit"):
    """Wrap ``data`` (a tuple of tensors/arrays or a DataLoader) to give mini-batches on ``device``."""
    if isinstance(data, torch.utils.data.DataLoader):
        if world > 1 and not isinstance(data.sampler, torch.utils.data.DistributedSampler):
            warnings.warn(f"{where}: under DDP a DataLoader without a DistributedSampler gives every process "
                          "all the data", stacklevel=3)
        return _LoaderBatches(data, device, dtype, where)
    if not isinstance(data, (tuple, list)):
        raise TypeError(f"{where}: {name} must be a tuple (inputs, labels, ...) of tensors or arrays, "
                        f"or a DataLoader, got {type(data).__name__}")
    if len(data) < 2:
        raise ValueError(f"{where}: {name} must hold at least inputs and labels, got {len(data)} item(s)")
    tensors = [_as_tensor(t, f"{name}[{i}]", where) for i, t in enumerate(data)]
    lengths = [len(t) for t in tensors]
    if len(set(lengths)) > 1:
        raise ValueError(f"{where}: the items of {name} have different lengths {lengths} "
                         "(inputs and labels must have one entry per example)")
    if lengths[0] == 0:
        raise ValueError(f"{where}: {name} is empty")
    return _TensorBatches(tensors, batch_size, device, dtype, shuffle, generator, rank, world, drop_last, where)


def _as_tensor(x, name, where) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        if x.dtype == object:
            raise TypeError(f"{where}: {name} is a NumPy array of Python objects; give numbers")
        if not x.flags.writeable:
            x = x.copy()                       # torch warns about read-only arrays
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{where}: {name} must be a torch tensor or a NumPy array, got {type(x).__name__}")
    if x.dim() == 0:
        raise ValueError(f"{where}: {name} is a scalar; it needs one entry per example")
    return x


def _to_device(t: torch.Tensor, device, dtype) -> torch.Tensor:
    """``t`` on ``device``; floating point in the model's dtype, other types (labels, token ids) as they are."""
    if t.is_floating_point() and dtype is not None:
        return t.to(device, dtype, non_blocking=True)
    return t.to(device, non_blocking=True)


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

def _positive_real(value, name, where="fit") -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a positive number, got {value!r}")
    if not value > 0 or not math.isfinite(value):
        raise ValueError(f"{where}: {name} must be a positive number, got {value}")
    return float(value)


def _check_amp(amp, where):
    if amp not in (False, None, "bf16"):
        raise ValueError(f"{where}: amp must be False or 'bf16', got {amp!r} (float16 would need a "
                         "gradient scaler; bfloat16 does not)")


def _check_amp_device(amp, device):
    if amp == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise RuntimeError(f"fit: amp='bf16' but {torch.cuda.get_device_name(device)} has no bfloat16 support; "
                           "use amp=False")


def _autocast(device, amp):
    """bfloat16 autocast on ``device`` when ``amp == "bf16"``, else nothing."""
    if amp != "bf16":
        return contextlib.nullcontext()
    try:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    except RuntimeError as error:
        raise RuntimeError(f"amp='bf16' is not supported on {device.type} by torch {torch.__version__} "
                           f"({error}); use amp=False") from None


def _check_scalar(loss, where="fit"):
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ValueError(f"{where}: loss_fn must return a scalar tensor (the mean over the batch), got {shape}")


def _add_correct(correct, outputs, labels):
    """Add the batch's correct predictions to ``correct``; None when the labels are not class indices.

    Outputs are ``(batch, classes, ...)`` for labels ``(batch, ...)``, as ``F.cross_entropy`` takes them; other
    layouts (a sequence model's ``(batch, T, classes)`` with labels ``(batch, T)``) have no accuracy here.
    """
    if correct is None or labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool \
            or outputs.dim() != labels.dim() + 1 or outputs.shape[2:] != labels.shape[1:]:
        return None
    return correct + (outputs.argmax(1) == labels).sum().item()


def _device_and_dtype(model):
    """The device of the model's first parameter (or buffer) and the dtype of its first floating one."""
    tensors = list(model.parameters()) + list(model.buffers())
    device = tensors[0].device if tensors else torch.device("cpu")
    dtype = next((t.dtype for t in tensors if t.is_floating_point()), None)
    return device, dtype


def _total_steps(epochs, steps_per_epoch, max_steps):
    """Steps the run will take (None if unknown: a DataLoader without a length and no max_steps)."""
    if steps_per_epoch is None or epochs == math.inf:
        return max_steps
    steps = epochs * steps_per_epoch
    return steps if max_steps is None else min(steps, max_steps)


def _make_optimizer(optimizer, params, lr):
    if optimizer is None:
        return torch.optim.Adam(params, lr=lr)
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if callable(optimizer):
        made = optimizer(params, lr=lr)
        if not isinstance(made, torch.optim.Optimizer):
            raise TypeError(f"fit: optimizer(params, lr=lr) returned {type(made).__name__}, not an optimizer")
        return made
    raise TypeError(f"fit: optimizer must be None, a torch.optim.Optimizer or a callable, "
                    f"got {type(optimizer).__name__}")


def _make_scheduler(scheduler, optimizer, total_steps):
    if scheduler is None:
        return None
    if scheduler == "cosine":
        if total_steps is None:
            raise ValueError("fit: scheduler='cosine' needs to know the number of steps: give max_steps "
                             "(the DataLoader has no length)")
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / max(total_steps, 1))))
    if isinstance(scheduler, str):
        raise ValueError(f"fit: scheduler must be None, 'cosine', a scheduler or a callable, got {scheduler!r}")
    if hasattr(scheduler, "step") and hasattr(scheduler, "optimizer"):
        if scheduler.optimizer is not optimizer:
            raise ValueError("fit: the scheduler belongs to another optimizer (pass that optimizer too)")
        return scheduler
    if callable(scheduler):
        return scheduler(optimizer)
    raise TypeError(f"fit: scheduler must be None, 'cosine', a scheduler or a callable, "
                    f"got {type(scheduler).__name__}")


def _callback_hooks(callbacks):
    """``{hook name: [functions]}`` from a list of callback objects and plain functions."""
    if callbacks is None:
        callbacks = ()
    if callable(callbacks) or any(hasattr(callbacks, h) for h in CALLBACK_HOOKS):
        callbacks = (callbacks,)               # a single callback
    hooks = {h: [] for h in CALLBACK_HOOKS}
    for cb in callbacks:
        found = [h for h in CALLBACK_HOOKS if callable(getattr(cb, h, None))]
        if found:
            for h in found:
                hooks[h].append(getattr(cb, h))
        elif callable(cb):
            hooks["on_epoch_end"].append(cb)
        else:
            raise TypeError(f"fit: a callback must be a function or have a method among {CALLBACK_HOOKS}, "
                            f"got {type(cb).__name__}")
    return hooks


def _call(hooks, name, state):
    for hook in hooks[name]:
        hook(state)


def _rank_and_world():
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _sum_over_processes(values, device, world):
    """The sums of ``values`` over all processes (as they are with one process); None stays None."""
    if world == 1:
        return values
    t = torch.tensor([0.0 if v is None else float(v) for v in values], dtype=torch.float64,
                     device=device if torch.distributed.get_backend() == "nccl" else "cpu")
    torch.distributed.all_reduce(t)
    return [None if v is None else type(v)(s) for v, s in zip(values, t.tolist())]


def _agree_on_stop(state, hooks, device):
    """Under DDP, stop on every process as soon as a callback stopped one (else the others would wait forever)."""
    if state.world_size > 1 and any(hooks.values()):
        state.stop = _sum_over_processes([int(state.stop)], device, state.world_size)[0] > 0


def _in_jupyter() -> bool:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"


class _NoBar:
    """Stands in for a tqdm bar when there is none."""

    def update(self, n=1):
        pass

    def set_postfix(self, *args, **kwargs):
        pass

    def close(self):
        pass


def _progress_bar(total, show):
    if not show:
        return _NoBar()
    return tqdm(total=total, unit="step", desc="fit", dynamic_ncols=True)
