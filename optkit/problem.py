"""Problem types: small frozen dataclasses that describe *what* is solved.

Solvers never care where a problem came from; they call the oracle methods
(:meth:`Problem.value`, :meth:`Problem.gradient`, :meth:`Problem.value_and_grad`,
:meth:`Problem.hessian`, :meth:`Problem.hess_vec`) and read the structure of the
structured kinds (``Q`` of a :class:`QuadraticProblem`, ``A`` of a :class:`GLMProblem`).

Every kind checks its inputs when it is built and raises an error that names the argument.
A method declares which kinds it accepts; :func:`optkit.minimize` checks before any work.
Where one kind is naturally another, an explicit adapter converts it
(:meth:`LinearSystem.as_quadratic`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, logsumexp, softmax

from optkit._grid import check_grid_shape
from optkit.prox import prox_l1

__all__ = [
    "Problem",
    "CompositeProblem",
    "QuadraticProblem",
    "GLMProblem",
    "BilevelProblem",
    "LinearSystem",
]

Array = NDArray[np.float64]


# -- input checks shared by every kind ---------------------------------------------------------


def _check_callable(name: str, value: Any, required: bool = False) -> None:
    if value is None:
        if required:
            raise TypeError(f"{name} is required")
        return
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {type(value).__name__}")


def as_vector(name: str, value: ArrayLike | None) -> Array | None:
    """``value`` as a finite 1-D float array, or ``None``; raise ``ValueError`` naming it."""
    if value is None:
        return None
    arr = np.atleast_1d(np.asarray(value))
    if arr.ndim != 1:
        raise ValueError(f"'{name}' must only have one dimension.")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ValueError(f"'{name}' must be a real numeric array, got dtype {arr.dtype}")
    arr = arr.astype(float)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"'{name}' must be finite (it contains NaN or inf)")
    return arr


def _check_f_opt(f_opt: float | None) -> float | None:
    if f_opt is None:
        return None
    value = float(f_opt)
    if not math.isfinite(value):
        raise ValueError(f"f_opt must be finite or None, got {f_opt!r}")
    return value


def _set(obj: Any, name: str, value: Any) -> None:
    """Set a field of a frozen dataclass while it is being built (``__post_init__`` only)."""
    object.__setattr__(obj, name, value)


# -- smooth problems ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, kw_only=True)
class Problem:
    """A smooth unconstrained problem ``min_x f(x)``.

    Give ``fun`` and ``grad``, or ``fun_and_grad`` returning ``(f, g)`` (one evaluation for
    both), or only ``fun`` (methods that need a gradient then use finite differences).

    Parameters
    ----------
    fun : callable, optional
        ``fun(x) -> float``.
    grad : callable, optional
        ``grad(x) -> ndarray`` of the shape of ``x``.
    fun_and_grad : callable, optional
        ``fun_and_grad(x) -> (float, ndarray)``.
    hess : callable, optional
        ``hess(x) -> (n, n)`` ndarray, sparse matrix or ``LinearOperator``.
    hessp : callable, optional
        ``hessp(x, v) -> ndarray``, the Hessian-vector product.
    hess_approx : mapping of str to callable, optional
        Named Hessian approximations (``"gauss-newton"``, ``"fisher"``, ...), each
        ``approx(x)`` returning a dense or sparse matrix, a ``LinearOperator`` or an
        :class:`optkit.linalg.LowRank`. Methods that take approximations also accept
        ``"exact"`` (``hess``). Calls count as Hessian evaluations (``nhev``).
    sample : callable, optional
        For stochastic methods: ``sample(batch_size, rng) -> Problem``, the objective on a
        random mini-batch (same variables, an unbiased estimate of ``f`` up to scaling).
    x0 : array_like, optional
        Default starting point.
    f_opt : float, optional
        The known optimal value (for suboptimality plots), when known.
    name : str
        A short name, used in plots and tables.
    info : mapping, optional
        Other facts about the problem that methods or examples may use, by name (a natural
        metric ``"metric"``, the data matrix, the minimizer ``"x_opt"``, ...).
    """

    fun: Callable[[Array], float] | None = None
    grad: Callable[[Array], Array] | None = None
    fun_and_grad: Callable[[Array], tuple[float, Array]] | None = None
    hess: Callable[[Array], Any] | None = None
    hessp: Callable[[Array, Array], Array] | None = None
    hess_approx: Mapping[str, Callable[[Array], Any]] = field(default_factory=dict)
    sample: Callable[[int, np.random.Generator], Problem] | None = None
    x0: ArrayLike | None = None
    f_opt: float | None = None
    name: str = "problem"
    info: Mapping[str, Any] = field(default_factory=dict)

    #: Oracle fields that count as evaluations, and the counter each one increments.
    counted_oracles: ClassVar[dict[str, tuple[str, ...]]] = {
        "fun": ("nfev",),
        "grad": ("njev",),
        "fun_and_grad": ("nfev", "njev"),
        "hess": ("nhev",),
        "hessp": ("nhev",),
    }
    #: What a method may declare it ``needs`` of this kind (:func:`optkit.register`):
    #: ``"grad"`` (finite differences fill it in when missing), ``"hess"`` (``hess`` or
    #: ``hessp``).
    oracle_needs: ClassVar[tuple[str, ...]] = ("grad", "hess")
    #: The variables of this kind; ``minimize`` takes a start for each (``x0``).
    variables: ClassVar[tuple[str, ...]] = ("x",)
    #: Fields returning the problem on a mini-batch (their oracles are counted too).
    samplers: ClassVar[tuple[str, ...]] = ("sample",)

    def __post_init__(self) -> None:
        for name in self.counted_oracles:
            _check_callable(name, getattr(self, name))
        _check_callable("sample", self.sample)
        if self.fun is None and self.fun_and_grad is None:
            raise TypeError(f"{type(self).__name__} needs fun or fun_and_grad")
        if not isinstance(self.hess_approx, Mapping):
            raise TypeError("hess_approx must be a mapping from names to callables")
        for key, approx in self.hess_approx.items():
            _check_callable(f"hess_approx[{key!r}]", approx, required=True)
        _set(self, "x0", as_vector("x0", self.x0))
        _set(self, "f_opt", _check_f_opt(self.f_opt))
        _set(self, "hess_approx", dict(self.hess_approx))
        if not isinstance(self.info, Mapping):
            raise TypeError(f"info must be a mapping, got {type(self.info).__name__}")

    # The oracles. Solvers call these, never the fields, so every way of giving the
    # derivatives works with every method.

    @property
    def has_grad(self) -> bool:
        """Whether an analytic gradient is available."""
        return self.grad is not None or self.fun_and_grad is not None

    @property
    def has_hess(self) -> bool:
        """Whether Hessian-vector products are available (from ``hessp`` or ``hess``)."""
        return self.hess is not None or self.hessp is not None

    def provides(self, need: str) -> bool:
        """Whether the problem has what a method ``needs`` (one of :attr:`oracle_needs`)."""
        return self.has_grad if need == "grad" else self.has_hess

    def value(self, x: Array) -> float:
        """``f(x)``."""
        if self.fun is not None:
            return self.fun(x)
        return self.fun_and_grad(x)[0]

    def gradient(self, x: Array) -> Array:
        """``∇f(x)``."""
        if self.grad is not None:
            return self.grad(x)
        if self.fun_and_grad is not None:
            return self.fun_and_grad(x)[1]
        raise TypeError(f"problem {self.name!r} has no gradient")

    def value_and_grad(self, x: Array) -> tuple[float, Array]:
        """``(f(x), ∇f(x))``, with one evaluation when ``fun_and_grad`` is given."""
        if self.fun_and_grad is not None:
            return self.fun_and_grad(x)
        return self.value(x), self.gradient(x)

    def hessian(self, x: Array) -> Any:
        """``∇²f(x)`` as given by ``hess``."""
        if self.hess is None:
            raise TypeError(f"problem {self.name!r} has no Hessian (hess)")
        return self.hess(x)

    def hess_vec(self, x: Array, v: Array) -> Array:
        """``∇²f(x) v`` from ``hessp``, else from ``hess``."""
        if self.hessp is not None:
            return self.hessp(x, v)
        return self.hessian(x) @ v

    def objective(self, x: Array) -> float:
        """The full objective at ``x`` (``f`` here; ``f + g`` for composite problems)."""
        return self.value(x)


@dataclass(frozen=True, eq=False, kw_only=True)
class CompositeProblem(Problem):
    """``min_x f(x) + g(x)`` with ``f`` smooth (the :class:`Problem` oracles) and ``g``
    simple: its value ``g_fun`` and its proximal operator ``prox_g``.

    Parameters
    ----------
    g_fun : callable
        ``g_fun(x) -> float``.
    prox_g : callable
        ``prox_g(x, step) -> argmin_z g(z) + ||z - x||^2 / (2 step)``.
    **kwargs
        The fields of :class:`Problem` (for the smooth part ``f``).
    """

    g_fun: Callable[[Array], float] | None = None
    prox_g: Callable[[Array, float], Array] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_callable("g_fun", self.g_fun, required=True)
        _check_callable("prox_g", self.prox_g, required=True)

    @property
    def nonsmooth(self) -> bool:
        """Whether ``g`` is there at all: a method for smooth problems would ignore it."""
        return True

    def objective(self, x: Array) -> float:
        """``f(x) + g(x)``."""
        return self.value(x) + self.g_fun(x)


def _as_matrix(name: str, value: Any, square: bool = False) -> Any:
    """A dense or sparse 2-D float matrix with finite entries; raise ``ValueError`` naming it."""
    if sp.issparse(value):
        mat = sp.csr_array(value, dtype=float)
        data = mat.data
    else:
        mat = np.asarray(value, dtype=float)
        if mat.ndim != 2:
            raise ValueError(f"'{name}' must be a 2-D matrix, got {mat.ndim} dimension(s)")
        data = mat
    if square and mat.shape[0] != mat.shape[1]:
        raise ValueError(f"'{name}' must be square, got shape {mat.shape}")
    if not np.all(np.isfinite(data)):
        raise ValueError(f"'{name}' must be finite (it contains NaN or inf)")
    return mat


def _check_symmetric(name: str, mat: Any) -> None:
    diff = abs(mat - mat.T)
    scale = abs(mat).max() if mat.shape[0] else 0.0
    if diff.max() > 1e-10 * max(scale, 1.0):
        raise ValueError(f"'{name}' must be symmetric")


@dataclass(frozen=True, eq=False)
class QuadraticProblem(Problem):
    """``f(x) = ½ xᵀQx + cᵀx + const`` with symmetric positive semidefinite ``Q``.

    ``Q`` may be dense or sparse (e.g. a graph Laplacian); block methods read it directly, and
    every general method runs on it through the :class:`Problem` oracles, which are filled in.

    Parameters
    ----------
    Q : (n, n) array_like or sparse matrix
        Symmetric positive semidefinite.
    c : (n,) array_like
        Linear term.
    const : float
        Constant term.
    **kwargs
        ``x0``, ``f_opt``, ``name`` and the other fields of :class:`Problem`.
    """

    Q: Any
    c: ArrayLike
    const: float = 0.0

    def __post_init__(self) -> None:
        Q = _as_matrix("Q", self.Q, square=True)
        _check_symmetric("Q", Q)
        c = as_vector("c", self.c)
        if c.shape[0] != Q.shape[0]:
            raise ValueError(f"'c' has length {c.shape[0]} but Q has shape {Q.shape}")
        _set(self, "Q", Q)
        _set(self, "c", c)
        if self.fun is None and self.fun_and_grad is None:
            _set(self, "fun_and_grad", self._fun_and_grad)
            _set(self, "hess", self._hess)
            _set(self, "hessp", self._hessp)
        super().__post_init__()

    @property
    def n(self) -> int:
        """Number of variables."""
        return self.Q.shape[0]

    def _fun_and_grad(self, x: Array) -> tuple[float, Array]:
        Qx = self.Q @ x
        c = self.c
        return 0.5 * np.dot(x, Qx) + np.dot(c, x) + self.const, Qx + c

    def _hess(self, x: Array) -> Any:
        return self.Q

    def _hessp(self, x: Array, v: Array) -> Array:
        return self.Q @ v


_GLM_LOSSES = ("squared", "logistic", "softmax")


@dataclass(frozen=True, eq=False)
class GLMProblem(CompositeProblem):
    """A generalized linear model ``f(x) = Σ_i loss(a_iᵀx, b_i) + ½ l2 ‖x‖² + g(x)``.

    Losses (sums over the rows, as in the block coordinate descent literature):

    - ``"squared"``: ``½ (a_iᵀx - b_i)²``;
    - ``"logistic"``: ``log(1 + exp(-b_i a_iᵀx))`` with labels ``b_i`` in ``{-1, +1}``;
    - ``"softmax"``: ``logsumexp_c (AW)_ic - (AW)_{i, b_i}`` with labels ``b_i`` in
      ``{0, ..., k-1}`` and ``x`` the ``(n_features, k)`` matrix ``W`` flattened row-major
      (variable ``j = feature * k + class``).

    The non-smooth part is ``g(x) = l1 ‖x‖₁`` (soft-thresholding as its proximal operator),
    or with ``nonneg`` the constraint ``x >= 0`` with ``l1 Σ_i x_i`` (L1 on the non-negative
    orthant, where it is linear; its proximal operator is ``max(x - step l1, 0)``).

    Parameters
    ----------
    A : (m, p) array_like or sparse matrix
        Design matrix.
    b : (m,) array_like
        Targets (``"squared"``), labels in ``{-1, +1}`` (``"logistic"``) or class indices
        (``"softmax"``).
    loss : {"squared", "logistic", "softmax"}
    l2, l1 : float
        Non-negative regularization weights.
    nonneg : bool
        Constrain ``x >= 0``.
    n_classes : int, optional
        Number of classes of the softmax loss (default: ``max(b) + 1``).
    **kwargs
        ``x0``, ``f_opt``, ``name`` and the other fields of :class:`Problem`.
    """

    A: Any
    b: ArrayLike
    loss: str = "squared"
    l2: float = 0.0
    l1: float = 0.0
    nonneg: bool = False
    n_classes: int | None = None

    def __post_init__(self) -> None:
        A = _as_matrix("A", self.A)
        b = as_vector("b", self.b)
        if b.shape[0] != A.shape[0]:
            raise ValueError(f"'b' has length {b.shape[0]} but A has {A.shape[0]} rows")
        if self.loss not in _GLM_LOSSES:
            raise ValueError(f"loss must be one of {_GLM_LOSSES}, got {self.loss!r}")
        if self.loss == "logistic" and not np.all(np.isin(b, (-1.0, 1.0))):
            raise ValueError("'b' must hold labels in {-1, +1} for the logistic loss")
        if self.loss == "softmax":
            k = int(b.max()) + 1 if self.n_classes is None else int(self.n_classes)
            if np.any(b < 0) or np.any(b != np.round(b)) or np.any(b >= k) or k < 2:
                raise ValueError(f"'b' must hold class indices in 0..{k - 1} for the softmax "
                                 "loss (and n_classes >= 2)")
            _set(self, "n_classes", k)
        for name in ("l2", "l1"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and non-negative, got {value!r}")
        _set(self, "A", A)
        _set(self, "b", b)
        if self.fun is None and self.fun_and_grad is None:
            _set(self, "fun_and_grad", self._fun_and_grad)
            _set(self, "hessp", self._hessp)
        if self.g_fun is None:
            _set(self, "g_fun", self._g_fun)
            _set(self, "prox_g", self._prox_g)
        super().__post_init__()

    @property
    def n(self) -> int:
        """Number of variables."""
        return self.A.shape[1] * (self.n_classes if self.loss == "softmax" else 1)

    @property
    def nonsmooth(self) -> bool:
        """Whether ``g`` is non-zero (``l1 > 0`` or ``nonneg``)."""
        return self.l1 > 0 or self.nonneg

    def margins(self, x: Array) -> Array:
        """``A x`` (``(m,)``), or ``A W`` (``(m, k)``) for the softmax loss."""
        if self.loss == "softmax":
            return self.A @ x.reshape(self.A.shape[1], self.n_classes)
        return self.A @ x

    def loss_derivative(self, z: Array, rows: Any = None) -> Array:
        """The derivative of the summed loss with respect to the margins ``z``: the residual
        ``r`` with ``∇f = Aᵀ r + l2 x``. With ``rows``, ``z`` holds those rows' margins."""
        b = self.b if rows is None else self.b[rows]
        if self.loss == "squared":
            return z - b
        if self.loss == "logistic":
            return -b * expit(-b * z)
        p = softmax(z, axis=1)
        p[np.arange(z.shape[0]), b.astype(int)] -= 1.0
        return p

    def loss_value(self, z: Array) -> float:
        """The summed loss at margins ``z``."""
        if self.loss == "squared":
            r = z - self.b
            return 0.5 * float(r @ r)
        if self.loss == "logistic":
            return float(np.sum(np.logaddexp(0.0, -self.b * z)))
        rows = np.arange(z.shape[0])
        return float(np.sum(logsumexp(z, axis=1) - z[rows, self.b.astype(int)]))

    def _fun_and_grad(self, x: Array) -> tuple[float, Array]:
        z = self.margins(x)
        g = (self.A.T @ self.loss_derivative(z)).reshape(-1) + self.l2 * x
        return self.loss_value(z) + 0.5 * self.l2 * float(x @ x), g

    def _hessp(self, x: Array, v: Array) -> Array:
        z = self.margins(x)
        dz = self.margins(v)
        if self.loss == "squared":
            w = dz
        elif self.loss == "logistic":
            s = expit(self.b * z)
            w = s * (1.0 - s) * dz
        else:
            p = softmax(z, axis=1)
            w = p * dz - p * np.sum(p * dz, axis=1, keepdims=True)
        return (self.A.T @ w).reshape(-1) + self.l2 * v

    def _g_fun(self, x: Array) -> float:
        if self.nonneg:
            return self.l1 * float(x.sum()) if np.all(x >= 0) else math.inf
        return self.l1 * float(np.abs(x).sum())

    def _prox_g(self, x: Array, step: float) -> Array:
        return prox_l1(x, step * self.l1, nonneg=self.nonneg)


# -- bilevel -----------------------------------------------------------------------------------

_BILEVEL_ORACLES = (
    "upper_fun",
    "upper_grad",
    "lower_fun",
    "lower_grad_y",
    "lower_grad_x",
    "lower_hvp_yy",
    "lower_hvp_xy",
    "constraints",
    "constraints_jvp_x",
    "constraints_jvp_y",
    "proj_x",
    "proj_y",
    "proj_xy",
    "sample_upper",
    "sample_lower",
)


@dataclass(frozen=True, eq=False, kw_only=True)
class BilevelProblem:
    """``min_x F(x, y*(x))`` where ``y*(x)`` minimizes the lower level ``f(x, ·)``.

    ``x ∈ R^n`` is the upper variable, ``y ∈ R^m`` the lower one. Every oracle takes and
    returns NumPy arrays. How the hypergradient is computed (CG, Neumann, exact) and which
    lower solver runs are options of the method, never fields of the problem.

    Parameters
    ----------
    upper_fun : callable
        ``F(x, y) -> float``.
    upper_grad : callable
        ``(x, y) -> (∇_x F, ∇_y F)``.
    lower_fun : callable
        ``f(x, y) -> float``.
    lower_grad_y : callable
        ``(x, y) -> ∇_y f`` in ``R^m``.
    lower_grad_x : callable, optional
        ``(x, y) -> ∇_x f`` in ``R^n``.
    lower_hvp_yy : callable, optional
        ``(x, y, v) -> ∇²_yy f · v`` in ``R^m``.
    lower_hvp_xy : callable, optional
        ``(x, y, v) -> ∇_x ⟨∇_y f(x, y), v⟩`` in ``R^n``.
    constraints : callable, optional
        Coupled lower-level constraints ``g(x, y) <= 0``, returning ``R^l``.
    constraints_jvp_x, constraints_jvp_y : callable, optional
        ``(x, y, lam) -> ∇_x ⟨g, lam⟩`` and ``∇_y ⟨g, lam⟩`` (Jacobian-transpose products).
    proj_x, proj_y : callable, optional
        Euclidean projections onto the sets of ``x`` and ``y``.
    proj_xy : callable, optional
        ``(x, y) -> (x', y')``, the Euclidean projection onto the coupled feasible set
        ``{(x, y): constraints(x, y) <= 0}`` (LV-HBA).
    sample_upper, sample_lower : callable, optional
        For stochastic methods: ``sample(batch_size, rng) -> BilevelProblem`` on a mini-batch.
    x0 : (n,) array_like
        Upper starting point.
    y0 : (m,) array_like
        Lower starting point.
    lower_strong_convexity, lower_smoothness : float or callable, optional
        Known constants ``μ`` and ``L`` of ``f(x, ·)``: numbers, or functions ``x -> float``
        when they depend on the upper variable (a learned regularization weight).
    upper_smoothness : float or callable, optional
        A Lipschitz constant of ``∇_y F(x, ·)`` (``L_g`` of MAID's error bound), a number or
        a function of ``x``.
    f_opt : float, optional
        Known optimal upper value.
    name : str
    info : mapping, optional
        Other facts about the problem (closed forms, data, reference values), by name.
    """

    upper_fun: Callable[[Array, Array], float]
    upper_grad: Callable[[Array, Array], tuple[Array, Array]]
    lower_fun: Callable[[Array, Array], float]
    lower_grad_y: Callable[[Array, Array], Array]
    lower_grad_x: Callable[[Array, Array], Array] | None = None
    lower_hvp_yy: Callable[[Array, Array, Array], Array] | None = None
    lower_hvp_xy: Callable[[Array, Array, Array], Array] | None = None
    constraints: Callable[[Array, Array], Array] | None = None
    constraints_jvp_x: Callable[[Array, Array, Array], Array] | None = None
    constraints_jvp_y: Callable[[Array, Array, Array], Array] | None = None
    proj_x: Callable[[Array], Array] | None = None
    proj_y: Callable[[Array], Array] | None = None
    proj_xy: Callable[[Array, Array], tuple[Array, Array]] | None = None
    sample_upper: Callable[[int, np.random.Generator], BilevelProblem] | None = None
    sample_lower: Callable[[int, np.random.Generator], BilevelProblem] | None = None
    x0: ArrayLike
    y0: ArrayLike
    lower_strong_convexity: float | Callable[[Array], float] | None = None
    lower_smoothness: float | Callable[[Array], float] | None = None
    upper_smoothness: float | Callable[[Array], float] | None = None
    f_opt: float | None = None
    name: str = "bilevel"
    info: Mapping[str, Any] = field(default_factory=dict)

    #: Oracle fields that count as evaluations, and the counter each one increments: the
    #: upper level's in SciPy's ``nfev`` and ``njev``, the lower level's in ``lower_nfev``,
    #: ``lower_njev`` (gradients in y or x) and ``lower_nhev`` (Hessian-vector products),
    #: the constraints' in ``ncev`` and ``ncjev``.
    counted_oracles: ClassVar[dict[str, tuple[str, ...]]] = {
        "upper_fun": ("nfev",),
        "upper_grad": ("njev",),
        "lower_fun": ("lower_nfev",),
        "lower_grad_y": ("lower_njev",),
        "lower_grad_x": ("lower_njev",),
        "lower_hvp_yy": ("lower_nhev",),
        "lower_hvp_xy": ("lower_nhev",),
        "constraints": ("ncev",),
        "constraints_jvp_x": ("ncjev",),
        "constraints_jvp_y": ("ncjev",),
    }
    #: What a method may declare it ``needs`` (:func:`optkit.register`): the optional
    #: oracles by field name; ``minimize`` raises ``TypeError`` naming a missing one.
    oracle_needs: ClassVar[tuple[str, ...]] = (
        "lower_grad_x", "lower_hvp_yy", "lower_hvp_xy", "constraints", "constraints_jvp_x",
        "constraints_jvp_y", "proj_x", "proj_y", "proj_xy", "sample_upper", "sample_lower")
    #: The variables: ``minimize`` takes ``x0`` and ``y0``.
    variables: ClassVar[tuple[str, ...]] = ("x", "y")
    #: Fields returning the problem on a mini-batch (their oracles are counted too).
    samplers: ClassVar[tuple[str, ...]] = ("sample_upper", "sample_lower")

    def provides(self, need: str) -> bool:
        """Whether the oracle ``need`` (one of :attr:`oracle_needs`) is given."""
        return getattr(self, need) is not None

    def __post_init__(self) -> None:
        required = ("upper_fun", "upper_grad", "lower_fun", "lower_grad_y")
        for name in _BILEVEL_ORACLES:
            _check_callable(name, getattr(self, name), required=name in required)
        if self.constraints is not None and self.constraints_jvp_y is None:
            raise TypeError("constraints need constraints_jvp_y (and constraints_jvp_x)")
        _set(self, "x0", as_vector("x0", self.x0))
        _set(self, "y0", as_vector("y0", self.y0))
        for name in ("lower_strong_convexity", "lower_smoothness", "upper_smoothness"):
            value = getattr(self, name)
            if value is None or callable(value):
                continue
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be positive and finite (or a function of x), "
                                 f"got {value!r}")
        _set(self, "f_opt", _check_f_opt(self.f_opt))
        if not isinstance(self.info, Mapping):
            raise TypeError(f"info must be a mapping, got {type(self.info).__name__}")

    def constant(self, name: str, x: Array) -> float | None:
        """The constant ``name`` (``"lower_strong_convexity"``, ``"lower_smoothness"`` or
        ``"upper_smoothness"``) at ``x``: the number, or the function's value; ``None`` when
        not given; ``inf`` when the function overflows (a diverging ``x``)."""
        value = getattr(self, name)
        if not callable(value):
            return value
        try:
            return float(value(x))
        except OverflowError:
            return math.inf

    @property
    def n(self) -> int:
        """Dimension of the upper variable ``x``."""
        return self.x0.shape[0]

    @property
    def m(self) -> int:
        """Dimension of the lower variable ``y``."""
        return self.y0.shape[0]

    @classmethod
    def from_torch(cls, upper: Callable[..., Any], lower: Callable[..., Any], x0: ArrayLike,
                   y0: ArrayLike, **kwargs: Any) -> BilevelProblem:
        """The problem of PyTorch objectives ``upper(x, y)`` and ``lower(x, y)`` (scalar
        tensors of 1-D tensors), every oracle derived by autograd, NumPy in and out.

        Keywords are those of :func:`optkit.torch.bilevel.from_torch` (``constraints``,
        ``device``, ``dtype``) and the fields of this class; an oracle given there is used
        instead of the derived one.

        Raises
        ------
        ImportError
            When PyTorch is not installed.
        """
        import importlib

        try:  # torch only here, so that this module imports no torch module
            torch_bilevel = importlib.import_module("optkit.torch.bilevel")
        except ImportError as err:
            raise ImportError("BilevelProblem.from_torch needs PyTorch: "
                              "pip install optkit[torch]") from err
        return torch_bilevel.from_torch(cls, upper, lower, x0, y0, **kwargs)


# -- linear systems and networks ---------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LinearSystem:
    """``A x = b`` with ``A`` symmetric positive (semi)definite.

    Parameters
    ----------
    A : (n, n) array_like, sparse matrix or LinearOperator
    b : (n,) array_like
    grid_shape : tuple of int, optional
        The grid the unknowns live on, for methods that see the system as an image (DCDM);
        its product must equal ``n``.
    x_true : (n,) array_like, optional
        The exact solution, when known (for A-norm error histories).
    x0 : (n,) array_like, optional
        Default starting point (zeros when omitted).
    name : str
    """

    A: Any
    b: ArrayLike
    grid_shape: tuple[int, ...] | None = None
    x_true: ArrayLike | None = None
    x0: ArrayLike | None = None
    name: str = "linear-system"

    def __post_init__(self) -> None:
        A = self.A if isinstance(self.A, spla.LinearOperator) else _as_matrix("A", self.A, True)
        if A.shape[0] != A.shape[1]:
            raise ValueError(f"'A' must be square, got shape {A.shape}")
        b = as_vector("b", self.b)
        if b.shape[0] != A.shape[0]:
            raise ValueError(f"'b' has length {b.shape[0]} but A has shape {A.shape}")
        if self.grid_shape is not None:
            _set(self, "grid_shape", check_grid_shape(self.grid_shape, size=b.shape[0]))
        for name in ("x_true", "x0"):
            vec = as_vector(name, getattr(self, name))
            if vec is not None and vec.shape != b.shape:
                raise ValueError(f"'{name}' has shape {vec.shape}, expected {b.shape}")
            _set(self, name, vec)
        if self.x0 is None:
            _set(self, "x0", np.zeros(b.shape[0]))
        _set(self, "A", A)
        _set(self, "b", b)

    @property
    def n(self) -> int:
        """Number of unknowns."""
        return self.b.shape[0]

    def objective(self, x: Array) -> float:
        """The energy ``½ xᵀAx - bᵀx`` that conjugate-direction methods minimize."""
        return 0.5 * float(x @ (self.A @ x)) - float(self.b @ x)

    def as_quadratic(self) -> QuadraticProblem:
        """The equivalent :class:`QuadraticProblem` ``½ xᵀAx - bᵀx`` (needs an explicit ``A``)."""
        if isinstance(self.A, spla.LinearOperator):
            raise TypeError("as_quadratic needs A as a dense or sparse matrix, not an operator")
        f_opt = None
        if self.x_true is not None:
            f_opt = -0.5 * float(self.b @ self.x_true)
        return QuadraticProblem(Q=self.A, c=-self.b, x0=self.x0, f_opt=f_opt, name=self.name)

    #: How a method that takes another kind can still solve this one.
    adapters: ClassVar[dict[type, str]] = {Problem: "LinearSystem.as_quadratic()"}

