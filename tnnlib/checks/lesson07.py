"""Checkers of lesson 07: evaluating, choosing ranks, freezing and healing a compressed network."""
import copy
import math
import re

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..checking import ExerciseFailed, describe, exercise, expect, expect_close, expect_equal
from ..compress import distillation_loss as _distillation_loss
from ..compress import energy_rank as _energy_rank
from ..compress import freeze_all_but_factors as _freeze
from ..compress import heal as _heal
from ..models import accuracy as _accuracy
from ..nn import CPConv2d, LowRankLinear, TTLinear, TuckerConv2d
from ..runtime import get_device


def _device() -> torch.device:
    """The device the lesson runs its model on (CUDA where there is one): the checks run there too."""
    return get_device()


#: What torch says when tensors on two devices, or of two dtypes, meet in one operation.
_MISMATCH = re.compile(r"same device|same dtype|scalar type|dtype|should be the same|Expected all tensors")


def _where_the_model_is(what: str, answer, *args, **kwargs):
    """``answer(*args, **kwargs)``; a device or dtype mismatch in it becomes a message saying what to move."""
    try:
        return answer(*args, **kwargs)
    except ExerciseFailed as failure:
        text = str(failure)
        if not _MISMATCH.search(text):
            raise
        error = text.splitlines()[0].removeprefix("your code raised ")
        raise ExerciseFailed(
            f"{what} failed with {error}. The data must go where the model is: with p = next(model.parameters()), "
            f"move the inputs to p.device and p.dtype (inputs.to(p.device, p.dtype)) and the labels to p.device. "
            f"On a GPU the lesson's model is on the GPU while the data it passes may be on the CPU; a model in "
            f"float64 given float32 inputs is the same mistake on a CPU.") from failure.__cause__


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------

def _teacher_data(n, n_features=12, n_classes=4, seed=0):
    """Inputs and the labels a fixed linear 'teacher' gives them, and the teacher as an nn.Linear."""
    gen = torch.Generator().manual_seed(seed)
    teacher = nn.Linear(n_features, n_classes)
    with torch.no_grad():
        teacher.weight.copy_(torch.randn(n_classes, n_features, generator=gen))
        teacher.bias.zero_()
    x = torch.randn(n, n_features, generator=gen)
    with torch.no_grad():
        y = teacher(x).argmax(1)
    return x, y, teacher


def _matrix_with_spectrum(s, shape, seed=0):
    gen = torch.Generator().manual_seed(seed)
    m, n = shape
    U, _ = torch.linalg.qr(torch.randn(m, len(s), generator=gen, dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(n, len(s), generator=gen, dtype=torch.float64))
    return (U * torch.as_tensor(s, dtype=torch.float64)) @ V.T


def _small_network(seed=0):
    """Dense and tensorized layers mixed, as after a partial tensorize."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        TuckerConv2d(4, 6, 3, (3, 2), padding=1),
        CPConv2d(6, 4, 3, 3, padding=1),
        nn.Flatten(),
        TTLinear(256, 64, 3, in_modes=(4, 4, 4, 4), out_modes=(2, 4, 4, 2)),
        nn.ReLU(),
        LowRankLinear(64, 16, rank=2),
        nn.Linear(16, 10),
    )


# --------------------------------------------------------------------------
# Exercises
# --------------------------------------------------------------------------

@exercise("7.1", "test accuracy of a model", reference=_accuracy)
def evaluate(answer):
    device = _device()
    x, y, teacher = _teacher_data(1003)
    teacher.to(device)
    with torch.no_grad():
        y_noisy = y.clone()
        y_noisy[::7] = (y_noisy[::7] + 1) % 4                    # the teacher gets 6/7 of these right
    perfect, partly = _accuracy(teacher, x, y), _accuracy(teacher, x, y_noisy)
    for labels, expected, what in [(y, perfect, "its own labels"), (y_noisy, partly, "labels with every 7th changed")]:
        for batch_size in (1000, 64):
            call = (f"evaluate(model, inputs, labels, batch_size={batch_size}) on 1003 inputs and {what} "
                    f"(model on {device.type}, inputs and labels on the CPU)")
            got = _where_the_model_is(call, answer, teacher, x, labels, batch_size=batch_size)
            expect(isinstance(got, (float, np.floating)) and not isinstance(got, bool),
                   f"{call} should return a float, got {describe(got)}")
            expect(0 <= got <= 1, f"{call} should return a fraction in [0, 1] (not a percentage), got {got}")
            expect(abs(got - expected) < 1e-6, f"{call}: expected accuracy {expected:.6f}, got {got:.6f} "
                                                 f"(every input counts, the last partial batch too)")
    # (tolerance 1e-6: a float32 mean, the usual .float().mean(), is exact only to ~1e-7;
    #  one input counted wrong changes the accuracy by 1/1003)
    # NumPy inputs, as load_mnist returns them, and a model of another dtype (a device mismatch, simulated)
    teacher64 = copy.deepcopy(teacher).double()
    expected64 = _accuracy(teacher64, x, y_noisy)
    call = "evaluate on NumPy arrays (float32 inputs) and a float64 model"
    got = _where_the_model_is(call, answer, teacher64, x.numpy(), y_noisy.numpy(), batch_size=500)
    expect(isinstance(got, (float, np.floating)) and abs(got - expected64) < 1e-6,
           f"{call}: expected {expected64:.6f}, got {got!r}")
    # Dropout: evaluation must run in eval mode, and leave the model as it found it
    model = nn.Sequential(nn.Dropout(0.5), teacher)
    model.train()
    torch.manual_seed(0)
    got = answer(model, x, y, batch_size=1000)
    expect(abs(got - 1.0) < 1e-6, f"a model with dropout, in training mode: expected accuracy 1.0 (dropout must be "
                                   f"off while evaluating: model.eval()), got {got:.4f}")
    expect(model.training, "after evaluate the model must be back in the mode it was in (training mode here): "
                           "remember model.training before calling model.eval(), then call model.train(...)")
    return (f"Accuracy as a fraction, the last partial batch counted, NumPy inputs, dropout off, mode restored; "
            f"model on {device.type}, data on the CPU, and a float64 model.")


@exercise("7.2", "rank for a fraction of the energy", reference=_energy_rank)
def energy_rank(answer):
    s = np.array([10.0, 6.0, 3.0, 2.0, 1.0, 0.5, 0.25])
    matrix = _matrix_with_spectrum(s, (9, 12))
    cumulative = np.cumsum(s ** 2) / np.sum(s ** 2)       # 0.665 0.905 0.965 0.991 0.998 0.9996 1
    cases = [(0.5, 1), (0.9, 2), (0.95, 3), (0.99, 4), (0.999, 6), (0.9999, 7)]
    for energy, expected in cases:
        assert _energy_rank(matrix, energy) == expected, (energy, cumulative)
        got = answer(matrix, energy)
        what = (f"energy_rank(W, {energy}) for a 9 x 12 matrix with singular values {s.tolist()} "
                f"(kept energy sum(s[:r]^2)/sum(s^2) by rank: {np.round(cumulative, 4).tolist()})")
        expect(isinstance(got, (int, np.integer)) and not isinstance(got, bool),
               f"{what}: return an int, got {describe(got)}")
        expect_equal(int(got), expected, what)
    # a convolution kernel (S, C, h, w) is read as the matrix (S, C h w)
    gen = torch.Generator().manual_seed(1)
    kernel = torch.randn(6, 3, 3, 3, generator=gen) * torch.tensor([4.0, 2.0, 1.0])[None, :, None, None]
    expected = _energy_rank(kernel, 0.8)
    got = answer(kernel, 0.8)
    expect_equal(int(got), expected, "energy_rank of a conv kernel of shape (6, 3, 3, 3) at energy 0.8 "
                                     "(read it as the 6 x 27 matrix kernel.reshape(6, -1))")
    # the lesson's weights are on its device (a GPU, where there is one)
    device = _device()
    got = answer(matrix.to(device, torch.float32), 0.95)
    expect(isinstance(got, (int, np.integer)) and not isinstance(got, bool) and int(got) == 3,
           f"energy_rank(W, 0.95) for the matrix above in float32 on {device.type} (as the lesson's weights are): "
           f"expected 3, got {describe(got)} (.cpu() before .numpy(), or stay in torch)")
    return (f"Six energy levels on a matrix of known spectrum, a conv kernel read as (S, C h w), and a float32 "
            f"weight on {device.type}.")


def _expected_flags(model):
    """{name: should it be trainable} for the reference rule."""
    probe = _small_network()
    probe.load_state_dict(model.state_dict())
    trainable = set(_freeze(probe))
    return {name: name in trainable for name, _ in probe.named_parameters()}, sorted(trainable)


@exercise("7.3", "freeze all but the factors", reference=_freeze)
def freeze_all_but_factors(answer):
    model = _small_network()
    for p in model.parameters():
        p.requires_grad_(True)
    flags, names = _expected_flags(model)
    model[0].weight.requires_grad_(False)                      # a mixed starting state must not matter
    got = answer(model)
    for name, p in model.named_parameters():
        expected = flags[name]
        kind = "a factor of a tensorized layer" if expected else (
            "a bias" if name.endswith("bias") else "a parameter of a dense layer")
        expect(p.requires_grad == expected,
               f"parameter {name!r} ({kind}) should have requires_grad={expected}, has {p.requires_grad}")
    expect(isinstance(got, (list, tuple)), f"return the list of trainable parameter names, got {describe(got)}")
    expect_equal(sorted(got), names, "the names of the trainable parameters (as model.named_parameters() gives them)")
    return (f"On a network of 8 layers (Conv2d, TuckerConv2d, CPConv2d, TTLinear, LowRankLinear, Linear ...): "
            f"exactly the {len(names)} factor tensors are trainable.")


def _heal_problem(device="cpu", dtype=torch.float32):
    """A network with a frozen dense layer, dropout and a trainable TT layer, in eval mode (heal must switch)."""
    x, y, _ = _teacher_data(512, n_features=16, n_classes=4, seed=3)
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(16, 16), nn.Tanh(), nn.Dropout(0.2),
                          TTLinear(16, 4, 2, in_modes=(4, 4), out_modes=(2, 2)))
    model.to(device, dtype)
    _freeze(model)
    model.eval()
    return model, x, y


class _Watch:
    """What heal does to the model: its first forward pass with gradients, and gradients piling up.

    ``first``: (dropout was on, the inputs, the logits) of the first forward pass that records a graph;
    ``piled``: names of the parameters whose ``.grad`` held something else when a backward pass added to it
    (the previous steps' gradients: ``optimizer.zero_grad()`` was not called in between).
    """

    def __init__(self, model):
        self.first, self.piled, self._incoming, self._handles = None, set(), {}, []
        dropout = next(m for m in model.modules() if isinstance(m, nn.Dropout))

        def on_forward(module, args, output):
            if self.first is None and torch.is_grad_enabled():
                self.first = (dropout.training, args[0].detach().clone(), output.detach().clone())

        self._handles.append(model.register_forward_hook(on_forward))
        for name, p in model.named_parameters():
            if p.requires_grad:
                self._handles.append(p.register_hook(self._keep(name)))
                self._handles.append(p.register_post_accumulate_grad_hook(self._compare(name)))

    def _keep(self, name):
        def hook(grad):
            self._incoming[name] = grad.detach().clone()
        return hook

    def _compare(self, name):
        def hook(p):
            if name in self._incoming and not torch.equal(p.grad, self._incoming.pop(name)):
                self.piled.add(name)
        return hook

    def remove(self):
        for handle in self._handles:
            handle.remove()


def _batch_labels(batch, x, y):
    """The labels of the rows of ``batch`` (rows of ``x``, found by their values), or None if a row is not in x."""
    rows, table = batch.detach().double().cpu(), x.double()
    same = (rows[:, None, :] == table[None, :, :]).all(-1)
    return y[same.float().argmax(1)] if bool(same.any(1).all()) else None


@exercise("7.4", "heal: fine-tune the factors", reference=_heal)
def heal(answer):
    device = _device()
    model, x, y = _heal_problem(device)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    factors = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    with torch.no_grad():
        loss_before = F.cross_entropy(model(x.to(device)), y.to(device)).item()
    steps = 80
    call = (f"heal(model, inputs, labels, steps={steps}, batch_size=32, lr=0.02, seed=0) with the model on "
            f"{device.type} and the data on the CPU")
    watch = _Watch(model)
    try:
        got = _where_the_model_is(call, answer, model, x, y, steps=steps, batch_size=32, lr=0.02, seed=0)
    finally:
        watch.remove()
    expect(isinstance(got, (list, tuple)) and len(got) == steps,
           f"{call} should return the list of the {steps} training losses, got {describe(got)}")
    expect(all(isinstance(v, (float, np.floating)) and math.isfinite(v) for v in got),
           f"{call}: the losses should be finite Python floats (loss.item()), got e.g. {describe(got[0])}")
    for name, before in frozen.items():
        p = dict(model.named_parameters())[name]
        expect(torch.equal(p.detach(), before), f"{call} changed the frozen parameter {name!r}: only the "
                                                f"parameters with requires_grad=True may be trained")
        expect(not p.requires_grad, f"{call} made the frozen parameter {name!r} trainable again")
    changed = [n for n, p in model.named_parameters() if n in factors and not torch.equal(p.detach(), factors[n])]
    expect(changed, f"{call} did not change any trainable parameter (optimizer.step() missing?)")
    expect(watch.first is not None, f"{call} never ran the model with gradients enabled (under torch.no_grad() "
                                    f"nothing can be trained)")
    dropout_on, batch, logits = watch.first
    expect(dropout_on, f"{call}: the model was given in evaluation mode and trained in it (its dropout was off): "
                       f"call model.train() before the loop, so that dropout (and batch norm) behave as in training")
    labels = _batch_labels(batch, x, y)
    expect(labels is not None, f"{call}: the first batch the model saw is not made of rows of inputs: feed the "
                               f"model inputs[idx] for a batch of indices idx (moved to the model's device)")
    expected = F.cross_entropy(logits.double(), labels.to(logits.device)).item()
    softmaxed = F.cross_entropy(logits.double().softmax(1), labels.to(logits.device)).item()
    if not math.isclose(got[0], expected, rel_tol=1e-4, abs_tol=1e-6):
        hint = ("that is the cross-entropy of the softmax of the logits: F.cross_entropy applies log_softmax "
                "itself, so give it the raw logits (a softmax before it squashes the loss and its gradients)"
                if math.isclose(got[0], softmaxed, rel_tol=1e-4, abs_tol=1e-6) else
                "return F.cross_entropy(model(inputs[idx]), labels[idx]).item() of each step, on the raw logits")
        expect(False, f"{call}: the first loss is {got[0]:.6f}, but the cross-entropy of the logits the model gave "
                      f"on that batch is {expected:.6f}; {hint}")
    piled = sorted(watch.piled)
    expect(not piled,
           f"{call}: the gradients piled up across steps (.grad of {piled[:1]} still held the "
           f"previous step's gradient when loss.backward() added the new one): call optimizer.zero_grad() in "
           f"every step, before loss.backward()")
    model.eval()
    with torch.no_grad():
        loss_after = F.cross_entropy(model(x.to(device)), y.to(device)).item()
    expect(loss_after < 0.8 * loss_before,
           f"{call}: the cross-entropy on the training data (dropout off) went from {loss_before:.3f} to "
           f"{loss_after:.3f}; expected it to fall by at least 20%. Likely causes: gradients that are not reset "
           f"(optimizer.zero_grad() missing), ascending the loss (-loss.backward()), or an optimizer that is "
           f"not torch.optim.Adam(trainable parameters, lr=lr)")
    # the same mistake as data on the CPU for a model on a GPU, on any machine: a model in float64
    model64, x64, y64 = _heal_problem(device, torch.float64)
    short = f"heal(model, inputs, labels, steps=3, batch_size=16) with a float64 model on {device.type}"
    got = _where_the_model_is(short, answer, model64, x64, y64, steps=3, batch_size=16, lr=0.02,
                              seed=0)
    expect(isinstance(got, (list, tuple)) and len(got) == 3 and all(math.isfinite(v) for v in got),
           f"{short} should return 3 finite losses, got {describe(got)}")
    return (f"On a small network with dropout and one TT layer, on {device.type}: {len(changed)} factor tensors "
            f"trained in training mode, frozen ones untouched, first loss = cross-entropy of the logits, gradients "
            f"reset every step, training loss {loss_before:.2f} -> {loss_after:.2f}; a float64 model too.")


@exercise("7.5", "distillation loss", reference=_distillation_loss)
def distillation_loss(answer):
    gen = torch.Generator().manual_seed(7)
    for batch, classes in [(6, 4), (32, 10)]:
        student = torch.randn(batch, classes, generator=gen, dtype=torch.float64) * 2
        teacher = torch.randn(batch, classes, generator=gen, dtype=torch.float64) * 3
        labels = torch.randint(0, classes, (batch,), generator=gen)
        for alpha, temperature in [(0.9, 2.0), (0.5, 4.0), (1.0, 1.0), (0.0, 3.0)]:
            call = (f"distillation_loss(student, teacher, labels, alpha={alpha}, temperature={temperature}) "
                    f"on a batch of {batch} with {classes} classes")
            got = answer(student, teacher, labels, alpha=alpha, temperature=temperature)
            expect(isinstance(got, torch.Tensor) and got.dim() == 0,
                   f"{call} should return a scalar torch tensor (so that .backward() works), got {describe(got)}")
            expect_close(got.detach(), _distillation_loss(student, teacher, labels, alpha, temperature).detach(),
                         call + " ((1 - alpha) CE + alpha T^2 KL(p_teacher || p_student), KL summed over classes "
                                "and averaged over the batch)", rtol=1e-6, atol=1e-9)
    # identical logits: only the hard part is left
    same = torch.randn(8, 5, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, 5, (8,), generator=gen)
    got = answer(same, same.clone(), labels, alpha=0.9, temperature=2.0)
    expect_close(got.detach(), 0.1 * F.cross_entropy(same, labels), "with student logits equal to the teacher's the "
                 "KL term is 0 and the loss is (1 - alpha) * cross-entropy", rtol=1e-6, atol=1e-9)
    # gradients flow to the student
    student = torch.randn(4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    answer(student, torch.randn(4, 3, generator=gen, dtype=torch.float64), torch.tensor([0, 1, 2, 0]),
           alpha=0.9, temperature=2.0).backward()
    expect(student.grad is not None and torch.isfinite(student.grad).all() and student.grad.abs().sum() > 0,
           "the loss must be differentiable with respect to the student's logits (use torch operations)")
    return "Eight (alpha, T) / batch combinations against the formula, the T^2 factor and the direction of the KL."
