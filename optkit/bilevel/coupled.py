"""Affine coupled lower-level constraints ``G_x x + G_y y <= h`` (or ``= h``) given as data: the
:class:`optkit.BilevelProblem` fields they make, and Euclidean projections onto affine sets.

LV-HBA (``method="lv-hba"``) projects every iterate onto the coupled feasible set
``C = {(x, y) : g(x, y) <= 0}``. For affine constraints the projection has a closed form onto
an affine subspace (equalities, or one hyperplane) and onto one half-space; for several
inequalities whose rows are linearly independent it is solved exactly by a warm-started dual
active-set method; otherwise it is a small quadratic program, compiled once by cvxpy with the
point as a parameter and warm-started at every call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

__all__ = ["affine_constraints", "affine_projection"]

Array = NDArray[np.float64]
Matrix = Any  # a dense array or a SciPy sparse matrix

#: The QP solvers cvxpy may use for a projection (installed with cvxpy).
QP_SOLVERS = ("OSQP", "CLARABEL")
#: CLARABEL's tolerances in a projection (its defaults, 1e-8, leave errors near 1e-5).
CLARABEL_SETTINGS = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}
#: Every ``solver`` of :func:`affine_projection`.
SOLVERS = ("auto", "active-set", *QP_SOLVERS)
#: The most inequalities the dual active-set method takes (its Gram matrix is dense).
MAX_ACTIVE_SET_ROWS = 4000
_SOLVED = ("optimal", "optimal_inaccurate")
_INFEASIBLE = ("infeasible", "infeasible_inaccurate")


def _matrix(name: str, G: Any, rows: int | None = None) -> Matrix:
    """``G`` as a 2-D float64 array or CSR matrix, checked finite (and of ``rows`` rows)."""
    if sp.issparse(G):
        G = sp.csr_array(G, dtype=np.float64)
        values = G.data
    else:
        G = np.asarray(G, dtype=np.float64)
        if G.ndim == 1:
            G = G[np.newaxis, :]
        values = G
    if G.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {G.shape}")
    if rows is not None and G.shape[0] != rows:
        raise ValueError(f"{name} must have {rows} rows (one per constraint), got {G.shape[0]}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must be finite")
    return G


def affine_projection(G: Any, h: ArrayLike, *, equality: bool = False,
                      solver: str = "auto") -> Callable[[Array], Array]:
    """The Euclidean projection onto ``{w : G w <= h}`` (``G w = h`` with ``equality``).

    Parameters
    ----------
    G : (l, d) array_like or sparse matrix
        The constraints' matrix.
    h : (l,) array_like
        Their right-hand side.
    equality : bool, default False
        Project onto the affine subspace ``G w = h`` (closed form).
    solver : {"auto", "active-set", "OSQP", "CLARABEL"}, default "auto"
        How two or more inequalities are handled. ``"active-set"``: the dual active-set
        method (Notes), exact and warm-started from the previous projection's active set;
        it needs linearly independent rows (``G Gᵀ`` positive definite), at most 4000 of
        them (``MAX_ACTIVE_SET_ROWS``). ``"OSQP"``: cvxpy's QP, warm-started, solved to
        1e-6 and polished (the active set's KKT system solved exactly: errors near
        rounding), CLARABEL taking over when the polish fails. ``"CLARABEL"``: an interior-point
        method, accurate but not warm-started. ``"auto"``: the active-set method when it
        applies, OSQP otherwise.

    Returns
    -------
    callable
        ``project(w) -> w'``, a new array.

    Raises
    ------
    ValueError
        For mismatched shapes, non-finite data or an unknown solver; with ``equality``, when
        ``G w = h`` has no solution. The returned function raises ``ValueError`` when the
        set is empty (an infeasible QP), or the QP solver fails.

    Notes
    -----
    Equalities: ``w - G⁺ (G w - h)``, with the pseudo-inverse ``G⁺`` computed once (so
    redundant rows are fine). One inequality ``aᵀw <= b``: ``w - max(aᵀw - b, 0) a/‖a‖²``.
    More inequalities: ``min ‖w' - w‖²`` subject to ``G w' <= h``; a point that already
    satisfies every constraint is its own projection and skips any solve. The active-set
    method solves the dual, ``min_{λ >= 0} ½ λᵀ G Gᵀ λ - λᵀ (G w - h)`` with
    ``w' = w - Gᵀ λ``, by primal-dual active-set steps (Hintermüller, Ito and Kunisch
    2002): the active set ``A = {i : λ_i > μ_i}`` of the multipliers ``λ`` and slacks
    ``μ = h - G w'``, the system ``(G Gᵀ)_AA λ_A = (G w - h)_A``, until ``A`` repeats --
    exact up to rounding, and from the previous call's active set (LV-HBA's iterates move
    little) one or two small dense solves. Should it cycle (it may when ``G Gᵀ`` is far from
    diagonal), OSQP finishes that projection. The cvxpy QP is compiled once with ``w`` a
    parameter; when OSQP fails or cannot polish its solution CLARABEL solves the same
    problem. Coordinates that no
    constraint involves (zero columns of ``G``) are left out of every solve and returned
    unchanged: with a per-example penalty in ``x`` that the constraints do not touch, the QP
    only has ``y``'s coordinates.

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.bilevel import affine_projection
    >>> project = affine_projection(np.ones((1, 3)), [0.0], equality=True)  # 1ᵀw = 0
    >>> np.round(project(np.array([1.0, 2.0, 6.0])), 12)
    array([-2., -1.,  3.])
    >>> box = affine_projection(np.vstack([np.eye(2), -np.eye(2)]), np.ones(4))  # |w_i| <= 1
    >>> np.round(box(np.array([3.0, -0.5])), 6)
    array([ 1. , -0.5])
    """
    h = np.atleast_1d(np.asarray(h, dtype=np.float64))
    if h.ndim != 1 or not np.all(np.isfinite(h)):
        raise ValueError(f"h must be a finite vector, got shape {h.shape}")
    G = _matrix("G", G, h.shape[0])
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    used = np.flatnonzero(abs(G).sum(axis=0) != 0) if G.size else np.zeros(0, dtype=int)
    if used.size == G.shape[1]:
        return _projection(G, h, equality, solver)
    # coordinates no constraint involves are their own projection: leave them out
    inner = _projection(G[:, used], h, equality, solver)

    def project_used(w: Array) -> Array:
        out = np.array(w, dtype=np.float64)
        out[used] = inner(out[used])
        return out

    return project_used


def _projection(G: Matrix, h: Array, equality: bool, solver: str) -> Callable[[Array], Array]:
    """:func:`affine_projection` for a ``G`` without zero columns."""
    if equality:
        dense = G.toarray() if sp.issparse(G) else G
        pinv = np.linalg.pinv(dense)
        w0 = pinv @ h
        if not np.allclose(dense @ w0, h, rtol=1e-9, atol=1e-9 * (1 + np.abs(h).max())):
            raise ValueError("the equality constraints G w = h have no solution")

        def project_subspace(w: Array) -> Array:
            return w - pinv @ (G @ w - h)

        return project_subspace
    if G.shape[0] == 1:
        a = G.toarray()[0] if sp.issparse(G) else G[0]
        a_sq, b = float(a @ a), float(h[0])
        if a_sq == 0.0:
            raise ValueError("the half-space's normal G[0] must not be zero")

        def project_half_space(w: Array) -> Array:
            excess = float(a @ w) - b
            return w - (excess / a_sq) * a if excess > 0.0 else w.copy()

        return project_half_space
    if solver in ("auto", "active-set"):
        projection = _ActiveSetProjection.build(G, h)
        if projection is not None:
            return projection
        if solver == "active-set":
            raise ValueError(
                f"solver='active-set' needs at most {MAX_ACTIVE_SET_ROWS} linearly independent "
                f"rows of G (G Gᵀ positive definite); use solver='OSQP' for these "
                f"{G.shape[0]} rows")
        solver = "OSQP"
    return _QPProjection(G, h, solver)


class _ActiveSetProjection:
    """``w -> argmin ‖w' - w‖²`` subject to ``G w' <= h`` by primal-dual active-set steps on
    the dual (see :func:`affine_projection`), warm-started from the last active set."""

    #: Active-set steps before OSQP takes over (a cycle; never seen in LV-HBA's problems).
    MAX_STEPS = 50

    def __init__(self, G: Matrix, h: Array, gram: Array) -> None:
        self.G, self.h, self.gram = G, h, gram
        self.active = np.zeros(h.shape[0], dtype=bool)  # the last projection's active set
        self.steps = 0  # the last projection's active-set steps (dense solves)
        self.fallback: _QPProjection | None = None

    @classmethod
    def build(cls, G: Matrix, h: Array) -> _ActiveSetProjection | None:
        """The projection, or ``None`` when the rows of ``G`` are too many or dependent."""
        if G.shape[0] > MAX_ACTIVE_SET_ROWS:
            return None
        gram = G @ G.T
        gram = np.asarray(gram.toarray() if sp.issparse(gram) else gram, dtype=np.float64)
        try:  # positive definite to well above rounding: every A's system is solvable
            factor = scipy.linalg.cholesky(gram, lower=True)
        except np.linalg.LinAlgError:
            return None
        pivots = np.diag(factor) ** 2
        if pivots.min() <= 1e-10 * pivots.max():
            return None
        return cls(G, h, gram)

    def __call__(self, w: Array) -> Array:
        w = np.asarray(w, dtype=np.float64)
        q = self.G @ w - self.h  # the violations: w is its own projection when q <= 0
        if np.all(q <= 0.0):
            self.steps = 0
            return w.copy()
        active = self.active.copy()
        lam = np.zeros_like(q)
        tie = 1e-14 * (1.0 + np.abs(q).max())  # rounding-level ties stay inactive
        for steps in range(1, self.MAX_STEPS + 1):
            self.steps = steps
            lam[:] = 0.0
            if active.any():
                lam[active] = scipy.linalg.solve(self.gram[np.ix_(active, active)], q[active],
                                                 assume_a="pos", check_finite=False)
            slack = self.gram @ lam - q
            new = lam - slack > tie
            if np.array_equal(new, active):
                self.active = active
                return w - self.G.T @ lam
            active = new
        if self.fallback is None:
            self.fallback = _QPProjection(self.G, self.h, "OSQP")
        return self.fallback(w)


class _QPProjection:
    """``w -> argmin ‖w' - w‖²`` subject to ``G w' <= h``, one cvxpy problem compiled once."""

    def __init__(self, G: Matrix, h: Array, solver: str) -> None:
        import cvxpy as cp

        self.G, self.h, self.solver = G, h, solver
        d = G.shape[1]
        self.point = cp.Parameter(d)
        self.var = cp.Variable(d)
        self.problem = cp.Problem(cp.Minimize(cp.sum_squares(self.var - self.point)),
                                  [G @ self.var <= h])
        self.settings: dict[str, Any] = CLARABEL_SETTINGS
        if solver == "OSQP":
            import osqp

            polish = "polishing" if int(osqp.__version__.split(".")[0]) >= 1 else "polish"
            self.settings = {"eps_abs": 1e-6, "eps_rel": 1e-6, polish: True,
                             "max_iter": 100_000}

    def __call__(self, w: Array) -> Array:
        if np.all(self.G @ w <= self.h):
            return np.array(w, dtype=np.float64)
        self.point.value = w
        status = self._solve(self.solver, self.settings)
        if self.solver == "OSQP" and not (status in _INFEASIBLE or (
                status in _SOLVED and self._polished())):
            status = self._solve("CLARABEL", CLARABEL_SETTINGS)
        if status in _INFEASIBLE:
            raise ValueError("the coupled feasible set {G_x x + G_y y <= h} is empty: no point "
                             "to project onto")
        if status not in _SOLVED or self.var.value is None:
            raise ValueError(f"the projection onto {{G_x x + G_y y <= h}} failed: the QP "
                             f"solvers ended with status {status!r}")
        return np.array(self.var.value, dtype=np.float64)

    def _polished(self) -> bool:
        """Whether OSQP's last solve was polished: its active set's KKT system solved exactly
        (errors near rounding, though its own tolerance is 1e-6)."""
        info = getattr(self.problem.solver_stats.extra_stats, "info", None)
        return getattr(info, "status_polish", None) == 1

    def _solve(self, solver: str, settings: dict[str, Any]) -> str:
        """Solve with ``solver``: its status (``"solver_error"`` when it raises)."""
        import cvxpy as cp

        try:
            self.problem.solve(solver=solver, warm_start=True, **settings)
        except cp.error.SolverError:
            return "solver_error"
        return self.problem.status


def affine_constraints(G_x: Any, G_y: Any, h: ArrayLike, *, equality: bool = False,
                       solver: str = "auto") -> dict[str, Callable[..., Any]]:
    """The :class:`optkit.BilevelProblem` fields of the affine coupled constraints
    ``G_x x + G_y y <= h`` (or ``= h`` with ``equality``).

    Parameters
    ----------
    G_x : (l, n) array_like or sparse matrix
        The constraints' matrix on the upper variable (zeros when only ``y`` is constrained).
    G_y : (l, m) array_like or sparse matrix
        Their matrix on the lower variable.
    h : (l,) array_like
        Their right-hand side.
    equality : bool, default False
        Equality constraints, written as the ``2l`` inequalities ``s <= 0`` and ``-s <= 0``,
        ``s = G_x x + G_y y - h`` (the form of LV-HBA's theory: each has a multiplier in
        ``[0, r]``).
    solver : {"auto", "active-set", "OSQP", "CLARABEL"}, default "auto"
        How the projection handles two or more inequalities (:func:`affine_projection`).

    Returns
    -------
    dict
        ``constraints`` (``(x, y) -> g``, ``l`` values, ``2l`` with ``equality``),
        ``constraints_jvp_x`` and ``constraints_jvp_y`` (``(x, y, lam) -> G_xᵀ lam`` and
        ``G_yᵀ lam``, with ``lam`` folded as ``lam[:l] - lam[l:]`` for equalities) and
        ``proj_xy`` (``(x, y) -> (x', y')``, the Euclidean projection onto the feasible set):
        pass them to :class:`optkit.BilevelProblem` as keywords.

    Raises
    ------
    ValueError
        For mismatched shapes, non-finite data, an unknown solver, or inconsistent equalities.

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.bilevel import affine_constraints
    >>> fields = affine_constraints(np.ones((1, 2)), np.ones((1, 3)), [0.0], equality=True)
    >>> x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0, 5.0])
    >>> fields["constraints"](x, y)              # 1ᵀx + 1ᵀy = 15: the pair (s, -s)
    array([ 15., -15.])
    >>> [np.round(v, 12) for v in fields["proj_xy"](x, y)]  # minus the mean, 3, everywhere
    [array([-2., -1.]), array([0., 1., 2.])]
    """
    h = np.atleast_1d(np.asarray(h, dtype=np.float64))
    G_x, G_y = _matrix("G_x", G_x, h.shape[0]), _matrix("G_y", G_y, h.shape[0])
    n = G_x.shape[1]
    stack = sp.hstack if sp.issparse(G_x) or sp.issparse(G_y) else np.hstack
    project = affine_projection(stack([G_x, G_y]), h, equality=equality, solver=solver)

    def constraints(x: Array, y: Array) -> Array:
        s = G_x @ x + G_y @ y - h
        return np.concatenate([s, -s]) if equality else s

    def fold(lam: Array) -> Array:
        return lam[:h.shape[0]] - lam[h.shape[0]:] if equality else lam

    def constraints_jvp_x(x: Array, y: Array, lam: Array) -> Array:
        return G_x.T @ fold(lam)

    def constraints_jvp_y(x: Array, y: Array, lam: Array) -> Array:
        return G_y.T @ fold(lam)

    def proj_xy(x: Array, y: Array) -> tuple[Array, Array]:
        w = project(np.concatenate([x, y]))
        return w[:n], w[n:]

    return {"constraints": constraints, "constraints_jvp_x": constraints_jvp_x,
            "constraints_jvp_y": constraints_jvp_y, "proj_xy": proj_xy}
