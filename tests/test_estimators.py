"""The scikit-learn estimators ConvexReLUClassifier and ConvexReLURegressor.

They pass scikit-learn's own estimator checks, predict with exactly the network they store,
fit what ``optkit.minimize`` fits for the same data and seed, and map their parameters onto
the methods' options (with clear errors for the ones that do not fit together).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.special
from sklearn.datasets import make_blobs, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import optkit
import optkit.estimators
from optkit import ConvexReLUClassifier, ConvexReLURegressor
from optkit.convex_relu import attack_accuracy, relu_outputs

HAS_SCP = "convex-relu-scp" in optkit.registry.names()
needs_scp = pytest.mark.skipif(not HAS_SCP, reason="method 'convex-relu-scp' is not registered")

#: Small settings so that each of scikit-learn's ~55 checks fits in a fraction of a second.
FAST = dict(n_patterns=6, beta=0.1, rho=0.1, max_iter=50)
CHECKED = [
    ConvexReLUClassifier(**FAST),
    ConvexReLUClassifier(loss="bce", **FAST),
    ConvexReLURegressor(**FAST),
    ConvexReLUClassifier(solver="cvxpy", loss="hinge", n_patterns=8, beta=0.1),
]
if HAS_SCP:
    CHECKED += [ConvexReLUClassifier(solver="scp", n_patterns=30, max_iter=200),
                ConvexReLURegressor(solver="scp", n_patterns=30, max_iter=200)]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(CHECKED)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def binary_data(n=60, seed=0):
    X, y = make_classification(n_samples=n, n_features=4, n_informative=3, n_redundant=0,
                               random_state=seed)
    return StandardScaler().fit_transform(X), np.array(["no", "yes"])[y]


def augment(X):
    return np.column_stack([X, np.ones(len(X))])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_decision_function_is_the_stored_network():
    X, y = binary_data()
    clf = ConvexReLUClassifier(random_state=0, **FAST).fit(X, y)
    assert clf.hidden_weights_.shape == (clf.n_neurons_, X.shape[1] + 1)
    assert clf.output_weights_.shape == (clf.n_neurons_,)
    scores = clf.decision_function(X)
    np.testing.assert_allclose(
        scores, relu_outputs(augment(X), clf.hidden_weights_, clf.output_weights_),
        rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), np.where(scores > 0, "yes", "no"))
    assert clf.score(X, y) > 0.8

    # three classes, one-vs-rest: one output column per class, argmax picks the label
    X3, y3 = make_blobs(n_samples=90, centers=3, random_state=0)
    clf3 = ConvexReLUClassifier(random_state=0, **FAST).fit(X3, y3)
    H, A = clf3.hidden_weights_, clf3.output_weights_
    assert A.shape == (clf3.n_neurons_, 3) and clf3.n_iter_.shape == (3,)
    assert np.all((A != 0).sum(axis=1) <= 1)  # each neuron serves one class
    scores3 = clf3.decision_function(X3)
    for k in range(3):
        np.testing.assert_allclose(scores3[:, k], relu_outputs(augment(X3), H, A[:, k]),
                                   rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(clf3.predict(X3), clf3.classes_[scores3.argmax(axis=1)])
    assert len(clf3.history_) == 3


@pytest.mark.parametrize("loss", ["squared", "bce"])
def test_classifier_fits_what_minimize_fits(loss):
    X, y = binary_data(seed=1)
    opts = dict(n_patterns=8, seed=3, rho=0.5, maxiter=80, tol=1e-3, relaxation=1.6)
    with pytest.warns(ConvergenceWarning, match="max_iter=80"):
        clf = ConvexReLUClassifier(n_patterns=8, beta=0.5, loss=loss, rho=0.5, max_iter=80,
                                   random_state=3).fit(X, y)
    target = (y == clf.classes_[1]).astype(float)
    if loss == "squared":
        target = 2.0 * target - 1.0
    problem = optkit.ReLUTrainingProblem(augment(X), target, loss=loss, beta=0.5)
    res = optkit.minimize(problem, method="convex-relu-admm", options=opts)
    assert clf.objective_ == res.fun
    assert clf.convex_objective_ == res.convex_objective
    assert clf.n_iter_ == res.nit == 80
    np.testing.assert_array_equal(clf.hidden_weights_, res.U)
    np.testing.assert_array_equal(clf.output_weights_, res.alpha)
    np.testing.assert_array_equal(clf.history_["fun"], res.history["fun"])


def test_regressor_fits_what_minimize_fits_without_intercept():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3))
    y = np.maximum(X @ [1.0, -1.0, 0.5], 0.0) + 0.1 * rng.standard_normal(50)
    reg = ConvexReLURegressor(n_patterns=10, beta=0.1, rho=0.1, max_iter=2000, tol=1e-3,
                              fit_intercept=False, random_state=7).fit(X, y)
    res = optkit.minimize(optkit.ReLUTrainingProblem(X, y, beta=0.1), method="convex-relu-admm",
                          options=dict(n_patterns=10, seed=7, rho=0.1, maxiter=2000, tol=1e-3,
                                       relaxation=1.6))
    assert res.success and reg.n_iter_ == res.nit < 2000
    assert reg.objective_ == res.fun
    assert reg.hidden_weights_.shape[1] == 3
    np.testing.assert_allclose(reg.predict(X), relu_outputs(X, res.U, res.alpha), rtol=1e-12)
    assert reg.score(X, y) > 0.9


@needs_scp
@pytest.mark.filterwarnings("error::sklearn.exceptions.ConvergenceWarning")
def test_scp_solver_fits_what_minimize_fits():
    X, y = binary_data(seed=2)
    clf = ConvexReLUClassifier(solver="scp", n_patterns=40, beta=0.1, max_iter=3000,
                               random_state=5).fit(X, y)
    target = np.where(y == clf.classes_[1], 1.0, -1.0)
    res = optkit.minimize(optkit.ReLUTrainingProblem(augment(X), target, beta=0.1),
                          method="convex-relu-scp",
                          options=dict(n_hidden=40, seed=5, maxiter=3000, tol=1e-3))
    assert res.success and clf.objective_ == res.fun and clf.n_iter_ == res.nit
    np.testing.assert_array_equal(clf.hidden_weights_, res.U)
    np.testing.assert_allclose(clf.decision_function(X),
                               relu_outputs(augment(X), res.U, res.alpha), rtol=1e-12)


@pytest.mark.filterwarnings("error::sklearn.exceptions.ConvergenceWarning")
def test_cvxpy_reaches_the_admm_objective_or_below():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    common = dict(n_patterns=8, beta=0.1, random_state=0)
    # ADMM must have converged (no warning): stopped early, its iterate still violates the
    # cone constraints by ~1e-3 and its network can sit 1e-4 *below* the sampled optimum.
    admm = ConvexReLUClassifier(rho=0.3, max_iter=5000, tol=1e-5, **common).fit(X, y)
    exact = ConvexReLUClassifier(solver="cvxpy", **common).fit(X, y)
    assert exact.n_iter_ == 1 and admm.n_iter_ < 5000
    # same seed, same patterns: cvxpy's optimum is at most ADMM's value (up to the
    # interior-point accuracy), and ADMM is close to it
    assert exact.objective_ <= admm.objective_ * (1 + 1e-6)
    assert admm.objective_ <= exact.objective_ * (1 + 1e-4)
    assert exact.objective_ == pytest.approx(exact.convex_objective_, rel=1e-6)


def test_adversarial_training_is_robust_on_a_toy():
    """Two overlapping blobs, 40 training points: the standard network (small beta)
    overfits and PGD at eps = 0.3 breaks it; the robust program does better on held-out
    points (numbers of this seed: 0.94 against 0.53), and no training point can switch a
    neuron's activation inside its eps-box (the robust cone constraints)."""
    X, y = make_blobs(300, centers=[[-1, -1], [1, 1]], cluster_std=0.7, random_state=1)
    eps = 0.3
    common = dict(solver="cvxpy", n_patterns=20, beta=1e-3, random_state=0)
    standard = ConvexReLUClassifier(**common).fit(X[:40], y[:40])
    robust = ConvexReLUClassifier(adversarial_eps=eps, **common).fit(X[:40], y[:40])

    X_test, labels = augment(X[40:]), 2 * y[40:] - 1
    def pgd(clf):
        return attack_accuracy(X_test, labels, clf.hidden_weights_, clf.output_weights_, eps,
                               attack="pgd", fixed_columns=[2])
    assert pgd(robust) >= pgd(standard) + 0.1
    assert robust.score(X[40:], y[40:]) > 0.9

    # |x·u_j| >= eps ‖u_j‖₁ (bias left out: it is not attacked), checked as the solver
    # guarantees it, on the convex blocks v = |α_j| u_j: the interior-point solution also
    # has neurons of norm ~1e-5 that meet it only to that absolute accuracy
    U, scale = robust.hidden_weights_, np.abs(robust.output_weights_)
    assert robust.n_neurons_ > 0
    margins = np.abs(augment(X[:40]) @ U.T) * scale  # (n, m)
    radius = eps * np.abs(U[:, :-1]).sum(axis=1) * scale
    assert np.all(margins - radius >= -1e-8 * margins.max())


def test_adversarial_options_reach_the_method(monkeypatch):
    seen = []

    def spy(problem, **kwargs):
        seen.append(kwargs)
        return real(problem, **kwargs)

    real = optkit.estimators.minimize
    monkeypatch.setattr(optkit.estimators, "minimize", spy)
    X, y = binary_data(n=30)
    ConvexReLUClassifier(solver="cvxpy", adversarial_eps=0.05, n_patterns=4, beta=0.1,
                         solver_options={"solver": "CLARABEL"}, random_state=2).fit(X, y)
    (call,) = seen
    assert call["method"] == "convex-relu-cvxpy"
    assert call["options"] == {"n_patterns": 4, "seed": 2, "eps": 0.05, "fixed_columns": [4],
                               "solver": "CLARABEL"}


def test_robust_regression_smoke():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((30, 2))
    y = np.abs(X[:, 0]) + 0.1 * rng.standard_normal(30)
    reg = ConvexReLURegressor(solver="cvxpy", adversarial_eps=0.05, n_patterns=30, beta=0.01,
                              random_state=0).fit(X, y)
    assert reg.n_iter_ == 1 and np.all(np.isfinite(reg.predict(X)))
    assert reg.score(X, y) > 0.9


def test_predict_proba_for_bce():
    X, y = binary_data()
    clf = ConvexReLUClassifier(loss="bce", n_patterns=6, beta=0.1, rho=0.1, max_iter=2000,
                               tol=1e-3, random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    p = scipy.special.expit(2 * clf.decision_function(X))
    np.testing.assert_allclose(proba, np.column_stack([1 - p, p]))
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-6)
    assert not hasattr(ConvexReLUClassifier(loss="squared"), "predict_proba")

    X3, y3 = make_blobs(n_samples=90, centers=3, random_state=0)
    clf3 = ConvexReLUClassifier(loss="bce", random_state=0, **FAST)
    with pytest.warns(ConvergenceWarning):
        clf3.fit(X3, y3)
    proba3 = clf3.predict_proba(X3)
    np.testing.assert_allclose(proba3.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf3.classes_[proba3.argmax(axis=1)], clf3.predict(X3))
    np.testing.assert_allclose(clf3.predict_log_proba(X3), np.log(proba3), rtol=1e-6)


BAD = [
    (dict(n_patterns=0), "n_patterns must be a positive integer"),
    (dict(n_patterns=2.5), "n_patterns must be a positive integer"),
    (dict(beta=0.0), "beta must be a finite positive number"),
    (dict(beta=np.inf), "beta must be a finite positive number"),
    (dict(loss="logistic"), "loss must be one of"),
    (dict(solver="sgd"), "solver must be one of 'admm', 'cvxpy', 'scp'"),
    (dict(loss="hinge"), "loss='hinge' needs solver='cvxpy'"),
    (dict(adversarial_eps=0.1), r"adversarial_eps > 0 .* needs solver='cvxpy'"),
    (dict(adversarial_eps=-0.1, solver="cvxpy"), "adversarial_eps must be a finite non-neg"),
    (dict(rho=0.0), "rho must be a finite positive number"),
    (dict(rho=0.1, solver="cvxpy"), "rho is the ADMM penalty"),
    (dict(max_iter=0), "max_iter must be a positive integer"),
    (dict(tol=-1.0), "tol must be a finite positive number"),
    (dict(fit_intercept="yes"), "fit_intercept must be a bool"),
    (dict(random_state="seed"), "cannot be used to seed"),
    (dict(backend="jax"), "backend must be one of 'numpy', 'torch'"),
    (dict(backend="torch", solver="cvxpy"), "backend='torch' is available for solver='admm'"),
    (dict(device="cuda"), "applies to backend='torch' only"),
    (dict(solver_options=[("rho", 1.0)]), "solver_options must be a dict"),
    (dict(solver_options={"seed": 1}), r"solver_options\['seed'\] is set by"),
    (dict(solver_options={"dual_stepp": 0.5}), "no option of method 'convex-relu-admm'.*dual_step"),
]


@pytest.mark.parametrize("params, match", BAD)
def test_bad_parameters_raise_at_fit(params, match):
    X, y = binary_data(n=20)
    clf = ConvexReLUClassifier(**params)  # scikit-learn: __init__ and set_params never check
    ConvexReLUClassifier().set_params(**params)
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)
    if "loss" not in params:
        with pytest.raises(ValueError, match=match):
            ConvexReLURegressor(**params).fit(X, np.arange(20.0))


def test_one_class_and_regression_targets_are_refused():
    X, _ = binary_data(n=20)
    with pytest.raises(ValueError, match="needs at least 2 classes.* 1 class"):
        ConvexReLUClassifier(**FAST).fit(X, np.zeros(20))
    with pytest.raises(ValueError, match="Unknown label type"):
        ConvexReLUClassifier(**FAST).fit(X, np.linspace(0, 1, 20))
    assert "loss" not in ConvexReLURegressor().get_params()


def test_random_state_conventions():
    X, y = binary_data(n=40)
    kw = dict(n_patterns=5, beta=0.1, rho=0.1, max_iter=5)
    with pytest.warns(ConvergenceWarning):
        a = ConvexReLUClassifier(random_state=np.random.RandomState(4), **kw).fit(X, y)
    with pytest.warns(ConvergenceWarning):
        b = ConvexReLUClassifier(random_state=np.random.RandomState(4), **kw).fit(X, y)
    np.testing.assert_array_equal(a.hidden_weights_, b.hidden_weights_)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_pickle_round_trip():
    X, y = binary_data()
    clf = ConvexReLUClassifier(random_state=0, **FAST).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.decision_function(X), clf.decision_function(X))
    np.testing.assert_array_equal(again.classes_, clf.classes_)
    assert again.get_params() == clf.get_params()
    np.testing.assert_array_equal(again.history_["fun"], clf.history_["fun"])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_pipeline_grid_search_over_beta():
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    pipe = make_pipeline(StandardScaler(), ConvexReLUClassifier(n_patterns=5, rho=0.1,
                                                                max_iter=40, random_state=0))
    search = GridSearchCV(pipe, {"convexreluclassifier__beta": [0.01, 1.0]}, cv=3)
    search.fit(X, y)
    assert search.best_params_["convexreluclassifier__beta"] in (0.01, 1.0)
    assert search.best_score_ > 0.7
    assert search.score(X, y) > 0.8


def test_torch_backend_matches_numpy():
    pytest.importorskip("torch")
    X, y = binary_data(n=40)
    kw = dict(n_patterns=5, beta=0.1, rho=0.1, max_iter=20, random_state=0)
    with pytest.warns(ConvergenceWarning):
        ref = ConvexReLUClassifier(**kw).fit(X, y)
    with pytest.warns(ConvergenceWarning):
        tch = ConvexReLUClassifier(backend="torch", device="cpu", **kw).fit(X, y)
    assert tch.objective_ == pytest.approx(ref.objective_, rel=1e-8)
    np.testing.assert_allclose(tch.decision_function(X), ref.decision_function(X),
                               rtol=1e-7, atol=1e-9)


def test_top_level_import_is_lazy():
    import subprocess
    import sys

    code = ("import sys, optkit; print('sklearn' in sys.modules); "
            "from optkit import ConvexReLUClassifier; print(ConvexReLUClassifier.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "optkit.estimators"]
    assert {"ConvexReLUClassifier", "ConvexReLURegressor"} <= set(optkit.__all__)


def test_solver_options_override_the_estimators_over_relaxation():
    X, y = binary_data(seed=1)
    plain = ConvexReLUClassifier(n_patterns=8, beta=0.5, rho=0.5, max_iter=40, random_state=3,
                                 solver_options={"relaxation": 1.0})
    with pytest.warns(ConvergenceWarning):
        plain.fit(X, y)
    target = np.where(y == plain.classes_[1], 1.0, -1.0)
    res = optkit.minimize(optkit.ReLUTrainingProblem(augment(X), target, beta=0.5),
                          method="convex-relu-admm",
                          options=dict(n_patterns=8, seed=3, rho=0.5, maxiter=40, tol=1e-3))
    assert plain.objective_ == res.fun and res.options["relaxation"] == 1.0
