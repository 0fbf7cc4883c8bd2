"""The contract every exercise checker must keep, as reusable test functions.

Each ``tests/test_checks_lessonNN.py`` defines ``WRONG_ANSWERS``: for every
exercise number of its lesson, at least two typical wrong answers. It then
calls :func:`make_contract_tests` to get the standard parametrised tests:

* the reference implementation passes and is returned;
* a stub raising NotImplementedError is reported as "not done yet", does not
  raise, and the reference is returned so the lesson can go on;
* every wrong answer raises ExerciseFailed whose message names the exercise and
  says which check caught it (not *your code raised ...*: a crash is no check);
* a function that crashes is reported as *your code raised ...*.

:func:`policy_wrong_answers` makes the wrong answers every checker of a NumPy
lesson must reject by the policy of :mod:`tnnlib.checking` (right values, but
float32 or torch), and :func:`make_import_test` checks that a lesson's checkers
import on their own, without the lesson's setup cell.
"""
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from tnnlib.checking import REGISTRY, ExerciseFailed
from tnnlib.tt import TTTensor

#: Errors a checker raises on purpose inside the learner's code (reported as "your code raised ..."):
#: a wrong answer stopped by one of these is caught by the check, not by a crash.
CHECKER_GUARDS = ("this exercise must not form the full tensor",)


def _checker_of(module, number):
    for value in vars(module).values():
        if getattr(value, "exercise", None) is REGISTRY[number]:
            return value
    raise AssertionError(f"{module.__name__} has no checker for exercise {number}")


def make_contract_tests(module, wrong_answers):
    numbers = sorted(n for n, ex in REGISTRY.items() if ex.check.__module__ == module.__name__)
    assert numbers, f"{module.__name__} registers no exercise"
    wrong = [(n, i, fn) for n in numbers for i, fn in enumerate(wrong_answers.get(n, []))]

    @pytest.mark.parametrize("number", numbers)
    def test_reference_passes(number, capsys):
        checker, ex = _checker_of(module, number), REGISTRY[number]
        assert checker(ex.reference) is ex.reference
        assert "passed" in capsys.readouterr().out

    @pytest.mark.parametrize("number", numbers)
    def test_stub_is_pending_and_falls_back(number, capsys):
        checker, ex = _checker_of(module, number), REGISTRY[number]

        def stub(*args, **kwargs):
            raise NotImplementedError(f"Exercise {number}: replace this line with your code")

        assert checker(stub) is ex.reference
        out = capsys.readouterr().out
        assert "not done yet" in out and number in out

    @pytest.mark.parametrize("number", numbers)
    def test_crash_is_reported_as_the_learners(number):
        def crashes(*args, **kwargs):
            raise KeyError("oops")

        with pytest.raises(ExerciseFailed, match=r"your code raised KeyError: 'oops'"):
            _checker_of(module, number)(crashes)

    @pytest.mark.parametrize("number", numbers)
    def test_at_least_two_wrong_answers(number):
        assert len(wrong_answers.get(number, [])) >= 2, f"exercise {number} needs two typical wrong answers"

    @pytest.mark.parametrize("number,index,answer", wrong, ids=[f"{n}-{i}" for n, i, _ in wrong])
    def test_wrong_answer_fails(number, index, answer):
        with pytest.raises(ExerciseFailed, match=rf"^Exercise {re.escape(number)} ") as info:
            _checker_of(module, number)(answer)
        # caught by a check, not by crashing (which test_crash_is_reported_as_the_learners covers)
        message = str(info.value)
        assert "your code raised" not in message or any(guard in message for guard in CHECKER_GUARDS), \
            f"wrong answer {index} of exercise {number} crashed instead of being caught by a check: {message}"

    return test_reference_passes, test_stub_is_pending_and_falls_back, test_crash_is_reported_as_the_learners, \
        test_at_least_two_wrong_answers, test_wrong_answer_fails


def _convert(value, array, number):
    """``value`` (a result of a reference) with every array converted by ``array`` and every number by ``number``."""
    if isinstance(value, TTTensor):
        return TTTensor([array(core) for core in value.cores])
    if isinstance(value, (tuple, list)):
        return type(value)(_convert(v, array, number) for v in value)
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return array(value)
    return number(value)


def policy_wrong_answers(reference, number=False):
    """Two answers with the reference's values in a form the lesson cannot use: float32, and torch.

    The checkers' policy (``tnnlib.checking``) rejects both in a NumPy lesson:
    "float32: use float64", and "expected a NumPy array, got torch tensor".
    ``number=True`` for an exercise that returns one number.
    """
    def float32(*args, **kwargs):
        return _convert(reference(*args, **kwargs), lambda a: a.astype(np.float32), np.float32)

    def torch_tensor(*args, **kwargs):
        return _convert(reference(*args, **kwargs), torch.from_numpy, lambda x: torch.tensor(float(x)))

    float32.__name__, torch_tensor.__name__ = "float32_result", "torch_result"
    return [float32, torch_tensor]


def make_import_test(module):
    """A test that ``from tnnlib.checks import lessonNN as check`` works in a fresh interpreter (no setup cell)."""
    name = module.__name__.rsplit(".", 1)[1]

    def test_checkers_import_on_their_own():
        code = (f"from tnnlib.checks import {name} as check\n"
                f"from tnnlib.checking import REGISTRY\n"
                f"numbers = [n for n, ex in REGISTRY.items() if ex.check.__module__ == check.__name__]\n"
                f"assert numbers, 'no exercise registered'\n"
                f"print(len(numbers))")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr

    return test_checkers_import_on_their_own
