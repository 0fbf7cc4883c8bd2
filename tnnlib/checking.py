"""The machinery behind every exercise checker.

A lesson's exercise is a function the learner writes; its checker calls it on
chosen inputs and compares what comes back with the reference in ``tnnlib``.
In a notebook a checker is used like this::

    from tnnlib.checks import lesson01 as check

    def unfold(tensor, mode):
        ...                      # the learner's code

    unfold = check.unfold(unfold)

The checker prints one line and returns the function the rest of the lesson
should use:

* the learner's code passes -> "passed" with what was tested; returns it;
* the code is still the stub (it raises ``NotImplementedError``) -> "not done
  yet"; returns the *reference* implementation, so the lesson runs on;
* the code gives a wrong answer -> raises :class:`ExerciseFailed` saying what
  property was tested, on what input, expected against got;
* the code raises some other exception -> :class:`ExerciseFailed` that says so,
  with the exception's message (and the original traceback chained below it).

Checkers are written with :func:`exercise` and the ``expect_*`` helpers below.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

__all__ = ["ExerciseFailed", "Exercise", "exercise", "REGISTRY", "describe",
           "expect", "expect_shape", "expect_close", "expect_equal", "expect_orthonormal_columns"]


class ExerciseFailed(AssertionError):
    """The learner's answer is wrong (or crashed); the message says how."""


class _NotDoneYet(Exception):
    """Raised inside a check when the learner's function is still the stub."""


@dataclass
class Exercise:
    """One graded exercise: its number ("1.2"), title, reference and check."""

    number: str
    title: str
    reference: Callable
    check: Callable

    @property
    def reference_name(self) -> str:
        return f"{self.reference.__module__}.{self.reference.__name__}"


#: every exercise of the course by number, filled as ``tnnlib.checks`` modules import
REGISTRY: dict[str, Exercise] = {}


def exercise(number: str, title: str, reference: Callable):
    """Declare a checker.

    The decorated function receives ``answer``, the learner's function wrapped
    by :class:`LearnerFunction` (call it like the original), runs its tests with
    the ``expect_*`` helpers and returns a short summary of what it tested.
    """
    def decorate(check: Callable):
        ex = Exercise(number, title, reference, check)
        if number in REGISTRY and REGISTRY[number].check.__qualname__ != check.__qualname__:
            raise RuntimeError(f"two checkers claim exercise {number}")
        REGISTRY[number] = ex

        @functools.wraps(check)
        def checker(answer):
            return run_check(ex, answer)

        checker.exercise = ex
        return checker

    return decorate


def run_check(ex: Exercise, answer):
    """Run exercise ``ex`` on the learner's ``answer``; see the module docstring."""
    if not callable(answer):
        raise ExerciseFailed(f"Exercise {ex.number} ({ex.title}): the checker expects your function "
                             f"itself, got {describe(answer)}")
    try:
        summary = ex.check(LearnerFunction(answer, ex))
    except _NotDoneYet:
        print(f"Exercise {ex.number} ({ex.title}): not done yet. "
              f"The cells below use the reference {ex.reference_name}.")
        return ex.reference
    except ExerciseFailed as failure:
        raise ExerciseFailed(f"Exercise {ex.number} ({ex.title}): {failure}") from failure.__cause__
    print(f"Exercise {ex.number} ({ex.title}): passed. {summary or ''}".rstrip())
    return answer


class LearnerFunction:
    """Calls the learner's function and turns what can go wrong into messages."""

    def __init__(self, function: Callable, ex: Exercise):
        self.function = function
        self.exercise = ex
        self.__name__ = getattr(function, "__name__", "your function")

    def __call__(self, *args, **kwargs):
        try:
            return self.function(*args, **kwargs)
        except NotImplementedError:
            raise _NotDoneYet from None
        except Exception as error:
            inputs = ", ".join([describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in kwargs.items()])
            raise ExerciseFailed(
                f"your code raised {type(error).__name__}: {error}\n"
                f"  when called as {self.__name__}({inputs})"
            ) from error


def describe(x) -> str:
    """A short description of a value for messages: arrays by shape and dtype."""
    if isinstance(x, np.ndarray):
        return f"NumPy array of shape {x.shape} ({x.dtype})"
    if isinstance(x, torch.Tensor):
        return f"torch tensor of shape {tuple(x.shape)} ({x.dtype})"
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


def expect(condition: bool, message: str) -> None:
    """Fail with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ExerciseFailed(message)


def _as_numpy(x, what: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, (np.ndarray, list, tuple, int, float, complex, np.number)):
        return np.asarray(x)
    raise ExerciseFailed(f"{what}: expected an array, got {describe(x)}")


def expect_shape(got, shape, what: str) -> None:
    """Fail unless ``got`` is an array of exactly ``shape``."""
    got_shape = tuple(_as_numpy(got, what).shape)
    expect(got_shape == tuple(shape), f"{what}: expected shape {tuple(shape)}, got {got_shape}")


def expect_close(got, expected, what: str, rtol: float = 1e-6, atol: float = 1e-9) -> None:
    """Fail unless ``got`` has ``expected``'s shape and values within tolerance.

    The message names the largest difference and where it is.
    """
    g, e = _as_numpy(got, what), _as_numpy(expected, what)
    expect(g.shape == e.shape, f"{what}: expected shape {e.shape}, got {g.shape}")
    if g.size == 0:
        return
    if not np.all(np.isfinite(g)):
        raise ExerciseFailed(f"{what}: your result contains NaN or infinity")
    diff = np.abs(g.astype(complex) - e.astype(complex))
    bad = diff > atol + rtol * np.abs(e)
    if bad.any():
        where = np.unravel_index(np.argmax(diff), diff.shape) if diff.ndim else ()
        raise ExerciseFailed(
            f"{what}: values differ from the expected ones at {int(bad.sum())} of {bad.size} positions; "
            f"largest difference {diff.max():.3g} at index {tuple(int(i) for i in where)} "
            f"(expected {e[where].item():.6g}, got {g[where].item():.6g})"
        )


def expect_equal(got, expected, what: str) -> None:
    """Fail unless ``got == expected`` (for plain Python values)."""
    expect(got == expected, f"{what}: expected {expected!r}, got {got!r}")


def expect_orthonormal_columns(q, what: str, tol: float = 1e-8) -> None:
    """Fail unless ``q^H q`` is the identity within ``tol``."""
    q = _as_numpy(q, what)
    gram = q.conj().T @ q
    err = np.abs(gram - np.eye(gram.shape[0])).max()
    expect(err <= tol, f"{what}: columns are not orthonormal (max |Q^H Q - I| = {err:.3g} > {tol:g})")
