"""Checkers of lesson 08 keep the contract (see checker_contract.py), and their references match what torch does."""
import math
import statistics
import time

import pytest
import torch
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

from tnnlib.checks import lesson08
from tnnlib.nn import TTLinear
from tnnlib.nn.planning import compositions
from tnnlib.nn.tt_linear import contract_chunk
from tnnlib.timing import saved_tensor_bytes

from checker_contract import make_contract_tests


# 8.1 ----------------------------------------------------------------------
def _ms_no_sync(fn, sync, *, warmup=1, repeats=5):              # stops the clock before the device has finished
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    sync()
    return 1e3 * statistics.median(times)


def _ms_mean(fn, sync, *, warmup=1, repeats=5):                 # the mean: one slow call pulls it up
    for _ in range(warmup):
        fn()
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return 1e3 * (time.perf_counter() - start) / repeats


def _ms_no_warmup(fn, sync, *, warmup=1, repeats=5):            # the first call is timed, the warm-up skipped
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def _ms_in_seconds(fn, sync, *, warmup=1, repeats=5):           # seconds, not milliseconds
    return lesson08._median_ms(fn, sync, warmup=warmup, repeats=repeats) / 1e3


# 8.2 ----------------------------------------------------------------------
def _cost_no_merging(*, out_modes, in_modes, rank, groups, batch_size):   # merging the cores is free
    cost = lesson08._training_cost(out_modes=out_modes, in_modes=in_modes, rank=rank, groups=(1,) * len(in_modes),
                                   batch_size=batch_size)
    true = lesson08._training_cost(out_modes=out_modes, in_modes=in_modes, rank=rank, groups=groups,
                                   batch_size=batch_size)
    return dict(true, forward_flops=cost["forward_flops"], backward_flops=cost["backward_flops"])


def _cost_one_gradient(**kwargs):                                   # only the weight gradients
    cost = lesson08._training_cost(**kwargs)
    return dict(cost, backward_flops=cost["forward_flops"])


def _cost_without_input(**kwargs):                                  # forgets that the input is kept
    cost = lesson08._training_cost(**kwargs)
    return dict(cost, kept=cost["kept"] - kwargs["batch_size"] * int(torch.tensor(kwargs["in_modes"]).prod()))


def _cost_keeps_output(**kwargs):                                   # counts the output as kept too
    cost = lesson08._training_cost(**kwargs)
    return dict(cost, kept=cost["kept"] + kwargs["batch_size"] * int(torch.tensor(kwargs["out_modes"]).prod()))


# 8.3 ----------------------------------------------------------------------
def _order_ignores_budget(*, out_modes, in_modes, rank, batch_size, max_kept=None):
    return lesson08._best_order(out_modes=out_modes, in_modes=in_modes, rank=rank, batch_size=batch_size)


def _order_leanest(*, out_modes, in_modes, rank, batch_size, max_kept=None):   # the least memory, whatever it costs
    def key(groups):
        c = lesson08._training_cost(out_modes=out_modes, in_modes=in_modes, rank=rank, groups=groups,
                                    batch_size=batch_size)
        return c["kept"], c["forward_flops"]
    best = min(compositions(len(in_modes)), key=key)
    return best if max_kept is None or key(best)[0] <= max_kept else None


def _order_always_halves(*, out_modes, in_modes, rank, batch_size, max_kept=None):   # "merge the halves" as a rule
    d = len(in_modes)
    return (d // 2, d - d // 2)


# 8.4 ----------------------------------------------------------------------
def _step_no_autocast(model, inputs, labels, optimizer):
    loss = F.cross_entropy(model(inputs), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _step_cuda_autocast(model, inputs, labels, optimizer):       # hard-codes the device type
    with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=torch.cuda.is_available()):
        loss = F.cross_entropy(model(inputs), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _step_bf16_model(model, inputs, labels, optimizer):          # converts the parameters themselves
    model.bfloat16()
    loss = F.cross_entropy(model(inputs.bfloat16()), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _step_no_zero_grad(model, inputs, labels, optimizer):        # gradients pile up from step to step
    with torch.autocast(device_type=inputs.device.type, dtype=torch.bfloat16):
        loss = F.cross_entropy(model(inputs), labels)
    loss.backward()
    optimizer.step()
    return loss.item()


def _step_returns_tensor(model, inputs, labels, optimizer):      # keeps the graph alive
    with torch.autocast(device_type=inputs.device.type, dtype=torch.bfloat16):
        loss = F.cross_entropy(model(inputs), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


# 8.5 ----------------------------------------------------------------------
def _traffic_all_parameters(model, world_size):                 # frozen parameters are not reduced
    n = sum(p.numel() * p.element_size() for p in model.parameters())
    return 2 * (world_size - 1) / world_size * n


def _traffic_no_ring(model, world_size):                        # the gradients' size, once
    return sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)


def _traffic_float32_always(model, world_size):                 # 4 bytes per number whatever the dtype
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return 2 * (world_size - 1) / world_size * 4 * n


def _traffic_naive(model, world_size):                          # everyone sends everything to everyone
    return (world_size - 1) * _traffic_no_ring(model, world_size)


WRONG_ANSWERS = {
    "8.1": [_ms_no_sync, _ms_mean, _ms_no_warmup, _ms_in_seconds],
    "8.2": [_cost_no_merging, _cost_one_gradient, _cost_without_input, _cost_keeps_output],
    "8.3": [_order_ignores_budget, _order_leanest, _order_always_halves],
    "8.4": [_step_no_autocast, _step_cuda_autocast, _step_bf16_model, _step_no_zero_grad, _step_returns_tensor],
    "8.5": [_traffic_all_parameters, _traffic_no_ring, _traffic_float32_always, _traffic_naive],
}

(test_reference, test_stub, test_crash, test_two_wrong, test_wrong) = make_contract_tests(lesson08, WRONG_ANSWERS)


# The references against what torch actually does ----------------------------

@pytest.mark.parametrize("out_modes,in_modes,rank", [((4, 8, 8, 4), (4, 8, 8, 4), (1, 8, 8, 8, 1)),
                                                     ((4, 4, 4, 4), (4, 7, 7, 4), (1, 4, 6, 4, 1)),
                                                     ((2, 6, 1), (3, 2, 5), (1, 3, 5, 1))])
def test_training_cost_is_what_plain_autograd_computes_and_keeps(out_modes, in_modes, rank):
    """FLOPs counted by torch's FlopCounterMode and storages saved by autograd when autograd differentiates the
    plain contraction (merge each group, then contract_chunk), for every grouping with at least two groups.
    (TTLinear itself may do better: a backward pass of its own that recomputes instead of keeping.)"""
    layer = TTLinear(math.prod(in_modes), math.prod(out_modes), rank, in_modes=in_modes, out_modes=out_modes)
    batch = 24
    for groups in compositions(len(in_modes)):
        if len(groups) == 1:
            continue
        x = torch.randn(batch, layer.in_features, requires_grad=True)       # a hidden layer: dL/dx is needed
        expected = lesson08._training_cost(out_modes=out_modes, in_modes=in_modes, rank=rank, groups=groups,
                                           batch_size=batch)
        outputs = []

        def forward():
            outputs.append(contract_chunk(x, layer.merged_cores(groups)))  # noqa: B023

        with FlopCounterMode(display=False) as counter:
            kept = saved_tensor_bytes(forward, exclude=layer.parameters())
            flops = counter.get_total_flops()
            outputs[0].sum().backward()
            total = counter.get_total_flops()
        assert flops == expected["forward_flops"], groups
        assert total - flops == expected["backward_flops"], groups
        assert kept == 4 * expected["kept"], groups


def test_reference_bf16_step_learns():
    torch.manual_seed(0)
    model = lesson08._bf16_network(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.randn(64, 64), torch.randint(0, 10, (64,))
    losses = [lesson08._train_step_bf16(model, x, y, optimizer) for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]
    assert all(p.dtype == torch.float32 for p in model.parameters())
