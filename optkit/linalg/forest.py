"""Solves with matrices whose sparsity graph is a forest (greedy BCD's message passing, spec
section 5): :func:`forest_order` and :func:`tree_solve`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import ArrayLike, NDArray
from scipy.sparse import csgraph

__all__ = ["ForestOrder", "forest_order", "tree_solve"]

#: Relative tolerance of the symmetry check of :func:`forest_order`.
_SYMMETRY_RTOL = 1e-10


@dataclass(frozen=True, eq=False)
class ForestOrder:
    """The elimination order of a matrix whose sparsity graph is a forest.

    Made by :func:`forest_order`; pass it to :func:`tree_solve` as ``order`` to solve many
    systems with matrices of the same sparsity pattern (a fixed block of a greedy block
    coordinate descent) without searching the forest again. It depends only on the pattern:
    :func:`tree_solve` reads the values from the matrix it is given.

    Attributes
    ----------
    n : int
        The size of the matrix.
    order : (n,) ndarray of intp
        The breadth-first visiting order: the roots (the smallest node of each connected
        component) first, in increasing order, then level by level, each node after its
        parent.
    parent : (n,) ndarray of intp
        ``parent[i]`` is the parent of node ``i`` in its tree, ``-1`` for a root.
    level_ptr : (depth + 1,) ndarray of intp
        Level ``k`` (the nodes at distance ``k`` from their root) is
        ``order[level_ptr[k]:level_ptr[k + 1]]``; level 0 holds the roots.
    offdiag : (n,) ndarray of float
        ``Q[parent[i], i]`` of the matrix the order was made from, 0 for a root (for
        inspection: :func:`tree_solve` reads the entries of the matrix it is given).
    """

    n: int
    order: NDArray[np.intp]
    parent: NDArray[np.intp]
    level_ptr: NDArray[np.intp]
    offdiag: NDArray[np.float64] = field(repr=False)
    # Everything below is in breadth-first positions (position k holds node order[k]).
    _parent_pos: NDArray[np.intp] = field(repr=False)      # position of the parent, -1: root
    _local: NDArray[np.intp] = field(repr=False)           # the same, from its level's start
    # The passes: (False, s, e, ps, pe) for a level of positions s:e whose parents lie in
    # ps:pe, (True, s, e, p, 0) for a chain of one-node levels s:e below position p.
    _steps: tuple[tuple[bool, int, int, int, int], ...] = field(repr=False)
    # The canonical CSR structure of the matrix it was made from, and where in its ``data``
    # the entry Q[child, parent] of each non-root position lies; explicit off-diagonal zeros.
    _indptr: NDArray[Any] = field(repr=False)
    _indices: NDArray[Any] = field(repr=False)
    _positions: NDArray[np.intp] = field(repr=False)
    _zeros: NDArray[np.intp] = field(repr=False)

    @property
    def n_components(self) -> int:
        """The number of trees (connected components) of the forest."""
        return int(self.level_ptr[1]) if self.level_ptr.size > 1 else 0

    @property
    def depth(self) -> int:
        """The number of levels (1 + the largest distance of a node from its root)."""
        return self.level_ptr.size - 1


def forest_order(Q: Any) -> ForestOrder:
    """Breadth-first elimination order of a symmetric matrix whose sparsity graph is a forest.

    The sparsity graph has an edge ``i - j`` when ``Q[i, j] != 0`` and ``i != j``. Every
    connected component (tree) is rooted at its smallest node and searched breadth first.
    The cost is ``O(nnz)``; compute the order once per sparsity pattern and pass it to
    :func:`tree_solve`.

    Parameters
    ----------
    Q : (n, n) sparse matrix or array_like
        Symmetric; a sparse matrix of any format, or a dense array.

    Returns
    -------
    ForestOrder

    Raises
    ------
    ValueError
        When ``Q`` is not square, not finite or not symmetric, or when its sparsity graph
        has a cycle.
    TypeError
        When ``Q`` is complex.

    See Also
    --------
    tree_solve

    Examples
    --------
    The path ``1 - 0 - 2`` and the lone node ``3``:

    >>> import numpy as np
    >>> Q = np.array([[3., -1., -1., 0.], [-1., 2., 0., 0.], [-1., 0., 2., 0.], [0., 0., 0., 1.]])
    >>> fo = forest_order(Q)
    >>> fo.order, fo.parent, fo.level_ptr
    (array([0, 3, 1, 2]), array([-1,  0,  0, -1]), array([0, 2, 4]))
    >>> fo.n_components, fo.depth
    (2, 2)
    """
    return _forest_order(_canonical_csr(Q, "Q"))[0]


def tree_solve(Q: Any, r: ArrayLike, *, order: ForestOrder | None = None,
               check: bool = True) -> NDArray[np.float64]:
    """Solve ``Q x = r`` for a symmetric positive definite ``Q`` whose sparsity graph is a forest.

    Gaussian elimination from the leaves to the roots, then back substitution from the roots
    to the leaves (Gaussian belief propagation, exact on trees): no fill-in, ``O(n)``
    operations. The nodes of one breadth-first level are processed together with NumPy, so
    the Python overhead grows with the depth of the forest, not with ``n``.

    Parameters
    ----------
    Q : (n, n) sparse matrix or array_like
        Symmetric positive definite, with a forest as sparsity graph (an edge ``i - j`` when
        ``Q[i, j] != 0``, ``i != j``). Sparse of any format, or dense.
    r : (n,) or (n, 1) array_like
        The right-hand side.
    order : ForestOrder, optional
        :func:`forest_order` of a matrix with the sparsity pattern of ``Q`` (made once and
        reused; its values need not be those of ``Q``). Default: computed here. With an
        order, the symmetry of ``Q`` is not checked again, but its pattern is: when ``Q`` is
        in CSR or CSC format with the same (canonical) structure as the matrix the order was
        made from, that check and the reading of the entries cost ``O(n)`` plus a comparison
        of the index arrays; otherwise ``O(nnz)``.
    check : bool, optional
        Check that ``r`` and the entries used are finite.

    Returns
    -------
    x : (n,) ndarray
        The solution (1-D also for an ``(n, 1)`` right-hand side, as
        :func:`scipy.sparse.linalg.spsolve` returns it).

    Raises
    ------
    ValueError
        When ``Q`` is not square, not symmetric (checked when ``order`` is not given) or not
        positive definite (a pivot of the elimination is not positive); when the sparsity
        graph of ``Q`` is not a forest, or not the forest of ``order``; when ``r`` does not
        match ``Q``; when ``Q`` or ``r`` is not finite.
    TypeError
        When ``order`` is not a :class:`ForestOrder`, or ``Q`` or ``r`` is complex.

    See Also
    --------
    forest_order

    Notes
    -----
    With pivots ``d_i = Q_ii`` and ``c_i = r_i``, the upward pass visits the levels from the
    deepest to the roots and, for each node ``i`` with parent ``p``, subtracts
    ``Q_pi² / d_i`` from ``d_p`` and ``Q_pi c_i / d_i`` from ``c_p`` (the children of one
    parent are summed with :func:`numpy.bincount`). The pivots are Schur complements, hence
    positive if and only if ``Q`` is positive definite. The downward pass sets
    ``x_i = (c_i - Q_ip x_p) / d_i``, roots first.

    Examples
    --------
    A tree ``1 - 0 - 2 - 3`` (the sparsity graph of ``Q``):

    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> Q = sp.csr_array(np.array([[4., -1., -1., 0.],
    ...                            [-1., 2., 0., 0.],
    ...                            [-1., 0., 3., -1.],
    ...                            [0., 0., -1., 2.]]))
    >>> r = np.array([1., 2., 3., 4.])
    >>> x = tree_solve(Q, r)
    >>> np.allclose(Q @ x, r)
    True

    Reuse the order for a matrix with the same pattern:

    >>> fo = forest_order(Q)
    >>> np.allclose(tree_solve(2 * Q, r, order=fo), x / 2)
    True

    A cycle is refused:

    >>> tree_solve(np.ones((3, 3)) + np.eye(3), r[:3])
    Traceback (most recent call last):
    ...
    ValueError: the sparsity graph of Q is not a forest: ...
    """
    if order is None:
        A = _canonical_csr(Q, "Q")
        order, diag, a = _forest_order(A)
        n = order.n
    else:
        if not isinstance(order, ForestOrder):
            raise TypeError(f"order must be a ForestOrder (see forest_order), "
                            f"got {type(order).__name__}")
        n = order.n
        diag, a = _forest_values(Q, order)
    r = _tree_rhs(r, n)
    if check and not (np.all(np.isfinite(r)) and np.all(np.isfinite(diag))
                      and np.all(np.isfinite(a))):
        raise ValueError("Q and r must be finite")
    return _tree_eliminate(order, diag, a, r)


def _canonical_csr(Q: Any, name: str) -> sp.csr_array:
    """``Q`` as a finite, real, square CSR array of floats with sorted, unique indices
    (sharing ``Q``'s arrays when it is already so)."""
    if sp.issparse(Q):
        A = sp.csr_array(Q)
        if not A.has_canonical_format:
            A = A.copy()
            A.sum_duplicates()
    elif isinstance(Q, spla.LinearOperator):
        raise TypeError(f"{name} must be a sparse matrix or an array, not a LinearOperator")
    else:
        dense = np.asarray(Q)
        if dense.ndim != 2:
            raise ValueError(f"{name} must be a square matrix, got shape {dense.shape}")
        A = sp.csr_array(dense)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {A.shape}")
    if np.iscomplexobj(A.data):
        raise TypeError(f"{name} must be real, got dtype {A.dtype}")
    if A.dtype.kind != "f":
        A = A.astype(float)
    if not np.all(np.isfinite(A.data)):
        raise ValueError(f"{name} must be finite")
    return A


def _forest_order(A: sp.csr_array) -> tuple[ForestOrder, NDArray[np.float64],
                                            NDArray[np.float64]]:
    """The order of the canonical CSR ``A``, its diagonal, and the entries ``A[child,
    parent]`` of the non-root breadth-first positions."""
    n = A.shape[0]
    rows = np.repeat(np.arange(n), np.diff(A.indptr))
    cols = A.indices
    explicit_zeros = A.data == 0
    if explicit_zeros.any():
        G = A.copy()
        G.eliminate_zeros()
    else:
        G = A                           # the diagonal does not matter to csgraph
    T = G.T.tocsr()
    T.sort_indices()
    if not (np.array_equal(G.indptr, T.indptr) and np.array_equal(G.indices, T.indices)
            and np.all(np.abs(G.data - T.data) <= _SYMMETRY_RTOL * np.abs(G.data))):
        raise ValueError("Q must be symmetric")
    n_edges = (G.nnz - np.count_nonzero(G.diagonal())) // 2
    n_comp, labels = csgraph.connected_components(G, directed=False)
    if n_edges != n - n_comp:
        raise ValueError(f"the sparsity graph of Q is not a forest: it has a cycle ({n_edges} "
                         f"edges on {n} nodes in {n_comp} connected components; a forest "
                         f"has {n - n_comp})")
    roots = np.sort(np.unique(labels, return_index=True)[1]).astype(np.intp)
    # Breadth-first search from a virtual node n joined to every root (in increasing order).
    aug = sp.csr_array((np.ones(G.nnz + roots.size), np.concatenate((G.indices, roots)),
                        np.concatenate((G.indptr, [G.nnz + roots.size]))), shape=(n + 1, n + 1))
    bfs, pred = csgraph.breadth_first_order(aug, n, directed=True, return_predecessors=True)
    perm = bfs[1:].astype(np.intp)
    parent = pred[:n].astype(np.intp)
    parent[parent == n] = -1
    pos = np.empty(n, dtype=np.intp)
    pos[perm] = np.arange(n)
    n_roots = roots.size
    parent_pos = np.full(n, -1, dtype=np.intp)
    parent_pos[n_roots:] = pos[parent[perm[n_roots:]]]
    # Levels: level k + 1 holds the positions whose parent lies in level k; the parent
    # positions do not decrease along a breadth-first order.
    ptr = [0, n_roots] if n else [0]
    while ptr[-1] < n:
        nxt = int(np.searchsorted(parent_pos, ptr[-1], side="left"))
        if nxt <= ptr[-1]:  # pragma: no cover - a breadth-first order cannot do this
            raise RuntimeError("internal error: breadth-first levels")
        ptr.append(nxt)
    level_ptr = np.asarray(ptr, dtype=np.intp)
    level_of = np.repeat(np.arange(level_ptr.size - 1), np.diff(level_ptr))
    local = np.zeros(n, dtype=np.intp)
    local[n_roots:] = parent_pos[n_roots:] - level_ptr[level_of[n_roots:] - 1]
    steps = _elimination_steps(ptr, parent_pos)
    # Where A[child, parent] lies in A.data, by breadth-first position of the child.
    where = np.flatnonzero(cols == parent[rows])
    positions = np.empty(n - n_roots, dtype=np.intp)
    positions[pos[rows[where]] - n_roots] = where
    a = A.data[positions].astype(float)
    offdiag = np.zeros(n)
    offdiag[perm[n_roots:]] = a
    fo = ForestOrder(
        n=n, order=perm, parent=parent, level_ptr=level_ptr, offdiag=offdiag,
        _parent_pos=parent_pos, _local=local, _steps=steps,
        _indptr=A.indptr.copy(), _indices=A.indices.copy(), _positions=positions,
        _zeros=np.flatnonzero(explicit_zeros & (rows != cols)),
    )
    return fo, A.diagonal().astype(float), a


def _forest_values(Q: Any, order: ForestOrder) -> tuple[NDArray[np.float64],
                                                        NDArray[np.float64]]:
    """The diagonal of ``Q`` and its entries ``Q[child, parent]`` along ``order`` (non-root
    breadth-first positions), after checking that ``Q`` has the order's pattern."""
    n = order.n
    if sp.issparse(Q) and Q.format in ("csr", "csc"):
        # A symmetric pattern has the same canonical CSR and CSC structure; by symmetry the
        # CSC entry at a position is the CSR one of the transpose.
        if (Q.shape == (n, n) and Q.nnz == order._indices.size
                and np.array_equal(Q.indptr, order._indptr)
                and np.array_equal(Q.indices, order._indices)):
            if np.iscomplexobj(Q.data):
                raise TypeError(f"Q must be real, got dtype {Q.dtype}")
            if order._zeros.size and np.any(Q.data[order._zeros] != 0):
                raise ValueError(_PATTERN_MISMATCH)
            return (np.asarray(Q.diagonal(), dtype=float),
                    np.asarray(Q.data[order._positions], dtype=float))
    n_roots = order.n_components
    children = order.order[n_roots:]
    parents = order.parent[children]
    if not sp.issparse(Q):
        dense = np.asarray(Q)
        if dense.shape != (n, n):
            raise ValueError(f"Q has shape {dense.shape} but order is for {(n, n)}")
        if np.iscomplexobj(dense):
            raise TypeError(f"Q must be real, got dtype {dense.dtype}")
        diag = np.diagonal(dense).astype(float)
        a = dense[children, parents].astype(float)
        n_off = np.count_nonzero(dense) - np.count_nonzero(diag)
        if n_off != np.count_nonzero(a) + np.count_nonzero(dense[parents, children]):
            raise ValueError(_PATTERN_MISMATCH)
        return diag, a
    A = _canonical_csr(Q, "Q")
    if A.shape != (n, n):
        raise ValueError(f"Q has shape {A.shape} but order is for {(n, n)}")
    rows = np.repeat(np.arange(n), np.diff(A.indptr))
    cols = A.indices
    off = (rows != cols) & (A.data != 0)
    up = off & (cols == order.parent[rows])        # Q[child, parent]
    down = off & (order.parent[cols] == rows)      # Q[parent, child]
    if np.count_nonzero(off) != np.count_nonzero(up) + np.count_nonzero(down):
        raise ValueError(_PATTERN_MISMATCH)
    full = np.zeros(n)
    full[rows[up]] = A.data[up]
    return A.diagonal().astype(float), full[children]


_PATTERN_MISMATCH = ("the sparsity graph of Q is not the forest of order: Q has off-diagonal "
                     "entries between nodes that are not parent and child in it (compute the "
                     "order of this pattern with forest_order(Q))")


def _tree_rhs(r: ArrayLike, n: int) -> NDArray[np.float64]:
    """``r`` as a float ``(n,)`` array (from ``(n,)`` or ``(n, 1)``)."""
    arr = np.asarray(r)
    if np.iscomplexobj(arr):
        raise TypeError(f"r must be real, got dtype {arr.dtype}")
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.shape != (n,):
        raise ValueError(f"r must have shape ({n},) or ({n}, 1) to match Q, got {arr.shape}")
    return arr.astype(float, copy=False)


def _elimination_steps(ptr: list[int], parent_pos: NDArray[np.intp]
                       ) -> tuple[tuple[bool, int, int, int, int], ...]:
    """The levels below the roots, with each run of at least ``_MIN_CHAIN`` one-node levels (a
    path: each node the only child of the one above) merged into one chain step."""
    steps: list[tuple[bool, int, int, int, int]] = []
    k, depth = 0, len(ptr) - 1
    while k < depth:
        end = k
        while end < depth and ptr[end + 1] - ptr[end] == 1:
            end += 1
        if end - k >= _MIN_CHAIN:
            s = ptr[k]
            steps.append((True, s, ptr[end], int(parent_pos[s]), 0))
            k = end
        else:
            if k > 0:
                steps.append((False, ptr[k], ptr[k + 1], ptr[k - 1], ptr[k]))
            k += 1
    return tuple(steps)


#: Runs of at least this many one-node levels are solved as one tridiagonal system (LAPACK
#: ``?pttrf``/``?pttrs``) instead of level by level.
_MIN_CHAIN = 8


def _tree_eliminate(order: ForestOrder, diag: NDArray[np.float64], a: NDArray[np.float64],
                    r: NDArray[np.float64]) -> NDArray[np.float64]:
    """Upward elimination and downward substitution, one breadth-first level at a time.

    A chain of one-node levels ``s:e`` below position ``p`` is a tridiagonal system ``T``
    (its pivots already updated by the levels below): with ``u = T⁻¹ c`` and
    ``v = T⁻¹ Q[s, p] e_s``, eliminating it sends ``Q[s, p] v_s`` and ``Q[s, p] u_s`` to the
    pivot and right-hand side of ``p``, and the back substitution is ``x = u - v x_p``.
    """
    n = order.n
    perm = order.order
    n_roots = order.n_components
    d = diag[perm]                      # pivots, by breadth-first position
    c = r[perm]
    off = np.zeros(n)                   # Q[parent, child], by breadth-first position
    off[n_roots:] = a
    w = np.zeros(n)                     # multipliers Q[parent, child] / d[child]
    local = order._local
    chains: list[tuple[NDArray[np.float64], NDArray[np.float64] | None]] = []
    bincount, divide, multiply = np.bincount, np.divide, np.multiply
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for chain, s, e, ps, pe in reversed(order._steps):
            if chain:
                chains.append(_chain_up(d, c, off, s, e, ps, perm))
                continue
            ws = divide(off[s:e], d[s:e], out=w[s:e])
            idx = local[s:e]
            m = pe - ps
            d[ps:pe] -= bincount(idx, multiply(ws, off[s:e]), m)
            c[ps:pe] -= bincount(idx, multiply(ws, c[s:e]), m)
        if n and not d.min() > 0:
            k = int(np.argmin(np.where(d > 0, np.inf, -np.inf)))
            raise ValueError(f"Q is not positive definite: the elimination pivot of node "
                             f"{int(perm[k])} is {d[k]:.6g} <= 0")
        x = divide(c, d, out=c)
        parent_pos = order._parent_pos
        for chain, s, e, ps, _ in order._steps:
            if chain:
                u, v = chains.pop()
                x[s:e] = u if v is None else u - v * x[ps]
                continue
            xs = x[s:e]
            xs -= w[s:e] * x[parent_pos[s:e]]
    out = np.empty(n)
    out[perm] = x
    return out


def _chain_up(d: NDArray[np.float64], c: NDArray[np.float64], off: NDArray[np.float64],
              s: int, e: int, p: int, perm: NDArray[np.intp]
              ) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """Eliminate the chain ``s:e`` (bottom first: LAPACK factorizes it reversed) into its
    parent position ``p`` (``-1``: none); return ``u`` and ``v`` (``None`` without a parent)."""
    piv, mult, info = scipy.linalg.lapack.dpttrf(d[s:e][::-1], off[s + 1:e][::-1])
    if info > 0 or not piv.min() > 0:
        k = e - info if info > 0 else e - 1 - int(np.argmin(np.where(piv > 0, np.inf, -np.inf)))
        raise ValueError(f"Q is not positive definite: the elimination pivot of node "
                         f"{int(perm[k])} is not positive")
    rhs = np.zeros((e - s, 1 if p < 0 else 2), order="F")
    rhs[:, 0] = c[s:e][::-1]
    if p >= 0:
        rhs[-1, 1] = off[s]
    sol, _ = scipy.linalg.lapack.dpttrs(piv, mult, rhs)
    sol = sol[::-1]
    d[s:e] = piv[::-1]
    if p < 0:
        return sol[:, 0], None
    d[p] -= off[s] * sol[0, 1]
    c[p] -= off[s] * sol[0, 0]
    return sol[:, 0], sol[:, 1]
