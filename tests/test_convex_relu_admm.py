"""Convex ReLU training: patterns, the convex model and weight recovery, ADMM against cvxpy
(spec section 8, oracles 1-6), and the NumPy and torch backends."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

import optkit
from optkit.convex_relu import (
    cone_violation,
    convex_objective,
    convex_outputs,
    loss_gradient,
    loss_value,
    network_objective,
    recover_weights,
    relu_outputs,
    sample_patterns,
)
from optkit.convex_relu.admm import ADMM, admm_matrix, group_prox
from optkit.convex_relu.cvx import solve_cvxpy


@pytest.fixture(scope="module")
def oracle():
    """The spec's oracle-1 instance: n=50, d=5, X, y ~ N(0, 1), P=20, beta=0.1."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 5)), rng.standard_normal(50)
    problem = optkit.ReLUTrainingProblem(X, y, beta=0.1, name="oracle-1")
    D, gates = sample_patterns(X, 20, rng=1)
    V, W, value = solve_cvxpy(X, y, D, 0.1)
    return problem, D, gates, V, W, value


# -- patterns ---------------------------------------------------------------------------------


def test_patterns_are_distinct_seeded_and_made_by_their_gates():
    X = np.random.default_rng(3).standard_normal((40, 4))
    D, gates = sample_patterns(X, 30, rng=5)
    assert D.shape == (40, 30) and D.dtype == bool and gates.shape == (4, 30)
    assert len({col.tobytes() for col in D.T}) == 30
    np.testing.assert_array_equal(D, X @ gates >= 0)
    D2, gates2 = sample_patterns(X, 30, rng=5)
    np.testing.assert_array_equal(D, D2)
    np.testing.assert_array_equal(gates, gates2)


def test_patterns_of_a_tiny_set_run_out():
    X = np.array([[1.0], [2.0], [-1.0]])  # d = 1: only the signs of a matter, 2 patterns
    D, _ = sample_patterns(X, 5, rng=0, max_draws=20)
    assert D.shape == (3, 2)
    one_draw, _ = sample_patterns(np.random.default_rng(0).standard_normal((5, 2)), 50,
                                  rng=0, ensure_distinct=False)
    assert one_draw.shape[1] < 50  # one batch has duplicates, and they are dropped
    with pytest.raises(ValueError, match="n_patterns must be a positive integer"):
        sample_patterns(X, 0)
    with pytest.raises(ValueError, match="X must be finite"):
        sample_patterns(np.array([[np.nan]]), 2)


# -- the model, losses, recovery (oracle 2) -----------------------------------------------------


def test_losses_and_their_gradients_by_finite_differences():
    rng = np.random.default_rng(0)
    yhat, y_real, y01 = rng.standard_normal(7), rng.standard_normal(7), rng.integers(0, 2, 7)
    for loss, y in (("squared", y_real), ("bce", y01)):
        g = loss_gradient(yhat, y, loss)
        h = 1e-6
        fd = [(loss_value(yhat + h * e, y, loss) - loss_value(yhat - h * e, y, loss)) / (2 * h)
              for e in np.eye(7)]
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)
    p = 0.5 * (np.tanh(yhat) + 1)  # the spec's tanh output: bce = -Σ y log p + (1-y) log(1-p)
    bce = -np.sum(y01 * np.log(p) + (1 - y01) * np.log(1 - p))
    assert loss_value(yhat, y01, "bce") == pytest.approx(bce, rel=1e-12)
    assert loss_value([2.0, -0.5], [1.0, 1.0], "hinge") == pytest.approx(0.75)
    assert loss_value([1e3], [0.0], "bce") == pytest.approx(2e3)  # no overflow


def test_recovered_network_is_the_convex_model_at_the_cvxpy_solution(oracle):
    problem, D, _, V, W, value = oracle
    X, y = problem.X, problem.y
    U, alpha = recover_weights(V, W, rtol=1e-6)
    violation = cone_violation(X, D, V, W)
    assert violation <= 1e-6 * np.abs(X @ V.T).max()
    gap = np.abs(relu_outputs(X, U, alpha) - convex_outputs(X, D, V, W)).max()
    assert gap <= 1e-5
    assert network_objective(X, y, U, alpha, 0.1) == pytest.approx(value, rel=1e-5)
    assert convex_objective(X, y, D, V, W, 0.1) == pytest.approx(value, rel=1e-7)
    assert len(alpha) < 40  # group sparsity: fewer than 2P neurons survive


def test_recovery_is_exact_for_feasible_blocks():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((30, 3))
    D, gates = sample_patterns(X, 6, rng=0)
    V = 0.7 * gates.T  # v_h along its own gate satisfies (2D_h - I) X v_h >= 0
    W = np.zeros_like(V)
    W[2] = 1.3 * gates[:, 2]
    assert cone_violation(X, D, V, W) == 0.0
    U, alpha = recover_weights(V, W)
    assert len(alpha) == 7 and np.sum(alpha < 0) == 1
    np.testing.assert_allclose(relu_outputs(X, U, alpha), convex_outputs(X, D, V, W),
                               atol=1e-12)
    decay = 0.5 * (np.sum(U**2) + alpha @ alpha)
    assert decay == pytest.approx(np.linalg.norm(V, axis=1).sum()
                                  + np.linalg.norm(W, axis=1).sum())


# -- ADMM pieces (oracles 4 and 5) --------------------------------------------------------------


def test_group_prox_and_projection():
    Q = np.array([[3.0, 4.0], [0.6, 0.8], [0.0, 0.0], [-6.0, 8.0]])
    out = group_prox(Q, 1.0)
    np.testing.assert_allclose(out[0], [2.4, 3.2])  # shrunk by tau along q
    np.testing.assert_array_equal(out[1:3], 0.0)  # ‖q‖ <= tau: zero (no NaN at q = 0)
    np.testing.assert_allclose(np.linalg.norm(out[3]), 9.0)


def _naive_F_G(X, D):
    n, d = X.shape
    P = D.shape[1]
    Fv = np.hstack([D[:, [h]] * X for h in range(P)])
    F = np.hstack([Fv, -Fv])
    G = scipy.linalg.block_diag(*[(2 * D[:, [h]] - 1) * X for h in range(P)] * 2)
    return F, G


def test_admm_matrix_against_a_naive_build_and_the_split_solve():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((12, 3)), rng.standard_normal(12)
    D, _ = sample_patterns(X, 4, rng=2)
    rho = 0.3
    F, G = _naive_F_G(X, D.astype(float))
    naive = np.eye(24) + F.T @ F / rho + G.T @ G
    A = admm_matrix(X, D, rho)
    np.testing.assert_allclose(A, naive, atol=1e-12)
    np.testing.assert_allclose(A, A.T)
    admm = ADMM(X, y, D, beta=0.1, rho=rho)
    r = rng.standard_normal((2, 4, 3))
    np.testing.assert_allclose(admm.solve_u(r).reshape(-1), np.linalg.solve(naive, r.ravel()),
                               rtol=1e-10, atol=1e-12)
    u = rng.standard_normal((2, 4, 3))  # the operators against the explicit F and G
    np.testing.assert_allclose(admm.F(u), F @ u.ravel(), atol=1e-12)
    np.testing.assert_allclose(admm.G(u).ravel(), G @ u.ravel(), atol=1e-12)
    s = rng.standard_normal((2, 4, 12))
    np.testing.assert_allclose(admm.Gt(s).ravel(), G.T @ s.ravel(), atol=1e-12)
    np.testing.assert_allclose(admm.Ft(y).ravel(), F.T @ y, atol=1e-12)


# -- ADMM = cvxpy (oracles 1 and 3) -------------------------------------------------------------


def test_admm_reaches_the_cvxpy_optimum(oracle):
    problem, D, gates, _, _, value = oracle
    res = optkit.minimize(problem, method="convex-relu-admm",
                          options={"patterns": (D, gates), "maxiter": 5000, "tol": 1e-6})
    assert abs(res.convex_objective - value) <= 1e-4 * value
    hist = res.history
    first = np.flatnonzero(np.abs(hist["convex_objective"] - value) <= 1e-3 * value)
    assert first.size and first[0] < 1000
    X = problem.X
    for B in (res.V, res.W):  # the cone constraints hold at convergence
        assert (np.where(D, 1.0, -1.0) * (X @ B.T)).min() >= -1e-5 * np.abs(X @ B.T).max()
    assert res.fun == pytest.approx(problem.objective(res.x))
    assert res.fun == pytest.approx(value, rel=1e-4)  # the recovered network
    np.testing.assert_array_equal(res.D, D)
    assert hist["r_pri"][-1] < 1e-3 * hist["r_pri"][1]


def test_admm_slacks_stay_nonnegative_and_the_constraint_residual_vanishes(oracle):
    problem, D, *_ = oracle
    admm = ADMM(problem.X, problem.y, D, beta=0.1, rho=0.1)
    gaps = []
    for _ in range(400):
        admm.step()
        assert admm.s.min() >= 0.0
        gaps.append(np.linalg.norm(admm.G(admm.u) - admm.s))
    assert gaps[-1] < 1e-2 * max(gaps[:10])


def test_more_patterns_never_raise_the_optimum():
    rng = np.random.default_rng(7)
    X, y = rng.standard_normal((30, 4)), rng.standard_normal(30)
    D, _ = sample_patterns(X, 12, rng=0)
    values = [solve_cvxpy(X, y, D[:, :P], 0.05)[2] for P in (3, 6, 12)]
    assert values[0] >= values[1] - 1e-6 and values[1] >= values[2] - 1e-6
    assert values[0] > values[2]


def test_bce_admm_matches_cvxpy(oracle):
    problem, D, gates, *_ = oracle
    y01 = (problem.y > 0).astype(float)
    bce = optkit.ReLUTrainingProblem(problem.X, y01, loss="bce", beta=0.1)
    _, _, value = solve_cvxpy(bce.X, y01, D, 0.1, "bce")
    res = optkit.minimize(bce, method="convex-relu-admm",
                          options={"patterns": D, "maxiter": 3000, "tol": 1e-6})
    assert abs(res.convex_objective - value) <= 2e-4 * value
    rbcd = optkit.minimize(bce, method="convex-relu-admm",
                           options={"patterns": D, "maxiter": 150, "u_solver": "rbcd",
                                    "rbcd": {"step0": 1e-2, "max_steps": 200}})
    start = rbcd.history["convex_objective"][0]
    assert rbcd.convex_objective < value + 0.1 * (start - value)
    assert rbcd.history["inner_steps"][1] > 1


def test_test_accuracy_is_recorded():
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    X = np.column_stack([X, np.ones(len(X))])
    y = 2.0 * y - 1
    problem = optkit.ReLUTrainingProblem(X[:400], y[:400], beta=1.0, X_test=X[400:],
                                         y_test=y[400:])
    res = optkit.minimize(problem, method="convex-relu-admm",
                          options={"n_patterns": 12, "rho": 1.0, "maxiter": 30})
    acc = res.history["test_accuracy"]
    assert np.all((acc >= 0) & (acc <= 1)) and acc[-1] > 0.9


# -- backends -----------------------------------------------------------------------------------


@pytest.mark.parametrize("u_system", ["cholesky", "cg"])
def test_torch_backend_agrees_with_numpy(oracle, u_system):
    pytest.importorskip("torch")
    problem, D, *_ = oracle
    opts = {"patterns": D, "maxiter": 60, "tol": 1e-12}
    ours = optkit.minimize(problem, method="convex-relu-admm", options=opts)
    theirs = optkit.minimize(problem, method="convex-relu-admm", backend="torch",
                             options={**opts, "device": "cpu", "u_system": u_system})
    atol = 1e-10 if u_system == "cholesky" else 1e-8
    np.testing.assert_allclose(theirs.V, ours.V, atol=atol)
    np.testing.assert_allclose(theirs.W, ours.W, atol=atol)
    np.testing.assert_allclose(theirs.history["convex_objective"],
                               ours.history["convex_objective"], rtol=1e-9)


def test_bad_input():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, 2))
    hinge = optkit.ReLUTrainingProblem(X, np.sign(X[:, 0]) + (X[:, 0] == 0), loss="hinge")
    with pytest.raises(ValueError, match="convex-relu-cvxpy"):
        optkit.minimize(hinge, method="convex-relu-admm")
    problem = optkit.ReLUTrainingProblem(X, X[:, 0])
    for options, match in (({"rho": 0.0}, "rho"), ({"u_solver": "sgd"}, "u_solver"),
                           ({"n_patterns": 0}, "n_patterns"),
                           ({"patterns": np.ones((3, 2), bool)}, "patterns"),
                           ({"dual_step": 3.0}, "dual_step")):
        with pytest.raises(ValueError, match=match):
            optkit.minimize(problem, method="convex-relu-admm", options=options)
    with pytest.raises(ValueError, match="eps"):
        optkit.minimize(problem, method="convex-relu-cvxpy", options={"eps": -1.0})


def test_over_relaxation_and_residual_balancing_reach_the_same_optimum(oracle):
    problem, D, _, _, _, value = oracle
    runs = {}
    for name, extra in (("relaxed", {"relaxation": 1.6}),
                        ("bad rho", {"rho": 30.0}),
                        ("bad rho, balanced", {"rho": 30.0, "rho_update": "balance"})):
        runs[name] = optkit.minimize(problem, method="convex-relu-admm",
                                     options={"patterns": D, "maxiter": 1500, "tol": 1e-9,
                                              **extra})
    gap = {k: abs(r.convex_objective - value) / value for k, r in runs.items()}
    assert gap["relaxed"] < 1e-4
    assert gap["bad rho, balanced"] < 1e-2 < 0.5 < gap["bad rho"]
    assert runs["bad rho, balanced"].rho < 30.0 == runs["bad rho"].rho


def test_set_rho_rescales_the_duals_and_keeps_the_fixed_point(oracle):
    problem, D, *_ = oracle
    admm = ADMM(problem.X, problem.y, D, beta=0.1, rho=0.1)
    for _ in range(3000):
        admm.step()
    V, W = admm.weights()
    lam_scaled = admm.rho * admm.lam  # the unscaled dual does not depend on rho
    admm.set_rho(0.4)
    np.testing.assert_allclose(admm.rho * admm.lam, lam_scaled)
    admm.step()
    V2, W2 = admm.weights()
    assert np.abs(V2 - V).max() < 1e-3 and np.abs(W2 - W).max() < 1e-3
    r = np.random.default_rng(0).standard_normal((2, 20, 5))
    A = admm_matrix(problem.X, D, 0.4)  # the factorization follows rho
    np.testing.assert_allclose(admm.solve_u(r).ravel(), np.linalg.solve(A, r.ravel()),
                               rtol=1e-9, atol=1e-11)
