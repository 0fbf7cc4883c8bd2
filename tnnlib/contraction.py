"""What a contraction costs, and the best order for a chain (lesson 01).

A *pairwise* contraction such as ``"ij,jk->ik"`` loops once over every
combination of the distinct indices it mentions and does one multiply and one
add per combination, so it costs

    FLOPs = 2 * prod(size of every distinct index).

A network of many tensors is contracted as a sequence of pairwise contractions;
the *order* changes the cost, often by orders of magnitude. For a chain of
matrices ``A_1 A_2 ... A_n`` the best order is found by dynamic programming
(the classic matrix-chain problem; Cormen et al., *Introduction to Algorithms*,
ch. 15). For general networks finding the best order is NP-hard; libraries
such as opt_einsum search heuristically.
"""
from __future__ import annotations

import itertools
import string
from functools import cache

import numpy as np

__all__ = ["parse_subscripts", "einsum_loops", "contraction_flops", "matrix_chain_order", "chain_order_flops"]


def parse_subscripts(subscripts: str, *shapes):
    """Split ``"ij,jk->ik"`` into inputs and output and map each index to its size.

    Returns
    -------
    inputs : list of str, output : str, sizes : dict index -> size

    Raises ``ValueError`` if the number of operands or an index's size disagrees.
    """
    if "->" not in subscripts:
        raise ValueError(f"write the output explicitly, as in 'ij,jk->ik'; got {subscripts!r}")
    lhs, output = subscripts.replace(" ", "").split("->")
    inputs = lhs.split(",")
    if len(inputs) != len(shapes):
        raise ValueError(f"{subscripts!r} has {len(inputs)} operand(s) but {len(shapes)} shape(s) were given")
    sizes: dict[str, int] = {}
    for term, shape in zip(inputs, shapes):
        if len(term) != len(shape):
            raise ValueError(f"operand {term!r} has {len(term)} indices but shape {tuple(shape)}")
        for index, size in zip(term, shape):
            if sizes.setdefault(index, int(size)) != int(size):
                raise ValueError(f"index {index!r} has size {sizes[index]} in one operand and {size} in another")
    missing = set(output) - set(sizes)
    if missing:
        raise ValueError(f"output indices {sorted(missing)} appear in no operand")
    return inputs, output, sizes


def einsum_loops(subscripts: str, *operands):
    """``einsum`` from first principles: one explicit loop over every index.

    For each combination of values of *all* distinct indices, multiply the
    operands' matching entries and add the product into the output entry named
    by the output indices. Indices missing from the output are thereby summed.
    This is what ``np.einsum`` computes; it is written for reading, not speed
    (pure Python: keep sizes tiny).

    >>> import numpy as np
    >>> a, b = np.arange(6.).reshape(2, 3), np.arange(12.).reshape(3, 4)
    >>> np.allclose(einsum_loops("ij,jk->ik", a, b), a @ b)
    True
    """
    inputs, output, sizes = parse_subscripts(subscripts, *(np.shape(x) for x in operands))
    indices = list(sizes)
    result = np.zeros(tuple(sizes[i] for i in output), dtype=np.result_type(*operands))
    for values in itertools.product(*(range(sizes[i]) for i in indices)):
        value_of = dict(zip(indices, values))
        term = 1
        for term_indices, operand in zip(inputs, operands):
            term = term * operand[tuple(value_of[i] for i in term_indices)]
        result[tuple(value_of[i] for i in output)] += term
    return result


def contraction_flops(subscripts: str, *shapes) -> int:
    """Floating-point operations of one (pairwise) contraction.

    ``2 * prod(sizes of all distinct indices)``: one multiply and one add per
    term of the sum. (An outer product with nothing summed is counted the same
    way, a slight over-count that keeps the rule simple.)

    >>> contraction_flops("ij,jk->ik", (2, 3), (3, 4))
    48
    """
    _, _, sizes = parse_subscripts(subscripts, *shapes)
    total = 2
    for size in sizes.values():
        total *= size
    return total


def matrix_chain_order(dims) -> tuple[int, str]:
    """Cheapest order to multiply a chain of matrices, by dynamic programming.

    Parameters
    ----------
    dims : sequence of n + 1 ints
        Matrix ``k`` (named ``A``, ``B``, ``C`` ... in order) has shape
        ``(dims[k], dims[k + 1])``.

    Returns
    -------
    flops : int
        Minimal FLOPs, counting ``2 p q r`` for a (p, q) @ (q, r) product.
    order : str
        The parenthesisation, e.g. ``"((AB)C)"``; ties go to the leftmost split.

    Algorithm: ``cost(i, j) = min_k cost(i, k) + cost(k + 1, j) + 2 d_i d_{k+1} d_{j+1}``,
    over all splits of the sub-chain ``i..j``; O(n^3) time.
    """
    dims = [int(d) for d in dims]
    n = len(dims) - 1
    if n < 1 or n > len(string.ascii_uppercase) or min(dims) < 1:
        raise ValueError(f"dims must hold 2 to 27 positive sizes (a chain of 1 to 26 matrices), got {dims}")

    @cache
    def best(i: int, j: int) -> tuple[int, str]:
        if i == j:
            return 0, string.ascii_uppercase[i]
        options = []
        for k in range(i, j):
            left, right = best(i, k), best(k + 1, j)
            cost = left[0] + right[0] + 2 * dims[i] * dims[k + 1] * dims[j + 1]
            options.append((cost, f"({left[1]}{right[1]})"))
        return min(options, key=lambda option: option[0])

    return best(0, n - 1)


def chain_order_flops(order: str, dims) -> int:
    """FLOPs of multiplying a chain in the given parenthesised ``order``.

    ``order`` names the matrices ``A``, ``B``, ... as in :func:`matrix_chain_order`
    and uses parentheses for every product, e.g. ``"(A(BC))"``.
    """
    dims = [int(d) for d in dims]
    letters = string.ascii_uppercase[: len(dims) - 1]
    text = order.replace(" ", "")
    if sorted(c for c in text if c.isalpha()) != list(letters):
        raise ValueError(f"order {order!r} must name each of {', '.join(letters)} exactly once")
    position = 0

    def parse() -> tuple[int, int, int]:  # -> (rows, cols, flops) of the sub-expression
        nonlocal position
        if text[position] == "(":
            position += 1
            rows, inner, flops_a = parse()
            inner_b, cols, flops_b = parse()
            if text[position] != ")":
                raise ValueError(f"order {order!r}: every product must be one pair in parentheses")
            position += 1
            return rows, cols, flops_a + flops_b + 2 * rows * inner * cols
        k = letters.index(text[position])
        position += 1
        return dims[k], dims[k + 1], 0

    try:
        rows, cols, flops = parse()
    except IndexError:
        raise ValueError(f"order {order!r} is not a complete parenthesisation") from None
    if position != len(text):
        raise ValueError(f"order {order!r} has text left over after position {position}")
    return flops
