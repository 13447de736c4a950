"""``tree_solve`` and ``forest_order``: exact solves on forest-structured SPD matrices (spec
sections 5 and 11, oracles 6 and 7)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from optkit.graphs import (
    comb_partition,
    greedy_forest,
    lattice_graph,
    red_black_lattice,
    remove_nodes,
)
from optkit.linalg import ForestOrder, forest_order, tree_solve

FORMATS = ("csr", "csc", "coo", "lil", "dense")


def assert_solves(Q, r, x, tol=1e-10):
    """``x`` equals the dense solve to ``tol``, relative to the size of the solution."""
    dense = Q.toarray() if sp.issparse(Q) else np.asarray(Q)
    expected = np.linalg.solve(dense, np.ravel(r))
    assert x.shape == expected.shape
    assert np.max(np.abs(x - expected)) <= tol * max(1.0, np.max(np.abs(expected)))


def in_format(Q, fmt):
    Q = sp.csr_array(Q)
    return Q.toarray() if fmt == "dense" else Q.asformat(fmt)


def forest_matrix(parent, rng, shift=0.5):
    """A symmetric, strictly diagonally dominant (so positive definite) matrix whose sparsity
    graph is the forest ``parent`` (``-1`` for roots), with random signs and weights."""
    parent = np.asarray(parent)
    n = parent.size
    child = np.flatnonzero(parent >= 0)
    w = rng.uniform(0.1, 2.0, child.size) * rng.choice([-1.0, 1.0], child.size)
    off = sp.coo_array((w, (child, parent[child])), shape=(n, n))
    off = (off + off.T).tocsr()
    degree = np.abs(off).sum(axis=1)
    return (off + sp.diags_array(degree + shift + rng.uniform(0, 1, n))).tocsr()


def random_forest(n, n_trees, rng):
    """Parents of a random forest on ``n`` nodes with ``n_trees`` trees, labels shuffled."""
    parent = np.full(n, -1)
    for i in range(n_trees, n):
        parent[i] = rng.integers(0, i)
    perm = rng.permutation(n)          # node i is called perm[i]
    out = np.full(n, -1)
    has = parent >= 0
    out[perm[has]] = perm[parent[has]]
    return out


def path(n):
    return np.arange(-1, n - 1)


def lattice_qp(nrows, ncols, n_labelled, rng, weight=(0.5, 2.0)):
    """The label-propagation Hessian of spec section 1.4 on the unlabelled nodes of a lattice:
    ``Q_ii = Σ_j w_ij`` over all neighbours, ``Q_ij = -w_ij``; and the labelled nodes."""
    A = sp.triu(lattice_graph(nrows, ncols), 1).tocoo()
    w = rng.uniform(*weight, A.nnz)
    W = sp.coo_array((w, (A.row, A.col)), shape=A.shape)
    W = (W + W.T).tocsr()
    n = nrows * ncols
    labelled = np.sort(rng.choice(n, n_labelled, replace=False))
    U = np.setdiff1d(np.arange(n), labelled)
    L = sp.diags_array(W.sum(axis=1)) - W
    return sp.csr_array(L[U][:, U]), labelled


# -- correctness ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n, n_trees", [(1, 1), (2, 1), (30, 1), (200, 1), (200, 7), (500, 40)])
def test_random_forests_match_dense_solve(n, n_trees, seed):
    rng = np.random.default_rng(seed)
    Q = forest_matrix(random_forest(n, n_trees, rng), rng)
    r = rng.standard_normal(n)
    assert_solves(Q, r, tree_solve(Q, r))


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_input_format(fmt):
    rng = np.random.default_rng(5)
    Q = forest_matrix(random_forest(60, 3, rng), rng)
    r = rng.standard_normal(60)
    x = tree_solve(in_format(Q, fmt), r)
    assert_solves(Q, r, x)
    fo = forest_order(Q)
    np.testing.assert_array_equal(tree_solve(in_format(Q, fmt), r, order=fo), x)


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 10, 50, 3000])
def test_path(n):
    """A path rooted at an end: one-node levels, solved as a chain beyond a few nodes."""
    rng = np.random.default_rng(n)
    Q = forest_matrix(path(n), rng, shift=1e-3)
    r = rng.standard_normal(n)
    x = tree_solve(Q, r)
    if n <= 100:
        assert_solves(Q, r, x)
    else:
        expected = spla.spsolve(Q.tocsc(), r)
        assert np.max(np.abs(x - expected)) <= 1e-10 * np.max(np.abs(expected))
    assert forest_order(Q).depth == n


def test_path_rooted_in_the_middle():
    """Node 0 in the middle of a path: two legs, two nodes per level."""
    n = 41
    order = np.r_[np.arange(20, 0, -1), 0, np.arange(21, n)]   # the path's node sequence
    parent = np.full(n, -1)
    parent[order[1:]] = order[:-1]
    rng = np.random.default_rng(0)
    Q = forest_matrix(parent, rng)
    r = rng.standard_normal(n)
    assert_solves(Q, r, tree_solve(Q, r))
    fo = forest_order(Q)
    assert fo.order[0] == 0 and fo.depth == 21


@pytest.mark.parametrize("n", [2, 5, 300])
def test_star(n):
    rng = np.random.default_rng(n)
    for centre in (0, n - 1):
        parent = np.full(n, centre)
        parent[centre] = -1
        Q = forest_matrix(parent, rng)
        r = rng.standard_normal(n)
        assert_solves(Q, r, tree_solve(Q, r))


def test_chains_between_wide_levels():
    """A star whose first leaf continues into a long path ending in another star, and a
    broom (a path from the root, then many leaves): chains below a level, above a level,
    and from the root."""
    rng = np.random.default_rng(3)
    lollipop = [-1] + [0] * 10 + [1] + list(range(11, 50)) + [50] * 10
    broom = list(range(-1, 29)) + [29] * 15
    spider = [-1] + [0] * 3 + list(range(1, 61))             # three legs of length 21
    for parent in (lollipop, broom, spider):
        Q = forest_matrix(parent, rng)
        r = rng.standard_normal(len(parent))
        assert_solves(Q, r, tree_solve(Q, r))
        fo = forest_order(Q)
        assert_solves(Q, r, tree_solve(Q, r, order=fo))
        chains = [(s, e, p) for chain, s, e, p, _ in fo._steps if chain]
        assert len(chains) == (parent is not spider)


def test_diagonal_matrix_and_empty():
    d = np.array([2.0, 4.0, 0.5])
    np.testing.assert_allclose(tree_solve(sp.diags_array(d), np.ones(3)), 1 / d, rtol=1e-15)
    fo = forest_order(sp.diags_array(d))
    assert fo.depth == 1 and fo.n_components == 3
    assert tree_solve(sp.csr_array((0, 0)), np.zeros(0)).shape == (0,)
    assert forest_order(np.zeros((0, 0))).n_components == 0


def test_red_black_and_comb_blocks_of_a_lattice_qp():
    rng = np.random.default_rng(1)
    nrows, ncols = 20, 17
    Q, labelled = lattice_qp(nrows, ncols, 40, rng)
    n = nrows * ncols
    partitions = (red_black_lattice(nrows, ncols), comb_partition(nrows, ncols))
    for blocks in partitions:
        blocks = remove_nodes(blocks, labelled, n)
        assert len(blocks) == 2
        for b in blocks:
            Qbb = Q[b][:, b]
            r = rng.standard_normal(b.size)
            assert_solves(Qbb, r, tree_solve(Qbb, r))
            assert_solves(Qbb, r, tree_solve(Qbb, r, order=forest_order(Qbb)))


def test_comb_blocks_with_spec_d_weights():
    """Data set D's scale (w = 1e5) with few labels: an ill-conditioned block, still exact
    to 1e-10 relative to the solution."""
    rng = np.random.default_rng(2)
    Q, labelled = lattice_qp(30, 30, 10, rng, weight=(1e5, 1e5))
    for b in remove_nodes(comb_partition(30, 30), labelled, 900):
        Qbb = Q[b][:, b]
        r = rng.standard_normal(b.size)
        assert_solves(Qbb, r, tree_solve(Qbb, r))


@pytest.mark.parametrize("seed", range(3))
def test_greedy_forest_blocks_of_a_random_graph(seed):
    rng = np.random.default_rng(seed)
    n = 300
    A = sp.random_array((n, n), density=0.02, rng=rng)
    A = ((A + A.T) != 0).astype(float)
    A.setdiag(0)
    A.eliminate_zeros()
    Q = sp.csr_array(sp.diags_array(A.sum(axis=1) + 0.1) - A)
    g = rng.standard_normal(n)
    for order in (np.argsort(-np.abs(g), kind="stable"), rng.permutation(n)):
        b = greedy_forest(A, order)
        Qbb = Q[b][:, b]
        assert_solves(Qbb, g[b], tree_solve(Qbb, g[b]))


def test_column_right_hand_side():
    rng = np.random.default_rng(4)
    Q = forest_matrix(random_forest(50, 2, rng), rng)
    r = rng.standard_normal(50)
    x = tree_solve(Q, r[:, None])
    assert x.shape == (50,)
    np.testing.assert_array_equal(x, tree_solve(Q, r))
    np.testing.assert_array_equal(x, tree_solve(Q, r[:, None], order=forest_order(Q)))


# -- the order ----------------------------------------------------------------------------------


def test_forest_order_structure():
    rng = np.random.default_rng(6)
    n = 120
    Q = forest_matrix(random_forest(n, 5, rng), rng)
    fo = forest_order(Q)
    assert isinstance(fo, ForestOrder) and fo.n == n
    np.testing.assert_array_equal(np.sort(fo.order), np.arange(n))
    pos = np.empty(n, dtype=int)
    pos[fo.order] = np.arange(n)
    roots = fo.order[:fo.n_components]
    assert np.all(fo.parent[roots] == -1) and np.all(np.diff(roots) > 0)
    child = np.flatnonzero(fo.parent >= 0)
    assert np.all(pos[fo.parent[child]] < pos[child])
    dense = Q.toarray()
    np.testing.assert_array_equal(fo.offdiag[child], dense[fo.parent[child], child])
    assert np.all(fo.offdiag[roots] == 0)
    # Levels: a child lies one level below its parent; the roots are the smallest nodes of
    # their components.
    level = np.repeat(np.arange(fo.depth), np.diff(fo.level_ptr))[pos]
    np.testing.assert_array_equal(level[child], level[fo.parent[child]] + 1)
    assert fo.level_ptr[-1] == n
    top = np.arange(n)
    while np.any(fo.parent[top] >= 0):
        top = np.where(fo.parent[top] >= 0, fo.parent[top], top)
    for root in roots:
        assert root == np.flatnonzero(top == root).min()


def test_order_reuse_gives_identical_results_and_reads_new_values():
    rng = np.random.default_rng(7)
    parent = random_forest(400, 4, rng)
    Q = forest_matrix(parent, rng)
    fo = forest_order(Q)
    for _ in range(3):
        r = rng.standard_normal(400)
        np.testing.assert_array_equal(tree_solve(Q, r, order=fo), tree_solve(Q, r))
    # Same pattern, new values: the order serves, and the values are Q2's.
    Q2 = forest_matrix(parent, rng, shift=3.0)
    for fmt in FORMATS:
        assert_solves(Q2, r, tree_solve(in_format(Q2, fmt), r, order=fo))
    # A sub-pattern (an edge dropped) is fine too.
    Q3 = Q2.tolil()
    i = np.flatnonzero(parent >= 0)[0]
    Q3[i, parent[i]] = Q3[parent[i], i] = 0.0
    for fmt in FORMATS:
        assert_solves(Q3, r, tree_solve(in_format(Q3, fmt), r, order=fo))


def test_order_of_a_matrix_with_explicit_zeros():
    dense = np.array([[2.0, -1.0, 0.5], [-1.0, 2.0, 0.0], [0.5, 0.0, 2.0]])
    Q = sp.csr_array((dense.ravel(), np.tile(np.arange(3), 3), [0, 3, 6, 9]))  # stores zeros
    assert Q.nnz == 9
    fo = forest_order(Q)
    r = np.array([1.0, 2.0, 3.0])
    assert_solves(Q, r, tree_solve(Q, r, order=fo))
    Q.data[Q.data == 0.0] = 0.1                 # an edge 1 - 2: a cycle
    with pytest.raises(ValueError, match="not the forest of order"):
        tree_solve(Q, r, order=fo)
    with pytest.raises(ValueError, match="not a forest"):
        tree_solve(Q, r)


def test_order_of_another_pattern_is_refused():
    rng = np.random.default_rng(8)
    Q = forest_matrix(path(10), rng)
    other = forest_matrix(np.r_[-1, np.zeros(9, dtype=int)], rng)      # a star
    fo = forest_order(other)
    for fmt in FORMATS:
        with pytest.raises(ValueError, match="not the forest of order"):
            tree_solve(in_format(Q, fmt), np.ones(10), order=fo)
    with pytest.raises(ValueError, match="shape"):
        tree_solve(np.eye(3), np.ones(3), order=fo)
    with pytest.raises(TypeError, match="ForestOrder"):
        tree_solve(Q, np.ones(10), order="bfs")


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_cycle_raises(fmt):
    triangle = np.array([[3.0, -1.0, -1.0], [-1.0, 3.0, -1.0], [-1.0, -1.0, 3.0]])
    with pytest.raises(ValueError, match="the sparsity graph of Q is not a forest"):
        tree_solve(in_format(triangle, fmt), np.ones(3))
    lattice = lattice_graph(3, 3)
    Q = sp.diags_array(np.full(9, 5.0)) - lattice
    with pytest.raises(ValueError, match="not a forest"):
        forest_order(in_format(Q, fmt))


def test_not_positive_definite_raises():
    singular = np.array([[1.0, -1.0], [-1.0, 1.0]])
    with pytest.raises(ValueError, match="not positive definite"):
        tree_solve(singular, np.ones(2))
    with pytest.raises(ValueError, match="not positive definite"):
        tree_solve(np.diag([1.0, -2.0, 3.0]), np.ones(3))
    star = np.eye(6)                               # Schur complement 1 - 5 < 0 at the centre
    star[0, 1:] = star[1:, 0] = -1.0
    with pytest.raises(ValueError, match="not positive definite: the elimination pivot of "
                                         "node 0"):
        tree_solve(star, np.ones(6))
    # An indefinite path (eigenvalues 1.5 - 2 cos(k pi / 51)), solved as a chain, and a chain
    # below a wide level.
    n = 50
    Q = sp.diags_array([np.full(n - 1, -1.0), np.full(n, 1.5), np.full(n - 1, -1.0)],
                       offsets=[-1, 0, 1])
    with pytest.raises(ValueError, match="not positive definite"):
        tree_solve(Q, np.ones(n))
    parent = [-1] + [0] * 5 + [1] + list(range(6, 40))
    A = forest_matrix(parent, np.random.default_rng(0)).toarray()
    A[6:, 6:] = Q.toarray()[:35, :35]
    assert np.linalg.eigvalsh(A).min() < 0
    assert any(chain for chain, *_ in forest_order(A)._steps)
    with pytest.raises(ValueError, match="not positive definite"):
        tree_solve(A, np.ones(41))


def test_input_checks():
    Q = np.array([[2.0, -1.0], [-1.0, 2.0]])
    with pytest.raises(ValueError, match="square"):
        tree_solve(np.ones((2, 3)), np.ones(2))
    with pytest.raises(ValueError, match="square"):
        tree_solve(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="r must have shape"):
        tree_solve(Q, np.ones(3))
    with pytest.raises(ValueError, match="r must have shape"):
        tree_solve(Q, np.ones((2, 2)))
    with pytest.raises(ValueError, match="finite"):
        tree_solve(Q, np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="finite"):
        tree_solve(np.array([[2.0, np.inf], [np.inf, 2.0]]), np.ones(2))
    with pytest.raises(ValueError, match="symmetric"):
        tree_solve(np.array([[2.0, -1.0], [-0.5, 2.0]]), np.ones(2))
    with pytest.raises(ValueError, match="symmetric"):
        tree_solve(np.array([[2.0, -1.0], [0.0, 2.0]]), np.ones(2))
    with pytest.raises(TypeError, match="real"):
        tree_solve(Q.astype(complex), np.ones(2))
    with pytest.raises(TypeError, match="real"):
        tree_solve(Q, np.ones(2, dtype=complex))
    with pytest.raises(TypeError, match="LinearOperator"):
        tree_solve(spla.aslinearoperator(Q), np.ones(2))
    fo = forest_order(Q)
    with pytest.raises(ValueError, match="finite"):
        tree_solve(Q, np.array([np.inf, 1.0]), order=fo)
    assert not np.all(np.isfinite(tree_solve(Q, np.array([np.inf, 1.0]), order=fo,
                                             check=False)))


def test_integer_matrix_and_right_hand_side():
    Q = np.array([[2, -1], [-1, 2]])
    np.testing.assert_allclose(tree_solve(Q, [1, 1]), [1.0, 1.0], rtol=1e-15)


# -- cost -----------------------------------------------------------------------------------------


def comb_block(nrows, ncols, rng):
    Q, _ = lattice_qp(nrows, ncols, 0, rng)
    b = comb_partition(nrows, ncols)[0]
    return Q[b][:, b]


def test_work_is_linear_in_n():
    """Deterministic proxy: each node is in exactly one pass step, and the number of steps
    (the Python-level loop) grows like the depth of the comb tree, nrows + ncols, so the
    per-step overhead grows like sqrt(n)."""
    rng = np.random.default_rng(0)
    for k in (10, 32, 100):
        fo = forest_order(comb_block(k, k, rng))
        assert fo.depth <= 2 * k
        sizes = [e - s for _, s, e, _, _ in fo._steps]
        assert sum(sizes) == fo.n - fo.n_components
        assert len(fo._steps) < fo.depth
    n = 3000
    fo = forest_order(forest_matrix(path(n), rng))
    assert len(fo._steps) == 1                           # one chain: no per-node loop


def test_time_grows_at_most_linearly():
    """10x the nodes (comb trees of 1e4 and 1e5 nodes) take at most 15x the time (minimum of
    several runs; the expected ratio is about 4, since the depth grows like sqrt(n))."""
    rng = np.random.default_rng(0)
    times = []
    for k in (141, 447):
        Q = comb_block(k, k, rng)
        fo = forest_order(Q)
        r = rng.standard_normal(Q.shape[0])
        tree_solve(Q, r, order=fo)
        best = np.inf
        for _ in range(7):
            start = time.perf_counter()
            tree_solve(Q, r, order=fo)
            best = min(best, time.perf_counter() - start)
        times.append(best)
    assert times[1] <= 15 * times[0], times
