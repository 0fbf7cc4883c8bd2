"""Checkers of lesson 09 keep the contract (see checker_contract.py)."""
import math

import numpy as np
import pytest
import torch

from tnnlib import bonds
from tnnlib.checking import ExerciseFailed
from tnnlib.checks import lesson09

from arrays import tt_loop_states
from checker_contract import make_contract_tests


# 9.1 ----------------------------------------------------------------------
def _p(s):
    s = np.asarray(s, dtype=float)
    p = s**2 / np.sum(s**2)
    return p[p > 0]


def _entropy_no_squares(spectrum, alpha):                     # p = s / sum s: singular values are amplitudes
    s = np.asarray(spectrum, dtype=float)
    return bonds.renyi_entropy(np.sqrt(s), alpha)


def _entropy_log2(spectrum, alpha):                           # bits instead of nats
    return bonds.renyi_entropy(spectrum, alpha) / math.log(2)


def _entropy_zeros_counted(spectrum, alpha):                  # 0**0 = 1: zeros counted at alpha = 0
    s = np.asarray(spectrum, dtype=float)
    p = s**2 / np.sum(s**2)
    if alpha == 1:
        p = p[p > 0]
        return float(-np.sum(p * np.log(p)))
    return float(np.log(np.sum(p**alpha)) / (1 - alpha))


def _entropy_wrong_sign(spectrum, alpha):                     # divides by alpha - 1
    p = _p(spectrum)
    if alpha == 1:
        return float(-np.sum(p * np.log(p)))
    return float(np.log(np.sum(p**alpha)) / (alpha - 1))


def _entropy_always_von_neumann(spectrum, alpha):             # ignores alpha
    return bonds.renyi_entropy(spectrum, 1.0)


# 9.2 ----------------------------------------------------------------------
def _canon_no_carry(cores):                                   # QR of each core, R thrown away: W changes
    out = []
    for c in cores[:-1]:
        r, i, j, r1 = c.shape
        q, _ = torch.linalg.qr(c.reshape(r * i * j, r1))
        out.append(q.reshape(r, i, j, -1))
    out.append(cores[-1].clone())
    return out


def _canon_right(cores):                                      # right-orthogonalises instead
    cores = [c.clone() for c in cores]
    for k in range(len(cores) - 1, 0, -1):
        r, i, j, r1 = cores[k].shape
        q, rr = torch.linalg.qr(cores[k].reshape(r, i * j * r1).T)
        cores[k] = q.T.reshape(-1, i, j, r1)
        prev = cores[k - 1]
        cores[k - 1] = (prev.reshape(-1, r) @ rr.T).reshape(*prev.shape[:3], -1)
    return cores


def _canon_swapped_modes(cores):                              # Q reshaped with (j, i) instead of (i, j)
    cores = list(cores)
    for k in range(len(cores) - 1):
        r, i, j, r1 = cores[k].shape
        q, rr = torch.linalg.qr(cores[k].reshape(r * i * j, r1))
        cores[k] = q.reshape(r, j, i, -1).transpose(1, 2)
        nxt = cores[k + 1]
        cores[k + 1] = (rr @ nxt.reshape(r1, -1)).reshape(rr.shape[0], *nxt.shape[1:])
    return cores


def _canon_in_place(cores):                                   # right answer, but overwrites the input
    new = bonds.left_canonicalize(cores)
    for c, n in zip(cores, new):
        if c.shape == n.shape:
            c.copy_(n)
    return new


# 9.3 ----------------------------------------------------------------------
def _states_with_output(x, cores):                            # d states: the output is not on a bond
    states = bonds.bond_states(x, cores)
    y = x @ lesson09._weight(cores).T
    return states + [y.reshape(x.shape[0], 1, -1, 1)]


def _states_transposed(x, cores):                             # (B, r_k, J, I) instead of (B, r_k, I, J)
    return [z.transpose(2, 3) for z in bonds.bond_states(x, cores)]


def _states_loop_unpermuted(x, cores):                        # the loop's (r_k, J, B, I) read as (B, r_k, I, J)
    batch, n = x.shape
    z, states, left, done = x.t(), [], n, 1
    for k, core in enumerate(cores):
        r, i, j, r1 = core.shape
        z = core.permute(1, 3, 0, 2).reshape(i * r1, r * j) @ z.reshape(r * j, -1)
        z = z.reshape(i, -1).t()
        left, done = left // j, done * i
        if k < len(cores) - 1:
            states.append(z.reshape(batch, r1, done, left))
    return states


# 9.4 ----------------------------------------------------------------------
def _probe_train_accuracy(train_f, train_y, test_f, test_y):  # reports the training accuracy
    return bonds.linear_probe(train_f, train_y, test_f, test_y).train_accuracy


def _probe_fit_on_test(train_f, train_y, test_f, test_y):     # fits on the held-out data
    return bonds.probe_accuracy(test_f, test_y, test_f, test_y)


def _probe_percent(train_f, train_y, test_f, test_y):         # a percentage
    return 100 * bonds.probe_accuracy(train_f, train_y, test_f, test_y)


# 9.5 ----------------------------------------------------------------------
def _ranks_no_split(spectra, eps):                            # eps per bond: the total error can exceed eps
    return tuple(bonds.ranks_for_error([s], eps)[0] for s in spectra)


def _ranks_amplitude_tail(spectra, eps):                      # tail of s, not of s^2
    delta = eps / math.sqrt(len(spectra))
    ranks = []
    for s in spectra:
        s = np.asarray(s, dtype=float)
        tails = np.cumsum(s[::-1])[::-1] / s.sum()
        ranks.append(max(1, next((r for r in range(len(s)) if tails[r] <= delta), len(s))))
    return tuple(ranks)


def _ranks_off_by_one(spectra, eps):                          # keeps one value more than needed
    return tuple(min(r + 1, len(s)) for r, s in zip(bonds.ranks_for_error(spectra, eps), spectra))


WRONG_ANSWERS = {
    "9.1": [_entropy_no_squares, _entropy_log2, _entropy_zeros_counted, _entropy_wrong_sign,
            _entropy_always_von_neumann],
    "9.2": [_canon_no_carry, _canon_right, _canon_swapped_modes, _canon_in_place],
    "9.3": [_states_with_output, _states_transposed, _states_loop_unpermuted],
    "9.4": [_probe_train_accuracy, _probe_fit_on_test, _probe_percent],
    "9.5": [_ranks_no_split, _ranks_amplitude_tail, _ranks_off_by_one],
}

(test_reference, test_stub, test_crash, test_two_wrong, test_wrong) = make_contract_tests(lesson09, WRONG_ANSWERS)


# correct answers written differently pass --------------------------------------------------------

def _entropy_torch(spectrum, alpha):
    s = torch.as_tensor(spectrum, dtype=torch.float64)
    p = s**2 / (s**2).sum()
    p = p[p > 0]
    if alpha == 1:
        return -(p * p.log()).sum().item()
    return (torch.log((p**alpha).sum()) / (1 - alpha)).item()


def _canon_numpy_qr(cores):
    out = [c.numpy().copy() for c in cores]
    for k in range(len(out) - 1):
        r, i, j, r1 = out[k].shape
        q, rr = np.linalg.qr(out[k].reshape(r * i * j, r1))
        out[k] = q.reshape(r, i, j, -1)
        out[k + 1] = np.einsum("ab,bijc->aijc", rr, out[k + 1])
    return [torch.from_numpy(c) for c in out]


def _states_loop(x, cores):                                  # the core-by-core loop of reference_forward
    return tt_loop_states(x, cores)[0]


def _probe_adam(train_f, train_y, test_f, test_y):          # Adam, no weight decay, own standardisation
    f = torch.as_tensor(train_f, dtype=torch.float32)
    t = torch.as_tensor(test_f, dtype=torch.float32)
    mean, std = f.mean(0), f.std(0) + 1e-8
    f, t = (f - mean) / std, (t - mean) / std
    y = torch.as_tensor(train_y)
    n_classes = int(max(y.max(), int(np.max(test_y)))) + 1
    torch.manual_seed(0)
    model = torch.nn.Linear(f.shape[1], n_classes)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(200):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(f), y).backward()
        opt.step()
    return (model(t).argmax(1).numpy() == np.asarray(test_y)).mean()


def _ranks_loop(spectra, eps):
    d1 = len(spectra)
    ranks = []
    for s in spectra:
        s = np.asarray(s, dtype=float)
        total = np.sum(s**2)
        r = 1
        while np.sum(s[r:] ** 2) > eps**2 * total / d1:
            r += 1
        ranks.append(r)
    return ranks


@pytest.mark.parametrize("checker, answer", [
    (lesson09.renyi_entropy, _entropy_torch),
    (lesson09.left_canonicalize, _canon_numpy_qr),
    (lesson09.bond_states, _states_loop),
    (lesson09.probe_accuracy, _probe_adam),
    (lesson09.ranks_for_error, _ranks_loop),
], ids=["9.1", "9.2", "9.3", "9.4", "9.5"])
def test_correct_answers_written_differently_pass(checker, answer, capsys):
    assert checker(answer) is answer
    assert "passed" in capsys.readouterr().out


def test_messages_say_what_was_expected_and_why():
    with pytest.raises(ExerciseFailed, match=r"alpha=2.*log\(sum p_a\^alpha\) / \(1 - alpha\)"):
        lesson09.renyi_entropy(_entropy_wrong_sign)
    with pytest.raises(ExerciseFailed, match=r"not left-orthogonal.*orthonormal columns"):
        lesson09.left_canonicalize(_canon_right)
    with pytest.raises(ExerciseFailed, match=r"changed its input"):
        lesson09.left_canonicalize(_canon_in_place)
    with pytest.raises(ExerciseFailed, match=r"d - 1 = \d+, got \d+"):
        lesson09.bond_states(_states_with_output)
    with pytest.raises(ExerciseFailed, match=r"held-out"):
        lesson09.probe_accuracy(_probe_train_accuracy)
    with pytest.raises(ExerciseFailed, match=r"not a percentage"):
        lesson09.probe_accuracy(_probe_percent)
    with pytest.raises(ExerciseFailed, match=r"sqrt\(d - 1\)"):
        lesson09.ranks_for_error(_ranks_no_split)


def test_oversized_rank_really_shrinks():
    in_modes, out_modes, ranks = lesson09._OVERSIZED
    cores = lesson09._cores(in_modes, out_modes, ranks, 0)
    assert ranks[1] > in_modes[0] * out_modes[0]
    assert bonds.left_canonicalize(cores)[0].shape[-1] == in_modes[0] * out_modes[0]
