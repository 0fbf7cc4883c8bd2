"""Checker of lesson 00 (orientation): the warm-up exercise.

Like every checker it can be imported on its own, without a lesson's setup cell::

    from tnnlib.checks import lesson00 as check
"""
import numpy as np

from ..backend import norm
from ..checking import exercise, expect_close, expect_number


@exercise("0.1", "Frobenius norm", reference=norm)
def frobenius_norm(answer):
    rng = np.random.default_rng(0)
    cases = [np.array([3.0, 4.0]), -np.ones((2, 3)), rng.standard_normal((3, 4, 5))]
    for x in cases:
        what = f"norm of an array of shape {x.shape}"
        got = expect_number(answer(x), what + " (one number for the whole array)")
        expect_close(got, np.sqrt((x ** 2).sum()), what)
    return "Checked on a vector (3, 4) -> 5, a matrix of -1s and a random order-3 tensor."
