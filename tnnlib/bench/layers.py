"""Suite "layers": tensorized linear layers against ``nn.Linear``, inference and training.

Run it with ``python -m tnnlib.bench layers``, or this module alone to pick
points: ``python -m tnnlib.bench.layers --only shape=4096,rank=16,batch=512,layer=TTLinear --threads 1``
(``--only`` keys: ``device``, ``dtype``, ``shape`` (1024 or 4096), ``rank``, ``batch``, ``layer`` (a prefix
of the row's name); ``--quick``: one call per variant, a smoke run).

Grid: 1024 -> 1024 (modes 4, 8, 8, 4) and 4096 -> 4096 (modes 8, 8, 8, 8),
TT ranks 4, 16, 32, batches 1, 32, 128, 512; float32 on the CPU, plus float32
and bfloat16 on CUDA when a GPU is present (the CUDA rows exist in the code and
are skipped without one).

One row per layer and grid point, ``nn.Linear``'s numbers side by side:

* ``TTLinear`` with the TT rank; ``TRLinear``, ``CPLinear``, ``TuckerLinear``
  (Tucker-2) and ``LowRankLinear`` with ranks giving about the TT layer's
  number of parameters (rank 16 only); tensorly-torch's TT ("blocktt")
  ``FactorizedLinear`` in both its modes when ``tltorch`` is importable.
* ``plan_infer`` / ``plan_train``: the strategy the layer plans for
  inference (forward only) and for a training step (forward + backward).
* ``fwd_ms``: the forward pass (``torch.no_grad()``) with ``plan_infer``;
  ``fwd_ratio`` = ``fwd_ms / linear_fwd_ms`` (below 1: faster than
  ``nn.Linear``). ``best_fwd``: the fastest strategy measured,
  ``fwd_plan/best`` what the plan loses.
* ``fwdbwd_ms``: one training step of the layer with ``plan_train``:
  forward, ``.sum().backward()`` with gradients for the input and every
  parameter; ``fwdbwd_ratio`` against ``nn.Linear``'s; ``best_fwdbwd`` and
  ``fwdbwd_plan/best`` as above (for TTLinear every grouping the training
  plan prices within 3x of its choice is timed, and "dense").
* On the CPU, ``fwd_cpu_ratio`` and ``fwdbwd_cpu_ratio``: the same ratios
  from process CPU time instead of wall-clock time (less sensitive to other
  work on a shared machine; with one thread they should agree).
* ``peak_MiB``: the memory a training step allocates, at its peak, above
  what was allocated before it (intermediates, saved tensors, gradients of
  the input and the parameters; the layer's parameters themselves are not
  counted). On CUDA: ``torch.cuda.max_memory_allocated`` minus the memory
  allocated before the step. On the CPU: from torch.profiler's memory
  events (``profile_memory=True``: every allocation and free of torch's CPU
  allocator, in order), the largest running sum during the step. Both count
  what torch's allocator hands out, not what the operating system reports
  (no allocator caching on the CPU; on CUDA the caching allocator's reserve
  is not counted). ``kept_MiB``: what autograd keeps for the backward pass
  (tensors packed by ``torch.autograd.graph.saved_tensors_hooks``, each
  storage once, parameters excluded; the input counts, as for ``nn.Linear``).

Times (ms) are the minimum over rounds that call every variant of one grid
point in turn, in a new random order each round, after a warm-up (see
:func:`_interleaved`: on a shared machine the minimum of interleaved calls
compares variants fairly, back-to-back medians do not). Threads: torch's
default (``--threads 1`` or ``OMP_NUM_THREADS=1`` for one).
"""
from __future__ import annotations

import argparse
import gc
import math
import random
import time

import torch
from torch import nn

from ..nn import CPLinear, LowRankLinear, TRLinear, TTLinear, TuckerLinear

SHAPES = {1024: (4, 8, 8, 4), 4096: (8, 8, 8, 8)}
RANKS = (4, 16, 32)
BATCHES = (1, 32, 128, 512)
COLUMNS = ["device", "dtype", "shape", "batch", "layer", "rank", "params", "plan_infer", "plan_train",
           "fwd_ms", "linear_fwd_ms", "fwd_ratio", "fwd_cpu_ratio", "best_fwd", "fwd_plan/best",
           "fwdbwd_ms", "linear_fwdbwd_ms", "fwdbwd_ratio", "fwdbwd_cpu_ratio", "best_fwdbwd", "fwdbwd_plan/best",
           "peak_MiB", "linear_peak_MiB", "kept_MiB", "linear_kept_MiB"]


def _interleaved(fns: dict, quick: bool, sync) -> dict:
    """``{name: (wall ms, CPU ms)}`` per call of each function: minima over interleaved rounds.

    One round times every function once, in a shuffled order; the minimum
    over rounds is robust to other work on a shared machine (which a median
    over back-to-back repeats is not: a busy second of the machine lands on
    one function only). A fast function is timed over several calls in a row
    (about 2 ms' worth), as ``timeit`` does. Rounds: 1 with ``--quick``,
    else enough for about a second per function (3 to 15). CPU time is the
    process's (``time.process_time``): all its threads.
    """
    def once(fn, number=1):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(number):
            fn()
        if sync:
            sync()
        return 1e3 * (time.perf_counter() - wall) / number, 1e3 * (time.process_time() - cpu) / number

    for fn in fns.values():                                              # warm-up (and plans)
        fn()
    first = {name: once(fn) for name, fn in fns.items()}
    if quick:
        return first
    numbers = {name: max(1, int(2.0 / max(t[0], 1e-3))) for name, t in first.items()}
    rounds = int(min(15, max(3, 1000 / max(1e-3, max(t[0] for t in first.values())))))
    best, order, shuffle = dict(first), list(fns), random.Random(0).shuffle
    for _ in range(rounds):
        shuffle(order)                   # a new order each round: no variant always follows the same one
        for name in order:
            wall, cpu = once(fns[name], numbers[name])
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best


def _forward(layer, x, strategy=""):
    def fn():
        with torch.no_grad():
            _call(layer, x, strategy)
    return fn


def _forward_backward(layer, x, strategy=""):
    x = x.detach().requires_grad_()

    def fn():
        layer.zero_grad(set_to_none=True)
        x.grad = None
        _call(layer, x, strategy).float().sum().backward()
    return fn


def _call(layer, x, strategy):
    """``layer(x)``, with ``strategy`` forced for this call ("" = the layer's own plan)."""
    if not strategy:
        return layer(x)
    layer.strategy = strategy
    try:
        return layer(x)
    finally:
        layer.strategy = "auto"


def peak_bytes(fn, device) -> int:
    """Peak of the bytes torch's allocator hands out while ``fn()`` runs, above what was allocated before.

    CUDA: ``torch.cuda.max_memory_allocated``. CPU: the largest running sum of
    the allocations and frees that torch.profiler records with
    ``profile_memory=True``, in order. Garbage is collected first, so that
    tensors of earlier code are not freed (counted negative) meanwhile.
    """
    gc.collect()                       # garbage of earlier code freed now, not during the measurement
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    from torch.profiler import ProfilerActivity, profile  # noqa: PLC0415 - only this measurement needs it

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
                    key=lambda e: e.start_ns())
    running = peak = 0
    for event in events:
        running += event.nbytes()
        peak = max(peak, running)
    return peak


def training_peak_bytes(layer, x) -> int:
    """:func:`peak_bytes` of one training step of ``layer`` on ``x``, starting with no gradients allocated."""
    layer.zero_grad(set_to_none=True)
    step = _forward_backward(layer, x)                                   # a fresh input without .grad
    peak = peak_bytes(step, x.device)
    layer.zero_grad(set_to_none=True)
    return peak


def kept_bytes(layer, x) -> int:
    """Bytes autograd keeps for the backward pass of ``layer(x)``: the saved tensors, each storage once,
    the layer's parameters excluded (they exist anyway)."""
    params = {p.untyped_storage().data_ptr() for p in layer.parameters()}
    kept = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            kept[storage.data_ptr()] = storage.nbytes()
        return t

    x = x.detach().requires_grad_()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        layer(x)
    return sum(kept.values())


def matched_layers(n: int, modes, tt_params: int, device, dtype) -> dict:
    """The other formats with about ``tt_params`` weight parameters (n -> n)."""
    tr_rank = max(1, round(math.sqrt(tt_params / (2 * sum(modes)))))
    cp_rank = max(1, round(tt_params / (2 * sum(modes))))
    lowrank = max(1, round(tt_params / (2 * n)))
    tucker = max(1, round(-n + math.sqrt(n * n + tt_params)))             # s^2 + 2 n s = params
    factory = dict(device=device, dtype=dtype)
    return {
        f"TRLinear r={tr_rank}": TRLinear(n, n, tr_rank, in_modes=modes, out_modes=modes, **factory),
        f"CPLinear R={cp_rank}": CPLinear(n, n, cp_rank, in_modes=modes, out_modes=modes, **factory),
        f"TuckerLinear (Tucker-2) r={tucker}": TuckerLinear(n, n, (tucker, tucker), **factory),
        f"LowRankLinear r={lowrank}": LowRankLinear(n, n, lowrank, **factory),
    }


def _tltorch_layers(modes, rank, device, dtype) -> dict:
    """tensorly-torch's TT ("blocktt") ``FactorizedLinear`` in both its modes, if installed."""
    try:
        import tltorch  # noqa: PLC0415 - optional (pip install tensorly-torch), not a requirement
    except ImportError:
        return {}
    return {f"tltorch FactorizedLinear ({mode})":
            tltorch.FactorizedLinear(modes, modes, rank=rank, factorization="blocktt",
                                     implementation=mode).to(device, dtype)
            for mode in ("factorized", "reconstructed")}


def _train_strategies(layer, batch) -> tuple:
    """The strategies whose training step is timed: TTLinear's groupings priced within 3x of the
    training plan's choice, and "dense"; every strategy of the other formats."""
    strategies = getattr(layer, "strategies", ("",))
    if not isinstance(layer, TTLinear):
        return strategies
    plan = layer.plan(batch, training=True)
    cheap = {c.name for c in plan.candidates if c.score <= 3 * plan.chosen.score}
    return tuple(s for s in strategies if s in cheap or s == "dense")


def _rows(base, named_layers, x, quick, sync) -> list:
    """One row per layer: forward times of all its strategies, training-step times, memory."""
    linear = named_layers.pop("nn.Linear")
    fns = {"linear": _forward(linear, x), "linear fwd+bwd": _forward_backward(linear, x)}
    for name, layer in named_layers.items():
        for strategy in getattr(layer, "strategies", ("",)):
            fns[(name, "fwd", strategy)] = _forward(layer, x, strategy)
        for strategy in _train_strategies(layer, x.shape[0]):
            fns[(name, "fwd+bwd", strategy)] = _forward_backward(layer, x, strategy)
    times = _interleaved(fns, quick, sync)
    device = x.device
    mib = 2.0 ** -20
    linear_peak = training_peak_bytes(linear, x) * mib
    linear_kept = kept_bytes(linear, x) * mib
    lin_fwd, lin_fb = times["linear"], times["linear fwd+bwd"]
    on_cpu = device.type == "cpu"
    rows = []
    for name, layer in named_layers.items():
        planned = hasattr(layer, "plan")
        infer = layer.plan(x.shape[0], training=False).strategy if planned else ""
        train = layer.plan(x.shape[0], training=True).strategy if planned else ""
        fwd = {s: times[(name, "fwd", s)] for s in getattr(layer, "strategies", ("",))}
        fb = {s: times[(name, "fwd+bwd", s)] for s in _train_strategies(layer, x.shape[0])}
        best_fwd = min(fwd, key=lambda s: fwd[s][0])
        best_fb = min(fb, key=lambda s: fb[s][0])
        params = layer.weight_parameters() if hasattr(layer, "weight_parameters") else \
            sum(p.numel() for n, p in layer.named_parameters() if "bias" not in n)
        rows.append(dict(
            base, layer=name, params=params, plan_infer=infer, plan_train=train,
            fwd_ms=fwd[infer][0], linear_fwd_ms=lin_fwd[0], fwd_ratio=fwd[infer][0] / lin_fwd[0],
            fwd_cpu_ratio=fwd[infer][1] / lin_fwd[1] if on_cpu else None,
            best_fwd=best_fwd, **{"fwd_plan/best": fwd[infer][0] / fwd[best_fwd][0]},
            fwdbwd_ms=fb[train][0], linear_fwdbwd_ms=lin_fb[0], fwdbwd_ratio=fb[train][0] / lin_fb[0],
            fwdbwd_cpu_ratio=fb[train][1] / lin_fb[1] if on_cpu else None,
            best_fwdbwd=best_fb, **{"fwdbwd_plan/best": fb[train][0] / fb[best_fb][0]},
            peak_MiB=training_peak_bytes(layer, x) * mib, linear_peak_MiB=linear_peak,
            kept_MiB=kept_bytes(layer, x) * mib, linear_kept_MiB=linear_kept))
    return rows


def _settings():
    yield torch.device("cpu"), torch.float32
    if torch.cuda.is_available():
        yield torch.device("cuda"), torch.float32
        yield torch.device("cuda"), torch.bfloat16


def parse_only(spec) -> dict:
    """``"shape=4096,rank=16,batch=512,layer=TTLinear"`` -> a dict of filters (values as strings)."""
    if not spec:
        return {}
    keys = {"device", "dtype", "shape", "rank", "batch", "layer"}
    out = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in keys:
            raise ValueError(f"--only takes key=value pairs with keys {sorted(keys)}, got {part!r}")
        out[key] = value.strip()
    return out


def run(args) -> list:
    quick = getattr(args, "quick", False)
    only = parse_only(getattr(args, "only", None))

    def wanted(key, value):
        return key not in only or str(value) == only[key]

    rows = []
    for device, dtype in _settings():
        dtype_name = str(dtype).replace("torch.", "")
        if not (wanted("device", device.type) and wanted("dtype", dtype_name)):
            continue
        sync = torch.cuda.synchronize if device.type == "cuda" else None
        for n, modes in SHAPES.items():
            if (quick and not only and n > 1024) or not wanted("shape", n):
                continue
            torch.manual_seed(0)
            linear = nn.Linear(n, n, device=device, dtype=dtype)
            for batch in BATCHES:
                if not wanted("batch", batch):
                    continue
                x = torch.randn(batch, n, device=device, dtype=dtype)
                base = dict(device=device.type, dtype=dtype_name, shape=f"{n}x{n}", batch=batch)
                for rank in RANKS:
                    if not wanted("rank", rank):
                        continue
                    tt = TTLinear(n, n, rank, in_modes=modes, out_modes=modes, device=device, dtype=dtype)
                    layers = {"TTLinear": tt}
                    if rank == 16:
                        layers.update(matched_layers(n, modes, tt.weight_parameters(), device, dtype))
                    layers.update(_tltorch_layers(modes, rank, device, dtype))
                    layers = {name: layer for name, layer in layers.items()
                              if name.startswith(only.get("layer", ""))}
                    if layers:
                        rows += _rows(dict(base, rank=rank), {"nn.Linear": linear, **layers}, x, quick, sync)
    return [{c: row.get(c) for c in COLUMNS} for row in rows]


def main(argv=None):
    parser = argparse.ArgumentParser(description="Tensorized layers against nn.Linear (see the module docstring).")
    parser.add_argument("--quick", action="store_true", help="one call per variant: a smoke run")
    parser.add_argument("--only", help="filters, e.g. shape=4096,rank=16,batch=512,layer=TTLinear")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from . import format_table  # noqa: PLC0415

    print(f"# layers: torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"CUDA {'yes' if torch.cuda.is_available() else 'no'}\n")
    print(format_table(run(args)))


if __name__ == "__main__":
    main()
