"""Suite "layers": tensorized linear layers against ``nn.Linear`` (``python -m tnnlib.bench layers``).

Grid: 1024 -> 1024 (modes 4, 8, 8, 4) and 4096 -> 4096 (modes 8, 8, 8, 8),
TT ranks 4, 16, 32, batches 1, 32, 512; float32 on the CPU, plus float32 and
bfloat16 on CUDA when a GPU is present.

For each point the table gives ``nn.Linear``'s forward and forward+backward
times, then one row per layer:

* ``TTLinear`` with the TT rank: the strategy its planner picks (``plan``,
  ``plan_ms``) and the fastest of all 2^(d-1) groupings measured (``best``,
  ``best_ms``), so ``plan/best`` shows what the cost model loses;
* ``TRLinear``, ``CPLinear``, ``TuckerLinear`` (Tucker-2) and
  ``LowRankLinear`` with ranks chosen to have about the TT layer's number of
  parameters (``params``), each with its two strategies ("factored", "dense");
* tensorly-torch's ``FactorizedLinear`` (TT "blocktt", same rank) in both its
  modes, "factorized" and "reconstructed", at every grid point, when
  ``tltorch`` is importable (``pip install tensorly-torch``; otherwise the rows
  are left out).

``speedup`` is ``nn.Linear``'s forward time over the layer's (above 1: faster).
Times (ms) are the minimum over rounds that call every variant of one grid
point in turn, after a warm-up (see :func:`_interleaved`: on a shared machine
the minimum of interleaved calls compares variants fairly, back-to-back
medians do not); ``--quick`` times one call of the smallest shape only.
Threads: torch's default (``OMP_NUM_THREADS=1`` for one).
"""
from __future__ import annotations

import math
import random

import torch
from torch import nn

from ..nn import CPLinear, LowRankLinear, TRLinear, TTLinear, TuckerLinear
from . import median_time

SHAPES = {1024: (4, 8, 8, 4), 4096: (8, 8, 8, 8)}
RANKS = (4, 16, 32)
BATCHES = (1, 32, 512)


def _interleaved(fns: dict, quick: bool, sync) -> dict:
    """Milliseconds per call of each function: the minimum over interleaved rounds.

    One round times every function once, in a shuffled order; the minimum
    over rounds is robust to other work on a shared machine (which a median
    over back-to-back repeats is not: a busy second of the machine lands on
    one function only). A fast function is timed over several calls in a row
    (about 2 ms' worth), as ``timeit`` does. Rounds: 1 with ``--quick``,
    else enough for about a second per function (3 to 15).
    """
    def once(fn, number=1):
        return 1e3 * median_time(lambda: [fn() for _ in range(number)], repeats=1, warmup=0, sync=sync) / number

    first = {name: once(fn) for name, fn in fns.items()}               # warm-up, and a first reading
    if quick:
        return first
    numbers = {name: max(1, int(2.0 / max(t, 1e-3))) for name, t in first.items()}
    rounds = int(min(15, max(3, 1000 / max(1e-3, max(first.values())))))
    best, order, shuffle = dict(first), list(fns), random.Random(0).shuffle
    for _ in range(rounds):
        shuffle(order)                   # a new order each round: no variant always follows the same one
        for name in order:
            best[name] = min(best[name], once(fns[name], numbers[name]))
    return best


def _forward(layer, x):
    def fn():
        with torch.no_grad():
            layer(x)
    return fn


def _forward_backward(layer, x):
    x = x.detach().requires_grad_()

    def fn():
        layer.zero_grad(set_to_none=True)
        x.grad = None
        layer(x).float().sum().backward()
    return fn


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


def _rows(base, named_layers, x, quick, sync) -> list:
    """One row per layer: all its strategies' forward times and its forward+backward time."""
    linear = named_layers.pop("nn.Linear")
    fns = {"linear": _forward(linear, x), "linear fwd+bwd": _forward_backward(linear, x)}
    for name, layer in named_layers.items():
        for strategy in getattr(layer, "strategies", ("",)):
            fns[(name, strategy)] = _forward(_Forced(layer, strategy), x)
        fns[(name, "fwd+bwd")] = _forward_backward(layer, x)
    times = _interleaved(fns, quick, sync)
    rows = []
    for name, layer in named_layers.items():
        strategies = {s: times[(name, s)] for s in getattr(layer, "strategies", ("",))}
        plan = layer.plan(x.shape[0]).strategy if hasattr(layer, "plan") else ""
        best = min(strategies, key=strategies.get)
        fwd = strategies[plan]
        params = layer.weight_parameters() if hasattr(layer, "weight_parameters") else \
            sum(p.numel() for n, p in layer.named_parameters() if "bias" not in n)
        rows.append(dict(base, layer=name, params=params, fwd_ms=fwd, fwdbwd_ms=times[(name, "fwd+bwd")],
                         linear_fwd_ms=times["linear"], linear_fwdbwd_ms=times["linear fwd+bwd"],
                         speedup=times["linear"] / fwd, plan=plan, best=best, best_ms=strategies[best],
                         **{"plan/best": fwd / strategies[best]}))
    return rows


class _Forced:
    """Call ``layer`` with a forced strategy ("" = the layer as it is)."""

    def __init__(self, layer, strategy):
        self.layer, self.strategy = layer, strategy

    def __call__(self, x):
        if not self.strategy:
            return self.layer(x)
        self.layer.strategy = self.strategy
        try:
            return self.layer(x)
        finally:
            self.layer.strategy = "auto"


def _settings():
    yield torch.device("cpu"), torch.float32
    if torch.cuda.is_available():
        yield torch.device("cuda"), torch.float32
        yield torch.device("cuda"), torch.bfloat16


def run(args) -> list:
    quick = getattr(args, "quick", False)
    rows = []
    for device, dtype in _settings():
        sync = torch.cuda.synchronize if device.type == "cuda" else None
        for n, modes in SHAPES.items():
            if quick and n > 1024:
                continue
            torch.manual_seed(0)
            linear = nn.Linear(n, n, device=device, dtype=dtype)
            for batch in BATCHES:
                x = torch.randn(batch, n, device=device, dtype=dtype)
                base = dict(device=device.type, dtype=str(dtype).replace("torch.", ""), shape=f"{n}x{n}", batch=batch)
                for rank in RANKS:
                    tt = TTLinear(n, n, rank, in_modes=modes, out_modes=modes, device=device, dtype=dtype)
                    layers = {"nn.Linear": linear, "TTLinear": tt}
                    if rank == 16:
                        layers.update(matched_layers(n, modes, tt.weight_parameters(), device, dtype))
                    layers.update(_tltorch_layers(modes, rank, device, dtype))
                    rows += _rows(dict(base, rank=rank), layers, x, quick, sync)
    columns = ["device", "dtype", "shape", "batch", "layer", "rank", "params", "fwd_ms", "fwdbwd_ms",
               "linear_fwd_ms", "linear_fwdbwd_ms", "speedup", "plan", "best", "best_ms", "plan/best"]
    return [{c: row.get(c) for c in columns} for row in rows]
