"""Forest-structured blocks: lattices, colourings, forest partitions and greedy forests (spec
sections 5 and 11, oracles 7 and 8)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse import csgraph

from optkit.graphs import (
    comb_partition,
    forest_partition,
    greedy_coloring,
    greedy_forest,
    is_forest,
    lattice_graph,
    red_black_lattice,
    remove_nodes,
)

GRIDS = [(1, 1), (1, 6), (6, 1), (2, 2), (2, 7), (3, 5), (5, 3), (4, 4), (7, 8), (10, 10)]


def random_graph(n, density, seed):
    rng = np.random.default_rng(seed)
    A = sp.random_array((n, n), density=density, rng=rng)
    A = sp.csr_array(((A + A.T) != 0).astype(float))
    A.setdiag(0)
    A.eliminate_zeros()
    return A


def laplacian_rank_is_forest(A, nodes):
    """Spec oracle: with the 0/1 adjacency W_b of the block and its Laplacian
    Λ = diag(W_b 1) - W_b, the block is a forest iff #edges == rank(Λ)."""
    W = (A[nodes][:, nodes] != 0).astype(float).toarray()
    np.fill_diagonal(W, 0.0)
    lap = np.diag(W.sum(axis=1)) - W
    n_edges = int(W.sum()) // 2
    return n_edges == (np.linalg.matrix_rank(lap) if len(nodes) else 0)


def assert_partition(blocks, n):
    allnodes = np.concatenate(blocks) if blocks else np.zeros(0, dtype=int)
    np.testing.assert_array_equal(np.sort(allnodes), np.arange(n))
    for b in blocks:
        assert b.size and np.all(np.diff(b) > 0)


def grid_coordinates(nrows, ncols):
    i = np.arange(nrows * ncols)
    return i % nrows, i // nrows


# -- lattices -----------------------------------------------------------------------------------


@pytest.mark.parametrize("nrows, ncols", GRIDS)
def test_lattice_graph(nrows, ncols):
    A = lattice_graph(nrows, ncols)
    n = nrows * ncols
    assert A.shape == (n, n) and A.format == "csr"
    r, c = grid_coordinates(nrows, ncols)
    expected = (np.abs(r[:, None] - r[None, :]) + np.abs(c[:, None] - c[None, :])) == 1
    np.testing.assert_array_equal(A.toarray(), expected.astype(float))
    assert A.nnz == 2 * (nrows * (ncols - 1) + ncols * (nrows - 1))


@pytest.mark.parametrize("nrows, ncols", GRIDS)
def test_red_black_blocks_are_independent_sets(nrows, ncols):
    blocks = red_black_lattice(nrows, ncols)
    n = nrows * ncols
    assert len(blocks) == (1 if n == 1 else 2)
    assert_partition(blocks, n)
    r, c = grid_coordinates(nrows, ncols)
    A = lattice_graph(nrows, ncols)
    for colour, b in enumerate(blocks):
        assert np.all((r[b] + c[b]) % 2 == colour)
        assert A[b][:, b].nnz == 0
        # The block Hessian of a lattice problem is diagonal.
        Q = sp.diags_array(np.asarray(A.sum(axis=1)) + 1.0) - A
        Qbb = Q[b][:, b].toarray()
        np.testing.assert_array_equal(Qbb, np.diag(np.diag(Qbb)))


@pytest.mark.parametrize("nrows, ncols", GRIDS)
def test_comb_partition_is_two_spanning_trees(nrows, ncols):
    """Oracle 8: exactly two blocks, each a single tree, together every node once."""
    blocks = comb_partition(nrows, ncols)
    n = nrows * ncols
    assert_partition(blocks, n)
    A = lattice_graph(nrows, ncols)
    assert len(blocks) == (1 if nrows == 1 else 2)
    for b in blocks:
        sub = A[b][:, b]
        assert csgraph.connected_components(sub, directed=False)[0] == 1
        assert sub.nnz // 2 == b.size - 1
        assert is_forest(A, b) and laplacian_rank_is_forest(A, b)


def test_comb_partition_recipe():
    nrows, ncols = 5, 4
    white, black = comb_partition(nrows, ncols)
    r, c = grid_coordinates(nrows, ncols)
    np.testing.assert_array_equal(white, np.flatnonzero((r == 0) | ((c % 2 == 0) & (r < 4))))
    np.testing.assert_array_equal(black, np.flatnonzero((r == 4) | ((c % 2 == 1) & (r >= 1))))


def test_lattice_blocks_minus_labelled_nodes():
    rng = np.random.default_rng(0)
    nrows, ncols = 12, 9
    n = nrows * ncols
    A = lattice_graph(nrows, ncols)
    labelled = rng.choice(n, 15, replace=False)
    U = np.setdiff1d(np.arange(n), labelled)
    AU = A[U][:, U]
    for blocks in (comb_partition(nrows, ncols), red_black_lattice(nrows, ncols)):
        reduced = remove_nodes(blocks, labelled, n)
        assert_partition(reduced, U.size)
        for b, full in zip(reduced, blocks, strict=True):
            np.testing.assert_array_equal(U[b], np.setdiff1d(full, labelled))
            assert is_forest(AU, b) and laplacian_rank_is_forest(AU, b)


def test_remove_nodes():
    blocks = [np.array([4, 0, 2]), np.array([1, 3]), np.array([5])]
    assert [b.tolist() for b in remove_nodes(blocks, [1, 3, 3], 6)] == [[2, 0, 1], [3]]
    kept = remove_nodes(blocks, np.array([1, 3]), 6, drop_empty=False)
    assert [b.tolist() for b in kept] == [[2, 0, 1], [], [3]]
    assert [b.tolist() for b in remove_nodes(blocks, [], 6)] == [[4, 0, 2], [1, 3], [5]]
    with pytest.raises(ValueError, match="nodes must hold nodes in 0..5"):
        remove_nodes(blocks, [6], 6)
    with pytest.raises(ValueError, match=r"blocks\[0\]"):
        remove_nodes([np.array([7])], [], 6)


# -- general graphs -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_greedy_coloring_is_proper(seed):
    A = random_graph(150, 0.04, seed)
    rng = np.random.default_rng(seed)
    for order in (None, rng.permutation(150)):
        blocks = greedy_coloring(A, order)
        assert_partition(blocks, 150)
        for b in blocks:
            assert A[b][:, b].nnz == 0


def test_greedy_coloring_rule():
    # Edge 0 - 1, isolated 2 and 3: 2 takes the first of two colours of one node each,
    # 3 the smaller colour.
    A = sp.csr_array(([1.0, 1.0], ([0, 1], [1, 0])), shape=(4, 4))
    assert [b.tolist() for b in greedy_coloring(A)] == [[0, 2], [1, 3]]
    assert [b.tolist() for b in greedy_coloring(A, [2, 3, 0, 1])] == [[0, 2, 3], [1]]
    assert len(greedy_coloring(np.ones((5, 5)))) == 5
    assert len(greedy_coloring(sp.csr_array((6, 6)))) == 1
    assert len(greedy_coloring(lattice_graph(6, 7))) == 2


def reference_greedy_forest(A, order):
    """Spec wording, with the oracle as the test: add a node if the block stays a forest."""
    block = []
    for i in order:
        if is_forest(A, np.array(block + [i])):
            block.append(i)
    return np.sort(np.array(block, dtype=int))


def reference_forest_partition(A, order):
    forests = []
    for i in order:
        for f in forests:
            if is_forest(A, np.array(f + [i])):
                f.append(i)
                break
        else:
            forests.append([i])
    return [np.sort(np.array(f)) for f in forests]


@pytest.mark.parametrize("seed", range(4))
def test_greedy_forest_is_a_maximal_forest(seed):
    A = random_graph(80, 0.08, seed)
    rng = np.random.default_rng(seed)
    g = rng.standard_normal(80)
    for order in (np.argsort(-np.abs(g), kind="stable"), rng.permutation(80)):
        b = greedy_forest(A, order)
        np.testing.assert_array_equal(b, reference_greedy_forest(A, order))
        assert is_forest(A, b) and laplacian_rank_is_forest(A, b)
        for v in np.setdiff1d(np.arange(80), b):
            assert not is_forest(A, np.append(b, v))


def test_greedy_forest_of_a_lattice_and_of_part_of_the_nodes():
    A = lattice_graph(15, 15)
    rng = np.random.default_rng(1)
    b = greedy_forest(A, rng.permutation(225))
    assert is_forest(A, b) and laplacian_rank_is_forest(A, b)
    part = rng.permutation(225)[:100]
    b = greedy_forest(A, part)
    assert np.all(np.isin(b, part)) and is_forest(A, b)
    np.testing.assert_array_equal(b, reference_greedy_forest(A, part))
    assert greedy_forest(A, []).size == 0
    np.testing.assert_array_equal(greedy_forest(A, np.arange(225)[::-1]),
                                  reference_greedy_forest(A, np.arange(225)[::-1]))


@pytest.mark.parametrize("seed", range(3))
def test_forest_partition(seed):
    A = random_graph(60, 0.15, seed)
    rng = np.random.default_rng(seed)
    for order in (None, rng.permutation(60)):
        blocks = forest_partition(A, order)
        assert_partition(blocks, 60)
        for b in blocks:
            assert is_forest(A, b) and laplacian_rank_is_forest(A, b)
        visit = np.arange(60) if order is None else order
        expected = reference_forest_partition(A, visit)
        assert [b.tolist() for b in blocks] == [b.tolist() for b in expected]


def test_forest_partition_of_a_lattice_and_complete_graph():
    blocks = forest_partition(lattice_graph(8, 8))
    assert_partition(blocks, 64)
    assert len(blocks) == 2
    # K_5: each forest holds at most 2 nodes (3 would close a triangle).
    assert [b.size for b in forest_partition(np.ones((5, 5)))] == [2, 2, 1]


@pytest.mark.parametrize("seed", range(4))
def test_is_forest_matches_laplacian_rank(seed):
    A = random_graph(40, 0.1, seed)
    rng = np.random.default_rng(seed)
    outcomes = set()
    for size in (0, 1, 2, 5, 10, 20, 40):
        for _ in range(5):
            nodes = rng.choice(40, size, replace=False)
            expected = laplacian_rank_is_forest(A, nodes)
            assert is_forest(A, nodes) == expected
            outcomes.add(expected)
    assert outcomes == {True, False}
    assert is_forest(A) == laplacian_rank_is_forest(A, np.arange(40))


def test_values_and_diagonal_are_ignored():
    """A weighted Laplacian (a problem's Hessian) serves as its own adjacency."""
    A = lattice_graph(4, 5)
    Q = sp.diags_array(np.asarray(A.sum(axis=1)) + 0.5) - 3.0 * A
    order = np.random.default_rng(0).permutation(20)
    np.testing.assert_array_equal(greedy_forest(Q, order), greedy_forest(A, order))
    for fn in (greedy_coloring, forest_partition):
        assert [b.tolist() for b in fn(Q.tocoo())] == [b.tolist() for b in fn(A)]
    assert is_forest(Q, [0, 1, 2]) and not is_forest(Q.toarray(), [0, 1, 4, 5])
    Z = sp.csr_array((np.zeros(2), ([0, 1], [1, 0])), shape=(2, 2))     # stored zeros
    assert is_forest(Z) and greedy_forest(Z, [0, 1]).tolist() == [0, 1]


def test_input_checks():
    A = lattice_graph(3, 3)
    with pytest.raises(ValueError, match="symmetric"):
        greedy_forest(sp.csr_array(([1.0], ([0], [1])), shape=(2, 2)), [0, 1])
    with pytest.raises(ValueError, match="square"):
        is_forest(np.ones((2, 3)))
    with pytest.raises(ValueError, match="order must not repeat"):
        greedy_forest(A, [0, 1, 1])
    with pytest.raises(ValueError, match="order must be a permutation"):
        greedy_coloring(A, [0, 1, 2])
    with pytest.raises(ValueError, match="order must hold nodes in 0..8"):
        forest_partition(A, np.arange(1, 10))
    with pytest.raises(TypeError, match="integers"):
        greedy_forest(A, np.linspace(0, 8, 9))
    with pytest.raises(ValueError, match="nodes must not repeat"):
        is_forest(A, [0, 0])
    with pytest.raises(ValueError, match="1-D"):
        is_forest(A, [[0, 1]])
    with pytest.raises(ValueError, match="nrows must be at least 1"):
        lattice_graph(0, 3)
    with pytest.raises(TypeError, match="ncols must be an int"):
        comb_partition(3, 2.0)
    with pytest.raises(TypeError, match="nrows must be an int"):
        red_black_lattice(True, 2)
