r"""The data sets of the greedy block coordinate descent paper, as optkit problems.

Nutini, Laradji & Schmidt, "Let's Make Block Coordinate Descent Converge Faster: Faster Greedy
Rules, Message-Passing, Active-Set Complexity, and Superlinear Convergence" (JMLR 23(131), 2022)
compare block selection and update rules on five synthetic data sets, regenerated here in Python
from the paper's recipes with ``numpy.random.RandomState(seed)``. With the default ``seed = 1``,
B, C and D are the reference code's data draw for draw (it makes them with NumPy after
``np.random.seed(1)``; D's optimal value matches its recorded one to the last digit); A and E
came from MATLAB ``.mat`` files that it does not ship, so they follow the recipes only:

- ``bcd-A``, ``bcd-A-small`` (:func:`least_squares_A`): ``½‖Ax - y‖²``;
- ``bcd-B``, ``bcd-B-small`` (:func:`logistic_B`): ``Σ_i log(1 + exp(-y_i a_iᵀx)) + ½ l2‖x‖²``;
- ``bcd-C``, ``bcd-C-small`` (:func:`softmax_C`): softmax cross-entropy ``+ ½ l2‖W‖²``;
- ``bcd-D``, ``bcd-D-small`` (:func:`lattice_D`): ``½ xᵀQx - bᵀx``, label propagation on a
  lattice;
- ``bcd-E``, ``bcd-E-small`` (:func:`two_moons_E`): ``½ xᵀQx - bᵀx``, label propagation on a
  two-moons 5-nearest-neighbour graph;
- ``bcd-A-L1``, ``bcd-A-L1-small`` (:func:`nonneg_l1_A`): ``½‖Ax - y‖² + λ Σ_i x_i`` over
  ``x >= 0`` (the active-set experiments);
- ``bcd-lasso-breast-cancer`` (:func:`lasso_breast_cancer`): ``½‖Ax - y‖² + λ‖x‖₁`` on a real
  data set, to compare with scikit-learn's ``Lasso``.

The ``-small`` entries are the CPU-scaled versions of the spec (A, B: ``200 x 1000``; C:
``m = 200, d = 100, k = 10``; D: ``20 x 20`` grid with 40 labels; E: 400 points with 20 labels).
Every problem starts at ``x0 = 0`` and carries ``f_opt``, computed once per data-defining
arguments and cached in memory (how: see each builder), and in ``problem.info`` the facts that
block coordinate descent methods use:

- ``"L_coord"``: the coordinate-wise Lipschitz constants ``L_i`` of ``∇_i f``, the diagonal of
  the Hessian bound (``‖A_{:,i}‖²`` for least squares, ``¼‖A_{:,i}‖² + l2`` for the logistic
  loss, ``¼‖A_{:,f}‖² + l2`` for every class of feature ``f`` for softmax, ``Q_ii`` for the
  quadratics);
- ``"gershgorin"``: the Gershgorin row sums ``d_i = Σ_j |H_ij|`` of the Hessian bound ``H``
  (``AᵀA``, ``¼AᵀA + l2 I``, Böhning's ``½(I - 11ᵀ/k) ⊗ AᵀA + l2 I``, ``Q``), *exact*, so that
  ``diag(d) - H ⪰ 0``; for the data sets built on recipe A the rows of ``|AᵀA|`` are summed in
  chunks of columns without forming the ``n x n`` matrix (about 2 s for ``n = 10000``, once);
- ``"x_opt"``: a minimizer (the minimum-norm one for the underdetermined least squares);
- and per data set: the planted weights, the graph, the labels, the support of ``x*``, ...
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import NDArray
from scipy.sparse.csgraph import connected_components

from optkit.problem import GLMProblem, QuadraticProblem
from problems._catalog import entry
from problems._common import check_int, read_only, reference_minimize

__all__ = [
    "least_squares_A",
    "logistic_B",
    "softmax_C",
    "lattice_D",
    "two_moons_E",
    "nonneg_l1_A",
    "lasso_breast_cancer",
]

Array = NDArray[np.float64]

#: Gradient-norm target of the reference solves of the smooth GLMs (B, C).


# -- argument checks ---------------------------------------------------------------------------


def _check_float(name: str, value: Any, strict: bool = True) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    ok = value > 0 if strict else value >= 0
    if not (math.isfinite(value) and ok):
        raise ValueError(f"{name} must be finite and {'>' if strict else '>='} 0, got {value!r}")
    return value


def _check_seed(seed: Any) -> int:
    return check_int("seed", seed, 0, 2**32 - 1)


def _name(base: str, args: tuple, full: tuple, small: tuple | None) -> str:
    """``base`` for the full-size defaults, ``base-small`` for the small ones, else with args."""
    if args == full:
        return base
    if small is not None and args == small:
        return f"{base}-small"
    return base + "-" + "-".join(f"{a:g}" if isinstance(a, float) else str(a) for a in args)


# -- recipe A: the design matrix of data sets A, B and C ---------------------------------------


def _design(rng: np.random.RandomState, m: int, n: int) -> Array:
    """``randn(m, n) + 1``, column ``j`` scaled by ``10 randn()``, each entry kept with
    probability ``10 log(m) / m`` (the reference code's order of draws)."""
    A = rng.randn(m, n) + 1.0
    A *= 10.0 * rng.randn(n)
    A[rng.rand(m, n) >= 10.0 * np.log(m) / m] = 0.0
    return A


@functools.lru_cache(maxsize=4)
def _design_and_w(m: int, n: int, seed: int) -> tuple[Array, Array, tuple]:
    """``(A, w, state)``: the matrix and planted weights of data sets A and B, and the state of
    the generator after them (A draws its noise from there, B its label flips)."""
    rng = np.random.RandomState(seed)
    A = _design(rng, m, n)
    w = rng.randn(n) * (rng.rand(n) < 0.1)
    read_only(A, w)
    return A, w, rng.get_state()


def _continue(state: tuple) -> np.random.RandomState:
    rng = np.random.RandomState()
    rng.set_state(state)
    return rng


@functools.lru_cache(maxsize=4)
def _data_A(m: int, n: int, seed: int) -> tuple[Array, Array, Array]:
    """``(A, y, w)`` of data set A: ``y = A w + randn(m)``."""
    A, w, state = _design_and_w(m, n, seed)
    y = A @ w + _continue(state).randn(m)
    read_only(y)
    return A, y, w


@functools.lru_cache(maxsize=4)
def _data_B(m: int, n: int, seed: int) -> tuple[Array, Array, Array]:
    """``(A, y, w)`` of data set B: ``y = sign(A w)``, each label flipped with probability 0.1
    (a zero margin, which the default data do not have, counts as ``+1``)."""
    A, w, state = _design_and_w(m, n, seed)
    y = np.where(A @ w < 0, -1.0, 1.0)
    y *= np.where(_continue(state).rand(m) < 0.1, -1.0, 1.0)
    read_only(y)
    return A, y, w


@functools.lru_cache(maxsize=4)
def _data_C(m: int, d: int, k: int, seed: int) -> tuple[Array, Array, Array]:
    """``(A, labels, W)`` of data set C: ``labels = argmax_c (A W + randn(m, k))``."""
    rng = np.random.RandomState(seed)
    A = _design(rng, m, d)
    W = rng.randn(d, k)
    labels = np.argmax(A @ W + rng.randn(m, k), axis=1).astype(float)
    read_only(A, labels, W)
    return A, labels, W


def _gram_facts(A: Array) -> tuple[Array, Array]:
    """``(‖A_{:,i}‖², Σ_j |(AᵀA)_ij|)``, the rows of ``|AᵀA|`` summed in chunks of columns."""
    n = A.shape[1]
    col_sq = np.einsum("ij,ij->j", A, A)
    rows = np.empty(n)
    chunk = max(1, min(n, 10_000_000 // max(n, 1)))
    for start in range(0, n, chunk):
        block = A[:, start:start + chunk]
        rows[start:start + chunk] = np.abs(block.T @ A).sum(axis=1)
    read_only(col_sq, rows)
    return col_sq, rows


@functools.lru_cache(maxsize=4)
def _facts_A(m: int, n: int, seed: int) -> tuple[Array, Array]:
    return _gram_facts(_design_and_w(m, n, seed)[0])


@functools.lru_cache(maxsize=4)
def _facts_C(m: int, d: int, k: int, seed: int) -> tuple[Array, Array]:
    return _gram_facts(_data_C(m, d, k, seed)[0])


def _as_design(A: Array, sparse: bool) -> Any:
    return sp.csr_array(A) if sparse else A


# -- reference solves --------------------------------------------------------------------------


def _least_squares_optimum(A: Array, y: Array) -> tuple[Array, float, int]:
    """``(x_opt, f_opt, rank)`` of ``½‖Ax - y‖²``: the minimum-norm minimizer and the exact
    residual ``½‖(I - AA⁺)y‖²`` (see :func:`least_squares_A`, Notes)."""
    m, n = A.shape
    if m > n:
        x = sla.lstsq(A, y)[0]
        x = x + sla.lstsq(A, y - A @ x)[0]  # one step of iterative refinement
        r = A @ x - y
        return x, 0.5 * float(r @ r), int(np.linalg.matrix_rank(A))
    lam, U = np.linalg.eigh(A @ A.T)
    keep = lam > m * np.finfo(float).eps * max(lam[-1], 0.0)
    Uk, lk = U[:, keep], lam[keep]

    def solve(r: Array) -> Array:  # A⁺ r on the range of A
        return A.T @ (Uk @ ((Uk.T @ r) / lk))

    x = solve(y)
    x = x + solve(y - A @ x)
    null = U[:, ~keep].T @ y
    return x, 0.5 * float(null @ null), int(keep.sum())


def _reference_minimize(problem: GLMProblem) -> tuple[Array, float, float]:
    """Minimize a strongly convex smooth GLM to ``‖∇f‖₂ ≤ 1e-10``
    (:func:`problems._common.reference_minimize`). Returns ``(x, f, ‖∇f(x)‖₂)``."""
    return reference_minimize(problem.value_and_grad, problem.hess_vec, problem.n, problem.name)


def _separable(A: Array, targets: Array) -> bool:
    """Whether ``A X = targets`` has a solution (certified), so that the unregularized logistic
    or softmax loss goes to 0 along ``t X``, ``t → ∞``, and has no minimizer. With ``m <= n``
    a full row rank (the eigenvalues of ``AAᵀ`` above ``m ε λ_max``) certifies it for any
    targets; otherwise the least-squares solution must fit to ``1e-6``."""
    m, n = A.shape
    if m <= n:
        lam = np.linalg.eigvalsh(A @ A.T)
        if lam[0] > m * np.finfo(float).eps * max(lam[-1], 0.0):
            return True
    X = np.linalg.lstsq(A, targets, rcond=None)[0]
    return bool(np.max(np.abs(A @ X - targets)) < 1e-6)


@functools.lru_cache(maxsize=8)
def _separable_B(m: int, n: int, seed: int) -> bool:
    A, y, _ = _data_B(m, n, seed)
    return _separable(A, y)


@functools.lru_cache(maxsize=8)
def _separable_C(m: int, d: int, k: int, seed: int) -> bool:
    A, labels, _ = _data_C(m, d, k, seed)
    return _separable(A, np.eye(k)[labels.astype(int)])


# -- A: least squares --------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _optimum_A(m: int, n: int, seed: int) -> tuple[Array, float, int]:
    A, y, _ = _data_A(m, n, seed)
    x, f, rank = _least_squares_optimum(A, y)
    read_only(x)
    return x, f, rank


@entry("bcd-A-small", "bcd", m=200, n=1000)
@entry("bcd-A", "bcd")
def least_squares_A(m: int = 1000, n: int = 10000, seed: int = 1, sparse: bool = False
                    ) -> GLMProblem:
    r"""Data set A of the greedy BCD paper: least squares ``½‖Ax - y‖²``, sparse-ish columns.

    Parameters
    ----------
    m, n : int, default 1000, 10000
        Rows and columns of ``A`` (the catalog's ``bcd-A-small`` is ``200 x 1000``).
    seed : int, default 1
        Seed of ``numpy.random.RandomState``; the same arguments give the same data.
    sparse : bool, default False
        Give ``A`` as a ``scipy.sparse.csr_array`` instead of a dense array.

    Returns
    -------
    GLMProblem
        ``loss="squared"``, ``x0 = 0``, ``f_opt`` (0 when ``A`` has full row rank) and ``info``
        with ``"L_coord"``, ``"gershgorin"``, ``"x_opt"`` (the minimum-norm minimizer),
        ``"rank"`` (of ``A``), ``"w_true"`` (the planted weights) and ``"density"`` (the
        fraction of non-zero entries of ``A``).

    Notes
    -----
    The recipe (the paper's MATLAB code, drawn in this order): ``A = randn(m, n) + 1``; column
    ``j`` multiplied by ``10 randn()``; each entry kept with probability ``10 log(m) / m``
    (6.9% for ``m = 1000``, 26.5% for ``m = 200``); ``w = randn(n) ⊙ (rand(n) < 0.1)``;
    ``y = A w + randn(m)``.

    ``A`` is dense by default: at 6.9% density a CSR matrix halves the cost of a full gradient
    ``Aᵀr`` (0.4 ms against 1.5 ms for ``1000 x 10000``), but taking a block of columns
    ``A[:, b]``, what block methods do every iteration, costs 0.5 ms instead of 4 µs, and the
    dense matrix (80 MB) keeps every block operation plain NumPy; per greedy iteration the two
    are about even. ``sparse=True`` gives the CSR form.

    ``L_i = ‖A_{:,i}‖²``; ``gershgorin`` holds ``Σ_j |(AᵀA)_ij|``, exact (see the module).

    ``f_opt = ½‖(I - AA⁺)y‖²``, computed from the eigendecomposition ``AAᵀ = U Λ Uᵀ`` (for
    ``m <= n``) as ``½ Σ_{λ_i <= tol} (u_iᵀy)²`` with ``tol = m ε λ_max``: ``A`` of the recipe has
    full row rank (``cond(A) ≈ 11`` for the defaults), so the sum is empty and ``f_opt = 0``
    exactly. ``x_opt = Aᵀ U Λ⁻¹ Uᵀ y`` plus one step of iterative refinement, at which ``f``
    evaluates to about ``1e-24`` (the reference code's ``F*`` is ``8.1e-25``). For ``m > n``,
    ``scipy.linalg.lstsq`` with one refinement step gives ``x_opt`` and ``f_opt = f(x_opt)``.

    Examples
    --------
    >>> from problems.bcd import least_squares_A
    >>> p = least_squares_A(m=200, n=1000)
    >>> p.name, p.A.shape, p.f_opt, p.info["rank"]
    ('bcd-A-small', (200, 1000), 0.0, 200)
    """
    m = check_int("m", m, 1)
    n = check_int("n", n, 1)
    seed = _check_seed(seed)
    A, y, w = _data_A(m, n, seed)
    x_opt, f_opt, rank = _optimum_A(m, n, seed)
    col_sq, gersh = _facts_A(m, n, seed)
    info = {
        "L_coord": col_sq,
        "gershgorin": gersh,
        "x_opt": x_opt,
        "rank": rank,
        "w_true": w,
        "density": float(np.count_nonzero(A)) / A.size,
    }
    return GLMProblem(
        A=_as_design(A, sparse), b=y, loss="squared", x0=np.zeros(n), f_opt=f_opt,
        name=_name("bcd-A", (m, n, seed), (1000, 10000, 1), (200, 1000, 1)), info=info,
    )


# -- B: logistic regression --------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _optimum_B(m: int, n: int, seed: int, l2: float) -> tuple[Array | None, float, float]:
    A, y, _ = _data_B(m, n, seed)
    if l2 == 0.0:
        if not _separable_B(m, n, seed):
            raise ValueError("with l2 = 0 the logistic minimum is not certified to exist (the "
                             "data are not shown separable); give l2 > 0")
        return None, 0.0, 0.0
    return _reference_minimize(GLMProblem(A=A, b=y, loss="logistic", l2=l2, name="logistic_B"))


@entry("bcd-B-small", "bcd", m=200, n=1000)
@entry("bcd-B", "bcd")
def logistic_B(m: int = 1000, n: int = 10000, seed: int = 1, l2: float = 1e-4,
               sparse: bool = False) -> GLMProblem:
    r"""Data set B of the greedy BCD paper: binary logistic regression with a tiny L2 term.

    Parameters
    ----------
    m, n : int, default 1000, 10000
        Rows and columns of ``A`` (the catalog's ``bcd-B-small`` is ``200 x 1000``).
    seed : int, default 1
        Seed of ``numpy.random.RandomState``.
    l2 : float, default 1e-4
        L2 weight. ``0`` is the paper's setting; it is accepted only when the data are shown
        separable (then ``f_opt = 0`` is the infimum, not attained; no ``"x_opt"``).
    sparse : bool, default False
        Give ``A`` as a ``scipy.sparse.csr_array`` (see :func:`least_squares_A`).

    Returns
    -------
    GLMProblem
        ``loss="logistic"``, labels ``±1``, ``x0 = 0``, ``f_opt`` and ``info`` with
        ``"L_coord"``, ``"gershgorin"``, ``"x_opt"``, ``"grad_norm_at_opt"``, ``"separable"``
        and ``"w_true"``.

    Notes
    -----
    ``A`` and ``w`` are those of data set A (same ``m, n, seed``); then ``y = sign(A w)``, each
    label flipped with probability 0.1 (``y ← y sign(rand - 0.1)``).

    The paper minimizes the unregularized loss, but with ``m <= n`` and ``A`` of full row rank
    every labelling is linearly separable: ``f → 0`` along ``t x`` for any ``x`` with
    ``y ⊙ Ax > 0``, so no minimizer exists (the reference code's ``F*`` is ``5e-15``). Any
    ``l2 > 0`` makes ``f`` strongly convex with a unique minimizer; the default ``1e-4`` is
    tiny against the curvature of the data (median ``L_i ≈ 1600`` for the defaults), so the
    first hundreds of iterations of block methods look as on the unregularized problem. The
    data are so separable that ``f_opt`` (``1.6e-4`` for the defaults, ``7.3e-5`` small) is
    mostly the L2 term.

    ``L_i = ¼‖A_{:,i}‖² + l2`` and ``gershgorin = ¼ Σ_j |(AᵀA)_ij| + l2`` bound the Hessian
    ``AᵀSA + l2 I`` (``S ⪯ ¼ I``).

    ``f_opt``: ``scipy.optimize.minimize(method="trust-ncg")`` with the exact Hessian-vector
    product, from 0, to ``‖∇f‖₂ <= 1e-10``, then up to five Newton steps (conjugate gradients)
    kept while they reduce ``‖∇f‖₂``. By strong convexity ``f(x_opt) - f* <= ‖∇f‖²/(2 l2)``,
    below ``1e-16``. About 2 s for the defaults, cached per ``(m, n, seed, l2)``.

    Examples
    --------
    >>> from problems.bcd import logistic_B
    >>> p = logistic_B(m=200, n=1000)
    >>> p.name, sorted(set(p.b.tolist())), p.f_opt < 1e-3
    ('bcd-B-small', [-1.0, 1.0], True)
    """
    m = check_int("m", m, 1)
    n = check_int("n", n, 1)
    seed = _check_seed(seed)
    l2 = _check_float("l2", l2, strict=False)
    A, y, w = _data_B(m, n, seed)
    x_opt, f_opt, gnorm = _optimum_B(m, n, seed, l2)
    col_sq, gersh = _facts_A(m, n, seed)
    info = {
        "L_coord": 0.25 * col_sq + l2,
        "gershgorin": 0.25 * gersh + l2,
        "grad_norm_at_opt": gnorm,
        "separable": _separable_B(m, n, seed),
        "w_true": w,
    }
    if x_opt is not None:
        info["x_opt"] = x_opt
    return GLMProblem(
        A=_as_design(A, sparse), b=y, loss="logistic", l2=l2, x0=np.zeros(n), f_opt=f_opt,
        name=_name("bcd-B", (m, n, seed, l2), (1000, 10000, 1, 1e-4), (200, 1000, 1, 1e-4)),
        info=info,
    )


# -- C: softmax regression ---------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _optimum_C(m: int, d: int, k: int, seed: int, l2: float) -> tuple[Array | None, float, float]:
    A, labels, _ = _data_C(m, d, k, seed)
    if l2 == 0.0:
        if not _separable_C(m, d, k, seed):
            raise ValueError("with l2 = 0 the softmax minimum is not certified to exist (the "
                             "data are not shown separable); give l2 > 0")
        return None, 0.0, 0.0
    return _reference_minimize(GLMProblem(A=A, b=labels, loss="softmax", l2=l2, n_classes=k,
                                          name="softmax_C"))


@entry("bcd-C-small", "bcd", m=200, d=100, k=10)
@entry("bcd-C", "bcd")
def softmax_C(m: int = 1000, d: int = 1000, k: int = 50, seed: int = 1, l2: float = 1e-4,
              sparse: bool = False) -> GLMProblem:
    r"""Data set C of the greedy BCD paper: 50-class softmax regression with a tiny L2 term.

    Parameters
    ----------
    m, d, k : int, default 1000, 1000, 50
        Samples, features and classes; ``n = d k`` variables (50 000 for the defaults; the
        catalog's ``bcd-C-small`` has ``m = 200, d = 100, k = 10``, 1000 variables).
    seed : int, default 1
        Seed of ``numpy.random.RandomState``.
    l2 : float, default 1e-4
        L2 weight; ``0`` (the paper's setting) only for separable data, as in
        :func:`logistic_B`.
    sparse : bool, default False
        Give ``A`` as a ``scipy.sparse.csr_array`` (see :func:`least_squares_A`).

    Returns
    -------
    GLMProblem
        ``loss="softmax"``, ``n_classes = k``, labels ``0..k-1``, ``x0 = 0``, ``f_opt`` and
        ``info`` with ``"L_coord"``, ``"gershgorin"``, ``"x_opt"``, ``"grad_norm_at_opt"``,
        ``"separable"``, ``"W_true"`` and ``"n_classes"``. The variables are ``W`` (``d x k``)
        flattened row-major, ``j = feature k + class``.

    Notes
    -----
    ``A`` (``m x d``) is drawn like data set A's matrix (without its ``w``); then
    ``W = randn(d, k)`` and the label of row ``i`` is ``argmax_c (AW + randn(m, k))_ic``.

    As for B, ``d >= m`` makes the data separable, so the paper's unregularized problem has no
    minimizer (the reference code's ``F*`` is ``1.1e-11``); ``l2 = 1e-4`` makes it exist.

    ``L_j = ¼‖A_{:,f}‖² + l2`` for every class of feature ``f`` (``p_c(1 - p_c) <= ¼`` bounds
    the diagonal of the Hessian). ``gershgorin`` is exact for Böhning's bound
    ``H = ½(I_k - 11ᵀ/k) ⊗ AᵀA + l2 I``: ``(1 - 1/k) Σ_g |(AᵀA)_fg| + l2`` for every class of
    feature ``f``.

    ``f_opt`` as in :func:`logistic_B` (trust-ncg then Newton steps, to ``‖∇f‖₂ <= 1e-10``),
    about 1.5 s for the 50 000 variables of the defaults, so it is computed at full size too.

    Examples
    --------
    >>> from problems.bcd import softmax_C
    >>> p = softmax_C(m=200, d=100, k=10)
    >>> p.name, p.n, p.n_classes
    ('bcd-C-small', 1000, 10)
    """
    m = check_int("m", m, 1)
    d = check_int("d", d, 1)
    k = check_int("k", k, 2)
    seed = _check_seed(seed)
    l2 = _check_float("l2", l2, strict=False)
    A, labels, W = _data_C(m, d, k, seed)
    x_opt, f_opt, gnorm = _optimum_C(m, d, k, seed, l2)
    col_sq, gersh = _facts_C(m, d, k, seed)
    info = {
        "L_coord": np.repeat(0.25 * col_sq, k) + l2,
        "gershgorin": np.repeat((1.0 - 1.0 / k) * gersh, k) + l2,
        "grad_norm_at_opt": gnorm,
        "separable": _separable_C(m, d, k, seed),
        "W_true": W,
        "n_classes": k,
    }
    if x_opt is not None:
        info["x_opt"] = x_opt
    return GLMProblem(
        A=_as_design(A, sparse), b=labels, loss="softmax", l2=l2, n_classes=k,
        x0=np.zeros(d * k), f_opt=f_opt,
        name=_name("bcd-C", (m, d, k, seed, l2), (1000, 1000, 50, 1, 1e-4),
                   (200, 100, 10, 1, 1e-4)),
        info=info,
    )


# -- D and E: graph label propagation ----------------------------------------------------------


def _label_propagation(W: Any, labelled: NDArray[np.intp], labels: Array, what: str) -> dict:
    """The quadratic of spec §1.4 on the unlabelled nodes of the graph ``W`` (CSR, symmetric,
    zero diagonal), its minimizer and facts. Raises ``ValueError`` if a connected component of
    the graph has no labelled node (``Q`` would be singular)."""
    N = W.shape[0]
    n_comp, comp = connected_components(W, directed=False)
    orphans = np.setdiff1d(np.arange(n_comp), comp[labelled])
    if orphans.size:
        sizes = np.bincount(comp)[orphans]
        raise ValueError(
            f"{what}: {orphans.size} connected component(s) of the graph (of {sizes.tolist()} "
            "nodes) hold no labelled node, so Q is singular; use another seed or more labels"
        )
    is_lab = np.zeros(N, bool)
    is_lab[labelled] = True
    unlabelled = np.flatnonzero(~is_lab)
    degree = np.asarray(W.sum(axis=1)).ravel()
    W_U = W[unlabelled]
    graph = sp.csr_array(W_U[:, unlabelled])
    Q = sp.csr_array(sp.diags_array(degree[unlabelled]) - graph)
    Q.sum_duplicates()  # canonical: sorted indices, no duplicates
    graph.sum_duplicates()
    b = W_U[:, labelled] @ labels
    # f + offset = ½ Σ_{edges {i,j}} w_ij (x_i - x_j)², the labelled values held fixed
    W_SS = W[labelled][:, labelled].tocoo()
    to_s = np.asarray(W_U[:, labelled].sum(axis=0)).ravel()
    ss = 0.5 * float(np.sum(W_SS.data * (labels[W_SS.row] - labels[W_SS.col]) ** 2))
    offset = 0.5 * (float(to_s @ labels**2) + ss)
    Qc = Q.tocsc()
    lu = spla.splu(Qc)
    x = lu.solve(b)
    x = x + lu.solve(b - Q @ x)  # one step of iterative refinement
    f_opt = 0.5 * float(x @ (Q @ x)) - float(b @ x)
    if Q.shape[0] <= 200:
        lam_min = float(np.linalg.eigvalsh(Q.toarray())[0])
    else:  # shift-invert around 0: the eigenvalue closest to 0 (Q is positive semidefinite)
        lam_min = float(spla.eigsh(Qc, k=1, sigma=0.0, which="LM", v0=np.ones(Q.shape[0]),
                                   return_eigenvectors=False)[0])
    if not lam_min > 0:
        raise RuntimeError(f"{what}: λ_min(Q) = {lam_min:.3g} is not positive")
    facts = {
        "Q": Q, "b": b, "graph": graph, "unlabelled": unlabelled, "x_opt": x, "f_opt": f_opt,
        "lambda_min": lam_min, "offset": offset, "L_coord": Q.diagonal(),
        "gershgorin": np.asarray(abs(Q).sum(axis=1)).ravel(),
    }
    read_only(*(v for v in facts.values() if not isinstance(v, float)))
    return facts


def _quadratic(facts: dict, labelled: Array, labels: Array, name: str, info: dict
               ) -> QuadraticProblem:
    info = {
        "graph": facts["graph"],
        "unlabelled": facts["unlabelled"],
        "labelled": labelled,
        "labels": labels,
        "x_opt": facts["x_opt"],
        "L_coord": facts["L_coord"],
        "gershgorin": facts["gershgorin"],
        "lambda_min": facts["lambda_min"],
        "energy_offset": facts["offset"],
        **info,
    }
    return QuadraticProblem(facts["Q"], -facts["b"], x0=np.zeros(facts["b"].size),
                            f_opt=facts["f_opt"], name=name, info=info)


@functools.lru_cache(maxsize=8)
def _data_D(nrows: int, ncols: int, n_labels: int, weight: float, seed: int) -> tuple:
    N = nrows * ncols
    rng = np.random.RandomState(seed)
    chosen = rng.choice(N, n_labels, replace=False)
    values = np.zeros(N)
    values[chosen] = 10.0 * rng.randn(n_labels)
    labelled = np.sort(chosen)
    node = np.arange(N)
    row, col = node % nrows, node // nrows
    down, right = node[row < nrows - 1], node[col < ncols - 1]
    i = np.concatenate([down, right])
    j = np.concatenate([down + 1, right + nrows])
    W = sp.coo_array((np.full(i.size, weight), (i, j)), shape=(N, N))
    W = sp.csr_array(W + W.T)
    labels = values[labelled]
    read_only(labelled, labels)
    facts = _label_propagation(W, labelled, labels, "lattice_D")
    return facts, labelled, labels


@entry("bcd-D-small", "bcd", nrows=20, ncols=20, n_labels=40)
@entry("bcd-D", "bcd")
def lattice_D(nrows: int = 50, ncols: int = 50, n_labels: int = 100, weight: float = 1e5,
              seed: int = 1) -> QuadraticProblem:
    r"""Data set D of the greedy BCD paper: label propagation on a lattice, a sparse quadratic.

    Parameters
    ----------
    nrows, ncols : int, default 50, 50
        The grid (the catalog's ``bcd-D-small`` is ``20 x 20`` with 40 labels).
    n_labels : int, default 100
        Number of labelled nodes, drawn uniformly without replacement.
    weight : float, default 1e5
        The weight ``w`` of every edge.
    seed : int, default 1
        Seed of ``numpy.random.RandomState``.

    Returns
    -------
    QuadraticProblem
        ``f(x) = ½ xᵀQx - bᵀx`` (``c = -b``) on the ``N - n_labels`` unlabelled nodes, ``Q``
        a ``scipy.sparse.csr_array``, ``x0 = 0``, ``f_opt`` and ``info`` with
        ``"graph"`` (the weighted adjacency among the unlabelled nodes, CSR), ``"grid_shape"``
        ``(nrows, ncols)``, ``"unlabelled"`` and ``"labelled"`` (sorted grid indices; variable
        ``i`` is node ``unlabelled[i]``), ``"labels"`` (the values on ``labelled``),
        ``"x_opt"``, ``"L_coord"``, ``"gershgorin"``, ``"lambda_min"`` (``λ_min(Q) > 0``) and
        ``"energy_offset"``.

    Notes
    -----
    Node ``i`` of the grid is at row ``i % nrows``, column ``i // nrows`` (column-major, the
    reference code's numbering) and is joined to its 4 neighbours with weight ``w``. The
    labelled nodes are ``rng.choice(N, n_labels, replace=False)``, then their labels
    ``10 rng.randn(n_labels)`` (in the order chosen). On the unlabelled set ``U``
    (spec §1.4):

    .. math:: Q_{ii} = \sum_{j} w_{ij}, \quad Q_{ij} = -w_{ij}\ (i \ne j \in U), \quad
              b_i = \sum_{j \in S} w_{ij} y_j,

    the sum of ``Q_ii`` running over all nodes. ``Q`` is a diagonally dominant M-matrix; the
    builder checks that every connected component holds a labelled node (the lattice is
    connected) and computes ``λ_min(Q)`` (``scipy.sparse.linalg.eigsh``, shift-invert at 0;
    dense ``eigvalsh`` up to 200 unknowns).
    ``f(x) + energy_offset = ½ Σ_{edges {i,j}} w_ij (x_i - x_j)²`` with the labelled values
    fixed.

    ``L_i = Q_ii`` and ``gershgorin = Σ_j |Q_ij|``. ``f_opt = f(x_opt)`` with
    ``x_opt = Q⁻¹b`` by a sparse LU factorization (``scipy.sparse.linalg.splu``) plus one
    step of iterative refinement. For the defaults it is ``-1045999575.2270696``, the
    reference code's value to the last digit.

    Examples
    --------
    >>> from problems.bcd import lattice_D
    >>> p = lattice_D(nrows=20, ncols=20, n_labels=40)
    >>> p.name, p.n, p.info["grid_shape"], p.info["lambda_min"] > 0
    ('bcd-D-small', 360, (20, 20), True)
    """
    nrows = check_int("nrows", nrows, 1)
    ncols = check_int("ncols", ncols, 1)
    n_labels = check_int("n_labels", n_labels, 1, nrows * ncols - 1)
    weight = _check_float("weight", weight)
    seed = _check_seed(seed)
    facts, labelled, labels = _data_D(nrows, ncols, n_labels, weight, seed)
    name = _name("bcd-D", (nrows, ncols, n_labels, weight, seed), (50, 50, 100, 1e5, 1),
                 (20, 20, 40, 1e5, 1))
    return _quadratic(facts, labelled, labels, name, {"grid_shape": (nrows, ncols)})


@functools.lru_cache(maxsize=8)
def _data_E(n_points: int, n_labels: int, n_neighbors: int, noise: float, seed: int) -> tuple:
    from sklearn.neighbors import kneighbors_graph

    rng = np.random.RandomState(seed)
    second = rng.rand(n_points) < 0.5
    phi = np.pi * rng.rand(n_points)
    points = np.where(second[:, None],
                      np.column_stack([1.0 + np.cos(phi), 0.5 - np.sin(phi)]),
                      np.column_stack([np.cos(phi), np.sin(phi)]))
    points += noise * rng.randn(n_points, 2)
    labelled = np.sort(rng.choice(n_points, n_labels, replace=False))
    classes = np.where(second, 2.0, 1.0)
    labels = classes[labelled]
    G = sp.csr_array(kneighbors_graph(points, n_neighbors, mode="connectivity",
                                      include_self=False))
    W = sp.csr_array(G.maximum(G.T))
    read_only(points, classes, labelled, labels)
    facts = _label_propagation(W, labelled, labels, "two_moons_E")
    return facts, labelled, labels, points, classes


@entry("bcd-E-small", "bcd", n_points=400, n_labels=20)
@entry("bcd-E", "bcd")
def two_moons_E(n_points: int = 2000, n_labels: int = 100, seed: int = 1, n_neighbors: int = 5,
                noise: float = 0.2) -> QuadraticProblem:
    r"""Data set E of the greedy BCD paper: label propagation on a two-moons 5-NN graph.

    Parameters
    ----------
    n_points : int, default 2000
        Number of points (the catalog's ``bcd-E-small`` has 400 with 20 labels).
    n_labels : int, default 100
        Number of labelled points, drawn uniformly without replacement.
    seed : int, default 1
        Seed of ``numpy.random.RandomState``.
    n_neighbors : int, default 5
        ``k`` of the symmetrized ``k``-nearest-neighbour graph.
    noise : float, default 0.2
        Standard deviation of the Gaussian noise on each coordinate (``N(0, 0.04)``).

    Returns
    -------
    QuadraticProblem
        ``f(x) = ½ xᵀQx - bᵀx`` on the unlabelled points (``Q`` sparse CSR), ``x0 = 0``,
        ``f_opt`` and ``info`` with ``"graph"``, ``"points"`` (``(n_points, 2)``),
        ``"classes"`` (the true moon, 1 or 2, of every point), ``"unlabelled"``,
        ``"labelled"``, ``"labels"``, ``"x_opt"``, ``"L_coord"``, ``"gershgorin"``,
        ``"lambda_min"`` and ``"energy_offset"``, as for :func:`lattice_D`.

    Notes
    -----
    The spec's recipe (the paper's data came from MATLAB; scikit-learn's ``make_moons`` is a
    different geometry), drawn in this order: each point on the second moon with probability
    ½; an angle ``φ ~ U(0, π)``; moon 1 at ``(cos φ, sin φ)``, moon 2 at
    ``(1 + cos φ, 0.5 - sin φ)``; ``N(0, noise²)`` added to each coordinate; the labelled
    points; their labels are their moon, 1 or 2. ``W_ij = 1`` if ``j`` is among the
    ``n_neighbors`` nearest neighbours of ``i`` or ``i`` among those of ``j``
    (:func:`sklearn.neighbors.kneighbors_graph`, symmetrized with the maximum), so every node
    has degree ``>= n_neighbors``. ``Q``, ``b``, the checks and ``f_opt`` are as in
    :func:`lattice_D`. Some seeds leave a small component of the graph without a label
    (seeds 13 and 97 among 1-100 for the defaults): then ``Q`` is singular and a
    ``ValueError`` says so.

    Examples
    --------
    >>> from problems.bcd import two_moons_E
    >>> p = two_moons_E(n_points=400, n_labels=20)
    >>> p.name, p.n, p.info["points"].shape
    ('bcd-E-small', 380, (400, 2))
    """
    n_points = check_int("n_points", n_points, 2)
    n_labels = check_int("n_labels", n_labels, 1, n_points - 1)
    n_neighbors = check_int("n_neighbors", n_neighbors, 1, n_points - 1)
    noise = _check_float("noise", noise, strict=False)
    seed = _check_seed(seed)
    facts, labelled, labels, points, classes = _data_E(n_points, n_labels, n_neighbors, noise,
                                                       seed)
    name = _name("bcd-E", (n_points, n_labels, seed, n_neighbors, noise), (2000, 100, 1, 5, 0.2),
                 (400, 20, 1, 5, 0.2))
    return _quadratic(facts, labelled, labels, name, {"points": points, "classes": classes})


# -- A-L1: non-negative L1-regularized least squares -------------------------------------------


def _nonneg_l1_active_set(A: Array, y: Array, lam: float, max_iter: int = 100_000) -> Array:
    """The minimizer of ``½‖Ax - y‖² + λ Σ x_i`` over ``x >= 0`` by the Lawson-Hanson active-set
    method (exact on each passive set; the entries outside the support are exact zeros)."""
    n = A.shape[1]
    x = np.zeros(n)
    passive = np.zeros(n, bool)
    tol = 1e-10 * max(lam, float(np.max(np.abs(A.T @ y))))
    ones = np.full(n, lam)
    it = 0
    while it < max_iter:
        g = A.T @ (A @ x - y) + lam
        score = np.where(passive, -np.inf, -g)
        j = int(np.argmax(score))
        if not score[j] > tol:
            return x
        passive[j] = True
        while it < max_iter:
            it += 1
            idx = np.flatnonzero(passive)
            Qf, R = np.linalg.qr(A[:, idx])
            # the stationary point of ½‖A_P z - y‖² + λ1ᵀz: RᵀR z = RᵀQᵀy - λ1
            shift = sla.solve_triangular(R, ones[:idx.size], trans="T")
            z = sla.solve_triangular(R, Qf.T @ y - shift)
            if np.all(z > 0):
                x[:] = 0.0
                x[idx] = z
                break
            neg = np.flatnonzero(z <= 0)
            xs = x[idx]
            ratios = xs[neg] / (xs[neg] - z[neg])
            block = neg[int(np.argmin(ratios))]
            xs = xs + ratios.min() * (z - xs)
            xs[block] = 0.0
            if idx[block] == j and np.all(x[idx] == xs):  # rounding: j cannot enter
                passive[j] = False
                return x
            x[idx] = np.maximum(xs, 0.0)
            passive[idx[x[idx] <= 0]] = False
    raise RuntimeError(f"the active-set solve did not finish in {max_iter} iterations")


@functools.lru_cache(maxsize=8)
def _optimum_A_L1(m: int, n: int, seed: int, lam: float) -> tuple[Array, float, float]:
    A, y, _ = _data_A(m, n, seed)
    x = _nonneg_l1_active_set(A, y, lam)
    r = A @ x - y
    read_only(x)
    return x, 0.5 * float(r @ r) + lam * float(x.sum()), float(np.max(A.T @ y))


@entry("bcd-A-L1-small", "bcd", lam=20000.0, m=200, n=1000)
@entry("bcd-A-L1", "bcd")
def nonneg_l1_A(lam: float = 50000.0, m: int = 1000, n: int = 10000, seed: int = 1,
                sparse: bool = False) -> GLMProblem:
    r"""Data set A with non-negative L1 regularization: ``½‖Ax - y‖² + λ Σ x_i``, ``x >= 0``.

    Parameters
    ----------
    lam : float, default 50000.0
        ``λ`` (the paper's value for the full data; the catalog's ``bcd-A-L1-small`` uses
        ``λ = 20000`` on the ``200 x 1000`` data).
    m, n : int, default 1000, 10000
        Size of data set A.
    seed : int, default 1
        Seed of the data (as in :func:`least_squares_A`).
    sparse : bool, default False
        Give ``A`` as a ``scipy.sparse.csr_array``.

    Returns
    -------
    GLMProblem
        ``loss="squared"``, ``l1 = λ``, ``nonneg=True``, ``x0 = 0``, ``f_opt`` and ``info``
        with ``"x_opt"``, ``"support"`` (the indices where ``x_opt > 0``), ``"lam"``,
        ``"lam_max"`` (``max_i A_{:,i}ᵀy``: ``x* = 0`` iff ``λ >= lam_max``), ``"L_coord"``
        and ``"gershgorin"`` (those of :func:`least_squares_A`: the L1 term is linear on
        ``x >= 0``).

    Notes
    -----
    The active-set experiments of the paper (§6 of the spec). The optimality conditions with
    ``g = Aᵀ(Ax* - y) + λ``: ``g_i = 0`` where ``x*_i > 0`` and ``g_i >= 0`` where
    ``x*_i = 0``.

    ``x_opt`` is computed by the Lawson-Hanson active-set method adapted to the linear term:
    variables enter the passive set one at a time (the most negative ``g_i``), and on a
    passive set ``P`` the subproblem ``min ½‖A_P z - y‖² + λ1ᵀz`` is solved exactly through a
    QR factorization of ``A_P``; the method stops when no ``g_i`` outside ``P`` is below
    ``-1e-10 max(λ, lam_max)``. So the entries outside the support are exact zeros and the
    support needs no threshold; on it ``|g_i| <= 1e-14 λ``. For the defaults ``|supp x*| = 49``
    (the reference's data had 51), ``min x*_S = 2.4e-3``, ``min_{i∉S} g_i = 1.9e-3 λ`` (strict
    complementarity), ``lam_max = 195758`` and ``f_opt = 5453511.84898392``, in 0.2 s. The
    small catalog entry has ``|supp x*| = 16`` of 1000 (``lam_max = 319671``). ``f_opt`` is
    ``f(x_opt)``.

    Examples
    --------
    >>> from problems.bcd import nonneg_l1_A
    >>> p = nonneg_l1_A(lam=20000.0, m=200, n=1000)
    >>> p.name, p.info["support"].size, bool(p.info["x_opt"].min() >= 0)
    ('bcd-A-L1-small', 16, True)
    """
    lam = _check_float("lam", lam, strict=False)
    m = check_int("m", m, 1)
    n = check_int("n", n, 1)
    seed = _check_seed(seed)
    A, y, _ = _data_A(m, n, seed)
    x_opt, f_opt, lam_max = _optimum_A_L1(m, n, seed, lam)
    col_sq, gersh = _facts_A(m, n, seed)
    support = np.flatnonzero(x_opt > 0)
    read_only(support)
    info = {
        "x_opt": x_opt,
        "support": support,
        "lam": lam,
        "lam_max": lam_max,
        "L_coord": col_sq,
        "gershgorin": gersh,
    }
    return GLMProblem(
        A=_as_design(A, sparse), b=y, loss="squared", l1=lam, nonneg=True, x0=np.zeros(n),
        f_opt=f_opt,
        name=_name("bcd-A-L1", (lam, m, n, seed), (50000.0, 1000, 10000, 1),
                   (20000.0, 200, 1000, 1)),
        info=info,
    )


# -- lasso on the breast cancer data -----------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _breast_cancer() -> tuple[Array, Array]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    A = StandardScaler().fit_transform(X)
    b = np.where(y == 1, 1.0, -1.0)
    read_only(A, b)
    return A, b


def _lasso_value(A: Array, y: Array, lam: float, x: Array) -> float:
    r = A @ x - y
    return 0.5 * float(r @ r) + lam * float(np.abs(x).sum())


@functools.lru_cache(maxsize=8)
def _optimum_lasso(lam: float) -> tuple[Array, float, float]:
    """``(x_opt, f_opt, sklearn's f)``: scikit-learn's coordinate descent, then the optimality
    conditions solved exactly on its support with its signs (kept if they check)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Lasso

    A, y = _breast_cancer()
    m = A.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = Lasso(alpha=lam / m, fit_intercept=False, tol=1e-15, max_iter=1_000_000)
        est.fit(A, y)
    x_sk = np.array(est.coef_, dtype=float)
    f_sk = _lasso_value(A, y, lam, x_sk)
    x = x_sk
    support = np.flatnonzero(x_sk)
    if support.size:
        signs = np.sign(x_sk[support])
        As = A[:, support]
        z = np.linalg.solve(As.T @ As, As.T @ y - lam * signs)
        polished = np.zeros_like(x_sk)
        polished[support] = z
        g = A.T @ (A @ polished - y)
        off = np.ones(A.shape[1], bool)
        off[support] = False
        if (np.all(np.sign(z) == signs) and np.all(np.abs(g[off]) <= lam * (1 + 1e-12))
                and _lasso_value(A, y, lam, polished) <= f_sk):
            x = polished
    read_only(x)
    return x, _lasso_value(A, y, lam, x), f_sk


@entry("bcd-lasso-breast-cancer", "bcd")
def lasso_breast_cancer(lam: float = 10.0) -> GLMProblem:
    r"""The lasso ``½‖Ax - y‖² + λ‖x‖₁`` on scikit-learn's breast cancer data (30 features).

    Parameters
    ----------
    lam : float, default 10.0
        ``λ``; ``x* = 0`` iff ``λ >= lam_max = ‖Aᵀy‖_∞ ≈ 436.6``. The default keeps 14 of the
        30 features.

    Returns
    -------
    GLMProblem
        ``loss="squared"``, ``l1 = λ``, ``x0 = 0``, ``f_opt`` and ``info`` with ``"x_opt"``,
        ``"support"``, ``"lam"``, ``"lam_max"``, ``"sklearn_alpha"`` (``λ / m``, the
        ``alpha`` of :class:`sklearn.linear_model.Lasso` for the same problem),
        ``"sklearn_f"`` (the objective at scikit-learn's solution), ``"L_coord"``
        (``‖A_{:,i}‖² = m``) and ``"gershgorin"`` (exact, ``Σ_j |(AᵀA)_ij|``).

    Notes
    -----
    ``A``: the 569 x 30 features standardized with :class:`sklearn.preprocessing.StandardScaler`
    (zero mean, unit population variance, so ``‖A_{:,i}‖² = 569``); ``y = +1`` for label 1
    (benign), ``-1`` otherwise; no intercept. The columns of ``A`` are centred, so the mean of
    ``y`` (0.25) only adds the constant ``m ȳ²/2 = 17.9`` to ``f``, and the ``x*`` of these
    ``±1`` labels is twice that of ``{0, 1}`` labels with ``λ/2``.

    scikit-learn's ``Lasso`` minimizes ``(1/(2m))‖y - Ax‖² + α‖x‖₁ = f / m`` with
    ``α = λ / m``. ``f_opt``: ``Lasso(alpha=λ/m, fit_intercept=False, tol=1e-15,
    max_iter=10**6)``, then, on its support ``S`` with its signs ``s``, the optimality
    conditions ``A_SᵀA_S x_S = A_Sᵀy - λ s`` solved exactly; the solved point replaces
    scikit-learn's when its signs agree, ``|A_iᵀ(Ax - y)| <= λ`` off ``S`` and ``f`` is not
    larger (it is smaller, for the default, by about ``1e-14``). ``f_opt = f(x_opt)``.

    Examples
    --------
    >>> from problems.bcd import lasso_breast_cancer
    >>> p = lasso_breast_cancer()
    >>> p.A.shape, p.info["support"].size
    ((569, 30), 14)
    """
    lam = _check_float("lam", lam, strict=False)
    A, y = _breast_cancer()
    m = A.shape[0]
    x_opt, f_opt, f_sk = _optimum_lasso(lam)
    col_sq, gersh = _gram_facts(A)
    support = np.flatnonzero(x_opt)
    info = {
        "x_opt": x_opt,
        "support": support,
        "lam": lam,
        "lam_max": float(np.max(np.abs(A.T @ y))),
        "sklearn_alpha": lam / m,
        "sklearn_f": f_sk,
        "L_coord": col_sq,
        "gershgorin": gersh,
    }
    name = "bcd-lasso-breast-cancer" if lam == 10.0 else f"bcd-lasso-breast-cancer-{lam:g}"
    return GLMProblem(A=A, b=y, loss="squared", l1=lam, x0=np.zeros(A.shape[1]), f_opt=f_opt,
                      name=name, info=info)
