"""Checkers of lesson 06 keep the contract (see checker_contract.py), and the lesson keeps its promises."""
import ast
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from tnnlib.checking import ExerciseFailed
from tnnlib.checks import lesson06
from tnnlib.nn import TTLinear
from tnnlib.ttm import TTMatrix

from checker_contract import make_contract_tests


# 6.1 ----------------------------------------------------------------------
def _params_square_ranks(in_modes, out_modes, ranks):          # r_k^2 for every core, boundary ranks ignored
    return sum(ranks[1] ** 2 * i * j for i, j in zip(out_modes, in_modes))


def _params_dense(in_modes, out_modes, ranks):                  # the dense count M N
    return math.prod(in_modes) * math.prod(out_modes)


def _params_forgot_one_side(in_modes, out_modes, ranks):        # a TT vector of the input modes only
    return sum(ranks[k] * j * ranks[k + 1] for k, j in enumerate(in_modes))


# 6.2 ----------------------------------------------------------------------
def _forward_dense(x, cores):                                   # correct numbers, but W x instead of x W^T
    W = lesson06._weight(cores)
    return x @ W                                                 # (shapes fail unless M == N; values always)


def _forward_fortran_outputs(x, cores):                          # output modes in reversed (Fortran) order
    y = lesson06._contract_groups(x, cores)
    out_modes = [c.shape[1] for c in cores]
    return y.reshape(x.shape[0], *out_modes).permute(0, *range(len(cores), 0, -1)).reshape(x.shape[0], -1)


def _forward_builds_w(x, cores):                                 # right numbers, but forms W first
    return x @ TTMatrix(list(cores)).to_dense().T


def _forward_numpy(x, cores):                                    # right numbers, but a NumPy round trip
    state = x.detach().numpy().reshape(x.shape[0], -1, 1)
    for core in reversed([c.detach().numpy() for c in cores]):
        r0, m, n, r1 = core.shape
        rest = state.shape[1] // (n * r1)
        state = np.einsum("bpko,ak->bpao", state.reshape(x.shape[0], rest, n * r1, -1),
                          core.reshape(r0 * m, n * r1)).reshape(x.shape[0], rest * r0, -1)
    return torch.from_numpy(state.reshape(x.shape[0], -1))


def _forward_fortran_inputs(x, cores):                           # input modes read in reversed (Fortran) order
    in_modes = [c.shape[2] for c in cores]
    x = x.reshape(x.shape[0], *in_modes[::-1]).permute(0, *range(len(cores), 0, -1)).reshape(x.shape[0], -1)
    return lesson06._contract_groups(x, cores)


# 6.3 ----------------------------------------------------------------------
def _std_peer_bug(sigma, ranks):                                 # divides by prod r_k instead of its square root
    d = len(ranks) - 1
    return (sigma / math.prod(ranks)) ** (1 / d)


def _std_no_ranks(sigma, ranks):                                 # ignores the sum over the bonds
    return sigma ** (1 / (len(ranks) - 1))


def _std_no_root(sigma, ranks):                                  # forgets that W is a product of d cores
    return sigma / math.sqrt(math.prod(ranks))


# 6.4 ----------------------------------------------------------------------
def _flops_first_core_first(in_modes, out_modes, ranks, batch):  # the other sweep direction
    d = len(in_modes)
    return sum(2 * batch * ranks[k] * ranks[k + 1] * math.prod(out_modes[:k + 1]) * math.prod(in_modes[k:])
               for k in range(d))


def _flops_multiply_adds(in_modes, out_modes, ranks, batch):     # counts multiply-adds, not FLOPs
    return lesson06._sequential_flops(in_modes, out_modes, ranks, batch) // 2


def _flops_dense(in_modes, out_modes, ranks, batch):             # the dense layer's count
    return 2 * batch * math.prod(in_modes) * math.prod(out_modes)


WRONG_ANSWERS = {
    "6.1": [_params_square_ranks, _params_dense, _params_forgot_one_side],
    "6.2": [_forward_dense, _forward_fortran_outputs, _forward_fortran_inputs,
            lambda x, cores: x @ lesson06._weight(cores).T[:, :1],       # wrong shape
            _forward_builds_w, _forward_numpy],
    "6.3": [_std_peer_bug, _std_no_ranks, _std_no_root,
            lambda sigma, ranks: torch.tensor([lesson06._tt_core_std(sigma, ranks)])],   # shape (1,), not a number
    "6.4": [_flops_first_core_first, _flops_multiply_adds, _flops_dense],
}

(test_reference, test_stub, test_crash, test_two_wrong, test_wrong) = make_contract_tests(lesson06, WRONG_ANSWERS)


def test_sequential_flops_is_the_layer_plan():
    layer = TTLinear(784, 256, 4, in_modes=(4, 7, 7, 4), out_modes=(4, 4, 4, 4))
    assert lesson06._sequential_flops(layer.in_modes, layer.out_modes, layer.rank, 32) == \
        layer.cost(32, strategy="sequential").flops


def test_params_match_the_layer():
    layer = TTLinear(25088, 4096, 4, in_modes=(2, 7, 8, 8, 7, 4), out_modes=(4, 4, 4, 4, 4, 4))
    assert lesson06._tt_layer_params(layer.in_modes, layer.out_modes, layer.rank) == layer.weight_parameters()
    x = torch.randn(3, layer.in_features)
    cores = [c.detach() for c in layer.cores]
    assert torch.allclose(lesson06._contract_groups(x, cores) + layer.bias.detach(), layer(x).detach(), atol=1e-5)


def test_forward_answers_that_fail_name_what_the_exercise_asks(capsys):
    with pytest.raises(ExerciseFailed, match="without forming W"):
        lesson06.tt_forward(_forward_builds_w)
    with pytest.raises(ExerciseFailed, match="cuts the graph"):
        lesson06.tt_forward(_forward_numpy)


def test_correct_forwards_written_differently_pass(capsys):
    """Correct answers written differently pass: the layer's reference forward, merged halves."""
    def by_halves(x, cores):
        half = len(cores) // 2
        if half == 0:
            return lesson06._contract_groups(x, cores)
        return lesson06._contract_groups(x, [lesson06._merge_cores(cores[:half]), lesson06._merge_cores(cores[half:])])

    def like_reference_forward(x, cores):                  # TTLinear.reference_forward, first core first
        z = x.t()
        for core in cores:
            r, m, n, r_next = core.shape
            z = core.permute(1, 3, 0, 2).reshape(m * r_next, r * n) @ z.reshape(r * n, -1)
            z = z.reshape(m, -1).t()
        return z.reshape(x.shape[0], -1)

    for answer in (by_halves, like_reference_forward):
        assert lesson06.tt_forward(answer) is answer
    assert "passed" in capsys.readouterr().out


def test_core_std_as_a_tensor_is_accepted_and_usable_by_the_lesson(capsys):
    as_tensor = lambda sigma, ranks: torch.tensor(lesson06._tt_core_std(sigma, ranks))      # noqa: E731 (float32)
    assert lesson06.tt_core_std(as_tensor) is as_tensor
    core = torch.empty(8, 4, 4, 8)
    core.normal_(0.0, as_tensor(0.02, (1, 8, 8, 8, 1)))   # what the lesson does with it
    with pytest.raises(ExerciseFailed, match="0-dim"):
        lesson06.tt_core_std(lambda sigma, ranks: torch.tensor([lesson06._tt_core_std(sigma, ranks)]))


# --------------------------------------------------------------------------
# The lesson itself (issue 15): assertions that explain themselves, the layer's idea, a slider
# --------------------------------------------------------------------------

LESSON = Path(__file__).resolve().parent.parent / "solutions" / "06_tensorized_layers.ipynb"


def code_cells(path):
    cells = json.loads(path.read_text())["cells"]
    return [(i, "".join(c["source"])) for i, c in enumerate(cells) if c["cell_type"] == "code"]


def bare_asserts(path):
    """``(cell, line)`` of every ``assert`` without a message in the notebook's code cells."""
    found = []
    for i, source in code_cells(path):
        code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
        found += [(i, node.lineno) for node in ast.walk(ast.parse(code))
                  if isinstance(node, ast.Assert) and node.msg is None]
    return found


def test_every_assertion_of_the_lesson_says_what_it_expected():
    assert bare_asserts(LESSON) == [], "asserts without a message (cell, line)"


def test_lesson_shows_reference_forward_times_on_its_device_and_has_a_slider():
    code = "\n".join(source for _, source in code_cells(LESSON))
    assert "reference_forward" in code
    assert "device = get_device()" in code and "device=device" in code and "torch.cuda.synchronize()" in code
    assert "interactive_figure(" in code
    for old in ("full_weight", "full_table", "full_kernel", ".ranks", "ranks=", "modes=TT_MODES"):
        assert old not in code, f"lesson 06 still uses the pre-1.0 name {old!r}"
