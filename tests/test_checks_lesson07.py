"""Checkers of lesson 07 keep the contract (see checker_contract.py), and the lesson keeps its promises."""
import ast
import json
import re
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from tnnlib.checking import ExerciseFailed
from tnnlib.checks import lesson07
from tnnlib.compress import factor_parameters, freeze_all_but_factors, heal

from checker_contract import make_contract_tests


# 7.1 ----------------------------------------------------------------------
def _accuracy_percent(model, inputs, labels, batch_size=1000):          # a percentage, not a fraction
    return 100 * lesson07._accuracy(model, inputs, labels, batch_size)


@torch.no_grad()
def _accuracy_train_mode(model, inputs, labels, batch_size=1000):       # forgets model.eval(): dropout stays on
    x, y = torch.as_tensor(inputs), torch.as_tensor(labels)
    return (model(x).argmax(1) == y).sum().item() / len(y)   # exact count: only the mode is wrong


@torch.no_grad()
def _accuracy_drops_last_batch(model, inputs, labels, batch_size=1000):  # full batches only, divides by N
    was = model.training
    model.eval()
    x, y = torch.as_tensor(inputs), torch.as_tensor(labels)
    correct = sum((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum().item()
                  for i in range(0, len(x) - batch_size + 1, batch_size))
    model.train(was)
    return correct / len(x)


@torch.no_grad()
def _accuracy_device_only(model, inputs, labels, batch_size=1000):      # moves to the device, keeps the dtype
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    x, y = torch.as_tensor(inputs), torch.as_tensor(labels)
    correct = sum((model(x[i:i + batch_size].to(device)).argmax(1).cpu() == y[i:i + batch_size]).sum().item()
                  for i in range(0, len(x), batch_size))
    model.train(was)
    return correct / len(x)


@torch.no_grad()
def _accuracy_mode_not_restored(model, inputs, labels, batch_size=1000):  # leaves the model in eval mode
    model.eval()
    x, y = torch.as_tensor(inputs), torch.as_tensor(labels)
    return (model(x).argmax(1) == y).sum().item() / len(y)   # exact count: only the mode is wrong


# 7.2 ----------------------------------------------------------------------
def _rank_singular_values_not_squared(weight, energy):
    s = torch.linalg.svdvals(torch.as_tensor(weight).double().reshape(weight.shape[0], -1))
    return int((torch.cumsum(s, 0) / s.sum() < energy).sum()) + 1


def _rank_off_by_one(weight, energy):                                   # counts the ranks that fall short
    s = torch.linalg.svdvals(torch.as_tensor(weight).double().reshape(weight.shape[0], -1))
    return int((torch.cumsum(s ** 2, 0) / (s ** 2).sum() < energy).sum())


def _rank_threshold_on_values(weight, energy):                          # keeps s_k >= (1 - energy) s_1
    s = torch.linalg.svdvals(torch.as_tensor(weight).double().reshape(weight.shape[0], -1))
    return int((s >= (1 - energy) * s[0]).sum())


# 7.3 ----------------------------------------------------------------------
def _freeze_nothing(model):
    for p in model.parameters():
        p.requires_grad_(True)
    return sorted(n for n, _ in model.named_parameters())


def _freeze_keeps_biases(model):                                       # trains the tensorized layers' biases too
    names = set(freeze_all_but_factors(model))
    for prefix, module in model.named_modules():
        if any(n.startswith(prefix + ".") for n in names) and getattr(module, "bias", None) is not None:
            module.bias.requires_grad_(True)
            names.add(f"{prefix}.bias")
    return sorted(names)


def _freeze_by_name_cores(model):                                      # only parameters called "cores..."
    names = []
    for name, p in model.named_parameters():
        p.requires_grad_("cores" in name)
        if "cores" in name:
            names.append(name)
    return sorted(names)


# 7.4 ----------------------------------------------------------------------
def _heal_without_step(model, inputs, labels, steps=300, batch_size=64, lr=1e-3, seed=0):
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(model(inputs[:batch_size]), labels[:batch_size])
        loss.backward()
        losses.append(loss.item())
    return losses


def _heal_unfreezes_everything(model, inputs, labels, steps=300, batch_size=64, lr=1e-3, seed=0):
    for p in model.parameters():
        p.requires_grad_(True)
    return heal(model, inputs, labels, steps=steps, batch_size=batch_size, lr=lr, seed=seed)


def _heal_ascends(model, inputs, labels, steps=300, batch_size=64, lr=1e-3, seed=0):  # sign error
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    losses = []
    for step in range(steps):
        idx = torch.arange(step * batch_size, (step + 1) * batch_size) % len(inputs)
        loss = F.cross_entropy(model(inputs[idx]), labels[idx])
        optimizer.zero_grad()
        (-loss).backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _heal_lesson(model, inputs, labels, steps=300, batch_size=64, lr=1e-3, seed=0, *, softmax=False, train=True,
                 zero_grad=True, move=True):
    """The lesson's solution of 7.4, with one of the typical mistakes switched on."""
    p = next(model.parameters())
    optimizer = torch.optim.Adam([q for q in model.parameters() if q.requires_grad], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    inputs, labels = torch.as_tensor(inputs), torch.as_tensor(labels)
    if move:
        inputs, labels = inputs.to(p.device, p.dtype), labels.to(p.device)
    if train:
        model.train()
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, len(inputs), (batch_size,), generator=gen).to(inputs.device)
        logits = model(inputs[idx])
        loss = F.cross_entropy(logits.softmax(1) if softmax else logits, labels[idx])
        if zero_grad:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _heal_double_softmax(model, inputs, labels, steps=300, batch_size=64, lr=1e-3, seed=0):
    return _heal_lesson(model, inputs, labels, steps, batch_size, lr, seed, softmax=True)


def _heal_no_train_mode(model, inputs, labels, steps=300, batch_size=64, lr=1e-3, seed=0):
    return _heal_lesson(model, inputs, labels, steps, batch_size, lr, seed, train=False)


def _heal_no_zero_grad(model, inputs, labels, steps=300, batch_size=64, lr=1e-3, seed=0):
    return _heal_lesson(model, inputs, labels, steps, batch_size, lr, seed, zero_grad=False)


def _heal_data_left_where_it_is(model, inputs, labels, steps=300, batch_size=64, lr=1e-3, seed=0):
    return _heal_lesson(model, inputs, labels, steps, batch_size, lr, seed, move=False)


# 7.5 ----------------------------------------------------------------------
def _kd_no_t_squared(student, teacher, labels, alpha=0.9, temperature=2.0):     # forgets the T^2 factor
    T = temperature
    soft = F.kl_div(F.log_softmax(student / T, 1), F.softmax(teacher / T, 1), reduction="batchmean")
    return (1 - alpha) * F.cross_entropy(student, labels) + alpha * soft


def _kd_reversed_kl(student, teacher, labels, alpha=0.9, temperature=2.0):      # KL(p_student || p_teacher)
    T = temperature
    soft = F.kl_div(F.log_softmax(teacher / T, 1), F.softmax(student / T, 1), reduction="batchmean")
    return (1 - alpha) * F.cross_entropy(student, labels) + alpha * T * T * soft


def _kd_mean_over_classes(student, teacher, labels, alpha=0.9, temperature=2.0):  # reduction="mean": / classes too
    T = temperature
    p_teacher = F.softmax(teacher / T, 1)
    soft = (p_teacher * (p_teacher.log() - F.log_softmax(student / T, 1))).mean()
    return (1 - alpha) * F.cross_entropy(student, labels) + alpha * T * T * soft


def _kd_teacher_not_softened(student, teacher, labels, alpha=0.9, temperature=2.0):  # T on the student only
    T = temperature
    soft = F.kl_div(F.log_softmax(student / T, 1), F.softmax(teacher, 1), reduction="batchmean")
    return (1 - alpha) * F.cross_entropy(student, labels) + alpha * T * T * soft


WRONG_ANSWERS = {
    "7.1": [_accuracy_percent, _accuracy_train_mode, _accuracy_drops_last_batch, _accuracy_mode_not_restored,
            _accuracy_device_only],
    "7.2": [_rank_singular_values_not_squared, _rank_off_by_one, _rank_threshold_on_values],
    "7.3": [_freeze_nothing, _freeze_keeps_biases, _freeze_by_name_cores],
    "7.4": [_heal_without_step, _heal_unfreezes_everything, _heal_ascends, _heal_double_softmax,
            _heal_no_train_mode, _heal_no_zero_grad, _heal_data_left_where_it_is],
    "7.5": [_kd_no_t_squared, _kd_reversed_kl, _kd_mean_over_classes, _kd_teacher_not_softened],
}

(test_reference, test_stub, test_crash, test_two_wrong, test_wrong) = make_contract_tests(lesson07, WRONG_ANSWERS)


def test_factor_parameters_are_the_tensorized_weights():
    model = lesson07._small_network()
    names = set(factor_parameters(model))
    assert names and not any(n.endswith("bias") for n in names)
    assert {n.split(".")[0] for n in names} == {"1", "2", "4", "6"}      # the four tensorized layers


@pytest.mark.parametrize("answer,says", [
    (_heal_double_softmax, "raw logits"), (_heal_no_train_mode, "model.train()"),
    (_heal_no_zero_grad, "optimizer.zero_grad()"), (_heal_data_left_where_it_is, "p.device and p.dtype"),
])
def test_heal_mistakes_are_named(answer, says):
    with pytest.raises(ExerciseFailed, match=re.escape(says)):
        lesson07.heal(answer)


def test_the_lessons_heal_and_the_library_pass(capsys):
    assert lesson07.heal(_heal_lesson) is _heal_lesson
    assert lesson07.heal(heal) is heal
    assert "passed" in capsys.readouterr().out


def test_evaluate_that_keeps_the_dtype_is_told_to_move_the_batches():
    with pytest.raises(ExerciseFailed, match=re.escape("p.device and p.dtype")):
        lesson07.evaluate(_accuracy_device_only)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_checkers_run_the_lessons_device_paths_on_cuda(monkeypatch, capsys):
    """On a GPU the lesson's model is on the GPU and its data on the CPU: the answers must move the data."""
    monkeypatch.setattr(lesson07, "_device", lambda: torch.device("cuda"))
    for number in ("7.1", "7.2", "7.4"):
        checker = {"7.1": lesson07.evaluate, "7.2": lesson07.energy_rank, "7.4": lesson07.heal}[number]
        reference = checker.exercise.reference
        assert checker(reference) is reference
        assert "on cuda" in capsys.readouterr().out
    assert lesson07.heal(_heal_lesson) is _heal_lesson
    for name, checker in [("evaluate", lesson07.evaluate), ("heal", lesson07.heal)]:
        answer = lesson_function(name)
        assert checker(answer) is answer

    def heal_labels_left_on_the_cpu(model, inputs, labels, steps=300, batch_size=64, lr=1e-3, seed=0):
        p = next(model.parameters())
        return _heal_lesson(model, torch.as_tensor(inputs).to(p.device, p.dtype), labels, steps, batch_size, lr,
                            seed, move=False)

    with pytest.raises(ExerciseFailed, match=re.escape("p.device and p.dtype")):
        lesson07.heal(heal_labels_left_on_the_cpu)


# --------------------------------------------------------------------------
# The lesson itself (issue 15)
# --------------------------------------------------------------------------

LESSON = Path(__file__).resolve().parent.parent / "solutions" / "07_compression.ipynb"


def code_cells(path):
    cells = json.loads(path.read_text())["cells"]
    return [(i, "".join(c["source"])) for i, c in enumerate(cells) if c["cell_type"] == "code"]


def lesson_function(name):
    """The lesson's own solution of an exercise, as a function (the cell up to its checker call)."""
    for _, source in code_cells(LESSON):
        if f"def {name}(" in source:
            namespace = {"torch": torch, "F": F}
            exec(source.split(f"{name} = check.")[0], namespace)
            return namespace[name]
    raise AssertionError(f"lesson 07 has no function {name}")


def test_every_assertion_of_the_lesson_says_what_it_expected():
    found = []
    for i, source in code_cells(LESSON):
        code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
        found += [(i, node.lineno) for node in ast.walk(ast.parse(code))
                  if isinstance(node, ast.Assert) and node.msg is None]
    assert found == [], "asserts without a message (cell, line)"


def test_lesson_uses_the_1_0_names_and_has_a_slider():
    code = "\n".join(source for _, source in code_cells(LESSON))
    assert "interactive_figure(" in code
    for old in ("full_weight", "report.model", "modes=TT_MODES", "inplace=False", "row['ranks']", "['ranks']"):
        assert old not in code, f"lesson 07 still uses the pre-1.0 name {old!r}"


def test_the_lessons_own_solutions_pass_their_checkers(capsys):
    """What the learner reads in solutions/ passes, on the lesson's device (CUDA where there is one)."""
    for name, checker in [("evaluate", lesson07.evaluate), ("heal", lesson07.heal)]:
        answer = lesson_function(name)
        assert checker(answer) is answer
    out = capsys.readouterr().out
    assert out.count("passed") == 2 and f"on {lesson07._device().type}" in out
