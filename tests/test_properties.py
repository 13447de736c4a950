"""Property-based tests of the public contract of :func:`optkit.minimize` (hypothesis).

Every registered method (families through their examples) runs on small random problems of
each kind it accepts -- condition numbers up to 1e8, objectives scaled by 1e-150 to 1e150,
oracles that start returning NaN or inf (or raising) after k calls, callbacks that stop or
raise, ``maxiter`` 0 and 1, ``max_time`` (next to) 0 -- and only the contract is asserted:

- no exception but the documented ones. ``minimize`` raises only on bad input
  (``ValueError``/``TypeError``, DESIGN.md "Errors and bad input"); the generated inputs are
  valid, so a run raises nothing, except that an exception raised by the user's own code --
  an oracle or the callback -- propagates unchanged, as in :func:`scipy.optimize.minimize`
  (the driver, ``optkit._minimize.Driver.observe``, catches only ``StopIteration`` from the
  callback: status 99, scipy's convention);
- ``res.x`` finite, and ``res.fun == f(res.x)`` exactly, with ``f`` evaluated here by the
  un-instrumented objective (``problem.objective`` for the structured kinds);
- ``res.success`` iff ``res.status == 0``;
- ``res.nit <= maxiter``, ``len(res.history) == res.nit + 1``, the callback called once per
  iteration, ``res.nit <= 1`` with ``max_time=5e-324`` (``max_time=0`` is bad input);
- for full-gradient runs: never worse than the start, ``res.fun <= f(x0)``. Mini-batch runs
  (``batch_size`` on a problem with ``sample``), the bilevel methods and ADMM keep their last
  iterate and are exempt;
- a NaN objective value seen by a method (at an iterate or at a trial point of a search)
  ends the run with status 3 (NONFINITE) and the last finite iterate in ``res.x``.

The default run is derandomized (the same examples every time, so CI is reproducible) and
small; each property also has a ``slow`` variant with many more random examples
(``pytest -m slow tests/test_properties.py``). A failure prints the falsifying case, whose
``repr`` rebuilds the problem: ``Smooth(...).problem()``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import optkit
from optkit.solvers.bcd.forests import TREE_RULES
from optkit.solvers.bcd.partitions import PARTITIONS
from optkit.solvers.bcd.selection import RULES

# Objectives scaled to 1e150 overflow on purpose: NumPy's overflow warnings are expected.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

# -- budgets -----------------------------------------------------------------------------------

#: The default run: derandomized (the same examples on every machine), no example database.
DEFAULT = settings(deadline=None, derandomize=True, database=None, print_blob=True,
                   suppress_health_check=list(HealthCheck))
#: The ``slow`` variants, this many times the default's examples: fresh random ones on a
#: developer's machine, the same ones in CI (``CI`` set), so that CI stays reproducible.
THOROUGH = settings(DEFAULT, derandomize=bool(os.environ.get("CI")))
THOROUGH_FACTOR = 25


def _property(strategies: dict[str, Any], examples: int,
              methods: list[str] | None = None) -> Callable:
    """Decorate a property: returns ``(test, test_thorough)``, the default test with
    ``examples`` derandomized cases and a ``slow`` one with ``THOROUGH_FACTOR`` times more,
    both parametrized over ``methods`` when given."""

    def decorate(body: Callable) -> tuple[Callable, Callable]:
        fast = settings(DEFAULT, max_examples=examples)(given(**strategies)(body))
        slow = settings(THOROUGH, max_examples=examples * THOROUGH_FACTOR)(
            given(**strategies)(body))
        if methods is not None:
            fast = pytest.mark.parametrize("method", methods)(fast)
            slow = pytest.mark.parametrize("method", methods)(slow)
        return fast, pytest.mark.slow(slow)

    return decorate


# -- methods -----------------------------------------------------------------------------------

ALL = optkit.registry.names(expand_families=True)


def _accepting(kind: type) -> list[str]:
    """The methods ``minimize`` lets run on an instance of ``kind``."""
    return [m for m in ALL if issubclass(kind, optkit.registry.get(m).accepts)]


GENERAL = _accepting(optkit.Problem)
STOCHASTIC = [m for m in GENERAL if optkit.registry.get(m).stochastic]
#: The structured kinds' own methods (the general ones run on Quadratic and GLM problems too).
BCD = [m for m in ALL if optkit.QuadraticProblem in optkit.registry.get(m).accepts]
LINEAR = _accepting(optkit.LinearSystem)
RELU = _accepting(optkit.ReLUTrainingProblem)
#: Expensive methods: a handful of examples each.
SLOW_METHODS = {"convex-relu-cvxpy"}

MAXITER = st.sampled_from([0, 1, 2, 5, 30])
#: ``max_time=0`` is bad input (the option must be positive); the smallest positive float
#: is as good as no time at all.
NO_TIME = 5e-324
MAX_TIME = st.sampled_from([math.inf, math.inf, NO_TIME])
TOL = st.sampled_from([None, None, 0.0, 1e-10, 1e-2])
LOG_COND = st.one_of(st.sampled_from([0.0, 8.0]), st.floats(0.0, 8.0))
LOG_SCALE = st.one_of(st.sampled_from([-150, 0, 150]), st.integers(-150, 150))


class OracleError(Exception):
    """Raised by a failing oracle of the tests: must reach the caller unchanged."""


class CallbackError(Exception):
    """Raised by a callback of the tests: must reach the caller unchanged."""


# -- the contract ------------------------------------------------------------------------------


def check_contract(res: Any, objective: Callable, x0: Any, *, maxiter: int,
                   max_time: float = math.inf, never_worse: bool = True,
                   finite_start: bool = True) -> None:
    """The assertions every run must pass (see the module docstring)."""
    assert isinstance(res.x, np.ndarray) and np.all(np.isfinite(res.x)), res.x
    assert res.success == (res.status == 0), (res.success, res.status)
    assert isinstance(res.nit, int) and 0 <= res.nit <= maxiter, (res.nit, maxiter)
    if max_time == NO_TIME:
        assert res.nit <= 1, res.nit
    assert len(res.history) == res.nit + 1, (len(res.history), res.nit)
    np.testing.assert_array_equal(res.history["nit"], np.arange(res.nit + 1))
    if not math.isfinite(res.fun):
        # Only an objective that is not finite at the start itself leaves nothing finite.
        assert not finite_start, f"res.fun = {res.fun} from a finite start"
        assert res.status == 3 and res.nit == 0, (res.status, res.nit)
        np.testing.assert_array_equal(res.x, x0)
        return
    f_x = objective(res.x)
    assert res.fun == f_x, f"res.fun = {res.fun!r} but f(res.x) = {f_x!r}"
    if never_worse:
        f0 = objective(x0)
        assert res.fun <= f0, f"res.fun = {res.fun!r} > f(x0) = {f0!r} ({res.message})"


# -- random smooth problems --------------------------------------------------------------------


def _spd(rng: np.random.Generator, n: int, log_cond: float) -> np.ndarray:
    """A symmetric positive definite matrix with eigenvalues log-spaced in [1, 10**log_cond]."""
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    eigs = np.logspace(0.0, log_cond, n)
    M = (Q * eigs) @ Q.T
    return 0.5 * (M + M.T)


@dataclass(frozen=True)
class Smooth:
    """``f(x) = s (½ dᵀAd + q/4 Σ d⁴ + 1)``, ``d = x - x*``, with ``cond(A) = 10**log_cond``,
    ``s = 10**log_scale`` and ``|x0 - x*| = radius``; given as ``fun`` + ``grad`` or as
    ``fun_and_grad``, always with ``hess``."""

    n: int
    seed: int
    log_cond: float
    log_scale: int
    quartic: bool
    joint: bool
    radius: float

    def data(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        A = _spd(rng, self.n, self.log_cond)
        x_star = rng.standard_normal(self.n)
        u = rng.standard_normal(self.n)
        x0 = x_star + self.radius * u / np.linalg.norm(u)
        return A, x_star, x0

    def oracles(self) -> tuple[Callable, Callable, Callable]:
        """The exact ``fun``, ``grad`` and ``hess``."""
        A, x_star, _ = self.data()
        s, q = 10.0 ** self.log_scale, float(self.quartic)

        def fun(x):
            d = x - x_star
            return s * (0.5 * float(d @ (A @ d)) + 0.25 * q * float(np.sum(d**4)) + 1.0)

        def grad(x):
            d = x - x_star
            return s * (A @ d + q * d**3)

        def hess(x):
            d = x - x_star
            return s * (A + np.diag(3.0 * q * d**2))

        return fun, grad, hess

    def problem(self, fun: Callable | None = None, grad: Callable | None = None
                ) -> optkit.Problem:
        """The problem, with ``fun``/``grad`` replacing the exact oracles when given."""
        exact_fun, exact_grad, hess = self.oracles()
        fun, grad = fun or exact_fun, grad or exact_grad
        x0 = self.data()[2]
        if self.joint:
            return optkit.Problem(fun_and_grad=lambda x: (fun(x), grad(x)), hess=hess, x0=x0,
                                  name="smooth")
        return optkit.Problem(fun=fun, grad=grad, hess=hess, x0=x0, name="smooth")


SMOOTH = st.builds(
    Smooth,
    n=st.integers(1, 6),
    seed=st.integers(0, 2**16),
    log_cond=LOG_COND,
    log_scale=LOG_SCALE,
    quartic=st.booleans(),
    joint=st.booleans(),
    radius=st.sampled_from([1e-3, 1.0, 10.0, 1e3]),
)


def _options(method: str, maxiter: int, max_time: float, **extra: Any) -> dict[str, Any]:
    return {"maxiter": maxiter, "max_time": max_time, **extra}


def _examples(method: str, n: int) -> int:
    return 3 if method in SLOW_METHODS else n


@_property({"case": SMOOTH, "maxiter": MAXITER, "max_time": MAX_TIME, "tol": TOL}, 25,
           methods=GENERAL)
def _smooth_contract(method, case, maxiter, max_time, tol):
    fun = case.oracles()[0]
    problem = case.problem()
    res = optkit.minimize(problem, method=method, tol=tol,
                          options=_options(method, maxiter, max_time))
    check_contract(res, fun, problem.x0, maxiter=maxiter, max_time=max_time)


test_smooth_contract, test_smooth_contract_thorough = _smooth_contract


# -- oracles that fail after k calls -----------------------------------------------------------


@dataclass
class Failing:
    """Oracles that answer exactly for ``after`` calls (fun and grad together), then return
    ``bad`` (``"nan"``, ``"inf"``, ``"-inf"``) from ``which`` (``"fun"``, ``"grad"``,
    ``"both"``), or raise :class:`OracleError` (``bad="raise"``)."""

    after: int
    bad: str
    which: str
    calls: int = 0
    hit: bool = False
    nan_value: bool = False

    def wrap(self, fun: Callable, grad: Callable) -> tuple[Callable, Callable]:
        def failing(oracle: Callable, part: str) -> Callable:
            def call(x):
                self.calls += 1
                if self.calls <= self.after or self.which not in (part, "both"):
                    return oracle(x)
                self.hit = True
                if self.bad == "raise":
                    raise OracleError(f"call {self.calls}")
                if part == "fun" and self.bad == "nan":
                    self.nan_value = True
                value = float(self.bad)
                return value if part == "fun" else np.full_like(x, value)

            return call

        return failing(fun, "fun"), failing(grad, "grad")


FAILING = st.builds(Failing, after=st.integers(0, 40),
                    bad=st.sampled_from(["nan", "inf", "-inf", "raise"]),
                    which=st.sampled_from(["fun", "grad", "both"]))


@_property({"case": SMOOTH, "failing": FAILING, "maxiter": st.sampled_from([1, 5, 30])}, 30,
           methods=GENERAL)
def _failing_oracle(method, case, failing, maxiter):
    fun, grad, _ = case.oracles()
    problem = case.problem(*failing.wrap(fun, grad))
    try:
        res = optkit.minimize(problem, method=method, options={"maxiter": maxiter})
    except OracleError:
        assert failing.bad == "raise" and failing.hit
        return
    assert not (failing.bad == "raise" and failing.hit), "the oracle's exception was swallowed"
    check_contract(res, fun, problem.x0, maxiter=maxiter,
                   finite_start=not (failing.after == 0 and failing.which != "grad"))
    if failing.nan_value:
        assert res.status == 3, f"a NaN objective value ended the run with {res.status}: " \
                                f"{res.message}"


test_failing_oracle, test_failing_oracle_thorough = _failing_oracle


# -- callbacks that stop or raise --------------------------------------------------------------


@dataclass
class Callback:
    """Raises ``StopIteration`` or :class:`CallbackError` at its ``at``-th call; takes
    ``intermediate_result`` or ``xk``."""

    at: int
    error: bool
    scipy_form: bool
    calls: int = 0

    def __call__(self, x: Any) -> None:
        self.calls += 1
        if self.calls == self.at:
            raise CallbackError(self.calls) if self.error else StopIteration

    def function(self) -> Callable:
        if self.scipy_form:
            return lambda intermediate_result: self(intermediate_result)
        return lambda xk: self(xk)


CALLBACK = st.builds(Callback, at=st.integers(1, 4), error=st.booleans(),
                     scipy_form=st.booleans())
#: Problems that take a few iterations (a run that converges at x0 never calls back).
SMOOTH_RUNS = st.builds(
    Smooth, n=st.integers(2, 6), seed=st.integers(0, 2**16), log_cond=st.floats(1.0, 4.0),
    log_scale=st.integers(-3, 3), quartic=st.booleans(), joint=st.booleans(),
    radius=st.sampled_from([1.0, 10.0]))


@_property({"case": st.one_of(SMOOTH_RUNS, SMOOTH), "callback": CALLBACK,
            "maxiter": st.sampled_from([1, 3, 10])}, 20, methods=GENERAL)
def _callback(method, case, callback, maxiter):
    fun = case.oracles()[0]
    problem = case.problem()
    try:
        res = optkit.minimize(problem, method=method, callback=callback.function(),
                              options={"maxiter": maxiter})
    except CallbackError:
        assert callback.error and callback.calls == callback.at
        return
    assert not (callback.error and callback.calls >= callback.at), "CallbackError swallowed"
    check_contract(res, fun, problem.x0, maxiter=maxiter)
    assert callback.calls == res.nit, (callback.calls, res.nit)  # once per iteration
    if callback.calls == callback.at:  # StopIteration
        assert res.status == 99 and res.nit == callback.at, (res.status, res.nit)
    else:
        assert res.status != 99


test_callback, test_callback_thorough = _callback


# -- mini-batches ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FiniteSum:
    """``f(x) = s/m Σ_i ½ (a_iᵀx - b_i)²`` with ``sample`` drawing mini-batches of rows."""

    m: int
    n: int
    seed: int
    log_scale: int

    def problem(self) -> optkit.Problem:
        rng = np.random.default_rng(self.seed)
        A = rng.standard_normal((self.m, self.n))
        b = rng.standard_normal(self.m)
        s = 10.0 ** self.log_scale

        def on(rows):
            Ar, br = A[rows], b[rows]
            k = len(rows)

            def fun(x):
                r = Ar @ x - br
                return s / k * 0.5 * float(r @ r)

            def grad(x):
                return s / k * (Ar.T @ (Ar @ x - br))

            return fun, grad

        def sample(batch_size, rng):
            rows = rng.choice(self.m, size=min(batch_size, self.m), replace=False)
            fun, grad = on(rows)
            return optkit.Problem(fun=fun, grad=grad, name="batch")

        fun, grad = on(np.arange(self.m))
        return optkit.Problem(fun=fun, grad=grad, sample=sample, x0=rng.standard_normal(self.n),
                              name="finite-sum")


FINITE_SUM = st.builds(FiniteSum, m=st.integers(1, 8), n=st.integers(1, 5),
                       seed=st.integers(0, 2**16), log_scale=LOG_SCALE)


@_property({"case": FINITE_SUM, "batch_size": st.integers(1, 8), "maxiter": MAXITER,
            "seed": st.integers(0, 3)}, 25, methods=STOCHASTIC)
def _mini_batches(method, case, batch_size, maxiter, seed):
    problem = case.problem()
    res = optkit.minimize(problem, method=method,
                          options={"maxiter": maxiter, "batch_size": batch_size, "seed": seed})
    # The last iterate is kept: no never-worse test.
    check_contract(res, case.problem().fun, problem.x0, maxiter=maxiter, never_worse=False)
    assert res.status != 0  # no gradient test on mini-batches (the docstrings' status codes)


test_mini_batches, test_mini_batches_thorough = _mini_batches


# -- QuadraticProblem --------------------------------------------------------------------------


@dataclass(frozen=True)
class Quadratic:
    """``½ xᵀQx + cᵀx`` with ``Q = 10**log_scale · SPD(cond 10**log_cond)``, dense or sparse;
    ``singular`` zeroes the smallest eigenvalue (``Q`` semidefinite, with ``c`` in its range:
    ``f`` is bounded below and its minimizers are not unique; on an unbounded ``f`` a
    diverging run's ``f(x)`` is rounding noise and no value contract can hold)."""

    n: int
    seed: int
    log_cond: float
    log_scale: int
    sparse: bool
    singular: bool

    def problem(self) -> optkit.QuadraticProblem:
        rng = np.random.default_rng(self.seed)
        Q = _spd(rng, self.n, self.log_cond)
        c = rng.standard_normal(self.n)
        if self.singular:
            w, V = np.linalg.eigh(Q)
            w[0] = 0.0
            Q = (V * w) @ V.T
            Q = 0.5 * (Q + Q.T)
            c -= V[:, 0] * (V[:, 0] @ c)
        s = 10.0 ** self.log_scale
        Q = s * Q
        c = s * c
        return optkit.QuadraticProblem(sp.csr_array(Q) if self.sparse else Q, c,
                                       x0=rng.standard_normal(self.n), name="quadratic")


QUADRATIC = st.builds(Quadratic, n=st.integers(1, 8), seed=st.integers(0, 2**16),
                      log_cond=LOG_COND, log_scale=LOG_SCALE, sparse=st.booleans(),
                      singular=st.booleans())


def _bcd_options(problem: Any, data: st.DataObject) -> dict[str, Any]:
    """Random options of greedy-bcd that fit ``problem`` (other combinations are bad input,
    a documented ``TypeError``)."""
    quadratic = isinstance(problem, optkit.QuadraticProblem)
    composite = isinstance(problem, optkit.GLMProblem) and (problem.l1 > 0 or problem.nonneg)
    selections = RULES + (TREE_RULES if quadratic and not composite else ())
    selection = data.draw(st.sampled_from(selections), label="selection")
    if composite:
        updates = ["prox_gradient", "prox_newton"] + (
            ["two_metric_projection"] if problem.nonneg else [])
    elif selection in TREE_RULES:
        updates = ["auto", "gradient", "matrix", "newton", "exact_dense"] + (
            ["exact_tree"] if selection != "general" else [])
    else:
        updates = ["auto", "gradient", "matrix", "newton", "lipschitz_search", "exact_dense"]
    return {
        "selection": selection,
        "update": data.draw(st.sampled_from(updates), label="update"),
        "partition": data.draw(st.sampled_from((None,) + PARTITIONS), label="partition"),
        "block_size": data.draw(st.integers(1, 4), label="block_size"),
        "norm": data.draw(st.sampled_from(["l2", "l1_code"]), label="norm"),
        "incremental": data.draw(st.booleans(), label="incremental"),
    }


@_property({"case": QUADRATIC, "maxiter": MAXITER, "max_time": MAX_TIME, "data": st.data()},
           60, methods=BCD)
def _quadratic_bcd(method, case, maxiter, max_time, data):
    """On a semidefinite ``Q`` greedy-bcd's documented ``ValueError`` is allowed: a zero
    curvature bound ``Q_ii = 0``, or an exact tree solve of a singular forest block."""
    problem = case.problem()
    options = {**_options(method, maxiter, max_time), **_bcd_options(problem, data)}
    try:
        res = optkit.minimize(problem, method=method, options=options)
    except ValueError as err:
        assert case.singular and ("L_i = 0" in str(err) or "not positive definite" in str(err))
        return
    check_contract(res, problem.objective, problem.x0, maxiter=maxiter, max_time=max_time)


test_quadratic_bcd, test_quadratic_bcd_thorough = _quadratic_bcd


@_property({"case": QUADRATIC, "maxiter": MAXITER}, 8, methods=GENERAL)
def _quadratic_general(method, case, maxiter):
    problem = case.problem()
    res = optkit.minimize(problem, method=method, options={"maxiter": maxiter})
    check_contract(res, problem.objective, problem.x0, maxiter=maxiter)


test_quadratic_general, test_quadratic_general_thorough = _quadratic_general


# -- GLMProblem --------------------------------------------------------------------------------


@dataclass(frozen=True)
class GLM:
    """A small GLM; ``A`` scaled by ``10**log_scale`` (and ``b`` too for the squared loss),
    so ``f`` spans about 1e-150 to 1e150; optional ``l2``, ``l1`` (relative to the loss's
    scale) and ``x >= 0``."""

    m: int
    p: int
    seed: int
    loss: str
    log_scale: int
    l2: float
    l1: float
    nonneg: bool

    def problem(self) -> optkit.GLMProblem:
        rng = np.random.default_rng(self.seed)
        s = 10.0 ** self.log_scale
        A = s * rng.standard_normal((self.m, self.p))
        k = 1
        if self.loss == "squared":
            b = s * rng.standard_normal(self.m)
        elif self.loss == "logistic":
            b = rng.choice([-1.0, 1.0], size=self.m)
        else:
            b = np.arange(self.m) % 2.0
            k = 2
        x0 = np.abs(rng.standard_normal(self.p * k))
        weight = s * s if self.loss == "squared" else max(s, 1.0)  # the loss's scale
        return optkit.GLMProblem(A, b, loss=self.loss, l2=self.l2 * weight,
                                 l1=self.l1 * weight, nonneg=self.nonneg, x0=x0, name="glm")


def _glm(smooth: bool) -> st.SearchStrategy:
    def scale(loss):
        return st.integers(-75, 75) if loss == "squared" else st.integers(-150, 150)

    return st.sampled_from(["squared", "logistic", "softmax"]).flatmap(lambda loss: st.builds(
        GLM, m=st.integers(2, 8), p=st.integers(1, 4), seed=st.integers(0, 2**16),
        loss=st.just(loss), log_scale=scale(loss),
        l2=st.sampled_from([0.0, 1e-4, 1.0]),
        l1=st.just(0.0) if smooth else st.sampled_from([0.0, 1e-3, 1.0]),
        nonneg=st.just(False) if smooth else st.booleans()))


@_property({"case": _glm(smooth=False), "maxiter": MAXITER, "max_time": MAX_TIME,
            "data": st.data()}, 60, methods=BCD)
def _glm_bcd(method, case, maxiter, max_time, data):
    problem = case.problem()
    options = {**_options(method, maxiter, max_time), **_bcd_options(problem, data)}
    res = optkit.minimize(problem, method=method, options=options)
    check_contract(res, problem.objective, problem.x0, maxiter=maxiter, max_time=max_time)


test_glm_bcd, test_glm_bcd_thorough = _glm_bcd


@_property({"case": _glm(smooth=True), "maxiter": MAXITER}, 10, methods=GENERAL)
def _glm_general(method, case, maxiter):
    problem = case.problem()
    try:
        res = optkit.minimize(problem, method=method, options={"maxiter": maxiter})
    except TypeError as err:
        # cubic-newton needs the Hessian as a matrix; a GLM gives Hessian-vector products.
        assert "Hessian" in str(err) and problem.hess is None, err
        return
    check_contract(res, problem.objective, problem.x0, maxiter=maxiter)


test_glm_general, test_glm_general_thorough = _glm_general


@_property({"case": _glm(smooth=False).filter(lambda g: g.l1 > 0 or g.nonneg),
            "maxiter": MAXITER}, 3, methods=GENERAL)
def _glm_composite_general(method, case, maxiter):
    """A method for smooth problems refuses a GLM with an L1 term or ``x >= 0``
    (``TypeError`` before any work: it would report ``f`` and ignore ``g``)."""
    problem = case.problem()
    with pytest.raises(TypeError, match="would ignore the non-smooth part g"):
        optkit.minimize(problem, method=method, options={"maxiter": maxiter})


test_glm_composite_general, test_glm_composite_general_thorough = _glm_composite_general


# -- LinearSystem ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Linear:
    """``A x = b`` with ``A = 10**log_scale · SPD(cond 10**log_cond)`` on a grid of
    ``shape`` (2-D grids for DCDM's pretrained network)."""

    shape: tuple[int, ...]
    seed: int
    log_cond: float
    log_scale: int
    sparse: bool
    known_solution: bool

    def problem(self) -> optkit.LinearSystem:
        n = math.prod(self.shape)
        rng = np.random.default_rng(self.seed)
        s = 10.0 ** self.log_scale
        A = s * _spd(rng, n, self.log_cond)
        x_true = rng.standard_normal(n)
        return optkit.LinearSystem(sp.csr_array(A) if self.sparse else A, A @ x_true,
                                   grid_shape=self.shape,
                                   x_true=x_true if self.known_solution else None,
                                   x0=rng.standard_normal(n), name="linear")


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


LINEAR_SYSTEM = st.builds(
    Linear, shape=st.sampled_from([(1,), (5,), (8,), (2, 2), (2, 3)]),
    seed=st.integers(0, 2**16), log_cond=LOG_COND, log_scale=LOG_SCALE,
    sparse=st.just(True), known_solution=st.booleans())


@_property({"case": LINEAR_SYSTEM, "model": st.sampled_from(["identity", "ichol0", "amg"]),
            "maxiter": MAXITER, "max_time": MAX_TIME, "n_orth": st.integers(0, 3)}, 25,
           methods=LINEAR)
def _linear_system(method, case, model, maxiter, max_time, n_orth):
    problem = case.problem()
    res = optkit.minimize(problem, method=method, options={
        **_options(method, maxiter, max_time), "model": model, "n_orth": n_orth})
    check_contract(res, problem.objective, problem.x0, maxiter=maxiter, max_time=max_time)


test_linear_system, test_linear_system_thorough = _linear_system


@_property({"case": LINEAR_SYSTEM.filter(lambda c: len(c.shape) == 2),
            "maxiter": st.sampled_from([1, 5, 30])}, 10, methods=LINEAR)
def _linear_system_network(method, case, maxiter):
    """DCDM with its pretrained network (a torch model on a 2-D grid): a few examples."""
    problem = case.problem()
    res = optkit.minimize(problem, method=method,
                          options={"maxiter": maxiter, "model": "pretrained"})
    check_contract(res, problem.objective, problem.x0, maxiter=maxiter)


_needs_torch = pytest.mark.skipif(not _has_torch(), reason="the DCDM network needs torch")
test_linear_system_network, test_linear_system_network_thorough = map(
    _needs_torch, _linear_system_network)


# -- ReLUTrainingProblem -----------------------------------------------------------------------


@dataclass(frozen=True)
class ReLU:
    """Two-layer ReLU training on ``m`` random samples of ``d`` features; squared-loss targets
    scaled by ``10**log_scale``."""

    m: int
    d: int
    seed: int
    loss: str
    log_scale: int
    log_beta: float

    def problem(self) -> optkit.ReLUTrainingProblem:
        rng = np.random.default_rng(self.seed)
        X = rng.standard_normal((self.m, self.d))
        z = np.tanh(X @ rng.standard_normal(self.d))
        if self.loss == "squared":
            y = 10.0 ** self.log_scale * z
        elif self.loss == "bce":
            y = (z > 0).astype(float)
        else:
            y = np.where(z > 0, 1.0, -1.0)
        return optkit.ReLUTrainingProblem(X, y, loss=self.loss, beta=10.0 ** self.log_beta,
                                          name="relu")


RELU_PROBLEM = st.builds(ReLU, m=st.integers(2, 10), d=st.integers(1, 3),
                         seed=st.integers(0, 2**16),
                         loss=st.sampled_from(["squared", "bce", "hinge"]),
                         log_scale=st.integers(-4, 4), log_beta=st.floats(-3.0, 0.0))

#: Loss functions each ReLU method takes (the others are documented bad input).
RELU_LOSSES = {"convex-relu-admm": ("squared", "bce"), "convex-relu-scp": ("squared", "bce")}
#: Options that keep each example to milliseconds.
RELU_OPTIONS = {"convex-relu-admm": {"n_patterns": 4}, "convex-relu-scp": {"n_hidden": 8},
                "convex-relu-cvxpy": {"n_patterns": 4}}


def _relu(method: str, examples: int) -> tuple[Callable, Callable]:
    # convex-relu-cvxpy is one solve (nit 1): maxiter 0 would skip it.
    maxiter = st.just(1) if method == "convex-relu-cvxpy" else MAXITER

    @_property({"case": RELU_PROBLEM, "maxiter": maxiter, "max_time": MAX_TIME}, examples)
    def prop(case, maxiter, max_time):
        if case.loss not in RELU_LOSSES.get(method, (case.loss,)):
            case = dataclasses.replace(case, loss="squared")
        problem = case.problem()
        res = optkit.minimize(problem, method=method, options={
            **_options(method, maxiter, max_time), **RELU_OPTIONS.get(method, {})})
        # ADMM is a primal-dual method, not a descent method: its result is the last iterate
        # with its residuals (may_return_best = False), and one iteration from the empty
        # network can land above it.
        check_contract(res, problem.objective, problem.x0, maxiter=maxiter, max_time=max_time,
                       never_worse=method != "convex-relu-admm")

    return prop


_RELU = {m: _relu(m, _examples(m, 20)) for m in RELU}


@pytest.mark.parametrize("method", RELU)
def test_relu_training(method):
    _RELU[method][0]()


@pytest.mark.slow
@pytest.mark.parametrize("method", RELU)
def test_relu_training_thorough(method):
    _RELU[method][1]()


# -- BilevelProblem ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Bilevel:
    """A quadratic bilevel problem: lower ``f = ½ yᵀHy - yᵀ(Bx + b)`` with ``cond(H) =
    10**log_cond``, upper ``F = s (½‖y - t‖² + ½ r‖x‖²)``, ``s = 10**log_scale``; the upper
    value turns NaN after ``nan_after`` calls (``None``: never). ``phi`` is the value function
    in closed form."""

    n: int
    m: int
    seed: int
    log_cond: float
    log_scale: int
    nan_after: int | None

    def parts(self) -> tuple[optkit.BilevelProblem, Callable]:
        rng = np.random.default_rng(self.seed)
        H = _spd(rng, self.m, self.log_cond)
        B, b = rng.standard_normal((self.m, self.n)), rng.standard_normal(self.m)
        t, s, r = rng.standard_normal(self.m), 10.0 ** self.log_scale, 0.1
        eig = np.linalg.eigvalsh(H)
        calls = [0]

        def upper_fun(x, y):
            calls[0] += 1
            if self.nan_after is not None and calls[0] > self.nan_after:
                return math.nan
            return s * (0.5 * float((y - t) @ (y - t)) + 0.5 * r * float(x @ x))

        def phi(x):
            y = np.linalg.solve(H, B @ x + b)
            return s * (0.5 * float((y - t) @ (y - t)) + 0.5 * r * float(x @ x))

        problem = optkit.BilevelProblem(
            upper_fun=upper_fun, upper_grad=lambda x, y: (s * r * x, s * (y - t)),
            lower_fun=lambda x, y: 0.5 * float(y @ H @ y) - float(y @ (B @ x + b)),
            lower_grad_y=lambda x, y: H @ y - B @ x - b, lower_grad_x=lambda x, y: -B.T @ y,
            lower_hvp_yy=lambda x, y, v: H @ v, lower_hvp_xy=lambda x, y, v: -B.T @ v,
            x0=rng.standard_normal(self.n), y0=np.zeros(self.m),
            lower_strong_convexity=eig[0] * (1 - 1e-12), lower_smoothness=eig[-1] * (1 + 1e-12),
            upper_smoothness=s, name="bilevel")
        return problem, phi


BILEVEL = st.builds(Bilevel, n=st.integers(1, 4), m=st.integers(1, 6),
                    seed=st.integers(0, 2**16), log_cond=st.floats(0.0, 3.0),
                    log_scale=st.integers(-100, 100),
                    nan_after=st.one_of(st.none(), st.integers(1, 12)))  # the start is finite
#: The bilevel methods with a guaranteed exact decrease (MAID's certified line search).
CERTIFIED = ("maid", "maid-fixed")
#: The bilevel methods whose steps are fixed (the stochastic ones, LV-HBA, GAM): on a badly
#: scaled case they may diverge, which must end the run with status 3 at its last finite
#: iterate (the contract).
FIXED_STEP = [m for m in _accepting(optkit.BilevelProblem)
              if optkit.registry.get(m).stochastic or m in ("lv-hba", "gam")]


@_property({"case": BILEVEL, "maxiter": MAXITER, "max_time": MAX_TIME}, 8,
           methods=_accepting(optkit.BilevelProblem))
def _bilevel_contract(method, case, maxiter, max_time):
    """The contract on bilevel runs: ``fun = F(x, y)`` at the returned pair, no divergence for
    the adaptive methods (MAID, HOAG), and for MAID the exact value function never above its
    start (without a NaN to stop it earlier)."""
    problem, phi = case.parts()
    res = optkit.minimize(problem, method=method,
                          options=_options(method, maxiter, max_time))
    check_contract(res, lambda x: problem.upper_fun(x, res.y) if case.nan_after is None
                   else res.fun, problem.x0, maxiter=maxiter, max_time=max_time,
                   never_worse=False)
    if res.status == 3 and (case.nan_after is not None or method in FIXED_STEP):
        return
    assert res.status != 3, res.message
    if method in CERTIFIED:
        assert phi(res.x) <= phi(problem.x0) * (1 + 1e-12) + 1e-300, res.message


test_bilevel_contract, test_bilevel_contract_thorough = _bilevel_contract


@pytest.mark.parametrize("method", ALL)
def test_max_time_zero_is_bad_input(method):
    with pytest.raises(ValueError, match="max_time"):
        optkit.minimize(_TINY[method](), method=method, options={"max_time": 0.0})


_TINY = {**{m: Smooth(2, 0, 1.0, 0, False, False, 1.0).problem for m in GENERAL},
         **{m: Quadratic(3, 0, 1.0, 0, False, False).problem for m in BCD},
         **{m: Linear((3,), 0, 1.0, 0, True, False).problem for m in LINEAR},
         **{m: ReLU(4, 2, 0, "squared", 0, -1.0).problem for m in RELU},
         **{m: lambda: Bilevel(2, 3, 0, 1.0, 0, None).parts()[0]
            for m in _accepting(optkit.BilevelProblem)}}


def test_every_method_is_covered():
    """Each registered method is in one of the properties above (a new kind needs one)."""
    covered = set(GENERAL) | set(BCD) | set(LINEAR) | set(RELU) | set(
        _accepting(optkit.BilevelProblem))
    assert covered == set(ALL), set(ALL) - covered
