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

The checkers' policy (stated to learners in lesson 00, "What a checker accepts")
-------------------------------------------------------------------------------
A checker accepts only what the cells after the exercise can use:

* **kind**: lessons 00-05 compute in NumPy, lessons 06 on in torch. An exercise
  that returns an array must return a NumPy array in a NumPy lesson and a torch
  tensor in a torch lesson (:func:`expect_array` with ``kind="numpy"`` or
  ``"torch"``); one number is a Python number, a NumPy scalar or a 0-d array
  (:func:`expect_number`), never an array of shape ``(1, 1)`` or a torch tensor in
  a NumPy lesson; a count is an integer (:func:`expect_integer`), never ``12.0``.
* **dtype**: a result keeps the precision of the checker's inputs, float64 (always
  in lessons 00-05). A result of lower precision (float32, float16, bfloat16, complex64) is rejected
  with "float32: use float64 ..." before any value is compared, by
  :func:`expect_precision`, which :func:`expect_array`, :func:`expect_number` and
  :func:`expect_close` all call. A float32 result is never "close enough": the
  cells after an exercise check float64 identities to ``1e-8``.
* **tolerance**: values are compared entry by entry to ``RTOL * |expected| +
  ATOL * max(1, max |expected|)`` with :data:`RTOL` ``= 1e-8`` and :data:`ATOL`
  ``= 1e-10`` (:func:`expect_close`'s defaults). A correct float64 computation,
  in any order of operations, agrees to about ``1e-13``; a mistake differs by far
  more. A difference that is small but over the tolerance is reported with its
  size, the tolerance and the dtypes, and with enough digits to see it.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

__all__ = ["ExerciseFailed", "Exercise", "exercise", "REGISTRY", "describe", "RTOL", "ATOL",
           "expect", "expect_shape", "expect_close", "expect_equal", "expect_orthonormal_columns",
           "expect_array", "expect_number", "expect_integer", "expect_precision"]

#: the checkers' tolerance (see "The checkers' policy" above): relative to each expected entry ...
RTOL = 1e-8
#: ... plus this much relative to the largest expected entry (at least 1), for entries near 0
ATOL = 1e-10


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


@dataclass
class Outcome:
    """What the last call of an exercise's checker was given and what it said."""

    answer: object
    status: str  # "passed", "not done" or "failed"
    message: str


#: the outcome of the last checker call of each exercise in this process, by number
#: (read by ``tnnlib.grade``: its ``summary()`` and the grader find the learner's function here)
OUTCOMES: dict[str, Outcome] = {}


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
        message = (f"Exercise {ex.number} ({ex.title}): the checker expects your function "
                   f"itself, got {describe(answer)}")
        OUTCOMES[ex.number] = Outcome(answer, "failed", message)
        raise ExerciseFailed(message)
    try:
        summary = ex.check(LearnerFunction(answer, ex))
    except _NotDoneYet:
        OUTCOMES[ex.number] = Outcome(answer, "not done", "not done yet")
        print(f"Exercise {ex.number} ({ex.title}): not done yet. "
              "The cells below use the course's reference solution until yours passes.")
        return ex.reference
    except ExerciseFailed as failure:
        message = f"Exercise {ex.number} ({ex.title}): {failure}"
        OUTCOMES[ex.number] = Outcome(answer, "failed", message)
        raise ExerciseFailed(message) from failure.__cause__
    OUTCOMES[ex.number] = Outcome(answer, "passed", summary or "")
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
        x = x.detach().cpu()
        return (x.double() if x.dtype == torch.bfloat16 else x).numpy()
    if isinstance(x, (np.ndarray, list, tuple, int, float, complex, np.number)):
        return np.asarray(x)
    raise ExerciseFailed(f"{what}: expected an array, got {describe(x)}")


_TORCH_BITS = {torch.float16: 11, torch.bfloat16: 8, torch.float32: 24, torch.float64: 53,
               torch.complex64: 24, torch.complex128: 53}


def _float_bits(x) -> int | None:
    """Significand bits of ``x``'s floating dtype (24 for float32, 53 for float64); None if not floating."""
    if isinstance(x, torch.Tensor):
        return _TORCH_BITS.get(x.dtype)
    if isinstance(x, float):
        return 53
    dtype = getattr(x, "dtype", None)
    if dtype is None or not np.issubdtype(dtype, np.inexact):
        return None
    return np.finfo(dtype).nmant + 1


def _dtype_name(x) -> str:
    if isinstance(x, torch.Tensor):
        return str(x.dtype).replace("torch.", "")
    return "float64" if isinstance(x, float) else str(getattr(x, "dtype", type(x).__name__))


def expect_precision(got, what: str, expected=None) -> None:
    """Fail unless ``got`` is at least as precise as ``expected`` (default: float64).

    Only floating results are judged (integers are exact); float32, float16,
    bfloat16 and complex64 fail against float64 with "float32: use float64 ...".
    """
    bits = _float_bits(got)
    wanted = 53 if expected is None else _float_bits(expected)
    if bits is None or wanted is None or bits >= wanted:
        return
    want = "float64" if expected is None else _dtype_name(expected)
    raise ExerciseFailed(
        f"{what}: your result is {_dtype_name(got)}: use {want}. The inputs are {want} and the lesson computes in "
        f"{want} (about 16 significant digits; {_dtype_name(got)} keeps about {int(bits * 0.30103)}), so the "
        f"checkers compare to a relative {RTOL:g} and the cells below rely on it. Keep the inputs' dtype: no "
        f"np.float32 or .astype(np.float32), no torch tensors made without dtype=torch.float64, no .float()")


def expect_array(got, what: str, *, kind: str = "numpy", shape=None, floating: bool = True) -> np.ndarray:
    """Fail unless ``got`` is an array of the lesson's kind (and ``shape``), float64; return it as NumPy.

    ``kind="numpy"`` (lessons 00-05) rejects torch tensors, lists and other
    values; ``kind="torch"`` (lessons 06 on) rejects NumPy arrays. With
    ``floating`` (the default) the values must be float64 (or complex128):
    lower precision fails by :func:`expect_precision`, integers and booleans fail too.
    """
    if kind not in ("numpy", "torch"):
        raise ValueError(f"kind must be 'numpy' or 'torch', got {kind!r}")
    if kind == "numpy" and not isinstance(got, np.ndarray):
        if isinstance(got, torch.Tensor):
            raise ExerciseFailed(
                f"{what}: expected a NumPy array, got {describe(got)}. This lesson computes in NumPy and the cells "
                f"after the exercise use your result as a NumPy array: compute with NumPy (np.linalg instead of "
                f"torch.linalg), or return tensor.numpy()")
        raise ExerciseFailed(f"{what}: expected a NumPy array, got {describe(got)}"
                             + (" (wrap it with np.array(...))" if isinstance(got, (list, tuple)) else ""))
    if kind == "torch" and not isinstance(got, torch.Tensor):
        raise ExerciseFailed(f"{what}: expected a torch tensor, got {describe(got)}. This lesson computes in torch: "
                             f"compute with torch, or return torch.from_numpy(array)")
    if floating:
        if _float_bits(got) is None:
            raise ExerciseFailed(f"{what}: expected float64 values, got {describe(got)} (integer or boolean "
                                 f"values: somewhere a float was turned into an integer)")
        expect_precision(got, what)
    if shape is not None:
        expect_shape(got, shape, what)
    return _as_numpy(got, what)


def expect_number(got, what: str) -> float:
    """Fail unless ``got`` is one real number at float64 precision; return it as a Python float.

    Accepted: a Python int or float, a NumPy scalar (``np.float64``: what
    ``np.sum`` or ``M[0, 0]`` return), a 0-d NumPy array. Rejected: booleans, an
    array with any axis (shape ``(1,)`` or ``(1, 1)`` included), a torch tensor,
    a float32 scalar.
    """
    if isinstance(got, (bool, np.bool_)):
        raise ExerciseFailed(f"{what}: expected one number, got {got!r}")
    if isinstance(got, torch.Tensor):
        raise ExerciseFailed(f"{what}: expected one number (a Python float or a NumPy scalar), got {describe(got)}. "
                             f"This lesson computes in NumPy: return a number, e.g. tensor.item()")
    if isinstance(got, np.ndarray) and got.ndim > 0:
        raise ExerciseFailed(f"{what}: expected one number, got {describe(got)}: return the entry itself, "
                             f"e.g. M[0, 0] or M.item(), not an array that holds it")
    if not isinstance(got, (int, float, np.integer, np.floating, np.ndarray)):
        raise ExerciseFailed(f"{what}: expected one number, got {describe(got)}")
    if isinstance(got, np.ndarray) and not np.issubdtype(got.dtype, np.number):
        raise ExerciseFailed(f"{what}: expected one number, got {describe(got)}")
    expect_precision(got, what)
    return float(got)


def expect_integer(got, what: str) -> int:
    """Fail unless ``got`` is an integer (a Python int or a NumPy integer, not a bool); return it as an int."""
    if isinstance(got, (int, np.integer)) and not isinstance(got, (bool, np.bool_)):
        return int(got)
    if isinstance(got, (float, np.floating)):
        raise ExerciseFailed(f"{what}: expected an integer, got {got!r}, a float (even a whole one: use integer "
                             f"arithmetic, // instead of /, or int(...))")
    if isinstance(got, torch.Tensor):
        raise ExerciseFailed(f"{what}: expected a Python integer, got {describe(got)}: a count or a rank is a "
                             f"number, not a tensor; return int(...) or tensor.item()")
    raise ExerciseFailed(f"{what}: expected an integer, got {describe(got)}")


def expect_shape(got, shape, what: str) -> None:
    """Fail unless ``got`` is an array of exactly ``shape``."""
    got_shape = tuple(_as_numpy(got, what).shape)
    expect(got_shape == tuple(shape), f"{what}: expected shape {tuple(shape)}, got {got_shape}")


def _digits(value: float, difference: float) -> int:
    """Significant digits that show a ``difference`` in ``value`` (6 at least, 17 at most)."""
    if difference == 0 or value == 0 or not np.isfinite(difference):
        return 6
    return int(min(17, max(6, np.ceil(np.log10(abs(value) / difference)) + 2)))


def expect_close(got, expected, what: str, rtol: float = RTOL, atol: float = ATOL) -> None:
    """Fail unless ``got`` has ``expected``'s shape and values within tolerance.

    Entry by entry ``|got - expected| <= rtol |expected| + atol max(1, max |expected|)``
    (the course's tolerance, see the module docstring). A result less precise
    than ``expected`` (float32 against float64) fails first, by :func:`expect_precision`.
    The message names the largest difference, where it is, and the tolerance.
    """
    expect_precision(got, what, expected)
    g, e = _as_numpy(got, what), _as_numpy(expected, what)
    expect(g.shape == e.shape, f"{what}: expected shape {e.shape}, got {g.shape}")
    if g.size == 0:
        return
    if not np.all(np.isfinite(g)):
        raise ExerciseFailed(f"{what}: your result contains NaN or infinity")
    diff = np.abs(g.astype(complex) - e.astype(complex))
    scale = max(1.0, float(np.abs(e).max()))
    bad = diff > atol * scale + rtol * np.abs(e)
    if bad.any():
        where = np.unravel_index(np.argmax(diff), diff.shape) if diff.ndim else ()
        expected_value, got_value, largest = e[where].item(), g[where].item(), float(diff.max())
        digits = _digits(abs(expected_value) or scale, largest)
        relative = largest / max(abs(expected_value), atol * scale)
        note = ""
        if relative < 1e-4:
            note = (f"; the difference is tiny (relative {relative:.2g}) but over the tolerance (relative {rtol:g}, "
                    f"a million times the rounding error of float64 sums): a float32 step inside your code, or a lossy "
                    f"conversion, would do this")
        raise ExerciseFailed(
            f"{what}: values differ from the expected ones at {int(bad.sum())} of {bad.size} positions; "
            f"largest difference {largest:.3g} at index {tuple(int(i) for i in where)} "
            f"(expected {expected_value:.{digits}g}, got {got_value:.{digits}g}; your dtype {_dtype_name(got)}, "
            f"tolerance rtol={rtol:g}, atol={atol:g}){note}"
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
