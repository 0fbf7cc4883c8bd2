"""Checkers of lesson 07 keep the contract (see checker_contract.py)."""
import torch
from torch.nn import functional as F

from checker_contract import make_contract_tests
from tnnlib.checks import lesson07
from tnnlib.compress import factor_parameters, freeze_all_but_factors, heal


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
    "7.1": [_accuracy_percent, _accuracy_train_mode, _accuracy_drops_last_batch, _accuracy_mode_not_restored],
    "7.2": [_rank_singular_values_not_squared, _rank_off_by_one, _rank_threshold_on_values],
    "7.3": [_freeze_nothing, _freeze_keeps_biases, _freeze_by_name_cores],
    "7.4": [_heal_without_step, _heal_unfreezes_everything, _heal_ascends],
    "7.5": [_kd_no_t_squared, _kd_reversed_kl, _kd_mean_over_classes, _kd_teacher_not_softened],
}

(test_reference, test_stub, test_crash, test_two_wrong, test_wrong) = make_contract_tests(lesson07, WRONG_ANSWERS)


def test_factor_parameters_are_the_tensorized_weights():
    model = lesson07._small_network()
    names = set(factor_parameters(model))
    assert names and not any(n.endswith("bias") for n in names)
    assert {n.split(".")[0] for n in names} == {"1", "2", "4", "6"}      # the four tensorized layers
