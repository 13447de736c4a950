"""The sampled convex program (SCP) of a two-layer ReLU network: ``optkit.convex_relu.scp``
and ``method="convex-relu-scp"``.

Oracles: cvxpy (CLARABEL) solves of the same ℓ1-penalized programs (spec section 8, oracle 8),
the Lasso's closed form for ``H = I``, the KKT conditions, and the identities that tie the
balanced network to the program (4.2).
"""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

import optkit
from optkit.convex_relu import (
    loss_gradient,
    loss_value,
    network_objective,
    predict_labels,
    relu_outputs,
)
from optkit.convex_relu.scp import (
    iterative_sampling,
    lasso_fista,
    relu_features,
    sample_hidden,
    scenario_bound,
    scp_network,
)

cp = pytest.importorskip("cvxpy")


@pytest.fixture(scope="module")
def cancer():
    """breast_cancer, standardized, with a ones column (n = 569, d = 31); labels {0, 1}."""
    X, labels = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return np.column_stack([X, np.ones(len(X))]), labels.astype(float)


def _targets(labels, loss):
    return labels if loss == "bce" else 2.0 * labels - 1.0


@pytest.fixture(scope="module")
def features(cancer):
    X, _ = cancer
    hidden = sample_hidden(X.shape[1], 50, rng=0)
    return hidden, relu_features(X, hidden)


def _objective(H, y, beta, loss, alpha):
    return loss_value(H @ alpha, y, loss) + beta * float(np.sum(np.abs(alpha)))


def _cvx_optimum(H, y, beta, loss):
    a = cp.Variable(H.shape[1])
    if loss == "squared":
        data = 0.5 * cp.sum_squares(H @ a - y)
    else:
        data = cp.sum(cp.logistic(2 * H @ a) - 2 * cp.multiply(y, H @ a))
    problem = cp.Problem(cp.Minimize(data + beta * cp.norm1(a)))
    problem.solve(solver="CLARABEL")
    assert problem.status == cp.OPTIMAL
    return problem.value


_CVX_CACHE: dict = {}


def _optimum(H, y, beta, loss):
    key = (H.shape, loss, beta)
    if key not in _CVX_CACHE:
        _CVX_CACHE[key] = _cvx_optimum(H, y, beta, loss)
    return _CVX_CACHE[key]


# -- the pieces --------------------------------------------------------------------------------


def test_hidden_weights_are_unit_and_nested():
    U = sample_hidden(4, 30, rng=5)
    assert U.shape == (30, 4)
    np.testing.assert_allclose(np.linalg.norm(U, axis=1), 1.0, rtol=1e-14)
    np.testing.assert_array_equal(sample_hidden(4, 60, rng=5)[:30], U)
    assert not np.array_equal(sample_hidden(4, 30, rng=6), U)
    # uniform on the sphere: no direction preferred (mean of 4000 draws near 0)
    assert np.abs(sample_hidden(4, 4000, rng=0).mean(axis=0)).max() < 0.05


def test_relu_features_are_the_neuron_outputs():
    rng = np.random.default_rng(0)
    X, U = rng.standard_normal((7, 3)), rng.standard_normal((5, 3))
    H = relu_features(X, U)
    for i in range(5):
        np.testing.assert_allclose(H[:, i], np.maximum(X @ U[i], 0.0), rtol=1e-14, atol=1e-15)
    assert np.all(H >= 0)
    with pytest.raises(ValueError, match="share d"):
        relu_features(X, U[:, :2])


def test_balanced_network_has_the_programs_objective(cancer):
    X, labels = cancer
    hidden = sample_hidden(X.shape[1], 20, rng=1)
    coef = np.random.default_rng(2).standard_normal(20)
    coef[::3] = 0.0
    U, alpha = scp_network(hidden, coef)
    assert len(alpha) == np.count_nonzero(coef)
    H = relu_features(X, hidden)
    np.testing.assert_allclose(relu_outputs(X, U, alpha), H @ coef, rtol=1e-12, atol=1e-12)
    for loss in ("squared", "bce"):
        y = _targets(labels, loss)
        assert math.isclose(network_objective(X, y, U, alpha, 0.3, loss),
                            _objective(H, y, 0.3, loss, coef), rel_tol=1e-12)


def test_scenario_bound():
    assert scenario_bound(569, 0.1, 0.1) == 56_999
    assert scenario_bound(3, 0.5, 0.5) == 15


# -- FISTA against its oracles -----------------------------------------------------------------


def test_lasso_of_the_identity_is_soft_thresholding():
    y = np.array([3.0, -0.5, 0.2, -2.0, 1.0])
    alpha, objective, _ = lasso_fista(np.eye(5), y, beta=0.7)
    expected = np.sign(y) * np.maximum(np.abs(y) - 0.7, 0.0)
    np.testing.assert_allclose(alpha, expected, atol=1e-12)
    assert np.count_nonzero(alpha) == 3  # exact zeros off the support
    assert math.isclose(objective, _objective(np.eye(5), y, 0.7, "squared", expected),
                        rel_tol=1e-12)


@pytest.mark.parametrize(("loss", "beta"), [("squared", 0.01), ("squared", 1.0),
                                            ("squared", 10.0), ("bce", 0.1), ("bce", 1.0)])
def test_fista_reaches_the_cvxpy_optimum(cancer, features, loss, beta):
    """Oracle 8: FISTA's objective equals cvxpy's optimum to 1e-6 relative."""
    _, labels = cancer
    _, H = features
    y = _targets(labels, loss)
    alpha, objective, iterations = lasso_fista(H, y, beta, loss)
    optimum = _optimum(H, y, beta, loss)
    assert abs(objective - optimum) <= 1e-6 * abs(optimum)
    assert objective == _objective(H, y, beta, loss, alpha)
    assert 0 < iterations < 10_000


@pytest.mark.parametrize(("loss", "beta"), [("squared", 1.0), ("squared", 10.0),
                                            ("bce", 1.0)])
def test_fista_solution_satisfies_kkt(cancer, features, loss, beta):
    """``c = -Hᵀ∇ℓ(Hα)`` (``Hᵀ(y - Hα)`` for squared) has ``|c_i| <= β`` everywhere and
    ``c_i = β sign(α_i)`` on the support."""
    _, labels = cancer
    _, H = features
    y = _targets(labels, loss)
    alpha, _, _ = lasso_fista(H, y, beta, loss)
    c = -H.T @ loss_gradient(H @ alpha, y, loss)
    support = alpha != 0
    assert 0 < support.sum() < len(alpha)
    assert np.max(np.abs(c)) <= beta * (1 + 1e-4)
    np.testing.assert_allclose(c[support], beta * np.sign(alpha[support]), rtol=1e-4)


@pytest.mark.parametrize("loss", ["squared", "bce"])
def test_duality_gap_bounds_the_error_and_the_objective_never_rises(cancer, features, loss):
    _, labels = cancer
    _, H = features
    y = _targets(labels, loss)
    beta = 1.0
    optimum = _optimum(H, y, beta, loss)
    steps = []
    lasso_fista(H, y, beta, loss, tol=0.0, maxiter=300, callback=steps.append)
    assert [s.iteration for s in steps] == list(range(len(steps)))
    objectives = np.array([s.objective for s in steps])
    gaps = np.array([s.gap for s in steps])
    assert np.all(np.diff(objectives) <= 0)
    assert np.all(np.diff(gaps) <= 1e-12 * objectives[0])
    # a valid certificate: objective - optimum <= gap (cvxpy's optimum to its own accuracy)
    assert np.all(objectives - optimum <= gaps + 1e-7 * abs(optimum))
    assert gaps[-1] < 1e-3 * objectives[-1]


def test_fista_callback_stops_and_warm_start(features, cancer):
    _, labels = cancer
    _, H = features
    y = _targets(labels, "squared")
    alpha, objective, iterations = lasso_fista(H, y, 1.0, callback=lambda s: s.iteration == 7)
    assert iterations == 7
    _, _, again = lasso_fista(H, y, 1.0, alpha0=lasso_fista(H, y, 1.0)[0])
    assert again < 20  # started at the solution: the certificate or the floor right away


# -- Algorithm 4.1 -----------------------------------------------------------------------------


def test_iterative_sampling_stops_on_its_test(cancer):
    X, labels = cancer
    y, beta, psi = _targets(labels, "squared"), 10.0, 0.2
    hidden, alpha, rounds = iterative_sampling(X, y, beta, "squared", N0=50, psi=psi, xi=0.1,
                                               rng=0)
    last = rounds[-1]
    assert last["stop"] == "test" and last["bound"] <= psi
    for r in rounds:  # Hoeffding: the violation rate plus sqrt(log(1/xi) / (2 N_t))
        assert r["n_new"] == 116  # the default: the smallest N_t with a term <= psi/2 = 0.1
        assert math.isclose(r["bound"], r["violators"] / 116 + math.sqrt(math.log(10) / 232))
    assert all(r["bound"] > psi and r["stop"] == "" for r in rounds[:-1])
    assert len(rounds) >= 2
    # each round appends exactly its violators; objectives never rise
    for before, after in pairwise(rounds):
        assert before["added"] == before["violators"] > 0
        assert after["n_hidden"] == before["n_hidden"] + before["added"]
        assert after["objective"] <= before["objective"]
    assert len(hidden) == last["n_hidden"] and alpha.shape == (len(hidden),)
    # the first round is the SCP on the first 50 draws
    first = sample_hidden(X.shape[1], 50, rng=0)
    np.testing.assert_array_equal(hidden[:50], first)
    assert math.isclose(rounds[0]["objective"],
                        lasso_fista(relu_features(X, first), y, beta)[1], rel_tol=1e-9)
    # the last re-solve is optimal on the whole set: no kept neuron violates the dual
    H = relu_features(X, hidden)
    c = H.T @ (y - H @ alpha)
    assert np.max(np.abs(c)) <= beta * (1 + 1e-4)
    assert last["objective"] == _objective(H, y, beta, "squared", alpha)
    assert last["width"] == np.count_nonzero(alpha)


def test_iterative_sampling_caps(cancer):
    X, labels = cancer
    y = _targets(labels, "squared")
    hidden, _, rounds = iterative_sampling(X, y, 10.0, N0=50, psi=0.2, rng=0, max_total=80)
    assert rounds[-1]["stop"] == "max_total" and len(hidden) == 80
    # the scenario bound: 3 samples, psi = xi = 0.5 -> 15 neurons suffice
    rng = np.random.default_rng(0)
    Xs = rng.standard_normal((3, 2))
    hidden, _, rounds = iterative_sampling(Xs, rng.standard_normal(3), 0.1, N0=20, psi=0.5,
                                           xi=0.5, rng=1)
    assert [r["stop"] for r in rounds] == ["scenario-bound"] and len(hidden) == 20


def test_iterative_sampling_rejects_a_test_that_cannot_pass(cancer):
    X, labels = cancer
    with pytest.raises(ValueError, match="can never pass the stopping test"):
        iterative_sampling(X, _targets(labels, "squared"), 1.0, N0=10, Nt=100, psi=0.1,
                           xi=0.1)


# -- method="convex-relu-scp" -------------------------------------------------------------------


def _problem(cancer, loss="squared", beta=1.0):
    X, labels = cancer
    y = _targets(labels, loss)
    order = np.random.default_rng(0).permutation(len(X))
    train, test = order[:400], order[400:]
    return optkit.ReLUTrainingProblem(X[train], y[train], loss=loss, beta=beta,
                                      X_test=X[test], y_test=y[test])


@pytest.mark.parametrize("loss", ["squared", "bce"])
def test_method_trains_the_network_of_the_program(cancer, loss):
    problem = _problem(cancer, loss)
    res = optkit.minimize(problem, method="convex-relu-scp", options={"n_hidden": 50})
    assert res.success, res.message
    X, y, beta = problem.X, problem.y, problem.beta
    # seed 0 by default: the hidden weights are sample_hidden's with that seed
    np.testing.assert_array_equal(res.hidden, sample_hidden(problem.d, 50, rng=0))
    H = relu_features(X, res.hidden)
    np.testing.assert_allclose(relu_outputs(X, res.U, res.alpha), H @ res.coef,
                               rtol=1e-10, atol=1e-10)
    assert len(res.alpha) == np.count_nonzero(res.coef) == res.history["width"][-1]
    np.testing.assert_allclose(np.linalg.norm(res.U, axis=1), np.abs(res.alpha))  # balanced
    assert res.fun == problem.objective(res.x)
    assert res.convex_objective == _objective(H, y, beta, loss, res.coef)
    assert math.isclose(res.fun, res.convex_objective, rel_tol=1e-10)
    optimum = _cvx_optimum(H, y, beta, loss)
    assert abs(res.convex_objective - optimum) <= 1e-6 * abs(optimum)
    # history: FISTA iterations, objective never rising, test accuracy of the current net
    h = res.history
    assert len(h) == res.nit + 1 and np.all(np.diff(h["fun"]) <= 0)
    labels = predict_labels(relu_outputs(problem.X_test, res.U, res.alpha), loss)
    accuracy = float(np.mean(labels == problem.y_test))
    assert h["test_accuracy"][-1] == accuracy > 0.9
    assert res.rounds is None


def test_seeded_runs_reproduce(cancer):
    problem = _problem(cancer, beta=10.0)
    runs = [optkit.minimize(problem, method="convex-relu-scp",
                            options={"n_hidden": 30, "seed": s}) for s in (3, 3, 4)]
    np.testing.assert_array_equal(runs[0].x, runs[1].x)
    assert runs[0].fun == runs[1].fun and runs[0].nit == runs[1].nit
    np.testing.assert_array_equal(runs[0].history["fun"], runs[1].history["fun"])
    assert not np.array_equal(runs[0].hidden, runs[2].hidden)


def test_more_hidden_neurons_never_raise_the_optimum(cancer):
    """Nested draws N ⊂ N': the optimum over N' is at most the optimum over N."""
    X, labels = cancer
    y = _targets(labels, "squared")
    hidden = sample_hidden(X.shape[1], 200, rng=7)
    values = [lasso_fista(relu_features(X, hidden[:N]), y, 10.0)[1] for N in (25, 50, 100, 200)]
    assert all(b <= a * (1 + 1e-9) for a, b in pairwise(values))
    assert values[-1] < values[0]


def test_maxiter_and_history(cancer):
    problem = _problem(cancer)
    res = optkit.minimize(problem, method="convex-relu-scp",
                          options={"n_hidden": 50, "maxiter": 5})
    assert res.status == 1 and res.nit == 5 and len(res.history) == 6
    for column in ("convex_objective", "gap", "width", "n_hidden", "restarts", "step_size",
                   "test_accuracy"):
        assert len(res.history[column]) == 6
    assert res.history["n_hidden"][-1] == 50
    start = optkit.minimize(problem, method="convex-relu-scp", options={"maxiter": 0})
    assert start.nit == 0 and start.x.size == 0  # alpha = 0: the empty network
    assert start.fun == problem.objective(problem.x0)


def test_method_iterative(cancer):
    problem = _problem(cancer, beta=10.0)
    res = optkit.minimize(problem, method="convex-relu-scp",
                          options={"n_hidden": 50, "iterative": True, "psi": 0.2})
    assert res.success and res.rounds[-1]["stop"] == "test"
    assert res.nit == sum(r["iterations"] for r in res.rounds)  # warm starts: no iteration
    assert len(res.hidden) == res.rounds[-1]["n_hidden"] > 50
    assert np.all(np.diff(res.history["n_hidden"]) >= 0) and np.all(np.diff(res.history["fun"])
                                                                     <= 0)
    H = relu_features(problem.X, res.hidden)
    assert res.convex_objective == _objective(H, problem.y, 10.0, "squared", res.coef)
    capped = optkit.minimize(problem, method="convex-relu-scp",
                             options={"n_hidden": 50, "iterative": True, "psi": 0.2,
                                      "max_hidden": 60})
    assert capped.status == 1 and "max_hidden=60" in capped.message
    assert len(capped.hidden) == 60


def test_bad_input_raises(cancer, features):
    X, labels = cancer
    hinge = optkit.ReLUTrainingProblem(X[:50], _targets(labels[:50], "hinge"), loss="hinge")
    with pytest.raises(ValueError, match="convex-relu-cvxpy"):
        optkit.minimize(hinge, method="convex-relu-scp")
    _, H = features
    y = _targets(labels, "squared")
    with pytest.raises(ValueError, match="convex-relu-cvxpy"):
        lasso_fista(H, y, 1.0, "hinge")
    with pytest.raises(ValueError, match="beta"):
        lasso_fista(H, y, 0.0)
    with pytest.raises(ValueError, match=r"y must have shape \(569,\)"):
        lasso_fista(H, y[:10], 1.0)
    with pytest.raises(ValueError, match=r"labels y in \[0, 1\]"):
        lasso_fista(H, y, 1.0, "bce")
    with pytest.raises(ValueError, match="alpha0"):
        lasso_fista(H, y, 1.0, alpha0=np.zeros(3))
    problem = _problem(cancer)
    for options, name in [({"n_hidden": 0}, "n_hidden"), ({"psi": 1.5}, "psi"),
                          ({"xi": 1.0}, "xi"), ({"tol": -1.0}, "tol"),
                          ({"iterative": "yes"}, "iterative"),
                          ({"max_hidden": 10}, "max_hidden"),
                          ({"iterative": True, "n_new": 10}, "n_new")]:
        with pytest.raises(ValueError, match=f"option '{name}'"):
            optkit.minimize(problem, method="convex-relu-scp", options=options)
    with pytest.raises(TypeError, match="n_hidden"):
        optkit.minimize(problem, method="convex-relu-scp", options={"n_hiden": 5})
    with pytest.raises(ValueError, match="leave x0 empty"):  # called directly, past minimize
        optkit.registry.get("convex-relu-scp").solver(
            optkit.registry.get("convex-relu-scp").make_options({})
        ).solve(problem, np.ones(problem.d + 1), driver=None)
