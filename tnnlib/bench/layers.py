"""Suite "layers": tensorized linear layers against ``nn.Linear`` (``python -m tnnlib.bench layers``).

Grid: 1024 -> 1024 (modes 4, 8, 8, 4) and 4096 -> 4096 (modes 8, 8, 8, 8),
TT ranks 4, 16, 32, batches 1, 32, 512; float32 on the CPU, plus float32 and
bfloat16 on CUDA when a GPU is present.

For each point the table gives ``nn.Linear``'s forward and forward+backward
times, then one row per layer:

* ``TTLinear`` with the TT rank: the strategy its planner picks (``plan``,
  ``plan_ms``) and the fastest of all 2^(d-1) groupings measured (``best``,
  ``best_ms``), so ``plan/best`` shows what the flop model loses;
* ``TRLinear``, ``CPLinear``, ``TuckerLinear`` (Tucker-2) and
  ``LowRankLinear`` with ranks chosen to have about the TT layer's number of
  parameters (``params``), each with its two strategies ("factored", "dense");
* tensorly-torch's ``FactorizedLinear`` (TT, same rank) when ``tltorch`` is
  importable (it usually is not: the rows are then left out).

``speedup`` is ``nn.Linear``'s forward time over the layer's (above 1: faster).
Times are medians (ms) of several calls after a warm-up; ``--quick`` times one
call of the smallest shape only.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from . import median_time
from ..nn import CPLinear, LowRankLinear, TRLinear, TTLinear, TuckerLinear

SHAPES = {1024: (4, 8, 8, 4), 4096: (8, 8, 8, 8)}
RANKS = (4, 16, 32)
BATCHES = (1, 32, 512)


def _timer(quick: bool, sync):
    def time_ms(fn) -> float:
        if quick:
            return 1e3 * median_time(fn, repeats=1, warmup=0, sync=sync)
        first = median_time(fn, repeats=1, warmup=1, sync=sync)      # warm-up, and a first reading
        repeats = 3 if first > 0.2 else 5 if first > 0.02 else 15
        return 1e3 * median_time(fn, repeats=repeats, warmup=0, sync=sync)
    return time_ms


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
        f"TRLinear r={tr_rank}": TRLinear(modes, modes, tr_rank, **factory),
        f"CPLinear R={cp_rank}": CPLinear(modes, modes, cp_rank, **factory),
        f"TuckerLinear (Tucker-2) r={tucker}": TuckerLinear(n, n, (tucker, tucker), **factory),
        f"LowRankLinear r={lowrank}": LowRankLinear(n, n, lowrank, **factory),
    }


def _tltorch_layer(modes, rank, device, dtype):
    try:
        import tltorch
    except ImportError:
        return None
    return tltorch.FactorizedLinear(modes, modes, rank=rank, factorization="blocktt").to(device, dtype)


def _strategy_times(layer, x, time_ms) -> dict:
    times = {}
    for strategy in layer.strategies:
        layer.strategy = strategy
        times[strategy] = time_ms(_forward(layer, x))
    layer.strategy = "auto"
    return times


def _row(base, name, layer, x, time_ms, linear_fwd):
    times = _strategy_times(layer, x, time_ms) if hasattr(layer, "strategies") else {}
    plan = layer.plan(x.shape[0]).strategy if times else ""
    fwd = times[plan] if times else time_ms(_forward(layer, x))
    best = min(times, key=times.get) if times else ""
    params = layer.weight_parameters() if hasattr(layer, "weight_parameters") else \
        sum(p.numel() for n, p in layer.named_parameters() if "bias" not in n)
    return dict(base, layer=name, params=params, fwd_ms=fwd, fwdbwd_ms=time_ms(_forward_backward(layer, x)),
                speedup=linear_fwd / fwd, plan=plan, best=best, best_ms=times.get(best),
                **{"plan/best": fwd / times[best] if times else None})


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
        time_ms = _timer(quick, sync)
        for n, modes in SHAPES.items():
            if quick and n > 1024:
                continue
            torch.manual_seed(0)
            linear = nn.Linear(n, n, device=device, dtype=dtype)
            for batch in BATCHES:
                x = torch.randn(batch, n, device=device, dtype=dtype)
                linear_fwd = time_ms(_forward(linear, x))
                base = dict(device=device.type, dtype=str(dtype).replace("torch.", ""), shape=f"{n}x{n}",
                            batch=batch, linear_fwd_ms=linear_fwd,
                            linear_fwdbwd_ms=time_ms(_forward_backward(linear, x)))
                for rank in RANKS:
                    tt = TTLinear(modes, modes, rank, device=device, dtype=dtype)
                    rows.append(_row(dict(base, rank=rank), "TTLinear", tt, x, time_ms, linear_fwd))
                    if rank != 16:
                        continue
                    for name, layer in matched_layers(n, modes, tt.weight_parameters(), device, dtype).items():
                        rows.append(_row(dict(base, rank=rank), name, layer, x, time_ms, linear_fwd))
                    other = _tltorch_layer(modes, rank, device, dtype)
                    if other is not None:
                        rows.append(_row(dict(base, rank=rank), "tltorch FactorizedLinear", other, x, time_ms,
                                         linear_fwd))
    columns = ["device", "dtype", "shape", "batch", "layer", "rank", "params", "fwd_ms", "fwdbwd_ms",
               "linear_fwd_ms", "linear_fwdbwd_ms", "speedup", "plan", "best", "best_ms", "plan/best"]
    return [{c: row.get(c) for c in columns} for row in rows]
