"""Checkers of lesson 08: training tensorized networks on a GPU (timing, training cost, order, bfloat16, DDP)."""
import math
import numbers
import statistics
import time
from collections.abc import Mapping

import torch
from torch import nn
from torch.nn import functional as F

from ..checking import ExerciseFailed, describe, exercise, expect
from ..nn import TTLinear
from ..nn.planning import compositions, parse_strategy, strategy_name

# --------------------------------------------------------------------------
# References
# --------------------------------------------------------------------------


def _median_ms(fn, sync, *, warmup=1, repeats=5):
    """Median time of ``fn()`` in milliseconds: ``warmup`` untimed calls, then ``repeats`` timed ones,
    each ended by ``sync()`` (wait for the device) before the clock stops."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def _training_cost(*, out_modes, in_modes, rank, groups, batch_size):
    """Forward FLOPs, backward FLOPs and elements kept for backward of a TT-matrix layer contracted with ``groups``.

    Each group of neighbouring cores is merged left to right; then the input is contracted with the
    merged groups from the last to the first (lesson 06). The layer's input needs a gradient (a hidden
    layer), so every product of the forward pass has two gradients to compute in the backward pass, each
    as costly as the product itself. Kept: the input, every merged core (partial merges included) and
    every intermediate state that a later product reads.
    """
    batch, n_in = batch_size, math.prod(in_modes)
    flops, kept, merged, k = 0, batch * n_in, [], 0
    for g in groups:                                         # merge each group, left to right
        r0, I, J = rank[k], out_modes[k], in_modes[k]
        for m in range(k + 1, k + g):
            i, j, r1, r2 = out_modes[m], in_modes[m], rank[m], rank[m + 1]
            flops += 2 * r0 * I * J * r1 * i * j * r2
            I, J = I * i, J * j
            kept += r0 * I * J * r2
        merged.append((r0, I, J, rank[k + g]))
        k += g
    rest_in, produced = n_in, 1
    for r0, I, J, r1 in reversed(merged):                    # contract, last group first
        rest_in //= J
        flops += 2 * batch * rest_in * (r0 * I) * (J * r1) * produced
        if rest_in > 1:                                      # the next product reads this state
            kept += batch * rest_in * r0 * I * produced
        produced *= I
    return {"forward_flops": flops, "backward_flops": 2 * flops, "kept": kept}


def _best_order(*, out_modes, in_modes, rank, batch_size, max_kept=None):
    """The grouping with the fewest training FLOPs among those keeping at most ``max_kept`` elements
    (ties: the one keeping fewer); None if no grouping fits."""
    best, best_key = None, None
    for groups in compositions(len(in_modes)):
        cost = _training_cost(out_modes=out_modes, in_modes=in_modes, rank=rank, groups=groups,
                              batch_size=batch_size)
        if max_kept is not None and cost["kept"] > max_kept:
            continue
        key = (cost["forward_flops"] + cost["backward_flops"], cost["kept"])
        if best_key is None or key < best_key:
            best, best_key = groups, key
    return best


def _train_step_bf16(model, inputs, labels, optimizer):
    """One optimizer step with the forward pass and the loss under bfloat16 autocast; returns the loss."""
    with torch.autocast(device_type=inputs.device.type, dtype=torch.bfloat16):
        loss = F.cross_entropy(model(inputs), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()                                          # outside autocast: gradients in the parameters' dtype
    optimizer.step()
    return loss.item()


def _allreduce_bytes(model, world_size):
    """Bytes each process sends per step when DDP all-reduces the gradients with a ring."""
    grad_bytes = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return 2 * (world_size - 1) / world_size * grad_bytes


# --------------------------------------------------------------------------
# 8.1 inputs: a fake asynchronous device
# --------------------------------------------------------------------------

class _FakeDevice:
    """Calls that only *queue* work, as a GPU does; ``sync()`` waits until the queued work is done.

    ``first``: seconds the very first call takes by itself (lazy set-up, planning, compiling);
    ``work[n]``: seconds of device work the n-th call (from 0) queues.
    """

    def __init__(self, first, work):
        self.first, self.work, self.pending, self.calls, self.syncs = first, list(work), 0.0, 0, 0

    def fn(self):
        self.calls += 1
        if self.calls == 1:
            time.sleep(self.first)
        self.pending += self.work[min(self.calls - 1, len(self.work) - 1)]

    def sync(self):
        self.syncs += 1
        time.sleep(self.pending)
        self.pending = 0.0


# --------------------------------------------------------------------------
# Exercises
# --------------------------------------------------------------------------

@exercise("8.1", "timing a function correctly", reference=_median_ms)
def median_ms(answer):
    base = 0.010
    cases = [  # (warmup, repeats, first call, work per call, what the case tests)
        (1, 5, 0.08, [base, base, base, 0.15, base, base], "one slow timed call (median, not mean)"),
        (2, 3, 0.08, [base] * 5, "a slow first call (warm-up, untimed)"),
    ]
    for warmup, repeats, first, work, what in cases:
        device = _FakeDevice(first, work)
        got = answer(device.fn, device.sync, warmup=warmup, repeats=repeats)
        call = (f"median_ms(fn, sync, warmup={warmup}, repeats={repeats}) on a fake GPU whose calls queue "
                f"{1e3 * base:.0f} ms of work each ({what})")
        expect(isinstance(got, numbers.Real) and not isinstance(got, bool),
               f"{call} should return a number of milliseconds, got {describe(got)}")
        expect(device.calls == warmup + repeats,
               f"{call}: fn was called {device.calls} times; expected warmup + repeats = {warmup + repeats} "
               f"({warmup} untimed warm-up calls, then {repeats} timed ones)")
        expected = 1e3 * base
        if got < 0.3 * expected:
            raise ExerciseFailed(
                f"{call}: expected about {expected:.0f} ms, got {got:.4g}. Either the clock stopped before the "
                f"device had done the work (call sync() after fn() and before reading the clock), or the "
                f"result is in seconds (return milliseconds)")
        expect(got <= 2 * expected,
               f"{call}: expected about {expected:.0f} ms (the median of the timed calls), got {got:.4g} ms: "
               f"an average is pulled up by one slow call, and the warm-up calls must not be timed")
    return ("Two runs on a fake asynchronous device: synchronised, warm-up untimed, the median robust to a "
            "slow call, in milliseconds.")


#: (out_modes, in_modes, rank), square and rectangular, d = 2 to 5, ranks that vary along the chain
_LAYERS = [
    ((4, 8, 8, 4), (4, 8, 8, 4), (1, 8, 8, 8, 1)),         # 1024 -> 1024 (Novikov et al. 2015)
    ((4, 4, 4, 4), (4, 7, 7, 4), (1, 4, 6, 4, 1)),         # 784 -> 256, unequal ranks
    ((5, 7), (2, 3), (1, 4, 1)),                            # d = 2, all modes different
    ((2, 6, 1), (3, 2, 5), (1, 3, 5, 1)),                   # an output mode of size 1
    ((3, 2, 2, 2, 3), (2, 2, 2, 2, 2), (1, 2, 4, 3, 2, 1)),
]


@exercise("8.2", "training cost of a contraction order", reference=_training_cost)
def training_cost(answer):
    checked = 0
    for out_modes, in_modes, rank in _LAYERS:
        d = len(in_modes)
        for groups in compositions(d):
            for batch in (1, 32):
                _check_cost(answer, out_modes, in_modes, rank, groups, batch)
                checked += 1
    _check_cost(answer, (8, 8, 8, 8), (8, 8, 8, 8), (1, 16, 16, 16, 1), (2, 2), 512)
    return (f"{checked + 1} layer / order / batch cases (d = 2 to 5, every grouping), forward and backward FLOPs "
            f"and elements kept for backward.")


def _check_cost(answer, out_modes, in_modes, rank, groups, batch):
    call = (f"training_cost(out_modes={out_modes}, in_modes={in_modes}, rank={rank}, groups={groups}, "
            f"batch_size={batch})")
    got = answer(out_modes=out_modes, in_modes=in_modes, rank=rank, groups=groups, batch_size=batch)
    expected = _training_cost(out_modes=out_modes, in_modes=in_modes, rank=rank, groups=groups, batch_size=batch)
    expect(isinstance(got, Mapping), f"{call} should return a dict with keys {sorted(expected)}, got {describe(got)}")
    missing = sorted(set(expected) - set(got))
    expect(not missing, f"{call}: the dict has no key {missing} (keys: {sorted(expected)})")
    why = {
        "forward_flops": "merging each group left to right, (r0, I, J, r1) x (r1, i, j, r2) costs 2 r0 I J r1 i j r2; "
                         "then each group, last first, costs 2 B (inputs left) (r_start I) (J r_end) (outputs done)",
        "backward_flops": "the input needs a gradient (a hidden layer): every forward product C = A B has two "
                          "gradients, dA = dC B^T and dB = A^T dC, each as costly as the product",
        "kept": "the input B N, every merged core (partial merges too) and every intermediate state that a later "
                "product reads; not the output, not the parameters",
    }
    for key in ("forward_flops", "backward_flops", "kept"):
        value = got[key]
        expect(isinstance(value, numbers.Real) and not isinstance(value, bool) and float(value) == int(value),
               f"{call}[{key!r}] should be a whole number, got {describe(value)}")
        expect(int(value) == expected[key],
               f"{call}[{key!r}]: expected {expected[key]:,}, got {int(value):,} ({why[key]})")


#: (out_modes, in_modes, rank, batch, max_kept): budgets that bind and budgets that do not
_ORDER_CASES = [
    ((8, 8, 8, 8), (8, 8, 8, 8), (1, 16, 16, 16, 1), 512, None),
    ((8, 8, 8, 8), (8, 8, 8, 8), (1, 16, 16, 16, 1), 512, 30_000_000),
    ((8, 8, 8, 8), (8, 8, 8, 8), (1, 16, 16, 16, 1), 1, None),
    ((4, 8, 8, 4), (4, 8, 8, 4), (1, 8, 8, 8, 1), 64, None),
    ((4, 8, 8, 4), (4, 8, 8, 4), (1, 4, 16, 4, 1), 64, 655_360),      # neither the fastest nor the leanest
    ((4, 4, 4, 4), (4, 7, 7, 4), (1, 4, 6, 4, 1), 128, None),
    ((3, 2, 2, 2, 3), (2, 2, 2, 2, 2), (1, 2, 4, 3, 2, 1), 16, 3_500),
]


@exercise("8.3", "the cheapest order that fits in memory", reference=_best_order)
def best_order(answer):
    for out_modes, in_modes, rank, batch, max_kept in _ORDER_CASES:
        _check_order(answer, out_modes, in_modes, rank, batch, max_kept)
    # a budget nothing fits in
    out_modes, in_modes, rank = (4, 8, 8, 4), (4, 8, 8, 4), (1, 8, 8, 8, 1)
    got = answer(out_modes=out_modes, in_modes=in_modes, rank=rank, batch_size=64, max_kept=100)
    expect(got is None, f"best_order(out_modes={out_modes}, in_modes={in_modes}, rank={rank}, batch_size=64, "
                        f"max_kept=100): no grouping keeps under 100 elements (the input alone is 65,536): "
                        f"expected None, got {describe(got)}")
    return (f"{len(_ORDER_CASES)} layers and budgets (binding and not), and a budget nothing fits in; "
            f"ties between equally cheap orders accepted.")


def _check_order(answer, out_modes, in_modes, rank, batch, max_kept):
    call = (f"best_order(out_modes={out_modes}, in_modes={in_modes}, rank={rank}, batch_size={batch}, "
            f"max_kept={max_kept})")
    got = answer(out_modes=out_modes, in_modes=in_modes, rank=rank, batch_size=batch, max_kept=max_kept)
    d = len(in_modes)
    try:
        if isinstance(got, str) or (isinstance(got, (tuple, list)) and
                                    all(isinstance(g, numbers.Integral) and not isinstance(g, bool) for g in got)):
            groups = parse_strategy(got if isinstance(got, str) else tuple(int(g) for g in got), d)
        else:
            raise ValueError
    except ValueError:
        raise ExerciseFailed(f"{call} should return group sizes adding up to d = {d} (e.g. (2, 2)) or a strategy "
                             f"name ('merge(2+2)'), got {describe(got)}") from None

    def cost(g):
        c = _training_cost(out_modes=out_modes, in_modes=in_modes, rank=rank, groups=g, batch_size=batch)
        return c["forward_flops"] + c["backward_flops"], c["kept"]

    expected = _best_order(out_modes=out_modes, in_modes=in_modes, rank=rank, batch_size=batch, max_kept=max_kept)
    flops, kept = cost(groups)
    best_flops, best_kept = cost(expected)
    if max_kept is not None:
        expect(kept <= max_kept,
               f"{call}: your order {strategy_name(groups)} keeps {kept:,} elements, over the budget of {max_kept:,}")
    expect((flops, kept) == (best_flops, best_kept),
           f"{call}: expected {strategy_name(expected)} ({best_flops / 1e6:,.1f} Mflop forward + backward, keeps "
           f"{best_kept:,} elements), got {strategy_name(groups)} ({flops / 1e6:,.1f} Mflop, keeps {kept:,}): "
           f"the fewest training FLOPs among the orders within the budget, and among equals the one keeping less")


def _bf16_network(seed):
    torch.manual_seed(seed)
    return nn.Sequential(TTLinear(64, 32, 4, in_modes=(4, 4, 4), out_modes=(2, 4, 4)), nn.ReLU(), nn.Linear(32, 10))


@exercise("8.4", "a training step under bfloat16 autocast", reference=_train_step_bf16)
def train_step_bf16(answer):
    learner, reference = _bf16_network(0), _bf16_network(0)
    opt_learner = torch.optim.SGD(learner.parameters(), lr=0.5)
    opt_reference = torch.optim.SGD(reference.parameters(), lr=0.5)
    gen = torch.Generator().manual_seed(1)
    batches = [(torch.randn(16, 64, generator=gen), torch.randint(0, 10, (16,), generator=gen)) for _ in range(2)]
    dtypes = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: dtypes.append((type(mod).__name__, out.dtype)))
             for m in (learner[0], learner[2])]
    try:
        for step, (x, y) in enumerate(batches, start=1):
            before = [p.detach().clone() for p in learner.parameters()]
            ref_before = [p.detach().clone() for p in reference.parameters()]
            dtypes.clear()
            call = (f"train_step_bf16(model, inputs, labels, optimizer), step {step}, on a TTLinear + Linear network "
                    f"on the CPU with SGD (inputs {describe(x)})")
            got = answer(learner, x, y, opt_learner)
            expected = _train_step_bf16(reference, x, y, opt_reference)
            expect(not isinstance(got, torch.Tensor),
                   f"{call} should return the loss as a Python float (loss.item()), got {describe(got)}: a tensor "
                   f"keeps its whole graph alive, and collecting them leaks memory")
            expect(isinstance(got, numbers.Real) and not isinstance(got, bool),
                   f"{call} should return the loss as a Python float, got {describe(got)}")
            expect(bool(dtypes), f"{call}: the model was not called")
            expect(all(dt == torch.bfloat16 for _, dt in dtypes),
                   f"{call}: the layers' outputs were {sorted({str(dt) for _, dt in dtypes})}, expected "
                   f"torch.bfloat16: "
                   f"run the forward pass under torch.autocast(device_type=inputs.device.type, "
                   f"dtype=torch.bfloat16) (autocast for another device type does nothing to tensors on this one)")
            params = list(learner.parameters())
            expect(all(p.dtype == torch.float32 for p in params),
                   f"{call}: parameters became {sorted({str(p.dtype) for p in params})}; autocast keeps them "
                   f"float32 (do not convert the model with .to(torch.bfloat16) or .bfloat16())")
            expect(any(not torch.equal(p.detach(), b) for p, b in zip(params, before)),
                   f"{call}: no parameter changed: call optimizer.step() after loss.backward()")
            expect(abs(got - expected) <= 1e-2 * max(1.0, abs(expected)),
                   f"{call}: returned loss {got:.6g}, expected {expected:.6g} (the cross-entropy of this batch, "
                   f"before the update)")
            for (name, p), b, q, rb in zip(learner.named_parameters(), before, reference.parameters(), ref_before):
                step_got, step_expected = p.detach() - b, q.detach() - rb
                error = (step_got - step_expected).norm() / step_expected.norm().clamp_min(1e-12)
                expect(error < 0.05,
                       f"{call}: the update of parameter {name!r} differs from the expected one by {error:.2g} "
                       f"(relative): zero the gradients before backward (optimizer.zero_grad()), else this step "
                       f"adds the previous step's gradient, and take one optimizer step per call")
    finally:
        for h in hooks:
            h.remove()
    return ("Two steps on a TTLinear network: forward in bfloat16, parameters float32, gradients zeroed, one "
            "update per call, the loss as a float.")


def _ddp_network(frozen: bool, dtype=torch.float32):
    torch.manual_seed(0)
    model = nn.Sequential(TTLinear(784, 256, 8, in_modes=(4, 7, 7, 4), out_modes=(4, 4, 4, 4)), nn.ReLU(),
                          nn.Linear(256, 10)).to(dtype)
    if frozen:
        model[0].requires_grad_(False)
    return model


@exercise("8.5", "gradient traffic of data-parallel training", reference=_allreduce_bytes)
def allreduce_bytes(answer):
    cases = [(_ddp_network(False), 2, "float32"), (_ddp_network(False), 8, "float32"),
             (_ddp_network(True), 4, "float32, the TT layer frozen"), (_ddp_network(False, torch.bfloat16), 4,
                                                                       "bfloat16 parameters"),
             (_ddp_network(False), 1, "float32, one process")]
    for model, world, what in cases:
        got = answer(model, world)
        expected = _allreduce_bytes(model, world)
        call = f"allreduce_bytes(model, world_size={world}) for a TTLinear 784->256 + Linear 256->10 ({what})"
        expect(isinstance(got, numbers.Real) and not isinstance(got, bool),
               f"{call} should return a number of bytes, got {describe(got)}")
        expect(math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-9),
               f"{call}: expected {expected:,.1f} bytes, got {got:,.1f}. A ring all-reduce sends 2 (W - 1) / W "
               f"times the gradients' bytes per process; only parameters that require a gradient are reduced, "
               f"each at its own element size")
    return "Five models and world sizes: float32 and bfloat16, frozen layers, one process."


__all__ = ["median_ms", "training_cost", "best_order", "train_step_bf16", "allreduce_bytes"]
