"""tnnlib.timing: synchronised, warmed-up, interleaved timing, and the memory a training step keeps."""
import pytest
import torch
from torch import nn

from tnnlib import timing
from tnnlib.nn import TTLinear
from tnnlib.timing import Timing, peak_memory_bytes, saved_tensor_bytes, synchronize, time_interleaved, time_it

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


class FakeDevice:
    """A clock and a device queue: calls queue work, synchronising waits for it (no real sleeping)."""

    def __init__(self, work):
        self.now, self.pending, self.work, self.calls, self.log = 0.0, 0.0, list(work), 0, []

    def perf_counter(self):
        return self.now

    def call(self):
        self.calls += 1
        self.log.append("call")
        self.now += 1e-6                                  # the launch itself
        self.pending += self.work.pop(0)                  # the work runs later, asynchronously

    def synchronize(self, device=None):
        self.log.append("sync")
        self.now += self.pending
        self.pending = 0.0


@pytest.fixture
def fake(monkeypatch):
    def make(work):
        device = FakeDevice(work)
        monkeypatch.setattr(timing, "time", device)
        monkeypatch.setattr(timing, "synchronize", device.synchronize)
        return device
    return make


def test_time_it_warms_up_synchronises_and_takes_the_median(fake):
    device = fake([5.0, 1.0, 1.2, 9.0, 1.1, 0.9])        # a slow first call, then one outlier
    result = time_it(device.call, device="cuda", warmup=1, repeats=5)
    assert device.calls == 6
    assert len(result.times) == 5
    assert result.median == pytest.approx(1.1, abs=1e-4)  # the queued work, not the launch; the warm-up not timed
    assert result.min == pytest.approx(0.9, abs=1e-4)
    assert device.log[-2:] == ["call", "sync"]           # the clock stops after the device has finished


def test_time_it_number_divides(fake):
    device = fake([1.0] * 7)
    result = time_it(device.call, device="cuda", warmup=1, repeats=2, number=3)
    assert device.calls == 7 and result.times == pytest.approx((1.0, 1.0), abs=1e-4)


def test_time_interleaved_shuffles_rounds_and_times_each(fake):
    device = fake([0.0] * 100)
    order = []

    def named(name, cost):
        def fn():
            order.append(name)
            device.call()
            device.pending += cost
        return fn

    results = time_interleaved({"a": named("a", 1.0), "b": named("b", 2.0), "c": named("c", 3.0)},
                               device="cuda", warmup=2, rounds=4)
    assert list(results) == ["a", "b", "c"]
    assert order[:6] == ["a", "a", "b", "b", "c", "c"]      # warm-up of each in turn
    rounds = [order[6 + 3 * k: 9 + 3 * k] for k in range(4)]
    assert all(sorted(r) == ["a", "b", "c"] for r in rounds)
    assert len({tuple(r) for r in rounds}) > 1             # the order changes between rounds
    for name, cost in zip("abc", (1.0, 2.0, 3.0)):
        assert results[name].median == pytest.approx(cost, abs=1e-4)
        assert len(results[name].times) == 4


def test_time_interleaved_is_reproducible_and_checks_arguments():
    calls = []
    fns = {k: (lambda k=k: calls.append(k)) for k in "xyz"}
    time_interleaved(fns, warmup=0, rounds=3, seed=1)
    first, calls[:] = list(calls), []
    time_interleaved(fns, warmup=0, rounds=3, seed=1)
    assert calls == first
    with pytest.raises(ValueError, match="at least one"):
        time_interleaved({})
    with pytest.raises((TypeError, ValueError), match="rounds"):
        time_interleaved(fns, rounds=0)
    with pytest.raises((TypeError, ValueError), match="warmup"):
        time_it(lambda: None, warmup=-1)
    with pytest.raises(TypeError, match="repeats"):
        time_it(lambda: None, repeats=2.5)


def test_timing_prints_and_real_calls_work():
    assert str(Timing((0.002, 0.001, 0.003))) == "2 ms (median of 3; min 1 ms)"
    layer, x = nn.Linear(32, 32), torch.randn(4, 32)
    result = time_it(lambda: layer(x), device="cpu", warmup=0, repeats=3)
    assert len(result.times) == 3 and all(t > 0 for t in result.times)
    synchronize("cpu")
    synchronize(None)


def test_saved_tensor_bytes_counts_what_autograd_keeps():
    layer = nn.Linear(8, 4)
    x = torch.randn(5, 8)
    assert saved_tensor_bytes(lambda: layer(x), exclude=layer.parameters()) == 5 * 8 * 4     # the input only
    assert saved_tensor_bytes(lambda: layer(x)) == 5 * 8 * 4               # no input gradient: W not needed
    hidden = x.clone().requires_grad_()                                       # a hidden layer's input
    assert saved_tensor_bytes(lambda: layer(hidden)) == 5 * 8 * 4 + 4 * 8 * 4   # + the weight, for dL/dx
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    kept = saved_tensor_bytes(lambda: model(x), exclude=model.parameters())
    assert kept == 5 * 8 * 4 + 5 * 16 * 4          # the input, the ReLU's output (saved once, read by both)
    with torch.no_grad():
        assert saved_tensor_bytes(lambda: model(x)) == 0


def test_saved_tensor_bytes_of_a_tt_layer_matches_its_cost_model():
    layer = TTLinear(256, 256, 4, in_modes=(4, 4, 4, 4), out_modes=(4, 4, 4, 4))
    layer.strategy = "merge(2+2)"
    x = torch.randn(16, 256, requires_grad=True)
    kept = saved_tensor_bytes(lambda: layer(x), exclude=layer.parameters())
    assert kept == 4 * layer.cost(16, strategy="merge(2+2)").activations


def test_peak_memory_is_none_off_cuda():
    assert peak_memory_bytes(lambda: torch.zeros(1000), "cpu") is None


@cuda
def test_peak_memory_on_cuda():
    def fn():
        a = torch.ones(2**20, device="cuda")            # 4 MiB
        return (a * 2).sum()
    assert peak_memory_bytes(fn, "cuda") >= 2 * 4 * 2**20


@cuda
def test_time_it_on_cuda_waits_for_the_kernels():
    a = torch.randn(2048, 2048, device="cuda")
    result = time_it(lambda: a @ a, device="cuda", warmup=2, repeats=3)
    assert result.min > 1e-5                            # 17 Gflop cannot take 10 us: the work was waited for
