"""Graph utilities for forest-structured blocks (greedy block coordinate descent, spec section 5).

A block of variables whose sparsity graph is a forest is solved exactly in ``O(|b|)`` by
:func:`optkit.linalg.tree_solve`. This module builds such blocks:

* on a lattice: :func:`red_black_lattice` (two independent sets) and :func:`comb_partition`
  (two comb-shaped trees), on the grid of :func:`lattice_graph`;
* on any graph: :func:`greedy_coloring` (independent sets), :func:`forest_partition` (a
  partition into forests) and :func:`greedy_forest` (one maximal forest, from a node order);
* :func:`is_forest` checks a block and :func:`remove_nodes` drops nodes (the labelled nodes of
  a label-propagation problem) from blocks and renumbers the rest.

A graph is given by its adjacency matrix, sparse (any format) or dense: the edges are the
off-diagonal non-zero entries, which must be symmetric; the diagonal and the values are
ignored, so the Hessian of a problem serves as its own adjacency. Lattice node ``i`` is the
grid point in row ``i % nrows`` and column ``i // nrows`` (column-major).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from scipy.sparse import csgraph

from optkit._grid import check_grid_shape

__all__ = [
    "lattice_graph",
    "red_black_lattice",
    "comb_partition",
    "greedy_coloring",
    "forest_partition",
    "greedy_forest",
    "is_forest",
    "remove_nodes",
]

Index = NDArray[np.intp]


# -- lattices -----------------------------------------------------------------------------------


def lattice_graph(nrows: int, ncols: int) -> sp.csr_array:
    """The 4-neighbour adjacency of an ``nrows x ncols`` grid.

    Parameters
    ----------
    nrows, ncols : int
        The grid size (at least 1 each).

    Returns
    -------
    scipy.sparse.csr_array
        ``(n, n)`` with ``n = nrows * ncols``: 1.0 for each pair of grid neighbours, no
        diagonal. Node ``i`` is row ``i % nrows``, column ``i // nrows`` (column-major).

    Examples
    --------
    >>> A = lattice_graph(2, 3)
    >>> A.shape, A.nnz // 2
    ((6, 6), 7)
    >>> A.indices[A.indptr[0]:A.indptr[1]].tolist()   # neighbours of node 0 = (row 0, col 0)
    [1, 2]
    """
    nrows, ncols = _check_grid(nrows, ncols)
    grid = _grid(nrows, ncols)
    heads = np.concatenate((grid[:-1, :].ravel(), grid[:, :-1].ravel()))
    tails = np.concatenate((grid[1:, :].ravel(), grid[:, 1:].ravel()))
    n = nrows * ncols
    rows = np.concatenate((heads, tails))
    cols = np.concatenate((tails, heads))
    A = sp.csr_array((np.ones(rows.size), (rows, cols)), shape=(n, n))
    A.sort_indices()
    return A


def red_black_lattice(nrows: int, ncols: int) -> list[Index]:
    """The two colour classes of a grid: row + column even ("red") and odd ("black").

    Each class is an independent set of :func:`lattice_graph`, so the block Hessian of a
    lattice problem on it is diagonal.

    Parameters
    ----------
    nrows, ncols : int
        The grid size.

    Returns
    -------
    list of ndarray
        ``[red, black]``, node indices in increasing order (a 1 x 1 grid has only ``[red]``).

    Examples
    --------
    >>> red_black_lattice(2, 2)
    [array([0, 3]), array([1, 2])]
    """
    nrows, ncols = _check_grid(nrows, ncols)
    i = np.arange(nrows * ncols)
    odd = ((i % nrows) + (i // nrows)) % 2 == 1
    return [block for block in (np.flatnonzero(~odd), np.flatnonzero(odd)) if block.size]


def comb_partition(nrows: int, ncols: int) -> list[Index]:
    """Two comb-shaped spanning trees that together cover a grid once.

    White: the top row (row 0, every column) and rows ``0..nrows-2`` of every even column;
    black: the bottom row (row ``nrows - 1``) and rows ``1..nrows-1`` of every odd column.
    Each is one tree of :func:`lattice_graph` (a row as spine, columns as teeth).

    Parameters
    ----------
    nrows, ncols : int
        The grid size.

    Returns
    -------
    list of ndarray
        ``[white, black]``, node indices in increasing order. With one row the grid is a
        path, a single tree, and the result is ``[all nodes]`` (the recipe would give the
        same row to both).

    Examples
    --------
    >>> comb_partition(3, 2)      # columns (0, 1, 2) and (3, 4, 5)
    [array([0, 1, 3]), array([2, 4, 5])]
    """
    nrows, ncols = _check_grid(nrows, ncols)
    if nrows == 1:
        return [np.arange(ncols)]
    i = np.arange(nrows * ncols)
    r, c = i % nrows, i // nrows
    white = (r == 0) | ((c % 2 == 0) & (r <= nrows - 2))
    return [np.flatnonzero(white), np.flatnonzero(~white)]


# -- general graphs -----------------------------------------------------------------------------


def greedy_coloring(adjacency: Any, order: ArrayLike | None = None) -> list[Index]:
    """A balanced greedy colouring: a partition into independent sets.

    Nodes are visited in ``order``; each gets, among the existing colours that none of its
    already coloured neighbours has, the one with the fewest nodes so far (the first such on
    ties), or else a new colour.

    Parameters
    ----------
    adjacency : (n, n) sparse matrix or array_like
        Symmetric; its off-diagonal non-zero entries are the edges.
    order : (n,) array_like of int, optional
        A permutation of ``0..n-1`` (the spec visits nodes by decreasing Lipschitz constant:
        ``np.argsort(-L, kind="stable")``). Default: ``0, 1, ..., n-1``.

    Returns
    -------
    list of ndarray
        The colour classes in the order they were opened, node indices increasing.

    Raises
    ------
    ValueError
        When ``adjacency`` is not square and symmetric, or ``order`` is not a permutation.

    Examples
    --------
    >>> greedy_coloring(lattice_graph(2, 2))        # a 4-cycle: two colours
    [array([0, 3]), array([1, 2])]
    """
    indptr, indices, n = _pattern_lists(adjacency)
    colour = [-1] * n
    sizes: list[int] = []
    for i in _check_order(order, n, full=True):
        used = {colour[j] for j in indices[indptr[i]:indptr[i + 1]]}
        best = -1
        for k, size in enumerate(sizes):
            if k not in used and (best < 0 or size < sizes[best]):
                best = k
        if best < 0:
            best = len(sizes)
            sizes.append(0)
        colour[i] = best
        sizes[best] += 1
    return _classes(colour, len(sizes))


def forest_partition(adjacency: Any, order: ArrayLike | None = None) -> list[Index]:
    """A greedy partition of the nodes into forests.

    Nodes are visited in ``order``; each goes into the first forest (in creation order) in
    which its neighbours already there lie in distinct trees, so that adding it closes no
    cycle, or else into a new forest. Union-find with path halving, one per forest.

    Parameters
    ----------
    adjacency : (n, n) sparse matrix or array_like
        Symmetric; its off-diagonal non-zero entries are the edges.
    order : (n,) array_like of int, optional
        A permutation of ``0..n-1``. Default: ``0, 1, ..., n-1``.

    Returns
    -------
    list of ndarray
        The forests in creation order, node indices increasing; each induces a forest.

    Raises
    ------
    ValueError
        When ``adjacency`` is not square and symmetric, or ``order`` is not a permutation.

    Examples
    --------
    >>> import numpy as np
    >>> forest_partition(np.ones((3, 3)))           # a triangle: an edge, then a node
    [array([0, 1]), array([2])]
    """
    indptr, indices, n = _pattern_lists(adjacency)
    forest = [-1] * n
    uf = list(range(n))      # union-find parents; every tree lies within one forest
    n_forests = 0
    for i in _check_order(order, n, full=True):
        nbrs = indices[indptr[i]:indptr[i + 1]]
        for f in range(n_forests):
            roots = _distinct_roots(uf, nbrs, forest, f)
            if roots is not None:
                break
        else:
            f, roots = n_forests, []
            n_forests += 1
        forest[i] = f
        for root in roots:
            uf[root] = i
    return _classes(forest, n_forests)


def greedy_forest(adjacency: Any, order: ArrayLike) -> Index:
    """The maximal forest that a greedy scan of ``order`` builds.

    Each node of ``order`` in turn joins the block if its neighbours already in the block lie
    in distinct trees (union-find with path halving), that is, if it closes no cycle. The
    result is maximal among the nodes of ``order``: adding any other of them closes a cycle.
    This is the ``greedy_tree`` block (``order`` by decreasing ``|g_i|``) and the
    ``random_tree`` block (a random ``order``) of the spec. ``O(nnz)`` operations, with a
    Python loop over the nodes.

    Parameters
    ----------
    adjacency : (n, n) sparse matrix or array_like
        Symmetric; its off-diagonal non-zero entries are the edges.
    order : array_like of int
        Distinct nodes, in the order they are offered (usually a permutation of ``0..n-1``).

    Returns
    -------
    ndarray
        The block, node indices increasing.

    Raises
    ------
    ValueError
        When ``adjacency`` is not square and symmetric, or ``order`` has repeated or
        out-of-range nodes.

    Examples
    --------
    >>> A = lattice_graph(2, 2)                     # the 4-cycle 0 - 1 - 3 - 2 - 0
    >>> greedy_forest(A, [3, 2, 1, 0])              # node 0 would close the cycle
    array([1, 2, 3])
    """
    indptr, indices, n = _pattern_lists(adjacency)
    inside = bytearray(n)
    uf = list(range(n))
    for i in _check_order(order, n, full=False):
        roots: list[int] = []
        for j in indices[indptr[i]:indptr[i + 1]]:
            if inside[j]:
                while uf[j] != j:
                    uf[j] = j = uf[uf[j]]
                if j in roots:
                    break
                roots.append(j)
        else:
            inside[i] = 1
            for root in roots:
                uf[root] = i
    return np.flatnonzero(np.frombuffer(bytes(inside), dtype=np.uint8))


def is_forest(adjacency: Any, nodes: ArrayLike | None = None) -> bool:
    """Whether the subgraph induced by ``nodes`` has no cycle.

    A graph is a forest exactly when its number of edges is the number of nodes minus the
    number of connected components (found with :mod:`scipy.sparse.csgraph`), ``O(nnz)``.

    Parameters
    ----------
    adjacency : (n, n) sparse matrix or array_like
        Symmetric; its off-diagonal non-zero entries are the edges.
    nodes : array_like of int, optional
        Distinct nodes (a block). Default: the whole graph.

    Returns
    -------
    bool

    Raises
    ------
    ValueError
        When ``adjacency`` is not square and symmetric, or ``nodes`` has repeated or
        out-of-range nodes.

    Examples
    --------
    >>> A = lattice_graph(2, 2)
    >>> is_forest(A), is_forest(A, [0, 1, 3])
    (False, True)
    """
    P = _pattern(adjacency)
    if nodes is not None:
        block = _check_order(nodes, P.shape[0], full=False, name="nodes")
        P = P[block][:, block]
    k = P.shape[0]
    if k == 0:
        return True
    n_comp = csgraph.connected_components(P, directed=False, return_labels=False)
    return P.nnz // 2 == k - n_comp


def remove_nodes(blocks: Sequence[ArrayLike], nodes: ArrayLike, n: int, *,
                 drop_empty: bool = True) -> list[Index]:
    """Blocks without ``nodes``, renumbered as indices into the remaining nodes.

    For a label-propagation problem on the unlabelled nodes of a lattice: the remaining
    nodes keep their order, so remaining node ``j`` is the ``j``-th smallest node not in
    ``nodes``, and a forest block stays a forest (an induced subgraph of a forest is one).

    Parameters
    ----------
    blocks : sequence of array_like of int
        Blocks of nodes ``0..n-1``.
    nodes : array_like of int
        The nodes to remove (repeats allowed).
    n : int
        The number of nodes.
    drop_empty : bool, optional
        Leave out the blocks that become empty.

    Returns
    -------
    list of ndarray
        The blocks, each in its original order, as indices into the remaining nodes.

    Examples
    --------
    >>> import numpy as np
    >>> remove_nodes([np.array([0, 2, 4]), np.array([1, 3])], [1, 3], 5)
    [array([0, 1, 2])]
    """
    n = _check_count(n, "n")
    drop = _as_nodes(nodes, n, "nodes")
    keep = np.ones(n, dtype=bool)
    keep[drop] = False
    new_index = np.cumsum(keep) - 1
    out = []
    for k, block in enumerate(blocks):
        b = _as_nodes(block, n, f"blocks[{k}]")
        b = new_index[b[keep[b]]]
        if b.size or not drop_empty:
            out.append(b)
    return out


# -- helpers ------------------------------------------------------------------------------------


def _grid(nrows: int, ncols: int) -> NDArray[np.intp]:
    """``grid[r, c]`` = the node index of row ``r``, column ``c`` (column-major)."""
    return np.arange(nrows * ncols).reshape(ncols, nrows).T


def _check_count(value: Any, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def _check_grid(nrows: Any, ncols: Any) -> tuple[int, int]:
    return check_grid_shape((nrows, ncols), dims=2, sides=("nrows", "ncols"))


def _as_nodes(nodes: ArrayLike, n: int, name: str) -> NDArray[np.intp]:
    """``nodes`` as a 1-D integer array of indices in ``0..n-1``."""
    arr = np.asarray(nodes)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.intp)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    if arr.min() < 0 or arr.max() >= n:
        raise ValueError(f"{name} must hold nodes in 0..{n - 1}, got {arr.min()}..{arr.max()}")
    return arr.astype(np.intp, copy=False)


def _check_order(order: ArrayLike | None, n: int, *, full: bool,
                 name: str = "order") -> list[int]:
    """``order`` as a list of distinct nodes (all ``n`` of them when ``full``)."""
    if order is None:
        return list(range(n))
    arr = _as_nodes(order, n, name)
    if np.any(np.bincount(arr, minlength=n) > 1):
        raise ValueError(f"{name} must not repeat a node")
    if full and arr.size != n:
        raise ValueError(f"{name} must be a permutation of 0..{n - 1}, got {arr.size} nodes")
    return arr.tolist()


def _pattern(adjacency: Any) -> sp.csr_array:
    """The edges of ``adjacency``: a canonical CSR array of ones at its off-diagonal non-zero
    entries, checked symmetric."""
    if sp.issparse(adjacency):
        A = sp.coo_array(adjacency)
    else:
        dense = np.asarray(adjacency)
        if dense.ndim != 2:
            raise ValueError(f"adjacency must be a square matrix, got shape {dense.shape}")
        A = sp.coo_array(dense)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"adjacency must be a square matrix, got shape {A.shape}")
    n = A.shape[0]
    keep = (A.row != A.col) & (A.data != 0)
    P = sp.csr_array((np.ones(np.count_nonzero(keep)), (A.row[keep], A.col[keep])),
                     shape=(n, n))
    P.sum_duplicates()
    P.data[:] = 1.0
    T = P.T.tocsr()
    T.sort_indices()
    if not (np.array_equal(P.indptr, T.indptr) and np.array_equal(P.indices, T.indices)):
        raise ValueError("adjacency must be symmetric (an undirected graph)")
    return P


def _pattern_lists(adjacency: Any) -> tuple[list[int], list[int], int]:
    """The CSR ``indptr`` and ``indices`` of :func:`_pattern` as Python lists (fast to loop)."""
    P = _pattern(adjacency)
    return P.indptr.tolist(), P.indices.tolist(), P.shape[0]


def _distinct_roots(uf: list[int], nbrs: list[int], forest: list[int],
                    f: int) -> list[int] | None:
    """The union-find roots of the neighbours in forest ``f``, or ``None`` if two share one."""
    roots: list[int] = []
    for j in nbrs:
        if forest[j] == f:
            while uf[j] != j:
                uf[j] = j = uf[uf[j]]
            if j in roots:
                return None
            roots.append(j)
    return roots


def _classes(label: list[int], k: int) -> list[Index]:
    """The nodes of each label ``0..k-1``, increasing."""
    arr = np.asarray(label, dtype=np.intp)
    by_label = np.argsort(arr, kind="stable")
    bounds = np.searchsorted(arr[by_label], np.arange(k + 1))
    return [by_label[bounds[i]:bounds[i + 1]] for i in range(k)]
