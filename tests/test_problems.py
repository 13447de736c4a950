"""Tests of the problem zoo: ``problems.smooth``, ``problems.ml`` and the catalog."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from finite_differences import central_grad, central_jac, rel_err

import problems
from optkit.problem import Problem, QuadraticProblem
from problems import ml, smooth

SMOOTH = ["rosen", "quadratic", "quadratic-ill", "himmelblau", "matyas", "beale", "zakharov"]
ML = ["logistic-breast-cancer", "logistic-synthetic", "softmax-digits", "softmax-synthetic"]
ALL = SMOOTH + ML
N_SAMPLES = {
    "logistic-breast-cancer": 569,
    "logistic-synthetic": 1000,
    "softmax-digits": 1797,
    "softmax-synthetic": 1000,
}

#: The arguments of each ML catalog problem, for the ``*_optimum`` functions.
ML_OPTIMUM = {
    "logistic-breast-cancer": (ml.logistic_regression_optimum, {"dataset": "breast_cancer"}),
    "logistic-synthetic": (ml.logistic_regression_optimum, {"dataset": "synthetic"}),
    "softmax-digits": (ml.softmax_regression_optimum, {"dataset": "digits"}),
    "softmax-synthetic": (ml.softmax_regression_optimum, {"dataset": "synthetic"}),
}


@pytest.fixture(scope="module")
def built() -> dict[str, Problem]:
    """Every catalog problem of this test file, built once."""
    return {name: problems.get(name) for name in ALL}


def points(problem: Problem) -> list[np.ndarray]:
    """``x0`` and a seeded random point near it."""
    rng = np.random.default_rng(1)
    return [problem.x0, problem.x0 + 0.5 * rng.standard_normal(problem.x0.shape)]


# -- oracle checks for every catalog problem ---------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_gradient_matches_finite_differences(built, name):
    p = built[name]
    for x in points(p):
        g = p.gradient(x)
        assert g.shape == x.shape
        assert rel_err(g, central_grad(p.value, x)) < 1e-6
        f, g2 = p.value_and_grad(x)
        assert f == pytest.approx(p.value(x), rel=1e-14)
        np.testing.assert_allclose(g2, g, rtol=1e-14)


@pytest.mark.parametrize("name", ALL)
def test_hessian_matches_finite_differences(built, name):
    p = built[name]
    assert p.has_hess
    rng = np.random.default_rng(2)
    for x in points(p):
        H = p.hessian(x)
        H = H.toarray() if sp.issparse(H) else np.asarray(H)
        assert H.shape == (x.size, x.size)
        np.testing.assert_allclose(H, H.T, rtol=1e-12, atol=1e-12 * np.abs(H).max())
        assert rel_err(H, central_jac(p.gradient, x)) < 1e-6
        v = rng.standard_normal(x.size)
        Hv = p.hess_vec(x, v)
        assert rel_err(Hv, H @ v) < 1e-12
        if p.hessp is not None:
            assert rel_err(p.hessp(x, v), H @ v) < 1e-12


# -- classic functions: known minimizers -------------------------------------------------------

MINIMIZERS = [
    ("rosen", {}, np.ones(2)),
    ("rosen", {"n": 7}, np.ones(7)),
    ("himmelblau", {}, np.array([3.0, 2.0])),
    ("matyas", {}, np.zeros(2)),
    ("beale", {}, np.array([3.0, 0.5])),
    ("zakharov", {}, np.zeros(2)),
    ("zakharov", {"n": 5}, np.zeros(5)),
]


@pytest.mark.parametrize(("name", "kwargs", "x_star"), MINIMIZERS)
def test_classic_minimizer(name, kwargs, x_star):
    p = problems.get(name, **kwargs)
    assert p.f_opt == 0.0
    assert p.x0.shape == x_star.shape
    assert p.value(x_star) == pytest.approx(p.f_opt, abs=1e-14)
    assert np.linalg.norm(p.gradient(x_star)) <= 1e-12
    assert np.all(np.linalg.eigvalsh(np.asarray(p.hessian(x_star))) > 0)
    assert p.value(p.x0) > p.f_opt


@pytest.mark.parametrize(
    "approx", [(-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)]
)
def test_himmelblau_other_minima(approx):
    """Newton's method from the tabulated 6-digit minima reaches f = 0 to rounding."""
    p = smooth.himmelblau()
    x = np.array(approx)
    for _ in range(5):
        x = x - np.linalg.solve(p.hessian(x), p.gradient(x))
    np.testing.assert_allclose(x, approx, atol=1e-6)
    assert p.value(x) <= 1e-24
    assert np.linalg.norm(p.gradient(x)) <= 1e-12


def test_rosen_start_and_scipy_oracles():
    p = smooth.rosen(5)
    np.testing.assert_array_equal(p.x0, [-1.2, 1.0, -1.2, 1.0, -1.2])
    assert p.fun is scipy.optimize.rosen and p.grad is scipy.optimize.rosen_der
    assert p.hess is scipy.optimize.rosen_hess and p.hessp is scipy.optimize.rosen_hess_prod
    with pytest.raises(ValueError, match="n must be"):
        smooth.rosen(1)


def test_two_variable_functions_reject_other_sizes():
    with pytest.raises(ValueError, match="2 variables"):
        smooth.beale().value(np.zeros(3))


# -- quadratics --------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "cond"), [("quadratic", 1e3), ("quadratic-ill", 1e6)])
def test_quadratic_condition_number_and_f_opt(built, name, cond):
    p = built[name]
    assert isinstance(p, QuadraticProblem)
    assert p.n == 100
    np.testing.assert_array_equal(p.x0, np.zeros(100))
    assert np.linalg.cond(p.Q) == pytest.approx(cond, rel=1e-6)
    x_star = np.linalg.solve(p.Q, -p.c)
    assert p.f_opt == pytest.approx(p.value(x_star), rel=1e-9)
    assert p.f_opt < 0


def test_quadratic_diagonal_matches_dense_construction():
    dense = smooth.quadratic(n=40, cond=1e4, seed=3)
    diag = smooth.quadratic(n=40, cond=1e4, seed=3, diagonal=True)
    assert sp.issparse(diag.Q)
    # same eigenvalues and the same c, only the eigenvectors differ
    np.testing.assert_allclose(np.linalg.eigvalsh(dense.Q), diag.Q.diagonal(), rtol=1e-9)
    np.testing.assert_array_equal(dense.c, diag.c)
    x_star = spla.spsolve(sp.csc_matrix(diag.Q), -diag.c)
    assert diag.f_opt == pytest.approx(diag.value(x_star), rel=1e-12)
    assert diag.f_opt == pytest.approx(-0.5 * np.sum(diag.c**2 / diag.Q.diagonal()), rel=1e-14)
    assert np.linalg.norm(diag.gradient(x_star)) <= 1e-10


def test_quadratic_is_seeded():
    a, b = smooth.quadratic(n=20, seed=5), smooth.quadratic(n=20, seed=5)
    np.testing.assert_array_equal(a.Q, b.Q)
    np.testing.assert_array_equal(a.c, b.c)
    assert not np.array_equal(a.c, smooth.quadratic(n=20, seed=6).c)


def test_quadratic_diagonal_builds_at_a_million():
    p = smooth.quadratic(n=10**6, cond=1e3, diagonal=True)
    assert p.Q.shape == (10**6, 10**6)
    assert p.Q.nnz == 10**6
    assert p.x0.shape == (10**6,)
    assert np.isfinite(p.f_opt)


@pytest.mark.parametrize(("kwargs", "match"), [({"n": 1}, "n must"), ({"cond": 0.5}, "cond")])
def test_quadratic_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        smooth.quadratic(**kwargs)


# -- ML problems -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ML)
def test_ml_f_opt_against_lbfgsb(built, name):
    p = built[name]
    res = scipy.optimize.minimize(
        p.fun_and_grad,
        p.x0,
        jac=True,
        method="L-BFGS-B",
        options={"ftol": 1e-15, "gtol": 1e-11, "maxiter": 20000, "maxfun": 40000},
    )
    assert p.f_opt <= res.fun + 1e-15
    assert p.f_opt == pytest.approx(res.fun, rel=1e-8)


@pytest.mark.parametrize("name", ML)
def test_ml_f_opt_minimizer(built, name):
    p = built[name]
    optimum, kwargs = ML_OPTIMUM[name]
    x_opt, f_opt = optimum(**kwargs)
    assert f_opt == p.f_opt
    assert p.value(x_opt) == f_opt
    assert np.linalg.norm(p.gradient(x_opt)) <= 1e-9
    assert p.f_opt < p.value(p.x0)
    assert optimum(**kwargs)[0] is x_opt  # cached
    assert not x_opt.flags.writeable


@pytest.mark.parametrize("name", ML)
def test_ml_sample_full_batch_is_the_objective(built, name):
    p = built[name]
    m = N_SAMPLES[name]
    x = points(p)[1]
    batch = p.sample(m, np.random.default_rng(0))
    assert isinstance(batch, Problem)
    f, g = batch.value_and_grad(x)
    assert f == pytest.approx(p.value(x), rel=1e-12)
    np.testing.assert_allclose(g, p.gradient(x), rtol=1e-10, atol=1e-14)
    v = np.random.default_rng(3).standard_normal(x.size)
    np.testing.assert_allclose(batch.hess_vec(x, v), p.hess_vec(x, v), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", ML)
def test_ml_small_batch(built, name):
    p = built[name]
    x = points(p)[1]
    batch = p.sample(8, np.random.default_rng(0))
    f, g = batch.value_and_grad(x)
    assert np.isfinite(f) and f != pytest.approx(p.value(x), rel=1e-6)
    assert g.shape == p.x0.shape
    assert rel_err(batch.gradient(x), central_grad(batch.value, x)) < 1e-6
    again = p.sample(8, np.random.default_rng(0))
    assert again.value(x) == f  # same rng seed, same batch
    with pytest.raises(ValueError, match="batch_size"):
        p.sample(N_SAMPLES[name] + 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="batch_size"):
        p.sample(0, np.random.default_rng(0))


@pytest.mark.parametrize("name", ["logistic-breast-cancer", "softmax-synthetic"])
def test_ml_minibatch_gradients_are_unbiased(built, name):
    p = built[name]
    x = points(p)[1]
    rng = np.random.default_rng(4)
    grads = np.array([p.sample(32, rng).gradient(x) for _ in range(2000)])
    full = p.gradient(x)
    # the mean of 2000 batch gradients is within a few standard errors of the full gradient
    stderr = np.linalg.norm(grads.std(axis=0)) / np.sqrt(len(grads))
    assert np.linalg.norm(grads.mean(axis=0) - full) < 4 * stderr
    assert rel_err(grads.mean(axis=0), full) < 0.05


def test_ml_sizes():
    assert problems.get("logistic-breast-cancer").x0.shape == (31,)
    assert problems.get("softmax-digits").x0.shape == (65 * 10,)
    p = problems.get("logistic-synthetic", n=300, d=7)
    assert p.x0.shape == (8,)
    p.sample(300, np.random.default_rng(0))
    with pytest.raises(ValueError, match="at most the number of samples 300"):
        p.sample(301, np.random.default_rng(0))
    assert ml.softmax_regression("synthetic", n=200, d=4, n_classes=3).x0.shape == (5 * 3,)


def test_ml_values_at_zero():
    """At x = 0 every prediction is uniform: log 2 and log k (plus nothing from L2)."""
    assert problems.get("logistic-breast-cancer").value(np.zeros(31)) == pytest.approx(np.log(2))
    assert problems.get("softmax-digits").value(np.zeros(650)) == pytest.approx(np.log(10))


def test_ml_losses_are_stable_far_out():
    p = problems.get("logistic-breast-cancer")
    f, g = p.value_and_grad(np.full(31, 1e4))
    assert np.isfinite(f) and np.all(np.isfinite(g))
    q = problems.get("softmax-digits")
    f, g = q.value_and_grad(np.linspace(-1e4, 1e4, 650))
    assert np.isfinite(f) and np.all(np.isfinite(g))


def test_ml_hessp_cache_follows_x():
    """The cached curvature must be recomputed when x changes (even in place)."""
    for name in ("logistic-synthetic", "softmax-synthetic"):
        p = problems.get(name)
        rng = np.random.default_rng(5)
        x, v = rng.standard_normal(p.x0.size), rng.standard_normal(p.x0.size)
        before = p.hessp(x, v)
        x *= 2.0  # (adding a constant would leave the softmax probabilities unchanged)
        fresh = problems.get(name, seed=0)  # a new problem object with an empty cache
        np.testing.assert_allclose(p.hessp(x, v), fresh.hessp(x, v), rtol=1e-13)
        assert not np.allclose(before, p.hessp(x, v))


def test_ml_l2_changes_f_opt_and_is_cached_per_l2():
    a = ml.logistic_regression("synthetic", l2=1e-2, n=200, d=5)
    b = ml.logistic_regression("synthetic", l2=1e-1, n=200, d=5)
    assert b.f_opt > a.f_opt
    x, f = ml.logistic_regression_optimum("synthetic", l2=1e-1, n=200, d=5)
    assert f == b.f_opt and np.linalg.norm(b.gradient(x)) <= 1e-9


@pytest.mark.parametrize(
    ("builder", "kwargs", "match"),
    [
        (ml.logistic_regression, {"dataset": "iris"}, "dataset must be one of"),
        (ml.logistic_regression, {"l2": 0.0}, "l2"),
        (ml.softmax_regression, {"dataset": "breast_cancer"}, "dataset must be one of"),
        (ml.softmax_regression, {"dataset": "synthetic", "n_classes": 1}, "n_classes"),
        (ml.make_classification, {"cond": 0.1}, "cond"),
    ],
)
def test_ml_rejects_bad_arguments(builder, kwargs, match):
    with pytest.raises(ValueError, match=match):
        builder(**kwargs)


def test_make_classification():
    X, y = ml.make_classification(n=500, d=6, cond=10.0, n_classes=4, seed=1)
    assert X.shape == (500, 6) and y.shape == (500,)
    assert y.dtype.kind == "i" and set(y.tolist()) == {0, 1, 2, 3}
    X2, y2 = ml.make_classification(n=500, d=6, cond=10.0, n_classes=4, seed=1)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(X, ml.make_classification(n=500, d=6, seed=2)[0])
    # the population covariance has condition number cond; a large sample is close to it
    X, _ = ml.make_classification(n=50000, d=5, cond=30.0, seed=0)
    assert np.linalg.cond(np.cov(X, rowvar=False)) == pytest.approx(30.0, rel=0.1)


def test_make_classification_labels_follow_the_planted_model():
    """A fitted logistic model predicts the planted labels far better than chance."""
    p = ml.logistic_regression("synthetic", n=2000, d=10, seed=7)
    w, _ = ml.logistic_regression_optimum("synthetic", n=2000, d=10, seed=7)
    X, y = ml.make_classification(n=2000, d=10, seed=7)
    from sklearn.preprocessing import StandardScaler

    A = np.hstack([StandardScaler().fit_transform(X), np.ones((2000, 1))])
    accuracy = np.mean((A @ w > 0) == (y == 1))
    assert accuracy > 0.75
    assert p.f_opt < 0.6 * np.log(2)


# -- the catalog -------------------------------------------------------------------------------


def test_catalog_lists_every_name_with_its_kind():
    rows = {row["name"]: row for row in problems.catalog()}
    for name in SMOOTH:
        assert rows[name]["kind"] == "smooth"
    for name in ML:
        assert rows[name]["kind"] == "ml"
    assert all(rows[name]["summary"] for name in ALL)


@pytest.mark.parametrize("name", ALL)
def test_get_builds_a_named_problem(built, name):
    p = built[name]
    assert isinstance(p, Problem)
    assert p.x0 is not None and p.name
    assert p.f_opt is not None and np.isfinite(p.f_opt)
    assert p.value(p.x0) >= p.f_opt


def test_get_passes_keyword_arguments():
    assert problems.get("rosen", n=6).x0.shape == (6,)
    assert problems.get("quadratic", n=10).n == 10
    assert np.linalg.cond(problems.get("quadratic-ill", n=10).Q) == pytest.approx(1e6, rel=1e-6)


def test_get_unknown_name_suggests_a_close_match():
    with pytest.raises(ValueError, match="Did you mean 'rosen'"):
        problems.get("rosenn")
    with pytest.raises(ValueError, match="softmax-digits"):
        problems.get("softmax-digit")
