import numpy as np
import pytest

from tnnlib.contraction import chain_order_flops, contraction_flops, einsum_loops, matrix_chain_order, parse_subscripts


@pytest.mark.parametrize("subscripts,shapes", [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("i,i->", [(5,), (5,)]), ("ijk,kj->i", [(2, 3, 4), (4, 3)]),
    ("ij,k->ijk", [(2, 2), (3,)]), ("ii->i", [(3, 3)]), ("ab,bc,cd->ad", [(2, 3), (3, 2), (2, 2)]),
])
def test_einsum_loops_equals_numpy(subscripts, shapes):
    rng = np.random.default_rng(0)
    ops = [rng.standard_normal(s) for s in shapes]
    np.testing.assert_allclose(einsum_loops(subscripts, *ops), np.einsum(subscripts, *ops), atol=1e-12)


def test_flops_counts_each_distinct_index_once():
    assert contraction_flops("ij,jk->ik", (2, 3), (3, 4)) == 48
    assert contraction_flops("abc,cbd->ad", (4, 5, 6), (6, 5, 3)) == 2 * 4 * 5 * 6 * 3


@pytest.mark.parametrize("subscripts,shapes,match", [
    ("ij,jk", [(2, 3), (3, 4)], "output explicitly"),
    ("ij,jk->ik", [(2, 3)], "2 operand"),
    ("ij,jk->ik", [(2, 3), (4, 4)], "index 'j' has size 3"),
    ("ij->ik", [(2, 3)], "appear in no operand"),
    ("ijk->i", [(2, 3)], "3 indices"),
])
def test_parse_errors(subscripts, shapes, match):
    with pytest.raises(ValueError, match=match):
        parse_subscripts(subscripts, *shapes)


def test_matrix_chain_textbook_example():
    # Cormen et al., ch. 15: 15,125 scalar multiplications, i.e. 30,250 FLOPs
    flops, order = matrix_chain_order([30, 35, 15, 5, 10, 20, 25])
    assert flops == 30250 and order == "((A(BC))((DE)F))"
    assert chain_order_flops(order, [30, 35, 15, 5, 10, 20, 25]) == flops


def test_chain_order_is_minimal_over_all_orders_of_four():
    dims = [7, 3, 9, 2, 8]
    orders = ["(((AB)C)D)", "((AB)(CD))", "((A(BC))D)", "(A((BC)D))", "(A(B(CD)))"]
    assert matrix_chain_order(dims)[0] == min(chain_order_flops(o, dims) for o in orders)


@pytest.mark.parametrize("order,match", [("((AB)C", "complete"), ("(AB)C", "left over"),
                                         ("((AA)C)", "exactly once"), ("(ABC)", "one pair")])
def test_bad_orders(order, match):
    with pytest.raises(ValueError, match=match):
        chain_order_flops(order, [2, 3, 4, 5])


def test_bad_dims():
    with pytest.raises(ValueError, match="positive sizes"):
        matrix_chain_order([3])
