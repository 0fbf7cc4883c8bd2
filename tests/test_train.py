"""The training loop of tnnlib.train: what fit records, reproducibility, options, and clear errors."""
import copy
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from tnnlib.nn import TTLinear
from tnnlib.train import History, evaluate, fit, progress_enabled, shard


def quadrants(n=256, seed=0):
    """Points in the plane, class 1 where x * y > 0: easy for an MLP, impossible for a linear model."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g)
    return x, (x[:, 0] * x[:, 1] > 0).long()


def mlp(seed=0, hidden=16):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, 2))


def without_times(history):
    d = history.as_dict()
    d.pop("epoch_seconds")
    return d


# ---------------------------------------------------------------------------
# What fit records
# ---------------------------------------------------------------------------

def test_history_has_one_entry_per_step_and_per_epoch():
    x, y = quadrants(100)
    h = fit(mlp(), (x, y), epochs=2, batch_size=32, val_data=quadrants(50, seed=1), progress=False)
    assert isinstance(h, History)
    assert len(h.step_loss) == len(h.lr) == 8                       # ceil(100 / 32) = 4 steps per epoch
    assert h.epoch == [1, 2] and h.epoch_step == [4, 8]
    for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "epoch_seconds", "peak_memory_mb"):
        assert len(getattr(h, name)) == 2, name
    assert all(0 <= a <= 1 for a in h.train_accuracy + h.val_accuracy)
    assert h.peak_memory_mb == [None, None]                         # not measured on a CPU
    assert all(s > 0 for s in h.epoch_seconds)
    assert set(h.as_dict()) == {"step_loss", "lr", "epoch", "epoch_step", "train_loss", "train_accuracy",
                                "val_loss", "val_accuracy", "epoch_seconds", "peak_memory_mb"}
    assert "2 epochs, 8 steps" in repr(h)


def test_train_loss_is_the_mean_of_the_epochs_step_losses():
    x, y = quadrants(96)
    h = fit(mlp(), (x, y), epochs=1, batch_size=32, progress=False)
    assert h.train_loss[0] == pytest.approx(sum(h.step_loss) / 3)
    assert h.val_loss == [None] and h.val_accuracy == [None]


def test_same_seed_same_history_other_seed_other_order():
    x, y = quadrants(128)
    model = mlp(hidden=8, seed=3)
    model.insert(1, nn.Dropout(0.2))                                # dropout draws from the global generator
    runs = {}
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        m = copy.deepcopy(model)
        runs[name] = (without_times(fit(m, (x, y), epochs=2, batch_size=32, seed=seed, progress=False)), m)
    assert runs["a"][0] == runs["b"][0]
    assert all(torch.equal(p, q) for p, q in zip(runs["a"][1].parameters(), runs["b"][1].parameters()))
    assert runs["a"][0]["step_loss"] != runs["c"][0]["step_loss"]


def test_fit_leaves_the_global_generator_as_it_was():
    x, y = quadrants(64)
    model = mlp()
    before = torch.random.get_rng_state()
    fit(model, (x, y), epochs=1, batch_size=16, seed=1, progress=False)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_loss_falls_on_numpy_float64_data():
    x, y = quadrants(512)
    model = mlp(hidden=32)
    h = fit(model, (x.double().numpy(), y.numpy()), epochs=15, batch_size=64, lr=1e-2, progress=False)
    assert h.train_loss[-1] < 0.5 * h.train_loss[0]
    assert evaluate(model, (x, y))["accuracy"] > 0.9
    assert next(model.parameters()).dtype == torch.float32          # the data was cast, not the model


def test_max_steps_cosine_schedule_and_extras_for_the_loss():
    x, y = quadrants(100)
    teacher = torch.randn(100, 2)
    seen = []

    def distill(logits, labels, teacher_logits):
        seen.append(teacher_logits.shape)
        return F.cross_entropy(logits, labels) + F.mse_loss(logits, teacher_logits)

    h = fit(mlp(), (x, y, teacher), epochs=None, max_steps=10, batch_size=30, drop_last=True, lr=0.1,
            scheduler="cosine", loss_fn=distill, progress=False)
    assert len(h.step_loss) == 10 and h.epoch == [1, 2, 3, 4] and h.epoch_step == [3, 6, 9, 10]
    assert all(s == (30, 2) for s in seen)                          # drop_last: no batch of 10
    assert h.lr[0] == pytest.approx(0.1)
    assert h.lr == sorted(h.lr, reverse=True)
    assert h.lr[-1] == pytest.approx(0.05 * (1 + math.cos(math.pi * 9 / 10)))


def test_optimizer_class_and_grad_clip():
    x, y = quadrants(64)
    model = mlp()
    before = torch.cat([p.detach().flatten() for p in model.parameters()])
    fit(model, (x, y), epochs=1, batch_size=64, optimizer=torch.optim.SGD, lr=1.0, grad_clip=1e-3, progress=False)
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert 0 < (after - before).norm() <= 1e-3 * (1 + 1e-5)        # one SGD step of a clipped gradient


def test_trains_only_parameters_that_require_grad():
    x, y = quadrants(64)
    model = mlp()
    model[0].weight.requires_grad_(False)
    frozen = model[0].weight.detach().clone()
    fit(model, (x, y), epochs=1, batch_size=16, progress=False)
    assert torch.equal(model[0].weight, frozen)


# ---------------------------------------------------------------------------
# evaluate and the model's mode
# ---------------------------------------------------------------------------

class Recorder(nn.Module):
    """A linear model that notes its mode and whether gradients are on at each call."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2)
        self.calls = []

    def forward(self, x):
        self.calls.append((self.training, torch.is_grad_enabled()))
        return self.linear(x)


@pytest.mark.parametrize("train_mode", [True, False])
def test_evaluate_and_fit_restore_the_mode(train_mode):
    x, y = quadrants(40)
    model = Recorder().train(train_mode)
    result = evaluate(model, (x, y), batch_size=16)
    assert model.training is train_mode
    assert model.calls == [(False, False)] * 3                      # eval mode, no gradients, 3 batches
    assert result["examples"] == 40 and result["loss"] > 0 and 0 <= result["accuracy"] <= 1
    model.calls.clear()
    fit(model, (x, y), epochs=1, batch_size=40, val_data=(x, y), progress=False)
    assert model.training is train_mode
    assert model.calls == [(True, True), (False, False)]            # one step, then the validation


def test_evaluate_regression_has_no_accuracy():
    x = torch.randn(20, 2)
    result = evaluate(nn.Linear(2, 1), (x, x[:, :1]), loss_fn=F.mse_loss)
    assert result["accuracy"] is None and result["loss"] > 0


# ---------------------------------------------------------------------------
# Callbacks
# ---------------------------------------------------------------------------

class Log:
    def __init__(self, stop_at_step=None):
        self.events, self.stop_at_step = [], stop_at_step

    def on_train_begin(self, state):
        self.events.append(("begin", state.epoch, state.step))

    def on_step_end(self, state):
        self.events.append(("step", state.epoch, state.step))
        if state.step == self.stop_at_step:
            state.stop = True

    def on_epoch_end(self, state):
        self.events.append(("epoch", state.epoch, state.step, len(state.history.train_loss)))

    def on_train_end(self, state):
        self.events.append(("end", state.epoch, state.step))


def test_callbacks_are_called_in_order_and_plain_functions_at_epoch_end():
    x, y = quadrants(40)
    log, epochs_seen = Log(), []
    model = mlp()
    fit(model, (x, y), epochs=2, batch_size=20, callbacks=[log, lambda s: epochs_seen.append(s.model)],
        progress=False)
    assert log.events == [("begin", 0, 0), ("step", 1, 1), ("step", 1, 2), ("epoch", 1, 2, 1),
                          ("step", 2, 3), ("step", 2, 4), ("epoch", 2, 4, 2), ("end", 2, 4)]
    assert epochs_seen == [model, model]


def test_a_callback_can_stop_training():
    x, y = quadrants(100)
    log = Log(stop_at_step=3)
    h = fit(mlp(), (x, y), epochs=5, batch_size=10, callbacks=[log], progress=False)
    assert len(h.step_loss) == 3 and h.epoch == [1]
    assert log.events[-2:] == [("epoch", 1, 3, 1), ("end", 1, 3)]


# ---------------------------------------------------------------------------
# Data in other forms
# ---------------------------------------------------------------------------

def test_dataloader_input():
    x, y = quadrants(100)
    loader = DataLoader(TensorDataset(x, y), batch_size=25, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    h = fit(mlp(), loader, epochs=2, val_data=DataLoader(TensorDataset(x, y), batch_size=50), progress=False)
    assert len(h.step_loss) == 8 and len(h.val_loss) == 2
    assert evaluate(mlp(), DataLoader(TensorDataset(x, y), batch_size=30))["examples"] == 100


def test_shard_splits_a_permutation_like_distributed_sampler():
    order = torch.randperm(7, generator=torch.Generator().manual_seed(0))
    parts = [shard(order, r, 3) for r in range(3)]
    assert [len(p) for p in parts] == [3, 3, 3]
    assert set(torch.cat(parts).tolist()) == set(range(7))
    sampler = [list(torch.utils.data.DistributedSampler(range(7), num_replicas=3, rank=r, shuffle=False))
               for r in range(3)]
    assert [shard(torch.arange(7), r, 3).tolist() for r in range(3)] == sampler


# ---------------------------------------------------------------------------
# Clear errors
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("data, kwargs, error, match", [
    ((torch.randn(10, 2), torch.zeros(9, dtype=torch.long)), {}, ValueError, "different lengths"),
    ((torch.randn(0, 2), torch.zeros(0, dtype=torch.long)), {}, ValueError, "empty"),
    ((torch.randn(10, 2),), {}, ValueError, "at least inputs and labels"),
    ({"x": 1}, {}, TypeError, "must be a tuple"),
    (([[1.0, 2.0]], [0]), {}, TypeError, "tensor or a NumPy array"),
    (None, {"epochs": 0}, ValueError, "epochs must be a positive integer, got 0"),
    (None, {"epochs": 1.5}, TypeError, "epochs must be a positive integer"),
    (None, {"epochs": None}, ValueError, "needs max_steps"),
    (None, {"batch_size": True}, TypeError, "batch_size"),
    (None, {"lr": -1.0}, ValueError, "lr"),
    (None, {"amp": "fp16"}, ValueError, "amp must be False or 'bf16'"),
    (None, {"optimizer": "adam"}, TypeError, "optimizer"),
    (None, {"scheduler": "linear"}, ValueError, "scheduler"),
    (None, {"callbacks": [3]}, TypeError, "callback"),
    (None, {"seed": -1}, ValueError, "seed"),
    (None, {"loss_fn": lambda out, y: out.sum(1)}, ValueError, "scalar"),
    (None, {"drop_last": True, "batch_size": 64}, ValueError, "drop_last"),
])
def test_bad_input_raises_clear_errors(data, kwargs, error, match):
    data = quadrants(10) if data is None else data
    with pytest.raises(error, match=match):
        fit(mlp(), data, progress=False, **kwargs)


def test_bad_model_and_frozen_model():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        fit(lambda x: x, quadrants(10))
    model = mlp().requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameter"):
        fit(model, quadrants(10))


# ---------------------------------------------------------------------------
# Progress bar, autocast, torch.compile, a TT layer, CUDA
# ---------------------------------------------------------------------------

def test_progress_bar_rule(monkeypatch, capsys):
    assert progress_enabled() is False                              # pytest is running
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    monkeypatch.setenv("TNN_QUIET", "1")
    assert progress_enabled() is False
    fit(mlp(), quadrants(20), batch_size=10, progress=True)         # forced: a text bar on stderr
    assert "2/2" in capsys.readouterr().err


def test_bf16_autocast_on_cpu():
    x, y = quadrants(256)
    model = mlp(hidden=32)
    h = fit(model, (x, y), epochs=5, batch_size=64, lr=1e-2, amp="bf16", val_data=(x, y), progress=False)
    assert all(math.isfinite(v) for v in h.step_loss)
    assert h.train_loss[-1] < h.train_loss[0]
    assert all(p.dtype == torch.float32 for p in model.parameters())   # autocast: weights stay float32


def test_compile_with_the_eager_backend():
    torch._dynamo.reset()
    x, y = quadrants(128)
    model = mlp(hidden=32)
    h = fit(model, (x, y), epochs=3, batch_size=64, lr=1e-2, compile={"backend": "eager"}, progress=False)
    assert h.train_loss[-1] < h.train_loss[0]
    assert type(model) is nn.Sequential                             # the caller's model is not replaced


def test_a_tt_layer_trains():
    torch.manual_seed(0)
    x = torch.randn(128, 16)
    y = (x[:, :8].sum(1) > x[:, 8:].sum(1)).long()
    tt = TTLinear(16, 16, 4, in_modes=(4, 4), out_modes=(4, 4))
    model = nn.Sequential(tt, nn.ReLU(), nn.Linear(16, 2))
    cores = [c.detach().clone() for c in tt.cores]
    h = fit(model, (x, y), epochs=4, batch_size=32, lr=1e-2, progress=False)
    assert h.train_loss[-1] < h.train_loss[0]
    assert all(not torch.equal(a, b) for a, b in zip(cores, tt.cores))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fit_on_cuda_with_bf16_autocast():
    x, y = quadrants(512)
    model = mlp(hidden=64)
    h = fit(model, (x, y), epochs=3, batch_size=128, lr=1e-2, device="cuda", amp="bf16", val_data=(x, y),
            progress=False)
    assert next(model.parameters()).device.type == "cuda"
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(math.isfinite(v) for v in h.step_loss) and h.train_loss[-1] < h.train_loss[0]
    assert all(m is not None and m > 0 for m in h.peak_memory_mb)
    assert evaluate(model, (x, y), amp="bf16")["accuracy"] > 0.5
