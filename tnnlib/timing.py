"""Measuring a training step correctly: its time and the memory it keeps.

Timing code on an accelerator is easy to get wrong, and the mistakes all make
the code look faster or slower than it is:

* **Asynchrony.** A GPU call returns as soon as the kernel is *queued*; the
  work happens later. Stopping the clock without waiting measures the launch,
  not the work: :func:`synchronize` waits for the device (a no-op on a CPU,
  whose kernels run before the call returns).
* **Warm-up.** The first call pays for things later calls do not: memory
  allocation, cuBLAS/oneDNN heuristics, a layer's contraction plan,
  ``torch.compile``'s compilation. Call the function a few times untimed.
* **Noise.** Other processes, clock boosts and caches move single timings by
  tens of percent. Repeat, and report the **median** (typical) or the
  **minimum** (best case, what the hardware can do).
* **Order.** Timing A ten times, then B ten times, lets a busy second land on
  one of them only. **Interleave**: one round calls every candidate once, in a
  shuffled order (:func:`time_interleaved`).

Memory: on CUDA, torch's caching allocator records the peak
(:func:`peak_memory_bytes`); on a CPU it keeps no statistics. What a training
step adds on any device is dominated by what autograd **keeps for the
backward pass**, which :func:`saved_tensor_bytes` measures exactly, on every
device, by watching the tensors autograd saves.

:func:`tnnlib.bench.median_time` is the one-function version the benchmarks use.

>>> import torch
>>> layer = torch.nn.Linear(256, 256)
>>> x = torch.randn(64, 256)
>>> t = time_it(lambda: layer(x), device="cpu", warmup=1, repeats=5)
>>> len(t.times), t.min <= t.median
(5, True)
>>> results = time_interleaved({"a": lambda: layer(x), "b": lambda: layer(x[:8])}, rounds=3)
>>> sorted(results), len(results["a"].times)
(['a', 'b'], 3)
>>> saved_tensor_bytes(lambda: layer(x), exclude=layer.parameters())   # the input, 64 x 256 float32
65536
>>> peak_memory_bytes(lambda: layer(x), "cpu") is None                  # no allocator statistics on a CPU
True
"""
from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from .validation import check_positive_int

__all__ = ["synchronize", "Timing", "time_it", "time_interleaved", "saved_tensor_bytes", "peak_memory_bytes"]


def synchronize(device=None) -> None:
    """Wait until every kernel queued on ``device`` has finished.

    ``device``: a ``torch.device``, a string (``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"cpu"``) or None
    (nothing to wait for). On a CPU this does nothing: CPU kernels finish before the call returns.
    """
    if device is None:
        return
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


@dataclass(frozen=True)
class Timing:
    """Timed calls of one function: ``times`` in seconds, one entry per timed call.

    >>> t = Timing((0.003, 0.001, 0.002, 0.010))
    >>> t.median, t.min, round(t.median_ms, 3)
    (0.0025, 0.001, 2.5)
    >>> print(t)
    2.5 ms (median of 4; min 1 ms)
    """

    times: tuple

    @property
    def median(self) -> float:
        """The typical time of a call, seconds (robust to a few slow calls)."""
        return statistics.median(self.times)

    @property
    def min(self) -> float:
        """The fastest call, seconds (what the machine can do when nothing disturbs it)."""
        return min(self.times)

    @property
    def median_ms(self) -> float:
        return 1e3 * self.median

    @property
    def min_ms(self) -> float:
        return 1e3 * self.min

    def __str__(self) -> str:
        return f"{self.median_ms:.3g} ms (median of {len(self.times)}; min {self.min_ms:.3g} ms)"


def _timed(fn: Callable, device, number: int) -> float:
    """Seconds per call of ``number`` calls in a row, the device synchronised before and after."""
    synchronize(device)
    start = time.perf_counter()
    for _ in range(number):
        fn()
    synchronize(device)
    return (time.perf_counter() - start) / number


def time_it(fn: Callable, *, device=None, warmup: int = 1, repeats: int = 5, number: int = 1) -> Timing:
    """Time ``fn()`` correctly: ``warmup`` untimed calls, then ``repeats`` timed ones.

    Parameters
    ----------
    fn : callable with no arguments
    device : where ``fn`` runs (``torch.device`` or string); the device is synchronised before
        the clock starts and before it stops. None or a CPU: nothing to synchronise.
    warmup : int >= 0
        Untimed calls first (allocation, plans, compilation).
    repeats : int >= 1
        Timed measurements; each is ``number`` calls in a row, divided by ``number``
        (raise it for calls of a few microseconds, as ``timeit`` does).

    Returns
    -------
    Timing
    """
    warmup = _non_negative_int(warmup, "warmup", "time_it")
    repeats = check_positive_int(repeats, "repeats", "time_it")
    number = check_positive_int(number, "number", "time_it")
    for _ in range(warmup):
        fn()
    synchronize(device)
    return Timing(tuple(_timed(fn, device, number) for _ in range(repeats)))


def time_interleaved(fns: Mapping[str, Callable], *, device=None, warmup: int = 1, rounds: int = 5,
                     number: int = 1, seed: int = 0) -> dict:
    """Time several functions fairly: ``rounds`` rounds, each calling every function once, in a new order.

    Compare the results by their ``median`` (typical) or ``min`` (best case); a
    busy moment of the machine then hits one round of every function, not all
    the measurements of one of them.

    Parameters
    ----------
    fns : mapping name -> callable with no arguments
    device, warmup, number : as for :func:`time_it` (``warmup`` calls of each function, in turn)
    rounds : int >= 1
        Timed measurements of each function.
    seed : int
        Seeds the shuffling of the order (the same order on every run).

    Returns
    -------
    dict name -> :class:`Timing`, in the order of ``fns``.
    """
    warmup = _non_negative_int(warmup, "warmup", "time_interleaved")
    rounds = check_positive_int(rounds, "rounds", "time_interleaved")
    number = check_positive_int(number, "number", "time_interleaved")
    names = list(fns)
    if not names:
        raise ValueError("time_interleaved: give at least one function")
    for name in names:
        for _ in range(warmup):
            fns[name]()
    synchronize(device)
    times = {name: [] for name in names}
    order, rng = list(names), random.Random(seed)
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            times[name].append(_timed(fns[name], device, number))
    return {name: Timing(tuple(times[name])) for name in names}


def saved_tensor_bytes(fn: Callable, *, exclude=()) -> int:
    """Bytes of the tensors autograd saves for the backward pass while ``fn()`` runs.

    Each distinct storage counts once, whole (a saved view keeps its whole
    storage alive). ``exclude``: tensors whose storages are not counted,
    typically ``model.parameters()``, which exist whether or not one trains.
    This is the memory a training step holds between its forward and its
    backward pass on top of parameters, gradients and optimizer state; it is
    exact on every device (it watches autograd, not the allocator).

    ``fn`` must run a forward pass with gradients enabled (nothing is saved
    under ``torch.no_grad()``).
    """
    skip = {t.untyped_storage().data_ptr() for t in exclude}
    sizes, alive = {}, []

    def pack(tensor):
        storage = tensor.untyped_storage()
        pointer = storage.data_ptr()
        if pointer not in skip:
            sizes[pointer] = storage.nbytes()
            alive.append(tensor)        # keep it alive until the end: its address cannot be reused meanwhile
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fn()
    return sum(sizes.values())


def peak_memory_bytes(fn: Callable, device) -> int | None:
    """Peak bytes allocated by tensors while ``fn()`` runs on a CUDA ``device``, above what was allocated before.

    Read from torch's CUDA caching allocator (``torch.cuda.max_memory_allocated``).
    Returns None on any other device: torch keeps no allocator statistics for
    the CPU (use :func:`saved_tensor_bytes` there).
    """
    device = torch.device(device)
    if device.type != "cuda":
        return None
    synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    fn()
    synchronize(device)
    return torch.cuda.max_memory_allocated(device) - before


def _non_negative_int(value, name: str, where: str) -> int:
    if value == 0 and not isinstance(value, bool) and isinstance(value, int):
        return 0
    return check_positive_int(value, name, where)
