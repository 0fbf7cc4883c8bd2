"""Checker of lesson 00 (orientation): the warm-up exercise."""
import numpy as np

from ..backend import norm
from ..checking import exercise, expect, expect_close


@exercise("0.1", "Frobenius norm", reference=norm)
def frobenius_norm(answer):
    rng = np.random.default_rng(0)
    cases = [np.array([3.0, 4.0]), -np.ones((2, 3)), rng.standard_normal((3, 4, 5))]
    for x in cases:
        got = answer(x)
        expect(np.ndim(got) == 0, f"on an array of shape {x.shape} the norm must be one number, "
                                  f"got an array of shape {np.shape(got)}")
        expect_close(got, np.sqrt((x ** 2).sum()), f"norm of an array of shape {x.shape}")
    return "Checked on a vector (3, 4) -> 5, a matrix of -1s and a random order-3 tensor."
